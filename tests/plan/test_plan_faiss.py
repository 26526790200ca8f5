"""FAISS's frontier inside a plan: recall against our own oracle, refine monotonicity, byte caps,
the FAISS -> lowdim spec mapping, the smallest accepted point, JSON, and PQ's codes equal to lowdim's."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from lowdim import DimensionError, ParameterError
from lowdim.arrays import normalize_rows, sample_indices
from lowdim.eval import exact_knn, recall_per_query
from lowdim.plan._faiss import (
    BINARY_FACTORY,
    FaissPoint,
    faiss_configs,
    faiss_smallest,
    faiss_spec,
    measure_faiss_frontier,
)
from lowdim.plan._faiss_build import BuiltIndex, _pq_codes, kmeans_path
from lowdim.plan._fit import SharedFits
from lowdim.search import CodeIndex
from lowdim.spec import bytes_per_vector, parse_spec

K = 10


@pytest.fixture(scope="module")
def small(make_data):
    """(train, corpus (3000, 64), queries (60, 64), gt (60, 10)) of low intrinsic dimension; train is normalised."""
    X = make_data(3060, 64, 6, seed=7)
    corpus, queries = X[:3000], X[3000:]
    _, gt = exact_knn(corpus, queries, K, metric="cosine")
    train = normalize_rows(corpus[sample_indices(3000, 2000, 0)])
    return train, corpus, queries, gt


@pytest.fixture(scope="module")
def frontier(small):
    """A few cheap configurations at refine factors 0, 2, 4."""
    train, corpus, queries, gt = small
    configs = ["SQ8", "SQ4", "PQ8", "RaBitQ", "RaBitQ2", "PCA16,SQ8", BINARY_FACTORY]
    return measure_faiss_frontier(train, corpus, queries, gt, k=K, metric="cosine", factors=(0, 2, 4), configs=configs)


def _sq8_oracle(train: np.ndarray, corpus: np.ndarray, queries: np.ndarray, gt: np.ndarray, factor: int) -> float:
    """SQ8 by hand: per-dimension min/max ranges, 255 levels, codes decoded and scored exactly; then the exact rerank."""
    vmin, vmax = train.min(0), train.max(0)
    C, Q = normalize_rows(corpus), normalize_rows(queries)
    t = np.clip((C - vmin) / (vmax - vmin), 0, 1)
    decoded = vmin + (np.floor(255 * t) + 0.5) / 255 * (vmax - vmin)
    order = np.argsort(-(Q @ decoded.T), axis=1, kind="stable")
    cand = order[:, : K * max(factor, 1)]
    if factor:
        exact = np.take_along_axis(Q @ C.T, cand, axis=1)
        cand = np.take_along_axis(cand, np.argsort(-exact, axis=1, kind="stable"), axis=1)
    return float(recall_per_query(cand[:, :K], gt, K).mean())


def _point(points: list[FaissPoint], name: str) -> FaissPoint:
    return next(p for p in points if p.name == name)


def test_sq8_recall_equals_an_oracle_computed_by_hand(small, frontier):
    train, corpus, queries, gt = small
    for factor in (0, 2, 4):
        p = _point(frontier, "SQ8" + (f",RFlat×{factor}" if factor else ""))
        # float rounding may swap a near tie: at most one neighbour of one query
        assert abs(p.recall - _sq8_oracle(train, corpus, queries, gt, factor)) <= 1 / (len(queries) * K) + 1e-12


def test_every_configuration_is_measured_at_every_factor_and_refine_only_helps(frontier):
    by_factory: dict[str, list[FaissPoint]] = {}
    for p in frontier:
        by_factory.setdefault(p.factory, []).append(p)
    assert len(by_factory) == 7
    for factory, pts in by_factory.items():
        assert [p.rerank for p in pts] == [0, 2, 4], factory
        # more candidates reranked exactly can only keep or add true neighbours, query by query
        for a, b in zip(pts, pts[1:]):
            assert np.all(b.recall_per_query >= a.recall_per_query - 1e-12), factory
        assert {p.code_bytes for p in pts} == {pts[0].code_bytes}
        assert [p.refine_ram_bytes for p in pts] == [0, 4 * 64, 4 * 64]
        assert all(p.qps > 0 and p.build_seconds >= 0 for p in pts)
    # low intrinsic dimension: SQ8 is near exact, and a refine of 4 lifts even sign bits
    assert _point(frontier, "SQ8").recall >= 0.95
    assert _point(frontier, "BFlat,RFlat×4").recall > _point(frontier, "BFlat").recall


def test_points_name_their_lowdim_spec_with_the_rerank(frontier):
    p = _point(frontier, "PQ8,RFlat×4")
    assert (p.spec, p.exact, p.note) == ("pq8x8+rerank4", True, "")
    q = _point(frontier, "SQ8")
    assert (q.spec, q.exact) == ("int8", False) and "min/max" in q.note
    assert _point(frontier, "RaBitQ2,RFlat×2").spec == "rabitq2+rerank2"
    assert _point(frontier, "PCA16,SQ8").spec == "pca16/int8"
    assert _point(frontier, "BFlat").spec == "binary"


@pytest.mark.parametrize("d", [32, 64, 100, 384])
def test_every_configuration_maps_to_a_lowdim_spec_of_the_same_code_bytes(d):
    names = faiss_configs(d)
    families = {n.rstrip("0123456789").split(",")[0].rstrip("0123456789") for n in names}
    assert families == {"SQ", "PQ", "OPQ", "RaBitQ", "PCA", "BFlat"}
    for factory in names:
        spec, exact, note = faiss_spec(factory, d)
        parsed = parse_spec(spec)
        parsed.check(d)
        if factory == BINARY_FACTORY:
            faiss_bytes = faiss.IndexBinaryFlat(8 * ((d + 7) // 8)).code_size
            assert parsed.quantizer.faiss_equivalent().binary_flat
        else:
            faiss_bytes = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT).sa_code_size()
            # the codec registry names the same FAISS pieces, stage by stage
            pieces = [st.faiss_equivalent().piece for st in (*parsed.transforms, parsed.quantizer)]
            assert ",".join(pieces) == factory
        assert bytes_per_vector(d, spec) == faiss_bytes, factory
        fast_pq = factory.startswith("PQ") and d // int(factory[2:]) >= 8
        assert exact == (fast_pq or factory.startswith("RaBitQ")) and (note == "") == exact
    assert [bytes_per_vector(d, faiss_spec(n, d)[0]) for n in names] == sorted(
        bytes_per_vector(d, faiss_spec(n, d)[0]) for n in names
    )


def test_max_bytes_is_respected(small):
    train, corpus, queries, gt = small
    assert all(bytes_per_vector(384, faiss_spec(n, 384)[0]) <= 48 for n in faiss_configs(384, max_bytes=48))
    assert "PQ48" in faiss_configs(384, max_bytes=48) and "PQ64" not in faiss_configs(384, max_bytes=48)
    pts = measure_faiss_frontier(
        train, corpus, queries, gt, k=K, metric="cosine", factors=(0,), max_bytes=8, configs=["PQ4", "PQ8", "SQ4", "SQ8"]
    )
    assert [p.name for p in pts] == ["PQ4", "PQ8"]
    assert max(p.code_bytes for p in pts) <= 8


def test_accept_finds_the_smallest_accepted_point_of_the_full_sweep_measuring_fewer(small):
    train, corpus, queries, gt = small
    configs = ["SQ8", "SQ4", "RaBitQ", "RaBitQ2", BINARY_FACTORY, "PQ4", "PQ8", "PQ16", "PCA8,SQ8", "PCA16,SQ8"]
    every = measure_faiss_frontier(train, corpus, queries, gt, k=K, metric="cosine", factors=(0, 4), configs=configs)
    assert [p.code_bytes for p in every] == sorted(p.code_bytes for p in every)
    assert {p.factory for p in every} == set(configs)
    for target in (0.9, 0.99):

        def accept(p: FaissPoint, target: float = target) -> bool:
            return p.recall >= target

        best = faiss_smallest(every, accept)
        some = measure_faiss_frontier(
            train, corpus, queries, gt, k=K, metric="cosine", factors=(0, 4), configs=configs, accept=accept
        )
        assert best is not None and faiss_smallest(some, accept).code_bytes == best.code_bytes
        assert len({p.factory for p in some}) < len(configs)
        # nothing larger than the answer is measured in a family once a member of that size passed
        assert [p.code_bytes for p in some] == sorted(p.code_bytes for p in some)


def _pt(name: str, size: int, rerank: int, recall: float) -> FaissPoint:
    return FaissPoint(name, name.split(",RFlat")[0], size, 128 if rerank else 0, rerank, recall, 1000.0, "int8", False)


def test_faiss_smallest_takes_fewest_bytes_then_smaller_rerank_then_recall_then_name():
    pts = [
        _pt("SQ8", 32, 0, 0.99),
        _pt("PQ16,RFlat×4", 16, 4, 0.97),
        _pt("PQ16,RFlat×2", 16, 2, 0.95),
        _pt("RaBitQ,RFlat×2", 16, 2, 0.96),
        _pt("PCA16,SQ8,RFlat×2", 16, 2, 0.96),
        _pt("PQ8,RFlat×4", 8, 4, 0.90),
    ]
    assert faiss_smallest(pts, lambda p: p.recall >= 0.95).name == "PCA16,SQ8,RFlat×2"
    assert faiss_smallest(pts, lambda p: p.recall >= 0.95 and p.rerank == 0).name == "SQ8"
    assert faiss_smallest(pts, lambda p: p.recall >= 0.9).name == "PQ8,RFlat×4"
    assert faiss_smallest(pts, lambda p: p.recall >= 0.999) is None
    assert faiss_smallest(list(reversed(pts)), lambda p: p.recall >= 0.95).name == "PCA16,SQ8,RFlat×2"


def test_to_dict_is_json_safe(frontier):
    for p in frontier:
        d = p.to_dict()
        back = json.loads(json.dumps(d, allow_nan=False, ensure_ascii=True))
        assert back == d and "recall_per_query" not in d
        assert back["spec"] == p.spec and back["rerank"] == p.rerank and isinstance(back["exact"], bool)
    p = frontier[0]
    p.recall_choose, p.recall_confirm, p.margin = np.float64(0.9), 0.8, 0.01  # the planner's verdict, once it set it
    assert json.loads(json.dumps(p.to_dict()))["recall_choose"] == 0.9
    p.recall_choose = p.recall_confirm = p.margin = None


def test_pq_gives_lowdim_pq_codes_and_recall_from_the_same_training_rows(small):
    """FAISS's PQ8 here and lowdim's pq8x8 fitted by the planner share FAISS's ProductQuantizer, rows and seed."""
    _, corpus, queries, gt = small
    raw_train = corpus[sample_indices(3000, 2000, 0)]
    fits = SharedFits(raw_train, metric="cosine", seed=3)
    pipe = fits.pipeline("pq8x8")
    codes = pipe.encode(corpus)
    built = BuiltIndex("PQ8", "pq", "pq8x8", 64, "cosine", fits.train, 3)
    built.add(normalize_rows(corpus))
    faiss_codes = faiss.vector_to_array(built.index.codes).reshape(len(corpus), -1)
    np.testing.assert_array_equal(faiss_codes, codes)

    pts = measure_faiss_frontier(fits.train, corpus, queries, gt, k=K, metric="cosine", factors=(0, 2), seed=3, configs=["PQ8"])
    index = CodeIndex(pipe, codes, vectors=corpus)
    for p in pts:
        ours = recall_per_query(index.search(queries, K, rerank=p.rerank).ids, gt, K).mean()
        assert abs(p.recall - ours) <= 1 / (len(queries) * K) + 1e-12


