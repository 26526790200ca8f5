"""Retrieval metrics: small pure functions on ``(n_queries, k)`` id arrays.

Two kinds of truth are supported:

- ``gt``: the exact top-k ids of each query (from :func:`~lowdim.eval.exact_knn`);
  :func:`recall_at_k` measures how much of it a (compressed) search recovers.
- ``qrels``: the documents judged relevant to each query (from a benchmark);
  :func:`ndcg_at_k`, :func:`mrr` and :func:`qrels_recall_at_k` measure retrieval quality.

Ids of ``-1`` are padding (fewer results than ``k``) and never count as a hit.
A document returned twice in one row counts once, at its first (best) rank.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..exceptions import DimensionError, DTypeError, ParameterError, ValidationError
from ..validation import check_k, check_positive_int

__all__ = [
    "Qrels",
    "recall_at_k",
    "recall_per_query",
    "ndcg_at_k",
    "mrr",
    "qrels_recall_at_k",
    "recall_ci",
]

#: Relevant ids per query: a sequence (one array/list/set of ids per query), a 1-D
#: int array (one relevant id per query), or a 2-D int array padded with -1.
Qrels = Sequence[Iterable[int]] | np.ndarray


def _check_ids(ids: Any, name: str, k: int | None = None) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        hint = f" Convert with {name}.astype(np.int64) if the values really are ids." if arr.dtype.kind == "f" else ""
        raise DTypeError(f"{name} has dtype {arr.dtype}; expected an integer array of ids.{hint}")
    if arr.ndim == 1:
        raise DimensionError(
            f"{name} is 1-D with shape {arr.shape}; expected a 2-D array (n_queries, k). "
            f"Use {name}.reshape(1, -1) for a single query."
        )
    if arr.ndim != 2:
        raise DimensionError(f"{name} has {arr.ndim} dimensions with shape {arr.shape}; expected (n_queries, k)")
    if arr.shape[0] == 0:
        raise ValidationError(f"{name} has 0 queries; expected at least 1")
    if k is not None and arr.shape[1] < k:
        raise DimensionError(f"{name} has {arr.shape[1]} columns, fewer than k={k}; pass k <= {arr.shape[1]}")
    return arr.astype(np.int64, copy=False)


def _unique_rows(a: np.ndarray) -> np.ndarray:
    """Sort each row and replace repeated ids (and negative padding) by -1."""
    a = np.sort(a, axis=1)
    dup = np.zeros(a.shape, dtype=bool)
    dup[:, 1:] = a[:, 1:] == a[:, :-1]
    a[dup | (a < 0)] = -1
    return a


def _first_occurrence(ids: np.ndarray) -> np.ndarray:
    """Bool mask (nq, k): True where ids[i, j] is valid (>= 0) and not seen earlier in row i."""
    order = np.argsort(ids, axis=1, kind="stable")
    s = np.take_along_axis(ids, order, axis=1)
    first_sorted = np.ones(s.shape, dtype=bool)
    first_sorted[:, 1:] = s[:, 1:] != s[:, :-1]
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, order, first_sorted, axis=1)
    return first & (ids >= 0)


def recall_per_query(ids: Any, gt: Any, k: int) -> np.ndarray:
    """Per-query recall@k: ``|ids[i, :k] ∩ gt[i, :k]| / k``.

    Parameters
    ----------
    ids : int array of shape (n_queries, >= k)
        Returned ids, best first; -1 is padding and never counts.
    gt : int array of shape (n_queries, >= k)
        True nearest ids, best first (e.g. from :func:`exact_knn`).
    k : int

    Returns
    -------
    ndarray of shape (n_queries,), float64, values in [0, 1]

    Examples
    --------
    >>> recall_per_query([[1, 2], [3, -1]], [[2, 1], [3, 4]], k=2).tolist()
    [1.0, 0.5]
    """
    k = check_k(k)
    ids = _check_ids(ids, "ids", k)
    gt = _check_ids(gt, "gt", k)
    if ids.shape[0] != gt.shape[0]:
        raise DimensionError(f"ids has {ids.shape[0]} queries but gt has {gt.shape[0]}; they must match row for row")
    # Deduplicate each side, then a value present on both sides appears exactly twice
    # in the merged sorted row: count adjacent equal pairs (vectorised set intersection).
    both = np.concatenate([_unique_rows(ids[:, :k]), _unique_rows(gt[:, :k])], axis=1)
    both.sort(axis=1)
    hits = ((both[:, 1:] == both[:, :-1]) & (both[:, 1:] >= 0)).sum(axis=1)
    return hits / k


def recall_at_k(ids: Any, gt: Any, k: int) -> float:
    """recall@k against exact neighbours: ``|returned top-k ∩ true top-k| / k``, averaged over queries.

    Parameters
    ----------
    ids : int array of shape (n_queries, >= k)
        Returned ids, best first; -1 is padding and never counts.
    gt : int array of shape (n_queries, >= k)
        True nearest ids, best first.
    k : int

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> recall_at_k([[1, 2], [3, -1]], [[2, 1], [3, 4]], k=2)
    0.75
    """
    return float(recall_per_query(ids, gt, k).mean())


def _as_qrels(qrels: Any, n_queries: int) -> list[np.ndarray]:
    """Normalise qrels into one sorted unique int64 array per query (padding removed)."""
    if isinstance(qrels, np.ndarray):
        if qrels.dtype.kind not in "iu":
            raise DTypeError(f"qrels has dtype {qrels.dtype}; expected integer doc ids")
        if qrels.ndim == 1:
            rows = [qrels[i : i + 1] for i in range(len(qrels))]
        elif qrels.ndim == 2:
            rows = list(qrels)
        else:
            raise DimensionError(
                f"qrels has shape {qrels.shape}; expected one id per query (n_queries,), "
                f"a padded (n_queries, m) array or a list of id collections"
            )
    elif isinstance(qrels, (str, bytes)) or not isinstance(qrels, Iterable):
        raise DTypeError(f"qrels must be a sequence of per-query id collections or an int array; got {type(qrels).__name__}")
    else:
        rows = list(qrels)
    if len(rows) != n_queries:
        raise DimensionError(f"qrels has {len(rows)} queries but ids has {n_queries}; they must match row for row")
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, (int, np.integer)):
            row = [row]
        try:
            arr = np.asarray(list(row) if isinstance(row, (set, frozenset)) else row).ravel()
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"qrels[{i}] is not a collection of ids: {exc}") from None
        if arr.size and arr.dtype.kind not in "iu":
            raise DTypeError(f"qrels[{i}] has dtype {arr.dtype}; expected integer doc ids")
        arr = np.unique(arr.astype(np.int64))
        out.append(arr[arr >= 0])
    return out


def _relevance(ids: np.ndarray, rel: list[np.ndarray]) -> np.ndarray:
    """Bool (nq, k): ids[i, j] is relevant to query i and is its first occurrence in the row."""
    hit = np.zeros(ids.shape, dtype=bool)
    sizes = np.array([len(r) for r in rel])
    if sizes.sum():
        # Membership of (row, id) pairs in one searchsorted over row-offset keys.
        span = int(max(ids.max(initial=0), max((int(r[-1]) for r in rel if len(r)), default=0))) + 2
        if span * len(rel) < 2**62:
            keys = np.concatenate([r + 1 + i * span for i, r in enumerate(rel)])
            q = (np.clip(ids, -1, None) + 1) + np.arange(len(rel))[:, None] * span
            pos = np.searchsorted(keys, q).clip(max=len(keys) - 1)
            hit = keys[pos] == q
        else:  # ids too large for packed keys: plain per-row test
            for i, r in enumerate(rel):
                hit[i] = np.isin(ids[i], r)
    return hit & _first_occurrence(ids)


def _judged(rel: list[np.ndarray], metric: str) -> np.ndarray:
    has = np.array([len(r) > 0 for r in rel])
    if not has.any():
        raise ValidationError(f"no query has a relevant document in qrels; {metric} is undefined")
    return has


def ndcg_at_k(ids: Any, qrels: Qrels, k: int = 10) -> float:
    """nDCG@k with binary relevance, averaged over queries that have at least one relevant doc.

    ``DCG = sum_{rank r <= k, doc relevant} 1 / log2(r + 1)``, divided by the DCG of an
    ideal ranking of ``min(|relevant|, k)`` relevant docs. Queries without any
    relevant doc are left out of the average (as pytrec_eval does).

    Parameters
    ----------
    ids : int array of shape (n_queries, >= k)
        Returned ids, best first; -1 is padding.
    qrels : sequence of n_queries id collections, or int array (n_queries,) or (n_queries, m)
        Relevant doc ids per query; in a 2-D array -1 is padding.
    k : int, default 10

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> round(ndcg_at_k([[5, 7, 9]], [[7]], k=3), 4)  # relevant doc at rank 2: 1/log2(3)
    0.6309
    """
    k = check_k(k)
    ids = _check_ids(ids, "ids", k)[:, :k]
    rel = _as_qrels(qrels, ids.shape[0])
    has = _judged(rel, "nDCG")
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (_relevance(ids, rel) * discount).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum([len(r) for r in rel], k)]
    return float((dcg[has] / ideal[has]).mean())


def mrr(ids: Any, qrels: Qrels, k: int | None = None) -> float:
    """Mean reciprocal rank of the first relevant doc within the top-k (0 when none is found).

    Averaged over queries that have at least one relevant doc.

    Parameters
    ----------
    ids : int array of shape (n_queries, n_results)
        Returned ids, best first; -1 is padding.
    qrels : sequence of n_queries id collections, or int array (n_queries,) or (n_queries, m)
    k : int, optional
        Cut-off; ``None`` uses every column of ``ids``.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> round(mrr([[5, 7, 9], [1, 2, 3]], [7, 3]), 4)  # ranks 2 and 3: (1/2 + 1/3) / 2
    0.4167
    """
    if k is not None:
        k = check_k(k)
    ids = _check_ids(ids, "ids", k)
    if k is not None:
        ids = ids[:, :k]
    rel = _as_qrels(qrels, ids.shape[0])
    has = _judged(rel, "MRR")
    hit = _relevance(ids, rel)
    first = hit.argmax(axis=1)
    rr = np.where(hit.any(axis=1), 1.0 / (first + 1), 0.0)
    return float(rr[has].mean())


def qrels_recall_at_k(ids: Any, qrels: Qrels, k: int) -> float:
    """Fraction of each query's relevant docs found in its top-k, averaged over judged queries.

    Parameters
    ----------
    ids : int array of shape (n_queries, >= k)
        Returned ids, best first; -1 is padding.
    qrels : sequence of n_queries id collections, or int array (n_queries,) or (n_queries, m)
    k : int

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> qrels_recall_at_k([[5, 7, 9], [1, 2, 3]], [{7, 8}, {4}], k=3)
    0.25
    """
    k = check_k(k)
    ids = _check_ids(ids, "ids", k)[:, :k]
    rel = _as_qrels(qrels, ids.shape[0])
    has = _judged(rel, "recall")
    found = _relevance(ids, rel).sum(axis=1)
    sizes = np.array([len(r) for r in rel])
    return float((found[has] / sizes[has]).mean())


def recall_ci(
    per_query: Any,
    confidence: float = 0.95,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of per-query scores (e.g. :func:`recall_per_query`).

    Percentile bootstrap: the mean of ``n_resamples`` resamples (with replacement) drawn
    from ``numpy.random.default_rng(seed)``, so the same input always gives the same
    interval. Unlike the normal approximation it stays inside [min, max] of the
    scores, which matters when recall is near 1.

    Parameters
    ----------
    per_query : float array of shape (n_queries,)
    confidence : float in (0, 1), default 0.95
    n_resamples : int, default 2000
    seed : int, default 0

    Returns
    -------
    (lo, hi) : tuple of two floats, ``lo <= mean <= hi``

    Examples
    --------
    >>> lo, hi = recall_ci([1.0, 0.5, 1.0, 0.75, 1.0, 0.5])
    >>> round(lo, 3), round(hi, 3)
    (0.625, 0.958)
    """
    x = np.asarray(per_query, dtype=np.float64)
    if x.ndim != 1:
        raise DimensionError(f"per_query has shape {x.shape}; expected a 1-D array (n_queries,) of per-query scores")
    if x.size == 0:
        raise ValidationError("per_query is empty; expected at least 1 score")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x))
        raise ValidationError(f"per_query contains NaN or infinity at {len(bad)} position(s): {bad[:5].tolist()}")
    if isinstance(confidence, bool) or not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ParameterError(f"The 'confidence' parameter of recall_ci must be a float in (0, 1). Got {confidence!r}.")
    n_resamples = check_positive_int(n_resamples, "n_resamples", owner="recall_ci")
    alpha = 1.0 - confidence
    n = x.size
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    step = max(1, 2**22 // n)  # bound the (step, n) index matrix to ~32 MB
    for start in range(0, n_resamples, step):
        stop = min(start + step, n_resamples)
        means[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1.0 - alpha / 2])
    return float(lo), float(hi)
