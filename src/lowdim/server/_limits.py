"""The server's caps (body bytes, batch rows, k, rerank, ef, filter size) and the gates that apply them.

A cap exceeded is a one-line 4xx, never a slow request or a 500: the body is
refused (413) before it is read past the cap, and the others are checked before
any work is done.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..exceptions import DimensionError, DTypeError, ParameterError, ValidationError
from ..validation import check_embeddings, check_positive_int

__all__ = [
    "Limits",
    "BodyLimitMiddleware",
    "HostCheckMiddleware",
    "json_matrix",
    "check_filter_caps",
    "check_rows",
    "check_token_counts",
    "LOOPBACK_HOSTS",
]

_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: the Host header names of a server bound to loopback
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class Limits:
    """What one request may ask for.

    Attributes
    ----------
    max_body_bytes : int
        Largest request body; larger ones get 413.
    max_batch : int
        Most vectors (or queries, texts, ids) in one request.
    max_k : int
        Largest ``k`` of a search.
    max_rerank : int
        Largest ``rerank`` factor (``rerank * k`` candidates are rescored).
    max_ef : int
        Largest HNSW beam width ``ef`` (and IVF ``nprobe``).
    max_filter_terms : int
        Most conditions (fields, operators and ``$and``/``$or`` branches) in a filter.
    max_candidates : int
        Most candidates one search request may rescore: ``n_queries * k * rerank`` (the
        memory of a search grows with it).
    max_tokens_per_set : int
        Most token vectors in one token set (a multi-vector document or query).
    max_tokens : int
        Most token vectors in one request, over all its token sets.
    """

    max_body_bytes: int = 16 * 2**20
    max_batch: int = 4096
    max_k: int = 1000
    max_rerank: int = 100
    max_ef: int = 4096
    max_filter_terms: int = 64
    max_candidates: int = 2**20
    max_tokens_per_set: int = 2048
    max_tokens: int = 2**17

    def validated(self) -> Limits:
        for name, value in asdict(self).items():
            check_positive_int(value, name, owner="create_app")
        return self

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def check_candidates(self, n_queries: int, k: int, factor: int) -> None:
        total = n_queries * k * max(factor, 1)
        if total > self.max_candidates:
            raise ParameterError(
                f"this search would rescore {total:,} candidates ({n_queries} queries x k={k} x rerank {max(factor, 1)}); "
                f"this server allows {self.max_candidates:,} per request (max_candidates): send fewer queries or use a smaller k"
            )

    def check_search(self, k: int, rerank: int | None, ef: int | None, nprobe: int | None = None) -> None:
        if isinstance(k, int) and k > self.max_k:
            raise ParameterError(f"The 'k' parameter of search must be <= {self.max_k} on this server (max_k). Got {k}.")
        if isinstance(rerank, int) and rerank > self.max_rerank:
            raise ParameterError(
                f"The 'rerank' parameter of search must be <= {self.max_rerank} on this server (max_rerank). Got {rerank}."
            )
        if isinstance(ef, int) and ef > self.max_ef:
            raise ParameterError(f"The 'ef' parameter of search must be <= {self.max_ef} on this server (max_ef). Got {ef}.")
        if isinstance(nprobe, int) and nprobe > self.max_ef:
            raise ParameterError(
                f"The 'nprobe' parameter of search must be <= {self.max_ef} on this server (max_ef). Got {nprobe}."
            )


def check_token_counts(lengths: Sequence[int], what: str, limits: Limits) -> None:
    """Refuse more than ``max_batch`` token sets, a set of more than ``max_tokens_per_set`` tokens, or more than ``max_tokens`` in all.

    Examples
    --------
    >>> check_token_counts([3, 5000], "tokens", Limits())
    Traceback (most recent call last):
    ...
    lowdim.exceptions.ParameterError: tokens[1] has 5000 token vectors; this server takes at most 2048 per set (max_tokens_per_set)
    """
    check_rows(len(lengths), "token sets", limits)
    for i, n in enumerate(lengths):
        if n > limits.max_tokens_per_set:
            raise ParameterError(
                f"{what}[{i}] has {n} token vectors; this server takes at most {limits.max_tokens_per_set} per set (max_tokens_per_set)"
            )
    total = sum(lengths)
    if total > limits.max_tokens:
        raise ParameterError(
            f"{what} hold {total:,} token vectors in all; this server takes at most {limits.max_tokens:,} per request "
            f"(max_tokens): send fewer token sets per request"
        )


def check_rows(n: int, what: str, limits: Limits) -> None:
    """Refuse a batch of more than ``max_batch`` rows."""
    if n > limits.max_batch:
        raise ParameterError(
            f"{n} {what} in one request; this server takes at most {limits.max_batch} (max_batch): "
            f"split the batch (lowdim.Client does it with batch_size=)"
        )


def json_matrix(
    value: Any, name: str, limits: Limits, *, n_features: int | None = None, what: str = "this collection"
) -> np.ndarray:
    """A JSON array of arrays of numbers as a float32 ``(n, d)`` array, through :func:`check_embeddings`.

    JSON has one number type, so integers are accepted as numbers here (the Python
    API refuses integer *arrays*, which are usually ids passed by mistake); strings,
    booleans, nulls and nested objects are refused, naming the first bad element.

    Examples
    --------
    >>> json_matrix([[1, 0.5]], "queries", Limits()).dtype
    dtype('float32')
    >>> json_matrix([[1, "a"]], "queries", Limits())
    Traceback (most recent call last):
    ...
    lowdim.exceptions.DTypeError: queries[0][1] is a str ('a'); vectors hold numbers only
    """
    if isinstance(value, list) and not value:
        raise ValidationError(f"{name} is empty (0 rows); expected at least 1 vector: [[...]]")
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        # not a list of rows: let the one gate say what it is (1-D, a string, empty, ...)
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"{name} could not be read as a 2-D array of numbers: {exc}") from None
        if arr.dtype.kind in "iu" and arr.ndim == 1:
            arr = arr.astype(np.float64)
        return check_embeddings(arr, name=name, n_features=n_features, what=what)
    check_rows(len(value), name, limits)
    width = len(value[0])
    for i, row in enumerate(value):
        if len(row) != width:
            raise ValidationError(f"{name} rows differ in length: row 0 has {width} numbers, row {i} has {len(row)}")
        kinds = set(map(type, row))
        if kinds - {float, int}:
            j = next(j for j, v in enumerate(row) if type(v) not in (float, int))
            v = row[j]
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:40] + "..."
            raise DTypeError(f"{name}[{i}][{j}] is a {type(v).__name__} ({shown}); vectors hold numbers only")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise ValidationError(f"{name} holds an integer too large for a float") from None
    if n_features is not None and arr.shape[1] != n_features:
        raise DimensionError(f"{name} has {arr.shape[1]} features, but {what} expects {n_features}")
    with np.errstate(invalid="ignore"):  # NaN and inf are the gate's to report
        big = np.isfinite(arr) & (np.abs(arr) > _FLOAT32_MAX)  # would become float32 inf (or its max, silently)
    if big.any():
        rows = np.flatnonzero(big.any(axis=1))
        shown = ", ".join(str(int(r)) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        raise ValidationError(
            f"{name} has values beyond the float32 range (|x| > {_FLOAT32_MAX:.7g}) in {len(rows)} row(s): {shown}"
        )
    return check_embeddings(arr.astype(np.float32), name=name, n_features=n_features, what=what)


def check_filter_caps(flt: Any, limits: Limits) -> None:
    """Refuse filters nested more than 8 levels deep or with more than ``max_filter_terms`` conditions.

    Only the server's caps: the grammar and the values are the store's to check
    (:func:`lowdim.store.check_filter`, the same one-line errors as in Python). This runs
    first, iteratively, so a huge or deeply nested filter costs nothing to refuse.

    Examples
    --------
    >>> check_filter_caps({"$or": [{"i": j} for j in range(100)]}, Limits())
    Traceback (most recent call last):
    ...
    lowdim.exceptions.ParameterError: filter has more than 64 conditions (max_filter_terms); use '$in' with a list of values instead of many alternatives
    """
    terms = 0
    stack: list[tuple[Any, int]] = [(flt, 0)]
    while stack:  # iterative: a deeply nested filter cannot exhaust the Python stack
        node, depth = stack.pop()
        if depth > 8:
            raise ParameterError("filter is nested more than 8 levels deep; flatten it")
        if isinstance(node, dict):
            for value in node.values():
                terms += 1
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        if terms > limits.max_filter_terms:
            raise ParameterError(
                f"filter has more than {limits.max_filter_terms} conditions (max_filter_terms); "
                f"use '$in' with a list of values instead of many alternatives"
            )


class BodyLimitMiddleware:
    """ASGI middleware: read at most ``max_bytes`` of a request body, else answer 413 and close.

    The body is buffered here (the handlers parse it whole anyway), so the cap holds for
    chunked bodies without a ``Content-Length`` too.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Callable, status: int, message: str) -> None:
        body = json.dumps({"error": message, "detail": {"max_body_bytes": self.max_bytes}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await self._refuse(send, 400, "the Content-Length header is not a number")
                    return
        too_big = (
            f"request body is larger than this server accepts ({self.max_bytes:,} bytes, max_body_bytes); "
            f"send fewer vectors per request"
        )
        if length is not None and length > self.max_bytes:
            await self._refuse(send, 413, too_big)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before sending the body
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class HostCheckMiddleware:
    """ASGI middleware: answer only requests whose ``Host`` header names an allowed host.

    A server on loopback allows only loopback names, which stops DNS-rebinding pages in
    a local browser from reaching it under a foreign name.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            host = ""
            for key, value in scope.get("headers", []):
                if key == b"host":
                    host = value.decode("latin-1").lower()
                    break
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if name not in self.allowed:
                body = json.dumps(
                    {
                        "error": f"this server answers only to the host names {', '.join(sorted(self.allowed))}; "
                        f"got Host {host[:100]!r}",
                        "detail": None,
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
