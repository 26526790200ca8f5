"""The ``/ui`` templates and assets: one Jinja2 environment (autoescaping everything) over files in the wheel.

Templates live in ``lowdim/server/templates``, the stylesheet and script in
``lowdim/server/static``; both are package data, read with :mod:`importlib.resources`, so
the pages need no network and no CDN. Autoescape is on for every template: a metadata
value such as ``<script>`` is shown as text. Charts come in as SVG that
:mod:`lowdim.server._ui_svg` built with its own escaping, marked safe there and only there.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from ..exceptions import MissingDependencyError

__all__ = ["render", "asset", "safe", "ASSETS"]

#: the assets the pages may load, and their media types (anything else is a 404)
ASSETS = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}


@lru_cache(maxsize=1)
def _env() -> Any:
    try:
        from jinja2 import ChainableUndefined, Environment, FunctionLoader, select_autoescape
    except ImportError:
        raise MissingDependencyError(
            "the /ui pages and plan pages need Jinja2; install it with: pip install 'lowdim[server]'"
        ) from None

    def load(name: str) -> str | None:
        f = resources.files("lowdim.server").joinpath("templates").joinpath(name)
        return f.read_text(encoding="utf-8") if f.is_file() else None

    env = Environment(
        loader=FunctionLoader(load),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=ChainableUndefined,  # a field an older collection or plan lacks shows empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bytes"] = _bytes
    env.filters["pct"] = lambda v: "" if v is None else f"{100 * float(v):.1f}%"
    return env


def _bytes(n: Any) -> str:
    """``1536`` -> ``1.5 KiB``."""
    if n is None:
        return ""
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return f"{v:,.0f} {unit}" if unit == "B" else f"{v:,.1f} {unit}"
        v /= 1024
    return f"{v:,.1f} TiB"  # pragma: no cover


def safe(markup: str) -> Any:
    """``markup`` marked safe for the templates: only for SVG and assets this package built or ships."""
    from markupsafe import Markup  # Jinja2's own dependency: present whenever render works

    return Markup(markup)


def render(name: str, **context: Any) -> str:
    """The template ``name`` rendered with ``context`` (every value escaped unless it is Markup)."""
    return str(_env().get_template(name).render(**context))


@lru_cache(maxsize=len(ASSETS))
def asset(name: str) -> str:
    """The text of the asset ``name`` (one of :data:`ASSETS`)."""
    return resources.files("lowdim.server").joinpath("static").joinpath(name).read_text(encoding="utf-8")
