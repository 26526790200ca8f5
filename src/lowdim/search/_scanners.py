"""Scan kernels over compact codes.

A :class:`Scanner` holds the codes of one quantizer in the form its kernel wants and
answers top-k queries with the *asymmetric* score: the float query against the
quantized documents. FAISS kernels do the work wherever one exists:

* float32 / float16 / int8 / int4 codes: ``IndexFlat`` / ``IndexScalarQuantizer``,
  fed our codes directly with ``add_sa_codes`` (the byte layouts are the same);
* PQ codes: ``IndexPQ`` (``IndexPQFastScan`` for 4-bit PQ);
* sign codes (binary, ITQ, rbq levels): scored as a float query against ``±scale``
  codes through ``IndexPQFastScan``: each group of 4 sign bits is one 4-bit PQ
  sub-code whose 16 centroids are the 16 sign patterns times the learned per-dimension
  scales. Our packed bits *are* the standard 4-bit PQ code layout, so no re-encoding
  is needed, and the SIMD lookup-table scan is faster than FAISS's own Hamming scan;
* Hamming between sign codes: ``IndexBinaryFlat``;
* anything else: blocked decode + BLAS (:class:`DecodeScanner`).

Scores follow one convention everywhere: for ``"ip"`` higher is better; for ``"l2"``
they are squared distances, lower is better. Missing results have id -1.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import faiss
import numpy as np

from ._exact import exact_knn
from ._topk import pad_value

__all__ = [
    "Scanner",
    "FaissCodesScanner",
    "SignFastScanScanner",
    "PQScanner",
    "HammingScanner",
    "DecodeScanner",
    "faiss_metric",
]


def faiss_metric(metric: str) -> int:
    return faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2


def _clean(D: np.ndarray, I: np.ndarray, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    I = I.astype(np.int64, copy=False)
    D = D.astype(np.float32, copy=False)
    D[I < 0] = pad_value(largest)
    return D, I


class Scanner(ABC):
    """Top-k search over a growing array of codes (rows are numbered 0..ntotal-1)."""

    def __init__(self, metric: str, code_size: int) -> None:
        self.metric = metric
        self.code_size = code_size
        self._chunks: list[np.ndarray] = []
        self._codes: np.ndarray = np.zeros((0, code_size), dtype=np.uint8)

    @property
    def largest(self) -> bool:
        return self.metric == "ip"

    @property
    def ntotal(self) -> int:
        return len(self._codes) + sum(len(c) for c in self._chunks)

    @property
    def codes(self) -> np.ndarray:
        """All codes added so far, (ntotal, code_size) uint8."""
        if self._chunks:
            self._codes = np.concatenate([self._codes, *self._chunks])
            self._chunks = []
        return self._codes

    def add(self, codes: np.ndarray) -> None:
        """Append (n, code_size) uint8 codes."""
        if len(codes):
            self._chunks.append(np.ascontiguousarray(codes, dtype=np.uint8))
            self._invalidate()

    def _invalidate(self) -> None:  # noqa: B027 (a hook: most scanners cache nothing)
        """Forget derived kernel structures; they are rebuilt on the next search."""

    def search(self, queries: np.ndarray, k: int, *, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows for (nq, d) float32 queries; ``subset`` limits the scan to those row numbers."""
        if subset is not None:
            subset = np.asarray(subset, dtype=np.int64)
            sub = self.spawn()
            sub.add(self.codes[subset])
            D, I = sub.search(queries, k)
            valid = I >= 0
            I = np.where(valid, subset[np.where(valid, I, 0)], -1)
            return D, I
        if self.ntotal == 0:
            nq = len(queries)
            return np.full((nq, k), pad_value(self.largest), np.float32), np.full((nq, k), -1, np.int64)
        return self._search(queries, k)

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Search all codes (ntotal > 0)."""

    @abstractmethod
    def spawn(self) -> Scanner:
        """An empty scanner of the same kind and parameters."""


class _IndexOwnedCodes(Scanner):
    """A scanner whose FAISS index owns the only copy of the codes; ``codes`` is a view of its storage."""

    _index: faiss.Index

    def _storage(self):
        return self._index.codes

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def codes(self) -> np.ndarray:
        n = self.ntotal
        if n == 0:
            return np.zeros((0, self.code_size), np.uint8)
        return faiss.rev_swig_ptr(self._storage().data(), n * self.code_size).reshape(n, self.code_size)


class FaissCodesScanner(_IndexOwnedCodes):
    """Codes whose byte layout equals a FAISS flat-codes index's (Flat, SQ fp16/8bit/4bit)."""

    def __init__(self, metric: str, code_size: int, make_index: Callable[[], faiss.Index]) -> None:
        super().__init__(metric, code_size)
        self._make_index = make_index
        self._index = make_index()

    def add(self, codes: np.ndarray) -> None:
        if len(codes):
            self._index.add_sa_codes(np.ascontiguousarray(codes, dtype=np.uint8))

    def _search(self, queries, k):
        D, I = self._index.search(queries, k)
        return _clean(D, I, self.largest)

    def spawn(self):
        return FaissCodesScanner(self.metric, self.code_size, self._make_index)


