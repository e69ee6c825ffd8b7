"""A card's learner progress (contract §9): the one owner of the sums.

A card of a student who has a learner shows that learner's records on the lesson's words:
how many words, how many have a record (``started``), how many are mastered, the sums of
study and correct counts, the latest study. A template card, or a student with no learner,
has none (None). :func:`aggregate_sql` computes them, in one statement per call, so the
rule is written once. The SQL is the same on both backends but for its placeholders
(tests/storage/test_differential.py runs it on both).

Each card also keeps its sums in its own row (the ``progress_*`` columns of ``cards``):
the aggregate's stored result, so the board read, a single card and a move read plain
columns. Every write that changes what the sums are computed from (a learner's records, a
lesson's words, a student's learner, a new card) calls :func:`store` for the cards it may
have changed, in its own transaction: one statement that runs the aggregate, writes the
rows whose stored sums differ, and returns those (what server/board/progress.py announces
as ``card.progress``). Migration 0010 filled the columns with :func:`store_sql` too, and
:func:`drifted` (the differential test's check after every operation) finds any card whose
stored sums are not what the aggregate computes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import from_sqlite_text
from storage.dialects import dialect_of, uuid_binder


class CardProgress(NamedTuple):
    """The sums over a lesson's words of one learner's records."""

    words: int
    started: int
    mastered: int
    studies: int
    correct: int
    last_studied_at: datetime | None


class CardSums(NamedTuple):
    """A card's progress (None: template card or no learner) with what a write needs to
    know of the card to announce it. ``order`` sorts a board's cards by creation (then
    id): the order a write announces them in, the same on every backend."""

    card_id: uuid.UUID
    classroom_id: uuid.UUID
    progress: CardProgress | None
    order: tuple[Any, str] = (None, "")
    status: str = ""
    lock_expires_at: datetime | None = None  # a lease counts while it has not expired


# The scopes a caller picks cards by: the condition on ``c`` (cards) or ``s`` (students),
# with ``{p1}``, ``{p2}`` (``{list1}``, ``{list2}`` when a list) standing for the
# parameters in order.
_SCOPES = {
    "classroom": "c.classroom_id = {p1}",
    "cards": "c.id IN ({list1})",
    "learner": "s.learner_id = {p1}",
    "lesson": "c.lesson_id = {p1}",
    "student": "c.student_id = {p1}",
    "all": "true",
    # The cards a learner's write on some words may change: their lessons hold one of them.
    "learner_words": "s.learner_id = {p1} AND c.lesson_id IN "
    "(SELECT lesson_id FROM lesson_words WHERE word_id IN ({list2}))",
}


def _place(
    dialect: str, first: int, names: tuple[str, ...] | None, number: int, *, listed: bool = False
) -> str:
    """A scope's parameter ``number`` (from 1): ``$first + number - 1`` on PostgreSQL, or the
    SQL ``names`` give (a PL/pgSQL function's variables); ``?`` on SQLite. ``listed``: the
    list's elements, for an ``IN``."""
    if dialect == "sqlite":
        return "SELECT value FROM json_each(?)" if listed else "?"
    value = names[number - 1] if names else f"${first + number - 1}"
    if not listed:
        return value
    return f"SELECT unnest(CAST({value} AS {'uuid' if number == 1 else 'varchar'}[]))"


def _condition(dialect: str, scope: str, first: int, names: tuple[str, ...] | None = None) -> str:
    """The scope's condition, its parameters as :func:`_place` writes them."""
    return _SCOPES[scope].format_map(
        {
            "p1": _place(dialect, first, names, 1),
            "p2": _place(dialect, first, names, 2),
            "list1": _place(dialect, first, names, 1, listed=True),
            "list2": _place(dialect, first, names, 2, listed=True),
        }
    )


def aggregate_sql(dialect: str, scope: str, *, first: int = 1) -> str:
    """Driver SQL: one row per card of ``scope`` — ``card_id``, ``classroom_id``,
    ``learner`` (null: no progress), ``words``, ``started``, ``mastered``, ``studies``,
    ``correct``, ``last_studied_at``, and the card's ``created_at``, ``status`` and
    ``lock_expires_at`` (what auto-advance judges). Parameters are
    numbered from ``first`` on PostgreSQL (``$n``; a list is an array) and positional on
    SQLite (``?``; a list is JSON text).

    Words join only for a student with a learner, so a template card or a learner-less
    student costs one row, not one per word. ``mastered`` is 0/1 on SQLite, a boolean on
    PostgreSQL; ``CASE WHEN`` reads both."""

    return _aggregate(_condition(dialect, scope, first), _learners(dialect, scope, first))


# The scopes whose first parameter is the one learner whose cards they are.
_OF_A_LEARNER = frozenset({"learner", "learner_words"})
_SCOPE_LEARNERS = "SELECT learner_id FROM sc"


def _learners(dialect: str, scope: str, first: int, names: tuple[str, ...] | None = None) -> str:
    """The learners whose records the scope's sums read, for an ``IN``: the scope's cards'
    (``sc``), or on PostgreSQL for a scope of one learner that learner's parameter itself,
    so the records are found by the primary key's first column whatever the planner
    makes of ``sc``. Through ``sc``, it joined one connection in three of bench/loop.py's
    to the lessons' words by word alone, reading every learner's record of each word:
    2.5 times the database's CPU for a student's answer (docs/benchmarks.md). (SQLite's
    parameters are positional: there it stays ``sc``.)"""
    if dialect == "sqlite" or scope not in _OF_A_LEARNER:
        return _SCOPE_LEARNERS
    return _place(dialect, first, names, 1)


@cache
def _aggregate(condition: str, learners: str = _SCOPE_LEARNERS) -> str:
    """The cards of the scope (``sc``, the condition written once); the sums of each
    (lesson, learner) pair over the records the learners have of the lessons' words
    (``sums``: the records are found by learner, through the primary key, then joined to
    the lessons' words, so only records count and never a word without one); and each
    lesson's word count (``counts``). Summing per card over every (card, word) row instead
    cost a 3,000-card board about twice the database time (docs/benchmarks.md)."""
    # Every piece of this statement is a constant of this module; values are all bound.
    return f"""
WITH sc AS (
  SELECT c.id, c.classroom_id, c.lesson_id, c.created_at, c.status, c.lock_expires_at,
    s.learner_id
  FROM cards c LEFT JOIN students s ON s.id = c.student_id
  WHERE {condition}
), sums AS (
  SELECT lw.lesson_id, p.user_id, count(*) AS started,
    sum(CASE WHEN p.mastered THEN 1 ELSE 0 END) AS mastered,
    sum(p.study_count) AS studies, sum(p.correct_count) AS correct,
    max(p.last_studied_at) AS last_studied_at
  FROM progress p JOIN lesson_words lw ON lw.word_id = p.word_id
  WHERE p.user_id IN ({learners}) AND lw.lesson_id IN (SELECT lesson_id FROM sc)
  GROUP BY lw.lesson_id, p.user_id
), counts AS (
  SELECT lesson_id, count(*) AS words FROM lesson_words
  WHERE lesson_id IN (SELECT lesson_id FROM sc)
  GROUP BY lesson_id
)
SELECT sc.id AS card_id, sc.classroom_id AS classroom_id, sc.learner_id AS learner,
  coalesce(n.words, 0) AS words, coalesce(a.started, 0) AS started,
  coalesce(a.mastered, 0) AS mastered, coalesce(a.studies, 0) AS studies,
  coalesce(a.correct, 0) AS correct, a.last_studied_at AS last_studied_at,
  sc.created_at AS created_at, sc.status AS status, sc.lock_expires_at AS lock_expires_at
FROM sc
LEFT JOIN counts n ON n.lesson_id = sc.lesson_id
LEFT JOIN sums a ON a.lesson_id = sc.lesson_id AND a.user_id = sc.learner_id
"""  # noqa: S608


# The stored sums, in :class:`CardProgress` order: ``progress_words`` null is no progress.
STORED_COLUMNS = (
    "progress_words",
    "progress_started",
    "progress_mastered",
    "progress_studies",
    "progress_correct",
    "progress_last_studied_at",
)


# The aggregate's columns that the stored ones hold, in the same order.
COMPUTED_COLUMNS = ("words", "started", "mastered", "studies", "correct", "last_studied_at")


def stored_sql(table: str) -> str:
    """The stored sums' columns of ``table`` (an alias of ``cards``), for a select list."""
    return ", ".join(f"{table}.{column}" for column in STORED_COLUMNS)


def stored_progress(columns: Sequence[Any], *, sqlite: bool) -> CardProgress | None:
    """The :class:`CardProgress` of the stored columns (None when ``progress_words`` is
    null); ``sqlite``: read through the driver, instants as SQLite keeps them."""
    words, started, mastered, studies, correct, last = columns
    if words is None:
        return None
    if sqlite and last is not None:
        last = from_sqlite_text(last)
    return CardProgress(int(words), int(started), int(mastered), int(studies), int(correct), last)


def store_sql(dialect: str, scope: str, *, names: tuple[str, ...] | None = None) -> str:
    """Driver SQL: write the aggregate's sums into the cards of ``scope`` whose stored
    sums differ, returning those cards as ``card_id``, ``classroom_id``, the stored
    columns, ``created_at``, ``status``, ``lock_expires_at``. Parameters as
    :func:`aggregate_sql`'s, or (PostgreSQL) the SQL ``names`` given for them. It reads
    the records as its statement's snapshot sees them: callers hold the locks that keep
    the sums' inputs from changing under it (the cards' classrooms, or the learner's row
    for a learner's own write)."""
    return _store(
        dialect, _condition(dialect, scope, 1, names), _learners(dialect, scope, 1, names)
    )


def drifted_sql(dialect: str) -> str:
    """Driver SQL: the ids of the cards whose stored sums are not what the aggregate
    computes now (none, whenever every write has stored what it changed)."""
    return (
        f"SELECT cards.id FROM cards JOIN ({_computed(_condition(dialect, 'all', 1))}) a "  # noqa: S608
        f"ON a.card_id = cards.id WHERE {_differs(dialect)} ORDER BY cards.id"
    )


def _computed(condition: str, learners: str = _SCOPE_LEARNERS) -> str:
    """The aggregate's sums of the scope as the stored columns hold them."""
    return (
        "SELECT card_id, CASE WHEN learner IS NULL THEN NULL ELSE words END AS words, "  # noqa: S608
        "started, mastered, studies, correct, last_studied_at "
        f"FROM ({_aggregate(condition, learners)}) x"
    )


def _differs(dialect: str) -> str:
    """Some stored column of ``cards`` is not the one of ``a`` (nulls compared as values)."""
    distinct = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    return (
        "("
        + " OR ".join(
            f"cards.{column} {distinct} a.{value}"
            for column, value in zip(STORED_COLUMNS, COMPUTED_COLUMNS, strict=True)
        )
        + ")"
    )


@cache
def _store(dialect: str, condition: str, learners: str) -> str:
    assignments = ", ".join(
        f"{column} = a.{value}"
        for column, value in zip(STORED_COLUMNS, COMPUTED_COLUMNS, strict=True)
    )
    # Every piece of this statement is a constant of this module; values are all bound.
    # SQLite's RETURNING names only the updated table: its columns hold the new sums.
    return (
        f"UPDATE cards SET {assignments} FROM ({_computed(condition, learners)}) a "  # noqa: S608
        f"WHERE cards.id = a.card_id AND {_differs(dialect)} "
        f"RETURNING cards.id, cards.classroom_id, {stored_sql('cards')}, cards.created_at, "
        "cards.status, cards.lock_expires_at"
    )


def progress_of(columns: Sequence[Any], *, sqlite: bool) -> CardProgress | None:
    """The :class:`CardProgress` of the aggregate's columns from ``learner`` on (None when
    there is no learner, or when the row joined none: its ``learner`` is null)."""
    learner, *sums = columns
    return None if learner is None else stored_progress(sums, sqlite=sqlite)


def _bound(session: AsyncSession, parameters: Sequence[Any]) -> tuple[Any, ...]:
    sqlite = dialect_of(session) == "sqlite"
    bind_uuid = uuid_binder(session)
    bound: list[Any] = []
    for value in parameters:
        if isinstance(value, uuid.UUID):
            bound.append(bind_uuid(value))
        elif isinstance(value, list):
            items = [bind_uuid(v) if isinstance(v, uuid.UUID) else v for v in value]
            bound.append(msgspec.json.encode(items).decode() if sqlite else items)
        else:
            bound.append(value)
    return tuple(bound)


async def _run(
    session: AsyncSession, sql: str, parameters: Sequence[Any], *, stored: bool
) -> list[CardSums]:
    """The rows of the aggregate (``stored`` false) or of the store statement."""
    sqlite = dialect_of(session) == "sqlite"
    connection = await session.connection()
    result = await connection.exec_driver_sql(sql, _bound(session, parameters))
    found = []
    for row in result:
        card_id, classroom_id, *rest, created, status, expires = tuple(row)
        if sqlite:
            card_id, classroom_id = uuid.UUID(hex=card_id), uuid.UUID(hex=classroom_id)
            expires = None if expires is None else from_sqlite_text(expires)
        progress = (stored_progress if stored else progress_of)(rest, sqlite=sqlite)
        # SQLite's instants are text in time order: compared as they are, within one run.
        order = (created, str(card_id))
        found.append(CardSums(card_id, classroom_id, progress, order, status, expires))
    return found


async def _sums(session: AsyncSession, scope: str, *parameters: Any) -> list[CardSums]:
    sql = aggregate_sql(dialect_of(session), scope)
    return await _run(session, sql, parameters, stored=False)


async def store(session: AsyncSession, scope: str, *parameters: Any) -> list[CardSums]:
    """Store the sums of the cards of ``scope`` (a key of the scopes above, with its
    parameters) that changed; those cards with their new sums, in the order their
    board announces them (:attr:`CardSums.order`)."""
    if any(isinstance(value, list) and not value for value in parameters):
        return []
    if scope == "learner_words":
        learner, words = parameters
        parameters = (learner, sorted(set(words)))
    sql = store_sql(dialect_of(session), scope)
    changed = await _run(session, sql, parameters, stored=True)
    return sorted(changed, key=lambda sums: sums.order)


async def drifted(session: AsyncSession) -> list[uuid.UUID]:
    """The cards whose stored sums differ from the computed ones (see :func:`drifted_sql`)."""
    connection = await session.connection()
    result = await connection.exec_driver_sql(drifted_sql(dialect_of(session)))
    return [value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value) for (value,) in result]


async def of_classroom(session: AsyncSession, classroom_id: uuid.UUID) -> list[CardSums]:
    return await _sums(session, "classroom", classroom_id)


async def of_learner(session: AsyncSession, learner_id: uuid.UUID) -> list[CardSums]:
    """The cards of every student entry of the learner."""
    return await _sums(session, "learner", learner_id)
