"""Pareto bookkeeping of operating points (RAM bytes, recall, QPS), as faiss's ``OperatingPoints``.

Four small pure pieces the planner is built on, each testable on hand-made numbers:

- :func:`acceptance`: the planner's acceptance rule, on per-query recalls of the two
  halves of the planning queries (the same rule judges FAISS's points);
- :func:`pareto_front`: the points no other point beats on both bytes and recall;
- :func:`recommend`: the smallest accepted point, ties broken on measured quantities
  that do not drift with machine load (never on QPS);
- :class:`Frontier`: while measuring cheapest-first, whether a candidate of a given
  size can still matter, i.e. whether it is not larger than a point already accepted.

The acceptance rule
-------------------
The planning queries are split, seeded, into a half to **choose** on and a half to
**confirm** on. A point is accepted when

    mean recall on the choosing half   >= target, and
    mean recall on the confirming half >= target - margin,
    margin = z * SE,  SE = std(per-query recall on the confirming half, ddof=1) / sqrt(n_confirm),

with ``z`` the one-sided normal quantile of the plan's ``confidence`` (1.645 at 0.95).

Why this rule: the choosing half's point estimate is the criterion, so a spec whose
recall equals the target is accepted (a lower CI bound would demand a recall several
standard errors above it, which is why plans used to land at 0.97-0.99 for targets of
0.90-0.95). The smallest of many specs that pass on one sample may pass by luck (the
winner's curse); the confirming half is an independent sample the choice never saw,
and the margin is a one-sided test at level ``1 - confidence`` of "the recall is at
least the target": a spec truly at the target is confirmed 95% of the time, one whose
true recall is 2 SE short is accepted on both halves less than 1% of the time. With
1,000 planning queries SE is about 0.005 at recall 0.95, so the recommendation's recall
on other queries falls short of the target by well under 0.01.

In words for the README: *a spec is accepted when its mean recall on half of your
queries reaches the target, and its mean recall on the other half, which played no
part in the choice, is not significantly below it (within 1.645 standard errors).*
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..eval import pareto_front as eval_pareto_front
from ..exceptions import ParameterError

__all__ = ["Point", "Verdict", "acceptance", "margin_z", "pareto_front", "recommend", "Frontier"]


def margin_z(confidence: float) -> float:
    """The one-sided normal quantile ``z`` of ``confidence`` that scales the confirming margin.

    >>> round(margin_z(0.95), 3), round(margin_z(0.9), 3)
    (1.645, 1.282)
    """
    if isinstance(confidence, bool) or not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ParameterError(f"The 'confidence' parameter of plan must be a number in (0, 1). Got {confidence!r}.")
    return NormalDist().inv_cdf(float(confidence))


@dataclass(frozen=True)
class Verdict:
    """What :func:`acceptance` found: both halves' mean recalls, the confirming margin, the decision."""

    recall_choose: float
    recall_confirm: float
    margin: float
    accepted: bool


