"""The learning loop's reads (contract §9): a learner's assignments and a classroom's
overview. Both take their sums from storage/repositories/card_progress.py, the one owner
of the rule, in one snapshot with the rows they sum."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache

from server.auth.tokens import Principal
from server.board import rules
from server.board.schemas import ProgressOut
from server.classrooms.schemas import ClassroomRef, LessonOut, StudentOut
from server.http.errors import NotFound
from server.loop.schemas import AssignmentOut, LessonRow, OverviewOut, StudentRow
from server.words.catalog import shipped
from server.words.schemas import Word
from storage.base import isoformats
from storage.database import Database
from storage.repositories import card_progress, classrooms, roster, words
from storage.repositories.card_progress import CardProgress


class LoopService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def assignments(self, principal: Principal) -> list[AssignmentOut]:
        async with self._db.snapshot() as session:
            found = await roster.assigned(session, principal.user_id)
            sums = {
                row.card_id: row.progress
                for row in await card_progress.of_learner(session, principal.user_id)
            }
            lesson_words = await roster.words_of(session, [lesson.id for _, lesson, _, _ in found])
            deck = _deck_words()
            own = await words.by_ids(
                session, {w for ids in lesson_words.values() for w in ids if w not in deck}
            )
        known = {
            **deck,
            **{
                w.id: Word(id=w.id, term=w.term, translation=w.translation, topic=w.topic)
                for w in own
            },
        }
        return [
            AssignmentOut(
                lesson_id=str(lesson.id),
                classroom=ClassroomRef(id=str(classroom.id), name=classroom.name),
                title=lesson.title,
                category=lesson.category,
                status=status,
                words=[known[w] for w in lesson_words[lesson.id] if w in known],
                progress=ProgressOut.of(sums.get(card_id)),
            )
            for card_id, lesson, classroom, status in found
        ]

    async def overview(self, principal: Principal, classroom_id: uuid.UUID) -> OverviewOut:
        async with self._db.snapshot() as session:
            if not await classrooms.is_teacher(session, classroom_id, principal.user_id):
                raise NotFound("No such classroom among yours")
            students = await roster.students(session, classroom_id)
            lessons = await roster.lessons(session, classroom_id)
            lesson_words = await roster.words_of(session, [lesson.id for lesson in lessons])
            cards = await roster.cards_of(session, classroom_id)
            sums = {
                row.card_id: row.progress
                for row in await card_progress.of_classroom(session, classroom_id)
            }
        by_student: dict[uuid.UUID, list[CardProgress | None]] = {s.id: [] for s in students}
        by_lesson: dict[uuid.UUID, list[CardProgress | None]] = {
            lesson.id: [] for lesson in lessons
        }
        for card_id, lesson_id, student_id in cards:
            if student_id is None:
                continue  # a template card is no student's
            progress = sums.get(card_id)
            by_student.setdefault(student_id, []).append(progress)
            by_lesson.setdefault(lesson_id, []).append(progress)
        totals = [_total(by_student[s.id]) for s in students]
        lasts = isoformats([last for *_, last in totals])
        return OverviewOut(
            students=[
                StudentRow(
                    student=StudentOut.of(student),
                    lessons=len(by_student[student.id]),
                    words=total[0],
                    started=total[1],
                    mastered=total[2],
                    studies=total[3],
                    correct=total[4],
                    last_studied_at=last,
                )
                for student, total, last in zip(students, totals, lasts, strict=True)
            ],
            lessons=[
                LessonRow(
                    lesson=LessonOut.of(lesson, lesson_words[lesson.id]),
                    students=len(by_lesson[lesson.id]),
                    mastered_by=sum(_mastered(p) for p in by_lesson[lesson.id]),
                )
                for lesson in lessons
            ],
        )


def _total(found: Sequence[CardProgress | None]) -> CardProgress:
    """The sums of several cards' progress (a card without any counts zero)."""
    shown = [p for p in found if p is not None]
    lasts = [p.last_studied_at for p in shown if p.last_studied_at is not None]
    return CardProgress(
        sum(p.words for p in shown),
        sum(p.started for p in shown),
        sum(p.mastered for p in shown),
        sum(p.studies for p in shown),
        sum(p.correct for p in shown),
        max(lasts) if lasts else None,
    )


def _mastered(progress: CardProgress | None) -> int:
    return int(progress is not None and rules.all_mastered(progress.words, progress.mastered))


@cache
def _deck_words() -> dict[str, Word]:
    """The shipped decks' words by id, made on first use (nothing is read at import)."""
    return {word.id: word for deck in shipped().decks for word in deck.words}
