"""A connection's bounded queue of frames waiting to be written to its socket.

Bounded so a slow consumer costs a fixed amount of memory: when it is full, the hub stops
queueing for that connection and tells it to ``reset`` instead (contract §7), never
skipping events silently.
"""

from __future__ import annotations

import asyncio
from collections import deque

DEFAULT_LIMIT = 512


class Outbox:
    __slots__ = ("_frames", "_waiter", "closed", "limit", "overflowed")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._frames: deque[str] = deque()
        # The parked writer's future. A bare future, not an ``asyncio.Event``: one event
        # wakes a thousand writers, and the Event's waiter bookkeeping was a measurable
        # part of the per-frame cost (docs/benchmarks.md, broadcast).
        self._waiter: asyncio.Future[None] | None = None
        self.limit = limit
        self.closed = False
        # Set when an event did not fit. From then on events are refused until the writer
        # has sent what is queued and queued a ``reset`` per channel, whose seq covers
        # everything refused meanwhile.
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: str) -> bool:
        """Queue an event ``frame``; False, and nothing queued, when full or closed."""
        if self.closed or self.overflowed:
            return False
        if len(self._frames) >= self.limit:
            self.overflowed = True
            return False
        self._frames.append(frame)
        self._wake()
        return True

    def force(self, frame: str) -> None:
        """Queue a control frame (such as ``reset``) even past the limit."""
        if not self.closed:
            self._frames.append(frame)
            self._wake()

    def clear(self) -> None:
        self._frames.clear()

    def close(self) -> None:
        self.closed = True
        self._frames.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def take(self) -> list[str]:
        """Wait for frames and return all queued ones; [] once closed."""
        while not self._frames:
            if self.closed:
                return []
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        frames = list(self._frames)
        self._frames.clear()
        return frames
