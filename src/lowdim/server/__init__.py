"""The HTTP service (``lowdim serve``) and its client.

- :func:`create_app` builds the FastAPI application over collection folders.
- :class:`Client` talks to a running server; ``Client(url).collection(name)`` behaves
  like a local :class:`~lowdim.store.Collection`.
- :func:`serve` runs the app under uvicorn (what ``lowdim serve`` calls).
- :func:`plan_html` renders a plan's JSON as the self-contained page of the plan viewer
  (``lowdim plan ... --html``; ``/ui/plan`` shows the same view).

Names load on first use: importing :mod:`lowdim.server` (or ``lowdim.server.Client``)
does not import FastAPI or uvicorn, and the Client imports httpx only when it is created.
"""

from __future__ import annotations

from typing import Any

from ._client import Client, RemoteCollection, ServerError

__all__ = ["create_app", "serve", "Client", "RemoteCollection", "RemoteMultiVectorCollection", "ServerError", "plan_html"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from ._app import create_app

        return create_app
    if name == "RemoteMultiVectorCollection":
        from ._mv_client import RemoteMultiVectorCollection

        return RemoteMultiVectorCollection
    if name == "plan_html":
        from ._ui_plan import plan_html

        return plan_html
    if name == "serve":
        from ._serve import serve

        return serve
    raise AttributeError(f"module 'lowdim.server' has no attribute {name!r}")
