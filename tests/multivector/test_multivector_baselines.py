"""The single-vector baselines: pooled vectors and token-level candidates, against exact oracles."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.exceptions import ParameterError
from lowdim.multivector import TokenLevelIndex, TokenSets, chamfer_topk, pooled_vectors


def _sets(n: int, d: int = 10, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(1, 6)), d)).astype(np.float32) for _ in range(n)]


def test_pooled_is_the_normalised_mean():
    sets = _sets(20)
    P = pooled_vectors(sets)
    want = np.stack([s.mean(axis=0) / np.linalg.norm(s.mean(axis=0)) for s in sets])
    np.testing.assert_allclose(P, want, rtol=1e-5, atol=1e-6)


def test_token_level_sum_over_all_tokens_is_exact_chamfer():
    """With every document token fetched for every query token, "sum" is Chamfer itself."""
    docs, queries = TokenSets.from_list(_sets(50)), TokenSets.from_list(_sets(6, seed=1))
    index = TokenLevelIndex(docs)
    cands = index.candidates(queries, 10, per_token=docs.n_tokens, order="sum")
    np.testing.assert_array_equal(cands, chamfer_topk(queries, docs, 10)[1])
    assert index.bytes_per_document == pytest.approx(docs.n_tokens * (4 * 10 + 8) / 50)


def test_token_level_orders_on_a_small_example():
    e = np.eye(4, dtype=np.float32)
    docs = [e[[0]], 0.9 * e[[1]], 0.5 * e[[0]] + 0.5 * e[[1]], e[[2]], 0.8 * e[[2]]]
    index = TokenLevelIndex(docs)
    query = [np.stack([e[1], e[2]])]
    # best similarity: doc 3 (1.0), doc 1 (0.9), doc 4 (0.8), doc 2 (0.5)
    assert index.candidates(query, 4, per_token=5).tolist() == [[3, 1, 4, 2]]
    # rank: first hits of each query token (1, 3), then second hits (2, 4)
    assert index.candidates(query, 4, per_token=2, order="rank").tolist() == [[3, 1, 4, 2]]
    # fewer documents reached than asked: -1 padding
    assert index.candidates(query, 4, per_token=1).tolist() == [[3, 1, -1, -1]]


def test_bad_input():
    index = TokenLevelIndex(_sets(5))
    with pytest.raises(ParameterError, match="'order' parameter of TokenLevelIndex.candidates must be one of"):
        index.candidates(_sets(1), 3, order="first")
    with pytest.raises(ParameterError, match="'n_candidates'"):
        index.candidates(_sets(1), 0)
