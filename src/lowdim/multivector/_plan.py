"""Planning a multi-vector collection: FDE setting, spec, pooled weight and candidates for a Chamfer recall target.

:func:`plan_multivector` computes the exact Chamfer top-k of the planning queries, then, for
every setting of a small ladder (FDE setting x spec x pooled weight), encodes the documents
and queries exactly as :class:`MultiVectorCollection` does (the shared ``first_stage_parts`` /
``join_first_stage``, the codec fitted as the inner collection fits it on float16 vectors),
scans the codes for ``max_candidates`` documents per query and finds the fewest candidates
whose exact Chamfer rerank reaches the target recall@k. An exact rerank keeps every true
top-k document among the candidates, so recall after the rerank at ``c`` candidates is the
share of the true top-k among the first ``c``; the recommendation is then reranked for real
(``chamfer_rerank``) as a check.

The acceptance rule is the single-vector planner's: the queries are split, seeded, into a
half to choose on and a half to confirm on; ``c`` is accepted when the mean recall on the
choosing half reaches the target and the mean on the confirming half is within
``z * SE`` of it (``z`` the one-sided normal quantile of ``confidence``). The baselines, the
pooled vector (float32, flat) and the token-level index (:class:`TokenLevelIndex`), are
judged by the same rule in the same run.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import faiss
import numpy as np

from .._atomic import write_atomic
from .._progress import ProgressBar
from ..arrays import single_thread
from ..exceptions import FileFormatError, LowdimError, ParameterError, SpecError
from ..search import CodeIndex
from ..spec import Pipeline, bytes_per_vector, parse_spec
from ..store import Settings
from ..validation import check_k, check_positive_int
from ._baselines import TokenLevelIndex, pooled_vectors
from ._chamfer import chamfer_rerank, chamfer_topk
from ._collection import DEFAULT_FDE, default_fde, first_stage_parts, join_first_stage
from ._fde import FDE
from ._tokens import TokenSets, check_token_sets

__all__ = ["plan_multivector", "MultiVectorPlan", "MultiVectorPoint", "BaselinePoint", "MultiVectorTargetError"]

#: cheapest bytes per document first (on 384-d tokens with the default FDE: 64, 128, 256, 512, 688 B)
DEFAULT_SPECS = ("pca512/binary", "pca128/int8", "pca256/int8", "pca512/int8", "binary")
DEFAULT_WEIGHTS = (0.0, 0.75, 1.35, 2.0)
DEFAULT_FDE_SETTINGS: tuple[dict[str, Any], ...] = (dict(DEFAULT_FDE),)
#: documents sampled as queries when none are given
N_SAMPLE_QUERIES = 200
#: nearest document tokens fetched per query token by the token-level baseline
TOKEN_LEVEL_PER_TOKEN = 32
PLAN_FORMAT = "lowdim.MultiVectorPlan"


class MultiVectorTargetError(LowdimError, ValueError):
    """No setting of a multi-vector plan meets the target within ``max_candidates``; the message names the best."""


@dataclass(frozen=True)
class MultiVectorPoint:
    """One measured setting: FDE, spec, pooled weight; bytes per document; candidates needed; recalls; QPS.

    ``candidates`` is None when no count up to ``max_candidates`` is accepted; ``recall_choose`` /
    ``recall_confirm`` / ``margin`` are the acceptance rule's numbers at ``candidates`` (at
    ``max_candidates`` when None); ``recall_at_max`` is recall@k after the rerank of ``max_candidates``
    over all planning queries; ``qps`` the first stage's (query encoding and code scan), one thread, one batch.
    """

    fde: dict[str, Any]
    spec: str
    pooled_weight: float
    first_stage_dim: int
    bytes_per_document: int
    candidates: int | None
    recall_choose: float
    recall_confirm: float
    margin: float
    recall_at_max: float
    qps: float
    fit_seconds: float = 0.0

    @property
    def name(self) -> str:
        f = self.fde
        return (
            f"k{f['k_sim']}-p{f['d_proj']}-r{f['reps']}{'-fill' if f['fill_empty'] else ''} {self.spec} w={self.pooled_weight:g}"
        )


@dataclass(frozen=True)
class BaselinePoint:
    """A single-vector first stage measured beside the plan: its RAM per document and candidates needed (same rule)."""

    name: str
    bytes_per_document: float
    candidates: int | None
    recall_choose: float
    recall_confirm: float
    margin: float
    recall_at_max: float
    qps: float


@dataclass
class MultiVectorPlan:
    """What :func:`plan_multivector` measured and what it recommends.

    Attributes
    ----------
    target, k, max_candidates, confidence, seed : the plan's settings
    dim, n_documents, n_queries : token width, documents, planning queries
    queries_source : str, where the queries came from
    points : list of MultiVectorPoint, in measuring order
    baselines : list of BaselinePoint (pooled vector f32, token-level index)
    front : indices into ``points`` on the Pareto front of (bytes per document, candidates), by bytes
    recommended_index : int or None
    rerank_recall : float or None, recall@k of an actual exact rerank of the recommendation's candidates (all queries)
    seconds : float, the plan's wall time
    skipped : list of {"setting", "why"}, settings not measured (a spec wider than the first-stage vector,
        or one needing more training vectors than there are documents)
    """

    target: float
    k: int
    max_candidates: int
    confidence: float
    seed: int
    dim: int
    n_documents: int
    n_queries: int
    queries_source: str
    points: list[MultiVectorPoint] = field(default_factory=list)
    baselines: list[BaselinePoint] = field(default_factory=list)
    front: list[int] = field(default_factory=list)
    recommended_index: int | None = None
    rerank_recall: float | None = None
    seconds: float = 0.0
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def recommended(self) -> MultiVectorPoint | None:
        return None if self.recommended_index is None else self.points[self.recommended_index]

    def infeasible_message(self) -> str:
        """One line: the target was not met, and the best setting reached (fewest candidates, then highest recall)."""
        msg = (
            f"no setting reaches Chamfer recall@{self.k} {self.target:g} within {self.max_candidates} candidates "
            f"(acceptance on both query halves)"
        )
        if self.points:
            best = max(self.points, key=lambda p: (p.recall_at_max, -p.bytes_per_document))
            msg += (
                f"; best reached: {best.name} ({best.bytes_per_document} B/doc), recall {best.recall_at_max:.3f} "
                f"at {self.max_candidates} candidates"
            )
        return msg + "; raise max_candidates, lower the target or add larger specs / FDE settings"

    def require_feasible(self) -> MultiVectorPoint:
        """The recommendation, or :class:`MultiVectorTargetError` naming the best point reached."""
        if self.recommended is None:
            raise MultiVectorTargetError(self.infeasible_message())
        return self.recommended

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the settings, every point, the baselines, the front and the recommendation."""
        out = {"format": PLAN_FORMAT} | {k: v for k, v in asdict(self).items() if k not in ("points", "baselines")}
        out["points"] = [asdict(p) | {"name": p.name} for p in self.points]
        out["baselines"] = [asdict(b) for b in self.baselines]
        rec = self.recommended
        out["recommended"] = None if rec is None else asdict(rec) | {"name": rec.name}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MultiVectorPlan:
        """The plan back from :meth:`to_dict` (FileFormatError when it is not one)."""
        if not isinstance(d, dict) or d.get("format") != PLAN_FORMAT:
            raise FileFormatError(f"not a multi-vector plan (expected a JSON object with format {PLAN_FORMAT!r})")
        try:
            names = {f for f in cls.__dataclass_fields__ if f not in ("points", "baselines")}
            plan = cls(**{k: d[k] for k in names})
            point_fields = MultiVectorPoint.__dataclass_fields__
            plan.points = [MultiVectorPoint(**{k: v for k, v in p.items() if k in point_fields}) for p in d["points"]]
            plan.baselines = [BaselinePoint(**b) for b in d["baselines"]]
        except (KeyError, TypeError) as exc:
            raise FileFormatError(f"multi-vector plan is missing or has a bad field: {exc}") from None
        return plan

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON (atomically) and return the path."""
        p = Path(path)
        if not p.absolute().parent.is_dir():
            raise FileFormatError(f"cannot write plan {p}: folder {p.absolute().parent} does not exist")
        write_atomic(p, lambda fh: fh.write((json.dumps(self.to_dict(), indent=1) + "\n").encode()))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MultiVectorPlan:
        p = Path(path)
        if not p.is_file():
            raise FileFormatError(f"plan file {p} does not exist")
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"cannot read plan {p} as JSON: {exc}") from None
        return cls.from_dict(d)

    def summary(self) -> str:
        """A plain-text table (points by bytes, then the baselines) and the recommendation."""

        def c(v: int | None) -> str:
            return f"> {self.max_candidates}" if v is None else str(v)

        lines = [
            f"Chamfer recall@{self.k} target {self.target:g}, at most {self.max_candidates} candidates; "
            f"{self.n_documents:,} documents, {self.n_queries} queries ({self.queries_source}); {self.seconds:.1f} s",
            f"{'first stage':44s} {'B/doc':>7s} {'cands':>7s} {'R choose':>8s} {'R confirm':>9s} {'R@max':>6s} {'QPS':>7s}",
        ]
        order = sorted(range(len(self.points)), key=lambda i: (self.points[i].bytes_per_document, i))
        for i in order:
            p = self.points[i]
            mark = " *" if i == self.recommended_index else (" f" if i in self.front else "")
            lines.append(
                f"{p.name + mark:44s} {p.bytes_per_document:7d} {c(p.candidates):>7s} {p.recall_choose:8.3f} "
                f"{p.recall_confirm:9.3f} {p.recall_at_max:6.3f} {p.qps:7.0f}"
            )
        for b in self.baselines:
            lines.append(
                f"{b.name:44s} {b.bytes_per_document:7.0f} {c(b.candidates):>7s} {b.recall_choose:8.3f} "
                f"{b.recall_confirm:9.3f} {b.recall_at_max:6.3f} {b.qps:7.0f}"
            )
        lines += [f"skipped {x['setting']}: {x['why']}" for x in self.skipped]
        rec = self.recommended
        if rec is None:
            lines.append(self.infeasible_message())
        else:
            lines.append(
                f"recommended (*): {rec.name}: {rec.bytes_per_document} B/doc in RAM, {rec.candidates} candidates, "
                f"rerank recall@{self.k} {self.rerank_recall:.3f} on all queries (f: Pareto front)"
            )
        return "\n".join(lines)


def needed_candidates(
    hits: np.ndarray, k: int, target: float, choose: np.ndarray, confirm: np.ndarray, z: float
) -> tuple[int | None, float, float, float]:
    """The fewest candidates accepted, with the choosing and confirming recalls and the margin there.

    Parameters
    ----------
    hits : (nq, C) bool, ``hits[i, j]``: candidate j of query i is among its true top-k
    choose, confirm : int arrays, the query rows of each half

    Returns
    -------
    (candidates or None, recall_choose, recall_confirm, margin), at ``candidates`` (at C when None)

    Examples
    --------
    >>> h = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]], bool)  # k = 1: where each true neighbour lies
    >>> needed_candidates(h, 1, 1.0, np.array([0, 1]), np.array([2, 3]), 0.5)  # confirming half: 0.5 +- 0.5 at 2
    (3, 1.0, 1.0, 0.0)
    """
    curve = np.cumsum(hits, axis=1, dtype=np.float64) / k  # (nq, C) recall after rerank of the first c
    a, b = curve[choose], curve[confirm]
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    se = b.std(axis=0, ddof=1) / math.sqrt(len(confirm)) if len(confirm) >= 2 else np.zeros(curve.shape[1])
    ok = (mean_a >= target - 1e-12) & (mean_b >= target - z * se - 1e-12)
    j = int(np.argmax(ok)) if ok.any() else curve.shape[1] - 1
    return (j + 1 if ok.any() else None), float(mean_a[j]), float(mean_b[j]), float(z * se[j])


def pareto_candidates(points: Sequence[MultiVectorPoint]) -> list[int]:
    """Indices of the points not beaten on both fewer bytes and fewer candidates, by bytes (infeasible ones left out).

    >>> P = lambda b, c: MultiVectorPoint({}, "", 0.0, 1, b, c, 1, 1, 0, 1, 1)
    >>> pareto_candidates([P(512, 73), P(256, 90), P(688, 94), P(256, 80), P(64, None)])
    [3, 0]
    """
    order = sorted((p.bytes_per_document, p.candidates, i) for i, p in enumerate(points) if p.candidates is not None)
    front, best = [], math.inf
    for _, cands, i in order:
        if cands < best:
            front.append(i)
            best = cands
    return front


def recommend_point(points: Sequence[MultiVectorPoint]) -> int | None:
    """The fewest bytes per document among feasible points; ties: fewer candidates, higher recall, then the first."""
    ok = [i for i, p in enumerate(points) if p.candidates is not None]
    if not ok:
        return None
    return min(ok, key=lambda i: (points[i].bytes_per_document, points[i].candidates, -points[i].recall_at_max, i))


def _fde_settings(settings: Sequence[Any], dim: int) -> list[FDE]:
    out = []
    for s in settings:
        if isinstance(s, FDE):
            out.append(FDE(**s.get_params()).fit_width(dim))
        elif isinstance(s, dict):
            out.append(default_fde(dim, **s).fit_width(dim))
        else:
            raise ParameterError(f"fde_settings must hold FDE(...) objects or dicts of FDE parameters; got {type(s).__name__}")
    if not out:
        raise ParameterError("fde_settings is empty; give at least one FDE setting")
    return out


def _check_ladder(specs: Sequence[str], weights: Sequence[float]) -> tuple[list[str], list[float]]:
    specs = [str(s) for s in specs]
    for s in specs:
        if parse_spec(s).rerank:
            raise ParameterError(f"spec {s!r} has a +rerank factor; the planner chooses the candidates (drop +rerank)")
    ws = [float(w) for w in weights]
    bad = [w for w in ws if not math.isfinite(w) or w < 0]
    if bad or not ws or not specs:
        raise ParameterError(f"plan_multivector needs specs and weights >= 0; got specs={specs!r}, weights={list(weights)!r}")
    return specs, ws


def _hits(cands: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(nq, C) bool: which candidates are among each query's true top-k (``gt`` (nq, k), -1 ignored)."""
    out = (cands[:, :, None] == gt[:, None, :]) & (gt[:, None, :] >= 0)
    return out.any(axis=2) & (cands >= 0)


