"""The event store (contract §7): append events in the caller's transaction, read them back.

Every change to a board or to a user's progress is stored as an event in the same
transaction as the change, numbered per channel 1, 2, 3, … with no gaps. Pub/sub only
wakes processes up; readers catch up from here, so a lost notification is never a lost
event.

Channel names: ``board:{classroom_id}`` and ``progress:{user_id}`` (a client subscribes to
``progress`` and is given its own).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, cast

import msgspec
from sqlalchemy import (
    Integer,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage import offload
from storage.base import sqlite_text, utcnow
from storage.dialects import dialect_of, upsert_into, uuid_binder
from storage.models import ChannelHead, Event

# Rows are inserted through the Core table: the ORM bulk-insert path costs more per row.
EVENTS = cast(Table, Event.__table__)
HEADS = cast(Table, ChannelHead.__table__)
_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: what happened on which channel, and who did it."""

    channel: str
    name: str
    data: Any
    actor_id: uuid.UUID | None = None
    actor_name: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    channel: str
    seq: int
    name: str
    data: Any
    actor_id: uuid.UUID | None
    actor_name: str | None
    at: datetime


# What services hand committed events to; the realtime broker is one. It must not raise.
Publish = Callable[[Sequence[StoredEvent]], Awaitable[None]]


_BOARD_PREFIX = "board:"


def board_channel(classroom_id: uuid.UUID) -> str:
    return f"{_BOARD_PREFIX}{classroom_id}"


def board_classroom(channel: str) -> uuid.UUID | None:
    """The classroom of a board channel; None for any other channel."""
    if not channel.startswith(_BOARD_PREFIX):
        return None
    return uuid.UUID(channel.removeprefix(_BOARD_PREFIX))


@lru_cache(maxsize=4096)  # a batch names its user's channel a thousand times
def progress_channel(user_id: uuid.UUID) -> str:
    return f"progress:{user_id}"


async def append(
    session: AsyncSession, events: Sequence[NewEvent], *, now: datetime | None = None
) -> list[StoredEvent]:
    """Append ``events`` in the session's transaction and return them numbered.

    Per channel: one upsert raises the head by the number of new events (taking the row
    lock, so concurrent appenders wait for this transaction) and one insert writes them.
    Channels are locked in sorted order, so two appends spanning the same channels in a
    different order cannot deadlock.
    """
    at = now or utcnow()
    if len(events) == 1 and dialect_of(session) == "postgresql":
        return [await _append_one(session, events[0], at)]
    # Keyed by position, not identity: the same NewEvent may be passed more than once.
    by_channel: dict[str, list[tuple[int, NewEvent]]] = {}
    for index, event in enumerate(events):
        by_channel.setdefault(event.channel, []).append((index, event))
    stored: dict[int, StoredEvent] = {}
    dialect = dialect_of(session)
    for channel in sorted(by_channel):
        group = by_channel[channel]
        last = await _advance_head(session, channel, len(group))
        first = last - len(group) + 1
        numbered = [
            StoredEvent(
                channel=channel,
                seq=first + offset,
                name=event.name,
                data=event.data,
                actor_id=event.actor_id,
                actor_name=event.actor_name,
                at=at,
            )
            for offset, (_, event) in enumerate(group)
        ]
        stored.update(zip((index for index, _ in group), numbered, strict=True))
        connection = await session.connection()
        parameters = await offload.run(
            len(numbered) * ENCODE_EVENT_US,
            _insert_parameters,
            dialect,
            uuid_binder(session),
            numbered,
        )
        await connection.exec_driver_sql(_INSERT[dialect], parameters)
    return [stored[index] for index in range(len(events))]


# Many events go in as one statement whose rows are all bound at once (an array per column
# on PostgreSQL, an ``executemany`` on SQLite) with each payload encoded here by msgspec:
# SQLAlchemy's ``insert()`` spent a call per value on type processing, a fifth of a
# 1,000-word batch (docs/benchmarks.md, and storage/repositories/progress.py).
# Encoding an event's data costs about 3 µs: thousands of events (an import) are bound
# in a worker thread (storage/offload.py).
ENCODE_EVENT_US = 3


_INSERT = {
    "sqlite": "INSERT INTO events (channel, seq, name, data, actor_id, actor_name, at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "postgresql": "INSERT INTO events (channel, seq, name, data, actor_id, actor_name, at) "
    "SELECT $1, e.seq, e.name, CAST(e.data AS json), e.actor_id, e.actor_name, $2 "
    "FROM unnest(CAST($3 AS bigint[]), CAST($4 AS varchar[]), CAST($5 AS text[]), "
    "CAST($6 AS uuid[]), CAST($7 AS varchar[])) AS e(seq, name, data, actor_id, actor_name)",
}


