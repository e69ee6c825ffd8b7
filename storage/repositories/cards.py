"""Queries on board cards: the board read, locked single-card reads, ordering keys.

A card's position is its rank by ``sort_key`` within (classroom, status), computed when
read, so positions are always dense and a move or a delete writes one row. Keys leave gaps
of :data:`GAP`; a move takes the midpoint of its new neighbours, and a column whose gap
ran out is renumbered once (after about 16 moves into the same spot). Callers hold the
classroom's row lock (see :func:`storage.repositories.classrooms.lock_for_teacher`) while
they choose keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Integer, Select, bindparam, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.base import from_sqlite_text
from storage.dialects import dialect_of, uuid_binder
from storage.models import Card, ClassroomTeacher, Lesson, Student, User
from storage.repositories import card_progress
from storage.repositories.card_progress import CardProgress

_Holder = aliased(User)
_Other = aliased(Card)
GAP = 1 << 16

# A card's dense position: how many cards of its column sort before it (an index range).
_POSITION = (
    select(func.count())
    .where(
        _Other.classroom_id == Card.classroom_id,
        _Other.status == Card.status,
        _Other.sort_key < Card.sort_key,
    )
    .correlate(Card)
    .scalar_subquery()
)


class CardView(NamedTuple):
    """A card with what the board shows beside it (lesson, student, lock holder): the row
    every card query returns, in this column order, and what ``CardOut.of`` shows."""

    id: uuid.UUID
    classroom_id: uuid.UUID
    lesson_id: uuid.UUID
    lesson_title: str
    lesson_category: str
    student_id: uuid.UUID | None
    student_name: str | None
    status: str
    position: int
    locked_by: uuid.UUID | None
    locked_by_name: str | None
    locked_at: datetime | None
    lock_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The learner's progress on the lesson's words, as the card stores it
    # (storage/repositories/card_progress.py); None for a template card or a student with
    # no learner.
    progress: CardProgress | None = None


def view_of(row: Sequence[Any]) -> CardView:
    """A :class:`CardView` of a row of :func:`view_columns` (the stored sums last), read
    through SQLAlchemy."""
    return CardView._make((*row[:15], card_progress.stored_progress(row[15:21], sqlite=False)))


def view_columns(position: Any = _POSITION) -> Select[*tuple[Any, ...]]:
    """A select of a :class:`CardView`'s columns (``position``: how its place is found)."""
    return (
        select(
            Card.id,
            Card.classroom_id,
            Card.lesson_id,
            Lesson.title,
            Lesson.category,
            Card.student_id,
            Student.name,
            Card.status,
            position,
            Card.locked_by,
            _Holder.name,
            Card.locked_at,
            Card.lock_expires_at,
            Card.created_at,
            Card.updated_at,
            Card.progress_words,
            Card.progress_started,
            Card.progress_mastered,
            Card.progress_studies,
            Card.progress_correct,
            Card.progress_last_studied_at,
        )
        .join(Lesson, Lesson.id == Card.lesson_id)
        .outerjoin(Student, Student.id == Card.student_id)
        .outerjoin(_Holder, _Holder.id == Card.locked_by)
    )


# -- the board read ---------------------------------------------------------------------------
#
# A board of 3,000 cards is read as plain rows through the driver (``exec_driver_sql``, the
# way storage/repositories/progress.py reads records): SQLAlchemy's per-value result
# processing would cost a call per UUID and timestamp, 40,000 of them a board. Positions
# are ranks by ``sort_key`` in the whole column (the CTE), before the filters.


# Where each :class:`CardView` field comes from in the board's statement (its CTE ``c``,
# ``l`` the lesson, ``s`` the student, ``h`` the lock holder), in CardView order; the stored
# sums follow them. PostgreSQL's board JSON (:func:`board_json`) reads the same sources.
BOARD_SOURCES = {
    "id": "c.id",
    "classroom_id": "c.classroom_id",
    "lesson_id": "c.lesson_id",
    "lesson_title": "l.title",
    "lesson_category": "l.category",
    "student_id": "c.student_id",
    "student_name": "s.name",
    "status": "c.status",
    "position": "c.position",
    "locked_by": "c.locked_by",
    "locked_by_name": "h.name",
    "locked_at": "c.locked_at",
    "lock_expires_at": "c.lock_expires_at",
    "created_at": "c.created_at",
    "updated_at": "c.updated_at",
}
assert tuple(BOARD_SOURCES) == CardView._fields[:-1], "one source per CardView field"


