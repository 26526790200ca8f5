"""Scalar quantizers ``int8`` and ``int4`` with per-dimension ranges learned in ``fit``.

Each dimension j gets a range [vmin_j, vmin_j + vdiff_j] chosen on the training data
to minimise the reconstruction error (a grid over symmetric quantile clips, min/max
included); values outside it saturate. Encoding, decoding and the scan use FAISS's
``ScalarQuantizer`` with exactly these ranges, so codes are bit-identical to what the
FAISS kernel expects and a reloaded codec encodes exactly as before.
"""

from __future__ import annotations

from typing import Any, ClassVar

import faiss
import numpy as np

from ..arrays import sample_rows
from ..search import FaissCodesScanner, faiss_metric
from ..validation import check_embeddings, check_positive_int
from ._base import Args, FaissEquivalent, Quantizer

__all__ = ["ScalarQuantizer", "Int8", "Int4"]

#: candidate clip levels: the share of training values cut off at each end
_CLIPS = (0.0, 1e-4, 5e-4, 1e-3, 3e-3, 1e-2, 3e-2)
_QTYPES = {8: faiss.ScalarQuantizer.QT_8bit, 4: faiss.ScalarQuantizer.QT_4bit}


class ScalarQuantizer(Quantizer):
    """Uniform per-dimension scalar quantization to ``bits`` ∈ {8, 4} bits.

    Parameters
    ----------
    bits : {8, 4}
    max_train : int
        At most this many training rows are used to calibrate the ranges.
    random_state : int
        Seed for the training subsample.

    Attributes
    ----------
    vmin_ : ndarray (d,) float32
    vdiff_ : ndarray (d,) float32, strictly positive (a constant dimension gets a tiny range)
    """

    keyword = ""
    family = "scalar"
    #: bits per dimension of the registered subclasses (``int8``, ``int4``)
    BITS: ClassVar[int] = 8
    _state = ("vmin_", "vdiff_")
    _params: ClassVar[tuple[str, ...]] = ("bits", "max_train", "random_state")

    def __init__(self, bits: int = 8, *, max_train: int = 50_000, random_state: int = 0) -> None:
        self.bits = bits
        self.max_train = max_train
        self.random_state = random_state

    @classmethod
    def code_size_for(cls, args: Args, d: int) -> int:
        return (d * cls.BITS + 7) // 8

    @classmethod
    def bits_per_dim(cls, args: Args) -> float:
        return cls.BITS

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> ScalarQuantizer:
        return cls(random_state=random_state)

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        return FaissEquivalent(f"SQ{cls.BITS}")  # the same ranges, codes and kernel (see the module docstring)

    def to_spec(self) -> str:
        return f"int{self.bits}"

    @property
    def code_size(self) -> int:
        # an instance knows its own bits (ScalarQuantizer(4) is unregistered but valid)
        self._check_fitted()
        return (self.n_features_in_ * self.bits + 7) // 8

    def _levels(self) -> int:
        return (1 << self.bits) - 1

    def _roundtrip(self, X: np.ndarray, vmin: np.ndarray, vdiff: np.ndarray) -> np.ndarray:
        # FAISS's formula: code = floor(levels * clip((x - vmin) / vdiff, 0, 1)); x' = vmin + (code + .5) / levels * vdiff
        levels = self._levels()
        t = np.clip((X - vmin) / vdiff, 0.0, 1.0)
        code = np.minimum(np.floor(levels * t), levels)
        return vmin + (code + 0.5) / levels * vdiff

    def fit(self, X: Any) -> ScalarQuantizer:
        if self.bits not in _QTYPES:
            from ..exceptions import ParameterError

            raise ParameterError(f"The 'bits' parameter of ScalarQuantizer must be 8 or 4. Got {self.bits!r}.")
        check_positive_int(self.max_train, "max_train", owner="ScalarQuantizer")
        X = check_embeddings(X)
        X = sample_rows(X, self.max_train, self.random_state)
        best_err = np.full(X.shape[1], np.inf)
        vmin = np.zeros(X.shape[1], np.float32)
        vdiff = np.ones(X.shape[1], np.float32)
        ordered = np.sort(X, axis=0)  # one sort serves every clip level
        n = len(X)
        for clip in _CLIPS:
            cut = int(clip * (n - 1))
            lo, hi = ordered[cut], ordered[n - 1 - cut]
            diff = np.maximum(hi - lo, 1e-12)
            err = ((self._roundtrip(X, lo, diff) - X) ** 2).mean(0)
            better = err < best_err
            best_err[better] = err[better]
            vmin[better] = lo[better]
            vdiff[better] = diff[better]
        self.vmin_ = vmin.astype(np.float32)
        self.vdiff_ = np.maximum(vdiff, np.float32(1e-12)).astype(np.float32)
        self.n_features_in_ = X.shape[1]
        self._after_load()
        return self

    def _make_index(self, metric: str) -> faiss.IndexScalarQuantizer:
        index = faiss.IndexScalarQuantizer(self.n_features_in_, _QTYPES[self.bits], faiss_metric(metric))
        faiss.copy_array_to_vector(np.concatenate([self.vmin_, self.vdiff_]).astype(np.float32), index.sq.trained)
        index.is_trained = True
        return index

    def _after_load(self) -> None:
        self._codec_index = self._make_index("l2")

    def encode(self, X: Any) -> np.ndarray:
        X = self._check_input(X)
        return self._codec_index.sa_encode(X)

    def decode(self, codes: Any) -> np.ndarray:
        return self._codec_index.sa_decode(self._check_codes(codes))

    def make_scanner(self, metric: str) -> FaissCodesScanner:
        self._check_fitted()
        return FaissCodesScanner(metric, self.code_size, lambda: self._make_index(metric))


class Int8(ScalarQuantizer):
    """``int8``: 1 byte per dimension.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
    >>> q = Int8().fit(X)
    >>> float(np.abs(q.decode(q.encode(X)) - X).max()) < 0.1
    True
    """

    keyword = "int8"
    synopsis = "int8"
    examples = ("int8",)
    BITS = 8
    _params = ("max_train", "random_state")

    def __init__(self, *, max_train: int = 50_000, random_state: int = 0) -> None:
        super().__init__(8, max_train=max_train, random_state=random_state)


class Int4(ScalarQuantizer):
    """``int4``: half a byte per dimension.

    Examples
    --------
    >>> import numpy as np
    >>> q = Int4().fit(np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32))
    >>> q.code_size
    8
    """

    keyword = "int4"
    synopsis = "int4"
    examples = ("int4",)
    BITS = 4
    _params = ("max_train", "random_state")

    def __init__(self, *, max_train: int = 50_000, random_state: int = 0) -> None:
        super().__init__(4, max_train=max_train, random_state=random_state)
