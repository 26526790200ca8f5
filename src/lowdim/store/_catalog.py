"""The SQLite catalog of a collection: settings, segments, ids, metadata, tombstones, graph.

The catalog is the collection's source of truth: a segment file exists for readers
only once the transaction registering it commits. It runs in WAL mode with
``synchronous=FULL``, so a committed transaction is on disk, and readers pin a
snapshot (an open read transaction) that later writes do not disturb.

Tables
------
``config(key, value)``
    JSON values: ``settings`` (dim, metric, spec, ...), ``generation``, ``next_rowid``,
    ``next_file``, ``next_auto_id``, ``codec`` (null, or the codec file's name, size and
    CRC-32 with its number ``num``, the ``rows`` it was fitted on and its ``source``:
    ``"auto"``, ``"train"`` or ``"plan"``; collections written before these three were
    recorded lack them), ``maps`` (``{model name: map file's name, size and CRC-32}``, the
    query maps of :meth:`Collection.add_map`; absent when there are none).
``segments(seg, first_rowid, n, vectors, vectors_size, vectors_crc, codes, codes_size, codes_crc, rowids)``
    One row per segment; rows of the collection are the segments' rows in
    ``first_rowid`` order; ``rowids`` is the int64 rowid of every row (a blob).
``items(rowid, uid, meta)``
    Live items only: the user's id (int or text, unique) and metadata JSON.
``tombstones(rowid)``
    Deleted rows still present in segment files (until compaction).
``meta_kv(key, value, rowid)``
    The metadata index filters use (see :mod:`lowdim.store._filters`).
``graph(id, ...)``
    The HNSW graph files and the rowid of each graph node, when there is a graph.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConflictError, FileFormatError
from ._files import FileInfo
from ._filters import compile_filter

__all__ = ["Catalog", "Transaction", "SegmentRecord", "GraphRecord", "CodecRecord", "CATALOG_NAME"]

CATALOG_NAME = "catalog.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    seg INTEGER PRIMARY KEY,
    first_rowid INTEGER NOT NULL UNIQUE,
    n INTEGER NOT NULL,
    vectors TEXT NOT NULL, vectors_size INTEGER NOT NULL, vectors_crc INTEGER NOT NULL,
    codes TEXT, codes_size INTEGER, codes_crc INTEGER,
    rowids BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS items (rowid INTEGER PRIMARY KEY, uid NOT NULL UNIQUE, meta TEXT);
CREATE TABLE IF NOT EXISTS tombstones (rowid INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta_kv (
    key TEXT NOT NULL, value NOT NULL, rowid INTEGER NOT NULL,
    PRIMARY KEY (key, value, rowid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS meta_kv_by_rowid ON meta_kv(rowid);
CREATE TABLE IF NOT EXISTS graph (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n INTEGER NOT NULL,
    links TEXT NOT NULL, links_size INTEGER NOT NULL, links_crc INTEGER NOT NULL,
    storage TEXT NOT NULL, storage_size INTEGER NOT NULL, storage_crc INTEGER NOT NULL,
    keys BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS texts (rowid INTEGER PRIMARY KEY, text TEXT NOT NULL);
"""
#: text collections keep each item's text (re-embedded by a model migration); older catalogs get the table on open
_TEXTS_TABLE = "CREATE TABLE IF NOT EXISTS texts (rowid INTEGER PRIMARY KEY, text TEXT NOT NULL)"


@dataclass(frozen=True)
class SegmentRecord:
    """One segment: ``n`` rows whose full vectors (and codes, once trained) are in two .npy files."""

    seg: int
    first_rowid: int
    n: int
    vectors: FileInfo
    codes: FileInfo | None
    rowids: np.ndarray  # (n,) int64, increasing


@dataclass(frozen=True)
class GraphRecord:
    """The HNSW graph: links and storage files, and the rowid of each of its ``n`` nodes."""

    n: int
    links: FileInfo
    storage: FileInfo
    keys: np.ndarray  # (n,) int64


#: how a codec was made: fitted by the collection itself, by an explicit ``train()``, or taken from a plan
CODEC_SOURCES = ("auto", "train", "plan")


