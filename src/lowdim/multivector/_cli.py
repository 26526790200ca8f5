"""``lowdim multivector create | add | search | info``: a thin layer over :class:`MultiVectorCollection`.

Token sets come as two ``.npy`` files (rows (N, d) float16/32 and offsets (n + 1,) int), or,
for search queries, a JSON file holding a list of token sets (each a list of lists of numbers).
Every bad input raises one of lowdim's errors, printed as one line by ``lowdim.cli.main``.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .._progress import say as _say
from ..exceptions import FileFormatError, ParameterError, UntrainedWarning

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``multivector`` command group to ``app``."""
    group = typer.Typer(help="Multi-vector (token set) collections: MUVERA first stage, exact Chamfer rerank from disk.")
    group.command("create", help="Create an empty multi-vector collection folder.")(create)
    group.command("add", help="Add documents' token sets (rows .npy + offsets .npy) with optional JSONL metadata.")(add)
    group.command("search", help="Search with query token sets (rows .npy + offsets .npy, or a JSON list of token sets).")(search)
    group.command("info", help="Show a multi-vector collection's settings, counts and sizes.")(info)
    group.command("plan", help="Choose FDE setting, spec, pooled weight and candidates for a Chamfer recall target.")(plan)
    app.add_typer(group, name="multivector")


def _load_npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise FileFormatError(f"{what} file {path} does not exist")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"cannot read {what} file {path} as .npy: {exc}") from None


def _read_json_sets(path: Path) -> list[Any]:
    if not path.is_file():
        raise FileFormatError(f"queries file {path} does not exist")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FileFormatError(f"{path} is not JSON: {exc}") from None
    if not isinstance(value, list) or not value or not all(isinstance(s, list) for s in value):
        raise FileFormatError(f"{path} must hold a non-empty list of token sets, each a list of lists of numbers")
    try:
        return [np.asarray(s, dtype=np.float32) for s in value]
    except (ValueError, TypeError) as exc:
        raise FileFormatError(f"{path}: a token set is not a list of equal-length lists of numbers ({exc})") from None


def _read_jsonl(path: Path) -> list[dict | None]:
    """One JSON object (or null) per line, line i for document i; a bad line is a one-line error naming it."""
    from ..eval import iter_jsonl

    if not path.is_file():
        raise FileFormatError(f"metadata file {path} does not exist")
    blank = "expected one JSON object (or null) per document"
    return [value for _, value in iter_jsonl(path, blank=blank, allow_null=True)]


def create(
    path: Annotated[Path, typer.Argument(help="New folder for the collection.", show_default=False)],
    dim: Annotated[int | None, typer.Option("--dim", help="Token width (optional with --plan).", show_default=False)] = None,
    spec: Annotated[str | None, typer.Option("--spec", help="Spec of the first-stage vector (default pca512/int8).")] = None,
    k_sim: Annotated[int | None, typer.Option("--k-sim", help="FDE SimHash bits per repetition (default 3).")] = None,
    d_proj: Annotated[
        int | None, typer.Option("--d-proj", help="FDE projection width per bucket (default min(32, dim)).")
    ] = None,
    reps: Annotated[int | None, typer.Option("--reps", help="FDE repetitions (default 20).")] = None,
    fill_empty: Annotated[bool, typer.Option("--fill-empty", help="FDE: fill empty document buckets.")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the FDE draws (default 0).")] = None,
    pooled_weight: Annotated[
        float | None, typer.Option("--pooled-weight", help="Weight w of the pooled vector (w**2 times its cosine; 0: none).")
    ] = None,
    candidates: Annotated[int | None, typer.Option("--candidates", help="Documents reranked per query by default.")] = None,
    train_size: Annotated[int | None, typer.Option("--train-size", help="Fit the codec on at most N documents.")] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="A plan JSON (lowdim multivector plan --json): its recommended settings.")
    ] = None,
) -> None:
    """Create an empty multi-vector collection at PATH."""
    from ._collection import MultiVectorCollection, default_fde

    if plan is not None:
        given = {"--k-sim": k_sim, "--d-proj": d_proj, "--reps": reps, "--seed": seed, "--fill-empty": fill_empty or None}
        if clash := [name for name, v in given.items() if v is not None]:
            raise ParameterError(f"--plan gives the FDE settings; drop {', '.join(clash)}")
        fde = None
    else:
        if dim is None:
            raise ParameterError("create needs --dim (the token width) or --plan")
        fde = default_fde(max(int(dim), 1), k_sim=k_sim, d_proj=d_proj, reps=reps, fill_empty=fill_empty, seed=seed)
    col = MultiVectorCollection.create(
        path,
        dim=dim,
        spec=spec,
        fde=fde,
        pooled_weight=pooled_weight,
        candidates=candidates,
        train_size=train_size,
        plan=plan,
    )
    d = col.info()
    col.close()
    _say(
        f"created {path}: dim {d['dim']}, FDE {d['fde_dim']}-d, pooled weight {d['pooled_weight']}, "
        f"spec {d['spec']} ({d['ram_bytes_per_document']} B per document in RAM), {d['candidates']} candidates"
    )


