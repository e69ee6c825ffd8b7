"""Queries on a classroom's roster: its students (with their own join codes) and its
lessons (with their words, one row per word in ``lesson_words``). Callers own the
transaction and, for writes, hold the classroom's row lock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import utcnow
from storage.dialects import bytewise, dialect_of
from storage.models import Card, Classroom, ClassroomTeacher, Lesson, LessonWord, Student
from storage.repositories.classroom_rows import of_classroom

# -- students ---------------------------------------------------------------------------


async def add_students(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    entries: Sequence[tuple[str, str | None]],
    learner_id: uuid.UUID | None = None,
) -> list[Student]:
    """New students, one per (name, join code), in the order given."""
    made = [
        Student(classroom_id=classroom_id, name=name, join_code=code, learner_id=learner_id)
        for name, code in entries
    ]
    session.add_all(made)
    await session.flush()
    return made


async def students(session: AsyncSession, classroom_id: uuid.UUID) -> list[Student]:
    by_name = bytewise(dialect_of(session), Student.name)
    return await of_classroom(session, Student, classroom_id, by_name, Student.id)


async def student(session: AsyncSession, student_id: uuid.UUID) -> Student | None:
    return await entry(session, Student, student_id)


async def by_join_code(session: AsyncSession, code: str) -> Student | None:
    result = await session.execute(select(Student).where(Student.join_code == code))
    return result.scalar_one_or_none()


async def of_learner(
    session: AsyncSession, classroom_id: uuid.UUID, learner_id: uuid.UUID
) -> Student | None:
    result = await session.execute(
        select(Student).where(
            Student.classroom_id == classroom_id, Student.learner_id == learner_id
        )
    )
    return result.scalar_one_or_none()


async def learner_classrooms(
    session: AsyncSession, learner_id: uuid.UUID
) -> list[tuple[Classroom, Student]]:
    """The classrooms ``learner_id`` is a student of, with their roster entry."""
    result = await session.execute(
        select(Classroom, Student)
        .join(Student, Student.classroom_id == Classroom.id)
        .where(Student.learner_id == learner_id)
        .order_by(Student.created_at, Classroom.id)
    )
    return [(classroom, entry) for classroom, entry in result.all()]


async def set_student(
    session: AsyncSession,
    student_id: uuid.UUID,
    **values: str | uuid.UUID | None,
) -> None:
    """Set some of a student's ``name``, ``learner_id`` and ``join_code``."""
    await session.execute(update(Student).where(Student.id == student_id).values(**values))


# -- lessons ----------------------------------------------------------------------------


async def add_lesson(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    *,
    title: str,
    category: str,
    word_ids: Sequence[str],
) -> Lesson:
    lesson = Lesson(classroom_id=classroom_id, title=title, category=category, created_at=utcnow())
    session.add(lesson)
    await session.flush()
    await set_words(session, lesson.id, word_ids)
    return lesson


async def set_words(session: AsyncSession, lesson_id: uuid.UUID, word_ids: Sequence[str]) -> None:
    """Make ``word_ids`` (distinct, in order) the lesson's words."""
    await session.execute(delete(LessonWord).where(LessonWord.lesson_id == lesson_id))
    if word_ids:
        await session.execute(
            insert(LessonWord),
            [
                {"lesson_id": lesson_id, "word_id": word_id, "position": position}
                for position, word_id in enumerate(word_ids)
            ],
        )


async def words_of(
    session: AsyncSession, lesson_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Each lesson's word ids in order (every lesson asked for has an entry)."""
    found: dict[uuid.UUID, list[str]] = {lesson_id: [] for lesson_id in lesson_ids}
    if not lesson_ids:
        return found
    result = await session.execute(
        select(LessonWord.lesson_id, LessonWord.word_id)
        .where(LessonWord.lesson_id.in_(lesson_ids))
        .order_by(LessonWord.lesson_id, LessonWord.position)
    )
    for lesson_id, word_id in result.all():
        found[lesson_id].append(word_id)
    return found


async def lessons(session: AsyncSession, classroom_id: uuid.UUID) -> list[Lesson]:
    return await of_classroom(session, Lesson, classroom_id, Lesson.created_at, Lesson.id)


async def set_lesson(session: AsyncSession, lesson_id: uuid.UUID, **values: str) -> None:
    if values:
        await session.execute(update(Lesson).where(Lesson.id == lesson_id).values(**values))


# -- either kind of entry ----------------------------------------------------------------

# A roster entry: a student or a lesson (constrained, so each table is type-checked).
Entry = TypeVar("Entry", Student, Lesson)


async def entry(session: AsyncSession, model: type[Entry], entry_id: uuid.UUID) -> Entry | None:
    """The entry as the database has it now (``populate_existing``: read under a lock)."""
    return await session.get(model, entry_id, populate_existing=True)


async def classroom_of(
    session: AsyncSession, model: type[Entry], entry_id: uuid.UUID, teacher_id: uuid.UUID
) -> uuid.UUID | None:
    """The entry's classroom if ``teacher_id`` teaches it (no lock taken)."""
    result = await session.execute(
        select(model.classroom_id)
        .join(ClassroomTeacher, ClassroomTeacher.classroom_id == model.classroom_id)
        .where(model.id == entry_id, ClassroomTeacher.user_id == teacher_id)
    )
    return result.scalar_one_or_none()


async def remove(session: AsyncSession, model: type[Entry], entry_id: uuid.UUID) -> None:
    await session.execute(delete(model).where(model.id == entry_id))


# -- a learner's assignments (contract §9) -------------------------------------------------


async def assigned(
    session: AsyncSession, learner_id: uuid.UUID
) -> list[tuple[uuid.UUID, Lesson, Classroom, str]]:
    """The cards of the learner's student entries, as (card id, lesson, classroom, status),
    in the order the learner joined the classrooms, then the lessons' order."""
    result = await session.execute(
        select(Card.id, Lesson, Classroom, Card.status)
        .join(Student, Student.id == Card.student_id)
        .join(Lesson, Lesson.id == Card.lesson_id)
        .join(Classroom, Classroom.id == Card.classroom_id)
        .where(Student.learner_id == learner_id)
        .order_by(Student.created_at, Classroom.id, Lesson.created_at, Lesson.id)
    )
    return [(card_id, lesson, classroom, status) for card_id, lesson, classroom, status in result]


async def cards_of(
    session: AsyncSession, classroom_id: uuid.UUID
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]]:
    """The classroom's cards as (card id, lesson id, student id)."""
    result = await session.execute(
        select(Card.id, Card.lesson_id, Card.student_id).where(Card.classroom_id == classroom_id)
    )
    return [(card_id, lesson_id, student_id) for card_id, lesson_id, student_id in result]
