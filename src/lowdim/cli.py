"""``lowdim`` command line: a thin layer over the Python API.

Each part of the package that has commands keeps them in its own ``_cli.py``
with a ``register(app)`` function; this module only assembles them and turns
lowdim's errors into one-line messages with exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from .exceptions import LowdimError

app = typer.Typer(
    name="lowdim",
    help="Compact embeddings: diagnose, compress, plan, store and search vector collections.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Compact embeddings: diagnose, compress, plan, store and search vector collections."""


# Parts that contribute commands; a part whose module is absent is skipped.
_COMMAND_MODULES = (
    "lowdim.bench._cli",
    "lowdim._demo",
    "lowdim.diagnose._cli",
    "lowdim.plan._cli",
    "lowdim.store._cli",
    "lowdim.encoders._cli",
    "lowdim.encoders._graph_cli",
    "lowdim.distributed._pipelines_cli",
    "lowdim.server._cli",
    "lowdim.private._cli",
    "lowdim.distributed._shard_cli",
    "lowdim.compat._cli",
    "lowdim.multivector._cli",
)

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # that part is not built yet
        if not (_exc.name and _name.startswith(_exc.name)):
            raise
        continue
    _mod.register(app)


def fail(message: str) -> None:
    """Print ``error: message`` on one line to stderr and exit with code 2."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``lowdim`` console script."""
    try:
        app(args=argv, prog_name="lowdim", standalone_mode=True)
    except LowdimError as exc:
        fail(str(exc))
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}")
    except MemoryError:
        fail("out of memory; try a smaller --sample or a spec with fewer bytes per vector")
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
