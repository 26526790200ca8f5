"""``lowdim bench`` and (until the text demo exists) ``lowdim demo``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer
from rich.console import Console

DEFAULT_SPECS = "f32,f16,int8,int4,binary+rerank10,hamming+rerank10,rbq2+rerank4,pca128/int8,pq48x8+rerank4"


def _split_specs(specs: str) -> list[str]:
    return [s.strip() for s in specs.split(",") if s.strip()]


def bundled_sample() -> Path:
    """Folder of the real 5,000-vector WordNet sample shipped inside the package."""
    return Path(str(resources.files("lowdim") / "data" / "wordnet5k"))


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
        specs: str = typer.Option(DEFAULT_SPECS, "--specs", "-s", help="Comma-separated spec strings."),
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

    @app.command()
    def demo(
        out: Path = typer.Option(
            Path("lowdim-demo"), "--out", "-o", help="Folder for the collection, report.json, plan.json and pareto.png."
        ),
        target_recall: float = typer.Option(0.95, "--target-recall", help="recall@10 the planned spec must keep."),
        bench: bool = typer.Option(False, "--bench", help="Instead: bench the bundled 5,000-vector sample next to FAISS."),
    ) -> None:
        """Embed the bundled WordNet glosses offline, diagnose, plan, build a collection, search, report."""
        if bench:
            from ..eval import load_dataset

            out.mkdir(parents=True, exist_ok=True)
            ds = load_dataset(bundled_sample())
            ds.name = "wordnet5k (bundled)"
            _run(ds, DEFAULT_SPECS, 10, "cosine", out / "bench.json", out / "bench.png", True, 200, 100_000)
            return
        from .._demo import run_demo

        if not 0 < target_recall <= 1:
            from ..exceptions import ParameterError

            raise ParameterError(f"--target-recall must be in (0, 1]. Got {target_recall}.")
        run_demo(out, target_recall=target_recall)
