"""``pca<d>``: project onto the top principal directions."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import sample_rows
from ..exceptions import ParameterError
from ..validation import check_embeddings, check_positive_int
from ._base import MIN_TRAIN_ROWS, Args, FaissEquivalent, Reduction

__all__ = ["PCA"]


class PCA(Reduction):
    """Principal component projection to ``n_components`` dimensions.

    The directions are fitted on centred data (scikit-learn's PCA; randomized SVD for
    large inputs), but applied as a *linear* map ``x @ components_.T`` without
    subtracting the mean. Centring both sides would preserve L2 distances but not
    inner products (it drops the per-document ``mean · x`` term); the linear map
    preserves both up to the discarded variance, and quantizers after it learn their
    own offsets.

    Attributes
    ----------
    components_ : ndarray (n_components, d) float32, orthonormal rows
    mean_ : ndarray (d,) float32
    explained_variance_ratio_ : ndarray (n_components,) float32

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(300, 32)).astype(np.float32)
    >>> PCA(8).fit(X).transform(X).shape
    (300, 8)
    """

    keyword = "pca"
    args_pattern = r"(\d+)"
    synopsis = "pca<d>"
    examples = ("pca16",)
    map_kind = "projection"
    _state = ("components_", "mean_", "explained_variance_ratio_")
    _params = ("n_components", "max_train", "random_state")

    def __init__(self, n_components: int, *, max_train: int = 100_000, random_state: int = 0) -> None:
        self.n_components = n_components
        self.max_train = max_train
        self.random_state = random_state

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return max(MIN_TRAIN_ROWS, args[0])

    @classmethod
    def min_train_reason(cls, args: Args, d: int) -> str:
        return f"PCA needs at least {cls.min_train_rows(args, d):,} vectors"

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> PCA:
        return cls(args[0], random_state=random_state)

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        return FaissEquivalent(f"PCA{args[0]}")  # the same subspace; FAISS also subtracts the mean

    def spec_args(self) -> Args:
        return (self.n_components,)

    def fit(self, X: Any) -> PCA:
        from sklearn.decomposition import PCA as _SkPCA

        check_positive_int(self.n_components, "n_components", owner="pca")
        X = check_embeddings(X)
        self._check_fit_width(X.shape[1])
        X = sample_rows(X, self.max_train, self.random_state)
        if len(X) < 2:
            raise ParameterError(f"pca needs at least 2 training vectors; got {len(X)}")
        k = min(self.n_components, len(X))
        solver = "randomized" if len(X) * X.shape[1] > 2_000_000 and k < 0.8 * X.shape[1] else "full"
        sk = _SkPCA(n_components=k, svd_solver=solver, random_state=self.random_state).fit(X)
        comps = np.zeros((self.n_components, X.shape[1]), np.float32)
        comps[:k] = sk.components_
        ratio = np.zeros(self.n_components, np.float32)
        ratio[:k] = sk.explained_variance_ratio_
        self.components_ = comps
        self.mean_ = sk.mean_.astype(np.float32)
        self.explained_variance_ratio_ = ratio
        self.n_features_in_ = X.shape[1]
        self.n_features_out_ = self.n_components
        return self

    def transform(self, X: Any) -> np.ndarray:
        return self._check_input(X) @ self.components_.T

    def inverse_transform(self, Y: Any) -> np.ndarray:
        self._check_fitted()
        Y = check_embeddings(Y, n_features=self.n_features_out_, name="Y")
        return Y @ self.components_
