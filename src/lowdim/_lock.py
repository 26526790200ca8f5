"""Advisory file locks (``fcntl.flock``): one writer per collection, and a brief reader lock during ``open``.

``flock`` locks belong to an open file description, so they are released when the
process dies, however it dies (SIGKILL included): a crashed writer never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["FileLock"]


class FileLock:
    """A shared/exclusive lock on one file (created if missing).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> lock = FileLock(pathlib.Path(tempfile.mkdtemp()) / "x.lock")
    >>> lock.acquire(exclusive=True, blocking=False)
    True
    >>> lock.release()
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, exclusive: bool, blocking: bool) -> bool:
        """Take the lock; ``False`` when ``blocking=False`` and another process holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def write_owner(self) -> None:
        """Record this process id in the lock file (for the message another writer gets)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def owner(self) -> str:
        """The process id recorded by the holder, or ``"unknown"``."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return "unknown"
        return text if text.isdigit() else "unknown"

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.release()
        except Exception:
            pass
