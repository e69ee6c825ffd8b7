"""A connection's bounded queue of frames waiting to be written to its socket.

Bounded so a slow consumer costs a fixed amount of memory: when it is full, the hub stops
queueing for that connection and tells it to ``reset`` instead (contract §7), never
skipping events silently.

Where the server can write to a socket at once (``direct``), a frame that would be the
only one queued for a parked writer is written there and then, instead of waking the
writer to write it: a fan-out to a thousand idle sockets then costs a thousand writes,
not a thousand task switches as well (docs/benchmarks.md, broadcast).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

DEFAULT_LIMIT = 512

Direct = Callable[[str], bool]
"""Writes a frame to the socket now, without waiting; False, and nothing written, when the
socket cannot take it now (its buffer is full, or it is closing)."""


class Outbox:
    __slots__ = ("_frames", "_waiter", "closed", "direct", "limit", "overflowed")

    def __init__(self, limit: int = DEFAULT_LIMIT, direct: Direct | None = None) -> None:
        self._frames: deque[str] = deque()
        # The parked writer's future. A bare future, not an ``asyncio.Event``: one event
        # wakes a thousand writers, and the Event's waiter bookkeeping was a measurable
        # part of the per-frame cost (docs/benchmarks.md, broadcast).
        self._waiter: asyncio.Future[None] | None = None
        self.limit = limit
        self.direct = direct
        self.closed = False
        # Set when an event did not fit. From then on events are refused until the writer
        # has sent what is queued and queued a ``reset`` per channel, whose seq covers
        # everything refused meanwhile.
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def parked(self) -> bool:
        """Whether the writer waits for frames, having written every one before."""
        return self._waiter is not None

    def put(self, frame: str) -> bool:
        """Queue an event ``frame``; False, and nothing queued, when full or closed."""
        if self.closed or self.overflowed:
            return False
        if self._written_now(frame):
            return True
        if len(self._frames) >= self.limit:
            self.overflowed = True
            return False
        self._frames.append(frame)
        self._wake()
        return True

    def force(self, frame: str) -> None:
        """Queue a control frame (such as ``reset``) even past the limit."""
        if not self.closed and not self._written_now(frame):
            self._frames.append(frame)
            self._wake()

    def clear(self) -> None:
        self._frames.clear()

    def close(self) -> None:
        self.closed = True
        self._frames.clear()
        self._wake()

    def _written_now(self, frame: str) -> bool:
        # Only while the writer is parked with nothing queued: everything queued before has
        # then been written, so writing this frame now keeps the order.
        return self.direct is not None and self.parked and not self._frames and self.direct(frame)

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
            try:
                await waiter
            finally:
                # A writer cancelled while parked is parked no more: no direct writes.
                if self._waiter is waiter:
                    self._waiter = None
        frames = list(self._frames)
        self._frames.clear()
        return frames
