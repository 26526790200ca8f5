"""Every error as JSON ``{"error": "<one line>", "detail": ...}``: lowdim's errors map to 4xx, nothing leaks a traceback.

=========================================  ======
error                                      status
=========================================  ======
malformed JSON, text query without encoder  400
no / wrong API key                          401
writes disabled on this server              403
unknown collection or id (NotFoundError)    404
writer busy, id clash (ConflictError)       409
body over max_body_bytes                    413
bad array / parameter / spec / filter       422
a damaged collection file (FileFormatError) 500
anything unexpected                         500
=========================================  ======
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..exceptions import ConflictError, FileFormatError, LowdimError, NotFoundError, ValidationError
from ._models import REQUEST_MODELS

__all__ = ["HTTPError", "error_response", "install_error_handlers", "status_of", "input_guard"]

log = logging.getLogger("lowdim.server")


class HTTPError(Exception):
    """An error with its HTTP status, raised by the handlers for what is not a lowdim error."""

    def __init__(self, status: int, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.headers = headers


def status_of(exc: LowdimError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, FileFormatError):
        return 500  # the server's files are damaged: not the client's fault
    return 422


def error_response(status: int, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": message, "detail": detail}, default=str, allow_nan=False).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


@contextmanager
def input_guard() -> Iterator[None]:
    """Turn the builtin errors SQLite raises on unstorable input into lowdim validation errors."""
    try:
        yield
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
        raise ValidationError(
            f"the request holds a string that is not valid UTF-8 (lone surrogate {bad.encode('unicode_escape').decode()!r}); "
            f"ids, metadata and filters must be valid Unicode text"
        ) from None
    except OverflowError:
        raise ValidationError(
            "the request holds an integer outside the 64-bit range (in ids, metadata or a filter); store it as a string"
        ) from None
    except RecursionError:
        raise ValidationError("the request is nested too deeply") from None


def _field(loc: Any) -> str:
    parts = [str(p) for p in (loc or ())][1:]  # drop "body"
    return ".".join(parts)


def _summary(errors: list[dict[str, Any]], endpoint: str, body_model: Any = None) -> tuple[int, str]:
    first = errors[0]
    kind, loc = first.get("type", ""), tuple(first.get("loc", ()))
    field = _field(loc)
    if kind == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "")
        return 400, f"request body is not valid JSON ({reason})" if reason else "request body is not valid JSON"
    if loc == ("body",) and kind == "missing":
        return 422, "request body is missing: send a JSON object with this endpoint's fields (see /docs)"
    if loc == ("body",):
        return 422, "request body must be a JSON object sent with 'Content-Type: application/json' (see /docs for its fields)"
    if kind == "extra_forbidden" and field == "tokens":
        return 422, "'tokens' (token sets) are for multi-vector collections; this one takes 'queries' or 'vectors'"
    if kind == "extra_forbidden":
        model = body_model or REQUEST_MODELS.get(endpoint.rsplit("/", 1)[-1])
        valid = list(model.model_fields) if model is not None else []
        hint = difflib.get_close_matches(field, valid, n=1)
        if hint:
            more = f"; did you mean {hint[0]!r}?"
        else:
            more = f"; valid fields: {', '.join(valid)}" if valid else " (see /docs for this endpoint's fields)"
        return 422, f"unknown field {field!r} in the request body{more}"
    if kind == "missing":
        return 422, f"field {field!r} is required"
    return 422, f"{field or 'body'}: {first.get('msg', 'invalid value')}"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into ``{"error", "detail"}`` JSON."""

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, exc: HTTPError) -> Response:
        return error_response(exc.status, exc.message, exc.detail, exc.headers)

    @app.exception_handler(LowdimError)
    async def _lowdim_error(request: Request, exc: LowdimError) -> Response:
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return error_response(status, str(exc), {"type": type(exc).__name__})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        route = request.scope.get("route")
        model = getattr(route, "request_model", None)  # a route may name its body model (the multi-vector ones do)
        status, message = _summary(errors, getattr(route, "path", ""), model) if errors else (422, "invalid request")
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors[:20]
        ]
        return error_response(status, message, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _starlette(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "no such endpoint (see /docs)", 405: "method not allowed on this endpoint (see /docs)"}.get(
            exc.status_code, str(exc.detail)
        )
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # FastAPI's words
            message = "request body could not be parsed as JSON (too deeply nested?)"
        return error_response(exc.status_code, message, None, dict(exc.headers or {}) or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(500, "internal server error (the server log has the details)", None)
