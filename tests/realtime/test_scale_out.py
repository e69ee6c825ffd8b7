"""Scale-out (§7): processes sharing one database and one Redis behave as one server.

An event committed through one process reaches subscribers on another, and survives the
Redis connections being killed mid-stream and Redis itself restarting: every subscriber
still gets every event once, in order. These need Redis, so they run in the PostgreSQL +
Redis pass.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from websockets.asyncio.client import ClientConnection

from server.app import create_app
from server.settings import Settings
from storage import events
from storage.database import Database
from tests.backends import SECRET_KEY
from tests.helpers import signed_in
from tests.live import live, next_frame, subscribe, websocket
from tests.servers import served

pytestmark = pytest.mark.needs_redis


def _environment(settings: Settings) -> dict[str, str]:
    assert settings.redis_url is not None
    return {
        "TANDEM_DATABASE_URL": settings.database_url,
        "TANDEM_REDIS_URL": settings.redis_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_RATE_LIMITS": "off",
        "TANDEM_ANONYMOUS_RATE_LIMITS": "off",
    }


async def _append(app: Litestar, database: Database, channel: str, count: int, start: int) -> None:
    """Append ``count`` events one transaction each and publish them the normal way."""
    publish: events.Publish = app.state.publish
    for number in range(start, start + count):
        async with database.transaction() as session:
            stored = await events.append(
                session, [events.NewEvent(channel, "progress.updated", {"n": number})]
            )
        await publish(stored)


async def _collect(client: ClientConnection, last_seq: int, timeout: float) -> list[int]:
    """Seqs of the events received until ``last_seq`` arrives (or the timeout passes)."""
    seqs: list[int] = []
    async with asyncio.timeout(timeout):
        while not seqs or seqs[-1] < last_seq:
            frame: dict[str, Any] = json.loads(await client.recv())
            if frame["type"] == "event":
                seqs.append(frame["seq"])
    return seqs


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    yield database
    await database.dispose()


async def test_an_event_committed_through_one_process_reaches_another(
    app: Litestar, settings: Settings, database: Database
) -> None:
    async with (
        live(app) as first,
        served(_environment(settings)) as second,
        httpx.AsyncClient(base_url=second.url) as http,
    ):
        tokens = await signed_in(http)
        channel = events.progress_channel(uuid.UUID(tokens["user"]["id"]))
        address = second.url.removeprefix("http://")
        async with (
            websocket(address, token=tokens["access_token"]) as on_second,
            websocket(first, token=tokens["access_token"]) as on_first,
        ):
            assert (await subscribe(on_second, "progress"))["type"] == "subscribed"
            assert (await subscribe(on_first, "progress"))["type"] == "subscribed"
            await _append(app, database, channel, 1, start=1)
            for client in (on_first, on_second):
                frame = await next_frame(client, timeout=2)
                assert (frame["type"], frame["seq"], frame["data"]) == ("event", 1, {"n": 1})


class PrivateRedis:
    """A ``redis-server`` of the test's own, on a free port, that it may stop and restart.

    Restarting the machine's shared Redis would take it away from everything else using it
    (and leave it down if the test died half-way); this one lives in the test's temporary
    directory and is always stopped at the end.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._process = await asyncio.create_subprocess_exec(
            redis_server,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        # Wait for it to answer: the client retries the connection itself, 50 ms apart.
        waiting = Redis.from_url(
            self.url, retry=Retry(ConstantBackoff(0.05), 200), retry_on_error=[RedisConnectionError]
        )
        try:
            assert await waiting.ping()
        finally:
            await waiting.aclose()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        self._process = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()


async def test_every_event_once_in_order_across_client_kill_and_redis_restart(
    settings: Settings, database: Database, private_redis: PrivateRedis
) -> None:
    settings = msgspec.structs.replace(settings, redis_url=private_redis.url)
    app = create_app(settings)
    async with (
        live(app) as first,
        served(_environment(settings)) as second,
        httpx.AsyncClient(base_url=second.url) as http,
    ):
        tokens = await signed_in(http)
        channel = events.progress_channel(uuid.UUID(tokens["user"]["id"]))
        addresses = [first, second.url.removeprefix("http://")] * 2
        async with (
            websocket(addresses[0], token=tokens["access_token"]) as a,
            websocket(addresses[1], token=tokens["access_token"]) as b,
            websocket(addresses[2], token=tokens["access_token"]) as c,
            websocket(addresses[3], token=tokens["access_token"]) as d,
        ):
            clients = [a, b, c, d]
            for client in clients:
                assert (await subscribe(client, "progress"))["type"] == "subscribed"
            collectors = [
                asyncio.create_task(_collect(client, 60, timeout=60)) for client in clients
            ]

            await _append(app, database, channel, 20, start=1)
            admin = Redis.from_url(private_redis.url)
            try:
                killed = await admin.client_kill_filter(_type="pubsub")
            finally:
                await admin.aclose()
            assert killed >= 2  # one pub/sub connection per process
            await _append(app, database, channel, 20, start=21)
            await private_redis.restart()
            await _append(app, database, channel, 20, start=41)

            # Contract §7: after an outage, missed events arrive within 10 s of Redis answering.
            async with asyncio.timeout(10):
                received = await asyncio.gather(*collectors)
            for seqs in received:
                assert seqs == list(range(1, 61))