def progress_source(field: str) -> str:
    """The board statement's column of a :class:`CardProgress` field (its stored sum)."""
    return f"c.{card_progress.STORED_COLUMNS[CardProgress._fields.index(field)]}"


def _board_statement(
    dialect: str,
    select: Callable[[str], str],
    after: str,
    *,
    student: bool,
    category: bool,
    status: bool,
) -> str:
    """``SELECT select(…)`` over every card of the classroom with its position in the whole
    column (the CTE), the filters that are set, then ``after``. Driver SQL (``$n`` on
    PostgreSQL, ``?`` on SQLite) with the classroom first, then the filters in this order;
    ``select`` is given the placeholder of a value bound after them (PostgreSQL's board
    JSON binds the read's instant there, :func:`board_json`)."""
    filters = [
        ("c.student_id", student),
        ("l.category", category),
        ("c.status", status),
    ]
    where = []
    number = 1
    for column, wanted in filters:
        if wanted:
            number += 1
            where.append(f"AND {column} = {'?' if dialect == 'sqlite' else f'${number}'}")
    classroom = "?" if dialect == "sqlite" else "$1"
    following = "?" if dialect == "sqlite" else f"${number + 1}"
    # Every piece of this statement is a constant of this package; values are all bound.
    return f"""
WITH c AS (
  SELECT id, classroom_id, lesson_id, student_id, status, locked_by, locked_at,
    lock_expires_at, created_at, updated_at, {card_progress.stored_sql("cards")},
    row_number() OVER (PARTITION BY status ORDER BY sort_key) - 1 AS position
  FROM cards WHERE classroom_id = {classroom}
)
SELECT {select(following)}
FROM c
JOIN lessons l ON l.id = c.lesson_id
LEFT JOIN students s ON s.id = c.student_id
LEFT JOIN users h ON h.id = c.locked_by
WHERE true {" ".join(where)}
{after}
"""  # noqa: S608


@cache
def _board_sql(dialect: str, *, student: bool, category: bool, status: bool) -> str:
    """The board's rows in :class:`CardView` order, in position order."""
    select = f"{', '.join(BOARD_SOURCES.values())}, {card_progress.stored_sql('c')}"
    return _board_statement(
        dialect,
        lambda _: select,
        "ORDER BY c.position",
        student=student,
        category=category,
        status=status,
    )


@lru_cache(maxsize=4096)  # lessons, students and holders recur on every board read
def _uuid_of_hex(value: str) -> uuid.UUID:
    return uuid.UUID(hex=value)


def _from_sqlite(row: Sequence[Any]) -> CardView:
    """SQLite keeps UUIDs as 32 hex digits and instants as :func:`sqlite_text` text."""
    (id_, classroom, lesson, title, category, student, student_name, status, position,
     holder, holder_name, locked_at, expires, created, updated) = row[:15]  # fmt: skip
    return CardView(
        uuid.UUID(hex=id_),
        _uuid_of_hex(classroom),
        _uuid_of_hex(lesson),
        title,
        category,
        None if student is None else _uuid_of_hex(student),
        student_name,
        status,
        position,
        None if holder is None else _uuid_of_hex(holder),
        holder_name,
        None if locked_at is None else from_sqlite_text(locked_at),
        None if expires is None else from_sqlite_text(expires),
        from_sqlite_text(created),
        from_sqlite_text(updated),
        card_progress.stored_progress(row[15:], sqlite=True),
    )


def _from_postgres(row: Sequence[Any]) -> CardView:
    # asyncpg gives UUIDs (a uuid.UUID subclass) and aware UTC datetimes already.
    return CardView._make((*row[:15], card_progress.stored_progress(row[15:], sqlite=False)))


@dataclass(frozen=True, slots=True)
class BoardRows:
    """A board's rows as the driver gave them. Making them cards (:meth:`views`) costs
    about 1.5 µs a row, 4.5 ms for a 3,000-card board: the caller does it where it does the
    rest of a large board's work, off the event loop (server/board/reads.py)."""

    rows: Sequence[Any]
    dialect: str

    def __len__(self) -> int:
        return len(self.rows)

    def views(self) -> list[CardView]:
        """The cards, in the rows' order."""
        read = _from_sqlite if self.dialect == "sqlite" else _from_postgres
        return [read(row) for row in self.rows]


def _filters_set(
    student_id: uuid.UUID | None, category: str | None, status: str | None
) -> dict[str, bool]:
    """Which of the board's filters are set, as the statement builders take them."""
    return {
        "student": student_id is not None,
        "category": category is not None,
        "status": status is not None,
    }


