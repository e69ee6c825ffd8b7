"""What a rate-limit decision looks like on the wire (contract §2).

Every limited ``/api`` answer carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` for
the budget it counted against; a rejected request gets 429 ``RATE_LIMITED`` with
``Retry-After``, in the error envelope. Written as raw ASGI messages because the caller
(:mod:`server.edge`) sits outside Litestar.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.types import Send

from server.errors import ErrorBody, ErrorEnvelope
from server.ratelimit.base import Decision

_encode = msgspec.json.Encoder().encode


def rate_limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", str(decision.reset).encode()),
    ]


async def send_rejection(send: Send, decision: Decision, extra: list[tuple[bytes, bytes]]) -> None:
    """Answer 429 ``RATE_LIMITED`` for ``decision``, with ``extra`` headers besides."""
    body = _encode(
        ErrorEnvelope(
            error=ErrorBody(
                "RATE_LIMITED",
                f"Too many requests; retry in {decision.retry_after} s",
                {"retry_after": decision.retry_after},
            )
        )
    )
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(decision.retry_after).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
