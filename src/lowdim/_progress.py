"""What the command line shows while it works: one progress bar (rich on stderr when asked for,
nothing otherwise) and :func:`say`, one plain line on stdout."""

from __future__ import annotations

from typing import Any

__all__ = ["ProgressBar", "say"]


def say(line: str) -> None:
    """Print one line on stdout as written (no rich highlighting, no wrapping)."""
    from rich.console import Console

    Console().print(line, highlight=False, soft_wrap=True)


class ProgressBar:
    """A rich progress bar (description, bar, done/total, elapsed) on stderr, or a silent stand-in.

    >>> with ProgressBar(False, total=3, description="plan") as bar:
    ...     bar.update("fit", advance=1)
    """

    def __init__(self, enabled: bool, *, total: int, description: str = "", width: int = 34) -> None:
        self._p: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(
                TextColumn(f"{{task.description:<{width}}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._p.add_task(description, total=total)

    def __enter__(self) -> ProgressBar:
        if self._p is not None:
            self._p.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.stop()

    def update(self, description: str | None = None, *, advance: int = 0, total: int | None = None) -> None:
        """Change the description, move on by ``advance`` steps, or change the total."""
        if self._p is not None:
            kwargs: dict[str, Any] = {"advance": advance}
            if description is not None:
                kwargs["description"] = description
            if total is not None:
                kwargs["total"] = total
            self._p.update(self._task, **kwargs)
