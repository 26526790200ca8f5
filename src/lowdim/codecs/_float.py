"""Float quantizers: ``f32`` (lossless) and ``f16`` (half precision, saturating)."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from ..search import FaissCodesScanner, faiss_metric
from ._base import Args, FaissEquivalent, Quantizer

__all__ = ["Float32", "Float16"]

_F16_MAX = float(np.finfo(np.float16).max)


class Float32(Quantizer):
    """Store vectors as float32: 4 bytes per dimension; the exact baseline.

    Examples
    --------
    >>> import numpy as np
    >>> q = Float32().fit(np.eye(3, dtype=np.float32))
    >>> q.code_size
    12
    """

    keyword = "f32"
    synopsis = "f32"
    examples = ("f32",)
    family = "float"

    @classmethod
    def code_size_for(cls, args: Args, d: int) -> int:
        return 4 * d

    @classmethod
    def bits_per_dim(cls, args: Args) -> float:
        return 32

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return 1  # nothing is learned

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> Float32:
        return cls()

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        return FaissEquivalent("Flat")

    def fit(self, X: Any) -> Float32:
        from ..validation import check_embeddings

        self.n_features_in_ = check_embeddings(X).shape[1]
        return self

    def encode(self, X: Any) -> np.ndarray:
        return self._check_input(X).view(np.uint8)

    def decode(self, codes: Any) -> np.ndarray:
        return self._check_codes(codes).view(np.float32).copy()

    def make_scanner(self, metric: str) -> FaissCodesScanner:
        d = self.n_features_in_
        make = (lambda: faiss.IndexFlatIP(d)) if metric == "ip" else (lambda: faiss.IndexFlatL2(d))
        return FaissCodesScanner(metric, self.code_size, make)


class Float16(Quantizer):
    """Store vectors as IEEE half floats: 2 bytes per dimension.

    Values beyond ±65504 saturate to the largest half float instead of becoming inf.

    Examples
    --------
    >>> import numpy as np
    >>> q = Float16().fit(np.ones((2, 4), dtype=np.float32))
    >>> q.encode(np.ones((1, 4), dtype=np.float32)).shape
    (1, 8)
    """

    keyword = "f16"
    synopsis = "f16"
    examples = ("f16",)
    family = "float"

    @classmethod
    def code_size_for(cls, args: Args, d: int) -> int:
        return 2 * d

    @classmethod
    def bits_per_dim(cls, args: Args) -> float:
        return 16

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return 1  # nothing is learned

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> Float16:
        return cls()

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        return FaissEquivalent("SQfp16")

    def fit(self, X: Any) -> Float16:
        from ..validation import check_embeddings

        self.n_features_in_ = check_embeddings(X).shape[1]
        return self

    def encode(self, X: Any) -> np.ndarray:
        X = np.clip(self._check_input(X), -_F16_MAX, _F16_MAX)
        return X.astype(np.float16).view(np.uint8)

    def decode(self, codes: Any) -> np.ndarray:
        return self._check_codes(codes).view(np.float16).astype(np.float32)

    def make_scanner(self, metric: str) -> FaissCodesScanner:
        d = self.n_features_in_

        def make() -> faiss.Index:
            index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss_metric(metric))
            index.is_trained = True
            return index

        return FaissCodesScanner(metric, self.code_size, make)
