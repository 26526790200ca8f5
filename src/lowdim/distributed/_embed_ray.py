"""``embed_file`` on Ray Data: :func:`lowdim.encoders.embed_file` with its missing chunks on an actor pool.

The chunks, the ``state.json`` and the final ``.npy`` are those of the local path (the
encoders part plans them and writes them; this module only supplies where they run), so
a run started locally can be finished on Ray and the other way round. Each actor loads
the model once and embeds its chunks with one BLAS thread, which is how the bytes come
out the same as the local path's.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from ._pool import check_workers, run_pool
from ._ray import connect

__all__ = ["embed_file"]


def embed_file(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    ray_address: str | None = None,
    workers: int | None = None,
    **kwargs: Any,
) -> Path:
    """Embed every text of ``input`` into the float32 ``.npy`` file ``output``, on Ray when given an address.

    Parameters
    ----------
    input, output : path
        As :func:`lowdim.encoders.embed_file` (the text file; the ``.npy`` of shape
        (n_texts, dim), dtype float32). On Ray the partial folder ``output.partial/`` is
        written by the actors, so it must be on storage they share.
    ray_address : str, optional
        ``None``: :func:`lowdim.encoders.embed_file` in this process, unchanged.
        ``"local"``, ``"auto"`` or ``"ray://host:port"``: the missing chunks go through a
        Ray Data actor pool (``from_items`` over the chunks, ``map_batches`` with an actor
        that loads the model once), while the driver shows the finished texts.
    workers : int, optional
        Ray actors (default: the cluster's CPUs); only with ``ray_address``.
    **kwargs
        Every other keyword of :func:`lowdim.encoders.embed_file` (``field``, ``model``,
        ``batch_size``, ``layers``, ``progress``, ``resume``, ``chunk_size``, ``on_chunk``).

    Returns
    -------
    Path of ``output``: byte-identical to the local path's for the same model and settings.

    Examples
    --------
    Without an address this is :func:`lowdim.encoders.embed_file` (whose example embeds a
    file); a Ray setting without an address is refused rather than ignored:

    >>> embed_file("texts.txt", "vectors.npy", workers=2)
    Traceback (most recent call last):
    ...
    lowdim.exceptions.ParameterError: The 'workers' parameter of embed_file needs ray_address (CLI: --address); without Ray one model embeds on every core. Got workers=2.
    """
    from ..encoders import embed_file as embed_locally

    workers = check_workers(workers, "embed_file")
    if ray_address is None:
        if workers is not None:
            from ..exceptions import ParameterError

            raise ParameterError(
                f"The 'workers' parameter of embed_file needs ray_address (CLI: --address); without Ray "
                f"one model embeds on every core. Got workers={workers}."
            )
        return embed_locally(input, output, **kwargs)
    connect(ray_address)  # a bad address fails before any reading or loading
    return embed_locally(input, output, run_chunks=functools.partial(run_pool, address=ray_address, workers=workers), **kwargs)
