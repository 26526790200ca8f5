"""Product quantization ``pq<m>x<nbits>`` through FAISS's ``ProductQuantizer``."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from ..arrays import sample_rows
from ..exceptions import ParameterError, SpecError, ValidationError
from ..search import PQScanner
from ..validation import check_embeddings, check_positive_int
from ._base import PQ_POINTS_PER_CENTROID, Args, FaissEquivalent, Quantizer, blas_kmeans, m_divides, quiet_native_stderr

__all__ = ["ProductQuantizer"]


class ProductQuantizer(Quantizer):
    """``pq<m>x<nbits>``: ``m`` sub-vectors, each coded by one of ``2**nbits`` centroids.

    Parameters
    ----------
    m : int
        Number of sub-quantizers; must divide the input width.
    nbits : int
        Bits per sub-code (4 uses FAISS's SIMD fast-scan kernel, 8 the classic one).
    max_train : int
        At most this many training rows are used for k-means.

    Attributes
    ----------
    centroids_ : ndarray (m, 2**nbits, d/m) float32

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(2000, 16)).astype(np.float32)
    >>> ProductQuantizer(4, nbits=4).fit(X).encode(X).shape
    (2000, 2)
    """

    keyword = "pq"
    args_pattern = r"(\d+)(?:x(\d+))?"
    arg_defaults = (None, 8)  # ``pq<m>`` is ``pq<m>x8``
    synopsis = "pq<m>x<nbits>"
    examples = ("pq8x8", "pq8", "pq8x4")
    family = "pq"
    _state = ("centroids_",)
    _params = ("m", "nbits", "max_train", "random_state")

    def __init__(self, m: int, nbits: int = 8, *, max_train: int = 65_536, random_state: int = 0) -> None:
        self.m = m
        self.nbits = nbits
        self.max_train = max_train
        self.random_state = random_state

    @classmethod
    def check_args(cls, args: Args, where: str) -> None:
        m, nbits = args
        if nbits not in (4, 8):
            raise SpecError(f"{where}: PQ supports 4 or 8 bits per sub-code; got {nbits}")
        if m < 1:
            raise SpecError(f"{where} needs a size >= 1")

    @classmethod
    def piece(cls, args: Args) -> str:
        m, nbits = args
        return f"pq{m}x{nbits}"

    @classmethod
    def code_size_for(cls, args: Args, d: int) -> int:
        m, nbits = args
        return (m * nbits + 7) // 8

    @classmethod
    def check_width(cls, args: Args, d: int, whole: str | None = None) -> None:
        m_divides(cls.keyword, args[0], d, whole)

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return PQ_POINTS_PER_CENTROID * 2 ** args[1]

    @classmethod
    def min_train_reason(cls, args: Args, d: int) -> str:
        return f"PQ needs {PQ_POINTS_PER_CENTROID} vectors per centroid"

    @classmethod
    def min_fit_rows(cls, args: Args, d: int) -> int:
        return 2 ** args[1]  # one training vector per centroid at least

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> ProductQuantizer:
        return cls(args[0], args[1], random_state=random_state)

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        m, nbits = args
        if nbits == 8:
            # index_factory's "PQm" trains polysemous codes, which an exhaustive search does not use (most of
            # its build time); "PQmnp" gives the same results
            return FaissEquivalent(f"PQ{m}", deploy=f"PQ{m}np")
        # lowdim scans 4-bit codes with FAISS's SIMD fast-scan kernel: deploy that one
        return FaissEquivalent(f"PQ{m}x{nbits}", deploy=f"PQ{m}x{nbits}fs")

    def spec_args(self) -> Args:
        return (self.m, self.nbits)

    def fit(self, X: Any) -> ProductQuantizer:
        check_positive_int(self.m, "m", owner="PQ")
        if self.nbits not in (4, 8):
            raise ParameterError(f"The 'nbits' parameter of PQ must be 4 or 8. Got {self.nbits!r}.")
        X = check_embeddings(X)
        self.check_width(self.spec_args(), X.shape[1])
        ksub = 1 << self.nbits
        if len(X) < ksub:
            raise ValidationError(
                f"PQ with nbits={self.nbits} needs at least {ksub} training vectors (one per centroid); got {len(X)}"
            )
        X = sample_rows(X, self.max_train, self.random_state)
        pq = faiss.ProductQuantizer(X.shape[1], self.m, self.nbits)
        pq.cp.seed = int(self.random_state)
        pq.cp.verbose = False
        with quiet_native_stderr(), blas_kmeans():
            pq.train(np.ascontiguousarray(X))
        self.centroids_ = faiss.vector_to_array(pq.centroids).reshape(self.m, ksub, -1).astype(np.float32)
        self.n_features_in_ = X.shape[1]
        self._after_load()
        return self

    def _after_load(self) -> None:
        m, ksub, dsub = self.centroids_.shape
        self._pq = faiss.ProductQuantizer(m * dsub, m, self.nbits)
        faiss.copy_array_to_vector(self.centroids_.ravel(), self._pq.centroids)

    def encode(self, X: Any) -> np.ndarray:
        return self._pq.compute_codes(self._check_input(X))

    def decode(self, codes: Any) -> np.ndarray:
        return self._pq.decode(self._check_codes(codes))

    def make_scanner(self, metric: str) -> PQScanner:
        self._check_fitted()
        return PQScanner(metric, self.code_size, self.centroids_, self.nbits)
