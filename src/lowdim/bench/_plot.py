"""Recall against RAM bytes per vector, log axis, Pareto front marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..eval import pareto_front

__all__ = ["plot_tradeoff"]


def plot_tradeoff(results: Sequence, path: str | Path, *, k: int = 10, title: str = "") -> Path:
    """Draw recall@k against RAM bytes/vector for every result; the Pareto front is a step line.

    Each (engine, index kind) has its own marker: flat scans circles/squares, IVF triangles,
    HNSW diamonds/pluses; index points are labelled with their nprobe or ef.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    styles: dict[tuple[str, str], dict[str, Any]] = {
        ("lowdim", "flat"): dict(marker="o", color="tab:blue"),
        ("faiss", "flat"): dict(marker="s", color="tab:orange", alpha=0.8),
        ("lowdim", "ivf"): dict(marker="^", color="tab:green"),
        ("faiss", "ivf"): dict(marker="v", color="tab:red", alpha=0.8),
        ("lowdim", "hnsw"): dict(marker="D", color="tab:purple"),
        ("faiss", "hnsw"): dict(marker="P", color="tab:brown", alpha=0.8),
    }
    for (engine, kind), style in styles.items():
        rows = [r for r in results if r.engine == engine and getattr(r, "index", "flat") == kind]
        if not rows:
            continue
        legend = engine if kind == "flat" else f"{engine} {kind}"
        ax.scatter([r.ram_bytes_per_vector for r in rows], [r.recall for r in rows], label=legend, s=40, **style)
        for r in rows:
            label = r.spec if engine == "lowdim" else (r.equivalent or r.spec)
            if getattr(r, "nprobe", None) is not None:
                label += f" @{r.nprobe}"
            elif getattr(r, "ef", None) is not None:
                label += f" ef{r.ef}"
            ax.annotate(
                label,
                (r.ram_bytes_per_vector, r.recall),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color=style["color"],
            )
    pts = [(r.ram_bytes_per_vector, r.recall) for r in results]
    front = pareto_front([p[0] for p in pts], [p[1] for p in pts])
    if front:
        xs = [pts[i][0] for i in front]
        ys = [pts[i][1] for i in front]
        ax.step(xs, ys, where="post", color="gray", linestyle="--", linewidth=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("RAM bytes per vector (log)")
    ax.set_ylabel(f"recall@{k}")
    ax.set_title(title or f"recall@{k} vs. bytes per vector")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
