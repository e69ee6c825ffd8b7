"""The process's one Redis client and its outage rules (realtime/redis_client.py).

One connection pool per process, whatever uses Redis; its connections survive being killed;
and with Redis down every concern keeps working on its documented fallback while ``/ready``
says so. A ``ResponseError`` (a bug) is never taken for an outage.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import httpx
import msgspec
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from redis.exceptions import ReadOnlyError, ResponseError
from websockets.asyncio.client import ClientConnection

from realtime import redis_client as redis_policy
from server.app import create_app
from server.board.stamps import RedisBoardStamps
from server.ratelimit.base import Window
from server.ratelimit.redis import RedisRateLimiter
from server.settings import Settings
from tests.backends import TEST_REDIS_URL
from tests.board_helpers import BOARD, Room, User, create_card, data_of, room, user
from tests.live import frame_where, live, next_frame, subscribe, websocket
from tests.servers import free_port


@dataclass
class Exercised:
    """An app served live with a teacher on a board socket: every Redis concern in use."""

    app: Litestar
    http: httpx.AsyncClient
    teacher: User
    place: Room
    socket: ClientConnection


@asynccontextmanager
async def exercised(settings: Settings) -> AsyncIterator[Exercised]:
    """Rate limits on both budgets, a login (the throttle), board reads (stamps and cache), a
    board socket (presence and fan-out) and a write that publishes an event."""
    limited = msgspec.structs.replace(
        settings, rate_limits=(Window(1000, 60),), anonymous_rate_limits=(Window(1000, 60),)
    )
    app = create_app(limited)
    # The first request may wait for startup, which gives an unreachable Redis 5 s.
    async with (
        live(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http,
    ):
        teacher = await user(http)
        place = await room(http, teacher=teacher)
        async with websocket(address, token=teacher.token) as socket:
            assert (await subscribe(socket, place.channel))["type"] == "subscribed"
            presence = await next_frame(socket)
            assert presence["type"] == "presence"
            assert [u["id"] for u in presence["users"]] == [teacher.id]
            for _ in range(2):
                data_of(await http.get(BOARD, headers=teacher.headers))
            yield Exercised(app, http, teacher, place, socket)


async def card_event(test: Exercised, index: int) -> None:
    """Create a card and see its event arrive on the board socket (contract §7: within 10 s
    of Redis answering, which it does here)."""
    lesson, student = test.place.lessons[index], test.place.students[index]
    card = await create_card(test.http, test.teacher, lesson["id"], student["id"])
    frame = await frame_where(
        test.socket,
        lambda f: f.get("event") == "card.created" and f["data"]["id"] == card["id"],
        timeout=10,
    )
    assert frame["channel"] == test.place.channel


def our_name(app: Litestar) -> str:
    redis: Redis = app.state.redis
    name: str = redis.connection_pool.connection_kwargs["client_name"]
    return name


def pool_connections(redis: Redis) -> int:
    """The connections the client's pool holds, idle and lent out (its own bookkeeping)."""
    pool = redis.connection_pool
    return len(list(pool._get_free_connections())) + len(list(pool._get_in_use_connections()))


async def connections_on_our_database(admin: Redis) -> list[dict[str, Any]]:
    """``CLIENT LIST`` entries on the test database, without the admin's own."""
    me = await admin.client_id()
    db = admin.connection_pool.connection_kwargs["db"]
    clients = cast("list[dict[str, Any]]", await admin.client_list())
    return [c for c in clients if int(c["db"]) == int(db) and int(c["id"]) != me]


@pytest.mark.needs_redis
async def test_a_process_opens_one_redis_pool(settings: Settings) -> None:
    async with exercised(settings) as test:
        await card_event(test, 0)
        redis: Redis = test.app.state.redis
        held = pool_connections(redis)  # lent out: the pub/sub connection
        admin = Redis.from_url(TEST_REDIS_URL or "")
        try:
            connections = await connections_on_our_database(admin)
        finally:
            await admin.aclose()
        # Every connection on the database is the one client's: no other pool, no nameless one.
        assert {c["name"] for c in connections} == {our_name(test.app)}
        assert len(connections) <= held
        # Of which one is the pub/sub connection the broker subscribes on.
        assert sum(int(c["sub"]) for c in connections) == 1