@dataclass(frozen=True)
class CodecRecord:
    """The codec file, its number (codes files are named after it), the rows it was fitted on and its source.

    ``num``, ``rows`` and ``source`` are None in collections written before they were
    recorded; ``rows`` is also None for a plan's codec (fitted elsewhere).
    """

    file: FileInfo
    num: int | None = None
    rows: int | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.file.to_dict(), "num": self.num, "rows": self.rows, "source": self.source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodecRecord:
        return cls(FileInfo(d["name"], d["size"], d["crc32"]), d.get("num"), d.get("rows"), d.get("source"))


def _rowid_blob(rowids: np.ndarray) -> bytes:
    return np.ascontiguousarray(rowids, dtype="<i8").tobytes()


def _chunks(values: Sequence[Any], size: int = 100_000) -> Iterator[str]:
    """``values`` as JSON arrays of at most ``size`` items (bound as one parameter, read with json_each)."""
    for start in range(0, len(values), size):
        yield json.dumps(list(values[start : start + size]))


def _ints(rowids: Iterable[Any]) -> list[int]:
    return [int(r) for r in rowids]


class Transaction:
    """The named changes a writer makes inside one :meth:`Catalog.write` transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def put(self, **values: Any) -> None:
        """Set config values (JSON-encoded)."""
        self._conn.executemany(
            "INSERT INTO config(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(v)) for k, v in values.items()],
        )

    # -- segments -------------------------------------------------------------------------
    def insert_segment(self, seg: SegmentRecord) -> None:
        c = seg.codes
        self._conn.execute(
            "INSERT INTO segments(seg, first_rowid, n, vectors, vectors_size, vectors_crc, codes, codes_size, codes_crc, rowids) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seg.seg,
                seg.first_rowid,
                seg.n,
                seg.vectors.name,
                seg.vectors.size,
                seg.vectors.crc32,
                c.name if c else None,
                c.size if c else None,
                c.crc32 if c else None,
                _rowid_blob(seg.rowids),
            ),
        )

    def set_codes(self, seg: int, codes: FileInfo | None) -> None:
        self._conn.execute(
            "UPDATE segments SET codes = ?, codes_size = ?, codes_crc = ? WHERE seg = ?",
            (codes.name if codes else None, codes.size if codes else None, codes.crc32 if codes else None, seg),
        )

    def delete_segments(self, segs: Iterable[int]) -> None:
        """Forget these segments (their rows' items and tombstones are the caller's business)."""
        self._conn.executemany("DELETE FROM segments WHERE seg = ?", [(int(s),) for s in segs])

    def set_graph(self, g: GraphRecord | None) -> None:
        self._conn.execute("DELETE FROM graph")
        if g is not None:
            self._conn.execute(
                "INSERT INTO graph(id, n, links, links_size, links_crc, storage, storage_size, storage_crc, keys) "
                "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    g.n,
                    g.links.name,
                    g.links.size,
                    g.links.crc32,
                    g.storage.name,
                    g.storage.size,
                    g.storage.crc32,
                    _rowid_blob(g.keys),
                ),
            )

    # -- items ----------------------------------------------------------------------------
    def live_rowids(self, uids: Sequence[Any]) -> list[int]:
        """Rowids of the live items among ``uids`` (what an upsert or a delete replaces)."""
        out: list[int] = []
        for chunk in _chunks(uids):
            out += [
                r
                for (r,) in self._conn.execute("SELECT rowid FROM items WHERE uid IN (SELECT value FROM json_each(?))", (chunk,))
            ]
        return out

    def insert_items(
        self, rowids: Sequence[int], uids: Sequence[Any], metas: Sequence[str | None], kv: Iterable[tuple[str, Any, int]]
    ) -> None:
        """New live items (``sqlite3.IntegrityError`` if a uid is taken) and their metadata index rows."""
        self._conn.executemany("INSERT INTO items(rowid, uid, meta) VALUES (?, ?, ?)", zip(_ints(rowids), uids, metas))
        self._conn.executemany("INSERT OR IGNORE INTO meta_kv(key, value, rowid) VALUES (?, ?, ?)", kv)

    def insert_texts(self, rowids: Sequence[int], texts: Sequence[str]) -> None:
        """The texts of new items of a text collection (kept for re-embedding by a model migration)."""
        self._conn.executemany("INSERT OR REPLACE INTO texts(rowid, text) VALUES (?, ?)", zip(_ints(rowids), texts))

    def tombstone(self, rowids: Sequence[int]) -> None:
        """Delete these live items: their rows stay in the segment files, marked deleted, until compaction."""
        self.add_tombstones(rowids)
        self.delete_items(rowids)

    def add_tombstones(self, rowids: Sequence[int]) -> None:
        for chunk in _chunks(_ints(rowids)):
            self._conn.execute("INSERT OR IGNORE INTO tombstones(rowid) SELECT value FROM json_each(?)", (chunk,))

    def delete_items(self, rowids: Sequence[int]) -> None:
        """Remove these items and their metadata index rows (no tombstone)."""
        for chunk in _chunks(_ints(rowids)):
            self._conn.execute("DELETE FROM meta_kv WHERE rowid IN (SELECT value FROM json_each(?))", (chunk,))
            self._conn.execute("DELETE FROM items WHERE rowid IN (SELECT value FROM json_each(?))", (chunk,))
            self._conn.execute("DELETE FROM texts WHERE rowid IN (SELECT value FROM json_each(?))", (chunk,))

    def drop_tombstones(self, rowids: Sequence[int]) -> None:
        """Forget tombstones (their rows were dropped from the files, or never existed)."""
        for chunk in _chunks(_ints(rowids)):
            self._conn.execute("DELETE FROM tombstones WHERE rowid IN (SELECT value FROM json_each(?))", (chunk,))

    def clear_items(self) -> None:
        """Forget every item, its metadata, text and tombstone (a folder left behind by a model migration)."""
        for table in ("items", "meta_kv", "texts", "tombstones"):
            self._conn.execute(f"DELETE FROM {table}")

    def drop_rows(self, rowids: Sequence[int]) -> None:
        """Forget these rows entirely: items, metadata and tombstones (their segment is gone)."""
        self.delete_items(rowids)
        self.drop_tombstones(rowids)


class Catalog:
    """A connection to one collection's ``catalog.sqlite`` (thread-safe through one lock)."""

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = root
        self.path = root / CATALOG_NAME
        if not create and not self.path.is_file():
            raise FileFormatError(f"{CATALOG_NAME} is missing from collection {root}; the collection cannot be opened without it")
        self.lock = threading.RLock()
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60.0)
            self.conn.execute("PRAGMA busy_timeout = 60000")
            if create:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.executescript(_SCHEMA)
            self.conn.execute(_TEXTS_TABLE)
            self.conn.execute("PRAGMA synchronous = FULL")
            mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise self.damaged(exc) from None
        if mode != "wal":
            raise FileFormatError(f"{CATALOG_NAME} in collection {root} is not in WAL mode (journal_mode={mode})")
        self._pinned = False

    def damaged(self, exc: Exception) -> FileFormatError:
        return FileFormatError(f"{CATALOG_NAME} in collection {self.root} cannot be read ({exc}); run 'lowdim check {self.root}'")

    def close(self) -> None:
        with self.lock:
            try:
                if self._pinned:
                    self.conn.execute("COMMIT")
            except sqlite3.Error:
                pass
            self._pinned = False
            self.conn.close()

    # -- transactions ---------------------------------------------------------------------
    def pin(self) -> None:
        """Start (or restart) a read transaction: everything read until :meth:`unpin` sees one snapshot."""
        with self.lock:
            self.unpin()
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT value FROM config WHERE key = 'generation'").fetchone()
            self._pinned = True

    def unpin(self) -> None:
        with self.lock:
            if self._pinned:
                self.conn.execute("COMMIT")
                self._pinned = False

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``); the commit is the durability point."""
        with self.lock:
            self.unpin()
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self.conn)
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self.lock:
            try:
                return self.conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise ConflictError(
                        f"{CATALOG_NAME} of collection {self.root} is locked by another process ({exc})"
                    ) from None
                raise self.damaged(exc) from None
            except sqlite3.DatabaseError as exc:
                raise self.damaged(exc) from None

    def integrity_check(self) -> list[str]:
        """SQLite's own verdict on the file: ``["ok"]`` when intact."""
        return [str(r[0]) for r in self._query("PRAGMA integrity_check")]

    # -- config ---------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM config WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def config(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._query("SELECT key, value FROM config")}

    def codec(self) -> CodecRecord | None:
        doc = self.get("codec")
        return CodecRecord.from_dict(doc) if doc else None

    def maps(self) -> dict[str, FileInfo]:
        """``{model name: query map file}`` of the collection's query maps."""
        return {m: FileInfo(d["name"], d["size"], d["crc32"]) for m, d in (self.get("maps") or {}).items()}

    # -- segments -------------------------------------------------------------------------
    def segments(self) -> list[SegmentRecord]:
        rows = self._query(
            "SELECT seg, first_rowid, n, vectors, vectors_size, vectors_crc, codes, codes_size, codes_crc, rowids "
            "FROM segments ORDER BY first_rowid"
        )
        out = []
        for seg, first, n, vf, vs, vc, cf, cs, cc, blob in rows:
            rowids = np.frombuffer(blob, dtype="<i8").astype(np.int64)
            if len(rowids) != n:
                raise FileFormatError(
                    f"{CATALOG_NAME} in collection {self.root}: segment {seg} lists {len(rowids)} rowids for {n} rows; "
                    f"run 'lowdim check {self.root}'"
                )
            codes = FileInfo(cf, cs, cc) if cf is not None else None
            out.append(SegmentRecord(seg, first, n, FileInfo(vf, vs, vc), codes, rowids))
        return out

    # -- graph ----------------------------------------------------------------------------
    def graph(self) -> GraphRecord | None:
        rows = self._query("SELECT n, links, links_size, links_crc, storage, storage_size, storage_crc, keys FROM graph")
        if not rows:
            return None
        n, lf, ls, lc, sf, ss, sc, keys = rows[0]
        return GraphRecord(n, FileInfo(lf, ls, lc), FileInfo(sf, ss, sc), np.frombuffer(keys, dtype="<i8").astype(np.int64))

    # -- items ----------------------------------------------------------------------------
    def tombstones(self) -> np.ndarray:
        rows = self._query("SELECT rowid FROM tombstones ORDER BY rowid")
        return np.array([r[0] for r in rows], dtype=np.int64)

    def item_rowids(self) -> np.ndarray:
        """Rowids of every live item, sorted (int64)."""
        return np.array([r[0] for r in self._query("SELECT rowid FROM items ORDER BY rowid")], dtype=np.int64)

    def count_items(self) -> int:
        return int(self._query("SELECT count(*) FROM items")[0][0])

    def rowids_of(self, uids: list) -> dict[Any, int]:
        """``{uid: rowid}`` for the live items among ``uids``."""
        out: dict[Any, int] = {}
        for chunk in _chunks(uids):
            for uid, rowid in self._query("SELECT uid, rowid FROM items WHERE uid IN (SELECT value FROM json_each(?))", (chunk,)):
                out[uid] = rowid
        return out

    def _by_rowid(self, columns: str, table: str, rowids: np.ndarray) -> dict[int, Any]:
        """``{rowid: value}`` (one column) or ``{rowid: (values...)}`` of ``table``'s rows among ``rowids``."""
        out: dict[int, Any] = {}
        sql = f"SELECT rowid, {columns} FROM {table} WHERE rowid IN (SELECT value FROM json_each(?))"
        for chunk in _chunks(_ints(np.unique(rowids))):
            for rowid, *values in self._query(sql, (chunk,)):
                out[rowid] = values[0] if len(values) == 1 else tuple(values)
        return out

    def items_of(self, rowids: np.ndarray) -> dict[int, tuple[Any, str | None]]:
        """``{rowid: (uid, meta json)}`` for live ``rowids``."""
        return self._by_rowid("uid, meta", "items", rowids)

    def texts_of(self, rowids: np.ndarray) -> dict[int, str]:
        """``{rowid: text}`` for the live ``rowids`` that have a stored text."""
        return self._by_rowid("text", "texts", rowids)

    def uids_of(self, rowids: np.ndarray) -> dict[int, Any]:
        """``{rowid: uid}`` for live ``rowids``."""
        return self._by_rowid("uid", "items", rowids)

    def matching(self, flt: dict[str, Any]) -> np.ndarray:
        """Rowids of the live items matching the metadata filter ``flt`` (see :mod:`._filters`), sorted (int64)."""
        sql, params = compile_filter(flt)
        rows = self._query(sql, params)
        arr = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        arr.sort()
        return arr

    def referenced(self) -> set[str]:
        """Names of every file the committed state references."""
        names: set[str] = set()
        for vf, cf in self._query("SELECT vectors, codes FROM segments"):
            names.add(vf)
            if cf is not None:
                names.add(cf)
        codec = self.get("codec")
        if codec:
            names.add(codec["name"])
        names.update(info.name for info in self.maps().values())
        for lf, sf in self._query("SELECT links, storage FROM graph"):
            names.update((lf, sf))
        return names

    def all_uids(self) -> list:
        return [r[0] for r in self._query("SELECT uid FROM items ORDER BY rowid")]
