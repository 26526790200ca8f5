"""The collections a server serves: discovery, read snapshots and the single writer.

Each served collection has one writer object (opened on the first write; writes are
serialised by a lock) and a pool of read-only snapshots that searches use. After a
write commits, fresh snapshots are opened and swapped in; searches already running
finish on the old ones, which close when their last reader leaves. So a search
never waits for a write, and a write is visible to every search that starts after
the write returned.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..distributed import SHARDS_NAME, ShardedCollection
from ..exceptions import ConflictError, FileFormatError, NotFoundError, ParameterError
from ..store import MANIFEST_NAME, Collection, read_manifest

if TYPE_CHECKING:
    from ._mv_registry import ServedMultiVector

#: the settings file of a multi-vector collection folder (lowdim.multivector, imported only when one is served)
MULTIVECTOR_NAME = "multivector.json"

__all__ = ["Registry", "ServedCollection", "discover", "is_multivector", "NAME_PATTERN"]

#: names a served collection may have (its folder name); anything else is refused at startup
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

T = TypeVar("T")


def discover(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> dict[str, Path]:
    """``{name: folder}`` of the collections under ``paths``.

    Each path is a collection folder (it holds ``manifest.json``, or ``shards.json`` for a
    sharded collection, served read-only, or ``multivector.json`` for a multi-vector collection) or a folder whose direct sub-folders are collections (hidden ones, such as a collection being
    created, are skipped). A collection's name is its folder name; two served
    collections with the same name are refused.

    Examples
    --------
    >>> discover([])
    Traceback (most recent call last):
    ...
    lowdim.exceptions.ParameterError: nothing to serve: give at least one collection folder (or a folder of collections)
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ParameterError("nothing to serve: give at least one collection folder (or a folder of collections)")
    found: dict[str, Path] = {}
    for p in paths:
        root = Path(p).absolute()
        if not root.exists():
            raise NotFoundError(f"{p} does not exist; serve a collection folder or a folder of collections")
        if not root.is_dir():
            raise FileFormatError(f"{p} is a file; serve a collection folder or a folder of collections")
        if _is_collection(root):
            folders = [root]
        else:
            folders = sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".") and _is_collection(c))
            if not folders:
                raise NotFoundError(f"no lowdim collection in {p}: neither it nor any folder in it has a {MANIFEST_NAME}")
        for folder in folders:
            name = folder.name
            if not NAME_PATTERN.fullmatch(name):
                raise ParameterError(
                    f"cannot serve {folder}: a served collection's folder name must be letters, digits, '.', '_' or '-' "
                    f"(at most 128, not starting with '.', '_' or '-'); rename the folder. Got {name!r}."
                )
            if name in found and found[name] != folder:
                raise ConflictError(
                    f"two served collections are named {name!r} ({found[name]} and {folder}); "
                    f"a collection is served under its folder name, so rename one of them"
                )
            found[name] = folder
    return found


def _is_collection(folder: Path) -> bool:
    return (folder / MANIFEST_NAME).is_file() or (folder / SHARDS_NAME).is_file() or is_multivector(folder)


def is_multivector(folder: Path) -> bool:
    """Whether ``folder`` is a :class:`~lowdim.multivector.MultiVectorCollection` (served by ``_multivector``)."""
    return (folder / MULTIVECTOR_NAME).is_file()


def _open_reader(path: Path) -> Any:
    """A read-only :class:`Collection`, or a :class:`ShardedCollection` (its shards in this process) for a sharded folder."""
    if (path / SHARDS_NAME).is_file():
        return ShardedCollection.open(path, readonly=True)
    return Collection.open(path, readonly=True)


class _Snapshot:
    """A read-only :class:`Collection` and how many searches use it right now."""

    def __init__(self, col: Any) -> None:
        self.col = col
        self.users = 0
        self.retired = False
        info = col.info()
        self.generation = int(info["generation"])
        self.count = int(info["count"])
        self.deleted = int(info["deleted"])


