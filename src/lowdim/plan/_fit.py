"""Fitting many pipelines on one training sample, sharing what they have in common.

The planner fits dozens of specs on the same sample. Most of the work repeats:
``pca128/int8``, ``pca128/int4`` and ``pca64/binary`` all need the same principal
axes, ``itq/binary`` and ``itq/rbq2`` the same rotation. :class:`SharedFits`
computes the covariance eigendecomposition once (exact, from the d x d covariance)
and slices it for every width, caches fitted rotations by the transforms before
them, and trains PQ codebooks on a smaller seeded subsample (k-means quality
saturates long before 50,000 rows: 256 centroids want ~39 points each).

The result is an ordinary fitted :class:`~lowdim.codecs.Pipeline`; fitting the same
spec with ``Pipeline(spec).fit(X)`` gives the same kind of codec (PCA through
scikit-learn instead of an exact eigendecomposition, equal up to signs and
round-off).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..arrays import normalize_rows, sample_indices
from ..codecs import ITQ, OPQ, PCA, quiet_native_stderr
from ..spec import Pipeline

__all__ = ["SharedFits"]

#: rows PQ (and OPQ) train on: >= 39 per centroid for 256 centroids, with room to spare
PQ_TRAIN_ROWS = 20_000
#: rows OPQ trains on: its alternating k-means and Procrustes steps are the slowest fit here
OPQ_TRAIN_ROWS = 10_000


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
            with quiet_native_stderr():
                codec.fit(Y if rows is None else Y[rows])
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
                self._fit_rotation(f"{prefix}|{name}", stage, Y, None)
            else:
                stage.fit(Y)
            Y = stage.transform(Y)
            prefix += "/" + name
        q = pipe.quantizer
        with quiet_native_stderr():
            q.fit(Y[self._pq_rows] if q.family == "pq" else Y)  # k-means saturates on fewer rows
        pipe.n_features_in_ = self.d
        return pipe
