"""The one exception tree of Tandem, and its mapping onto the contract's error envelope (§2).

::

    TandemError                      status  code
    ├── ValidationFailed              400    VALIDATION_ERROR
    ├── InvalidStatusTransition       400    INVALID_STATUS_TRANSITION
    ├── Unauthorized                  401    UNAUTHORIZED
    │   └── InvalidCredentials        401    INVALID_CREDENTIALS
    ├── Forbidden                     403    FORBIDDEN
    ├── NotFound                      404    NOT_FOUND
    │   └── CardNotFound              404    CARD_NOT_FOUND
    ├── MethodNotAllowed              405    METHOD_NOT_ALLOWED
    ├── Conflict                      409    (abstract)
    │   ├── EmailTaken                409    EMAIL_TAKEN
    │   ├── VersionConflict           409    VERSION_CONFLICT
    │   ├── CardLocked                409    CARD_LOCKED
    │   └── DuplicateAssignment       409    DUPLICATE_ASSIGNMENT
    ├── PayloadTooLarge               413    PAYLOAD_TOO_LARGE
    ├── RateLimited                   429    RATE_LIMITED   (+ Retry-After)
    ├── InternalError                 500    INTERNAL_ERROR
    └── ServiceUnavailable            503    SERVICE_UNAVAILABLE

Services raise these; :func:`exception_to_response` (registered once, in ``create_app``) turns
them, and whatever Litestar or the database raises, into the envelope. Nothing else in the
code base builds an error body.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.utils.scope.state import ScopeState

from server.http import validation
from storage.outage import is_unreachable

log = logging.getLogger("tandem.errors")


class TandemError(Exception):
    """Base of every error a client may see. ``details`` is JSON-able context."""

    status_code: int = 500
    code: str = "INTERNAL_ERROR"
    default_message: str = "Something went wrong on our side"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(TandemError):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "The request is not valid"


class InvalidStatusTransition(TandemError):
    status_code = 400
    code = "INVALID_STATUS_TRANSITION"
    default_message = "That status change is not allowed"


class Unauthorized(TandemError):
    status_code = 401
    code = "UNAUTHORIZED"
    default_message = "Authentication required"


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"
    default_message = "Email or password is wrong"


class Forbidden(TandemError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this"


class NotFound(TandemError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "Not found"


class CardNotFound(NotFound):
    code = "CARD_NOT_FOUND"
    default_message = "Card not found"


class MethodNotAllowed(TandemError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed on this path"


class Conflict(TandemError):
    status_code = 409
    code = "CONFLICT"
    default_message = "Conflict"


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"
    default_message = "An account with this email already exists"


class VersionConflict(Conflict):
    code = "VERSION_CONFLICT"
    default_message = "Someone changed this in the meantime"


class CardLocked(Conflict):
    code = "CARD_LOCKED"
    default_message = "Card locked by another user"


class DuplicateAssignment(Conflict):
    code = "DUPLICATE_ASSIGNMENT"
    default_message = "Lesson already assigned to this student"


class PayloadTooLarge(TandemError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large"


class RateLimited(TandemError):
    status_code = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests; slow down"


class InternalError(TandemError):
    pass


class ServiceUnavailable(TandemError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The database cannot be reached; try again shortly"


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    details: dict[str, Any]


class ErrorEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """``{"success": false, "error": {"code", "message", "details"}}``.

    The body of every error, built only by :func:`error_envelope`; the OpenAPI document
    describes this same struct (server/http/openapi.py).
    """

    success: bool
    error: ErrorDetail


def error_envelope(error: TandemError) -> ErrorEnvelope:
    """The envelope of ``error``: the one builder of an error body, for Litestar's
    responses and for the raw ASGI answers of the edge (the 429, server/ratelimit)."""
    return ErrorEnvelope(
        success=False,
        error=ErrorDetail(code=error.code, message=error.message, details=error.details),
    )


def error_response(error: TandemError) -> Response[ErrorEnvelope]:
    return Response(error_envelope(error), status_code=error.status_code, headers=error.headers)


def validation_details(exc: ValidationException, request: Request[Any, Any, Any] | None) -> Any:
    """``{"fields": [{"field", "message"}, …]}`` naming every bad field of the request.

    For a body, the body is walked again against the handler's ``data`` type so that every
    bad field is named (msgspec itself stops at the first); for query and path parameters
    Litestar's own report is kept.
    """
    extra = exc.extra if isinstance(exc.extra, list) else []
    if request is not None and (
        not extra or any(isinstance(e, dict) and e.get("source") == "body" for e in extra)
    ):
        body = ScopeState.from_scope(request.scope).body
        parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
        if isinstance(body, bytes) and parameter is not None:
            fields = validation.describe(parameter.annotation, body)
            if fields:
                return validation.grouped(fields)
    fields = [
        {"field": str(e.get("key") or "body"), "message": str(e.get("message", "invalid"))}
        for e in extra
        if isinstance(e, dict)
    ]
    return {"fields": fields or [{"field": "body", "message": exc.detail}]}


def translate(exc: Exception, request: Request[Any, Any, Any] | None = None) -> TandemError:
    """Map any exception onto the tree above."""
    if isinstance(exc, TandemError):
        return exc
    if isinstance(exc, ValidationException):
        return ValidationFailed(
            "The request is not valid", details=validation_details(exc, request)
        )
    if isinstance(exc, NotFoundException):
        return NotFound("No such resource")
    if isinstance(exc, MethodNotAllowedException):
        headers = dict(exc.headers or {})
        return MethodNotAllowed(headers=headers)
    if isinstance(exc, NotAuthorizedException):
        return Unauthorized(_clean(exc.detail) if exc.detail else None)
    if isinstance(exc, PermissionDeniedException):
        return Forbidden(_clean(exc.detail) if exc.detail else None)
    if isinstance(exc, HTTPException):
        if exc.status_code == 413:
            return PayloadTooLarge()
        if exc.status_code == 400:
            detail = _clean(exc.detail)
            return ValidationFailed(
                detail, details={"fields": [{"field": "body", "message": detail}]}
            )
        if exc.status_code == 429:
            return RateLimited(headers=dict(exc.headers or {}))
        if exc.status_code < 500:
            error = TandemError(_clean(exc.detail), headers=dict(exc.headers or {}))
            error.status_code, error.code = exc.status_code, "BAD_REQUEST"
            return error
    if is_unreachable(exc):  # every shape of a database outage (storage/outage.py)
        return ServiceUnavailable()
    return InternalError()


def _clean(detail: str) -> str:
    return detail.strip() or "The request is not valid"


def exception_to_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The single exception handler: log what the client must not see, answer the envelope."""
    error = translate(exc, request)
    if error.status_code >= 500:
        request_id = request.scope.get("state", {}).get("request_id", "-")
        method, path = request.method, request.url.path
        if isinstance(error, InternalError):
            log.error("%s %s failed (request id %s)", method, path, request_id, exc_info=exc)
            error.details = {"request_id": request_id}
        else:
            # A 503 is an outage or an overload (the database out of reach, the pool's
            # checkout timing out), not a fault of the code: one line each, no traceback, so
            # an overloaded box's log stays readable; /ready and the metrics tell the rest.
            status = error.status_code
            log.warning(
                "%s %s answered %d (request id %s): %r", method, path, status, request_id, exc
            )
    return error_response(error)
