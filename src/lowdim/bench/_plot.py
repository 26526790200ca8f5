"""Recall against RAM bytes per vector, log axis, Pareto front marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["pareto_front", "plot_tradeoff"]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated in (fewer bytes, higher recall), sorted by bytes.

    Examples
    --------
    >>> pareto_front([(48, 0.9), (96, 0.95), (100, 0.94), (384, 0.99)])
    [0, 1, 3]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_tradeoff(results: Sequence, path: str | Path, *, k: int = 10, title: str = "") -> Path:
    """Draw recall@k against RAM bytes/vector for every result; the Pareto front is a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    styles = {"lowdim": dict(marker="o", color="tab:blue"), "faiss": dict(marker="s", color="tab:orange", alpha=0.8)}
    for engine, style in styles.items():
        rows = [r for r in results if r.engine == engine]
        if not rows:
            continue
        ax.scatter([r.ram_bytes_per_vector for r in rows], [r.recall for r in rows], label=engine, s=40, **style)
        for r in rows:
            label = r.spec if engine == "lowdim" else (r.equivalent or r.spec)
            ax.annotate(
                label,
                (r.ram_bytes_per_vector, r.recall),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color=style["color"],
            )
    pts = [(r.ram_bytes_per_vector, r.recall) for r in results]
    front = pareto_front(pts)
    if front:
        xs = [pts[i][0] for i in front]
        ys = [pts[i][1] for i in front]
        ax.step(xs, ys, where="post", color="gray", linestyle="--", linewidth=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("RAM bytes per vector (log)")
    ax.set_ylabel(f"recall@{k}")
    ax.set_title(title or f"recall@{k} vs. bytes per vector")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
