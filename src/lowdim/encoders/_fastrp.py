"""FastRP (Chen et al., CIKM 2019): node embeddings from very sparse random projections of P, P², ..., Pᵏ.

The seven steps, as the estimator runs them (``A`` the adjacency, ``d_j`` its row sums):

1. ``P = D⁻¹A`` (row-stochastic; the row of an isolated node, ``d = 0``, is zero).
2. ``R``: n × dim very sparse random projection, entries ``±√s`` with probability ``1/(2s)`` each,
   0 otherwise, ``s = √n``.
3. ``R′ = diag(d_j^β)·R`` (``d^β`` is taken as 0 for an isolated node instead of dividing by zero).
4. ``N_1 = P·R′``, ``N_i = P·N_{i-1}`` for ``i = 2..k``.
5. With ``normalize``, each row of each ``N_i`` is scaled to unit L2 norm (zero rows stay zero).
6. ``E = Σ α_i N_i`` (plus ``self_influence · N_0`` with ``N_0 = R``, row-normalised likewise:
   Neo4j's nodeSelfInfluence; 0 by default, as in the paper).
7. Each column of ``E`` is standardised: centred and divided by its population std (a zero-std
   column is only centred). Isolated nodes therefore all get the same row, ``-mean / std``.

Node features (Neo4j's featureProperties / propertyRatio): with ``features`` (n, f) and
``feature_ratio`` r, the last ``round(r·dim)`` columns of ``R`` are replaced by the row-normalised
features times a seeded Gaussian matrix (entries N(0, 1), so each column has about the variance
of a random column) and are propagated the same way.

Memory: the work runs over blocks of columns, so besides the output it holds two (n, block)
blocks, one more (n, dim) buffer per extra non-zero weight when ``normalize`` is on (a row norm
needs the whole row), and the sparse ``P`` and ``R``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._progress import ProgressBar
from ..exceptions import DimensionError, NotFittedError, ParameterError, ValidationError
from ..validation import check_embeddings, check_positive_int
from ._graph import as_adjacency, degrees
from ._orbits import combine_orbits, parse_orbits

__all__ = ["FastRP", "sparse_projection"]


def _row_chunk(dim: int) -> int:
    """Rows per chunk so a float64 (rows, dim) temporary stays near 32 MB."""
    return max(256, (32 << 20) // (8 * max(1, dim)))


def sparse_projection(n: int, dim: int, *, random_state: int | None = 0) -> sp.csc_matrix:
    """FastRP's very sparse random matrix: entries ``±√s`` with probability ``1/(2s)`` each, ``s = √n``.

    Drawn column by column from one seeded generator, so it is the same for any block size.

    Parameters
    ----------
    n, dim : int
        Rows (nodes) and columns (embedding dimensions).
    random_state : int or None

    Returns
    -------
    scipy.sparse.csc_matrix of shape (n, dim), float64, about ``dim·√n`` non-zeros

    Examples
    --------
    >>> R = sparse_projection(10_000, 8, random_state=0)
    >>> R.shape, sorted({float(abs(v)) for v in R.data})
    ((10000, 8), [10.0])
    """
    n = check_positive_int(n, "n")
    dim = check_positive_int(dim, "dim")
    rng = np.random.default_rng(random_state)
    s = np.sqrt(n)
    counts = rng.binomial(n, 1.0 / s, size=dim)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    for j in range(dim):
        indices[indptr[j] : indptr[j + 1]] = np.sort(rng.choice(n, size=int(counts[j]), replace=False))
    data = np.where(rng.random(len(indices)) < 0.5, -1.0, 1.0) * np.sqrt(s)
    return sp.csc_matrix((data, indices, indptr), shape=(n, dim))


class FastRP:
    """FastRP node embeddings over an edge list or a sparse adjacency (see the module notes).

    Parameters
    ----------
    dim : int
        Embedding dimension.
    weights : sequence of float
        ``α_1..α_k``, the weight of each power ``P¹..Pᵏ`` (k = len(weights)). Zero weights are
        computed through but not stored.
    beta : float
        Degree exponent of step 3 (negative values damp high-degree nodes).
    normalize : bool
        Row-normalise each power before weighting (step 5).
    self_influence : float
        Weight of the node's own initial vector (``N_0``); 0 as in the paper.
    feature_ratio : float
        Share of the dimensions drawn from node features passed to :meth:`fit` (0 without features).
    orbits : str or mapping, optional
        Propagate over a weighted sum of graphlet-orbit adjacencies instead of ``A``
        (``"edge=1,triangle=0.5"``; see :func:`~lowdim.encoders.combine_orbits`).
    random_state : int or None
        Seed of the random and the feature projection.
    dtype : numpy float dtype
        Working and output dtype (float32 by default; float64 for bit-for-bit comparisons).
    block_size : int, optional
        Columns per block (default: as many as fit in about 16 MB per (n, block) array, 32 to 256).

    Attributes
    ----------
    embedding_ : ndarray of shape (n, dim)
    projection_ : scipy.sparse.csc_matrix of shape (n, dim - n_feature_dims_)
        The random matrix R used (before the degree scaling).
    n_feature_dims_ : int
    n_nodes_ : int

    Examples
    --------
    >>> edges = [[0, 1], [1, 2], [2, 0], [2, 3]]
    >>> X = FastRP(16, weights=[1, 1], beta=0.0, random_state=0).fit_transform(edges)
    >>> X.shape, X.dtype
    ((4, 16), dtype('float32'))
    """

    def __init__(
        self,
        dim: int = 256,
        *,
        weights: Sequence[float] = (0.0, 1.0, 1.0),
        beta: float = -0.5,
        normalize: bool = True,
        self_influence: float = 0.0,
        feature_ratio: float = 0.0,
        orbits: str | Mapping[str, float] | None = None,
        random_state: int | None = 0,
        dtype: Any = np.float32,
        block_size: int | None = None,
    ) -> None:
        self.dim = dim
        self.weights = weights
        self.beta = beta
        self.normalize = normalize
        self.self_influence = self_influence
        self.feature_ratio = feature_ratio
        self.orbits = orbits
        self.random_state = random_state
        self.dtype = dtype
        self.block_size = block_size

    # -- checks ---------------------------------------------------------------------------------------
    def _check_params(self) -> tuple[int, np.ndarray, float, float, float, np.dtype]:
        dim = check_positive_int(self.dim, "dim", owner="FastRP")
        try:
            w = np.asarray(self.weights, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ParameterError(f"The 'weights' parameter of FastRP must be a list of numbers. Got {self.weights!r}.") from None
        if w.size == 0 or not np.all(np.isfinite(w)):
            raise ParameterError(
                f"The 'weights' parameter of FastRP must be a non-empty list of finite numbers. Got {self.weights!r}."
            )
        numbers = {}
        for name in ("beta", "self_influence", "feature_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
                raise ParameterError(f"The '{name}' parameter of FastRP must be a finite number. Got {value!r}.")
            numbers[name] = float(value)
        if not 0.0 <= numbers["feature_ratio"] <= 1.0:
            raise ParameterError(f"The 'feature_ratio' parameter of FastRP must be in [0, 1]. Got {self.feature_ratio!r}.")
        if not np.any(w) and numbers["self_influence"] == 0:
            raise ParameterError("FastRP needs a non-zero weight or self_influence; all are 0")
        dtype = np.dtype(self.dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ParameterError(f"The 'dtype' parameter of FastRP must be float32 or float64. Got {dtype}.")
        if self.orbits is not None:
            parse_orbits(self.orbits)
        if self.block_size is not None:
            check_positive_int(self.block_size, "block_size", owner="FastRP")
        return dim, w, numbers["beta"], numbers["self_influence"], numbers["feature_ratio"], dtype

    # -- fitting -------------------------------------------------------------------------------------
    def fit(
        self,
        graph: Any,
        *,
        features: Any = None,
        projection: Any = None,
        n_nodes: int | None = None,
        progress: bool = False,
    ) -> FastRP:
        """Compute the embedding of every node.

        Parameters
        ----------
        graph : int array of shape (m, 2) or scipy.sparse matrix of shape (n, n)
            Edge list or adjacency (see :func:`~lowdim.encoders.as_adjacency` for self-loops,
            repeated edges and weights).
        features : array of shape (n, f), optional
            Node properties (e.g. text embeddings); needs ``feature_ratio > 0``.
        projection : array or sparse matrix of shape (n, dim - n_feature_dims), optional
            Use this random matrix as ``R`` instead of drawing one (e.g. to match another
            implementation; any global scale cancels in step 7).
        n_nodes : int, optional
            Number of nodes of an edge list (default: largest id + 1).
        progress : bool
            Show a progress bar on stderr.

        Returns
        -------
        self
        """
        dim, w, beta, self_w, ratio, dtype = self._check_params()
        A = as_adjacency(graph, n_nodes=n_nodes, dtype=np.float64)
        if self.orbits is not None:
            A = combine_orbits(A, self.orbits)
        n = A.shape[0]
        feats = self._check_features(features, n, ratio)
        n_feat = 0 if feats is None else min(dim, max(1, int(round(ratio * dim))))
        n_rand = dim - n_feat
        R = self._check_projection(projection, n, n_rand)

        deg = degrees(A)
        has_edges = deg > 0
        inv = np.zeros(n)
        inv[has_edges] = 1.0 / deg[has_edges]
        P = sp.csr_matrix(sp.diags(inv) @ A, dtype=dtype)
        P.sort_indices()
        scale = np.zeros(n)
        scale[has_edges] = deg[has_edges] ** beta
        scale_col = scale.astype(dtype)[:, None]
        W = None
        if feats is not None:
            rng = np.random.default_rng(None if self.random_state is None else [int(self.random_state), 1])
            W = rng.standard_normal((feats.shape[1], n_feat)).astype(dtype)

        terms = [(i + 1, float(a)) for i, a in enumerate(w) if a != 0]
        if self_w != 0:
            terms = [(0, self_w), *terms]
        k = len(w)
        # one full buffer per term when normalising (a row norm needs the whole row), else only E
        if self.normalize:
            store = {p: np.empty((n, dim), dtype=dtype) for p, _ in terms}
        else:
            store = {-1: np.zeros((n, dim), dtype=dtype)}
        weight_of = dict(terms)

        block = self.block_size or int(np.clip((16 << 20) // max(1, n * dtype.itemsize), 32, 256))
        starts = list(range(0, dim, block))
        with ProgressBar(progress, total=len(starts), description="FastRP") as bar:
            for start in starts:
                stop = min(dim, start + block)
                if 0 in weight_of or stop > n_rand:
                    cur = self._initial_block(R, feats, W, start, stop, n_rand, dtype)
                    self._keep(store, 0, weight_of, cur, start, stop)
                    cur = P @ (cur * scale_col)
                else:  # R′ is very sparse: the first product is cheapest sparse times sparse
                    cur = (P @ sp.csc_matrix(R[:, start:stop].multiply(scale[:, None]), dtype=dtype)).toarray()
                self._keep(store, 1, weight_of, cur, start, stop)
                for p in range(2, k + 1):
                    cur = P @ cur
                    self._keep(store, p, weight_of, cur, start, stop)
                bar.update(advance=1)
        E = store[-1] if not self.normalize else self._combine_normalized(store, weight_of)
        _standardize(E)
        self.embedding_ = E
        self.projection_ = R
        self.n_feature_dims_ = n_feat
        self.n_nodes_ = n
        return self

    def fit_transform(self, graph: Any, **kwargs: Any) -> np.ndarray:
        """:meth:`fit` and return ``embedding_``, shape (n, dim) in ``dtype``."""
        return self.fit(graph, **kwargs).embedding_

    def transform(self) -> np.ndarray:
        """The fitted embedding, (n, dim): FastRP embeds the nodes of the graph it was fitted on, no others."""
        if not hasattr(self, "embedding_"):
            raise NotFittedError("This FastRP is not fitted yet; call fit(graph) or fit_transform(graph) first")
        return self.embedding_

    # -- helpers -------------------------------------------------------------------------------------
    @staticmethod
    def _check_features(features: Any, n: int, ratio: float) -> np.ndarray | None:
        if features is None:
            if ratio > 0:
                raise ParameterError("feature_ratio > 0 needs node features: pass features=(n, f) array to fit")
            return None
        if ratio == 0:
            raise ParameterError("features were given but feature_ratio is 0; set feature_ratio in (0, 1]")
        F = check_embeddings(features, name="features", dtype=np.float64)
        if F.shape[0] != n:
            raise DimensionError(f"features has {F.shape[0]} rows, but the graph has {n} nodes")
        norms = np.linalg.norm(F, axis=1, keepdims=True)
        return F / np.where(norms > 0, norms, 1.0)

    def _check_projection(self, projection: Any, n: int, n_rand: int) -> sp.csc_matrix:
        if projection is None:
            return sparse_projection(n, max(n_rand, 1), random_state=self.random_state)[:, :n_rand]
        R = sp.csc_matrix(projection, dtype=np.float64)
        if R.shape != (n, n_rand):
            raise DimensionError(f"projection has shape {R.shape}; expected (n_nodes, dim - feature dims) = ({n}, {n_rand})")
        if R.nnz and not np.all(np.isfinite(R.data)):
            raise ValidationError("projection contains NaN or infinity")
        return R

    @staticmethod
    def _initial_block(
        R: sp.csc_matrix, feats: np.ndarray | None, W: np.ndarray | None, start: int, stop: int, n_rand: int, dtype: np.dtype
    ) -> np.ndarray:
        out = np.zeros((R.shape[0], stop - start), dtype=dtype)
        r_stop = min(stop, n_rand)
        if start < r_stop:
            out[:, : r_stop - start] = R[:, start:r_stop].toarray()
        if feats is not None and W is not None and stop > n_rand:
            f_start = max(start, n_rand)
            out[:, f_start - start :] = feats @ W[:, f_start - n_rand : stop - n_rand].astype(np.float64)
        return out

    def _keep(
        self, store: dict[int, np.ndarray], p: int, weight_of: dict[int, float], block: np.ndarray, start: int, stop: int
    ) -> None:
        if p not in weight_of:
            return
        if self.normalize:
            store[p][:, start:stop] = block
        else:
            store[-1][:, start:stop] += weight_of[p] * block

    @staticmethod
    def _combine_normalized(store: dict[int, np.ndarray], weight_of: dict[int, float]) -> np.ndarray:
        """``Σ α_p N_p / ||N_p row||`` into the first buffer, row chunk by row chunk."""
        keys = list(store)
        E = store[keys[0]]
        step = _row_chunk(E.shape[1])
        for lo in range(0, E.shape[0], step):
            hi = min(E.shape[0], lo + step)
            acc = np.zeros((hi - lo, E.shape[1]), dtype=np.float64)
            for p in keys:
                chunk = store[p][lo:hi]
                norms = np.sqrt(np.einsum("ij,ij->i", chunk, chunk, dtype=np.float64))
                factor = np.where(norms > 0, weight_of[p] / np.where(norms > 0, norms, 1.0), 0.0)
                acc += chunk * factor[:, None]
            E[lo:hi] = acc
        for p in keys[1:]:
            del store[p]
        return E


def _standardize(E: np.ndarray) -> None:
    """Step 7 in place: centre each column, divide by its population std (a zero-std column only centred)."""
    n = E.shape[0]
    step = _row_chunk(E.shape[1])
    total = np.zeros(E.shape[1])
    for lo in range(0, n, step):
        total += E[lo : lo + step].sum(axis=0, dtype=np.float64)
    mean = total / n
    sq = np.zeros(E.shape[1])
    for lo in range(0, n, step):
        c = E[lo : lo + step] - mean
        sq += np.einsum("ij,ij->j", c, c)
    std = np.sqrt(sq / n)
    std[std == 0] = 1.0
    for lo in range(0, n, step):
        E[lo : lo + step] = (E[lo : lo + step] - mean) / std
