"""The plan as a picture: recall against RAM bytes per vector, the front, the target, the pick."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_plan"]


def plot_plan(plan: Any, path: str | Path, *, others: Sequence[tuple[str, float, float]] = (), title: str = "") -> Path:
    """Write a PNG of ``plan``: every measured point (colour = rerank factor), the Pareto front
    as a labelled step line, the target as a dashed line and the recommendation as a star.

    Parameters
    ----------
    plan : Plan
    path : str or Path
        Where the PNG goes (its folder must exist).
    others : sequence of (label, ram_bytes_per_vector, recall), optional
        Extra points to draw for comparison (e.g. FAISS configurations), as grey squares.
    title : str, optional

    Returns
    -------
    Path of the PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(9, 6))
    factors = sorted({c.rerank for c in plan.candidates})
    cmap = plt.get_cmap("viridis", max(len(factors), 2))
    for i, f in enumerate(factors):
        rows = [c for c in plan.candidates if c.rerank == f]
        ax.scatter(
            [c.ram_bytes_per_vector for c in rows],
            [c.recall for c in rows],
            s=18,
            color=cmap(i),
            alpha=0.7,
            label=f"rerank {f}" if f else "no rerank",
        )
    if others:
        from ._pareto import Point, pareto_front

        ax.scatter([o[1] for o in others], [o[2] for o in others], marker="s", s=22, color="tab:orange", alpha=0.7, label="FAISS")
        # label only the others' own front: the rest would pile up on each other
        for i in pareto_front([Point(o[1], o[2], o[2], 0.0) for o in others]):
            label, x, y = others[i]
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(3, -9), fontsize=6, color="tab:orange")
    if plan.pareto:
        xs = [c.ram_bytes_per_vector for c in plan.pareto]
        ys = [c.recall for c in plan.pareto]
        ax.step(xs, ys, where="post", color="gray", linestyle="--", linewidth=1, label="Pareto front")
        for c in plan.pareto:
            ax.annotate(c.spec, (c.ram_bytes_per_vector, c.recall), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.axhline(plan.target_recall, color="tab:red", linestyle=":", linewidth=1, label=f"target {plan.target_recall:g}")
    r = plan.recommended
    if r is not None:
        lo, hi = r.recall_ci
        ax.errorbar([r.ram_bytes_per_vector], [r.recall], yerr=[[r.recall - lo], [hi - r.recall]], color="tab:red", capsize=3)
        ax.scatter(
            [r.ram_bytes_per_vector], [r.recall], marker="*", s=220, color="tab:red", zorder=5, label=f"recommended: {r.spec}"
        )
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    # minor ticks labelled at 2, 3 and 5 times a power of ten only, so labels do not collide
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:g}" if x > 0 and f"{x:.0e}"[0] in "235" else ""))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("RAM bytes per vector (log)")
    ax.set_ylabel(f"recall@{plan.k}")
    ax.set_title(title or f"plan{' for ' + plan.dataset if plan.dataset else ''}: target recall@{plan.k} {plan.target_recall:g}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
