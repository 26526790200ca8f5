"""PNG of a diagnosis' PCA spectrum: :func:`plot_spectrum`."""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path

import numpy as np

from ..exceptions import FileFormatError, ParameterError
from ._diagnosis import Diagnosis

__all__ = ["plot_spectrum"]


def plot_spectrum(diagnosis: Diagnosis, path: str | PathLike[str]) -> Path:
    """Write the cumulative explained variance against dimensions as a PNG.

    The x axis (principal axes kept, log scale) carries labelled vertical lines at
    the TwoNN and MLE intrinsic-dimension estimates and at the dims needed for
    90/95/99% of the variance. Uses matplotlib's Agg canvas directly, so no
    display and no global pyplot state are involved.

    Parameters
    ----------
    diagnosis : Diagnosis
        From :func:`diagnose`.
    path : str or path-like
        Output file; written as PNG whatever its suffix. Its folder must exist.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from lowdim.diagnose import diagnose, plot_spectrum
    >>> X = np.random.default_rng(0).standard_normal((500, 16))
    >>> out = plot_spectrum(diagnose(X), os.path.join(tempfile.mkdtemp(), "s.png"))
    >>> out.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(diagnosis, Diagnosis):
        raise ParameterError(
            f"The 'diagnosis' parameter of plot_spectrum must be a Diagnosis from diagnose(). Got {type(diagnosis).__name__}."
        )
    path = Path(path)
    if not path.parent.is_dir():
        raise FileFormatError(f"cannot write {path}: folder {path.parent} does not exist")

    ratios = np.asarray(diagnosis.explained_variance_ratio, dtype=np.float64)
    dims = np.arange(1, len(ratios) + 1)
    fig = Figure(figsize=(7.5, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(dims, np.cumsum(ratios), color="black", lw=1.6, label="cumulative explained variance")
    ax.set_xscale("log")
    ax.set_xlim(1, max(len(ratios), 2))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("principal axes kept")
    ax.set_ylabel("share of variance")
    ax.grid(True, which="both", alpha=0.25)

    marks = [
        (diagnosis.id_twonn, f"TwoNN ID {diagnosis.id_twonn:.1f}", "tab:red", "-"),
        (diagnosis.id_mle, f"MLE ID {diagnosis.id_mle:.1f} (k={diagnosis.id_k})", "tab:orange", "-"),
        (diagnosis.dims_90, f"90% at {diagnosis.dims_90}", "tab:blue", "--"),
        (diagnosis.dims_95, f"95% at {diagnosis.dims_95}", "tab:green", "--"),
        (diagnosis.dims_99, f"99% at {diagnosis.dims_99}", "tab:purple", "--"),
    ]
    for x, label, colour, style in marks:
        if math.isfinite(x) and x >= 1:
            ax.axvline(x, color=colour, ls=style, lw=1.2, label=label)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"PCA spectrum of {diagnosis.n:,} x {diagnosis.d} ({diagnosis.dtype}), sample {diagnosis.sample_size:,}")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
