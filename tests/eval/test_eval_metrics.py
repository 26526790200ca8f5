"""Metrics on hand-computed cases, invariants, and the messages of bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowdim.eval import mrr, ndcg_at_k, qrels_recall_at_k, recall_at_k, recall_ci, recall_per_query
from lowdim.exceptions import DimensionError, DTypeError, ParameterError, ValidationError

# ---------------------------------------------------------------- recall@k against exact neighbours


def test_recall_hand_computed():
    ids = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    gt = np.array([[3, 2, 1], [4, 0, 0], [10, 11, 12]])
    # row 0: all 3; row 1: {4} (gt repeats 0, which is not returned); row 2: none
    assert recall_per_query(ids, gt, 3).tolist() == [1.0, 1 / 3, 0.0]
    assert recall_at_k(ids, gt, 3) == pytest.approx((1 + 1 / 3) / 3)


def test_recall_uses_only_first_k_columns():
    ids = np.array([[1, 9, 2, 3]])
    gt = np.array([[1, 2, 3, 9]])
    assert recall_at_k(ids, gt, 2) == 0.5  # {1, 9} vs {1, 2}
    assert recall_at_k(ids, gt, 4) == 1.0


def test_recall_padding_and_duplicates_never_count():
    # -1 on both sides must not match each other; a duplicate return counts once
    ids = np.array([[5, 5, -1, -1]])
    gt = np.array([[5, 6, 7, -1]])
    assert recall_at_k(ids, gt, 4) == 0.25


def test_recall_per_query_shape_and_dtype():
    r = recall_per_query(np.zeros((7, 3), dtype=np.int32), np.zeros((7, 5), dtype=np.uint16), k=3)
    assert r.shape == (7,) and r.dtype == np.float64
    assert np.allclose(r, 1 / 3)


def test_recall_errors():
    with pytest.raises(DimensionError, match=r"ids is 1-D with shape \(3,\).*reshape\(1, -1\)"):
        recall_at_k(np.array([1, 2, 3]), np.array([[1, 2, 3]]), 3)
    with pytest.raises(DimensionError, match=r"gt has 2 columns, fewer than k=3"):
        recall_at_k(np.zeros((1, 3), int), np.zeros((1, 2), int), 3)
    with pytest.raises(DimensionError, match=r"ids has 2 queries but gt has 3"):
        recall_at_k(np.zeros((2, 3), int), np.zeros((3, 3), int), 3)
    with pytest.raises(DTypeError, match=r"ids has dtype float64; expected an integer array.*astype\(np.int64\)"):
        recall_at_k(np.zeros((2, 3)), np.zeros((2, 3), int), 3)
    with pytest.raises(ParameterError, match=r"The 'k' parameter must be an integer >= 1. Got 0."):
        recall_at_k(np.zeros((2, 3), int), np.zeros((2, 3), int), 0)
    with pytest.raises(ValidationError, match=r"ids has 0 queries"):
        recall_at_k(np.zeros((0, 3), int), np.zeros((0, 3), int), 3)


@settings(max_examples=50, deadline=None, database=None, derandomize=True)
@given(nq=st.integers(1, 6), k=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_recall_invariants(nq, k, seed):
    rng = np.random.default_rng(seed)
    gt = np.stack([rng.permutation(50)[:k] for _ in range(nq)])
    ids = rng.integers(-1, 50, size=(nq, k))
    r = recall_per_query(ids, gt, k)
    assert ((r >= 0) & (r <= 1)).all()
    assert recall_at_k(gt, gt, k) == 1.0
    # order within the top-k does not matter; matches a set-based reference
    assert np.array_equal(recall_per_query(ids[:, ::-1], gt, k), r)
    ref = [len({int(i) for i in row if i >= 0} & set(g.tolist())) / k for row, g in zip(ids, gt)]
    assert np.allclose(r, ref)


# ---------------------------------------------------------------- qrels metrics


def test_ndcg_hand_computed():
    ids = np.array([[1, 2, 3]])
    dcg = 1 / math.log2(3) + 1 / math.log2(4)  # relevant at ranks 2 and 3
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(ids, [[2, 3]], k=3) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(ids, [[1]], k=3) == 1.0
    assert ndcg_at_k(ids, [[3]], k=2) == 0.0  # beyond the cut-off


def test_ndcg_ideal_is_capped_at_k():
    # 5 relevant docs but k=2: a perfect top-2 scores 1
    assert ndcg_at_k(np.array([[1, 2]]), [range(1, 6)], k=2) == 1.0


def test_qrels_forms_agree():
    ids = np.array([[4, 7, 1], [2, 9, 3]])
    as_list = [[7], [3]]
    as_sets = [{7}, {3}]
    as_1d = np.array([7, 3])
    as_2d = np.array([[7, -1], [3, -1]])
    values = {round(ndcg_at_k(ids, q, k=3), 12) for q in (as_list, as_sets, as_1d, as_2d)}
    assert len(values) == 1
    assert values.pop() == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 2)


def test_duplicate_returns_count_once():
    ids = np.array([[7, 7, 7]])
    assert ndcg_at_k(ids, [[7]], k=3) == 1.0  # not 1 + 0.63 + 0.5
    assert qrels_recall_at_k(ids, [[7, 8]], k=3) == 0.5


def test_mrr_hand_computed():
    ids = np.array([[5, 7, 9], [1, 2, 3], [4, 4, 4]])
    qrels = [[7], [3], [8]]
    assert mrr(ids, qrels) == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)
    assert mrr(ids, qrels, k=2) == pytest.approx((1 / 2) / 3)


def test_qrels_recall_hand_computed():
    ids = np.array([[5, 7, 9], [1, 2, 3]])
    assert qrels_recall_at_k(ids, [{7, 8}, {4}], k=3) == 0.25
    assert qrels_recall_at_k(ids, [{7, 9}, {1, 2, 3}], k=2) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_unjudged_queries_are_left_out():
    ids = np.array([[1, 2], [3, 4]])
    assert ndcg_at_k(ids, [[1], []], k=2) == 1.0
    assert mrr(ids, [[], [4]]) == 0.5
    with pytest.raises(ValidationError, match="no query has a relevant document in qrels; nDCG is undefined"):
        ndcg_at_k(ids, [[], []], k=2)


def test_qrels_errors():
    ids = np.array([[1, 2], [3, 4]])
    with pytest.raises(DimensionError, match="qrels has 3 queries but ids has 2"):
        ndcg_at_k(ids, [[1], [2], [3]], k=2)
    with pytest.raises(DTypeError, match="qrels has dtype float64; expected integer doc ids"):
        mrr(ids, np.array([1.0, 2.0]))
    with pytest.raises(DTypeError, match="qrels must be a sequence"):
        mrr(ids, 5)
    with pytest.raises(DimensionError, match="ids has 2 columns, fewer than k=10"):
        ndcg_at_k(ids, [[1], [2]])


# ---------------------------------------------------------------- confidence interval


def test_recall_ci_is_deterministic_and_brackets_the_mean():
    x = np.random.default_rng(3).uniform(size=500)
    lo, hi = recall_ci(x)
    assert (lo, hi) == recall_ci(x)  # fixed seed
    assert lo < x.mean() < hi
    # a 95% interval of the mean is about +-1.96 standard errors wide
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    lo99, hi99 = recall_ci(x, 0.99)
    assert lo99 < lo and hi99 > hi


def test_recall_ci_degenerate_and_errors():
    assert recall_ci(np.ones(20)) == (1.0, 1.0)
    with pytest.raises(ParameterError, match=r"The 'confidence' parameter of recall_ci must be a float in \(0, 1\). Got 95."):
        recall_ci([0.5, 1.0], 95)
    with pytest.raises(DimensionError, match=r"per_query has shape \(2, 2\); expected a 1-D array"):
        recall_ci(np.ones((2, 2)))
    with pytest.raises(ValidationError, match="per_query is empty"):
        recall_ci([])
    with pytest.raises(ValidationError, match=r"per_query contains NaN or infinity at 1 position\(s\): \[1\]"):
        recall_ci([1.0, float("nan")])
