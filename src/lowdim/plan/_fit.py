"""Fitting many pipelines on one training sample, sharing what they have in common.

The planner fits dozens of specs on the same sample. Most of the work repeats:
``pca128/int8``, ``pca128/int4`` and ``pca64/binary`` all need the same principal
axes, ``itq/binary`` and ``itq/rbq2`` the same rotation. :class:`SharedFits`
computes the covariance eigendecomposition once (exact, from the d x d covariance)
and slices it for every width, caches fitted rotations by the transforms before
them, and trains the quantizers (PQ codebooks, scalar ranges, sign-code scales) on a
smaller seeded subsample of 20,000 rows (k-means quality saturates long before 50,000
rows: 256 centroids want ~39 points each). The rotations train on 10,000 rows, OPQ on a
shorter schedule than the codec's (:func:`fit_opq`: it is the planner's slowest fit). PQ codebooks of
fewer than 8 dimensions per sub-quantizer are trained on the sub-vectors padded with zeros
to 8 dimensions: the distances, hence the k-means, are the same, and FAISS's k-means takes
BLAS's path there instead of a scalar one 5-7x slower (``pq96x8`` on 384-d: 74 s -> 11 s).
:func:`encode_corpus` encodes such 8-bit codes through the same padding (the same codes,
8x faster: ``pq64x8`` of 100,000 x 384 in 1.3 s instead of 10 s). ITQ's rotation is fitted
on the same 10,000 rows as OPQ's (a 384 x 384 rotation needs far fewer than 50,000).

The result is an ordinary fitted :class:`~lowdim.codecs.Pipeline`; fitting the same
spec with ``Pipeline(spec).fit(X)`` gives the same kind of codec (PCA through
scikit-learn instead of an exact eigendecomposition, equal up to signs and
round-off).
"""

from __future__ import annotations

import time
from typing import Any

import faiss
import numpy as np

from ..arrays import iter_slices, normalize_rows, sample_indices
from ..codecs import ITQ, OPQ, PCA, ProductQuantizer, quiet_native_stderr
from ..spec import Pipeline

__all__ = ["SharedFits", "fit_pq_padded", "fit_opq", "encode_corpus"]

#: rows every quantizer trains on: PQ's k-means wants >= 39 per centroid for 256 centroids, and
#: scalar ranges and sign-code scales are as stable on 20,000 rows as on 50,000
PQ_TRAIN_ROWS = 20_000
#: rows the learned rotations (OPQ, ITQ) train on: their alternating steps are the slowest fits here
OPQ_TRAIN_ROWS = 10_000
#: OPQ's alternations in the planner (the codec's default is 20), and the k-means iterations of its
#: first PQ (FAISS's default is 40; later rounds run 4): on 384-d data a fit costs ~90 CPU seconds with
#: the defaults and ~40 with these, for a PQ reconstruction error 15% higher (0.172 vs 0.150 at opq48)
OPQ_ITERATIONS = 10
OPQ_FIRST_PQ_ITERATIONS = 10
#: sub-vectors narrower than this are padded with zeros for PQ's k-means (its fast path)
PQ_PAD_DIMS = 8


def fit_pq_padded(q: ProductQuantizer, X: np.ndarray) -> None:
    """Fit ``q`` on ``X`` (n, d) float32 as ``q.fit`` does, its sub-vectors padded with zeros to 8 dimensions.

    Zero columns change no distance, so the k-means is the one ``q.fit`` runs (up to
    round-off); only the centroids' real coordinates are kept.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(600, 16)).astype(np.float32)
    >>> q = ProductQuantizer(8, 4)
    >>> fit_pq_padded(q, X); q.centroids_.shape, q.encode(X).shape
    ((8, 16, 2), (600, 4))
    """
    n, d = X.shape
    m, ksub = q.m, 1 << q.nbits
    q.check_width((m, q.nbits), d)
    dsub = d // m
    Xp = np.zeros((n, m, PQ_PAD_DIMS), np.float32)
    Xp[:, :, :dsub] = X.reshape(n, m, dsub)
    pq = faiss.ProductQuantizer(m * PQ_PAD_DIMS, m, q.nbits)
    pq.cp.seed = int(q.random_state)
    pq.cp.verbose = False
    with quiet_native_stderr():
        pq.train(Xp.reshape(n, m * PQ_PAD_DIMS))
    centroids = faiss.vector_to_array(pq.centroids).reshape(m, ksub, PQ_PAD_DIMS)[:, :, :dsub]
    q.set_state({"centroids_": np.ascontiguousarray(centroids, np.float32), "n_features_in_": np.asarray(d)})


