"""Resumable output in parts: ``OUTPUT.partial/`` holds ``state.json`` and ``part-00000.npy``, ...

Each part is written to a temporary file and moved into place with ``os.replace``, so a
part on disk is always complete; a rerun with the same input and settings skips the
parts that exist and a rerun with different ones refuses to mix them. The final ``.npy``
is assembled under a temporary name and moved into place, then the folder is removed.
The same layout as :func:`lowdim.encoders.embed_file`'s chunks, for the other pipelines.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_atomic
from ..exceptions import ConflictError

__all__ = ["save_part", "part_path", "part_ok", "open_partial", "assemble_parts"]

STATE_NAME = "state.json"


def part_path(folder: Path, index: int) -> Path:
    return folder / f"part-{index:05d}.npy"


def save_part(folder: Path, index: int, array: np.ndarray) -> None:
    """Write part ``index`` atomically."""
    write_atomic(part_path(folder, index), lambda fh: np.save(fh, array, allow_pickle=False))


def part_ok(path: Path, shape: tuple[int, ...], dtype: Any) -> bool:
    """Whether ``path`` is a complete part of this shape and dtype."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return arr.dtype == np.dtype(dtype) and arr.shape == shape


def open_partial(folder: Path, state: dict[str, Any], *, resume: bool, what: str) -> bool:
    """Start a fresh partial folder, or check that the existing one holds parts of this very run.

    Returns whether an existing folder is resumed. ``state`` must carry ``"format"``; every
    other key must match the saved state for its parts to be reused.
    """
    state_file = folder / STATE_NAME
    hint = "pass resume=False (CLI: --no-resume) to discard it and start over"
    if folder.exists() and resume:
        try:
            saved = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ConflictError(f"{folder} exists but has no readable {STATE_NAME}, so it cannot be resumed; {hint}") from None
        if not isinstance(saved, dict) or saved.get("format") != state["format"]:
            raise ConflictError(f"{state_file} is not a {what} state ({state['format']}); {hint}")
        diffs = [f"{key}={saved.get(key)!r} (now {value!r})" for key, value in state.items() if saved.get(key) != value]
        if diffs:
            raise ConflictError(f"cannot resume: {folder} holds parts of a different run: {', '.join(diffs)}; {hint}")
        for leftover in folder.glob("*.tmp"):  # a write cut short by the interruption
            leftover.unlink()
        return True
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    write_atomic(state_file, lambda fh: fh.write(json.dumps(state, indent=1).encode("utf-8")))
    return False


def assemble_parts(output: Path, folder: Path, spans: Sequence[tuple[int, int, int]], shape: tuple[int, int], dtype: Any) -> None:
    """Copy every part into ``output`` (written under a temporary name, then moved into place)."""
    if shape[0] == 0:  # an empty file cannot be memory-mapped
        write_atomic(output, lambda fh: np.save(fh, np.empty(shape, dtype=dtype)))
        return
    tmp = output.with_name(output.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
    for index, start, stop in spans:
        out[start:stop] = np.load(part_path(folder, index), allow_pickle=False)
    out.flush()
    del out
    os.replace(tmp, output)
