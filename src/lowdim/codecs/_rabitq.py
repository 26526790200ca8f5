"""``rabitq<b>``: FAISS's RaBitQ quantizer (1 to 8 bits per dimension) as a lowdim codec.

RaBitQ (Gao & Long, SIGMOD 2024; multi-bit "extended RaBitQ", 2025) codes each vector's
direction from the data centre with ``b`` bits per dimension and keeps two or three float
factors per vector, so the asymmetric estimator of the inner product (or L2 distance) is
unbiased. The factors cost 8 bytes (1 bit) or 20 bytes (more bits) per vector on top of the
bits. FAISS's ``IndexRaBitQ`` does the fitting, the encoding and the scan; this codec wraps
it so that RaBitQ composes with the spec grammar (``pca256/rabitq2+rerank4``), the planner
and collections, with the same codes and scores as FAISS's own index.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from ..exceptions import FileFormatError, ParameterError, SpecError
from ..search import FaissCodesScanner, faiss_metric
from ..validation import check_choice, check_embeddings
from ._base import Args, FaissEquivalent, Quantizer, quiet_native_stderr

__all__ = ["RaBitQ", "rabitq_code_size"]

#: bits per dimension FAISS's RaBitQ accepts
RABITQ_BITS = range(1, 9)


def rabitq_code_size(d: int, bits: int) -> int:
    """Bytes per vector of FAISS's RaBitQ codes: sign bits, extra bits and the per-vector factors.

    Examples
    --------
    >>> rabitq_code_size(384, 1), rabitq_code_size(384, 2), rabitq_code_size(384, 4)
    (56, 116, 212)
    """
    sign = (d + 7) // 8 + 8  # 1 bit per dimension + two float32 factors
    if bits == 1:
        return sign
    return sign + (d * (bits - 1) + 7) // 8 + 12  # extra bits + three more factors


class RaBitQ(Quantizer):
    """``rabitq<b>``: ``b`` bits per dimension plus per-vector correction factors (FAISS RaBitQ).

    Parameters
    ----------
    bits : int
        Bits per dimension, 1 to 8.
    metric : {"ip", "l2"}
        The factors stored with each code depend on the metric; the pipeline passes
        ``"ip"`` for cosine and inner product.
    query_bits : int
        Bits FAISS quantizes each query to when scanning (its ``qb``; 0 scores the float
        query directly). FAISS's default is 4.

    Attributes
    ----------
    index_ : ndarray of uint8
        The trained, empty ``IndexRaBitQ`` in FAISS's serialisation (its centre and settings).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 64)).astype(np.float32)
    >>> q = RaBitQ(2).fit(X)
    >>> q.encode(X).shape, q.code_size
    ((500, 36), 36)
    """

    keyword = "rabitq"
    args_pattern = r"(\d+)?"
    arg_defaults = (1,)  # ``rabitq`` is ``rabitq1``
    synopsis = "rabitq<bits>"
    examples = ("rabitq2", "rabitq", "rabitq4")
    family = "sign"
    _state = ("index_",)
    _params = ("bits", "metric", "query_bits")

    def __init__(self, bits: int = 1, *, metric: str = "ip", query_bits: int = 4) -> None:
        self.bits = bits
        self.metric = metric
        self.query_bits = query_bits

    @classmethod
    def check_args(cls, args: Args, where: str) -> None:
        if args[0] not in RABITQ_BITS:
            raise SpecError(f"{where}: RaBitQ takes 1 to 8 bits per dimension; got {args[0]}")

    @classmethod
    def bits_per_dim(cls, args: Args) -> int:
        return args[0]

    @classmethod
    def code_size_for(cls, args: Args, d: int) -> int:
        return rabitq_code_size(d, args[0])

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> RaBitQ:
        # the stored factors depend on the metric: cosine and ip share the inner-product ones
        return cls(args[0], metric="l2" if metric == "l2" else "ip")

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent:
        return FaissEquivalent("RaBitQ" if args[0] == 1 else f"RaBitQ{args[0]}")  # the same codes: this wraps FAISS's RaBitQ

    def spec_args(self) -> Args:
        return (self.bits,)

    def _check_params(self) -> None:
        if isinstance(self.bits, bool) or self.bits not in RABITQ_BITS:
            raise ParameterError(f"The 'bits' parameter of RaBitQ must be an integer in 1..8. Got {self.bits!r}.")
        check_choice(self.metric, ("ip", "l2"), "metric", owner="RaBitQ")
        if isinstance(self.query_bits, bool) or self.query_bits not in range(0, 9):
            raise ParameterError(f"The 'query_bits' parameter of RaBitQ must be an integer in 0..8. Got {self.query_bits!r}.")

    def fit(self, X: Any) -> RaBitQ:
        self._check_params()
        X = check_embeddings(X)
        index = faiss.IndexRaBitQ(X.shape[1], faiss_metric(self.metric), int(self.bits))
        with quiet_native_stderr():
            index.train(np.ascontiguousarray(X))
        index.qb = int(self.query_bits)
        self.index_ = faiss.serialize_index(index)
        self.n_features_in_ = X.shape[1]
        self._after_load()
        return self

    def _after_load(self) -> None:
        try:
            index = faiss.deserialize_index(np.ascontiguousarray(self.index_, dtype=np.uint8))
        except RuntimeError as exc:
            raise FileFormatError(f"the saved RaBitQ index cannot be read ({str(exc).splitlines()[0]})") from None
        if not isinstance(index, faiss.IndexRaBitQ) or index.d != self.n_features_in_:
            raise FileFormatError(f"the saved RaBitQ state is not a {self.n_features_in_}-dimensional IndexRaBitQ")
        self._index = index

    def _empty_index(self) -> faiss.Index:
        return faiss.deserialize_index(self.index_)

    def encode(self, X: Any) -> np.ndarray:
        return self._index.sa_encode(self._check_input(X))

    def decode(self, codes: Any) -> np.ndarray:
        return self._index.sa_decode(self._check_codes(codes))

    def make_scanner(self, metric: str) -> FaissCodesScanner:
        self._check_fitted()
        if metric != self.metric:
            raise ParameterError(
                f"these rabitq{self.bits} codes were made for the {self.metric!r} metric; got a scan for {metric!r}"
            )
        return FaissCodesScanner(metric, self.code_size, self._empty_index)
