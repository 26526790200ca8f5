"""``CodeGraph``: an HNSW graph whose nodes hold a pipeline's compact codes, reranked from full vectors.

A FAISS ``IndexHNSW`` needs a *storage* index that scores a float query against node
``i``. lowdim's scalar (f32, f16, int8, int4), PQ and rabitq codes have the byte layout of
FAISS's ``IndexFlat`` / ``IndexScalarQuantizer`` / ``IndexPQ`` / ``IndexRaBitQ``, so the graph's storage is
such an index holding our codes (``add_sa_codes``: no re-encoding) and every search
distance is the float query against a code (asymmetric), as in :class:`CodeIndex`.

The links are built over float rows, not over codes: :meth:`CodeGraph.add` swaps in a
temporary ``IndexFlat`` holding the decoded codes of the nodes already there plus the new
rows (the float vectors when given, else their decoded codes), lets FAISS insert the new
nodes, and swaps the code storage back. FAISS's IndexHNSW reads its storage through a
pointer it does not own here (``own_fields`` false), so this object keeps both alive.
On all of wordnet-minilm (benchmarks/bench_code_graph.py, random order) links built over
the float vectors beat links over decoded pq96x8 codes by 0.4-0.6 points of recall@10 at
equal ``ef`` and tie for int8, so ``add`` uses the float vectors when given. Either way
the build never needs a code-vs-code distance (which FAISS's PQ storage computes by L2
even for inner products).

FAISS inserts a batch by level, shuffled within a level; to control the insertion order
(``order=``, see :func:`insertion_order`) rows go in as consecutive chunks of 1,024 in that
order, and the graph is then renumbered (``permute_entries``) so that node ``i`` is row
``i`` again: no id map is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .._npzfile import read_npz_file, write_npz_file
from ..arrays import iter_slices
from ..exceptions import DimensionError, FileFormatError, ParameterError
from ..validation import check_choice, check_embeddings, check_k, check_positive_int
from ._index import SearchResult, rerank_exact
from ._order import ORDERS, insertion_order
from ._scanners import FaissCodesScanner, PQScanner
from ._topk import pad_value

__all__ = ["CodeGraph"]

FORMAT_VERSION = 1
_CHUNK = 1024  # rows per FAISS add call when the insertion order matters
_DECODE_BLOCK = 65_536
_SUPPORTED = "f32, f16, int8, int4, pq<m>x8, pq<m>x4 and rabitq<b> (after any transforms, e.g. pca128/int8)"


def _code_storage(codec: Any) -> Any:
    """An empty FAISS flat-codes index that scores float queries against ``codec``'s codes.

    Sign codes (binary, rbq, itq, hamming) have none: their scanners reshape the query
    (padding, tiling per level) before a fast-scan kernel, which an HNSW walk cannot do.
    4-bit PQ uses plain ``IndexPQ`` here (fast-scan kernels score blocks of 32 codes, not
    one node at a time).
    """
    scanner = codec.make_scanner()
    index = None
    if isinstance(scanner, FaissCodesScanner):
        index = scanner._make_index()
    elif type(scanner) is PQScanner and scanner.prepare is None and scanner.offset is None:
        index = scanner._pq_index()
    if not isinstance(index, faiss.IndexFlatCodes):
        raise ParameterError(f"CodeGraph cannot hold {codec.to_spec()} codes; it supports {_SUPPORTED}")
    return index


class CodeGraph:
    """An HNSW graph over the codes of one fitted :class:`~lowdim.spec.Pipeline`, with exact rerank.

    Parameters
    ----------
    codec : Pipeline
        Fitted; its quantizer must be f32, f16, int8, int4, PQ (8 or 4 bits) or rabitq
        (any transforms before it), not sign codes. Its metric and ``+rerank`` factor apply.
    codes : (n, code_size) uint8, optional
        Initial codes, inserted as by :meth:`add`.
    X : (n, d) float, optional
        The vectors ``codes`` encode; the links are built from them (else from the decoded codes).
    vectors : (n, d) array or np.memmap, optional
        Full-precision vectors of every row, read only to rerank candidates. Replace the
        attribute when rows are added (it must cover every row).
    m : int
        Links per node and level (2m on level 0).
    ef_construction : int
        Build beam width.
    order : {"given", "random", "lid", "lid-ascending"}
        Insertion order of each added batch (:func:`insertion_order`). The default "lid"
        (descending local intrinsic dimension, as Elliott and Clark 2024 recommend) gave
        +2 points of recall@10 over "random" and +3 over "lid-ascending" at ef 64 on
        wordnet-minilm (benchmarks/bench_code_graph.py), for an O(n * 10,000 * d) LID pass.
    random_state : int
        Seed of the random order and of the LID sample.

    Attributes
    ----------
    index : faiss.IndexHNSW
        The graph; its storage is a FAISS codes index holding exactly lowdim's codes.

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.spec import Pipeline
    >>> X = np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32)
    >>> p = Pipeline("int8+rerank4").fit(X)
    >>> g = CodeGraph(p, p.encode(X), X, vectors=X, m=16)
    >>> g.search(X[:3], 5, ef=32).ids[:, 0].tolist()
    [0, 1, 2]
    >>> g.bytes_per_vector > p.code_size
    True
    """

    def __init__(
        self,
        codec: Any,
        codes: np.ndarray | None = None,
        X: Any = None,
        *,
        vectors: Any = None,
        m: int = 32,
        ef_construction: int = 40,
        order: str = "lid",
        random_state: int = 0,
    ) -> None:
        codec._check_fitted()
        self.codec = codec
        self.vectors = vectors
        self.m = check_positive_int(m, "m", owner="CodeGraph", minimum=2)
        self.ef_construction = check_positive_int(ef_construction, "ef_construction", owner="CodeGraph")
        self.order = check_choice(order, ORDERS, "order", owner="CodeGraph")
        self.random_state = random_state
        self._storage = _code_storage(codec)
        self.index = faiss.IndexHNSW(self._storage, self.m)  # own_fields is false: self._storage owns the codes
        self.index.hnsw.efConstruction = self.ef_construction
        if codes is not None:
            self.add(codes, X)
        elif X is not None:
            raise ParameterError("CodeGraph got X without codes: pass codec.encode(X) as codes too")

    # -- description ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        return f"CodeGraph({self.codec.to_spec()!r}, n={self.ntotal}, m={self.m}, order={self.order!r})"

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def codes(self) -> np.ndarray:
        """The codes of every node, (ntotal, code_size) uint8: a view of the FAISS storage (copy to keep)."""
        n, cs = self.ntotal, self.codec.code_size
        if n == 0:
            return np.zeros((0, cs), np.uint8)
        return faiss.rev_swig_ptr(self._storage.codes.data(), n * cs).reshape(n, cs)

    @property
    def nbytes_links(self) -> int:
        """RAM of the graph structure: 4 B per link slot (2m on level 0, m per upper level), levels and offsets."""
        h = self.index.hnsw
        return int(h.neighbors.size() * 4 + h.offsets.size() * 8 + h.levels.size() * 4)

    @property
    def bytes_per_vector(self) -> float:
        """RAM bytes per node: code plus links (the full vectors stay on disk)."""
        n = self.ntotal
        return (n * self.codec.code_size + self.nbytes_links) / n if n else float(self.codec.code_size)

    # -- building -------------------------------------------------------------------------
    def _decoded(self, codes: np.ndarray) -> np.ndarray:
        out = np.empty((len(codes), self.index.d), np.float32)
        for block in iter_slices(len(codes), _DECODE_BLOCK):
            out[block] = self.codec.quantizer.decode(codes[block])
        return out

    def _permutation(self, rows: np.ndarray, order: str | np.ndarray | None) -> np.ndarray:
        n = len(rows)
        if order is None or isinstance(order, str):
            name = self.order if order is None else check_choice(order, ORDERS, "order", owner="CodeGraph.add")
            return insertion_order(rows, name, random_state=self.random_state)
        perm = np.asarray(order)
        if perm.shape != (n,) or perm.dtype.kind not in "iu" or not np.array_equal(np.sort(perm), np.arange(n)):
            raise ParameterError(f"The 'order' parameter of CodeGraph.add must be a permutation of range({n}) or a name.")
        return perm.astype(np.int64)

    def add(self, codes: np.ndarray, X: Any = None, *, order: str | np.ndarray | None = None) -> None:
        """Insert (n, code_size) uint8 codes as rows ``ntotal .. ntotal + n - 1``.

        Parameters
        ----------
        codes : (n, code_size) uint8
            From ``codec.encode``; stored as they are.
        X : (n, d) float, optional
            The vectors the codes encode, to build the links from (better recall than the
            decoded codes, used when ``X`` is None).
        order : str or (n,) int array, optional
            Insertion order of this batch (a name of :data:`ORDERS` or a permutation of
            ``range(n)``, e.g. from :func:`insertion_order`); default the graph's ``order``.

        The build holds the decoded codes of all nodes as float32 while it runs.
        """
        codes = self.codec.quantizer._check_codes(codes)
        n = len(codes)
        if X is not None:
            rows = self.codec.transform(X, name="X")
            if len(rows) != n:
                raise DimensionError(f"X has {len(rows)} rows but codes has {n}; pass the vectors the codes encode")
        else:
            rows = self._decoded(codes)
        perm = self._permutation(rows, order)
        if n == 0:
            return
        n0 = self.ntotal
        build = faiss.IndexFlat(self.index.d, self.index.metric_type)
        if n0:
            build.add(self._decoded(self.codes))
        self.index.storage = build
        try:
            for block in iter_slices(n, _CHUNK):
                self.index.add(np.ascontiguousarray(rows[perm[block]]))
            if not np.array_equal(perm, np.arange(n)):
                # node n0 + j is row n0 + perm[j]; renumber so that node i is row i
                new_to_old = np.concatenate([np.arange(n0), n0 + np.argsort(perm)]).astype(np.int64)
                self.index.permute_entries(new_to_old)
        finally:
            self.index.storage = self._storage
        self._storage.add_sa_codes(codes)

    # -- searching ------------------------------------------------------------------------
    def _bitmap(self, allowed: Any) -> tuple[np.ndarray, np.ndarray]:
        n = self.ntotal
        a = np.asarray(allowed)
        if a.dtype == bool:
            if a.shape != (n,):
                raise DimensionError(f"allowed is a mask of shape {a.shape}; expected ({n},), one flag per row")
            mask = a
        else:
            if a.ndim != 1 or a.dtype.kind not in "iu":
                raise ParameterError("allowed must be a (ntotal,) bool mask or a 1-D array of row numbers")
            if len(a) and (a.min() < 0 or a.max() >= n):
                raise ParameterError(f"allowed holds row numbers outside 0..{n - 1}")
            mask = np.zeros(n, bool)
            mask[a] = True
        return mask, np.packbits(mask, bitorder="little")

    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        ef: int = 64,
        rerank: int | None = None,
        allowed: Any = None,
    ) -> SearchResult:
        """Top-``k`` rows for each query.

        Parameters
        ----------
        queries : (nq, d) float
        k : int
        ef : int
            Search beam width (at least ``k * rerank`` is used).
        rerank : int, optional
            Take ``rerank * k`` candidates from the graph (query-vs-code scores) and rescore
            them exactly with ``vectors``. Defaults to the spec's ``+rerank<N>``; 0 disables it.
        allowed : (ntotal,) bool or (m,) int, optional
            Only these rows may be returned (FAISS ``IDSelectorBitmap``: the graph is still
            walked through the others). When at most ``2 * m * ef`` rows are allowed, their
            codes are scanned instead (about the cost of a walk, and exact over the codes).

        Returns
        -------
        SearchResult with scores and ids (row numbers, -1 padding) of shape (nq, k).
        """
        k = check_k(k)
        ef = check_positive_int(ef, "ef", owner="CodeGraph.search")
        d = self.codec.n_features_in_
        Q = check_embeddings(queries, n_features=d, name="queries", what=f"this {self.codec.to_spec()} graph")
        factor = self.codec.rerank if rerank is None else rerank
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 0):
            raise ParameterError(f"The 'rerank' parameter must be an integer >= 0. Got {factor!r}.")
        if factor and self.vectors is None:
            raise ParameterError(
                f"rerank={factor} needs the full-precision vectors: pass vectors= (an array or np.memmap of shape (n, {d}))"
            )
        if factor and (self.vectors.shape[1] != d or len(self.vectors) < self.ntotal):
            raise DimensionError(
                f"vectors have shape {tuple(self.vectors.shape)}, but this graph has {self.ntotal} rows of {d} features"
            )
        kc = k * int(factor) if factor else k
        largest = self.codec.scan_metric == "ip"
        params = faiss.SearchParametersHNSW(efSearch=max(ef, kc))
        mask = bitmap = None
        if allowed is not None:
            mask, bitmap = self._bitmap(allowed)
            sel = faiss.IDSelectorBitmap(self.ntotal, faiss.swig_ptr(bitmap))
            params.sel = sel  # sel and bitmap stay referenced until the search returns
        Qt = self.codec.transform(Q, name="queries")
        if self.ntotal == 0:
            D = np.full((len(Q), kc), pad_value(largest), np.float32)
            I = np.full((len(Q), kc), -1, np.int64)
        elif mask is not None and mask.sum() <= 2 * self.m * params.efSearch:
            # a walk scores about ef * 2m codes; when no more rows are allowed, scoring them all
            # costs the same and cannot miss the few allowed ones among unreachable neighbours
            rows = np.flatnonzero(mask)
            flat = _code_storage(self.codec)
            flat.add_sa_codes(np.ascontiguousarray(self.codes[rows]))
            D, I = flat.search(Qt, kc)
            D, I = D.astype(np.float32), np.where(I >= 0, rows[np.maximum(I, 0)], -1)
            D[I < 0] = pad_value(largest)
        else:
            D, I = self.index.search(Qt, kc, params=params)
            D, I = D.astype(np.float32), I.astype(np.int64)
            D[I < 0] = pad_value(largest)
        if not factor:
            return SearchResult(D, I)
        Ds, Is = rerank_exact(self.codec.prepare(Q), I, self.vectors, k, metric=self.codec.metric)
        return SearchResult(Ds, Is)

    # -- persistence ----------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {
            "spec": self.codec.with_rerank(None).to_spec(),
            "metric": self.codec.metric,
            "n_features": int(self.codec.n_features_in_),
            "code_size": int(self.codec.code_size),
        }

    def save(self, path: str | Path) -> Path:
        """Write the links and codes to ``path`` (.npz + JSON header; temp file, fsync, rename).

        The codec is not saved (save it with ``codec.save``); :meth:`load` checks that the
        one it is given matches (spec, metric, width, and the decoding of a few codes).
        """
        h = self.index.hnsw
        codes = self.codes.copy()
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "lowdim.CodeGraph",
            **self._identity(),
            "n": self.ntotal,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "order": self.order,
            "random_state": self.random_state,
            "entry_point": int(h.entry_point),
            "max_level": int(h.max_level),
        }
        arrays = {
            "codes": codes,
            "levels": faiss.vector_to_array(h.levels),
            "offsets": faiss.vector_to_array(h.offsets),
            "neighbors": faiss.vector_to_array(h.neighbors),
            "probe": self._decoded(codes[:16]),
        }
        return write_npz_file(path, meta, arrays)

    @classmethod
    def load(cls, path: str | Path, codec: Any, *, vectors: Any = None) -> CodeGraph:
        """Read a graph written by :meth:`save`; ``codec`` must be the pipeline that made its codes."""
        meta, a = read_npz_file(path, what="code graph file", version=FORMAT_VERSION, writer="CodeGraph.save")
        where = f"code graph file {path}"
        try:
            n, m = int(meta["n"]), int(meta["m"])
            codes, levels, offsets, neighbors, probe = (a[x] for x in ("codes", "levels", "offsets", "neighbors", "probe"))
            entry, max_level = int(meta["entry_point"]), int(meta["max_level"])
            ident = {x: meta[x] for x in ("spec", "metric", "n_features", "code_size")}
            ef_c, order, seed = int(meta["ef_construction"]), meta["order"], int(meta["random_state"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{where} is incomplete ({type(exc).__name__}: {exc})") from None
        codec._check_fitted()
        graph = cls(codec, vectors=vectors, m=m, ef_construction=ef_c, order=order, random_state=seed)
        if ident != graph._identity():
            raise ParameterError(f"{where} was built with codec {ident}; got {graph._identity()}")
        consistent = (
            codes.shape == (n, ident["code_size"])
            and codes.dtype == np.uint8
            and levels.shape == (n,)
            and offsets.shape == (n + 1,)
            and (n == 0 or (int(offsets[0]) == 0 and neighbors.shape == (int(offsets[-1]),)))
            and (n == 0 or (0 <= entry < n and int(levels.max()) == max_level + 1))
            and (len(neighbors) == 0 or (int(neighbors.min()) >= -1 and int(neighbors.max()) < n))
        )
        if not consistent:
            raise FileFormatError(f"{where} is inconsistent (codes, levels and links disagree on {n} nodes)")
        if not np.allclose(graph._decoded(codes[:16]), probe, atol=1e-5):
            raise ParameterError(f"{where}: its codes decode differently with this codec; pass the codec that made them")
        h = graph.index.hnsw
        faiss.copy_array_to_vector(levels.astype(np.int32), h.levels)
        faiss.copy_array_to_vector(offsets.astype(np.uint64), h.offsets)
        faiss.copy_array_to_vector(neighbors.astype(np.int32), h.neighbors)
        h.entry_point, h.max_level = entry, max_level
        graph._storage.add_sa_codes(np.ascontiguousarray(codes))
        graph.index.ntotal = n
        return graph
