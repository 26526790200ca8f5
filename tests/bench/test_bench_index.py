"""``lowdim bench`` over index specs: ``ivf<nlist>/`` at each nprobe and ``hnsw<M>/`` at each ef, next to FAISS."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim import ParameterError
from lowdim.bench import bench_table, plot_tradeoff, run_bench
from lowdim.bench._faiss import faiss_index_equivalent
from lowdim.cli import app
from lowdim.eval import Dataset
from lowdim.spec import parse_index_spec

NEW_FIELDS = {"index", "nprobe", "ef", "build_seconds"}


@pytest.fixture(scope="module")
def data(make_data):
    """3,000 × 32 rows of intrinsic dimension 8 and 50 queries (their top-10 spread over several IVF lists)."""
    X = make_data(3050, 32, 8, seed=3)
    return Dataset(corpus=X[:3000], queries=X[3000:], name="lowrank")


@pytest.fixture(scope="module")
def report(data):
    return run_bench(data, ["ivf32/int8", "int8", "hnsw8/int8+rerank2"], k=10, nprobe=[1, 4, 32], ef=[4, 32], n_single=10)


def _rows(report, engine, spec):
    return [r for r in report.results if r.engine == engine and r.spec == spec]


def test_ivf_spec_gives_one_row_per_nprobe_with_rising_recall(report):
    ours = _rows(report, "lowdim", "ivf32/int8")
    assert [(r.index, r.nprobe, r.ef) for r in ours] == [("ivf", 1, None), ("ivf", 4, None), ("ivf", 32, None)]
    recalls = [r.recall for r in ours]
    assert recalls == sorted(recalls) and recalls[-1] - recalls[0] > 0.3, recalls
    # probing every list returns what the flat scan of the same codes returns
    (flat,) = _rows(report, "lowdim", "int8")
    assert flat.index == "flat" and flat.nprobe is None and recalls[-1] == pytest.approx(flat.recall)
    # RAM: the code, the int64 id and the centroids spread over the rows; one build for all nprobes
    assert all(r.ram_bytes_per_vector == pytest.approx(32 + 8 + 32 * 32 * 4 / 3000) for r in ours)
    assert len({r.build_seconds for r in ours}) == 1 and ours[0].build_seconds >= ours[0].fit_seconds


def test_faiss_ivf_row_at_each_nprobe(report):
    theirs = _rows(report, "faiss", "ivf32/int8")
    assert [(r.equivalent, r.nprobe) for r in theirs] == [("IVF32,SQ8", 1), ("IVF32,SQ8", 4), ("IVF32,SQ8", 32)]
    assert theirs[0].recall < theirs[-1].recall
    for ours, faiss_row in zip(_rows(report, "lowdim", "ivf32/int8"), theirs, strict=True):
        assert ours.equivalent == "IVF32,SQ8"
        assert ours.qps_batch_ratio == pytest.approx(ours.qps_batch / faiss_row.qps_batch)
        assert abs(ours.recall - faiss_row.recall) < 0.05  # the same codes and partition size


def test_hnsw_spec_gives_one_row_per_ef_next_to_faiss_hnsw(report):
    ours = _rows(report, "lowdim", "hnsw8/int8+rerank2")
    assert [(r.index, r.ef, r.nprobe) for r in ours] == [("hnsw", 4, None), ("hnsw", 32, None)]
    assert all(r.recall > 0.95 for r in ours)
    assert ours[0].ram_bytes_per_vector > 32 + 4 * 8  # the code and at least the level-0 links in use
    theirs = _rows(report, "faiss", "hnsw8/int8+rerank2")
    assert [(r.equivalent, r.ef) for r in theirs] == [("HNSW8,SQ8,RFlat×2", 4), ("HNSW8,SQ8,RFlat×2", 32)]
    assert theirs[-1].recall > 0.95 and theirs[0].ram_bytes_per_vector > 4 * 32  # its refine store is in RAM


def test_json_keeps_old_fields_and_adds_index_ones(report, tmp_path):
    doc = json.loads(report.write_json(tmp_path / "r.json").read_text())
    assert all(NEW_FIELDS <= set(r) for r in doc["results"])
    kinds = {(r["engine"], r["index"], r["nprobe"], r["ef"]) for r in doc["results"]}
    assert ("faiss", "ivf", 4, None) in kinds and ("lowdim", "flat", None, None) in kinds
    png = plot_tradeoff(report.results, tmp_path / "r.png")
    assert png.stat().st_size > 10_000
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(bench_table(report))
    text = console.export_text()
    assert "nprobe 32" in text and "ef 4" in text and "IVF32,SQ8" in text


def test_default_nprobe_is_capped_at_nlist(data):
    rep = run_bench(data, ["ivf32/int8"], k=5, with_faiss=False, n_single=2)
    assert [r.nprobe for r in rep.results] == [16, 32]


@pytest.mark.parametrize(
    "specs, kwargs, message",
    [
        (["ivf128/int8"], {}, r"nlist 128 needs at least 4,992 training rows \(39 per list\); the data give 3,000.*nlist <= 64"),
        (["ivf16/int8"], {"train_size": 500}, r"the data give 500 \(train_size 500\).*nlist <= 8"),
        (["ivf16/int8"], {"nprobe": [0, 4]}, r"'nprobe' parameter of bench must be an integer >= 1. Got 0"),
        (["ivf16/int8"], {"nprobe": [4, 32]}, r"'nprobe' parameter of bench must be at most nlist=16 .*Got 32"),
        (["int8", "pq8"], {"nprobe": [16]}, r"'nprobe' parameter of bench applies to ivf<nlist>/ specs, and none"),
        (["ivf16/int8"], {"ef": [16]}, r"'ef' parameter of bench applies to hnsw<M>/ specs"),
        (["hnsw16/int8"], {"ef": []}, r"'ef' parameter of bench needs at least one value"),
    ],
)
def test_bad_index_input_is_one_line(data, specs, kwargs, message):
    with pytest.raises(ParameterError, match=message) as info:
        run_bench(data, specs, with_faiss=False, **kwargs)
    assert "\n" not in str(info.value)


def test_cli_runs_index_specs_and_refuses_bad_nprobe(data, tmp_path):
    np.save(tmp_path / "X.npy", data.corpus)
    np.save(tmp_path / "Q.npy", data.queries)
    out = tmp_path / "out.json"
    args = ["bench", str(tmp_path / "X.npy"), "--queries", str(tmp_path / "Q.npy"), "--specs", "ivf16/int8"]
    res = CliRunner().invoke(app, [*args, "--nprobe", "2,16", "--single-queries", "5", "--json", str(out)])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())["results"]
    assert [(r["engine"], r["nprobe"]) for r in rows] == [("lowdim", 2), ("lowdim", 16), ("faiss", 2), ("faiss", 16)]
    for bad, message in (("0", "must be an integer >= 1. Got 0"), ("8,x", "--nprobe takes comma-separated integers")):
        res = CliRunner().invoke(app, [*args, "--no-faiss", "--nprobe", bad])
        # lowdim.cli.main prints a LowdimError as one 'error:' line with exit code 2 (test_bench_cli checks that path)
        assert isinstance(res.exception, ParameterError) and message in str(res.exception), res.output


@pytest.mark.parametrize(
    "spec, name",
    [
        ("ivf64/pq16x4+rerank4", "IVF64,PQ16x4fs,RFlat×4"),  # FAISS's IVF over 4-bit PQ is fast scan
        ("ivf64/pq8", "IVF64,PQ8"),
        ("ivf64/int8", "IVF64,SQ8"),
        ("ivf64/rabitq+rerank10", "IVF64,RaBitQ,RFlat×10"),
        ("ivf64/pca16/int8", "PCA16,IVF64,SQ8"),
        ("hnsw32/f32", "HNSW32,Flat"),
        ("hnsw32/f16", "HNSW32,SQfp16"),
        ("hnsw32/pq8+rerank4", "HNSW32,PQ8,RFlat×4"),
        ("ivf64/binary+rerank10", None),  # sign codes: no FAISS IVF of that kind
        ("hnsw32/rabitq", None),  # FAISS has no HNSW over RaBitQ codes
        ("ivf64/mrl16/int8", None),
    ],
)
def test_faiss_index_equivalent_names(spec, name):
    cand = faiss_index_equivalent(parse_index_spec(spec), 32, "cosine")
    assert (cand.name if cand is not None else None) == name


def test_hnsw_prefix_is_a_bench_spec_a_collection_refuses(tmp_path):
    from lowdim.store import Collection

    with pytest.raises(ParameterError, match=r"spec 'hnsw32/int8': the hnsw<M>/ prefix .* takes spec 'int8' with index='hnsw'"):
        Collection.create(tmp_path / "c", dim=32, spec="hnsw32/int8")
