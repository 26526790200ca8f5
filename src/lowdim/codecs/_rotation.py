"""Learned rotations: ``opq<m>`` (FAISS's OPQ) and ``itq`` (iterative quantization)."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from ..arrays import sample_rows
from ..exceptions import ParameterError
from ..validation import check_embeddings, check_positive_int
from ._base import MIN_TRAIN_ROWS, PQ_POINTS_PER_CENTROID, Args, FaissEquivalent, Transform, m_divides, quiet_native_stderr

__all__ = ["Rotation", "OPQ", "ITQ"]


class Rotation(Transform):
    """An orthogonal d×d map ``x @ rotation_``; the inverse is its transpose."""

    _state = ("rotation_",)
    rotation_: np.ndarray

    def transform(self, X: Any) -> np.ndarray:
        return self._check_input(X) @ self.rotation_

    def inverse_transform(self, Y: Any) -> np.ndarray:
        self._check_fitted()
        Y = check_embeddings(Y, n_features=self.n_features_out_, name="Y")
        return Y @ self.rotation_.T


class OPQ(Rotation):
    """``opq<m>``: the rotation that makes a following ``pq<m>`` lose least (Ge et al., 2013).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(2000, 16)).astype(np.float32)
    >>> R = OPQ(4).fit(X).rotation_
    >>> bool(np.allclose(R @ R.T, np.eye(16), atol=1e-4))
    True
    """

    keyword = "opq"
    args_pattern = r"(\d+)"
    synopsis = "opq<m>"
    examples = ("opq8",)
    _params = ("m", "n_iter", "max_train", "random_state")

    def __init__(self, m: int, *, n_iter: int = 20, max_train: int = 32_768, random_state: int = 0) -> None:
        self.m = m
        self.n_iter = n_iter
        self.max_train = max_train
        self.random_state = random_state

    @classmethod
    def check_width(cls, args: Args, d: int, whole: str | None = None) -> None:
        m_divides(cls.keyword, args[0], d, whole)

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return PQ_POINTS_PER_CENTROID * 256  # the rotation is fitted with an 8-bit PQ

    @classmethod
    def min_train_reason(cls, args: Args, d: int) -> str:
        return f"OPQ fits an 8-bit PQ: {PQ_POINTS_PER_CENTROID} vectors per centroid"

    @classmethod
    def min_fit_rows(cls, args: Args, d: int) -> int:
        return 256  # its 8-bit PQ: one training vector per centroid at least

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> OPQ:
        return cls(args[0], random_state=random_state)

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        return FaissEquivalent(f"OPQ{args[0]}")  # this is FAISS's OPQMatrix

    def spec_args(self) -> Args:
        return (self.m,)

    def fit(self, X: Any) -> OPQ:
        check_positive_int(self.m, "m", owner="opq")
        X = check_embeddings(X)
        self._check_fit_width(X.shape[1])
        X = sample_rows(X, self.max_train, self.random_state)
        if len(X) < 256:
            raise ParameterError(f"opq needs at least 256 training vectors; got {len(X)}")
        opq = faiss.OPQMatrix(X.shape[1], self.m)
        opq.verbose = False
        opq.niter = int(self.n_iter)
        # FAISS seeds its internal k-means and initial rotation deterministically
        with quiet_native_stderr():
            opq.train(np.ascontiguousarray(X))
        A = faiss.vector_to_array(opq.A).reshape(X.shape[1], X.shape[1])  # y = A x
        self.rotation_ = np.ascontiguousarray(A.T, dtype=np.float32)
        self.n_features_in_ = self.n_features_out_ = X.shape[1]
        return self


class ITQ(Rotation):
    """``itq``: the rotation minimising the sign-quantization loss (Gong & Lazebnik, 2011).

    Alternates B = sign(V R) and the orthogonal Procrustes update R = U Wᵀ from
    the SVD of Vᵀ B, on centred training data V, starting from a seeded random rotation.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    >>> ITQ(n_iter=5).fit(X).rotation_.shape
    (8, 8)
    """

    keyword = "itq"
    synopsis = "itq"
    examples = ("itq",)
    _params = ("n_iter", "max_train", "random_state")

    def __init__(self, *, n_iter: int = 50, max_train: int = 20_000, random_state: int = 0) -> None:
        self.n_iter = n_iter
        self.max_train = max_train
        self.random_state = random_state

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return max(MIN_TRAIN_ROWS, d)

    @classmethod
    def min_train_reason(cls, args: Args, d: int) -> str:
        return f"ITQ needs at least {cls.min_train_rows(args, d):,} vectors"

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> ITQ:
        return cls(random_state=random_state)

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        # FAISS's ITQTransform adds its own centring and normalisations: a relative of this map, not the same one
        return FaissEquivalent("ITQ", exact=False)

    def fit(self, X: Any) -> ITQ:
        check_positive_int(self.n_iter, "n_iter", owner="itq")
        X = check_embeddings(X)
        V = sample_rows(X, self.max_train, self.random_state)
        V = np.ascontiguousarray(V - V.mean(0), dtype=np.float32)
        d = V.shape[1]
        rng = np.random.default_rng(self.random_state)
        R = np.linalg.qr(rng.standard_normal((d, d)))[0].astype(np.float32)
        # many small products: one BLAS thread is as fast, and immune to spin-wait stalls on busy machines
        with threadpool_limits(1, user_api="blas"):
            for _ in range(self.n_iter):
                B = np.where(V @ R > 0, np.float32(1), np.float32(-1))
                U, _, Wt = np.linalg.svd((V.T @ B).astype(np.float64))
                R = (U @ Wt).astype(np.float32)
        self.rotation_ = R.astype(np.float32)
        self.n_features_in_ = self.n_features_out_ = d
        return self
