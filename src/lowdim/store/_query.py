"""The read side of a collection: filters to candidate rows, the search router, rerank, and rows back to user ids.

Routing (``Query.search``)
--------------------------
* no codec yet: an exact scan of the full vectors (:func:`lowdim.search.exact_knn`
  over the allowed rows), and the result says so (``exact_reason``);
* no more matching rows than candidates (``k * rerank``): score them all exactly;
* a filter matching a small share of the rows (``subset_share``): scan only their codes;
* ``index="hnsw"`` with a graph, or ``index="ivf"`` with its lists: search them (with an
  allowed-node filter; ``ef`` / ``nprobe`` per call) plus the codes of the rows added
  since they were built, falling back to a scan for queries they find too few matches for;
* otherwise scan every code; a broad filter keeps the matching candidates and grows
  its oversampling until each query has enough.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arrays import block_rows, larger_is_better, prepare_rows
from ..exceptions import FileFormatError, NotFoundError, ParameterError
from ..search import exact_knn, pad_value, rerank_exact, topk
from ..validation import check_embeddings, check_k, check_positive_int
from ._catalog import CATALOG_NAME, Catalog
from ._ivf import IVFGraph
from ._manifest import GRAPH_KINDS, Settings
from ._maps import map_queries
from ._records import IdLike, check_ids
from ._results import CollectionResult, Records
from ._state import State

__all__ = ["Query", "Shortlists"]

_CACHED_FILTERS = 8


def _first_valid(I: np.ndarray, D: np.ndarray, valid: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the first ``width`` columns where ``valid`` (order kept), -1 / pad beyond."""
    order = np.argsort(~valid, axis=1, kind="stable")[:, :width]
    I2 = np.take_along_axis(I, order, axis=1)
    D2 = np.take_along_axis(D, order, axis=1)
    V2 = np.take_along_axis(valid, order, axis=1)
    if I2.shape[1] < width:
        pad = width - I2.shape[1]
        I2 = np.pad(I2, ((0, 0), (0, pad)), constant_values=-1)
        D2 = np.pad(D2, ((0, 0), (0, pad)), constant_values=0)
        V2 = np.pad(V2, ((0, 0), (0, pad)), constant_values=False)
    return np.where(V2, I2, -1), D2, V2.sum(axis=1)


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHED_FILTERS:
        cache.pop(next(iter(cache)))
    cache[key] = value


