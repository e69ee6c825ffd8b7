"""``/api/v1/ws``: the websocket endpoint, a thin loop around :class:`Session` (§7).

It checks the handshake's ``Origin``, then feeds the session what the socket receives and
the passing of time, and lets :class:`Connection` carry out the answers. A second task
writes the connection's outbox to the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from realtime.connection import Authorize, Connection
from realtime.framing import FRAMED_SEND, text_frame
from realtime.hub import Hub
from realtime.outbox import Direct
from realtime.session import Close, Session, Verify

log = logging.getLogger("tandem.ws")

Socket = WebSocket[Any, Any, Any]

CLOSE_FORBIDDEN_ORIGIN = 4403


@dataclass(frozen=True, slots=True)
class Realtime:
    """What the endpoint needs, built by ``create_app``."""

    hub: Hub
    verify: Verify
    authorize_board: Authorize
    allowed_origins: Sequence[str]
    auth_timeout: float = 10.0
    outbox_limit: int = 512


def origin_allowed(socket: Socket, allowed: Sequence[str]) -> bool:
    """Same origin, a configured one, or no ``Origin`` at all (a non-browser client)."""
    origin = socket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    if origin in (o.lower() for o in allowed):
        return True
    host = socket.headers.get("host", "").lower()
    scheme = "https" if socket.scope.get("scheme") == "wss" else "http"
    return origin == f"{scheme}://{host}"


@websocket("/api/v1/ws", name="realtime")
async def realtime_socket(socket: Socket, realtime: NamedDependency[Realtime]) -> None:
    try:
        await _serve(socket, realtime)
    finally:
        _let_go(socket)


async def _ended(*_: Any) -> Any:
    raise WebSocketDisconnect(detail="the connection has ended")


def _let_go(socket: Socket) -> None:
    """Break the cycle Litestar's socket is in once the handler is done with it: its wrapped
    ``receive`` and ``send`` are closures over the socket itself. Without this the socket,
    and through them everything of the connection (uvicorn's protocol, the transport and
    its buffers, the handshake), wait for a full collection (realtime/uvicorn_protocol.py)."""
    socket.receive = _ended
    socket.send = _ended


async def _serve(socket: Socket, realtime: Realtime) -> None:
    if not origin_allowed(socket, realtime.allowed_origins):
        await socket.close(code=CLOSE_FORBIDDEN_ORIGIN, reason="origin not allowed")
        return
    await socket.accept()
    session = Session(realtime.verify, opened_at=time.time(), auth_timeout=realtime.auth_timeout)
    send, direct = _writers(socket)
    connection = Connection(
        session,
        realtime.hub,
        realtime.authorize_board,
        outbox_limit=realtime.outbox_limit,
        direct=direct,
    )

    writer = asyncio.create_task(connection.write(send))
    close: Close | None = None
    try:
        authorization = socket.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            close = await connection.apply(session.authenticate(token.strip()))
        while close is None:
            close = await _next(socket, session, connection)
    finally:
        await connection.close()
        with contextlib.suppress(Exception):
            await writer
    if close is not None and close.code:
        with contextlib.suppress(Exception):
            await socket.close(code=close.code, reason=close.reason)


async def _next(socket: Socket, session: Session, connection: Connection) -> Close | None:
    """Wait for the next frame or deadline and act on it; a :class:`Close` ends the loop."""
    deadline = session.deadline()
    try:
        async with asyncio.timeout(None if deadline is None else deadline - time.time()):
            message = await socket.receive()
    except TimeoutError:
        return await connection.apply(session.tick(time.time()))
    if message["type"] == "websocket.disconnect":
        return Close(0, "client went away")
    text, raw = message.get("text"), message.get("bytes")
    data: str | bytes = text if isinstance(text, str) else raw if isinstance(raw, bytes) else b""
    return await connection.apply(session.receive(data, time.time()))


Send = Callable[[str], Awaitable[None]]


def _writers(socket: Socket) -> tuple[Send, Direct | None]:
    """How this socket's frames are written: queued ones, and those written at once."""
    extensions: dict[str, Any] = socket.scope.get("extensions") or {}
    framed: dict[str, Any] | None = extensions.get(FRAMED_SEND)
    if framed is None:

        async def send(frame: str) -> None:
            await socket.send({"type": "websocket.send", "text": frame, "bytes": None})

        return send, None

    async def send_framed(frame: str) -> None:
        # Framed once per event for all its sockets (realtime/framing.py).
        message: Any = {"type": FRAMED_SEND, "frame": text_frame(frame), "text": frame}
        await socket.send(message)

    write_now: Callable[[bytes], bool] | None = framed.get("write_now")
    if write_now is None:
        return send_framed, None

    def direct(frame: str) -> bool:
        return write_now(text_frame(frame))

    return send_framed, direct
