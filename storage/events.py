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
    TextClause,
    Uuid,
    bindparam,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage import offload
from storage.base import UTCDateTime, sqlite_text, utcnow
from storage.dialects import dialect_of, one_of, upsert_into, uuid_binder
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


# The one owner of channel names: every other module builds and parses them here.
_BOARD_PREFIX = "board:"
_PROGRESS_PREFIX = "progress:"


def board_channel(classroom_id: uuid.UUID) -> str:
    return f"{_BOARD_PREFIX}{classroom_id}"


def board_channel_sql(classroom_id: str) -> str:
    """PostgreSQL: :func:`board_channel` of a ``uuid`` expression (PostgreSQL writes a UUID
    as Python's ``str`` does: lower case, hyphenated), for an event a statement appends to
    the board of the classroom it found (repositories/card_moves.py)."""
    return f"('{_BOARD_PREFIX}' || CAST({classroom_id} AS text))"


def is_board_channel(channel: str) -> bool:
    """Whether ``channel`` names a board (its id still to be checked: :func:`board_classroom`)."""
    return channel.startswith(_BOARD_PREFIX)


def board_classroom(channel: str) -> uuid.UUID | None:
    """The classroom of a board channel (in any spelling of its id; ``ValueError`` if it is
    no id); None for any other channel."""
    if not is_board_channel(channel):
        return None
    return uuid.UUID(channel.removeprefix(_BOARD_PREFIX))


@lru_cache(maxsize=4096)  # a batch names its user's channel a thousand times
def progress_channel(user_id: uuid.UUID) -> str:
    return f"{_PROGRESS_PREFIX}{user_id}"


async def append(
    session: AsyncSession, events: Sequence[NewEvent], *, now: datetime | None = None
) -> list[StoredEvent]:
    """Append ``events`` in the session's transaction and return them numbered.

    Each channel's head is raised by the number of its new events (taking the row lock, so
    concurrent appenders wait for this transaction) and the events are inserted: on
    PostgreSQL in one statement for every channel, on SQLite an upsert and an insert per
    channel. Channels are locked in sorted order, so two appends spanning the same channels
    in a different order cannot deadlock.
    """
    at = now or utcnow()
    dialect = dialect_of(session)
    if dialect == "postgresql":
        if len(events) == 1:
            return [await _append_one(session, events[0], at)]
        return await _append_many(session, events, at)
    # SQLite: per channel, the head raised and the events inserted (SQLite cannot put an
    # ``INSERT`` in a ``WITH``; a round trip is a function call there).
    # Keyed by position, not identity: the same NewEvent may be passed more than once.
    by_channel: dict[str, list[tuple[int, NewEvent]]] = {}
    for index, event in enumerate(events):
        by_channel.setdefault(event.channel, []).append((index, event))
    stored: dict[int, StoredEvent] = {}
    for channel in sorted(by_channel):
        group = by_channel[channel]
        last = await _advance_head(session, channel, len(group))
        first = last - len(group) + 1
        numbered = [
            _numbered(event, channel, first + offset, at) for offset, (_, event) in enumerate(group)
        ]
        stored.update(zip((index for index, _ in group), numbered, strict=True))
        connection = await session.connection()
        parameters = await offload.run(
            len(numbered) * ENCODE_EVENT_US,
            _insert_parameters,
            uuid_binder(session),
            numbered,
        )
        await connection.exec_driver_sql(_INSERT_SQLITE, parameters)
    return [stored[index] for index in range(len(events))]


def _numbered(event: NewEvent, channel: str, seq: int, at: datetime) -> StoredEvent:
    return StoredEvent(
        channel=channel,
        seq=seq,
        name=event.name,
        data=event.data,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        at=at,
    )