class ServedCollection:
    """One served collection: a pool of read snapshots and a lazily opened writer."""

    def __init__(self, name: str, path: Path, *, readers: int = 1) -> None:
        self.name = name
        self.path = path
        self._n_readers = readers
        self._state = threading.Lock()  # guards _pool and the snapshots' user counts
        self._write = threading.Lock()  # one write at a time
        self._refresh = threading.Lock()  # one snapshot swap at a time
        self._writer: Collection | None = None
        self._closed = False
        self._pool: list[_Snapshot] = []
        self._pool = self._open_pool()
        self._settings = self._pool[0].col.settings
        self.writes = 0  # committed write calls (for metrics)

    # -- reading ------------------------------------------------------------------------
    def _open_pool(self) -> list[_Snapshot]:
        pool: list[_Snapshot] = []
        try:
            for _ in range(self._n_readers):
                pool.append(_Snapshot(self._open_reader()))
        except BaseException:
            for s in pool:
                s.col.close()
            raise
        return pool

    def _open_reader(self) -> Any:
        """A read-only collection object (a subclass serves another kind of folder)."""
        return _open_reader(self.path)

    def _open_writer(self) -> Any:
        return Collection.open(self.path)

    def _committed_generation(self) -> int:
        """The generation the folder's manifest holds now (another process may have committed)."""
        return int(read_manifest(self.path).get("generation", -1))

    @contextmanager
    def reading(self) -> Iterator[Collection]:
        """The least busy read snapshot, held until the block ends."""
        with self._state:
            if self._closed or not self._pool:
                raise ConflictError(f"collection {self.name!r} is closed: the server is shutting down")
            snap = min(self._pool, key=lambda s: s.users)
            snap.users += 1
        try:
            yield snap.col
        finally:
            with self._state:
                snap.users -= 1
                done = snap.retired and snap.users == 0
            if done:
                snap.col.close()

    @property
    def settings(self) -> Any:
        """The current snapshot's settings (fixed at creation; a model migration's switch brings the new model's)."""
        pool = self._pool
        if pool:
            self._settings = pool[0].col.settings
        return self._settings

    def migration(self) -> dict[str, Any] | None:
        """The writer's view of a migration it runs (live progress), else the current snapshot's."""
        writer = self._writer
        if writer is not None:
            try:
                status = writer.migration
            except Exception:  # closed meanwhile: the snapshot answers
                status = None
            if status is not None:
                # the background job committed what it reports: publish it first, so that a search sent after
                # this answer (model = the new model, once calibrated) meets a snapshot that knows the migration
                self.refresh_if_stale()
                return status
        with self.reading() as col:
            return col.migration

    @property
    def takes_text(self) -> bool:
        """Whether the collection has a text encoder (``search_text``, ``add_texts``, ``upsert_texts``)."""
        return self.settings.encoder is not None

    @property
    def generation(self) -> int:
        pool = self._pool
        return pool[0].generation if pool else -1

    @property
    def count(self) -> int:
        """Live vectors in the current snapshot (no lock: for metrics and listings)."""
        pool = self._pool
        return pool[0].count if pool else 0

    @property
    def deleted(self) -> int:
        pool = self._pool
        return pool[0].deleted if pool else 0

    def publish(self, min_generation: int) -> None:
        """Swap in snapshots that see at least ``min_generation`` (no-op when the current ones do)."""
        with self._refresh:
            if self._closed or self.generation >= min_generation:
                return
            fresh = self._open_pool()
            with self._state:
                if self._closed:
                    old, fresh = fresh, []
                else:
                    old, self._pool = self._pool, fresh
                idle = _retire(old)
            for s in idle:
                s.col.close()

    def refresh_if_stale(self) -> bool:
        """Pick up changes another process committed (the manifest's generation moved on)."""
        try:
            gen = self._committed_generation()
        except (FileFormatError, OSError, ValueError, TypeError):
            return False  # a writer is between renames, or the folder is damaged: try next time
        if gen > self.generation:
            self.publish(gen)
            return True
        return False

    # -- writing ------------------------------------------------------------------------
    def write(self, fn: Callable[[Collection], T]) -> T:
        """Run ``fn(writer)`` under this collection's write lock, then publish what it committed.

        The store makes each call atomic (a request whose client disconnects either
        completes or leaves nothing); the lock keeps this server to one writer.
        """
        with self._write:
            if self._closed:
                raise ConflictError(f"collection {self.name!r} is closed: the server is shutting down")
            if (self.path / SHARDS_NAME).is_file():
                raise ConflictError(
                    f"collection {self.name!r} is sharded and served read-only; change it with lowdim.distributed.ShardedCollection"
                )
            if self._writer is None:
                self._writer = self._open_writer()
            writer = self._writer
            before = int(writer.info()["generation"])
            try:
                return fn(writer)
            except ConflictError:
                # maybe another process holds the writer lock: do not keep this object (and its
                # pinned read snapshot) around; the next write opens a fresh one
                self._writer = None
                writer.close()
                raise
            finally:
                # publish before the lock is released: acknowledged writes become visible in order
                try:
                    after = int(writer.info()["generation"])
                except Exception:  # the write failed in a way that closed the writer; keep its error
                    after = before
                if after > before:
                    self.writes += 1
                if after > self.generation:
                    self.publish(after)

    # -- startup / shutdown ---------------------------------------------------------------
    def open(self) -> None:
        """Open the read snapshots again after :meth:`close` (an app started a second time)."""
        with self._write, self._refresh:
            if not self._closed:
                return
            pool = self._open_pool()
            with self._state:
                self._pool, self._closed = pool, False

    def close(self, timeout: float = 30.0) -> None:
        """Wait for a running write (up to ``timeout`` s), then close the writer and every idle snapshot."""
        got = self._write.acquire(timeout=timeout)
        try:
            with self._refresh:
                with self._state:
                    if self._closed:
                        return
                    self._closed = True
                    pool, self._pool = self._pool, []
                    idle = _retire(pool)
                for s in idle:
                    s.col.close()
                if self._writer is not None and got:
                    self._writer.close()
                    self._writer = None
        finally:
            if got:
                self._write.release()


