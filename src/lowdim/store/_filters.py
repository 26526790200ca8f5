"""Metadata filters: a small MongoDB-like language compiled to SQL over an indexed key/value table.

Grammar
-------
``{"field": value}`` means ``{"field": {"$eq": value}}``; several fields in one dict
are ANDed; ``{"field": {"$gte": 1, "$lt": 5}}`` ANDs several operators on one field;
``{"$and": [f1, f2]}`` and ``{"$or": [f1, f2]}`` combine whole filters.

Operators: ``$eq $ne $lt $lte $gt $gte $in $nin``. Values are strings, numbers or
booleans (booleans compare as 0/1); ``$in``/``$nin`` take a list of them.

Semantics (those of MongoDB):

* a list-valued field matches when *any* element matches (``{"tag": "x"}`` matches
  ``{"tag": ["x", "y"]}``);
* ``$ne`` and ``$nin`` also match items that lack the field;
* comparisons never cross types: ``{"year": {"$gte": 2020}}`` does not match the
  string ``"2021"``;
* only top-level scalar fields (and lists of scalars) are indexed; nested objects are
  stored but cannot be filtered on.

Each metadata value is one row ``(key, value, rowid)`` of the ``meta_kv`` table whose
primary key is ``(key, value, rowid)``, so equality, ``$in`` and range conditions
are index range scans, whatever the size of the collection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from ..exceptions import ParameterError, ValidationError

__all__ = ["FILTER_OPERATORS", "compile_filter", "check_filter", "index_rows", "check_metadata", "filter_from_json"]

FILTER_OPERATORS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin")
_LOGICAL = ("$and", "$or")
_VALID = ", ".join(FILTER_OPERATORS) + " (and $and, $or to combine filters)"
_EXAMPLE = "{'pos': 'n', 'year': {'$gte': 2020}, 'tag': {'$in': ['a', 'b']}}"

_ALL = "SELECT rowid FROM items"


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: SQLite refuses compound SELECTs of more than 500 terms; longer $or / $and lists are nested
_MAX_COMPOUND = 100


def bad_text(v: str) -> bool:
    """True for strings SQLite cannot store: lone UTF-16 surrogates are not valid UTF-8."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def too_big_int(v: Any) -> bool:
    """True for Python integers (not booleans) outside SQLite's 64-bit INTEGER range."""
    return isinstance(v, int) and not isinstance(v, bool) and not _INT64_MIN <= v <= _INT64_MAX


def _scalar_ok(v: Any) -> bool:
    if isinstance(v, bool) or isinstance(v, (int, str)):
        return True
    return isinstance(v, float) and math.isfinite(v)


def _norm(v: Any) -> Any:
    """Booleans are stored as 0/1 integers (SQLite has no boolean type)."""
    return int(v) if isinstance(v, bool) else v


def _check_value(field: str, op: str, v: Any) -> Any:
    if v is None:
        raise ParameterError(
            f"filter value for '{field}' {op} is None; null cannot be filtered on (items without '{field}' "
            f"match {{'{field}': {{'$nin': [...all values...]}}}})"
        )
    if not _scalar_ok(v):
        raise ParameterError(
            f"filter value for '{field}' {op} must be a string, a finite number or a boolean; got {type(v).__name__} {v!r}"
        )
    if too_big_int(v):
        raise ParameterError(f"filter value for '{field}' {op} is {v}, which does not fit in 64 bits; expected a 64-bit integer")
    if isinstance(v, str) and bad_text(v):
        raise ParameterError(f"filter value for '{field}' {op} is not valid Unicode (it has a lone surrogate): {v!r}")
    return _norm(v)


def _op_sql(field: str, op: str, value: Any, params: list) -> str:
    base = "SELECT rowid FROM meta_kv WHERE key = ?"
    if op in ("$in", "$nin"):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ParameterError(
                f"filter operator {op} on '{field}' needs a list of values; got {type(value).__name__} {value!r}"
            )
        values = [_check_value(field, op, v) for v in value]
        params += [field, json.dumps(values)]
        sql = f"{base} AND value IN (SELECT value FROM json_each(?))"
        return f"{_ALL} EXCEPT {sql}" if op == "$nin" else sql
    v = _check_value(field, op, value)
    if op in ("$eq", "$ne"):
        params += [field, v]
        sql = f"{base} AND value = ?"
        return f"{_ALL} EXCEPT {sql}" if op == "$ne" else sql
    # Ranges stay inside one type band of SQLite's order (numbers < text < blob): a
    # number never matches a string and vice versa, and the scan is one index range.
    cmp = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}[op]
    params += [field, v]
    if isinstance(v, str):
        band = " AND value < x''" if op in ("$gt", "$gte") else " AND value >= ''"
    else:
        band = " AND value < ''" if op in ("$gt", "$gte") else ""
    return f"{base} AND value {cmp} ?{band}"


def _combine(parts: list[str], how: str) -> str:
    if len(parts) == 1:
        return parts[0]
    if len(parts) > _MAX_COMPOUND:  # nest: SQLite allows at most 500 terms in one compound SELECT
        groups = [_combine(parts[i : i + _MAX_COMPOUND], how) for i in range(0, len(parts), _MAX_COMPOUND)]
        return _combine(groups, how)
    return f" {how} ".join(f"SELECT rowid FROM ({p})" for p in parts)