def add(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    rows: Annotated[Path, typer.Argument(help="Token rows (N, dim) .npy.", show_default=False)],
    offsets: Annotated[Path, typer.Argument(help="Offsets (n + 1,) .npy: document i is rows[o[i]:o[i+1]].", show_default=False)],
    metadata: Annotated[Path | None, typer.Option("--metadata", help="JSONL: line i holds document i's metadata.")] = None,
    ids: Annotated[Path | None, typer.Option("--ids", help="Text file with one id per line.")] = None,
) -> None:
    """Add the documents of ROWS + OFFSETS to the collection PATH (without ids: 0, 1, 2, ...)."""
    from ..store import read_ids
    from ._collection import MultiVectorCollection

    sets = (_load_npy(rows, "token rows"), np.asarray(_load_npy(offsets, "offsets")))
    the_ids = read_ids(ids) if ids is not None else None
    meta = _read_jsonl(metadata) if metadata is not None else None
    with MultiVectorCollection.open(path) as col:
        t = time.perf_counter()
        got = col.add(sets, the_ids, meta)
        took = time.perf_counter() - t
        count = len(col)
    _say(f"added {len(got):,} documents to {path} in {took:.1f}s ({count:,} in the collection)")


def search(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    queries: Annotated[
        Path, typer.Argument(help="Query token rows .npy (with --offsets) or a JSON list of token sets.", show_default=False)
    ],
    offsets: Annotated[Path | None, typer.Option("--offsets", help="Offsets .npy of the query rows.")] = None,
    k: Annotated[int, typer.Option("--k", help="Results per query.")] = 10,
    candidates: Annotated[int | None, typer.Option("--candidates", help="Documents reranked per query.")] = None,
    filter: Annotated[str | None, typer.Option("--filter", help="Metadata filter as JSON.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.", metavar="FILE")] = None,
    show: Annotated[int, typer.Option("--show", help="Queries printed.")] = 5,
) -> None:
    """Search the collection PATH with query token sets; print the top k (exact Chamfer scores)."""
    from ..store import filter_from_json
    from ._collection import MultiVectorCollection

    flt = filter_from_json(filter)
    if json_path is not None and not json_path.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write results {json_path}: folder {json_path.absolute().parent} does not exist")
    if queries.suffix.lower() == ".json":
        if offsets is not None:
            raise ParameterError("--offsets goes with .npy query rows, not with a JSON file of token sets")
        sets: Any = _read_json_sets(queries)
    else:
        if offsets is None:
            raise ParameterError("query rows .npy need --offsets FILE.npy (or give a .json list of token sets)")
        sets = (np.asarray(_load_npy(queries, "query rows")), np.asarray(_load_npy(offsets, "offsets")))
    with MultiVectorCollection.open(path, readonly=True) as col:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrainedWarning)
            res = col.search(sets, k, candidates=candidates, filter=flt)
        took = time.perf_counter() - t
    if json_path is not None:
        json_path.write_text(json.dumps(res.to_dict()) + "\n", encoding="utf-8")
    ids, scores = res.to_lists()
    for i in range(min(show, len(ids))):
        hits = ", ".join(f"{u} ({s:.3f})" for u, s in zip(ids[i], scores[i]) if u is not None)
        _say(f"query {i}: {hits}")
    _say(f"{len(ids)} queries in {took:.2f}s")


def info(path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)]) -> None:
    """Print the settings, counts and sizes of the multi-vector collection PATH as JSON."""
    from ._collection import MultiVectorCollection

    with MultiVectorCollection.open(path, readonly=True) as col:
        d = col.info()
    _say(json.dumps(d, indent=1, default=str))


def _parse_fde(text: str) -> dict[str, Any]:
    """``"K,P,R"`` or ``"K,P,R,fill"`` -> FDE parameters."""
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "fill"):
            raise ValueError
        return {"k_sim": int(parts[0]), "d_proj": int(parts[1]), "reps": int(parts[2]), "fill_empty": len(parts) == 4}
    except ValueError:
        raise ParameterError(f"--fde {text!r}: expected K_SIM,D_PROJ,REPS or K_SIM,D_PROJ,REPS,fill (e.g. 3,32,20)") from None


