"""Pareto bookkeeping of operating points (RAM bytes, recall, QPS), as faiss's ``OperatingPoints``.

Three small pure pieces the planner is built on, each testable on hand-made points:

- :func:`pareto_front`: the points no other point beats on both bytes and recall;
- :func:`recommend`: the smallest point that meets the target, ties broken by QPS
  (then recall, where QPS differ by less than timing noise);
- :class:`Frontier`: while measuring cheapest-first, whether a candidate of a given
  size can still matter, i.e. whether it is not larger than a point already known
  to meet the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..eval import pareto_front as eval_pareto_front

__all__ = ["Point", "pareto_front", "recommend", "Frontier", "QPS_TIE"]

#: relative QPS difference below which two points of equal bytes count as equally fast
QPS_TIE = 0.10


@dataclass(frozen=True)
class Point:
    """One operating point: RAM bytes per vector, recall (point estimate and lower CI bound), QPS, rerank factor.

    ``meets(target, min_qps)`` is the planner's acceptance test: the *lower* end of the
    bootstrap confidence interval reaches the target (so another sample of queries is
    unlikely to fall short), and the batch QPS reaches ``min_qps`` when one is given.
    """

    ram_bytes: float
    recall: float
    recall_lo: float
    qps: float
    rerank: int = 0

    def meets(self, target: float, min_qps: float | None = None) -> bool:
        return self.recall_lo >= target and (min_qps is None or self.qps >= min_qps)


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the points not dominated in (fewer RAM bytes, higher recall), sorted by bytes.

    Among points of equal bytes and equal recall only the fastest is kept.

    Examples
    --------
    >>> pts = [Point(48, 0.90, 0.89, 900), Point(96, 0.95, 0.94, 500), Point(100, 0.94, 0.93, 800),
    ...        Point(48, 0.90, 0.89, 1200), Point(384, 0.99, 0.99, 100)]
    >>> pareto_front(pts)
    [3, 1, 4]
    """
    return eval_pareto_front([p.ram_bytes for p in points], [p.recall for p in points], prefer=[p.qps for p in points])


def recommend(points: Sequence[Point], target: float, *, min_qps: float | None = None, qps_tie: float = QPS_TIE) -> int | None:
    """Index of the point with the fewest RAM bytes among those meeting ``target``; ties go to the higher QPS.

    QPS within ``qps_tie`` (10%) of the fastest point of those bytes count as equal
    (timings on a shared machine drift by that much); among those the smaller rerank
    factor wins (fewer disk reads, which an in-memory timing does not see), then the
    higher recall.
    Returns None when no point meets the target (and ``min_qps``).

    Examples
    --------
    >>> pts = [Point(32, 0.93, 0.92, 5000), Point(48, 0.96, 0.955, 900), Point(48, 0.97, 0.96, 3000),
    ...        Point(96, 0.99, 0.99, 4000), Point(48, 0.98, 0.97, 2900)]
    >>> recommend(pts, 0.95), recommend(pts, 0.95, min_qps=3500), recommend(pts, 0.999)
    (4, 3, None)
    """
    ok = [i for i, p in enumerate(points) if p.meets(target, min_qps)]
    if not ok:
        return None
    fewest = min(points[i].ram_bytes for i in ok)
    tied = [i for i in ok if points[i].ram_bytes == fewest]
    fastest = max(points[i].qps for i in tied)
    near = [i for i in tied if points[i].qps * (1.0 + qps_tie) >= fastest]
    return min(near, key=lambda i: (points[i].rerank, -points[i].recall, -points[i].qps, i))


class Frontier:
    """Pruning state while candidates are measured cheapest-first.

    Once some point meets the target at ``B`` bytes, no candidate above ``B`` bytes
    can be recommended, so it is skipped unmeasured; candidates of exactly ``B`` bytes
    are still measured because they may win the QPS tie-break. This is the rule of
    faiss's ``OperatingPoints`` (skip what is no cheaper than a point known to be
    better) specialised to a recall target.

    Examples
    --------
    >>> f = Frontier(0.95)
    >>> f.add(Point(32, 0.90, 0.89, 900)); f.should_measure(64)
    True
    >>> f.add(Point(48, 0.97, 0.96, 900)); f.should_measure(64), f.should_measure(48), f.best_bytes
    (False, True, 48)
    """

    def __init__(self, target: float, *, min_qps: float | None = None) -> None:
        self.target = target
        self.min_qps = min_qps
        self.best_bytes: float = math.inf
        self.points: list[Point] = []

    def add(self, point: Point) -> None:
        self.points.append(point)
        if point.meets(self.target, self.min_qps):
            self.best_bytes = min(self.best_bytes, point.ram_bytes)

    def should_measure(self, ram_bytes: float) -> bool:
        return ram_bytes <= self.best_bytes

    @property
    def met(self) -> bool:
        return math.isfinite(self.best_bytes)
