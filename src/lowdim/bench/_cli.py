"""``lowdim bench``: measure specs on a data set next to FAISS's equivalents."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ._runner import DEFAULT_SPECS


def _split_specs(specs: str) -> list[str]:
    return [s.strip() for s in specs.split(",") if s.strip()]


def _split_ints(text: str | None, option: str) -> list[int] | None:
    """``"32,64,128"`` -> [32, 64, 128]; a piece that is not an integer is a one-line error."""
    if text is None:
        return None
    from ..exceptions import ParameterError

    out = []
    for piece in _split_specs(text):
        try:
            out.append(int(piece))
        except ValueError:
            raise ParameterError(f"{option} takes comma-separated integers such as '64,128'; got '{piece}' in '{text}'") from None
    return out


def _run(
    data,
    specs: str,
    k: int,
    metric: str,
    json_out: Path | None,
    plot: Path | None,
    faiss: bool,
    n_single: int,
    train_size: int,
    nprobe: list[int] | None = None,
    ef: list[int] | None = None,
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
        nprobe=nprobe,
        ef=ef,
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
        nprobe: str | None = typer.Option(
            None,
            "--nprobe",
            help="Comma-separated lists probed by ivf<nlist>/ specs, one result row each (default 16,64).",
        ),
        ef: str | None = typer.Option(
            None, "--ef", help="Comma-separated beam widths of hnsw<M>/ specs, one result row each (default 32,64)."
        ),
    ) -> None:
        """Measure recall, bytes, encode speed and QPS of each spec, next to FAISS."""
        from ..eval import load_dataset
        from ..validation import check_metric

        check_metric(metric)
        nprobes, efs = _split_ints(nprobe, "--nprobe"), _split_ints(ef, "--ef")
        ds = load_dataset(data, queries=queries, gt=gt, qrels=qrels)
        _run(ds, specs, k, metric, json_out, plot, faiss, n_single, train_size, nprobes, efs)
