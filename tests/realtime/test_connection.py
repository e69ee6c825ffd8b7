"""A connection at run time (contract §7): the session's actions carried out, the outbox
drained, and a slow consumer bounded in memory and told to ``reset`` instead of skipping.

No sockets: ``write`` is given a ``send`` coroutine that records frames, and that can be
held on an :class:`asyncio.Event` to play a client that stopped reading.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from realtime.broker import MemoryBroker
from realtime.connection import Connection
from realtime.hub import Hub
from realtime.presence import MemoryPresence
from realtime.session import Identity, Session
from storage import events
from storage.database import Database
from storage.events import NewEvent, StoredEvent

ADA = uuid.UUID("00000000-0000-4000-8000-00000000ada0")
PROGRESS = f"progress:{ADA}"
CLASSROOM = uuid.UUID("6f1c2a9e-0000-4000-8000-000000000001")
BOARD = f"board:{CLASSROOM}"
LIMIT = 8
WAIT_SECONDS = 5


@dataclass
class Setup:
    db: Database
    hub: Hub
    presence: MemoryPresence
    boards: set[uuid.UUID] = field(default_factory=lambda: {CLASSROOM})

    def connection(self, *, outbox_limit: int | None = None) -> Connection:
        def verify(token: str) -> Identity:
            return Identity(user_id=ADA, name="Ada", role="teacher", expires_at=float("inf"))

        async def authorize_board(classroom_id: uuid.UUID, user_id: uuid.UUID) -> bool:
            return classroom_id in self.boards and user_id == ADA

        session = Session(verify, opened_at=0.0)
        return Connection(session, self.hub, authorize_board, outbox_limit=outbox_limit)


@pytest.fixture
async def setup(database_url: str) -> AsyncIterator[Setup]:
    db = Database(database_url)
    broker = MemoryBroker()
    presence = MemoryPresence()
    hub = Hub(db, broker, presence)
    await broker.start(hub.handlers)
    yield Setup(db, hub, presence)
    await broker.stop()
    await db.dispose()


class Client:
    """The far end of ``Connection.write``: frames it was sent, and a switch to stall it."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[str] = asyncio.Queue()
        self.reading = asyncio.Event()
        self.reading.set()
        self.stalled = asyncio.Event()  # set while a send waits for ``reading``

    async def send(self, frame: str) -> None:
        if not self.reading.is_set():
            self.stalled.set()
            await self.reading.wait()
        self.frames.put_nowait(frame)

    async def receive(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(WAIT_SECONDS):
            return [json.loads(await self.frames.get()) for _ in range(count)]

    async def receive_until_seq(self, channel: str, seq: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with asyncio.timeout(WAIT_SECONDS):
            while not got or (got[-1].get("channel"), got[-1].get("seq")) != (channel, seq):
                got.append(json.loads(await self.frames.get()))
        return got


@asynccontextmanager
async def writing(connection: Connection, client: Client) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``connection.write`` to ``client``, authenticated; close and join it at the end."""
    writer = asyncio.create_task(connection.write(client.send))
    try:
        assert await connection.apply(connection.session.authenticate("token")) is None
        assert brief(await client.receive(1)) == [("auth_ok", None)]
        yield writer
    finally:
        client.reading.set()
        await connection.close()
        async with asyncio.timeout(WAIT_SECONDS):
            await writer


async def send_frame(connection: Connection, text: str) -> None:
    close = await connection.apply(connection.session.receive(text, 0.0))
    assert close is None


async def publish(setup: Setup, channel: str, count: int) -> list[StoredEvent]:
    """``count`` events, one transaction and one publish each, as services do."""
    published: list[StoredEvent] = []
    for n in range(count):
        async with setup.db.transaction() as session:
            stored = await events.append(session, [NewEvent(channel, "progress.updated", n)])
        await setup.hub.publish(stored)
        published += stored
    return published


def brief(frames: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(frame["type"], frame.get("seq")) for frame in frames]


def event_seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [frame["seq"] for frame in frames if frame["type"] == "event"]


# -- a slow consumer ------------------------------------------------------------------------


async def test_a_slow_consumer_is_bounded_then_reset_and_flows_again(setup: Setup) -> None:
    connection = setup.connection(outbox_limit=LIMIT)
    client = Client()
    async with writing(connection, client):
        await send_frame(connection, '{"type":"subscribe","channel":"progress","ref":1}')
        assert brief(await client.receive(1)) == [("subscribed", 0)]

        client.reading.clear()
        await publish(setup, PROGRESS, 1)  # the writer takes event 1 and stalls sending it
        async with asyncio.timeout(WAIT_SECONDS):
            await client.stalled.wait()
        longest = 0
        for _ in range(99):
            await publish(setup, PROGRESS, 1)
            longest = max(longest, len(connection.outbox))
            assert len(connection.outbox) <= LIMIT  # no control frames are due here
        assert longest == LIMIT
        assert connection.outbox.overflowed

        client.reading.set()
        caught_up = await client.receive_until_seq("progress", 100)
        # What was queued, in order, then a reset covering every event refused meanwhile.
        assert brief(caught_up) == [("event", n) for n in range(1, LIMIT + 2)] + [("reset", 100)]
        assert caught_up[-1] == {"type": "reset", "channel": "progress", "seq": 100}
        assert not connection.outbox.overflowed

        await publish(setup, PROGRESS, 5)
        later = await client.receive(5)
        assert event_seqs(later) == [101, 102, 103, 104, 105]

    seqs = event_seqs(caught_up + later)
    assert seqs == sorted(set(seqs))  # in order, none twice


async def test_an_overflow_resets_every_subscribed_channel(setup: Setup) -> None:
    await publish(setup, BOARD, 2)
    connection = setup.connection(outbox_limit=LIMIT)
    client = Client()
    async with writing(connection, client):
        await send_frame(connection, '{"type":"subscribe","channel":"progress"}')
        await send_frame(connection, f'{{"type":"subscribe","channel":"{BOARD}"}}')
        assert brief(await client.receive(3)) == [
            ("subscribed", 0),
            ("subscribed", 2),
            ("presence", None),
        ]

        client.reading.clear()
        await publish(setup, PROGRESS, 1)
        async with asyncio.timeout(WAIT_SECONDS):
            await client.stalled.wait()
        await publish(setup, PROGRESS, 20)
        client.reading.set()

        frames = await client.receive(LIMIT + 1 + 2)
        assert brief(frames[: LIMIT + 1]) == [("event", n) for n in range(1, LIMIT + 2)]
        resets = sorted((frame["channel"], frame["seq"]) for frame in frames[LIMIT + 1 :])
        assert [frame["type"] for frame in frames[LIMIT + 1 :]] == ["reset", "reset"]
        assert resets == [(BOARD, 2), ("progress", 21)]

        await publish(setup, BOARD, 1)
        assert brief(await client.receive(1)) == [("event", 3)]


# -- subscribing and leaving ----------------------------------------------------------------


async def test_subscribing_again_answers_subscribed_and_changes_nothing(setup: Setup) -> None:
    await publish(setup, PROGRESS, 2)
    connection = setup.connection()
    client = Client()
    async with writing(connection, client):
        await send_frame(connection, '{"type":"subscribe","channel":"progress","since":0}')
        assert brief(await client.receive(3)) == [("subscribed", 2), ("event", 1), ("event", 2)]

        await send_frame(
            connection, '{"type":"subscribe","channel":"progress","since":0,"ref":"again"}'
        )
        await publish(setup, PROGRESS, 1)

        again, event = await client.receive(2)
        assert again == {"type": "subscribed", "channel": "progress", "seq": 2, "ref": "again"}
        assert brief([event]) == [("event", 3)]  # once: still one subscription
        assert len(connection.outbox) == 0


async def test_subscribing_again_on_a_lagging_process_names_what_the_client_has(
    setup: Setup,
) -> None:
    """The client saw 2 on another process; this one has not heard of 1 and 2 yet (their
    notices are in flight). Its answers never name a seq below what the client has, and
    the late notices send nothing again."""
    watcher = setup.connection()
    async with writing(watcher, Client()):
        await send_frame(watcher, '{"type":"subscribe","channel":"progress"}')
        async with setup.db.transaction() as session:
            stored = await events.append(
                session, [NewEvent(PROGRESS, "progress.updated", n) for n in range(2)]
            )
        connection = setup.connection()
        client = Client()
        async with writing(connection, client):
            subscribe = '{"type":"subscribe","channel":"progress","since":2,"ref":"%s"}'
            await send_frame(connection, subscribe % "first")
            await send_frame(connection, subscribe % "again")
            await setup.hub.publish(stored)  # the notices arrive
            await publish(setup, PROGRESS, 1)

            frames = await client.receive_until_seq("progress", 3)
            assert [(f["type"], f["seq"], f.get("ref")) for f in frames] == [
                ("subscribed", 2, "first"),
                ("subscribed", 2, "again"),
                ("event", 3, None),
            ]


async def test_a_board_the_teacher_does_not_teach_is_not_found(setup: Setup) -> None:
    setup.boards.clear()
    connection = setup.connection()
    client = Client()
    async with writing(connection, client):
        subscribe = f'{{"type":"subscribe","channel":"{BOARD}","ref":5}}'
        await send_frame(connection, subscribe)
        assert (await client.receive(1))[0] == {
            "type": "error",
            "code": "NOT_FOUND",
            "message": "no such board",
            "ref": 5,
        }
        assert connection.subscriptions == {}
        assert setup.hub.local_channels() == []

        setup.boards.add(CLASSROOM)  # made a teacher of it: a fresh subscribe, not "again"
        await send_frame(connection, subscribe)
        assert brief(await client.receive(2)) == [("subscribed", 0), ("presence", None)]
        assert setup.hub.local_channels() == [BOARD]


async def test_unsubscribe_and_close_leave_the_hub(setup: Setup) -> None:
    connection = setup.connection()
    client = Client()
    async with writing(connection, client) as writer:
        await send_frame(connection, '{"type":"subscribe","channel":"progress"}')
        await send_frame(connection, f'{{"type":"subscribe","channel":"{BOARD}"}}')
        assert brief(await client.receive(3)) == [
            ("subscribed", 0),
            ("subscribed", 0),
            ("presence", None),
        ]

        await send_frame(connection, '{"type":"unsubscribe","channel":"progress"}')
        assert setup.hub.local_channels() == [BOARD]
        await publish(setup, PROGRESS, 1)
        await publish(setup, BOARD, 1)
        frames = await client.receive_until_seq(BOARD, 1)
        assert [(frame["channel"], frame["type"]) for frame in frames] == [(BOARD, "event")]

        await connection.close()
        async with asyncio.timeout(WAIT_SECONDS):
            await writer  # the writer ends once the outbox is closed
        assert setup.hub.local_channels() == []
        assert await setup.presence.members(BOARD) == []
