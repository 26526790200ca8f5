"""``lowdim bench``: measure specs on a data set next to FAISS's equivalents."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ._runner import DEFAULT_SPECS


def _split_specs(specs: str) -> list[str]:
    return [s.strip() for s in specs.split(",") if s.strip()]


def _run(
    data, specs: str, k: int, metric: str, json_out: Path | None, plot: Path | None, faiss: bool, n_single: int, train_size: int
) -> None:
    from . import bench_table, plot_tradeoff, run_bench

    console = Console()
    if not console.is_terminal:
        console = Console(width=170)  # a log file gets the whole table, not an 80-column squeeze
    report = run_bench(
        data,
        _split_specs(specs),
        k=k,
        metric=metric,
        with_faiss=faiss,
        n_single=n_single,
        train_size=train_size,
        progress=console.is_terminal,
    )
    console.print(bench_table(report))
    if json_out is not None:
        report.write_json(json_out)
        console.print(f"wrote {json_out}")
    if plot is not None:
        plot_tradeoff(report.results, plot, k=k, title=f"{report.dataset}: recall@{k} vs. RAM bytes per vector")
        console.print(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        data: Path = typer.Argument(
            ...,
            help="Folder with corpus.npy/corpus.f16.npy/base.npy + queries.npy (+ gt_top100.npy), or one .npy/.fvecs/.hdf5/.parquet file.",
        ),
        queries: Path | None = typer.Option(None, "--queries", "-q", help="Query vectors file (overrides the folder's)."),
        qrels: Path | None = typer.Option(None, "--qrels", help="queries.jsonl with relevant_doc_ids, for nDCG@10."),
        gt: Path | None = typer.Option(
            None, "--gt", help="Exact neighbour ids (n_queries, >=k); computed in blocks when absent."
        ),
        specs: str = typer.Option(",".join(DEFAULT_SPECS), "--specs", "-s", help="Comma-separated spec strings."),
        k: int = typer.Option(10, "--k", "-k", help="recall@k against exact top-k."),
        metric: str = typer.Option("cosine", "--metric", "-m", help="cosine, ip or l2."),
        json_out: Path | None = typer.Option(None, "--json", help="Write results as JSON here."),
        plot: Path | None = typer.Option(None, "--plot", help="Write the recall/bytes plot (PNG) here."),
        faiss: bool = typer.Option(True, "--faiss/--no-faiss", help="Run FAISS's equivalents in the same run."),
        n_single: int = typer.Option(200, "--single-queries", help="Queries timed one at a time."),
        train_size: int = typer.Option(100_000, "--train-size", help="Rows sampled to train codecs (same for FAISS)."),
    ) -> None:
        """Measure recall, bytes, encode speed and QPS of each spec, next to FAISS."""
        from ..eval import load_dataset
        from ..validation import check_metric

        check_metric(metric)
        ds = load_dataset(data, queries=queries, gt=gt, qrels=qrels)
        _run(ds, specs, k, metric, json_out, plot, faiss, n_single, train_size)
