"""``serve``: run :func:`create_app` under uvicorn, loopback by default, with graceful shutdown.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, lets the requests in
flight finish (up to ``graceful_timeout`` seconds), then the app's lifespan closes
every collection (waiting for a running write first).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import Callable, Sequence

from ..exceptions import ParameterError
from ._limits import LOOPBACK_HOSTS, Limits

__all__ = ["serve", "is_loopback", "exposure_warnings"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposure_warnings(host: str, *, api_key: str | None, allow_unauthenticated_writes: bool) -> list[str]:
    """What to warn about before serving on ``host`` with these settings (empty when it is safe)."""
    if is_loopback(host):
        return []
    out = []
    if api_key is None:
        out.append(
            f"serving on {host}, which is not loopback, without an API key: anyone who can reach this address "
            f"can search every served collection. Use --host 127.0.0.1, or set --api-key / LOWDIM_API_KEY."
        )
    if allow_unauthenticated_writes:
        out.append(
            f"--allow-unauthenticated-writes on {host}: anyone who can reach this address can add to and delete from "
            f"the served collections."
        )
    if api_key is not None:
        out.append(
            f"serving plain HTTP on {host}: the API key travels unencrypted; put a TLS proxy in front for untrusted networks."
        )
    return out


def serve(
    paths: Sequence[str | os.PathLike[str]],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    allow_unauthenticated_writes: bool = False,
    max_body_bytes: int = Limits.max_body_bytes,
    max_batch: int = Limits.max_batch,
    max_k: int = Limits.max_k,
    readers: int = 1,
    graceful_timeout: int = 30,
    log_level: str = "info",
    access_log: bool = True,
    warn: Callable[[str], None] | None = None,
    summaries: dict[str, str | os.PathLike[str]] | None = None,
) -> None:
    """Serve the collections under ``paths`` until SIGTERM / Ctrl-C; see :func:`lowdim.server.create_app`."""
    import uvicorn

    from ._app import create_app

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ParameterError(f"The 'port' parameter of serve must be an integer in [0, 65535]. Got {port!r}.")
    api_key = api_key or None
    app = create_app(
        paths,
        api_key=api_key,
        allow_unauthenticated_writes=allow_unauthenticated_writes,
        max_body_bytes=max_body_bytes,
        max_batch=max_batch,
        max_k=max_k,
        readers=readers,
        close_timeout=float(graceful_timeout),
        # on loopback, answer loopback names only (a DNS-rebinding page cannot reach the server)
        allowed_hosts=[*LOOPBACK_HOSTS, host if ":" not in host else f"[{host.strip('[]')}]"] if is_loopback(host) else None,
        summaries=summaries,
    )
    for line in exposure_warnings(host, api_key=api_key, allow_unauthenticated_writes=allow_unauthenticated_writes):
        (warn or (lambda m: print(f"WARNING: {m}", file=sys.stderr)))(line)
    logger = logging.getLogger("lowdim.server")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    names = ", ".join(app.state.registry.names + [f"summary {n}" for n in summaries or {}])
    writes = "need the API key" if api_key else ("are open to anyone" if allow_unauthenticated_writes else "are disabled")
    logger.info("lowdim: serving %s on http://%s:%d (writes %s); pages at http://%s:%d/ui", names, host, port, writes, host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=graceful_timeout,
        lifespan="on",
    )
    uvicorn.Server(config).run()
