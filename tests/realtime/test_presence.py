"""Tests of realtime.presence: who is on a board channel, on one process or across several.

Backend-neutral tests run on memory and, when ``TANDEM_TEST_REDIS_URL`` is set, on Redis too.
Tests that need a real Redis are marked ``needs_redis``. Several processes are simulated by
several :class:`RedisPresence` with different process ids on one prefix; a crash by deleting a
process's liveness key; an outage by cutting a TCP relay between a client and Redis. No test
waits on a timer: the heartbeat's single step is driven through ``beat()``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from realtime.presence import MemoryPresence, Presence, PresenceUser
from realtime.redis_presence import RedisPresence
from tests.backends import TEST_REDIS_URL

BACKENDS = ["memory", *(["redis"] if TEST_REDIS_URL else [])]
# A port nothing listens on: connecting fails at once with "connection refused".
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"
BOARD = "board:6f1c2a9e-0000-4000-8000-000000000001"

ALICE = PresenceUser(id="00000000-0000-4000-8000-00000000000a", name="Alice")
BOB = PresenceUser(id="00000000-0000-4000-8000-00000000000b", name="Bob")
CAROL = PresenceUser(id="00000000-0000-4000-8000-00000000000c", name="Carol")


def redis_client(url: str) -> Redis:
    # No retries and a short connect timeout: a refused connection must fail fast in tests.
    # A socket timeout too: a reply that never comes fails the test instead of hanging it.
    return Redis.from_url(
        url, socket_connect_timeout=0.2, socket_timeout=5, retry=Retry(NoBackoff(), 0)
    )


class Namespace:
    """A fresh key prefix on the test Redis, and every client and presence made on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"tandem-test:presence:{uuid.uuid4().hex}:"
        self.client = redis_client(url)
        self._clients = [self.client]
        self._presences: list[RedisPresence] = []

    def presence(self, process_id: str, url: str | None = None, **options: Any) -> RedisPresence:
        """A "process": its own client (on ``url``, default the test Redis) and process id."""
        client = redis_client(url or self.url)
        self._clients.append(client)
        presence = RedisPresence(client, process_id=process_id, prefix=self.prefix, **options)
        self._presences.append(presence)
        return presence

    async def keys(self) -> set[str]:
        return {key.decode() async for key in self.client.scan_iter(match=self.prefix + "*")}

    async def aclose(self) -> None:
        try:
            for presence in self._presences:
                await presence.stop()
            keys = await self.keys()
            if keys:
                await self.client.delete(*keys)
        finally:
            for client in self._clients:
                await client.aclose()


