"""Top-k selection and merging on score matrices (higher-is-better or lower-is-better)."""

from __future__ import annotations

import numpy as np

__all__ = ["topk", "merge_topk", "pad_value"]


def pad_value(largest: bool) -> float:
    """The score used for padded (-1) results: -inf when higher is better, +inf otherwise."""
    return -np.inf if largest else np.inf


def topk(scores: np.ndarray, k: int, *, largest: bool = True, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of each row of ``scores`` (nq, n), sorted, padded with ``-1`` ids.

    ``ids`` (same shape as ``scores``, or (n,)) maps columns to result ids; columns whose id
    is -1 never win. Returns ``(scores (nq, k) float32, ids (nq, k) int64)``.
    """
    nq, n = scores.shape
    if ids is None:
        col_ids = np.broadcast_to(np.arange(n, dtype=np.int64), scores.shape)
    else:
        col_ids = np.broadcast_to(np.asarray(ids, dtype=np.int64), scores.shape)
    s = np.asarray(scores, dtype=np.float32)
    key = -s if largest else s
    key = np.where(col_ids < 0, np.inf, key)
    kk = min(k, n)
    if kk < n:
        part = np.argpartition(key, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n), (nq, n))
    pkey = np.take_along_axis(key, part, axis=1)
    pids = np.take_along_axis(col_ids, part, axis=1)
    # sort by key, ties to the lower id
    order = np.lexsort((pids, pkey), axis=1)
    out_key = np.take_along_axis(pkey, order, axis=1)
    out_ids = np.take_along_axis(pids, order, axis=1).astype(np.int64)
    out_ids[~np.isfinite(out_key)] = -1
    out_scores = (-out_key if largest else out_key).astype(np.float32)
    out_scores[out_ids < 0] = pad_value(largest)
    if kk < k:
        out_scores = np.pad(out_scores, ((0, 0), (0, k - kk)), constant_values=pad_value(largest))
        out_ids = np.pad(out_ids, ((0, 0), (0, k - kk)), constant_values=-1)
    return out_scores, out_ids


def merge_topk(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], k: int, *, largest: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two ``(scores, ids)`` top-k lists row by row into one of width ``k``."""
    scores = np.concatenate([a[0], b[0]], axis=1)
    ids = np.concatenate([a[1], b[1]], axis=1)
    return topk(scores, k, largest=largest, ids=ids)
