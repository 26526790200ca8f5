"""Exact duplicate rows: :func:`count_duplicates`.

Rows are hashed block by block (64-bit hash of the row's bytes in the stored dtype),
so the scan needs O(n) extra memory of 8 bytes per row whatever ``d`` is. Rows that
share a hash are then compared value by value, so the count is exact even if two
different rows ever collide.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..validation import as_float_rows, check_positive_int, iter_blocks

__all__ = ["count_duplicates"]

_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


@lru_cache(maxsize=16)
def _word_multipliers(n_words: int) -> np.ndarray:
    # Fixed, odd 64-bit multipliers: one per word position, so equal words at
    # different positions contribute differently.
    rng = np.random.default_rng(0x10D1)
    mult = rng.integers(0, 2**63, size=n_words, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    mult.setflags(write=False)
    return mult


def _keys(raw: np.ndarray) -> np.ndarray:
    """The values of ``raw`` (m, d) as unsigned integers of the same width, shape (m, d) or (m, bytes).

    Two rows have equal keys exactly when they are equal as numbers: byte order is
    made native and -0.0 is mapped to +0.0. Integer views, because numpy's float16
    arithmetic and comparisons are emulated and slow.
    """
    if not raw.dtype.isnative:
        raw = raw.astype(raw.dtype.newbyteorder("="))
    raw = np.ascontiguousarray(raw)
    ut = _UINT.get(raw.dtype.itemsize)
    if ut is None:  # long double: canonicalise with float arithmetic, compare bytes
        raw = np.add(raw, raw.dtype.type(0), dtype=raw.dtype)
        return raw.view(np.uint8).reshape(raw.shape[0], -1)
    u = raw.view(ut)
    negative_zero = u == ut(1 << (8 * raw.dtype.itemsize - 1))
    if negative_zero.any():
        u = np.where(negative_zero, ut(0), u)
    return u


def row_hashes(raw: np.ndarray) -> np.ndarray:
    """64-bit hashes of the rows of ``raw`` (m, d) in its own dtype, uint64 of shape (m,).

    Rows that are equal as numbers (``-0.0`` equal to ``0.0``) get equal hashes.
    """
    m = raw.shape[0]
    out = np.empty(m, dtype=np.uint64)
    # Sub-blocks of about 1 MiB keep the temporaries in cache; on whole 64 MiB
    # blocks the hash is memory-bound and 3-5x slower.
    step = max(1, (1 << 20) // max(raw[:1].nbytes, 1))
    for s in range(0, m, step):
        keys = _keys(raw[s : s + step])
        b = keys.view(np.uint8).reshape(keys.shape[0], -1)
        pad = (-b.shape[1]) % 8
        if pad:
            b = np.concatenate([b, np.zeros((b.shape[0], pad), dtype=np.uint8)], axis=1)
        w = b.view("<u8")
        # Fold the high half of each word into the low half (a bijection), multiply
        # by the position's odd constant and sum mod 2**64 (uint64 arithmetic wraps).
        # Only equality of hashes matters; collisions are resolved exactly later.
        w = w ^ (w >> np.uint64(32))
        w *= _word_multipliers(w.shape[1])
        out[s : s + step] = w.sum(axis=1, dtype=np.uint64)
    return out


def _equal_rows(X: np.ndarray, a: np.ndarray, b: np.ndarray, block: int = 4096) -> np.ndarray:
    """Whether rows ``X[a[i]]`` and ``X[b[i]]`` are equal, bool of shape (len(a),)."""
    out = np.empty(len(a), dtype=bool)
    for s in range(0, len(a), block):
        out[s : s + block] = (_keys(X[a[s : s + block]]) == _keys(X[b[s : s + block]])).all(axis=1)
    return out


def duplicate_mask(X: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Mark rows equal to an earlier row: bool of shape (n,), True for every copy but the first.

    ``hashes`` are :func:`row_hashes` of all rows of ``X`` (n, d). Exact: rows with
    equal hashes are compared value by value.
    """
    n = len(hashes)
    mask = np.zeros(n, dtype=bool)
    if n < 2:
        return mask
    order = np.argsort(hashes, kind="stable")  # stable: ascending row index within a hash group
    hs = hashes[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    starts[1:] = hs[1:] != hs[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    later = np.flatnonzero(~starts)
    if len(later) == 0:
        return mask
    rows, refs = order[later], order[first[later]]
    equal = _equal_rows(X, rows, refs)
    mask[rows[equal]] = True
    # A row that differs from its group's first row shares a hash with a different
    # row. Practically never happens; resolve those groups exactly, group by group.
    for g in np.unique(first[later[~equal]]):
        stop = g + 1
        while stop < n and not starts[stop]:
            stop += 1
        members = order[g:stop]  # ascending
        _, keep = np.unique(_keys(X[members]), axis=0, return_index=True)
        mask[members] = True
        mask[members[keep]] = False
    return mask


def count_duplicates(X: Any, *, block_rows: int | None = None) -> int:
    """Count rows that are exact copies of an earlier row.

    Rows are compared in the array's stored dtype (a float16 array is compared as
    float16), ``-0.0`` equals ``0.0``. The result is ``n - number of distinct rows``.
    Works block by block, so a memmapped array is never loaded whole.

    Parameters
    ----------
    X : array-like of shape (n, d)
        float16/float32/float64 rows; lists are stored as float32 first.
    block_rows : int, optional
        Rows hashed per block (default: about 64 MiB of float32).

    Returns
    -------
    int

    Examples
    --------
    >>> import numpy as np
    >>> count_duplicates(np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [1.0, 2.0]]))
    2
    """
    X = as_float_rows(X)
    if block_rows is not None:
        block_rows = check_positive_int(block_rows, "block_rows", owner="count_duplicates")
    hashes = np.empty(X.shape[0], dtype=np.uint64)
    for start, raw, _ in iter_blocks(X, rows=block_rows):
        hashes[start : start + len(raw)] = row_hashes(raw)
    return int(duplicate_mask(X, hashes).sum())
