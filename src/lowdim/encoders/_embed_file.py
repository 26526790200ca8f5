"""Embed a text file into a ``.npy`` file, resumably.

Work is written in fixed-size chunks to ``OUTPUT.partial/`` next to the output:
``chunk-00000.npy``, ``chunk-00001.npy``, ... each written to a temporary file and
moved into place with ``os.replace``, so a chunk on disk is always complete, plus
``state.json`` naming the input (path, size, mtime) and every setting that changes
the vectors. A killed run restarts from its last complete chunk; a run whose
input or settings differ from the saved state refuses to mix the two. The final
``.npy`` is assembled under a temporary name, moved into place atomically, and
the partial folder is removed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_atomic
from ..exceptions import ConflictError, FileFormatError, ParameterError
from ..validation import check_positive_int
from ._readers import read_texts
from ._text import TextEncoder

__all__ = ["embed_file", "partial_dir"]

_STATE_FORMAT = "lowdim.embed_file/1"
_STATE_NAME = "state.json"
# Settings that must match for saved chunks to be reused; batch_size only reorders the work.
_MUST_MATCH = (
    "input",
    "input_size",
    "input_mtime_ns",
    "field",
    "n_texts",
    "model",
    "layers",
    "normalize",
    "max_seq_length",
    "dim",
    "chunk_size",
)


def _save_npy(fh: Any, *, vectors: np.ndarray) -> None:
    np.save(fh, vectors, allow_pickle=False)


def partial_dir(output: str | os.PathLike[str]) -> Path:
    """The folder where :func:`embed_file` keeps the chunks of an unfinished ``output``.

    Examples
    --------
    >>> partial_dir("vectors.npy").name
    'vectors.npy.partial'
    """
    output = Path(output)
    return output.with_name(output.name + ".partial")


def _chunk_path(folder: Path, index: int) -> Path:
    return folder / f"chunk-{index:05d}.npy"


def _chunk_ok(path: Path, rows: int, dim: int) -> bool:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return arr.dtype == np.float32 and arr.shape == (rows, dim)


def _settings(encoder: TextEncoder) -> dict[str, Any]:
    """What rebuilds ``encoder`` (unloaded) in another process."""
    return {
        "model": str(encoder.model) if isinstance(encoder.model, os.PathLike) else encoder.model,
        "batch_size": encoder.batch_size,
        "normalize": encoder.normalize,
        "layers": encoder.layers,
        "device": encoder.device,
        "max_seq_length": encoder.max_seq_length,
    }


def _chunk_embedder(settings: dict[str, Any], folder: str) -> Callable[[dict[str, Any]], int]:
    """A pool worker (one per Ray actor): loads the model once; ``work(item)`` embeds and saves one chunk."""
    settings = dict(settings)
    encoder = TextEncoder(settings.pop("model"), **settings)
    out = Path(folder)

    def work(item: dict[str, Any]) -> int:
        vectors = encoder._encode(list(item["texts"]))
        write_atomic(_chunk_path(out, int(item["index"])), functools.partial(_save_npy, vectors=vectors))
        return len(vectors)

    return work


def _describe_mismatch(saved: dict[str, Any], state: dict[str, Any]) -> str:
    diffs = [f"{key}={saved.get(key)!r} (now {state[key]!r})" for key in _MUST_MATCH if saved.get(key) != state[key]]
    return ", ".join(diffs)


def _open_state(folder: Path, state: dict[str, Any], resume: bool) -> None:
    """Start a fresh partial folder or check that the existing one belongs to this run."""
    state_file = folder / _STATE_NAME
    if folder.exists() and resume:
        try:
            saved = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ConflictError(
                f"{folder} exists but has no readable {_STATE_NAME}, so it cannot be resumed; "
                f"pass resume=False (CLI: --no-resume) to discard it and start over"
            ) from None
        if not isinstance(saved, dict) or saved.get("format") != _STATE_FORMAT:
            raise ConflictError(
                f"{state_file} is not an embed_file state ({_STATE_FORMAT}); "
                f"pass resume=False (CLI: --no-resume) to discard it and start over"
            )
        mismatch = _describe_mismatch(saved, state)
        if mismatch:
            raise ConflictError(
                f"cannot resume: {folder} holds chunks of a different run: {mismatch}; "
                f"pass resume=False (CLI: --no-resume) to discard them and start over"
            )
        for leftover in folder.glob("*.tmp"):  # a write cut short by the interruption
            leftover.unlink()
        return
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    write_atomic(state_file, lambda fh: fh.write(json.dumps(state, indent=1).encode("utf-8")))


def embed_file(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    field: str | None = None,
    model: str | os.PathLike[str] | TextEncoder = "all-MiniLM-L6-v2",
    batch_size: int | None = None,
    layers: int | None = None,
    progress: bool = True,
    resume: bool = True,
    chunk_size: int = 4096,
    on_chunk: Callable[[int, int], None] | None = None,
    run_chunks: Callable[..., None] | None = None,
) -> Path:
    """Embed every text of ``input`` into the float32 ``.npy`` file ``output``.

    Parameters
    ----------
    input : path
        ``.txt`` (one text per line) or ``.jsonl`` / ``.csv`` / ``.parquet``
        with ``field`` naming the text column.
    output : path
        Where the ``(n_texts, dim)`` float32 array goes; must end in ``.npy``.
    field : str, optional
        Text column of a structured input; a wrong one lists the available fields.
    model : str, path or TextEncoder
        Model name or directory (see :class:`TextEncoder`), or a ready encoder
        (then leave ``batch_size`` and ``layers`` unset; they are its settings).
    batch_size : int, optional
        Texts per forward pass (default 64).
    layers : int, optional
        Early exit after this many transformer layers (see :class:`TextEncoder`).
    progress : bool
        Show a rich progress bar on stderr.
    resume : bool
        Reuse the complete chunks of an interrupted run of the same input and
        settings; ``False`` discards them and starts over.
    chunk_size : int
        Texts per saved chunk: the most work an interruption can lose.
    on_chunk : callable, optional
        ``on_chunk(n_done, n_total)`` after each newly computed chunk is saved.
    run_chunks : callable, optional
        Runs the missing chunks somewhere else: ``run_chunks(items, make_worker, *,
        progress, description, total_units, done_units, on_done)``, where each item is a
        dict (``index``, ``start``, ``stop``, ``texts``) and ``make_worker()`` (picklable)
        loads the model once and returns ``work(item) -> rows``, which embeds the item and
        saves its chunk file. :func:`lowdim.distributed.embed_file` passes a Ray Data actor
        pool here (the partial folder must then be on storage the workers share). Same
        chunks, same state, same final file: a run can be resumed either way.

    Returns
    -------
    Path of ``output``, holding an array of shape (n_texts, dim), dtype float32.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "animals.txt").write_text("a domestic dog\\na small cat\\n")
    >>> out = embed_file(folder / "animals.txt", folder / "animals.npy", progress=False)
    >>> np.load(out).shape
    (2, 384)
    >>> import shutil; shutil.rmtree(folder)
    """
    input_path = Path(input)
    output_path = Path(output)
    if output_path.suffix != ".npy":
        raise ParameterError(f"The 'output' parameter of embed_file must be a .npy path. Got {str(output_path)!r}.")
    if not output_path.parent.is_dir():
        raise FileFormatError(f"output folder not found: {output_path.parent}")
    chunk_size = check_positive_int(chunk_size, "chunk_size", owner="embed_file")
    if isinstance(model, TextEncoder) and model.output != "sentence":
        raise ParameterError(
            "embed_file writes sentence vectors; for per-token vectors use 'lowdim embed --tokens' or TextEncoder(output='tokens')"
        )
    if isinstance(model, TextEncoder):
        for key, value in (("batch_size", batch_size), ("layers", layers)):
            if value is not None:
                raise ParameterError(
                    f"The '{key}' parameter of embed_file must be left unset when model is a TextEncoder; "
                    f"set it on the encoder instead. Got {value!r}."
                )
        encoder = model
    else:
        encoder = TextEncoder(model, batch_size=64 if batch_size is None else batch_size, layers=layers)
    name = encoder.name  # validates the settings before any reading or loading

    texts = read_texts(input_path, field=field)
    stat = input_path.stat()
    n = len(texts)
    dim = encoder.dim
    state = {
        "format": _STATE_FORMAT,
        "input": str(input_path.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "field": field,
        "n_texts": n,
        "model": name,
        "layers": None if encoder.layers is None else int(encoder.layers),
        "normalize": bool(encoder.normalize),
        "max_seq_length": encoder.max_seq_length,
        "dim": dim,
        "chunk_size": chunk_size,
        "batch_size": int(encoder.batch_size),
    }
    folder = partial_dir(output_path)
    _open_state(folder, state, resume)

    n_chunks = -(-n // chunk_size)
    spans = [(i, i * chunk_size, min(n, (i + 1) * chunk_size)) for i in range(n_chunks)]
    todo = [span for span in spans if not _chunk_ok(_chunk_path(folder, span[0]), span[2] - span[1], dim)]
    done_rows = n - sum(stop - start for _, start, stop in todo)

    if run_chunks is not None:
        items = [{"index": i, "start": a, "stop": b, "texts": texts[a:b]} for i, a, b in todo]

        def chunk_done(rows: int) -> None:
            nonlocal done_rows
            done_rows += rows
            if on_chunk is not None:
                on_chunk(done_rows, n)

        run_chunks(
            items,
            functools.partial(_chunk_embedder, _settings(encoder), str(folder.resolve())),
            progress=progress,
            description=f"embedding {input_path.name}",
            total_units=n,
            done_units=done_rows,
            on_done=chunk_done,
        )
        todo = []

    def run(advance: Callable[[int], None] | None) -> None:
        nonlocal done_rows
        for index, start, stop in todo:
            vectors = encoder._encode(texts[start:stop], on_batch=advance)
            write_atomic(_chunk_path(folder, index), functools.partial(_save_npy, vectors=vectors))
            done_rows += stop - start
            if on_chunk is not None:
                on_chunk(done_rows, n)

    if progress and todo:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn(f"embedding {input_path.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True)) as bar:
            task = bar.add_task("embed", total=n, completed=done_rows)
            run(lambda k: bar.advance(task, k))
    else:
        run(None)

    if n == 0:  # an empty file cannot be memory-mapped
        write_atomic(output_path, lambda fh: np.save(fh, np.empty((0, dim), dtype=np.float32)))
    else:
        tmp = output_path.with_name(output_path.name + ".tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
        for index, start, stop in spans:
            out[start:stop] = np.load(_chunk_path(folder, index), allow_pickle=False)
        out.flush()
        del out
        os.replace(tmp, output_path)
    shutil.rmtree(folder)
    return output_path
