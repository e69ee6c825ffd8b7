"""A websocket, closed or dropped, is freed as soon as the server is done with it, not left
in reference cycles for the cyclic collector, whose full collections the server's thresholds
make rare: a school day's bells would otherwise grow each process's memory by megabytes a
minute (realtime/uvicorn_protocol.py, docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from litestar import Litestar, WebSocket
from websockets.server import ServerProtocol

from realtime.uvicorn_protocol import FramedSendProtocol, HttpProtocol
from tests.helpers import signed_in
from tests.live import live, subscribe, websocket

SOCKETS = 10
WAIT_SECONDS = 5.0
# What a connection is built of on the server: the HTTP protocol that upgraded it, the
# websocket protocol (which holds the transport), the websockets library's protocol (its
# buffers, the handshake and a parser) and the app's socket (the scope, the session's writers).
SERVER_SIDE = (HttpProtocol, FramedSendProtocol, ServerProtocol, WebSocket)


@contextmanager
def no_cyclic_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("ending", ["closed", "dropped"])
async def test_a_websocket_that_ended_is_freed_without_the_cyclic_collector(
    app: Litestar, ending: str
) -> None:
    async with live(app) as address:
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            token = (await signed_in(http))["access_token"]
        alive: set[weakref.ref[object]] = set()  # the protocols of the sockets opened
        all_freed = asyncio.Event()

        def freed(ref: weakref.ref[object]) -> None:
            alive.discard(ref)
            if not alive:
                all_freed.set()

        with no_cyclic_collector():
            for _ in range(SOCKETS):
                async with websocket(address, token=token) as client:
                    assert (await subscribe(client, "progress"))["type"] == "subscribed"
                    known = {id(ref()) for ref in alive}
                    # By exact type: ``isinstance`` would ask a dead weak proxy for its class.
                    opened = [
                        found
                        for found in gc.get_objects()
                        if type(found) in SERVER_SIDE and id(found) not in known
                    ]
                    # The upgraded HTTP protocol is already gone, if nothing holds it.
                    kinds = sorted(type(found).__name__ for found in opened)
                    assert [kind for kind in kinds if kind != "HttpProtocol"] == [
                        "FramedSendProtocol",
                        "ServerProtocol",
                        "WebSocket",
                    ], kinds
                    # Litestar's socket takes no weak reference; it is looked for at the end.
                    alive.update(
                        weakref.ref(found, freed)
                        for found in opened
                        if not isinstance(found, WebSocket)
                    )
                    del opened, known
                    if ending == "dropped":  # no closing handshake, as a network failure
                        client.transport.abort()
            if alive:  # those of the first sockets may all have gone before the last opened
                all_freed.clear()
            try:
                async with asyncio.timeout(WAIT_SECONDS):
                    await all_freed.wait()
            except TimeoutError:
                kept = sorted(type(ref()).__name__ for ref in alive)
                raise AssertionError(
                    f"{len(kept)} protocols of {SOCKETS} closed websockets are kept by "
                    f"reference cycles alone: {kept}"
                ) from None
            assert not [found for found in gc.get_objects() if type(found) is WebSocket]
