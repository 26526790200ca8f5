"""``mrl<d>``: Matryoshka truncation to the first ``d`` dimensions, renormalised."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import normalize_rows
from ..exceptions import ParameterError
from ..validation import check_embeddings, check_positive_int
from ._base import Transform

__all__ = ["Matryoshka"]


class Matryoshka(Transform):
    """Keep the first ``n_components`` dimensions (for models trained with Matryoshka loss).

    With ``normalize=True`` (the default, set to False by pipelines under the L2
    metric) the truncated vector is rescaled to unit length, which is how Matryoshka
    embeddings are meant to be compared.

    Examples
    --------
    >>> import numpy as np
    >>> Y = Matryoshka(2).fit(np.ones((3, 4), np.float32)).transform(np.ones((1, 4), np.float32))
    >>> np.round(Y, 3).tolist()
    [[0.707, 0.707]]
    """

    keyword = "mrl"
    _params = ("n_components", "normalize")

    def __init__(self, n_components: int, *, normalize: bool = True) -> None:
        self.n_components = n_components
        self.normalize = normalize

    def to_spec(self) -> str:
        return f"mrl{self.n_components}"

    def output_dim(self, d: int) -> int:
        return self.n_components

    def check_width(self, d: int) -> None:
        if self.n_components > d:
            raise ParameterError(f"The 'n_components' parameter of mrl must be at most n_features={d}. Got {self.n_components}.")

    def fit(self, X: Any) -> Matryoshka:
        check_positive_int(self.n_components, "n_components", owner="mrl")
        X = check_embeddings(X)
        self.check_width(X.shape[1])
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
