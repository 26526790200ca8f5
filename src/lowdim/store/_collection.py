"""``Collection``: a durable on-disk vector collection with compact codes in RAM and full vectors on disk."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConflictError, FileFormatError, NotFoundError, ParameterError, ValidationError
from ..search import CodeIndex, merge_topk, pad_value, rerank_exact, topk
from ..spec import Pipeline, parse_spec
from ..validation import check_embeddings, check_k, check_positive_int
from ._catalog import CATALOG_NAME, Catalog, GraphRecord, SegmentRecord
from ._files import (
    TMP_SUFFIX,
    FileInfo,
    check_file,
    file_crc32,
    fsync_dir,
    map_npy,
    open_npy,
    verify_mapped,
    write_npy,
    write_npy_blocks,
)
from ._filters import bad_text, check_metadata, compile_filter, index_rows, too_big_int
from ._graph import HNSWGraph
from ._lock import FileLock
from ._manifest import MANIFEST_NAME, Settings, read_manifest, write_manifest
from ._results import CollectionResult, Records
from ._segments import Growable, SegmentedVectors

__all__ = ["Collection", "IdLike", "SEGMENTS_DIR", "GRAPH_DIR", "WRITER_LOCK", "OPEN_LOCK"]

#: A user id: an ``int`` (64-bit) or a ``str``.
IdLike = int | str

SEGMENTS_DIR = "segments"
GRAPH_DIR = "graph"
WRITER_LOCK = "writer.lock"
OPEN_LOCK = "open.lock"

_FLOAT16_MAX = 65504.0
_BLOCK = 65_536


def _codes_name(seg: int, codec_num: int) -> str:
    return f"{SEGMENTS_DIR}/{seg:08d}.c{codec_num:08d}.codes.npy"


def _codec_num(name: str) -> int:
    return int(name.split("-")[1].split(".")[0])


def _normalize(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


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


class Collection:
    """A durable collection of vectors under one spec: a folder on disk.

    Compact codes (the spec's quantizer) live in RAM and find candidates; the
    full-precision vectors stay on disk, memory-mapped, and rerank them exactly; ids,
    metadata and deletions live in SQLite (WAL). Create one with :meth:`create`,
    reopen it with :meth:`open` (no arguments beyond the path).

    Layout
    ------
    ``manifest.json``
        Format version, settings (dim, metric, spec, model, index, vector dtype),
        counts, and the size and CRC-32 of every file.
    ``catalog.sqlite``
        The source of truth: segments, ids, metadata, tombstones, graph (WAL mode).
    ``segments/NNNNNNNN.vectors.npy``
        Full vectors of one ``add`` (float32 by default: rerank stays exact;
        ``vector_dtype="float16"`` halves the disk), memory-mapped.
    ``segments/NNNNNNNN.cMMMMMMMM.codes.npy``
        The codes of that segment under codec ``MMMMMMMM``, read into RAM.
    ``codec-MMMMMMMM.npz``
        The fitted :class:`~lowdim.codecs.Pipeline`.
    ``graph/NNNNNNNN.{links,storage}.faiss``
        The HNSW graph (``index="hnsw"``).

    Durability
    ----------
    Every change writes new files (temp name, fsync, rename, fsync folder) and then
    commits one SQLite transaction (``synchronous=FULL``) that references them. The
    commit is the acknowledgement: a call that returned is on disk, and a process
    killed at any moment leaves a collection that opens with every acknowledged
    change and nothing half-written (unreferenced files are deleted by the next writer
    or ``check``).

    Concurrency
    -----------
    Any number of processes may open and search a collection. The first write
    (``add``, ``upsert``, ``delete``, ``train``, ``compact``) takes the writer lock,
    held until :meth:`close`; another process that tries to write meanwhile gets a
    :class:`~lowdim.exceptions.ConflictError`. A reader sees the snapshot it opened (an
    open SQLite read transaction pins it) until it calls :meth:`refresh`.

    Training
    --------
    The codec is fitted on the first ``train_size`` vectors added (or on the sample
    passed to :meth:`train`). Until then vectors are stored durably, without codes,
    and searches are exact scans of the full vectors.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> X = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    >>> path = tempfile.mkdtemp() + "/idx"
    >>> with Collection.create(path, dim=16, spec="int8+rerank4", train_size=200) as col:
    ...     ids = col.add(X, metadata=[{"even": i % 2 == 0} for i in range(300)])
    ...     res = col.search(X[:2], k=3, filter={"even": True})
    >>> res.ids.shape, res.ids[0, 0], len(Collection.open(path))
    ((2, 3), 0, 300)
    """

    #: vectors outside the HNSW graph that make an ``add`` extend it:
    #: ``max(graph_min_tail, graph_growth * nodes in the graph)`` (they are scanned from codes meanwhile)
    graph_min_tail: int = 10_000
    graph_growth: float = 0.25
    #: a filter matching at most this share of the rows is scanned as a subset of the codes;
    #: broader ones search everything and post-filter with growing oversampling
    subset_share: dict[str, float] = {"flat": 0.125, "hnsw": 0.05}
    #: more segments than this after an add merge the ``merge_width`` smallest neighbours
    max_segments: int = 16
    merge_width: int = 8

    def __init__(self, root: Path, settings: Settings, catalog: Catalog, *, readonly: bool) -> None:
        self._root = root
        self._settings = settings
        self._catalog = catalog
        self._readonly = readonly
        self._wlock = FileLock(root / WRITER_LOCK)
        self._olock = FileLock(root / OPEN_LOCK)
        self._mutex = threading.RLock()
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        s = self._settings
        self._generation = -1
        self._segments: list[SegmentRecord] = []
        self._vectors = SegmentedVectors([], s.dim, s.vector_dtype)
        self._rowids = Growable(np.int64)
        self._alive = Growable(np.bool_)
        self._n_dead = 0
        self._codec: Pipeline | None = None
        self._codec_info: FileInfo | None = None
        self._index: CodeIndex | None = None
        # codes not yet in ``_index``, per segment: (file info, raw map, codes view); see _codes()
        self._code_maps: list[tuple[FileInfo, np.ndarray, np.ndarray]] = []
        self._graph: HNSWGraph | None = None
        self._graph_rec: GraphRecord | None = None
        self._graph_rows = np.zeros(0, np.int64)
        self._tail_start = 0
        self._next_rowid = 0
        self._next_file = 1
        self._next_auto_id = 0
        self._mask_cache: dict[str, tuple[np.ndarray | None, int]] = {}
        self._allowed_cache: dict[str, np.ndarray | None] = {}

    # ------------------------------------------------------------------ create / open / close
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        dim: int | None = None,
        spec: str = "int8+rerank4",
        metric: str = "cosine",
        model: str | None = None,
        train_size: int = 20_000,
        index: str = "flat",
        vector_dtype: str = "float32",
        random_state: int = 0,
        hnsw_m: int = 32,
        ef_construction: int = 40,
        ef_search: int = 64,
        encoder: str | None = None,
    ) -> Collection:
        """Create an empty collection in the new folder ``path`` and open it for writing.

        Parameters
        ----------
        path : str or PathLike
            A folder that does not exist yet (or is empty); its parent must exist.
        dim : int
            Width of every vector.
        spec : str
            Compression spec, e.g. ``"int8+rerank4"``, ``"binary+rerank10"``, ``"pca128/int8"``.
        metric : {"cosine", "ip", "l2"}
        model : str, optional
            Name of the embedding model; vectors declared to come from another model are refused.
        train_size : int
            The codec is fitted on the first ``train_size`` vectors added.
        index : {"flat", "hnsw"}
            ``"flat"`` scans every code (exact over the codes); ``"hnsw"`` adds an HNSW
            graph over float16 copies of the vectors for large collections.
        vector_dtype : {"float32", "float16"}
            How the full vectors are stored on disk: float32 keeps rerank exact, float16 halves the disk.
        random_state : int
            Seed of the codec's fit.
        hnsw_m, ef_construction, ef_search : int
            HNSW links per node, build beam width, default search beam width.
        encoder : str, optional
            A text encoder (``"all-MiniLM-L6-v2"`` or a local sentence-transformers folder)
            for :meth:`add_texts` / :meth:`search_text`. ``dim`` and ``model`` then come
            from the encoder (the model is loaded once to learn its width).
        """
        if encoder is not None:
            from ..encoders import TextEncoder

            enc = TextEncoder(encoder)
            if model is not None and model != enc.name:
                raise ParameterError(
                    f"model '{model}' contradicts encoder '{encoder}' (whose model is {enc.name}); give one of them"
                )
            if dim is not None and dim != enc.dim:
                raise ParameterError(f"dim={dim} contradicts encoder '{encoder}', whose vectors have {enc.dim} dimensions")
            dim, model = enc.dim, enc.name
        if dim is None:
            raise ParameterError("Collection.create needs dim= (the vector width), or encoder= for a text collection")
        settings = Settings(
            dim=dim,
            metric=metric,
            spec=spec,
            model=model,
            index=index,
            train_size=train_size,
            vector_dtype=vector_dtype,
            random_state=random_state,
            hnsw_m=hnsw_m,
            ef_construction=ef_construction,
            ef_search=ef_search,
            encoder=encoder,
        ).validated()
        q = parse_spec(settings.spec).quantizer
        if q.keyword == "pq" and settings.train_size < 2 ** q.args[1]:
            raise ParameterError(
                f"The 'train_size' parameter of Collection must be >= {2 ** q.args[1]} for spec '{settings.spec}' "
                f"(one training vector per PQ centroid at least). Got {settings.train_size}."
            )
        root = Path(path)
        if root.exists():
            if (root / MANIFEST_NAME).exists() or (root / CATALOG_NAME).exists():
                raise ConflictError(f"a collection already exists at {root}; open it with Collection.open({str(root)!r})")
            if not root.is_dir() or any(root.iterdir()):
                raise ConflictError(f"{root} exists and is not an empty folder; choose a new path for the collection")
        parent = root.absolute().parent
        if not parent.is_dir():
            raise FileFormatError(f"cannot create collection {root}: folder {parent} does not exist")
        tmp = parent / f".{root.name}.creating-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            (tmp / SEGMENTS_DIR).mkdir()
            (tmp / GRAPH_DIR).mkdir()
            cat = Catalog(tmp, create=True)
            try:
                with cat.write() as conn:
                    Catalog.put(
                        conn, settings=settings.to_dict(), generation=0, next_rowid=0, next_file=1, next_auto_id=0, codec=None
                    )
            finally:
                cat.close()
            write_manifest(tmp, settings, _state_summary(0, 0, 0, [], None, None, None))
            fsync_dir(tmp)
            if root.exists():
                root.rmdir()
            os.rename(tmp, root)  # the collection appears complete or not at all
            fsync_dir(parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls.open(root)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False, verify: bool = False) -> Collection:
        """Open the collection in folder ``path``.

        File sizes and .npy headers of every file, and the checksums of the files read
        into memory (codec, codes, graph links), are verified; ``verify=True`` also
        checksums the memory-mapped full vectors and graph storage (reads everything).
        A damaged file raises a one-line :class:`FileFormatError` naming it.
        ``readonly=True`` refuses writes instead of taking the writer lock.
        """
        root = Path(path)
        if not root.exists():
            raise NotFoundError(
                f"no collection at {root}; create one with 'lowdim create {root} --dim D' or Collection.create(path, dim=D)"
            )
        if not root.is_dir():
            raise FileFormatError(f"{root} is a file, not a collection folder")
        if not (root / MANIFEST_NAME).exists() and not (root / CATALOG_NAME).exists():
            raise FileFormatError(f"{root} is not a lowdim collection (it has no {MANIFEST_NAME})")
        doc = read_manifest(root)
        settings = Settings.from_dict(doc["settings"], f"{MANIFEST_NAME} in collection {root}")
        catalog = Catalog(root)
        try:
            stored = catalog.get("settings")
            if not isinstance(stored, dict):
                raise FileFormatError(f"{CATALOG_NAME} in collection {root} has no settings; run 'lowdim check {root}'")
            if Settings.from_dict(stored, CATALOG_NAME) != settings:
                raise FileFormatError(
                    f"{MANIFEST_NAME} and {CATALOG_NAME} of collection {root} disagree on the settings; "
                    f"run 'lowdim check {root}' to rebuild the manifest"
                )
            col = cls(root, settings, catalog, readonly=readonly)
            col._reload(verify=verify)
        except BaseException:
            catalog.close()
            raise
        return col

    def close(self) -> None:
        """Release the writer lock (if held) and the catalog; the object cannot be used afterwards."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            self._catalog.close()
            self._wlock.release()
            self._olock.release()
            self._reset()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._rowids) - self._n_dead

    def __repr__(self) -> str:
        s = self._settings
        state = "closed" if self._closed else f"{len(self):,} vectors"
        return f"Collection({str(self._root)!r}, dim={s.dim}, spec={s.spec!r}, metric={s.metric!r}, index={s.index!r}, {state})"

    # ------------------------------------------------------------------ properties
    @property
    def path(self) -> Path:
        return self._root

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def dim(self) -> int:
        return self._settings.dim

    @property
    def metric(self) -> str:
        return self._settings.metric

    @property
    def spec(self) -> str:
        return self._settings.spec

    @property
    def model(self) -> str | None:
        return self._settings.model

    @property
    def is_trained(self) -> bool:
        return self._codec is not None

    @property
    def codec(self) -> Pipeline | None:
        """The fitted pipeline (None until trained)."""
        return self._codec

    @property
    def readonly(self) -> bool:
        return self._readonly

    # ------------------------------------------------------------------ loading
    def _check_open(self) -> None:
        if self._closed:
            raise ConflictError(f"collection {self._root} is closed; open it again with Collection.open(path)")

    def _reload(self, *, verify: bool = False) -> None:
        writer = self._wlock.held
        if not writer:
            # Shared while files are being opened: the writer deletes obsolete files only
            # when nobody holds it (files already mapped or read survive their unlink).
            self._olock.acquire(exclusive=False, blocking=True)
        try:
            if not writer:
                self._catalog.pin()
            self._load(verify=verify)
        finally:
            if not writer:
                self._olock.release()

    def _load(self, *, verify: bool = False) -> None:
        s, root = self._settings, self._root
        cfg = self._catalog.config()
        segs = self._catalog.segments()
        tomb = self._catalog.tombstones()
        vdtype = np.dtype(s.vector_dtype)
        parts = []
        for seg in segs:
            if verify:
                check_file(root, seg.vectors, crc=True)
            parts.append(open_npy(root, seg.vectors, (seg.n, s.dim), vdtype))
        vectors = SegmentedVectors(parts, s.dim, vdtype)
        rowids = np.concatenate([seg.rowids for seg in segs]) if segs else np.zeros(0, np.int64)
        if len(rowids) > 1 and not bool((np.diff(rowids) > 0).all()):
            raise FileFormatError(
                f"{CATALOG_NAME} in collection {root} lists segment rows out of order; run 'lowdim check {root}'"
            )
        alive = np.ones(len(rowids), bool)
        if len(tomb) and len(rowids):
            pos = np.searchsorted(rowids, tomb)
            posc = np.minimum(pos, len(rowids) - 1)
            hit = rowids[posc] == tomb
            alive[posc[hit]] = False
        codec = None
        codec_info = None
        code_maps: list = []
        if cfg.get("codec"):
            codec_info = FileInfo(**cfg["codec"])
            check_file(root, codec_info, crc=True)
            codec = Pipeline.load(root / codec_info.name)
            if codec.n_features_in_ != s.dim or codec.to_spec() != s.spec or codec.metric != s.metric:
                raise FileFormatError(
                    f"{codec_info.name} in collection {root} is a {codec.to_spec()} codec for {codec.n_features_in_} features; "
                    f"the collection expects {s.spec} for {s.dim}; run 'lowdim check {root}'"
                )
            code_maps = []
            for seg in segs:
                if seg.codes is None:
                    raise FileFormatError(
                        f"segment {seg.seg} of collection {root} has no codes although the collection is trained; "
                        f"run 'lowdim check {root}' to encode it"
                    )
                raw, view = map_npy(root, seg.codes, (seg.n, codec.code_size), np.uint8)
                code_maps.append((seg.codes, raw, view))
        graph = graph_rec = None
        if s.index == "hnsw":
            graph_rec = self._catalog.graph()
            if graph_rec is not None:
                graph = HNSWGraph.load(root, graph_rec, mapped=True, verify_storage=verify)
        self._reset()
        self._generation = int(cfg.get("generation", 0))
        self._next_rowid = int(cfg.get("next_rowid", 0))
        self._next_file = int(cfg.get("next_file", 1))
        self._next_auto_id = int(cfg.get("next_auto_id", 0))
        self._segments = segs
        self._vectors = vectors
        self._rowids = Growable(np.int64, rowids)
        self._alive = Growable(np.bool_, alive)
        self._n_dead = int((~alive).sum())
        self._codec, self._codec_info = codec, codec_info
        self._code_maps = code_maps if codec is not None else []
        self._graph, self._graph_rec = graph, graph_rec
        self._refresh_graph_rows()
        if codec is not None and (s.index == "flat" or verify):
            self._codes()  # the codes are the flat index: load (and checksum) them now

    def _invalidate(self) -> None:
        """Forget filter masks and graph bitmaps (after any change of rows or deletions)."""
        self._mask_cache = {}
        self._allowed_cache = {}

    def _codes(self) -> CodeIndex:
        """The codes in RAM, loaded on first use.

        A flat collection loads them on open; an HNSW collection searches its graph
        and loads the codes only for what the graph does not cover (filters, vectors
        added since the graph was built), so that reopening it reads little. The files
        were mapped on open, so a compaction that deletes them meanwhile does no harm.
        """
        if self._index is None:
            index = CodeIndex(self._codec, vectors=self._vectors)
            for info, raw, view in self._code_maps:
                verify_mapped(self._root, info, raw)
                index.add(np.asarray(view))
            self._index = index
            self._code_maps = []
        return self._index

    def _rows_of(self, rowids: np.ndarray) -> np.ndarray:
        """Row numbers of ``rowids`` (-1 for those not stored)."""
        r = self._rowids.values
        rowids = np.asarray(rowids, dtype=np.int64)
        if not len(r):
            return np.full(rowids.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(r, rowids), len(r) - 1)
        return np.where(r[pos] == rowids, pos, -1)

    def _refresh_graph_rows(self) -> None:
        self._invalidate()
        if self._graph is None or not len(self._graph.keys):
            self._graph_rows = np.zeros(0, np.int64)
            self._tail_start = 0
            return
        self._graph_rows = self._rows_of(self._graph.keys)
        self._tail_start = int(np.searchsorted(self._rowids.values, self._graph.keys.max(), side="right"))

    def refresh(self) -> Collection:
        """Move a reader to the latest committed state (a writer always sees its own)."""
        with self._mutex:
            self._check_open()
            if not self._wlock.held:
                self._reload()
            return self

    # ------------------------------------------------------------------ the writer side
    def _writable(self) -> None:
        self._check_open()
        if self._readonly:
            raise ConflictError(
                f"collection {self._root} was opened with readonly=True; open it with Collection.open(path) to write"
            )
        if self._wlock.held:
            return
        if not self._wlock.acquire(exclusive=True, blocking=False):
            raise ConflictError(
                f"collection {self._root} is being written by another process (pid {self._wlock.owner()}); "
                f"one writer at a time: wait until it closes the collection, or open it with readonly=True to search"
            )
        try:
            self._wlock.write_owner()
            self._catalog.unpin()
            if self._catalog.get("generation") != self._generation:
                self._load()
            self._gc()
            manifest_gen = None
            try:
                manifest_gen = read_manifest(self._root).get("generation")
            except FileFormatError:
                pass
            if manifest_gen != self._generation:
                self._write_manifest()
        except BaseException:
            self._wlock.release()
            raise

    def _reserve(self) -> int:
        num = self._next_file
        self._next_file += 1
        return num

    def _unlink(self, names: list[str]) -> None:
        for name in names:
            try:
                (self._root / name).unlink()
            except FileNotFoundError:
                pass
            try:
                (self._root / (name + TMP_SUFFIX)).unlink()
            except FileNotFoundError:
                pass

    def _abort(self, written: list[str]) -> None:
        """Undo the files of a change that failed: delete them unless the change did commit.

        An exception (say KeyboardInterrupt) can arrive just after COMMIT returned; the
        catalog, not the control flow, says whether the files are referenced.
        """
        try:
            committed = self._catalog.referenced() & set(written)
        except Exception:  # cannot tell: keep them; the next writer collects unreferenced ones
            return
        self._unlink([w for w in written if w not in committed])
        if committed:
            self._load()  # it did commit: mirror the committed state

    def _referenced(self) -> set[str]:
        refs = set()
        for seg in self._segments:
            refs.add(seg.vectors.name)
            if seg.codes is not None:
                refs.add(seg.codes.name)
        if self._codec_info is not None:
            refs.add(self._codec_info.name)
        if self._graph_rec is not None:
            refs.update((self._graph_rec.links.name, self._graph_rec.storage.name))
        return refs

    def _garbage(self) -> list[str]:
        refs = self._referenced()
        out = []
        for sub in ("", SEGMENTS_DIR, GRAPH_DIR):
            folder = self._root / sub if sub else self._root
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if not entry.is_file():
                    continue
                rel = f"{sub}/{entry.name}" if sub else entry.name
                ours = bool(sub) or entry.name.startswith("codec-")
                if rel.endswith(TMP_SUFFIX) or (ours and rel not in refs):
                    out.append(rel)
        return sorted(out)

    def _gc(self) -> list[str]:
        """Delete files no committed state references (interrupted writes, replaced segments)."""
        garbage = self._garbage()
        if not garbage or not self._olock.acquire(exclusive=True, blocking=False):
            return []  # a reader is opening files right now: collect them next time
        try:
            self._unlink(garbage)
        finally:
            self._olock.release()
        for sub in ("", SEGMENTS_DIR, GRAPH_DIR):
            folder = self._root / sub if sub else self._root
            if folder.is_dir():
                fsync_dir(folder)
        return garbage

    def _files(self) -> list[FileInfo]:
        files = []
        for seg in self._segments:
            files.append(seg.vectors)
            if seg.codes is not None:
                files.append(seg.codes)
        if self._codec_info is not None:
            files.append(self._codec_info)
        if self._graph_rec is not None:
            files += [self._graph_rec.links, self._graph_rec.storage]
        return files

    def _write_manifest(self) -> None:
        write_manifest(
            self._root,
            self._settings,
            _state_summary(
                self._generation,
                len(self._rowids),
                self._n_dead,
                self._files(),
                self._codec.code_size if self._codec is not None else None,
                self._graph.ntotal if self._graph is not None else None,
                len(self._segments),
            ),
        )

    def _check_model(self, model: str | None) -> None:
        own = self._settings.model
        if model is not None and own is not None and model != own:
            raise ValidationError(
                f"vectors from model '{model}' do not fit this collection (model {own}): "
                f"embeddings of different models are not comparable"
            )

    def _check_ids(self, ids: Any, n: int | None, *, unique: bool) -> list[IdLike]:
        if isinstance(ids, (str, int, np.integer)) and not isinstance(ids, bool):
            ids = [ids]
        if isinstance(ids, np.ndarray):
            values = ids.ravel().tolist()
        else:
            try:
                values = list(ids)
            except TypeError:
                raise ValidationError(f"ids must be a list of strings or integers; got {type(ids).__name__}") from None
        out: list[IdLike] = []
        for i, v in enumerate(values):
            if isinstance(v, (bool, np.bool_)) or v is None:
                raise ValidationError(f"ids[{i}] is {v!r}; ids must be strings or integers")
            if isinstance(v, (int, np.integer)):
                v = int(v)
                if too_big_int(v):
                    raise ValidationError(f"ids[{i}] = {v} does not fit in 64 bits; use a string id")
            elif not isinstance(v, str):
                raise ValidationError(f"ids[{i}] is a {type(v).__name__} ({v!r}); ids must be strings or integers")
            elif bad_text(v):
                raise ValidationError(f"ids[{i}] is not valid Unicode (it has a lone surrogate): {v!r}")
            out.append(v)
        if n is not None and len(out) != n:
            raise ValidationError(f"{len(out)} ids were given for {n} vectors; expected one id per vector")
        if unique and len(set(out)) != len(out):
            seen: set = set()
            dup = next(v for v in out if v in seen or seen.add(v))  # type: ignore[func-returns-value]
            raise ValidationError(f"ids contain duplicates: {dup!r} appears {out.count(dup)} times")
        return out

    def _tombstone(self, conn: sqlite3.Connection, rowids: list[int]) -> None:
        payload = json.dumps(rowids)
        conn.execute("INSERT OR IGNORE INTO tombstones(rowid) SELECT value FROM json_each(?)", (payload,))
        conn.execute("DELETE FROM meta_kv WHERE rowid IN (SELECT value FROM json_each(?))", (payload,))
        conn.execute("DELETE FROM items WHERE rowid IN (SELECT value FROM json_each(?))", (payload,))

    def _mark_dead(self, rowids: list[int]) -> None:
        if not rowids:
            return
        rows = self._rows_of(np.asarray(rowids, np.int64))
        rows = rows[rows >= 0]
        alive = self._alive.values
        newly = rows[alive[rows]]
        alive[newly] = False
        self._n_dead += len(newly)

    def add(
        self,
        vectors: Any,
        ids: Sequence[IdLike] | None = None,
        metadata: Sequence[dict | None] | None = None,
        *,
        model: str | None = None,
    ) -> list[IdLike]:
        """Store ``vectors`` (n, dim) durably; return their ids.

        Parameters
        ----------
        vectors : array-like (n, dim), float16/32/64
        ids : sequence of n ints or strs, optional
            Unique, and not yet in the collection (use :meth:`upsert` to replace).
            Without ids, vectors get 0, 1, 2, … in insertion order (continuing after the
            largest integer id the collection ever held).
        metadata : sequence of n dicts (or None), optional
            JSON objects; their top-level fields can be filtered on in :meth:`search`.
        model : str, optional
            The embedding model the vectors come from; refused if it is not the collection's.

        Returns
        -------
        list of the n ids, in order. When it returns, the vectors are on disk.
        """
        with self._mutex:
            return self._insert(vectors, ids, metadata, model=model, replace=False)

    def upsert(
        self,
        vectors: Any,
        ids: Sequence[IdLike],
        metadata: Sequence[dict | None] | None = None,
        *,
        model: str | None = None,
    ) -> list[IdLike]:
        """Insert ``vectors`` under ``ids``, atomically replacing the items that already have one of these ids."""
        if ids is None:
            raise ParameterError("upsert needs ids: the ids of the items to insert or replace")
        with self._mutex:
            return self._insert(vectors, ids, metadata, model=model, replace=True)

    def _insert(self, vectors: Any, ids: Any, metadata: Any, *, model: str | None, replace: bool) -> list[IdLike]:
        self._writable()
        self._check_model(model)
        s = self._settings
        X = check_embeddings(vectors, n_features=s.dim, name="X", what=s.describe())
        n = len(X)
        if ids is None:
            uids: list[IdLike] = list(range(self._next_auto_id, self._next_auto_id + n))
        else:
            uids = self._check_ids(ids, n, unique=True)
        metas = check_metadata(metadata, n)
        if s.vector_dtype == "float16" and float(np.abs(X).max()) > _FLOAT16_MAX:
            raise ValidationError(
                f"X has values beyond the float16 range (|x| > {_FLOAT16_MAX:g}); this collection stores vectors as float16"
            )
        if not replace and ids is not None:
            clash = self._catalog.rowids_of(uids)
            if clash:
                shown = ", ".join(repr(u) for u in list(clash)[:5])
                raise ConflictError(
                    f"{len(clash)} of the {n} ids are already in this collection ({shown}); use upsert() to replace them"
                )
        ints = [u for u in uids if isinstance(u, int)]
        next_auto = max(self._next_auto_id, max(ints) + 1 if ints else 0)
        num = self._reserve()
        written: list[str] = []
        codes = None
        try:
            stored = X if s.vector_dtype == "float32" else X.astype(np.float16)
            vinfo = write_npy(self._root, f"{SEGMENTS_DIR}/{num:08d}.vectors.npy", stored)
            written.append(vinfo.name)
            cinfo = None
            if self._codec is not None:
                codes = self._codec.encode(X)
                cinfo = write_npy(self._root, _codes_name(num, _codec_num(self._codec_info.name)), codes)  # type: ignore[union-attr]
                written.append(cinfo.name)
            first = self._next_rowid
            rowids = np.arange(first, first + n, dtype=np.int64)
            seg = SegmentRecord(num, first, n, vinfo, cinfo, rowids)
            kv = []
            for rid, text in zip(rowids.tolist(), metas):
                if text is not None:
                    kv.extend(index_rows(rid, json.loads(text)))
            with self._catalog.write() as conn:
                old: list[int] = []
                if replace:
                    old = [
                        r
                        for (r,) in conn.execute(
                            "SELECT rowid FROM items WHERE uid IN (SELECT value FROM json_each(?))", (json.dumps(uids),)
                        )
                    ]
                    if old:
                        self._tombstone(conn, old)
                Catalog.insert_segment(conn, seg)
                conn.executemany("INSERT INTO items(rowid, uid, meta) VALUES (?, ?, ?)", zip(rowids.tolist(), uids, metas))
                conn.executemany("INSERT OR IGNORE INTO meta_kv(key, value, rowid) VALUES (?, ?, ?)", kv)
                Catalog.put(
                    conn,
                    generation=self._generation + 1,
                    next_rowid=first + n,
                    next_file=self._next_file,
                    next_auto_id=next_auto,
                )
        except sqlite3.IntegrityError:
            self._abort(written)
            raise ConflictError("some of these ids are already in this collection; use upsert() to replace them") from None
        except BaseException:
            self._abort(written)
            raise
        # committed: the add is acknowledged; now mirror it in memory
        self._generation += 1
        self._next_rowid = first + n
        self._next_auto_id = next_auto
        self._segments.append(seg)
        self._vectors.append(open_npy(self._root, vinfo, (n, s.dim), s.vector_dtype))
        self._rowids.extend(rowids)
        self._alive.extend(np.ones(n, bool))
        if codes is not None:
            if self._index is not None:
                self._index.add(codes)
            else:
                self._code_maps.append((cinfo, *map_npy(self._root, cinfo, codes.shape, np.uint8)))  # type: ignore[arg-type]
        self._mark_dead(old)
        self._invalidate()
        self._write_manifest()
        self._after_write()
        return uids

    def _after_write(self) -> None:
        if self._codec is None and len(self._rowids) >= self._settings.train_size:
            self._train(self._first_rows(self._settings.train_size))
        self._maybe_merge()
        self._maintain_graph()
        self._gc()

    def _first_rows(self, n: int) -> np.ndarray:
        return np.asarray(self._vectors[0 : min(n, len(self._vectors))], dtype=np.float32)

    def delete(self, ids: IdLike | Sequence[IdLike]) -> int:
        """Delete the items with these ids (ids not in the collection are ignored); return how many were deleted.

        Deleted items disappear from searches at once; their rows are dropped from the
        files by :meth:`compact` (or when their segment is merged).
        """
        with self._mutex:
            self._writable()
            uids = self._check_ids(ids, None, unique=False)
            if not uids:
                return 0
            with self._catalog.write() as conn:
                rows = [
                    r
                    for (r,) in conn.execute(
                        "SELECT rowid FROM items WHERE uid IN (SELECT value FROM json_each(?))", (json.dumps(uids),)
                    )
                ]
                if rows:
                    self._tombstone(conn, rows)
                    Catalog.put(conn, generation=self._generation + 1)
            if not rows:
                return 0
            self._generation += 1
            self._mark_dead(rows)
            self._invalidate()
            self._write_manifest()
            return len(rows)

    def train(self, sample: Any = None, *, model: str | None = None) -> Collection:
        """Fit the codec on ``sample`` (n, dim) — by default the first ``train_size`` stored vectors — and encode everything.

        A collection trains itself once it holds ``train_size`` vectors; call this to
        train earlier or to refit (the codes are rewritten; ids and vectors stay).
        """
        with self._mutex:
            self._writable()
            self._check_model(model)
            s = self._settings
            if sample is None:
                if not len(self._rowids):
                    raise ValidationError("nothing to train on: add vectors first, or pass a sample to train(sample)")
                X = self._first_rows(s.train_size)
            else:
                X = check_embeddings(sample, n_features=s.dim, name="sample", what=s.describe())
            self._train(X)
            self._maintain_graph()
            self._gc()
            return self

    def _train(self, sample: np.ndarray) -> None:
        s = self._settings
        codec = Pipeline(s.spec, metric=s.metric, random_state=s.random_state, max_train=max(len(sample), 1)).fit(sample)
        num = self._reserve()
        name = f"codec-{num:08d}.npz"
        written: list[str] = [name]
        encoded: list[tuple[SegmentRecord, FileInfo, np.ndarray]] = []
        try:
            codec.save(self._root / name)
            fsync_dir(self._root)
            path = self._root / name
            info = FileInfo(name, path.stat().st_size, file_crc32(path))
            for seg, part in zip(self._segments, self._vectors.parts):
                codes = codec.encode(part)
                ci = write_npy(self._root, _codes_name(seg.seg, num), codes)
                written.append(ci.name)
                encoded.append((seg, ci, codes))
            with self._catalog.write() as conn:
                for seg, ci, _ in encoded:
                    Catalog.set_codes(conn, seg.seg, ci)
                Catalog.put(conn, codec=info.to_dict(), generation=self._generation + 1, next_file=self._next_file)
        except BaseException:
            self._abort(written)
            raise
        self._generation += 1
        self._segments = [dataclasses.replace(seg, codes=ci) for seg, ci, _ in encoded]
        self._codec, self._codec_info = codec, info
        self._index = CodeIndex(codec, vectors=self._vectors)
        self._code_maps = []
        for _, _, codes in encoded:
            self._index.add(codes)
        self._invalidate()
        self._write_manifest()

    # ------------------------------------------------------------------ compaction
    def _rewrite(self, lo_seg: int, hi_seg: int) -> int:
        """Merge segments ``[lo_seg, hi_seg)`` into one without their deleted rows; return rows dropped."""
        s = self._settings
        segs = self._segments[lo_seg:hi_seg]
        off = self._vectors.offsets
        lo, hi = int(off[lo_seg]), int(off[hi_seg])
        alive = self._alive.values
        rowids = self._rowids.values
        keep_local = lo + np.flatnonzero(alive[lo:hi])
        dead = rowids[lo:hi][~alive[lo:hi]]
        n_new = len(keep_local)
        num = self._reserve()
        written: list[str] = []
        new_seg = None
        try:
            if n_new:
                vname = f"{SEGMENTS_DIR}/{num:08d}.vectors.npy"
                blocks = (self._vectors[keep_local[i : i + _BLOCK]] for i in range(0, n_new, _BLOCK))
                written.append(vname)
                vinfo = write_npy_blocks(self._root, vname, (n_new, s.dim), s.vector_dtype, blocks)
                cinfo = None
                if self._codec is not None:
                    cinfo = write_npy(
                        self._root, _codes_name(num, _codec_num(self._codec_info.name)), self._codes().codes[keep_local]
                    )  # type: ignore[union-attr]
                    written.append(cinfo.name)
                new_rowids = rowids[keep_local]
                new_seg = SegmentRecord(num, int(new_rowids[0]), n_new, vinfo, cinfo, new_rowids)
            with self._catalog.write() as conn:
                conn.executemany("DELETE FROM segments WHERE seg = ?", [(g.seg,) for g in segs])
                if new_seg is not None:
                    Catalog.insert_segment(conn, new_seg)
                conn.execute(
                    "DELETE FROM tombstones WHERE rowid IN (SELECT value FROM json_each(?))", (json.dumps(dead.tolist()),)
                )
                Catalog.put(conn, generation=self._generation + 1, next_file=self._next_file)
        except BaseException:
            self._abort(written)
            raise
        self._generation += 1
        keep = np.concatenate([np.arange(lo), keep_local, np.arange(hi, len(rowids))]).astype(np.int64)
        new_parts = [open_npy(self._root, new_seg.vectors, (n_new, s.dim), s.vector_dtype)] if new_seg else []
        self._segments[lo_seg:hi_seg] = [new_seg] if new_seg else []
        self._vectors = SegmentedVectors(
            self._vectors.parts[:lo_seg] + new_parts + self._vectors.parts[hi_seg:], s.dim, s.vector_dtype
        )
        if self._codec is not None:
            codes = self._codes().codes[keep]
            self._index = CodeIndex(self._codec, codes, vectors=self._vectors)
        self._rowids = Growable(np.int64, rowids[keep])
        self._alive = Growable(np.bool_, alive[keep])
        self._n_dead -= len(dead)
        self._refresh_graph_rows()
        self._write_manifest()
        return len(dead)

    def _maybe_merge(self) -> None:
        while len(self._segments) > self.max_segments:
            sizes = np.array([g.n for g in self._segments], np.int64)
            width = self.merge_width
            window = np.convolve(sizes, np.ones(width, np.int64), mode="valid")
            start = int(np.argmin(window))
            self._rewrite(start, start + width)

    def compact(self) -> int:
        """Rewrite the segments into one without deleted rows (and fold new vectors into the graph); return rows dropped."""
        with self._mutex:
            self._writable()
            dropped = 0
            if self._segments and (self._n_dead or len(self._segments) > 1):
                dropped = self._rewrite(0, len(self._segments))
            if self._graph is not None:
                usable = self._graph_rows >= 0
                usable[usable] = self._alive.values[self._graph_rows[usable]]
                if usable.mean() < 1.0 - self.graph_growth:  # many dead nodes: a new graph searches better
                    self._maintain_graph(force=True, rebuild=True)
            self._maintain_graph(force=True)
            self._gc()
            return dropped

    # ------------------------------------------------------------------ the graph
    def build_index(self) -> Collection:
        """Fold every vector not yet in the HNSW graph into it now (``index="hnsw"`` only)."""
        with self._mutex:
            if self._settings.index != "hnsw":
                raise ParameterError("build_index applies to collections created with index='hnsw'; this one uses index='flat'")
            self._writable()
            if self._codec is None:
                if not len(self._rowids):
                    return self
                self._train(self._first_rows(self._settings.train_size))
            self._maintain_graph(force=True)
            self._gc()
            return self

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        return _normalize(X) if self._settings.metric == "cosine" else X

    def _maintain_graph(self, *, force: bool = False, rebuild: bool = False) -> None:
        s = self._settings
        if s.index != "hnsw" or self._codec is None:
            return
        fresh = rebuild or self._graph is None
        start = 0 if fresh else self._tail_start
        rows = start + np.flatnonzero(self._alive.values[start:])
        size = 0 if fresh else self._graph.ntotal  # type: ignore[union-attr]
        if not force and len(rows) < max(self.graph_min_tail, self.graph_growth * size):
            return
        if not len(rows) and not rebuild:
            return
        if fresh:
            g = HNSWGraph.empty(s.dim, s.metric, m=s.hnsw_m, ef_construction=s.ef_construction)
        else:
            g = self._graph.owned(self._root, self._graph_rec)  # type: ignore[union-attr, arg-type]
        rowids = self._rowids.values
        step = 4 * _BLOCK
        for i in range(0, len(rows), step):
            block = rows[i : i + step]
            g.add(self._prepare(self._vectors[block]), rowids[block])
        num = self._reserve()
        rec = g.save(self._root, f"{GRAPH_DIR}/{num:08d}") if g.ntotal else None
        try:
            with self._catalog.write() as conn:
                Catalog.set_graph(conn, rec)
                Catalog.put(conn, generation=self._generation + 1, next_file=self._next_file)
        except BaseException:
            if rec is not None:
                self._abort([rec.links.name, rec.storage.name])
            raise
        del g
        self._generation += 1
        self._graph_rec = rec
        self._graph = HNSWGraph.load(self._root, rec, mapped=True) if rec is not None else None
        self._refresh_graph_rows()
        self._write_manifest()

    # ------------------------------------------------------------------ reading
    def get(self, ids: IdLike | Sequence[IdLike]) -> Records:
        """The stored vectors and metadata of these ids, in the order given.

        Raises :class:`NotFoundError` listing (up to five of) the ids not in the collection.

        Returns
        -------
        Records with ``ids`` (list), ``vectors`` (n, dim) float32 and ``metadata`` (list of dict or None).
        """
        with self._mutex:
            self._check_open()
            uids = self._check_ids(ids, None, unique=False)
            found = self._catalog.rowids_of(uids)
            missing = [u for u in uids if u not in found]
            if missing:
                shown = ", ".join(repr(u) for u in missing[:5]) + (", ..." if len(missing) > 5 else "")
                raise NotFoundError(f"{len(missing)} of the {len(uids)} ids are not in this collection: {shown}")
            rowids = np.array([found[u] for u in uids], dtype=np.int64)
            rows = self._rows_of(rowids)
            if (rows < 0).any():
                raise FileFormatError(
                    f"{CATALOG_NAME} of collection {self._root} lists items no segment holds; run 'lowdim check {self._root}'"
                )
            vectors = np.asarray(self._vectors[rows], dtype=np.float32)
            items = self._catalog.items_of(rowids)
            meta = [None if items[r][1] is None else json.loads(items[r][1]) for r in rowids.tolist()]
            return Records(list(uids), vectors, meta)

    def ids(self) -> list[IdLike]:
        """Every live id, in insertion order."""
        with self._mutex:
            self._check_open()
            return self._catalog.all_uids()

    def _mask(self, flt: dict[str, Any] | None) -> tuple[np.ndarray | None, int, str]:
        """Rows allowed by ``flt`` and not deleted: ``(bool mask or None for all rows, count, cache key)``."""
        n_live = len(self)
        if flt is None or (isinstance(flt, dict) and not flt):
            return (self._alive.values if self._n_dead else None), n_live, ""
        key = json.dumps(flt, sort_keys=True, default=repr)
        hit = self._mask_cache.get(key)
        if hit is not None:
            return hit[0], hit[1], key
        sql, params = compile_filter(flt)
        rows = self._rows_of(self._catalog.matching(sql, params))
        mask = np.zeros(len(self._rowids), bool)
        mask[rows[rows >= 0]] = True
        mask &= self._alive.values
        m = int(mask.sum())
        if len(self._mask_cache) >= 8:
            self._mask_cache.pop(next(iter(self._mask_cache)))
        self._mask_cache[key] = (mask, m)
        return mask, m, key

    # ------------------------------------------------------------------ text
    @property
    def encoder(self):
        """The :class:`~lowdim.encoders.TextEncoder` of a text collection (loaded on first use)."""
        name = self._settings.encoder
        if name is None:
            raise ParameterError(
                f"{self._settings.describe()} has no text encoder; create it with "
                f"Collection.create(path, encoder='all-MiniLM-L6-v2', spec=...) to add and search texts"
            )
        if getattr(self, "_encoder", None) is None:
            from ..encoders import TextEncoder

            self._encoder = TextEncoder(name)
        return self._encoder

    def add_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[IdLike] | None = None,
        metadata: Sequence[dict | None] | None = None,
        *,
        progress: bool = False,
    ) -> list[IdLike]:
        """Embed ``texts`` with the collection's encoder and :meth:`add` them; returns their ids.

        Examples
        --------
        >>> import tempfile, os
        >>> c = Collection.create(os.path.join(tempfile.mkdtemp(), "t"), encoder="all-MiniLM-L6-v2", spec="f16")
        >>> c.add_texts(["a large wild cat", "a small boat"])
        [0, 1]
        >>> c.search_text("tiger", 1).ids.tolist()
        [[0]]
        """
        enc = self.encoder
        return self.add(enc.encode(list(texts), progress=progress), ids, metadata, model=enc.name)

    def search_text(
        self,
        text: str | Sequence[str],
        k: int = 10,
        *,
        filter: dict[str, Any] | None = None,
        rerank: int | None = None,
        ef: int | None = None,
        with_metadata: bool = False,
    ) -> CollectionResult:
        """:meth:`search` with query text(s) embedded by the collection's encoder; one row per text."""
        enc = self.encoder
        texts = [text] if isinstance(text, str) else list(text)
        return self.search(enc.encode(texts), k, filter=filter, rerank=rerank, ef=ef, model=enc.name, with_metadata=with_metadata)

    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        filter: dict[str, Any] | None = None,
        rerank: int | None = None,
        ef: int | None = None,
        model: str | None = None,
        with_metadata: bool = False,
    ) -> CollectionResult:
        """The ``k`` best items for each query.

        Parameters
        ----------
        queries : array-like (n_queries, dim)
            One query is a batch of one: ``q.reshape(1, -1)``.
        k : int
        filter : dict, optional
            Metadata conditions, e.g. ``{"pos": "n", "year": {"$gte": 2020}, "tag": {"$in": ["a", "b"]}}``
            (operators ``$eq $ne $lt $lte $gt $gte $in $nin``, ``$and``/``$or``; see
            :mod:`lowdim.store._filters`). Whenever at least ``k`` items match, ``k`` are returned.
        rerank : int, optional
            Rescore ``rerank * k`` candidates with the full vectors; defaults to the
            spec's ``+rerank<N>``; 0 disables it.
        ef : int, optional
            HNSW search beam width (``index="hnsw"`` only); default the collection's ``ef_search``.
        model : str, optional
            The embedding model of the queries; refused if it is not the collection's.
        with_metadata : bool
            Also return each hit's metadata.

        Returns
        -------
        CollectionResult with ``ids`` (n_queries, k) object array of user ids (None
        where fewer than k items exist) and ``scores`` (n_queries, k) float32.
        """
        with self._mutex:
            self._check_open()
            self._check_model(model)
            k = check_k(k)
            s = self._settings
            Q = check_embeddings(queries, n_features=s.dim, name="queries", what=s.describe())
            if ef is not None:
                if s.index != "hnsw":
                    raise ParameterError(
                        f"The 'ef' parameter applies to collections with index='hnsw'; this one uses index='{s.index}'"
                    )
                ef = check_positive_int(ef, "ef", owner="search")
            if rerank is not None and (isinstance(rerank, bool) or not isinstance(rerank, (int, np.integer)) or rerank < 0):
                raise ParameterError(f"The 'rerank' parameter of search must be an integer >= 0. Got {rerank!r}.")
            factor = int(rerank) if rerank is not None else (self._codec.rerank if self._codec is not None else None) or 0
            mask, m, key = self._mask(filter)
            scores, rows = self._search_rows(Q, k, mask, m, factor, ef, key)
            return self._result(scores, rows, with_metadata)

    def _result(self, scores: np.ndarray, rows: np.ndarray, with_metadata: bool) -> CollectionResult:
        valid = rows >= 0
        rowids = (
            np.where(valid, self._rowids.values[np.where(valid, rows, 0)], -1) if len(self._rowids) else np.full(rows.shape, -1)
        )
        ids = np.full(rows.shape, None, dtype=object)
        meta = None
        if valid.any():
            flat = rowids[valid]
            if with_metadata:
                items = self._catalog.items_of(flat)
                lookup = {r: v[0] for r, v in items.items()}
                mlookup = {r: (None if v[1] is None else json.loads(v[1])) for r, v in items.items()}
            else:
                lookup = self._catalog.uids_of(flat)
            ids[valid] = np.array([lookup[r] for r in flat.tolist()] + [None], dtype=object)[:-1]
            if with_metadata:
                meta = [[mlookup[r] if r >= 0 else None for r in row] for row in rowids.tolist()]
        elif with_metadata:
            meta = [[None] * rows.shape[1] for _ in range(rows.shape[0])]
        scores = scores.astype(np.float32, copy=True)
        scores[~valid] = pad_value(self._settings.metric != "l2")
        return CollectionResult(ids, scores, meta)

    def _pad(self, nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full((nq, k), pad_value(self._settings.metric != "l2"), np.float32), np.full((nq, k), -1, np.int64)

    def _search_rows(
        self, Q: np.ndarray, k: int, mask: np.ndarray | None, m: int, factor: int, ef: int | None, key: str = ""
    ) -> tuple[np.ndarray, np.ndarray]:
        n_rows = len(self._rowids)
        if m == 0 or n_rows == 0:
            return self._pad(len(Q), k)
        if self._codec is None:
            return self._exact(Q, k, mask)
        s = self._settings
        if m <= k * max(factor, 1):
            # No more items than candidates: score them all exactly (also sidesteps code
            # scanners that drop their lowest-scored rows when k >= the rows they hold).
            rows = np.flatnonzero(mask) if mask is not None else np.arange(n_rows, dtype=np.int64)
            cand = np.ascontiguousarray(np.broadcast_to(rows, (len(Q), len(rows))))
            return rerank_exact(self._prepare(Q), cand, self._vectors, k, metric=s.metric)
        if mask is not None and m <= self.subset_share[s.index] * n_rows:
            res = self._codes().search(Q, k, rerank=factor, subset=np.flatnonzero(mask))
            return res.scores, res.ids
        if s.index == "hnsw" and self._graph is not None:
            S, R = self._graph_search(Q, k, mask, factor, ef or s.ef_search, key)
            short = (R >= 0).sum(axis=1) < min(k, m)
            if short.any():  # the graph found too few matches: scan those queries
                S2, R2 = self._flat_search(Q[short], k, mask, m, factor)
                S[short], R[short] = S2, R2
            return S, R
        return self._flat_search(Q, k, mask, m, factor)

    def _exact(self, Q: np.ndarray, k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact scan of the full vectors (before the codec is trained)."""
        metric = self._settings.metric
        largest = metric != "l2"
        Qn = self._prepare(Q)
        best = self._pad(len(Q), k)
        alive = mask if mask is not None else self._alive.values
        for start, V in self._vectors.blocks(_BLOCK):
            if metric == "cosine":
                V = _normalize(V)
            S = Qn @ V.T
            if metric == "l2":
                S = (Qn * Qn).sum(1)[:, None] - 2 * S + (V * V).sum(1)[None, :]
            ids = np.arange(start, start + len(V), dtype=np.int64)
            ids = np.where(alive[start : start + len(V)], ids, -1)
            best = merge_topk(best, topk(S, k, largest=largest, ids=ids), k, largest=largest)
        return best

    def _flat_search(self, Q: np.ndarray, k: int, mask: np.ndarray | None, m: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
        index = self._codes()
        if mask is None:
            res = index.search(Q, k, rerank=factor)
            return res.scores, res.ids
        # Broad filter: scan everything, keep matching candidates, grow the oversampling
        # for the queries that still lack them; a full-width scan sees every match.
        n_rows = len(self._rowids)
        c = k * max(factor, 1)
        want = min(c, m)
        codec = self._codec
        Qt = codec.transform(Q, name="queries")  # type: ignore[union-attr]
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
            Qn = codec.prepare(Q)  # type: ignore[union-attr]
            return rerank_exact(Qn, cand, self._vectors, k, metric=self._settings.metric)
        largest = self._settings.metric != "l2"
        return topk(np.where(cand >= 0, cscore, pad_value(largest)), k, largest=largest, ids=cand)

    def _graph_search(
        self, Q: np.ndarray, k: int, mask: np.ndarray | None, factor: int, ef: int, key: str
    ) -> tuple[np.ndarray, np.ndarray]:
        graph = self._graph
        assert graph is not None  # callers check; internal invariant
        metric = self._settings.metric
        largest = metric != "l2"
        c = k * max(factor, 1)
        base = mask if mask is not None else (self._alive.values if self._n_dead else None)
        nodes = self._graph_rows
        if key in self._allowed_cache:
            allowed = self._allowed_cache[key]
        else:
            allowed = nodes >= 0
            if base is not None:
                allowed &= base[np.maximum(nodes, 0)]
            allowed = None if allowed.all() else HNSWGraph.bitmap(allowed)
            if len(self._allowed_cache) >= 8:
                self._allowed_cache.pop(next(iter(self._allowed_cache)))
            self._allowed_cache[key] = allowed
        Qn = self._prepare(Q)
        D, P = graph.search(Qn, c, ef=ef, bitmap=allowed)
        rows = np.where(P >= 0, nodes[np.maximum(P, 0)], -1)
        tail = np.arange(self._tail_start, len(self._rowids), dtype=np.int64)
        if base is not None and len(tail):
            tail = tail[base[tail]]
        if len(tail):
            Qt = self._codec.transform(Q, name="queries")  # type: ignore[union-attr]
            Dt, It = self._codes().scanner.search(Qt, c, subset=tail)
            rows = np.hstack([rows, It])
            D = np.hstack([D, Dt])
        if factor:
            return rerank_exact(Qn, rows, self._vectors, k, metric=metric)
        return topk(np.where(rows >= 0, D, pad_value(largest)), k, largest=largest, ids=rows)

    # ------------------------------------------------------------------ description
    def info(self) -> dict[str, Any]:
        """Settings, counts, RAM and disk bytes of the collection (a JSON-ready dict)."""
        with self._mutex:
            self._check_open()
            s = self._settings
            n_rows = len(self._rowids)
            code_size = self._codec.code_size if self._codec is not None else None
            disk = {"vectors": 0, "codes": 0, "graph": 0, "codec": 0, "catalog": 0}
            for seg in self._segments:
                disk["vectors"] += seg.vectors.size
                disk["codes"] += seg.codes.size if seg.codes is not None else 0
            if self._codec_info is not None:
                disk["codec"] = self._codec_info.size
            if self._graph_rec is not None:
                disk["graph"] = self._graph_rec.links.size + self._graph_rec.storage.size
            for name in (CATALOG_NAME, CATALOG_NAME + "-wal"):
                p = self._root / name
                disk["catalog"] += p.stat().st_size if p.exists() else 0
            ram = {
                "codes": n_rows * code_size if code_size else 0,
                "rowids": n_rows * 9,
                "graph_links": self._graph.nbytes_links if self._graph is not None else 0,
            }
            return {
                "path": str(self._root),
                "dim": s.dim,
                "metric": s.metric,
                "spec": s.spec,
                "model": s.model,
                "index": s.index,
                "vector_dtype": s.vector_dtype,
                "train_size": s.train_size,
                "trained": self._codec is not None,
                "code_size": code_size,
                "count": len(self),
                "deleted": self._n_dead,
                "rows": n_rows,
                "segments": len(self._segments),
                "graph_nodes": self._graph.ntotal if self._graph is not None else 0,
                "generation": self._generation,
                "ram_bytes": ram,
                "disk_bytes": disk,
                "settings": s.to_dict(),
            }


def _state_summary(
    generation: int,
    rows: int,
    dead: int,
    files: list[FileInfo],
    code_size: int | None,
    graph_nodes: int | None,
    segments: int | None,
) -> dict[str, Any]:
    return {
        "generation": generation,
        "trained": code_size is not None,
        "code_size": code_size,
        "counts": {
            "rows": rows,
            "live": rows - dead,
            "deleted": dead,
            "segments": segments or 0,
            "graph_nodes": graph_nodes or 0,
        },
        "files": [f.to_dict() for f in files],
    }
