"""Queries on learners' word progress: locked reads, set-based writes, aggregates.

A batch of 1,000 words is a handful of statements, each carrying all its rows at once:
on PostgreSQL one ``INSERT … SELECT FROM unnest(…)`` with a typed array per column, on
SQLite one ``executemany`` of a prepared ``INSERT … ON CONFLICT``. The hot statements are
plain SQL, built once per dialect, with values already in the form the driver takes, and
rows come back as :class:`ProgressRow` tuples. Why not SQLAlchemy's ``insert()`` and
``select(table)``: its per-value type processing (a call per timestamp, UUID and flag, in
and out) took 55 of a 1,000-word batch's 90 ms on SQLite (docs/benchmarks.md), and the
batch has a 15 ms budget there. SQLAlchemy still runs every statement, in the caller's
transaction, with its pool and its typed binding of the few scalar parameters.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import (
    BindParameter,
    Integer,
    TextClause,
    Uuid,
    bindparam,
    case,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage import events, offload
from storage.base import UTCDateTime, from_sqlite_text, sqlite_text
from storage.dialects import BYTEWISE, dialect_of, uuid_binder
from storage.models import Progress


class ProgressRow(NamedTuple):
    """One stored record of a user (the ``progress`` columns but ``user_id``): the one
    record type of progress. The rules (server/progress/rules.py) advance it as it is,
    its FSRS columns being the word's schedule, and the API shows it (``ProgressOut.of``)."""

    word_id: str
    study_count: int
    correct_count: int
    confidence: int
    mastered: bool
    last_studied_at: datetime | None
    next_review: datetime
    created_at: datetime
    updated_at: datetime
    fsrs_state: int
    fsrs_step: int | None
    fsrs_stability: float | None
    fsrs_difficulty: float | None
    fsrs_last_review: datetime | None


COLUMNS = ProgressRow._fields
_TIMES = frozenset(
    {"last_studied_at", "next_review", "created_at", "updated_at", "fsrs_last_review"}
)
# PostgreSQL type of each column (of its array, for ``unnest``; of a function's parameter,
# repositories/learner_writes.py).
PG_TYPES = {
    "word_id": "varchar",
    "study_count": "integer",
    "correct_count": "integer",
    "confidence": "integer",
    "mastered": "boolean",
    "fsrs_state": "integer",
    "fsrs_step": "integer",
    "fsrs_stability": "double precision",
    "fsrs_difficulty": "double precision",
    **dict.fromkeys(_TIMES, "timestamptz"),
}
_TIME_INDEXES = tuple(COLUMNS.index(name) for name in COLUMNS if name in _TIMES)
_MASTERED = COLUMNS.index("mastered")
_USER = bindparam("user_id", type_=Uuid())
_COLUMN_LIST = ", ".join(COLUMNS)
# What a write over a stored record sets: all but its key's word and its creation.
_OVERWRITTEN = tuple(name for name in COLUMNS if name not in {"word_id", "created_at"})
_UPDATED = ", ".join(f"{name} = excluded.{name}" for name in _OVERWRITTEN)


def _from_sqlite(row: Sequence[Any]) -> ProgressRow:
    values = list(row)
    for index in _TIME_INDEXES:
        if values[index] is not None:
            values[index] = from_sqlite_text(values[index])
    values[_MASTERED] = bool(values[_MASTERED])
    return ProgressRow(*values)


def _from_postgres(row: Sequence[Any]) -> ProgressRow:
    # asyncpg gives timestamptz as aware datetimes in UTC (``timezone.utc`` is ``UTC``).
    return ProgressRow(*row)


def _reader(session: AsyncSession) -> Callable[[Sequence[Any]], ProgressRow]:
    return _from_sqlite if dialect_of(session) == "sqlite" else _from_postgres


