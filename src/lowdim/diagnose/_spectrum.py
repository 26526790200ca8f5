"""PCA spectrum: :func:`explained_variance_ratio` and :func:`dims_for_variance`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ..validation import check_embeddings

__all__ = ["explained_variance_ratio", "dims_for_variance"]


def explained_variance_ratio(X: Any) -> np.ndarray:
    """Share of the total variance along each principal axis of ``X``, descending.

    Computed from the smaller of the two Gram matrices in float64, so
    (n, d) = (20000, 768) and (500, 4096) are both cheap.

    Parameters
    ----------
    X : array-like of shape (n, d)

    Returns
    -------
    float64 ndarray of shape (d,)
        Non-negative, summing to 1 (all zeros when every row is the same). Axes beyond
        the rank (n - 1 < d) get 0.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((500, 3)) * [3.0, 1.0, 0.0]
    >>> explained_variance_ratio(X).round(1)
    array([0.9, 0.1, 0. ])
    """
    S = check_embeddings(X, dtype=np.float64)
    n, d = S.shape
    S = S - S.mean(axis=0)
    gram = S.T @ S if d <= n else S @ S.T
    ev = np.clip(np.linalg.eigvalsh(gram)[::-1], 0.0, None)
    out = np.zeros(d, dtype=np.float64)
    total = ev.sum()
    if total > 0:
        out[: min(len(ev), d)] = ev[:d] / total
    return out


def dims_for_variance(ratios: np.ndarray, level: float) -> int:
    """Smallest number of leading axes whose ``ratios`` add up to at least ``level``.

    Parameters
    ----------
    ratios : ndarray of shape (d,)
        Output of :func:`explained_variance_ratio`.
    level : float
        In (0, 1], e.g. 0.95.

    Returns
    -------
    int
        In [1, d]; 0 when ``ratios`` are all zero (constant data).

    Examples
    --------
    >>> import numpy as np
    >>> dims_for_variance(np.array([0.6, 0.3, 0.1]), 0.9)
    2
    """
    if not 0.0 < level <= 1.0:
        raise ParameterError(f"The 'level' parameter of dims_for_variance must be in (0, 1]. Got {level!r}.")
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.size == 0 or ratios.sum() <= 0:
        return 0
    cum = np.cumsum(ratios)
    # Rounding leaves the last cumsum a hair under 1; never ask for more than d axes.
    return int(min(np.searchsorted(cum, level * cum[-1] * (1 - 1e-12)) + 1, len(ratios)))