class Query:
    """Searches and reads one collection's :class:`~lowdim.store._state.State`."""

    #: a filter matching at most this share of the rows is scanned as a subset of the codes;
    #: broader ones search everything and post-filter with growing oversampling
    subset_share: dict[str, float] = {"flat": 0.125, "hnsw": 0.05, "ivf": 0.05}

    def __init__(self, settings: Settings, catalog: Catalog, state: State) -> None:
        self.root: Path = state.root
        self.settings = settings
        self.catalog = catalog
        self.state = state
        self._seen = -1  # the state version the caches below were built on
        self._masks: dict[str, tuple[np.ndarray | None, int]] = {}
        self._bitmaps: dict[str, Any] = {}  # HNSW: packed bits; IVF: an IdFilter

    # ------------------------------------------------------------------ reading
    def rowids(self, ids: Any) -> np.ndarray:
        """The rowids (int64, in the order given) of these live ids; NotFoundError lists missing ones."""
        uids = check_ids(ids, None, unique=False)
        found = self.catalog.rowids_of(uids)
        missing = [u for u in uids if u not in found]
        if missing:
            shown = ", ".join(repr(u) for u in missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise NotFoundError(f"{len(missing)} of the {len(uids)} ids are not in this collection: {shown}")
        return np.array([found[u] for u in uids], dtype=np.int64)

    def get(self, ids: Any) -> Records:
        """The stored vectors and metadata of these ids, in the order given (NotFoundError lists missing ones)."""
        uids = check_ids(ids, None, unique=False)
        rowids = self.rowids(uids)
        rows = self.state.rows_of(rowids)
        if (rows < 0).any():
            raise FileFormatError(
                f"{CATALOG_NAME} of collection {self.root} lists items no segment holds; run 'lowdim check {self.root}'"
            )
        vectors = np.asarray(self.state.vectors[rows], dtype=np.float32)
        items = self.catalog.items_of(rowids)
        texts = [items[r][1] for r in rowids.tolist()]
        meta = [None if t is None else json.loads(t) for t in texts]
        return Records(list(uids), vectors, meta)

    def ids(self) -> list[IdLike]:
        return self.catalog.all_uids()

    # ------------------------------------------------------------------ search
    def search(
        self,
        queries: Any,
        k: int,
        *,
        filter: dict[str, Any] | None,
        rerank: int | None,
        ef: int | None,
        model: str | None,
        with_metadata: bool,
        nprobe: int | None = None,
        codes_only: bool = False,
    ) -> CollectionResult:
        """See :meth:`Collection.search`; ``codes_only``: rank by the codes alone, even where few rows allow an exact scan."""
        s, st = self.settings, self.state
        queries, model = map_queries(s, st, model, queries)  # another model's queries go through its map
        s.check_model(model)
        k = check_k(k)
        Q = check_embeddings(queries, n_features=s.dim, name="queries", what=s.describe())
        if ef is not None:
            if s.index != "hnsw":
                raise ParameterError(
                    f"The 'ef' parameter applies to collections with index='hnsw'; this one uses index='{s.index}'"
                )
            ef = check_positive_int(ef, "ef", owner="search")
        if nprobe is not None:
            if s.index != "ivf":
                raise ParameterError(
                    f"The 'nprobe' parameter applies to collections with index='ivf'; this one uses index='{s.index}'"
                )
            nprobe = check_positive_int(nprobe, "nprobe", owner="search")
            if st.graph is not None and nprobe > st.graph.nlist:  # type: ignore[union-attr]
                raise ParameterError(
                    f"The 'nprobe' parameter of search must be at most nlist={st.graph.nlist}. Got {nprobe}."  # type: ignore[union-attr]
                )
        if rerank is not None and (isinstance(rerank, bool) or not isinstance(rerank, (int, np.integer)) or rerank < 0):
            raise ParameterError(f"The 'rerank' parameter of search must be an integer >= 0. Got {rerank!r}.")
        factor = int(rerank) if rerank is not None else (st.codec.rerank if st.codec is not None else None) or 0
        mask, m, key = self._mask(filter)
        scores, rows = self._search_rows(Q, k, mask, m, factor, ef or nprobe, key, codes_only=codes_only)
        return self._result(scores, rows, with_metadata)

    def rescore(self, queries: Any, ids: Any) -> np.ndarray:
        """Exact scores (nq, m) float32 of each query against its own row of ``ids`` (nq, m), as a rerank scores them.

        ``None`` ids score the padding value; an id not in the collection is a NotFoundError.
        """
        s, st = self.settings, self.state
        Q = check_embeddings(queries, n_features=s.dim, name="queries", what=s.describe())
        grid = np.asarray(ids, dtype=object)
        if grid.ndim != 2 or grid.shape[0] != len(Q):
            raise ParameterError(f"ids must be an (n_queries, m) array with n_queries={len(Q)}. Got shape {grid.shape}.")
        present = np.array([v is not None for v in grid.ravel().tolist()], bool).reshape(grid.shape)
        values = grid[present].tolist()
        try:
            values = list(dict.fromkeys(values))  # each distinct id checked and looked up once
        except TypeError:  # an unhashable value: check_ids says what is wrong with it
            pass
        uids = check_ids(values, None, unique=False) if values else []
        found = self.catalog.rowids_of(uids)
        missing = [u for u in uids if u not in found]
        if missing:
            raise NotFoundError(f"{len(missing)} of the ids to rescore are not in this collection: {missing[0]!r}")
        row_of = dict(zip(uids, st.rows_of(np.array([found[u] for u in uids], np.int64)).tolist(), strict=True))
        cand = np.full(grid.shape, -1, np.int64)
        cand[present] = [row_of[u] for u in grid[present].tolist()]
        largest = larger_is_better(s.metric)
        out = np.full(grid.shape, pad_value(largest), np.float32)
        if not present.any():
            return out
        Qn = st.codec.prepare(Q) if st.codec is not None else prepare_rows(Q, s.metric)
        # rerank_exact's own arithmetic, so that the scores equal a rerank's; it returns them sorted, so
        # both sides are put in row order (each row of cand holds distinct rows) to map them back
        S, R = rerank_exact(Qn, cand, st.vectors, grid.shape[1], metric=s.metric)
        oc, orr = np.argsort(cand, axis=1, kind="stable"), np.argsort(R, axis=1, kind="stable")
        np.put_along_axis(out, oc, np.take_along_axis(S, orr, axis=1), axis=1)
        out[~present] = pad_value(largest)
        return out

    def _caches(self) -> None:
        if self._seen != self.state.version:
            self._masks, self._bitmaps, self._seen = {}, {}, self.state.version

    def _mask(self, flt: dict[str, Any] | None) -> tuple[np.ndarray | None, int, str]:
        """Rows allowed by ``flt`` and not deleted: ``(bool mask or None for all rows, count, cache key)``."""
        st = self.state
        if flt is None or (isinstance(flt, dict) and not flt):
            return (st.alive.values if st.n_dead else None), len(st), ""
        self._caches()
        key = json.dumps(flt, sort_keys=True, default=repr)
        hit = self._masks.get(key)
        if hit is not None:
            return hit[0], hit[1], key
        rows = st.rows_of(self.catalog.matching(flt))
        mask = np.zeros(len(st.rowids), bool)
        mask[rows[rows >= 0]] = True
        mask &= st.alive.values
        m = int(mask.sum())
        _remember(self._masks, key, (mask, m))
        return mask, m, key

    def _pad(self, nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full((nq, k), pad_value(larger_is_better(self.settings.metric)), np.float32), np.full((nq, k), -1, np.int64)

    def _search_rows(
        self,
        Q: np.ndarray,
        k: int,
        mask: np.ndarray | None,
        m: int,
        factor: int,
        ef: int | None,
        key: str = "",
        *,
        codes_only: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        s, st = self.settings, self.state
        n_rows = len(st.rowids)
        if m == 0 or n_rows == 0:
            return self._pad(len(Q), k)
        if st.codec is None:
            # no codec yet: scan the full vectors exactly
            return exact_knn(st.vectors, Q, k, metric=s.metric, allowed=mask, block_size=block_rows(s.dim))
        if m <= k * max(factor, 1) and not codes_only:
            # No more items than candidates: score them all exactly (also sidesteps code
            # scanners that drop their lowest-scored rows when k >= the rows they hold).
            rows = np.flatnonzero(mask) if mask is not None else np.arange(n_rows, dtype=np.int64)
            cand = np.ascontiguousarray(np.broadcast_to(rows, (len(Q), len(rows))))
            return rerank_exact(st.codec.prepare(Q), cand, st.vectors, k, metric=s.metric)
        if mask is not None and m <= self.subset_share[s.index] * n_rows:
            return st.scan_rows(Q, k, factor, np.flatnonzero(mask))
        if s.index in GRAPH_KINDS and st.graph is not None:
            S, R = self._graph_search(Q, k, mask, factor, ef or st.default_probe(), key)
            short = (R >= 0).sum(axis=1) < min(k, m)
            if short.any():  # too few matches found: scan those queries (IVF: probe every list)
                if isinstance(st.graph, IVFGraph):
                    S2, R2 = self._graph_search(Q[short], k, mask, factor, st.graph.nlist, key)
                else:
                    S2, R2 = self._flat_search(Q[short], k, mask, m, factor)
                S[short], R[short] = S2, R2
            return S, R
        return self._flat_search(Q, k, mask, m, factor)

    def _flat_search(self, Q: np.ndarray, k: int, mask: np.ndarray | None, m: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
        st = self.state
        index = st.codes()
        if mask is None:
            res = index.search(Q, k, rerank=factor)
            return res.scores, res.ids
        # Broad filter: scan everything, keep matching candidates, grow the oversampling
        # for the queries that still lack them; a full-width scan sees every match.
        codec = st.codec
        assert codec is not None  # the router checks; internal invariant
        n_rows = len(st.rowids)
        c = k * max(factor, 1)
        want = min(c, m)
        Qt = codec.transform(Q, name="queries")
        nq = len(Q)
        cand = np.full((nq, c), -1, np.int64)
        cscore = np.zeros((nq, c), np.float32)
        width = min(n_rows, int(math.ceil(c * n_rows / m * 1.5)) + 16)
        pending = np.arange(nq)
        while len(pending):
            D, I = index.scanner.search(Qt[pending], width)
            valid = (I >= 0) & mask[np.maximum(I, 0)]
            I2, D2, count = _first_valid(I, D, valid, c)
            done = (count >= want) | (width >= n_rows)
            cand[pending[done]] = I2[done]
            cscore[pending[done]] = D2[done]
            pending = pending[~done]
            width = min(n_rows, width * 4)
        if factor:
            return rerank_exact(codec.prepare(Q), cand, st.vectors, k, metric=self.settings.metric)
        largest = larger_is_better(self.settings.metric)
        return topk(np.where(cand >= 0, cscore, pad_value(largest)), k, largest=largest, ids=cand)

    def _bitmap(self, key: str, base: np.ndarray | None) -> Any:
        """The graph nodes allowed by the filter ``key`` (mask ``base``) as a bitmap; None when all are."""
        self._caches()
        if key in self._bitmaps:
            return self._bitmaps[key]
        nodes = self.state.graph_rows
        allowed = nodes >= 0
        if base is not None:
            allowed &= base[np.maximum(nodes, 0)]
        bitmap = None if allowed.all() else self.state.graph.bitmap(allowed)  # type: ignore[union-attr]
        _remember(self._bitmaps, key, bitmap)
        return bitmap

    def _graph_search(
        self, Q: np.ndarray, k: int, mask: np.ndarray | None, factor: int, ef: int, key: str
    ) -> tuple[np.ndarray, np.ndarray]:
        st = self.state
        graph, codec = st.graph, st.codec
        assert graph is not None and codec is not None  # the router checks; internal invariant
        metric = self.settings.metric
        largest = larger_is_better(metric)
        c = k * max(factor, 1)
        base = mask if mask is not None else (st.alive.values if st.n_dead else None)
        Qn = codec.prepare(Q)
        D, P = graph.search(Qn, c, ef=ef, bitmap=self._bitmap(key, base))
        nodes = st.graph_rows
        rows = np.where(P >= 0, nodes[np.maximum(P, 0)], -1)
        if st.tail_start < len(st.rowids):  # rows outside the graph: scanned from their codes
            scanner = st.tail_codes().scanner
            Qt = codec.transform(Q, name="queries")
            if base is None:
                Dt, It = scanner.search(Qt, c)
            else:
                Dt, It = scanner.search(Qt, c, subset=np.flatnonzero(base[st.tail_start :]))
            rows = np.hstack([rows, np.where(It >= 0, It + st.tail_start, -1)])
            D = np.hstack([D, Dt])
        if factor:
            return rerank_exact(Qn, rows, st.vectors, k, metric=metric)
        return topk(np.where(rows >= 0, D, pad_value(largest)), k, largest=largest, ids=rows)

    # ------------------------------------------------------------------ results
    def _result(self, scores: np.ndarray, rows: np.ndarray, with_metadata: bool) -> CollectionResult:
        """Map rows (-1: none) to user ids (and metadata); padding scores are -inf (+inf for l2)."""
        st = self.state
        valid = rows >= 0
        all_rowids = st.rowids.values
        rowids = np.where(valid, all_rowids[np.where(valid, rows, 0)], -1) if len(all_rowids) else np.full(rows.shape, -1)
        ids = np.full(rows.shape, None, dtype=object)
        meta = None
        if valid.any():
            flat = rowids[valid]
            if with_metadata:
                items = self.catalog.items_of(flat)
                lookup = {r: v[0] for r, v in items.items()}
                mlookup = {r: (None if v[1] is None else json.loads(v[1])) for r, v in items.items()}
            else:
                lookup = self.catalog.uids_of(flat)
            ids[valid] = np.array([lookup[r] for r in flat.tolist()] + [None], dtype=object)[:-1]
            if with_metadata:
                meta = [[mlookup[r] if r >= 0 else None for r in row] for row in rowids.tolist()]
        elif with_metadata:
            meta = [[None] * rows.shape[1] for _ in range(rows.shape[0])]
        scores = scores.astype(np.float32, copy=True)
        scores[~valid] = pad_value(larger_is_better(self.settings.metric))
        return CollectionResult(ids, scores, meta, exact_reason=st.untrained_reason())


class Shortlists:
    """:class:`~lowdim.store.Collection`'s two stages of a rerank, apart: for merging collections that share a codec.

    (:class:`lowdim.distributed.ShardedCollection` merges its shards' candidates by code
    score, then reranks the best of them by their exact scores.)
    """

    _mutex: Any
    _query: Query

    if TYPE_CHECKING:  # Collection's own check (a closed collection refuses); declared for the type checker only

        def _check_open(self) -> None: ...

    def candidates(
        self,
        queries: Any,
        n: int,
        *,
        filter: dict[str, Any] | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        with_metadata: bool = False,
    ) -> CollectionResult:
        """The ``n`` best items per query by their code scores: ``search(queries, n, rerank=0, ...)``, except
        that its scores are always the codes' (a search over few matching rows scores them exactly instead).

        Returns a CollectionResult of shape (n_queries, n) whose ``scores`` are code scores.
        """
        with self._mutex:
            self._check_open()
            opts: dict[str, Any] = {"filter": filter, "ef": ef, "nprobe": nprobe, "with_metadata": with_metadata}
            return self._query.search(queries, n, rerank=0, model=None, codes_only=True, **opts)

    def rescore(self, queries: Any, ids: Any) -> np.ndarray:
        """Exact scores, (n_queries, m) float32, of each of the (n_queries, dim) ``queries`` against its row of ``ids``.

        ``ids``: (n_queries, m) user ids, distinct within a row (None: no item; it gets search's
        padding score). The scores are those a rerank from the full vectors gives.
        """
        with self._mutex:
            self._check_open()
            return self._query.rescore(queries, ids)
