"""uvicorn's protocols as Tandem runs them: the websocket one with Tandem's pre-framed send
extension, both letting go of a connection once it has ended.

See :mod:`realtime.framing` for why the extension. uvicorn offers no hook for it, hence a
subclass; the lock file pins the uvicorn whose ``send`` it builds on, and the served-process
tests and benchmarks run every frame through it.

Letting go: a closed websocket must be freed when its last reference goes, not left in a
reference cycle for the cyclic collector, whose full collections this process's thresholds
make rare (server/asgi.py). Left to it, a school day's bells (a third of 2,000 learners
reconnecting every 30 s in bench/school_day.py) grew each process's memory 8 MiB a minute,
with no full collection in sight; one at that load holds the event loop for 190-280 ms.
tests/realtime/test_websocket_memory.py pins that nothing of a socket closed, or dropped
without a closing handshake as the bells drop them, waits for one.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from realtime.framing import FRAMED_SEND


class FramedSendProtocol(WebSocketsSansIOProtocol):
    """Also accepts ``{"type": FRAMED_SEND, "frame": bytes, "text": str}``: writes ``frame``
    as it is while the connection is open with no extension negotiated (compression would
    change the bytes), else sends ``text`` the ordinary way.

    The extension's ``write_now(frame) -> bool`` writes a frame without waiting, where the
    socket can take it at once: the outbox's direct path (realtime/outbox.py).
    """

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][FRAMED_SEND] = {"write_now": self.write_now}

    def _framed_ok(self) -> bool:
        return (
            self.handshake_complete
            and not self.close_sent
            and self.conn.state is State.OPEN
            and not self.conn.extensions
        )

    def write_now(self, frame: bytes) -> bool:
        """Write ``frame`` now if the socket is open and not pushing back; else False."""
        if (
            self.writable.is_set()
            and not self.disconnected
            and not self.transport.is_closing()
            and self._framed_ok()
        ):
            try:
                self.transport.write(frame)
            except RuntimeError:
                # uvloop's answer for a transport closed under us. This runs inside the
                # hub's fan-out, which must go on to the other sockets; the queued path
                # then finds the connection gone.
                return False
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # The websockets protocol parses with a generator that waits for the next bytes,
        # always, even past the end of the stream, and whose frame holds the protocol: a
        # cycle. No bytes come after this; closing the generator ends its frame.
        self.conn.parser.close()

    async def run_asgi(self) -> None:
        try:
            await super().run_asgi()
        finally:
            # The extension's ``write_now`` ties the scope to this protocol, which holds the
            # scope: a cycle, once the app is done with both.
            scope: Any = getattr(self, "scope", None)
            if scope is not None:
                scope["extensions"].pop(FRAMED_SEND, None)

    async def send(self, message: Any) -> None:
        if message["type"] == FRAMED_SEND:
            await self.writable.wait()
            if self.disconnected:
                raise ClientDisconnected()
            if self._framed_ok():
                self.transport.write(message["frame"])
                return
            message = {"type": "websocket.send", "text": message["text"], "bytes": None}
        await super().send(message)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, which lets go of its parser once it has handed a
    connection over to the websocket protocol."""

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The parser holds this protocol's callbacks, and this protocol the parser and the
        # transport, which holds the websocket protocol from now on: uvicorn breaks that
        # cycle when an HTTP connection is lost, which an upgraded one never is here.
        self.parser = None  # type: ignore[assignment]


# How every Tandem process (and the tests' live server) runs HTTP and websockets under uvicorn.
UVICORN_OPTIONS: dict[str, Any] = {
    "http": HttpProtocol,
    "ws": FramedSendProtocol,
    "ws_per_message_deflate": False,
    # Contract §7: a client frame over 64 KiB closes the connection with 1009.
    "ws_max_size": 64 * 1024,
    # The server's keepalive: protocol-level pings; a peer that stops answering is dropped.
    "ws_ping_interval": 20.0,
    "ws_ping_timeout": 20.0,
}
