"""When a collection trains its codec, on what, and how it says that it has not yet.

The rule
--------
A collection fits its codec as soon as it holds ``min(train_size, min_train_rows)``
vectors, where ``min_train_rows`` is what the spec's codec family needs on this width
(:meth:`lowdim.spec.Spec.min_train_rows`: 1 for f32/f16/mrl/rp, 256 for scalar, sign
and RaBitQ codes, at least p for ``pca<p>``, at least d for ``itq``, 624 for
``pq<m>x4``, 9,984 for ``pq<m>x8`` and OPQ). The fit uses the first ``train_size``
stored vectors at most. When that first fit saw fewer than ``train_size`` vectors, the
collection refits once, when it first holds ``train_size``, so that a few early small
adds do not leave a poor codec for good. A codec given explicitly (``train(sample)``,
or the fitted codec of a plan) is never refitted automatically, and neither is one
that learns nothing.

Examples
--------
>>> from lowdim.store import Settings
>>> s = Settings(dim=384, spec="pq48x8+rerank4")
>>> train_at(s)
9984
>>> untrained_reason(s, 120)
'holds 120 vectors; spec pq48x8+rerank4 trains at 9,984 (PQ needs 39 vectors per centroid) — searches scan the full vectors exactly until then'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import to_float32
from ..spec import Pipeline, parse_spec
from ._catalog import CodecRecord
from ._files import FileInfo, file_crc32, fsync_dir
from ._layout import codec_name
from ._manifest import Settings

__all__ = ["train_at", "should_fit", "untrained_reason", "fit_codec", "save_codec", "first_rows"]


def train_at(settings: Settings) -> int:
    """How many stored vectors make the collection fit its codec: ``min(train_size, the spec's minimum)``."""
    return min(settings.train_size, parse_spec(settings.spec).min_train_rows(settings.dim))


def should_fit(settings: Settings, n_rows: int, codec: CodecRecord | None) -> bool:
    """Whether a writer holding ``n_rows`` stored vectors fits (or refits, once) the codec now."""
    if codec is None:
        return n_rows >= max(1, train_at(settings))
    learns = parse_spec(settings.spec).min_train_rows(settings.dim) > 1
    return (
        learns
        and codec.source == "auto"
        and codec.rows is not None
        and codec.rows < settings.train_size <= n_rows  # the one refit, on the first train_size vectors
    )


def _reason(settings: Settings) -> str:
    """Why the spec needs its minimum (the codec registry's phrase)."""
    return parse_spec(settings.spec).min_train_reason(settings.dim)


def untrained_reason(settings: Settings, n_rows: int) -> str:
    """One sentence: why a collection holding ``n_rows`` vectors has no codec yet, and what its searches do meanwhile."""
    at = train_at(settings)
    need = parse_spec(settings.spec).min_train_rows(settings.dim)
    held = f"holds {n_rows:,} vector{'' if n_rows == 1 else 's'}"
    if n_rows >= at:  # an interrupted fit, or a reader's snapshot older than the fit
        return f"{held} but its codec is not fitted yet (call train()) — searches scan the full vectors exactly until then"
    if at < need:
        why = f"its train_size; {_reason(settings)}, so a larger train_size fits a better codec"
    else:
        why = _reason(settings)
    return f"{held}; spec {settings.spec} trains at {at:,} ({why}) — searches scan the full vectors exactly until then"


def fit_codec(settings: Settings, sample: Any) -> Pipeline:
    """The collection's codec fitted on ``sample`` (n, dim), all of it (the caller picks the rows)."""
    s = settings
    return Pipeline(s.spec, metric=s.metric, random_state=s.random_state, max_train=max(len(sample), 1)).fit(sample)


def save_codec(root: Path, num: int, codec: Pipeline) -> FileInfo:
    """Write ``codec`` as codec file number ``num`` under ``root`` (durably) and return its file info."""
    name = codec_name(num)
    path = root / name
    codec.save(path)
    fsync_dir(root)
    return FileInfo(name, path.stat().st_size, file_crc32(path))


def first_rows(vectors: Any, n: int) -> np.ndarray:
    """The first ``n`` rows of ``vectors`` (all of them if fewer) as float32 (n, dim): the training sample."""
    return to_float32(vectors[0 : min(n, len(vectors))])
