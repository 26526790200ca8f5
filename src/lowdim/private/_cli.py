"""``lowdim private build | query | info``: a thin layer over :class:`~lowdim.private.PrivateSummary`.

Every bad input raises one of lowdim's errors, which ``lowdim.cli.main`` prints as one line (exit code 2).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from .._progress import say as _say
from ..exceptions import FileFormatError, ParameterError

__all__ = ["register"]

private_app = typer.Typer(
    name="private",
    help="Differentially private similarity summaries: release once, answer sums of a distance or kernel for any query.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``private`` command group to ``app``."""
    app.add_typer(private_app, name="private")


def _esc(value: Any) -> str:
    from rich.markup import escape

    return escape(str(value))


def _read(path: Path, name: str) -> Any:
    from ..eval import read_vectors  # lazily: the CLI starts without eval's imports
    from ..validation import check_embeddings

    if not path.is_file():
        raise FileFormatError(f"{path}: no such file (expected a vector file: .npy, .fvecs, .hdf5, .parquet)")
    return check_embeddings(read_vectors(path, mmap=True), name=name)


def _budget_arg(text: str) -> tuple[float, float]:
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise ParameterError(f"--budget takes EPSILON or EPSILON,DELTA (e.g. 3 or 3,1e-5). Got {text!r}.")
    return parts[0], (parts[1] if len(parts) == 2 else 0.0)


@private_app.command("build", help="Release a private summary of the rows of DATA (the rows are not kept).")
def build(
    data: Annotated[Path, typer.Argument(help="A vector file (.npy, .fvecs, .hdf5, .parquet) of the private rows.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the summary (.npz).")],
    f: Annotated[
        str, typer.Option("--f", help="l1, l2, sqeuclidean, linear, gaussian, exponential, cauchy or laplacian.")
    ] = "gaussian",
    epsilon: Annotated[float | None, typer.Option(help="Privacy budget (> 0; smaller is more private).")] = None,
    delta: Annotated[float, typer.Option(help="0: pure DP (Laplace noise); a small delta such as 1e-5: Gaussian noise.")] = 0.0,
    bound: Annotated[
        float | None,
        typer.Option(help="Public clip bound: largest |coordinate| for l1, largest L2 norm otherwise (1 for unit vectors)."),
    ] = None,
    bandwidth: Annotated[float | None, typer.Option(help="Kernel bandwidth sigma (kernels only).")] = None,
    components: Annotated[int | None, typer.Option(help="Random features (kernels) or rotated coordinates (l2).")] = None,
    depth: Annotated[int | None, typer.Option(help="Levels of the l1 trees (l1, l2; default 10).")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the public random draws (the noise always uses fresh entropy).")
    ] = None,
    ledger: Annotated[
        Path | None, typer.Option(help="Privacy ledger (JSON) of the data set: charged by this release, refused if over budget.")
    ] = None,
    budget: Annotated[str | None, typer.Option(help="Total budget EPSILON[,DELTA] of a new --ledger.")] = None,
) -> None:
    """Release a summary and print its privacy record."""
    from ..private import BandwidthWarning, PrivacyBudget, PrivateSummary

    if epsilon is None:
        raise ParameterError("--epsilon is required: the privacy budget of this release (> 0; e.g. 1)")
    if not output.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write {output}: folder {output.absolute().parent} does not exist")
    plan: PrivacyBudget | None = None
    if ledger is not None:
        if ledger.exists():
            if budget is not None:
                raise ParameterError(f"ledger {ledger} already holds its budget; leave out --budget")
            plan = PrivacyBudget.load(ledger)
        elif budget is None:
            raise ParameterError(f"ledger {ledger} does not exist yet: give --budget EPSILON[,DELTA] to start it")
        else:
            plan = PrivacyBudget(*_budget_arg(budget))
    elif budget is not None:
        raise ParameterError("--budget goes with --ledger (the file that keeps what was spent)")
    summary = PrivateSummary(
        f, epsilon=epsilon, delta=delta, bound=bound, bandwidth=bandwidth, n_components=components, depth=depth, random_state=seed
    )
    summary._settings(1)  # refuse bad settings before reading the data
    X = _read(data, "DATA")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BandwidthWarning)
        summary.fit(X, budget=plan)
    took = time.perf_counter() - start
    summary.save(output)
    if plan is not None and ledger is not None:
        plan.save(ledger)
    for w in caught:
        _say(f"[yellow]warning:[/] {_esc(w.message)}")
    _say(f"released {summary.settings_['f']} summary of {len(X):,} rows x {X.shape[1]} in {took:.2f} s: {_esc(output)}")
    _print_record(summary.record_.lines())
    if plan is not None:
        eps, dl = plan.spent
        _say(f"ledger {_esc(ledger)}: spent epsilon={eps:g}" + (f", delta={dl:g}" if dl else "") + f" of {plan.epsilon:g}")


