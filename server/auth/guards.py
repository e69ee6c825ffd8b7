"""Who is calling: the principal the edge middleware found, and the role guards (§3)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server.auth.tokens import InvalidToken, Principal, decode_access_token
from server.http.errors import Forbidden, Unauthorized

# Keys the edge middleware sets in the ASGI scope.
PRINCIPAL_KEY = "tandem.principal"
AUTH_ERROR_KEY = "tandem.auth_error"


def authenticate(scope: dict[str, Any], authorization: bytes | None, secret_key: str) -> None:
    """Record in ``scope`` the principal of a ``Bearer`` header, or why there is none."""
    scope[PRINCIPAL_KEY] = None
    if authorization is None:
        return
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        scope[AUTH_ERROR_KEY] = "Use an 'Authorization: Bearer <access token>' header"
        return
    try:
        scope[PRINCIPAL_KEY] = decode_access_token(token.strip(), secret_key=secret_key)
    except InvalidToken as exc:
        scope[AUTH_ERROR_KEY] = str(exc).capitalize()


# What route handlers take to find their caller (``principal_of(request)``). The caller is
# not an injected dependency: Litestar resolves two or more dependencies of a handler in an
# anyio task group, and those two extra tasks were about a third of a board 304's CPU.
ApiRequest = Request[Any, Any, Any]


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated caller, or 401."""
    principal = connection.scope.get(PRINCIPAL_KEY)
    if isinstance(principal, Principal):
        return principal
    message = connection.scope.get(AUTH_ERROR_KEY)
    raise Unauthorized(message if isinstance(message, str) else None)


# Guards are ``async``: Litestar would run a plain function in a worker thread each time.
async def teacher_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if principal_of(connection).role != "teacher":
        raise Forbidden("Only teachers can do this")


async def learner_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if principal_of(connection).role != "learner":
        raise Forbidden("Only learners can do this")


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal_of(connection)
