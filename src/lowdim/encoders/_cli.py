"""``lowdim embed``: a thin layer over :func:`lowdim.encoders.embed_file`.

Imported at CLI startup, so it imports neither torch nor sentence-transformers;
they load inside the command.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..exceptions import FileFormatError, ParameterError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``embed`` command to ``app``."""

    @app.command("embed")
    def embed(
        input: Path = typer.Argument(
            ..., help="Texts: .txt (one per line), or .jsonl / .csv / .parquet with --field.", show_default=False
        ),
        output: Path = typer.Option(..., "-o", "--output", help="Where the float32 vectors go (.npy).", show_default=False),
        field: str | None = typer.Option(None, "--field", help="Text column of a .jsonl / .csv / .parquet input."),
        model: str = typer.Option(
            "all-MiniLM-L6-v2", "--model", help="Bundled model name or a local sentence-transformers model folder."
        ),
        batch_size: int = typer.Option(64, "--batch-size", help="Texts per forward pass."),
        layers: int | None = typer.Option(
            None, "--layers", help="Early exit: run only the first N transformer layers (faster, less accurate)."
        ),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted run from its last saved chunk."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
        address: str | None = typer.Option(
            None,
            "--address",
            help="Run on a Ray Data actor pool: 'local', 'auto' or 'ray://host:10001'. Default: no Ray.",
        ),
        workers: int | None = typer.Option(None, "--workers", help="Ray actors (default: the cluster's CPUs); with --address."),
        tokens: bool = typer.Option(
            False,
            "--tokens",
            help="One vector per token (multi-vector): rows to OUTPUT, CSR offsets to OUTPUT's stem + .offsets.npy. "
            "Not resumable; no --address.",
        ),
    ) -> None:
        """Embed a text file into a .npy of float32 vectors (offline; resumable)."""
        import numpy as np
        from rich.console import Console

        from ._embed_file import embed_file, partial_dir

        if tokens:
            if address is not None or workers is not None:
                raise ParameterError("--tokens runs in this process; drop --address / --workers")
            _embed_tokens(input, output, field=field, model=model, batch_size=batch_size, layers=layers, progress=progress)
            return

        ray: dict[str, object] = {}
        if address is not None or workers is not None:
            # the command line may use every part; the encoders part itself never imports lowdim.distributed
            from ..distributed import embed_file

            ray = {"ray_address": address, "workers": workers}

        try:
            path = embed_file(
                input,
                output,
                field=field,
                model=model,
                batch_size=batch_size,
                layers=layers,
                progress=progress,
                resume=resume,
                **ray,  # type: ignore[arg-type]
            )
        except KeyboardInterrupt:
            if partial_dir(output).is_dir():
                Console(stderr=True).print(
                    f"the finished chunks are kept in {partial_dir(output)}; run the same command again to resume",
                    highlight=False,
                )
            raise
        shape = np.load(path, mmap_mode="r").shape
        Console().print(f"wrote {shape[0]:,} × {shape[1]} float32 vectors to {path}", highlight=False)


def _embed_tokens(
    input: Path, output: Path, *, field: str | None, model: str, batch_size: int, layers: int | None, progress: bool
) -> None:
    """``lowdim embed --tokens``: per-token vectors of every text, written as rows + offsets ``.npy``."""
    from rich.console import Console

    from ._readers import read_texts
    from ._text import TextEncoder

    if output.suffix != ".npy":
        raise ParameterError(f"--output must be a .npy path. Got {str(output)!r}.")
    if not output.parent.is_dir():
        raise FileFormatError(f"output folder not found: {output.parent}")
    encoder = TextEncoder(model, output="tokens", batch_size=batch_size, layers=layers)
    vectors = encoder.encode(read_texts(input, field=field), progress=progress, allow_empty=False)
    offsets = vectors.save(output)
    n, (n_tokens, dim) = len(vectors.offsets) - 1, vectors.rows.shape
    Console().print(
        f"wrote {n_tokens:,} × {dim} float32 token vectors of {n:,} texts to {output}, offsets to {offsets}", highlight=False
    )