def plan_multivector(
    documents: Any,
    queries: Any = None,
    *,
    target: float = 0.95,
    k: int = 10,
    max_candidates: int = 150,
    specs: Sequence[str] = DEFAULT_SPECS,
    fde_settings: Sequence[Any] = DEFAULT_FDE_SETTINGS,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    confidence: float = 0.95,
    seed: int = 0,
    progress: bool = False,
) -> MultiVectorPlan:
    """Measure a ladder of multi-vector first stages on your token sets and recommend the smallest meeting ``target``.

    Parameters
    ----------
    documents : TokenSets, list of (n_i, d) arrays or (rows (N, d), offsets (n + 1,))
    queries : same forms, optional
        Default: a seeded sample of ``min(200, n)`` documents used as queries.
    target : float in (0, 1]
        Chamfer recall@k after the exact rerank.
    k : int
    max_candidates : int
        The most documents reranked per query that a recommendation may need.
    specs : sequence of str
        Specs of the first-stage vector (no ``+rerank``); default ``pca512/binary``, ``pca128/int8``,
        ``pca256/int8``, ``pca512/int8``, ``binary``.
    fde_settings : sequence of FDE or dict of FDE parameters
        Default the collection's (``k_sim=3, d_proj=32, reps=20``, no fill, seed 0).
    weights : sequence of float >= 0
        Pooled weights w (the pooled cosine counts w**2; 0 leaves it out); default 0, 0.75, 1.35, 2.
    confidence : float
        The confirming half's one-sided level (1.645 standard errors at 0.95).
    seed : int
        Seeds the query sample and the split into halves.
    progress : bool
        A progress bar on stderr.

    Returns
    -------
    MultiVectorPlan
        Its ``recommended`` is None when nothing meets the target (``require_feasible()`` raises
        :class:`MultiVectorTargetError` naming the best reached).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> topics = rng.normal(size=(20, 16))
    >>> docs = [(topics[i % 20] + 0.3 * rng.normal(size=(5, 16))).astype(np.float32) for i in range(200)]
    >>> p = plan_multivector(docs, target=0.8, k=5, max_candidates=60, specs=("f16",), weights=(1.0,),
    ...                      fde_settings=({"k_sim": 2, "d_proj": 8, "reps": 4},))
    >>> p.recommended.spec, p.recommended.candidates <= 60
    ('f16', True)
    """
    t_start = time.perf_counter()
    ds = check_token_sets(documents, name="documents")
    n, dim = len(ds), ds.dim
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target <= 1:
        raise ParameterError(f"The 'target' parameter of plan_multivector must be a number in (0, 1]. Got {target!r}.")
    k = check_k(k)
    C = min(check_positive_int(max_candidates, "max_candidates", owner="plan_multivector"), n)
    if not 0 < confidence < 1:
        raise ParameterError(f"The 'confidence' parameter of plan_multivector must be in (0, 1). Got {confidence!r}.")
    rng = np.random.default_rng(seed)
    if queries is None:
        pick = np.sort(rng.choice(n, size=min(N_SAMPLE_QUERIES, n), replace=False))
        qs = ds.select(pick)
        source = f"a seeded sample of {len(pick)} documents (seed {seed})"
    else:
        qs = check_token_sets(queries, n_features=dim, name="queries", what="the documents")
        source = "given"
    if len(qs) < 4:
        raise ParameterError(f"plan_multivector needs at least 4 queries (two halves); got {len(qs)}")
    specs, ws = _check_ladder(specs, weights)
    fdes = _fde_settings(fde_settings, dim)
    z = NormalDist().inv_cdf(confidence)
    perm = rng.permutation(len(qs))
    choose, confirm = np.sort(perm[: len(qs) // 2]), np.sort(perm[len(qs) // 2 :])
    plan = MultiVectorPlan(target, k, C, confidence, seed, dim, n, len(qs), source)
    train_rows = min(int(Settings.train_size), n)  # the inner collection fits its codec on its first train_size vectors

    steps = len(fdes) * len(specs) * len(ws) + 3
    cand_lists: list[np.ndarray] = []
    with ProgressBar(progress, total=steps, description="ground truth") as bar:
        gt = chamfer_topk(qs, ds, k)[1]
        bar.update("settings", advance=1)
        for fde in fdes:
            doc_parts = first_stage_parts(fde, ds, queries=False)
            for w in ws:
                # the inner collection stores float16 vectors and fits / encodes from them
                X = join_first_stage(doc_parts, w).astype(np.float16).astype(np.float32)
                for spec in specs:
                    bar.update(f"{fde.k_sim}-{fde.d_proj}-{fde.reps} {spec} w={w:g}")
                    t = time.perf_counter()
                    try:
                        if parse_spec(spec).min_train_rows(X.shape[1]) > n:
                            # the collection would not fit its codec with fewer documents (it scans exactly until then)
                            raise ParameterError(f"{parse_spec(spec).min_train_reason(X.shape[1])}; there are {n}")
                        pipe = Pipeline(spec, metric="ip", random_state=0, max_train=train_rows).fit(X[:train_rows])
                    except (ParameterError, SpecError) as exc:
                        name = f"k{fde.k_sim}-p{fde.d_proj}-r{fde.reps} {spec} w={w:g}"
                        plan.skipped.append({"setting": name, "why": str(exc)})
                        bar.update(advance=1)
                        continue
                    index = CodeIndex(pipe, pipe.encode(X))
                    fit_s = time.perf_counter() - t
                    index.search(join_first_stage(first_stage_parts(fde, qs.slice(0, 2), queries=True), w), 1, rerank=0)
                    with single_thread():
                        t = time.perf_counter()
                        Q = join_first_stage(first_stage_parts(fde, qs, queries=True), w)
                        cands = index.search(Q, C, rerank=0).ids
                        qps = len(qs) / max(time.perf_counter() - t, 1e-9)
                    hits = _hits(cands, gt)
                    c, ra, rb, mg = needed_candidates(hits, k, target, choose, confirm, z)
                    plan.points.append(
                        MultiVectorPoint(
                            fde=fde.get_params(),
                            spec=spec,
                            pooled_weight=w,
                            first_stage_dim=X.shape[1],
                            bytes_per_document=bytes_per_vector(X.shape[1], spec),
                            candidates=c,
                            recall_choose=ra,
                            recall_confirm=rb,
                            margin=mg,
                            recall_at_max=float(hits.sum(axis=1).mean() / k),
                            qps=qps,
                            fit_seconds=fit_s,
                        )
                    )
                    cand_lists.append(cands)
                    bar.update(advance=1)
        bar.update("baselines")
        plan.baselines = _baselines(ds, qs, gt, C, k, target, choose, confirm, z)
        bar.update(advance=2)
    if not plan.points:
        raise ParameterError(f"plan_multivector measured no setting: {plan.skipped[0]['why']} (and {len(plan.skipped) - 1} more)")
    plan.front = pareto_candidates(plan.points)
    plan.recommended_index = recommend_point(plan.points)
    if plan.recommended_index is not None:
        rec = plan.points[plan.recommended_index]
        _, ids = chamfer_rerank(qs, ds, cand_lists[plan.recommended_index][:, : rec.candidates], k)
        plan.rerank_recall = float(_hits(ids, gt).sum(axis=1).mean() / k)
    plan.seconds = time.perf_counter() - t_start
    return plan


def _baselines(
    ds: TokenSets, qs: TokenSets, gt: np.ndarray, C: int, k: int, target: float, choose: Any, confirm: Any, z: float
) -> list[BaselinePoint]:
    """The pooled vector (float32, flat inner product) and the token-level index, judged by the same rule."""
    out = []
    P = pooled_vectors(ds)
    flat = faiss.IndexFlatIP(P.shape[1])
    flat.add(P)
    tl = TokenLevelIndex(ds)
    runs = [
        ("pooled vector f32", 4.0 * P.shape[1], lambda: flat.search(pooled_vectors(qs), C)[1]),
        (
            f"token-level f32 ({TOKEN_LEVEL_PER_TOKEN}/token)",
            tl.bytes_per_document,
            lambda: tl.candidates(qs, C, per_token=TOKEN_LEVEL_PER_TOKEN, order="sum"),
        ),
    ]
    for name, size, run in runs:
        with single_thread():
            t = time.perf_counter()
            cands = np.asarray(run(), dtype=np.int64)
            qps = len(qs) / max(time.perf_counter() - t, 1e-9)
        hits = _hits(cands, gt)
        c, ra, rb, mg = needed_candidates(hits, k, target, choose, confirm, z)
        out.append(BaselinePoint(name, float(size), c, ra, rb, mg, float(hits.sum(axis=1).mean() / k), qps))
    return out
