"""The encoded-board cache (server/board/cache.py): bounded in memory, and with Redis a
copy kept in each process, which is safe because a key names one body for good."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from server.board.cache import MemoryBoardCache, RedisBoardCache
from tests.backends import TEST_REDIS_URL


async def test_the_memory_cache_is_bounded_in_bytes() -> None:
    cache = MemoryBoardCache(size=250)
    await cache.put("a", b"a" * 100)
    await cache.put("b", b"b" * 100)
    assert await cache.get("a") == b"a" * 100  # now the most recently used
    await cache.put("c", b"c" * 100)  # 300 bytes: the least recently used goes
    assert await cache.get("b") is None
    assert (await cache.get("a"), await cache.get("c")) == (b"a" * 100, b"c" * 100)
    await cache.put("c", b"c" * 10)  # replacing an entry counts its new size only
    await cache.put("d", b"d" * 10)
    assert [await cache.get(key) for key in "acd"] == [b"a" * 100, b"c" * 10, b"d" * 10]
    await cache.put("huge", b"h" * 1000)  # larger than the whole cache: not kept at all
    assert await cache.get("huge") is None
    assert [await cache.get(key) for key in "acd"] == [b"a" * 100, b"c" * 10, b"d" * 10]


@pytest.mark.needs_redis
async def test_a_body_fetched_from_redis_is_then_served_from_the_process() -> None:
    assert TEST_REDIS_URL is not None
    client = Redis.from_url(TEST_REDIS_URL)
    prefix = f"test:board:{uuid.uuid4().hex}:"
    try:
        writer = RedisBoardCache(client, prefix=prefix)
        reader = RedisBoardCache(client, prefix=prefix)  # another process
        await writer.put("room.7.abc", b"the board")
        assert await reader.get("room.7.abc") == b"the board"
        await client.delete(f"{prefix}room.7.abc")
        assert await reader.get("room.7.abc") == b"the board"
        assert await writer.get("room.7.abc") == b"the board"
        assert await RedisBoardCache(client, prefix=prefix).get("room.7.abc") is None
    finally:
        await client.aclose()
