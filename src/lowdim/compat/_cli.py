"""``lowdim map fit | add`` and ``lowdim migrate``: query maps between models, and a live migration to a new one.

Thin over :func:`lowdim.compat.fit_map`, :class:`lowdim.compat.QueryMap`,
:meth:`lowdim.store.Collection.add_map` and :meth:`lowdim.store.Collection.migrate`; every bad
input is one of lowdim's errors, printed as one line by ``lowdim.cli.main``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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
    app.command(
        "migrate",
        help="Move a collection to a new embedding model while it keeps serving: re-embed in resumable batches, then switch.",
    )(migrate)


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


def _read_texts(path: Path) -> dict[Any, str]:
    """``{id: text}`` from a JSON-lines file of objects with "id" and "text" fields."""
    from ..eval import iter_jsonl

    if not path.is_file():
        raise FileFormatError(f"texts file {path} does not exist")
    out: dict[Any, str] = {}
    for n, row in iter_jsonl(path):
        if row is None or "id" not in row or not isinstance(row.get("text"), str):
            raise FileFormatError(f"{path.name} line {n}: expected a JSON object with 'id' and 'text' (a string) fields")
        out[row["id"]] = row["text"]
    return out


def migrate(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    to_model: Annotated[
        str, typer.Option("--to-model", help="The new embedding model (name or model folder).", show_default=False)
    ],
    texts: Annotated[
        Path | None,
        typer.Option("--texts", help="JSON lines {id, text} to re-embed (default: the texts a text collection stored)."),
    ] = None,
    vectors: Annotated[
        Path | None,
        typer.Option("--vectors", help="New-model vectors instead of texts (.npy...); row i is item id i unless --ids."),
    ] = None,
    ids: Annotated[Path | None, typer.Option("--ids", help="The item id of each row of --vectors (.npy of integers).")] = None,
    map_file: Annotated[
        Path | None, typer.Option("--map", help="A query map to use (from 'lowdim map fit') instead of fitting one.")
    ] = None,
    fit_texts: Annotated[
        Path | None, typer.Option("--fit-texts", help="Query-like texts, one per line, embedded by both models to fit the map.")
    ] = None,
    fit_size: Annotated[int, typer.Option("--fit-size", help="Items re-embedded first and paired to fit the map.")] = 2000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Items per durable batch.")] = 256,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Re-embed at most this many items now (run again to go on).")
    ] = None,
    spec: Annotated[str | None, typer.Option("--spec", help="The new collection's spec (default: the old one's).")] = None,
    status: Annotated[bool, typer.Option("--status", help="Only print the migration's status.")] = False,
) -> None:
    """Re-embed PATH's items with --to-model (resumable: run again after a kill), then switch to it atomically."""
    import numpy as np

    from ..store import Collection

    if status:
        with Collection.open(path, readonly=True) as col:
            _say(
                json.dumps(col.migration, indent=2)
                if col.migration
                else f"no migration in progress in {path} (model {col.model})"
            )
        return
    source: dict[str, Any] = {}
    if texts is not None:
        source["texts"] = _read_texts(texts)
    if vectors is not None:
        from ..eval import read_vectors

        V = read_vectors(vectors)
        keys = np.arange(len(V)) if ids is None else np.asarray(np.load(ids))
        if keys.shape != (len(V),) or keys.dtype.kind not in "iu":
            raise FileFormatError(
                f"--ids must hold {len(V)} integers (one per row of --vectors); got shape {keys.shape}, dtype {keys.dtype}"
            )
        row_of = {int(k): i for i, k in enumerate(keys.tolist())}

        def lookup(wanted: list[Any]) -> Any:
            missing = [w for w in wanted if w not in row_of]
            if missing:
                raise FileFormatError(f"--vectors has no row for item {missing[0]!r} (and {len(missing) - 1} more)")
            return np.asarray(V[[row_of[w] for w in wanted]], dtype=np.float32)

        source["vectors"] = lookup
    if ids is not None and vectors is None:
        raise ParameterError("--ids goes with --vectors")
    qmap = None
    if map_file is not None:
        from ._querymap import QueryMap

        qmap = QueryMap.load(map_file)
    fit = None
    if fit_texts is not None:
        fit = [t for t in fit_texts.read_text(encoding="utf-8").splitlines() if t.strip()]
    with Collection.open(path) as col:
        old_model = col.model
        out = col.migrate(
            to_model,
            query_map=qmap,
            fit_texts=fit,
            fit_size=fit_size,
            batch_size=batch_size,
            limit=limit,
            spec=spec,
            progress=True,
            **source,
        )
        if col.model != old_model:
            _say(
                f"{path} now serves model {col.model} ({len(col):,} items); 'lowdim compact {path}' deletes the old model's files"
            )
        else:
            rate = f", {out['rate']:.0f} items/s" if out.get("rate") else ""
            _say(
                f"{out['done']:,} of {out['total']:,} items re-embedded ({100 * out['fraction']:.1f}%{rate}); run again to go on"
            )
