"""The hub (contract §7): fan-out serialized once, gapless and once-only delivery, replay.

No sockets: subscribers are bare :class:`Outbox` objects and the in-process broker hands
notices straight to the hub. Lost, duplicated or reordered notices are staged by calling
``hub.on_event`` directly; a :class:`GatedDatabase` pauses one store read so a race window
(a replay, a channel's head being read) is held open while the test publishes into it.
Waits are on frames, with a timeout, never on a timer.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from realtime import protocol
from realtime.broker import MemoryBroker
from realtime.hub import Hub, Subscription
from realtime.outbox import Outbox
from realtime.presence import MemoryPresence, PresenceUser
from storage import events
from storage.base import isoformat
from storage.database import Database
from storage.events import NewEvent, StoredEvent

ADA = uuid.UUID("00000000-0000-4000-8000-00000000ada0")
PROGRESS = f"progress:{ADA}"  # the store's name; the client calls it "progress"
BOARD = "board:6f1c2a9e-0000-4000-8000-000000000001"
ALICE = PresenceUser(id="00000000-0000-4000-8000-00000000000a", name="Alice")
BOB = PresenceUser(id="00000000-0000-4000-8000-00000000000b", name="Bob")
WAIT_SECONDS = 5


class GatedDatabase(Database):
    """A database whose next ``reader()`` can be made to pause once its reads are done."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._gate: asyncio.Event | None = None
        self.paused = asyncio.Event()
        self.failures = 0  # how many next readers fail as a terminated connection would
        self.failed = asyncio.Event()  # set when one of them has failed

    def close_gate(self) -> asyncio.Event:
        """Pause the next reader after its reads; set the returned event to let it go on."""
        self._gate, self.paused = asyncio.Event(), asyncio.Event()
        return self._gate

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        if self.failures:
            self.failures -= 1
            self.failed.set()
            raise ConnectionResetError("connection reset by peer")
        async with super().reader() as session:
            yield session
        gate, self._gate = self._gate, None
        if gate is not None:
            self.paused.set()
            await gate.wait()