# PostgreSQL: every channel's head raised and every event inserted in one statement, one
# round trip however many channels (a student's answer appends its own ``progress.updated``
# and a ``card.progress`` on each of its classrooms' boards, which took two round trips a
# channel, docs/benchmarks.md). Each event
# comes with its place among its channel's new events (``ordinal``, from 1); a head is
# raised by its channel's count, in channel order (the rows are locked in that order, so
# two appends spanning the same channels cannot deadlock), and an event's seq is its
# channel's new head less the count plus its ordinal (:data:`APPENDED_SEQ`).


def append_many_sql(events: str, at: str) -> str:
    """PostgreSQL, many events in one statement: the tail of a ``WITH`` (CTEs ``e``,
    ``counts``, ``head``, ``appended``) that raises each channel's head by its count and
    inserts the events. ``events`` is a query of the events' ``channel``, ``ordinal``,
    ``name``, ``data`` (JSON text), ``actor_id`` and ``actor_name``; ``at`` the instant's
    expression. The caller selects from ``head`` (each channel's new seq) or from ``e``
    joined to ``counts`` and ``head`` (each event's :data:`APPENDED_SEQ`). The one place
    the many-event SQL is written: Python's append and a learner's one-statement write
    (repositories/learner_writes.py) use it."""
    # Every piece is a constant of this module or the caller's; values are bound.
    return f"""e AS ({events}
), counts AS (
  SELECT channel, max(ordinal) AS n FROM e GROUP BY channel
), head AS (
  INSERT INTO channel_heads AS h (channel, seq) SELECT channel, n FROM counts ORDER BY channel
  ON CONFLICT (channel) DO UPDATE SET seq = h.seq + excluded.seq
  RETURNING h.channel, h.seq
), appended AS (
  INSERT INTO events (channel, seq, name, data, actor_id, actor_name, at)
  SELECT e.channel, {APPENDED_SEQ}, e.name, CAST(e.data AS json),
    e.actor_id, e.actor_name, {at}
  FROM e JOIN counts USING (channel) JOIN head USING (channel)
  RETURNING 1
)"""  # noqa: S608


#: An event's seq in :func:`append_many_sql`: its channel's new head less the channel's
#: count plus its ordinal.
APPENDED_SEQ = "head.seq - counts.n + e.ordinal"

_APPEND_MANY = f"""
WITH {
    append_many_sql(
        "SELECT * FROM unnest(CAST($1 AS varchar[]), CAST($2 AS bigint[]), CAST($3 AS varchar[]), "
        "CAST($4 AS text[]), CAST($5 AS uuid[]), CAST($6 AS varchar[])) "
        "AS e(channel, ordinal, name, data, actor_id, actor_name)",
        "$7",
    )
}
SELECT head.channel, head.seq, (SELECT count(*) FROM appended) FROM head
"""  # noqa: S608 - constants only


async def _append_many(
    session: AsyncSession, events: Sequence[NewEvent], at: datetime
) -> list[StoredEvent]:
    ordinals: list[int] = []
    counts: dict[str, int] = {}
    for event in events:
        counts[event.channel] = ordinal = counts.get(event.channel, 0) + 1
        ordinals.append(ordinal)
    parameters = await offload.run(
        len(events) * ENCODE_EVENT_US, _append_many_parameters, events, ordinals, at
    )
    connection = await session.connection()
    result = await connection.exec_driver_sql(_APPEND_MANY, parameters)
    first: dict[str, int] = {}
    for channel, last, written in cast("list[tuple[str, int, int]]", result.all()):
        assert written == len(events)
        first[channel] = int(last) - counts[channel] + 1
    return [
        _numbered(event, event.channel, first[event.channel] + ordinal - 1, at)
        for event, ordinal in zip(events, ordinals, strict=True)
    ]


def _append_many_parameters(
    events: Sequence[NewEvent], ordinals: list[int], at: datetime
) -> tuple[Any, ...]:
    encode = _json.encode
    return (
        [event.channel for event in events],
        ordinals,
        [event.name for event in events],
        [encode(event.data).decode() for event in events],
        [event.actor_id for event in events],
        [event.actor_name for event in events],
        at,
    )


