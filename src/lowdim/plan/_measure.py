"""Measuring one base spec at every rerank factor: recall with a CI, RAM/disk bytes, QPS.

The protocol is design.md's, as in :func:`lowdim.bench.run_bench`: recall@k against
exact float32 neighbours; QPS single-threaded with the queries in one batch, rerank
included. One fitted pipeline and one encoded :class:`~lowdim.search.CodeIndex` serve
every factor.

Two shortcuts keep a plan within minutes, neither changing what is measured:

- **Recall** comes from one scan of the codes for the largest factor's ``F * k``
  candidates: the best ``f * k`` of them are exactly what a scan for ``f * k`` returns,
  so each factor's result is its prefix, reranked with :func:`lowdim.search.rerank_exact`
  (what ``CodeIndex.search(..., rerank=f)`` does). That scan may use every core.
- **QPS** is timed on a batch of at most ``n_timed`` queries with ``CodeIndex.search``,
  one thread, per factor; slow scans are timed on fewer (at least 16) queries, sized by a
  probe of 8, so that timing one spec at all its factors takes about ``QPS_SECONDS``. QPS is reported and
  filters (``min_qps``); no choice depends on it otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..arrays import normalize_rows, single_thread
from ..eval import recall_ci, recall_per_query
from ..search import CodeIndex, rerank_exact
from ..spec import Pipeline
from ._candidate import Candidate
from ._candidates import CandidateSpec
from ._fit import SharedFits, encode_corpus

__all__ = ["measure_spec", "measure_candidate"]

#: queries timed per factor (a batch), and the fewest when a scan is slow
N_TIMED = 256
MIN_TIMED = 16
#: queries of the probe that sizes the timed batches
PROBE = 8
#: seconds the timed batches of one spec (all its factors) should take at most, roughly
QPS_SECONDS = 0.3


def measure_spec(
    cand: CandidateSpec,
    fits: SharedFits,
    corpus: np.ndarray,
    queries: np.ndarray,
    gt: np.ndarray,
    *,
    k: int,
    factors: Sequence[int],
    confidence: float = 0.95,
    seed: int = 0,
    n_timed: int = N_TIMED,
    fitted: dict[str, Pipeline] | None = None,
) -> list[Candidate]:
    """Fit ``cand`` on the shared sample, encode ``corpus``, and measure it at each factor.

    Parameters
    ----------
    corpus : (n, d) array or memmap, any float dtype; also the rerank store (only candidate rows are read)
    queries : (nq, d) float32
    gt : (nq, >= k) int, exact neighbours as ``corpus`` row numbers
    factors : rerank factors, e.g. (0, 2, 3, 4)
    fitted : dict, optional
        Receives the fitted pipeline under ``cand.spec`` (the planner hands the
        recommended one to the collection that adopts the plan).

    Returns
    -------
    One :class:`Candidate` per factor, in the order of ``factors``.
    """
    t = time.perf_counter()
    pipe = fits.pipeline(cand.spec)
    fit_s = time.perf_counter() - t
    if fitted is not None:
        fitted[cand.spec] = pipe
    t = time.perf_counter()
    codes = encode_corpus(pipe, corpus)
    enc_s = time.perf_counter() - t
    index = CodeIndex(pipe, codes, vectors=corpus)
    del codes
    index.search(queries[:2], k)  # builds lazy kernel structures outside the timing

    # recall: one scan for the largest factor, every factor from its prefix
    n_cand = k * max(max(factors), 1)
    _, cand_ids = index.scanner.search(pipe.transform(queries, name="queries"), n_cand)
    Qn = normalize_rows(queries) if pipe.metric == "cosine" else queries
    per_factor = {}
    for f in factors:
        if f:
            _, ids = rerank_exact(Qn, cand_ids[:, : f * k], corpus, k, metric=pipe.metric)
        else:
            ids = cand_ids[:, :k]
        per_factor[f] = recall_per_query(ids, gt, k)

    # QPS: CodeIndex.search itself, one thread, one batch per factor, as many queries as fit in
    # QPS_SECONDS for all factors (a probe of a few queries at the largest factor sizes the batch)
    with single_thread():
        t = time.perf_counter()
        index.search(queries[:PROBE], k, rerank=max(factors))
        seconds_per_query = max(time.perf_counter() - t, 1e-9) / min(PROBE, len(queries))
    n_t = int(np.clip(QPS_SECONDS / len(factors) / seconds_per_query, MIN_TIMED, n_timed))
    n_t = min(n_t, len(queries))
    qps = {}
    for f in factors:
        with single_thread():
            t = time.perf_counter()
            index.search(queries[:n_t], k, rerank=f)
            elapsed = max(time.perf_counter() - t, 1e-9)
        qps[f] = n_t / elapsed

    itemsize = int(np.dtype(corpus.dtype).itemsize)
    out = []
    for f in factors:
        per_query = per_factor[f]
        lo, hi = recall_ci(per_query, confidence, seed=seed)
        out.append(
            Candidate(
                spec=cand.spec + (f"+rerank{f}" if f else ""),
                base=cand.spec,
                family=cand.family,
                rerank=int(f),
                recall=float(per_query.mean()),
                recall_ci=(lo, hi),
                ram_bytes_per_vector=int(pipe.code_size),
                disk_bytes_per_vector=itemsize * corpus.shape[1] if f else 0,
                qps_batch=float(qps[f]),
                fit_seconds=fit_s,
                encode_seconds=enc_s,
                why=cand.why,
                recall_per_query=per_query,
                ladder=cand.ladder,
            )
        )
    return out


def measure_candidate(inputs: dict, cand: CandidateSpec) -> tuple[list[Candidate], Pipeline]:
    """Measure ``cand`` from a session's :meth:`~lowdim.plan._session.PlanSession.inputs` in another process
    (a Ray task), on one thread: its points at every factor (not yet judged) and its fitted pipeline."""
    fitted: dict[str, Pipeline] = {}
    with single_thread():
        fits = SharedFits(inputs["train"], metric=inputs["metric"], seed=inputs["seed"])
        points = measure_spec(
            cand,
            fits,
            inputs["corpus"],
            inputs["queries"],
            inputs["gt"],
            k=inputs["k"],
            factors=inputs["factors"],
            confidence=inputs["confidence"],
            seed=inputs["seed"],
            fitted=fitted,
        )
    return points, fitted[cand.spec]
