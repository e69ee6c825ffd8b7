"""The board's cards as JSON built by the database, one array per column.

A classroom of 3,000 cards is a 1 MB answer. Fetching 3,000 rows into Python objects and
encoding them costs tens of milliseconds; asking PostgreSQL (``json_agg``) or SQLite
(``json_group_array``) for the finished arrays costs a few, and Python only splices them
into the envelope. The card shape must stay exactly that of
``server.board.schemas.CardOut``; a test compares the two on every backend.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialects import dialect_of

# Both dialects: one row per status with that column's cards as a JSON array text, in
# position order, filters applied. Positions are ranks by sort_key in the whole column
# (the CTE), before the filters. :now decides whether a lock still counts.
_POSTGRES = """
WITH c AS (
  SELECT cards.*, row_number() OVER (PARTITION BY status ORDER BY sort_key) - 1 AS position
  FROM cards WHERE classroom_id = :classroom
)
SELECT c.status, json_agg(json_build_object(
    'id', c.id, 'lesson_id', c.lesson_id, 'lesson_title', l.title,
    'lesson_category', l.category, 'student_id', c.student_id, 'student_name', s.name,
    'status', c.status, 'position', c.position,
    'locked_by', CASE WHEN c.lock_expires_at > :now THEN c.locked_by END,
    'locked_by_name', CASE WHEN c.lock_expires_at > :now THEN h.name END,
    'locked_at', CASE WHEN c.lock_expires_at > :now THEN {ts_locked} END,
    'lock_expires_at', CASE WHEN c.lock_expires_at > :now THEN {ts_expires} END,
    'created_at', {ts_created}, 'updated_at', {ts_updated}
) ORDER BY c.position)::text
FROM c
JOIN lessons l ON l.id = c.lesson_id
LEFT JOIN students s ON s.id = c.student_id
LEFT JOIN users h ON h.id = c.locked_by
WHERE true {filters}
GROUP BY c.status
"""

_SQLITE = """
WITH c AS (
  SELECT cards.*, row_number() OVER (PARTITION BY status ORDER BY sort_key) - 1 AS position
  FROM cards WHERE classroom_id = :classroom
)
SELECT status, json_group_array(json(card)) FROM (
  SELECT c.status AS status, c.position AS position, json_object(
    'id', {id_card}, 'lesson_id', {id_lesson}, 'lesson_title', l.title,
    'lesson_category', l.category, 'student_id', {id_student}, 'student_name', s.name,
    'status', c.status, 'position', c.position,
    'locked_by', CASE WHEN c.lock_expires_at > :now THEN {id_holder} END,
    'locked_by_name', CASE WHEN c.lock_expires_at > :now THEN h.name END,
    'locked_at', CASE WHEN c.lock_expires_at > :now THEN {ts_locked} END,
    'lock_expires_at', CASE WHEN c.lock_expires_at > :now THEN {ts_expires} END,
    'created_at', {ts_created}, 'updated_at', {ts_updated}
  ) AS card
  FROM c
  JOIN lessons l ON l.id = c.lesson_id
  LEFT JOIN students s ON s.id = c.student_id
  LEFT JOIN users h ON h.id = c.locked_by
  WHERE 1 {filters}
  ORDER BY c.status, c.position
) GROUP BY status
"""


def _pg_ts(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _sqlite_ts(column: str) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (always six digits) in UTC.
    return f"(replace({column}, ' ', 'T') || 'Z')"


def _sqlite_uuid(column: str) -> str:
    # SQLAlchemy keeps UUIDs on SQLite as 32 hex digits; the API shows the dashed form.
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE lower(substr({column},1,8) || '-' || "
        f"substr({column},9,4) || '-' || substr({column},13,4) || '-' || "
        f"substr({column},17,4) || '-' || substr({column},21,12)) END"
    )


def _sql(dialect: str, filters: str) -> str:
    if dialect == "postgresql":
        return _POSTGRES.format(
            ts_locked=_pg_ts("c.locked_at"),
            ts_expires=_pg_ts("c.lock_expires_at"),
            ts_created=_pg_ts("c.created_at"),
            ts_updated=_pg_ts("c.updated_at"),
            filters=filters,
        )
    return _SQLITE.format(
        id_card=_sqlite_uuid("c.id"),
        id_lesson=_sqlite_uuid("c.lesson_id"),
        id_student=_sqlite_uuid("c.student_id"),
        id_holder=_sqlite_uuid("c.locked_by"),
        ts_locked=_sqlite_ts("c.locked_at"),
        ts_expires=_sqlite_ts("c.lock_expires_at"),
        ts_created=_sqlite_ts("c.created_at"),
        ts_updated=_sqlite_ts("c.updated_at"),
        filters=filters,
    )


async def columns(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    *,
    now: datetime,
    student_id: uuid.UUID | None = None,
    category: str | None = None,
    status: str | None = None,
) -> dict[str, str]:
    """``{status: JSON array text of its cards}`` for the statuses that have cards."""
    dialect = dialect_of(session)
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if student_id is not None:
        conditions.append("AND c.student_id = :student")
        params["student"] = student_id if dialect == "postgresql" else student_id.hex
    if category is not None:
        conditions.append("AND l.category = :category")
        params["category"] = category
    if status is not None:
        conditions.append("AND c.status = :status")
        params["status"] = status
    if dialect == "postgresql":
        params.update(classroom=classroom_id, now=now)
    else:
        # Bound the way SQLAlchemy stores them on SQLite: hex UUIDs, naive UTC text.
        params.update(
            classroom=classroom_id.hex,
            now=now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
    result = await session.execute(text(_sql(dialect, " ".join(conditions))), params)
    return {str(status_value): str(cards) for status_value, cards in result.all()}
