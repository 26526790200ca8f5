"""``/ui``: the browser pages of ``lowdim serve`` (collections, side-by-side search, recall probe, plan viewer).

Read-only: every route here reads (the POSTs carry a query, never a change), and the pages
hold no write control, so writes stay where they were, behind the API key of the JSON API.
The server's caps apply as to ``/search`` (k, rerank, filter size, body bytes). Pages are
Jinja2 templates with autoescape; the fragments the script asks for (``.../compare``,
``.../probe``, ``/ui/plan``) come back as HTML rendered the same way, charts as SVG drawn
here. A Content-Security-Policy lets the pages load only this server's own stylesheet and
script and send requests only to it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, Response

from .._version import __version__
from ..exceptions import FileFormatError, LowdimError, NotFoundError, ParameterError, ValidationError
from ..store import Collection, check_filter
from ._errors import status_of
from ._limits import Limits, check_filter_caps
from ._registry import Registry, ServedCollection
from ._ui_data import DiagnosisCache, compare, diagnosis_summary, facts, probe, query_vector
from ._ui_plan import plan_view
from ._ui_render import ASSETS, asset, render, safe
from ._ui_svg import histogram, sparkline

__all__ = ["add_ui_routes", "CSP", "MAX_PROBE_QUERIES"]

#: what the pages may load and where they may send requests: this server only
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
#: most queries one recall probe runs (each one is also searched exactly)
MAX_PROBE_QUERIES = 200
#: the rerank slider's largest value (also capped by the server's max_rerank)
SLIDER_MAX = 20


def _page(body: str, status: int = 200) -> HTMLResponse:
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    return HTMLResponse(body, status_code=status, headers=headers)


def _error(exc: LowdimError, status: int | None = None) -> HTMLResponse:
    """A lowdim error as one line of HTML (escaped) with its HTTP status (``status`` overrides the usual one)."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return _page(render("_error.html", message=message), status or status_of(exc))


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ParameterError(f"The '{name}' parameter must be an integer in [{lo}, {hi}]. Got {value!r}.") from None
    if not lo <= v <= hi or isinstance(value, bool):
        raise ParameterError(f"The '{name}' parameter must be an integer in [{lo}, {hi}]. Got {value!r}.")
    return v


def _filter(text: Any, limits: Limits) -> dict[str, Any] | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        raise ValidationError('the filter must be JSON text, such as {"pos": "n"}')
    try:
        flt = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"the filter is not valid JSON ({exc.msg} at character {exc.pos})") from None
    check_filter_caps(flt, limits)
    return check_filter(flt)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    return body


def _collection_card(served: ServedCollection, col: Any) -> dict[str, Any]:
    info = col.info()
    info.pop("path", None)
    settings = dict(info.get("settings") or {})
    return {
        "name": served.name,
        "info": info,
        "settings": settings,
        "facts": facts(info),
        "text": served.takes_text,
        "sharded": not isinstance(col, Collection),
        "migration": info.get("migration"),
        "ivf": {
            key: info.get(key) for key in ("nlist", "nprobe", "list_imbalance", "partition_rows", "retraining") if key in info
        },
    }