class PQScanner(Scanner):
    """Product-quantizer codes scored by asymmetric distance through FAISS ``IndexPQ``.

    ``centroids`` has shape (M, ksub, dsub). 4-bit codes use ``IndexPQFastScan``.
    ``prepare`` maps queries into the codebook's space (padding, tiling, centring) and
    ``offset`` returns a per-query constant added to the scores (so scores equal the
    float query against the decoded vector, not just its ranking).
    """

    def __init__(
        self,
        metric: str,
        code_size: int,
        centroids: np.ndarray,
        nbits: int,
        *,
        prepare: Callable[[np.ndarray], np.ndarray] | None = None,
        offset: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        super().__init__(metric, code_size)
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.nbits = nbits
        self.prepare = prepare
        self.offset = offset
        self._kernel: faiss.Index | None = None

    def _invalidate(self) -> None:
        self._kernel = None

    def _pq_index(self) -> faiss.IndexPQ:
        M, ksub, dsub = self.centroids.shape
        index = faiss.IndexPQ(M * dsub, M, self.nbits, faiss_metric(self.metric))
        faiss.copy_array_to_vector(self.centroids.ravel(), index.pq.centroids)
        index.is_trained = True
        return index

    def _build(self) -> faiss.Index:
        index = self._pq_index()
        codes = self.codes
        if len(codes):
            index.add_sa_codes(codes)
        if self.nbits == 4:
            fast = faiss.IndexPQFastScan(index)
            fast.implem = 12  # the auto choice mis-scores some small-k IP searches; 12 is exact and as fast here
            return fast
        return index

    def _search(self, queries, k):
        if self._kernel is None:
            self._kernel = self._build()
        q = np.ascontiguousarray(self.prepare(queries) if self.prepare is not None else queries, dtype=np.float32)
        D, I = self._kernel.search(q, k)
        D, I = _clean(D, I, self.largest)
        short = (I >= 0).sum(1) < min(k, self.ntotal)
        if short.any():
            # a fast-scan kernel returned fewer rows than exist (reported once near k ≈ ntotal):
            # score those queries exactly on the decoded codes instead of returning fewer results
            D[short], I[short] = self._exact(q[short], k)
        if self.offset is not None:
            off = self.offset(queries).astype(np.float32)[:, None]
            D = np.where(I >= 0, D + off, D)
        return D, I

    def _exact(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return exact_knn(DecodedRows(self.codes, self._pq_index().sa_decode), q, k, metric=self.metric)

    def spawn(self):
        return PQScanner(self.metric, self.code_size, self.centroids, self.nbits, prepare=self.prepare, offset=self.offset)


class SignFastScanScanner(PQScanner):
    """Packed sign codes (b levels × ``dpad`` bits) scored as float query · (mean + Σ scale_l ⊙ ±1).

    ``scales`` has shape (levels, dpad), zero on padding dimensions. For ``"ip"`` the
    query is tiled once per level; for ``"l2"`` only one level is exact and is allowed.
    """

    def __init__(self, metric: str, mean: np.ndarray, scales: np.ndarray) -> None:
        levels, dpad = scales.shape
        if metric == "l2" and levels != 1:
            raise ValueError("SignFastScanScanner scores L2 for one level only")
        patterns = ((np.arange(16)[:, None] >> np.arange(4)[None, :]) & 1).astype(np.float32) * 2 - 1  # (16, 4)
        flat = scales.reshape(-1, 4)  # (levels*dpad/4, 4)
        centroids = patterns[None, :, :] * flat[:, None, :]
        d = len(mean)
        mean = mean.astype(np.float32)
        self.mean = mean
        self.scales = scales
        self.levels = levels

        def prepare(q: np.ndarray) -> np.ndarray:
            if metric == "l2":
                q = q - mean
            qp = np.zeros((len(q), dpad), np.float32)
            qp[:, :d] = q
            return np.tile(qp, (1, levels)) if levels > 1 else qp

        def offset(q: np.ndarray) -> np.ndarray:
            return q @ mean if metric == "ip" else np.zeros(len(q), np.float32)

        super().__init__(metric, levels * dpad // 8, centroids, 4, prepare=prepare, offset=offset)

    def spawn(self):
        return SignFastScanScanner(self.metric, self.mean, self.scales)


class HammingScanner(_IndexOwnedCodes):
    """Symmetric Hamming distance between sign codes (``IndexBinaryFlat``): fastest, coarsest.

    ``binarize`` maps float queries to packed codes. Scores are minus the Hamming
    distance for ``"ip"`` (higher is better) and the distance itself for ``"l2"``.
    """

    def __init__(self, metric: str, code_size: int, binarize: Callable[[np.ndarray], np.ndarray]) -> None:
        super().__init__(metric, code_size)
        self.binarize = binarize
        self._index = faiss.IndexBinaryFlat(code_size * 8)

    def _storage(self):
        return self._index.xb

    def add(self, codes: np.ndarray) -> None:
        if len(codes):
            self._index.add(np.ascontiguousarray(codes, dtype=np.uint8))

    def _search(self, queries, k):
        D, I = self._index.search(self.binarize(queries), k)
        D = D.astype(np.float32)
        if self.largest:
            D = -D
        return _clean(D, I, self.largest)

    def spawn(self):
        return HammingScanner(self.metric, self.code_size, self.binarize)


class DecodedRows:
    """``(n, d)`` float32 rows decoded from codes a block at a time, read like an array by :func:`exact_knn`.

    Only slices are supported (``rows[a:b]``): exact_knn reads its corpus in row blocks.
    """

    def __init__(self, codes: np.ndarray, decode: Callable[[np.ndarray], np.ndarray]) -> None:
        self.codes = codes
        self.decode = decode
        width = decode(codes[:1]).shape[1] if len(codes) else 0
        self.shape = (len(codes), width)
        self.ndim = 2
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self.decode(self.codes[rows])


class DecodeScanner(Scanner):
    """Exact asymmetric scores by decoding blocks of codes and scoring them as :func:`exact_knn` does."""

    def __init__(self, metric: str, code_size: int, decode: Callable[[np.ndarray], np.ndarray], *, block: int = 16384) -> None:
        super().__init__(metric, code_size)
        self.decode = decode
        self.block = block

    def _search(self, queries, k):
        return exact_knn(DecodedRows(self.codes, self.decode), queries, k, metric=self.metric, block_size=self.block)

    def spawn(self):
        return DecodeScanner(self.metric, self.code_size, self.decode, block=self.block)
