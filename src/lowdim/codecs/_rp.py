"""``rp<d>``: very sparse random projection (Li, Hastie & Church, 2006)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..validation import check_embeddings, check_positive_int
from ._base import Args, FaissEquivalent, Transform

__all__ = ["SparseRandomProjection"]


class SparseRandomProjection(Transform):
    """Project with a random matrix whose entries are ±sqrt(s/k) with probability 1/(2s), else 0.

    ``s = sqrt(d)`` (scikit-learn's ``density="auto"``), which keeps distances in
    expectation (Johnson–Lindenstrauss) at a fraction of a dense projection's cost.
    Needs no training data beyond the width.

    Attributes
    ----------
    components_ : scipy.sparse.csr_matrix (n_components, d)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(10, 64)).astype(np.float32)
    >>> SparseRandomProjection(16).fit(X).transform(X).shape
    (10, 16)
    """

    keyword = "rp"
    args_pattern = r"(\d+)"
    synopsis = "rp<d>"
    examples = ("rp16",)
    map_kind = "projection"
    _params = ("n_components", "random_state")

    def __init__(self, n_components: int, *, random_state: int = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    @classmethod
    def output_dim_for(cls, args: Args, d: int) -> int:
        return args[0]

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return 1  # nothing is learned: the projection depends on the width only

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> SparseRandomProjection:
        return cls(args[0], random_state=random_state)

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        note = f"RR{args[0]} is a dense random rotation, in place of lowdim's sparse random projection rp{args[0]}"
        return FaissEquivalent(f"RR{args[0]}", exact=False, notes=(note,))

    def spec_args(self) -> Args:
        return (self.n_components,)

    def fit(self, X: Any) -> SparseRandomProjection:
        from sklearn.random_projection import SparseRandomProjection as _SkRP

        check_positive_int(self.n_components, "n_components", owner="rp")
        X = check_embeddings(X)
        sk = _SkRP(n_components=self.n_components, density="auto", random_state=self.random_state)
        sk.fit(X[:1])
        self.components_ = sp.csr_matrix(sk.components_, dtype=np.float32)
        self.n_features_in_ = X.shape[1]
        self.n_features_out_ = self.n_components
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = self._check_input(X)
        return np.ascontiguousarray((self.components_ @ X.T).T, dtype=np.float32)

    def inverse_transform(self, Y: Any) -> np.ndarray:
        # the scaled transpose is the least-squares inverse in expectation (E[RᵀR] = I)
        self._check_fitted()
        Y = check_embeddings(Y, n_features=self.n_features_out_, name="Y")
        return np.ascontiguousarray((self.components_.T @ Y.T).T, dtype=np.float32)

    def get_state(self) -> dict[str, np.ndarray]:
        state = super().get_state()
        c = self.components_.tocsr()
        state.update(rp_data=c.data, rp_indices=c.indices, rp_indptr=c.indptr)
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        super().set_state(state)
        shape = (int(state["n_features_out_"]), int(state["n_features_in_"]))
        self.components_ = sp.csr_matrix((state["rp_data"], state["rp_indices"], state["rp_indptr"]), shape=shape)