class RedisRelay:
    """A TCP relay to Redis that can be cut and restored, to stage an outage for one client."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._url = parts
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        userinfo, at, _ = self._url.netloc.rpartition("@")
        return urlunsplit(self._url._replace(netloc=f"{userinfo}{at}127.0.0.1:{self.port}"))

    async def open(self) -> None:
        # The same port again after a cut, so the client reconnects to where it was.
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is None:
            return  # already cut
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server, self._writers = None, []

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            self._writers += [writer, upstream_writer]
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        finally:
            writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass  # the other side was cut
        finally:
            writer.close()


@pytest.fixture(params=BACKENDS)
async def presence(request: pytest.FixtureRequest) -> AsyncIterator[Presence]:
    if request.param == "memory":
        memory = MemoryPresence()
        yield memory
        await memory.stop()
        return
    assert TEST_REDIS_URL is not None
    namespace = Namespace(TEST_REDIS_URL)
    try:
        yield namespace.presence("process-1")
    finally:
        await namespace.aclose()


@pytest.fixture
async def namespace() -> AsyncIterator[Namespace]:
    assert TEST_REDIS_URL is not None
    namespace = Namespace(TEST_REDIS_URL)
    try:
        yield namespace
    finally:
        await namespace.aclose()


def warnings_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        1
        for record in caplog.records
        if record.name == "tandem.redis" and record.levelno == logging.WARNING
    )


# --- Both backends --------------------------------------------------------------------------


async def test_join_leave_members(presence: Presence) -> None:
    await presence.join(BOARD, "conn-1", ALICE)
    await presence.join(BOARD, "conn-2", BOB)
    assert await presence.members(BOARD) == [ALICE, BOB]

    await presence.leave(BOARD, "conn-1")
    assert await presence.members(BOARD) == [BOB]
    await presence.leave(BOARD, "conn-2")
    assert await presence.members(BOARD) == []


async def test_channels_are_separate(presence: Presence) -> None:
    other = "board:6f1c2a9e-0000-4000-8000-000000000002"
    await presence.join(BOARD, "conn-1", ALICE)
    await presence.join(other, "conn-2", BOB)
    assert await presence.members(BOARD) == [ALICE]
    assert await presence.members(other) == [BOB]


async def test_user_with_two_connections_appears_once(presence: Presence) -> None:
    await presence.join(BOARD, "tab-1", ALICE)
    await presence.join(BOARD, "tab-2", ALICE)
    assert await presence.members(BOARD) == [ALICE]

    await presence.leave(BOARD, "tab-1")
    assert await presence.members(BOARD) == [ALICE]  # still there in the other tab
    await presence.leave(BOARD, "tab-2")
    assert await presence.members(BOARD) == []


async def test_members_are_sorted_by_name_then_id(presence: Presence) -> None:
    other_alice = PresenceUser(id="00000000-0000-4000-8000-000000000001", name="Alice")
    await presence.join(BOARD, "c1", CAROL)
    await presence.join(BOARD, "c2", ALICE)
    await presence.join(BOARD, "c3", BOB)
    await presence.join(BOARD, "c4", other_alice)
    assert await presence.members(BOARD) == [other_alice, ALICE, BOB, CAROL]


async def test_unknown_channel_has_no_members(presence: Presence) -> None:
    assert await presence.members("board:nobody-here") == []


async def test_leaving_an_unknown_connection_is_ignored(presence: Presence) -> None:
    await presence.join(BOARD, "conn-1", ALICE)
    await presence.leave(BOARD, "conn-404")
    await presence.leave("board:elsewhere", "conn-1")
    assert await presence.members(BOARD) == [ALICE]


async def test_stop_removes_own_entries(presence: Presence) -> None:
    await presence.start()
    await presence.start()  # idempotent
    await presence.join(BOARD, "conn-1", ALICE)
    await presence.stop()
    assert await presence.members(BOARD) == []


# --- Redis: several processes ---------------------------------------------------------------


@pytest.mark.needs_redis
async def test_processes_see_each_others_members(namespace: Namespace) -> None:
    one, two = namespace.presence("process-1"), namespace.presence("process-2")
    await one.join(BOARD, "conn-1", ALICE)
    await two.join(BOARD, "conn-1", BOB)  # same connection id, other process: no clash
    await two.join(BOARD, "conn-2", ALICE)  # Alice on both processes appears once
    assert await one.members(BOARD) == [ALICE, BOB]
    assert await two.members(BOARD) == [ALICE, BOB]

    await one.leave(BOARD, "conn-1")
    assert await one.members(BOARD) == [ALICE, BOB]  # Alice is still on process 2
    await two.leave(BOARD, "conn-2")
    assert await one.members(BOARD) == [BOB]


@pytest.mark.needs_redis
async def test_a_process_whose_liveness_key_vanished_drops_out(namespace: Namespace) -> None:
    survivor, crashed = namespace.presence("survivor"), namespace.presence("crashed")
    await survivor.join(BOARD, "conn-1", ALICE)
    await crashed.join(BOARD, "conn-1", BOB)
    assert await survivor.members(BOARD) == [ALICE, BOB]

    # What the TTL does to a process that stopped beating.
    await namespace.client.delete(crashed.process_key("crashed"))
    assert await survivor.members(BOARD) == [ALICE]
    fields = await namespace.client.hkeys(survivor.channel_key(BOARD))
    assert fields == [b"survivor:conn-1"]  # the dead process's field was cleaned up

    # A process that was only late (not dead) comes back with its next beat.
    assert await crashed.beat()
    assert await survivor.members(BOARD) == [ALICE, BOB]


@pytest.mark.needs_redis
async def test_liveness_key_and_channel_hash_expire(namespace: Namespace) -> None:
    presence = namespace.presence("process-1", process_ttl_seconds=15.0)
    await presence.join(BOARD, "conn-1", ALICE)
    for key in (presence.process_key("process-1"), presence.channel_key(BOARD)):
        assert 0 < await namespace.client.pttl(key) <= 15_000


@pytest.mark.needs_redis
async def test_beat_restores_a_redis_that_lost_everything(namespace: Namespace) -> None:
    one, two = namespace.presence("process-1"), namespace.presence("process-2")
    await one.join(BOARD, "conn-1", ALICE)
    await namespace.client.delete(*await namespace.keys())  # e.g. Redis restarted empty
    assert await two.members(BOARD) == []
    assert await one.beat()
    assert await two.members(BOARD) == [ALICE]


@pytest.mark.needs_redis
async def test_stop_removes_entries_for_other_processes(namespace: Namespace) -> None:
    one, two = namespace.presence("process-1"), namespace.presence("process-2")
    await one.start()
    await one.join(BOARD, "conn-1", ALICE)
    await two.join(BOARD, "conn-1", BOB)
    await one.stop()
    assert await two.members(BOARD) == [BOB]
    assert one.process_key("process-1") not in await namespace.keys()


@pytest.mark.needs_redis
async def test_an_outage_heals_on_the_next_beat(
    namespace: Namespace, caplog: pytest.LogCaptureFixture
) -> None:
    relay = RedisRelay(namespace.url)
    await relay.open()
    try:
        cut_off = namespace.presence("cut-off", relay.url, retry_seconds=3600.0)
        other = namespace.presence("other")
        await cut_off.join(BOARD, "conn-1", ALICE)
        await cut_off.join(BOARD, "conn-2", BOB)

        await relay.cut()
        await cut_off.leave(BOARD, "conn-2")  # never reaches Redis
        await cut_off.join(BOARD, "conn-3", CAROL)  # nor does this
        assert await cut_off.members(BOARD) == [ALICE, CAROL]  # its own view
        assert await other.members(BOARD) == [ALICE, BOB]  # stale until the next beat
        assert not await cut_off.beat()
        assert warnings_logged(caplog) == 1  # once per outage, not per call

        await relay.open()
        await other.join(BOARD, "conn-9", BOB)
        # Within the retry interval, calls leave Redis alone: still only its own view.
        assert await cut_off.members(BOARD) == [ALICE, CAROL]
        assert await cut_off.beat()  # the heartbeat probes regardless, and rewrites its state
        assert await other.members(BOARD) == [ALICE, BOB, CAROL]
        await other.leave(BOARD, "conn-9")
        assert await other.members(BOARD) == [ALICE, CAROL]
        assert await cut_off.members(BOARD) == [ALICE, CAROL]
    finally:
        await relay.cut()


# --- Redis unreachable, or a broken heartbeat (no server needed) ----------------------------


async def test_unreachable_redis_falls_back_to_the_local_view(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = redis_client(CLOSED_REDIS_URL)
    presence = RedisPresence(client, process_id="lonely", retry_seconds=0.0)
    try:
        await presence.join(BOARD, "conn-1", ALICE)
        await presence.join(BOARD, "conn-2", BOB)
        await presence.leave(BOARD, "conn-2")
        assert await presence.members(BOARD) == [ALICE]
        assert await presence.members("board:other") == []
        assert not await presence.beat()
        await presence.stop()
        assert await presence.members(BOARD) == []
    finally:
        await client.aclose()
    assert warnings_logged(caplog) >= 1


async def test_heartbeat_survives_an_unexpected_error(caplog: pytest.LogCaptureFixture) -> None:
    client = redis_client(CLOSED_REDIS_URL)
    presence = RedisPresence(
        client, process_id="p", heartbeat_seconds=0.001, process_ttl_seconds=1.0
    )
    beats = 0
    third_beat = asyncio.Event()

    async def failing_then_fine() -> bool:
        nonlocal beats
        beats += 1
        if beats == 1:
            raise RuntimeError("a bug in beat()")
        if beats == 3:
            third_beat.set()
        return True

    presence.beat = failing_then_fine  # type: ignore[method-assign]
    try:
        await presence.start()
        await asyncio.wait_for(third_beat.wait(), timeout=5)
    finally:
        await presence.stop()
        await client.aclose()
    assert any(
        record.name == "tandem.presence" and record.levelno == logging.ERROR
        for record in caplog.records
    )


async def test_settings_that_would_corrupt_the_layout_are_refused() -> None:
    client = redis_client(CLOSED_REDIS_URL)
    try:
        with pytest.raises(ValueError, match="process_id"):
            RedisPresence(client, process_id="host:1")
        with pytest.raises(ValueError, match="outlive"):
            RedisPresence(client, process_id="p", heartbeat_seconds=5, process_ttl_seconds=5)
    finally:
        await client.aclose()
