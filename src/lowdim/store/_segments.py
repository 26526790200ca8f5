"""Full-precision vectors of many segment files seen as one read-only (n, d) array."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import gather_rows

__all__ = ["SegmentedVectors", "Growable"]


class SegmentedVectors:
    """Row-indexable concatenation of memory-mapped segments (float32 or float16).

    Only the rows asked for are read, so a rerank touches ``rerank * k`` rows per query.
    ``X[rows]`` with an int array returns ``(len(rows), d)`` in the stored dtype;
    ``X[a:b]`` returns a contiguous block. With ``shape``, ``ndim`` and ``dtype`` it is a
    corpus :func:`lowdim.search.exact_knn` scans block by block.

    Examples
    --------
    >>> import numpy as np
    >>> X = SegmentedVectors([np.zeros((2, 3), np.float32), np.ones((1, 3), np.float32)], 3, np.float32)
    >>> X.shape, X[np.array([0, 2])][:, 0].tolist()
    ((3, 3), [0.0, 1.0])
    """

    def __init__(self, parts: list[Any], dim: int, dtype: Any) -> None:
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.parts: list[Any] = []
        self.offsets = np.zeros(1, np.int64)
        for p in parts:
            self.append(p)

    def append(self, part: Any) -> None:
        self.parts.append(part)
        self.offsets = np.append(self.offsets, self.offsets[-1] + len(part))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.offsets[-1]), self.dim)

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, rows: Any) -> np.ndarray:
        n = len(self)
        if isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            if step != 1:
                return self[np.arange(start, stop, step)]
            return self._block(start, stop)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1:
            raise IndexError("SegmentedVectors takes a 1-D array of row numbers or a slice")
        out = np.empty((len(rows), self.dim), self.dtype)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= n:
            raise IndexError(f"row numbers must lie in [0, {n})")
        seg = np.searchsorted(self.offsets, rows, side="right") - 1
        order = np.argsort(seg, kind="stable")
        seg_sorted = seg[order]
        bounds = np.flatnonzero(np.diff(seg_sorted)) + 1
        for grp in np.split(order, bounds):
            s = int(seg[grp[0]])
            out[grp] = gather_rows(self.parts[s], rows[grp] - self.offsets[s])
        return out

    def _block(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((max(0, stop - start), self.dim), self.dtype)
        if stop <= start:
            return out
        first = int(np.searchsorted(self.offsets, start, side="right") - 1)
        pos = 0
        s = first
        while start < stop:
            lo = start - self.offsets[s]
            hi = min(stop, self.offsets[s + 1]) - self.offsets[s]
            out[pos : pos + hi - lo] = self.parts[s][lo:hi]
            pos += hi - lo
            start += hi - lo
            s += 1
        return out


class Growable:
    """A 1-D numpy array with amortised O(1) append (capacity doubles)."""

    def __init__(self, dtype: Any, values: np.ndarray | None = None) -> None:
        values = np.zeros(0, dtype) if values is None else np.asarray(values, dtype)
        self._buf = values.copy()
        self._n = len(values)

    def __len__(self) -> int:
        return self._n

    @property
    def values(self) -> np.ndarray:
        return self._buf[: self._n]

    def extend(self, more: np.ndarray) -> None:
        m = len(more)
        need = self._n + m
        if need > len(self._buf):
            new = np.empty(max(need, 2 * len(self._buf), 1024), self._buf.dtype)
            new[: self._n] = self._buf[: self._n]
            self._buf = new
        self._buf[self._n : need] = more
        self._n = need