def fit_opq(codec: OPQ, X: np.ndarray) -> None:
    """Fit ``codec`` on ``X`` (n, d) float32 as ``OPQ.fit`` does (FAISS's ``OPQMatrix``), with the planner's
    shorter schedule (:data:`OPQ_ITERATIONS`, :data:`OPQ_FIRST_PQ_ITERATIONS`).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(600, 16)).astype(np.float32)
    >>> q = OPQ(4)
    >>> fit_opq(q, X); R = q.rotation_; bool(np.allclose(R @ R.T, np.eye(16), atol=1e-4)), q.n_iter
    (True, 10)
    """
    n, d = X.shape
    if n < 256:
        codec.fit(X)  # its one-line error: too few rows for its 8-bit PQ
        return
    codec.check_width((codec.m,), d)
    opq = faiss.OPQMatrix(d, codec.m)
    opq.verbose = False
    opq.niter = OPQ_ITERATIONS
    opq.niter_pq_0 = OPQ_FIRST_PQ_ITERATIONS
    with quiet_native_stderr():
        opq.train(np.ascontiguousarray(X, np.float32))
    A = faiss.vector_to_array(opq.A).reshape(d, d)  # y = A x
    codec.n_iter = OPQ_ITERATIONS
    width = np.asarray(d)
    codec.set_state({"rotation_": np.ascontiguousarray(A.T, np.float32), "n_features_in_": width, "n_features_out_": width})


def encode_corpus(pipe: Pipeline, X: np.ndarray, *, batch_size: int = 16_384) -> np.ndarray:
    """``pipe.encode(X)``: (n, d) rows -> (n, code_size) uint8 codes; 8-bit PQ of sub-vectors under 8
    dimensions through zero-padded sub-vectors and centroids (the same distances, hence the same codes).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(600, 16)).astype(np.float32)
    >>> pipe = Pipeline("pq4x8", metric="l2").fit(X)
    >>> bool((encode_corpus(pipe, X) == pipe.encode(X)).all())
    True
    """
    q = pipe.quantizer
    if not isinstance(q, ProductQuantizer) or q.nbits != 8 or q.centroids_.shape[2] >= PQ_PAD_DIMS:
        return pipe.encode(X, batch_size=batch_size)
    m, ksub, dsub = q.centroids_.shape
    C = np.zeros((m, ksub, PQ_PAD_DIMS), np.float32)
    C[:, :, :dsub] = q.centroids_
    pq = faiss.ProductQuantizer(m * PQ_PAD_DIMS, m, q.nbits)
    faiss.copy_array_to_vector(C.ravel(), pq.centroids)
    out = np.empty((len(X), pipe.code_size), np.uint8)
    for block in iter_slices(len(X), batch_size):
        Y = pipe.transform(X[block])
        Yp = np.zeros((len(Y), m, PQ_PAD_DIMS), np.float32)
        Yp[:, :, :dsub] = Y.reshape(len(Y), m, dsub)
        out[block] = pq.compute_codes(Yp.reshape(len(Y), m * PQ_PAD_DIMS))
    return out