@cache
def _select(dialect: str, *, locked: bool, one: bool = False) -> TextClause:
    """The user's records: of ``:word_ids`` (``locked``) or of ``:word_id`` (``one``)."""
    where = ["user_id = :user_id"]
    params: list[BindParameter[Any]] = [_USER]
    if locked:
        where.append(
            "word_id IN (SELECT value FROM json_each(:word_ids))"
            if dialect == "sqlite"
            else "word_id = ANY(CAST(:word_ids AS varchar[]))"
        )
    if one:
        where.append("word_id = :word_id")
    # Every piece of these statements is a constant of this module; values are all bound.
    where_sql = " AND ".join(where)
    sql = (
        f"SELECT {_COLUMN_LIST} FROM progress WHERE {where_sql} ORDER BY word_id{BYTEWISE[dialect]}"  # noqa: S608
    )
    if locked and dialect == "postgresql":
        # Rows are locked as the sort hands them out: one order for everyone, no deadlocks.
        # SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
        sql += " FOR UPDATE"
    return text(sql).bindparams(*params)


@cache
def _write(dialect: str, *, overwrite: bool) -> str:
    """Insert rows; on an existing word, overwrite it (``overwrite``) or skip it. Driver SQL:
    SQLite binds each row's tuple (``?``), PostgreSQL the user (``$1``) and an array per
    column."""
    conflict = (
        f"ON CONFLICT (user_id, word_id) DO UPDATE SET {_UPDATED}"
        if overwrite
        else "ON CONFLICT (user_id, word_id) DO NOTHING"
    )
    # Every piece of these statements is a constant of this module; values are all bound.
    if dialect == "sqlite":
        marks = ", ".join("?" * (len(COLUMNS) + 1))
        source = f"VALUES ({marks})"
    else:
        arrays = ", ".join(
            f"CAST(${number} AS {PG_TYPES[name]}[])" for number, name in enumerate(COLUMNS, 2)
        )
        source = f"SELECT $1, r.* FROM unnest({arrays}) AS r"  # noqa: S608
    return f"INSERT INTO progress (user_id, {_COLUMN_LIST}) {source} {conflict}"


_TIME_PLACES = tuple(index + 1 for index in _TIME_INDEXES)  # after the user id


def _parameters(session: AsyncSession, user_id: uuid.UUID, rows: Sequence[ProgressRow]) -> Any:
    """The parameters of :func:`_write`: a tuple per row for SQLite's ``executemany``, one
    tuple of the user and the column arrays for PostgreSQL's ``unnest``."""
    user_value = uuid_binder(session)(user_id)
    if dialect_of(session) == "sqlite":
        written = []
        for row in rows:
            values: list[Any] = [user_value, *row]
            for place in _TIME_PLACES:
                if (value := values[place]) is not None:
                    values[place] = sqlite_text(value)
            written.append(tuple(values))
        return written
    return (user_value, *map(list, zip(*rows, strict=True)))


LOCK_CHUNK = 1000  # keeps each list well under both backends' limits


async def lock(
    session: AsyncSession, user_id: uuid.UUID, word_ids: Sequence[str]
) -> dict[str, ProgressRow]:
    """The user's records of ``word_ids``, locked until the transaction ends (PostgreSQL;
    SQLite's ``BEGIN IMMEDIATE`` already serialises writers)."""
    dialect = dialect_of(session)
    statement = _select(dialect, locked=True)
    wanted = sorted(set(word_ids))  # one lock order for everyone: no deadlocks
    found: dict[str, ProgressRow] = {}
    for start in range(0, len(wanted), LOCK_CHUNK):
        chunk: Any = wanted[start : start + LOCK_CHUNK]
        if dialect == "sqlite":
            chunk = _json_list(chunk)
        result = await session.execute(statement, {"user_id": user_id, "word_ids": chunk})
        for record in await _read_all(session, result.all()):
            found[record.word_id] = record
    return found


def _json_list(values: Sequence[str]) -> str:
    return msgspec.json.encode(values).decode()


