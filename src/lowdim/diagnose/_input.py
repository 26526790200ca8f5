"""Input handling shared by the diagnostics: the array gate without loading everything.

:func:`~lowdim.validation.check_embeddings` converts its input to one float32
array. That is right for a sample, wrong for a 1,000,000 x 768 float16 memmap, so
the diagnostics pass whole arrays through the gate in blocks of rows
(:func:`iter_blocks`) and only ever convert a sample in one piece.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..arrays import block_rows, to_float32
from ..exceptions import ValidationError
from ..validation import check_embeddings

__all__ = ["iter_blocks"]


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
