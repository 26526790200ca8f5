"""``lowdim plan``: print the Pareto front and the recommendation of :func:`~lowdim.plan.plan`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..exceptions import FileFormatError, ParameterError
from ..validation import check_choice

__all__ = ["register", "pareto_table", "acceptance_line"]


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command to ``app``."""
    app.command("plan", help="Find the smallest compression that meets a recall target on DATA, with the evidence.")(plan_command)


def pareto_table(p) -> Table:
    """A rich table of the plan's Pareto front, with the recommendation and the failing ladder step below it marked."""
    t = Table(
        title=f"Pareto front: recall@{p.k} vs RAM bytes per vector ({len(p.candidates)} points measured)",
        title_justify="left",
    )
    t.add_column("spec")
    t.add_column("RAM B/vec", justify="right")
    t.add_column("vs f32", justify="right")
    t.add_column(f"recall@{p.k}", justify="right")
    t.add_column(f"{p.confidence:.0%} CI", justify="right")
    t.add_column("choose / confirm", justify="right")
    t.add_column("QPS (1 thread)", justify="right")
    t.add_column("disk reads/query", justify="right")
    t.add_column("meets target", justify="center")
    rec, below = p.recommended, p.recommended_below
    rows = list(p.pareto)
    # the recommendation (off the front when chosen for min_qps) and the failing step below it
    for extra in (rec, below):
        if extra is not None and all(c is not extra for c in rows):
            rows.append(extra)
    rows.sort(key=lambda c: (c.ram_bytes_per_vector, c.recall))
    for c in rows:
        lo, hi = c.recall_ci
        if c is rec:
            mark = "[bold green]recommended[/]"
        elif c is below:
            mark = "[red]no: step below[/]"
        else:
            mark = "yes" if c.meets_target else ""
        halves = (
            f"{c.recall_choose:.4f} / {c.recall_confirm:.4f}"
            if c.recall_choose is not None and c.recall_confirm is not None
            else ""
        )
        t.add_row(
            escape(c.spec),
            f"{c.ram_bytes_per_vector:,}",
            f"{4 * p.d / c.ram_bytes_per_vector:.0f}x",
            f"{c.recall:.4f}",
            f"{lo:.4f}-{hi:.4f}",
            halves,
            f"{c.qps_batch:,.0f}",
            f"{c.rerank * p.k}" if c.rerank else "0",
            mark,
        )
    return t


def acceptance_line(p) -> str:
    """How the plan accepts a point, with the recommendation's margin, in one line."""
    choose, confirm = p.query_split
    line = (
        f"acceptance: mean recall@{p.k} >= {p.target_recall:g} on {choose} choosing queries, and >= {p.target_recall:g} "
        f"- margin on the {confirm} confirming ones (margin = {p.margin_z:.3f} x SE of their mean)"
    )
    if p.margin is not None:
        line += f"; the recommendation's margin: {p.margin:.4f}"
    return line


