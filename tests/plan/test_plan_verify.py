"""verify_export: the printed settings built in the real engines (FAISS, Qdrant Edge, PostgreSQL + pgvector).

The engine tests run on a real cut of wordnet-minilm (5,000 rows, 100 queries, exact
cosine neighbours) and check that the report's recall is the engine's own (recomputed
from the engine's ids, and once against an oracle outside the engine), that raising the
knobs reaches a reachable target, that an unreachable one is reported as not met, and
that no server or folder is left behind. The input checks and the knob arithmetic need
no engine and run in ``make test-fast``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from lowdim import DimensionError, ParameterError, ValidationError
from lowdim.eval import MissingDependencyError, recall_at_k
from lowdim.plan import ENGINES, EngineError, export_config, export_settings, verify_export
from lowdim.search import CodeIndex, exact_knn
from lowdim.spec import Pipeline


def engine_test(test):
    """Start a real engine on real data: marked ``engine`` and ``slow``."""
    return pytest.mark.engine(pytest.mark.slow(test))


@pytest.fixture(scope="module")
def cut(wordnet):
    """(corpus (5000, 384) float16, queries (100, 384) float32, exact cosine top-10 (100, 10))."""
    corpus = np.asarray(wordnet.corpus[:5000])
    queries = np.asarray(wordnet.queries[:100], np.float32)
    _, gt = exact_knn(corpus, queries, 10, metric="cosine")
    return corpus, queries, gt


@pytest.fixture
def small(make_data):
    """A small synthetic set for the checks that need no real data: (X (1500, 32), Q (20, 32), gt (20, 10))."""
    X = make_data(1520, 32, 6, seed=4)
    _, gt = exact_knn(X[:1500], X[1500:], 10, metric="cosine")
    return X[:1500], X[1500:], gt


def _check_report(report, gt, tmp_path, spec, engine):
    """What holds for every report: recall is the engine's ids against gt, ids are rows, nothing is left behind."""
    ids = report.ids
    assert ids.shape == (len(gt), 10) and ids.dtype == np.int64
    assert ids.min() >= 0 and ids.max() < report.n  # 5,000 rows: every query gets 10 results
    assert all(len(set(row)) == 10 for row in ids.tolist())
    assert report.recall == pytest.approx(recall_at_k(ids, gt, 10))
    assert report.trail[0].raised is None and report.trail[0].recall <= report.recall + 1e-12
    assert report.engine == engine and report.spec == spec and report.build_seconds > 0 and report.qps > 0
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d and "ids" not in d and len(d["trail"]) == len(report.trail)
    assert "\n" not in report.summary() and f"recall@10 {report.recall:.4f}" in report.summary()
    assert list(tmp_path.iterdir()) == [], "the engine's folder was not removed"


# ---------------------------------------------------------------------------------------------------- FAISS


@engine_test
def test_faiss_recall_is_faiss_own(cut, tmp_path):
    """An index built here with FAISS directly, from the same factory string, returns the same neighbours."""
    import faiss

    corpus, queries, gt = cut
    report = verify_export("pq96x4+rerank4", "faiss", corpus, queries, gt, workdir=tmp_path)
    _check_report(report, gt, tmp_path, "pq96x4+rerank4", "faiss")
    assert report.knobs == {"k_factor": 4} and report.target_met is None and len(report.trail) == 1
    assert report.settings == export_settings("pq96x4+rerank4", "faiss", d=384)

    X = corpus.astype(np.float32)
    Q = queries.copy()
    faiss.normalize_L2(X)
    faiss.normalize_L2(Q)
    index = faiss.index_factory(384, "PQ96x4fs,RFlat", faiss.METRIC_INNER_PRODUCT)
    index.train(X)
    index.add(X)
    faiss.downcast_index(index).k_factor = 4
    _, own = index.search(Q, 10)
    assert recall_at_k(own, gt, 10) == pytest.approx(report.recall, abs=0.01)
    assert np.mean(own == report.ids) > 0.97  # same codes, same candidates (ties aside)


@engine_test
def test_faiss_knobs_reach_a_target_and_say_when_they_cannot(cut, tmp_path):
    corpus, queries, gt = cut
    up = verify_export("binary+rerank4", "faiss", corpus, queries, gt, target=0.97, workdir=tmp_path)
    _check_report(up, gt, tmp_path, "binary+rerank4", "faiss")
    assert up.target_met and up.recall >= 0.97 and up.trail[0].recall < 0.97
    assert up.knobs["k_factor"] > 4 and f"k_factor = {up.knobs['k_factor']}" in up.settings
    assert [s.knobs["k_factor"] for s in up.trail] == sorted(s.knobs["k_factor"] for s in up.trail)

    capped = verify_export("binary+rerank4", "faiss", corpus, queries, gt, target=0.999, max_rerank=6, workdir=tmp_path)
    assert capped.target_met is False and capped.knobs == {"k_factor": 6} and len(capped.trail) == 2
    assert "NOT met" in capped.summary() and any("within the knobs' range" in n for n in capped.notes)


