"""``lowdim private build | query | classify | predict | info``: a thin layer over the private releases.

``build`` and ``query`` wrap :class:`~lowdim.private.PrivateSummary`; ``classify`` and ``predict``
wrap :class:`~lowdim.private.PrivateClassifier` (labels read by ``_labels``); ``info`` reads either.

Every bad input raises one of lowdim's errors, which ``lowdim.cli.main`` prints as one line (exit code 2).
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._progress import say as _say
from ..exceptions import FileFormatError, ParameterError

if TYPE_CHECKING:
    from ._record import PrivacyBudget

__all__ = ["register"]

private_app = typer.Typer(
    name="private",
    help="Differentially private summaries (sums of a distance or kernel) and classifiers: release once, query at no further cost.",
    no_args_is_help=True,
)


# options that build and classify share
_Ledger = Annotated[
    Path | None, typer.Option(help="Privacy ledger (JSON) of the data set: charged by this release, refused if over budget.")
]
_Budget = Annotated[str | None, typer.Option(help="Total budget EPSILON[,DELTA] of a new --ledger.")]
_Delta = Annotated[float, typer.Option(help="0: pure DP (Laplace noise); a small delta such as 1e-5: Gaussian noise.")]
_Bound = Annotated[
    float | None,
    typer.Option(help="Public clip bound: largest |coordinate| for l1, largest L2 norm otherwise (1 for unit vectors)."),
]
_Bandwidth = Annotated[float | None, typer.Option(help="Kernel bandwidth sigma (kernels only).")]
_P = Annotated[float | None, typer.Option("--p", help="The exponent of f=lp, in (0, 2]: sums of ||x - y||_p^p.")]


def register(app: typer.Typer) -> None:
    """Add the ``private`` command group to ``app``."""
    app.add_typer(private_app, name="private")


def _esc(value: Any) -> str:
    from rich.markup import escape

    return escape(str(value))


def _read(path: Path, name: str, *, stream: bool = False) -> Any:
    """The vectors of ``path``, checked; ``stream``: left memory-mapped, for a release that reads it in blocks."""
    from ..eval import read_vectors  # lazily: the CLI starts without eval's imports
    from ..validation import as_float_rows, check_embeddings

    if not path.is_file():
        raise FileFormatError(f"{path}: no such file (expected a vector file: .npy, .fvecs, .hdf5, .parquet)")
    X = read_vectors(path, mmap=True)
    return as_float_rows(X, name=name) if stream else check_embeddings(X, name=name)


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
        str, typer.Option("--f", help="l1, l2, lp (with --p), sqeuclidean, linear, gaussian, exponential, cauchy or laplacian.")
    ] = "gaussian",
    epsilon: Annotated[float | None, typer.Option(help="Privacy budget (> 0; smaller is more private).")] = None,
    delta: _Delta = 0.0,
    bound: _Bound = None,
    bound_from: Annotated[
        Path | None,
        typer.Option(
            help="Take the bound from these PUBLIC rows (queries, a public corpus of the same model; never the private rows): "
            "the 99.9th percentile of their |coordinates| (l1, lp) or L2 norms, +10%."
        ),
    ] = None,
    bandwidth: _Bandwidth = None,
    components: Annotated[int | None, typer.Option(help="Random features (kernels) or rotated coordinates (l2).")] = None,
    depth: Annotated[int | None, typer.Option(help="Levels of the l1 trees (l1, l2, lp; default 10).")] = None,
    p: _P = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the public random draws (the noise always uses fresh entropy).")
    ] = None,
    ledger: _Ledger = None,
    budget: _Budget = None,
) -> None:
    """Release a summary and print its privacy record."""
    from ..private import PrivateSummary

    eps, bound = _release_settings(f, epsilon, output, ledger, budget, bound, bound_from)
    summary = PrivateSummary(
        f,
        epsilon=eps,
        delta=delta,
        bound=bound,
        bandwidth=bandwidth,
        n_components=components,
        depth=depth,
        p=p,
        random_state=seed,
    )
    summary._settings(1)  # refuse bad settings before reading the data
    X = _read(data, "DATA", stream=True)
    took, plan = _release(lambda plan: summary.fit(X, budget=plan), lambda: summary.save(output), ledger, budget)
    _say(f"released {summary.settings_['f']} summary of {len(X):,} rows x {X.shape[1]} in {took:.2f} s: {_esc(output)}")
    _print_record(summary.record_.lines())
    _say_ledger(plan, ledger)


def _release_settings(
    f: str,
    epsilon: float | None,
    output: Path,
    ledger: Path | None,
    budget: str | None,
    bound: float | None,
    bound_from: Path | None,
) -> tuple[float, float | None]:
    """The checks ``build`` and ``classify`` make before reading the private rows: ``(epsilon, bound)``, ``--bound-from`` read."""
    if epsilon is None:
        raise ParameterError("--epsilon is required: the privacy budget of this release (> 0; e.g. 1)")
    if not output.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write {output}: folder {output.absolute().parent} does not exist")
    if ledger is None and budget is not None:
        raise ParameterError("--budget goes with --ledger (the file that keeps what was spent)")
    if bound_from is not None:
        if bound is not None:
            raise ParameterError("give --bound or --bound-from, not both")
        from ..private import public_bound

        bound = public_bound(_read(bound_from, "--bound-from"), f)
        _say(f"bound {bound:g} from the public rows of {_esc(bound_from)}")
    return epsilon, bound


def _release(
    fit: Callable[[PrivacyBudget | None], Any], save: Callable[[], Any], ledger: Path | None, budget: str | None
) -> tuple[float, PrivacyBudget | None]:
    """Run ``fit(plan)`` charged to the ledger (if any), save the charge, then ``save()`` the release; ``(seconds, plan)``."""
    from ..private import BandwidthWarning, PrivacyBudget

    with contextlib.ExitStack() as stack:
        plan: PrivacyBudget | None = None
        if ledger is not None:  # held until the release is written: a concurrent build waits, then sees this charge
            plan = stack.enter_context(PrivacyBudget.ledger(ledger, new=None if budget is None else _budget_arg(budget)))
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BandwidthWarning)
            fit(plan)
        took = time.perf_counter() - start
        if plan is not None and ledger is not None:
            plan.save(ledger)  # the charge reaches the disk before the release does
        save()
    for w in caught:
        _say(f"[yellow]warning:[/] {_esc(w.message)}")
    return took, plan


def _say_ledger(plan: PrivacyBudget | None, ledger: Path | None) -> None:
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


def _check_output(output: Path | None, expected: str) -> None:
    """Refuse an ``--output`` of another suffix or in a missing folder before any work is done."""
    if output is None:
        return
    if output.suffix not in (".npy", ".json"):
        raise ParameterError(f"--output must end in {expected}. Got {output.name!r}.")
    if not output.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write {output}: folder {output.absolute().parent} does not exist")


@private_app.command("query", help="Estimate the sum (and mean) of f over the private rows for each query vector.")
def query(
    summary_path: Annotated[Path, typer.Argument(metavar="SUMMARY", help="A summary written by 'lowdim private build'.")],
    queries: Annotated[Path, typer.Argument(help="Query vectors (.npy, .fvecs, .hdf5, .parquet).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the estimates here (.npy: sums; .json: sums, means, noise_std).")
    ] = None,
    show: Annotated[int, typer.Option(help="Rows to print.")] = 10,
) -> None:
    """Answer queries from a released summary (no privacy cost)."""
    summary = _load(summary_path, "summary")
    _check_output(output, ".npy (sums) or .json (sums, means, noise_std)")
    Q = _read(queries, "queries")
    start = time.perf_counter()
    est = summary.query(Q)
    took = time.perf_counter() - start
    f = summary.settings_["f"]
    _say(f"{len(Q):,} queries against a {f} summary of ~{est.count:,.0f} rows in {took * 1e3:.1f} ms")
    for i in range(min(show, len(Q))):
        noise = f" (noise std {est.noise_std[i]:.3g})" if est.noise_std is not None else ""
        _say(f"  {i}: sum {est.sums[i]:.6g}{noise}  mean {est.means[i]:.6g}")
    if output is not None:
        if output.suffix == ".npy":
            import numpy as np

            np.save(output, est.sums)
        else:
            output.write_text(json.dumps(est.to_dict(), allow_nan=True) + "\n", encoding="utf-8")
        _say(f"estimates: {_esc(output)}")


@private_app.command(
    "info", help="Show the privacy record of releases (summaries, classifiers); several: what they cost together."
)
def info(
    paths: Annotated[
        list[Path], typer.Argument(metavar="RELEASE...", help="Files written by 'lowdim private build' or 'classify'.")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """Print each release's privacy record and, for several, their total (they add up on the same data)."""
    from ..private import PrivateSummary, compose, load_release

    releases = [load_release(p) for p in paths]
    if json_out:
        print(json.dumps([r.info() for r in releases], indent=2, allow_nan=True))
        return
    for p, r in zip(paths, releases):
        if isinstance(r, PrivateSummary):
            _say(
                f"[bold]{_esc(p)}[/]: {r.settings_['f']} summary, width {r.n_features_in_}, ~{r.count_:,.0f} rows (released count)"
            )
        else:
            _say(
                f"[bold]{_esc(p)}[/]: {r.settings_['f']} classifier, {len(r.classes_)} classes, width {r.n_features_in_}, score {r.score_}"
            )
        _print_record(r.record_.lines())
    if len(releases) > 1:
        eps, delta = compose(r.record_ for r in releases)
        what = "summaries" if all(isinstance(r, PrivateSummary) for r in releases) else "releases"
        _say(
            f"released from the same rows, these {len(releases)} {what} together are (epsilon={eps:g}, delta={delta:g})-DP "
            f"(budgets add up); from disjoint rows, the largest of them"
        )


