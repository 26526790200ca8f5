"""Exact k nearest neighbours of a sample among itself, via faiss ``IndexFlatL2``."""

from __future__ import annotations

from collections.abc import Callable

import faiss
import numpy as np

from ._duplicates import duplicate_mask, row_hashes

__all__ = ["distinct_rows", "self_knn"]

_QUERY_BLOCK = 2048


def distinct_rows(S: np.ndarray) -> np.ndarray:
    """The distinct rows of ``S`` (m, d) in their original order, shape (m', d).

    Duplicates give zero neighbour distances, which the distance-ratio estimators
    cannot take (log 0), so they are dropped before any neighbour search.
    """
    mask = duplicate_mask(S, row_hashes(S))
    return S[~mask] if mask.any() else S


def self_knn(S: np.ndarray, k: int, *, advance: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean k-NN of every row of ``S`` among the other rows.

    Parameters
    ----------
    S : float32 ndarray of shape (m, d)
        Distinct rows (see :func:`distinct_rows`), m >= 2.
    k : int
        Neighbours per row; must be at most m - 1.
    advance : callable, optional
        Called with the number of query rows done after each block (progress).

    Returns
    -------
    dist : float64 ndarray of shape (m, k)
        Euclidean distances, ascending along each row.
    idx : int64 ndarray of shape (m, k)
        Row numbers into ``S``; never the row itself.
    """
    m, d = S.shape
    # Centring changes no distance but shrinks the norms, which keeps the
    # ||x||^2 + ||y||^2 - 2<x, y> expansion faiss uses accurate.
    Sc = np.ascontiguousarray(S - S.mean(axis=0, dtype=np.float64).astype(np.float32), dtype=np.float32)
    index = faiss.IndexFlatL2(d)
    index.add(Sc)
    kk = min(k + 1, m)
    idx = np.empty((m, kk), dtype=np.int64)
    for s in range(0, m, _QUERY_BLOCK):
        _, idx[s : s + _QUERY_BLOCK] = index.search(Sc[s : s + _QUERY_BLOCK], kk)
        if advance is not None:
            advance(len(Sc[s : s + _QUERY_BLOCK]))
    # Drop each row's own index; where faiss did not return it (ties at distance ~0)
    # drop the farthest instead. A stable sort on "is self" keeps the order.
    is_self = idx == np.arange(m)[:, None]
    keep = np.argsort(is_self, axis=1, kind="stable")[:, :k]
    idx = np.take_along_axis(idx, keep, axis=1)
    # Recompute the distances directly from differences: exact where the
    # expansion loses digits (near-duplicates), and the ratios below need them.
    dist = np.empty((m, k), dtype=np.float64)
    step = max(1, (1 << 22) // max(k * d, 1))
    for s in range(0, m, step):
        diff = Sc[s : s + step, None, :] - Sc[idx[s : s + step]]
        dist[s : s + step] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff, dtype=np.float64))
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)
