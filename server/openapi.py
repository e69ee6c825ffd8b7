"""The OpenAPI document's error answers: every ``/api`` operation documents the envelope.

Litestar documents a 400 of its own shape (``status_code``, ``detail``) for handlers that take
parameters, and no other error. Our errors all have the contract's envelope (§2,
``server/envelope.py``), so each ``/api`` operation is given the statuses it can answer with
that shape. Litestar has no app-wide ``responses`` setting, hence a plugin that sees each
route as it is registered.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str
    details: dict[str, Any]


class ErrorEnvelope(msgspec.Struct, kw_only=True):
    """``{"success": false, "error": {"code", "message", "details"}}``."""

    success: bool
    error: ErrorDetail


_ERRORS: dict[int, str] = {
    400: "VALIDATION_ERROR (details.fields names each problem; details.items each bad batch "
    "index) or INVALID_STATUS_TRANSITION",
    401: "UNAUTHORIZED (no or a bad token) or INVALID_CREDENTIALS",
    403: "FORBIDDEN: the caller's role may not do this",
    404: "NOT_FOUND or CARD_NOT_FOUND, also for what belongs to someone else",
    409: "VERSION_CONFLICT (details.current), CARD_LOCKED, DUPLICATE_ASSIGNMENT or EMAIL_TAKEN",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED, with Retry-After and details.retry_after",
    500: "INTERNAL_ERROR, with details.request_id",
    503: "SERVICE_UNAVAILABLE: the database cannot be reached",
}

ERROR_RESPONSES: dict[int, ResponseSpec] = {
    status: ResponseSpec(data_container=ErrorEnvelope, description=description)
    for status, description in _ERRORS.items()
}


class ErrorResponses(ReceiveRoutePlugin):
    """Adds :data:`ERROR_RESPONSES` to each ``/api`` operation; its own entries win."""

    __slots__ = ()

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/"):
            return
        for handler, _ in route.route_handler_map.values():
            handler.responses = {**ERROR_RESPONSES, **(handler.responses or {})}