def _load(path: Path, want: str) -> Any:
    """The release at ``path``, which must be a ``want`` ("summary" or "classifier"): otherwise say which command reads it."""
    from ..private import load_release
    from ._load import release_kind

    kind = release_kind(path)
    if kind != want:
        command = "predict" if kind == "classifier" else "query"
        raise ParameterError(f"{path} is a private {kind}, not a {want}: read it with 'lowdim private {command}'")
    return load_release(path)


# -- the classifier ------------------------------------------------------------------------------
@private_app.command("classify", help="Release a private classifier: one summary per class of the rows of DATA.")
def classify(
    data: Annotated[Path, typer.Argument(help="A vector file (.npy, .fvecs, .hdf5, .parquet) of the private rows.")],
    labels: Annotated[
        Path, typer.Argument(help="One label per row: .npy (integers or strings), .txt (one per line) or .jsonl (--label-key).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the classifier (.npz).")],
    f: Annotated[str, typer.Option("--f", help="The similarity: linear (class means), a kernel or a distance.")] = "linear",
    epsilon: Annotated[float | None, typer.Option(help="Privacy budget of the whole release (> 0).")] = None,
    delta: _Delta = 0.0,
    bound: _Bound = None,
    bound_from: Annotated[
        Path | None, typer.Option(help="Take the bound from these PUBLIC rows (never the private ones), as in 'build'.")
    ] = None,
    bandwidth: _Bandwidth = None,
    components: Annotated[int | None, typer.Option(help="Random features (kernels) or rotated coordinates (l2).")] = None,
    depth: Annotated[int | None, typer.Option(help="Levels of the l1 trees (l1, l2, lp).")] = None,
    p: _P = None,
    score: Annotated[
        str | None, typer.Option(help="cosine (to the class's noisy sum; linear and kernels) or mean (average similarity).")
    ] = None,
    classes: Annotated[
        Path | None,
        typer.Option(help="The PUBLIC label set, one per line (default: the labels seen, which reveals rare ones)."),
    ] = None,
    label_key: Annotated[str | None, typer.Option(help="The field of a .jsonl LABELS file that holds the label.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the public random draws (the noise uses fresh entropy).")] = None,
    ledger: _Ledger = None,
    budget: _Budget = None,
) -> None:
    """Release a classifier and print its classes (with released counts, when the score has them) and privacy record."""
    from ..private import PrivateClassifier
    from ._labels import check_count, read_classes, read_labels

    eps, bound = _release_settings(f, epsilon, output, ledger, budget, bound, bound_from)
    y = read_labels(labels, key=label_key)
    declared = None if classes is None else read_classes(classes, like=y)
    clf = PrivateClassifier(
        f,
        epsilon=eps,
        delta=delta,
        bound=bound,
        bandwidth=bandwidth,
        n_components=components,
        depth=depth,
        p=p,
        score=score,
        classes=declared,
        random_state=seed,
    )
    clf._score(clf._template()._settings(1, owner="PrivateClassifier")["f"])  # refuse bad settings before reading the data
    X = _read(data, "DATA", stream=True)
    check_count(y, len(X), f"LABELS {labels.name}", f"DATA {data.name}")
    took, plan = _release(lambda plan: clf.fit(X, y, budget=plan), lambda: clf.save(output), ledger, budget)
    _say(
        f"released {clf.settings_['f']} classifier of {len(X):,} rows x {X.shape[1]}, {len(clf.classes_)} classes "
        f"(score {clf.score_}) in {took:.2f} s: {_esc(output)}"
    )
    if all(c == c for c in clf.counts_):  # NaN: this score releases no count
        _print_record([(str(c), f"~{n:,.0f} rows (released count)") for c, n in zip(clf.classes_.tolist(), clf.counts_)])
    else:
        _say("classes (score cosine releases no count): " + _esc(", ".join(map(str, clf.classes_.tolist()))))
    _print_record(clf.record_.lines())
    _say_ledger(plan, ledger)