def _board_parameters(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    student_id: uuid.UUID | None,
    category: str | None,
    status: str | None,
) -> list[Any]:
    """The board statement's values: the classroom, then the filters that are set."""
    bind_uuid = uuid_binder(session)
    parameters: list[Any] = [bind_uuid(classroom_id)]
    if student_id is not None:
        parameters.append(bind_uuid(student_id))
    if category is not None:
        parameters.append(category)
    if status is not None:
        parameters.append(status)
    return parameters


async def board(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    *,
    student_id: uuid.UUID | None = None,
    category: str | None = None,
    status: str | None = None,
) -> BoardRows:
    """The classroom's cards in position order (statuses interleaved), with the board's
    filters applied; positions are those in the whole column, whatever the filters leave
    out."""
    dialect = dialect_of(session)
    sql = _board_sql(dialect, **_filters_set(student_id, category, status))
    parameters = _board_parameters(session, classroom_id, student_id, category, status)
    connection = await session.connection()
    result = await connection.exec_driver_sql(sql, tuple(parameters))
    return BoardRows(result.all(), dialect)


# A card for PostgreSQL's board JSON: a select list over BOARD_SOURCES whose columns are the
# card's fields, named and in order (``status`` and ``position`` among them), given the
# placeholder of the read's instant (which decides whether a lock still counts); the
# database makes each row a JSON object. server/board/card_json.py generates it from the
# card's one shape.
CardJson = Callable[[str], str]


@cache
def _board_json_sql(card: CardJson, *, student: bool, category: bool, status: bool) -> str:
    rows = _board_statement(
        "postgresql", card, "", student=student, category=category, status=status
    )
    return (
        f"SELECT t.status, json_agg(t ORDER BY t.position)::text FROM ({rows}) t "  # noqa: S608
        "GROUP BY t.status"
    )


async def board_json(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    card: CardJson,
    now: datetime,
    *,
    student_id: uuid.UUID | None = None,
    category: str | None = None,
    status: str | None = None,
) -> dict[str, str]:
    """PostgreSQL only: ``{status: its column's cards as a JSON array}``, built by the
    database with ``card``, for the statuses that have cards; the same cards, positions and
    filters as :func:`board`."""
    sql = _board_json_sql(card, **_filters_set(student_id, category, status))
    parameters = _board_parameters(session, classroom_id, student_id, category, status)
    parameters.append(now)
    connection = await session.connection()
    result = await connection.exec_driver_sql(sql, tuple(parameters))
    rows: Sequence[Any] = result.all()
    return {str(column): str(found) for column, found in rows}


# The statements of a single move are built once and reused with bound values: a move
# runs them while its board's lock is held, and building a select each time cost about
# 0.3 ms of Python per statement there (docs/benchmarks.md).


@cache
def _view_statement(*, lock: bool) -> Any:
    statement = view_columns().where(Card.id == bindparam("card_id"))
    return statement.with_for_update(of=Card) if lock else statement


async def view(session: AsyncSession, card_id: uuid.UUID, *, lock: bool = False) -> CardView | None:
    """One card as the board shows it; ``lock`` takes its row lock (PostgreSQL), so the
    lock sweeper cannot release and announce the same lease meanwhile."""
    row = (await session.execute(_view_statement(lock=lock), {"card_id": card_id})).first()
    if row is None:
        return None
    return view_of(row)


@cache
def _classroom_statement() -> Any:
    return (
        select(Card.classroom_id)
        .join(ClassroomTeacher, ClassroomTeacher.classroom_id == Card.classroom_id)
        .where(Card.id == bindparam("card_id"), ClassroomTeacher.user_id == bindparam("teacher_id"))
    )


async def classroom_for_teacher(
    session: AsyncSession, card_id: uuid.UUID, teacher_id: uuid.UUID
) -> uuid.UUID | None:
    """The classroom of the card if it is on a board of ``teacher_id``'s classrooms."""
    result = await session.execute(
        _classroom_statement(), {"card_id": card_id, "teacher_id": teacher_id}
    )
    found: uuid.UUID | None = result.scalar_one_or_none()
    return found


