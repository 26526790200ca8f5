"""The shared array vocabulary: metric names, float16 → float32, row normalisation,
seeded row sampling, block iteration and a single-thread context.

Every part of lowdim speaks about arrays with these few words, so each is written
once, here, and nowhere else.

Examples
--------
>>> import numpy as np
>>> normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)).tolist()
[[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
>>> sample_indices(10, 3, seed=0).tolist()
[5, 6, 9]
>>> [(s.start, s.stop) for s in iter_slices(5, 2)]
[(0, 2), (2, 4), (4, 5)]
"""

from __future__ import annotations

import contextlib
import functools
import mmap
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "larger_is_better",
    "to_float32",
    "gather_rows",
    "narrow_ids",
    "normalize_rows",
    "prepare_rows",
    "sample_indices",
    "sample_rows",
    "iter_slices",
    "block_rows",
    "single_thread",
]

#: How vectors are compared: ``"cosine"`` (inner product of L2-normalised rows),
#: ``"ip"`` (inner product) and ``"l2"`` (squared Euclidean distance).
METRICS = ("cosine", "ip", "l2")

# About 64 MiB of float32 per block: large enough for BLAS, small enough that the
# peak memory of a scan does not grow with n.
_BLOCK_FLOATS = 1 << 24
# float16 values converted per np.take call: the table (256 KB) and the piece stay in cache
_F16_CHUNK = 1 << 18


def larger_is_better(metric: str) -> bool:
    """Whether higher scores are better under ``metric`` (cosine, ip) rather than lower (l2 distances).

    >>> larger_is_better("cosine"), larger_is_better("l2")
    (True, False)
    """
    return metric != "l2"


@functools.lru_cache(maxsize=1)
def _float16_table() -> np.ndarray:
    """Every float16 bit pattern's float32 value (exact), indexed by the 16 bits."""
    table = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    table.setflags(write=False)
    return table


def to_float32(a: Any) -> np.ndarray:
    """``a`` (an array, memmap or slice of any float dtype) as a C-contiguous float32 array.

    No copy when ``a`` already is a C-contiguous float32 ndarray (a memmap is read into
    memory). float16 goes through a 65,536-entry table indexed by the raw bits, with
    ``np.take`` over 262,144 values at a time so that the table and each piece stay in
    cache: 2 to 2.5x faster than ``astype`` or ``np.copyto`` for the row gathers of a rerank
    and for whole blocks alike (``benchmarks/bench_float16.py``; results in
    ``benchmarks/results/float16.json``). Other dtypes are copied with ``np.copyto``.

    >>> to_float32(np.array([[1.5, -2.0]], np.float16)).tolist()
    [[1.5, -2.0]]
    """
    if isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.c_contiguous and not isinstance(a, np.memmap):
        return a
    out = np.empty(np.shape(a), np.float32)
    if getattr(a, "dtype", None) == np.float16:
        table = _float16_table()
        bits, flat = np.ascontiguousarray(a).view(np.uint16).reshape(-1), out.reshape(-1)
        for s in range(0, bits.size, _F16_CHUNK):
            # "wrap" skips the bounds check, which a 16-bit index cannot fail
            np.take(table, bits[s : s + _F16_CHUNK], out=flat[s : s + _F16_CHUNK], mode="wrap")
        return out
    np.copyto(out, a, casting="unsafe")
    return out


def narrow_ids(values: Any) -> np.ndarray:
    """Integer ids (row numbers, rowids; -1 for none) as int32 when every value fits, else int64.

    Per-vector id arrays held in RAM for the life of a collection cost 4 bytes a vector
    instead of 8 up to 2,147,483,647 rows.

    >>> narrow_ids([3, -1]).dtype, narrow_ids([2**31]).dtype
    (dtype('int32'), dtype('int64'))
    """
    a = np.asarray(values, dtype=np.int64) if not isinstance(values, np.ndarray) or values.dtype.kind not in "iu" else values
    if not len(a) or (int(a.min()) >= -(2**31) and int(a.max()) < 2**31):
        return a.astype(np.int32, copy=False)
    return a.astype(np.int64, copy=False)


