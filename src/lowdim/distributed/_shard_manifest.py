"""A sharded collection's folder: ``shards.json`` (read, checked, written atomically), id routing, the shared codec.

Layout
------
::

    OUT/
      shards.json            format, version, generation, dim, metric, spec, shards (path, count), codec (file, crc32)
      build.json             only while a build runs: its parameters (a re-run resumes the same generation)
      gen-<G>/codec.npz      the codec, fitted once on a seeded sample and shared by every shard
      gen-<G>/shard-<i>/     ordinary lowdim collections (Collection.open works on each)

Ids
---
An id (``int`` or ``str``) lives in shard ``crc32(str(id).encode("utf-8")) % n_shards``:
the CRC-32 (zlib's) of its decimal digits or its UTF-8 text. So ids are unique across
shards (one id has one home) and a get, delete or add of one id touches one shard.
Without ids, a build numbers the rows 0..n-1 and routes those numbers the same way.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import FileFormatError, NotFoundError
from ..spec import Pipeline

__all__ = [
    "SHARDS_NAME",
    "BUILD_NAME",
    "SHARDS_FORMAT",
    "SHARDS_VERSION",
    "ID_SCHEME",
    "shard_of",
    "route",
    "read_shards",
    "write_json_atomic",
    "crc32_file",
    "CodecPlan",
]

SHARDS_NAME = "shards.json"
BUILD_NAME = "build.json"
SHARDS_FORMAT = "lowdim-sharded-collection"
SHARDS_VERSION = 1
ID_SCHEME = "crc32-utf8"  # crc32(str(id).encode("utf-8")) % n_shards

_FIELDS = {"format", "version", "generation", "dim", "metric", "spec", "index", "shards", "codec", "id_scheme", "next_auto_id"}


def shard_of(uid: Any, n_shards: int) -> int:
    """The shard of one id: ``crc32(str(id).encode("utf-8")) % n_shards``.

    >>> shard_of(0, 4), shard_of("cat", 4), shard_of(7, 1)
    (1, 0, 0)
    """
    return zlib.crc32(str(uid).encode("utf-8")) % n_shards


def route(ids: Sequence[Any], n_shards: int) -> np.ndarray:
    """The shard of each id, (n,) int64 (see :func:`shard_of`)."""
    return np.fromiter((zlib.crc32(str(u).encode("utf-8")) for u in ids), np.int64, count=len(ids)) % n_shards


def crc32_file(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` durably and atomically: a temporary file, fsync, rename, fsync of the folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_shards(root: Path) -> dict[str, Any]:
    """The checked ``shards.json`` of the sharded collection ``root``; a one-line error for anything else."""
    if not root.exists():
        raise NotFoundError(f"no sharded collection at {root}; build one with 'lowdim shard build VECTORS {root} --shards N'")
    path = root / SHARDS_NAME
    if not path.is_file():
        hint = " (a build is in progress or was interrupted: run it again to finish)" if (root / BUILD_NAME).exists() else ""
        raise FileFormatError(f"{root} is not a sharded lowdim collection: it has no {SHARDS_NAME}{hint}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path} is damaged: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict) or doc.get("format") != SHARDS_FORMAT:
        raise FileFormatError(f"{path} is not a lowdim shards manifest (format {SHARDS_FORMAT!r} expected)")
    if doc.get("version") != SHARDS_VERSION:
        raise FileFormatError(f"{path} has format version {doc.get('version')!r}; this lowdim reads version {SHARDS_VERSION}")
    missing = sorted(_FIELDS - set(doc))
    if missing:
        raise FileFormatError(f"{path} is damaged: it lacks {', '.join(missing)}")
    shards = doc["shards"]
    if not isinstance(shards, list) or not shards or not all(isinstance(s, dict) and "path" in s for s in shards):
        raise FileFormatError(f"{path} is damaged: 'shards' must list the shard folders")
    for s in shards:
        rel = Path(str(s["path"]))
        if rel.is_absolute() or ".." in rel.parts:
            raise FileFormatError(f"{path} is damaged: shard path {s['path']!r} is not inside the folder")
        if not (root / rel).is_dir():
            raise FileFormatError(f"{path} names shard folder {s['path']}, which is missing")
    codec = doc["codec"]
    cpath = root / str(codec.get("file", "")) if isinstance(codec, dict) else None
    if cpath is None or not cpath.is_file():
        raise FileFormatError(f"{path} names a codec file that is missing")
    if crc32_file(cpath) != codec.get("crc32"):
        raise FileFormatError(f"codec file {cpath} does not match the CRC in {SHARDS_NAME}; it is damaged")
    return doc


@dataclass(frozen=True)
class _Recommended:
    spec: str


@dataclass(frozen=True)
class CodecPlan:
    """A fitted codec as :meth:`lowdim.store.Collection.create`'s ``plan``: the collection starts trained with it."""

    codec: Pipeline

    @property
    def d(self) -> int:
        return int(self.codec.n_features_in_)

    @property
    def metric(self) -> str:
        return self.codec.metric

    @property
    def recommended(self) -> _Recommended:
        return _Recommended(self.codec.to_spec())

    def require_feasible(self) -> CodecPlan:
        return self