async def insert_new(session: AsyncSession, user_id: uuid.UUID, rows: Sequence[ProgressRow]) -> int:
    """Insert records that do not exist yet; how many were inserted.

    A word that exists is skipped (``ON CONFLICT DO NOTHING``) and not counted, so a
    caller that holds the learner's lock (``classrooms.lock_of_learner``), under which no
    other write creates one, can tell that the rule was broken.
    """
    if not rows:
        return 0
    return await _execute_write(session, user_id, rows, overwrite=False)


async def upsert(session: AsyncSession, user_id: uuid.UUID, rows: Sequence[ProgressRow]) -> None:
    """Write whole records, inserting or overwriting, in one statement."""
    if rows:
        await _execute_write(session, user_id, rows, overwrite=True)


async def _execute_write(
    session: AsyncSession, user_id: uuid.UUID, rows: Sequence[ProgressRow], *, overwrite: bool
) -> int:
    connection = await session.connection()
    dialect = dialect_of(session)
    cost = len(rows) * SQLITE_ROW_US if dialect == "sqlite" else 0
    parameters = await offload.run(cost, _parameters, session, user_id, rows)
    result = await connection.exec_driver_sql(_write(dialect, overwrite=overwrite), parameters)
    return int(result.rowcount)


# -- PostgreSQL: a write and its event as one statement, guarded by what was read -------------
#
# A PUT reads the record, lets Python schedule the reviews, and writes. Made in a
# transaction that is six round trips (ping, BEGIN, a locking read, the upsert, the event,
# COMMIT), a third of a PUT's server CPU (docs/benchmarks.md). Instead the read takes no
# lock and the write is one autocommitted statement that applies only if the record is
# still as read: ``ON CONFLICT DO UPDATE … WHERE`` judges the row's latest version (a
# concurrent writer is waited for first), so a record changed meanwhile is not overwritten:
# nothing is written and the caller reads again. Every change raises a count, the
# confidence or ``mastered`` (an unchanged record is never written), so those and
# ``updated_at`` tell whether it changed. The event's head and row go in the same
# statement, after the record's row, in the order every other progress write takes them;
# their SQL is storage/events.py's single-event append, gated on the write.

GUARDED_COLUMNS = ("study_count", "correct_count", "confidence", "mastered", "updated_at")


def guarded_write_sql(place: Callable[[str], str]) -> str:
    """PostgreSQL: the ``INSERT`` of one record of a user that overwrites the stored one
    only if it is still as seen (see above); ``place`` gives the SQL of each value:
    ``user_id``, each column of :class:`ProgressRow`, and ``seen_`` + each of
    :data:`GUARDED_COLUMNS` (all null when no record was seen). Nothing written when the
    record changed meanwhile. The one place this guard is written: the guarded PUT below
    and a student's one-statement write (repositories/learner_writes.py) use it."""
    values = ", ".join(place(name) for name in COLUMNS)
    # Every piece is a constant of this module or the caller's; values are all bound.
    return (
        f"INSERT INTO progress (user_id, {_COLUMN_LIST}) VALUES ({place('user_id')}, {values}) "  # noqa: S608
        f"ON CONFLICT (user_id, word_id) DO UPDATE SET {_UPDATED} WHERE {_still_seen(place)}"
    )


def guarded_update_sql(place: Callable[[str], str]) -> str:
    """PostgreSQL: :func:`guarded_write_sql` for a record that was seen, as an ``UPDATE``:
    a record deleted meanwhile is not written again either (an ``INSERT`` would create it,
    and a record is created only under the learner's lock: classrooms.lock_of_learner).
    For writers that do not hold that lock (a non-student's guarded PUT)."""
    assignments = ", ".join(f"{name} = {place(name)}" for name in _OVERWRITTEN)
    return (
        f"UPDATE progress SET {assignments} WHERE progress.user_id = {place('user_id')} "  # noqa: S608
        f"AND progress.word_id = {place('word_id')} AND {_still_seen(place)}"
    )


