"""``lowdim inspect``: print a :class:`~lowdim.diagnose.Diagnosis` of a vector file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..exceptions import FileFormatError
from ._diagnosis import Diagnosis, diagnose
from ._plot import plot_spectrum

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``inspect`` command to ``app``."""
    app.command("inspect", help="Diagnose a vector collection: norms, intrinsic dimension, spectrum, hubness.")(inspect)


def _load(path: Path) -> tuple[np.ndarray, Path]:
    """The array in ``path`` (a vector file or a data-set folder), memory-mapped where possible, and its file."""
    from ..eval import CORPUS_FILES, read_vectors  # lazily: the CLI starts without eval's imports

    if path.is_dir():
        for name in CORPUS_FILES:
            if (path / name).is_file():
                return read_vectors(path / name, mmap=True), path / name
        raise FileFormatError(f"{path} holds none of {', '.join(CORPUS_FILES)}")
    if not path.exists():
        raise FileFormatError(f"{path}: no such file or folder")
    if path.suffix == ".npz":  # a released private summary or classifier: point to what reads it
        from ..private import load_release

        try:
            kind = type(load_release(path)).__name__
        except FileFormatError:
            kind = None
        if kind is not None:
            raise FileFormatError(
                f"{path} is a private release ({kind}), not a vector file: 'lowdim private info {path}' shows its privacy record"
            )
    return read_vectors(path, mmap=True), path


def _fmt(value: float, spec: str = ".3g") -> str:
    return format(value, spec) if math.isfinite(value) else "n/a"


def _table(dg: Diagnosis, source: str) -> Table:
    t = Table(
        title=source,
        caption=f"sample: {dg.sample_size:,} distinct rows, seed {dg.seed}",
        show_header=False,
        title_justify="left",
        caption_justify="left",
    )
    t.add_column("measure", style="bold")
    t.add_column("value", justify="right")
    t.add_column("from", style="dim")
    full, smp = "all rows", "sample"
    t.add_row("rows x dims", f"{dg.n:,} x {dg.d} {dg.dtype}", full)
    t.add_row("L2 norm min / max", f"{dg.norm_min:.6g} / {dg.norm_max:.6g}", full)
    t.add_row("L2 norm mean (std)", f"{dg.norm_mean:.6g} ({dg.norm_std:.2g})", full)
    t.add_row("unit-norm", "yes" if dg.normalized else "no", full)
    t.add_row("mean-vector share", _fmt(dg.mean_share, ".3f"), full)
    t.add_row("mean cosine of pairs", _fmt(dg.mean_cosine, ".3f"), full)
    t.add_row("exact duplicates", f"{dg.n_duplicates:,}", full)
    t.add_row("intrinsic dim, TwoNN", _fmt(dg.id_twonn, ".1f"), smp)
    t.add_row(f"intrinsic dim, MLE (k={dg.id_k})", _fmt(dg.id_mle, ".1f"), smp)
    t.add_row("PCA dims for 90 / 95 / 99%", f"{dg.dims_90} / {dg.dims_95} / {dg.dims_99}", smp)
    t.add_row(f"hubness skewness (k={dg.hubness_k})", _fmt(dg.hubness_skewness, ".2f"), smp)
    t.add_row("anti-hubs (in no k-NN list)", _fmt(dg.antihub_share, ".1%"), smp)
    return t


def inspect(
    data: Annotated[
        Path,
        typer.Argument(help="A vector file (.npy, .fvecs, .hdf5, ...) or a data-set folder (corpus.npy, base.npy, ...)."),
    ],
    sample: Annotated[int, typer.Option(help="Rows sampled for intrinsic dimension, spectrum and hubness.")] = 20000,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the PCA spectrum as a PNG here.", metavar="PNG")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the diagnosis as JSON here.", metavar="JSON")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
) -> None:
    """Diagnose DATA and print the results with warnings and recommendations."""
    out = Console()
    for target in (plot, json_path):
        if target is not None and not target.parent.is_dir():
            raise FileFormatError(f"cannot write {target}: folder {target.parent} does not exist")
    X, source = _load(data)
    dg = diagnose(X, sample=sample, seed=seed, progress=Console(stderr=True).is_terminal, name=source.name)
    out.print(_table(dg, escape(str(source))))
    for w in dg.warnings:
        out.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    for r in dg.recommendations:
        out.print(f"[green]note:[/] {escape(r)}", highlight=False)
    if plot is not None:
        plot_spectrum(dg, plot)
        out.print(f"spectrum plot: {escape(str(plot))}", highlight=False)
    if json_path is not None:
        json_path.write_text(json.dumps(dg.to_dict(), indent=2) + "\n", encoding="utf-8")
        out.print(f"diagnosis JSON: {escape(str(json_path))}", highlight=False)
