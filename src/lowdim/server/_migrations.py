"""``POST /collections/{name}/migrate`` and ``GET /collections/{name}/migration``: a live model migration over HTTP.

Thin over :meth:`lowdim.store.Collection.migrate` (``background=True``): the server's writer
re-embeds the texts a text collection stored with the new model in a thread while the read
snapshots keep answering (searches with ``model`` = the new model merge both spaces); the
switch is published to the snapshots like any other commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response

from ..exceptions import ParameterError
from ._errors import input_guard
from ._limits import Limits, check_rows
from ._models import MigrateRequest, MigrationResponse
from ._registry import Registry

__all__ = ["add_migration_routes"]


def add_migration_routes(
    app: FastAPI,
    registry: Registry,
    limits: Limits,
    writer: Sequence[Any],
    as_json: Callable[..., Response],
    read_errors: dict[int | str, dict[str, Any]],
    write_errors: dict[int | str, dict[str, Any]],
) -> None:
    """Add the two migration routes to ``app`` (``writer``: the dependencies that guard writes)."""

    @app.post(
        "/collections/{name}/migrate",
        status_code=202,
        response_model=dict[str, Any],
        responses=write_errors,
        dependencies=list(writer),
        tags=["writes"],
    )
    def migrate(name: str, body: MigrateRequest) -> Response:
        """Start (or resume) re-embedding the collection's stored texts with ``to_model`` in the background; 202 with the status."""
        served = registry.get(name)
        if not served.takes_text:
            raise ParameterError(
                f"collection {name!r} has no text encoder, so the server cannot re-embed it; migrate it in Python "
                f"with Collection.migrate(to_model, vectors=...) or 'lowdim migrate --vectors'"
            )
        if body.fit_texts is not None:
            check_rows(len(body.fit_texts), "fit_texts", limits)
        with input_guard():
            status = served.write(
                lambda w: w.migrate(
                    body.to_model, fit_texts=body.fit_texts, fit_size=body.fit_size, batch_size=body.batch_size, background=True
                )
            )
        return as_json(status, 202)

    @app.get("/collections/{name}/migration", response_model=MigrationResponse, responses=read_errors, tags=["collections"])
    def migration(name: str) -> Response:
        """The migration in progress (``Collection.migration``: done, total, fraction, quality checkpoints), or null."""
        served = registry.get(name)
        status = served.migration()
        return as_json({"migration": status})