def _print_record(lines: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(show_header=False, box=None)
    t.add_column("field", style="bold")
    t.add_column("value")
    for label, value in lines:
        t.add_row(_esc(label), _esc(value))
    Console().print(t)


@private_app.command("query", help="Estimate the sum (and mean) of f over the private rows for each query vector.")
def query(
    summary_path: Annotated[Path, typer.Argument(metavar="SUMMARY", help="A summary written by 'lowdim private build'.")],
    queries: Annotated[Path, typer.Argument(help="Query vectors (.npy, .fvecs, .hdf5, .parquet).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the estimates here (.npy: sums; .json: sums and means).")
    ] = None,
    show: Annotated[int, typer.Option(help="Rows to print.")] = 10,
) -> None:
    """Answer queries from a released summary (no privacy cost)."""
    from ..private import PrivateSummary

    summary = PrivateSummary.load(summary_path)
    if output is not None:
        if output.suffix not in (".npy", ".json"):
            raise ParameterError(f"--output must end in .npy (sums) or .json (sums and means). Got {output.name!r}.")
        if not output.absolute().parent.is_dir():
            raise FileFormatError(f"cannot write {output}: folder {output.absolute().parent} does not exist")
    Q = _read(queries, "queries")
    start = time.perf_counter()
    est = summary.query(Q)
    took = time.perf_counter() - start
    f = summary.settings_["f"]
    _say(f"{len(Q):,} queries against a {f} summary of ~{est.count:,.0f} rows in {took * 1e3:.1f} ms")
    for i in range(min(show, len(Q))):
        _say(f"  {i}: sum {est.sums[i]:.6g}  mean {est.means[i]:.6g}")
    if output is not None:
        if output.suffix == ".npy":
            import numpy as np

            np.save(output, est.sums)
        else:
            output.write_text(json.dumps(est.to_dict(), allow_nan=True) + "\n", encoding="utf-8")
        _say(f"estimates: {_esc(output)}")


@private_app.command("info", help="Show the privacy record of summaries; several: what releasing them all costs.")
def info(
    paths: Annotated[list[Path], typer.Argument(metavar="SUMMARY...", help="Summaries written by 'lowdim private build'.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """Print each summary's privacy record and, for several, their total (they add up on the same data)."""
    from ..private import PrivateSummary, compose

    summaries = [PrivateSummary.load(p) for p in paths]
    if json_out:
        print(json.dumps([s.info() for s in summaries], indent=2, allow_nan=True))
        return
    for p, s in zip(paths, summaries):
        _say(f"[bold]{_esc(p)}[/]: {s.settings_['f']} summary, width {s.n_features_in_}, ~{s.count_:,.0f} rows (released count)")
        _print_record(s.record_.lines())
    if len(summaries) > 1:
        eps, delta = compose(s.record_ for s in summaries)
        _say(
            f"released from the same rows, these {len(summaries)} summaries together are (epsilon={eps:g}, delta={delta:g})-DP "
            f"(budgets add up); from disjoint rows, the largest of them"
        )