@cache
def _view_and_slot_statement() -> Any:
    """A card under its row lock and, in the same round trip, its column-to-be's size and
    the keys around the index asked for (the card left out).

    The neighbours are read off the (classroom, status, sort_key) index with an offset,
    not ranked with a window over the whole column: the subqueries are uncorrelated, so
    each runs once, and a move holds its board's lock while this runs."""
    column = (
        Card.classroom_id == bindparam("classroom_id"),
        Card.status == bindparam("status"),
        Card.id != bindparam("card_id"),
    )
    index = bindparam("index", type_=Integer)
    count = func.count()
    slot = (
        select(count.label("size"), case((count < index, count), else_=index).label("target"))
        .where(*column)
        .cte("slot")
    )
    size = select(slot.c.size).scalar_subquery()
    target = select(slot.c.target).scalar_subquery()

    def key_at_offset(offset: Any) -> Any:
        keys = select(Card.sort_key).where(*column).order_by(Card.sort_key)
        return keys.offset(offset).limit(1).scalar_subquery()

    # Offsets must not be negative: the key before the first place is none.
    before = case((target > 0, key_at_offset(select(slot.c.target - 1).scalar_subquery())))
    return (
        view_columns()
        .add_columns(size, before, key_at_offset(target))
        .where(Card.id == bindparam("card_id"))
        .with_for_update(of=Card)
    )


LAST_INDEX = 2**31 - 1  # a move index the database's integers hold; any larger means last


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a moving card lands in a column (past the end means last) and the keys of the
    cards around that place (None: no card on that side)."""

    index: int
    before: int | None
    after: int | None


async def view_for_move(
    session: AsyncSession, card_id: uuid.UUID, classroom_id: uuid.UUID, status: str, index: int
) -> tuple[CardView, Slot] | None:
    """The card, locked as by :func:`view`, and its slot at ``index`` of ``status``, in one
    query: a move makes it while its board's lock is held. Choose the key with
    :func:`key_for`."""
    row = (
        await session.execute(
            _view_and_slot_statement(),
            {
                "card_id": card_id,
                "classroom_id": classroom_id,
                "status": status,
                # Past the end means last; a negative index is the caller's to refuse.
                "index": min(max(index, 0), LAST_INDEX),
            },
        )
    ).first()
    if row is None:
        return None
    *shown, size, before, after = row
    return view_of(shown), Slot(min(max(index, 0), int(size)), before, after)


async def key_for(session: AsyncSession, card: CardView, status: str, slot: Slot) -> int:
    """A ``sort_key`` that puts ``card`` at ``slot`` of ``status``; renumbers the column
    (:func:`key_at`) when the neighbours' keys have no room between them."""
    before, after = slot.before, slot.after
    if before is None and after is None:
        return GAP
    if before is None:
        assert after is not None
        return after - GAP
    if after is None:
        return before + GAP
    if after - before > 1:
        return (before + after) // 2
    return await key_at(session, card.classroom_id, status, slot.index, moving=card.id)


async def key_at(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    status: str,
    index: int,
    *,
    moving: uuid.UUID | None = None,
) -> int:
    """A ``sort_key`` that puts a card at ``index`` of the column (``moving``, if it is in
    that column already, is left out of the count). Renumbers the column when its
    neighbours' keys have no room between them."""
    for _ in range(2):
        start = max(index - 1, 0)
        statement = (
            select(Card.sort_key)
            .where(Card.classroom_id == classroom_id, Card.status == status)
            .order_by(Card.sort_key)
            .offset(start)
            .limit(2 if index > 0 else 1)
        )
        if moving is not None:
            statement = statement.where(Card.id != moving)
        keys = [int(key) for key in (await session.execute(statement)).scalars()]
        before = keys[0] if index > 0 and keys else None
        after = keys[-1] if (index == 0 and keys) or len(keys) == 2 else None
        if before is None and after is None:
            return GAP
        if before is None:
            assert after is not None
            return after - GAP
        if after is None:
            return before + GAP
        if after - before > 1:
            return (before + after) // 2
        await _renumber(session, classroom_id, status)
    raise AssertionError("a renumbered column always has room")  # pragma: no cover


async def _renumber(session: AsyncSession, classroom_id: uuid.UUID, status: str) -> None:
    ids = (
        await session.execute(
            select(Card.id)
            .where(Card.classroom_id == classroom_id, Card.status == status)
            .order_by(Card.sort_key)
        )
    ).scalars()
    await session.execute(
        update(Card),
        [{"id": card_id, "sort_key": (rank + 1) * GAP} for rank, card_id in enumerate(ids)],
    )


async def last_key(session: AsyncSession, classroom_id: uuid.UUID, status: str) -> int:
    """A key after every card of the column: where a new card goes."""
    result = await session.execute(
        select(func.max(Card.sort_key)).where(
            Card.classroom_id == classroom_id, Card.status == status
        )
    )
    highest = result.scalar_one_or_none()
    return GAP if highest is None else int(highest) + GAP


async def exists(session: AsyncSession, lesson_id: uuid.UUID, student_id: uuid.UUID | None) -> bool:
    condition = Card.student_id.is_(None) if student_id is None else Card.student_id == student_id
    result = await session.execute(select(Card.id).where(Card.lesson_id == lesson_id, condition))
    return result.first() is not None


