"""``OPTIONS``, ``HEAD`` and ``Allow`` for every path, from the routes the app really has.

Why not Litestar's own OPTIONS answer: in Litestar 2 the automatic OPTIONS handler lists the
methods of the route as it stood when the path's *first* handler was registered
(litestar-org/litestar#4169, fixed only in v3), so ``/api/teacher/classrooms`` answered
``Allow: OPTIONS, POST`` though it has GET too; and it inherits its controller's guards, so
without a token it answered 401 instead of the path's methods. Nor does Litestar answer HEAD
on a GET route, and its 405s' ``Allow`` (RFC 9110 §15.5.6) leaves HEAD out.

This wrapper asks Litestar's router which route a path is (so path parameters match exactly
as they do for the real request) and takes the methods from a map of the app's routes:

- ``OPTIONS`` (not a CORS preflight, which Litestar's CORS layer answers) gets 204 with
  ``Allow`` listing every method of the path (RFC 9110 §9.3.7);
- ``HEAD`` on a path with GET runs GET and drops the body, so its headers are GET's
  (§9.3.2; Litestar's own HEAD for static files leaves out Content-Type);
- a 405 carries the same ``Allow`` header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from litestar import Litestar


def allowed_methods(route: HTTPRoute) -> frozenset[str]:
    """The methods a route answers, with HEAD wherever GET is (answered by :class:`Methods`)."""
    methods = {method for handler in route.route_handlers for method in handler.http_methods}
    methods.add("OPTIONS")
    if "GET" in methods:
        methods.add("HEAD")
    return frozenset(methods)


class Methods:
    def __init__(self, app: ASGIApp, litestar: Litestar, *, cors: bool) -> None:
        self.app = app
        self.litestar = litestar
        self.cors = cors
        self._allow: dict[str, frozenset[str]] | None = None

    def _methods_of(self, path: str) -> frozenset[str] | None:
        if self._allow is None:
            # Built on first use: routes are only complete once the app has been set up.
            self._allow = {
                route.path_format: allowed_methods(route)
                for route in self.litestar.routes
                if isinstance(route, HTTPRoute)
            }
        try:
            # Every HTTP route has an OPTIONS handler, so this finds any HTTP path; the
            # template it returns is the route's path_format.
            *_, template = self.litestar.asgi_router.handle_routing(path=path, method="OPTIONS")
        except HTTPException:  # no such path (404) or not HTTP (405): Litestar answers it
            return None
        return self._allow.get(template)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        # Looked up only where needed: most requests are neither OPTIONS, HEAD nor a 405.
        if method == "HEAD" or (method == "OPTIONS" and not (self.cors and _is_preflight(scope))):
            methods = self._methods_of(scope["path"])
            if methods is not None and method == "OPTIONS":
                await send(
                    {"type": "http.response.start", "status": 204, "headers": [_allow(methods)]}
                )
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if methods is not None and "GET" in methods:
                await self._head(scope, receive, send)
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = self._methods_of(scope["path"])
                if methods is not None:
                    # Litestar's own Allow here leaves out the HEAD this wrapper answers.
                    headers = message.get("headers", ())
                    kept = [(k, v) for k, v in headers if k.lower() != b"allow"]
                    message["headers"] = [*kept, _allow(methods)]
            await send(message)

        await self.app(scope, receive, send_with_allow)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server keeps its own scope saying HEAD, so it expects no body either.
        as_get: Any = {**scope, "method": "GET"}
        await self.app(as_get, receive, send_without_body)


def _allow(methods: frozenset[str]) -> tuple[bytes, bytes]:
    return (b"allow", ", ".join(sorted(methods)).encode())


def _is_preflight(scope: Scope) -> bool:
    names = {name for name, _ in scope["headers"]}
    return b"origin" in names and b"access-control-request-method" in names
