"""A card's learner progress (contract §9): the one owner of the sums.

A card of a student who has a learner shows that learner's records on the lesson's words:
how many words, how many have a record (``started``), how many are mastered, the sums of
study and correct counts, the latest study. A template card, or a student with no learner,
has none (None). Every reader of the sums (the board read, single cards, a learner's
assignments, a classroom's overview, the writes that announce changes) takes them from
:func:`aggregate_sql`, in one statement per call, so the rule is written once. The SQL is
the same on both backends but for its placeholders (tests/storage/test_differential.py
runs it on both).

The board read joins the aggregate into its own statement (storage/repositories/cards.py);
the others call the functions below, which pick cards by a *scope*.
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


# The scopes a caller picks cards by: the condition on ``c`` (cards) or ``s`` (students),
# with ``{p1}``, ``{p2}`` (``{list1}``, ``{list2}`` when a list) standing for the
# parameters in order.
_SCOPES = {
    "classroom": "c.classroom_id = {p1}",
    "cards": "c.id IN ({list1})",
    "learner": "s.learner_id = {p1}",
    "lesson": "c.lesson_id = {p1}",
    "student": "c.student_id = {p1}",
    # The cards a learner's write on some words may change: their lessons hold one of them.
    "learner_words": "s.learner_id = {p1} AND c.lesson_id IN "
    "(SELECT lesson_id FROM lesson_words WHERE word_id IN ({list2}))",
}


def aggregate_sql(dialect: str, scope: str, *, first: int = 1) -> str:
    """Driver SQL: one row per card of ``scope`` — ``card_id``, ``classroom_id``,
    ``learner`` (null: no progress), ``words``, ``started``, ``mastered``, ``studies``,
    ``correct``, ``last_studied_at``, and the card's ``created_at``. Parameters are
    numbered from ``first`` on PostgreSQL (``$n``; a list is an array) and positional on
    SQLite (``?``; a list is JSON text).

    Words join only for a student with a learner, so a template card or a learner-less
    student costs one row, not one per word. ``mastered`` is 0/1 on SQLite, a boolean on
    PostgreSQL; ``CASE WHEN`` reads both."""

    def place(number: int, *, listed: bool = False) -> str:
        if dialect == "sqlite":
            return "SELECT value FROM json_each(?)" if listed else "?"
        index = first + number - 1
        return (
            f"SELECT unnest(CAST(${index} AS {'uuid' if number == 1 else 'varchar'}[]))"
            if listed
            else f"${index}"
        )

    condition = _SCOPES[scope].format_map(
        {
            "p1": place(1),
            "p2": place(2),
            "list1": place(1, listed=True),
            "list2": place(2, listed=True),
        }
    )
    return _aggregate(condition)


@cache
def _aggregate(condition: str) -> str:
    """The cards of the scope (``sc``, the condition written once); the sums of each
    (lesson, learner) pair over the records the learners have of the lessons' words
    (``sums``: the records are found by learner, through the primary key, then joined to
    the lessons' words, so only records count and never a word without one); and each
    lesson's word count (``counts``). Summing per card over every (card, word) row instead
    cost a 3,000-card board about twice the database time (docs/benchmarks.md)."""
    # Every piece of this statement is a constant of this module; values are all bound.
    return f"""
WITH sc AS (
  SELECT c.id, c.classroom_id, c.lesson_id, c.created_at, s.learner_id
  FROM cards c LEFT JOIN students s ON s.id = c.student_id
  WHERE {condition}
), sums AS (
  SELECT lw.lesson_id, p.user_id, count(*) AS started,
    sum(CASE WHEN p.mastered THEN 1 ELSE 0 END) AS mastered,
    sum(p.study_count) AS studies, sum(p.correct_count) AS correct,
    max(p.last_studied_at) AS last_studied_at
  FROM progress p JOIN lesson_words lw ON lw.word_id = p.word_id
  WHERE p.user_id IN (SELECT learner_id FROM sc) AND lw.lesson_id IN (SELECT lesson_id FROM sc)
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
  sc.created_at AS created_at
FROM sc
LEFT JOIN counts n ON n.lesson_id = sc.lesson_id
LEFT JOIN sums a ON a.lesson_id = sc.lesson_id AND a.user_id = sc.learner_id
"""  # noqa: S608


def progress_of(columns: Sequence[Any], *, sqlite: bool) -> CardProgress | None:
    """The :class:`CardProgress` of the aggregate's columns from ``learner`` on (None when
    there is no learner, or when the row joined none: its ``learner`` is null)."""
    learner, words, started, mastered, studies, correct, last = columns
    if learner is None:
        return None
    if sqlite and last is not None:
        last = from_sqlite_text(last)
    return CardProgress(int(words), int(started), int(mastered), int(studies), int(correct), last)


async def _sums(session: AsyncSession, scope: str, *parameters: Any) -> list[CardSums]:
    dialect = dialect_of(session)
    sqlite = dialect == "sqlite"
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
    connection = await session.connection()
    result = await connection.exec_driver_sql(aggregate_sql(dialect, scope), tuple(bound))
    found = []
    for row in result:
        card_id, classroom_id, *rest, created = tuple(row)
        if sqlite:
            card_id, classroom_id = uuid.UUID(hex=card_id), uuid.UUID(hex=classroom_id)
        progress = progress_of(rest, sqlite=sqlite)
        # SQLite's instants are text in time order: compared as they are, within one run.
        found.append(CardSums(card_id, classroom_id, progress, (created, str(card_id))))
    return found


async def of_cards(
    session: AsyncSession, card_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CardProgress | None]:
    """Each card's progress (cards that do not exist are left out)."""
    if not card_ids:
        return {}
    rows = await _sums(session, "cards", list(card_ids))
    return {row.card_id: row.progress for row in rows}


async def of_classroom(session: AsyncSession, classroom_id: uuid.UUID) -> list[CardSums]:
    return await _sums(session, "classroom", classroom_id)


async def of_learner(session: AsyncSession, learner_id: uuid.UUID) -> list[CardSums]:
    """The cards of every student entry of the learner."""
    return await _sums(session, "learner", learner_id)


async def of_lesson(session: AsyncSession, lesson_id: uuid.UUID) -> list[CardSums]:
    return await _sums(session, "lesson", lesson_id)


async def of_student(session: AsyncSession, student_id: uuid.UUID) -> list[CardSums]:
    return await _sums(session, "student", student_id)


async def of_learner_words(
    session: AsyncSession, learner_id: uuid.UUID, word_ids: Sequence[str]
) -> list[CardSums]:
    """The learner's cards whose lessons hold one of ``word_ids``: those a write on them
    may change."""
    if not word_ids:
        return []
    return await _sums(session, "learner_words", learner_id, sorted(set(word_ids)))
