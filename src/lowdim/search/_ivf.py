"""``IVFIndex``: a sub-linear inverted-file index over the codes of one fitted pipeline.

A coarse k-means partition (``nlist`` centroids over the vectors as the metric prepares
them) sends each vector to one list; a query probes its ``nprobe`` nearest lists, scores
their codes with the FAISS IVF kernel matching the flat scanner's layout (see
:mod:`lowdim.search._ivf_lists`), then reranks ``rerank * k`` candidates exactly from the
full vectors. With ``nprobe == nlist`` it returns what the flat :class:`CodeIndex` returns.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from faiss.contrib.clustering import two_level_clustering

from ..arrays import sample_rows
from ..exceptions import DimensionError, FileFormatError, ParameterError, ValidationError
from ..validation import check_embeddings, check_k, check_positive_int
from ._index import SearchResult, rerank_exact
from ._ivf_lists import InvertedCodes, lists_from_state, make_lists

__all__ = [
    "IVFIndex",
    "IVFStats",
    "IdFilter",
    "MIN_ROWS_PER_LIST",
    "MAX_ROWS_PER_LIST",
    "HNSW_COARSE_FROM",
    "auto_nlist",
    "training_rows",
]

#: FAISS's k-means wants at least this many training rows per centroid
MIN_ROWS_PER_LIST = 39
#: training rows per list beyond which the sample is capped
MAX_ROWS_PER_LIST = 100
#: from this many lists on, the coarse quantizer is an HNSW graph over the centroids
HNSW_COARSE_FROM = 4096
#: from this many lists the partition is trained by two-level k-means (sqrt(nlist) clusters, then each split)
TWO_LEVEL_FROM = 1024
#: k-means iterations (FAISS's IVF default is 10; the lists hardly move after it)
KMEANS_ITER = 10
FORMAT_VERSION = 1
_META = "ivf.json"
_FILES = ("coarse.npz", "lists.npz")


@dataclass(frozen=True)
class IVFStats:
    """Balance and memory of an :class:`IVFIndex`.

    Attributes
    ----------
    nlist, ntotal : int
    list_sizes : ndarray (nlist,) int64
    imbalance : float
        Largest list over the mean list size (1.0 is perfect balance); rebalance (retrain)
        when it grows well beyond ~3.
    empty_lists : int
    ram_bytes_per_vector : float
        Code bytes + 8 (the int64 id) + the coarse centroids (and any per-list kernel
        state) spread over the ``ntotal`` vectors.
    route : str
        The kernel scoring the lists (``"ivf-sq"``, ``"ivf-pq-fastscan"``, ... or ``"generic"``).
    """

    nlist: int
    ntotal: int
    list_sizes: np.ndarray
    imbalance: float
    empty_lists: int
    ram_bytes_per_vector: float
    route: str


class IdFilter:
    """The ids a search may return: a boolean mask indexed by id, or an array of ids.

    ``selector`` is the matching ``faiss.IDSelector`` (a bitmap, or a batch of ids);
    ``allows(ids)`` answers the same question for an array of ids.
    """

    def __init__(self, allowed: Any) -> None:
        arr = np.asarray(allowed)
        if arr.ndim != 1:
            raise DimensionError(f"allowed must be a 1-D boolean mask or array of ids; got shape {arr.shape}")
        if arr.dtype == bool:
            self.mask: np.ndarray | None = arr
            self._bits = np.packbits(arr, bitorder="little")
            self.selector = faiss.IDSelectorBitmap(len(self._bits), faiss.swig_ptr(self._bits))
        elif arr.dtype.kind in "iu" or len(arr) == 0:
            self.mask = None
            self._ids = np.unique(arr.astype(np.int64))
            self.selector = faiss.IDSelectorBatch(len(self._ids), faiss.swig_ptr(self._ids))
        else:
            raise ValidationError(f"allowed has dtype {arr.dtype}; expected a boolean mask (indexed by id) or integer ids")

    def allows(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        if self.mask is not None:
            inside = (ids >= 0) & (ids < len(self.mask))
            out = np.zeros(len(ids), bool)
            out[inside] = self.mask[ids[inside]]
            return out
        return np.isin(ids, self._ids)


#: the training sample is capped at this many rows when 100 per list would be more (39 per list stays the floor)
TRAIN_CAP = 1_000_000


def training_rows(n: int, nlist: int) -> int:
    """Rows of the k-means sample for ``nlist`` lists out of ``n``: 100 per list, at most ~1M (39 per list at least).

    >>> training_rows(116_697, 1024), training_rows(10_000_000, 16384), training_rows(10_000_000, 32768)
    (102400, 1000000, 1277952)
    """
    return min(n, max(MIN_ROWS_PER_LIST * nlist, min(MAX_ROWS_PER_LIST * nlist, TRAIN_CAP)))


def auto_nlist(n: int) -> int:
    """The number of lists for ``n`` rows: the power of two nearest ``4 sqrt(n)``, at most ``n / 39``.

    >>> auto_nlist(116_697), auto_nlist(10_000_000), auto_nlist(1_000)
    (1024, 16384, 16)
    """
    want = 4.0 * math.sqrt(max(n, 1))
    nlist = 1 << max(0, round(math.log2(want)))
    while nlist > 1 and nlist * MIN_ROWS_PER_LIST > n:
        nlist //= 2
    return nlist


def _nlist_hint(n: int) -> int:
    """Largest power of two nlist a sample of ``n`` rows can train."""
    top = max(1, n // MIN_ROWS_PER_LIST)
    return 1 << (top.bit_length() - 1)


class IVFIndex:
    """Inverted-file index over the codes of a fitted :class:`~lowdim.spec.Pipeline`.

    Parameters
    ----------
    codec : Pipeline
        Fitted; its metric, codes and ``+rerank`` factor apply.
    nlist : int
        Number of coarse lists (``ivf<nlist>`` in a spec string).
    nprobe : int, optional
        Lists probed per query unless :meth:`search` says otherwise, 1..nlist (default
        ``min(16, nlist)``).
    vectors : (n, d) array or np.memmap, optional
        Full vectors indexed by id, read only to rerank candidates: anything with a
        ``shape`` whose ``vectors[ids]`` (sorted int64 ids) gives those rows, so a caller
        whose vectors live in several files can pass a small adapter.
    random_state : int
        Seed of the training sample and of k-means.

    Ids are int64 and, when reranking, row numbers of ``vectors``. Call :meth:`train` on a
    sample once, then :meth:`add` as often as needed (new rows go to their nearest list;
    nothing is retrained).

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.spec import Pipeline
    >>> X = np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32)
    >>> p = Pipeline("int8+rerank2").fit(X)
    >>> index = IVFIndex(p, nlist=16, vectors=X).train(X)
    >>> index.add(X)
    >>> index.search(X[:3], 5, nprobe=16).ids[:, 0].tolist()
    [0, 1, 2]
    """

    def __init__(self, codec: Any, *, nlist: int, nprobe: int | None = None, vectors: Any = None, random_state: int = 0) -> None:
        codec._check_fitted()
        self.codec = codec
        self.nlist = check_positive_int(nlist, "nlist", owner="IVFIndex")
        self.nprobe = min(16, self.nlist) if nprobe is None else self._check_nprobe(nprobe)
        self.vectors = vectors
        self.random_state = random_state
        self.d = int(codec.n_features_in_)
        self.code_size = int(codec.code_size)
        self.coarse: faiss.Index | None = None
        self.lists: InvertedCodes = make_lists(codec.make_scanner(), self.nlist, self.code_size)

    # -- description --------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.list_sizes().sum())

    def __repr__(self) -> str:
        return f"IVFIndex({self.codec.to_spec()!r}, nlist={self.nlist}, route={self.route!r}, ntotal={len(self)})"

    @property
    def route(self) -> str:
        """The kernel scoring the lists: ``"ivf-flat"``, ``"ivf-sq"``, ``"ivf-pq"``, ``"ivf-pq-fastscan"``,
        ``"ivf-rabitq"``, ``"ivf-binary"`` or ``"generic"`` (flat scanner over the probed rows)."""
        return self.lists.route

    @property
    def is_trained(self) -> bool:
        return self.coarse is not None

    def to_spec(self) -> str:
        return f"ivf{self.nlist}/{self.codec.to_spec()}"

    @property
    def _coarse_metric(self) -> str:
        return "l2" if self.codec.metric == "l2" else "ip"

    def list_sizes(self) -> np.ndarray:
        """(nlist,) int64 entries per list."""
        return self.lists.list_sizes()

    def stats(self) -> IVFStats:
        """List balance and RAM bytes per vector (see :class:`IVFStats`)."""
        sizes = self.list_sizes()
        n = int(sizes.sum())
        mean = n / self.nlist
        centroid_bytes = self.nlist * self.d * 4
        extra = 0
        if self.route == "ivf-rabitq":
            extra = self.nlist * int(self.lists.index.d) * 4  # type: ignore[attr-defined]  # each list's centre
        per = self.code_size + 8 + (centroid_bytes + extra) / max(n, 1)
        return IVFStats(
            nlist=self.nlist,
            ntotal=n,
            list_sizes=sizes,
            imbalance=float(sizes.max() / mean) if n else 0.0,
            empty_lists=int((sizes == 0).sum()),
            ram_bytes_per_vector=float(per),
            route=self.route,
        )

    # -- training and adding ------------------------------------------------------------
    def train(self, X: Any) -> IVFIndex:
        """Learn the ``nlist`` coarse centroids from (a seeded sample of :func:`training_rows` of) ``X`` (n, d)."""
        n = len(X) if hasattr(X, "__len__") else 0
        need = MIN_ROWS_PER_LIST * self.nlist
        if n < need:
            raise ParameterError(
                f"nlist {self.nlist:,} needs at least {need:,} training rows ({MIN_ROWS_PER_LIST} per list); "
                f"got {n:,}: use nlist <= {_nlist_hint(n):,}"
            )
        if isinstance(X, np.ndarray) and X.ndim == 2:
            X = sample_rows(X, training_rows(len(X), self.nlist), self.random_state)
        X = check_embeddings(X, n_features=self.d, name="X", what=f"this {self.codec.to_spec()} index")
        Y = np.ascontiguousarray(self.codec.prepare(X))
        seed, spherical = int(self.random_state) % (2**31), self.codec.metric == "cosine"
        if self.nlist >= TWO_LEVEL_FROM:
            # two levels (FAISS's recipe for many lists): sqrt(nlist) clusters, then each split in proportion
            # to its rows; the cost falls from rows x nlist to about rows x 2 sqrt(nlist) distance computations
            centroids, _ = two_level_clustering(
                Y, max(2, round(math.sqrt(self.nlist))), self.nlist, clustering_niter=KMEANS_ITER, seed=seed, spherical=spherical
            )
        else:
            km = faiss.Kmeans(self.d, self.nlist, niter=KMEANS_ITER, seed=seed, spherical=spherical)
            km.train(Y)
            centroids = km.centroids
        self.coarse = self._make_coarse(centroids)
        return self

    def _make_coarse(self, centroids: np.ndarray) -> faiss.Index:
        metric = faiss.METRIC_L2 if self._coarse_metric == "l2" else faiss.METRIC_INNER_PRODUCT
        coarse = faiss.IndexHNSWFlat(self.d, 32, metric) if self.nlist >= HNSW_COARSE_FROM else faiss.IndexFlat(self.d, metric)
        coarse.add(np.ascontiguousarray(centroids, dtype=np.float32))
        return coarse

    @property
    def centroids(self) -> np.ndarray:
        """(nlist, d) float32 coarse centroids."""
        self._check_trained()
        return self.coarse.reconstruct_n(0, self.nlist)  # type: ignore[union-attr]

    def _check_trained(self) -> None:
        if self.coarse is None:
            raise ParameterError(f"this {self.to_spec()} index is not trained yet; call train(X) on a sample first")

    def assign(self, X: Any, nprobe: int = 1) -> np.ndarray:
        """(n, nprobe) int64 nearest lists of float vectors ``X`` (n, d), best first."""
        self._check_trained()
        return self._assign_prepared(np.ascontiguousarray(self.codec.prepare(X)), nprobe)

    def _assign_prepared(self, Y: np.ndarray, nprobe: int) -> np.ndarray:
        coarse = self.coarse
        if isinstance(coarse, faiss.IndexHNSWFlat):
            coarse.hnsw.efSearch = max(64, 2 * nprobe)
        _, I = coarse.search(Y, nprobe)  # type: ignore[union-attr]
        return I.astype(np.int64)

    def add(self, data: Any, ids: Any = None, *, vectors: Any = None) -> None:
        """Add rows: float vectors (encoded here) or the codec's codes, each sent to its nearest list.

        Parameters
        ----------
        data : (n, d) float vectors, or (n, code_size) uint8 codes of this codec
        ids : (n,) int, optional
            Non-negative int64 ids (rows of ``vectors`` when reranking); default: continue
            from the largest id so far.
        vectors : (n, d) float, optional
            With codes: the vectors they encode, to pick each row's list. Without them the
            list is picked from the decoded codes.
        """
        self._check_trained()
        arr = data if isinstance(data, np.ndarray) else np.asarray(data)
        if arr.dtype == np.uint8:
            codes = self.codec.quantizer._check_codes(arr)
            if vectors is not None:
                V = check_embeddings(vectors, n_features=self.d, name="vectors", what=f"this {self.codec.to_spec()} index")
                if len(V) != len(codes):
                    raise DimensionError(f"vectors have {len(V)} rows but codes have {len(codes)}")
            else:
                V = self.codec.decode(codes) if len(codes) else np.zeros((0, self.d), np.float32)
        else:
            V = check_embeddings(arr, n_features=self.d, name="X", what=f"this {self.codec.to_spec()} index")
            codes = self.codec.encode(V)
        n = len(codes)
        if ids is None:
            start = self._next_id
            ids = np.arange(start, start + n, dtype=np.int64)
        else:
            ids = np.asarray(ids)
            if ids.dtype.kind not in "iu" or ids.shape != (n,):
                raise ValidationError(f"ids must be {n} integers (one per row); got shape {ids.shape}, dtype {ids.dtype}")
            ids = ids.astype(np.int64)
            if n and ids.min() < 0:
                raise ValidationError("ids must be >= 0 (-1 marks a missing result)")
        if n == 0:
            return
        lists = self.assign(V, 1)[:, 0]
        self.lists.add(lists, codes, ids)
        self._next_id = max(self._next_id, int(ids.max()) + 1)

    _next_id: int = 0

    def remove(self, ids: Any) -> int:
        """Remove the rows with these ids; returns how many were found."""
        return self.lists.remove(np.asarray(ids, np.int64).ravel())

    # -- searching ----------------------------------------------------------------------
    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        nprobe: int | None = None,
        rerank: int | None = None,
        allowed: Any = None,
    ) -> SearchResult:
        """Top-``k`` ids for each query from its ``nprobe`` nearest lists.

        Parameters
        ----------
        queries : (nq, d) float
        k : int
        nprobe : int, optional
            Lists probed, 1..nlist (default: the index's ``nprobe``).
        rerank : int, optional
            Fetch ``rerank * k`` candidates from the codes and rescore them exactly from
            ``vectors``. Defaults to the spec's ``+rerank<N>``; 0 disables it.
        allowed : (m,) bool mask indexed by id, or (m,) int ids, or IdFilter, optional
            Only these ids may be returned (FAISS skips the others inside the scan).

        Returns
        -------
        SearchResult with scores and ids of shape (nq, k).
        """
        self._check_trained()
        k = check_k(k)
        nprobe = self.nprobe if nprobe is None else self._check_nprobe(nprobe)
        factor = self.codec.rerank if rerank is None else rerank
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 0):
            raise ParameterError(f"The 'rerank' parameter must be an integer >= 0. Got {factor!r}.")
        Q = check_embeddings(queries, n_features=self.d, name="queries", what=f"this {self.to_spec()} index")
        if factor:
            self._check_vectors(int(factor))
        filt = allowed if (allowed is None or isinstance(allowed, IdFilter)) else IdFilter(allowed)
        Qn = np.ascontiguousarray(self.codec.prepare(Q))
        assign = self._assign_prepared(Qn, nprobe)
        Qt = self.codec.transform(Q, name="queries")
        if not factor:
            D, I = self.lists.search(Qt, assign, k, filt)
            return SearchResult(D, I)
        _, cand = self.lists.search(Qt, assign, k * int(factor), filt)
        D, I = rerank_exact(Qn, cand, self.vectors, k, metric=self.codec.metric)
        return SearchResult(D, I)

    def _check_nprobe(self, nprobe: Any) -> int:
        if isinstance(nprobe, bool) or not isinstance(nprobe, (int, np.integer)) or not 1 <= nprobe <= self.nlist:
            raise ParameterError(f"The 'nprobe' parameter must be an integer in 1..nlist={self.nlist}. Got {nprobe!r}.")
        return int(nprobe)

    def _check_vectors(self, factor: int) -> None:
        if self.vectors is None:
            raise ParameterError(
                f"rerank={factor} needs the full-precision vectors: pass vectors= (an array or np.memmap of shape (n, {self.d}))"
            )
        shape = tuple(getattr(self.vectors, "shape", ()))
        if len(shape) != 2 or shape[1] != self.d:
            raise DimensionError(f"vectors have shape {shape}, but this index expects (n, {self.d})")

    # -- persistence --------------------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(meta, coarse, lists)``: a JSON-able header, the centroid arrays and the list arrays.

        What :meth:`save` writes and :meth:`from_arrays` reads back, for callers that keep
        the arrays in files of their own (a collection's folder).
        """
        self._check_trained()
        meta = {
            "kind": "lowdim.IVFIndex",
            "format_version": FORMAT_VERSION,
            "spec": self.codec.to_spec(),
            "metric": self.codec.metric,
            "d": self.d,
            "code_size": self.code_size,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "route": self.route,
            "random_state": self.random_state,
            "next_id": self._next_id,
        }
        return meta, {"centroids": self.centroids}, self.lists.state()

    @classmethod
    def from_arrays(
        cls, codec: Any, meta: dict[str, Any], coarse: dict[str, np.ndarray], lists: dict[str, np.ndarray], *, vectors: Any = None
    ) -> IVFIndex:
        """The index :meth:`to_arrays` described, over the codes of ``codec`` (the fitted pipeline it was built with).

        Raises a one-line :class:`FileFormatError` when the header is not an IVF index's, the
        codec is not the one the index was built with, or the arrays do not fit together.
        """
        where = meta.get("source", "the IVF data") if isinstance(meta, dict) else "the IVF data"
        if not isinstance(meta, dict) or meta.get("kind") != "lowdim.IVFIndex":
            raise FileFormatError(f"{where} does not describe a lowdim.IVFIndex")
        if meta.get("format_version") != FORMAT_VERSION:
            raise FileFormatError(
                f"{where} has IVF format version {meta.get('format_version')!r}; this lowdim reads {FORMAT_VERSION}"
            )
        try:
            saved = (meta["spec"], meta["metric"], meta["d"], meta["code_size"])
            if saved != (codec.to_spec(), codec.metric, codec.n_features_in_, codec.code_size):
                raise FileFormatError(
                    f"{where} holds {meta['spec']} codes ({meta['metric']}, d={meta['d']}); "
                    f"the codec given is {codec.to_spec()} ({codec.metric}, d={codec.n_features_in_})"
                )
            index = cls(codec, nlist=meta["nlist"], nprobe=meta["nprobe"], vectors=vectors, random_state=meta["random_state"])
            centroids = np.asarray(coarse["centroids"], np.float32)
            if centroids.shape != (index.nlist, index.d):
                raise KeyError(f"centroids of shape {centroids.shape}")
            index.coarse = index._make_coarse(centroids)
            index.lists = lists_from_state(codec.make_scanner(), index.nlist, index.code_size, meta["route"], lists)
            index._next_id = int(meta["next_id"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            if isinstance(exc, FileFormatError):
                raise
            raise FileFormatError(f"{where} is inconsistent ({str(exc).splitlines()[0]})") from None
        return index

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the index (centroids and lists, not the codec or the vectors) to ``folder``, atomically.

        Files go to a temporary sibling folder (fsynced) that then replaces ``folder``;
        ``ivf.json`` records each file's size and CRC-32 for :meth:`load` to check.
        """
        meta, coarse, lists = self.to_arrays()
        folder = Path(folder)
        if not folder.parent.is_dir():
            raise FileFormatError(f"cannot write {folder}: folder {folder.parent} does not exist")
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        files = {}
        for name, content in zip(_FILES, (coarse, lists), strict=True):
            with open(tmp / name, "wb") as fh:
                np.savez(fh, **content)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
                fh.flush()
                os.fsync(fh.fileno())
            blob = (tmp / name).read_bytes()
            files[name] = {"size": len(blob), "crc32": zlib.crc32(blob)}
        with open(tmp / _META, "w", encoding="utf-8") as fh:
            json.dump({**meta, "files": files}, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        fd = os.open(folder.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str], codec: Any, *, vectors: Any = None) -> IVFIndex:
        """Read an index written by :meth:`save`; ``codec`` is the fitted pipeline whose codes it holds.

        Raises a one-line :class:`FileFormatError` for a missing, truncated or corrupt file,
        or a codec that is not the one the index was built with.
        """
        folder = Path(folder)
        meta_path = folder / _META
        if not meta_path.is_file():
            raise FileFormatError(f"{folder} is not an IVF index folder (no {_META})")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise FileFormatError(f"{meta_path} is not valid JSON (truncated or corrupt)") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
            raise FileFormatError(f"{meta_path} does not describe a lowdim.IVFIndex")
        contents = []
        for name in _FILES:
            path = folder / name
            info = meta["files"].get(name) or {}
            if not path.is_file():
                raise FileFormatError(f"{path} is missing")
            blob = path.read_bytes()
            if len(blob) != info.get("size") or zlib.crc32(blob) != info.get("crc32"):
                raise FileFormatError(f"{path} is truncated or corrupt (size or CRC-32 differs from {_META})")
            try:
                with np.load(path, allow_pickle=False) as data:
                    contents.append({key: data[key] for key in data.files})
            except (OSError, ValueError, EOFError) as exc:
                raise FileFormatError(f"{path} cannot be read ({type(exc).__name__})") from None
        return cls.from_arrays(codec, {**meta, "source": str(folder)}, contents[0], contents[1], vectors=vectors)
