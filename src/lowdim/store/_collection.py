"""``Collection``, a thin facade over its parts: the folder layout (:mod:`._layout`), the SQL (:mod:`._catalog`),
what is loaded (:mod:`._state`), changes (:mod:`._writer`), searches (:mod:`._query`), the training rule (:mod:`._training`).
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..exceptions import ConflictError, ParameterError, UntrainedWarning
from ._catalog import Catalog
from ._folder import PlanLike, make_folder, open_folder, resolve_settings
from ._manifest import Settings
from ._maps import add_query_map, query_map_of
from ._migrate import Migrations, follow_switch
from ._query import Query, Shortlists
from ._records import IdLike
from ._results import CollectionResult, Records
from ._state import State
from ._texts import Texts
from ._writer import Writer

__all__ = ["Collection", "IdLike"]

_F = TypeVar("_F", bound=Callable[..., Any])
_Ids = Sequence[IdLike] | None
_Meta = Sequence[dict | None] | None


def _guarded(method: _F) -> _F:
    """Run ``method`` under the collection's lock, refusing a closed collection."""

    @functools.wraps(method)
    def wrapper(self: Collection, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            self._check_open()
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _knob(part: str, name: str) -> Any:
    """A tuning attribute of one part (``_writer`` or ``_query``), read and set through the collection."""
    return property(lambda self: getattr(getattr(self, part), name), lambda self, v: setattr(getattr(self, part), name, v))


class Collection(Shortlists, Texts, Migrations):
    """A durable collection of vectors under one spec: a folder on disk.

    Compact codes (the spec's quantizer) live in RAM and find candidates; the
    full-precision vectors stay on disk, memory-mapped, and rerank them exactly; ids,
    metadata and deletions live in SQLite (WAL); see :mod:`lowdim.store._layout` for the
    files. Create one with :meth:`create`, reopen it with :meth:`open` (just the path).

    Durability and concurrency
    --------------------------
    Every change writes new files, then commits one SQLite transaction referencing them:
    a call that returned is on disk, and a process killed at any moment leaves every
    acknowledged change and nothing half-written (see :mod:`lowdim.store._writer`). Any
    number of processes may search; the first write takes the writer lock until
    :meth:`close` (another writer gets a :class:`~lowdim.exceptions.ConflictError`). A
    reader sees the snapshot it opened until it calls :meth:`refresh`.

    Training
    --------
    It fits its codec as soon as it holds ``min(train_size, parse_spec(spec).min_train_rows(dim))``
    vectors and refits once at ``train_size`` if that first fit saw fewer (the rule is
    :mod:`lowdim.store._training`'s); a codec given by :meth:`train` or a plan is never
    refitted. Until then searches scan the full vectors exactly and say so
    (``info()["untrained_reason"]``, the result's ``exact_reason``, one :class:`UntrainedWarning`).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> X = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    >>> path = tempfile.mkdtemp() + "/idx"
    >>> with Collection.create(path, dim=16, spec="int8+rerank4", train_size=200) as col:
    ...     ids = col.add(X, metadata=[{"even": i % 2 == 0} for i in range(300)])
    ...     res = col.search(X[:2], k=3, filter={"even": True})
    >>> res.ids.shape, res.ids[0, 0], len(Collection.open(path)), res.exact_reason
    ((2, 3), 0, 300, None)
    """

    # tuning (see Writer and Query): graph upkeep, segment merges, the filtered-search router
    graph_min_tail = _knob("_writer", "graph_min_tail")
    graph_growth = _knob("_writer", "graph_growth")
    background_from = _knob("_writer", "background_from")
    max_segments, merge_width = _knob("_writer", "max_segments"), _knob("_writer", "merge_width")
    subset_share = _knob("_query", "subset_share")

    def __init__(self, root: Path, settings: Settings, catalog: Catalog, *, readonly: bool) -> None:
        self._root = root
        self._settings = settings
        self._catalog = catalog
        self._state = State(root, settings)
        self._writer = Writer(settings, catalog, self._state, readonly=readonly)
        self._query = Query(settings, catalog, self._state)
        self._mutex = threading.RLock()
        self._closed = False
        self._warned = False
        self._migration = None
        self._outer: list[Path] = []  # folders this collection was migrated from (their old files go on compact)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        plan: PlanLike | None = None,
        dim: int | None = None,
        spec: str | None = None,
        metric: str | None = None,
        model: str | None = None,
        train_size: int | None = None,
        index: str | None = None,
        vector_dtype: str | None = None,
        random_state: int | None = None,
        hnsw_m: int | None = None,
        ef_construction: int | None = None,
        ef_search: int | None = None,
        nlist: int | None = None,
        nprobe: int | None = None,
        encoder: str | None = None,
    ) -> Collection:
        """Create an empty collection in the new folder ``path`` (absent or empty; its parent must exist) and open it.

        ``None`` means the default declared in :class:`~lowdim.store.Settings`: spec
        ``"int8+rerank4"``, metric ``"cosine"``, train_size 20,000 (the codec is fitted on at
        most that many vectors; see Training above), index ``"flat"`` (scan every code;
        ``"hnsw"`` adds a graph), vector_dtype ``"float32"`` (exact rerank; ``"float16"``
        halves the disk), random_state 0 (the fit's seed), hnsw_m 32, ef_construction 40,
        ef_search 64; ``index="ivf"`` (or spec ``"ivf1024/pq96x4+rerank10"``) keeps the codes in
        ``nlist`` lists (default ~``4 sqrt(n)`` when built), ``nprobe`` probed (default nlist / 8).
        ``dim``: the vectors' width; ``model``: the embedding model (others are refused); ``encoder`` a text encoder
        (``"all-MiniLM-L6-v2"`` or a local model folder) that sets ``dim`` and ``model`` and
        enables :meth:`add_texts` / :meth:`search_text`.

        ``plan`` (a :class:`lowdim.plan.Plan`) gives the width ``d``, the metric and the
        recommended spec, and, when it carries its fitted codec, the collection starts
        trained with exactly that codec. A ``dim`` or ``metric`` that contradicts the plan,
        or a ``spec`` beside it, is a :class:`ParameterError`.
        """
        given = {"train_size": train_size, "index": index, "vector_dtype": vector_dtype, "random_state": random_state}
        given |= {"hnsw_m": hnsw_m, "ef_construction": ef_construction, "ef_search": ef_search, "nlist": nlist, "nprobe": nprobe}
        settings, codec = resolve_settings(plan=plan, dim=dim, spec=spec, metric=metric, model=model, encoder=encoder, **given)
        make_folder(Path(path), settings, codec)
        return cls.open(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False, verify: bool = False) -> Collection:
        """Open the collection in folder ``path``; ``readonly=True`` refuses writes instead of taking the writer lock.

        Sizes and headers of every file, and checksums of the files read into memory, are
        verified (``verify=True``: of every file); a damaged one is a one-line :class:`FileFormatError`.
        """
        root, outer = Path(path), []
        settings, catalog = open_folder(root)
        while (moved := follow_switch(root, catalog)) is not None:  # migrated to a new model: the target is the collection
            catalog.close()
            outer.append(root)
            root = moved
            settings, catalog = open_folder(root)
        try:
            col = cls(root, settings, catalog, readonly=readonly)
            col._outer = outer[::-1]
            col._writer.reload(verify=verify)
            col._load_migration()
        except BaseException:
            catalog.close()
            raise
        return col

    def close(self) -> None:
        """Release the writer lock (if held) and the catalog; the object cannot be used afterwards."""
        with self._mutex:
            if self._closed:
                return
            self._close_migration()
            self._closed = True
            self._catalog.close()
            self._writer.close()
            self._state.reset()

    def _check_open(self) -> None:
        if self._closed:
            raise ConflictError(f"collection {self._root} is closed; open it again with Collection.open(path)")

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._state)

    def __repr__(self) -> str:
        s = self._settings
        state = "closed" if self._closed else f"{len(self):,} vectors"
        return f"Collection({str(self._root)!r}, dim={s.dim}, spec={s.spec!r}, metric={s.metric!r}, index={s.index!r}, {state})"

    path = property(lambda self: self._root, doc="The collection folder.")
    settings = property(lambda self: self._settings, doc="The :class:`Settings`, fixed at creation.")
    dim = property(lambda self: self._settings.dim, doc="Width of the vectors.")
    metric = property(lambda self: self._settings.metric, doc="``cosine``, ``ip`` or ``l2``.")
    spec = property(lambda self: self._settings.spec, doc="The compression spec.")
    model = property(lambda self: self._settings.model, doc="The embedding model's name, or None.")
    readonly = property(lambda self: self._writer.readonly, doc="Whether writes are refused.")
    is_trained = property(lambda self: self._state.codec is not None, doc="Whether the codec is fitted.")
    codec = property(lambda self: self._state.codec, doc="The fitted :class:`~lowdim.spec.Pipeline` (None until trained).")

    @property
    def writer(self) -> Writer:
        """The write side (durability protocol, garbage, graph upkeep), for maintenance tools such as ``lowdim check``."""
        return self._writer

    @_guarded
    def refresh(self) -> Collection:
        """Move a reader to the latest committed state (a writer always sees its own)."""
        if not self._writer.held:
            self._writer.reload()
        self._load_migration()
        return self

    @_guarded
    def add(
        self, vectors: Any, ids: _Ids = None, metadata: _Meta = None, *, model: str | None = None, batch_size: int | None = None
    ) -> list[IdLike]:
        """Store ``vectors`` (n, dim) float16/32/64 durably; return their n ids, in order.

        ``ids``: n unique ints or strs not yet in the collection (:meth:`upsert` replaces);
        without them vectors get 0, 1, 2, … (continuing after the largest integer id the
        collection ever held). ``metadata``: n JSON objects (or None) whose top-level fields
        :meth:`search` can filter on. ``model``: the embedding model of the vectors, refused
        if not the collection's. ``batch_size``: store in durable batches of this many rows,
        one commit each (a memory-mapped array is read one batch at a time); by default one.
        When it returns, the vectors are on disk.
        """
        return self._add(vectors, ids, metadata, model=model, replace=False, batch_size=batch_size)

    @_guarded
    def upsert(
        self, vectors: Any, ids: _Ids, metadata: _Meta = None, *, model: str | None = None, batch_size: int | None = None
    ) -> list[IdLike]:
        """Insert ``vectors`` under ``ids``, atomically replacing the items that already have one of these ids."""
        if ids is None:
            raise ParameterError("upsert needs ids: the ids of the items to insert or replace")
        return self._add(vectors, ids, metadata, model=model, replace=True, batch_size=batch_size)

    @_guarded
    def _add(
        self, X: Any, ids: Any, metadata: Any, *, model: str | None, replace: bool, batch_size: int | None, texts: Any = None
    ) -> list[IdLike]:
        self._refuse_target_model(model)  # during a migration the new model's vectors come from the migration
        out = self._writer.add(X, ids, metadata, model=model, replace=replace, batch_size=batch_size, texts=texts)
        if replace:
            self._mirror_delete(out)  # a replaced item is re-embedded by the migration
        return out

    @_guarded
    def delete(self, ids: IdLike | Sequence[IdLike]) -> int:
        """Delete the items with these ids (others are ignored); return how many were deleted.

        They disappear from searches at once; :meth:`compact` drops their rows from the files.
        """
        n = self._writer.delete(ids)
        self._mirror_delete(ids)
        return n

    @_guarded
    def train(self, sample: Any = None, *, model: str | None = None) -> Collection:
        """Fit the codec on ``sample`` (n, dim) — by default the first ``train_size`` stored vectors — and re-encode everything.

        A collection trains itself (see Training above); call this to train earlier or to
        refit. A codec trained here is never refitted automatically.
        """
        self._writer.train(sample, model=model)
        return self

    @_guarded
    def add_map(self, query_map: Any, *, model: str) -> Collection:
        """Store a :class:`~lowdim.compat.QueryMap` so that ``search(Q, model=model)`` maps that model's queries (see :mod:`._maps`)."""
        add_query_map(self._writer, query_map, model)
        return self

    @_guarded
    def query_map(self, model: str) -> Any:
        """The stored :class:`~lowdim.compat.QueryMap` of ``model``'s queries (ValidationError when there is none)."""
        return query_map_of(self._settings, self._state, model)

    @_guarded
    def compact(self) -> int:
        """Rewrite the segments into one without deleted rows (and fold new vectors into the graph); return rows dropped.

        After a migration switched, this also deletes the old model's files.
        """
        self._retire_outer()
        return self._writer.compact()

    @_guarded
    def build_index(self) -> Collection:
        """Fold every vector not yet in the HNSW graph into it now (``index="hnsw"`` only)."""
        self._writer.build_index()
        return self

    @_guarded
    def get(self, ids: IdLike | Sequence[IdLike]) -> Records:
        """The stored vectors (n, dim) float32 and metadata of these ids, in order (NotFoundError names missing ones)."""
        return self._query.get(ids)

    @_guarded
    def ids(self) -> list[IdLike]:
        """Every live id, in insertion order."""
        return self._query.ids()

    @_guarded
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
        """The ``k`` best items for each of the (n_queries, dim) ``queries`` (one query: ``q.reshape(1, -1)``).

        ``filter``: metadata conditions such as ``{"pos": "n", "year": {"$gte": 2020}, "tag": {"$in": ["a", "b"]}}``
        (operators ``$eq $ne $lt $lte $gt $gte $in $nin``, ``$and``/``$or``; see :mod:`lowdim.store._filters`);
        whenever at least ``k`` items match, ``k`` are returned. ``rerank``: rescore ``rerank * k``
        candidates with the full vectors (default: the spec's ``+rerank<N>``; 0: none). ``ef``: HNSW
        beam width (default ``ef_search``). ``nprobe``: IVF lists probed, 1..nlist (default the collection's).
        ``model``: the queries' model; another one's go through its map (:meth:`add_map`), else are refused. ``with_metadata``: also metadata.

        Returns a CollectionResult: ``ids`` (n_queries, k) object array of user ids (None where
        fewer than k items exist), ``scores`` (n_queries, k) float32, and ``exact_reason``
        (set, with one :class:`UntrainedWarning` per object, while the codec is not trained).
        """
        opts: dict[str, Any] = {"filter": filter, "rerank": rerank, "ef": ef, "nprobe": nprobe, "with_metadata": with_metadata}
        return self._search(queries, k, model, opts, stacklevel=5)

    def _search(self, queries: Any, k: int, model: str | None, opts: dict[str, Any], *, stacklevel: int) -> CollectionResult:
        with self._mutex:
            self._check_open()
            run = self._migration
            if run is not None and run.rec.calibration is not None and self._is_migration_model(model):
                res = self._merged_search(queries, k, model, opts)  # type: ignore[arg-type]
            else:
                res = self._query.search(queries, k, model=model, **opts)
        return self._notice(res, stacklevel=stacklevel)

    def _notice(self, res: CollectionResult, *, stacklevel: int) -> CollectionResult:
        """Warn (once per object) that the search was exact because the codec is not trained yet."""
        if res.exact_reason is not None and not self._warned:
            self._warned = True  # a loop of searches is told once
            warnings.warn(UntrainedWarning(f"collection {self._root} {res.exact_reason}"), stacklevel=stacklevel)
        return res

    @_guarded
    def info(self) -> dict[str, Any]:
        """Settings, counts, training, RAM and disk bytes (a JSON-ready dict).

        ``trained``, ``search_mode`` (``"exact"`` until trained, then ``"codes"`` or ``"graph"``),
        ``untrained_reason`` (a sentence; None once trained), ``codec_source`` (``"auto"``, ``"train"``,
        ``"plan"``) and ``codec_rows`` (vectors it was fitted on; None for a plan's) say how it searches.
        """
        out = self._state.info() | ({"retraining": self._writer.retrain is not None} if self.settings.index == "ivf" else {})
        return out | {"migration": self.migration, "migrated_from": [str(p) for p in self._outer]}
