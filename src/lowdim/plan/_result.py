"""``Plan``: what :func:`~lowdim.plan.plan` measured and recommends, as an object and as JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..diagnose import Diagnosis
from ..exceptions import FileFormatError, LowdimError
from ..spec import Pipeline
from ..validation import check_choice, check_metric
from ._candidate import Candidate
from ._export import ENGINES, export_settings
from ._index import IndexPlan

__all__ = ["Plan", "TargetNotMetError", "PLAN_FORMAT"]

#: the ``format`` field of a plan's JSON
PLAN_FORMAT = "lowdim.Plan"
#: the diagnosis fields a plan's JSON keeps
_DIAGNOSIS_KEYS = ("id_twonn", "id_mle", "dims_90", "dims_95", "dims_99", "normalized", "mean_share", "n_duplicates")


class TargetNotMetError(LowdimError, ValueError):
    """No measured candidate meets the recall target; the message names the best one."""


@dataclass
class Plan:
    """What :func:`plan` measured and what it recommends.

    Attributes
    ----------
    target_recall, k, metric, confidence, max_rerank, max_bytes, min_qps, seed
        The settings of the plan.
    n, d : int
        Measured corpus rows (held-out queries removed) and width.
    n_queries : int
    queries_source : str
        Where the queries came from ("given (queries.npy)", "held out: 1000 corpus rows ...").
    recommended : Candidate or None
        Fewest RAM bytes among the candidates meeting the target (the acceptance rule on
        the two query halves, and QPS >= min_qps); ties to fewer disk reads, then higher
        recall, then a fixed family/spec order. None when none meets the target.
    candidates : list of Candidate
        Every measured (spec, rerank factor) point, in measurement order.
    pareto : list of Candidate
        The candidates not beaten on both RAM bytes and recall, by bytes.
    skipped : list of (spec, reason)
        Candidates left unmeasured and why.
    warnings : tuple of str
        Where a method is known to fail on this data (from the diagnosis, plus the plan's own).
    notes : tuple of str
        How the plan was made (queries, families, timing).
    diagnosis : Diagnosis or None
        The corpus diagnosis (None for a plan read from JSON: see ``diagnosis_summary``).
    seconds : float
        Wall time of the plan.
    codec : Pipeline or None
        The codec the recommendation was measured with: fitted on the plan's training
        sample, its spec the recommended one (``+rerank`` included). A collection created
        from the plan (``Collection.create(path, plan=p)``) adopts it instead of refitting.
        None when nothing is recommended, or for a plan read from JSON without its codec file.
    diagnosis_summary : dict or None
        Intrinsic dimension, variance widths and the like (what ``to_dict`` writes).
    recommended_below : Candidate or None
        The step below the recommendation in its ladder, at the same rerank factor:
        measured, and failing the target (None when the recommendation is its ladder's
        smallest step, or nothing is recommended).
    margin : float or None
        The recommendation's acceptance margin: its confirming half may fall this far
        below the target (``margin_z`` standard errors of its mean).
    margin_z : float
        ``z`` of the margin: the one-sided normal quantile of ``confidence``.
    query_split : (int, int)
        Queries in the choosing and in the confirming half.
    faiss : list of FaissPoint
        FAISS's configurations measured on the same data, sample and queries, each at
        every rerank factor, judged by the same acceptance rule (empty with ``faiss=False``;
        dicts when read from JSON).
    faiss_best : FaissPoint or None
        FAISS's smallest accepted configuration (fewest code bytes, then fewer disk reads).
    ratio : float or None
        The recommendation's RAM bytes over ``faiss_best``'s code bytes (<= 1: lowdim's
        is no larger).
    index : IndexPlan or None
        The IVF index recommended next to the codec (``plan(..., index="ivf")``): nlist,
        nprobe, the partition's ceiling and the codec's recall per nprobe, what limits it.
    verified : VerifyReport or None
        The export built and measured in the real engine (``plan(..., verify=engine)``;
        a dict when read from JSON).
    """

    target_recall: float
    k: int
    metric: str
    confidence: float
    max_rerank: int
    max_bytes: int | None
    min_qps: float | None
    seed: int
    n: int
    d: int
    n_queries: int
    queries_source: str
    recommended: Candidate | None
    candidates: list[Candidate]
    pareto: list[Candidate]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    diagnosis: Diagnosis | None = field(default=None, repr=False)
    seconds: float = 0.0
    dataset: str = ""
    codec: Pipeline | None = field(default=None, repr=False)
    diagnosis_summary: dict[str, Any] | None = None
    recommended_below: Candidate | None = None
    margin: float | None = None
    margin_z: float = 1.6448536269514722
    query_split: tuple[int, int] = (0, 0)
    faiss: list[Any] = field(default_factory=list)
    faiss_best: Any = None
    ratio: float | None = None
    verified: Any = None
    index: Any = None

    @property
    def feasible(self) -> bool:
        """Whether some candidate meets the target."""
        return self.recommended is not None

    @property
    def best(self) -> Candidate | None:
        """The highest-recall candidate measured (fewer bytes on ties): the best achievable."""
        if not self.candidates:
            return None
        return max(self.candidates, key=lambda c: (c.recall, -c.ram_bytes_per_vector, c.qps_batch))

    def infeasible_message(self) -> str:
        """One line saying that the target is not met and what the best measured point is."""
        limits = f"max_rerank={self.max_rerank}"
        if self.max_bytes is not None:
            limits += f", max_bytes={self.max_bytes}"
        if self.min_qps is not None:
            limits += f", min_qps={self.min_qps:g}"
        msg = (
            f"no candidate reaches recall@{self.k} >= {self.target_recall:g} "
            f"(mean on the choosing half of the queries, within {self.margin_z:.3f} SE on the confirming half) within {limits}"
        )
        b = self.best
        if b is not None:
            msg += (
                f"; the best achievable is {b.spec}: recall {b.recall:.4f} "
                f"[{b.recall_ci[0]:.4f}, {b.recall_ci[1]:.4f}] at {b.ram_bytes_per_vector} B/vector"
            )
        return msg

    def require_feasible(self) -> Candidate:
        """The recommendation, or :class:`TargetNotMetError` naming the best achievable point."""
        if self.recommended is None:
            raise TargetNotMetError(self.infeasible_message())
        return self.recommended

    def export(self, engine: str) -> str:
        """The recommended spec as ``engine``'s nearest settings (see :func:`~lowdim.plan.export_settings`).

        Raises :class:`TargetNotMetError` when the plan has no recommendation.
        """
        check_choice(engine, ENGINES, "engine", owner="Plan.export")
        rec = self.require_feasible()
        return export_settings(rec.spec, engine, d=self.d, metric=self.metric, k=self.k)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: settings, ``recommended``, ``candidates``, ``pareto``, warnings, diagnosis summary."""
        diag = self.diagnosis_summary
        if self.diagnosis is not None:
            full = self.diagnosis.to_dict()
            diag = {key: full[key] for key in _DIAGNOSIS_KEYS}
        return {
            "format": PLAN_FORMAT,
            "target_recall": self.target_recall,
            "k": self.k,
            "metric": self.metric,
            "confidence": self.confidence,
            "max_rerank": self.max_rerank,
            "max_bytes": self.max_bytes,
            "min_qps": self.min_qps,
            "seed": self.seed,
            "dataset": self.dataset,
            "n": self.n,
            "d": self.d,
            "n_queries": self.n_queries,
            "queries_source": self.queries_source,
            "feasible": self.feasible,
            "recommended": None if self.recommended is None else self.recommended.to_dict(),
            "recommended_below": None if self.recommended_below is None else self.recommended_below.to_dict(),
            "margin": self.margin,
            "margin_z": self.margin_z,
            "query_split": {"choose": int(self.query_split[0]), "confirm": int(self.query_split[1])},
            "best_achievable": None if self.best is None else self.best.to_dict(),
            "candidates": [c.to_dict() for c in self.candidates],
            "pareto": [c.to_dict() for c in self.pareto],
            "skipped": [{"spec": s, "reason": r} for s, r in self.skipped],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "diagnosis": diag,
            "seconds": self.seconds,
            "faiss": [_point_dict(p) for p in self.faiss],
            "faiss_best": None if self.faiss_best is None else _point_dict(self.faiss_best),
            "ratio": self.ratio,
            "verified": None if self.verified is None else _point_dict(self.verified),
            "index": None if self.index is None else self.index.to_dict(),
        }

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path``, and the recommendation's fitted codec beside it.

        The codec goes to ``<path without .json>.codec.npz`` (named in the JSON as
        ``codec_file``), so that ``lowdim create PATH --plan plan.json`` searches with the
        very codes the plan measured. Returns ``path``.
        """
        path = Path(path)
        doc = self.to_dict()
        if self.codec is not None:
            codec_path = path.with_name(path.name.removesuffix(".json") + ".codec.npz")
            self.codec.save(codec_path)
            doc["codec_file"] = codec_path.name
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read_json(cls, path: str | Path) -> Plan:
        """A plan written by :meth:`write_json` (``lowdim plan --json``), with its fitted codec when saved.

        A missing, corrupt or foreign file, or a codec file that does not match the
        recommendation, is a one-line :class:`~lowdim.FileFormatError`.

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> from lowdim.plan import plan
        >>> rng = np.random.default_rng(0)
        >>> X = (rng.standard_normal((3000, 8)) @ rng.standard_normal((8, 64))).astype(np.float32)
        >>> path = plan(X, target_recall=0.9, max_rerank=4).write_json(os.path.join(tempfile.mkdtemp(), "p.json"))
        >>> p = Plan.read_json(path)
        >>> p.codec.to_spec() == p.recommended.spec, p.d
        (True, 64)
        """
        path = Path(path)
        if not path.is_file():
            raise FileFormatError(f"plan file {path} does not exist; write one with 'lowdim plan DATA --json {path.name}'")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FileFormatError(f"plan file {path} is not valid JSON ({exc})") from None
        required = ("target_recall", "k", "metric", "n", "d", "candidates")
        if not isinstance(doc, dict) or any(key not in doc for key in required):
            raise FileFormatError(
                f"{path} is not a lowdim plan: expected the JSON that 'lowdim plan --json' writes "
                f"(with {', '.join(required)} and recommended)"
            )
        try:
            candidates = [Candidate.from_dict(c) for c in doc["candidates"]]
            rec = None if doc.get("recommended") is None else Candidate.from_dict(doc["recommended"])
            pareto = [Candidate.from_dict(c) for c in doc.get("pareto", [])]
            below = doc.get("recommended_below")
            split = doc.get("query_split") or {}
            plan = cls(
                target_recall=float(doc["target_recall"]),
                k=int(doc["k"]),
                metric=check_metric(doc["metric"], owner=f"plan file {path}"),
                confidence=float(doc.get("confidence", 0.95)),
                max_rerank=int(doc.get("max_rerank", 0)),
                max_bytes=doc.get("max_bytes"),
                min_qps=doc.get("min_qps"),
                seed=int(doc.get("seed", 0)),
                n=int(doc["n"]),
                d=int(doc["d"]),
                n_queries=int(doc.get("n_queries", 0)),
                queries_source=str(doc.get("queries_source", "")),
                recommended=rec,
                candidates=candidates,
                pareto=pareto,
                skipped=[(s["spec"], s["reason"]) for s in doc.get("skipped", [])],
                warnings=tuple(doc.get("warnings", ())),
                notes=tuple(doc.get("notes", ())),
                seconds=float(doc.get("seconds", 0.0)),
                dataset=str(doc.get("dataset", "")),
                diagnosis_summary=doc.get("diagnosis"),
                recommended_below=None if below is None else Candidate.from_dict(below),
                margin=None if doc.get("margin") is None else float(doc["margin"]),
                margin_z=float(doc.get("margin_z", 1.6448536269514722)),
                query_split=(int(split.get("choose", 0)), int(split.get("confirm", 0))),
                faiss=list(doc.get("faiss") or []),
                faiss_best=doc.get("faiss_best"),
                ratio=None if doc.get("ratio") is None else float(doc["ratio"]),
                verified=doc.get("verified"),
                index=None if doc.get("index") is None else IndexPlan.from_dict(doc["index"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"plan file {path} is incomplete or damaged ({type(exc).__name__}: {exc})") from None
        codec_file = doc.get("codec_file")
        if codec_file is not None and rec is not None:
            codec = Pipeline.load(path.with_name(Path(str(codec_file)).name))
            if codec.to_spec() != rec.spec or codec.metric != plan.metric or codec.n_features_in_ != plan.d:
                raise FileFormatError(
                    f"{codec_file} next to plan file {path} is a {codec.to_spec()} codec ({codec.metric}, "
                    f"{codec.n_features_in_} features); the plan recommends {rec.spec} ({plan.metric}, {plan.d} features)"
                )
            plan.codec = codec
        return plan

    def summary(self) -> str:
        """The recommendation in one sentence (or the infeasibility message)."""
        r = self.recommended
        if r is None:
            return self.infeasible_message()
        lo, hi = r.recall_ci
        reads = f", reranking {r.rerank * self.k} full vectors per query from disk" if r.rerank else ""
        halves = ""
        if r.recall_choose is not None and r.recall_confirm is not None and r.margin is not None:
            halves = (
                f" (choosing half {r.recall_choose:.4f}, confirming half {r.recall_confirm:.4f} >= "
                f"{self.target_recall:g} - margin {r.margin:.4f})"
            )
        return (
            f"{r.spec}: {r.ram_bytes_per_vector} B/vector in RAM ({4 * self.d / r.ram_bytes_per_vector:.0f}x smaller "
            f"than float32), recall@{self.k} {r.recall:.4f} [{lo:.4f}, {hi:.4f}] on {self.n_queries} queries{halves}, "
            f"{r.qps_batch:,.0f} QPS (1 thread, batch){reads}"
        )

    def faiss_summary(self) -> str | None:
        """FAISS's smallest configuration reaching the target in the same run, and the ratio, in one sentence (None: not measured)."""
        if not self.faiss:
            return None
        fb = self.faiss_best
        budget = f"rerank <= {self.max_rerank}"
        if fb is None:
            return f"FAISS: no configuration measured reaches the target at {budget}"
        get = fb.get if isinstance(fb, dict) else lambda name: getattr(fb, name)
        ratio = f"; lowdim / FAISS bytes: {self.ratio:.2f}" if self.ratio is not None else ""
        return (
            f"FAISS's smallest reaching the target at {budget}: {get('name')}, {get('code_bytes')} B/vector of codes, "
            f"recall@{self.k} {get('recall'):.4f}, {get('qps'):,.0f} QPS (lowdim spec {get('spec')}){ratio}"
        )

    def below_summary(self) -> str | None:
        """The failing step below the recommendation in one sentence, or None."""
        b, r = self.recommended_below, self.recommended
        if b is None or r is None:
            return None
        halves = ""
        if b.recall_choose is not None and b.recall_confirm is not None:
            halves = f" (choosing half {b.recall_choose:.4f}, confirming half {b.recall_confirm:.4f})"
        return (
            f"{b.spec}, the step below in the {b.ladder or b.family} ladder: {b.ram_bytes_per_vector} B/vector, "
            f"recall@{self.k} {b.recall:.4f}{halves}: misses the target"
        )


def _point_dict(p: Any) -> Any:
    """A FAISS point (or any point) as JSON data: its ``to_dict()``, else its fields without arrays, or itself (a dict)."""
    if hasattr(p, "to_dict"):
        return p.to_dict()
    if dataclasses.is_dataclass(p) and not isinstance(p, type):
        fields = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    elif hasattr(p, "__dict__"):
        fields = dict(vars(p))
    else:
        return p
    return {k: v for k, v in fields.items() if not isinstance(v, np.ndarray)}
