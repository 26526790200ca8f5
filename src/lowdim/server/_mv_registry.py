"""A served multi-vector collection: the registry's snapshots and single writer over a :class:`MultiVectorCollection`.

:class:`ServedMultiVector` reuses :class:`~lowdim.server._registry.ServedCollection` (read
snapshots swapped after each write, one writer under a lock, pick-up of another process's
commits); only how a folder is opened differs. The pool sees each
:class:`~lowdim.multivector.MultiVectorCollection` through :class:`MultiVectorHandle`, whose
``info()`` carries the inner collection's generation and counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from ..multivector import MultiVectorCollection
from ..store import read_manifest
from ._registry import ServedCollection

__all__ = ["ServedMultiVector", "MultiVectorHandle"]

T = TypeVar("T")

#: the inner collection's folder inside a multi-vector collection (see lowdim.multivector's layout)
_INDEX_DIR = "index"


class MultiVectorHandle:
    """A :class:`MultiVectorCollection` as the registry's pool uses it (``info``, ``settings``, ``close``).

    ``mv`` is the collection itself, for the routes.
    """

    migration = None  # a multi-vector collection has no model migration

    def __init__(self, mv: MultiVectorCollection) -> None:
        self.mv = mv
        # what ServedCollection and the listing read from a collection's settings
        self.settings = SimpleNamespace(dim=mv.dim, spec=mv.spec, encoder=None, model=None)

    def info(self) -> dict[str, Any]:
        """``mv.info()`` with the inner collection's ``generation`` and ``deleted`` on top (no file paths)."""
        info = self.mv.info()
        info.pop("path", None)  # the server's file layout is nobody's business
        inner = dict(info["index"])
        inner.pop("path", None)
        info["index"] = inner
        info["generation"] = int(inner["generation"])
        info["deleted"] = int(inner["deleted"])
        return info

    def close(self) -> None:
        self.mv.close()


class ServedMultiVector(ServedCollection):
    """One served multi-vector collection (see :class:`~lowdim.server._registry.ServedCollection`)."""

    kind = "multivector"

    def _open_reader(self) -> MultiVectorHandle:
        return MultiVectorHandle(MultiVectorCollection.open(self.path, readonly=True))

    def _open_writer(self) -> MultiVectorHandle:
        return MultiVectorHandle(MultiVectorCollection.open(self.path))

    def _committed_generation(self) -> int:
        return int(read_manifest(self.path / _INDEX_DIR).get("generation", -1))

    @property
    def takes_text(self) -> bool:
        return False

    @contextmanager
    def reading_mv(self) -> Iterator[MultiVectorHandle]:
        """The least busy read snapshot (its ``mv`` is the collection), held until the block ends."""
        with self.reading() as handle:
            yield cast(MultiVectorHandle, handle)

    def write_mv(self, fn: Callable[[MultiVectorCollection], T]) -> T:
        """Run ``fn(collection)`` with the writer, then publish what it committed (see ``ServedCollection.write``)."""
        return self.write(lambda w: fn(cast(MultiVectorHandle, w).mv))