@pytest.mark.needs_redis
async def test_killed_connections_are_replaced_without_an_outage(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tandem.redis")
    async with exercised(settings) as test:
        admin = Redis.from_url(TEST_REDIS_URL or "")
        try:
            ours = [
                c
                for c in await connections_on_our_database(admin)
                if c["name"] == our_name(test.app)
            ]
            assert ours
            for connection in ours:
                await admin.client_kill_filter(_id=connection["id"])
            before = await admin.zcard(f"tandem:rl:user:{test.teacher.id}")
            # The next requests find their pooled connection dead and retry on a new one.
            response = await test.http.get(BOARD, headers=test.teacher.headers)
            assert response.status_code == 200
            assert await admin.zcard(f"tandem:rl:user:{test.teacher.id}") == before + 1
            # The fan-out resubscribed and resynced: an event after the kill still arrives.
            await card_event(test, 1)
        finally:
            await admin.aclose()
    assert not [r for r in caplog.records if r.name == "tandem.redis"], "no outage was declared"


async def test_with_redis_down_every_concern_falls_back(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis at a port nothing listens on: rate limits count in memory, logins and board reads
    work (throttle in memory, stamps and cache bypassed), presence and events are this
    process's own, and ``/ready`` reports Redis down."""
    caplog.set_level(logging.WARNING, logger="tandem.redis")
    down = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with exercised(down) as test:
        await card_event(test, 0)
        response = await test.http.get(BOARD, headers=test.teacher.headers)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "1000"
        assert int(response.headers["x-ratelimit-remaining"]) < 1000
        ready = await test.http.get("/ready")
        assert ready.status_code == 503
        assert "redis" in ready.json()["error"]["details"]
    warned = " ".join(r.getMessage() for r in caplog.records if r.name == "tandem.redis")
    for concern in ("user rate limits", "anonymous rate limits", "board stamps", "presence"):
        assert f"Redis unreachable for {concern} " in warned


# --- which errors are an outage (no server needed, or any Redis) -----------------------------


class FailingRedis:
    """Just enough of a Redis client for RedisRateLimiter: its script raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def register_script(self, script: str) -> FailingRedis:
        return self

    async def __call__(self, keys: Sequence[str], args: Sequence[object]) -> list[int]:
        raise self.error


def failing_limiter(error: Exception) -> RedisRateLimiter:
    return RedisRateLimiter(cast("Redis", FailingRedis(error)), [Window(2, 60)])


async def test_a_read_only_replica_is_an_outage() -> None:
    limiter = failing_limiter(ReadOnlyError("READONLY You can't write against a read only replica"))
    assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, False]


async def test_a_response_error_is_a_bug_not_an_outage() -> None:
    limiter = failing_limiter(ResponseError("ERR wrong number of arguments"))
    with pytest.raises(ResponseError):
        await limiter.hit("k")


@pytest.mark.needs_redis
async def test_a_wrong_type_in_redis_is_raised_not_bypassed() -> None:
    assert TEST_REDIS_URL is not None
    client = redis_policy.connect(TEST_REDIS_URL)
    prefix = f"test:stamp:{uuid.uuid4().hex}:"
    room_id = uuid.uuid4()
    try:
        await client.rpush(f"{prefix}{room_id}", "not a stamp")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await RedisBoardStamps(client, prefix=prefix).get(room_id)
        limiter = RedisRateLimiter(client, [Window(2, 60)], prefix=prefix)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await limiter.hit(str(room_id))
    finally:
        await client.delete(f"{prefix}{room_id}")
        await client.aclose()


@pytest.mark.needs_redis
async def test_a_burst_of_more_commands_than_the_pool_holds_waits_for_connections() -> None:
    """A bell's reconnections send more commands at once than the pool opens: they wait for
    a connection, none fails as if Redis were down, and the pool opens no more than its
    size."""
    assert TEST_REDIS_URL is not None
    client = redis_policy.connect(TEST_REDIS_URL)
    burst = 3 * redis_policy.MAX_CONNECTIONS
    try:
        assert await asyncio.gather(*(client.ping() for _ in range(burst))) == [True] * burst
        assert 0 < pool_connections(client) <= redis_policy.MAX_CONNECTIONS
    finally:
        await client.aclose()


async def test_the_client_waits_no_longer_than_its_timeouts() -> None:
    """A Redis that accepts connections but never answers costs one connect or command
    timeout, not redis-py's default ten retries."""
    accepted: list[asyncio.StreamWriter] = []

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # and never answer

    silent = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    client = redis_policy.connect(f"redis://127.0.0.1:{port}/0")
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(redis_policy.redis_down()):
            await client.get("k")
    finally:
        await client.aclose()
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()
    took = loop.time() - started
    limit = redis_policy.CONNECT_TIMEOUT_SECONDS + redis_policy.COMMAND_TIMEOUT_SECONDS
    assert took <= limit + 0.5
