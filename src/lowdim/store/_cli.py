"""``lowdim create | add | search | delete | info | check | compact``: a thin layer over :class:`Collection`.

Every bad input raises one of lowdim's errors, which ``lowdim.cli.main`` prints as
one line (exit code 2).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from ..exceptions import FileFormatError, ParameterError, UntrainedWarning
from ._manifest import Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the collection commands to ``app``."""
    app.command("create", help="Create an empty collection folder (settings fixed for good).")(create)
    app.command("add", help="Add vectors (.npy/.fvecs/.hdf5/.parquet) with optional JSONL metadata to a collection.")(add)
    app.command("search", help="Search a collection with query vectors; print a table or write JSON.")(search)
    app.command("delete", help="Delete items by id.")(delete)
    app.command("info", help="Show a collection's settings, counts and sizes.")(info)
    app.command("check", help="Verify every file of a collection and repair what can be repaired.")(check)
    app.command("compact", help="Rewrite a collection's segments without deleted rows.")(compact)


# ----------------------------------------------------------------------------- helpers


def _console():
    from rich.console import Console

    return Console()


def _say(line: str) -> None:
    _console().print(line, highlight=False, soft_wrap=True)


def _untrained(d: dict[str, Any]) -> None:
    """The one line saying that the collection is not trained yet (searches are exact scans meanwhile)."""
    if not d["trained"]:
        _say(f"not trained yet: {d['untrained_reason']}")


def _writable_target(path: Path | None, what: str) -> None:
    if path is not None and not path.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write {what} {path}: folder {path.absolute().parent} does not exist")


_D = Settings  # the defaults, declared once (None below means "the default")


# ----------------------------------------------------------------------------- commands


