"""The encoded-board cache (contract §5, issue: cached, shared by processes with Redis).

Entries are keyed by the board's stamp (its event ``seq`` and roster counts) as well as
its classroom, filters and encoding, so any change makes a new key: the old entry is never
served again and simply expires. No invalidation messages, no race between a write and a
purge. For the same reason each process may keep a copy of what it got from Redis: a key
names one body for good. A 3,000-card board is about 150 KB gzipped; fetching it from
Redis on every read was most of a cached read's cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from cachetools import LRUCache

from realtime.redis_client import Outage, redis_down

if TYPE_CHECKING:
    from redis.asyncio import Redis

TTL_SECONDS = 60
MEMORY_BYTES = 64 * 1024 * 1024


class BoardCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, body: bytes) -> None: ...


class MemoryBoardCache:
    """One process: the most recently used encoded boards, up to ``size`` bytes in all."""

    def __init__(self, size: int = MEMORY_BYTES) -> None:
        self._entries: LRUCache[str, bytes] = LRUCache(maxsize=size, getsizeof=len)

    async def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    async def put(self, key: str, body: bytes) -> None:
        if len(body) > self._entries.maxsize:
            self._entries.pop(key, None)  # it would push out everything else
            return
        self._entries[key] = body


class RedisBoardCache:
    """Shared by every process. Outage policy: while Redis is down (``redis_down()``), only
    this process's copy serves, and a miss costs a rebuild from the database, never an error."""

    def __init__(self, redis: Redis, *, prefix: str = "tandem:board:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._local = MemoryBoardCache()
        self._outage = Outage("the board cache", "building boards in each process")

    async def get(self, key: str) -> bytes | None:
        body = await self._local.get(key)
        if body is not None or not self._outage.worth_trying():
            return body
        try:
            found = await self._redis.get(self._prefix + key)
        except redis_down() as exc:
            self._outage.failed(exc)
            return None
        self._outage.succeeded()
        if not isinstance(found, bytes):
            return None
        await self._local.put(key, found)
        return found

    async def put(self, key: str, body: bytes) -> None:
        await self._local.put(key, body)
        if not self._outage.worth_trying():
            return
        try:
            await self._redis.set(self._prefix + key, body, ex=TTL_SECONDS)
        except redis_down() as exc:
            self._outage.failed(exc)
        else:
            self._outage.succeeded()
