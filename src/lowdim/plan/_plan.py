"""``plan``: the smallest compression that meets a recall target on your data, with the evidence.

How a plan is made
------------------
1. **Queries and truth.** Given queries (and optionally their exact neighbours), or a
   seeded held-out sample of the corpus, removed from the corpus it measures.
2. **Diagnosis.** :func:`lowdim.diagnose.diagnose` on the corpus: intrinsic dimension
   and the 90/95/99%-variance widths choose the PCA widths; its warnings are kept.
3. **Candidates** (:func:`~lowdim.plan.generate_candidates`): scalar, sign, ITQ, PQ,
   PCA (and Matryoshka) specs, each within ``max_bytes``.
4. **Measurement, cheapest first.** Every candidate is fitted on one seeded training
   sample (PCA axes and rotations shared), the corpus encoded once, and searched at
   each rerank factor up to ``max_rerank``: recall@k with a bootstrap CI, RAM and disk
   bytes, single-thread batch QPS. Once a candidate meets the target at B bytes, every
   larger candidate is skipped unmeasured (:class:`~lowdim.plan.Frontier`); OPQ is
   tried, at most twice, where plain PQ of the same bytes just missed, and only while
   no candidate of those bytes meets the target (OPQ is for fewer bytes, and its
   training takes tens of seconds).
5. **Recommendation.** The fewest RAM bytes per vector among the points whose recall CI
   lies at or above the target (and whose QPS reaches ``min_qps``); ties go to the
   higher QPS (within 10%, timing noise: to fewer disk reads, then higher recall).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._progress import ProgressBar
from ..arrays import normalize_rows, sample_indices, to_float32
from ..diagnose import Diagnosis, diagnose
from ..exceptions import ParameterError
from ..spec import Pipeline, parse_spec
from ..validation import check_k, check_metric, check_positive_int
from ._cache import PlanCache, fingerprint
from ._candidate import Candidate
from ._candidates import (
    MATRYOSHKA_SHARE,
    PQ_POINTS_PER_CENTROID,
    CandidateSpec,
    generate_candidates,
    leading_variance_share,
    opq_candidate,
    rerank_factors,
)
from ._fit import PQ_TRAIN_ROWS, SharedFits
from ._inputs import ground_truth, resolve_inputs
from ._measure import measure_spec
from ._pareto import Frontier, pareto_front, recommend
from ._result import Plan, TargetNotMetError

__all__ = ["Plan", "plan", "PlanCache", "TargetNotMetError"]

#: OPQ is tried at the bytes of a pq<2m>x4 whose best lower CI bound came within this of the target
OPQ_GAP = 0.03
#: at most this many OPQ fits per plan (each takes tens of seconds)
MAX_OPQ = 2
#: below this many queries the recall CI is too wide to plan tightly
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
    was measured (plain PQ is measured with 4 bits, which needs 16x fewer rows).
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
            f"only {n_queries} queries: recall CIs are wide, so the plan errs towards larger codes; "
            f"pass >= {FEW_QUERIES} queries for a tighter plan"
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
        read from disk, so each one is a disk read. Factors 0, 2, 4, 10 up to it are measured.
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
        Level of the bootstrap recall CI; a candidate meets the target when the lower end
        of its CI does.
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

    Returns
    -------
    Plan
        ``recommended`` (None when nothing meets the target: see ``best`` and
        ``infeasible_message()``), every measured candidate, the Pareto front, warnings.

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
    if isinstance(confidence, bool) or not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ParameterError(f"The 'confidence' parameter of plan must be a number in (0, 1). Got {confidence!r}.")
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
    notes = [f"queries: {len(inputs.queries)}, {inputs.source}"]
    if inputs.sampled_from is not None:
        notes.append(
            f"corpus: a seeded sample of {sample:,} of its {inputs.sampled_from:,} rows (sample={sample}); "
            "exact neighbours computed on the sample"
        )

    if "diagnosis" not in state:
        state["diagnosis"] = diagnose(corpus, sample=min(10_000, n), seed=seed, progress=progress, name="corpus")
    dg: Diagnosis = state["diagnosis"]
    if "gt" not in state:
        state["gt"] = ground_truth(inputs, k=k, metric=metric, progress=progress)
    gt_ids = state["gt"]
    if "fits" not in state:
        rows = sample_indices(n, train_size, seed)
        train = to_float32(np.asarray(corpus[rows]))
        state["fits"] = SharedFits(train, metric=metric, seed=seed)
        state["mrl_share"] = leading_variance_share(normalize_rows(train) if metric == "cosine" else train)
    fits: SharedFits = state["fits"]
    fitted: dict[str, Pipeline] = state.setdefault("pipelines", {})
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
    queue = generate_candidates(d, max_bytes=max_bytes, **kwargs)
    if not queue:
        smallest = generate_candidates(d, **kwargs)[0]
        raise ParameterError(
            f"The 'max_bytes' parameter of plan leaves no candidate for d={d}: got {max_bytes}, but the smallest "
            f"code proposed here, {smallest.spec}, takes {smallest.ram_bytes} B/vector."
        )
    notes.append(
        f"{len(queue)} candidate specs x rerank factors {', '.join(map(str, factors))}; "
        f"fitted on {n_train} rows (PQ on {min(n_train, PQ_TRAIN_ROWS)}), measured cheapest first"
    )

    frontier = Frontier(target, min_qps=min_qps)
    measured: list[Candidate] = []
    skipped: list[tuple[str, str]] = []
    by_base: dict[str, list[Candidate]] = {}
    opq_from: set[str] = set()

    def opq_trials() -> list[CandidateSpec]:
        """OPQ, sparingly: at the bytes of the largest plain PQ below the frontier that came close."""
        close = [
            (pts[0].ram_bytes_per_vector, base)
            for base, pts in by_base.items()
            if pts[0].family == "pq4"
            and base not in opq_from
            and pts[0].ram_bytes_per_vector < frontier.best_bytes
            and max(p.recall_ci[0] for p in pts) >= target - OPQ_GAP
        ]
        out = []
        for nbytes, base in sorted(close, reverse=True):
            if len(opq_from) >= MAX_OPQ:
                break
            opq_from.add(base)
            new = opq_candidate(CandidateSpec(base, "pq4", nbytes), d, n_train=n_train)
            if new is not None and new.spec not in by_base and all(q.spec != new.spec for q in queue):
                out.append(new)
        return out

    with ProgressBar(progress, total=len(queue), description="plan") as bar:
        while True:
            if not queue and len(opq_from) < MAX_OPQ:
                queue.extend(opq_trials())  # nothing met the target: OPQ may still reach it
            if not queue:
                break
            cand = queue.pop(0)
            if not frontier.should_measure(cand.ram_bytes):
                skipped.append(
                    (cand.spec, f"{cand.ram_bytes} B/vector > {frontier.best_bytes:g} B/vector of a candidate meeting the target")
                )
                bar.update(advance=1)
                continue
            if cand.family == "opq" and cand.ram_bytes >= frontier.best_bytes:
                # OPQ is tried to reach the target in fewer bytes; at the bytes already met it could only
                # win the tie-break, which is not worth its tens of seconds of training
                skipped.append(
                    (cand.spec, f"OPQ at {cand.ram_bytes} B/vector: a candidate of these bytes already meets the target")
                )
                bar.update(advance=1)
                continue
            bar.update(f"{cand.spec} ({cand.ram_bytes} B)")
            points = cache.get(cand.spec, factors) if cache is not None else None
            if points is None:
                points = measure_spec(
                    cand,
                    fits,
                    corpus,
                    inputs.queries,
                    gt_ids,
                    k=k,
                    factors=factors,
                    confidence=confidence,
                    seed=seed,
                    fitted=fitted,
                )
                if cache is not None:
                    cache.put(cand.spec, points)
            for p in points:
                p.meets_target = p.point.meets(target, min_qps)
                frontier.add(p.point)
            measured.extend(points)
            by_base[cand.spec] = points
            bar.update(advance=1)
            if frontier.met and len(opq_from) < MAX_OPQ:
                added = opq_trials()
                if added:
                    queue = sorted(queue + added, key=lambda x: x.order_key)
                    bar.update(total=len(by_base) + len(skipped) + len(queue))

    if opq_from:
        notes.append(f"OPQ tried at the bytes of {', '.join(sorted(opq_from))}, which came within {OPQ_GAP} of the target")
    fronts = pareto_front([c.point for c in measured])
    idx = recommend([c.point for c in measured], target, min_qps=min_qps)
    rec = measured[idx] if idx is not None else None
    codec = None
    if rec is not None:
        # the very codec the recommendation was measured with (refitted only after a cache hit:
        # the fit is seeded, so it is the same codec)
        base = fitted.get(rec.base) or fits.pipeline(rec.base)
        codec = base.with_rerank(rec.rerank)
    warns = _warnings(
        dg,
        n_queries=len(inputs.queries),
        k=k,
        recommended=rec,
        pq8_measured=any(c.base.endswith("x8") for c in measured),
        pq4_measured=any(c.base.endswith("x4") for c in measured),
        n_train=n_train,
        held_out=inputs.held_out is not None,
        sampled_from=inputs.sampled_from,
        n=n,
    )
    seconds = time.perf_counter() - t_start
    notes.append(f"{len(measured) // max(len(factors), 1)} specs measured, {len(skipped)} skipped, in {seconds:.0f} s")
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
        n_queries=len(inputs.queries),
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
    )
