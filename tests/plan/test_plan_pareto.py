"""Pareto bookkeeping on hand-made points: front, recommendation, cheapest-first pruning."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lowdim.plan import Frontier, Point, pareto_front, recommend


def P(b, r, q=1000.0, lo=None):
    return Point(b, r, r - 0.01 if lo is None else lo, q)


def test_front_drops_dominated_points():
    pts = [P(48, 0.90), P(96, 0.95), P(100, 0.94), P(384, 0.99), P(32, 0.80), P(384, 0.98)]
    assert pareto_front(pts) == [4, 0, 1, 3]


def test_front_keeps_the_faster_of_equal_points():
    pts = [P(48, 0.9, 900), P(48, 0.9, 1200), P(48, 0.8, 5000)]
    assert pareto_front(pts) == [1]


def test_front_empty_and_single():
    assert pareto_front([]) == []
    assert pareto_front([P(8, 0.5)]) == [0]


def test_recommend_fewest_bytes_then_qps():
    pts = [P(32, 0.93, lo=0.92), P(48, 0.96, 900, lo=0.955), P(48, 0.97, 3000, lo=0.96), P(96, 0.99, 4000)]
    assert recommend(pts, 0.95) == 2
    assert recommend(pts, 0.95, min_qps=3500) == 3
    assert recommend(pts, 0.999) is None


def test_recommend_near_equal_qps_prefers_fewer_reads_then_recall():
    # 5% apart in QPS is timing noise: fewer disk reads win, then the higher recall; 3x apart is not noise
    assert recommend([P(48, 0.96, 1000), P(48, 0.98, 950)], 0.9) == 1
    assert recommend([Point(48, 0.99, 0.98, 950, 4), Point(48, 0.96, 0.95, 1000, 2)], 0.9) == 1
    assert recommend([P(48, 0.96, 3000), P(48, 0.98, 1000)], 0.9) == 0


def test_recommend_uses_the_lower_ci_bound():
    # the point estimate reaches the target, the CI's lower end does not
    assert recommend([P(16, 0.952, lo=0.94), P(32, 0.97, lo=0.96)], 0.95) == 1


def test_frontier_skips_only_larger_candidates():
    f = Frontier(0.95)
    assert f.should_measure(10_000) and not f.met
    f.add(P(32, 0.90))
    assert f.should_measure(64)
    f.add(P(48, 0.97, lo=0.96))
    assert f.met and f.best_bytes == 48
    assert not f.should_measure(49) and f.should_measure(48) and f.should_measure(16)
    f.add(P(24, 0.96, lo=0.951))
    assert f.best_bytes == 24


def test_frontier_respects_min_qps():
    f = Frontier(0.9, min_qps=1000)
    f.add(P(16, 0.99, q=10))
    assert not f.met and f.should_measure(1000)
    f.add(P(64, 0.99, q=5000))
    assert f.best_bytes == 64


points = st.lists(
    st.tuples(st.integers(1, 500), st.floats(0, 1), st.floats(1, 1e5)).map(lambda t: Point(t[0], t[1], t[1], t[2])),
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
def test_recommendation_is_minimal(pts, target):
    i = recommend(pts, target)
    ok = [p for p in pts if p.meets(target)]
    if i is None:
        assert not ok
    else:
        assert pts[i].meets(target) and pts[i].ram_bytes == min(p.ram_bytes for p in ok)