def test_opq_takes_the_planners_rotation_and_codebooks_when_given_its_fits(make_data):
    X = make_data(1560, 32, 6, seed=4)
    corpus, queries = X[:1500], X[1500:]
    _, gt = exact_knn(corpus, queries, K, metric="cosine")
    fits = SharedFits(corpus, metric="cosine", seed=0)
    pts = measure_faiss_frontier(
        fits.train, corpus, queries, gt, k=K, metric="cosine", factors=(0,), configs=["OPQ4,PQ4"], fits=fits
    )
    pipe = fits.pipeline("opq4/pq4x8")  # the rotation is cached: the same one FAISS's index got
    ours = recall_per_query(CodeIndex(pipe, pipe.encode(corpus), vectors=corpus).search(queries, K).ids, gt, K).mean()
    # the same codec up to the rounding of two matrix products (a transposed rotation would lose most neighbours)
    assert abs(pts[0].recall - ours) <= 0.02 and pts[0].spec == "opq4/pq4x8" and not pts[0].exact


def test_narrow_sub_vectors_take_blas_paths_with_the_same_codes(make_data):
    """Below 8 dimensions per sub-quantizer k-means and encoding go through BLAS: the same math as FAISS's own loops."""
    X = make_data(3000, 24, 6, seed=5)
    pq = faiss.ProductQuantizer(24, 4, 8)  # 6 dimensions per sub-quantizer
    pq.cp.verbose = False
    with kmeans_path(pq.dsub):
        pq.train(X)
    assert faiss.cvar.distance_compute_blas_threshold != 20  # restored after the block
    same = _pq_codes(pq, X) == pq.compute_codes(X)
    assert same.mean() > 0.999  # only exact ties may round the other way


