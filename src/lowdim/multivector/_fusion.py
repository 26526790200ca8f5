"""Fusing first-stage scores: per query, each score list standardised over the documents, then a weighted sum.

A FDE's inner product and a pooled vector's cosine live on different scales (the FDE's grows
with the query's token count and the repetitions); z-scoring each per query puts them on one,
so a single weight says how much the pooled vector counts. On wordnet-minilm/tokens a 640-byte
FDE code plus a 384-byte pooled int8 code, fused, needs fewer candidates than either alone
(benchmarks/bench_muvera.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import DimensionError, ParameterError

__all__ = ["fuse_scores"]


def fuse_scores(scores: Sequence[Any], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted sum of per-query z-scored score matrices.

    Parameters
    ----------
    scores : sequence of (nq, n) float arrays
        Each first stage's scores of the same n documents (higher is better); ``-inf`` marks
        a document a stage did not score (it gets that stage's minimum).
    weights : sequence of float, optional
        One per score matrix (default all 1).

    Returns
    -------
    ndarray (nq, n) float32
        ``sum_j weights[j] * (scores[j] - mean) / std``, mean and std taken per query row.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[10.0, 20.0, 30.0]]); b = np.array([[0.3, 0.2, 0.1]])
    >>> fuse_scores([a, b], [1.0, 2.0]).argmax(axis=1).tolist()
    [0]
    """
    if len(scores) == 0:
        raise ParameterError("fuse_scores needs at least one score matrix")
    w = [1.0] * len(scores) if weights is None else [float(x) for x in weights]
    if len(w) != len(scores):
        raise ParameterError(f"fuse_scores got {len(scores)} score matrices but {len(w)} weights")
    mats = [np.asarray(s, dtype=np.float32) for s in scores]
    shape = mats[0].shape
    for i, m in enumerate(mats):
        if m.ndim != 2 or m.shape != shape:
            raise DimensionError(
                f"score matrix {i} has shape {m.shape}; expected {shape} like the first, (n_queries, n_documents)"
            )
    out = np.zeros(shape, np.float32)
    for m, wi in zip(mats, w):
        finite = np.isfinite(m)
        low = np.where(finite, m, np.inf).min(axis=1, keepdims=True)
        m = np.where(finite, m, np.where(np.isfinite(low), low, 0.0))
        std = m.std(axis=1, keepdims=True)
        out += wi * (m - m.mean(axis=1, keepdims=True)) / np.maximum(std, 1e-12)
    return out
