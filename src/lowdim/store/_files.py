"""Durable file primitives: atomic writes, fsync, ``.npy`` segments with sizes and checksums.

Every file a collection references is written once under a temporary name, fsynced,
renamed into place and never modified again; the directory is fsynced after the
rename so the new name survives a crash too. A file is only *referenced* once the
SQLite transaction that registers it commits, so a writer killed at any moment
leaves at worst an unreferenced file, which the next writer deletes.

Checksums are CRC-32 (``zlib.crc32``, ~3 GB/s) of the whole file, header included.
"""

from __future__ import annotations

import io
import json
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import fsync_dir
from .._npyheader import read_npy_header
from ..exceptions import FileFormatError

__all__ = [
    "FileInfo",
    "TMP_SUFFIX",
    "fsync_dir",
    "write_npy",
    "write_npy_blocks",
    "write_bytes",
    "npy_header",
    "open_npy",
    "read_npy",
    "map_npy",
    "verify_mapped",
    "file_crc32",
    "check_file",
    "json_bytes",
]

#: suffix of files being written; any file ending in it is garbage after a crash
TMP_SUFFIX = ".tmp"
_CHUNK = 1 << 24  # 16 MiB


@dataclass(frozen=True)
class FileInfo:
    """Name (relative to the collection folder), size in bytes and CRC-32 of one file."""

    name: str
    size: int
    crc32: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "crc32": self.crc32}


def _damaged(root: Path, name: str, why: str) -> FileFormatError:
    return FileFormatError(f"{name} in collection {root} {why}; run 'lowdim check {root}' to repair what can be repaired")


def _npy_header_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    return buf.getvalue()


def _npy_header_bytes_for(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(int(s) for s in shape)}
    )
    return buf.getvalue()


def write_npy(root: Path, name: str, arr: np.ndarray) -> FileInfo:
    """Write ``arr`` (C-contiguous) as ``root/name`` atomically and durably; return its :class:`FileInfo`."""
    arr = np.ascontiguousarray(arr)
    path = root / name
    tmp = path.with_name(path.name + TMP_SUFFIX)
    header = _npy_header_bytes(arr)
    crc = zlib.crc32(header)
    flat = arr.reshape(-1).view(np.uint8).data if arr.size else memoryview(b"")
    with open(tmp, "wb") as fh:
        fh.write(header)
        for start in range(0, len(flat), _CHUNK):
            piece = flat[start : start + _CHUNK]
            fh.write(piece)
            crc = zlib.crc32(piece, crc)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return FileInfo(name, len(header) + arr.nbytes, crc)


def write_npy_blocks(root: Path, name: str, shape: tuple[int, ...], dtype: Any, blocks: Iterable[np.ndarray]) -> FileInfo:
    """Like :func:`write_npy` for an array given as consecutive row blocks (never all in memory)."""
    dtype = np.dtype(dtype)
    path = root / name
    tmp = path.with_name(path.name + TMP_SUFFIX)
    header = _npy_header_bytes_for(shape, dtype)
    crc = zlib.crc32(header)
    rows = 0
    with open(tmp, "wb") as fh:
        fh.write(header)
        for block in blocks:
            block = np.ascontiguousarray(block, dtype=dtype)
            rows += len(block)
            data = block.reshape(-1).view(np.uint8).data if block.size else memoryview(b"")
            fh.write(data)
            crc = zlib.crc32(data, crc)
        fh.flush()
        os.fsync(fh.fileno())
    if rows != shape[0]:
        tmp.unlink()
        raise RuntimeError(f"write_npy_blocks got {rows} rows for {name}; expected {shape[0]}")
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return FileInfo(name, len(header) + int(np.prod(shape)) * dtype.itemsize, crc)


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp file, fsync, rename, fsync folder)."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def file_crc32(path: Path) -> int:
    """CRC-32 of a whole file, read in chunks."""
    crc = 0
    with open(path, "rb") as fh:
        while True:
            piece = fh.read(_CHUNK)
            if not piece:
                return crc
            crc = zlib.crc32(piece, crc)