def test_l2_metric_and_a_raw_training_sample(make_data):
    X = make_data(1530, 16, 4, seed=2)
    corpus, queries = X[:1500], X[1500:]
    _, gt = exact_knn(corpus, queries, K, metric="l2")
    pts = measure_faiss_frontier(corpus, corpus, queries, gt, k=K, metric="l2", factors=(0, 3), configs=["SQ8", "RaBitQ"])
    assert [p.name for p in pts] == ["RaBitQ", "RaBitQ,RFlat×3", "SQ8", "SQ8,RFlat×3"]
    assert _point(pts, "SQ8,RFlat×3").recall >= 0.95


def test_bad_input_is_a_one_line_lowdim_error(small):
    train, corpus, queries, gt = small
    kw = dict(k=K, metric="cosine", configs=["SQ8"])
    with pytest.raises(ParameterError, match="'factors' parameter"):
        measure_faiss_frontier(train, corpus, queries, gt, factors=[], **kw)
    with pytest.raises(ParameterError, match="'factors' parameter .* >= 0"):
        measure_faiss_frontier(train, corpus, queries, gt, factors=[0, -1], **kw)
    with pytest.raises(DimensionError, match="queries has 16 features"):
        measure_faiss_frontier(train, corpus, queries[:, :16], gt, factors=[0], **kw)
    with pytest.raises(DimensionError, match="gt has shape"):
        measure_faiss_frontier(train, corpus, queries, gt[:5], factors=[0], **kw)
    with pytest.raises(ParameterError, match="'metric' parameter"):
        measure_faiss_frontier(train, corpus, queries, gt, factors=[0], k=K, metric="dot")
    with pytest.raises(ParameterError, match="not a FAISS configuration"):
        measure_faiss_frontier(train, corpus, queries, gt, factors=[0], k=K, metric="cosine", configs=["IVF100,PQ8"])
    with pytest.raises(ParameterError, match="exceeds the corpus"):
        measure_faiss_frontier(train, corpus[:30], queries, np.zeros((60, K), np.int64), factors=[4], **kw)


