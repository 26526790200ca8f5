"""``lowdim create | add | search | delete | info | check | compact``: a thin layer over :class:`Collection`.

Every bad input raises one of lowdim's errors, which ``lowdim.cli.main`` prints as
one line (exit code 2).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..exceptions import FileFormatError, ParameterError, ValidationError

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


def _parse_id(text: str) -> int | str:
    """An id typed on the command line or read from a file: integers become ints."""
    t = text.strip()
    if t.lstrip("-").isdigit():
        return int(t)
    return t


def _read_ids_file(path: Path) -> list[int | str]:
    if not path.is_file():
        raise FileFormatError(f"ids file {path} does not exist")
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            raise ValidationError(f"{path.name} line {i} is empty; expected one id per line")
        out.append(_parse_id(line))
    return out


def _read_jsonl(path: Path) -> list[dict | None]:
    from ..eval._readers import iter_jsonl

    if not path.is_file():
        raise FileFormatError(f"metadata file {path} does not exist")
    blank = "expected one JSON object per vector (use {} for none)"
    return [value for _, value in iter_jsonl(path, blank=blank, allow_null=True)]


def _spec_from_plan(path: Path) -> tuple[str, dict[str, Any]]:
    """The recommended spec of a planner JSON file, and the whole document."""
    if not path.is_file():
        raise FileFormatError(f"plan file {path} does not exist")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"plan file {path} is not valid JSON ({exc})") from None
    rec = doc.get("recommended") if isinstance(doc, dict) else None
    if isinstance(doc, dict) and "recommended" in doc and rec is None:
        raise FileFormatError(
            f"plan file {path} recommends no spec (no candidate met its targets); choose one with --spec instead"
        )
    spec = rec.get("spec") if isinstance(rec, dict) else None
    if not isinstance(spec, str) or not spec.strip():
        raise FileFormatError(
            f'plan file {path} has no recommended spec; expected {{"recommended": {{"spec": "..."}}, ...}} as written by the planner'
        )
    return spec, doc


def _plan_value(doc: dict[str, Any], *names: str) -> Any:
    for where in (doc, doc.get("recommended") or {}):
        for name in names:
            if isinstance(where, dict) and name in where:
                return where[name]
    return None


def _writable_target(path: Path | None, what: str) -> None:
    if path is not None and not path.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write {what} {path}: folder {path.absolute().parent} does not exist")


# ----------------------------------------------------------------------------- commands


def create(
    path: Annotated[Path, typer.Argument(help="New folder for the collection.", show_default=False)],
    dim: Annotated[int | None, typer.Option("--dim", help="Width of the vectors.")] = None,
    spec: Annotated[str | None, typer.Option("--spec", help="Compression spec, e.g. int8+rerank4 (default).")] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help='Take the spec from a planner JSON file ({"recommended": {"spec": ...}}).')
    ] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="cosine (default), ip or l2.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Name of the embedding model the vectors come from.")] = None,
    train_size: Annotated[int, typer.Option("--train-size", help="Fit the codec on the first N vectors added.")] = 20_000,
    index: Annotated[str, typer.Option("--index", help="flat (exact scan of the codes) or hnsw (graph).")] = "flat",
    vector_dtype: Annotated[
        str, typer.Option("--vector-dtype", help="Full vectors on disk: float32 (exact rerank) or float16 (half the disk).")
    ] = "float32",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the codec fit.")] = 0,
    hnsw_m: Annotated[int, typer.Option("--hnsw-m", help="HNSW links per node.")] = 32,
    ef_construction: Annotated[int, typer.Option("--ef-construction", help="HNSW build beam width.")] = 40,
    ef_search: Annotated[int, typer.Option("--ef-search", help="HNSW default search beam width.")] = 64,
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

    doc: dict[str, Any] = {}
    if spec is not None and plan is not None:
        raise ParameterError("give either --spec or --plan, not both")
    if plan is not None:
        spec, doc = _spec_from_plan(plan)
        if dim is None and isinstance(_plan_value(doc, "dim", "d", "n_features"), int):
            dim = _plan_value(doc, "dim", "d", "n_features")
        if metric is None and isinstance(_plan_value(doc, "metric"), str):
            metric = _plan_value(doc, "metric")
    if dim is None and encoder is None:
        raise ParameterError("lowdim create needs --dim, the width of the vectors (e.g. --dim 384), or --encoder for texts")
    col = Collection.create(
        path,
        dim=dim,
        spec=spec or "int8+rerank4",
        metric=metric or "cosine",
        model=model,
        train_size=train_size,
        index=index,
        vector_dtype=vector_dtype,
        random_state=seed,
        hnsw_m=hnsw_m,
        ef_construction=ef_construction,
        ef_search=ef_search,
        encoder=encoder,
    )
    s = col.settings
    col.close()
    _console().print(
        f"created {path}: dim {s.dim}, spec {s.spec}, metric {s.metric}, index {s.index}"
        + (f", model {s.model}" if s.model else ""),
        highlight=False,
        soft_wrap=True,
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
    from ..eval import read_vectors
    from ..validation import check_positive_int
    from ._collection import Collection

    batch_size = check_positive_int(batch_size, "batch_size", owner="lowdim add")
    if ids is not None and id_field is not None:
        raise ParameterError("give either --ids or --id-field, not both")
    if texts is not None and metadata is None and texts.suffix == ".jsonl":
        metadata = texts  # each text's JSON object is its metadata (filterable, shown with --with-metadata)
    if id_field is not None and metadata is None:
        raise ParameterError("--id-field needs --metadata (the JSONL file that holds the field)")
    if (vectors is None) == (texts is None):
        raise ParameterError("lowdim add needs either a VECTORS file or --texts FILE (not both)")
    col = Collection.open(path)
    try:
        if texts is not None:
            from ..encoders import read_texts

            text_list = read_texts(texts, field=field)
            # embedding is the slow part: show it, then store in the same durable batches as vectors
            X = col.encoder.encode(text_list, progress=True)
            model = model or col.encoder.name
            vectors = texts
        else:
            X = read_vectors(vectors, mmap=True, dataset=dataset, column=column)
        n = len(X)
        meta = _read_jsonl(metadata) if metadata is not None else None
        if meta is not None and len(meta) != n:
            raise ValidationError(
                f"{metadata.name} has {len(meta)} line(s), but {vectors.name} holds {n} vectors; expected one JSON object per vector"  # type: ignore[union-attr]
            )
        id_list: list | None = None
        if ids is not None:
            id_list = _read_ids_file(ids)
            if len(id_list) != n:
                raise ValidationError(
                    f"{ids.name} has {len(id_list)} id(s), but {vectors.name} holds {n} vectors; expected one id per vector"
                )
        elif id_field is not None:
            id_list = []
            for i, m in enumerate(meta or []):
                if not isinstance(m, dict) or id_field not in m:
                    raise ValidationError(f"{metadata.name} line {i + 1} has no field '{id_field}'")  # type: ignore[union-attr]
                id_list.append(m[id_field])
        t = time.perf_counter()
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            col.add(
                X[start:stop],
                ids=id_list[start:stop] if id_list is not None else None,
                metadata=meta[start:stop] if meta is not None else None,
                model=model,
            )
        took = time.perf_counter() - t
        count = len(col)
    finally:
        col.close()
    _console().print(
        f"added {n:,} vectors to {path} in {took:.1f}s ({count:,} in the collection)", highlight=False, soft_wrap=True
    )


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
    json_path: Annotated[
        Path | None, typer.Option("--json", help='Write {"ids": [[...]], "scores": [[...]]} here.', metavar="FILE")
    ] = None,
    show: Annotated[int, typer.Option("--show", help="Queries printed in the table.")] = 5,
    with_metadata: Annotated[bool, typer.Option("--with-metadata", help="Also print / write each hit's metadata.")] = False,
    dataset: Annotated[str | None, typer.Option("--dataset", help="HDF5 dataset of the queries (default train).")] = None,
) -> None:
    """Search the collection PATH with the vectors of --queries."""
    from rich.markup import escape
    from rich.table import Table

    from ..eval import read_vectors
    from ._collection import Collection

    flt = None
    if filter is not None:
        try:
            flt = json.loads(filter)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"--filter is not valid JSON ({exc.msg} at character {exc.pos}): {filter}") from None
    _writable_target(json_path, "results")
    if (text is None) == (queries is None):
        raise ParameterError('lowdim search needs either a query text or --queries FILE, e.g. lowdim search ./idx "a query"')
    Q = read_vectors(queries, mmap=False, dataset=dataset) if queries is not None else [text]
    col = Collection.open(path, readonly=True)
    try:
        t = time.perf_counter()
        if text is not None:
            res = col.search_text(text, k, filter=flt, rerank=rerank, ef=ef, with_metadata=with_metadata)
        else:
            res = col.search(Q, k, filter=flt, rerank=rerank, ef=ef, with_metadata=with_metadata)
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


def delete(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    ids: Annotated[list[str] | None, typer.Argument(help="Ids to delete (integers stay integers).", show_default=False)] = None,
    ids_file: Annotated[Path | None, typer.Option("--ids-file", help="Text file with one id per line.")] = None,
) -> None:
    """Delete items of the collection PATH by id."""
    from ._collection import Collection

    todo = [_parse_id(i) for i in (ids or [])]
    if ids_file is not None:
        todo += _read_ids_file(ids_file)
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