def create(
    path: Annotated[Path, typer.Argument(help="New folder for the collection.", show_default=False)],
    dim: Annotated[int | None, typer.Option("--dim", help="Width of the vectors.")] = None,
    spec: Annotated[str | None, typer.Option("--spec", help=f"Compression spec (default {_D.spec}).")] = None,
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="A planner JSON file (lowdim plan --json): its width, metric, spec and fitted codec."),
    ] = None,
    metric: Annotated[str | None, typer.Option("--metric", help=f"cosine, ip or l2 (default {_D.metric}).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Name of the embedding model the vectors come from.")] = None,
    train_size: Annotated[
        int | None, typer.Option("--train-size", help=f"Fit the codec on at most N vectors (default {_D.train_size:,}).")
    ] = None,
    index: Annotated[
        str | None,
        typer.Option(
            "--index",
            help=f"flat (exact scan of the codes), hnsw (graph) or ivf (inverted lists of codes; or --spec ivfN/...); "
            f"default {_D.index}.",
        ),
    ] = None,
    vector_dtype: Annotated[
        str | None,
        typer.Option(
            "--vector-dtype",
            help=f"Full vectors on disk: float32 (exact rerank) or float16 (half the disk); default {_D.vector_dtype}.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help=f"Seed of the codec fit (default {_D.random_state}).")] = None,
    hnsw_m: Annotated[int | None, typer.Option("--hnsw-m", help=f"HNSW links per node (default {_D.hnsw_m}).")] = None,
    ef_construction: Annotated[
        int | None, typer.Option("--ef-construction", help=f"HNSW build beam width (default {_D.ef_construction}).")
    ] = None,
    ef_search: Annotated[
        int | None, typer.Option("--ef-search", help=f"HNSW default search beam width (default {_D.ef_search}).")
    ] = None,
    nlist: Annotated[
        int | None, typer.Option("--nlist", help="IVF lists (index ivf; default: about 4 sqrt(rows) when it is built).")
    ] = None,
    nprobe: Annotated[
        int | None, typer.Option("--nprobe", help="IVF lists probed per query by default (index ivf; default nlist / 8).")
    ] = None,
    encoder: Annotated[
        str | None,
        typer.Option(
            "--encoder",
            help="Text encoder (all-MiniLM-L6-v2 or a local model folder): a text collection; sets --dim and --model.",
        ),
    ] = None,
) -> None:
    """Create an empty collection at PATH."""
    from ._collection import Collection

    the_plan = None
    if plan is not None:
        from ..plan import Plan

        the_plan = Plan.read_json(plan)
    elif dim is None and encoder is None:
        raise ParameterError(
            "lowdim create needs --dim, the width of the vectors (e.g. --dim 384), --encoder for texts, or --plan"
        )
    col = Collection.create(
        path,
        plan=the_plan,
        dim=dim,
        spec=spec,
        metric=metric,
        model=model,
        train_size=train_size,
        index=index,
        vector_dtype=vector_dtype,
        random_state=seed,
        hnsw_m=hnsw_m,
        ef_construction=ef_construction,
        ef_search=ef_search,
        nlist=nlist,
        nprobe=nprobe,
        encoder=encoder,
    )
    s = col.settings
    d = col.info()
    col.close()
    made = f", codec from {plan.name}" if plan is not None and d["codec_source"] == "plan" else ""
    _say(
        f"created {path}: dim {s.dim}, spec {s.spec}, metric {s.metric}, index {s.index}"
        + (f", model {s.model}" if s.model else "")
        + made
    )


def add(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    vectors: Annotated[Path | None, typer.Argument(help="Vectors: .npy, .fvecs, .hdf5 or .parquet.", show_default=False)] = None,
    texts: Annotated[
        Path | None,
        typer.Option("--texts", help="Texts to embed with the collection's encoder: .txt, or .jsonl/.csv/.parquet with --field."),
    ] = None,
    field: Annotated[str | None, typer.Option("--field", help="Text field of --texts (.jsonl/.csv/.parquet).")] = None,
    metadata: Annotated[
        Path | None, typer.Option("--metadata", help="JSONL: line i holds the metadata object of vector i.")
    ] = None,
    ids: Annotated[Path | None, typer.Option("--ids", help="Text file with one id per line (integers stay integers).")] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", help="Take each vector's id from this metadata field.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="The embedding model of the vectors (checked).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Vectors per durable add.")] = 100_000,
    dataset: Annotated[str | None, typer.Option("--dataset", help="HDF5 dataset (default train).")] = None,
    column: Annotated[str | None, typer.Option("--column", help="Parquet column.")] = None,
) -> None:
    """Add the vectors of VECTORS to the collection PATH (without ids: 0, 1, 2, ... in order)."""
    from ._collection import Collection
    from ._records import read_records

    if (vectors is None) == (texts is None):
        raise ParameterError("lowdim add needs either a VECTORS file or --texts FILE (not both)")
    rec = read_records(
        vectors, ids=ids, metadata=metadata, id_field=id_field, texts=texts, field=field, dataset=dataset, column=column
    )
    col = Collection.open(path)
    try:
        t = time.perf_counter()
        if rec.texts is not None:
            # embedding is the slow part: show it; then stored in durable batches like vectors
            col.add_texts(rec.texts, rec.ids, rec.metadata, progress=True, batch_size=batch_size)
        else:
            col.add(rec.vectors, rec.ids, rec.metadata, model=model, batch_size=batch_size)
        took = time.perf_counter() - t
        count = len(col)
        d = col.info()
    finally:
        col.close()
    _say(f"added {len(rec):,} vectors to {path} in {took:.1f}s ({count:,} in the collection)")
    _untrained(d)


def search(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    text: Annotated[str | None, typer.Argument(help="A query text (text collections).", show_default=False)] = None,
    queries: Annotated[
        Path | None, typer.Option("--queries", help="Query vectors (.npy, .fvecs, .hdf5, .parquet).", show_default=False)
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Results per query.")] = 10,
    filter: Annotated[
        str | None, typer.Option("--filter", help='Metadata filter as JSON, e.g. \'{"pos": "n", "year": {"$gte": 2020}}\'.')
    ] = None,
    rerank: Annotated[int | None, typer.Option("--rerank", help="Rerank factor (default: the spec's; 0 disables).")] = None,
    ef: Annotated[int | None, typer.Option("--ef", help="HNSW search beam width (index hnsw).")] = None,
    nprobe: Annotated[int | None, typer.Option("--nprobe", help="IVF lists probed per query (index ivf).")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help='Write {"ids": [[...]], "scores": [[...]]} here.', metavar="FILE")
    ] = None,
    show: Annotated[int, typer.Option("--show", help="Queries printed in the table.")] = 5,
    with_metadata: Annotated[bool, typer.Option("--with-metadata", help="Also print / write each hit's metadata.")] = False,
    dataset: Annotated[str | None, typer.Option("--dataset", help="HDF5 dataset of the queries (default train).")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model of the --queries vectors: mapped if the collection has its map.")
    ] = None,
) -> None:
    """Search the collection PATH with the vectors of --queries."""
    from rich.markup import escape
    from rich.table import Table

    from ..eval import read_vectors
    from ._collection import Collection
    from ._filters import filter_from_json

    flt = filter_from_json(filter)
    _writable_target(json_path, "results")
    if text is not None and model is not None:
        raise ParameterError("--model applies to --queries vectors; a query text is embedded by the collection's encoder")
    if (text is None) == (queries is None):
        raise ParameterError('lowdim search needs either a query text or --queries FILE, e.g. lowdim search ./idx "a query"')
    Q = read_vectors(queries, mmap=False, dataset=dataset) if queries is not None else [text]
    col = Collection.open(path, readonly=True)
    try:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrainedWarning)  # said below in one line of our own
            if text is not None:
                res = col.search_text(text, k, filter=flt, rerank=rerank, ef=ef, nprobe=nprobe, with_metadata=with_metadata)
            else:
                opts: dict[str, Any] = {"rerank": rerank, "ef": ef, "nprobe": nprobe, "with_metadata": with_metadata}
                res = col.search(Q, k, filter=flt, model=model, **opts)
        took = time.perf_counter() - t
    finally:
        col.close()
    if json_path is not None:
        json_path.write_text(json.dumps(res.to_dict()) + "\n", encoding="utf-8")
    con = _console()
    if show > 0:
        table = Table(title=f"{escape(str(path))}: top {k} of {min(show, len(Q))} / {len(Q)} queries", title_justify="left")
        table.add_column("query", justify="right")
        table.add_column("rank", justify="right")
        table.add_column("id")
        table.add_column("score", justify="right")
        if with_metadata:
            table.add_column("metadata")
        ids, scores = res.to_lists()
        for q in range(min(show, len(Q))):
            for r in range(k):
                if ids[q][r] is None:
                    break
                row = [str(q) if r == 0 else "", str(r + 1), escape(str(ids[q][r])), f"{scores[q][r]:.4f}"]
                if with_metadata:
                    row.append(escape(json.dumps(res.metadata[q][r])))  # type: ignore[index]
                table.add_row(*row)
        con.print(table)
    con.print(
        f"{len(Q):,} queries in {took * 1e3:.1f} ms" + (f"; results in {json_path}" if json_path else ""),
        highlight=False,
        soft_wrap=True,
    )
    if res.exact_reason is not None:
        con.print(f"exact search (not trained yet): {res.exact_reason}", highlight=False, soft_wrap=True)


