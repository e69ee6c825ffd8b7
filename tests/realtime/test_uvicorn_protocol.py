"""Tandem's uvicorn websocket protocol: the direct write the outbox relies on.

The protocol runs over a transport that records what it is given, behind a real handshake
(the ``websockets`` client's request, an ASGI app that accepts), so each case is the
socket's own state: open, pushing back, closing, or closed under the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from realtime.framing import FRAMED_SEND, text_frame
from realtime.uvicorn_protocol import UVICORN_OPTIONS, FramedSendProtocol

WAIT_SECONDS = 5
FRAME = text_frame('{"type":"event","seq":1}')


class Transport:
    """An asyncio transport that keeps what is written; can be closing, or fail."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.wrote = asyncio.Event()
        self.closing = False
        self.fails = False

    def write(self, data: bytes) -> None:
        if self.fails:
            raise RuntimeError("unable to perform operation: the handler is closed")
        self.written.append(data)
        self.wrote.set()

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def accept_and_wait(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that accepts the websocket and waits until it goes away."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


@pytest.fixture
async def opened() -> AsyncIterator[tuple[FramedSendProtocol, Transport]]:
    config = uvicorn.Config(accept_and_wait, lifespan="off", **UVICORN_OPTIONS)
    config.load()
    state = ServerState()
    protocol = FramedSendProtocol(config, state, {})
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    client = ClientProtocol(parse_uri("ws://tandem.test/api/v1/ws"))
    client.send_request(client.connect())
    protocol.data_received(b"".join(client.data_to_send()))
    async with asyncio.timeout(WAIT_SECONDS):
        await transport.wrote.wait()  # the 101 answer
    assert transport.written[0].startswith(b"HTTP/1.1 101")
    assert protocol.handshake_complete
    transport.written.clear()
    try:
        yield protocol, transport
    finally:
        if not protocol.disconnected:
            protocol.connection_lost(None)
        async with asyncio.timeout(WAIT_SECONDS):
            await asyncio.gather(*state.tasks)


def test_the_extension_is_offered_with_its_direct_write(
    opened: tuple[FramedSendProtocol, Transport],
) -> None:
    protocol, _ = opened
    assert protocol.scope["extensions"][FRAMED_SEND]["write_now"] == protocol.write_now


def test_an_open_socket_takes_the_frame_at_once(
    opened: tuple[FramedSendProtocol, Transport],
) -> None:
    protocol, transport = opened
    assert protocol.write_now(FRAME)
    assert transport.written == [FRAME]


def test_a_socket_that_pushes_back_is_left_to_the_queue(
    opened: tuple[FramedSendProtocol, Transport],
) -> None:
    protocol, transport = opened
    protocol.pause_writing()  # its buffer is over the high-water mark
    assert not protocol.write_now(FRAME)
    protocol.resume_writing()
    assert protocol.write_now(FRAME)
    assert transport.written == [FRAME]


def test_a_closing_or_failing_transport_takes_nothing(
    opened: tuple[FramedSendProtocol, Transport],
) -> None:
    protocol, transport = opened
    transport.fails = True  # closed under us: the fan-out must go on to other sockets
    assert not protocol.write_now(FRAME)
    transport.fails, transport.closing = False, True
    assert not protocol.write_now(FRAME)
    assert transport.written == []


async def test_a_disconnected_socket_takes_nothing(
    opened: tuple[FramedSendProtocol, Transport],
) -> None:
    protocol, transport = opened
    protocol.connection_lost(None)
    assert not protocol.write_now(FRAME)
    assert transport.written == []
