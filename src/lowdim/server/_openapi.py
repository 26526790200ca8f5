"""The OpenAPI schema of *this* server: its collection names, dims, caps and the filter grammar.

FastAPI's generated schema only knows Python types. The served collections fix much
more (the width of a vector, the model, whether text or ``ef`` apply, the caps), and
documenting it makes ``/docs`` precise and lets a schema fuzzer generate requests
the server should accept, and check that it refuses the rest.
"""

from __future__ import annotations

from typing import Any

from ._limits import _FLOAT32_MAX, Limits

__all__ = ["tailor_openapi", "FILTER_SCHEMAS"]


_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_ID = {"anyOf": [_INT64, {"type": "string"}]}
_REF = "#/components/schemas/"

#: the filter grammar of :func:`lowdim.store.check_filter` as JSON Schema
FILTER_SCHEMAS: dict[str, Any] = {
    "FilterValue": {
        "description": (
            "A string, a boolean, a 64-bit integer or a finite number (null cannot be filtered on). "
            "Numbers compare by value: 1e19 is a valid bound, while an integer written without a fraction "
            "or exponent must fit in 64 bits."
        ),
        "anyOf": [
            {"type": "string"},
            {"type": "boolean"},
            _INT64,
            # JSON Schema cannot tell 1e19 from 10000000000000000000 (the store takes the first, as a
            # float, and refuses the second, as an integer beyond 64 bits): integral values beyond
            # 64 bits are left out here, so whatever the schema accepts, the server does
            {"type": "number", "not": {"type": "integer"}},
        ],
    },
    "FilterCondition": {
        "description": "A value (equality) or operators on one field, ANDed.",
        "anyOf": [
            {"$ref": _REF + "FilterValue"},
            {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    **{op: {"$ref": _REF + "FilterValue"} for op in ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte")},
                    **{op: {"type": "array", "items": {"$ref": _REF + "FilterValue"}} for op in ("$in", "$nin")},
                },
            },
        ],
    },
    "Filter": {
        "description": (
            'Metadata conditions, MongoDB-like: {"pos": "n", "year": {"$gte": 2020}, "$or": [{...}, {...}]}. Fields are ANDed.'
        ),
        "type": "object",
        "properties": {
            "$and": {"type": "array", "minItems": 1, "items": {"$ref": _REF + "Filter"}},
            "$or": {"type": "array", "minItems": 1, "items": {"$ref": _REF + "Filter"}},
        },
        "patternProperties": {"^([^$].*)?$": {"$ref": _REF + "FilterCondition"}},
        "additionalProperties": False,
    },
}


def _one_of(a: str, b: str, a_schema: dict[str, Any], b_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Exactly one of fields ``a`` and ``b`` (text) is present and not null; ``model`` goes with ``a`` only."""
    return [
        {"required": [a], "properties": {a: a_schema, b: {"type": "null"}}},
        {"required": [b], "properties": {b: b_schema, a: {"type": "null"}, "model": {"type": "null"}}},
    ]


def tailor_openapi(
    schema: dict[str, Any], *, names: list[str], settings: list[Any], text: bool, limits: Limits
) -> dict[str, Any]:
    """Make ``schema`` (FastAPI's) describe the served collections; modifies and returns it.

    ``settings`` are the served collections' :class:`~lowdim.store.Settings`; ``text``
    says whether every served collection has a text encoder (so takes ``text`` / ``texts``).
    """
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    comps.update(FILTER_SCHEMAS)
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            for p in op.get("parameters", []):
                if p.get("in") == "path" and p.get("name") == "name":
                    p["schema"] = {"type": "string", "enum": list(names), "title": "Name"}

    dims = {s.dim for s in settings}
    models = {s.model for s in settings}
    row: dict[str, Any] = {"type": "number", "minimum": -_FLOAT32_MAX, "maximum": _FLOAT32_MAX}
    vector: dict[str, Any] = {"type": "array", "minItems": 1, "items": row}
    if len(dims) == 1:
        (d,) = dims
        vector.update(minItems=d, maxItems=d)
    matrix = {"type": "array", "minItems": 1, "maxItems": limits.max_batch, "items": vector}
    texts = {"type": "array", "minItems": 1, "maxItems": limits.max_batch, "items": {"type": "string"}}
    ids = {"type": "array", "maxItems": limits.max_batch, "items": _ID}
    model: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    if len(models) == 1 and None not in models:
        model = {"anyOf": [{"type": "string", "enum": sorted(models)}, {"type": "null"}]}

    def nullable(s: dict[str, Any]) -> dict[str, Any]:
        return {"anyOf": [s, {"type": "null"}]}

    search = comps.get("SearchRequest")
    if search is not None:
        props = search["properties"]
        props["k"].update(minimum=1, maximum=limits.max_k)
        props["rerank"] = {
            **nullable({"type": "integer", "minimum": 0, "maximum": limits.max_rerank}),
            "description": props["rerank"].get("description", ""),
        }
        props["filter"] = {**nullable({"$ref": _REF + "Filter"}), "description": props["filter"].get("description", "")}
        props["model"] = {**model, "description": props["model"].get("description", "")}
        if all(s.index == "hnsw" for s in settings):
            props["ef"] = {
                **nullable({"type": "integer", "minimum": 1, "maximum": limits.max_ef}),
                "description": props["ef"].get("description", ""),
            }
        else:
            props.pop("ef", None)  # ef applies to HNSW collections only
        if all(s.index == "ivf" for s in settings):
            props["nprobe"] = {
                **nullable({"type": "integer", "minimum": 1, "maximum": limits.max_ef}),
                "description": props["nprobe"].get("description", ""),
            }
        else:
            props.pop("nprobe", None)  # nprobe applies to IVF collections only
        if text:
            props["queries"] = {**nullable(matrix), "description": props["queries"].get("description", "")}
            props["text"] = {
                **nullable({"anyOf": [{"type": "string"}, texts]}),
                "description": props["text"].get("description", ""),
            }
            search["oneOf"] = _one_of("queries", "text", matrix, {"anyOf": [{"type": "string"}, texts]})
        else:
            props["queries"] = {**matrix, "description": props["queries"].get("description", "")}
            props.pop("text", None)
            search["required"] = ["queries"]
    for name, op in (("AddRequest", "add"), ("UpsertRequest", "upsert")):
        body = comps.get(name)
        if body is None:
            continue
        props = body["properties"]
        props["model"] = {**model, "description": props["model"].get("description", "")}
        unique_ids = {**ids, "uniqueItems": True}
        props["ids"] = {
            **(unique_ids if op == "upsert" else nullable(unique_ids)),
            "description": props["ids"].get("description", ""),
        }
        props["metadata"] = {
            **nullable({"type": "array", "maxItems": limits.max_batch, "items": nullable({"type": "object"})}),
            "description": props["metadata"].get("description", ""),
        }
        if text:
            props["vectors"] = {**nullable(matrix), "description": props["vectors"].get("description", "")}
            props["texts"] = {**nullable(texts), "description": props["texts"].get("description", "")}
            body["oneOf"] = _one_of("vectors", "texts", matrix, texts)
        else:
            props["vectors"] = {**matrix, "description": props["vectors"].get("description", "")}
            props.pop("texts", None)
            body["required"] = sorted(set(body.get("required", [])) | {"vectors"})
    ids_body = comps.get("IdsRequest")
    if ids_body is not None:
        ids_body["properties"]["ids"] = {**ids, "description": ids_body["properties"]["ids"].get("description", "")}
    return schema