# ---------------------------------------------------------------------------------------------------- Qdrant


@engine_test
def test_qdrant_scalar_matches_lowdim_and_float16_is_exact(cut, tmp_path):
    corpus, queries, gt = cut
    report = verify_export("int8+rerank2", "qdrant", corpus, queries, gt, workdir=tmp_path)
    _check_report(report, gt, tmp_path, "int8+rerank2", "qdrant")
    assert report.knobs["rescore"] is True and report.knobs["oversampling"] == 2.0
    pipe = Pipeline("int8+rerank2").fit(corpus)
    lowdim = recall_at_k(CodeIndex(pipe, pipe.encode(corpus), vectors=corpus).search(queries, 10).ids, gt, 10)
    assert report.recall >= 0.97 and abs(report.recall - lowdim) <= 0.03

    # without quantization and under the full-scan threshold Qdrant scans every vector: numpy's exact top-10
    exact = verify_export("f16", "qdrant", corpus, queries, gt, workdir=tmp_path)
    assert exact.recall >= 0.99 and np.mean(exact.ids == gt) >= 0.98
    assert any("full_scan_threshold" in n for n in exact.notes)


@engine_test
def test_qdrant_quantization_is_applied_and_oversampling_reaches_the_target(cut, tmp_path):
    corpus, queries, gt = cut
    report = verify_export("binary+rerank4", "qdrant", corpus, queries, gt, target=0.95, workdir=tmp_path)
    _check_report(report, gt, tmp_path, "binary+rerank4", "qdrant")
    assert report.trail[0].recall < 0.95, "1-bit codes re-ranked 4x should lose recall: is the quantization applied?"
    assert report.target_met and report.recall >= 0.95 and report.knobs["oversampling"] > 4
    printed = json.loads(report.settings)["search"]["params"]["quantization"]
    assert printed == {"ignore": False, "rescore": True, "oversampling": report.knobs["oversampling"]}

    capped = verify_export("binary+rerank4", "qdrant", corpus, queries, gt, target=0.99, max_rerank=4, workdir=tmp_path)
    assert capped.target_met is False and len(capped.trail) == 1
    assert any("exact=true is not tried" in n for n in capped.notes)


@engine_test
def test_qdrant_product_quantization(cut, tmp_path):
    corpus, queries, gt = cut
    report = verify_export("pq96x4+rerank4", "qdrant", corpus, queries, gt, workdir=tmp_path)
    _check_report(report, gt, tmp_path, "pq96x4+rerank4", "qdrant")
    assert '"compression": "x32"' in report.settings
    assert 0.8 <= report.recall < 1.0  # x32 codes re-ranked 4x: close, not exact


# ---------------------------------------------------------------------------------------------------- pgvector


def _no_postgres_under(path) -> bool:
    import psutil

    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        if proc.info["name"] == "postgres" and str(path) in " ".join(proc.info["cmdline"] or ()):
            return False
    return True


@engine_test
def test_pgvector_halfvec_and_binary(cut, tmp_path):
    corpus, queries, gt = cut
    half = verify_export("int8+rerank2", "pgvector", corpus, queries, gt, target=0.97, workdir=tmp_path)
    _check_report(half, gt, tmp_path, "int8+rerank2", "pgvector")
    assert half.trail[0].knobs == export_config("int8+rerank2", "pgvector", d=384).knobs  # the printed settings first
    assert half.trail[0].recall >= 0.85 and half.target_met and half.recall >= 0.97
    assert not any("did not use the HNSW index" in n for n in half.notes)

    sign = verify_export("binary+rerank4", "pgvector", corpus, queries, gt, target=0.95, workdir=tmp_path)
    _check_report(sign, gt, tmp_path, "binary+rerank4", "pgvector")
    assert sign.trail[0].recall < 0.95 and sign.target_met and sign.recall >= 0.95
    n_cand = sign.knobs["candidates"]
    assert n_cand > 40 and sign.knobs["ef_search"] >= n_cand and f"LIMIT {n_cand}\n" in sign.settings
    assert _no_postgres_under(tmp_path)


@engine_test
def test_pgvector_unreachable_target_is_not_met(cut, tmp_path):
    corpus, queries, gt = cut
    report = verify_export("binary+rerank4", "pgvector", corpus, queries, gt, target=0.999, max_rerank=4, workdir=tmp_path)
    assert report.target_met is False and report.recall < 0.999
    assert {s.raised for s in report.trail} == {None, "ef_search"} and report.trail[-1].knobs["ef_search"] == 1000
    assert list(tmp_path.iterdir()) == [] and _no_postgres_under(tmp_path)


