"""The event store (contract §7): per-channel numbering 1, 2, 3, … with no gaps, even when
transactions roll back or many writers append at once; reads since a seq; pruning.

Every test runs on SQLite and, with ``TANDEM_TEST_DATABASE_URL`` set, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from storage import events
from storage.database import Database
from storage.events import NewEvent, StoredEvent

AT = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
ADA = uuid.UUID("00000000-0000-4000-8000-00000000ada0")


class Rollback(Exception):
    """Raised inside a transaction block to roll it back on purpose."""


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


def new(channel: str, name: str = "card.created", data: Any = None) -> NewEvent:
    return NewEvent(channel=channel, name=name, data=data, actor_id=ADA, actor_name="Ada")


async def append(
    db: Database, batch: Sequence[NewEvent], *, now: datetime | None = None
) -> list[StoredEvent]:
    async with db.transaction() as session:
        return await events.append(session, batch, now=now)


async def append_then_fail(
    db: Database, batch: Sequence[NewEvent], numbered: list[StoredEvent]
) -> None:
    """Append ``batch``, put what ``append`` returned in ``numbered``, then roll back."""
    async with db.transaction() as session:
        numbered.extend(await events.append(session, batch))
        raise Rollback


async def read_all(db: Database, channel: str) -> list[StoredEvent]:
    async with db.reader() as session:
        return await events.read_since(session, channel, 0)


async def seqs(db: Database, channel: str) -> list[int]:
    return [event.seq for event in await read_all(db, channel)]


# Numbering and reads


async def test_a_new_channel_is_numbered_from_one_in_the_order_given(db: Database) -> None:
    batch = [new("board:a", "card.created", {"n": n}) for n in range(4)]

    appended = await append(db, batch, now=AT)

    assert [(event.channel, event.seq) for event in appended] == [
        ("board:a", n) for n in (1, 2, 3, 4)
    ]
    assert [event.data for event in appended] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    assert await read_all(db, "board:a") == appended


async def test_channels_are_numbered_independently_within_a_call_and_across_calls(
    db: Database,
) -> None:
    first = await append(
        db,
        [new("board:a", data="a1"), new("progress:u", data="u1"), new("board:a", data="a2"),
         new("board:a", data="a3"), new("progress:u", data="u2")],
    )  # fmt: skip
    second = await append(db, [new("progress:u", data="u3"), new("board:a", data="a4")])

    # Returned in the order given, each numbered on its own channel.
    assert [(event.data, event.seq) for event in first] == [
        ("a1", 1), ("u1", 1), ("a2", 2), ("a3", 3), ("u2", 2),
    ]  # fmt: skip
    assert [(event.data, event.seq) for event in second] == [("u3", 3), ("a4", 4)]
    assert [event.data for event in await read_all(db, "board:a")] == ["a1", "a2", "a3", "a4"]
    assert [event.data for event in await read_all(db, "progress:u")] == ["u1", "u2", "u3"]
    assert await seqs(db, "board:a") == [1, 2, 3, 4]
    assert await seqs(db, "progress:u") == [1, 2, 3]


async def test_the_same_event_object_appended_twice_is_stored_twice(db: Database) -> None:
    event = new("board:a", "card.moved", {"id": 1})

    appended = await append(db, [event, event, new("board:a", data="last")])

    assert [event.seq for event in appended] == [1, 2, 3]
    assert [event.data for event in await read_all(db, "board:a")] == [{"id": 1}, {"id": 1}, "last"]


async def test_appending_nothing_returns_nothing_and_moves_no_head(db: Database) -> None:
    assert await append(db, []) == []
    async with db.reader() as session:
        assert await events.head(session, "board:a") == 0


async def test_stored_events_carry_name_data_actor_and_time(db: Database) -> None:
    actor = uuid.uuid4()
    batch = [
        NewEvent("board:a", "card.locked", {"id": "c1"}, actor_id=actor, actor_name="Grace"),
        NewEvent("board:a", "card.unlocked", {"id": "c1", "reason": "expired"}),
    ]

    appended = await append(db, batch, now=AT)

    assert appended == [
        StoredEvent("board:a", 1, "card.locked", {"id": "c1"}, actor, "Grace", AT),
        StoredEvent(
            "board:a", 2, "card.unlocked", {"id": "c1", "reason": "expired"}, None, None, AT
        ),
    ]
    # Read back in another session: the same values, the time still aware UTC.
    read = await read_all(db, "board:a")
    assert read == appended
    assert all(event.at.utcoffset() == timedelta(0) for event in read)


async def test_events_are_stamped_with_the_current_time_by_default(db: Database) -> None:
    before = datetime.now(UTC)
    (appended,) = await append(db, [new("board:a")])
    after = datetime.now(UTC)

    assert before <= appended.at <= after
    (read,) = await read_all(db, "board:a")
    assert read.at == appended.at


async def test_read_since_returns_the_events_after_a_seq_in_order(db: Database) -> None:
    await append(db, [new("board:a", data=n) for n in range(1, 6)])
    await append(db, [new("board:b", data="other")])

    async with db.reader() as session:
        assert [e.seq for e in await events.read_since(session, "board:a", 2)] == [3, 4, 5]
        assert [e.data for e in await events.read_since(session, "board:a", 2)] == [3, 4, 5]
        assert [e.seq for e in await events.read_since(session, "board:a", 0)] == [1, 2, 3, 4, 5]
        assert await events.read_since(session, "board:a", 5) == []
        assert await events.read_since(session, "board:a", 9) == []
        assert await events.read_since(session, "board:unknown", 0) == []


async def test_read_since_with_a_limit_returns_the_first_events_after_the_seq(
    db: Database,
) -> None:
    await append(db, [new("board:a", data=n) for n in range(1, 6)])

    async with db.reader() as session:
        assert [e.seq for e in await events.read_since(session, "board:a", 1, limit=2)] == [2, 3]
        assert [e.seq for e in await events.read_since(session, "board:a", 3, limit=10)] == [4, 5]
        assert [e.seq for e in await events.read_since(session, "board:a", 0, limit=1)] == [1]


async def test_head_and_heads_give_the_last_seq_and_zero_for_unknown_channels(
    db: Database,
) -> None:
    await append(db, [new("board:a"), new("board:a"), new("progress:u")])
    await append(db, [new("board:a")])

    async with db.reader() as session:
        assert await events.head(session, "board:a") == 3
        assert await events.head(session, "progress:u") == 1
        assert await events.head(session, "board:unknown") == 0
        assert await events.heads(session, ["progress:u", "board:unknown", "board:a"]) == {
            "progress:u": 1,
            "board:unknown": 0,
            "board:a": 3,
        }
        assert await events.heads(session, []) == {}


@pytest.mark.needs_postgres
async def test_the_heads_of_any_number_of_channels_are_one_prepared_statement(
    db: Database,
) -> None:
    """The realtime resync asks for the heads of every channel a process serves, a number
    that changes as learners come and go: each number must not be a statement PostgreSQL
    (and asyncpg's cache) keeps apart, or a server grows all day (storage/dialects.py)."""
    await append(db, [new("board:0"), new("board:0")])
    channels = [f"board:{n}" for n in range(30)]

    async with db.reader() as session:
        for count in range(1, len(channels) + 1):
            assert (await events.heads(session, channels[:count]))["board:0"] == 2
        prepared = await session.execute(
            text(
                "SELECT count(*) FROM pg_prepared_statements"
                " WHERE statement LIKE 'SELECT channel_heads.%'"
            )
        )
        assert prepared.scalar_one() == 1


# Rollback


async def test_a_rolled_back_append_leaves_no_event_and_no_gap(db: Database) -> None:
    await append(db, [new("board:a", data="kept 1"), new("board:a", data="kept 2")])

    doomed: list[StoredEvent] = []
    with pytest.raises(Rollback):
        await append_then_fail(db, [new("board:a", data="x"), new("board:a")], doomed)
    assert [event.seq for event in doomed] == [3, 4]

    async with db.reader() as session:
        assert await events.head(session, "board:a") == 2
    assert [event.data for event in await read_all(db, "board:a")] == ["kept 1", "kept 2"]
    (next_event,) = await append(db, [new("board:a", data="kept 3")])
    assert next_event.seq == 3
    assert await seqs(db, "board:a") == [1, 2, 3]


async def test_a_rolled_back_first_append_leaves_the_channel_unknown(db: Database) -> None:
    doomed: list[StoredEvent] = []
    with pytest.raises(Rollback):
        await append_then_fail(db, [new("board:new")], doomed)
    assert [event.seq for event in doomed] == [1]

    async with db.reader() as session:
        assert await events.heads(session, ["board:new"]) == {"board:new": 0}
        assert await events.oldest_seq(session, "board:new") is None
    assert await read_all(db, "board:new") == []
    assert [event.seq for event in await append(db, [new("board:new")])] == [1]


# Concurrency


async def _append_in_own_transaction(
    db: Database, start: asyncio.Barrier, batch: Sequence[NewEvent], *, roll_back: bool
) -> list[StoredEvent]:
    """Append ``batch`` in a transaction of its own, started with all the other writers."""
    async with db.transaction() as session:
        await start.wait()
        appended = await events.append(session, batch)
        # Hold the transaction open across another round trip, so writers overlap.
        for channel in {event.channel for event in batch}:
            last = max(event.seq for event in appended if event.channel == channel)
            assert await events.head(session, channel) == last
        if roll_back:
            raise Rollback
        return appended


async def test_concurrent_writers_on_one_channel_get_contiguous_numbers_without_gaps(
    db: Database,
) -> None:
    writers = 20
    start = asyncio.Barrier(writers)
    batches = [
        [new("board:a", "card.moved", {"writer": w, "index": i}) for i in range(1 + w % 3)]
        for w in range(writers)
    ]
    rolled_back = {w for w in range(writers) if w % 4 == 3}

    results = await asyncio.gather(
        *(
            _append_in_own_transaction(db, start, batches[w], roll_back=w in rolled_back)
            for w in range(writers)
        ),
        return_exceptions=True,
    )

    for w, result in enumerate(results):
        if w in rolled_back:
            assert isinstance(result, Rollback), result
        else:
            assert isinstance(result, list), result
    committed = {w: result for w, result in enumerate(results) if isinstance(result, list)}
    total = sum(len(batches[w]) for w in committed)
    stored = await read_all(db, "board:a")
    assert [event.seq for event in stored] == list(range(1, total + 1))
    by_seq = {event.seq: event for event in stored}
    for w, appended in committed.items():
        numbers = [event.seq for event in appended]
        assert numbers == list(range(numbers[0], numbers[0] + len(batches[w])))
        assert [by_seq[n].data for n in numbers] == [event.data for event in batches[w]]
    # Nothing of a rolled-back writer was kept.
    assert {event.data["writer"] for event in stored} == set(committed)
    async with db.reader() as session:
        assert await events.head(session, "board:a") == total


async def test_concurrent_writers_on_different_channels_each_number_from_one(
    db: Database,
) -> None:
    channels = [f"board:{n}" for n in range(4)]
    writers = [(channel, w) for channel in channels for w in range(5)]
    start = asyncio.Barrier(len(writers))

    await asyncio.gather(
        *(
            _append_in_own_transaction(
                db,
                start,
                [new(channel, data={"writer": w, "index": i}) for i in range(2)],
                roll_back=False,
            )
            for channel, w in writers
        )
    )

    for channel in channels:
        stored = await read_all(db, channel)
        assert [event.seq for event in stored] == list(range(1, 11))
        assert sorted(event.data["writer"] for event in stored) == sorted([*range(5)] * 2)


async def test_concurrent_writers_spanning_channels_in_any_order_all_commit(
    db: Database,
) -> None:
    # Each writer appends to both channels, half of them in the opposite order: the store
    # must not let two such transactions wait on each other's channel (a deadlock).
    writers = 12
    start = asyncio.Barrier(writers)
    pairs = [("board:a", "board:b") if w % 2 else ("board:b", "board:a") for w in range(writers)]

    results = await asyncio.gather(
        *(
            _append_in_own_transaction(
                db, start, [new(channel, data=w) for channel in pairs[w]], roll_back=False
            )
            for w in range(writers)
        )
    )

    assert all(len(result) == 2 for result in results)
    for channel in ("board:a", "board:b"):
        stored = await read_all(db, channel)
        assert [event.seq for event in stored] == list(range(1, writers + 1))
        assert sorted(event.data for event in stored) == list(range(writers))


# JSON data


async def test_json_data_round_trips(db: Database) -> None:
    payloads: list[Any] = [
        {
            "card": {"id": "c1", "title": "Grüße, 日本語 and 🎉", "tags": ["a", "b"]},
            "from_status": None,
            "from_position": 0,
            "nested": {"deep": {"list": [1, 2.5, True, False, None, {"x": []}]}},
        },
        ["a", 1, None, {"ü": '"quoted" \\ back\nslash'}],
        "just a string",
        12345678901234,
        None,
        {},
        [],
    ]

    appended = await append(db, [new("progress:u", "progress.updated", p) for p in payloads])

    assert [event.data for event in appended] == payloads
    assert [event.data for event in await read_all(db, "progress:u")] == payloads


# Pruning


async def test_prune_removes_only_older_events_and_numbering_goes_on(db: Database) -> None:
    cut_off = AT - timedelta(days=7)
    await append(
        db,
        [new("board:a", data="old 1"), new("board:a", data="old 2")],
        now=cut_off - timedelta(days=1),
    )
    await append(db, [new("board:b", data="old b")], now=cut_off - timedelta(microseconds=1))
    await append(db, [new("board:a", data="at cut-off")], now=cut_off)
    await append(db, [new("board:a", data="new")], now=AT)
    async with db.reader() as session:
        assert await events.oldest_seq(session, "board:a") == 1
        assert await events.oldest_seq(session, "board:b") == 1

    async with db.transaction() as session:
        removed = await events.prune(session, older_than=cut_off)

    assert removed == 3
    assert [(e.seq, e.data) for e in await read_all(db, "board:a")] == [
        (3, "at cut-off"),
        (4, "new"),
    ]
    assert await read_all(db, "board:b") == []
    async with db.reader() as session:
        assert await events.heads(session, ["board:a", "board:b"]) == {"board:a": 4, "board:b": 1}
        assert await events.oldest_seq(session, "board:a") == 3
        assert await events.oldest_seq(session, "board:b") is None
    # The heads were kept: numbering continues where it was, never reusing a pruned number.
    appended = await append(db, [new("board:a"), new("board:b")])
    assert [(event.channel, event.seq) for event in appended] == [("board:a", 5), ("board:b", 2)]


async def test_prune_compares_instants_whatever_the_cut_offs_time_zone(db: Database) -> None:
    await append(db, [new("board:a", data="older")], now=AT - timedelta(minutes=1))
    await append(db, [new("board:a", data="newer")], now=AT + timedelta(minutes=1))
    # AT written as local time two hours ahead of UTC: the same instant.
    cut_off = AT.astimezone(timezone(timedelta(hours=2)))

    async with db.transaction() as session:
        assert await events.prune(session, older_than=cut_off) == 1

    assert [event.data for event in await read_all(db, "board:a")] == ["newer"]


async def test_oldest_seq_is_none_for_a_channel_without_events(db: Database) -> None:
    async with db.reader() as session:
        assert await events.oldest_seq(session, "board:a") is None