HubFactory = Callable[..., Awaitable[Hub]]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[GatedDatabase]:
    database = GatedDatabase(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def make_hub(db: GatedDatabase) -> AsyncIterator[HubFactory]:
    brokers: list[MemoryBroker] = []

    async def make(**options: Any) -> Hub:
        broker = MemoryBroker()
        hub = Hub(db, broker, MemoryPresence(), **options)
        await broker.start(hub.handlers)
        brokers.append(broker)
        return hub

    yield make
    for broker in brokers:
        await broker.stop()


@pytest.fixture
async def hub(make_hub: HubFactory) -> Hub:
    return await make_hub()


# -- helpers ------------------------------------------------------------------------------


async def append(
    db: Database, count: int, channel: str = PROGRESS, *, now: datetime | None = None
) -> list[StoredEvent]:
    batch = [NewEvent(channel, "progress.updated", {"n": n}, ADA, "Ada") for n in range(count)]
    async with db.transaction() as session:
        return await events.append(session, batch, now=now)


async def subscribe(
    hub: Hub,
    *,
    channel: str = PROGRESS,
    since: int | None = None,
    ref: protocol.Ref = None,
    member: PresenceUser | None = None,
    connection_id: str | None = None,
    outbox: Outbox | None = None,
    authorize: Callable[[], Awaitable[bool]] | None = None,
) -> tuple[Outbox, Subscription]:
    """Subscribe; ``authorize``, if given, must allow it."""
    outbox = Outbox() if outbox is None else outbox
    subscription = await hub.subscribe(
        outbox,
        client_channel=protocol.client_channel(channel),
        store_channel=channel,
        since=since,
        ref=ref,
        member=member,
        connection_id=connection_id or uuid.uuid4().hex,
        authorize=authorize,
    )
    assert subscription is not None
    return outbox, subscription


async def take(outbox: Outbox, count: int) -> list[str]:
    """Wait for ``count`` frames; fail if more than that were queued."""
    frames: list[str] = []
    async with asyncio.timeout(WAIT_SECONDS):
        while len(frames) < count:
            frames += await outbox.take()
    assert len(frames) == count, [json.loads(frame) for frame in frames]
    return frames


async def take_until_seq(outbox: Outbox, seq: int) -> list[dict[str, Any]]:
    """Frames until the event ``seq`` (a sentinel published last) arrives, parsed."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT_SECONDS):
        while not any(f["type"] == "event" and f["seq"] == seq for f in frames):
            frames += [json.loads(frame) for frame in await outbox.take()]
    assert frames[-1]["type"] == "event", frames
    assert frames[-1]["seq"] == seq, frames
    return frames


def summary(frames: Sequence[str | dict[str, Any]]) -> list[tuple[str, Any]]:
    """Each frame as (type, seq), or (type, user names) for presence: easy to compare."""
    out: list[tuple[str, Any]] = []
    for frame in frames:
        parsed = json.loads(frame) if isinstance(frame, str) else frame
        if parsed["type"] == "presence":
            out.append(("presence", [user["name"] for user in parsed["users"]]))
        else:
            out.append((parsed["type"], parsed.get("seq")))
    return out


def event_seqs(frames: Sequence[str | dict[str, Any]]) -> list[int]:
    return [seq for kind, seq in summary(frames) if kind == "event"]


# -- subscribing --------------------------------------------------------------------------


async def test_subscribed_answers_the_store_head(db: GatedDatabase, hub: Hub) -> None:
    await append(db, 3)  # before this process knew of the channel

    outbox, _ = await subscribe(hub, ref="r1")
    empty, _ = await subscribe(hub, channel=f"progress:{uuid.uuid4()}", ref=7)

    assert [json.loads(frame) for frame in await take(outbox, 1)] == [
        {"type": "subscribed", "channel": "progress", "seq": 3, "ref": "r1"}
    ]
    assert [json.loads(frame) for frame in await take(empty, 1)] == [
        {"type": "subscribed", "channel": "progress", "seq": 0, "ref": 7}
    ]
    assert hub.current(PROGRESS) == 3


async def test_an_event_committed_while_the_head_is_read_is_not_missed(
    db: GatedDatabase, hub: Hub
) -> None:
    gate = db.close_gate()
    joining = asyncio.create_task(subscribe(hub))
    async with asyncio.timeout(WAIT_SECONDS):
        await db.paused.wait()  # the head (0) is read; the channel is not registered yet
    await hub.publish(await append(db, 1))
    gate.set()
    async with asyncio.timeout(WAIT_SECONDS):
        outbox, _ = await joining

    # ``subscribed`` may say 0, then event 1 follows; or 1. Either way nothing is missed.
    frames: list[str] = []
    async with asyncio.timeout(WAIT_SECONDS):
        while not frames or max(seq for _, seq in summary(frames)) < 1:
            frames += await outbox.take()
    (kind, seq), *rest = summary(frames)
    assert kind == "subscribed"
    assert rest == [("event", n) for n in range(seq + 1, 2)]


# -- live events --------------------------------------------------------------------------


async def test_live_events_reach_every_subscriber_in_order_serialized_once(
    db: GatedDatabase, hub: Hub
) -> None:
    first, _ = await subscribe(hub)
    second, _ = await subscribe(hub)
    elsewhere, _ = await subscribe(hub, channel=f"progress:{uuid.uuid4()}")
    for outbox in (first, second, elsewhere):
        await take(outbox, 1)  # subscribed

    stored = await append(db, 3)
    await hub.publish(stored)

    got_first, got_second = await take(first, 3), await take(second, 3)
    assert event_seqs(got_first) == [1, 2, 3]
    # One str per event, the same object in every outbox: serialized once (style habit 4).
    assert all(a is b for a, b in zip(got_first, got_second, strict=True))
    assert json.loads(got_first[0]) == {
        "type": "event",
        "channel": "progress",
        "seq": 1,
        "event": "progress.updated",
        "data": {"n": 0},
        "actor": {"id": str(ADA), "name": "Ada"},
        "at": isoformat(stored[0].at),
    }
    assert len(elsewhere) == 0


async def test_duplicate_notices_are_dropped(db: GatedDatabase, hub: Hub) -> None:
    outbox, _ = await subscribe(hub)
    stored = await append(db, 2)
    await hub.publish(stored)
    hub.on_event(PROGRESS, 1, protocol.event(stored[0]))  # a retried publish, say
    await hub.publish(stored[1:])
    await hub.publish(await append(db, 1))

    assert summary(await take(outbox, 4)) == [
        ("subscribed", 0),
        ("event", 1),
        ("event", 2),
        ("event", 3),
    ]


async def test_a_gap_is_filled_from_the_store_once_and_in_order(
    db: GatedDatabase, hub: Hub
) -> None:
    first, _ = await subscribe(hub)
    second, _ = await subscribe(hub)
    stored = await append(db, 4)

    hub.on_event(PROGRESS, 1, protocol.event(stored[0]))
    hub.on_event(PROGRESS, 4, protocol.event(stored[3]))  # the notices of 2 and 3 were lost

    got_first, got_second = await take(first, 5), await take(second, 5)
    assert summary(got_first) == [("subscribed", 0)] + [("event", n) for n in (1, 2, 3, 4)]
    assert all(a is b for a, b in zip(got_first[1:], got_second[1:], strict=True))

    # The lost notices turn up late: already delivered, so dropped.
    for seq in (2, 3, 4):
        hub.on_event(PROGRESS, seq, protocol.event(stored[seq - 1]))
    await hub.publish(await append(db, 1))
    assert event_seqs(await take_until_seq(first, 5)) == [5]


@pytest.mark.parametrize(
    "order", [[2, 1, 3, 5, 4], [5, 4, 3, 2, 1], [1, 3, 2, 5, 4], [1, 2, 4, 3, 5]]
)
async def test_out_of_order_notices_are_delivered_in_order(
    db: GatedDatabase, hub: Hub, order: list[int]
) -> None:
    outbox, _ = await subscribe(hub)
    await take(outbox, 1)
    stored = await append(db, 5)

    for seq in order:
        hub.on_event(PROGRESS, seq, protocol.event(stored[seq - 1]))

    assert event_seqs(await take_until_seq(outbox, 5)) == [1, 2, 3, 4, 5]
    await hub.publish(await append(db, 1))
    assert event_seqs(await take_until_seq(outbox, 6)) == [6]


async def test_a_gap_whose_events_were_pruned_resets_then_goes_on(
    db: GatedDatabase, hub: Hub
) -> None:
    outbox, _ = await subscribe(hub)
    now = datetime.now(UTC)
    await append(db, 3, now=now - timedelta(days=30))
    stored = await append(db, 2, now=now)
    async with db.transaction() as session:
        await events.prune(session, older_than=now - timedelta(days=7))

    hub.on_event(PROGRESS, 5, protocol.event(stored[1]))

    assert summary(await take_until_seq(outbox, 5)) == [
        ("subscribed", 0),
        ("reset", 3),
        ("event", 4),
        ("event", 5),
    ]


async def test_resync_delivers_events_whose_notices_were_lost(db: GatedDatabase, hub: Hub) -> None:
    outbox, _ = await subscribe(hub)
    await take(outbox, 1)
    await append(db, 3)  # committed, never published
    assert len(outbox) == 0

    await hub.resync()

    assert event_seqs(await take(outbox, 3)) == [1, 2, 3]
    await hub.resync()  # nothing new: nothing sent again
    await hub.publish(await append(db, 1))
    assert event_seqs(await take(outbox, 1)) == [4]


# -- replay ---------------------------------------------------------------------------------


async def test_since_replays_the_missed_events_then_the_live_ones_none_twice(
    db: GatedDatabase, hub: Hub
) -> None:
    watcher, _ = await subscribe(hub)
    before = await append(db, 3)
    await hub.publish(before)

    gate = db.close_gate()
    joining = asyncio.create_task(subscribe(hub, since=1, ref="late"))
    async with asyncio.timeout(WAIT_SECONDS):
        await db.paused.wait()  # the replay (2, 3) is read but not yet queued
    live = await append(db, 2)
    await hub.publish(live)  # 4 and 5 arrive while the replay is under way
    hub.on_event(PROGRESS, 3, protocol.event(before[2]))  # and a stray duplicate
    gate.set()
    async with asyncio.timeout(WAIT_SECONDS):
        outbox, _ = await joining
    await hub.publish(await append(db, 1))

    assert summary(await take_until_seq(outbox, 6)) == [
        ("subscribed", 3),
        ("event", 2),
        ("event", 3),
        ("event", 4),
        ("event", 5),
        ("event", 6),
    ]
    assert event_seqs(await take_until_seq(watcher, 6)) == [1, 2, 3, 4, 5, 6]


async def test_since_at_or_below_the_head(db: GatedDatabase, hub: Hub) -> None:
    await append(db, 3)

    everything, _ = await subscribe(hub, since=0)
    nothing_missed, _ = await subscribe(hub, since=3)

    assert summary(await take(everything, 4)) == [("subscribed", 3)] + [
        ("event", n) for n in (1, 2, 3)
    ]
    assert summary(await take(nothing_missed, 1)) == [("subscribed", 3)]


async def test_since_above_the_head_gets_reset(db: GatedDatabase, hub: Hub) -> None:
    await append(db, 2)

    outbox, _ = await subscribe(hub, since=5)

    assert [json.loads(frame) for frame in await take(outbox, 2)] == [
        {"type": "subscribed", "channel": "progress", "seq": 2, "ref": None},
        {"type": "reset", "channel": "progress", "seq": 2},
    ]


async def test_since_older_than_what_is_kept_gets_reset(db: GatedDatabase, hub: Hub) -> None:
    now = datetime.now(UTC)
    await append(db, 3, now=now - timedelta(days=30))
    await append(db, 2, now=now)
    async with db.transaction() as session:
        assert await events.prune(session, older_than=now - timedelta(days=7)) == 3

    pruned, _ = await subscribe(hub, since=1)
    kept, _ = await subscribe(hub, since=3)

    assert summary(await take(pruned, 2)) == [("subscribed", 5), ("reset", 5)]
    assert summary(await take(kept, 3)) == [("subscribed", 5), ("event", 4), ("event", 5)]


async def test_more_missed_events_than_the_replay_limit_gets_reset(
    db: GatedDatabase, make_hub: HubFactory
) -> None:
    hub = await make_hub(replay_limit=3)
    await append(db, 5)

    too_far, _ = await subscribe(hub, since=1)
    just_enough, _ = await subscribe(hub, since=2)

    assert summary(await take(too_far, 2)) == [("subscribed", 5), ("reset", 5)]
    assert event_seqs(await take(just_enough, 4)) == [3, 4, 5]


# -- a process whose view lags the store --------------------------------------------------
#
# A process learns of new events from notices, and from catch-ups that read the store when
# notices were lost. While a notice is in flight, or a catch-up waits for a database
# connection (a reconnect storm on an overloaded box), its view lags the store: a client
# that saw more on another process and reconnects here with that ``since`` must neither be
# told ``reset`` for events that are kept nor be sent again what it has (contract §7).


async def lagging(db: GatedDatabase, make_hub: HubFactory) -> tuple[Hub, Outbox, Outbox]:
    """Two processes that both delivered events 1-8; 9 and 10 are then committed through
    the first, which delivers them; the second's catch-up for them fails (its database
    connection is gone), so it stays at 8. Returns the second hub, a subscriber of the
    first that saw 1-10, and one of the second that saw 1-8."""
    ahead, behind = await make_hub(), await make_hub()
    client, _ = await subscribe(ahead)
    watcher, _ = await subscribe(behind)
    first = await append(db, 8)
    for hub in (ahead, behind):
        await hub.publish(first)
    later = await append(db, 2)
    await ahead.publish(later)
    db.failures = 1
    behind.on_event(PROGRESS, 10, protocol.event(later[1]))  # 9's notice was lost
    async with asyncio.timeout(WAIT_SECONDS):
        await db.failed.wait()  # "catching up ... failed; the next sweep retries"
    assert event_seqs(await take_until_seq(client, 10)) == list(range(1, 11))
    assert event_seqs(await take_until_seq(watcher, 8)) == list(range(1, 9))
    assert behind.current(PROGRESS) == 8
    return behind, client, watcher


async def test_a_since_the_lagging_process_has_not_delivered_is_neither_reset_nor_resent(
    db: GatedDatabase, make_hub: HubFactory
) -> None:
    hub, _, watcher = await lagging(db, make_hub)

    # The client saw 10 on the first process and reconnects to the second.
    outbox, _ = await subscribe(hub, since=10)
    older, _ = await subscribe(hub, since=7)  # another one, further behind
    await hub.resync()  # the sweep: the catch-up now succeeds and delivers 9 and 10
    await hub.publish(await append(db, 1))

    assert summary(await take_until_seq(outbox, 11)) == [("subscribed", 10), ("event", 11)]
    assert summary(await take_until_seq(older, 11)) == [("subscribed", 8)] + [
        ("event", n) for n in (8, 9, 10, 11)
    ]
    assert event_seqs(await take_until_seq(watcher, 11)) == [9, 10, 11]


async def test_late_notices_on_a_lagging_process_do_not_resend_what_a_subscriber_has(
    db: GatedDatabase, make_hub: HubFactory
) -> None:
    """The same with the notices merely in flight: they arrive after the subscribe."""
    ahead, behind = await make_hub(), await make_hub()
    for hub in (ahead, behind):
        await take((await subscribe(hub))[0], 1)
    stored = await append(db, 3)
    await ahead.publish(stored)

    outbox, _ = await subscribe(behind, since=3)
    await behind.publish(stored)  # the notices reach the second process only now
    await behind.publish(await append(db, 1))

    assert summary(await take_until_seq(outbox, 4)) == [("subscribed", 3), ("event", 4)]


async def test_a_since_above_the_store_head_on_a_lagging_process_resets_to_the_store_head(
    db: GatedDatabase, make_hub: HubFactory
) -> None:
    hub, _, _ = await lagging(db, make_hub)

    outbox, _ = await subscribe(hub, since=12)  # numbers the store never issued
    await hub.resync()
    await hub.publish(await append(db, 1))

    # The client re-reads over REST (seq 10 at least): 9 and 10 are not sent on top.
    assert summary(await take_until_seq(outbox, 11)) == [
        ("subscribed", 10),
        ("reset", 10),
        ("event", 11),
    ]


async def test_a_lagging_process_whose_store_does_not_answer_refuses_the_subscribe(
    db: GatedDatabase, make_hub: HubFactory
) -> None:
    """Not a ``reset`` either: the client asks again with the same ``since``."""
    hub, _, _ = await lagging(db, make_hub)
    outbox = Outbox()

    db.failures = 1
    with pytest.raises(ConnectionResetError):
        await subscribe(hub, since=10, outbox=outbox)
    assert len(outbox) == 0

    await subscribe(hub, since=10, outbox=outbox)
    await hub.publish(await append(db, 1))
    assert summary(await take_until_seq(outbox, 11)) == [("subscribed", 10), ("event", 11)]


async def test_a_pruned_gap_is_not_reset_for_a_subscriber_that_started_past_it(
    db: GatedDatabase, hub: Hub
) -> None:
    watcher, _ = await subscribe(hub)
    await take(watcher, 1)
    now = datetime.now(UTC)
    await append(db, 3, now=now - timedelta(days=30))
    stored = await append(db, 2, now=now)
    async with db.transaction() as session:
        await events.prune(session, older_than=now - timedelta(days=7))

    outbox, _ = await subscribe(hub, since=5)  # this process has delivered nothing yet
    hub.on_event(PROGRESS, 5, protocol.event(stored[1]))
    await hub.publish(await append(db, 1))

    assert summary(await take_until_seq(watcher, 6)) == [("reset", 3)] + [
        ("event", n) for n in (4, 5, 6)
    ]
    assert summary(await take_until_seq(outbox, 6)) == [("subscribed", 5), ("event", 6)]


# -- leaving --------------------------------------------------------------------------------


async def test_unsubscribe_stops_delivery_and_forgets_an_emptied_channel(
    db: GatedDatabase, hub: Hub
) -> None:
    leaving, leaving_subscription = await subscribe(hub)
    staying, staying_subscription = await subscribe(hub)
    await take(leaving, 1)
    await take(staying, 1)

    await hub.unsubscribe(leaving_subscription)
    await hub.unsubscribe(leaving_subscription)  # twice changes nothing
    await hub.publish(await append(db, 1))

    assert event_seqs(await take(staying, 1)) == [1]
    assert len(leaving) == 0
    assert hub.local_channels() == [PROGRESS]

    await hub.unsubscribe(staying_subscription)
    assert hub.local_channels() == []
    assert hub.current(PROGRESS) == 0
    await hub.publish(await append(db, 1))
    await hub.resync()
    assert len(staying) == 0

    # Coming back reads the head afresh.
    again, _ = await subscribe(hub)
    assert summary(await take(again, 1)) == [("subscribed", 2)]


# -- presence -------------------------------------------------------------------------------


async def test_board_subscribers_see_who_joins_and_leaves(db: GatedDatabase, hub: Hub) -> None:
    alice, _ = await subscribe(hub, channel=BOARD, member=ALICE, connection_id="a")
    assert summary(await take(alice, 2)) == [("subscribed", 0), ("presence", ["Alice"])]

    bob, bob_subscription = await subscribe(hub, channel=BOARD, member=BOB, connection_id="b")
    assert summary(await take(bob, 2)) == [("subscribed", 0), ("presence", ["Alice", "Bob"])]
    assert [json.loads(frame) for frame in await take(alice, 1)] == [
        {
            "type": "presence",
            "channel": BOARD,
            "users": [{"id": ALICE.id, "name": "Alice"}, {"id": BOB.id, "name": "Bob"}],
        }
    ]

    # Alice in a second tab: the set of teachers does not change, so nobody is told.
    tab, _ = await subscribe(hub, channel=BOARD, member=ALICE, connection_id="a2")
    assert summary(await take(tab, 2)) == [("subscribed", 0), ("presence", ["Alice", "Bob"])]

    await hub.unsubscribe(bob_subscription)
    for outbox in (alice, tab):
        assert summary(await take(outbox, 1)) == [("presence", ["Alice"])]

    await hub.publish(await append(db, 1, BOARD))
    for outbox in (alice, tab):
        assert summary(await take_until_seq(outbox, 1)) == [("event", 1)]
    assert len(bob) == 0


async def test_presence_changes_wait_behind_a_replay(db: GatedDatabase, hub: Hub) -> None:
    await subscribe(hub, channel=BOARD, member=ALICE, connection_id="a")
    await hub.publish(await append(db, 2, BOARD))

    gate = db.close_gate()
    joining = asyncio.create_task(
        subscribe(hub, channel=BOARD, since=0, member=BOB, connection_id="b")
    )
    async with asyncio.timeout(WAIT_SECONDS):
        await db.paused.wait()
    await hub.publish(await append(db, 1, BOARD))
    carol = PresenceUser(id="00000000-0000-4000-8000-00000000000c", name="Carol")
    await subscribe(hub, channel=BOARD, member=carol, connection_id="c")
    gate.set()
    async with asyncio.timeout(WAIT_SECONDS):
        bob, _ = await joining
    await hub.publish(await append(db, 1, BOARD))

    assert summary(await take_until_seq(bob, 4)) == [
        ("subscribed", 2),
        ("presence", ["Alice", "Bob"]),
        ("event", 1),
        ("event", 2),
        ("event", 3),
        ("presence", ["Alice", "Bob", "Carol"]),
        ("event", 4),
    ]


class GatedPresence(MemoryPresence):
    """Presence whose next ``members`` read can be made to pause once it has read the set."""

    def __init__(self) -> None:
        super().__init__()
        self._gate: asyncio.Event | None = None
        self.paused = asyncio.Event()

    def close_gate(self) -> asyncio.Event:
        self._gate, self.paused = asyncio.Event(), asyncio.Event()
        return self._gate

    async def members(self, channel: str) -> list[PresenceUser]:
        users = await super().members(channel)
        gate, self._gate = self._gate, None
        if gate is not None:
            self.paused.set()
            await gate.wait()
        return users


async def test_a_presence_read_that_answers_late_does_not_undo_a_later_one(
    db: GatedDatabase,
) -> None:
    """Two presence reads of a board answer out of order (a notice's read is slow, a join's
    read meanwhile shows Bob): the slow read's older set is not shown after the newer one."""
    broker, presence = MemoryBroker(), GatedPresence()
    hub = Hub(db, broker, presence)
    await broker.start(hub.handlers)
    try:
        alice, _ = await subscribe(hub, channel=BOARD, member=ALICE, connection_id="a")
        assert summary(await take(alice, 2)) == [("subscribed", 0), ("presence", ["Alice"])]
        gate = presence.close_gate()
        slow = asyncio.create_task(hub.on_presence(BOARD))  # reads [Alice], then waits
        async with asyncio.timeout(WAIT_SECONDS):
            await presence.paused.wait()
        bob, _ = await subscribe(hub, channel=BOARD, member=BOB, connection_id="b")
        assert summary(await take(alice, 1)) == [("presence", ["Alice", "Bob"])]
        gate.set()
        async with asyncio.timeout(WAIT_SECONDS):
            await slow
        await hub.publish(await append(db, 1, BOARD))
        for outbox in (alice, bob):
            frames = summary(await take_until_seq(outbox, 1))
            assert ("presence", ["Alice"]) not in frames, frames
            assert frames[-1] == ("event", 1)
    finally:
        await broker.stop()


