"""Input handling shared by the diagnostics: the array gate without loading everything.

:func:`~lowdim.validation.check_embeddings` converts its input to one float32
array. That is right for a sample, wrong for a 1,000,000 x 768 float16 memmap, so
the diagnostics pass whole arrays through the gate in blocks of rows
(:func:`iter_blocks`) and only ever convert a sample in one piece.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np

from ..exceptions import ValidationError
from ..validation import check_embeddings

__all__ = ["as_float_rows", "block_rows", "iter_blocks", "sample_indices", "to_float32"]

# About 64 MiB of float32 per block: large enough for BLAS, small enough to
# keep the peak memory of a scan independent of n.
_BLOCK_FLOATS = 1 << 24


@lru_cache(maxsize=1)
def _float16_table() -> np.ndarray:
    # Every float16 bit pattern as float32 (exact). A table lookup converts about
    # 3x faster than numpy's float16 astype, which dominates a memmap scan.
    table = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    table.setflags(write=False)
    return table


def to_float32(raw: np.ndarray) -> np.ndarray:
    """``raw`` (m, d) as a C-contiguous float32 array (values unchanged for float16)."""
    if raw.dtype == np.float16:
        return _float16_table()[np.ascontiguousarray(raw).view(np.uint16)]
    return np.ascontiguousarray(raw, dtype=np.float32)


def as_float_rows(X: Any, *, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D float ndarray of shape (n, d), unconverted when it already is one.

    A memmap stays a memmap in its stored dtype; the NaN/inf check happens block by
    block in :func:`iter_blocks`. Anything else (lists, integer arrays, 1-D or empty
    arrays) goes through :func:`check_embeddings`, which converts small inputs and
    refuses bad ones with its usual message before converting anything.
    """
    if not isinstance(X, np.ndarray):
        return check_embeddings(X, name=name)
    if X.dtype.kind != "f" or X.ndim != 2 or 0 in X.shape:
        # Always refused by the gate, which raises before converting the array.
        return check_embeddings(X, name=name)
    return X


def block_rows(d: int) -> int:
    """Rows per block for arrays of ``d`` features."""
    return max(1, _BLOCK_FLOATS // max(d, 1))


def iter_blocks(X: np.ndarray, *, name: str = "X", rows: int | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(start, raw, block)`` over consecutive row blocks of ``X``.

    ``raw`` is the block in the stored dtype (C-contiguous), ``block`` the same rows
    as float32 after :func:`check_embeddings`. A NaN or infinity stops the scan
    with the global row numbers of the offending rows in that block.
    """
    n, d = X.shape
    step = rows or block_rows(d)
    for start in range(0, n, step):
        raw = np.ascontiguousarray(X[start : start + step])
        try:
            block = check_embeddings(to_float32(raw), name=name)
        except ValidationError:
            bad = np.flatnonzero(~np.isfinite(raw).all(axis=1)) + start
            shown = ", ".join(str(int(r)) for r in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise ValidationError(
                f"{name} contains NaN or infinity in row(s) {shown}{more} "
                f"(first bad block: rows {start}-{start + len(raw) - 1}); drop or repair those rows"
            ) from None
        yield start, raw, block


def sample_indices(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted row indices of a seeded sample of ``min(size, n)`` distinct rows, int64 of shape (m,).

    Sorted so that gathering them from a memmap reads the file front to back.
    """
    if size >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)
