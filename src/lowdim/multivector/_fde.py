"""``FDE``: MUVERA fixed-dimensional encodings of token sets (Dhulipala et al., NeurIPS 2024).

Each of ``reps`` repetitions draws ``k_sim`` Gaussian hyperplanes (SimHash), which split token
space into ``2**k_sim`` buckets, and a random ±1/sqrt(d_proj) projection to ``d_proj`` dimensions.
A *query's* block for a bucket is the SUM of its projected tokens there, a *document's* the
AVERAGE, so that <query FDE, document FDE> adds, bucket by bucket, each query token's similarity
to the mean of the document tokens that share its bucket: an estimate of Chamfer (MaxSim) when
buckets are fine enough. With ``fill_empty`` an empty document bucket takes the document's token
whose SimHash bits are nearest (Hamming) to the bucket's, first such token on ties. An optional
final count-sketch projection maps the concatenation to ``final_dim`` numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._npzfile import read_npz_file, write_npz_file
from .._version import __version__
from ..arrays import to_float32
from ..exceptions import FileFormatError, NotFittedError, ParameterError
from ..validation import check_positive_int
from ._tokens import TokenSets, check_token_sets

__all__ = ["FDE"]

FORMAT_VERSION = 1
#: SimHash bits per repetition at most (2**k_sim buckets per repetition)
MAX_K_SIM = 12
#: blocks of fewer tokens take the one-product path (a sparse product per repetition costs ~0.2 ms)
AGGREGATE_MIN_TOKENS = 2048


class FDE:
    """MUVERA fixed-dimensional encoder, an estimator.

    Parameters
    ----------
    k_sim : int
        SimHash hyperplanes per repetition (0..12): ``2**k_sim`` buckets.
    d_proj : int or None
        Width of each bucket's block after the inner random projection; ``None`` keeps the
        token width (no projection).
    reps : int
        Independent repetitions, concatenated.
    fill_empty : bool
        Documents only: an empty bucket takes the token nearest to it in Hamming distance of
        the SimHash bits (the paper's ``fill_empty_partitions``). Queries never fill.
    final_dim : int or None
        Width of an optional final count-sketch projection of the whole encoding.
    seed : int
        Seed of every draw: the same seed and width give the same hyperplanes and projections.

    Attributes
    ----------
    n_features_in_ : int
        Token width seen by ``fit``.
    hyperplanes_ : ndarray (reps, d, k_sim) float32
    projections_ : ndarray (reps, d, d_proj) float32 or None
        Entries ±1/sqrt(d_proj); None when ``d_proj`` is None.
    final_index_, final_sign_ : ndarray (reps * 2**k_sim * d_proj,) int64 / float32 or None
        The count sketch: coordinate i goes to ``final_index_[i]`` times ``final_sign_[i]``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> docs = [rng.normal(size=(n, 32)).astype(np.float32) for n in (5, 9, 3)]
    >>> fde = FDE(k_sim=3, d_proj=8, reps=4, seed=1).fit(docs)
    >>> fde.encode_documents(docs).shape, fde.encode_queries(docs[:1]).shape, fde.output_dim
    ((3, 256), (1, 256), 256)
    """

    def __init__(
        self,
        *,
        k_sim: int = 4,
        d_proj: int | None = 16,
        reps: int = 10,
        fill_empty: bool = True,
        final_dim: int | None = None,
        seed: int = 0,
    ) -> None:
        self.k_sim = k_sim
        self.d_proj = d_proj
        self.reps = reps
        self.fill_empty = fill_empty
        self.final_dim = final_dim
        self.seed = seed

    # -- parameters -----------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {
            "k_sim": self.k_sim,
            "d_proj": self.d_proj,
            "reps": self.reps,
            "fill_empty": self.fill_empty,
            "final_dim": self.final_dim,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        return "FDE(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def _check_params(self, d: int) -> None:
        k = check_positive_int(self.k_sim, "k_sim", owner="FDE", minimum=0)
        if k > MAX_K_SIM:
            raise ParameterError(f"The 'k_sim' parameter of FDE must be at most {MAX_K_SIM} (2**k_sim buckets). Got {k}.")
        if self.d_proj is not None:
            dp = check_positive_int(self.d_proj, "d_proj", owner="FDE")
            if dp > d:
                raise ParameterError(f"The 'd_proj' parameter of FDE must be at most the token width {d} (or None). Got {dp}.")
        check_positive_int(self.reps, "reps", owner="FDE")
        if self.final_dim is not None:
            check_positive_int(self.final_dim, "final_dim", owner="FDE")
        if not isinstance(self.fill_empty, (bool, np.bool_)):
            raise ParameterError(f"The 'fill_empty' parameter of FDE must be True or False. Got {self.fill_empty!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ParameterError(f"The 'seed' parameter of FDE must be an integer. Got {self.seed!r}.")

    @property
    def block_dim(self) -> int:
        """Width of one bucket's block (``d_proj``, or the token width without projection)."""
        self._check_fitted()
        return self.n_features_in_ if self.d_proj is None else int(self.d_proj)

    @property
    def raw_dim(self) -> int:
        """``reps * 2**k_sim * block_dim``: the width before the final projection."""
        return int(self.reps) * (1 << int(self.k_sim)) * self.block_dim

    @property
    def output_dim(self) -> int:
        """Width of the encodings: ``final_dim`` if set, else :attr:`raw_dim`."""
        return int(self.final_dim) if self.final_dim is not None else self.raw_dim

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_features_in_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("this FDE is not fitted yet; call fit(tokens) first")

    # -- fitting --------------------------------------------------------------------------
    def fit(self, tokens: Any) -> FDE:
        """Record the token width of ``tokens`` (any :func:`check_token_sets` form) and draw the random maps."""
        ts = check_token_sets(tokens, name="tokens")
        return self.fit_width(ts.dim)

    def fit_width(self, n_features: int) -> FDE:
        """Draw the random maps for tokens of width ``n_features`` (what :meth:`fit` does once it knows it)."""
        d = check_positive_int(n_features, "n_features", owner="FDE")
        self._check_params(d)
        # three independent streams, so changing final_dim never changes the other draws
        s_hash, s_proj, s_final = (np.random.default_rng(s) for s in np.random.SeedSequence(int(self.seed)).spawn(3))
        R, k = int(self.reps), int(self.k_sim)
        self.hyperplanes_ = s_hash.standard_normal((R, d, k)).astype(np.float32)
        self.projections_ = None
        if self.d_proj is not None:
            signs = s_proj.integers(0, 2, size=(R, d, int(self.d_proj)), dtype=np.int8) * 2 - 1
            self.projections_ = (signs / np.sqrt(float(self.d_proj))).astype(np.float32)
        self.n_features_in_ = d
        self.final_index_ = self.final_sign_ = None
        if self.final_dim is not None:
            self.final_index_ = s_final.integers(0, int(self.final_dim), size=self.raw_dim, dtype=np.int64)
            self.final_sign_ = (s_final.integers(0, 2, size=self.raw_dim, dtype=np.int8) * 2 - 1).astype(np.float32)
        return self

    # -- encoding -------------------------------------------------------------------------
    def encode_documents(self, tokens: Any, *, batch_size: int = 512) -> np.ndarray:
        """Document encodings: the AVERAGE of each bucket's projected tokens (filled if ``fill_empty``).

        Parameters
        ----------
        tokens : TokenSets, list of (n_i, d) arrays or (rows (N, d), offsets (n + 1,))
        batch_size : int
            Sets encoded together (bounds memory: about ``N_batch * reps * max(2**k_sim, d_proj)`` numbers).

        Returns
        -------
        ndarray (n, output_dim) float32
        """
        return self._encode(tokens, document=True, batch_size=batch_size)

    def encode_queries(self, tokens: Any, *, batch_size: int = 512) -> np.ndarray:
        """Query encodings: the SUM of each bucket's projected tokens, empty buckets left zero.

        Returns
        -------
        ndarray (n, output_dim) float32
        """
        return self._encode(tokens, document=False, batch_size=batch_size)

    def _encode(self, tokens: Any, *, document: bool, batch_size: int) -> np.ndarray:
        self._check_fitted()
        batch_size = check_positive_int(batch_size, "batch_size", owner="FDE")
        ts = check_token_sets(tokens, n_features=self.n_features_in_, name="documents" if document else "queries")
        out = np.empty((len(ts), self.output_dim), np.float32)
        for start in range(0, len(ts), batch_size):
            stop = min(start + batch_size, len(ts))
            raw = self._encode_block(ts.slice(start, stop), document)
            out[start:stop] = self._final(raw)
        return out

    def _flat(self, name: str) -> np.ndarray:
        """``hyperplanes_`` or ``projections_`` (reps, d, m) as one (d, reps * m) matrix, cached per array."""
        arr = getattr(self, name)
        cache = self.__dict__.setdefault("_flat_cache", {})
        if name not in cache or cache[name][0] is not arr:
            cache[name] = (arr, np.ascontiguousarray(arr.transpose(1, 0, 2).reshape(arr.shape[1], -1)))
        return cache[name][1]

    def _buckets(self, rows: np.ndarray) -> np.ndarray:
        """(N, reps) int64 bucket of every token in every repetition (bit j = sign of hyperplane j)."""
        R, k = int(self.reps), int(self.k_sim)
        if k == 0:
            return np.zeros((len(rows), R), np.int64)
        side = (rows @ self._flat("hyperplanes_")).reshape(len(rows), R, k) > 0
        return (side.astype(np.int64) << np.arange(k, dtype=np.int64)).sum(axis=2)

    def _encode_block(self, ts: TokenSets, document: bool) -> np.ndarray:
        """(n, raw_dim) encodings of one block of sets.

        The maps are linear, so the bucket sums can be taken before or after the inner
        projection: with fewer (set, bucket) cells than tokens (``n * 2**k_sim < N``, coarse
        buckets) in a large block the raw tokens are summed per cell and the sums projected, one
        sparse product per repetition; otherwise every token is projected once for all repetitions and one sparse
        product sums them.
        """
        rows = to_float32(ts.rows)
        n, N = len(ts), len(rows)
        R, B, dp = int(self.reps), 1 << int(self.k_sim), self.block_dim
        sets = ts.set_ids()
        buckets = self._buckets(rows)  # (N, R)
        # the (set, repetition, bucket) cell of every (token, repetition) pair
        key = (sets[:, None] * R + np.arange(R)) * B + buckets
        proj = self.projections_
        if proj is not None and n * B < N and N >= AGGREGATE_MIN_TOKENS:
            out = np.empty((n, R, B, dp), np.float32)
            for r in range(R):
                member = sp.csr_matrix((np.ones(N, np.float32), (sets * B + buckets[:, r], np.arange(N))), shape=(n * B, N))
                out[:, r] = (np.asarray(member @ rows, dtype=np.float32) @ proj[r]).reshape(n, B, dp)
        else:
            P = np.repeat(rows[:, None, :], R, axis=1) if proj is None else (rows @ self._flat("projections_")).reshape(N, R, dp)
            member = sp.csr_matrix((np.ones(N * R, np.float32), (key.ravel(), np.arange(N * R))), shape=(n * R * B, N * R))
            out = np.asarray(member @ P.reshape(N * R, dp), dtype=np.float32).reshape(n, R, B, dp)
        if document:
            counts = np.bincount(key.ravel(), minlength=n * R * B).reshape(n, R, B)
            out /= np.maximum(counts, 1)[..., None].astype(np.float32)
            empty = counts == 0
            if self.fill_empty and empty.any():
                nearest = _nearest_tokens(buckets, sets, ts.offsets, B)  # (n, R, B)
                for r in range(R):
                    e = empty[:, r]
                    if e.any():
                        tokens = rows[nearest[:, r][e]]
                        out[:, r][e] = tokens if proj is None else tokens @ proj[r]
        return out.reshape(n, -1)

    def _final(self, raw: np.ndarray) -> np.ndarray:
        if self.final_index_ is None or self.final_sign_ is None or self.final_dim is None:
            return raw
        sketch = sp.csr_matrix(
            (self.final_sign_, (np.arange(len(self.final_index_)), self.final_index_)),
            shape=(len(self.final_index_), int(self.final_dim)),
        )
        return np.asarray((sketch.T @ raw.T).T, dtype=np.float32)

    # -- state ----------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """The fitted draws as named arrays (what :meth:`save` writes beside the parameters)."""
        self._check_fitted()
        state: dict[str, np.ndarray] = {"hyperplanes_": self.hyperplanes_}
        if self.projections_ is not None:
            state["projections_"] = self.projections_
        if self.final_index_ is not None and self.final_sign_ is not None:
            state["final_index_"] = self.final_index_
            state["final_sign_"] = self.final_sign_
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> FDE:
        """Install draws from :meth:`get_state` (or another implementation's, same shapes); checks the shapes."""
        try:
            H = np.asarray(state["hyperplanes_"], dtype=np.float32)
        except KeyError:
            raise ParameterError("FDE state has no 'hyperplanes_' array") from None
        R, k = int(self.reps), int(self.k_sim)
        if H.ndim != 3 or H.shape[0] != R or H.shape[2] != k:
            raise ParameterError(f"FDE state 'hyperplanes_' has shape {H.shape}; expected ({R}, d, {k})")
        d = H.shape[1]
        self._check_params(d)
        P = state.get("projections_")
        if (P is None) != (self.d_proj is None):
            raise ParameterError(f"FDE state {'lacks' if P is None else 'has'} 'projections_' but d_proj={self.d_proj!r}")
        if P is not None:
            P = np.asarray(P, dtype=np.float32)
            if P.shape != (R, d, self.d_proj):
                raise ParameterError(f"FDE state 'projections_' has shape {P.shape}; expected {(R, d, self.d_proj)}")
        self.hyperplanes_, self.projections_, self.n_features_in_ = H, P, d
        self.final_index_ = self.final_sign_ = None
        if self.final_dim is not None:
            idx, sign = state.get("final_index_"), state.get("final_sign_")
            if idx is None or sign is None or len(idx) != self.raw_dim or len(sign) != self.raw_dim:
                raise ParameterError(
                    f"FDE state needs 'final_index_' and 'final_sign_' of length {self.raw_dim} for final_dim={self.final_dim}"
                )
            idx = np.asarray(idx, dtype=np.int64)
            if idx.min() < 0 or idx.max() >= int(self.final_dim):
                raise ParameterError(f"FDE state 'final_index_' has values outside 0..{int(self.final_dim) - 1}")
            self.final_index_, self.final_sign_ = idx, np.asarray(sign, dtype=np.float32)
        return self

    def save(self, path: str | Path) -> Path:
        """Write parameters and draws to ``path`` (.npz + JSON header, no pickle, atomic)."""
        self._check_fitted()
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "lowdim.FDE",
            "lowdim_version": __version__,
            "params": self.get_params(),
            "n_features_in": self.n_features_in_,
        }
        return write_npz_file(path, meta, self.get_state())

    @classmethod
    def load(cls, path: str | Path) -> FDE:
        """Read an encoder written by :meth:`save`; it encodes exactly as before."""
        meta, arrays = read_npz_file(path, what="FDE file", version=FORMAT_VERSION, writer="FDE.save")
        if meta.get("kind") != "lowdim.FDE":
            raise FileFormatError(f"{path} holds a {meta.get('kind')!r}, not a lowdim.FDE")
        try:
            fde = cls(**meta["params"]).set_state(arrays)
        except (KeyError, TypeError, ParameterError) as exc:
            raise FileFormatError(f"FDE file {path} is incomplete: {exc}") from None
        if fde.n_features_in_ != meta.get("n_features_in"):
            raise FileFormatError(
                f"FDE file {path} says width {meta.get('n_features_in')} but its hyperplanes have {fde.n_features_in_}"
            )
        return fde


#: popcount of every value below 2**MAX_K_SIM
_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << MAX_K_SIM)], dtype=np.int8)


def _nearest_tokens(buckets: np.ndarray, sets: np.ndarray, offsets: np.ndarray, B: int) -> np.ndarray:
    """(n, reps, B) row of each set's token whose bucket bits are nearest (Hamming) to each bucket, first on ties.

    ``buckets`` (N, reps) is every token's bucket in every repetition, ``sets`` (N,) its set,
    ``offsets`` (n + 1,) the sets' boundaries.
    """
    N = len(buckets)
    dist = _POPCOUNT[buckets[:, :, None] ^ np.arange(B)]  # (N, reps, B)
    starts = offsets[:-1]
    best = np.minimum.reduceat(dist, starts, axis=0)  # (n, reps, B)
    cand = np.where(dist == best[sets], np.arange(N, dtype=np.int32)[:, None, None], np.int32(N))
    return np.minimum.reduceat(cand, starts, axis=0)