def check_file(root: Path, info: FileInfo, *, crc: bool) -> None:
    """Raise a one-line :class:`FileFormatError` naming the file if it is missing, of the wrong size or (``crc``) corrupt."""
    path = root / info.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise _damaged(root, info.name, "is missing") from None
    if size != info.size:
        what = "is truncated" if size < info.size else "is longer than recorded"
        raise _damaged(root, info.name, f"{what} ({size:,} bytes; expected {info.size:,})")
    if crc and file_crc32(path) != info.crc32:
        raise _damaged(root, info.name, "is corrupt (checksum mismatch)")


def npy_header(data: bytes | memoryview, root: Path, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Parse the header at the start of ``data``: ``(shape, dtype, data offset)``."""
    buf = io.BytesIO(bytes(data[:4096]))
    try:
        shape, fortran, dtype = read_npy_header(buf)
    except (ValueError, OSError, SyntaxError, EOFError) as exc:
        raise _damaged(root, name, f"has a corrupt .npy header ({exc})") from None
    if fortran or dtype.hasobject:
        raise _damaged(root, name, "is not a C-ordered numeric .npy file")
    return shape, dtype, buf.tell()


def _check_layout(root: Path, name: str, shape: tuple, dtype: np.dtype, want_shape: tuple, want_dtype: np.dtype) -> None:
    if tuple(shape) != tuple(want_shape) or dtype != want_dtype:
        raise _damaged(
            root, name, f"holds an array of shape {tuple(shape)} {dtype}; expected {tuple(want_shape)} {np.dtype(want_dtype)}"
        )


def open_npy(root: Path, info: FileInfo, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Memory-map ``root/info.name`` read-only after checking its size and header (no checksum)."""
    check_file(root, info, crc=False)
    path = root / info.name
    with open(path, "rb") as fh:
        head = fh.read(4096)
    got_shape, got_dtype, offset = npy_header(head, root, info.name)
    _check_layout(root, info.name, got_shape, got_dtype, shape, np.dtype(dtype))
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape))


def map_npy(root: Path, info: FileInfo, shape: tuple[int, ...], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Memory-map the whole file (uint8) and view its data as ``shape``/``dtype``: ``(raw, array)``.

    Size and header are checked now; :func:`verify_mapped` checks the CRC-32 later, when the
    bytes are read anyway. The mapping stays valid after the file is unlinked.
    """
    check_file(root, info, crc=False)
    path = root / info.name
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    got_shape, got_dtype, offset = npy_header(np.ascontiguousarray(raw[:4096]).data, root, info.name)
    _check_layout(root, info.name, got_shape, got_dtype, shape, np.dtype(dtype))
    return raw, raw[offset:].view(dtype).reshape(shape)


def verify_mapped(root: Path, info: FileInfo, raw: np.ndarray) -> None:
    """Raise the one-line error of a corrupt file if the mapped bytes do not match the recorded CRC-32."""
    crc = 0
    for start in range(0, len(raw), _CHUNK):
        crc = zlib.crc32(np.ascontiguousarray(raw[start : start + _CHUNK]).data, crc)
    if crc != info.crc32:
        raise _damaged(root, info.name, "is corrupt (checksum mismatch)")


def read_npy(root: Path, info: FileInfo, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Read ``root/info.name`` into memory, verifying size, CRC-32 and header."""
    check_file(root, info, crc=False)
    path = root / info.name
    raw = bytearray(info.size)
    with open(path, "rb") as fh:
        got = fh.readinto(raw)
    if got != info.size:
        raise _damaged(root, info.name, f"is truncated ({got:,} bytes; expected {info.size:,})")
    if zlib.crc32(raw) != info.crc32:
        raise _damaged(root, info.name, "is corrupt (checksum mismatch)")
    got_shape, got_dtype, offset = npy_header(memoryview(raw), root, info.name)
    _check_layout(root, info.name, got_shape, got_dtype, shape, np.dtype(dtype))
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


def json_bytes(obj: Any) -> bytes:
    """Stable, readable JSON encoding of a manifest-like object."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
