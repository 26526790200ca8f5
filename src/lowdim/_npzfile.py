"""One ``.npz`` of arrays plus a JSON header: written atomically, read without pickle.

Codec files and private summaries share this layout. The header is stored as the
``__meta__`` array (UTF-8 JSON bytes) and carries ``format_version``; any damage on read
is a one-line :class:`~lowdim.exceptions.FileFormatError` naming the file and what was
expected.

Examples
--------
>>> import numpy as np, tempfile
>>> path = tempfile.mkdtemp() + "/x.npz"
>>> _ = write_npz_file(path, {"format_version": 1}, {"a": np.arange(3.0)})
>>> meta, arrays = read_npz_file(path, what="demo file", version=1, writer="write_npz_file")
>>> meta["format_version"], arrays["a"].tolist()
(1, [0.0, 1.0, 2.0])
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import FileFormatError

__all__ = ["write_npz_file", "read_npz_file"]


def write_npz_file(path: str | os.PathLike[str], meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and the JSON header ``meta`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileFormatError(f"cannot write {path}: folder {path.parent} does not exist")
    header = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, __meta__=header, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path


def read_npz_file(
    path: str | os.PathLike[str], *, what: str, version: int, writer: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a file written by :func:`write_npz_file`.

    ``what`` names the file in errors ("codec file"), ``version`` is the one format version
    read, ``writer`` names the function users call to write such files.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{what} {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy holds one array, no header
            raise FileFormatError(f"{what} {path} is a plain .npy array, not an .npz; expected a file written by {writer}")
        with loaded as data:
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise FileFormatError(
            f"{what} {path} is truncated or corrupt ({type(exc).__name__}: {exc}); expected a file written by {writer}"
        ) from None
    if "__meta__" not in arrays:
        raise FileFormatError(f"{what} {path} has no lowdim header; expected a file written by {writer}")
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{what} {path} has a corrupt header: {exc}") from None
    if not isinstance(meta, dict):
        raise FileFormatError(f"{what} {path} has a corrupt header (not a JSON object)")
    if meta.get("format_version") != version:
        raise FileFormatError(
            f"{what} {path} has format version {meta.get('format_version')}; this lowdim reads version {version}"
        )
    return meta, arrays
