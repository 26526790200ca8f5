"""Released private summaries, served read-only: ``GET /summaries``, ``GET /summaries/{name}``, ``POST /summaries/{name}/query``.

A summary (:class:`~lowdim.private.PrivateSummary`) is already differentially private, and answering
queries from it is post-processing, so serving it costs no privacy and needs no key. The server only
loads the released file (the private rows are not there) and answers; nothing can change it.
``lowdim serve --summary NAME=summary.npz`` serves one; :meth:`lowdim.Client.summary` reads it
(:class:`~lowdim.server._summary_client.RemoteSummary`).

Examples
--------
>>> import numpy as np, tempfile
>>> from fastapi.testclient import TestClient
>>> from lowdim.private import PrivateSummary
>>> from lowdim.server import create_app
>>> X = np.random.default_rng(0).standard_normal((500, 4)).astype(np.float32)
>>> path = tempfile.mkdtemp() + "/s.npz"
>>> _ = PrivateSummary("linear", epsilon=1.0, bound=3.0, noise_seed=0).fit(X).save(path)
>>> with TestClient(create_app([], summaries={"demo": path})) as http:
...     body = http.post("/summaries/demo/query", json={"queries": [[1, 0, 0, 0]]}).json()
...     sorted(body), http.get("/summaries/demo").json()["record"]["epsilon"]
(['count', 'means', 'sums'], 1.0)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import Field
from starlette.responses import Response

from ..exceptions import ConflictError, NotFoundError, ParameterError
from ..private import PrivateSummary
from ._limits import Limits, json_matrix
from ._models import _MATRIX, REQUEST_MODELS, ErrorResponse, _Body
from ._registry import NAME_PATTERN

__all__ = ["parse_summary_options", "load_summaries", "add_summary_routes", "tailor_summaries", "SummaryQueryRequest"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON."},
    404: {"model": ErrorResponse, "description": "No such summary."},
    413: {"model": ErrorResponse, "description": "Request body larger than max_body_bytes."},
    422: {"model": ErrorResponse, "description": "Invalid queries (wrong width, NaN, too many rows)."},
}


_QUERIES: dict[str, Any] = dict(_MATRIX)


class SummaryQueryRequest(_Body):
    """``PrivateSummary.query(queries)``: estimates of the sum and mean of f over the private rows."""

    queries: Any = Field(..., description="Query vectors, shape (n_queries, width).", json_schema_extra=_QUERIES)


def parse_summary_options(items: Sequence[str]) -> dict[str, Path]:
    """``{name: path}`` from ``NAME=PATH`` strings (``lowdim serve --summary``).

    >>> parse_summary_options(["kde=/tmp/kde.npz"])
    {'kde': PosixPath('/tmp/kde.npz')}
    """
    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise ParameterError(f"--summary takes NAME=PATH (e.g. kde=summary.npz). Got {item!r}.")
        if name in out:
            raise ConflictError(f"two served summaries are named {name!r}")
        out[name] = Path(path)
    return out


def load_summaries(summaries: Mapping[str, str | os.PathLike[str]] | None) -> dict[str, PrivateSummary]:
    """The released summaries by name; a bad name or file is a one-line error at startup."""
    out: dict[str, PrivateSummary] = {}
    for name, path in (summaries or {}).items():
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ParameterError(
                f"a served summary's name must be letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-'). Got {name!r}."
            )
        out[name] = PrivateSummary.load(path)
    return out


def _finite(obj: Any) -> Any:
    """``obj`` with non-finite floats as None (JSON has no NaN or infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _info(name: str, summary: PrivateSummary) -> dict[str, Any]:
    return _finite({"name": name, **summary.info()})


def add_summary_routes(app: FastAPI, summaries: dict[str, PrivateSummary], limits: Limits, reply: Any) -> None:
    """Add the read-only summary endpoints to ``app``; ``reply(obj)`` turns a dict into the JSON response."""
    REQUEST_MODELS.setdefault("query", SummaryQueryRequest)  # "did you mean" hints for unknown fields

    def get(name: Any) -> PrivateSummary:
        summary = summaries.get(name) if isinstance(name, str) else None
        if summary is None:
            shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}..."
            raise NotFoundError(f"no summary named {shown!r} on this server; served: {', '.join(summaries)}")
        return summary

    @app.get("/summaries", tags=["summaries"])
    def list_summaries() -> Response:
        """Every served summary: settings, width, released row count and privacy record."""
        return reply({"summaries": [_info(n, s) for n, s in summaries.items()]})

    @app.get("/summaries/{name}", responses=_ERRORS, tags=["summaries"])
    def summary_info(name: str) -> Response:
        """A summary's settings and privacy record (mechanism, epsilon, delta, sensitivity, noise scales, seeds)."""
        return reply(_info(name, get(name)))

    @app.post("/summaries/{name}/query", responses=_ERRORS, tags=["summaries"])
    def summary_query(name: str, body: SummaryQueryRequest) -> Response:
        """``PrivateSummary.query``: ``sums`` and ``means`` of f over the private rows, one per query (no privacy cost)."""
        summary = get(name)
        Q = json_matrix(body.queries, "queries", limits, n_features=summary.n_features_in_, what="this summary")
        return reply(_finite(summary.query(Q).to_dict()))


def tailor_summaries(schema: dict[str, Any], summaries: dict[str, PrivateSummary], limits: Limits) -> dict[str, Any]:
    """Name the served summaries in the schema's path parameters and fix the queries' width where it is one."""
    for path, ops in schema.get("paths", {}).items():
        if not path.startswith("/summaries/"):
            continue
        for op in ops.values():
            for p in op.get("parameters", []):
                if p.get("in") == "path" and p.get("name") == "name":
                    p["schema"] = {"type": "string", "enum": list(summaries), "title": "Name"}
    body = schema.get("components", {}).get("schemas", {}).get("SummaryQueryRequest")
    widths = {s.n_features_in_ for s in summaries.values()}
    if body is not None:
        row: dict[str, Any] = {"type": "array", "minItems": 1, "items": {"type": "number"}}
        if len(widths) == 1:
            (d,) = widths
            row.update(minItems=d, maxItems=d)
        body["properties"]["queries"] = {"type": "array", "minItems": 1, "maxItems": limits.max_batch, "items": row}
    return schema
