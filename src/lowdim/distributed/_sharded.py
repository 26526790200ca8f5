"""``ShardedCollection``: ordinary lowdim collections sharing one codec, searched as one (fan-out, merge, rerank).

How a search stays identical to one collection
----------------------------------------------
Every shard holds codes of the same fitted codec, so code scores compare across shards.
With ``+rerankR`` each shard returns its best ``c = k*R`` candidates by code score
(:meth:`lowdim.store.Collection.candidates`); the coordinator keeps the global best ``c``
by code score, asks each shard for the exact scores of its own among them
(:meth:`lowdim.store.Collection.rescore`: a second round trip, but ``c`` exact scores per
query in all, as one collection computes), then keeps the best ``k`` by exact score, ties to
the lower id, which is what one collection holding every row does (for flat collections; ties to the lower
source row when ids are the row numbers). Without a rerank it merges the top ``k`` by
code score. Filters run in each shard, and each returns ``min(c, its matches)``, so
whenever ``k`` items match anywhere, ``k`` come back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import larger_is_better
from ..exceptions import ConflictError, ParameterError, ValidationError
from ..search import pad_value
from ..spec import parse_spec
from ..store import CollectionResult, IdLike, Records, Settings
from ..validation import check_embeddings, check_k
from ._ray import connect, uses_ray
from ._shard_manifest import SHARDS_NAME, read_shards, route, write_json_atomic
from ._shard_workers import LocalShards, RayShards

__all__ = ["ShardedCollection", "merge_candidates"]


def _id_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int) else (1, str(v))


def _id_ranks(ids: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Each id's rank in the order ints (ascending) then strings; absent ids rank last."""
    flat = ids[present].tolist()
    order = {u: r for r, u in enumerate(sorted(set(flat), key=_id_key))}
    ranks = np.full(ids.shape, len(order), np.int64)
    ranks[present] = [order[u] for u in flat]
    return ranks