def test_on_wordnet_rabitq_and_pq_match_lowdim_and_refine_reaches_high_recall(wordnet):
    """Real data: a 2,500-row cut of wordnet-minilm, 200 real queries, exact neighbours on the cut.

    Training the two PQ48 codebooks (lowdim's and FAISS's) is nearly all of this test's time, and grows with the cut
    (5,000 rows: 3x the time for the same recalls within 0.006).
    """
    corpus = np.asarray(wordnet.corpus[:2_500])
    queries = np.asarray(wordnet.queries[:200], np.float32)
    _, gt = exact_knn(corpus, queries, K, metric="cosine")
    fits = SharedFits(corpus, metric="cosine", seed=0)
    pts = measure_faiss_frontier(
        fits.train, corpus, queries, gt, k=K, metric="cosine", factors=(0, 4), configs=["RaBitQ", "PQ48", "SQ8", BINARY_FACTORY]
    )
    for base in ("rabitq1", "pq48x8"):
        pipe = fits.pipeline(base)
        index = CodeIndex(pipe, pipe.encode(corpus), vectors=corpus)
        for f in (0, 4):
            p = next(p for p in pts if p.spec == base + (f"+rerank{f}" if f else ""))
            ours = recall_per_query(index.search(queries, K, rerank=f).ids, gt, K).mean()
            assert abs(p.recall - ours) <= 2 / (len(queries) * K) + 1e-12, p.name
    assert _point(pts, "SQ8").recall >= 0.97
    assert _point(pts, "PQ48,RFlat×4").recall >= 0.9
    # FAISS's sign bits are not centred: on these embeddings they recall far less than lowdim's binary
    assert _point(pts, "BFlat").recall < _point(pts, "RaBitQ").recall