class SharedFits:
    """Fits pipelines of many specs on one training sample, sharing PCA axes and rotations.

    Parameters
    ----------
    train : ndarray (n_train, d) float32
        The training sample (raw rows; normalised here for the cosine metric).
    metric : "cosine", "ip" or "l2"
    seed : int
        Seed of the PQ subsample and of every codec's own random choices.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.standard_normal((600, 6)) @ rng.standard_normal((6, 32))).astype(np.float32)
    >>> fits = SharedFits(X, metric="cosine")
    >>> p = fits.pipeline("pca8/int8")
    >>> p.encode(X[:3]).shape, fits.pipeline("pca4/int4").transforms[0].components_.shape
    ((3, 8), (4, 32))
    """

    def __init__(self, train: np.ndarray, *, metric: str, seed: int = 0) -> None:
        self.metric = metric
        self.seed = seed
        self.train = normalize_rows(train) if metric == "cosine" else np.ascontiguousarray(train, np.float32)
        self.d = self.train.shape[1]
        n = len(self.train)
        self._pq_rows = sample_indices(n, PQ_TRAIN_ROWS, seed)
        self._opq_rows = sample_indices(n, OPQ_TRAIN_ROWS, seed + 1)
        self._eig: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._rotations: dict[str, Any] = {}
        #: seconds spent in shared work (PCA, rotations), for the plan's timing report
        self.shared_seconds = 0.0

    # -- shared pieces ---------------------------------------------------------------------
    def _pca_axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean (d,), components (d, d) by descending variance, explained-variance ratios (d,))."""
        if self._eig is None:
            t = time.perf_counter()
            mean = self.train.mean(0, dtype=np.float64)
            Xc = self.train - mean.astype(np.float32)
            # float32 BLAS for the d x d scatter (10x faster than np.cov in float64), eigh in float64
            C = (Xc.T @ Xc).astype(np.float64) / max(len(Xc) - 1, 1)
            w, V = np.linalg.eigh(C)
            order = np.argsort(w)[::-1]
            w, V = np.clip(w[order], 0, None), V[:, order]
            ratio = w / w.sum() if w.sum() > 0 else np.zeros_like(w)
            self._eig = (mean.astype(np.float32), np.ascontiguousarray(V.T, np.float32), ratio.astype(np.float32))
            self.shared_seconds += time.perf_counter() - t
        return self._eig

    def _fit_pca(self, codec: PCA, Y: np.ndarray) -> None:
        mean, comps, ratio = self._pca_axes()
        p = codec.n_components
        codec.set_state(
            {
                "components_": comps[:p].copy(),
                "mean_": mean,
                "explained_variance_ratio_": ratio[:p].copy(),
                "n_features_in_": np.asarray(Y.shape[1]),
                "n_features_out_": np.asarray(p),
            }
        )

    def _fit_rotation(self, key: str, codec: Any, Y: np.ndarray, rows: np.ndarray | None) -> None:
        if key not in self._rotations:
            t = time.perf_counter()
            X = np.ascontiguousarray(Y if rows is None else Y[rows], np.float32)
            with quiet_native_stderr():
                if isinstance(codec, OPQ):
                    fit_opq(codec, X)
                else:
                    codec.fit(X)
            self._rotations[key] = codec.get_state()
            self.shared_seconds += time.perf_counter() - t
        codec.set_state(self._rotations[key])

    # -- the one public verb ----------------------------------------------------------------
    def pipeline(self, spec: str) -> Pipeline:
        """A fitted :class:`Pipeline` for ``spec`` (a ``+rerank`` suffix is kept on the pipeline)."""
        pipe = Pipeline(spec, metric=self.metric, random_state=self.seed, max_train=max(len(self.train), 1))
        pipe.spec.check(self.d)
        Y = self.train
        prefix = ""
        for stage in pipe.transforms:
            name = stage.to_spec()
            if isinstance(stage, PCA):
                self._fit_pca(stage, Y)
            elif isinstance(stage, OPQ):
                self._fit_rotation(f"{prefix}|{name}", stage, Y, self._opq_rows)
            elif isinstance(stage, ITQ):
                self._fit_rotation(f"{prefix}|{name}", stage, Y, self._opq_rows)
            else:
                stage.fit(Y)
            Y = stage.transform(Y)
            prefix += "/" + name
        q = pipe.quantizer
        rows = np.ascontiguousarray(Y[self._pq_rows], np.float32)  # k-means and calibration saturate on fewer rows
        with quiet_native_stderr():
            if isinstance(q, ProductQuantizer) and Y.shape[1] // q.m < PQ_PAD_DIMS and (1 << q.nbits) <= len(rows) <= q.max_train:
                fit_pq_padded(q, rows)
            else:
                q.fit(rows)
        pipe.n_features_in_ = self.d
        return pipe
