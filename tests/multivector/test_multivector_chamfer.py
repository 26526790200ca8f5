"""Exact Chamfer: the vectorised forms against a plain double loop, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.exceptions import DimensionError, ParameterError
from lowdim.multivector import TokenSets, chamfer_rerank, chamfer_scores, chamfer_topk


def _sets(n: int, d: int = 12, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(1, 7)), d)).astype(np.float32) for _ in range(n)]


def _naive(q: np.ndarray, d: np.ndarray) -> float:
    return float(sum(max(float(a @ b) for b in d) for a in q))


@pytest.fixture
def data():
    docs = _sets(60)
    queries = _sets(9, seed=1)
    exact = np.array([[_naive(q, d) for d in docs] for q in queries])
    return TokenSets.from_list(docs), TokenSets.from_list(queries), exact


def test_scores_equal_the_double_loop(data):
    docs, queries, exact = data
    np.testing.assert_allclose(chamfer_scores(queries[0], docs), exact[0], rtol=1e-5, atol=1e-5)
    got = chamfer_scores(queries[2], docs, np.array([5, -1, 5, 0]))
    np.testing.assert_allclose(got[[0, 2, 3]], exact[2, [5, 5, 0]], rtol=1e-5, atol=1e-5)
    assert got[1] == -np.inf
    # Chamfer is asymmetric
    assert not np.isclose(chamfer_scores(docs[0], TokenSets.from_list([queries[0]]))[0], exact[0, 0])


def test_topk_equals_sorting_all_scores_in_any_block_size(data):
    docs, queries, exact = data
    want = np.argsort(-exact, axis=1, kind="stable")[:, :7]
    for block in (1, 10, 10_000):  # one document per block, several, all
        scores, ids = chamfer_topk(queries, docs, 7, block_tokens=block)
        np.testing.assert_array_equal(ids, want)
        np.testing.assert_allclose(scores, np.take_along_axis(exact, want, axis=1), rtol=1e-5, atol=1e-5)
    scores, ids = chamfer_topk(queries, docs, 70)
    assert (ids[:, 60:] == -1).all() and np.isneginf(scores[:, 60:]).all()


def test_rerank_keeps_the_best_candidates(data):
    docs, queries, exact = data
    cands = np.tile(np.r_[np.arange(-1, 30), 6], (len(queries), 1))  # -1 is no candidate; doc 6 twice counts once
    scores, ids = chamfer_rerank(queries, docs, cands, 4)
    want = np.argsort(-exact[:, :30], axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_allclose(scores, np.take_along_axis(exact, want, axis=1), rtol=1e-5, atol=1e-5)
    _, few = chamfer_rerank(queries, docs, np.full((len(queries), 3), -1), 2)
    assert (few == -1).all()


def test_bad_input(data):
    docs, queries, _ = data
    with pytest.raises(DimensionError, match="query has 5 features, but the document set expects 12"):
        chamfer_scores(np.ones((2, 5), np.float32), docs)
    with pytest.raises(ParameterError, match="candidates must lie in 0..59"):
        chamfer_scores(queries[0], docs, np.array([60]))
    with pytest.raises(ParameterError, match="integer document numbers"):
        chamfer_scores(queries[0], docs, np.array([1.0]))
    with pytest.raises(ParameterError, match="shape \\(9, c\\), one row per query"):
        chamfer_rerank(queries, docs, np.zeros(9, np.int64), 2)
    with pytest.raises(DimensionError, match="queries\\[0\\] has 5 features, but the document set expects 12"):
        chamfer_topk([np.ones((2, 5), np.float32)], docs, 2)
    with pytest.raises(ParameterError):
        chamfer_topk(queries, docs, 0)
