"""``PlanCache``: measurements kept across :func:`~lowdim.plan.plan` calls on the same data and settings."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ._candidate import Candidate

__all__ = ["PlanCache", "fingerprint"]


def fingerprint(corpus: np.ndarray, queries: np.ndarray, gt: np.ndarray | None, settings: tuple) -> str:
    """A short hash of the data (64 spread corpus rows, all queries, the ground truth) and the settings."""
    h = hashlib.sha1(repr(settings + (corpus.shape, str(corpus.dtype))).encode())
    rows = np.linspace(0, len(corpus) - 1, num=min(len(corpus), 64)).astype(np.int64)
    h.update(np.ascontiguousarray(np.asarray(corpus[rows])).tobytes())
    h.update(np.ascontiguousarray(queries).tobytes())
    if gt is not None:
        h.update(np.ascontiguousarray(gt).tobytes())
    return h.hexdigest()


class PlanCache:
    """Measurements kept across :func:`plan` calls on the same data, queries and settings.

    Sweeping targets or budgets (``plan(..., target_recall=t, cache=c)`` for several
    ``t``) then fits and measures each spec once: a later call reuses every
    (spec, rerank factor) point measured before, the diagnosis, the ground truth and
    the shared PCA axes and rotations. A cache is tied to the first data it saw; using
    it with other data, queries, ``k``, metric, seed or confidence raises
    :class:`~lowdim.ParameterError`.

    Examples
    --------
    >>> cache = PlanCache()
    >>> len(cache)
    0
    """

    def __init__(self) -> None:
        self.key: str | None = None
        self.points: dict[str, dict[int, Candidate]] = {}
        self.state: dict[str, Any] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self.points.values())

    def bind(self, key: str) -> None:
        if self.key is None:
            self.key = key
        elif self.key != key:
            raise ParameterError(
                "this PlanCache holds measurements of other data, queries or settings (k, metric, seed, "
                "confidence); use a new PlanCache()"
            )

    def get(self, spec: str, factors: Sequence[int]) -> list[Candidate] | None:
        have = self.points.get(spec, {})
        if all(f in have for f in factors):
            return [_copy(have[f]) for f in factors]
        return None

    def put(self, spec: str, cands: Sequence[Candidate]) -> None:
        slot = self.points.setdefault(spec, {})
        for c in cands:
            slot[c.rerank] = _copy(c)


def _copy(c: Candidate) -> Candidate:
    return Candidate(**{**c.__dict__, "meets_target": False})
