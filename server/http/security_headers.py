"""The browser-facing headers of every response, set in one place (contract §2).

Every HTML response, wherever it comes from (the pages, ``/static``, the API docs, an HTML
error page), carries the strict Content-Security-Policy: nothing but this server's own files
may run, style or connect, and no other site may frame the page (``frame-ancestors 'none'``,
which is what stops a page elsewhere from framing the signed-in board). Every response
carries ``nosniff`` and ``Referrer-Policy``, so a JSON answer or a static file is never
sniffed into HTML. The headers are set by the content type of the answer, not by route,
so a page served through a new path cannot miss them.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# No 'unsafe-inline' anywhere: pages and the API docs load their scripts and styles as files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

_EVERY_RESPONSE = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
_HTML = ((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),)
_OURS = {name for name, _ in (*_EVERY_RESPONSE, *_HTML)}


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"content-type" and value.lower().startswith(b"text/html")
        for name, value in headers
    )


class SecurityHeaders:
    """ASGI wrapper: adds the headers to each response start, replacing any of the same name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() not in _OURS
                ]
                extra = (*_EVERY_RESPONSE, *_HTML) if _is_html(headers) else _EVERY_RESPONSE
                message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
