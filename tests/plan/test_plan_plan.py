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
    assert rec.meets_target and rec.rerank <= 4
    # the acceptance rule: the choosing half reaches the target, the confirming half is within the margin
    assert rec.recall_choose >= 0.95 and rec.recall_confirm >= 0.95 - rec.margin and p.margin == rec.margin
    assert 0 < rec.margin < 0.02 and p.query_split == (300, 300)
    # low intrinsic dimension (8 of 64): far fewer bytes than int8's 64
    assert rec.ram_bytes_per_vector <= 16
    # honest: fresh queries recall at least the target less 0.01
    assert remeasure(rec.spec, X, Q) >= 0.95 - 0.01


def test_held_out_queries_are_removed_and_said(lowrank_plan):
    p = lowrank_plan
    assert p.n_queries == 600 and p.n == 6000 - 600
    assert p.queries_source.startswith("held out: 600 corpus rows") and "seed 0" in p.queries_source
    assert any("held out" in note for note in p.notes)


def test_pruning_skips_only_what_cannot_win(lowrank_plan):
    from lowdim.spec import bytes_per_vector

    p = lowrank_plan
    best = p.recommended.ram_bytes_per_vector
    assert p.skipped, "cheapest-first pruning should leave the large specs unmeasured"
    measured = {c.base for c in p.candidates}
    for spec, reason in p.skipped:
        # larger than the recommendation, or below a measured failing step of its ladder
        if "B/vector >" in reason:
            assert bytes_per_vector(p.d, spec) > best
        elif reason.startswith("OPQ"):  # OPQ is not trained at bytes already met, nor far from the target
            assert spec.startswith("opq") and ("already meets" in reason or "too far" in reason)
        elif "is tried only where" in reason:  # nor ITQ where the plain sign code is far from the target
            assert spec.startswith("itq/")
        else:
            fail = reason.split("smaller than ")[1].split(",")[0]
            assert (
                "misses the target" in reason and fail in measured and bytes_per_vector(p.d, spec) < bytes_per_vector(p.d, fail)
            )
            assert not any(c.meets_target for c in p.candidates if c.base == fail)
    assert {c.rerank for c in p.candidates} == {0, 2, 3, 4}  # every factor but 1
    # every base spec measured at every factor, from one fitted pipeline
    assert len(p.candidates) == 4 * len(measured)


def test_the_step_below_the_recommendation_was_measured_and_fails(harder_plan):
    from lowdim.plan import generate_candidates, group_ladders

    p = harder_plan
    rec, below = p.recommended, p.recommended_below
    assert below is not None and below.ladder == rec.ladder and below.rerank == rec.rerank
    assert below.ram_bytes_per_vector < rec.ram_bytes_per_vector and below in p.candidates
    # it fails at every factor, not only at the recommendation's
    assert not any(c.meets_target for c in p.candidates if c.base == below.base)
    # no ladder step between them
    sizes = [c.ram_bytes for c in group_ladders(generate_candidates(p.d, n_train=3000))[rec.ladder]]
    assert sizes.index(rec.ram_bytes_per_vector) == sizes.index(below.ram_bytes_per_vector) + 1
    assert "misses the target" in p.below_summary() and below.spec in p.below_summary()


def test_refinement_finds_the_smallest_passing_ladder_step(harder, harder_plan):
    """Measuring every ladder step (same fits, queries and rule) finds no smaller accepted step than the plan."""
    from lowdim.plan import generate_candidates
    from lowdim.plan._fit import SharedFits
    from lowdim.plan._inputs import split_queries
    from lowdim.plan._session import PlanSession

    corpus, queries = harder
    p = harder_plan
    _, gt = exact_knn(corpus, queries, 10, metric="cosine")
    session = PlanSession(
        fits=SharedFits(corpus, metric="cosine", seed=0),
        corpus=corpus,
        queries=queries,
        gt=gt,
        halves=split_queries(len(queries), 0),
        k=10,
        metric="cosine",
        factors=(0, 2),
        target=0.9,
        min_qps=None,
        confidence=0.95,
        seed=0,
    )
    for c in generate_candidates(64, n_train=3000, max_bytes=48):
        session.measure(c)
    passing = [c.ram_bytes_per_vector for c in session.measured if c.meets_target]
    assert p.recommended.ram_bytes_per_vector == min(passing)
    # the same measurements, point for point
    whole = {c.spec: c.recall for c in session.measured}
    assert all(c.recall == pytest.approx(whole[c.spec]) for c in p.candidates if c.spec in whole)
    assert len({c.base for c in p.candidates}) < len(session.by_base)  # and it measured fewer


