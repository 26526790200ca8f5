"""Request metrics in the Prometheus text exposition format (version 0.0.4), without dependencies.

Counters and histograms are keyed by the route *template* (``/collections/{name}/search``),
never the raw path, so a client cannot blow up the number of series.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["Metrics", "MetricsMiddleware", "CONTENT_TYPE", "BUCKETS"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: latency histogram bucket bounds, seconds
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in kv.items()) + "}"


def _num(v: float) -> str:
    if v == float("inf"):
        return "+Inf"
    return repr(float(v)) if isinstance(v, float) else str(v)


class Metrics:
    """Request counts, latency histograms and in-flight requests per endpoint (thread-safe).

    Examples
    --------
    >>> m = Metrics()
    >>> m.observe("GET", "/health", 200, 0.002)
    >>> 'lowdim_http_requests_total{method="GET",endpoint="/health",status="200"} 1' in m.render()
    True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._hist: dict[tuple[str, str], list[float]] = {}  # per bucket counts, then +Inf count, then sum
        self.in_flight = 0
        self.started = time.time()

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, endpoint, str(status))
            self._counts[key] = self._counts.get(key, 0) + 1
            h = self._hist.get((method, endpoint))
            if h is None:
                h = self._hist[(method, endpoint)] = [0.0] * (len(BUCKETS) + 2)
            h[bisect.bisect_left(BUCKETS, seconds)] += 1  # first bucket whose bound >= seconds
            h[-1] += seconds

    def render(self, gauges: Iterable[tuple[str, str, str, dict[str, str], float]] = ()) -> str:
        """The exposition text; ``gauges`` are extra ``(name, type, help, labels, value)`` samples."""
        with self._lock:
            counts = sorted(self._counts.items())
            hist = sorted((k, list(v)) for k, v in self._hist.items())
            in_flight = self.in_flight
        out = [
            "# HELP lowdim_http_requests_total HTTP requests answered, by method, route template and status.",
            "# TYPE lowdim_http_requests_total counter",
        ]
        for (method, endpoint, status), n in counts:
            out.append(f"lowdim_http_requests_total{_labels(method=method, endpoint=endpoint, status=status)} {n}")
        out += [
            "# HELP lowdim_http_request_duration_seconds Time from request start to the end of the response.",
            "# TYPE lowdim_http_request_duration_seconds histogram",
        ]
        for (method, endpoint), h in hist:
            cumulative = 0.0
            for bound, c in zip(BUCKETS + (float("inf"),), h[:-1]):
                cumulative += c
                lab = _labels(method=method, endpoint=endpoint, le=_num(bound))
                out.append(f"lowdim_http_request_duration_seconds_bucket{lab} {int(cumulative)}")
            lab = _labels(method=method, endpoint=endpoint)
            out.append(f"lowdim_http_request_duration_seconds_sum{lab} {h[-1]!r}")
            out.append(f"lowdim_http_request_duration_seconds_count{lab} {int(cumulative)}")
        out += [
            "# HELP lowdim_http_requests_in_flight Requests being answered right now.",
            "# TYPE lowdim_http_requests_in_flight gauge",
            f"lowdim_http_requests_in_flight {in_flight}",
        ]
        seen: set[str] = set()
        for name, kind, help_, labels, value in gauges:
            if name not in seen:
                seen.add(name)
                out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
            out.append(f"{name}{_labels(**labels) if labels else ''} {_num(value)}")
        return "\n".join(out) + "\n"


class MetricsMiddleware:
    """ASGI middleware that times every HTTP request and records it in a :class:`Metrics`."""

    def __init__(self, app: Callable[..., Awaitable[None]], metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        m = self.metrics
        with m._lock:
            m.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            with m._lock:
                m.in_flight -= 1
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            m.observe(scope.get("method", "GET"), endpoint, status, time.perf_counter() - start)
