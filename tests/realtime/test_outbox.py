"""The outbox on its own: bounded, in order, and written at once where the socket allows.

No sockets: the direct write is a function that records frames, or refuses them as a
socket that pushes back would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from realtime.outbox import Outbox

WAIT_SECONDS = 5


class Socket:
    """The direct write's far end: what it took, and a switch to make it push back."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.accepting = True

    def write_now(self, frame: str) -> bool:
        if self.accepting:
            self.written.append(frame)
        return self.accepting


@dataclass
class Writer:
    """A connection's writer: a task taking from the outbox, and what it took, in batches."""

    task: asyncio.Task[None]
    took: asyncio.Queue[list[str]]

    async def next(self) -> list[str]:
        async with asyncio.timeout(WAIT_SECONDS):
            return await self.took.get()


@asynccontextmanager
async def parked_writer(outbox: Outbox) -> AsyncIterator[Writer]:
    """A writer waiting in ``take``, as a connection's is between events.

    It first takes a greeting queued before it started. Once the test has that, the writer
    has gone back to ``take`` and parked: it does so without yielding to the loop first.
    """
    took: asyncio.Queue[list[str]] = asyncio.Queue()

    async def write() -> None:
        while frames := await outbox.take():
            took.put_nowait(frames)

    outbox.force("auth_ok")
    writer = Writer(asyncio.create_task(write()), took)
    assert await writer.next() == ["auth_ok"]
    assert outbox.parked
    try:
        yield writer
    finally:
        writer.task.cancel()


async def test_a_frame_for_an_idle_writer_is_written_at_once() -> None:
    socket = Socket()
    outbox = Outbox(direct=socket.write_now)
    async with parked_writer(outbox) as writer:
        assert outbox.put("event 1")
        outbox.force("pong")
        assert socket.written == ["event 1", "pong"]
        assert len(outbox) == 0
        assert outbox.parked  # the writer was not woken for them
        assert writer.took.empty()


async def test_a_socket_that_pushes_back_gets_its_frames_queued_in_order() -> None:
    socket = Socket()
    outbox = Outbox(direct=socket.write_now)
    async with parked_writer(outbox) as writer:
        socket.accepting = False
        assert outbox.put("event 1")
        socket.accepting = True
        # The socket would take this one, but event 1 is still queued: it waits its turn.
        assert outbox.put("event 2")
        assert socket.written == []
        assert await writer.next() == ["event 1", "event 2"]


async def test_frames_queue_while_the_writer_is_busy() -> None:
    socket = Socket()
    outbox = Outbox(direct=socket.write_now)
    # No writer waits: one may be writing earlier frames, so writing now could overtake them.
    assert outbox.put("event 1")
    assert socket.written == []
    async with asyncio.timeout(WAIT_SECONDS):
        assert await outbox.take() == ["event 1"]


async def test_a_cancelled_writer_leaves_no_direct_path_behind() -> None:
    socket = Socket()
    outbox = Outbox(direct=socket.write_now)
    async with parked_writer(outbox) as writer:
        writer.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(WAIT_SECONDS):
                await writer.task
    assert not outbox.parked
    assert outbox.put("event 1")
    assert socket.written == []
    assert len(outbox) == 1


async def test_a_closed_outbox_writes_nothing() -> None:
    socket = Socket()
    outbox = Outbox(direct=socket.write_now)
    async with parked_writer(outbox) as writer:
        outbox.close()
        assert not outbox.put("event 1")
        outbox.force("pong")
        async with asyncio.timeout(WAIT_SECONDS):
            await writer.task  # take() answered [] and the writer ended
        assert writer.took.empty()
    assert socket.written == []


async def test_a_full_outbox_refuses_and_flags_overflow_even_with_a_direct_path() -> None:
    socket = Socket()
    outbox = Outbox(limit=2, direct=socket.write_now)
    socket.accepting = False
    assert outbox.put("event 1")
    assert outbox.put("event 2")
    assert not outbox.put("event 3")
    assert outbox.overflowed
    assert not outbox.put("event 4")  # refused until the writer has caught up
    assert len(outbox) == 2
