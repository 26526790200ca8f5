"""Whole-file writes that are all or nothing: a temporary file in the same folder, fsync, rename.

A reader (or a resumed run after a crash) sees either the old file or the complete new one.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
>>> write_atomic(path, lambda fh: fh.write(b"done"))
>>> path.read_bytes()
b'done'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "fsync_dir"]


def write_atomic(path: str | os.PathLike[str], write: Callable[[Any], Any]) -> None:
    """Write ``path`` through ``write(fh)`` on a temporary file beside it, fsync it, then ``os.replace`` it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a folder's entries durable (a rename, a new or removed file in ``path``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
