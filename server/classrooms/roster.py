"""Roster use cases (contract §4, §8): a classroom's students and lessons.

Each write is one unit of work (server/board/transaction.py) under the classroom's row lock,
the lock every board write takes first: its events (``student.*``, ``lesson.*``, and the
``card.deleted`` of the cards a removal takes with it) are stored with the change and
published after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.tokens import Principal
from server.board import progress as board_progress
from server.board.service import remove_cards
from server.board.stamps import BoardStamps
from server.board.transaction import BoardWork, Tx
from server.classrooms.schemas import LessonOut, StudentOut
from server.classrooms.service import locked_classroom
from server.http.errors import NotFound, ValidationFailed
from server.words.service import unknown_word_ids
from storage import events
from storage.codes import new_code
from storage.database import Database
from storage.models import Lesson, Student
from storage.repositories import cards, classrooms, roster


def student_json(student: Student) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(StudentOut.of(student))
    return data


def lesson_json(lesson: LessonOut) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(lesson)
    return data


class RosterService:
    def __init__(self, database: Database, publish: events.Publish, stamps: BoardStamps) -> None:
        self._db = database
        self._work = BoardWork(database, publish, stamps)

    # -- students -----------------------------------------------------------------------

    async def add_students(
        self, principal: Principal, classroom_id: uuid.UUID, names: Sequence[str]
    ) -> list[Student]:
        """Roster entries with no learner yet, each with its own join code; one
        ``student.added`` each."""
        async with self._work.transaction(principal) as tx:
            await locked_classroom(tx.session, principal, classroom_id)
            made = await roster.add_students(
                tx.session, classroom_id, [(name.strip(), new_code()) for name in names]
            )
            for student in made:
                tx.emit(classroom_id, "student.added", student_json(student))
        return made

    async def students(self, principal: Principal, classroom_id: uuid.UUID) -> list[Student]:
        async with self._db.reader() as session:
            await _member(session, principal, classroom_id)
            return await roster.students(session, classroom_id)

    async def rename_student(
        self, principal: Principal, student_id: uuid.UUID, name: str
    ) -> Student:
        async with self._work.transaction(principal) as tx:
            await _entry(tx, Student, student_id)
            await roster.set_student(tx.session, student_id, name=name.strip())
            student = await _fresh(tx, Student, student_id)
            tx.emit(student.classroom_id, "student.updated", student_json(student))
        return student

    async def remove_student(self, principal: Principal, student_id: uuid.UUID) -> None:
        """The student's cards go first (``card.deleted`` each), then the entry; the
        learner keeps their own progress, which is theirs, not the roster's."""
        await self._remove(principal, Student, student_id)

    # -- lessons ------------------------------------------------------------------------

    async def add_lesson(
        self,
        principal: Principal,
        classroom_id: uuid.UUID,
        *,
        title: str,
        category: str,
        word_ids: Sequence[str],
    ) -> LessonOut:
        async with self._work.transaction(principal) as tx:
            await locked_classroom(tx.session, principal, classroom_id)
            words = await _known_words(tx, classroom_id, word_ids)
            lesson = await roster.add_lesson(
                tx.session,
                classroom_id,
                title=title.strip(),
                category=category.strip(),
                word_ids=words,
            )
            shown = LessonOut.of(lesson, words)
            tx.emit(classroom_id, "lesson.added", lesson_json(shown))
        return shown

    async def lessons(self, principal: Principal, classroom_id: uuid.UUID) -> list[LessonOut]:
        async with self._db.reader() as session:
            await _member(session, principal, classroom_id)
            found = await roster.lessons(session, classroom_id)
            words = await roster.words_of(session, [lesson.id for lesson in found])
        return [LessonOut.of(lesson, words[lesson.id]) for lesson in found]

    async def update_lesson(
        self,
        principal: Principal,
        lesson_id: uuid.UUID,
        *,
        title: str | None = None,
        category: str | None = None,
        word_ids: Sequence[str] | None = None,
    ) -> LessonOut:
        async with self._work.transaction(principal) as tx:
            lesson = await _entry(tx, Lesson, lesson_id)
            changes = {
                key: value.strip()
                for key, value in (("title", title), ("category", category))
                if value is not None
            }
            await roster.set_lesson(tx.session, lesson_id, **changes)
            if word_ids is not None:
                words = await _known_words(tx, lesson.classroom_id, word_ids)
                await roster.set_words(tx.session, lesson_id, words)
            lesson = await _fresh(tx, Lesson, lesson_id)
            shown = LessonOut.of(
                lesson, (await roster.words_of(tx.session, [lesson_id]))[lesson_id]
            )
            if changes or word_ids is not None:
                tx.emit(lesson.classroom_id, "lesson.updated", lesson_json(shown))
            if word_ids is not None:  # the new words may change its cards' progress (§9)
                await settle_progress(tx, ("lesson", (lesson_id,)))
        return shown

    async def remove_lesson(self, principal: Principal, lesson_id: uuid.UUID) -> None:
        """The lesson's cards go first (``card.deleted`` each), then the lesson."""
        await self._remove(principal, Lesson, lesson_id)

    # -- either kind of entry -----------------------------------------------------------

    async def _remove(
        self, principal: Principal, model: type[roster.Entry], entry_id: uuid.UUID
    ) -> None:
        """The entry's cards go first (``card.deleted`` each), then the entry, with its
        ``student.removed`` or ``lesson.removed`` event."""
        async with self._work.transaction(principal) as tx:
            entry = await _entry(tx, model, entry_id)
            found = await cards.of_lesson_or_student(
                tx.session,
                entry.classroom_id,
                lesson_id=entry_id if model is Lesson else None,
                student_id=entry_id if model is Student else None,
            )
            await cards.remove_many(tx.session, remove_cards(tx, found))
            await roster.remove(tx.session, model, entry_id)
            tx.emit(entry.classroom_id, f"{_WHAT[model]}.removed", {"id": str(entry_id)})