def _still_seen(place: Callable[[str], str]) -> str:
    """The guard: the stored record is still the one seen."""
    return " AND ".join(f"progress.{name} = {place('seen_' + name)}" for name in GUARDED_COLUMNS)


def guard_values(seen: ProgressRow | None) -> dict[str, Any]:
    """The ``seen_`` values of :func:`guarded_write_sql` for the record read (None: none)."""
    # With nothing seen the guard is false: a record created meanwhile is not written.
    return {
        f"seen_{name}": None if seen is None else getattr(seen, name) for name in GUARDED_COLUMNS
    }


@cache
def _guarded_write_statement() -> TextClause:
    sql = f"""
WITH written AS (
  {guarded_update_sql(lambda name: f":{name}")}
  RETURNING 1
), {events.one_event_sql(only_if="written")}
SELECT seq FROM appended
"""  # noqa: S608 - every piece is a constant of this module; values are all bound
    # created_at is not overwritten: an update keeps the record's creation.
    times = [bindparam(name, type_=UTCDateTime()) for name in _TIMES - {"created_at"}]
    return text(sql).bindparams(
        _USER,
        *times,
        bindparam("seen_updated_at", type_=UTCDateTime()),
        *events.ONE_EVENT_PARAMETERS,
    )


async def write_if_unchanged(
    session: AsyncSession,
    user_id: uuid.UUID,
    row: ProgressRow,
    *,
    seen: ProgressRow,
    channel: str,
    event_name: str,
    event_data: str,
    actor_name: str,
    at: datetime,
) -> int | None:
    """PostgreSQL: write ``row`` over the stored record and append its event
    (``event_data``: JSON text) if that record is still ``seen``; the event's seq, or None
    when it changed or was deleted meanwhile and nothing was written. It never creates a
    record (see :func:`guarded_update_sql`). ``session`` should autocommit."""
    parameters: dict[str, Any] = {
        "user_id": user_id,
        **row._asdict(),
        "channel": channel,
        "name": event_name,
        "data": event_data,
        "actor_id": user_id,
        "actor_name": actor_name,
        "at": at,
        **guard_values(seen),
    }
    result = await session.execute(_guarded_write_statement(), parameters)
    seq = result.scalar_one_or_none()
    return None if seq is None else int(seq)


@cache
def _guarded_read_statement() -> TextClause:
    """PostgreSQL: the user's record of ``:word_id`` and whether the user is a student of
    any classroom, in one round trip (the record's columns NULL when it has none)."""
    columns = ", ".join(f"p.{name}" for name in COLUMNS)
    # Every piece of this statement is a constant of this module; values are all bound.
    sql = (
        "SELECT EXISTS (SELECT 1 FROM students WHERE learner_id = :user_id) AS student, "  # noqa: S608
        f"{columns} FROM (SELECT 1) AS one LEFT JOIN progress AS p "
        "ON p.user_id = :user_id AND p.word_id = :word_id"
    )
    return text(sql).bindparams(_USER)


async def get_for_guarded_write(
    session: AsyncSession, user_id: uuid.UUID, word_id: str
) -> tuple[ProgressRow | None, bool]:
    """PostgreSQL: the user's record of ``word_id`` (None if none) and whether the user is
    a student anywhere: a student's cards may show the record, so a student's writes take
    the transactional path instead of :func:`write_if_unchanged` (server/progress/service.py)."""
    row = (
        await session.execute(_guarded_read_statement(), {"user_id": user_id, "word_id": word_id})
    ).one()
    student, *columns = row
    return (None if columns[0] is None else _from_postgres(columns)), bool(student)


async def get(session: AsyncSession, user_id: uuid.UUID, word_id: str) -> ProgressRow | None:
    result = await session.execute(
        _select(dialect_of(session), locked=False, one=True),
        {"user_id": user_id, "word_id": word_id},
    )
    row = result.first()
    return None if row is None else _reader(session)(row)


