"""One parser for ``.npy`` headers, shared by the dataset readers and the collection's segment files."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

__all__ = ["read_npy_header"]


def read_npy_header(f: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` header at ``f``'s position; ``f`` is left at the data.

    Raises ``ValueError`` (or ``OSError``/``SyntaxError``/``EOFError`` from numpy) on a damaged header;
    callers turn that into their own one-line error naming the file.
    """
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version in ((2, 0), (3, 0)):
        return np.lib.format.read_array_header_2_0(f)
    raise ValueError(f"unsupported .npy format version {version}")