async def settle_progress(tx: Tx, scope: tuple[str, Sequence[Any]]) -> None:
    """Store the sums of the cards of ``scope`` (storage/repositories/card_progress.py),
    with a ``card.progress`` for each that changed, and auto-advance (server/board/
    progress.py), with the caller as the actor."""
    await board_progress.settle(
        tx.session, scope, tx.pending.append, (tx.principal.user_id, tx.principal.name), tx.now
    )


async def _member(session: AsyncSession, principal: Principal, classroom_id: uuid.UUID) -> None:
    if not await classrooms.is_teacher(session, classroom_id, principal.user_id):
        raise NotFound("No such classroom among yours")


# What an entry is called in its events (``student.removed``) and in a 404.
_WHAT: dict[type[Student] | type[Lesson], str] = {Student: "student", Lesson: "lesson"}


async def _entry(tx: Tx, model: type[roster.Entry], entry_id: uuid.UUID) -> roster.Entry:
    """The entry, found among the caller's classrooms and read under its classroom's lock
    (else 404)."""
    classroom_id = await roster.classroom_of(tx.session, model, entry_id, tx.principal.user_id)
    if classroom_id is None:
        raise NotFound(f"No such {_WHAT[model]} in your classrooms")
    await locked_classroom(tx.session, tx.principal, classroom_id)
    return await _fresh(tx, model, entry_id)


async def _fresh(tx: Tx, model: type[roster.Entry], entry_id: uuid.UUID) -> roster.Entry:
    """The entry read again after its classroom's lock is taken: gone meanwhile is 404."""
    found = await roster.entry(tx.session, model, entry_id)
    if found is None:
        raise NotFound(f"No such {_WHAT[model]} in your classrooms")
    return found


async def _known_words(tx: Tx, classroom_id: uuid.UUID, word_ids: Sequence[str]) -> list[str]:
    """``word_ids`` in order without repeats, if each is a deck word or one of the
    classroom's words; else 400 naming each unknown one (contract §8)."""
    unknown = await unknown_word_ids(tx.session, classroom_id, word_ids)
    if unknown:
        raise ValidationFailed(
            "Each word must be a deck word or one of the classroom's words",
            details={"word_ids": unknown},
        )
    return list(dict.fromkeys(word_ids))
