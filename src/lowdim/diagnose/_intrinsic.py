"""Intrinsic dimension from nearest-neighbour distances: :func:`twonn` and :func:`mle_levina_bickel`.

Both estimators see only the ratios of neighbour distances, so they are invariant
to scale and need no bandwidth. Both are computed on distinct rows (a duplicate
gives a zero distance and an infinite ratio).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import ParameterError, ValidationError
from ..validation import check_embeddings, check_positive_int
from ._neighbours import distinct_rows, self_knn

__all__ = ["twonn", "mle_levina_bickel"]


def twonn_from_distances(r1: np.ndarray, r2: np.ndarray, *, discard_fraction: float = 0.1) -> float:
    """TwoNN estimate from first and second neighbour distances, each of shape (m,).

    Facco et al. (2017): mu = r2 / r1 is Pareto(d) distributed, so
    -log(1 - F(mu)) = d log(mu). Sort mu, drop the largest ``discard_fraction``
    (the tail, which is dominated by noise and density changes), and fit that line
    through the origin by least squares. NaN when fewer than 2 usable points remain.
    """
    ok = (r1 > 0) & np.isfinite(r2)
    mu = np.sort(r2[ok] / r1[ok])
    n = len(mu)
    keep = int(n * (1.0 - discard_fraction))
    if keep < 2:
        return float("nan")
    x = np.log(mu[:keep])
    y = -np.log1p(-np.arange(keep) / n)  # empirical F = i / n, i = 0 .. keep - 1
    sxx = float(x @ x)
    return float(x @ y) / sxx if sxx > 0 else float("inf")


def mle_from_distances(dist: np.ndarray) -> float:
    """Levina-Bickel MLE from the k nearest-neighbour distances, shape (m, k), ascending.

    Per point, 1/m_k(x) = 1/(k-1) * sum_{j<k} log(T_k(x) / T_j(x)); following
    MacKay and Ghahramani (2005) the inverses are averaged over points and the
    result inverted, which is less biased than averaging the m_k(x) themselves.
    NaN when k < 2 or no row has positive distances.
    """
    k = dist.shape[1]
    if k < 2:
        return float("nan")
    ok = dist[:, 0] > 0
    if not ok.any():
        return float("nan")
    logs = np.log(dist[ok])
    inv = (logs[:, -1:] - logs[:, :-1]).sum(axis=1) / (k - 1)
    mean_inv = float(inv.mean())
    return 1.0 / mean_inv if mean_inv > 0 else float("inf")


def _distinct_float32(X: Any) -> np.ndarray:
    S = distinct_rows(check_embeddings(X))
    if S.shape[0] < 3:
        raise ValidationError(f"X has {S.shape[0]} distinct row(s); intrinsic dimension needs at least 3")
    return S


def twonn(X: Any, *, discard_fraction: float = 0.1) -> float:
    """Intrinsic dimension by TwoNN (Facco, d'Errico, Rodriguez and Laio, 2017).

    Uses each point's two nearest neighbours (exact, Euclidean, via faiss) among the
    distinct rows of ``X``. The neighbour search is exact and costs O(n^2 d): pass a
    sample (a few 10,000 rows) of a large collection; :func:`diagnose` does so.

    Parameters
    ----------
    X : array-like of shape (n, d)
        float rows, at least 3 distinct.
    discard_fraction : float
        Share of the largest ratios r2/r1 left out of the fit, in [0, 1).

    Returns
    -------
    float
        The estimated dimension (not rounded).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2000, 4)) @ rng.standard_normal((4, 32))
    >>> round(twonn(X))
    4
    """
    if not 0.0 <= discard_fraction < 1.0:
        raise ParameterError(f"The 'discard_fraction' parameter of twonn must be in [0, 1). Got {discard_fraction!r}.")
    S = _distinct_float32(X)
    dist, _ = self_knn(S, 2)
    return twonn_from_distances(dist[:, 0], dist[:, 1], discard_fraction=discard_fraction)


def mle_levina_bickel(X: Any, *, k: int = 20) -> float:
    """Intrinsic dimension by the Levina-Bickel MLE with MacKay-Ghahramani averaging.

    Uses each point's ``k`` nearest neighbours (exact, Euclidean, via faiss) among
    the distinct rows of ``X``; O(n^2 d), so pass a sample of a large collection.
    With few rows ``k`` is capped at (distinct rows - 1).

    Parameters
    ----------
    X : array-like of shape (n, d)
        float rows, at least 3 distinct.
    k : int
        Neighbours per point, >= 2. Small ``k`` is noisy; large ``k`` reaches
        beyond the locally flat scale and underestimates.

    Returns
    -------
    float
        The estimated dimension (not rounded).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2000, 4)) @ rng.standard_normal((4, 32))
    >>> round(mle_levina_bickel(X, k=20))
    4
    """
    k = check_positive_int(k, "k", owner="mle_levina_bickel", minimum=2)
    S = _distinct_float32(X)
    dist, _ = self_knn(S, min(k, S.shape[0] - 1))
    return mle_from_distances(dist)
