"""Hubness of the k-NN graph: :class:`Hubness` and :func:`hubness`.

In high intrinsic dimension a few points ("hubs") turn up in very many
neighbour lists while many others ("anti-hubs") are in none (Radovanović,
Nanopoulos and Ivanović, 2010). The usual measure is the skewness of the
k-occurrence N_k(x) = number of points that have x among their k nearest
neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import ValidationError
from ..validation import check_embeddings, check_positive_int
from ._neighbours import distinct_rows, self_knn

__all__ = ["Hubness", "hubness"]


@dataclass(frozen=True)
class Hubness:
    """Hubness of a k-NN graph.

    Attributes
    ----------
    k : int
        Neighbours per point used to build the graph.
    skewness : float
        Skewness E[(N_k - k)^3] / std(N_k)^3 of the k-occurrence; about 0 without
        hubs, above 1 is usually called strong hubness. 0 when every N_k is equal.
    antihub_share : float
        Share of points in nobody's k-NN list (N_k = 0), in [0, 1].
    max_occurrence : int
        The largest N_k, i.e. how many lists the biggest hub is in.
    """

    k: int
    skewness: float
    antihub_share: float
    max_occurrence: int


def hubness_from_indices(idx: np.ndarray) -> Hubness:
    """Hubness from a k-NN graph ``idx`` of shape (m, k), int row numbers without self."""
    m, k = idx.shape
    counts = np.bincount(idx.ravel(), minlength=m).astype(np.float64)
    centred = counts - counts.mean()
    std = float(np.sqrt(np.mean(centred**2)))
    skew = float(np.mean(centred**3)) / std**3 if std > 0 else 0.0
    return Hubness(k=int(k), skewness=skew, antihub_share=float(np.mean(counts == 0)), max_occurrence=int(counts.max()))


def hubness(X: Any, *, k: int = 10) -> Hubness:
    """Skewness of the k-occurrence distribution and share of anti-hubs of ``X``.

    The k-NN graph is exact and Euclidean (via faiss) over the distinct rows of ``X``;
    for unit-norm rows that is the cosine graph. O(n^2 d): pass a sample of a large
    collection. With few rows ``k`` is capped at (distinct rows - 1).

    Parameters
    ----------
    X : array-like of shape (n, d)
        float rows, at least 2 distinct.
    k : int
        Neighbours per point.

    Returns
    -------
    Hubness

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((2000, 64))
    >>> h = hubness(X, k=10)
    >>> h.k, h.skewness > 0.5
    (10, True)
    """
    k = check_positive_int(k, "k", owner="hubness")
    S = distinct_rows(check_embeddings(X))
    if S.shape[0] < 2:
        raise ValidationError(f"X has {S.shape[0]} distinct row(s); hubness needs at least 2")
    _, idx = self_knn(S, min(k, S.shape[0] - 1))
    return hubness_from_indices(idx)