def _field_sql(field: str, cond: Any, params: list) -> str:
    if isinstance(cond, dict):
        if not cond:
            raise ParameterError(
                f"filter condition for '{field}' is an empty dict; expected a value or operators like {{'$gte': 1}}"
            )
        parts = []
        for op, value in cond.items():
            if op not in FILTER_OPERATORS:
                raise ParameterError(f"unknown filter operator {op!r} on field '{field}'; valid operators: {_VALID}")
            parts.append(_op_sql(field, op, value, params))
        return _combine(parts, "INTERSECT")
    if isinstance(cond, (list, tuple)):
        raise ParameterError(
            f"filter value for '{field}' is a list; use {{'{field}': {{'$in': [...]}}}} to match any of several values"
        )
    return _op_sql(field, "$eq", cond, params)


def _node_sql(flt: Any, params: list) -> str:
    if not isinstance(flt, dict):
        raise ParameterError(f"a filter must be a dict such as {_EXAMPLE}; got {type(flt).__name__} {flt!r}")
    if not flt:
        return _ALL
    parts = []
    for key, cond in flt.items():
        if not isinstance(key, str):
            raise ParameterError(f"filter field names must be strings; got {key!r}")
        if key in _LOGICAL:
            if not isinstance(cond, (list, tuple)) or not cond:
                raise ParameterError(f"filter operator {key} needs a non-empty list of filters; got {cond!r}")
            sub = [_node_sql(f, params) for f in cond]
            parts.append(_combine(sub, "INTERSECT" if key == "$and" else "UNION"))
        elif key.startswith("$"):
            raise ParameterError(f"unknown filter operator {key!r} at the top level; valid operators: {_VALID}")
        else:
            parts.append(_field_sql(key, cond, params))
    return _combine(parts, "INTERSECT")


def compile_filter(flt: dict[str, Any]) -> tuple[str, list[Any]]:
    """SQL returning the rowids of the live items matching ``flt``, and its parameters.

    Examples
    --------
    >>> sql, params = compile_filter({"pos": "r"})
    >>> sql, params
    ('SELECT rowid FROM meta_kv WHERE key = ? AND value = ?', ['pos', 'r'])
    >>> compile_filter({"year": {"$between": 1}})
    Traceback (most recent call last):
    ...
    lowdim.exceptions.ParameterError: unknown filter operator '$between' on field 'year'; valid operators: $eq, $ne, $lt, $lte, $gt, $gte, $in, $nin (and $and, $or to combine filters)
    """
    params: list[Any] = []
    sql = _node_sql(flt, params)
    return sql, params


def check_filter(flt: Any) -> dict[str, Any] | None:
    """Validate a filter as :func:`compile_filter` does (same one-line errors), without any SQL; return it.

    ``None`` (no filter) is returned as is. Numbers compare by value: a float such as
    ``1e19`` is a valid REAL, only Python integers outside 64 bits are refused.

    Examples
    --------
    >>> check_filter({"year": {"$gte": 1e19}})
    {'year': {'$gte': 1e+19}}
    >>> check_filter({"year": 2**64})
    Traceback (most recent call last):
    ...
    lowdim.exceptions.ParameterError: filter value for 'year' $eq is 18446744073709551616, which does not fit in 64 bits; expected a 64-bit integer
    """
    if flt is not None:
        _node_sql(flt, [])
    return flt


def check_metadata(metadata: Any, n: int) -> list[str | None]:
    """Validate ``n`` metadata dicts (or None) and return their JSON texts (None where absent)."""
    if metadata is None:
        return [None] * n
    if isinstance(metadata, dict):
        raise ValidationError(f"metadata must be a list of {n} dicts (one per vector), not one dict")
    try:
        items = list(metadata)
    except TypeError:
        raise ValidationError(f"metadata must be a list of {n} dicts (one per vector); got {type(metadata).__name__}") from None
    if len(items) != n:
        raise ValidationError(
            f"metadata has {len(items)} entries, but {n} vectors were given; expected one dict (or None) per vector"
        )
    out: list[str | None] = []
    for i, m in enumerate(items):
        if m is None:
            out.append(None)
            continue
        if not isinstance(m, dict):
            raise ValidationError(f"metadata[{i}] is a {type(m).__name__}; expected a dict (or None)")
        bad = [k for k in m if not isinstance(k, str)]
        if bad:
            raise ValidationError(f"metadata[{i}] has a non-string key {bad[0]!r}; JSON objects need string keys")
        try:
            text = json.dumps(m, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"metadata[{i}] is not JSON-serialisable: {exc}") from None
        if bad_text(text):
            raise ValidationError(
                f"metadata[{i}] has a string that is not valid Unicode (a lone surrogate); expected UTF-8 encodable text"
            )
        for key, value in m.items():
            for v in value if isinstance(value, list) else [value]:
                if too_big_int(v):
                    raise ValidationError(
                        f"metadata[{i}]['{key}'] holds {v}, which does not fit in 64 bits; "
                        "expected a 64-bit integer (store larger numbers as strings or floats)"
                    )
        out.append(text)
    return out


def index_rows(rowid: int, meta: dict[str, Any]) -> Iterator[tuple[str, Any, int]]:
    """The ``(key, value, rowid)`` rows that index one item's metadata (top-level scalars and lists of scalars)."""
    for key, value in meta.items():
        if isinstance(value, list):
            seen = set()
            for v in value:
                if _scalar_ok(v):
                    v = _norm(v)
                    marker = (type(v) is str, v)
                    if marker not in seen:
                        seen.add(marker)
                        yield key, v, rowid
        elif _scalar_ok(value):
            yield key, _norm(value), rowid


def filter_from_json(text: str | None) -> dict[str, Any] | None:
    """A ``--filter`` option's JSON text as a filter (None stays None); bad JSON is a one-line ParameterError.

    >>> filter_from_json('{"pos": "n"}')
    {'pos': 'n'}
    """
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"--filter is not valid JSON ({exc.msg} at character {exc.pos}): {text}") from None
