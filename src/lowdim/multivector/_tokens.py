"""``TokenSets``: ragged token sets (one (n_i, d) array per document or query) stored as CSR.

All token rows live in one (N, d) array; ``offsets`` (n + 1,) int64 says where each set starts,
so set ``i`` is ``rows[offsets[i]:offsets[i + 1]]``. This is also the layout on disk (two
``.npy`` files), so a collection can memory-map the rows and read only candidates' tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arrays import gather_rows, to_float32
from ..exceptions import DimensionError, DTypeError, ValidationError
from ..validation import check_embeddings

__all__ = ["TokenSets", "TokenSetsLike", "check_token_sets"]


@dataclass(frozen=True)
class TokenSets:
    """Ragged token sets in CSR form.

    Attributes
    ----------
    rows : ndarray (N, d) float32 or float16 (or a ``np.memmap`` of them)
        Every token of every set, set after set.
    offsets : ndarray (n + 1,) int64
        ``offsets[0] == 0``, non-decreasing, ``offsets[-1] == N``; set ``i`` is
        ``rows[offsets[i]:offsets[i + 1]]``.

    Build one with :meth:`from_list` or :meth:`from_csr` (both validate); the constructor
    itself checks nothing.

    Examples
    --------
    >>> import numpy as np
    >>> t = TokenSets.from_list([np.ones((2, 4)), np.zeros((3, 4))])
    >>> len(t), t.dim, t.lengths.tolist(), t[1].shape
    (2, 4, [2, 3], (3, 4))
    """

    rows: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_list(
        cls, sets: Sequence[Any], *, n_features: int | None = None, name: str = "token sets", what: str = "this encoder"
    ) -> TokenSets:
        """Validate a list of (n_i, d) float arrays and pack them; every set needs at least one token."""
        if isinstance(sets, np.ndarray) and sets.dtype != object:
            raise DimensionError(
                f"{name} is one array of shape {sets.shape}; expected a list of (n_i, d) arrays, or TokenSets.from_csr(rows, offsets)"
            )
        if len(sets) == 0:
            raise ValidationError(f"{name} is empty (0 sets); expected at least one token set")
        parts = []
        width = n_features
        for i, s in enumerate(sets):
            arr = check_embeddings(s, n_features=width, name=f"{name}[{i}]", what=f"{name}[0]" if n_features is None else what)
            width = arr.shape[1]
            parts.append(arr)
        rows = np.concatenate(parts, axis=0)
        offsets = np.zeros(len(parts) + 1, np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        return cls(rows, offsets)

    @classmethod
    def from_csr(
        cls, rows: Any, offsets: Any, *, n_features: int | None = None, name: str = "token sets", what: str = "this encoder"
    ) -> TokenSets:
        """Validate ``rows`` (N, d) float and ``offsets`` (n + 1,) int and wrap them (no copy when already float32/int64).

        A float16 ``np.memmap`` of rows stays a memmap (checked for NaN/inf block by block).
        """
        off = np.asarray(offsets)
        if off.dtype.kind not in "iu":
            raise DTypeError(f"{name} offsets have dtype {off.dtype}; expected integers (int64)")
        if off.ndim != 1 or len(off) < 2:
            raise DimensionError(f"{name} offsets have shape {off.shape}; expected (n + 1,) with n >= 1 sets")
        off = off.astype(np.int64, copy=False)
        if isinstance(rows, np.ndarray) and rows.dtype.kind == "f" and rows.ndim == 2 and len(rows):
            if n_features is not None and rows.shape[1] != n_features:
                raise DimensionError(f"{name} have {rows.shape[1]} features, but {what} expects {n_features}")
            _check_finite_blocks(rows, name)
            arr = rows if rows.dtype in (np.float32, np.float16) else rows.astype(np.float32)
        else:
            arr = check_embeddings(rows, n_features=n_features, name=f"{name} rows", what=what)
        if off[0] != 0 or off[-1] != len(arr):
            raise ValidationError(
                f"{name} offsets run from {off[0]} to {off[-1]}, but there are {len(arr)} token rows; "
                f"expected offsets[0] == 0 and offsets[-1] == {len(arr)}"
            )
        steps = np.diff(off)
        if (steps < 0).any():
            raise ValidationError(
                f"{name} offsets decrease at set {int(np.flatnonzero(steps < 0)[0])}; expected non-decreasing offsets"
            )
        if (steps == 0).any():
            empty = np.flatnonzero(steps == 0)
            raise ValidationError(
                f"{name} have {len(empty)} empty set(s) (no tokens), first at set {int(empty[0])}; every set needs >= 1 token"
            )
        return cls(arr, off)

    # -- description ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def dim(self) -> int:
        """Token width d."""
        return int(self.rows.shape[1])

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """(n,) int64 tokens per set."""
        return np.diff(self.offsets)

    def set_ids(self) -> np.ndarray:
        """(N,) int64: the set each token row belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        """Set ``i`` as (n_i, d) float32."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"token set {i} out of range for {n} sets")
        i = i % n
        return to_float32(self.rows[self.offsets[i] : self.offsets[i + 1]])

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def select(self, ids: Any) -> TokenSets:
        """The sets ``ids`` (m,) in that order, gathered into a new float32 CSR (reads only their rows)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        starts, ends = self.offsets[ids], self.offsets[ids + 1]
        lens = ends - starts
        off = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(lens, out=off[1:])
        # row index of every gathered token: start of its set + position inside it
        pos = np.arange(off[-1], dtype=np.int64) - np.repeat(off[:-1], lens) + np.repeat(starts, lens)
        return TokenSets(to_float32(gather_rows(self.rows, pos)), off)

    def slice(self, start: int, stop: int) -> TokenSets:
        """Sets ``start:stop`` as a view (no copy of the rows)."""
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return TokenSets(self.rows[a:b], self.offsets[start : stop + 1] - a)


