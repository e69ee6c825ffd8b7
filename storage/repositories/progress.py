"""Queries on learners' word progress: locked reads, set-based writes, aggregates.

Writes are set-based so a batch of 1,000 words is a handful of statements, not a thousand
ORM flushes: one insert for new words, one upsert for changed ones. Reads and writes go
through the Core table, not the ORM entity: a record is plain data here (no identity map,
no change tracking), and loading 1,000 ORM objects was a large part of a batch's time
(docs/benchmarks.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Integer, Row, Table, bindparam, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialects import dialect_of, upsert_into
from storage.models import Progress

TABLE = cast(Table, Progress.__table__)
COLUMNS = [c.name for c in TABLE.columns]

# A stored record: a row with one attribute per column of ``progress``.
ProgressRow = Row[Any]


# The hot statements are built once (per dialect) with bound parameters and reused:
# building an upsert with SQLAlchemy's constructs took longer than running it (about
# 0.3 ms a PUT, docs/benchmarks.md).


@cache
def _lock_statement() -> Any:
    return (
        select(TABLE)
        .where(
            TABLE.c.user_id == bindparam("user_id"),
            TABLE.c.word_id.in_(bindparam("word_ids", expanding=True)),
        )
        .order_by(TABLE.c.word_id)
        .with_for_update()
    )


@cache
def _insert_new_statement(dialect: str) -> Any:
    return upsert_into(dialect, TABLE).on_conflict_do_nothing().returning(TABLE.c.word_id)


@cache
def _upsert_statement(dialect: str) -> Any:
    statement = upsert_into(dialect, TABLE)
    keep = {"user_id", "word_id", "created_at"}
    return statement.on_conflict_do_update(
        index_elements=[TABLE.c.user_id, TABLE.c.word_id],
        set_={name: statement.excluded[name] for name in COLUMNS if name not in keep},
    )


LOCK_CHUNK = 1000  # keeps each IN (…) well under both backends' parameter limits


async def lock(
    session: AsyncSession, user_id: uuid.UUID, word_ids: Sequence[str]
) -> dict[str, ProgressRow]:
    """The user's records of ``word_ids``, locked until the transaction ends (PostgreSQL;
    SQLite's ``BEGIN IMMEDIATE`` already serialises writers)."""
    wanted = sorted(set(word_ids))  # one lock order for everyone: no deadlocks
    found: dict[str, ProgressRow] = {}
    for start in range(0, len(wanted), LOCK_CHUNK):
        result = await session.execute(
            _lock_statement(),
            {"user_id": user_id, "word_ids": wanted[start : start + LOCK_CHUNK]},
        )
        found.update((row.word_id, row) for row in result)
    return found


async def insert_new(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert records that do not exist yet; the word ids actually inserted.

    A word another transaction created meanwhile is skipped (``ON CONFLICT DO NOTHING``)
    and missing from the answer, so the caller can lock it and treat it as an update.
    """
    if not rows:
        return set()
    result = await session.execute(_insert_new_statement(dialect_of(session)), list(rows))
    return set(result.scalars())


async def upsert(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write whole records, inserting or overwriting, in one statement."""
    if not rows:
        return
    await session.execute(_upsert_statement(dialect_of(session)), list(rows))


async def get(session: AsyncSession, user_id: uuid.UUID, word_id: str) -> ProgressRow | None:
    result = await session.execute(
        select(TABLE).where(TABLE.c.user_id == user_id, TABLE.c.word_id == word_id)
    )
    return result.first()


async def list_for(
    session: AsyncSession, user_id: uuid.UUID, *, due_at: datetime | None = None
) -> list[ProgressRow]:
    """All of a user's records by word id; with ``due_at``, those due then (not mastered)."""
    statement = select(TABLE).where(TABLE.c.user_id == user_id)
    if due_at is not None:
        statement = statement.where(TABLE.c.next_review <= due_at, TABLE.c.mastered.is_(False))
    result = await session.execute(statement.order_by(TABLE.c.word_id))
    return list(result)


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
