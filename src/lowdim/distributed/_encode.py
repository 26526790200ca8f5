"""``encode_file``: fit a codec on a seeded sample, then encode every block of a vector file, resumably.

The codec is fitted once (on the driver) and saved in the partial folder, so a resumed run
encodes with the very same codec; on Ray it goes to the object store once and every actor
of the pool takes it from there. Each block of rows is encoded into its own part file;
parts that exist are skipped on a rerun, and the codes file is assembled at the end.
The blocks are the same with and without Ray, so the codes are byte-identical.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_atomic
from ..arrays import block_rows as default_block_rows
from ..arrays import sample_rows
from ..encoders import partial_dir
from ..exceptions import FileFormatError, ParameterError
from ..validation import check_metric, check_positive_int
from ._parts import assemble_parts, open_partial, part_ok, part_path, save_part
from ._pool import check_workers, run_pool
from ._ray import connect

__all__ = ["encode_file"]

_STATE_FORMAT = "lowdim.encode_file/1"
_CODEC_NAME = "codec.npz"


def _open_vectors(path: Path) -> np.ndarray:
    from ..eval import read_vectors

    X = read_vectors(path, mmap=True)
    if X.ndim != 2:
        raise FileFormatError(f"{path} holds an array of shape {X.shape}; expected (n, d) vectors")
    return X


def _block_encoder(codec: Any, vectors_path: str, folder: str) -> Any:
    """The worker of one pool member: ``work(item)`` encodes rows ``[start, stop)`` into part ``index``."""
    if not hasattr(codec, "encode"):  # a Ray ObjectRef: the codec sits in the object store
        import ray

        codec = ray.get(codec)
    X = _open_vectors(Path(vectors_path))
    out = Path(folder)

    def work(item: dict[str, Any]) -> int:
        start, stop = int(item["start"]), int(item["stop"])
        save_part(out, int(item["index"]), codec.encode(X[start:stop]))
        return stop - start

    return work


def default_codec_path(codes_out: Path) -> Path:
    """Where the codec goes when ``codec_out`` is not given: ``codes.npy`` → ``codes.codec.npz``."""
    return codes_out.with_name(codes_out.stem + ".codec.npz")


def encode_file(
    vectors_path: str | os.PathLike[str],
    codes_out: str | os.PathLike[str],
    *,
    spec: str,
    metric: str = "cosine",
    train_size: int = 100_000,
    seed: int = 0,
    codec_out: str | os.PathLike[str] | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
    block_rows: int | None = None,
    resume: bool = True,
    progress: bool = False,
) -> tuple[Path, Path]:
    """Fit the codec of ``spec`` on a seeded sample of a vector file, then encode every row into a codes ``.npy``.

    Parameters
    ----------
    vectors_path : path
        (n, d) vectors: ``.npy`` (memory-mapped; float16 or float32), or any format
        :func:`lowdim.eval.read_vectors` reads. On Ray every worker opens this path, so it
        must be on storage the workers share.
    codes_out : path
        Where the (n, code_size) uint8 codes go; must end in ``.npy``. Unfinished parts
        wait in ``codes_out.partial/`` (on storage the workers share).
    spec : str
        The compression spec, for example ``"pca128/int8"`` (see :mod:`lowdim.spec`).
    metric : {"cosine", "ip", "l2"}
        How the vectors are compared (cosine normalises every row before coding).
    train_size : int
        Rows of the seeded sample the codec is fitted on (:func:`lowdim.arrays.sample_rows`).
    seed : int
        Seed of the sample and of the codec's own random choices.
    codec_out : path, optional
        Where the fitted codec goes (:meth:`lowdim.spec.Pipeline.save`); default
        ``codes_out`` with ``.codec.npz`` for ``.npy``.
    ray_address : str, optional
        ``None``: encode in this process; ``"local"``, ``"auto"`` or ``"ray://host:port"``:
        on a Ray Data actor pool, the fitted codec put in the object store once.
    workers : int, optional
        Ray actors (default: the cluster's CPUs).
    block_rows : int, optional
        Rows per block (one part file each; default about 64 MiB of float32).
    resume : bool
        Reuse the parts (and the fitted codec) of an interrupted run with the same input
        and settings; ``False`` discards them.
    progress : bool
        Show a rich progress bar of encoded rows on stderr.

    Returns
    -------
    (codes path, codec path). The codes array has shape (n, code_size), dtype uint8,
    identical with and without Ray.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> X = np.random.default_rng(0).normal(size=(500, 32)).astype(np.float32)
    >>> np.save(folder / "x.npy", X)
    >>> codes, codec = encode_file(folder / "x.npy", folder / "codes.npy", spec="pca16/int8", block_rows=200)
    >>> np.load(codes).shape, codec.name
    ((500, 16), 'codes.codec.npz')
    >>> import shutil; shutil.rmtree(folder)
    """
    from ..spec import Pipeline

    src = Path(vectors_path)
    out = Path(codes_out)
    if out.suffix != ".npy":
        raise ParameterError(f"The 'codes_out' parameter of encode_file must be a .npy path. Got {str(out)!r}.")
    codec_path = default_codec_path(out) if codec_out is None else Path(codec_out)
    for path in (out, codec_path):
        if not path.absolute().parent.is_dir():
            raise FileFormatError(f"output folder not found: {path.absolute().parent}")
    metric = check_metric(metric, owner="encode_file")
    train_size = check_positive_int(train_size, "train_size", owner="encode_file")
    workers = check_workers(workers, "encode_file")
    if not isinstance(spec, str):
        raise ParameterError(f"The 'spec' parameter of encode_file must be a spec string. Got {spec!r}.")
    pipe = Pipeline(spec, metric=metric, random_state=seed, max_train=train_size)  # a bad spec fails before any work
    if not src.is_file():
        raise FileFormatError(f"vector file not found: {src}")
    X = _open_vectors(src)
    n, d = X.shape
    pipe.spec.check(d)
    rows = default_block_rows(d) if block_rows is None else check_positive_int(block_rows, "block_rows", owner="encode_file")
    if ray_address is not None:
        connect(ray_address)  # a bad address fails before the fit

    stat = src.stat()
    state = {
        "format": _STATE_FORMAT,
        "input": str(src.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "n": n,
        "d": d,
        "spec": pipe.to_spec(),
        "metric": metric,
        "train_size": train_size,
        "seed": seed,
        "block_rows": rows,
    }
    folder = partial_dir(out)  # OUTPUT.partial beside the output, as embed_file's
    resumed = open_partial(folder, state, resume=resume, what="encode_file")
    saved_codec = folder / _CODEC_NAME
    if resumed and saved_codec.is_file():
        pipe = Pipeline.load(saved_codec)
    else:
        pipe.fit(sample_rows(X, train_size, seed))
        pipe.save(saved_codec)
    del X

    spans = [(i, start, min(n, start + rows)) for i, start in enumerate(range(0, n, rows))]
    todo = [s for s in spans if not part_ok(part_path(folder, s[0]), (s[2] - s[1], pipe.code_size), np.uint8)]
    items = [{"index": i, "start": start, "stop": stop} for i, start, stop in todo]
    codec: Any = pipe
    if ray_address is not None and items:
        codec = connect(ray_address).put(pipe)  # once; every actor reads it from the object store
    run_pool(
        items,
        functools.partial(_block_encoder, codec, str(src.resolve()), str(folder.resolve())),
        address=ray_address,
        workers=workers,
        progress=progress,
        description=f"encoding {src.name}",
        total_units=n,
        done_units=n - sum(stop - start for _, start, stop in todo),
    )
    assemble_parts(out, folder, spans, (n, pipe.code_size), np.uint8)
    write_atomic(codec_path, lambda fh: fh.write(saved_codec.read_bytes()))
    shutil.rmtree(folder)
    return out, codec_path
