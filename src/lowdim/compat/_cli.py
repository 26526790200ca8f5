"""``lowdim map fit | add``: fit a query map on paired embeddings; store one in a collection.

Thin over :func:`lowdim.compat.fit_map`, :class:`lowdim.compat.QueryMap` and
:meth:`lowdim.store.Collection.add_map`; every bad input is one of lowdim's errors, printed
as one line by ``lowdim.cli.main``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._progress import say as _say
from ..exceptions import FileFormatError, ParameterError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``map`` command group to ``app``."""
    group = typer.Typer(help="Query maps between embedding models: search an old index with a new model's queries.")
    group.command("fit", help="Fit a map from NEW model vectors to OLD model vectors of the same texts (paired rows).")(fit)
    group.command("add", help="Store a map in a collection: searches with --model NAME then map their queries.")(add)
    app.add_typer(group, name="map")


def fit(
    new: Annotated[Path, typer.Argument(help="New-model vectors (.npy, .fvecs, .hdf5, .parquet).", show_default=False)],
    old: Annotated[Path, typer.Argument(help="Old-model vectors of the same texts, row for row.", show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the map (.npz).", show_default=False)],
    kind: Annotated[str, typer.Option("--kind", help="auto, procrustes, ridge, lowrank, mlp, relative (comma list).")] = "auto",
    holdout: Annotated[float, typer.Option("--holdout", help="Fraction of pairs held out to choose and measure.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, anchors and MLP.")] = 0,
    new_model: Annotated[str | None, typer.Option("--new-model", help="Name of the new model (stored).")] = None,
    old_model: Annotated[str | None, typer.Option("--old-model", help="Name of the old model (stored).")] = None,
) -> None:
    """Fit every asked kind, print each one's held-out quality, write the best to --out."""
    from ..eval import read_vectors
    from ._fit import fit_map

    if not out.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write the map {out}: folder {out.absolute().parent} does not exist")
    kinds = [k.strip() for k in kind.split(",") if k.strip()]
    if not kinds:
        raise ParameterError("--kind is empty; give auto or a comma list of kinds")
    N = read_vectors(new, mmap=False)
    O = read_vectors(old, mmap=False)
    qmap = fit_map(N, O, kinds if len(kinds) > 1 else kinds[0], holdout=holdout, seed=seed, models=(new_model, old_model))
    for q in sorted(qmap.report.values(), key=lambda q: -q.top10):
        mark = "*" if q.kind == qmap.kind else " "
        _say(
            f"{mark} {q.kind:10s} held-out cosine {q.cosine:.3f}  top-1 {q.top1:.3f}  top-10 {q.top10:.3f}  "
            f"fit {q.fit_seconds:.1f} s  ({q.setting})"
        )
    qmap.save(out)
    _say(f"wrote {out}: {qmap.kind} map {qmap.n_features_in_} -> {qmap.n_features_out_}, fitted on {qmap.n_fit_} pairs")


def add(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    map_file: Annotated[Path, typer.Argument(help="A map written by 'lowdim map fit' (.npz).", show_default=False)],
    model: Annotated[str, typer.Option("--model", help="The model whose queries the map takes.", show_default=False)],
) -> None:
    """Store MAP_FILE in the collection PATH for queries of --model."""
    from ..store import Collection
    from ._querymap import QueryMap

    qmap = QueryMap.load(map_file)
    with Collection.open(path) as col:
        col.add_map(qmap, model=model)
        have = ", ".join(col.info()["maps"])
    _say(f"added the {qmap.kind} map for model '{model}' to {path} (models with a map: {have})")
