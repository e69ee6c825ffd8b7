"""An app served by a real uvicorn in the test's own event loop, for websocket clients."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from litestar import Litestar
from websockets.asyncio.client import ClientConnection, connect

from realtime.uvicorn_protocol import UVICORN_OPTIONS

FRAME_TIMEOUT_SECONDS = 5.0
# A stop that takes longer is a bug (a connection's task that does not end): the test fails
# and names what still runs, instead of hanging the whole run.
STOP_TIMEOUT_SECONDS = 15.0


@asynccontextmanager
async def live(app: Litestar) -> AsyncIterator[str]:
    """Serve ``app``; yields its ``host:port``.

    The listening socket is bound before uvicorn starts, so a client connecting at once
    waits in the backlog until the app has started: no readiness race, no polling.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    host, port = listener.getsockname()
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        **UVICORN_OPTIONS,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield f"{host}:{port}"
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await asyncio.shield(task)
        except TimeoutError:
            running = _stacks(server.server_state.tasks)
            server.force_exit = True
            await task
            raise AssertionError(
                f"the server did not stop within {STOP_TIMEOUT_SECONDS} s; still running:\n"
                f"{running}"
            ) from None
        finally:
            listener.close()


@asynccontextmanager
async def served(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of ``app`` served for real (:func:`live`), for requests that must run
    at the same time: Litestar's test client's transport runs one request at a time."""
    async with live(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        yield http


def _stacks(tasks: set[asyncio.Task[None]]) -> str:
    text = io.StringIO()
    for running in tasks:
        running.print_stack(file=text)
    return text.getvalue()


@asynccontextmanager
async def websocket(
    address: str, *, token: str | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    """A connected client; with ``token``, authenticated by a first ``auth`` frame."""
    async with connect(
        f"ws://{address}/api/v1/ws", additional_headers=headers, compression=None
    ) as client:
        if token is not None:
            await client.send(json.dumps({"type": "auth", "token": token}))
            frame = await next_frame(client)
            assert frame["type"] == "auth_ok", frame
        yield client


async def next_frame(client: ClientConnection, timeout: float = FRAME_TIMEOUT_SECONDS) -> Any:
    async with asyncio.timeout(timeout):
        return json.loads(await client.recv())


async def frame_where(
    client: ClientConnection,
    matches: Callable[[Any], bool],
    timeout: float = FRAME_TIMEOUT_SECONDS,
) -> Any:
    """The first frame that ``matches`` (others are passed over), within ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await client.recv())
            if matches(frame):
                return frame


async def subscribe(
    client: ClientConnection, channel: str, since: int | None = None, ref: str = "r1"
) -> Any:
    message: dict[str, Any] = {"type": "subscribe", "channel": channel, "ref": ref}
    if since is not None:
        message["since"] = since
    await client.send(json.dumps(message))
    return await next_frame(client)
