"""What :class:`~lowdim.store.Collection` returns: search hits, fetched records, check reports."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CollectionResult", "Records", "CheckReport"]


@dataclass(frozen=True)
class CollectionResult:
    """Search results of fixed shape ``(n_queries, k)``, one row per query, best first.

    Attributes
    ----------
    ids : ndarray (n_queries, k), dtype object
        The user's ids (``int`` or ``str``); ``None`` where fewer than ``k`` items match.
    scores : ndarray (n_queries, k), float32
        Cosine similarity / inner product (higher is better), or squared L2 distance
        (lower is better) for ``metric="l2"``; ``-inf`` (``+inf`` for l2) where ``ids`` is None.
        Scores are exact when the results were reranked from the full vectors
        (``+rerank<N>`` or ``rerank=``), otherwise computed on the compact codes.
    metadata : list of lists of dict or None, optional
        Per hit, when ``search(..., with_metadata=True)``.
    exact_reason : str or None
        Set when the search was an exact scan of the full vectors because the
        collection's codec is not trained yet, and says why (see ``Collection.info()``'s
        ``untrained_reason``); None for searches over the codes.

    ``scores, ids = result`` unpacks it, like :class:`lowdim.search.SearchResult`.
    """

    ids: np.ndarray
    scores: np.ndarray
    metadata: list[list[dict | None]] | None = None
    exact_reason: str | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.scores
        yield self.ids

    @property
    def shape(self) -> tuple[int, int]:
        return self.ids.shape

    def to_lists(self) -> tuple[list[list[Any]], list[list[float | None]]]:
        """``(ids, scores)`` as nested lists; padding is ``None`` in both."""
        ids = [[None if v is None else v for v in row] for row in self.ids.tolist()]
        scores = [[float(s) if math.isfinite(s) else None for s in row] for row in self.scores.tolist()]
        return ids, scores

    def to_dict(self) -> dict[str, Any]:
        """``{"ids": [[...]], "scores": [[...]], "exact_reason": null}``: (n_queries, k) lists, JSON-ready (padding is null).

        ``"metadata"`` is added when the search returned it.
        """
        ids, scores = self.to_lists()
        out: dict[str, Any] = {"ids": ids, "scores": scores, "exact_reason": self.exact_reason}
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class Records:
    """Items fetched by id, in the order asked for.

    Attributes
    ----------
    ids : list of int or str
    vectors : ndarray (n, dim) float32
        The stored full-precision vectors (exact when stored as float32).
    metadata : list of dict or None
    """

    ids: list[Any]
    vectors: np.ndarray
    metadata: list[dict | None]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class CheckReport:
    """What ``check`` found and what it repaired.

    ``problems`` are the damage found (one line each, naming the file); each one that
    was fixed has a line in ``repaired``; ``unrepairable`` repeats those that cannot be
    fixed (lost data needs a backup). ``ok`` is True when every problem was repaired.
    ``removed_files`` are leftovers of interrupted writes (normal after a crash).
    """

    path: str
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepairable: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unrepairable and len(self.repaired) >= len(self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "problems": self.problems,
            "repaired": self.repaired,
            "unrepairable": self.unrepairable,
            "removed_files": self.removed_files,
        }
