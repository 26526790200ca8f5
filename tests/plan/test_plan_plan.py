"""plan() on seeded synthetic data of low intrinsic dimension: the recommendation holds on fresh queries."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import ParameterError
from lowdim.eval import Dataset, exact_knn, recall_at_k
from lowdim.plan import PlanCache, TargetNotMetError, plan
from lowdim.search import CodeIndex
from lowdim.spec import Pipeline


def remeasure(spec: str, corpus: np.ndarray, queries: np.ndarray, *, k: int = 10, metric: str = "cosine") -> float:
    """recall@k of ``spec`` fitted the ordinary way (Pipeline.fit) on ``corpus``, on ``queries``."""
    _, gt = exact_knn(corpus, queries, k, metric=metric)
    pipe = Pipeline(spec, metric=metric).fit(corpus)
    res = CodeIndex(pipe, pipe.encode(corpus), vectors=corpus).search(queries, k)
    return recall_at_k(res.ids, gt, k)


def test_recommendation_meets_the_target_on_fresh_queries(lowrank, lowrank_plan):
    X, Q = lowrank
    p = lowrank_plan
    assert p.feasible
    rec = p.recommended
    assert rec.recall_ci[0] >= 0.95 and rec.meets_target and rec.rerank <= 4
    # low intrinsic dimension (8 of 64): far fewer bytes than int8's 64
    assert rec.ram_bytes_per_vector <= 16
    assert remeasure(rec.spec, X, Q) >= 0.95


def test_held_out_queries_are_removed_and_said(lowrank_plan):
    p = lowrank_plan
    assert p.n_queries == 600 and p.n == 6000 - 600
    assert p.queries_source.startswith("held out: 600 corpus rows") and "seed 0" in p.queries_source
    assert any("held out" in note for note in p.notes)


def test_pruning_skips_only_what_cannot_win(lowrank_plan):
    p = lowrank_plan
    best = p.recommended.ram_bytes_per_vector
    assert p.skipped, "cheapest-first pruning should leave the large specs unmeasured"
    for _spec, reason in p.skipped:
        assert "B/vector >" in reason
    from lowdim.spec import bytes_per_vector

    assert all(bytes_per_vector(p.d, s) > best for s, _ in p.skipped)
    assert all(c.rerank in (0, 2, 4) for c in p.candidates)
    # every base spec measured at every factor, from one fitted pipeline
    bases = {c.base for c in p.candidates}
    assert len(p.candidates) == 3 * len(bases)


def test_pareto_front_and_recommendation_are_consistent(lowrank_plan):
    p = lowrank_plan
    front = p.pareto
    assert [c.ram_bytes_per_vector for c in front] == sorted(c.ram_bytes_per_vector for c in front)
    assert all(b.recall > a.recall for a, b in zip(front, front[1:]))
    rec = p.recommended
    assert all(c.ram_bytes_per_vector >= rec.ram_bytes_per_vector for c in p.candidates if c.meets_target)


def test_same_seed_same_plan(lowrank):
    X, _ = lowrank
    a = plan(X[:3000], target_recall=0.9, max_rerank=2, max_bytes=16, seed=1)
    b = plan(X[:3000], target_recall=0.9, max_rerank=2, max_bytes=16, seed=1)
    assert [(c.spec, c.recall, c.recall_ci) for c in a.candidates] == [(c.spec, c.recall, c.recall_ci) for c in b.candidates]
    # the pick among equal bytes may follow QPS, which is timed; the bytes never do
    assert a.recommended.ram_bytes_per_vector == b.recommended.ram_bytes_per_vector


def test_given_queries_and_dataset(lowrank):
    X, Q = lowrank
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    p = plan(Dataset(corpus=X, queries=Q, gt=gt), target_recall=0.9, max_rerank=2, max_bytes=16)
    assert p.n == len(X) and p.n_queries == len(Q) and p.queries_source.startswith("given")
    q = plan(X, queries=Q, target_recall=0.9, max_rerank=2, max_bytes=16)  # gt computed
    assert [c.recall for c in q.candidates] == pytest.approx([c.recall for c in p.candidates])


def test_sample_plans_on_a_seeded_subset_with_its_own_ground_truth(lowrank):
    X, Q = lowrank
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    p = plan(Dataset(corpus=X, queries=Q, gt=gt), target_recall=0.9, max_rerank=2, max_bytes=16, sample=2000)
    assert p.n == 2000 and p.n_queries == len(Q)
    assert any("a seeded sample of 2,000 of its 6,000 rows" in n for n in p.notes)
    assert any("measured on 2,000 sampled rows of 6,000" in w for w in p.warnings)
    # the full-corpus gt was set aside: the sampled plan equals planning the same rows directly
    from lowdim.arrays import sample_indices

    rows = sample_indices(len(X), 2000, 0)
    direct = plan(X[rows], queries=Q, target_recall=0.9, max_rerank=2, max_bytes=16)
    assert [(c.spec, c.recall) for c in p.candidates] == [(c.spec, c.recall) for c in direct.candidates]
    # a sample at least as large as the corpus changes nothing and says nothing
    whole = plan(X[:3000], target_recall=0.9, max_rerank=2, max_bytes=16, sample=5000)
    assert whole.n == 2700 and not any("sample" in w for w in whole.warnings)
    with pytest.raises(ParameterError, match=r"The 'sample' parameter of plan must be an integer >= 1000"):
        plan(X, sample=10)


def test_infeasible_target_names_the_best_achievable(lowrank):
    X, _ = lowrank
    p = plan(X[:3000], target_recall=1.0, max_rerank=0, max_bytes=8)
    assert not p.feasible and p.recommended is None
    best = p.best
    assert best.recall == max(c.recall for c in p.candidates)
    msg = p.infeasible_message()
    assert "no candidate reaches recall@10 >= 1" in msg and best.spec in msg and "max_bytes=8" in msg
    with pytest.raises(TargetNotMetError, match="best achievable"):
        p.export("faiss")


def test_min_qps_filters_the_recommendation(lowrank):
    X, _ = lowrank
    p = plan(X[:3000], target_recall=0.5, max_rerank=2, max_bytes=8, min_qps=1e12)
    assert not p.feasible and "min_qps=1e+12" in p.infeasible_message()


def test_cache_reuses_measurements_across_targets(lowrank):
    X, _ = lowrank
    cache = PlanCache()
    a = plan(X[:3000], target_recall=0.95, max_rerank=4, cache=cache)
    n = len(cache)
    b = plan(X[:3000], target_recall=0.9, max_rerank=4, cache=cache)
    assert len(cache) == n  # everything b needed was measured by a
    assert b.recommended.ram_bytes_per_vector <= a.recommended.ram_bytes_per_vector
    with pytest.raises(ParameterError, match="other data"):
        plan(X[:2000], target_recall=0.9, cache=cache)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(target_recall=1.5), r"'target_recall' parameter of plan must be a number in \(0, 1\]. Got 1.5"),
        (dict(target_recall=0), "'target_recall' parameter"),
        (dict(k=0), "'k' parameter"),
        (dict(max_rerank=-2), "'max_rerank' parameter of plan"),
        (dict(max_bytes=0), "'max_bytes' parameter of plan"),
        (dict(max_bytes=1), "leaves no candidate for d=64"),
        (dict(min_qps=-1), "'min_qps' parameter of plan"),
        (dict(metric="dot"), "'metric' parameter of plan must be one of 'cosine', 'ip', 'l2'"),
        (dict(confidence=1.0), "'confidence' parameter of plan"),
        (dict(gt=np.zeros((5, 10), np.int64)), "gt= was given without queries="),
    ],
)
def test_bad_parameters_say_how_to_fix_them(lowrank, kwargs, match):
    X, _ = lowrank
    with pytest.raises(ParameterError, match=match):
        plan(X[:3000], **kwargs)


def test_bad_inputs(lowrank):
    from lowdim import DimensionError, ValidationError

    X, Q = lowrank
    with pytest.raises(DimensionError, match="queries has 32 features, but the corpus expects 64"):
        plan(X, queries=Q[:, :32])
    with pytest.raises(DimensionError, match="fewer than k=10"):
        plan(X, queries=Q, gt=np.zeros((len(Q), 5), np.int64))
    with pytest.raises(ValidationError, match="holds id 6000"):
        plan(X, queries=Q, gt=np.full((len(Q), 10), 6000, np.int64))
    with pytest.raises(ParameterError, match="too few to hold out"):
        plan(X[:100])