def test_same_data_same_seed_same_plan(harder, harder_plan):
    """Deterministic: the same recommendation, candidates, recalls and verdicts, whatever the timings."""
    X, Q = harder
    a = harder_plan
    b = plan(X, queries=Q, target_recall=0.9, max_rerank=2, max_bytes=48, seed=0)

    def evidence(p):
        return [
            (c.spec, c.recall, c.recall_ci, c.recall_choose, c.recall_confirm, c.margin, c.meets_target) for c in p.candidates
        ]

    assert evidence(a) == evidence(b)
    assert a.recommended.spec == b.recommended.spec and a.recommended_below.spec == b.recommended_below.spec
    assert [c.spec for c in a.pareto] == [c.spec for c in b.pareto] and a.skipped == b.skipped


def test_pareto_front_and_recommendation_are_consistent(lowrank_plan):
    p = lowrank_plan
    front = p.pareto
    assert [c.ram_bytes_per_vector for c in front] == sorted(c.ram_bytes_per_vector for c in front)
    assert all(b.recall > a.recall for a, b in zip(front, front[1:]))
    rec = p.recommended
    assert all(c.ram_bytes_per_vector >= rec.ram_bytes_per_vector for c in p.candidates if c.meets_target)


def test_given_queries_and_dataset(lowrank, given_plan):
    X, Q = lowrank
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    p = plan(Dataset(corpus=X, queries=Q, gt=gt), target_recall=0.9, max_rerank=2, max_bytes=16)
    assert p.n == len(X) and p.n_queries == len(Q) and p.queries_source.startswith("given")
    q = given_plan  # the same corpus, queries and settings, gt computed
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
    assert b.recommended.ram_bytes_per_vector <= a.recommended.ram_bytes_per_vector
    # the lower target bisects lower steps; what a measured, b reused (same values)
    shared = {c.spec for c in a.candidates} & {c.spec for c in b.candidates}
    assert shared and len(cache) - n < len(b.candidates)
    recall = {c.spec: c.recall for c in a.candidates}
    assert all(c.recall == recall[c.spec] for c in b.candidates if c.spec in shared)
    m = len(cache)
    again = plan(X[:3000], target_recall=0.95, max_rerank=4, cache=cache)
    assert len(cache) == m and again.recommended.spec == a.recommended.spec  # nothing new to measure
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
        (dict(verify="milvus"), "'verify' parameter of plan must be one of 'faiss', 'qdrant', 'pgvector'"),
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


def test_faiss_points_are_judged_by_the_same_rule_and_a_smaller_one_is_measured(lowrank, monkeypatch):
    """The spot the FAISS frontier plugs into: same inputs, same rule, a smaller accepted config measured as lowdim's."""
    from types import SimpleNamespace

    from lowdim.plan import _plan as planner

    X, _ = lowrank
    seen = {}

    def fake_frontier(
        train, corpus, queries, gt, *, k, metric, factors, max_bytes, seed, accept, fits, progress, memo, bound, prior
    ):
        seen.update(train=train.shape, corpus=corpus.shape, queries=queries.shape, gt=gt.shape, factors=factors, k=k)
        perfect = SimpleNamespace(
            name="PQ4x4fs,RFlat×2",
            code_bytes=2,
            rerank=2,
            recall=1.0,
            qps=1e9,
            spec="pq4x4+rerank2",
            recall_per_query=np.ones(len(queries)),
            recall_choose=None,
            recall_confirm=None,
            margin=None,
        )
        poor = SimpleNamespace(
            name="PQ2x4fs",
            code_bytes=1,
            rerank=0,
            recall=0.2,
            qps=1e9,
            spec="pq2x4",
            recall_per_query=np.full(len(queries), 0.2),
            recall_choose=None,
            recall_confirm=None,
            margin=None,
        )
        seen["accept"] = (accept(perfect), accept(poor))
        return [poor, perfect]

    real = planner._faiss_frontier
    monkeypatch.setattr(
        planner, "_faiss_frontier", lambda session, search, progress, memo: real(session, search, measure=fake_frontier)
    )
    p = plan(X[:3000], target_recall=0.9, max_rerank=2, max_bytes=16)
    assert seen["corpus"] == (2700, 64) and seen["queries"] == (300, 64) and seen["gt"] == (300, 10)
    assert seen["factors"] == (0, 2) and seen["accept"] == (True, False)
    assert p.faiss_best.name == "PQ4x4fs,RFlat×2" and p.faiss_best.recall_choose == 1.0 and p.faiss_best.margin == 0.0
    # FAISS's smaller accepted config became a lowdim candidate, measured at every factor
    adopted = [c for c in p.candidates if c.base == "pq4x4"]
    assert [c.rerank for c in adopted] == [0, 2] and adopted[0].family == "other"
    assert p.ratio == p.recommended.ram_bytes_per_vector / 2
    d = p.to_dict()
    assert d["faiss_best"]["name"] == "PQ4x4fs,RFlat×2" and "recall_per_query" not in d["faiss_best"] and d["ratio"] == p.ratio