def add_ui_routes(app: FastAPI, registry: Registry, limits: Limits, writes_mode: str) -> None:
    """Add the ``/ui`` pages to ``app`` (see the module's docstring)."""
    diagnoses = DiagnosisCache()
    slider_max = min(SLIDER_MAX, limits.max_rerank)
    max_k = min(100, limits.max_k)

    def common(**extra: Any) -> dict[str, Any]:
        return {"version": __version__, "writes": writes_mode, "inline": False, **extra}

    @app.get("/ui", include_in_schema=False)
    def ui_index() -> Response:
        cards = []
        for served in registry.collections.values():
            with served.reading() as col:
                cards.append(_collection_card(served, col))
        return _page(render("index.html", **common(cards=cards)))

    @app.get("/ui/static/{name}", include_in_schema=False)
    def ui_asset(name: str) -> Response:
        if name not in ASSETS:
            return _error(NotFoundError(f"no asset named {name!r}"))
        return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "max-age=3600"})

    @app.get("/ui/c/{name}", include_in_schema=False)
    def ui_collection(name: str) -> Response:
        try:
            served = registry.get(name)
        except NotFoundError as exc:
            return _page(render("not_found.html", **common(message=str(exc))), 404)
        with served.reading() as col:
            card = _collection_card(served, col)
        spec_rerank = card["info"].get("spec", "").rpartition("+rerank")[2]
        default_rerank = min(int(spec_rerank), slider_max) if spec_rerank.isdigit() else 0
        return _page(
            render(
                "collection.html",
                **common(c=card, slider_max=slider_max, default_rerank=default_rerank, max_k=max_k, max_probe=MAX_PROBE_QUERIES),
            )
        )

    @app.get("/ui/c/{name}/diagnosis", include_in_schema=False)
    def ui_diagnosis(name: str) -> Response:
        try:
            served = registry.get(name)
            with served.reading() as col:
                if not isinstance(col, Collection):
                    raise ParameterError("the diagnosis summary covers single collections, not sharded ones")
                summary = diagnoses.get(name, served.generation, lambda: diagnosis_summary(col))
        except LowdimError as exc:
            return _error(exc)
        spark = safe(sparkline(summary.get("spectrum") or [], label="cumulative PCA spectrum"))
        return _page(render("_diagnosis.html", d=summary, spark=spark))

    @app.post("/ui/c/{name}/compare", include_in_schema=False)
    async def ui_compare(name: str, request: Request) -> Response:
        try:
            body = await _json_body(request)
            served = registry.get(name)
            k = _int(body.get("k", 10), "k", 1, max_k)
            rerank = _int(body.get("rerank", 0), "rerank", 0, slider_max)
            flt = _filter(body.get("filter"), limits)
            mode, value = str(body.get("mode", "text")), body.get("query")

            def run() -> dict[str, Any]:
                with served.reading() as col:
                    if not isinstance(col, Collection):
                        raise ParameterError("side-by-side search covers single collections, not sharded ones")
                    Q, model, embed_ms = query_vector(col, mode, value)  # type: ignore[arg-type]
                    return compare(col, Q, k, rerank, filter=flt, model=model, embed_ms=embed_ms)

            result = await anyio.to_thread.run_sync(run)
        except LowdimError as exc:
            return _error(exc)
        return _page(render("_compare.html", r=result))

    @app.post("/ui/c/{name}/probe", include_in_schema=False)
    async def ui_probe(name: str, request: Request) -> Response:
        try:
            q = request.query_params
            served = registry.get(name)
            k = _int(q.get("k", 10), "k", 1, max_k)
            rerank = _int(q.get("rerank", 0), "rerank", 0, slider_max)
            m = _int(q.get("m", 50), "m", 1, MAX_PROBE_QUERIES)
            seed = _int(q.get("seed", 0), "seed", 0, 2**31 - 1)
            raw = await request.body()
            queries = None
            if raw:
                try:
                    queries = np.load(io.BytesIO(raw), allow_pickle=False)
                except (ValueError, OSError, EOFError):
                    raise ValidationError("the query file must be a .npy array of shape (n_queries, dim)") from None
                if queries.ndim == 2 and len(queries) > MAX_PROBE_QUERIES:
                    raise ValidationError(
                        f"the query file holds {len(queries)} queries; the probe takes at most {MAX_PROBE_QUERIES}"
                    )

            def run() -> dict[str, Any]:
                with served.reading() as col:
                    if not isinstance(col, Collection):
                        raise ParameterError("the recall probe covers single collections, not sharded ones")
                    return probe(col, k, rerank, m=m, seed=seed, queries=queries)

            result = await anyio.to_thread.run_sync(run)
        except LowdimError as exc:
            return _error(exc)
        hists = {
            "codes": safe(histogram(result["recall_codes"], label=f"recall@{k}, codes only")),
            "rerank": safe(histogram(result["recall_rerank"], label=f"recall@{k}, rerank {rerank}")),
        }
        return _page(render("_probe.html", r=result, hists=hists))

    @app.get("/ui/plan", include_in_schema=False)
    def ui_plan_page() -> Response:
        return _page(render("plan.html", **common()))

    @app.post("/ui/plan", include_in_schema=False)
    async def ui_plan_view(request: Request) -> Response:
        try:
            view = plan_view(await _json_body(request))
        except FileFormatError as exc:
            return _error(exc, 422)  # the client's file, not the server's
        except LowdimError as exc:
            return _error(exc)
        return _page(render("_plan.html", **view))
