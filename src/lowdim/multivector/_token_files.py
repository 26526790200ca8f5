"""``TokenFiles``: a folder of float16 token-row files, one per add batch, memory-mapped for the Chamfer rerank.

A file ``SSSSSSSS.npy`` holds the (N, d) token rows of one batch; a document is a location
``(segment, start, n)``, kept by the caller (a multi-vector collection stores it in its catalog).
Files are created exclusively (two writers never share a number) and fsynced with their folder
before the caller commits a reference to them, so a crash leaves at most an unreferenced file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._atomic import fsync_dir
from ..exceptions import FileFormatError
from ._tokens import TokenSets

__all__ = ["TokenFiles"]


class TokenFiles:
    """The token files of folder ``root`` (width ``dim``), mapped lazily and by :meth:`map_all`.

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> files = TokenFiles(pathlib.Path(tempfile.mkdtemp()), dim=2)
    >>> seg, _ = files.write(TokenSets.from_list([np.ones((2, 2)), np.zeros((1, 2))]))
    >>> files.gather([(seg, 2, 1), (seg, 0, 2)]).lengths.tolist()
    [1, 2]
    """

    def __init__(self, root: Path, dim: int) -> None:
        self.root = root
        self.dim = int(dim)
        self._mapped: dict[int, np.ndarray] = {}

    def path(self, seg: int) -> Path:
        return self.root / f"{seg:08d}.npy"

    def numbers(self) -> list[int]:
        """Numbers of the token files in the folder (referenced or not)."""
        return sorted(int(p.stem) for p in self.root.glob("*.npy") if p.stem.isdigit())

    def map_all(self) -> TokenFiles:
        """Memory-map every readable file not mapped yet (a damaged or vanishing one is garbage: skipped).

        A mapped file stays readable after a compaction unlinks it, so a reader maps the files
        before it takes its snapshot of the catalog.
        """
        for seg in self.numbers():
            if seg in self._mapped:
                continue
            try:
                rows = np.load(self.path(seg), mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError):
                continue  # an interrupted write (never referenced) or deleted by a compaction meanwhile
            if rows.ndim == 2 and rows.shape[1] == self.dim:
                self._mapped[seg] = rows
        return self

    def clear(self) -> None:
        self._mapped.clear()

    def write(self, ts: TokenSets) -> tuple[int, Path]:
        """Write the rows of ``ts`` as a new float16 file, fsynced with its folder; return its number and path."""
        rows = np.asarray(ts.rows, dtype=np.float16)
        seg = 1 + max(self.numbers(), default=-1)
        while True:
            file = self.path(seg)
            try:
                fh = open(file, "xb")  # exclusive: a concurrent writer never overwrites another's file
            except FileExistsError:
                seg += 1
                continue
            break
        try:
            with fh:
                np.lib.format.write_array(fh, rows, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            fsync_dir(self.root)
        except BaseException:
            file.unlink(missing_ok=True)
            raise
        return seg, file

    def delete_except(self, used: set[int]) -> int:
        """Delete every file (and leftover) whose number is not in ``used``; return how many."""
        gone = 0
        for p in sorted(self.root.iterdir()):
            if p.suffix == ".npy" and p.stem.isdigit() and int(p.stem) in used:
                continue
            if p.stem.isdigit():
                self._mapped.pop(int(p.stem), None)
            p.unlink()
            gone += 1
        if gone:
            fsync_dir(self.root)
        return gone

    def disk_bytes(self) -> tuple[int, int]:
        """``(files, bytes)`` of the token files on disk."""
        files = [self.path(s) for s in self.numbers()]
        return len(files), sum(p.stat().st_size for p in files)

    def _rows(self, seg: int) -> np.ndarray:
        rows = self._mapped.get(seg)
        if rows is None:
            file = self.path(seg)
            try:
                rows = np.load(file, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise FileFormatError(f"token file {file} is missing or damaged: {exc}") from None
            if rows.ndim != 2 or rows.shape[1] != self.dim:
                raise FileFormatError(f"token file {file} has shape {rows.shape}; expected (rows, {self.dim})")
            self._mapped[seg] = rows
        return rows

    def gather(self, locations: Sequence[tuple[int, int, int]]) -> TokenSets:
        """The token sets at ``locations`` ((segment, start, n) each), as one float32 CSR in that order.

        One fancy-indexed read per file (not one per document): the rerank's read path.
        """
        loc = np.asarray(locations, dtype=np.int64).reshape(-1, 3)
        offsets = np.zeros(len(loc) + 1, np.int64)
        np.cumsum(loc[:, 2], out=offsets[1:])
        out = np.empty((int(offsets[-1]), self.dim), np.float32)
        for seg in np.unique(loc[:, 0]).tolist():
            docs = np.flatnonzero(loc[:, 0] == seg)
            rows = self._rows(seg)
            starts, lens = loc[docs, 1], loc[docs, 2]
            if int((starts + lens).max()) > len(rows):
                raise FileFormatError(f"token file {self.path(seg)} is shorter than its documents say")
            # source row and destination row of every token of these documents
            inner = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
            out[np.repeat(offsets[docs], lens) + inner] = rows[np.repeat(starts, lens) + inner]
        return TokenSets(out, offsets)