# ---------------------------------------------------------------------------------------------------- no engine needed


def test_settings_with_new_knob_values_print_them():
    faiss = export_config("pq96x4+rerank4", "faiss", d=384)
    assert faiss.text == export_settings("pq96x4+rerank4", "faiss", d=384)
    assert "k_factor = 8  # rescore 8 x k" in faiss.with_knobs(k_factor=8).text
    qdrant = json.loads(export_config("binary+rerank4", "qdrant", d=384).with_knobs(oversampling=8.0, hnsw_ef=256).text)
    assert qdrant["search"]["params"] == {
        "hnsw_ef": 256,
        "quantization": {"ignore": False, "rescore": True, "oversampling": 8.0},
    }
    pg = export_config("binary+rerank4", "pgvector", d=384).with_knobs(candidates=2000)
    assert pg.knobs == {"candidates": 2000, "ef_search": 1000, "iterative_scan": "relaxed_order"}
    assert "SET hnsw.ef_search = 1000;\nSET hnsw.iterative_scan = relaxed_order;" in pg.text and "LIMIT 2000\n" in pg.text
    deep = export_settings("binary+rerank200", "pgvector", d=384)  # pgvector refuses ef_search > 1000
    assert "SET hnsw.ef_search = 1000;\nSET hnsw.iterative_scan = relaxed_order;" in deep and "LIMIT 2000\n" in deep
    with pytest.raises(ParameterError, match="qdrant has no knob 'nprobe'"):
        export_config("int8", "qdrant", d=384).with_knobs(nprobe=4)
    for engine in ENGINES:
        for spec in ("int8", "binary+rerank10", "pca128/int8+rerank4", "mrl128/pq32x8"):
            assert export_config(spec, engine, d=384).text == export_settings(spec, engine, d=384)


def test_faiss_report_on_small_data(small, tmp_path):
    X, Q, gt = small
    report = verify_export("int8+rerank2", "faiss", X, Q, gt, target=0.9, workdir=tmp_path)
    assert report.target_met and report.n == 1500 and report.n_queries == 20 and report.metric == "cosine"
    assert report.recall == pytest.approx(recall_at_k(report.ids, gt, 10))
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_one_line_lowdim_errors(small, monkeypatch):
    X, Q, gt = small
    with pytest.raises(ParameterError, match="'engine' parameter of verify_export must be one of 'faiss', 'qdrant', 'pgvector'"):
        verify_export("int8", "milvus", X, Q, gt)
    with pytest.raises(DimensionError, match=r"queries has 16 features, but the corpus \(1500 x 32\) expects 32"):
        verify_export("int8", "faiss", X, Q[:, :16], gt)
    with pytest.raises(DimensionError, match="corpus has 32 features, but the export expects 384"):
        verify_export("int8", "faiss", X, Q, gt, d=384)
    with pytest.raises(ValidationError, match=r"gt has shape \(20, 5\); expected \(20, >= 10\)"):
        verify_export("int8", "faiss", X, Q, gt[:, :5])
    with pytest.raises(ValidationError, match=r"outside \[0, 1500\)"):
        verify_export("int8", "faiss", X, Q, gt + 1500)
    with pytest.raises(ParameterError, match=r"'target' parameter of verify_export must be a number in \(0, 1\]"):
        verify_export("int8", "faiss", X, Q, gt, target=1.5)
    with pytest.raises(ParameterError, match="cannot export 'pq5x8' for d=32"):
        verify_export("pq5", "faiss", X, Q, gt)
    with pytest.raises(ParameterError, match="needs at least 256 corpus rows to train"):
        verify_export("pq8x8", "faiss", X[:100], Q, np.minimum(gt, 99))
    monkeypatch.setitem(sys.modules, "qdrant_edge", None)  # as if qdrant-edge-py were not installed
    with pytest.raises(
        MissingDependencyError, match=r'needs qdrant-edge-py; install the engines with: pip install "lowdim\[engines\]"'
    ):
        verify_export("int8", "qdrant", X, Q, gt)


def test_engine_failures_are_engine_errors(small, monkeypatch):
    import faiss

    X, Q, gt = small

    def broken(*args, **kwargs):
        raise RuntimeError("Error in ParameterSpace: broken\nsecond line")

    monkeypatch.setattr(faiss, "ParameterSpace", broken)  # used by the build only
    with pytest.raises(EngineError, match=r"^faiss failed to build 'int8': RuntimeError: Error in ParameterSpace: broken$"):
        verify_export("int8", "faiss", X, Q, gt)