def acceptance(
    choose: Sequence[float] | np.ndarray, confirm: Sequence[float] | np.ndarray, target: float, *, confidence: float = 0.95
) -> Verdict:
    """The planner's acceptance rule on per-query recalls (see the module docstring).

    Parameters
    ----------
    choose : float array (n_choose,)
        Per-query recall@k on the choosing half of the planning queries.
    confirm : float array (n_confirm,)
        Per-query recall@k on the confirming half (never used to choose).
    target : float
        The recall target.
    confidence : float in (0, 1)
        ``z = margin_z(confidence)``; the margin is ``z`` standard errors of the confirming
        half's mean (0 with fewer than 2 confirming queries).

    Returns
    -------
    Verdict
        ``accepted`` is ``mean(choose) >= target and mean(confirm) >= target - margin``.

    Examples
    --------
    >>> v = acceptance([1.0, 0.9, 1.0, 0.9], [0.9, 1.0, 0.8, 1.0], 0.95)
    >>> round(v.recall_choose, 4), round(v.recall_confirm, 4), round(v.margin, 4), v.accepted
    (0.95, 0.925, 0.0787, True)
    >>> acceptance([0.9, 0.9], [1.0, 1.0], 0.95).accepted  # the choosing half decides
    False
    """
    a = np.asarray(choose, dtype=np.float64).ravel()
    b = np.asarray(confirm, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ParameterError("acceptance needs at least one per-query recall in each half")
    z = margin_z(confidence)
    se = float(b.std(ddof=1)) / math.sqrt(b.size) if b.size >= 2 else 0.0
    # rounding guards: a mean of exact per-query fractions equal to the target must pass
    mean_a, mean_b = float(a.mean()), float(b.mean())
    margin = z * se
    ok = mean_a >= target - 1e-12 and mean_b >= target - margin - 1e-12
    return Verdict(mean_a, mean_b, margin, bool(ok))


@dataclass(frozen=True)
class Point:
    """One operating point: RAM bytes per vector, recall, QPS, rerank factor, and the acceptance verdict.

    ``accepted`` is :func:`acceptance`'s decision for the plan's target (None: the
    point estimate alone decides, ``recall >= target``). ``order`` is a fixed rank
    (family, then spec name) for the last tie-break. ``meets(target, min_qps)`` is the
    planner's test: accepted, and the batch QPS reaches ``min_qps`` when one is given.
    """

    ram_bytes: float
    recall: float
    qps: float = 0.0
    rerank: int = 0
    accepted: bool | None = None
    order: tuple[int, str] = (0, "")

    def meets(self, target: float, min_qps: float | None = None) -> bool:
        ok = self.recall >= target if self.accepted is None else self.accepted
        return ok and (min_qps is None or self.qps >= min_qps)


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the points not dominated in (fewer RAM bytes, higher recall), sorted by bytes.

    Among points of equal bytes and equal recall only one is kept: the one with the
    fewest disk reads (smaller rerank factor), then the first; never the faster one, so
    that the front does not change with machine load.

    Examples
    --------
    >>> pts = [Point(48, 0.90, 900, 2), Point(96, 0.95, 500), Point(100, 0.94, 800),
    ...        Point(48, 0.90, 1200, 0), Point(384, 0.99, 100)]
    >>> pareto_front(pts)
    [3, 1, 4]
    """
    return eval_pareto_front([p.ram_bytes for p in points], [p.recall for p in points], prefer=[-p.rerank for p in points])


def recommend(points: Sequence[Point], target: float, *, min_qps: float | None = None) -> int | None:
    """Index of the point with the fewest RAM bytes among those meeting ``target``.

    Ties in bytes break on measured quantities that do not drift with machine load:
    fewer disk reads (the smaller rerank factor), then the higher recall (all planning
    queries), then the fixed ``order`` (family, then spec name), then the index. QPS
    only filters (``min_qps``): timings on a shared machine drift, and two runs on the
    same data must recommend the same spec.
    Returns None when no point meets the target (and ``min_qps``).

    Examples
    --------
    >>> pts = [Point(32, 0.93, 5000), Point(48, 0.96, 900, 2, True), Point(48, 0.97, 3000, 4, True),
    ...        Point(96, 0.99, 4000, 0, True), Point(48, 0.98, 2900, 2, True)]
    >>> recommend(pts, 0.95), recommend(pts, 0.95, min_qps=3500), recommend(pts, 0.95, min_qps=5000)
    (4, 3, None)
    """
    ok = [i for i, p in enumerate(points) if p.meets(target, min_qps)]
    if not ok:
        return None
    fewest = min(points[i].ram_bytes for i in ok)
    tied = [i for i in ok if points[i].ram_bytes == fewest]
    return min(tied, key=lambda i: (points[i].rerank, -points[i].recall, points[i].order, i))


class Frontier:
    """Pruning state while candidates are measured cheapest-first.

    Once some point meets the target at ``B`` bytes, no candidate above ``B`` bytes
    can be recommended, so it is skipped unmeasured; candidates of exactly ``B`` bytes
    are still measured because they may win the tie-break (fewer disk reads). This is
    the rule of faiss's ``OperatingPoints`` (skip what is no cheaper than a point known
    to be better) specialised to a recall target.

    Examples
    --------
    >>> f = Frontier(0.95)
    >>> f.add(Point(32, 0.90)), f.should_measure(64)
    (False, True)
    >>> f.add(Point(48, 0.97, accepted=True)), f.should_measure(64), f.should_measure(48), f.best_bytes
    (True, False, True, 48)
    """

    def __init__(self, target: float, *, min_qps: float | None = None) -> None:
        self.target = target
        self.min_qps = min_qps
        self.best_bytes: float = math.inf
        self.points: list[Point] = []

    def add(self, point: Point) -> bool:
        """Record ``point``; True if it meets the target."""
        self.points.append(point)
        met = point.meets(self.target, self.min_qps)
        if met:
            self.best_bytes = min(self.best_bytes, point.ram_bytes)
        return met

    def should_measure(self, ram_bytes: float) -> bool:
        return ram_bytes <= self.best_bytes

    @property
    def met(self) -> bool:
        return math.isfinite(self.best_bytes)