def plan_command(
    data: Annotated[
        Path,
        typer.Argument(
            help="A data-set folder (corpus.npy/corpus.f16.npy/base.npy [+ queries.npy, gt_top100.npy]) or a vector file."
        ),
    ],
    target_recall: Annotated[float, typer.Option("--target-recall", "-t", help="recall@k to reach, in (0, 1].")] = 0.95,
    k: Annotated[int, typer.Option("--k", "-k", help="Neighbours per query.")] = 10,
    queries: Annotated[
        Path | None,
        typer.Option("--queries", "-q", help="Query vectors; without them (and none in DATA) corpus rows are held out."),
    ] = None,
    gt: Annotated[Path | None, typer.Option("--gt", help="Exact neighbour ids of the queries (n_queries, >= k).")] = None,
    max_rerank: Annotated[
        int, typer.Option("--max-rerank", help="Largest rerank factor (each reranked candidate is a disk read).")
    ] = 10,
    max_bytes: Annotated[int | None, typer.Option("--max-bytes", help="Largest RAM bytes per vector.")] = None,
    min_qps: Annotated[float | None, typer.Option("--min-qps", help="Smallest single-thread batch QPS.")] = None,
    metric: Annotated[str, typer.Option("--metric", "-m", help="cosine, ip or l2.")] = "cosine",
    seed: Annotated[int, typer.Option(help="Seed of held-out queries, training sample and codecs.")] = 0,
    sample: Annotated[
        int | None, typer.Option("--sample", help="Plan on a seeded sample of this many corpus rows (large collections).")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the plan as JSON here.", metavar="FILE")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the Pareto plot (PNG) here.", metavar="FILE")] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the plan viewer as one self-contained HTML page here.", metavar="FILE")
    ] = None,
    export: Annotated[
        str | None, typer.Option("--export", help="Print the nearest settings of faiss, qdrant or pgvector.")
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="With --export: build those settings in the real engine on DATA, run the plan's queries, tune the "
            "engine's knobs to the target and report its recall and QPS (needs lowdim[engines]).",
        ),
    ] = False,
    faiss: Annotated[
        bool, typer.Option("--faiss/--no-faiss", help="Also measure FAISS's frontier on the same data (side by side).")
    ] = True,
    index: Annotated[
        str | None,
        typer.Option("--index", help="ivf: also recommend IVF lists and the fewest to probe per query (sub-linear search)."),
    ] = None,
    nlist: Annotated[int | None, typer.Option("--nlist", help="IVF lists (with --index ivf; default ~4 sqrt(rows)).")] = None,
    max_ms: Annotated[float | None, typer.Option("--max-ms", help="Latency budget per query (with --index).")] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Measure the coarse sweep in parallel Ray tasks: 'local', 'auto' or 'ray://host:10001'."),
    ] = None,
) -> None:
    """Measure candidate specs on DATA and recommend the fewest RAM bytes per vector that meet the target."""
    from . import ENGINES, plan, plot_plan

    if address is not None:
        # the command line may use every part; the plan part itself never imports lowdim.distributed
        from functools import partial

        from ..distributed import plan as plan_on_ray

        plan = partial(plan_on_ray, ray_address=address)

    if export is not None:
        check_choice(export, ENGINES, "export", owner="lowdim plan")
    if verify and export is None:
        raise ParameterError("--verify needs --export faiss|qdrant|pgvector: the engine to build the settings in")
    for target in (json_path, plot, html):
        if target is not None and not target.parent.is_dir():
            raise FileFormatError(f"cannot write {target}: folder {target.parent} does not exist")
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)  # a log file gets the whole table
    p = plan(
        data,
        target_recall=target_recall,
        k=k,
        queries=queries,
        gt=gt,
        max_rerank=max_rerank,
        max_bytes=max_bytes,
        min_qps=min_qps,
        metric=metric,
        seed=seed,
        sample=sample,
        progress=Console(stderr=True).is_terminal,
        faiss=faiss,
        verify=export if verify else None,
        index=index,
        nlist=nlist,
        max_ms=max_ms,
    )
    out.print(
        f"[bold]plan[/] for {escape(str(data))}: {p.n:,} x {p.d}, metric {p.metric}, "
        f"target recall@{p.k} {p.target_recall:g}, max rerank {p.max_rerank}",
        highlight=False,
    )
    for note in p.notes:
        out.print(f"[dim]{escape(note)}[/]", highlight=False)
    out.print(pareto_table(p))
    for w in p.warnings:
        out.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    if json_path is not None:
        p.write_json(json_path)
        codec_note = f" (and the measured codec: {json_path.name.removesuffix('.json')}.codec.npz)" if p.codec is not None else ""
        out.print(f"plan JSON: {escape(str(json_path))}{escape(codec_note)}", highlight=False)
    if plot is not None:
        plot_plan(p, plot)
        out.print(f"Pareto plot: {escape(str(plot))}", highlight=False)
    if html is not None:
        from ..server import plan_html  # the same view /ui/plan shows, with its assets inline

        html.write_text(plan_html(p.to_dict(), title=f"lowdim plan: {data.name}"), encoding="utf-8")
        out.print(f"plan page: {escape(str(html))}", highlight=False)
    out.print(escape(acceptance_line(p)), highlight=False)
    rec = p.require_feasible()  # infeasible: one-line error with the best achievable (exit code 2)
    out.print(f"[bold green]recommended:[/] {escape(p.summary())}", highlight=False)
    side = p.faiss_summary()
    if side is not None:
        out.print(f"[bold]FAISS, same data and queries:[/] {escape(side)}", highlight=False)
    below = p.below_summary()
    if below is not None:
        out.print(f"[red]step below:[/] {escape(below)}", highlight=False)
    else:
        out.print("[dim]step below: none (the recommendation is the smallest step of its ladder)[/]", highlight=False)
    if p.index is not None:
        out.print(f"[bold]index:[/] {escape(p.index.summary())}", highlight=False)
        for note in p.index.notes:
            out.print(f"[dim]{escape(note)}[/]", highlight=False)
    # with the JSON, a collection adopts the very codec measured here (no refit); without it, only the spec
    spec = p.index.spec if p.index is not None else rec.spec
    how = f"lowdim create PATH --plan {json_path}" if json_path is not None else f"lowdim create PATH --spec '{spec}'"
    out.print(f"[dim]use it: {escape(how)}[/]", highlight=False)
    if export is not None:
        out.print(f"\n[bold]{export}[/] nearest settings:", highlight=False)
        out.print(escape(p.export(export)), highlight=False, soft_wrap=True)
    if p.verified is not None:
        out.print(f"\n[bold]verified on {export}:[/] {escape(p.verified.summary())}", highlight=False)
        out.print(escape(p.verified.settings), highlight=False, soft_wrap=True)
        for note in p.verified.notes:
            out.print(f"[dim]{escape(note)}[/]", highlight=False)
