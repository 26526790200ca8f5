"""Search over codes: fixed shapes, padding, exactness of the kernels, rerank, subsets."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import CodeIndex, DimensionError, ParameterError, Pipeline
from lowdim.eval import exact_knn, recall_at_k
from lowdim.search import rerank_exact, search, topk


def _exact(X, Q, k, metric):
    return exact_knn(X, Q, k, metric=metric)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_f32_scan_is_exact(structured, metric):
    X, Q = structured
    p = Pipeline("f32", metric=metric).fit(X)
    res = search(p.encode(X), Q, 10, codec=p)
    s_ref, i_ref = _exact(X, Q, 10, metric)
    assert res.ids.shape == res.scores.shape == (len(Q), 10)
    assert res.ids.dtype == np.int64 and res.scores.dtype == np.float32
    assert recall_at_k(res.ids, i_ref, 10) > 0.999
    np.testing.assert_allclose(res.scores, s_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spec", ["binary", "rbq2", "rbq3", "int8", "int4", "pq16x8", "pq16x4", "pca16/int8", "itq/binary"])
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_scan_scores_equal_query_against_decoded(structured, spec, metric):
    """The asymmetric score is the float query against the decoded vector, whatever the kernel."""
    X, Q = structured
    p = Pipeline(spec, metric=metric).fit(X)
    codes = p.encode(X)
    res = CodeIndex(p, codes).search(Q, 5)
    Qt = p.transform(Q)
    dec = p.quantizer.decode(codes)  # in the quantizer's (transformed) space
    S = Qt @ dec.T if metric != "l2" else ((Qt[:, None, :] - dec[None]) ** 2).sum(-1)
    got = np.take_along_axis(S, res.ids, axis=1)
    tol = 2e-2 * float(np.abs(S).max()) if spec.endswith("x4") or "binary" in spec or "rbq" in spec else 1e-3
    np.testing.assert_allclose(res.scores, got, atol=tol)
    # and the ranking is the decoded ranking (up to the kernel's rounding)
    best = np.sort(S, axis=1)[:, ::-1][:, :5] if metric != "l2" else np.sort(S, axis=1)[:, :5]
    np.testing.assert_allclose(got, best, atol=tol)


def test_asymmetric_binary_beats_hamming(wordnet):
    n = 20000
    X = np.asarray(wordnet.corpus[:n], np.float32)
    Q = wordnet.queries[:300]
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    rec = {}
    for spec in ["binary+rerank10", "hamming+rerank10"]:
        p = Pipeline(spec).fit(X)
        rec[spec] = recall_at_k(CodeIndex(p, p.encode(X), vectors=X).search(Q, 10).ids, gt, 10)
    assert rec["binary+rerank10"] > rec["hamming+rerank10"] + 0.03


def test_padding_when_fewer_than_k(structured):
    X, Q = structured
    for spec in ["f32", "int8", "binary", "hamming", "pq8x8", "rbq2+rerank2"]:
        p = Pipeline(spec).fit(X)
        res = CodeIndex(p, p.encode(X[:3]), vectors=X[:3]).search(Q[:4], 5)
        assert res.ids.shape == (4, 5)
        assert (res.ids[:, 3:] == -1).all() and (res.ids[:, :3] >= 0).all()
        assert np.isneginf(res.scores[:, 3:]).all()


def test_l2_padding_is_plus_inf(structured):
    X, Q = structured
    p = Pipeline("int8", metric="l2").fit(X)
    res = CodeIndex(p, p.encode(X[:2])).search(Q[:1], 4)
    assert res.ids[0].tolist()[2:] == [-1, -1] and np.isposinf(res.scores[0, 2:]).all()
    assert res.scores[0, 0] <= res.scores[0, 1]


def test_empty_index_returns_all_padding(structured):
    X, Q = structured
    p = Pipeline("binary").fit(X)
    res = CodeIndex(p).search(Q[:2], 3)
    assert (res.ids == -1).all()


def test_one_query_is_a_batch_of_one(structured):
    X, Q = structured
    p = Pipeline("int8").fit(X)
    scores, ids = CodeIndex(p, p.encode(X)).search(Q[:1], 7)
    assert ids.shape == (1, 7)


def test_rerank_restores_exact_order(structured):
    X, Q = structured
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    p = Pipeline("binary").fit(X)
    index = CodeIndex(p, p.encode(X), vectors=X)
    plain = recall_at_k(index.search(Q, 10).ids, gt, 10)
    reranked = index.search(Q, 10, rerank=20)
    assert recall_at_k(reranked.ids, gt, 10) > max(plain, 0.95)
    s_exact, _ = exact_knn(X, Q, 10, metric="cosine")
    hit = reranked.ids == gt
    np.testing.assert_allclose(reranked.scores[hit], s_exact[hit], rtol=1e-5)


def test_spec_rerank_is_the_default_and_zero_disables(structured):
    X, Q = structured
    p = Pipeline("binary+rerank8").fit(X)
    index = CodeIndex(p, p.encode(X), vectors=X)
    a = index.search(Q, 5)
    b = index.search(Q, 5, rerank=8)
    c = index.search(Q, 5, rerank=0)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert not np.array_equal(a.ids, c.ids)


def test_rerank_reads_a_memmap(structured, tmp_path):
    X, Q = structured
    np.save(tmp_path / "v.npy", X.astype(np.float16))
    mm = np.load(tmp_path / "v.npy", mmap_mode="r")
    p = Pipeline("int4+rerank4").fit(X)
    res = CodeIndex(p, p.encode(mm), vectors=mm).search(Q, 10)
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    assert recall_at_k(res.ids, gt, 10) > 0.97


def test_rerank_without_vectors_is_a_clear_error(structured):
    X, Q = structured
    p = Pipeline("int8+rerank4").fit(X)
    with pytest.raises(ParameterError, match=r"rerank=4 needs the full-precision vectors: pass vectors="):
        CodeIndex(p, p.encode(X)).search(Q, 5)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_rerank_value(structured, bad):
    X, Q = structured
    p = Pipeline("int8").fit(X)
    with pytest.raises(ParameterError, match="The 'rerank' parameter must be an integer >= 0"):
        CodeIndex(p, p.encode(X), vectors=X).search(Q, 5, rerank=bad)


def test_subset_search_only_returns_the_subset(structured):
    X, Q = structured
    rng = np.random.default_rng(0)
    subset = np.sort(rng.choice(len(X), 150, replace=False))
    for spec in ["int8", "binary+rerank4", "pq8x4", "hamming", "rbq2"]:
        p = Pipeline(spec).fit(X)
        index = CodeIndex(p, p.encode(X), vectors=X)
        res = index.search(Q, 10, subset=subset)
        assert np.isin(res.ids, subset).all()
        _, gt_local = exact_knn(X[subset], Q, 10, metric="cosine")
        if spec.endswith("rerank4"):
            assert recall_at_k(res.ids, subset[gt_local], 10) > 0.9


def test_incremental_add_equals_one_add(structured):
    X, Q = structured
    for spec in ["int8", "binary", "pq8x4", "rbq2"]:
        p = Pipeline(spec).fit(X)
        codes = p.encode(X)
        one = CodeIndex(p, codes).search(Q, 10)
        inc = CodeIndex(p)
        for part in np.array_split(codes, 5):
            inc.add(part)
        two = inc.search(Q, 10)
        np.testing.assert_array_equal(one.ids, two.ids)
        assert len(inc) == len(X)


def test_query_errors(structured):
    X, Q = structured
    p = Pipeline("int8").fit(X)
    index = CodeIndex(p, p.encode(X))
    with pytest.raises(
        DimensionError, match=r"queries is 1-D with shape \(64,\); expected a 2-D array \(n, d\)\. Use X\.reshape\(1, -1\)"
    ):
        index.search(Q[0], 5)
    with pytest.raises(DimensionError, match="queries has 32 features, but this int8 index expects 64"):
        index.search(Q[:, :32], 5)
    bad = Q.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"queries contains NaN or infinity in 1 row\(s\): 3"):
        index.search(bad, 5)
    with pytest.raises(ParameterError, match="The 'k' parameter must be an integer >= 1. Got 0."):
        index.search(Q, 0)


def test_codes_of_the_wrong_shape_or_dtype(structured):
    X, _ = structured
    p = Pipeline("int8").fit(X)
    with pytest.raises(DimensionError, match=r"codes have shape \(5, 10\); expected \(n, 64\) for this int8 codec"):
        CodeIndex(p, np.zeros((5, 10), np.uint8))
    with pytest.raises(TypeError, match="codes have dtype float32; expected uint8 codes from encode"):
        CodeIndex(p, np.zeros((5, 64), np.float32))


def test_topk_ties_go_to_the_lower_id():
    S = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]], np.float32)
    s, i = topk(S, 3)
    assert i.tolist() == [[1, 2, 4]]
    s, i = topk(S, 2, largest=False)
    assert i.tolist() == [[0, 3]]


def test_fast_scan_never_returns_fewer_than_exist(structured, monkeypatch):
    """If the fast-scan kernel drops rows, the exact fallback fills the results."""
    X, Q = structured
    p = Pipeline("binary").fit(X)
    index = CodeIndex(p, p.encode(X[:40]))
    ref = index.search(Q[:4], 38)
    scanner = index.scanner
    scanner._search(Q[:1] @ np.eye(64, dtype=np.float32), 1)  # build the kernel
    real = scanner._kernel.search
    calls = []

    def dropping(q, k):
        calls.append(k)
        D, I = real(q, k)
        I[:, -2:] = -1  # what a misbehaving kernel would return
        return D, I

    monkeypatch.setattr(scanner._kernel, "search", dropping, raising=False)
    got = index.search(Q[:4], 38)
    assert calls == [38]
    assert (got.ids >= 0).all()
    np.testing.assert_array_equal(np.sort(got.ids, axis=1), np.sort(ref.ids, axis=1))


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_rerank_one_query_at_a_time_matches_the_batch(metric):
    """Few queries take the per-query path; it must rank exactly as the batched path (ties to the lower id)."""
    rng = np.random.default_rng(3)
    V = rng.standard_normal((2000, 24)).astype(np.float16)
    V[7] = 0  # a zero row scores 0 under cosine
    Q = rng.standard_normal((12, 24)).astype(np.float32)
    if metric == "cosine":
        Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    C = np.stack([rng.choice(2000, 40, replace=False) for _ in range(12)])
    C[:, 0], C[:, -5:] = 7, -1
    C[0, 10:] = -1  # fewer candidates than k: padded
    batch = rerank_exact(Q, C, V, 15, metric=metric)
    one = [rerank_exact(Q[i : i + 1], C[i : i + 1], V, 15, metric=metric) for i in range(12)]
    np.testing.assert_array_equal(np.vstack([o[1] for o in one]), batch[1])
    np.testing.assert_allclose(np.vstack([o[0] for o in one]), batch[0], rtol=1e-5, atol=1e-5)
    assert (batch[1][0, :10] >= 0).all() and (batch[1][0, 10:] == -1).all()
