"""``create_app``: the FastAPI application that serves lowdim collections over HTTP.

A thin layer: each endpoint checks the server's caps, turns JSON into the arguments
the Python API takes, calls one :class:`~lowdim.store.Collection` method and turns
its result back into JSON with the same field names. Every check of a value (vectors,
ids, metadata, filters, texts) is the Python API's, so a bad value gets the same
one-line message over HTTP (422) as in Python.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from .._version import __version__
from ..exceptions import ParameterError, UntrainedWarning, ValidationError
from ..spec import parse_spec
from ..store import Collection, check_filter, normalize_ids
from ._errors import HTTPError, input_guard, install_error_handlers
from ._limits import BodyLimitMiddleware, HostCheckMiddleware, Limits, check_filter_caps, check_rows, json_matrix
from ._metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from ._migrations import add_migration_routes
from ._models import (
    AddRequest,
    CollectionsResponse,
    DeleteResponse,
    ErrorResponse,
    HealthResponse,
    IdsRequest,
    IdsResponse,
    InfoResponse,
    RecordsResponse,
    SearchRequest,
    SearchResponse,
    UpsertRequest,
)
from ._multivector import add_multivector_routes
from ._openapi import tailor_openapi
from ._registry import Registry, ServedCollection, discover
from ._summaries import add_summary_routes, load_summaries, tailor_summaries
from ._ui import add_ui_routes

__all__ = ["create_app"]

log = logging.getLogger("lowdim.server")

# An untrained collection's searches say so in the response (exact_reason), and the Client warns its
# caller; the server's own copy of the warning (one per snapshot, so after every write) is only noise.
# The filter matches the warnings attributed to this module's calls (the store warns at its caller).
warnings.filterwarnings("ignore", category=UntrainedWarning, module=r"lowdim\.server\._app")

_ERR = {"model": ErrorResponse}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_ERR, "description": "Malformed JSON, or a text query to a collection without a text encoder."},
    404: {**_ERR, "description": "No such collection (or id)."},
    409: {**_ERR, "description": "The collection is closed (server shutting down)."},
    413: {**_ERR, "description": "Request body larger than max_body_bytes."},
    422: {**_ERR, "description": "Invalid vectors, parameters or filter; the message says how to fix it."},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_READ_ERRORS,
    401: {**_ERR, "description": "Missing or wrong API key."},
    403: {**_ERR, "description": "Writes are disabled on this server (no API key configured)."},
    409: {**_ERR, "description": "An id already exists, or another process is writing the collection."},
}


def _json(obj: Any, status: int = 200) -> Response:
    body = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")


def _ids(value: Any, limits: Limits) -> Any:
    """JSON ids as the store takes them: a list (capped at max_batch), 7.0 read as 7 by the store's rule."""
    if value is None:
        return None  # the Python API says whether ids are needed
    if not isinstance(value, list):
        raise ValidationError(f"ids must be a JSON array of strings or integers; got {type(value).__name__}")
    check_rows(len(value), "ids", limits)
    return normalize_ids(value)


def _text_rows(value: Any, what: str, served: ServedCollection, limits: Limits) -> int:
    """How many texts a request sends (capped at max_batch); 400 if the collection takes no text.

    Only the server's checks: the texts themselves are checked by the encoder, as in Python.
    """
    if not served.takes_text:
        raise HTTPError(
            400,
            f"collection {served.name!r} has no text encoder, so it takes no text; "
            f"send vectors of {served.settings.dim} numbers instead",
            {"type": "ParameterError"},
        )
    n = len(value) if isinstance(value, list) else 1
    check_rows(n, what, limits)
    return n


def _no_model_with_text(model: str | None) -> None:
    # the text methods take no model (the collection's encoder is the model): refused, never dropped silently
    if model is not None:
        raise ParameterError("'model' applies to vectors; texts are embedded by the collection's own encoder, so leave it out")


def _info(served: ServedCollection, col: Collection) -> dict[str, Any]:
    info = col.info()
    info.pop("path", None)  # the server's file layout is nobody's business
    encoder = info["settings"].get("encoder")
    if isinstance(encoder, str) and Path(encoder).is_dir():
        # a local model folder: its name says which model, its path says too much about the server
        info["settings"] = {**info["settings"], "encoder": Path(encoder).name}
    info["name"] = served.name
    info["text"] = served.takes_text
    return info


