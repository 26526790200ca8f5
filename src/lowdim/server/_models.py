"""Request and response bodies: the Python API's argument names, as JSON.

Arrays, ids, metadata and filters are typed ``Any`` for validation and described
in the OpenAPI schema by hand: they go through lowdim's own gates (the array gate,
the store's id and metadata checks, the filter compiler), so a bad value gets
lowdim's one-line message rather than a generic one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from ..validation import integral_number

__all__ = [
    "SearchRequest",
    "AddRequest",
    "UpsertRequest",
    "IdsRequest",
    "SearchResponse",
    "IdsResponse",
    "DeleteResponse",
    "RecordsResponse",
    "InfoResponse",
    "CollectionsResponse",
    "HealthResponse",
    "ErrorResponse",
    "REQUEST_MODELS",
]

_MATRIX = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "array", "minItems": 1, "items": {"type": "number"}},
}
_IDS: dict[str, Any] = {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}
_METADATA = {"type": "array", "items": {"anyOf": [{"type": "object"}, {"type": "null"}]}}
_FILTER = {"type": "object", "additionalProperties": True}
_TEXT = {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}]}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


#: an integer, written as 10 or 10.0 in JSON (lowdim's one rule for that; strings and booleans stay refused)
JSONInt = Annotated[StrictInt, BeforeValidator(integral_number)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SearchRequest(_Body):
    """``Collection.search(queries, k, filter=, rerank=, ef=, nprobe=, model=, with_metadata=)``, or
    ``search_text(text, k, filter=, rerank=, ef=, nprobe=, with_metadata=)`` when the collection has a text
    encoder: send exactly one of ``queries`` and ``text``."""

    queries: Any = Field(
        None,
        description="Query vectors, shape (n_queries, dim); one query is a batch of one: [[...]].",
        json_schema_extra=_nullable(_MATRIX),
    )
    text: Any = Field(
        None,
        description="Query text(s), for collections with a text encoder.",
        json_schema_extra=_nullable(_TEXT),
    )
    k: JSONInt = Field(10, description="Neighbours per query (at most the server's max_k).")
    filter: Any = Field(
        None,
        description='Metadata conditions, e.g. {"pos": "n", "year": {"$gte": 2020}}.',
        json_schema_extra=_nullable(_FILTER),
    )
    rerank: JSONInt | None = Field(
        None, description="Rescore rerank*k candidates with the full vectors; default the spec's +rerankN; 0 disables."
    )
    ef: JSONInt | None = Field(None, description="HNSW beam width (index='hnsw' only).")
    nprobe: JSONInt | None = Field(None, description="IVF lists probed per query (index='ivf' only).")
    model: StrictStr | None = Field(
        None,
        description="The embedding model of the queries (vectors, or text embedded by that model's encoder): another model than "
        "the collection's needs a query map (or a migration to it); refused otherwise.",
    )
    with_metadata: StrictBool = Field(False, description="Also return each hit's metadata.")


class AddRequest(_Body):
    """``Collection.add(vectors, ids=, metadata=, model=)``, or ``add_texts(texts, ids=, metadata=)``: send exactly one
    of ``vectors`` and ``texts``."""

    vectors: Any = Field(None, description="Vectors, shape (n, dim).", json_schema_extra=_nullable(_MATRIX))
    texts: Any = Field(
        None,
        description="Texts to embed, for collections with a text encoder.",
        json_schema_extra=_nullable({"type": "array", "minItems": 1, "items": {"type": "string"}}),
    )
    ids: Any = Field(None, description="n unique ids (ints or strings); default 0, 1, 2, ...", json_schema_extra=_nullable(_IDS))
    metadata: Any = Field(None, description="n JSON objects (or null), filterable.", json_schema_extra=_nullable(_METADATA))
    model: StrictStr | None = Field(None, description="The embedding model of the vectors (not with texts).")


class UpsertRequest(AddRequest):
    """``Collection.upsert(vectors, ids, metadata=, model=)`` or ``upsert_texts(texts, ids, metadata=)``: ids are required."""

    ids: Any = Field(..., description="n unique ids; items that have one are replaced.", json_schema_extra=_IDS)


class IdsRequest(_Body):
    """``Collection.delete(ids)`` / ``Collection.get(ids)``."""

    ids: Any = Field(..., description="Ids (ints or strings).", json_schema_extra=_IDS)


Id = StrictInt | StrictStr


class SearchResponse(BaseModel):
    """``CollectionResult.to_dict()``: fixed shape (n_queries, k), best first; ``null`` where fewer than k items match."""

    ids: list[list[Id | None]]
    scores: list[list[float | None]]
    exact_reason: str | None = Field(
        None,
        description="Set when the search was an exact scan of the full vectors because the codec is not trained yet, "
        "and says why (the collection's untrained_reason); null for searches over the codes.",
    )
    metadata: list[list[dict[str, Any] | None]] | None = None


class IdsResponse(BaseModel):
    ids: list[Id]


class DeleteResponse(BaseModel):
    deleted: int


class RecordsResponse(BaseModel):
    ids: list[Id]
    vectors: list[list[float]]
    metadata: list[dict[str, Any] | None]


class InfoResponse(BaseModel):
    """``Collection.info()`` without the server's file path, plus the served name."""

    name: str
    dim: int
    metric: str
    spec: str
    model: str | None
    index: str
    count: int
    deleted: int
    trained: bool = Field(description="Whether the codec is fitted; until then searches are exact scans.")
    search_mode: Literal["exact", "codes", "graph"] = Field(
        description="'exact' until trained (full vectors scanned), then 'codes' or 'graph' (HNSW)."
    )
    untrained_reason: str | None = Field(description="Why searches are exact scans (one sentence); null once trained.")
    codec_source: str | None = Field(description="Where the codec came from ('auto', 'train', 'plan'); null until trained.")
    codec_rows: int | None = Field(description="Vectors the codec was fitted on (null for a plan's codec or until trained).")
    text: bool = Field(description="Whether the collection takes texts (it has a text encoder).")


class CollectionsResponse(BaseModel):
    collections: list[InfoResponse]


class HealthResponse(BaseModel):
    status: str
    version: str
    collections: list[str]
    writes: str = Field(description="'api_key' (writes need the key), 'open' (unauthenticated) or 'disabled'.")
    limits: dict[str, int]


class ErrorResponse(BaseModel):
    """Every error: a one-line message and a machine-readable detail (never a traceback)."""

    error: str
    detail: Any = None


class MigrateRequest(_Body):
    """``Collection.migrate(to_model, fit_texts=, fit_size=, batch_size=, background=True)`` on a text collection."""

    to_model: StrictStr = Field(..., description="The new embedding model (a bundled name or a model folder on the server).")
    fit_texts: list[StrictStr] | None = Field(
        None, description="Query-like texts embedded by both models to fit the query map (better maps for short queries)."
    )
    fit_size: JSONInt = Field(2000, ge=50, description="Items re-embedded first and paired to fit the map.")
    batch_size: JSONInt = Field(1024, ge=1, description="Items per durable batch.")


class MigrationResponse(BaseModel):
    """``Collection.migration``: the migration in progress (done, total, fraction, checkpoints...), or null."""

    migration: dict[str, Any] | None


#: the body model of each endpoint, by the last part of its path (for "did you mean" hints)
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "search": SearchRequest,
    "add": AddRequest,
    "upsert": UpsertRequest,
    "delete": IdsRequest,
    "get": IdsRequest,
    "migrate": MigrateRequest,
}
