"""The plan as a picture: recall against RAM bytes per vector, the front, the target, the pick."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_plan"]


def plot_plan(plan: Any, path: str | Path, *, others: Sequence[tuple[str, float, float]] = (), title: str = "") -> Path:
    """Write a PNG of ``plan``: every measured point (colour = rerank factor), the Pareto front
    as a labelled step line, the target as a dashed line, the recommendation as a star and the
    failing step below it in its ladder as a cross.

    Parameters
    ----------
    plan : Plan
    path : str or Path
        Where the PNG goes (its folder must exist).
    others : sequence of (label, ram_bytes_per_vector, recall), optional
        Extra points to draw for comparison, as orange squares. By default the plan's own
        FAISS points (``plan.faiss``: code bytes, recall), FAISS's smallest reaching the
        target circled.
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
    faiss_best = None
    if not others and getattr(plan, "faiss", None):
        get = lambda p, name: p[name] if isinstance(p, dict) else getattr(p, name)  # noqa: E731
        others = [(get(p, "name"), get(p, "code_bytes"), get(p, "recall")) for p in plan.faiss]
        if plan.faiss_best is not None:
            faiss_best = (get(plan.faiss_best, "name"), get(plan.faiss_best, "code_bytes"), get(plan.faiss_best, "recall"))
    if faiss_best is not None:
        ax.scatter(
            [faiss_best[1]],
            [faiss_best[2]],
            marker="o",
            s=160,
            facecolors="none",
            edgecolors="tab:orange",
            linewidths=2,
            zorder=5,
            label=f"FAISS smallest meeting the target: {faiss_best[0]}",
        )
    if others:
        from ._pareto import Point, pareto_front

        ax.scatter([o[1] for o in others], [o[2] for o in others], marker="s", s=22, color="tab:orange", alpha=0.7, label="FAISS")
        # label only the others' own front: the rest would pile up on each other
        for i in pareto_front([Point(o[1], o[2]) for o in others]):
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
    b = getattr(plan, "recommended_below", None)
    if b is not None:
        ax.scatter(
            [b.ram_bytes_per_vector],
            [b.recall],
            marker="X",
            s=90,
            color="tab:red",
            zorder=5,
            label=f"step below (fails): {b.spec}",
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