def plan(
    rows: Annotated[Path, typer.Argument(help="Document token rows (N, d) .npy.", show_default=False)],
    offsets: Annotated[Path, typer.Argument(help="Offsets (n + 1,) .npy of the documents.", show_default=False)],
    queries: Annotated[
        Path | None, typer.Option("--queries", help="Query token rows .npy (default: 200 sampled documents).")
    ] = None,
    query_offsets: Annotated[Path | None, typer.Option("--query-offsets", help="Offsets .npy of the query rows.")] = None,
    target: Annotated[float, typer.Option("--target", "-t", help="Chamfer recall@k after the exact rerank.")] = 0.95,
    k: Annotated[int, typer.Option("--k", help="k of recall@k.")] = 10,
    max_candidates: Annotated[int, typer.Option("--max-candidates", help="Most documents reranked per query.")] = 150,
    spec: Annotated[list[str] | None, typer.Option("--spec", help="A first-stage spec to try (repeat; default ladder).")] = None,
    weight: Annotated[list[float] | None, typer.Option("--weight", help="A pooled weight to try (repeat).")] = None,
    fde: Annotated[list[str] | None, typer.Option("--fde", help="An FDE setting K,P,R[,fill] to try (repeat).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the query sample and the halves.")] = 0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the plan as JSON here.", metavar="FILE")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="A progress bar on stderr.")] = False,
) -> None:
    """Measure FDE settings x specs x pooled weights on ROWS + OFFSETS and recommend the fewest bytes per document."""
    from rich.console import Console
    from rich.table import Table

    from ._plan import DEFAULT_FDE_SETTINGS, DEFAULT_SPECS, DEFAULT_WEIGHTS, plan_multivector

    if (queries is None) != (query_offsets is None):
        raise ParameterError("--queries and --query-offsets go together (query rows .npy and their offsets .npy)")
    if json_path is not None and not json_path.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write plan {json_path}: folder {json_path.absolute().parent} does not exist")
    docs = (_load_npy(rows, "token rows"), np.asarray(_load_npy(offsets, "offsets")))
    qs = None
    if queries is not None and query_offsets is not None:
        qs = (np.asarray(_load_npy(queries, "query rows")), np.asarray(_load_npy(query_offsets, "query offsets")))
    p = plan_multivector(
        docs,
        qs,
        target=target,
        k=k,
        max_candidates=max_candidates,
        specs=spec or DEFAULT_SPECS,
        weights=weight or DEFAULT_WEIGHTS,
        fde_settings=[_parse_fde(f) for f in fde] if fde else DEFAULT_FDE_SETTINGS,
        seed=seed,
        progress=progress,
    )
    if json_path is not None:
        p.save(json_path)
    table = Table(
        title=f"Chamfer recall@{p.k} >= {p.target:g} within {p.max_candidates} candidates "
        f"({p.n_documents:,} documents, {p.n_queries} queries: {p.queries_source}; {p.seconds:.1f} s)"
    )
    heads = ("FDE", "spec", "w", "B/doc", "cands", "R choose", "R confirm", f"R@{p.max_candidates}", "QPS 1st")
    for col in heads:
        table.add_column(col, justify="left" if col in ("FDE", "spec") else "right", no_wrap=col != "spec")

    def cand(c: int | None) -> str:
        return f">{p.max_candidates}" if c is None else str(c)

    for i in sorted(range(len(p.points)), key=lambda i: (p.points[i].bytes_per_document, i)):
        pt = p.points[i]
        fde_name, spec_name, _ = pt.name.split(" ")
        mark = " [bold]*[/bold]" if i == p.recommended_index else (" f" if i in p.front else "")
        row = [pt.bytes_per_document, cand(pt.candidates), pt.recall_choose, pt.recall_confirm, pt.recall_at_max, pt.qps]
        table.add_row(fde_name, spec_name + mark, f"{pt.pooled_weight:g}", *_cells(row))
    for b in p.baselines:
        row = [b.bytes_per_document, cand(b.candidates), b.recall_choose, b.recall_confirm, b.recall_at_max, b.qps]
        table.add_row("-", f"[dim]{b.name}[/dim]", "-", *_cells(row))
    console = Console()
    if not console.is_terminal:  # a file or a pipe: whole rows, not wrapped at 80 columns
        console = Console(width=140)
    console.print(table)
    for x in p.skipped:
        _say(f"skipped {x['setting']}: {x['why']}")
    rec = p.require_feasible()  # infeasible: one line naming the best reached, exit code 1
    _say(
        f"recommended: {rec.name}: {rec.bytes_per_document} B per document in RAM, {rec.candidates} candidates "
        f"(rerank recall@{p.k} {p.rerank_recall:.3f} on all queries); * recommended, f Pareto front (bytes, candidates)"
    )
    if json_path is not None:
        _say(f"wrote {json_path}; lowdim multivector create PATH --plan {json_path}")


def _cells(row: list[Any]) -> list[str]:
    """Bytes, candidates, three recalls, QPS as table cells."""
    size, cands, *recalls, qps = row
    return [f"{size:,.0f}", str(cands), *(f"{r:.3f}" for r in recalls), f"{qps:,.0f}"]
