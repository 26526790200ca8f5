"""``lowdim serve``: a thin layer over :func:`lowdim.server.serve`.

Imported at CLI startup, so it imports neither FastAPI nor uvicorn; they load inside the command.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""

    @app.command("serve")
    def serve(
        paths: list[Path] = typer.Argument(
            None,
            help="Collection folders, or folders whose sub-folders are collections (served under their folder names).",
            show_default=False,
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback exposes the service."),
        port: int = typer.Option(8000, "--port", help="TCP port."),
        api_key: str | None = typer.Option(
            None,
            "--api-key",
            envvar="LOWDIM_API_KEY",
            help="Key that write requests must send as 'Authorization: Bearer <key>' (prefer the env var: "
            "command lines are visible to other users).",
            show_envvar=True,
        ),
        allow_unauthenticated_writes: bool = typer.Option(
            False, "--allow-unauthenticated-writes", help="Accept writes without an API key (trusted loopback only)."
        ),
        max_body_bytes: int = typer.Option(16 * 2**20, "--max-body-bytes", help="Largest request body (413 beyond)."),
        max_batch: int = typer.Option(4096, "--max-batch", help="Most vectors / queries / ids per request."),
        max_k: int = typer.Option(1000, "--max-k", help="Largest k of a search."),
        readers: int = typer.Option(1, "--readers", help="Read snapshots per collection (parallel searches; RAM each)."),
        graceful_timeout: int = typer.Option(30, "--graceful-timeout", help="Seconds to let requests finish on SIGTERM."),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
        access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request."),
        summary: list[str] = typer.Option(
            None,
            "--summary",
            help="Serve a released private summary read-only: NAME=summary.npz (repeatable).",
            show_default=False,
        ),
    ) -> None:
        """Serve collections over HTTP (search, writes, /metrics, /docs); loopback only unless --host says otherwise."""
        from rich.console import Console

        from ._serve import serve as run
        from ._summaries import parse_summary_options

        err = Console(stderr=True)
        run(
            paths or [],
            host=host,
            port=port,
            api_key=api_key,
            allow_unauthenticated_writes=allow_unauthenticated_writes,
            max_body_bytes=max_body_bytes,
            max_batch=max_batch,
            max_k=max_k,
            readers=readers,
            graceful_timeout=graceful_timeout,
            log_level=log_level,
            access_log=access_log,
            warn=lambda m: err.print(f"[bold red]WARNING:[/] {m}", highlight=False, soft_wrap=True),
            summaries=dict(parse_summary_options(summary or [])) or None,
        )