def _insert_parameters(
    dialect: str, bind_uuid: Callable[[uuid.UUID | None], Any], events: Sequence[StoredEvent]
) -> Any:
    """Events of one channel, all at one instant, as ``_INSERT`` binds them."""
    encode = _json.encode
    if dialect == "sqlite":
        at = sqlite_text(events[0].at)
        return [
            (
                event.channel,
                event.seq,
                event.name,
                encode(event.data).decode(),
                bind_uuid(event.actor_id),
                event.actor_name,
                at,
            )
            for event in events
        ]
    return (
        events[0].channel,
        events[0].at,
        [event.seq for event in events],
        [event.name for event in events],
        [encode(event.data).decode() for event in events],
        [event.actor_id for event in events],
        [event.actor_name for event in events],
    )


@cache
def _advance_head_statement(dialect: str) -> Any:
    # Built once per dialect and reused with bound values (see repositories/progress.py).
    count = bindparam("count", type_=Integer)
    return (
        upsert_into(dialect, HEADS)
        .values(channel=bindparam("channel"), seq=count)
        .on_conflict_do_update(index_elements=[HEADS.c.channel], set_={"seq": HEADS.c.seq + count})
        .returning(HEADS.c.seq)
    )


@cache
def _append_one_statement() -> Any:
    """PostgreSQL: raise the head by one and insert the event in one statement, one round
    trip instead of two on every single write (a move, a PUT), some of them made while
    the board's lock is held. SQLite cannot put an ``INSERT`` in a ``WITH``."""
    head = (
        upsert_into("postgresql", HEADS)
        .values(channel=bindparam("channel"), seq=1)
        .on_conflict_do_update(index_elements=[HEADS.c.channel], set_={"seq": HEADS.c.seq + 1})
        .returning(HEADS.c.seq)
        .cte("head")
    )
    columns = ["channel", "name", "data", "actor_id", "actor_name", "at"]
    row = select(head.c.seq, *(bindparam(name, type_=EVENTS.c[name].type) for name in columns))
    return insert(EVENTS).from_select(["seq", *columns], row).returning(EVENTS.c.seq)


async def _append_one(session: AsyncSession, event: NewEvent, at: datetime) -> StoredEvent:
    values = {
        "channel": event.channel,
        "name": event.name,
        "data": event.data,
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "at": at,
    }
    result = await session.execute(_append_one_statement(), values)
    return StoredEvent(seq=int(result.scalar_one()), **values)


async def _advance_head(session: AsyncSession, channel: str, count: int) -> int:
    statement = _advance_head_statement(dialect_of(session))
    result = await session.execute(statement, {"channel": channel, "count": count})
    return int(result.scalar_one())


async def head(session: AsyncSession, channel: str) -> int:
    """The channel's current seq: the number of the last event appended (0 if none)."""
    result = await session.execute(select(ChannelHead.seq).where(ChannelHead.channel == channel))
    return int(result.scalar_one_or_none() or 0)


async def heads(session: AsyncSession, channels: Sequence[str]) -> dict[str, int]:
    """Current seq of several channels in one query; channels with no events map to 0."""
    if not channels:
        return {}
    result = await session.execute(
        select(ChannelHead.channel, ChannelHead.seq).where(ChannelHead.channel.in_(channels))
    )
    found = {channel: int(seq) for channel, seq in result.all()}
    return {channel: found.get(channel, 0) for channel in channels}


async def read_since(
    session: AsyncSession, channel: str, after: int, *, limit: int | None = None
) -> list[StoredEvent]:
    """The stored events of ``channel`` with seq above ``after``, in order."""
    statement = select(Event).where(Event.channel == channel, Event.seq > after).order_by(Event.seq)
    if limit is not None:
        statement = statement.limit(limit)
    rows = (await session.execute(statement)).scalars().all()
    return [
        StoredEvent(
            channel=row.channel,
            seq=row.seq,
            name=row.name,
            data=row.data,
            actor_id=row.actor_id,
            actor_name=row.actor_name,
            at=row.at,
        )
        for row in rows
    ]


async def prune(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete events stored before ``older_than``; heads stay, so numbering goes on."""
    result = await session.execute(delete(Event).where(Event.at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


async def oldest_seq(session: AsyncSession, channel: str) -> int | None:
    result = await session.execute(select(func.min(Event.seq)).where(Event.channel == channel))
    value = result.scalar_one_or_none()
    return None if value is None else int(value)
