"""exact_knn against a brute-force oracle, block merging, padding, ties, and the real data set."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowdim.eval import exact_knn, recall_at_k
from lowdim.exceptions import DimensionError, ParameterError, ValidationError
from lowdim.search import _exact as _groundtruth

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
WORDNET = DATA / "wordnet-minilm"


def brute_force(corpus, queries, k, metric):
    """Full score matrix in float64, then per row sort by (best score, lower id)."""
    X = np.asarray(corpus, dtype=np.float64)
    Q = np.asarray(queries, dtype=np.float64)
    if metric == "cosine":
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
        Q = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-300)
    if metric == "l2":
        key = -((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    else:
        key = Q @ X.T
    ids = np.arange(X.shape[0])
    order = np.stack([np.lexsort((ids, -row)) for row in key])[:, :k]
    scores = np.take_along_axis(key, order, axis=1)
    return (-scores if metric == "l2" else scores), order


def int_data(rng, n, nq, d):
    # Small integers: every dot product and distance is exact in float32, and ties abound.
    return rng.integers(-2, 3, (n, d)).astype(np.float32), rng.integers(-2, 3, (nq, d)).astype(np.float32)


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("block_size", [1, 7, 64, 1000])
def test_matches_brute_force_exactly_with_ties(metric, block_size):
    corpus, queries = int_data(np.random.default_rng(1), 50, 13, 4)
    scores, ids = exact_knn(corpus, queries, 10, metric=metric, block_size=block_size)
    ref_scores, ref_ids = brute_force(corpus, queries, 10, metric)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert scores.shape == ids.shape == (13, 10)
    assert np.array_equal(ids, ref_ids)  # includes ties to the lower id, across block borders
    assert np.array_equal(scores, ref_scores.astype(np.float32))


@pytest.mark.parametrize("block_size", [7, 65536])
def test_cosine_matches_brute_force(block_size):
    rng = np.random.default_rng(2)
    corpus = (rng.standard_normal((60, 8)) * rng.uniform(0.1, 10, (60, 1))).astype(np.float32)
    queries = rng.standard_normal((9, 8)).astype(np.float32) * 3
    scores, ids = exact_knn(corpus, queries, 10, metric="cosine", block_size=block_size)
    ref_scores, ref_ids = brute_force(corpus, queries, 10, "cosine")
    assert np.array_equal(ids, ref_ids)
    assert np.allclose(scores, ref_scores, atol=1e-6)
    assert (scores <= 1 + 1e-6).all()


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    n=st.integers(1, 40),
    nq=st.integers(1, 5),
    d=st.integers(1, 5),
    k=st.integers(1, 12),
    block_size=st.integers(1, 50),
    tile_rows=st.integers(1, 9),
    metric=st.sampled_from(["ip", "l2", "cosine"]),
    seed=st.integers(0, 2**16),
)
def test_any_blocking_equals_brute_force(n, nq, d, k, block_size, tile_rows, metric, seed):
    corpus, queries = int_data(np.random.default_rng(seed), n, nq, d)
    if metric == "cosine":  # no exact arithmetic after normalising: avoid near-ties
        corpus = corpus + np.random.default_rng(seed).uniform(-0.1, 0.1, corpus.shape).astype(np.float32)
    # Small score tiles exercise several tiles per block and the early merges of the top-k.
    with mock.patch.object(_groundtruth, "_TILE_ROWS", tile_rows):
        scores, ids = exact_knn(corpus, queries, k, metric=metric, block_size=block_size)
    kk = min(k, n)
    ref_scores, ref_ids = brute_force(corpus, queries, kk, metric)
    assert np.array_equal(ids[:, :kk], ref_ids)
    if metric == "cosine":
        assert np.allclose(scores[:, :kk], ref_scores, atol=1e-5)
    else:
        assert np.array_equal(scores[:, :kk], ref_scores.astype(np.float32))
    assert (ids[:, kk:] == -1).all()


@pytest.mark.parametrize("metric,pad", [("ip", -np.inf), ("cosine", -np.inf), ("l2", np.inf)])
def test_fewer_rows_than_k_is_padded(metric, pad):
    corpus = np.eye(3, dtype=np.float32)
    scores, ids = exact_knn(corpus, corpus[:2], 5, metric=metric, block_size=2)
    assert ids.shape == (2, 5)
    assert (ids[:, 3:] == -1).all() and (scores[:, 3:] == pad).all()
    assert ids[:, 0].tolist() == [0, 1]
    assert np.isfinite(scores[:, :3]).all()


def test_duplicate_rows_tie_to_lower_id():
    corpus = np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (20, 1))
    for metric in ("ip", "cosine", "l2"):
        _, ids = exact_knn(corpus, [[1.0, 0.0]], 6, metric=metric, block_size=3)
        assert ids.tolist() == [[0, 1, 2, 3, 4, 5]]


def test_l2_returns_squared_distances_ascending():
    corpus = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]], dtype=np.float32)
    scores, ids = exact_knn(corpus, [[0.0, 0.0]], 3, metric="l2")
    assert ids.tolist() == [[0, 2, 1]] and scores.tolist() == [[0.0, 1.0, 25.0]]


def test_float16_memmap_and_uint8_corpora(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 16)).astype(np.float16)
    np.save(tmp_path / "c.npy", X)
    mm = np.load(tmp_path / "c.npy", mmap_mode="r")
    Q = rng.standard_normal((5, 16)).astype(np.float32)
    s1, i1 = exact_knn(mm, Q, 7, block_size=50)
    s2, i2 = exact_knn(X.astype(np.float32), Q, 7)
    assert np.array_equal(i1, i2)
    assert np.allclose(s1, s2, rtol=1e-6)  # BLAS may round a different block shape differently

    B = rng.integers(0, 256, (40, 8)).astype(np.uint8)  # .bvecs-style data
    _, ids = exact_knn(B, B[:3], 1, metric="l2", block_size=9)
    assert ids[:, 0].tolist() == [0, 1, 2]


def test_zero_vector_under_cosine_scores_zero():
    corpus = np.array([[0.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    scores, ids = exact_knn(corpus, [[-1.0, 0.0]], 2, metric="cosine")
    assert ids.tolist() == [[0, 1]] and scores.tolist() == [[0.0, -1.0]]


def test_progress_bar_runs():
    corpus, queries = int_data(np.random.default_rng(5), 30, 2, 3)
    _, with_bar = exact_knn(corpus, queries, 3, progress=True, block_size=8)
    assert np.array_equal(with_bar, exact_knn(corpus, queries, 3)[1])


def test_errors():
    corpus = np.zeros((10, 4), dtype=np.float32)
    with pytest.raises(DimensionError, match=r"queries have 3 features, but the corpus has 4"):
        exact_knn(corpus, np.zeros((2, 3), dtype=np.float32), 1)
    with pytest.raises(DimensionError, match=r"queries is 1-D.*reshape\(1, -1\)"):
        exact_knn(corpus, np.zeros(4, dtype=np.float32), 1)
    with pytest.raises(
        ParameterError, match=r"The 'metric' parameter of exact_knn must be one of 'cosine', 'ip', 'l2'. Got 'dot'."
    ):
        exact_knn(corpus, corpus[:1], 1, metric="dot")
    with pytest.raises(ParameterError, match=r"The 'block_size' parameter of exact_knn must be an integer >= 1. Got 0."):
        exact_knn(corpus, corpus[:1], 1, block_size=0)
    bad = corpus.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValidationError, match=r"corpus contains NaN or infinity in 1 row\(s\) between 5 and 9: 7"):
        exact_knn(bad, corpus[:1], 1, block_size=5)
    with pytest.raises(DimensionError, match=r"corpus has shape \(10,\); expected a 2-D array"):
        exact_knn(np.zeros(10, dtype=np.float32), corpus[:1], 1)


def test_reproduces_wordnet_minilm_ground_truth():
    corpus = np.load(WORDNET / "corpus.f16.npy", mmap_mode="r")  # float16 on disk, float32 per block
    queries = np.load(WORDNET / "queries.npy")[:200]
    gt = np.load(WORDNET / "gt_top100.npy")[:200]
    gt_scores = np.load(WORDNET / "gt_top100_scores.npy")[:200]
    scores, ids = exact_knn(corpus, queries, 10, metric="ip")
    # gt was computed on float32 vectors before the float16 cast (README: recall@10 0.9997 overall)
    assert recall_at_k(ids, gt, 10) >= 0.999
    assert np.abs(scores - gt_scores[:, :10]).max() < 1e-3


@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
def test_allowed_rows_only(metric):
    """``allowed`` restricts the answer to those rows, padding when fewer than k remain."""
    rng = np.random.default_rng(3)
    corpus = rng.standard_normal((500, 16)).astype(np.float32)
    queries = rng.standard_normal((7, 16)).astype(np.float32)
    allowed = rng.random(500) < 0.3
    _, ids = exact_knn(corpus, queries, 10, metric=metric, allowed=allowed, block_size=128)
    rows = np.flatnonzero(allowed)
    _, sub = exact_knn(corpus[rows], queries, 10, metric=metric)
    np.testing.assert_array_equal(ids, rows[sub])
    few = np.zeros(500, bool)
    few[[3, 400]] = True
    s, ids = exact_knn(corpus, queries, 5, metric=metric, allowed=few)
    assert set(ids[:, :2].ravel()) == {3, 400} and (ids[:, 2:] == -1).all()
    assert np.isinf(s[:, 2:]).all()
