"""The plan viewer: a plan's Pareto front (lowdim and FAISS), target, copyable specs and export snippets.

One view, two places: the ``/ui/plan`` page of ``lowdim serve`` (a plan.json chosen in the
browser is posted and this view comes back), and :func:`plan_html`, the self-contained
page ``lowdim plan ... --html report.html`` writes (its stylesheet and script inline, no
request leaves the file). Both work on the plan's JSON (:meth:`lowdim.plan.Plan.to_dict`).
"""

from __future__ import annotations

from typing import Any

from .._version import __version__
from ..exceptions import FileFormatError
from ..plan import ENGINES, export_settings
from ._ui_render import asset, render, safe
from ._ui_svg import pareto_svg

__all__ = ["plan_view", "plan_html"]


def _checked(doc: Any) -> dict[str, Any]:
    required = ("target_recall", "k", "metric", "n", "d", "candidates")
    if not isinstance(doc, dict) or any(key not in doc for key in required) or not isinstance(doc["candidates"], list):
        raise FileFormatError(
            f"not a lowdim plan: expected the JSON that 'lowdim plan --json' writes (with {', '.join(required)})"
        )
    return doc


def plan_view(doc: Any) -> dict[str, Any]:
    """The template context of the plan view from a plan's JSON dict (a FileFormatError if it is not one).

    Returns ``svg`` (markup), ``rows`` (the Pareto front plus the recommendation and the step below,
    by bytes), ``faiss`` (FAISS's points), ``exports`` ({engine: snippet} of the recommendation) and
    the plan's settings.
    """
    doc = _checked(doc)
    try:
        pareto_specs = {str(c["spec"]) for c in doc.get("pareto") or []}
        rec = doc.get("recommended") or None
        below = doc.get("recommended_below") or None
        points = [{**c, "pareto": str(c["spec"]) in pareto_specs} for c in doc["candidates"]]
        faiss = [f for f in doc.get("faiss") or [] if isinstance(f, dict) and "code_bytes" in f and "recall" in f]
        d, k, target = int(doc["d"]), int(doc["k"]), float(doc["target_recall"])
        svg = pareto_svg(points, faiss, target=target, k=k, recommended=None if rec is None else str(rec["spec"]))
        rows = [p for p in points if p["pareto"]]
        for extra in (rec, below):
            if extra is not None and all(r["spec"] != extra["spec"] for r in rows):
                rows.append({**extra, "pareto": False})
        rows.sort(key=lambda c: (float(c["ram_bytes_per_vector"]), float(c["recall"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"the plan is incomplete or damaged ({type(exc).__name__}: {exc})") from None
    exports: dict[str, str] = {}
    if rec is not None:
        for engine in ENGINES:
            try:
                exports[engine] = export_settings(str(rec["spec"]), engine, d=d, metric=str(doc["metric"]), k=k)
            except Exception as exc:  # an export the spec has no equivalent for: say so in its place
                exports[engine] = f"# no {engine} equivalent: {exc}"
    return {
        "svg": safe(svg),  # built by pareto_svg, which escapes every label itself
        "rows": rows,
        "faiss": sorted(faiss, key=lambda f: (float(f["code_bytes"]), -float(f["recall"]))),
        "faiss_best": doc.get("faiss_best"),
        "ratio": doc.get("ratio"),
        "exports": exports,
        "rec": rec,
        "below": below,
        "target": target,
        "k": k,
        "d": d,
        "n": int(doc["n"]),
        "metric": str(doc["metric"]),
        "dataset": str(doc.get("dataset") or ""),
        "max_rerank": doc.get("max_rerank"),
        "n_queries": doc.get("n_queries"),
        "warnings": [str(w) for w in doc.get("warnings") or []],
        "index": doc.get("index") if isinstance(doc.get("index"), dict) else None,
    }


def plan_html(doc: Any, *, title: str = "lowdim plan") -> str:
    """A self-contained HTML page of the plan view (stylesheet and script inline; no network).

    Parameters
    ----------
    doc : dict
        A plan's JSON (:meth:`lowdim.plan.Plan.to_dict`, or a ``plan.json`` read back).
    title : str
        The page title.

    Returns
    -------
    str: the page.

    Examples
    --------
    >>> doc = {"target_recall": 0.9, "k": 10, "metric": "cosine", "n": 100, "d": 8, "candidates": [
    ...     {"spec": "f16", "ram_bytes_per_vector": 16, "recall": 1.0}], "pareto": [{"spec": "f16"}]}
    >>> page = plan_html(doc)
    >>> page.startswith("<!doctype html>") and "f16" in page and "<script src" not in page
    True
    """
    view = plan_view(doc)
    assets = {"css": safe(asset("ui.css")), "js": safe(asset("ui.js"))}  # the package's own files
    return render("plan_report.html", title=title, inline=True, version=__version__, writes="", **assets, **view)
