"""``lowdim encode | truth``: thin layers over :func:`encode_file` and :func:`ground_truth`.

Imported at CLI startup, so it imports neither Ray nor the codecs; they load inside the
commands. Every bad input raises one of lowdim's errors, which ``lowdim.cli.main`` prints
as one line (exit code 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._progress import say as _say

__all__ = ["register"]

_ADDRESS_HELP = (
    "Run on Ray: 'local' (a Ray on this machine), 'auto' (this machine's cluster) or 'ray://host:10001'. Default: no Ray."
)


def register(app: typer.Typer) -> None:
    """Add the ``encode`` and ``truth`` commands to ``app``."""
    app.command(
        "encode", help="Fit a codec on a seeded sample of a vector file, then encode every row (resumable; Ray optional)."
    )(encode)
    app.command("truth", help="Exact top-k ground truth of query vectors over a corpus file, in blocks (Ray optional).")(truth)


def encode(
    vectors: Annotated[Path, typer.Argument(help="Vectors (.npy, memory-mapped; or .fvecs/.hdf5/.parquet).", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where the uint8 codes go (.npy).", show_default=False)],
    spec: Annotated[str, typer.Option("--spec", help="Compression spec, for example pca128/int8.", show_default=False)],
    metric: Annotated[str, typer.Option("--metric", help="cosine, ip or l2.")] = "cosine",
    train_size: Annotated[int, typer.Option("--train-size", help="Fit the codec on a seeded sample of N rows.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample and of the codec.")] = 0,
    codec_out: Annotated[
        Path | None, typer.Option("--codec-out", help="Where the fitted codec goes (default: OUTPUT with .codec.npz).")
    ] = None,
    address: Annotated[str | None, typer.Option("--address", help=_ADDRESS_HELP)] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Threads, or Ray actors (default: every CPU).")] = None,
    block_rows: Annotated[int | None, typer.Option("--block-rows", help="Rows per block (one part file each).")] = None,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Continue an interrupted run from its saved parts.")
    ] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Fit a codec on a seeded sample of a vector file, then encode every row (resumable; Ray optional)."""
    import numpy as np

    from ._encode import encode_file

    codes, codec = encode_file(
        vectors,
        output,
        spec=spec,
        metric=metric,
        train_size=train_size,
        seed=seed,
        codec_out=codec_out,
        ray_address=address,
        workers=workers,
        block_rows=block_rows,
        resume=resume,
        progress=progress,
    )
    shape = np.load(codes, mmap_mode="r").shape
    _say(f"wrote {shape[0]:,} × {shape[1]} B codes to {codes}; codec {codec}")


def truth(
    corpus: Annotated[
        Path, typer.Argument(help="Corpus vectors (.npy, memory-mapped; or .fvecs/.hdf5/.parquet).", show_default=False)
    ],
    queries: Annotated[Path, typer.Argument(help="Query vectors, same width.", show_default=False)],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where the (n_queries, k) int64 ids go (.npy).", show_default=False)
    ],
    k: Annotated[int, typer.Option("--k", help="Neighbours per query.")] = 100,
    metric: Annotated[str, typer.Option("--metric", help="cosine, ip or l2 (squared distances).")] = "cosine",
    scores_out: Annotated[Path | None, typer.Option("--scores", help="Also write the float32 scores here (.npy).")] = None,
    address: Annotated[str | None, typer.Option("--address", help=_ADDRESS_HELP)] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Threads without Ray (default: every CPU).")] = None,
    block_rows: Annotated[int, typer.Option("--block-rows", help="Corpus rows per block (per task).")] = 65_536,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Exact top-k ground truth of query vectors over a corpus file, in blocks (Ray optional)."""
    import numpy as np

    from ..exceptions import ParameterError
    from ._truth import ground_truth

    for path, name in ((output, "--output"), (scores_out, "--scores")):
        if path is None:
            continue
        if path.suffix != ".npy":
            raise ParameterError(f"{name} must be a .npy path. Got {str(path)!r}.")
        if not path.absolute().parent.is_dir():
            raise ParameterError(f"cannot write {path}: folder {path.absolute().parent} does not exist")
    scores, ids = ground_truth(
        corpus, queries, k, metric=metric, ray_address=address, workers=workers, block_rows=block_rows, progress=progress
    )
    np.save(output, ids)
    if scores_out is not None:
        np.save(scores_out, scores)
    _say(f"wrote the exact top-{k} of {len(ids):,} queries to {output}")
