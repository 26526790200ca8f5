"""Held-out quality of a query map: cosine to the target and neighbour agreement.

On held-out pairs ``(x_i, y_i)`` (new- and old-model vectors of the same text), the mapped
``m_i = map(x_i)`` searches a reference set of old-model vectors (a sample of the old index when
given, else the held-out ``Y`` themselves) and is compared with the search by ``y_i``:

- ``cosine``: mean cosine between ``m_i`` and ``y_i``;
- ``top1``: fraction of ``i`` whose nearest reference vector is the same for ``m_i`` and ``y_i``
  (without a reference set: whose nearest held-out old vector to ``m_i`` is ``y_i`` itself);
- ``top10``: mean overlap of the 10 nearest reference vectors to ``m_i`` with the 10 nearest to
  ``y_i``: how well a search of the old index with the mapped query agrees with a search with the
  old model's own query.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..arrays import normalize_rows

__all__ = ["KindQuality", "measure", "selection_score", "relevant_in_top10"]


@dataclass(frozen=True)
class KindQuality:
    """Held-out quality of one kind of map (see the module docstring for the three numbers).

    ``setting`` names the chosen hyper-parameters; ``fit_seconds`` is the fitting time with
    the hyper-parameter search included; ``validation`` is the fraction of validation queries
    whose relevant item is in the mapped top 10 (None when fit_map got no ``validation``).
    """

    kind: str
    cosine: float
    top1: float
    top10: float
    fit_seconds: float
    setting: str
    validation: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in map files and printed by the CLI."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KindQuality:
        """Inverse of :meth:`to_dict` (a missing or mistyped field raises KeyError / TypeError / ValueError)."""
        return cls(
            kind=str(data["kind"]),
            cosine=float(data["cosine"]),
            top1=float(data["top1"]),
            top10=float(data["top10"]),
            fit_seconds=float(data["fit_seconds"]),
            setting=str(data["setting"]),
            validation=None if data.get("validation") is None else float(data["validation"]),
        )


def _top(S: np.ndarray, k: int) -> np.ndarray:
    k = min(k, S.shape[1])
    return np.argpartition(-S, k - 1, axis=1)[:, :k]


def measure(mapped: np.ndarray, target: np.ndarray, reference: np.ndarray | None = None) -> tuple[float, float, float]:
    """``(cosine, top1, top10)`` of ``mapped`` (h, d) against ``target`` (h, d), rows paired.

    Neighbours are searched among ``reference`` (m, d) old-model vectors (e.g. a sample of the old
    index) when given, else among ``target`` itself (then ``top1`` is "the partner is the nearest").
    """
    M, T = normalize_rows(mapped), normalize_rows(target)
    R = T if reference is None else normalize_rows(reference)
    cosine = float(np.mean(np.sum(M * T, axis=1)))
    S_map, S_true = M @ R.T, T @ R.T
    top1 = float(np.mean(np.argmax(S_map, axis=1) == np.argmax(S_true, axis=1)))
    a, b = np.sort(_top(S_map, 10), axis=1), np.sort(_top(S_true, 10), axis=1)
    overlap = [np.intersect1d(a[i], b[i], assume_unique=True).size for i in range(len(a))]
    top10 = float(np.mean(overlap)) / a.shape[1]
    return cosine, top1, top10


def selection_score(cosine: float, top1: float, top10: float) -> float:
    """What hyper-parameter and kind selection maximises: top-10 agreement, then cosine for ties."""
    return top10 + 1e-3 * cosine


def relevant_in_top10(mapped: np.ndarray, relevant: np.ndarray, index: np.ndarray) -> float:
    """Fraction of ``mapped`` queries (v, d) whose ``relevant`` row (v,) of ``index`` (m, d) is in their cosine top 10.

    ``index`` is expected L2-normalised already (it is scored once per candidate map).
    """
    M = normalize_rows(mapped)
    hits = 0
    for start in range(0, len(M), 1024):
        S = M[start : start + 1024] @ index.T
        top = _top(S, 10)
        hits += int((top == relevant[start : start + 1024, None]).any(axis=1).sum())
    return hits / len(M)
