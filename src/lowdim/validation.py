"""The one gate every array passes through: :func:`check_embeddings`.

Modelled on scikit-learn's ``check_array``: messages say what was wrong, what was
expected and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .arrays import METRICS, block_rows, to_float32
from .exceptions import DimensionError, DTypeError, ParameterError, ValidationError

__all__ = [
    "check_embeddings",
    "as_float_rows",
    "iter_blocks",
    "check_k",
    "check_choice",
    "check_metric",
    "check_positive_int",
    "integral_number",
]


def _row_list(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{shown}{more}"


def check_embeddings(
    X: Any,
    *,
    n_features: int | None = None,
    name: str = "X",
    allow_empty: bool = False,
    dtype: type = np.float32,
    copy: bool = False,
    what: str = "this codec",
) -> np.ndarray:
    """Validate a 2-D array of embeddings and return it as a C-contiguous ``dtype`` array.

    Parameters
    ----------
    X : array-like of shape (n, d)
        float16, float32 or float64 values. Integer and bool arrays are refused
        (they are almost always ids or codes passed by mistake).
    n_features : int, optional
        The width the caller expects; a mismatch names both numbers.
    name : str
        How the array is called in messages ("X", "queries", ...).
    allow_empty : bool
        Whether ``n == 0`` is acceptable.
    what : str
        What expects ``n_features`` ("this collection", "this codec").

    Returns
    -------
    ndarray of shape (n, d), dtype ``dtype``

    Examples
    --------
    >>> check_embeddings([[1.0, 2.0]]).shape
    (1, 2)
    """
    arr: np.ndarray
    if isinstance(X, np.memmap):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError) as exc:  # ragged lists and the like
            raise ValidationError(f"{name} could not be read as a 2-D array of numbers: {exc}") from None
    if arr.dtype == object:
        raise DTypeError(f"{name} has dtype object; expected float32/float16/float64 numbers (ragged rows?)")
    if arr.dtype.kind in "iub":
        raise DTypeError(
            f"{name} has integer dtype {arr.dtype}; expected float embeddings "
            f"(float32, float16 or float64). Convert with X.astype(np.float32) if the values really are embeddings."
        )
    if arr.dtype.kind not in "f":
        raise DTypeError(f"{name} has dtype {arr.dtype}; expected float32, float16 or float64")
    if arr.ndim == 1:
        raise DimensionError(
            f"{name} is 1-D with shape {arr.shape}; expected a 2-D array (n, d). Use X.reshape(1, -1) for a single vector."
        )
    if arr.ndim != 2:
        raise DimensionError(f"{name} has {arr.ndim} dimensions with shape {arr.shape}; expected a 2-D array (n, d)")
    n, d = arr.shape
    if d == 0:
        raise ValidationError(f"{name} has 0 features; expected at least 1")
    if n == 0 and not allow_empty:
        raise ValidationError(f"{name} is empty (0 rows); expected at least 1 vector of {n_features or d} features")
    if n_features is not None and d != n_features:
        raise DimensionError(f"{name} has {d} features, but {what} expects {n_features}")
    out = to_float32(arr) if dtype is np.float32 else np.ascontiguousarray(arr, dtype=dtype)
    if copy and out is arr:
        out = out.copy()
    if n:
        finite = np.isfinite(out)
        if not finite.all():
            bad = np.flatnonzero(~finite.all(axis=1))
            raise ValidationError(f"{name} contains NaN or infinity in {len(bad)} row(s): {_row_list(bad)}")
    return out


def as_float_rows(X: Any, *, name: str = "X") -> np.ndarray:
    """``X`` as a 2-D float ndarray (n, d), left unconverted when it already is one.

    For inputs too large to convert at once: a memmap stays a memmap in its stored
    dtype (callers check NaN/inf block by block). Anything else (lists, integer arrays,
    1-D or empty arrays) goes through :func:`check_embeddings`, which refuses bad input
    with its usual message before converting anything.
    """
    if not isinstance(X, np.ndarray):
        return check_embeddings(X, name=name)
    if X.dtype.kind != "f" or X.ndim != 2 or 0 in X.shape:
        return check_embeddings(X, name=name)  # refused by the gate before any conversion
    return X


def iter_blocks(X: np.ndarray, *, name: str = "X", rows: int | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(start, raw, block)`` over consecutive row blocks of ``X``: the array gate without loading everything.

    :func:`check_embeddings` converts its input to one float32 array: right for a sample, wrong for a
    10,000,000 x 768 float16 memmap. Whole arrays (from :func:`as_float_rows`) go through the gate here,
    block by block. ``raw`` is the block in the stored dtype (C-contiguous), ``block`` the same rows as
    float32 after :func:`check_embeddings`. A NaN or infinity stops the scan with the global row numbers of
    the offending rows in that block.

    Examples
    --------
    >>> [(start, block.shape) for start, _, block in iter_blocks(np.zeros((5, 2), np.float16), rows=2)]
    [(0, (2, 2)), (2, (2, 2)), (4, (1, 2))]
    """
    n, d = X.shape
    step = rows or block_rows(d)
    for start in range(0, n, step):
        raw = np.ascontiguousarray(X[start : start + step])
        try:
            block = check_embeddings(to_float32(raw), name=name)
        except ValidationError:
            bad = np.flatnonzero(~np.isfinite(raw).all(axis=1)) + start
            raise ValidationError(
                f"{name} contains NaN or infinity in row(s) {_row_list(bad)} "
                f"(first bad block: rows {start}-{start + len(raw) - 1}); drop or repair those rows"
            ) from None
        yield start, raw, block


