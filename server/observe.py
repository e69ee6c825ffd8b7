"""Around every HTTP request: its id, its timing, its metrics and its access-log line.

The request id is the client's ``X-Request-ID`` when it looks like an id (letters, digits,
``._-``, at most 64), else a new one; it is echoed in the answer and stamped on every log
line written for the request. The route is Litestar's template (``/api/v1/progress/
{word_id}``), never the raw path: metrics keep a bounded set of labels and the log never
carries a path's or a query's values. Like server/edge.py this wraps Litestar's whole
handler, so the router's own 404 and 405 answers are timed and counted too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.auth.guards import PRINCIPAL_KEY
from server.auth.tokens import Principal
from server.logs import HTTP_FIELDS, REQUEST_ID
from server.metrics import UNMATCHED_ROUTE, PrometheusMetrics

access_log = logging.getLogger("tandem.access")
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode() if _SANE_ID.fullmatch(value) else uuid.uuid4().hex
    return uuid.uuid4().hex


class Observe:
    def __init__(
        self, app: ASGIApp, *, metrics: PrometheusMetrics | None, log_requests: bool
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        status = 500  # if the app fails before answering, uvicorn answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        reset = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(reset)
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or UNMATCHED_ROUTE
            method = scope["method"]
            if self.metrics is not None:
                self.metrics.request(method, route, status, seconds)
            if self.log_requests:
                self._log(request_id, method, route, status, seconds, scope.get(PRINCIPAL_KEY))

    @staticmethod
    def _log(
        request_id: str,
        method: str,
        route: str,
        status: int,
        seconds: float,
        principal: object,
    ) -> None:
        user_id = str(principal.user_id) if isinstance(principal, Principal) else None
        duration_ms = round(seconds * 1000, 2)
        access_log.info(
            "%s %s %d %.2f ms request_id=%s user_id=%s",
            method,
            route,
            status,
            duration_ms,
            request_id,
            user_id or "-",
            extra={
                HTTP_FIELDS: {
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                    "user_id": user_id,
                }
            },
        )
