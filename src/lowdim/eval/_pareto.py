"""The Pareto front of operating points: cost (bytes per vector) against value (recall)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["pareto_front"]


def pareto_front(costs: Sequence[float], values: Sequence[float], *, prefer: Sequence[float] | None = None) -> list[int]:
    """Indices of the points no other point beats on both lower cost and higher value, by cost.

    A point is kept when its value exceeds that of every cheaper point. Among points of
    equal cost and value only one is kept: the one with the highest ``prefer`` (QPS,
    say), else the first.

    Examples
    --------
    >>> pareto_front([48, 96, 100, 384], [0.9, 0.95, 0.94, 0.99])
    [0, 1, 3]
    >>> pareto_front([48, 48], [0.9, 0.9], prefer=[900, 1200])
    [1]
    """
    if len(costs) != len(values) or (prefer is not None and len(prefer) != len(costs)):
        raise ValueError("pareto_front needs one cost, one value (and one prefer) per point")
    tie = prefer if prefer is not None else [0.0] * len(costs)
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -values[i], -tie[i]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if values[i] > best:
            front.append(i)
            best = values[i]
    return front
