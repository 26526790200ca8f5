"""Ray, imported lazily: connecting to a cluster (or starting a local one).

lowdim's core never imports Ray; only the functions of :mod:`lowdim.distributed` that are
asked to run on a cluster do, through :func:`require_ray` and :func:`connect`. Addresses
follow Ray's own: ``"auto"`` (the cluster this machine belongs to), ``"ray://host:10001"``
(Ray Client), ``"local"`` (a local Ray on this machine's cores) or ``None`` (no Ray: run in
this process).
"""

from __future__ import annotations

import os
from typing import Any

from ..exceptions import MissingDependencyError, ParameterError

__all__ = ["require_ray", "connect", "uses_ray", "LOCAL"]

#: the address that starts (or reuses) a local Ray instance on this machine's cores
LOCAL = "local"


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("running on Ray needs the ray extra; install it with: pip install 'lowdim[ray]'") from None
    return ray


def uses_ray(address: str | None) -> bool:
    """Whether work given this address runs on Ray (``None`` runs in this process)."""
    return address is not None


def connect(address: str | None, *, num_cpus: int | None = None) -> Any:
    """Connect this process to Ray at ``address`` (once; later calls reuse the connection) and return ``ray``.

    ``"local"`` starts a local Ray with ``num_cpus`` worker slots (default: every core) unless
    this process is already connected; ``"auto"`` joins the running cluster of this machine;
    ``"ray://host:port"`` connects as a Ray Client.
    """
    if address is None:
        raise ParameterError("connect needs a Ray address: 'local', 'auto' or 'ray://host:port'")
    address = str(address)
    if address not in (LOCAL, "auto") and not address.startswith("ray://"):
        raise ParameterError(f"Ray address {address!r} is not one of 'local', 'auto' or 'ray://host:port'")
    ray = require_ray()
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage prompt or upload from a library call
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False, "include_dashboard": False}
    if address == LOCAL:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
        return ray
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ParameterError(f"cannot connect to Ray at {address!r}: {first}") from None
    return ray
