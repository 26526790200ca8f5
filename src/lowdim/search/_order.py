"""Pointwise local intrinsic dimension (LID) and the insertion orders of a graph built from it.

Elliott and Clark (2024, "The Impacts of Data, Ordering, and Intrinsic Dimensionality on
Recall in Hierarchical Navigable Small Worlds") found that the order in which vectors enter
an HNSW graph moves its recall by up to 12 points, and that inserting them by descending
pointwise LID (the hardest, locally highest-dimensional regions first) helps.
``benchmarks/bench_code_graph.py`` measures both directions against a random order.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from ..arrays import iter_slices, sample_indices
from ..exceptions import ParameterError
from ..validation import check_choice, check_embeddings, check_positive_int

__all__ = ["ORDERS", "local_intrinsic_dimension", "insertion_order"]

#: the insertion orders :func:`insertion_order` knows; "lid" is descending LID
ORDERS = ("given", "random", "lid", "lid-ascending")


def local_intrinsic_dimension(X: Any, *, k: int = 20, sample: int = 10_000, random_state: int = 0) -> np.ndarray:
    """Levina-Bickel MLE of the local intrinsic dimension of every row of ``X``.

    Per row, ``lid = (k-1) / sum_{j<k} log(T_k / T_j)`` over its ``k`` nearest Euclidean
    neighbours ``T_1 <= ... <= T_k`` (exact, FAISS ``IndexFlatL2``) among a seeded sample of
    at most ``sample`` rows (all rows when fewer); a row's own copy in the sample is skipped.
    Cost O(n * sample * d), in blocks of rows. Exact duplicates give a very small LID; a row
    whose neighbours are all equidistant gives ``inf``.

    Parameters
    ----------
    X : array-like of shape (n, d)
        float rows (prepare them first: normalised for cosine), n >= 3.
    k : int
        Neighbours per row, >= 2 (capped at the sample size - 1).
    sample : int
        Reference rows the neighbours are drawn from.
    random_state : int
        Seed of the sample.

    Returns
    -------
    ndarray of shape (n,), float32

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(500, 2)) @ rng.normal(size=(2, 16)),
    ...                rng.normal(size=(500, 12)) @ rng.normal(size=(12, 16))]).astype(np.float32)
    >>> lid = local_intrinsic_dimension(X, k=20)
    >>> bool(np.median(lid[:500]) < 4 < 8 < np.median(lid[500:]))
    True
    """
    k = check_positive_int(k, "k", owner="local_intrinsic_dimension", minimum=2)
    sample = check_positive_int(sample, "sample", owner="local_intrinsic_dimension", minimum=3)
    X = check_embeddings(X, name="X")
    n, d = X.shape
    if n < 3:
        raise ParameterError(f"local_intrinsic_dimension needs at least 3 rows; got {n}")
    ref = X[sample_indices(n, sample, random_state)]
    kk = min(k, len(ref) - 1)
    index = faiss.IndexFlatL2(d)
    index.add(ref)
    out = np.empty(n, np.float32)
    cols = np.arange(kk)
    for block in iter_slices(n, 4096):
        D, _ = index.search(np.ascontiguousarray(X[block]), kk + 1)
        D = np.sqrt(np.maximum(D, 0.0, dtype=np.float64))
        # skip a zero first distance: the row itself when it is in the reference sample
        start = (D[:, 0] <= 0).astype(np.int64)
        T = np.maximum(np.take_along_axis(D, start[:, None] + cols[None, :], axis=1), 1e-12)
        logs = np.log(T)
        s = (logs[:, -1:] - logs[:, :-1]).sum(axis=1)
        with np.errstate(divide="ignore"):
            out[block] = np.where(s > 0, (kk - 1) / np.where(s > 0, s, 1.0), np.inf)
    return out


def insertion_order(X: Any, order: str = "lid", *, k: int = 20, sample: int = 10_000, random_state: int = 0) -> np.ndarray:
    """The permutation of the rows of ``X`` in which a graph inserts them.

    Parameters
    ----------
    X : array-like of shape (n, d)
        float rows, as the graph compares them (for "given" and "random" only ``len(X)`` is used).
    order : {"given", "random", "lid", "lid-ascending"}
        Row order; a seeded shuffle; descending local intrinsic dimension
        (:func:`local_intrinsic_dimension`, ties kept in row order); ascending LID.
    k, sample, random_state
        Passed to :func:`local_intrinsic_dimension`; ``random_state`` also seeds "random".

    Returns
    -------
    ndarray of shape (n,), int64: a permutation of ``range(n)``; the same inputs give the same one.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    >>> p = insertion_order(X, "lid")
    >>> sorted(p.tolist()) == list(range(300)), bool((p == insertion_order(X, "lid")).all())
    (True, True)
    """
    order = check_choice(order, ORDERS, "order", owner="insertion_order")
    n = len(X)
    if order == "given" or n < 3:
        return np.arange(n, dtype=np.int64)
    if order == "random":
        return np.random.default_rng(random_state).permutation(n).astype(np.int64)
    lid = local_intrinsic_dimension(X, k=k, sample=sample, random_state=random_state)
    key = -lid if order == "lid" else lid
    return np.argsort(key, kind="stable").astype(np.int64)
