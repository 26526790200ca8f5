"""Exact Chamfer (MaxSim) similarity: score(q, D) = sum over query tokens of the best inner product with a document token.

Three vectorised forms: one query against gathered candidate documents (the rerank),
many queries against their own candidate lists, and a blocked brute-force top-k over a whole
CSR (the ground truth).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..arrays import to_float32
from ..exceptions import ParameterError
from ..search import merge_topk, pad_value, topk
from ..validation import check_embeddings, check_k
from ._tokens import TokenSets, check_token_sets

__all__ = ["chamfer_scores", "chamfer_rerank", "chamfer_topk"]


def chamfer_scores(query: Any, documents: Any, candidates: Any = None) -> np.ndarray:
    """Exact Chamfer similarity of one query token set against candidate documents.

    Parameters
    ----------
    query : (m, d) float
        The query's tokens.
    documents : TokenSets (or any :func:`check_token_sets` form)
        The collection; only the candidates' token rows are read (a memmap stays on disk).
    candidates : (c,) int, optional
        Document numbers to score; all documents when omitted. ``-1`` entries score ``-inf``.

    Returns
    -------
    ndarray (c,) float32
        ``sum_i max_j <q_i, d_j>`` for each candidate.

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.multivector import TokenSets
    >>> docs = TokenSets.from_list([np.eye(3)[:2], np.eye(3)[2:]])
    >>> chamfer_scores(np.eye(3), docs).tolist()
    [2.0, 1.0]
    """
    ts = check_token_sets(documents, name="documents")
    q = check_embeddings(query, n_features=ts.dim, name="query", what="the document set")
    cand = np.arange(len(ts), dtype=np.int64) if candidates is None else _check_candidates(candidates, len(ts))
    out = np.full(len(cand), pad_value(True), np.float32)
    valid = cand >= 0
    if valid.any():
        out[valid] = _scores(q, ts, cand[valid])
    return out


def _scores(q: np.ndarray, ts: TokenSets, cand: np.ndarray) -> np.ndarray:
    """Chamfer of ``q`` (m, d) against the sets ``cand`` (c,), all valid."""
    sub = ts.select(cand)
    sims = q @ sub.rows.T  # (m, T)
    best = np.maximum.reduceat(sims, sub.offsets[:-1], axis=1)  # (m, c)
    return best.sum(axis=0, dtype=np.float32)


def _check_candidates(candidates: Any, n: int) -> np.ndarray:
    cand = np.asarray(candidates)
    if cand.dtype.kind not in "iu":
        raise ParameterError(f"candidates must be integer document numbers; got dtype {cand.dtype}")
    cand = cand.astype(np.int64, copy=False)
    if cand.size and (cand.max() >= n or cand.min() < -1):
        raise ParameterError(f"candidates must lie in 0..{n - 1} (or -1 for none); got values {cand.min()}..{cand.max()}")
    return cand


def chamfer_rerank(queries: Any, documents: Any, candidates: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rescore each query's candidates with exact Chamfer and keep the best ``k``.

    Parameters
    ----------
    queries : TokenSets (or any :func:`check_token_sets` form) of nq sets
    documents : TokenSets of n sets
    candidates : (nq, c) int
        Document numbers, ``-1`` for none (duplicates are harmless: kept once).
    k : int

    Returns
    -------
    scores : (nq, k) float32, ``-inf`` padding
    ids : (nq, k) int64, ``-1`` padding

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.multivector import TokenSets
    >>> docs = TokenSets.from_list([np.eye(3)[:1], np.eye(3)[1:]])
    >>> chamfer_rerank([np.eye(3)[1:]], docs, np.array([[0, 1]]), 1)[1].tolist()
    [[1]]
    """
    ds = check_token_sets(documents, name="documents")
    qs = check_token_sets(queries, n_features=ds.dim, name="queries", what="the document set")
    k = check_k(k)
    cand = _check_candidates(candidates, len(ds))
    if cand.ndim != 2 or len(cand) != len(qs):
        raise ParameterError(f"candidates must have shape ({len(qs)}, c), one row per query; got {cand.shape}")
    out_s = np.full((len(qs), k), pad_value(True), np.float32)
    out_i = np.full((len(qs), k), -1, np.int64)
    # one small product per query: BLAS threads only add start-up cost (10-50x on a busy machine)
    with threadpool_limits(1, user_api="blas"):
        for i in range(len(qs)):
            row = cand[i]
            uniq = np.unique(row[row >= 0])
            if not len(uniq):
                continue
            s, ids = topk(_scores(qs[i], ds, uniq)[None, :], k, ids=uniq)
            out_s[i], out_i[i] = s[0], ids[0]
    return out_s, out_i


def chamfer_topk(queries: Any, documents: Any, k: int, *, block_tokens: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force exact Chamfer top-``k`` of every query over every document (ground truth).

    Documents are read in blocks of about ``block_tokens`` token rows (whole documents),
    each block scored against all query tokens at once.

    Parameters
    ----------
    queries : TokenSets of nq sets (or any :func:`check_token_sets` form)
    documents : TokenSets of n sets; a float16 memmap of rows is converted block by block
    k : int

    Returns
    -------
    scores : (nq, k) float32, best first, ties to the lower document number
    ids : (nq, k) int64, ``-1`` padding when ``k > n``

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.multivector import TokenSets
    >>> docs = TokenSets.from_list([np.eye(4)[:2], np.eye(4)[2:], np.eye(4)[1:3]])
    >>> chamfer_topk([np.eye(4)[1:3]], docs, 2)[1].tolist()
    [[2, 0]]
    """
    ds = check_token_sets(documents, name="documents")
    qs = check_token_sets(queries, n_features=ds.dim, name="queries", what="the document set")
    k = check_k(k)
    q_rows = to_float32(qs.rows)
    q_starts = qs.offsets[:-1]
    best: tuple[np.ndarray, np.ndarray] = (
        np.full((len(qs), k), pad_value(True), np.float32),
        np.full((len(qs), k), -1, np.int64),
    )
    start = 0
    while start < len(ds):
        # whole documents, about block_tokens rows (at least one document)
        stop = int(np.searchsorted(ds.offsets, ds.offsets[start] + block_tokens, side="right")) - 1
        stop = min(max(stop, start + 1), len(ds))
        part = ds.slice(start, stop)
        sims = q_rows @ to_float32(part.rows).T  # (M, T)
        per_doc = np.maximum.reduceat(sims, part.offsets[:-1], axis=1)  # (M, nb)
        scores = np.add.reduceat(per_doc, q_starts, axis=0)  # (nq, nb)
        best = merge_topk(best, topk(scores, k, ids=np.arange(start, stop, dtype=np.int64)), k)
        start = stop
    return best