async def add(session: AsyncSession, **values: Any) -> None:
    """Insert a card with its progress sums stored (its student's learner's, if any)."""
    await session.execute(insert(Card).values(**values))
    if values.get("student_id") is not None:  # a template card has none: the defaults
        await card_progress.store(session, "cards", [values["id"]])


@cache
def _place_statement(*, new_key: bool) -> Any:
    values: dict[str, Any] = {"status": bindparam("status"), "updated_at": bindparam("updated_at")}
    if new_key:
        values["sort_key"] = bindparam("sort_key")
    return update(Card).where(Card.id == bindparam("card_id")).values(**values)


async def place(
    session: AsyncSession,
    card_id: uuid.UUID,
    *,
    status: str,
    sort_key: int | None,
    updated_at: datetime,
) -> None:
    """Set a card's column, key (None: keep it) and version."""
    values: dict[str, Any] = {"card_id": card_id, "status": status, "updated_at": updated_at}
    if sort_key is not None:
        values["sort_key"] = sort_key
    await session.execute(_place_statement(new_key=sort_key is not None), values)


async def set_lock(
    session: AsyncSession,
    card_id: uuid.UUID,
    *,
    holder: uuid.UUID | None,
    locked_at: datetime | None,
    expires_at: datetime | None,
) -> None:
    await session.execute(
        update(Card)
        .where(Card.id == card_id)
        .values(locked_by=holder, locked_at=locked_at, lock_expires_at=expires_at)
    )


async def remove(session: AsyncSession, card_id: uuid.UUID) -> None:
    await session.execute(delete(Card).where(Card.id == card_id))


async def of_lesson_or_student(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    *,
    lesson_id: uuid.UUID | None = None,
    student_id: uuid.UUID | None = None,
) -> list[CardView]:
    """The cards of one lesson or of one student, with their positions in their columns."""
    statement = view_columns().where(Card.classroom_id == classroom_id)
    if lesson_id is not None:
        statement = statement.where(Card.lesson_id == lesson_id)
    if student_id is not None:
        statement = statement.where(Card.student_id == student_id)
    result = await session.execute(statement.with_for_update(of=Card))
    return [view_of(row) for row in result.all()]


async def remove_many(session: AsyncSession, card_ids: list[uuid.UUID]) -> None:
    if card_ids:
        await session.execute(delete(Card).where(Card.id.in_(card_ids)))


async def release_held(
    session: AsyncSession, classroom_id: uuid.UUID, holder: uuid.UUID, now: datetime
) -> list[uuid.UUID]:
    """Clear the live locks ``holder`` has on the classroom's board; their cards' ids."""
    held = Card.classroom_id == classroom_id, Card.locked_by == holder, Card.lock_expires_at > now
    ids = list((await session.execute(select(Card.id).where(*held).order_by(Card.id))).scalars())
    if ids:
        await session.execute(
            update(Card)
            .where(Card.id.in_(ids))
            .values(locked_by=None, locked_at=None, lock_expires_at=None)
        )
    return ids


@dataclass(frozen=True, slots=True)
class ExpiredLock:
    card_id: uuid.UUID
    classroom_id: uuid.UUID
    holder: uuid.UUID
    holder_name: str


async def any_expired(session: AsyncSession, now: datetime) -> bool:
    """Whether some lease has ended: the sweeper's cheap read before it writes anything."""
    result = await session.execute(select(Card.id).where(Card.lock_expires_at <= now).limit(1))
    return result.first() is not None


async def release_expired(session: AsyncSession, now: datetime) -> list[ExpiredLock]:
    """Clear every lock whose lease ended, returning who held it.

    ``SKIP LOCKED`` lets several processes sweep at once without waiting on each other,
    and each expired lock is released (and so announced) by exactly one of them.
    """
    rows = (
        await session.execute(
            select(Card.id, Card.classroom_id, Card.locked_by, User.name)
            .join(User, User.id == Card.locked_by)
            .where(Card.lock_expires_at <= now)
            .order_by(Card.classroom_id, Card.id)
            .with_for_update(skip_locked=True, of=Card)
        )
    ).all()
    if not rows:
        return []
    await session.execute(
        update(Card)
        .where(Card.id.in_([row[0] for row in rows]))
        .values(locked_by=None, locked_at=None, lock_expires_at=None)
    )
    return [
        ExpiredLock(card_id, classroom_id, holder, name)
        for card_id, classroom_id, holder, name in rows
        if holder is not None
    ]