@cache
def _listing(dialect: str, *, due: bool) -> TextClause:
    """The channel's seq beside each of the user's records (or those due at ``:due_at``,
    not mastered), in one statement, hence one snapshot on every backend. The records are
    joined to a one-row head, so a user without any still gets the seq (with NULLs)."""
    on = "p.user_id = :user_id"
    params: list[BindParameter[Any]] = [_USER]
    if due:
        on += " AND p.next_review <= :due_at AND NOT p.mastered"
        params.append(bindparam("due_at", type_=UTCDateTime()))
    columns = ", ".join(f"p.{name}" for name in COLUMNS)
    head = "SELECT coalesce((SELECT seq FROM channel_heads WHERE channel = :channel), 0) AS seq"
    # Every piece of this statement is a constant of this module; values are all bound.
    sql = (
        f"SELECT h.seq, {columns} FROM ({head}) AS h "  # noqa: S608
        f"LEFT JOIN progress AS p ON {on} ORDER BY p.word_id{BYTEWISE[dialect]}"
    )
    return text(sql).bindparams(*params)


async def list_with_seq(
    session: AsyncSession, user_id: uuid.UUID, channel: str, *, due_at: datetime | None = None
) -> tuple[int, list[ProgressRow]]:
    """``channel``'s seq and all of a user's records by word id (with ``due_at``, those due
    then, not mastered), as of one moment: the records hold exactly the events up to seq."""
    params: dict[str, Any] = {"user_id": user_id, "channel": channel}
    if due_at is not None:
        params["due_at"] = due_at.astimezone(UTC)
    result = (
        await session.execute(_listing(dialect_of(session), due=due_at is not None), params)
    ).all()
    # The head's own row comes back with NULL columns when the user has no records.
    seq = int(result[0][0]) if result else 0
    return seq, await _read_all(session, [row[1:] for row in result if row[1] is not None])


# Reading a row back costs about 3 µs on SQLite (five instants parsed from text), binding a
# row for a write about 2 µs (formatted); asyncpg does both itself. Thousands of rows (an
# import, a long list) are done in a worker thread (storage/offload.py).
SQLITE_ROW_US = 3


async def _read_all(session: AsyncSession, rows: Sequence[Sequence[Any]]) -> list[ProgressRow]:
    read = _reader(session)
    cost = len(rows) * SQLITE_ROW_US if read is _from_sqlite else 0
    return await offload.run(cost, _read_rows, read, rows)


def _read_rows(
    read: Callable[[Sequence[Any]], ProgressRow], rows: Sequence[Sequence[Any]]
) -> list[ProgressRow]:
    return [read(row) for row in rows]


async def remove(session: AsyncSession, user_id: uuid.UUID, word_id: str) -> bool:
    result = await session.execute(
        delete(Progress)
        .where(Progress.user_id == user_id, Progress.word_id == word_id)
        .returning(Progress.word_id)
    )
    return result.first() is not None


@dataclass(frozen=True, slots=True)
class Totals:
    total_words: int
    mastered_words: int
    due_now: int
    studied_today: int
    total_studies: int
    total_correct: int


async def totals(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime, day_start: datetime
) -> Totals:
    """The figures of the stats endpoint in one aggregate query."""

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).cast(Integer)

    row = (
        await session.execute(
            select(
                func.count(),
                count_if(Progress.mastered.is_(True)),
                count_if((Progress.next_review <= now) & Progress.mastered.is_(False)),
                count_if(Progress.last_studied_at >= day_start),
                func.coalesce(func.sum(Progress.study_count), 0),
                func.coalesce(func.sum(Progress.correct_count), 0),
            ).where(Progress.user_id == user_id)
        )
    ).one()
    return Totals(*(int(value) for value in row))
