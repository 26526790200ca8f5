"""Exact (non-private) ``Σ_x f(x, y)``: the reference a summary's error is measured against.

Use it on public or synthetic data, or inside the trusted boundary; its output is *not*
differentially private.

Examples
--------
>>> import numpy as np
>>> X = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
>>> exact_sums("l1", X, np.array([[1.0, 0.0]], np.float32)).tolist()
[2.0]
>>> exact_sums("gaussian", X, X[:1], bandwidth=1.0).round(4).tolist()
[1.3679]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from ..arrays import iter_slices
from ..exceptions import ParameterError
from ..validation import check_choice, check_embeddings, check_positive_int
from ._embed import FUNCTIONS, KERNELS, kernel_of_distance
from ._lp import check_p

__all__ = ["exact_sums"]


def _distances(kind: str, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    if kind == "l1":
        return cdist(Y, X, "cityblock")
    sq = np.maximum((Y * Y).sum(1)[:, None] + (X * X).sum(1)[None, :] - 2.0 * (Y @ X.T), 0.0)
    return sq if kind == "sq" else np.sqrt(sq)


def exact_sums(
    f: str, X: Any, Y: Any, *, bandwidth: float | None = None, p: float | None = None, block: int = 16384
) -> np.ndarray:
    """``Σ_{x in X} f(x, y)`` for each row of ``Y``: float64 of shape (m,), computed in blocks of ``X``.

    ``f`` is one of :data:`lowdim.private.FUNCTIONS`; kernels need ``bandwidth``, ``"lp"`` needs ``p``. Rows are not
    clipped here (a summary clips; compare on data within its bound).
    """
    check_choice(f, FUNCTIONS, "f", owner="exact_sums")
    if f in KERNELS and (bandwidth is None or not bandwidth > 0):
        raise ParameterError(
            f"The 'bandwidth' parameter of exact_sums must be a number > 0 for the {f} kernel. Got {bandwidth!r}."
        )
    if f == "lp":
        p = check_p(p, "exact_sums")
    X = check_embeddings(X, name="X").astype(np.float64)
    Y = check_embeddings(Y, n_features=X.shape[1], name="Y", what="X").astype(np.float64)
    block = check_positive_int(block, "block", owner="exact_sums")
    out = np.zeros(len(Y))
    for sl in iter_slices(len(X), block):
        Xb = X[sl]
        if f == "linear":
            out += Y @ Xb.sum(0)
        elif f == "l1":
            out += _distances("l1", Xb, Y).sum(1)
        elif f == "lp":
            out += (cdist(Y, Xb, "minkowski", p=p) ** p).sum(1)  # (Σ|x_i - y_i|^p)^(1/p), raised back
        elif f == "l2":
            out += _distances("l2", Xb, Y).sum(1)
        elif f == "sqeuclidean":
            out += _distances("sq", Xb, Y).sum(1)
        else:
            dist = _distances("l1" if f == "laplacian" else "l2", Xb, Y)
            out += kernel_of_distance(f, dist, float(bandwidth)).sum(1)  # type: ignore[arg-type]
    return out