#: what every function taking token sets accepts
TokenSetsLike = TokenSets | Sequence[Any] | tuple[Any, Any]


def check_token_sets(
    sets: Any, *, n_features: int | None = None, name: str = "token sets", what: str = "this encoder"
) -> TokenSets:
    """Any accepted form of ragged token sets as validated :class:`TokenSets`.

    Parameters
    ----------
    sets : TokenSets, list of (n_i, d) float arrays, or a ``(rows (N, d), offsets (n + 1,))`` pair
        A tuple of two is a pair when its second item is 1-D (offsets), else two sets.
    n_features : int, optional
        Expected token width; a mismatch says both numbers.
    name, what : str
        How the sets and what expects the width are called in messages.

    Examples
    --------
    >>> import numpy as np
    >>> check_token_sets((np.ones((5, 3)), np.array([0, 2, 5]))).lengths.tolist()
    [2, 3]
    """
    if isinstance(sets, TokenSets):
        if n_features is not None and sets.dim != n_features:
            raise DimensionError(f"{name} have {sets.dim} features, but {what} expects {n_features}")
        return sets
    if isinstance(sets, tuple) and len(sets) == 2:
        second = np.asarray(sets[1]) if not isinstance(sets[1], np.ndarray) else sets[1]
        if second.ndim == 1 and second.dtype != object:  # offsets (checked there), not a second set
            return TokenSets.from_csr(sets[0], second, n_features=n_features, name=name, what=what)
    if isinstance(sets, np.ndarray) and sets.ndim == 2 and sets.dtype.kind == "f":
        raise DimensionError(
            f"{name} is one 2-D array of shape {sets.shape}; pass a list of (n_i, d) arrays or (rows, offsets); "
            "for a single set use [X]"
        )
    if not isinstance(sets, (list, tuple, np.ndarray)):
        raise DTypeError(
            f"{name} must be a list of (n_i, d) arrays, a (rows, offsets) pair or TokenSets; got {type(sets).__name__}"
        )
    return TokenSets.from_list(list(sets), n_features=n_features, name=name, what=what)


def _check_finite_blocks(rows: np.ndarray, name: str, block: int = 1 << 16) -> None:
    """Refuse NaN/inf token rows, reading a large (memory-mapped) array block by block."""
    for start in range(0, len(rows), block):
        part = np.asarray(rows[start : start + block])
        finite = np.isfinite(part).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite) + start
            shown = ", ".join(str(int(b)) for b in bad[:5])
            raise ValidationError(f"{name} contain NaN or infinity in {len(bad)} token row(s): {shown}")