@private_app.command("predict", help="Predict the class of each query vector with a released classifier.")
def predict(
    clf_path: Annotated[Path, typer.Argument(metavar="CLF", help="A classifier written by 'lowdim private classify'.")],
    queries: Annotated[Path, typer.Argument(help="Query vectors (.npy, .fvecs, .hdf5, .parquet).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write here: .json (labels, classes, proba with --proba) or .npy (labels; proba with --proba)."
        ),
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Also give predict_proba (softmax of the scores; not calibrated).")
    ] = False,
    truth: Annotated[
        Path | None, typer.Option(help="True labels of the queries (.npy, .txt, .jsonl): print accuracy and balanced accuracy.")
    ] = None,
    label_key: Annotated[str | None, typer.Option(help="The field of a .jsonl --truth file that holds the label.")] = None,
    show: Annotated[int, typer.Option(help="Rows to print.")] = 10,
) -> None:
    """Predict from a released classifier (no privacy cost) and, with --truth, score the predictions."""
    import numpy as np

    from ._labels import check_count, read_labels

    clf = _load(clf_path, "classifier")
    _check_output(output, ".json or .npy")
    if label_key is not None and truth is None:
        raise ParameterError("--label-key goes with --truth (the field of a .jsonl file of true labels)")
    Q = _read(queries, "queries")
    y = None
    if truth is not None:
        y = read_labels(truth, key=label_key, name="--truth")
        check_count(y, len(Q), f"--truth {truth.name}", f"QUERIES {queries.name}")
    start = time.perf_counter()
    labels = clf.predict(Q)
    P = clf.predict_proba(Q) if proba else None
    took = time.perf_counter() - start
    _say(f"{len(Q):,} queries against a {clf.settings_['f']} classifier of {len(clf.classes_)} classes in {took * 1e3:.1f} ms")
    for i in range(min(show, len(Q))):
        extra = (f"  p={P[i].max():.3f}" if P is not None else "") + (f"  (true {_esc(y[i])})" if y is not None else "")
        _say(f"  {i}: {_esc(labels[i])}{extra}")
    scores: dict[str, float] = {}
    if y is not None:
        scores = _accuracy(labels, y, clf.classes_)
        _say(
            f"accuracy {scores['accuracy']:.4f}, balanced accuracy {scores['balanced_accuracy']:.4f} on {len(y):,} labelled queries"
        )
    if output is not None:
        if output.suffix == ".npy":
            np.save(output, P if P is not None else labels)
        else:
            body: dict[str, Any] = {"labels": labels.tolist(), "classes": clf.classes_.tolist(), **scores}
            if P is not None:
                body["proba"] = P.tolist()
            output.write_text(json.dumps(body) + "\n", encoding="utf-8")
        _say(f"predictions: {_esc(output)}")


def _accuracy(predicted: Any, truth: Any, classes: Any) -> dict[str, float]:
    """Accuracy and balanced accuracy (scikit-learn's), comparing labels as text (a .txt of "3" matches the class 3)."""
    import numpy as np
    from sklearn.metrics import balanced_accuracy_score

    p, t = np.asarray(predicted).astype(str), np.asarray(truth).astype(str)
    unknown = int(np.sum(~np.isin(t, np.asarray(classes).astype(str))))
    if unknown:
        _say(f"[yellow]warning:[/] {unknown:,} true labels are not among the classifier's classes (always wrong)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "y_pred contains classes not in y_true": expected on small sets
        balanced = float(balanced_accuracy_score(t, p))
    return {"accuracy": float(np.mean(p == t)), "balanced_accuracy": balanced}
