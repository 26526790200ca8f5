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

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._npzfile import read_npz_file, write_npz_file
from ..exceptions import FileFormatError

__all__ = ["FORMAT_VERSION", "write_release", "read_release"]

#: version of the file layout; a file of another version is refused with a one-line error
FORMAT_VERSION = 1


def write_release(path: str | os.PathLike[str], meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and the JSON header ``meta`` (plus the format version) to ``path`` atomically."""
    return write_npz_file(path, {**meta, "format_version": FORMAT_VERSION}, arrays)


def read_release(path: str | os.PathLike[str], *, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a file written by :func:`write_release` whose ``kind`` is ``kind``."""
    meta, arrays = read_npz_file(
        path, what="summary file", version=FORMAT_VERSION, writer="PrivateSummary.save (a lowdim private summary .npz)"
    )
    if meta.get("kind") != kind:
        raise FileFormatError(f"{path} holds a {meta.get('kind') or 'file of another kind'}, not a {kind}")
    return meta, arrays
