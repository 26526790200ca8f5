"""Charts of the ``/ui`` pages as SVG strings, drawn on the server: a sparkline, a histogram, a Pareto plot.

No JavaScript draws anything: a chart is markup the page (or the offline plan report) embeds
as it is. Every piece of text inside a chart goes through :func:`html.escape`, since labels
such as spec strings reach it from files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

__all__ = ["sparkline", "histogram", "pareto_svg"]

_LOWDIM = "#1f6feb"  # lowdim's points and bars
_FAISS = "#e36209"  # FAISS's points: a second colour


def _num(v: float) -> str:
    return f"{v:.1f}"


def sparkline(values: Sequence[float], *, width: int = 160, height: int = 36, label: str = "") -> str:
    """A polyline of ``values`` (n,) scaled into a ``width`` x ``height`` box (empty box when n < 2).

    Examples
    --------
    >>> sparkline([0.5, 0.8, 1.0]).startswith("<svg")
    True
    """
    vals = [float(v) for v in values if math.isfinite(float(v))]
    head = (
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
    )
    if len(vals) < 2:
        return head + "</svg>"
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    pts = " ".join(
        f"{_num(2 + i * (width - 4) / (len(vals) - 1))},{_num(height - 2 - (v - lo) / span * (height - 4))}"
        for i, v in enumerate(vals)
    )
    return head + f'<polyline fill="none" stroke="{_LOWDIM}" stroke-width="1.5" points="{pts}"/></svg>'


def histogram(
    values: Sequence[float],
    *,
    bins: int = 10,
    lo: float = 0.0,
    hi: float = 1.0,
    width: int = 320,
    height: int = 120,
    label: str = "",
) -> str:
    """Bars counting ``values`` (n,) in ``bins`` equal bins over [lo, hi] (the last bin closed), counts on top.

    Examples
    --------
    >>> svg = histogram([0.2, 1.0, 1.0], bins=2)
    >>> svg.count("<rect"), ">2<" in svg
    (2, True)
    """
    counts = [0] * bins
    for v in values:
        b = int((float(v) - lo) / (hi - lo) * bins) if hi > lo else 0
        counts[min(max(b, 0), bins - 1)] += 1
    top = max(counts) or 1
    pad, base = 4, height - 16
    bw = (width - 2 * pad) / bins
    parts = [
        f'<svg class="hist" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
    ]
    for i, c in enumerate(counts):
        h = (base - 14) * c / top
        x = pad + i * bw
        parts.append(
            f'<rect x="{_num(x + 1)}" y="{_num(base - h)}" width="{_num(bw - 2)}" height="{_num(h)}" fill="{_LOWDIM}">'
            f"<title>{lo + i * (hi - lo) / bins:.2f}-{lo + (i + 1) * (hi - lo) / bins:.2f}: {c}</title></rect>"
        )
        if c:
            parts.append(f'<text x="{_num(x + bw / 2)}" y="{_num(base - h - 2)}" text-anchor="middle" font-size="10">{c}</text>')
    parts.append(f'<text x="{pad}" y="{height - 3}" font-size="10">{lo:g}</text>')
    parts.append(f'<text x="{width - pad}" y="{height - 3}" font-size="10" text-anchor="end">{hi:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def pareto_svg(
    points: Sequence[dict[str, Any]],
    faiss: Sequence[dict[str, Any]],
    *,
    target: float,
    k: int,
    recommended: str | None = None,
    width: int = 640,
    height: int = 360,
) -> str:
    """Recall@k against RAM bytes per vector (log x): lowdim's points (circles, the front joined), FAISS's (squares).

    ``points``: dicts with ``spec``, ``ram_bytes_per_vector``, ``recall`` and ``pareto`` (bool); ``faiss``:
    dicts with ``name``, ``code_bytes`` and ``recall``. The ``target`` is a dashed line; the
    ``recommended`` spec is ringed. Each mark has a ``<title>`` (its spec) and ``data-spec``.

    Examples
    --------
    >>> svg = pareto_svg([{"spec": "int8", "ram_bytes_per_vector": 384, "recall": 0.99, "pareto": True}], [], target=0.95, k=10)
    >>> 'data-spec="int8"' in svg and "target 0.95" in svg
    True
    """
    ml, mr, mt, mb = 52, 16, 14, 40
    pw, ph = width - ml - mr, height - mt - mb
    xs = [float(p["ram_bytes_per_vector"]) for p in points] + [float(f["code_bytes"]) for f in faiss]
    ys = [float(p["recall"]) for p in points] + [float(f["recall"]) for f in faiss] + [float(target)]
    xs = [x for x in xs if x > 0] or [1.0, 10.0]
    x0, x1 = math.log10(min(xs)) - 0.05, math.log10(max(xs)) + 0.05
    y0 = max(0.0, min(ys) - 0.02)
    y1 = 1.0
    if x1 - x0 < 0.2:
        x0, x1 = x0 - 0.1, x1 + 0.1

    def px(b: float) -> float:
        return ml + (math.log10(max(b, 1e-9)) - x0) / (x1 - x0) * pw

    def py(r: float) -> float:
        return mt + (y1 - r) / ((y1 - y0) or 1.0) * ph

    out = [
        f'<svg class="pareto" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="recall@{k} against RAM bytes per vector">',
        f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    # axes: powers of two on x, tenths (or finer) on y
    lo_b, hi_b = 10**x0, 10**x1
    b = 2 ** math.ceil(math.log2(lo_b))
    while b <= hi_b:
        x = px(b)
        out.append(f'<line x1="{_num(x)}" y1="{mt + ph}" x2="{_num(x)}" y2="{mt + ph + 4}" stroke="#999"/>')
        out.append(f'<text x="{_num(x)}" y="{mt + ph + 15}" font-size="10" text-anchor="middle">{b:g}</text>')
        b *= 2
    step = 0.1 if y1 - y0 > 0.3 else (0.05 if y1 - y0 > 0.1 else 0.01)
    r = math.ceil(y0 / step) * step
    while r <= y1 + 1e-9:
        y = py(r)
        out.append(f'<line x1="{ml - 4}" y1="{_num(y)}" x2="{ml + pw}" y2="{_num(y)}" stroke="#eee"/>')
        out.append(f'<text x="{ml - 6}" y="{_num(y + 3)}" font-size="10" text-anchor="end">{r:.2f}</text>')
        r += step
    out.append(f'<text x="{ml + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">RAM bytes per vector (log)</text>')
    out.append(
        f'<text x="12" y="{mt + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 {mt + ph / 2})">recall@{k}</text>'
    )
    ty = py(float(target))
    out.append(
        f'<line class="target" x1="{ml}" y1="{_num(ty)}" x2="{ml + pw}" y2="{_num(ty)}" stroke="#2da44e" stroke-dasharray="5 4"/>'
        f'<text x="{ml + pw - 4}" y="{_num(ty - 4)}" font-size="10" text-anchor="end" fill="#2da44e">target {target:g}</text>'
    )
    front = sorted((p for p in points if p.get("pareto")), key=lambda p: float(p["ram_bytes_per_vector"]))
    if len(front) > 1:
        pts = " ".join(f"{_num(px(float(p['ram_bytes_per_vector'])))},{_num(py(float(p['recall'])))}" for p in front)
        out.append(f'<polyline fill="none" stroke="{_LOWDIM}" stroke-width="1" points="{pts}"/>')
    for f in faiss:
        x, y = px(float(f["code_bytes"])), py(float(f["recall"]))
        name = escape(str(f.get("name", "")))
        spec = escape(str(f.get("spec", "")))
        out.append(
            f'<rect class="faiss" x="{_num(x - 3.5)}" y="{_num(y - 3.5)}" width="7" height="7" fill="{_FAISS}" '
            f'fill-opacity="0.75" data-spec="{spec}"><title>FAISS {name}: {float(f["code_bytes"]):g} B, '
            f"recall {float(f['recall']):.4f}</title></rect>"
        )
    for p in points:
        x, y = px(float(p["ram_bytes_per_vector"])), py(float(p["recall"]))
        spec = escape(str(p["spec"]))
        on = bool(p.get("pareto"))
        out.append(
            f'<circle class="lowdim{" front" if on else ""}" cx="{_num(x)}" cy="{_num(y)}" r="{4 if on else 2.5}" '
            f'fill="{_LOWDIM}" fill-opacity="{1 if on else 0.35}" data-spec="{spec}"><title>{spec}: '
            f"{float(p['ram_bytes_per_vector']):g} B, recall {float(p['recall']):.4f}</title></circle>"
        )
        if recommended is not None and p["spec"] == recommended:
            out.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="8" fill="none" stroke="#2da44e" stroke-width="2"/>')
    lx = ml + 8
    out.append(
        f'<circle cx="{lx}" cy="{mt + 10}" r="4" fill="{_LOWDIM}"/><text x="{lx + 8}" y="{mt + 13}" font-size="10">lowdim</text>'
        f'<rect x="{lx + 52}" y="{mt + 6.5}" width="7" height="7" fill="{_FAISS}"/>'
        f'<text x="{lx + 63}" y="{mt + 13}" font-size="10">FAISS</text>'
    )
    out.append("</svg>")
    return "".join(out)
