"""``plan``: the smallest compression that meets a recall target on your data, with the evidence.

How a plan is made
------------------
1. **Queries and truth.** Given queries (and optionally their exact neighbours), or a
   seeded held-out sample of the corpus, removed from the corpus it measures. The
   queries are split, seeded, into a half to choose on and a half to confirm on.
2. **Diagnosis.** :func:`lowdim.diagnose.diagnose` on the corpus: intrinsic dimension
   and variance widths (they name the reason of the PCA steps); its warnings are kept.
3. **Ladders** (:func:`~lowdim.plan.generate_candidates`): per family, every size from
   the smallest up (PQ at 4 and 8 bits for every ``m``, RaBitQ 1-8 bits, sign codes,
   PCA/MRL widths in steps of 8 with each quantizer, scalar, ITQ), within ``max_bytes``.
4. **Measurement** (:class:`~lowdim.plan.LadderSearch`): a coarse sweep of every ladder
   (sizes about doubling), cheapest first, then bisection in each ladder between its
   largest failing and smallest passing step; a step of more bytes than a passing one
   is never measured. OPQ is tried sparingly next to the plain 8-bit PQ boundary, never
   at bytes already met. Every spec is fitted on one seeded training sample (PCA axes
   and rotations shared), the corpus encoded once, and searched at every rerank factor
   0..``max_rerank`` but 1: recall@k (with a bootstrap CI), RAM and disk bytes,
   single-thread batch QPS.
5. **Acceptance** (:func:`~lowdim.plan.acceptance`): mean recall on the choosing half
   >= target, and on the confirming half >= target - z * SE (z = 1.645 at the default
   ``confidence`` 0.95), and QPS >= ``min_qps``.
6. **Recommendation** (:func:`~lowdim.plan.recommend`): the fewest RAM bytes per vector
   among accepted points; ties to fewer disk reads, then higher recall, then a fixed
   family/spec order, never QPS, so the same data and seed give the same plan. The
   step below it in its ladder is reported (``recommended_below``), measured and failing.
7. **FAISS side by side** (:func:`_faiss_frontier` over
   :func:`~lowdim.plan._faiss.measure_faiss_frontier`): FAISS's configurations on the same
   training sample, corpus, queries and truth, judged by the same rule; where FAISS's
   smallest accepted one takes fewer bytes, its lowdim spec is measured as a candidate and
   may become the recommendation. ``Plan.faiss_best`` and ``Plan.ratio`` report it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._progress import ProgressBar
from ..arrays import normalize_rows, sample_indices, to_float32
from ..diagnose import Diagnosis, diagnose
from ..exceptions import ParameterError
from ..spec import Pipeline, parse_spec
from ..validation import check_choice, check_k, check_metric, check_positive_int
from ._cache import PlanCache, fingerprint
from ._candidate import Candidate
from ._candidates import (
    MATRYOSHKA_SHARE,
    PQ_POINTS_PER_CENTROID,
    SKIPPED_FACTOR,
    CandidateSpec,
    generate_candidates,
    leading_variance_share,
    rerank_factors,
)
from ._export import ENGINES
from ._faiss import faiss_spec, measure_faiss_frontier
from ._fit import PQ_TRAIN_ROWS, SharedFits
from ._index import INDEX_CODECS, INDEX_KINDS, plan_index
from ._inputs import ground_truth, resolve_inputs, split_queries
from ._ladder import OPQ_GAP, LadderSearch
from ._pareto import margin_z, pareto_front, recommend
from ._result import Plan, TargetNotMetError
from ._session import PlanSession
from ._verify import verify_export

__all__ = ["Plan", "plan", "PlanCache", "TargetNotMetError"]

#: below this many queries recall estimates are too noisy to plan tightly
FEW_QUERIES = 200
#: the mean vector's energy share above which sign codes that do not centre lose bits
MEAN_SHARE_LARGE = 0.1


def _check_target(target: Any) -> float:
    if isinstance(target, bool) or not isinstance(target, (int, float, np.floating)) or not (0.0 < float(target) <= 1.0):
        raise ParameterError(f"The 'target_recall' parameter of plan must be a number in (0, 1]. Got {target!r}.")
    return float(target)


def _check_optional_positive(value: Any, name: str, *, integer: bool) -> Any:
    if value is None:
        return None
    if integer:
        return check_positive_int(value, name, owner="plan")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not float(value) > 0:
        raise ParameterError(f"The '{name}' parameter of plan must be a positive number or None. Got {value!r}.")
    return float(value)


def _warnings(
    dg: Diagnosis,
    *,
    n_queries: int,
    k: int,
    recommended: Candidate | None,
    pq8_measured: bool,
    pq4_measured: bool,
    n_train: int,
    held_out: bool,
    sampled_from: int | None = None,
    n: int = 0,
) -> list[str]:
    """The diagnosis warnings plus the plan's own: where a method is known to fail here.

    The diagnosis's warning about 8-bit PQ training rows is kept only when an 8-bit PQ
    was measured (4-bit PQ needs 16x fewer rows).
    """
    out = [w for w in dg.warnings if not (w.startswith("PQ with 8-bit") and not pq8_measured)]
    pq4_min = PQ_POINTS_PER_CENTROID * 16
    if pq4_measured and n_train < pq4_min:
        out.append(
            f"pq<m>x4 codebooks trained on {n_train} rows, fewer than {pq4_min} ({PQ_POINTS_PER_CENTROID} per "
            "centroid): their recall here understates a PQ trained on more data"
        )
    if sampled_from is not None:
        out.append(
            f"recall was measured on {n:,} sampled rows of {sampled_from:,}: with all rows more neighbours compete "
            "and recall at the same spec is usually a little lower; re-measure the recommendation with "
            "'lowdim bench' on the whole data before relying on it"
        )
    if held_out:
        out.append(
            "the queries are held-out corpus rows: real queries that differ from the documents (short queries "
            "against passages, another model or prompt) usually recall less; pass queries= to plan for them"
        )
    if n_queries < FEW_QUERIES:
        out.append(
            f"only {n_queries} queries: recall CIs are wide and the confirming half's margin large, so the "
            f"recommendation may recall less on other queries; pass >= {FEW_QUERIES} queries for a tighter plan"
        )
    share = dg.mean_share
    if recommended is not None and math.isfinite(share) and share > MEAN_SHARE_LARGE:
        if parse_spec(recommended.base).relies_on_centring:
            out.append(
                f"the recommended {recommended.spec} relies on centring: the mean holds {share:.0%} of the energy, "
                "and engines that binarise at 0 (FAISS IndexBinaryFlat, Qdrant binary, pgvector binary_quantize) "
                "will recall less with the same settings"
            )
    if recommended is not None and recommended.rerank:
        out.append(
            f"the recommended {recommended.spec} reads {recommended.rerank * k} full vectors "
            f"({recommended.disk_bytes_per_vector} B each) per query from disk: keep them on an SSD"
        )
    return out


def plan(
    dataset_or_corpus: Any,
    *,
    target_recall: float = 0.95,
    k: int = 10,
    queries: Any = None,
    gt: Any = None,
    max_rerank: int = 10,
    max_bytes: int | None = None,
    min_qps: float | None = None,
    metric: str = "cosine",
    seed: int = 0,
    progress: bool = False,
    confidence: float = 0.95,
    n_holdout: int = 1000,
    train_size: int = 50_000,
    sample: int | None = None,
    cache: PlanCache | None = None,
    faiss: bool = True,
    verify: str | None = None,
    index: str | None = None,
    nlist: int | None = None,
    max_ms: float | None = None,
    measure_many: Callable[[list[CandidateSpec], dict[str, Any]], list[tuple[list[Candidate], Pipeline]]] | None = None,
) -> Plan:
    """Find the smallest compression spec that meets ``target_recall`` on this data, and show the evidence.

    Parameters
    ----------
    dataset_or_corpus : Dataset, array of shape (n, d), or path
        A :class:`~lowdim.eval.Dataset` (its queries and gt are used), a float array or
        memmap (float16 stays float16), or a data-set folder / vector file.
    target_recall : float in (0, 1]
        recall@k to reach, against exact float32 neighbours.
    k : int
        Neighbours per query.
    queries : array of shape (nq, d) or path, optional
        The queries to plan for. Without them ``min(n_holdout, n // 10)`` corpus rows are
        held out (seeded) and removed from the measured corpus; the plan says so.
    gt : int array of shape (nq, >= k) or path, optional
        Exact neighbours of ``queries`` in corpus row numbers; computed when absent.
    max_rerank : int >= 0
        Largest rerank factor: ``+rerankN`` rescores ``N * k`` candidates with full vectors
        read from disk, so each one is a disk read. Every factor from 0 to it is measured
        but 1 (it reorders the top k only and cannot change recall@k).
    max_bytes : int, optional
        Largest RAM bytes per vector of the codes.
    min_qps : float, optional
        Smallest acceptable single-thread batch QPS for the recommendation.
    metric : {"cosine", "ip", "l2"}
    seed : int
        Seeds the held-out queries, the training sample and every codec.
    progress : bool
        Show a rich progress bar on stderr.
    confidence : float in (0, 1)
        Level of the bootstrap recall CI (reported), and of the acceptance rule's
        one-sided test on the confirming half of the queries: a point is accepted when
        its mean recall on the choosing half reaches the target and its mean on the
        confirming half is within ``z`` standard errors of it, ``z`` the normal quantile
        of ``confidence`` (1.645 at 0.95). See :func:`~lowdim.plan.acceptance`.
    n_holdout : int
        Queries to hold out when none are given.
    train_size : int
        Rows of the seeded training sample every codec is fitted on (PQ on 20,000 of them,
        OPQ on 10,000).
    sample : int, optional
        Plan on a seeded sample of this many corpus rows when the corpus is larger: for
        collections whose exact ground truth and trial encodings would take too long. The
        sample is read into memory, ground truth is computed on it, and the plan says so;
        recall on all rows is usually a little lower at the same spec (more neighbours
        compete), so re-measure the recommendation with ``lowdim bench`` on the whole data.
    cache : PlanCache, optional
        Reuse measurements across calls on the same data (to sweep targets or budgets).
    faiss : bool
        Also measure FAISS's frontier on the same data (``Plan.faiss``, ``faiss_best``,
        ``ratio``); where FAISS's smallest accepted configuration is smaller, its lowdim
        spec is measured too and can be recommended. False skips it (faster, no comparison).
    verify : {"faiss", "qdrant", "pgvector"}, optional
        Prove the recommendation's export on that real engine: build it there on this
        corpus, run the plan's queries, and raise the engine's knobs until the target is
        met or they run out (:func:`~lowdim.plan.verify_export`, ``lowdim[engines]``);
        the report is ``Plan.verified``.
    index : {"ivf"}, optional
        Also recommend a sub-linear index (``Plan.index``): IVF lists (``nlist``, default about
        ``4 sqrt(n)``), the codes they hold (the recommendation, or a larger accepted spec when
        it needs too many lists probed) and the fewest lists to probe per query that meet the
        target, with the partition's own ceiling measured apart from the codec's loss
        (:func:`~lowdim.plan.plan_index`). ``max_ms``: a latency budget per query.
    measure_many : callable, optional
        ``measure_many(steps, inputs)`` measures the coarse sweep's steps ahead, elsewhere
        (each with :func:`~lowdim.plan.measure_candidate` on ``inputs``), and returns their
        points and fitted pipelines in order; the search then uses them as if measured here.
        :func:`lowdim.distributed.plan` passes one that runs them as Ray tasks.

    Returns
    -------
    Plan
        ``recommended`` (None when nothing meets the target: see ``best`` and
        ``infeasible_message()``), the failing step below it (``recommended_below``), its
        acceptance ``margin``, every measured candidate, the Pareto front, warnings.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.standard_normal((3000, 8)) @ rng.standard_normal((8, 64))).astype(np.float32)
    >>> p = plan(X, target_recall=0.9, max_bytes=16, max_rerank=4)
    >>> p.feasible, p.recommended.recall >= 0.9, p.recommended.ram_bytes_per_vector <= 16
    (True, True, True)
    """
    t_start = time.perf_counter()
    target = _check_target(target_recall)
    k = check_k(k)
    max_rerank = check_positive_int(max_rerank, "max_rerank", owner="plan", minimum=0)
    max_bytes = _check_optional_positive(max_bytes, "max_bytes", integer=True)
    min_qps = _check_optional_positive(min_qps, "min_qps", integer=False)
    metric = check_metric(metric, owner="plan")
    seed = check_positive_int(seed, "seed", owner="plan", minimum=0)
    n_holdout = check_positive_int(n_holdout, "n_holdout", owner="plan")
    train_size = check_positive_int(train_size, "train_size", owner="plan", minimum=2)
    if sample is not None:
        sample = check_positive_int(sample, "sample", owner="plan", minimum=1000)
    z = margin_z(confidence)
    if verify is not None:
        verify = check_choice(verify, ENGINES, "verify", owner="plan")
    if index is not None:
        index = check_choice(index, INDEX_KINDS, "index", owner="plan")
    if nlist is not None:
        nlist = check_positive_int(nlist, "nlist", owner="plan")
    max_ms = _check_optional_positive(max_ms, "max_ms", integer=False)
    if cache is not None and not isinstance(cache, PlanCache):
        raise ParameterError(f"The 'cache' parameter of plan must be a PlanCache or None. Got {type(cache).__name__}.")
    factors = rerank_factors(max_rerank)

    inputs = resolve_inputs(dataset_or_corpus, queries=queries, gt=gt, k=k, n_holdout=n_holdout, seed=seed, sample=sample)
    corpus = inputs.corpus
    n, d = corpus.shape
    state: dict[str, Any] = {}
    if cache is not None:
        cache.bind(fingerprint(corpus, inputs.queries, inputs.gt, (k, metric, seed, confidence, train_size, inputs.source)))
        state = cache.state
    nq = len(inputs.queries)
    halves = split_queries(nq, seed)
    notes = [f"queries: {nq}, {inputs.source}"]
    if inputs.sampled_from is not None:
        notes.append(
            f"corpus: a seeded sample of {sample:,} of its {inputs.sampled_from:,} rows (sample={sample}); "
            "exact neighbours computed on the sample"
        )
    notes.append(
        f"acceptance: mean recall@{k} >= {target:g} on {len(halves[0])} queries (a seeded half) and >= {target:g} - "
        f"{z:.3f} x SE on the other {len(halves[1])}, which played no part in the choice"
    )

    timing = {}
    t = time.perf_counter()
    if "diagnosis" not in state:
        state["diagnosis"] = diagnose(corpus, sample=min(10_000, n), seed=seed, progress=progress, name="corpus")
    dg: Diagnosis = state["diagnosis"]
    timing["diagnosis"] = time.perf_counter() - t
    t = time.perf_counter()
    if "gt" not in state:
        state["gt"] = ground_truth(inputs, k=k, metric=metric, progress=progress)
    gt_ids = state["gt"]
    timing["ground truth"] = time.perf_counter() - t
    if "fits" not in state:
        rows = sample_indices(n, train_size, seed)
        train = to_float32(np.asarray(corpus[rows]))
        state["fits"] = SharedFits(train, metric=metric, seed=seed)
        state["mrl_share"] = leading_variance_share(normalize_rows(train) if metric == "cosine" else train)
    fits: SharedFits = state["fits"]
    shared_before = fits.shared_seconds
    n_train = len(fits.train)
    matryoshka = state["mrl_share"] >= MATRYOSHKA_SHARE
    notes.append(
        f"Matryoshka truncation (mrl) {'proposed' if matryoshka else 'not proposed'}: the first half of the "
        f"coordinates holds {state['mrl_share']:.0%} of the variance ({MATRYOSHKA_SHARE:.0%} or more suggests a "
        "model trained with Matryoshka loss)"
    )
    ids = [v for v in (dg.id_twonn, dg.id_mle) if math.isfinite(v)]
    kwargs = dict(
        n_train=n_train,
        intrinsic_dim=float(np.mean(ids)) if ids else None,
        dims_90=dg.dims_90,
        dims_95=dg.dims_95,
        dims_99=dg.dims_99,
        matryoshka=matryoshka,
    )
    steps = generate_candidates(d, max_bytes=max_bytes, **kwargs)
    if not steps:
        smallest = generate_candidates(d, **kwargs)[0]
        raise ParameterError(
            f"The 'max_bytes' parameter of plan leaves no candidate for d={d}: got {max_bytes}, but the smallest "
            f"code proposed here, {smallest.spec}, takes {smallest.ram_bytes} B/vector."
        )
    search = LadderSearch(steps, d=d, n_train=n_train, target=target)
    skipped_factor = f"; factor {SKIPPED_FACTOR[0]} is not measured: {SKIPPED_FACTOR[1]}" if max_rerank >= 1 else ""
    notes.append(
        f"{len(steps)} ladder steps in {len(search.ladders)} ladders x rerank factors {', '.join(map(str, factors))}"
        f"{skipped_factor}; fitted on {n_train} rows (PQ on {min(n_train, PQ_TRAIN_ROWS)}); a coarse sweep "
        "cheapest first, then bisection in each ladder between its largest failing and smallest passing step"
    )
    session = PlanSession(
        fits=fits,
        corpus=corpus,
        queries=inputs.queries,
        gt=gt_ids,
        halves=halves,
        k=k,
        metric=metric,
        factors=factors,
        target=target,
        min_qps=min_qps,
        confidence=float(confidence),
        seed=seed,
        max_bytes=max_bytes,
        cache=cache,
        fitted=state.setdefault("pipelines", {}),
    )

    if measure_many is not None:  # the coarse sweep measured ahead, in parallel (bisection stays sequential)
        ahead = [c for c in search.coarse if c.spec not in session.by_base]
        for spec, got in zip([c.spec for c in ahead], measure_many(ahead, session.inputs()), strict=True):
            session.premeasured[spec] = got
    phases: dict[str, int] = {}
    with ProgressBar(progress, total=search.pending, description="plan") as bar:
        while (cand := search.next()) is not None:
            bar.update(f"{search.phase}: {cand.spec} ({cand.ram_bytes} B)")
            _measure_step(session, search, cand)
            phases[search.phase] = phases.get(search.phase, 0) + 1
            bar.update(advance=1, total=len(session.by_base) + search.pending)
    t_faiss = time.perf_counter()
    faiss_points, faiss_best = (
        _faiss_frontier(session, search, progress=progress, memo=state.setdefault("faiss", {})) if faiss else ([], None)
    )
    timing["FAISS frontier"] = time.perf_counter() - t_faiss
    if search.opq:
        tried = ", ".join(c.spec for _, c in sorted(search.opq.items(), reverse=True))
        notes.append(f"OPQ tried: {tried} (next to the pq8 ladder's boundary, which came within {OPQ_GAP} of the target)")

    measured = session.measured
    while True:
        idx = recommend([c.point for c in measured], target, min_qps=min_qps)
        rec = measured[idx] if idx is not None else None
        step = search.below(rec.base) if rec is not None else None
        if step is None or step.spec in session.by_base or step.family == "opq":
            break
        # a recommendation from outside the bisection (FAISS's spec): its step below is measured too
        _measure_step(session, search, step)
    fronts = pareto_front([c.point for c in measured])
    below = None
    codec = None
    if rec is not None:
        below = session.point(step.spec, rec.rerank) if step is not None else None
        if below is None and rec.family == "opq":
            why = [f"{spec}: {reason}" for spec, reason in search.opq_skipped if reason.startswith("OPQ: plain")]
            if why:
                notes.append(f"the OPQ step below the recommendation was not fitted ({'; '.join(why)})")
        # the very codec the recommendation was measured with (refitted only after a cache hit:
        # the fit is seeded, so it is the same codec)
        base = session.fitted.get(rec.base) or fits.pipeline(rec.base)
        codec = base.with_rerank(rec.rerank)
    ratio: float | None = None
    if rec is not None and faiss_best is not None and faiss_best.code_bytes > 0:
        ratio = rec.ram_bytes_per_vector / float(faiss_best.code_bytes)
    warns = _warnings(
        dg,
        n_queries=nq,
        k=k,
        recommended=rec,
        pq8_measured=any(c.family in ("pq8", "opq") for c in measured),
        pq4_measured=any(c.family == "pq4" for c in measured),
        n_train=n_train,
        held_out=inputs.held_out is not None,
        sampled_from=inputs.sampled_from,
        n=n,
    )
    verified = None
    if verify is not None and rec is not None:
        t = time.perf_counter()
        verified = verify_export(
            rec.spec, verify, corpus, inputs.queries, gt_ids, k=k, metric=metric, target=target, d=d, progress=progress
        )
        timing[f"verify on {verify}"] = time.perf_counter() - t
    index_plan = None
    if index is not None and codec is not None:
        t = time.perf_counter()
        index_plan = plan_index(
            [codec, *_larger_codecs(measured, rec, session, fits, search)], corpus, inputs.queries, gt_ids, target=target, k=k,
            halves=halves, confidence=confidence, nlist=nlist, max_ms=max_ms, seed=seed,
        )  # fmt: skip
        timing["index"] = time.perf_counter() - t
    seconds = time.perf_counter() - t_start
    n_specs = len(session.by_base)
    by_phase = ", ".join(f"{v} {k}" for k, v in phases.items())
    skipped = search.skipped()
    notes.append(f"{n_specs} specs measured ({by_phase}), {len(skipped)} ladder steps skipped, in {seconds:.0f} s")
    shared = fits.shared_seconds - shared_before  # spent inside the fits of the specs that needed them first
    timing["shared fits (PCA, rotations)"] = shared
    timing.update({"other fits": max(session.seconds["fit"] - shared, 0.0), "encoding": session.seconds["encode"]})
    timing["scans, rerank and QPS timing"] = session.seconds["search"]
    notes.append("time: " + ", ".join(f"{name} {v:.1f} s" for name, v in timing.items() if v >= 0.05))
    return Plan(
        target_recall=target,
        k=k,
        metric=metric,
        confidence=float(confidence),
        max_rerank=max_rerank,
        max_bytes=max_bytes,
        min_qps=min_qps,
        seed=seed,
        n=n,
        d=d,
        n_queries=nq,
        queries_source=inputs.source,
        recommended=rec,
        candidates=measured,
        pareto=[measured[i] for i in fronts],
        skipped=skipped,
        warnings=tuple(warns),
        notes=tuple(notes),
        diagnosis=dg,
        seconds=seconds,
        dataset=inputs.name,
        codec=codec,
        recommended_below=below,
        margin=None if rec is None else rec.margin,
        margin_z=z,
        query_split=(len(halves[0]), len(halves[1])),
        faiss=faiss_points,
        faiss_best=faiss_best,
        ratio=ratio,
        verified=verified,
        index=index_plan,
    )


def _faiss_frontier(
    session: PlanSession,
    search: LadderSearch,
    *,
    progress: bool = False,
    memo: dict[str, Any] | None = None,
    measure: Any = measure_faiss_frontier,
) -> tuple[list[Any], Any]:
    """FAISS's frontier on the plan's data, judged by the plan's rule; a smaller accepted config measured as lowdim's.

    ``measure`` is :func:`~lowdim.plan._faiss.measure_faiss_frontier` (tests pass a fake). It is called with ``session.faiss_inputs()`` (the shared fits'
    training sample, the corpus, the queries, their ground truth, the halves' rows, ``k``,
    ``metric``, the rerank factors, ``max_bytes``, the seed) and returns points with
    ``name``, ``code_bytes``, ``rerank``, ``recall``, ``qps``, ``spec`` and per-query recalls
    ``recall_per_query`` (nq,) over the plan's queries, which :meth:`PlanSession.verdict`
    judges exactly as lowdim's candidates (``recall_choose``, ``recall_confirm`` and
    ``margin`` are set on the points that have those fields).

    When FAISS's smallest accepted point takes fewer code bytes than every accepted lowdim
    point, its ``spec`` (the lowdim spec of the same or the nearest codec) is measured as a
    lowdim candidate, so the recommendation can adopt it.

    Returns
    -------
    (points, best) : every FAISS point, and the accepted one with the fewest code bytes (or None).
    """
    inputs = session.faiss_inputs()
    ours = [c.ram_bytes_per_vector for c in session.measured if c.meets_target]
    points = list(
        measure(
            inputs["train"],
            inputs["corpus"],
            inputs["queries"],
            inputs["gt"],
            k=inputs["k"],
            metric=inputs["metric"],
            factors=inputs["factors"],
            max_bytes=inputs["max_bytes"],
            seed=inputs["seed"],
            accept=lambda p: session.accepts(p.recall_per_query, p.qps),
            fits=session.fits,
            progress=progress,
            memo=memo,
            bound=int(min(ours)) if ours else None,
            prior=lambda factory: _lowdim_verdict(session, faiss_spec(factory, session.d)[0]),
        )
    )
    ok = []
    for p in points:
        v = session.verdict(p.recall_per_query)
        for name, value in (("recall_choose", v.recall_choose), ("recall_confirm", v.recall_confirm), ("margin", v.margin)):
            if hasattr(p, name):
                setattr(p, name, value)
        if v.accepted and (session.min_qps is None or p.qps >= session.min_qps):
            ok.append(p)
    best = min(ok, key=lambda p: (p.code_bytes, p.rerank, -p.recall, p.name)) if ok else None
    if best is not None and (not ours or best.code_bytes < min(ours)):
        session.measure_spec(best.spec, steps=search.steps, why=f"FAISS's {best.name} reaches the target in {best.code_bytes} B")
    return points, best


def _larger_codecs(
    measured: list[Candidate], rec: Any, session: PlanSession, fits: SharedFits, search: LadderSearch
) -> list[Any]:
    """Fitters of larger codes than the recommendation: what :func:`plan_index` tries when the recommended codes need
    too many lists probed. First the next steps above it in its own ladder (8-bit PQ for OPQ) at its rerank factor,
    which the flat search had no reason to measure and which keep its family's headroom; then the accepted
    candidates above it, fewest bytes first (those that just met the target flat need as many lists)."""
    ladder = search.ladders.get(rec.ladder) or search.ladders.get("pq8", [])
    up = [(step.spec, rec.rerank) for step in ladder if step.ram_bytes > rec.ram_bytes_per_vector][:2]
    others = sorted(
        (c for c in measured if c.meets_target and c.ram_bytes_per_vector > rec.ram_bytes_per_vector),
        key=lambda c: (c.ram_bytes_per_vector, -c.rerank, c.spec),
    )
    seen = {spec for spec, _ in up}
    for c in others:
        if c.base not in seen:
            seen.add(c.base)
            up.append((c.base, c.rerank))
    return [
        lambda base=base, factor=factor: (session.fitted.get(base) or fits.pipeline(base)).with_rerank(factor)
        for base, factor in up[: INDEX_CODECS - 1]
    ]


def _measure_step(session: PlanSession, search: LadderSearch, cand: Any) -> None:
    """Measure ``cand`` at every factor and tell the ladder search whether some factor passed, and its best recall."""
    points = session.measure(cand)
    search.record(cand, any(p.meets_target for p in points), recall=max(p.recall for p in points))


def _lowdim_verdict(session: PlanSession, spec: str) -> bool | None:
    """Whether the plan accepted ``spec`` at some measured factor, or None when it did not measure it."""
    points = session.by_base.get(spec)
    return None if not points else any(c.meets_target for c in points)