# Many events go in as one statement whose rows are all bound at once (an array per column
# on PostgreSQL, an ``executemany`` on SQLite) with each payload encoded here by msgspec:
# SQLAlchemy's ``insert()`` spent a call per value on type processing, a fifth of a
# 1,000-word batch (docs/benchmarks.md, and storage/repositories/progress.py).
# Encoding an event's data costs about 3 µs: thousands of events (an import) are bound
# in a worker thread (storage/offload.py).
ENCODE_EVENT_US = 3


_INSERT_SQLITE = (
    "INSERT INTO events (channel, seq, name, data, actor_id, actor_name, at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _insert_parameters(
    bind_uuid: Callable[[uuid.UUID | None], Any], events: Sequence[StoredEvent]
) -> Any:
    """SQLite: events of one channel, all at one instant, as ``_INSERT_SQLITE`` binds them."""
    encode = _json.encode
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


def one_event_sql(
    *, only_if: str | None = None, data: str = "CAST(:data AS json)", channel: str = ":channel"
) -> str:
    """PostgreSQL, one event in one statement: the tail of a ``WITH`` (a ``head`` CTE and an
    ``appended`` one, whose ``seq`` the caller selects) that raises ``:channel``'s head by one
    and inserts the event (``:name``, ``data``, ``:actor_id``, ``:actor_name``, ``:at``).
    With ``only_if``, the name of an earlier CTE of the caller's statement that returns at
    most one row: only when it returned one (the guarded PUT, storage/repositories/
    progress.py, and the move, repositories/card_moves.py, whose write and event are one
    statement); ``data`` may then use its columns. ``data`` is an SQL expression of type
    ``json``: by default the bound ``:data``, JSON text; ``channel`` one of type ``text``,
    by default the bound ``:channel``. The one place the single-event SQL is written."""
    # Every piece is a constant of this module or the caller's; values are bound.
    source = f"SELECT {channel}, 1 FROM {only_if}" if only_if else f"VALUES ({channel}, 1)"  # noqa: S608
    rows = f"head, {only_if}" if only_if else "head"
    return f"""head AS (
  INSERT INTO channel_heads AS h (channel, seq) {source}
  ON CONFLICT (channel) DO UPDATE SET seq = h.seq + 1
  RETURNING h.seq
), appended AS (
  INSERT INTO events (channel, seq, name, data, actor_id, actor_name, at)
  SELECT {channel}, head.seq, :name, {data}, :actor_id, :actor_name, :at FROM {rows}
  RETURNING seq
)"""  # noqa: S608


ONE_EVENT_PARAMETERS = (
    bindparam("actor_id", type_=Uuid()),
    bindparam("at", type_=UTCDateTime()),
)


@cache
def _append_one_statement() -> TextClause:
    """PostgreSQL: raise the head by one and insert the event in one statement, one round
    trip instead of two on every single write (a move, a PUT), some of them made while
    the board's lock is held. SQLite cannot put an ``INSERT`` in a ``WITH``."""
    sql = f"WITH {one_event_sql()} SELECT seq FROM appended"  # noqa: S608 - constants only
    return text(sql).bindparams(*ONE_EVENT_PARAMETERS)


async def _append_one(session: AsyncSession, event: NewEvent, at: datetime) -> StoredEvent:
    result = await session.execute(
        _append_one_statement(),
        {
            "channel": event.channel,
            "name": event.name,
            "data": _json.encode(event.data).decode(),
            "actor_id": event.actor_id,
            "actor_name": event.actor_name,
            "at": at,
        },
    )
    return StoredEvent(
        event.channel,
        int(result.scalar_one()),
        event.name,
        event.data,
        event.actor_id,
        event.actor_name,
        at,
    )


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
        select(ChannelHead.channel, ChannelHead.seq).where(
            one_of(dialect_of(session), ChannelHead.channel, channels)
        )
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
