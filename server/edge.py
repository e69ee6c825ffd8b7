"""The edge of every ``/api`` request: caller, rate limit, headers.

Two budgets (contract §2): a request with a valid access token counts against its user's
``TANDEM_RATE_LIMITS``; any other request against its client address's
``TANDEM_ANONYMOUS_RATE_LIMITS``, which is larger because a school puts a whole class behind
one address. Either may be off; a request with no limit gets no ``X-RateLimit-*`` headers.

Why not Litestar middleware: Litestar runs app middleware per route, so answers the router
gives itself (404 for an unknown path, 405 for a wrong method) would bypass it, and the
contract wants the rate-limit headers on *every* ``/api`` response (§2). This plain ASGI
wrapper sits around Litestar's whole handler instead; it stays small and does no I/O but
the one rate-limit call.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.auth.guards import PRINCIPAL_KEY, authenticate
from server.auth.tokens import Principal
from server.proxies import client_address
from server.ratelimit.base import RateLimiter
from server.ratelimit.headers import rate_limit_headers, send_rejection


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_key: str,
        user_limiter: RateLimiter | None,
        anonymous_limiter: RateLimiter | None,
        prefixes: Sequence[str] = ("/api",),
    ) -> None:
        self.app = app
        self.secret_key = secret_key
        self.user_limiter = user_limiter
        self.anonymous_limiter = anonymous_limiter
        self.prefixes = tuple(prefixes)

    def _budget(self, scope: Scope) -> tuple[RateLimiter | None, str]:
        """The limiter and key a request counts against, after :func:`authenticate`."""
        principal = scope.get(PRINCIPAL_KEY)
        if isinstance(principal, Principal):
            return self.user_limiter, f"user:{principal.user_id}"
        return self.anonymous_limiter, f"ip:{client_address(scope)}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        authenticate(scope, authorization, self.secret_key)  # type: ignore[arg-type]

        extra: list[tuple[bytes, bytes]] = []  # the request id is server/observe.py's
        limiter, key = self._budget(scope)
        if limiter is not None:
            decision = await limiter.hit(key)
            extra.extend(rate_limit_headers(decision))
            if not decision.allowed:
                await send_rejection(send, decision, extra)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