#: a gather of up to this many rows from a memory map first asks the kernel for all their pages (one
#: query's rerank; the advice costs ~1.5 us a row, which a large batched gather from a warm cache would pay for nothing)
_PREFETCH_MAX_ROWS = 1024


def gather_rows(X: Any, rows: np.ndarray) -> np.ndarray:
    """``X[rows]`` for an integer array of row numbers, quick on a cold memory-mapped file too.

    When ``X`` is a view of a memory-mapped file (``np.memmap`` or a view of one), the pages of
    the rows are requested together first (``madvise(MADV_WILLNEED)``), so the disk serves them
    in parallel; otherwise every row would cost one page fault, and each fault reads the whole
    read-around window (up to the device's ``read_ahead_kb``, 8 MiB here): 6 ms a row instead
    of 20 microseconds for a rerank of 100 rows from a cold 7.7 GB file.

    >>> gather_rows(np.arange(6.0).reshape(3, 2), np.array([2, 0])).tolist()
    [[4.0, 5.0], [0.0, 1.0]]
    """
    rows = np.asarray(rows, dtype=np.int64)
    if 0 < len(rows) <= _PREFETCH_MAX_ROWS:
        _prefetch(X, rows)
    return X[rows]


def _prefetch(X: Any, rows: np.ndarray) -> None:
    """Advise the kernel that the pages of ``rows`` of a memory-mapped ``X`` are needed soon (a hint only)."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or not X.flags.c_contiguous or not hasattr(mmap, "MADV_WILLNEED"):
        return
    mm = X.base
    while mm is not None and not isinstance(mm, mmap.mmap):
        mm = getattr(mm, "base", None)
    if mm is None or mm.closed or not len(mm) or not len(X):
        return
    offset = X.ctypes.data - np.frombuffer(mm, np.uint8, count=1).ctypes.data
    size, page = X.strides[0], mmap.PAGESIZE
    rows = np.unique(rows[(rows >= 0) & (rows < len(X))])
    first = (offset + rows * size) // page
    last = (offset + (rows + 1) * size - 1) // page
    # merge runs of touching pages into one call each
    breaks = np.flatnonzero(first[1:] > last[:-1] + 1) + 1
    try:
        for lo, hi in zip(first[np.r_[0, breaks]].tolist(), last[np.r_[breaks - 1, len(rows) - 1]].tolist()):
            mm.madvise(mmap.MADV_WILLNEED, lo * page, (hi - lo + 1) * page)
    except (OSError, ValueError):  # advice only: a platform or mapping that refuses it reads as before
        return


def normalize_rows(X: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """Rows of ``X`` (n, d) scaled to unit L2 norm, float32; zero rows stay zero.

    What the cosine metric does to documents and queries before an inner product.
    ``copy=False`` scales a float32 ``X`` in place (for a fresh gather of rows: one
    buffer fewer on the search path).
    """
    X = to_float32(X)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    if copy:
        return X / norms
    X /= norms
    return X


def prepare_rows(X: np.ndarray, metric: str, *, copy: bool = True) -> np.ndarray:
    """``X`` as the scans see it under ``metric``: L2-normalised for cosine, as is (float32) otherwise.

    ``copy=False`` lets the cosine case scale a float32 ``X`` in place.
    """
    return normalize_rows(X, copy=copy) if metric == "cosine" else to_float32(X)


def sample_indices(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded sample of ``min(size, n)`` distinct rows of ``n``, int64 of shape (m,).

    The same ``(n, size, seed)`` always gives the same rows. Sorted, so that gathering
    them from a memmap reads the file front to back.
    """
    if size >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)


def sample_rows(X: Any, size: int, seed: int) -> Any:
    """``X`` itself when it has at most ``size`` rows, else the rows of :func:`sample_indices` (same type as ``X``)."""
    n = len(X)
    return X if n <= size else X[sample_indices(n, size, seed)]


def iter_slices(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def block_rows(d: int) -> int:
    """Rows per block for arrays of ``d`` features: about 64 MiB of float32."""
    return max(1, _BLOCK_FLOATS // max(d, 1))


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Limit FAISS (OpenMP) and BLAS to one thread inside the block (timing, as design.md measures QPS)."""
    import faiss
    from threadpoolctl import threadpool_limits

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        faiss.omp_set_num_threads(before)
