"""``PlanSession``: one plan's measuring context (data, query halves, fits, cache, verdicts).

Everything a measurement needs and every measurement made, in one place: the ladder
search asks it to measure lowdim's specs, and FAISS's frontier (measured on the same
training sample, corpus, queries and ground truth) is judged by the same rule and can
have its smaller configurations measured as lowdim candidates through it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..spec import Pipeline, parse_spec
from ._cache import PlanCache
from ._candidate import Candidate
from ._candidates import CandidateSpec
from ._fit import SharedFits
from ._measure import measure_spec
from ._pareto import Verdict, acceptance

__all__ = ["PlanSession"]


class PlanSession:
    """The measuring context of one :func:`~lowdim.plan.plan` call.

    Attributes
    ----------
    fits : SharedFits
        The shared training sample (``fits.train``, (n_train, d) float32, normalised
        for cosine) and the fits that share PCA axes and rotations.
    corpus : (n, d) array or memmap
        The measured corpus, also the rerank store.
    queries : (nq, d) float32
    gt : (nq, k) int64
        Exact neighbours of ``queries`` as corpus row numbers.
    choose, confirm : int64 arrays
        Rows of ``queries`` (and ``gt``) of the choosing and the confirming half.
    factors : tuple of int
        The rerank factors measured.
    measured : list of Candidate
        Every (spec, factor) point measured, in measurement order, judged.
    seconds : dict
        Where the measuring time went: ``fit``, ``encode``, ``search`` (scans, rerank,
        QPS timing).
    """

    def __init__(
        self,
        *,
        fits: SharedFits,
        corpus: np.ndarray,
        queries: np.ndarray,
        gt: np.ndarray,
        halves: tuple[np.ndarray, np.ndarray],
        k: int,
        metric: str,
        factors: Sequence[int],
        target: float,
        min_qps: float | None,
        confidence: float,
        seed: int,
        max_bytes: int | None = None,
        cache: PlanCache | None = None,
        fitted: dict[str, Pipeline] | None = None,
    ) -> None:
        self.fits, self.corpus, self.queries, self.gt = fits, corpus, queries, gt
        self.choose, self.confirm = halves
        self.k, self.metric, self.factors = k, metric, tuple(factors)
        self.target, self.min_qps, self.confidence, self.seed = target, min_qps, confidence, seed
        self.max_bytes = max_bytes
        self.cache = cache
        self.fitted: dict[str, Pipeline] = {} if fitted is None else fitted
        self.measured: list[Candidate] = []
        self.by_base: dict[str, list[Candidate]] = {}
        #: spec -> (points, fitted pipeline) measured elsewhere (in parallel, ahead of the search), not yet judged
        self.premeasured: dict[str, tuple[list[Candidate], Pipeline]] = {}
        self.seconds = {"fit": 0.0, "encode": 0.0, "search": 0.0}

    @property
    def d(self) -> int:
        return int(self.corpus.shape[1])

    # -- the acceptance rule, bound to this plan --------------------------------------------
    def verdict(self, per_query: np.ndarray) -> Verdict:
        """:func:`~lowdim.plan.acceptance` of per-query recalls (nq,) over the plan's queries, split into the halves."""
        per_query = np.asarray(per_query, dtype=np.float64)
        return acceptance(per_query[self.choose], per_query[self.confirm], self.target, confidence=self.confidence)

    def accepts(self, per_query: np.ndarray, qps: float | None = None) -> bool:
        """Whether per-query recalls (nq,) are accepted and ``qps`` reaches ``min_qps`` (when both are given)."""
        ok = self.verdict(per_query).accepted
        return ok and (self.min_qps is None or qps is None or qps >= self.min_qps)

    def judge(self, c: Candidate) -> Candidate:
        """Set ``c``'s half recalls, margin and ``meets_target`` from its per-query recalls."""
        if c.recall_per_query is None:
            raise ValueError(f"{c.spec} carries no per-query recalls to judge")  # a cache or JSON point: never here
        v = self.verdict(c.recall_per_query)
        c.recall_choose, c.recall_confirm, c.margin = v.recall_choose, v.recall_confirm, v.margin
        c.meets_target = v.accepted and (self.min_qps is None or c.qps_batch >= self.min_qps)
        return c

    # -- measuring ----------------------------------------------------------------------------
    def measure(self, cand: CandidateSpec) -> list[Candidate]:
        """``cand`` at every rerank factor (from the cache when it has them), judged and recorded."""
        if cand.spec in self.by_base:
            return self.by_base[cand.spec]
        points = self.cache.get(cand.spec, self.factors) if self.cache is not None else None
        if points is None and cand.spec in self.premeasured:
            points, self.fitted[cand.spec] = self.premeasured.pop(cand.spec)
            self.seconds["fit"] += points[0].fit_seconds
            self.seconds["encode"] += points[0].encode_seconds
            if self.cache is not None:
                self.cache.put(cand.spec, points)
        if points is None:
            t = time.perf_counter()
            points = measure_spec(
                cand,
                self.fits,
                self.corpus,
                self.queries,
                self.gt,
                k=self.k,
                factors=self.factors,
                confidence=self.confidence,
                seed=self.seed,
                fitted=self.fitted,
            )
            spent = time.perf_counter() - t
            self.seconds["fit"] += points[0].fit_seconds
            self.seconds["encode"] += points[0].encode_seconds
            self.seconds["search"] += max(spent - points[0].fit_seconds - points[0].encode_seconds, 0.0)
            if self.cache is not None:
                self.cache.put(cand.spec, points)
        for p in points:
            p.ladder = p.ladder or cand.ladder
            self.judge(p)
        self.measured.extend(points)
        self.by_base[cand.spec] = points
        return points

    def inputs(self) -> dict[str, Any]:
        """What :func:`measure_candidate` needs to measure a spec anywhere as this session does (plain arrays)."""
        return dict(
            train=self.fits.train,
            metric=self.metric,
            corpus=np.asarray(self.corpus),
            queries=self.queries,
            gt=self.gt,
            k=self.k,
            factors=self.factors,
            confidence=self.confidence,
            seed=self.seed,
        )

    def measure_spec(self, spec: str, *, steps: dict[str, CandidateSpec] | None = None, why: str = "") -> list[Candidate]:
        """Measure a spec from outside the ladder search (e.g. FAISS's ``"pq8x8+rerank4"``) at every factor.

        The ``+rerank`` suffix is dropped: every factor is measured. A spec that is a
        ladder step (in ``steps``) keeps its family and ladder; another gets the family
        ``"other"``.
        """
        base = parse_spec(spec).without_rerank().to_spec()
        cand = (steps or {}).get(base) or CandidateSpec.make(base, self.d, "other", why)
        return self.measure(cand)

    def best_of(self, spec: str) -> Candidate | None:
        """The measured point of base ``spec`` with the highest recall (fewer reads on ties), or None."""
        pts = self.by_base.get(spec)
        return max(pts, key=lambda c: (c.recall, -c.rerank)) if pts else None

    def point(self, spec: str, rerank: int) -> Candidate | None:
        """The measured point of base ``spec`` at ``rerank``, or None."""
        return next((c for c in self.by_base.get(spec, []) if c.rerank == rerank), None)

    def faiss_inputs(self) -> dict[str, Any]:
        """What FAISS's frontier is measured on: the same training sample, corpus, queries, truth and factors.

        Keys: ``train`` (n_train, d) float32, ``corpus``, ``queries`` (nq, d), ``gt`` (nq, k),
        ``choose`` / ``confirm`` (the halves' rows), ``k``, ``metric``, ``factors``, ``max_bytes``, ``seed``.
        """
        return dict(
            train=self.fits.train,
            corpus=self.corpus,
            queries=self.queries,
            gt=self.gt,
            choose=self.choose,
            confirm=self.confirm,
            k=self.k,
            metric=self.metric,
            factors=self.factors,
            max_bytes=self.max_bytes,
            seed=self.seed,
        )
