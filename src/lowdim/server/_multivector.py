"""The HTTP routes of multi-vector collections: token sets in, exact Chamfer results out.

A served folder holding ``multivector.json`` is a :class:`~lowdim.multivector.MultiVectorCollection`.
It answers on the same paths as any collection (``/collections/{name}``, ``.../search``, ``/get``,
``/add``, ``/upsert``, ``/delete``), but its bodies carry ``tokens``: a list of token sets, each a
list of token vectors (lists of ``dim`` numbers), e.g. one query ``{"tokens": [[[0.1, ...], [0.3, ...]]]}``.
The routes here match only the multi-vector names (:func:`add_multivector_routes` puts them
first); every other name falls through to the single-vector routes, which refuse ``tokens``.
As there, each check of a value is the Python API's, so a bad value gets its one-line 422.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, get_type_hints

import numpy as np
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.responses import Response
from starlette.routing import Match

from ..exceptions import ParameterError, ValidationError
from ..multivector import TokenSets
from ..store import check_filter, normalize_ids
from ._errors import input_guard
from ._limits import Limits, check_filter_caps, check_rows, check_token_counts, json_matrix
from ._models import JSONInt
from ._mv_registry import ServedMultiVector
from ._registry import Registry

__all__ = [
    "add_multivector_routes",
    "json_token_sets",
    "MultiVectorSearchRequest",
    "MultiVectorAddRequest",
    "MultiVectorUpsertRequest",
    "MultiVectorIdsRequest",
]

_TOKENS_DOC = "Token sets: a list of sets, each a list of token vectors of dim numbers: [[[...], [...]], [[...]]]."


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _SingleVectorFields(_Body):
    """Fields of the single-vector bodies: accepted here only to be refused with a message saying what to send."""

    queries: Any = Field(None, exclude=True)
    text: Any = Field(None, exclude=True)
    vectors: Any = Field(None, exclude=True)
    texts: Any = Field(None, exclude=True)
    rerank: Any = Field(None, exclude=True)
    ef: Any = Field(None, exclude=True)
    nprobe: Any = Field(None, exclude=True)
    model: Any = Field(None, exclude=True)


class MultiVectorSearchRequest(_SingleVectorFields):
    """``MultiVectorCollection.search(tokens, k, candidates=, filter=, with_metadata=)``."""

    tokens: Any = Field(None, description="Query token sets (n_queries of them). " + _TOKENS_DOC)
    k: JSONInt = Field(10, description="Documents per query (at most the server's max_k).")
    candidates: JSONInt | None = Field(
        None, description="Documents the first stage finds per query and exact Chamfer reranks (default the collection's)."
    )
    filter: Any = Field(None, description='Metadata conditions, e.g. {"lang": "en"}.')
    with_metadata: StrictBool = Field(False, description="Also return each hit's metadata.")


class MultiVectorAddRequest(_SingleVectorFields):
    """``MultiVectorCollection.add(tokens, ids=, metadata=)``."""

    tokens: Any = Field(None, description="Document token sets (n of them). " + _TOKENS_DOC)
    ids: Any = Field(None, description="n unique ids (ints or strings); default 0, 1, 2, ...")
    metadata: Any = Field(None, description="n JSON objects (or null), filterable.")


class MultiVectorUpsertRequest(MultiVectorAddRequest):
    """``MultiVectorCollection.upsert(tokens, ids, metadata=)``: ids are required."""

    ids: Any = Field(..., description="n unique ids; documents that have one are replaced.")


class MultiVectorIdsRequest(_Body):
    """``MultiVectorCollection.delete(ids)`` / ``get(ids)``."""

    ids: Any = Field(..., description="Ids (ints or strings).")


def json_token_sets(
    value: Any, name: str, limits: Limits, *, n_features: int | None = None, what: str = "this collection"
) -> TokenSets:
    """A JSON list of token sets (each a list of lists of numbers) as :class:`TokenSets`, under the server's caps.

    Parameters
    ----------
    value : list of lists of lists of numbers
        ``n`` token sets; set ``i`` is ``n_i`` token vectors of ``d`` numbers each.
    name : str
        The field's name in messages.
    limits : Limits
        ``max_batch`` sets, ``max_tokens_per_set`` per set, ``max_tokens`` in all.
    n_features : int, optional
        The expected token width ``d``.

    Returns
    -------
    TokenSets
        float32 rows (sum n_i, d) and offsets (n + 1,).

    Examples
    --------
    >>> json_token_sets([[[1, 0], [0, 1]], [[1, 1]]], "tokens", Limits()).offsets.tolist()
    [0, 2, 3]
    >>> json_token_sets([[1, 0], [0, 1]], "tokens", Limits())
    Traceback (most recent call last):
    ...
    lowdim.exceptions.ValidationError: tokens[0] is one token vector, not a token set: tokens is a list of token sets, so one set of tokens is [[[...], [...]]]
    """
    if not isinstance(value, list) or not value:
        got = "an empty list" if isinstance(value, list) else f"a {type(value).__name__}"
        raise ValidationError(
            f"{name} must be a non-empty list of token sets, each a list of token vectors: [[[...], [...]]]; got {got}"
        )
    for i, s in enumerate(value):
        if isinstance(s, list) and s and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s):
            raise ValidationError(
                f"{name}[{i}] is one token vector, not a token set: {name} is a list of token sets, "
                f"so one set of tokens is [[[...], [...]]]"
            )
        if not isinstance(s, list):
            raise ValidationError(f"{name}[{i}] is a {type(s).__name__}; a token set is a list of token vectors")
        if not s:
            raise ValidationError(f"{name}[{i}] is an empty token set; every set needs at least one token vector")
    lengths = [len(s) for s in value]
    check_token_counts(lengths, name, limits)
    per_set = replace(limits, max_batch=limits.max_tokens_per_set)  # the set's rows were counted just above
    width = n_features
    parts = []
    for i, s in enumerate(value):
        arr = json_matrix(s, f"{name}[{i}]", per_set, n_features=width, what=what if n_features else f"{name}[0]")
        width = arr.shape[1]
        parts.append(arr)
    offsets = np.zeros(len(parts) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return TokenSets(np.concatenate(parts, axis=0), offsets)


def _ids(value: Any, limits: Limits) -> Any:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValidationError(f"ids must be a JSON array of strings or integers; got {type(value).__name__}")
    check_rows(len(value), "ids", limits)
    return normalize_ids(value)


def _refuse_single_vector_fields(body: _SingleVectorFields, name: str, dim: int) -> None:
    send = f"send 'tokens' (a list of token sets, each a list of token vectors of {dim} numbers)"
    for field in ("queries", "vectors", "text", "texts"):
        if getattr(body, field) is not None:
            raise ParameterError(f"collection {name!r} is a multi-vector collection, so it takes no {field!r}: {send}")
    if body.rerank is not None:
        raise ParameterError(
            f"collection {name!r} is a multi-vector collection: its candidates are reranked with exact Chamfer; "
            f"set 'candidates' (documents reranked per query) instead of 'rerank'"
        )
    for field in ("ef", "nprobe", "model"):
        if getattr(body, field) is not None:
            raise ParameterError(f"{field!r} does not apply to a multi-vector collection ({name!r}); leave it out")


def _route_class(registry: Registry) -> type[APIRoute]:
    class MultiVectorRoute(APIRoute):
        """Matches only the paths whose ``{name}`` is a served multi-vector collection."""

        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            super().__init__(path, endpoint, **kwargs)
            #: the body model, for the "unknown field" hints of the error handler
            self.request_model = get_type_hints(endpoint).get("body")

        def matches(self, scope: Any) -> tuple[Match, Any]:
            match, child = super().matches(scope)
            if match is not Match.NONE:
                name = child.get("path_params", {}).get("name")
                if name is not None and name not in registry.multivector:
                    return Match.NONE, {}
            return match, child

    return MultiVectorRoute


def add_multivector_routes(
    app: FastAPI, registry: Registry, limits: Limits, writer: Sequence[Any], as_json: Callable[..., Response]
) -> None:
    """Serve ``registry.multivector`` on the collection paths of ``app`` (see the module docstring).

    The routes are placed before every other route, so they answer for the multi-vector names
    (and the listing ``GET /collections``, which adds them to the single-vector collections').
    """
    route_class = _route_class(registry)
    router = APIRouter(route_class=route_class, tags=["multi-vector"], include_in_schema=False)

    def served_mv(name: str) -> ServedMultiVector:
        return registry.multivector[name]  # the route matched, so the name is served

    def info_of(served: ServedMultiVector) -> dict[str, Any]:
        with served.reading_mv() as handle:
            info = handle.info()
        return {"name": served.name, "kind": "multivector", "text": False, **info}

    def single_listing() -> list[Any]:
        """What the single-vector listing route answers (the route after this one on the same path)."""
        for route in app.router.routes:
            if isinstance(route, APIRoute) and not isinstance(route, route_class) and route.path == "/collections":
                if "GET" in (route.methods or ()):
                    return list(json.loads(bytes(route.endpoint().body))["collections"])
        return []

    @router.get("/collections")
    def list_collections() -> Response:
        """Every served collection's info; multi-vector ones have ``"kind": "multivector"``."""
        out = single_listing()
        out += [info_of(s) for s in registry.multivector.values()]
        return as_json({"collections": out})

    @router.get("/collections/{name}")
    def info(name: str) -> Response:
        """``MultiVectorCollection.info()``: settings, counts, RAM bytes per document, token disk bytes."""
        return as_json(info_of(served_mv(name)))

    @router.post("/collections/{name}/search")
    def search(name: str, body: MultiVectorSearchRequest) -> Response:
        """``MultiVectorCollection.search``: the k documents of best exact Chamfer score per query token set."""
        served = served_mv(name)
        dim = int(served.settings.dim)
        _refuse_single_vector_fields(body, name, dim)
        limits.check_search(body.k, None, None)
        check_filter_caps(body.filter, limits)
        flt = check_filter(body.filter)
        if body.tokens is None:
            raise ParameterError(f"send 'tokens': the query token sets (each a list of token vectors of {dim} numbers)")
        what = f"multi-vector collection {name!r}"
        ts = json_token_sets(body.tokens, "tokens", limits, n_features=dim, what=what)
        with served.reading_mv() as handle, input_guard():
            mv = handle.mv
            candidates = mv.candidates if body.candidates is None else body.candidates
            limits.check_candidates(len(ts), max(candidates, body.k), 1)  # documents Chamfer reranks in this request
            res = mv.search(ts, body.k, candidates=body.candidates, filter=flt, with_metadata=body.with_metadata)
        return as_json(res.to_dict())

    @router.post("/collections/{name}/get")
    def get(name: str, body: MultiVectorIdsRequest) -> Response:
        """``MultiVectorCollection.get(ids)``: stored token sets and metadata, in the order asked for."""
        served = served_mv(name)
        ids = _ids(body.ids, limits)
        with served.reading_mv() as handle, input_guard():
            rec = handle.mv.get(ids)
        tokens = [s.tolist() for s in rec.tokens]
        return as_json({"ids": list(rec.ids), "tokens": tokens, "metadata": rec.metadata})

    def insert(name: str, body: MultiVectorAddRequest, op: str) -> Response:
        served = served_mv(name)
        dim = int(served.settings.dim)
        _refuse_single_vector_fields(body, name, dim)
        if body.tokens is None:
            raise ParameterError(f"send 'tokens': the documents' token sets (each a list of token vectors of {dim} numbers)")
        ids = _ids(body.ids, limits)
        if body.metadata is not None and not isinstance(body.metadata, list):
            raise ValidationError(
                f"metadata must be a JSON array of objects (one per token set); got {type(body.metadata).__name__}"
            )
        ts = json_token_sets(body.tokens, "tokens", limits, n_features=dim, what=f"multi-vector collection {name!r}")
        meta = body.metadata

        def run(mv: Any) -> Any:
            return mv.upsert(ts, ids, meta) if op == "upsert" else mv.add(ts, ids, meta)

        with input_guard():
            out = served.write_mv(run)
        return as_json({"ids": list(out)})

    @router.post("/collections/{name}/add", dependencies=list(writer))
    def add(name: str, body: MultiVectorAddRequest) -> Response:
        """``MultiVectorCollection.add``: store token sets durably; returns their ids once they are on disk."""
        return insert(name, body, "add")

    @router.post("/collections/{name}/upsert", dependencies=list(writer))
    def upsert(name: str, body: MultiVectorUpsertRequest) -> Response:
        """``MultiVectorCollection.upsert``: insert, atomically replacing documents that have one of these ids."""
        return insert(name, body, "upsert")

    @router.post("/collections/{name}/delete", dependencies=list(writer))
    def delete(name: str, body: MultiVectorIdsRequest) -> Response:
        """``MultiVectorCollection.delete``: remove these ids (unknown ones are ignored); returns how many were deleted."""
        served = served_mv(name)
        ids = _ids(body.ids, limits)
        with input_guard():
            n = served.write_mv(lambda mv: mv.delete(ids))
        return as_json({"deleted": int(n)})

    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added  # first: they match only multi-vector names, the rest falls through
