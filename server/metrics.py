"""Prometheus metrics (contract §10): the series, ``GET /metrics`` and its address check.

Built by ``create_app`` only when ``TANDEM_METRICS=on``; prometheus-client is imported then
and not before (start-up time, and its multiprocess mode must see its directory first).

One process: each app has its own registry (tests build many apps in one process). Several
workers (``tandem serve --workers N``): ``tandem serve`` points ``PROMETHEUS_MULTIPROC_DIR``
at a private directory before the workers start; each worker writes its values there and a
scrape of any worker sums them all (prometheus-client's multiprocess mode). Gauges of live
things use ``livesum``: a worker's share goes when it stops.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Response

from realtime.meters import Meters
from server.errors import Forbidden
from server.proxies import client_address

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "unmatched"  # any path no route matches: one label, whatever the path
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds. Requests: a PUT takes about a millisecond, a 1,000-word batch tens of them.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusMetrics(Meters):
    """The series of contract §10; also the realtime side's :class:`Meters`."""

    on = True

    def __init__(self, pool_in_use: Callable[[], int]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram  # noqa: PLC0415 - see the module docstring

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = registry = CollectorRegistry()
        self._pool_in_use = pool_in_use
        self._requests = Counter(
            "tandem_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self._durations = Histogram(
            "tandem_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self._rate_limited = Counter(
            "tandem_rate_limited", "Requests answered 429 RATE_LIMITED", registry=registry
        )
        self._websockets = Gauge(
            "tandem_websocket_connections",
            "Open websocket connections",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._subscriptions = Gauge(
            "tandem_subscriptions",
            "Channel subscriptions of open websockets",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._appended = Counter(
            "tandem_events_appended", "Events committed to the event store", registry=registry
        )
        self._delivered = Counter(
            "tandem_events_delivered",
            "Event frames handed to websocket connections (live and replayed)",
            registry=registry,
        )
        self._lag = Histogram(
            "tandem_event_delivery_lag_seconds",
            "From an event's commit (its at) to its frame being handed to the connections",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self._reconnects = Counter(
            "tandem_broker_reconnects", "Redis pub/sub reconnections", registry=registry
        )
        self._resets = Counter("tandem_resets_sent", "reset frames sent", registry=registry)
        self._pool = Gauge(
            "tandem_db_pool_in_use",
            "Database connections checked out of the pool",
            multiprocess_mode="livesum",
            registry=registry,
        )
        if not self.multiprocess:
            self._pool.set_function(pool_in_use)
        # ``.labels()`` costs a few microseconds a call; a request takes its children from here.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    # -- HTTP ---------------------------------------------------------------------------

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self._requests.labels(method, route, str(status)),
                self._durations.labels(method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)
        if status == 429:
            self._rate_limited.inc()

    # -- realtime (Meters) --------------------------------------------------------------

    def websocket_opened(self) -> None:
        self._websockets.inc()

    def websocket_closed(self) -> None:
        self._websockets.dec()

    def subscribed(self) -> None:
        self._subscriptions.inc()

    def unsubscribed(self) -> None:
        self._subscriptions.dec()

    def events_appended(self, count: int) -> None:
        self._appended.inc(count)

    def delivered(self, frames: int, committed_at: float | None = None) -> None:
        if frames:
            self._delivered.inc(frames)
        if committed_at is not None:
            self._lag.observe(max(0.0, time.time() - committed_at))

    def reset_sent(self, count: int = 1) -> None:
        if count:
            self._resets.inc(count)

    def broker_reconnected(self) -> None:
        self._reconnects.inc()

    # -- scraping -----------------------------------------------------------------------

    def refresh_pool(self) -> None:
        """Write this process's pool gauge (multiprocess mode cannot ask at scrape time)."""
        self._pool.set(self._pool_in_use())

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415 - see the module docstring

        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415 - see the module docstring

        self.refresh_pool()
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def process_stopped(self) -> None:
        """Drop this worker's live gauges from the shared directory."""
        if self.multiprocess:
            from prometheus_client.multiprocess import mark_process_dead  # noqa: PLC0415 - see the module docstring

            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def metrics_route(metrics: PrometheusMetrics, allow: Sequence[str]) -> HTTPRouteHandler:
    """``GET /metrics`` for the clients in ``allow``; any other client gets 403."""
    networks = [ipaddress.ip_network(entry) for entry in allow]

    def allowed(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    @get("/metrics", include_in_schema=False, sync_to_thread=False, name="metrics")
    def serve_metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        if not allowed(client_address(request.scope)):
            raise Forbidden("metrics are not served to this address")
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return serve_metrics