async def test_a_presence_read_from_before_the_join_is_not_shown_after_it(
    db: GatedDatabase, hub: Hub
) -> None:
    """A presence read of a board (the heartbeat's refresh, another process's notice) starts
    while a teacher's subscribe is still being authorized, before she joined: its set,
    without her, was held behind her ``subscribed``. She sees herself, and nothing older
    replaces it (CI: the board showed nobody present, not even "you")."""
    checking = asyncio.Event()
    allow = asyncio.Event()

    async def authorize() -> bool:
        checking.set()
        await allow.wait()
        return True

    joining = asyncio.create_task(
        subscribe(hub, channel=BOARD, member=ALICE, connection_id="a", authorize=authorize)
    )
    async with asyncio.timeout(WAIT_SECONDS):
        await checking.wait()
    await hub.on_presence(BOARD)  # finds nobody: Alice has not joined yet
    allow.set()
    async with asyncio.timeout(WAIT_SECONDS):
        outbox, _ = await joining
    await hub.publish(await append(db, 1, BOARD))

    frames = summary(await take_until_seq(outbox, 1))
    assert frames == [("subscribed", 0), ("presence", ["Alice"]), ("event", 1)], frames


async def test_a_replay_the_store_cannot_answer_refuses_the_subscribe(
    db: GatedDatabase, hub: Hub
) -> None:
    """Not a ``reset`` for events that are still kept: the subscribe fails as a whole (the
    connection answers SERVICE_UNAVAILABLE), nothing was sent for it, and asking again with
    the same ``since`` gets the events."""
    await subscribe(hub, channel=BOARD, member=ALICE, connection_id="a")
    await hub.publish(await append(db, 2, BOARD))
    outbox = Outbox()

    db.failures = 1
    with pytest.raises(ConnectionResetError):
        await subscribe(hub, channel=BOARD, since=0, member=BOB, connection_id="b", outbox=outbox)
    assert len(outbox) == 0

    await subscribe(hub, channel=BOARD, since=0, member=BOB, connection_id="b", outbox=outbox)
    await hub.publish(await append(db, 1, BOARD))
    assert summary(await take_until_seq(outbox, 3)) == [
        ("subscribed", 2),
        ("presence", ["Alice", "Bob"]),
        ("event", 1),
        ("event", 2),
        ("event", 3),
    ]
