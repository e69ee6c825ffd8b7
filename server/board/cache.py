"""The encoded-board cache (contract §5, issue: cached, shared by processes with Redis).

Entries are keyed by the board's event ``seq`` as well as its classroom and filters, so
any change (which always appends an event) makes a new key: the old entry is never served
again and simply expires. No invalidation messages, no race between a write and a purge.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("tandem.board.cache")

TTL_SECONDS = 60
MEMORY_ENTRIES = 256


class BoardCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, body: bytes) -> None: ...


class MemoryBoardCache:
    """One process: a small LRU of encoded boards."""

    def __init__(self, entries: int = MEMORY_ENTRIES) -> None:
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._limit = entries

    async def get(self, key: str) -> bytes | None:
        body = self._entries.get(key)
        if body is not None:
            self._entries.move_to_end(key)
        return body

    async def put(self, key: str, body: bytes) -> None:
        self._entries[key] = body
        self._entries.move_to_end(key)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)


class RedisBoardCache:
    """Shared by every process; a Redis failure only costs a rebuild, never an error."""

    def __init__(self, redis: Redis, *, prefix: str = "tandem:board:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        try:
            body = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("board cache read failed: %s", exc)
            return None
        return body if isinstance(body, bytes) else None

    async def put(self, key: str, body: bytes) -> None:
        try:
            await self._redis.set(self._prefix + key, body, ex=TTL_SECONDS)
        except (RedisError, OSError) as exc:
            log.warning("board cache write failed: %s", exc)
