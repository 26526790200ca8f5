"""Released private summaries and classifiers, served read-only under ``/summaries``.

``GET /summaries``, ``GET /summaries/{name}`` (each with ``"kind"``: ``"summary"`` or ``"classifier"``),
``POST /summaries/{name}/query`` (a :class:`~lowdim.private.PrivateSummary`: sums and means) and
``POST /summaries/{name}/predict`` (a :class:`~lowdim.private.PrivateClassifier`: labels, and
probabilities when asked). A release is already differentially private, and answering from it is
post-processing, so serving it costs no privacy and needs no key. The server only loads the released
file (the private rows are not there) and answers; nothing can change it. ``lowdim serve --summary
NAME=release.npz`` serves either kind; :meth:`lowdim.Client.summary` reads it
(:class:`~lowdim.server._summary_client.RemoteSummary` or ``RemoteClassifier``).

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
(['count', 'means', 'noise_std', 'sums'], 1.0)
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
from ..private import PrivateClassifier, PrivateSummary, load_release
from ._limits import Limits, json_matrix
from ._models import _MATRIX, REQUEST_MODELS, ErrorResponse, _Body
from ._registry import NAME_PATTERN

__all__ = [
    "parse_summary_options",
    "load_summaries",
    "add_summary_routes",
    "tailor_summaries",
    "SummaryQueryRequest",
    "SummaryPredictRequest",
]

Release = PrivateSummary | PrivateClassifier

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON."},
    404: {"model": ErrorResponse, "description": "No such summary or classifier."},
    413: {"model": ErrorResponse, "description": "Request body larger than max_body_bytes."},
    422: {
        "model": ErrorResponse,
        "description": "Invalid queries (wrong width, NaN, too many rows), or the endpoint of the other kind of release.",
    },
}


_QUERIES: dict[str, Any] = dict(_MATRIX)


class SummaryQueryRequest(_Body):
    """``PrivateSummary.query(queries)``: estimates of the sum and mean of f over the private rows."""

    queries: Any = Field(..., description="Query vectors, shape (n_queries, width).", json_schema_extra=_QUERIES)


class SummaryPredictRequest(_Body):
    """``PrivateClassifier.predict(queries)``: the most similar class of each query (and ``predict_proba`` if asked)."""

    queries: Any = Field(..., description="Query vectors, shape (n_queries, width).", json_schema_extra=_QUERIES)
    proba: bool = Field(False, description="Also return predict_proba: shape (n_queries, n_classes), rows sum to 1.")


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


def load_summaries(summaries: Mapping[str, str | os.PathLike[str]] | None) -> dict[str, Release]:
    """The released summaries and classifiers by name; a bad name or file is a one-line error at startup."""
    out: dict[str, Release] = {}
    for name, path in (summaries or {}).items():
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ParameterError(
                f"a served summary's name must be letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-'). Got {name!r}."
            )
        out[name] = load_release(path)
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


def _kind(release: Release) -> str:
    return "classifier" if isinstance(release, PrivateClassifier) else "summary"


def _info(name: str, release: Release) -> dict[str, Any]:
    return _finite({"name": name, **release.info(), "kind": _kind(release)})


def add_summary_routes(app: FastAPI, summaries: dict[str, Release], limits: Limits, reply: Any) -> None:
    """Add the read-only summary endpoints to ``app``; ``reply(obj)`` turns a dict into the JSON response."""
    REQUEST_MODELS.setdefault("query", SummaryQueryRequest)  # "did you mean" hints for unknown fields
    REQUEST_MODELS.setdefault("predict", SummaryPredictRequest)

    def get(name: Any) -> Release:
        summary = summaries.get(name) if isinstance(name, str) else None
        if summary is None:
            shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}..."
            raise NotFoundError(f"no summary named {shown!r} on this server; served: {', '.join(summaries)}")
        return summary

    def of_kind(name: str, kind: str) -> Any:
        """The release ``name``, which must be a ``kind``: otherwise a one-line error naming the endpoint it has."""
        release = get(name)
        has = _kind(release)
        if has != kind:
            right, wrong = ("predict", "query") if has == "classifier" else ("query", "predict")
            raise ParameterError(f"{name!r} is a private {has}: use POST /summaries/{name}/{right} (/{wrong} is for {kind}s)")
        return release

    @app.get("/summaries", tags=["summaries"])
    def list_summaries() -> Response:
        """Every served summary and classifier: kind, settings, width, released counts and privacy record."""
        return reply({"summaries": [_info(n, s) for n, s in summaries.items()]})

    @app.get("/summaries/{name}", responses=_ERRORS, tags=["summaries"])
    def summary_info(name: str) -> Response:
        """A release's kind, settings and privacy record (mechanism, epsilon, delta, sensitivity, noise scales, seeds)."""
        return reply(_info(name, get(name)))

    @app.post("/summaries/{name}/query", responses=_ERRORS, tags=["summaries"])
    def summary_query(name: str, body: SummaryQueryRequest) -> Response:
        """``PrivateSummary.query``: ``sums`` and ``means`` of f over the private rows, one per query (no privacy cost)."""
        summary: PrivateSummary = of_kind(name, "summary")
        Q = json_matrix(body.queries, "queries", limits, n_features=summary.n_features_in_, what="this summary")
        return reply(_finite(summary.query(Q).to_dict()))

    @app.post("/summaries/{name}/predict", responses=_ERRORS, tags=["summaries"])
    def summary_predict(name: str, body: SummaryPredictRequest) -> Response:
        """``PrivateClassifier.predict``: ``labels`` (one per query), ``classes`` and, with ``proba``, ``predict_proba``."""
        clf: PrivateClassifier = of_kind(name, "classifier")
        Q = json_matrix(body.queries, "queries", limits, n_features=clf.n_features_in_, what="this classifier")
        out: dict[str, Any] = {"labels": clf.predict(Q).tolist(), "classes": clf.classes_.tolist()}
        if body.proba:
            out["proba"] = clf.predict_proba(Q).tolist()
        return reply(_finite(out))


def tailor_summaries(schema: dict[str, Any], summaries: dict[str, Release], limits: Limits) -> dict[str, Any]:
    """Name the served releases in the schema's path parameters and fix the queries' width where it is one."""
    for path, ops in schema.get("paths", {}).items():
        if not path.startswith("/summaries/"):
            continue
        for op in ops.values():
            for p in op.get("parameters", []):
                if p.get("in") == "path" and p.get("name") == "name":
                    p["schema"] = {"type": "string", "enum": list(summaries), "title": "Name"}
    models = schema.get("components", {}).get("schemas", {})
    for model, kind in (("SummaryQueryRequest", "summary"), ("SummaryPredictRequest", "classifier")):
        body = models.get(model)
        widths = {r.n_features_in_ for r in summaries.values() if _kind(r) == kind}
        if body is None:
            continue
        row: dict[str, Any] = {"type": "array", "minItems": 1, "items": {"type": "number"}}
        if len(widths) == 1:
            (d,) = widths
            row.update(minItems=d, maxItems=d)
        body["properties"]["queries"] = {"type": "array", "minItems": 1, "maxItems": limits.max_batch, "items": row}
    return schema
