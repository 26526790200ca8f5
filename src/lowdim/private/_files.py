"""Released summaries on disk: one ``.npz`` of arrays plus a JSON header, written atomically, read without pickle.

The header holds the format version, what the file is (``kind``), the settings and the privacy
record; the arrays are the public draws and the noisy statistics, nothing else (the raw rows are
never stored). Damage of any kind is a one-line :class:`~lowdim.exceptions.FileFormatError`.

Examples
--------
>>> import numpy as np, tempfile
>>> path = tempfile.mkdtemp() + "/s.npz"
>>> _ = write_release(path, {"kind": "demo"}, {"a": np.arange(3.0)})
>>> meta, arrays = read_release(path, kind="demo")
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

from ..exceptions import FileFormatError

__all__ = ["FORMAT_VERSION", "write_release", "read_release"]

#: version of the file layout; a file of another version is refused with a one-line error
FORMAT_VERSION = 1


def write_release(path: str | os.PathLike[str], meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and the JSON header ``meta`` (plus the format version) to ``path`` atomically."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileFormatError(f"cannot write {path}: folder {path.parent} does not exist")
    header = np.frombuffer(json.dumps({**meta, "format_version": FORMAT_VERSION}, sort_keys=True).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, __meta__=header, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path


def read_release(path: str | os.PathLike[str], *, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a file written by :func:`write_release` whose ``kind`` is ``kind``."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"summary file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise FileFormatError(
            f"summary file {path} is truncated or corrupt ({type(exc).__name__}: {exc}); expected a lowdim private summary (.npz)"
        ) from None
    if "__meta__" not in arrays:
        raise FileFormatError(f"{path} has no lowdim header; expected a file written by PrivateSummary.save")
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"summary file {path} has a corrupt header: {exc}") from None
    if not isinstance(meta, dict):
        raise FileFormatError(f"summary file {path} has a corrupt header")
    if meta.get("format_version") != FORMAT_VERSION:
        raise FileFormatError(
            f"summary file {path} has format version {meta.get('format_version')}; this lowdim reads version {FORMAT_VERSION}"
        )
    if meta.get("kind") != kind:
        raise FileFormatError(f"{path} holds a {meta.get('kind') or 'file of another kind'}, not a {kind}")
    return meta, arrays