def _retire(pool: list) -> list:
    """Mark every snapshot of ``pool`` retired (call with the state lock held); return the idle ones to close."""
    for s in pool:
        s.retired = True
    return [s for s in pool if s.users == 0]


class Registry:
    """The served collections by name; names are looked up here, never joined into paths."""

    def __init__(self, folders: dict[str, Path], *, readers: int = 1) -> None:
        self.collections: dict[str, ServedCollection] = {}
        #: multi-vector collections: served by their own routes (``_multivector``), kept apart from ``collections``
        self.multivector: dict[str, ServedMultiVector] = {}
        try:
            for name, folder in folders.items():
                if is_multivector(folder):
                    from ._mv_registry import ServedMultiVector  # a subclass of ServedCollection: imported here, no cycle

                    self.multivector[name] = ServedMultiVector(name, folder, readers=readers)
                else:
                    self.collections[name] = ServedCollection(name, folder, readers=readers)
        except BaseException:
            self.close()
            raise

    @property
    def names(self) -> list[str]:
        return list(self.collections) + list(self.multivector)

    def _all(self) -> list[ServedCollection]:
        return [*self.collections.values(), *self.multivector.values()]

    def get(self, name: Any) -> ServedCollection:
        served = self.collections.get(name) if isinstance(name, str) else None
        if served is None and isinstance(name, str) and name in self.multivector:
            raise ParameterError(
                f"collection {name!r} is a multi-vector collection: this endpoint serves single-vector collections"
            )
        if served is None:
            shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}..."
            raise NotFoundError(f"no collection named {shown!r} on this server; served: {', '.join(self.names)}")
        return served

    def open(self) -> None:
        for s in self._all():
            s.open()

    def refresh_stale(self) -> int:
        return sum(s.refresh_if_stale() for s in self._all())

    def close(self, timeout: float = 30.0) -> int:
        served = self._all()
        for s in served:
            s.close(timeout)
        return len(served)
