"""Board stamps (server/board/stamps.py): the lease rules that keep a stamp from ever being
older than an invalidation, on the in-process store and, when configured, on Redis.

A stamp is what a board's ETag is made of; a stale one would answer 304 for a board that
changed. These tests drive the rules directly: a reader's fill after an invalidation it
raced with must store nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from server.board.stamps import (
    LEASE_MS,
    TTL_SECONDS,
    BoardStamps,
    MemoryBoardStamps,
    RedisBoardStamps,
)
from storage.repositories.classrooms import BoardStamp
from tests.backends import TEST_REDIS_URL
from tests.servers import free_port

BACKENDS = ["memory", *(["redis"] if TEST_REDIS_URL else [])]
OLD = BoardStamp(seq=4, students=30, lessons=100)
NEW = BoardStamp(seq=5, students=30, lessons=100)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def redis_client(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


@pytest.fixture(params=BACKENDS)
async def stamps(request: pytest.FixtureRequest) -> AsyncIterator[BoardStamps]:
    if request.param == "memory":
        yield MemoryBoardStamps()
        return
    assert TEST_REDIS_URL is not None
    client = redis_client(TEST_REDIS_URL)
    try:
        yield RedisBoardStamps(client, prefix=f"test:stamp:{uuid.uuid4().hex}:")
    finally:
        await client.aclose()


async def test_the_first_reader_gets_the_lease_and_its_fill_serves_everyone(
    stamps: BoardStamps,
) -> None:
    room = uuid.uuid4()
    stamp, lease = await stamps.get(room)
    assert stamp is None
    assert lease is not None
    assert await stamps.get(room) == (None, None)  # someone is filling: read the database
    await stamps.fill(room, lease, NEW)
    assert await stamps.get(room) == (NEW, None)
    assert await stamps.get(uuid.uuid4()) != (NEW, None)  # per classroom


async def test_a_fill_that_raced_an_invalidation_stores_nothing(stamps: BoardStamps) -> None:
    room = uuid.uuid4()
    _, lease = await stamps.get(room)
    assert lease is not None
    # The reader read OLD from the database; then a write committed and invalidated.
    await stamps.invalidate([room])
    await stamps.fill(room, lease, OLD)
    stamp, fresh = await stamps.get(room)
    assert stamp is None
    assert fresh is not None
    assert fresh != lease


async def test_a_late_fill_never_overwrites_a_newer_reader(stamps: BoardStamps) -> None:
    room = uuid.uuid4()
    _, early = await stamps.get(room)
    await stamps.invalidate([room])
    _, late = await stamps.get(room)
    assert early is not None
    assert late is not None
    await stamps.fill(room, late, NEW)
    await stamps.fill(room, early, OLD)
    assert await stamps.get(room) == (NEW, None)


async def test_an_invalidation_forgets_the_stamp(stamps: BoardStamps) -> None:
    rooms = [uuid.uuid4(), uuid.uuid4(), uuid.uuid4()]
    for room in rooms:
        _, lease = await stamps.get(room)
        assert lease is not None
        await stamps.fill(room, lease, NEW)
    await stamps.invalidate(rooms[:2])
    await stamps.invalidate([])
    for room in rooms[:2]:
        stamp, lease = await stamps.get(room)
        assert stamp is None
        assert lease is not None
    assert await stamps.get(rooms[2]) == (NEW, None)


async def test_memory_stamps_and_leases_expire() -> None:
    clock = FakeClock()
    stamps = MemoryBoardStamps(clock=clock)
    room = uuid.uuid4()
    _, lease = await stamps.get(room)
    assert lease is not None
    clock.now += LEASE_MS / 1000  # the reader died holding it: another may try
    _, other = await stamps.get(room)
    assert other is not None
    assert other != lease
    await stamps.fill(room, lease, OLD)  # the dead reader's lease is no longer its
    await stamps.fill(room, other, NEW)
    assert await stamps.get(room) == (NEW, None)
    clock.now += TTL_SECONDS - 0.001
    assert await stamps.get(room) == (NEW, None)
    clock.now += 0.001
    stamp, lease = await stamps.get(room)
    assert stamp is None
    assert lease is not None


async def test_memory_stamps_are_bounded() -> None:
    stamps = MemoryBoardStamps(entries=2)
    rooms = [uuid.uuid4() for _ in range(3)]
    for room in rooms:
        _, lease = await stamps.get(room)
        assert lease is not None
        await stamps.fill(room, lease, NEW)
    assert (await stamps.get(rooms[0]))[0] is None  # the oldest went
    assert await stamps.get(rooms[2]) == (NEW, None)


@pytest.mark.needs_redis
async def test_redis_stamps_and_leases_carry_a_ttl() -> None:
    assert TEST_REDIS_URL is not None
    client = redis_client(TEST_REDIS_URL)
    prefix = f"test:stamp:{uuid.uuid4().hex}:"
    try:
        stamps = RedisBoardStamps(client, prefix=prefix)
        room = uuid.uuid4()
        _, lease = await stamps.get(room)
        assert lease is not None
        assert 0 < await client.pttl(f"{prefix}{room}") <= LEASE_MS
        await stamps.fill(room, lease, NEW)
        assert 0 < await client.ttl(f"{prefix}{room}") <= TTL_SECONDS
        # Another process's instance on the same Redis sees the same stamp.
        assert await RedisBoardStamps(client, prefix=prefix).get(room) == (NEW, None)
    finally:
        await client.aclose()


async def test_unreachable_redis_means_no_stamp_and_no_error() -> None:
    client = redis_client(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        stamps = RedisBoardStamps(client)
        room = uuid.uuid4()
        assert await stamps.get(room) == (None, None)
        await stamps.fill(room, "l:whatever", NEW)
        await stamps.invalidate([room])
    finally:
        await client.aclose()


class SpyGet:
    """Stands in for ``Redis.get``: counts the calls and, once the real GET has answered,
    holds the answer back until ``release`` is set."""

    def __init__(self, get: Callable[[str], Awaitable[Any]]) -> None:
        self._get = get
        self.calls = 0
        self.answered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, key: str) -> Any:
        self.calls += 1
        value = await self._get(key)
        self.answered.set()
        await self.release.wait()
        return value


@contextlib.asynccontextmanager
async def spied(
    monkeypatch: pytest.MonkeyPatch, stamp: BoardStamp
) -> AsyncIterator[tuple[RedisBoardStamps, uuid.UUID, SpyGet]]:
    """A classroom whose stamp in Redis is ``stamp``, and a spy on the client's GETs."""
    assert TEST_REDIS_URL is not None
    client = redis_client(TEST_REDIS_URL)
    try:
        stamps = RedisBoardStamps(client, prefix=f"test:stamp:{uuid.uuid4().hex}:")
        room = uuid.uuid4()
        _, lease = await stamps.get(room)
        assert lease is not None
        await stamps.fill(room, lease, stamp)
        spy = SpyGet(client.get)
        monkeypatch.setattr(client, "get", spy)
        yield stamps, room, spy
    finally:
        await client.aclose()


@pytest.mark.needs_redis
async def test_reads_that_arrive_together_share_one_redis_get(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with spied(monkeypatch, NEW) as (stamps, room, spy):
        answers = await asyncio.gather(*(stamps.get(room) for _ in range(10)))
        assert answers == [(NEW, None)] * 10
        assert spy.calls == 1


@pytest.mark.needs_redis
async def test_a_read_never_joins_a_get_already_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET that answered before an invalidation must not answer a read that came after
    it: that read could be a client's revalidation right after its own write."""
    async with spied(monkeypatch, OLD) as (stamps, room, spy):
        spy.release.clear()
        early = asyncio.create_task(stamps.get(room))
        await asyncio.wait_for(spy.answered.wait(), 5)  # it holds OLD
        await stamps.invalidate([room])  # a write committed
        late = asyncio.create_task(stamps.get(room))
        spy.release.set()
        assert await asyncio.wait_for(early, 5) == (OLD, None)  # it came before the write
        stamp, fresh = await asyncio.wait_for(late, 5)
        assert stamp is None
        assert fresh is not None
        assert spy.calls == 2
