"""Building one FAISS configuration of the plan's frontier: trained as lowdim trains its codec, filled, searched.

:class:`BuiltIndex` is what :func:`lowdim.plan._faiss.measure_faiss_frontier` measures:

- 8-bit PQ's k-means runs through FAISS's ``ProductQuantizer`` on the rows, with the
  seed and the BLAS distances (:func:`kmeans_path`) lowdim's ``pq`` gets, so that the
  codes equal the planner's ``pq<m>x8`` (up to rounding below :data:`FAST_DSUB`
  dimensions per sub-quantizer, where the codes are computed through BLAS too);
- OPQ takes the planner's own fitted rotation and codebooks when given its fits (the
  same OPQMatrix on the same rows, fitted once per plan), else trains FAISS's
  ``OPQMatrix`` with lowdim's 20 iterations;
- ``BFlat`` is ``IndexBinaryFlat`` over sign bits (what FAISS users do for binary codes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import faiss
import numpy as np

from ..arrays import iter_slices, sample_indices
from ..codecs import OPQ, blas_kmeans, quiet_native_stderr
from ._fit import OPQ_TRAIN_ROWS, PQ_TRAIN_ROWS

__all__ = ["BuiltIndex", "kmeans_path", "BINARY_FACTORY", "FAST_DSUB"]

BINARY_FACTORY = "BFlat"  # FAISS's binary factory string (IndexBinaryFlat), here over sign bits
FAST_DSUB = 8  # narrower PQ sub-vectors train and encode through BLAS (see kmeans_path and _pq_codes)


def _sign_bits(X: np.ndarray) -> np.ndarray:
    return np.packbits(X > 0, axis=1, bitorder="little")


@contextlib.contextmanager
def kmeans_path(dsub: int) -> Iterator[None]:
    """The k-means path lowdim's ``pq`` trains with: FAISS's BLAS distances (:func:`lowdim.codecs.blas_kmeans`).

    FAISS 1.15 assigns points with a direct loop below 128,000 points, 5-25x slower than BLAS (on 1 to 6
    dimensions per sub-vector PQ96 to PQ384 on 384-d would take minutes; ``pq48x8`` on 5,000 rows 5.3 s
    against 0.6 s). ``dsub`` is kept for the callers; every width takes the same path as lowdim's codec.
    """
    with blas_kmeans():
        yield


def _pq_codes(pq: Any, X: np.ndarray) -> np.ndarray:
    """``pq.compute_codes(X)`` through BLAS: FAISS's loop lacks a SIMD kernel for some sub-vector widths (6: 13x slower)."""
    C = faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)
    codes = np.empty((len(X), pq.M), np.uint8)
    for rows in iter_slices(len(X), 16_384):
        for j in range(pq.M):  # the nearest centroid: argmin of |c|^2 - 2 x.c
            D = (C[j] * C[j]).sum(1) - 2 * (X[rows, j * pq.dsub : (j + 1) * pq.dsub] @ C[j].T)
            codes[rows, j] = D.argmin(1)
    return codes


def _train_pq(pq: Any, X: np.ndarray, seed: int) -> None:
    # lowdim's ProductQuantizer does exactly this (same seed, same rows): the codes come out bit-identical
    pq.cp.seed = int(seed)
    pq.cp.verbose = False
    with kmeans_path(pq.dsub):
        pq.train(np.ascontiguousarray(X))


class BuiltIndex:
    """A trained FAISS index holding the corpus, searched for candidate ids."""

    def __init__(
        self, factory: str, family: str, spec: str, d: int, metric: str, train: np.ndarray, seed: int, fits: Any = None
    ) -> None:
        """``factory`` of ``family`` ("pq", "opq", ...), whose lowdim spec is ``spec``, trained on ``train``."""
        self.binary = factory == BINARY_FACTORY
        fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        n = len(train)
        pq_rows = sample_indices(n, PQ_TRAIN_ROWS, seed)  # the rows SharedFits trains lowdim's pq on
        fam = family
        with quiet_native_stderr():  # FAISS's k-means warns below 39 rows per centroid; the plan warns instead
            if self.binary:
                self.index: Any = faiss.IndexBinaryFlat(8 * ((d + 7) // 8))
            else:
                self.index = faiss.index_factory(d, factory, fmetric)
            if fam == "pq":
                _train_pq(self.index.pq, train[pq_rows], seed)
                self.index.is_trained = True
            elif fam == "opq":
                opq = faiss.downcast_VectorTransform(self.index.chain.at(0))
                inner = faiss.downcast_index(self.index.index)
                if fits is not None:
                    # the planner's own OPQMatrix rotation and PQ (the same algorithm on the same rows), fitted once per
                    # plan: the slowest fit here, and the one the planner reuses if it then measures this spec itself
                    pipe = fits.pipeline(spec)
                    faiss.copy_array_to_vector(np.ascontiguousarray(pipe.transforms[0].rotation_.T).ravel(), opq.A)
                    faiss.copy_array_to_vector(pipe.quantizer.centroids_.ravel(), inner.pq.centroids)
                else:
                    opq.niter = OPQ(1).n_iter  # lowdim's opq: 20 (FAISS's 50 take 2.5x as long for little more recall)
                    with kmeans_path(inner.pq.dsub):
                        opq.train(np.ascontiguousarray(train[sample_indices(n, OPQ_TRAIN_ROWS, seed + 1)]))
                    _train_pq(inner.pq, opq.apply(np.ascontiguousarray(train[pq_rows])), seed)
                opq.is_trained = inner.is_trained = self.index.is_trained = True
            elif not self.binary:
                self.index.train(train)
        self.code_bytes = int(self.index.code_size if self.binary else self.index.sa_code_size())
        self.pq = self.index.pq if fam == "pq" else None

    def add(self, X: np.ndarray) -> None:
        if self.binary:
            self.index.add(_sign_bits(X))
        elif self.pq is not None and self.pq.dsub < FAST_DSUB:
            self.index.add_sa_codes(_pq_codes(self.pq, X))
        else:
            self.index.add(X)

    def search(self, Qp: np.ndarray, n: int) -> np.ndarray:
        """Ids (nq, n) int64 of the best ``n`` codes for prepared queries ``Qp``."""
        _, I = self.index.search(_sign_bits(Qp) if self.binary else Qp, n)
        return np.asarray(I, np.int64)