def delete(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    ids: Annotated[list[str] | None, typer.Argument(help="Ids to delete (integers stay integers).", show_default=False)] = None,
    ids_file: Annotated[Path | None, typer.Option("--ids-file", help="Text file with one id per line.")] = None,
) -> None:
    """Delete items of the collection PATH by id."""
    from ._collection import Collection
    from ._records import parse_id, read_ids

    todo = [parse_id(i) for i in (ids or [])]
    if ids_file is not None:
        todo += read_ids(ids_file)
    if not todo:
        raise ParameterError("lowdim delete needs ids: lowdim delete PATH ID [ID ...] or --ids-file FILE")
    col = Collection.open(path)
    try:
        n = col.delete(todo)
        left = len(col)
    finally:
        col.close()
    _console().print(f"deleted {n:,} of {len(todo):,} ids ({left:,} left in {path})", highlight=False, soft_wrap=True)


def info(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print the information as JSON.")] = False,
) -> None:
    """Show the settings, counts and sizes of the collection PATH."""
    from rich.table import Table

    from ._collection import Collection

    col = Collection.open(path, readonly=True)
    try:
        d = col.info()
    finally:
        col.close()
    con = _console()
    if json_out:
        con.print_json(json.dumps(d))
        return
    t = Table(title=str(path), show_header=False, title_justify="left")
    t.add_column("field", style="bold")
    t.add_column("value")
    for key in (
        "dim",
        "metric",
        "spec",
        "model",
        "index",
        "vector_dtype",
        "trained",
        "search_mode",
        "codec_source",
        "codec_rows",
        "code_size",
        "count",
        "deleted",
        "segments",
        "graph_nodes",
        "generation",
    ):
        t.add_row(key, str(d[key]))
    t.add_row("RAM bytes", ", ".join(f"{k} {v:,}" for k, v in d["ram_bytes"].items()))
    t.add_row("disk bytes", ", ".join(f"{k} {v:,}" for k, v in d["disk_bytes"].items()))
    con.print(t)
    _untrained(d)


def check(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report; repair nothing.")] = False,
    drop_damaged: Annotated[
        bool, typer.Option("--drop-damaged", help="Remove segments whose vectors are damaged (their items are lost).")
    ] = False,
) -> None:
    """Verify every file of the collection PATH; repair what can be repaired (exit code 1 if damage remains)."""
    from rich.markup import escape

    from ._check import check_collection

    report = check_collection(path, repair=not dry_run, drop_damaged=drop_damaged)
    con = _console()
    for p in report.problems:
        con.print(f"[yellow]problem:[/] {escape(p)}", highlight=False, soft_wrap=True)
    for r in report.repaired:
        con.print(f"[green]repaired:[/] {escape(r)}", highlight=False, soft_wrap=True)
    for f in report.removed_files:
        con.print(f"removed leftover file {escape(f)}", highlight=False, soft_wrap=True)
    for u in report.unrepairable:
        con.print(f"[red]cannot repair:[/] {escape(u)}", highlight=False, soft_wrap=True)
    if report.ok:
        con.print(f"{escape(str(path))}: ok", highlight=False, soft_wrap=True)
    else:
        con.print(
            f"{escape(str(path))}: damaged"
            + (" (run without --dry-run to repair)" if dry_run and not report.unrepairable else ""),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def compact(path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)]) -> None:
    """Rewrite the segments of the collection PATH without deleted rows."""
    from ._collection import Collection

    col = Collection.open(path)
    try:
        t = time.perf_counter()
        dropped = col.compact()
        took = time.perf_counter() - t
        d = col.info()
    finally:
        col.close()
    _console().print(
        f"compacted {path} in {took:.1f}s: dropped {dropped:,} deleted rows; {d['count']:,} vectors in {d['segments']} segment(s)",
        highlight=False,
        soft_wrap=True,
    )
