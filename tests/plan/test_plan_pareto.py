"""Pareto bookkeeping and the acceptance rule on hand-made numbers: front, recommendation, pruning."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowdim import ParameterError
from lowdim.plan import Frontier, Point, acceptance, margin_z, pareto_front, recommend


def P(b, r, q=1000.0, rerank=0, ok=None, order=(0, "")):
    return Point(b, r, q, rerank, accepted=ok, order=order)


def test_front_drops_dominated_points():
    pts = [P(48, 0.90), P(96, 0.95), P(100, 0.94), P(384, 0.99), P(32, 0.80), P(384, 0.98)]
    assert pareto_front(pts) == [4, 0, 1, 3]


def test_front_keeps_fewer_reads_of_equal_points_never_the_faster():
    pts = [P(48, 0.9, 900, rerank=4), P(48, 0.9, 1200, rerank=2), P(48, 0.8, 5000)]
    assert pareto_front(pts) == [1]
    # equal reads too: the first, whatever the timings say
    assert pareto_front([P(48, 0.9, 900), P(48, 0.9, 1200)]) == [0]


def test_front_empty_and_single():
    assert pareto_front([]) == []
    assert pareto_front([P(8, 0.5)]) == [0]


def test_recommend_fewest_bytes():
    pts = [P(32, 0.93, ok=False), P(48, 0.96, 900, ok=True), P(96, 0.99, 4000, ok=True)]
    assert recommend(pts, 0.95) == 1
    assert recommend(pts, 0.95, min_qps=3500) == 2
    assert recommend(pts, 0.95, min_qps=5000) is None


def test_recommend_ties_never_follow_qps():
    # equal bytes: fewer disk reads first, whatever the QPS
    assert recommend([P(48, 0.99, 5000, rerank=4, ok=True), P(48, 0.96, 10, rerank=2, ok=True)], 0.9) == 1
    # equal reads: the higher recall, even 100x slower
    assert recommend([P(48, 0.96, 10_000, ok=True), P(48, 0.98, 100, ok=True)], 0.9) == 1
    # equal reads and recall: the fixed family/spec order, then the first
    a, b = P(48, 0.97, 10, ok=True, order=(1, "pq96x4")), P(48, 0.97, 9000, ok=True, order=(0, "rbq2"))
    assert recommend([a, b], 0.9) == 1 and recommend([b, a], 0.9) == 0
    # swapping the timings changes nothing
    pts = [P(48, 0.97, 100, ok=True), P(48, 0.97, 200, ok=True)]
    swapped = [P(48, 0.97, 200, ok=True), P(48, 0.97, 100, ok=True)]
    assert recommend(pts, 0.9) == recommend(swapped, 0.9) == 0


def test_recommend_uses_the_verdict_not_the_point_estimate():
    # accepted by the rule though the estimate is a hair below; a higher estimate the rule refused
    assert recommend([P(16, 0.949, ok=True), P(8, 0.99, ok=False)], 0.95) == 0
    # without a verdict, the point estimate decides
    assert recommend([P(16, 0.951), P(8, 0.949)], 0.95) == 0


def test_acceptance_on_hand_made_recalls():
    choose = np.array([1.0, 0.9, 1.0, 0.9, 1.0, 0.9])  # mean 0.95
    confirm = np.array([1.0, 0.9, 0.9, 0.9, 1.0, 0.9])  # mean 0.9333
    se = confirm.std(ddof=1) / np.sqrt(6)
    v = acceptance(choose, confirm, 0.95)
    assert v.recall_choose == pytest.approx(0.95) and v.recall_confirm == pytest.approx(0.93333, abs=1e-4)
    assert v.margin == pytest.approx(1.6448536 * se) and v.accepted  # 0.9333 >= 0.95 - 0.0347
    # a stricter confidence widens the margin, a looser one narrows it
    assert acceptance(choose, confirm, 0.95, confidence=0.99).margin > v.margin
    assert not acceptance(choose, confirm, 0.95, confidence=0.6).accepted  # margin 0.0053, 0.0167 short
    # the choosing half must reach the target itself: no margin there
    assert not acceptance(choose - 0.01, confirm + 0.05, 0.95).accepted
    # a confirming half well below the target refuses what the choosing half passed
    assert not acceptance(choose, confirm - 0.1, 0.95).accepted
    # identical per-query recalls: no sampling error, no margin
    flat = acceptance([1.0] * 4, [0.95] * 4, 0.95)
    assert flat.margin == 0.0 and flat.accepted
    assert not acceptance([1.0] * 4, [0.94] * 4, 0.95).accepted
    # one confirming query: no standard error, no margin
    assert acceptance([1.0], [0.95], 0.95).margin == 0.0


def test_acceptance_errors():
    with pytest.raises(ParameterError, match="at least one per-query recall in each half"):
        acceptance([], [1.0], 0.9)
    with pytest.raises(ParameterError, match="'confidence' parameter of plan"):
        margin_z(1.0)
    assert margin_z(0.95) == pytest.approx(1.6448536)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.5, 0.99), st.integers(2, 400))
def test_acceptance_is_the_rule(seed, target, n):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 11, n) / 10, rng.integers(0, 11, n) / 10
    v = acceptance(a, b, target)
    rule = a.mean() >= target - 1e-12 and b.mean() >= target - 1.6448536269514722 * b.std(ddof=1) / np.sqrt(n) - 1e-12
    assert v.accepted == rule


def test_frontier_skips_only_larger_candidates():
    f = Frontier(0.95)
    assert f.should_measure(10_000) and not f.met
    assert not f.add(P(32, 0.90, ok=False))
    assert f.should_measure(64)
    assert f.add(P(48, 0.97, ok=True))
    assert f.met and f.best_bytes == 48
    assert not f.should_measure(49) and f.should_measure(48) and f.should_measure(16)
    f.add(P(24, 0.96, ok=True))
    assert f.best_bytes == 24


def test_frontier_respects_min_qps():
    f = Frontier(0.9, min_qps=1000)
    f.add(P(16, 0.99, q=10, ok=True))
    assert not f.met and f.should_measure(1000)
    f.add(P(64, 0.99, q=5000, ok=True))
    assert f.best_bytes == 64


points = st.lists(
    st.tuples(st.integers(1, 500), st.floats(0, 1), st.floats(1, 1e5), st.integers(0, 4)).map(
        lambda t: Point(t[0], t[1], t[2], t[3])
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(points)
def test_front_invariants(pts):
    front = pareto_front(pts)
    on = set(front)
    for i in front:  # nothing beats a front point on both axes
        assert not any((p.ram_bytes <= pts[i].ram_bytes and p.recall > pts[i].recall) for p in pts)
    for j in set(range(len(pts))) - on:  # everything else is matched or beaten by a front point
        assert any(pts[i].ram_bytes <= pts[j].ram_bytes and pts[i].recall >= pts[j].recall for i in front)
    assert [pts[i].ram_bytes for i in front] == sorted(pts[i].ram_bytes for i in front)


@settings(max_examples=60, deadline=None)
@given(points, st.floats(0, 1))
def test_recommendation_is_minimal_and_ignores_qps(pts, target):
    i = recommend(pts, target)
    ok = [p for p in pts if p.meets(target)]
    if i is None:
        assert not ok
    else:
        assert pts[i].meets(target) and pts[i].ram_bytes == min(p.ram_bytes for p in ok)
        # other timings, same pick
        retimed = [Point(p.ram_bytes, p.recall, 1.0 / (1 + k), p.rerank) for k, p in enumerate(pts)]
        assert recommend(retimed, target) == i
