"""``mrl<d>``: Matryoshka truncation to the first ``d`` dimensions, renormalised."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import normalize_rows
from ..validation import check_embeddings, check_positive_int
from ._base import Args, FaissEquivalent, Reduction

__all__ = ["Matryoshka"]


class Matryoshka(Reduction):
    """Keep the first ``n_components`` dimensions (for models trained with Matryoshka loss).

    With ``normalize=True`` (the default, set to False by pipelines under the L2
    metric) the truncated vector is rescaled to unit length, which is how Matryoshka
    embeddings are meant to be compared.

    Examples
    --------
    >>> import numpy as np
    >>> Y = Matryoshka(2).fit(np.ones((3, 4), np.float32)).transform(np.ones((1, 4), np.float32))
    >>> np.round(Y, 3)
    array([[0.707, 0.707]], dtype=float32)
    """

    keyword = "mrl"
    args_pattern = r"(\d+)"
    synopsis = "mrl<d>"
    examples = ("mrl16",)
    map_kind = "truncation"
    _params = ("n_components", "normalize")

    def __init__(self, n_components: int, *, normalize: bool = True) -> None:
        self.n_components = n_components
        self.normalize = normalize

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return 1  # nothing is learned

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> Matryoshka:
        # unit-length prefixes are how Matryoshka embeddings compare by angle; L2 keeps the raw prefix
        return cls(args[0], normalize=metric != "l2")

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        note = (
            f"FAISS has no Matryoshka truncation: keep the first {args[0]} dims of every vector "
            "(and L2-normalise them) before train, add and search"
        )
        return FaissEquivalent("", exact=False, notes=(note,))

    def spec_args(self) -> Args:
        return (self.n_components,)

    def fit(self, X: Any) -> Matryoshka:
        check_positive_int(self.n_components, "n_components", owner="mrl")
        X = check_embeddings(X)
        self._check_fit_width(X.shape[1])
        self.n_features_in_ = X.shape[1]
        self.n_features_out_ = self.n_components
        return self

    def transform(self, X: Any) -> np.ndarray:
        Y = np.ascontiguousarray(self._check_input(X)[:, : self.n_components])
        return normalize_rows(Y) if self.normalize else Y

    def inverse_transform(self, Y: Any) -> np.ndarray:
        self._check_fitted()
        Y = check_embeddings(Y, n_features=self.n_features_out_, name="Y")
        out = np.zeros((len(Y), self.n_features_in_), np.float32)
        out[:, : self.n_components] = Y
        return out