def create_app(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    api_key: str | None = None,
    allow_unauthenticated_writes: bool = False,
    max_body_bytes: int = Limits.max_body_bytes,
    max_batch: int = Limits.max_batch,
    max_k: int = Limits.max_k,
    max_rerank: int = Limits.max_rerank,
    max_ef: int = Limits.max_ef,
    max_filter_terms: int = Limits.max_filter_terms,
    max_candidates: int = Limits.max_candidates,
    readers: int = 1,
    refresh_interval: float = 2.0,
    close_timeout: float = 30.0,
    allowed_hosts: Sequence[str] | None = None,
    summaries: dict[str, str | os.PathLike[str]] | None = None,
) -> FastAPI:
    """The HTTP service for the collections under ``paths``.

    Parameters
    ----------
    paths : path or sequence of paths
        Collection folders, or folders whose sub-folders are collections. A collection
        is served under its folder name; names are looked up, never joined into paths.
    api_key : str, optional
        The key write requests must send as ``Authorization: Bearer <key>`` (compared in
        constant time). Without one, writes are refused (403) unless
        ``allow_unauthenticated_writes=True``. Reads never need it.
    allow_unauthenticated_writes : bool
        Let anyone who can reach the server write (only sensible on loopback).
    max_body_bytes, max_batch, max_k, max_rerank, max_ef, max_filter_terms, max_candidates : int
        Caps per request (see :class:`~lowdim.server._limits.Limits`); exceeding one is a 413 (body) or 422.
    readers : int
        Read-only snapshots per collection: searches on one snapshot run one at a time,
        so more snapshots answer more searches in parallel (each holds its own codes in RAM).
    refresh_interval : float
        Seconds between checks for changes another process committed (0: never).
    close_timeout : float
        At shutdown, how long to wait for a running write before closing.
    allowed_hosts : sequence of str, optional
        Host header names to answer (others get 400); :func:`~lowdim.server.serve` sets the
        loopback names when it binds to loopback, against DNS rebinding. None: any.
    summaries : dict, optional
        ``{name: path}`` of released private summaries (:class:`~lowdim.private.PrivateSummary` files)
        to serve read-only under ``/summaries/{name}`` (see ``_summaries``); ``paths`` may then be empty.

    Returns
    -------
    fastapi.FastAPI
        ``app.state.registry`` holds the served collections; they are closed when the app shuts down.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from lowdim.store import Collection
    >>> root = tempfile.mkdtemp()
    >>> with Collection.create(root + "/demo", dim=4, spec="f32") as col:
    ...     _ = col.add(np.eye(4, dtype=np.float32))
    >>> with TestClient(create_app(root)) as http:
    ...     http.post("/collections/demo/search", json={"queries": [[1, 0, 0, 0]], "k": 2}).json()["ids"]
    [[0, 1]]
    """
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ParameterError("The 'api_key' parameter of create_app must be a non-empty string or None.")
    limits = Limits(max_body_bytes, max_batch, max_k, max_rerank, max_ef, max_filter_terms, max_candidates).validated()
    if isinstance(readers, bool) or not isinstance(readers, int) or not 1 <= readers <= 64:
        raise ParameterError(f"The 'readers' parameter of create_app must be an integer in [1, 64]. Got {readers!r}.")
    served_summaries = load_summaries(summaries)
    registry = Registry(discover(paths) if paths or not served_summaries else {}, readers=readers)
    metrics = Metrics()
    writes_mode = "api_key" if api_key is not None else ("open" if allow_unauthenticated_writes else "disabled")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(registry.open)  # no-op unless a previous run closed them
        poller = None
        if refresh_interval > 0:

            async def poll() -> None:
                while True:
                    await asyncio.sleep(refresh_interval)
                    try:
                        await anyio.to_thread.run_sync(registry.refresh_stale)
                    except Exception:  # keep serving the current snapshots
                        log.exception("refreshing the served collections failed")

            poller = asyncio.create_task(poll())
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
            n = await anyio.to_thread.run_sync(registry.close, close_timeout)
            log.info("lowdim: closed %d collection%s", n, "" if n == 1 else "s")

    app = FastAPI(
        title="lowdim",
        version=__version__,
        description=(
            "Search compact embedding collections. Bodies use the Python API's names: "
            "`queries`, `k`, `filter`, `rerank`, `ef`, `nprobe` for search; `vectors`, `ids`, `metadata` for writes. "
            'Errors are `{"error": "...", "detail": ...}`. Writes need `Authorization: Bearer <key>`.'
        ),
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.limits = limits
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(HostCheckMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    # -- who may write ----------------------------------------------------------------------
    if api_key is not None:
        bearer = HTTPBearer(auto_error=False, description="The server's API key (--api-key or LOWDIM_API_KEY).")
        expected = api_key.encode()

        def may_write(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
            if creds is None:
                raise HTTPError(
                    401,
                    "this endpoint writes, so it needs the server's API key: send 'Authorization: Bearer <key>'",
                    None,
                    {"WWW-Authenticate": "Bearer"},
                )
            if not hmac.compare_digest(creds.credentials.encode(), expected):
                raise HTTPError(401, "wrong API key", None, {"WWW-Authenticate": "Bearer"})

    elif allow_unauthenticated_writes:

        def may_write() -> None:  # type: ignore[misc]  # a dependency without the key's parameter
            return None

    else:

        def may_write() -> None:  # type: ignore[misc]
            raise HTTPError(
                403,
                "writes are disabled on this server: start it with --api-key (or LOWDIM_API_KEY), "
                "or --allow-unauthenticated-writes on a trusted loopback",
                None,
            )

    writer = [Depends(may_write)]

    # -- service ----------------------------------------------------------------------------
    # async: these answer from the event loop even when every worker thread is busy searching
    @app.get("/health", response_model=HealthResponse, tags=["service"])
    async def health() -> Response:
        """Liveness, served collections, write mode and the caps of this server."""
        return _json(
            {
                "status": "ok",
                "version": __version__,
                "collections": registry.names,
                "writes": writes_mode,
                "limits": limits.to_dict(),
                **({"summaries": list(served_summaries)} if served_summaries else {}),
            }
        )

    @app.get(
        "/metrics",
        tags=["service"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text."}},
    )
    async def prometheus() -> Response:
        """Request counts and latency histograms per endpoint, and collection sizes (Prometheus text format)."""
        gauges = []
        for s in registry.collections.values():
            lab = {"collection": s.name}
            gauges.append(("lowdim_collection_vectors", "gauge", "Live vectors in a served collection.", lab, s.count))
        for s in registry.collections.values():
            lab = {"collection": s.name}
            gauges.append(("lowdim_collection_deleted", "gauge", "Deleted rows not yet compacted.", lab, s.deleted))
        for s in registry.collections.values():
            lab = {"collection": s.name}
            gauges.append(
                ("lowdim_collection_writes_total", "counter", "Write requests that changed a collection.", lab, s.writes)
            )
        return Response(metrics.render(gauges), media_type=CONTENT_TYPE)

    # -- reading ----------------------------------------------------------------------------
    @app.get("/collections", response_model=CollectionsResponse, tags=["collections"])
    def list_collections() -> Response:
        """Every served collection and its info."""
        out = []
        for served in registry.collections.values():
            with served.reading() as col:
                out.append(_info(served, col))
        return _json({"collections": out})

    @app.get("/collections/{name}", response_model=InfoResponse, responses=_READ_ERRORS, tags=["collections"])
    def info(name: str) -> Response:
        """``Collection.info()``: settings, counts, RAM and disk bytes."""
        served = registry.get(name)
        with served.reading() as col:
            return _json(_info(served, col))

    @app.post("/collections/{name}/search", response_model=SearchResponse, responses=_READ_ERRORS, tags=["collections"])
    def search(name: str, body: SearchRequest) -> Response:
        """``Collection.search``: the k best items per query, ``ids``/``scores`` of shape (n_queries, k).

        Send ``queries`` (vectors) or, when the collection has a text encoder, ``text``.
        """
        served = registry.get(name)
        limits.check_search(body.k, body.rerank, body.ef, body.nprobe)
        check_filter_caps(body.filter, limits)  # the server's caps first: they bound the work of the store's check
        flt = check_filter(body.filter)  # the store's grammar and values: the errors of Collection.search
        if (body.queries is None) == (body.text is None):
            raise ParameterError("send exactly one of 'queries' (vectors) and 'text'")
        s = served.settings
        factor = body.rerank if body.rerank is not None else (parse_spec(s.spec).rerank or 1)
        options: dict[str, Any] = {
            "filter": flt,
            "rerank": body.rerank,
            "ef": body.ef,
            "nprobe": body.nprobe,
            "with_metadata": body.with_metadata,
        }
        if body.text is not None:
            limits.check_candidates(_text_rows(body.text, "texts", served, limits), body.k, factor)
            with served.reading() as col, input_guard():  # model: another model's encoder, then its query map
                res = col.search_text(body.text, body.k, model=body.model, **options)
        else:
            # another model's queries have that model's width: the query map checks it
            width = s.dim if body.model is None or body.model == s.model else None
            Q = json_matrix(body.queries, "queries", limits, n_features=width, what=s.describe())
            limits.check_candidates(len(Q), body.k, factor)
            with served.reading() as col, input_guard():
                res = col.search(Q, body.k, model=body.model, **options)
        return _json(res.to_dict())

    @app.post("/collections/{name}/get", response_model=RecordsResponse, responses=_READ_ERRORS, tags=["collections"])
    def get(name: str, body: IdsRequest) -> Response:
        """``Collection.get(ids)``: stored vectors and metadata, in the order asked for."""
        served = registry.get(name)
        ids = _ids(body.ids, limits)
        with served.reading() as col, input_guard():
            rec = col.get(ids)
        return _json({"ids": list(rec.ids), "vectors": rec.vectors.tolist(), "metadata": rec.metadata})

    # -- writing ----------------------------------------------------------------------------
    def _insert(name: str, body: AddRequest, op: str) -> Response:
        served = registry.get(name)
        ids = _ids(body.ids, limits)
        if body.metadata is not None and not isinstance(body.metadata, list):
            raise ValidationError(
                f"metadata must be a JSON array of objects (one per vector); got {type(body.metadata).__name__}"
            )
        if (body.vectors is None) == (body.texts is None):
            raise ParameterError("send exactly one of 'vectors' and 'texts'")
        s = served.settings
        if body.texts is not None:
            _text_rows(body.texts, "texts", served, limits)  # before taking the write lock
            _no_model_with_text(body.model)
            texts = body.texts

            def run(w: Collection) -> Any:
                if op == "upsert":
                    return w.upsert_texts(texts, ids, body.metadata)
                return w.add_texts(texts, ids, body.metadata)

        else:
            X = json_matrix(body.vectors, "vectors", limits, n_features=s.dim, what=s.describe())

            def run(w: Collection) -> Any:
                if op == "upsert":
                    return w.upsert(X, ids, body.metadata, model=body.model)
                return w.add(X, ids, body.metadata, model=body.model)

        with input_guard():
            out = served.write(run)
        return _json({"ids": list(out)})

    @app.post(
        "/collections/{name}/add", response_model=IdsResponse, responses=_WRITE_ERRORS, dependencies=writer, tags=["writes"]
    )
    def add(name: str, body: AddRequest) -> Response:
        """``Collection.add``: store vectors (or texts) atomically; returns their ids once they are on disk."""
        return _insert(name, body, "add")

    @app.post(
        "/collections/{name}/upsert", response_model=IdsResponse, responses=_WRITE_ERRORS, dependencies=writer, tags=["writes"]
    )
    def upsert(name: str, body: UpsertRequest) -> Response:
        """``Collection.upsert``: insert, atomically replacing items that have one of these ids."""
        return _insert(name, body, "upsert")

    @app.post(
        "/collections/{name}/delete", response_model=DeleteResponse, responses=_WRITE_ERRORS, dependencies=writer, tags=["writes"]
    )
    def delete(name: str, body: IdsRequest) -> Response:
        """``Collection.delete``: remove these ids (unknown ones are ignored); returns how many were deleted."""
        served = registry.get(name)
        ids = _ids(body.ids, limits)
        with input_guard():
            n = served.write(lambda w: w.delete(ids))
        return _json({"deleted": int(n)})

    if served_summaries:
        add_summary_routes(app, served_summaries, limits, _json)
    add_migration_routes(app, registry, limits, writer, _json, _READ_ERRORS, _WRITE_ERRORS)
    add_multivector_routes(app, registry, limits, writer, _json)  # first in the routing: multi-vector names only
    add_ui_routes(app, registry, limits, writes_mode)  # /ui: read-only pages (no write control on them)

    # the schema names the served collections and their dims, models and caps
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            served = list(registry.collections.values())
            text = all(s.takes_text for s in served)
            app.openapi_schema = tailor_openapi(
                schema, names=registry.names, settings=[s.settings for s in served], text=text, limits=limits
            )
            if served_summaries:
                tailor_summaries(app.openapi_schema, served_summaries, limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
