"""The folder layout of a collection: every file name, and which files belong to it.

Names carry numbers drawn from one counter (the catalog's ``next_file``), never reused,
so a name written once is never written again. Nothing reads a number back out of a
name: the catalog records the numbers it needs (the codec's, next to its file info).

::

    manifest.json                        what the folder is (see _manifest)
    catalog.sqlite (-wal, -shm)          the source of truth (see _catalog)
    writer.lock, open.lock               advisory locks (see _lock)
    codec-MMMMMMMM.npz                   the fitted codec number M
    map-MMMMMMMM.npz                     a query map (lowdim.compat.QueryMap) number M, one per mapped model
    segments/SSSSSSSS.vectors.npy        full vectors of segment S
    segments/SSSSSSSS.cMMMMMMMM.codes.npy           its codes under codec M
    segments/SSSSSSSS.cMMMMMMMM.rRRRRRRR.codes.npy  the same, rewritten by ``check`` (revision R)
    graph/GGGGGGGG.{links,storage}.faiss the HNSW graph number G

Examples
--------
>>> vectors_name(3), codes_name(3, 2), codec_name(2), graph_stem(7)
('segments/00000003.vectors.npy', 'segments/00000003.c00000002.codes.npy', 'codec-00000002.npz', 'graph/00000007')
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ._files import TMP_SUFFIX, fsync_dir

__all__ = [
    "SEGMENTS_DIR",
    "GRAPH_DIR",
    "WRITER_LOCK",
    "OPEN_LOCK",
    "vectors_name",
    "codes_name",
    "codec_name",
    "map_name",
    "graph_stem",
    "creating_dir",
    "garbage",
    "unlink",
    "fsync_folders",
]

SEGMENTS_DIR = "segments"
GRAPH_DIR = "graph"
WRITER_LOCK = "writer.lock"
OPEN_LOCK = "open.lock"
_CODEC_PREFIX = "codec-"
_MAP_PREFIX = "map-"
#: the folders whose files all belong to the collection ("" is the root, where only codec and map files do)
_FOLDERS = ("", SEGMENTS_DIR, GRAPH_DIR)


def vectors_name(seg: int) -> str:
    """The full vectors of segment ``seg``."""
    return f"{SEGMENTS_DIR}/{seg:08d}.vectors.npy"


def codes_name(seg: int, codec: int, revision: int | None = None) -> str:
    """The codes of segment ``seg`` under codec number ``codec`` (``revision``: a rewrite of that same file)."""
    rev = f".r{revision:08d}" if revision is not None else ""
    return f"{SEGMENTS_DIR}/{seg:08d}.c{codec:08d}{rev}.codes.npy"


def codec_name(num: int) -> str:
    """The fitted codec number ``num``."""
    return f"{_CODEC_PREFIX}{num:08d}.npz"


def map_name(num: int) -> str:
    """The query map number ``num``."""
    return f"{_MAP_PREFIX}{num:08d}.npz"


def graph_stem(num: int) -> str:
    """The HNSW graph number ``num`` (``.links.faiss`` and ``.storage.faiss`` are appended)."""
    return f"{GRAPH_DIR}/{num:08d}"


def creating_dir(root: Path) -> Path:
    """Where :meth:`Collection.create` builds the folder before renaming it to ``root`` (one per process)."""
    return root.absolute().parent / f".{root.name}.creating-{os.getpid()}"


def garbage(root: Path, referenced: Iterable[str]) -> list[str]:
    """Files of the collection that no committed state references, sorted (relative names).

    Those are leftovers of interrupted writes (``*.tmp``) and files of replaced
    segments, codecs and graphs. The manifest, catalog and locks are never garbage.
    """
    refs = set(referenced)
    out = []
    for sub in _FOLDERS:
        folder = root / sub if sub else root
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if not entry.is_file():
                continue
            rel = f"{sub}/{entry.name}" if sub else entry.name
            ours = bool(sub) or entry.name.startswith((_CODEC_PREFIX, _MAP_PREFIX))
            if rel.endswith(TMP_SUFFIX) or (ours and rel not in refs):
                out.append(rel)
    return sorted(out)


def unlink(root: Path, names: Iterable[str]) -> None:
    """Delete these files and their temporary twins, if present."""
    for name in names:
        for path in (root / name, root / (name + TMP_SUFFIX)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def fsync_folders(root: Path) -> None:
    """Make unlinks in every folder of the collection durable."""
    for sub in _FOLDERS:
        folder = root / sub if sub else root
        if folder.is_dir():
            fsync_dir(folder)