def integral_number(value: Any) -> Any:
    """A JSON number that is an integer, as an ``int``: ``7.0`` becomes ``7``; anything else is returned unchanged.

    JSON has one number type, so ``7.0`` and ``7`` are the same value; this is the one rule
    for reading integers (ids, ``k``, ``rerank``, ...) from JSON. Only a ``float`` with an
    integral value inside the 64-bit range converts: ``7.5``, ``1e19``, ``"7"``, ``True``
    and ``nan`` stay as they are, for the caller's check to accept or refuse by name.

    Examples
    --------
    >>> integral_number(7.0), integral_number(7.5), integral_number(1e19), integral_number("7"), integral_number(True)
    (7, 7.5, 1e+19, '7', True)
    """
    if type(value) is float and value.is_integer() and -(2**63) <= value < 2**63:
        return int(value)
    return value


def check_positive_int(value: Any, name: str, *, owner: str = "", minimum: int = 1) -> int:
    """Return ``value`` as an int ≥ ``minimum`` or raise a :class:`ParameterError`."""
    where = f" of {owner}" if owner else ""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"The '{name}' parameter{where} must be an integer >= {minimum}. Got {value!r}.")
    if value < minimum:
        raise ParameterError(f"The '{name}' parameter{where} must be an integer >= {minimum}. Got {value}.")
    return int(value)


def check_k(k: Any) -> int:
    """Validate a number of neighbours."""
    return check_positive_int(k, "k")


def check_choice(value: Any, choices: tuple[str, ...] | list[str], name: str, *, owner: str = "") -> str:
    """Return ``value`` if it is one of ``choices``; otherwise list the valid ones."""
    if value not in choices:
        where = f" of {owner}" if owner else ""
        valid = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"The '{name}' parameter{where} must be one of {valid}. Got {value!r}.")
    return value


def check_metric(metric: Any, *, owner: str = "") -> str:
    """``metric`` if it is one of :data:`lowdim.arrays.METRICS` (cosine, ip, l2); otherwise list them.

    >>> check_metric("l2")
    'l2'
    """
    return check_choice(metric, METRICS, "metric", owner=owner)
