"""``Candidate``: one measured operating point of the planner (a spec at one rerank factor)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._candidates import family_rank
from ._pareto import Point

__all__ = ["Candidate"]


@dataclass
class Candidate:
    """A spec measured at one rerank factor (field names are the JSON schema).

    Attributes
    ----------
    spec : str
        Full spec string, e.g. ``"pq48x8+rerank4"``; what ``lowdim create --spec`` takes.
    base : str
        The spec without ``+rerank`` (one fitted, encoded pipeline serves every factor).
    family : str
        Candidate family (see :func:`~lowdim.plan.generate_candidates`).
    rerank : int
        Rerank factor: ``rerank * k`` candidates are rescored exactly from the full
        vectors on disk (0: none).
    recall : float
        recall@k on all the plan's queries, against exact float32 neighbours.
    recall_ci : (float, float)
        Percentile-bootstrap confidence interval of ``recall`` over the queries (reported;
        the acceptance rule uses the two halves below).
    ram_bytes_per_vector : int
        Code bytes per vector held in RAM.
    disk_bytes_per_vector : int
        Full-vector bytes per vector read for reranking (0 without rerank).
    qps_batch : float
        Queries per second, one thread, all queries in one batch, rerank included.
    fit_seconds, encode_seconds : float
        Time to fit the pipeline (its share of shared work excluded) and to encode the corpus.
    why : str
        What suggested the spec.
    meets_target : bool
        The acceptance rule accepts it for the plan's target (see
        :func:`~lowdim.plan.acceptance`), and ``qps_batch`` reaches the plan's ``min_qps``.
    recall_per_query : ndarray (n_queries,), float64
        Per-query recall (not written to JSON).
    recall_choose, recall_confirm : float or None
        Mean recall on the choosing and on the confirming half of the queries (None
        until the plan judges it).
    margin : float or None
        How far below the target the confirming half may fall: ``z`` standard errors
        of its mean.
    ladder : str
        The ladder the spec is a step of (``"pq8"``, ``"pca/int8"``, ...).
    """

    spec: str
    base: str
    family: str
    rerank: int
    recall: float
    recall_ci: tuple[float, float]
    ram_bytes_per_vector: int
    disk_bytes_per_vector: int
    qps_batch: float
    fit_seconds: float = 0.0
    encode_seconds: float = 0.0
    why: str = ""
    meets_target: bool = False
    recall_per_query: np.ndarray | None = field(default=None, repr=False, compare=False)
    recall_choose: float | None = None
    recall_confirm: float | None = None
    margin: float | None = None
    ladder: str = ""

    @property
    def point(self) -> Point:
        """The operating point, with the verdict (``meets_target``) and the fixed family/spec order."""
        return Point(
            self.ram_bytes_per_vector,
            self.recall,
            self.qps_batch,
            self.rerank,
            accepted=self.meets_target,
            order=(family_rank(self.family), self.spec),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields (``recall_per_query`` left out).

        Examples
        --------
        >>> c = Candidate("int8", "int8", "scalar", 0, 0.99, (0.98, 1.0), 384, 0, 1200.0)
        >>> sorted(c.to_dict())[:4]
        ['base', 'disk_bytes_per_vector', 'encode_seconds', 'family']
        """
        return {
            "spec": self.spec,
            "recall": float(self.recall),
            "recall_ci": [float(self.recall_ci[0]), float(self.recall_ci[1])],
            "ram_bytes_per_vector": int(self.ram_bytes_per_vector),
            "qps_batch": float(self.qps_batch),
            "disk_bytes_per_vector": int(self.disk_bytes_per_vector),
            "rerank": int(self.rerank),
            "base": self.base,
            "family": self.family,
            "meets_target": bool(self.meets_target),
            "fit_seconds": float(self.fit_seconds),
            "encode_seconds": float(self.encode_seconds),
            "why": self.why,
            "recall_choose": _opt(self.recall_choose),
            "recall_confirm": _opt(self.recall_confirm),
            "margin": _opt(self.margin),
            "ladder": self.ladder,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        """Rebuild a candidate from :meth:`to_dict` output."""
        return cls(
            spec=data["spec"],
            base=data["base"],
            family=data["family"],
            rerank=int(data["rerank"]),
            recall=float(data["recall"]),
            recall_ci=(float(data["recall_ci"][0]), float(data["recall_ci"][1])),
            ram_bytes_per_vector=int(data["ram_bytes_per_vector"]),
            disk_bytes_per_vector=int(data["disk_bytes_per_vector"]),
            qps_batch=float(data["qps_batch"]),
            fit_seconds=float(data.get("fit_seconds", 0.0)),
            encode_seconds=float(data.get("encode_seconds", 0.0)),
            why=data.get("why", ""),
            meets_target=bool(data.get("meets_target", False)),
            recall_choose=_opt(data.get("recall_choose")),
            recall_confirm=_opt(data.get("recall_confirm")),
            margin=_opt(data.get("margin")),
            ladder=str(data.get("ladder", "")),
        )


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)