def merge_candidates(
    ids: np.ndarray, code: np.ndarray, exact: np.ndarray | None, k: int, c: int, *, metric: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the shards' candidates, concatenated along axis 1, into the global top ``k``.

    Parameters
    ----------
    ids : (nq, m) object, None where a shard had no candidate
    code : (nq, m) float32 code scores
    exact : (nq, m) float32 exact scores, or None (no rerank)
    k, c : results wanted; candidates kept by code score before the exact pass (``k * R``)

    Returns ``(ids (nq, k) object, scores (nq, k) float32, columns (nq, k) int64, -1 for none)``:
    the global best ``c`` by code score, then the best ``k`` of those by exact score (by code
    score without ``exact``), ties to the lower id.
    """
    nq, m = ids.shape
    largest = larger_is_better(metric)
    present = np.array([v is not None for v in ids.ravel().tolist()], bool).reshape(ids.shape)
    rank = _id_ranks(ids, present)

    def order(scores: np.ndarray, cols: np.ndarray, width: int) -> np.ndarray:
        s = np.take_along_axis(scores, cols, axis=1).astype(np.float64)
        key = np.where(np.take_along_axis(present, cols, axis=1), -s if largest else s, np.inf)
        o = np.lexsort((np.take_along_axis(rank, cols, axis=1), key), axis=1)[:, :width]
        return np.take_along_axis(cols, o, axis=1)

    cols = np.broadcast_to(np.arange(m), (nq, m))
    cols = order(code, cols, c if exact is not None else k)
    final = exact if exact is not None else code
    if exact is not None:
        cols = order(exact, cols, k)
    if cols.shape[1] < k:
        cols = np.pad(cols, ((0, 0), (0, k - cols.shape[1])), constant_values=-1)
    ok = (cols >= 0) & np.take_along_axis(present, np.maximum(cols, 0), axis=1)
    out_ids = np.full((nq, k), None, dtype=object)
    out_ids[ok] = np.take_along_axis(ids, np.maximum(cols, 0), axis=1)[ok]
    scores = np.where(ok, np.take_along_axis(final, np.maximum(cols, 0), axis=1), pad_value(largest)).astype(np.float32)
    return out_ids, scores, np.where(ok, cols, -1)


def _take(a: np.ndarray, cols: np.ndarray, pad: Any) -> np.ndarray:
    """``a``'s columns ``cols`` per row (-1: ``pad``)."""
    out = np.take_along_axis(a, np.maximum(cols, 0), axis=1)
    out[cols < 0] = pad
    return out


class ShardedCollection:
    """A sharded collection (a folder with ``shards.json``), searched and changed like one :class:`~lowdim.store.Collection`.

    Open one with :meth:`open` (build one with :func:`lowdim.distributed.build_sharded`).
    ``ray_address=None`` opens every shard in this process; an address (``"local"``,
    ``"auto"``, ``"ray://host:port"``) opens one Ray actor per shard, which memory-maps
    its files and is restarted (its in-flight calls retried) when it dies. Writes route
    each id to its one shard (see :mod:`lowdim.distributed._shard_manifest`); one process
    writes at a time.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from lowdim.distributed import build_sharded
    >>> X = np.random.default_rng(0).normal(size=(600, 16)).astype(np.float32)
    >>> path = tempfile.mkdtemp() + "/sharded"
    >>> _ = build_sharded(path, X, shards=3, spec="int8+rerank4", train_size=600)
    >>> with ShardedCollection.open(path) as sc:
    ...     res = sc.search(X[:2], k=3)
    >>> res.ids[:, 0].tolist(), len(res.ids[0])
    ([0, 1], 3)
    """

    def __init__(self, root: Path, doc: dict[str, Any], backend: LocalShards | RayShards, ray_address: str | None) -> None:
        self._root = root
        self._doc = doc
        self._backend = backend
        self._address = ray_address
        self._closed = False
        self._maps: dict[str, Any] = {}
        described = backend.call("describe", {i: () for i in range(self.n_shards)})
        self._settings: Settings = described[0][0]
        self._counts = [int(described[i][1]) for i in range(self.n_shards)]
        for i in range(self.n_shards):
            s = described[i][0]
            if (s.dim, s.metric, s.spec) != (doc["dim"], doc["metric"], doc["spec"]):
                self.close()
                raise ConflictError(
                    f"shard {doc['shards'][i]['path']} of {root} holds {s.spec} ({s.metric}, {s.dim} features), "
                    f"but {SHARDS_NAME} says {doc['spec']} ({doc['metric']}, {doc['dim']} features)"
                )

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, ray_address: str | None = None, readonly: bool = False) -> ShardedCollection:
        """Open the sharded collection in folder ``path`` (in this process, or one Ray actor per shard at ``ray_address``)."""
        root = Path(path)
        doc = read_shards(root)
        paths = [str((root / s["path"]).absolute()) for s in doc["shards"]]
        backend: LocalShards | RayShards
        if uses_ray(ray_address):
            ray = connect(ray_address)
            backend = RayShards(ray, paths, readonly, [str(s["path"]) for s in doc["shards"]])
        else:
            backend = LocalShards(paths, readonly)
        return cls(root, doc, backend, ray_address)

    # ------------------------------------------------------------------ description
    path = property(lambda self: self._root, doc="The sharded collection's folder.")
    dim = property(lambda self: int(self._doc["dim"]), doc="Width of the vectors.")
    metric = property(lambda self: str(self._doc["metric"]), doc="``cosine``, ``ip`` or ``l2``.")
    spec = property(lambda self: str(self._doc["spec"]), doc="The compression spec (every shard's).")
    n_shards = property(lambda self: len(self._doc["shards"]), doc="How many shards.")
    settings = property(lambda self: self._settings, doc="The shards' :class:`~lowdim.store.Settings`.")
    generation = property(lambda self: int(self._doc["generation"]), doc="The build generation in use.")

    def __len__(self) -> int:
        return sum(self._counts)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self):,} vectors"
        return f"ShardedCollection({str(self._root)!r}, shards={self.n_shards}, spec={self.spec!r}, {state})"

    def __enter__(self) -> ShardedCollection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close every shard (on Ray: end the actors)."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ConflictError(f"sharded collection {self._root} is closed; open it again with ShardedCollection.open(path)")

    def info(self) -> dict[str, Any]:
        """The manifest's description plus live counts (a JSON-ready dict)."""
        self._check_open()
        d = self._doc
        shards = [{"path": s["path"], "count": n} for s, n in zip(d["shards"], self._counts, strict=True)]
        return {
            "path": str(self._root),
            "sharded": True,
            "generation": d["generation"],
            "settings": self._settings.to_dict(),
            "dim": d["dim"],
            "metric": d["metric"],
            "spec": d["spec"],
            "index": d["index"],
            "count": len(self),
            "deleted": 0,
            "n_shards": self.n_shards,
            "shards": shards,
            "codec": d["codec"],
            "id_scheme": d["id_scheme"],
            "trained": True,
            "ray_address": self._address,
        }

    # ------------------------------------------------------------------ search
    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        filter: dict[str, Any] | None = None,
        rerank: int | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        model: str | None = None,
        with_metadata: bool = False,
    ) -> CollectionResult:
        """The ``k`` best items of all shards for each of the (n_queries, dim) ``queries``.

        The arguments are :meth:`lowdim.store.Collection.search`'s; the result is a
        :class:`~lowdim.store.CollectionResult` of shape (n_queries, k) (ids None and scores
        -inf, +inf for l2, where fewer than k items match), equal to that of one collection
        holding every row with the same codec (see the module's notes).
        """
        self._check_open()
        if model is not None and model != self._settings.model:
            qmap = self._query_map(model)  # another model's queries go through its map
            if qmap is not None:
                queries, model = qmap.transform(queries), None
        self._settings.check_model(model)
        k = check_k(k)
        Q = check_embeddings(queries, n_features=self.dim, name="queries", what=self._settings.describe())
        if rerank is not None and (isinstance(rerank, bool) or not isinstance(rerank, (int, np.integer)) or rerank < 0):
            raise ParameterError(f"The 'rerank' parameter of search must be an integer >= 0. Got {rerank!r}.")
        factor = int(rerank) if rerank is not None else (parse_spec(self.spec).rerank or 0)
        c = k * max(factor, 1)
        args = (Q, c, filter, ef, nprobe, with_metadata)
        parts = self._backend.call("query", {i: args for i in range(self.n_shards)})
        order = range(self.n_shards)
        ids = np.concatenate([parts[i][0] for i in order], axis=1)
        code = np.concatenate([parts[i][1] for i in order], axis=1)
        if factor:  # the global best c by code score, then their exact scores from their shards
            _, _, cols = merge_candidates(ids, code, None, c, c, metric=self.metric)
            ids, code = _take(ids, cols, None), _take(code, cols, pad_value(larger_is_better(self.metric)))
            exact = self._rescore(Q, ids, np.where(cols >= 0, cols // c, -1))
        else:
            cols = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
            exact = None
        out_ids, scores, picked = merge_candidates(ids, code, exact, k, c, metric=self.metric)
        meta = None
        if with_metadata:
            flat = [[m for i in order for m in parts[i][2][q]] for q in range(len(Q))]  # columns as in the shards' ids
            src = np.where(picked >= 0, np.take_along_axis(cols, np.maximum(picked, 0), axis=1), -1)
            meta = [[flat[q][j] if j >= 0 else None for j in row] for q, row in enumerate(src.tolist())]
        return CollectionResult(out_ids, scores, meta, exact_reason=None)

    def add_map(self, query_map: Any, *, model: str) -> ShardedCollection:
        """Store a :class:`~lowdim.compat.QueryMap` in every shard: ``search(Q, model=model)`` then maps ``model``'s queries."""
        self._check_open()
        self._backend.call("add_map", {i: (query_map, model) for i in range(self.n_shards)})
        self._maps.clear()
        return self

    def _query_map(self, model: str) -> Any:
        """The map of ``model`` (shard 0's copy, which every shard holds), loaded once; None when a collection
        that names no model has none (it takes any model's vectors, as one collection does)."""
        if model not in self._maps:
            try:
                self._maps[model] = self._backend.call("query_map", {0: (model,)})[0]
            except ValidationError:
                if self._settings.model is not None:
                    raise
                return None
        return self._maps[model]

    def _rescore(self, Q: np.ndarray, ids: np.ndarray, shard: np.ndarray) -> np.ndarray:
        """Exact scores (nq, c) of the candidates ``ids``, each asked of its ``shard`` (nq, c; -1: none) only."""
        exact = np.full(ids.shape, pad_value(larger_is_better(self.metric)), np.float32)
        asks, where = {}, {}
        for s in np.unique(shard[shard >= 0]).tolist():
            mine = shard == s
            width = int(mine.sum(axis=1).max())
            cols = np.argsort(~mine, axis=1, kind="stable")[:, :width]  # each query's candidates of shard s first
            keep = np.take_along_axis(mine, cols, axis=1)
            grid = np.take_along_axis(ids, cols, axis=1)
            grid[~keep] = None
            asks[s], where[s] = (Q, grid), (cols, keep)
        got = self._backend.call("rescore", asks)
        for s, (cols, keep) in where.items():
            np.put_along_axis(exact, cols, np.where(keep, got[s], np.take_along_axis(exact, cols, axis=1)), axis=1)
        return exact

    # ------------------------------------------------------------------ items
    def _by_shard(self, ids: Sequence[IdLike]) -> dict[int, list[int]]:
        where = route(ids, self.n_shards)
        return {int(s): np.flatnonzero(where == s).tolist() for s in np.unique(where)}

    def get(self, ids: IdLike | Sequence[IdLike]) -> Records:
        """The stored vectors (n, dim) float32 and metadata of these ids, in order (NotFoundError names missing ones)."""
        self._check_open()
        uids = [ids] if isinstance(ids, (str, int, np.integer)) else list(ids)
        groups = self._by_shard(uids)
        got = self._backend.call("get", {s: ([uids[j] for j in pos],) for s, pos in groups.items()})
        vectors = np.zeros((len(uids), self.dim), np.float32)
        meta: list[dict | None] = [None] * len(uids)
        for s, pos in groups.items():
            vectors[pos] = got[s].vectors
            for j, m in zip(pos, got[s].metadata, strict=True):
                meta[j] = m
        return Records(uids, vectors, meta)

    def add(
        self, vectors: Any, ids: Sequence[IdLike] | None = None, metadata: Sequence[dict | None] | None = None
    ) -> list[IdLike]:
        """Store ``vectors`` (n, dim), each in the shard of its id; return the ids (default: continuing the numbering)."""
        self._check_open()
        X = check_embeddings(vectors, n_features=self.dim, name="vectors", what=self._settings.describe())
        start = int(self._doc["next_auto_id"])
        uids: list[IdLike] = list(range(start, start + len(X))) if ids is None else list(ids)
        if len(uids) != len(X):
            raise ParameterError(f"got {len(uids)} ids for {len(X)} vectors; give one id per vector")
        if metadata is not None and len(metadata) != len(X):
            raise ParameterError(f"got {len(metadata)} metadata entries for {len(X)} vectors; give one per vector (or None)")
        groups = self._by_shard(uids)
        args = {
            s: (X[pos], [uids[j] for j in pos], None if metadata is None else [metadata[j] for j in pos])
            for s, pos in groups.items()
        }
        self._backend.call("add", args)
        ints = [u for u in uids if isinstance(u, int)]
        self._doc["next_auto_id"] = max([start, *(u + 1 for u in ints)])
        self._commit_counts()
        return uids

    def delete(self, ids: IdLike | Sequence[IdLike]) -> int:
        """Delete the items with these ids from their shards; return how many were deleted."""
        self._check_open()
        uids = [ids] if isinstance(ids, (str, int, np.integer)) else list(ids)
        groups = self._by_shard(uids)
        n = sum(self._backend.call("delete", {s: ([uids[j] for j in pos],) for s, pos in groups.items()}).values())
        self._commit_counts()
        return int(n)

    def _commit_counts(self) -> None:
        counts = self._backend.call("count", {i: () for i in range(self.n_shards)})
        self._counts = [int(counts[i]) for i in range(self.n_shards)]
        for s, n in zip(self._doc["shards"], self._counts, strict=True):
            s["count"] = n
        write_json_atomic(self._root / SHARDS_NAME, self._doc)

    def shard_pids(self) -> list[int]:
        """The process id holding each shard (this process without Ray; each actor's on Ray)."""
        self._check_open()
        pids = self._backend.call("pid", {i: () for i in range(self.n_shards)})
        return [int(pids[i]) for i in range(self.n_shards)]
