"""Sign codes: ``binary`` (1 bit per dimension), ``hamming`` (same codes, Hamming scan)
and ``rbq<b>`` (residual multi-bit binarization, b bits per dimension).

Vectors are centred on the training mean, then each level keeps the sign of the
residual and a learned per-dimension scale: x ≈ mean + Σ_l scale_l ⊙ sign_l. The
scan scores the float query against that reconstruction (see
:class:`lowdim.search.SignFastScanScanner`), which ranks far better than Hamming
distance between two sign vectors. ``rbq<b>`` repeats the sign step b times on the
residual, in the spirit of Tencent's BEBR residual binarization.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..arrays import sample_rows
from ..exceptions import SpecError
from ..search import DecodeScanner, HammingScanner, SignFastScanScanner
from ..validation import check_embeddings, check_positive_int
from ._base import Args, FaissEquivalent, Quantizer

__all__ = ["ResidualBinary", "Binary", "Hamming"]


def _padded(d: int) -> int:
    return 8 * ((d + 7) // 8)


class ResidualBinary(Quantizer):
    """``rbq<levels>``: ``levels`` sign vectors with learned per-dimension scales.

    Parameters
    ----------
    levels : int ≥ 1
        Bits per dimension; the code is ``levels * ceil(d / 8)`` bytes.
    max_train : int
        Training rows used to learn the mean and the scales.

    Attributes
    ----------
    mean_ : ndarray (d,) float32
    scales_ : ndarray (levels, d) float32

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(1000, 32)).astype(np.float32)
    >>> q = ResidualBinary(2).fit(X)
    >>> q.code_size
    8
    >>> e1 = np.mean((Binary().fit(X).decode(Binary().fit(X).encode(X)) - X) ** 2)
    >>> e2 = np.mean((q.decode(q.encode(X)) - X) ** 2)
    >>> bool(e2 < e1)
    True
    """

    keyword = "rbq"
    args_pattern = r"(\d+)"
    synopsis = "rbq<bits>"
    examples: ClassVar[tuple[str, ...]] = ("rbq2", "rbq1", "rbq3")
    family = "sign"
    #: FAISS users keep 1-bit sign codes in IndexBinaryFlat (see FaissEquivalent.binary_flat)
    _faiss_binary_flat: ClassVar[bool] = False
    _state = ("mean_", "scales_")
    _params: ClassVar[tuple[str, ...]] = ("levels", "max_train", "random_state")

    def __init__(self, levels: int = 2, *, max_train: int = 100_000, random_state: int = 0) -> None:
        self.levels = levels
        self.max_train = max_train
        self.random_state = random_state

    @classmethod
    def check_args(cls, args: Args, where: str) -> None:
        if args and args[0] < 1:
            raise SpecError(f"{where} needs a size >= 1")

    @classmethod
    def bits_per_dim(cls, args: Args) -> int:
        return args[0]

    @classmethod
    def code_size_for(cls, args: Args, d: int) -> int:
        return cls.bits_per_dim(args) * _padded(d) // 8

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> ResidualBinary:
        return cls(args[0], random_state=random_state)

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        bits = cls.bits_per_dim(args)
        piece = "RaBitQ" if bits == 1 else f"RaBitQ{bits}"
        notes: tuple[str, ...] = (
            f"lowdim's {cls.piece(args)} is a centred sign code with learned per-dimension scales, scored against the "
            f"float query; FAISS's nearest is {piece} (centred, randomly rotated, asymmetric estimator, "
            "plus a few bytes of per-vector factors)",
        )
        if cls.binary_query:
            notes += ("for FAISS's symmetric Hamming scan use IndexBinaryFlat over sign codes instead",)
        return FaissEquivalent(piece, exact=False, binary_flat=cls._faiss_binary_flat, notes=notes)

    def spec_args(self) -> Args:
        return (self.levels,)

    def fit(self, X: Any) -> ResidualBinary:
        check_positive_int(self.levels, "levels", owner=type(self).__name__)
        check_positive_int(self.max_train, "max_train", owner=type(self).__name__)
        X = check_embeddings(X)
        X = sample_rows(X, self.max_train, self.random_state)
        self.mean_ = X.mean(0).astype(np.float32)
        R = X - self.mean_
        scales = np.zeros((self.levels, X.shape[1]), np.float32)
        for level in range(self.levels):
            S = np.where(R > 0, 1.0, -1.0).astype(np.float32)
            # least-squares scale for fixed signs: mean(r * s) = mean(|r|)
            scales[level] = np.abs(R).mean(0)
            R -= scales[level] * S
        self.scales_ = scales
        self.n_features_in_ = X.shape[1]
        return self

    def encode(self, X: Any) -> np.ndarray:
        R = self._check_input(X) - self.mean_
        d = self.n_features_in_
        out = np.zeros((len(R), self.code_size), np.uint8)
        width = _padded(d) // 8
        bits = np.zeros((len(R), _padded(d)), bool)
        for level in range(self.levels):
            positive = R > 0
            bits[:, :d] = positive
            out[:, level * width : (level + 1) * width] = np.packbits(bits, axis=1, bitorder="little")
            R -= self.scales_[level] * np.where(positive, 1.0, -1.0).astype(np.float32)
        return out

    def decode(self, codes: Any) -> np.ndarray:
        codes = self._check_codes(codes)
        d = self.n_features_in_
        width = _padded(d) // 8
        out = np.broadcast_to(self.mean_, (len(codes), d)).copy()
        for level in range(self.levels):
            bits = np.unpackbits(codes[:, level * width : (level + 1) * width], axis=1, bitorder="little")[:, :d]
            out += self.scales_[level] * (bits.astype(np.float32) * 2 - 1)
        return out

    def _padded_scales(self) -> np.ndarray:
        scales = np.zeros((self.levels, _padded(self.n_features_in_)), np.float32)
        scales[:, : self.n_features_in_] = self.scales_
        return scales

    def make_scanner(self, metric: str):
        self._check_fitted()
        if metric == "l2" and self.levels > 1:
            # L2 needs |x̂|² per vector, which the lookup-table kernel cannot add: decode + BLAS
            return DecodeScanner(metric, self.code_size, self.decode)
        return SignFastScanScanner(metric, self.mean_, self._padded_scales())


class Binary(ResidualBinary):
    """``binary``: one sign bit per dimension after centring, with per-dimension scales.

    Examples
    --------
    >>> import numpy as np
    >>> q = Binary().fit(np.random.default_rng(0).normal(size=(100, 384)).astype(np.float32))
    >>> q.code_size
    48
    """

    keyword = "binary"
    args_pattern = ""
    synopsis = "binary"
    examples = ("binary",)
    _faiss_binary_flat = True
    _params = ("max_train", "random_state")

    def __init__(self, *, max_train: int = 100_000, random_state: int = 0) -> None:
        super().__init__(1, max_train=max_train, random_state=random_state)

    @classmethod
    def bits_per_dim(cls, args: Args) -> int:
        return 1

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> Binary:
        return cls(random_state=random_state)

    def spec_args(self) -> Args:
        return ()


class Hamming(Binary):
    """``hamming``: the ``binary`` codes, scanned by Hamming distance to the query's own sign code.

    The fastest and coarsest option; rerank is strongly advised.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(100, 64)).astype(np.float32)
    >>> Hamming().fit(X).encode(X).shape
    (100, 8)
    """

    keyword = "hamming"
    synopsis = "hamming"
    examples = ("hamming",)
    binary_query = True

    def make_scanner(self, metric: str) -> HammingScanner:
        self._check_fitted()
        d = self.n_features_in_
        mean = self.mean_

        def binarize(q: np.ndarray) -> np.ndarray:
            bits = np.zeros((len(q), _padded(d)), bool)
            bits[:, :d] = (q - mean) > 0
            return np.packbits(bits, axis=1, bitorder="little")

        return HammingScanner(metric, self.code_size, binarize)
