"""Queries on classrooms, their teachers, students and lessons."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Uuid, bindparam, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialects import bytewise, dialect_of
from storage.models import ChannelHead, Classroom, ClassroomTeacher, Lesson, Student, User


async def is_teacher(session: AsyncSession, classroom_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        select(ClassroomTeacher.user_id).where(
            ClassroomTeacher.classroom_id == classroom_id, ClassroomTeacher.user_id == user_id
        )
    )
    return result.first() is not None


async def create(
    session: AsyncSession, *, name: str, teacher_id: uuid.UUID, codes: tuple[str, str]
) -> Classroom:
    classroom = Classroom(name=name, teacher_join_code=codes[0], student_join_code=codes[1])
    session.add(classroom)
    await session.flush()
    session.add(ClassroomTeacher(classroom_id=classroom.id, user_id=teacher_id, owner=True))
    await session.flush()
    return classroom


async def of_teacher(session: AsyncSession, teacher_id: uuid.UUID) -> list[Classroom]:
    """The teacher's classrooms, earliest joined first."""
    result = await session.execute(
        select(Classroom)
        .join(ClassroomTeacher, ClassroomTeacher.classroom_id == Classroom.id)
        .where(ClassroomTeacher.user_id == teacher_id)
        .order_by(ClassroomTeacher.joined_at, Classroom.id)
    )
    return list(result.scalars())


@cache
def _lock_statement() -> Any:
    return (
        select(Classroom.id)
        .join(ClassroomTeacher, ClassroomTeacher.classroom_id == Classroom.id)
        .where(
            Classroom.id == bindparam("classroom_id"),
            ClassroomTeacher.user_id == bindparam("teacher_id"),
        )
        .with_for_update(of=Classroom)
    )


async def lock_for_teacher(
    session: AsyncSession, classroom_id: uuid.UUID, teacher_id: uuid.UUID
) -> bool:
    """Take the classroom's row lock if ``teacher_id`` teaches it; whether they do. Every
    board write takes it first, so writes to one board queue up and positions stay dense.
    Built once: a move holds the lock from here to its commit (see cards.py)."""
    result = await session.execute(
        _lock_statement(), {"classroom_id": classroom_id, "teacher_id": teacher_id}
    )
    return result.first() is not None


async def lock(session: AsyncSession, classroom_id: uuid.UUID) -> Classroom | None:
    """The classroom, under its row lock (the lock every board write takes first)."""
    result = await session.execute(
        select(Classroom).where(Classroom.id == classroom_id).with_for_update()
    )
    return result.scalar_one_or_none()


async def by_code(
    session: AsyncSession, *, teacher_code: str | None = None, student_code: str | None = None
) -> Classroom | None:
    statement = select(Classroom)
    if teacher_code is not None:
        statement = statement.where(Classroom.teacher_join_code == teacher_code)
    else:
        statement = statement.where(Classroom.student_join_code == student_code)
    return (await session.execute(statement)).scalar_one_or_none()


async def add_teacher(
    session: AsyncSession, classroom_id: uuid.UUID, teacher_id: uuid.UUID
) -> None:
    """Make ``teacher_id`` a co-teacher; already one changes nothing."""
    if await is_teacher(session, classroom_id, teacher_id):
        return
    try:
        async with session.begin_nested():
            session.add(ClassroomTeacher(classroom_id=classroom_id, user_id=teacher_id))
    except IntegrityError:
        pass  # joined concurrently: the membership is there either way


@dataclass(frozen=True, slots=True)
class Member:
    id: uuid.UUID
    name: str
    email: str
    owner: bool


async def teachers(session: AsyncSession, classroom_id: uuid.UUID) -> list[Member]:
    """The classroom's teachers, the owner first, then by when they joined."""
    result = await session.execute(
        select(User.id, User.name, User.email, ClassroomTeacher.owner)
        .join(ClassroomTeacher, ClassroomTeacher.user_id == User.id)
        .where(ClassroomTeacher.classroom_id == classroom_id)
        .order_by(ClassroomTeacher.owner.desc(), ClassroomTeacher.joined_at, User.id)
    )
    return [Member(i, n, e, bool(owner)) for i, n, e, owner in result.all()]


async def owner_of(session: AsyncSession, classroom_id: uuid.UUID) -> uuid.UUID | None:
    result = await session.execute(
        select(ClassroomTeacher.user_id).where(
            ClassroomTeacher.classroom_id == classroom_id, ClassroomTeacher.owner.is_(True)
        )
    )
    return result.scalar_one_or_none()


async def remove_teacher(session: AsyncSession, classroom: Classroom, user_id: uuid.UUID) -> bool:
    """End ``user_id``'s membership and bump the classroom's membership epoch; whether
    they were a member."""
    result = await session.execute(
        delete(ClassroomTeacher).where(
            ClassroomTeacher.classroom_id == classroom.id, ClassroomTeacher.user_id == user_id
        )
    )
    if not getattr(result, "rowcount", 0):
        return False
    await session.execute(
        update(Classroom)
        .where(Classroom.id == classroom.id)
        .values(members_epoch=Classroom.members_epoch + 1)
    )
    await session.refresh(classroom)
    return True


async def students(session: AsyncSession, classroom_id: uuid.UUID) -> list[Student]:
    result = await session.execute(
        select(Student)
        .where(Student.classroom_id == classroom_id)
        .order_by(bytewise(dialect_of(session), Student.name), Student.id)
    )
    return list(result.scalars())


async def student_for_teacher(
    session: AsyncSession, student_id: uuid.UUID, teacher_id: uuid.UUID
) -> Student | None:
    result = await session.execute(
        select(Student)
        .join(ClassroomTeacher, ClassroomTeacher.classroom_id == Student.classroom_id)
        .where(Student.id == student_id, ClassroomTeacher.user_id == teacher_id)
    )
    return result.scalar_one_or_none()


async def lesson_for_teacher(
    session: AsyncSession, lesson_id: uuid.UUID, teacher_id: uuid.UUID
) -> Lesson | None:
    result = await session.execute(
        select(Lesson)
        .join(ClassroomTeacher, ClassroomTeacher.classroom_id == Lesson.classroom_id)
        .where(Lesson.id == lesson_id, ClassroomTeacher.user_id == teacher_id)
    )
    return result.scalar_one_or_none()


async def categories(session: AsyncSession, classroom_id: uuid.UUID) -> list[str]:
    result = await session.execute(
        select(Lesson.category)
        .where(Lesson.classroom_id == classroom_id)
        .group_by(Lesson.category)  # DISTINCT would refuse the ORDER BY's collation
        .order_by(bytewise(dialect_of(session), Lesson.category))
    )
    return list(result.scalars())


@dataclass(frozen=True, slots=True)
class BoardStamp:
    """What decides whether a board read may answer 304 or from the cache."""

    seq: int
    students: int
    lessons: int
    # The classroom's membership epoch: a process's memory that a teacher teaches it
    # counts only for the epoch it was confirmed in (server/board/reads.py).
    epoch: int = 0


async def board_stamp(
    session: AsyncSession, classroom_id: uuid.UUID, teacher_id: uuid.UUID, channel: str
) -> BoardStamp | None:
    """Membership, the board's event seq and its roster counts in one round trip; None
    when ``teacher_id`` does not teach the classroom (the ETag path's only query)."""
    row = (
        await session.execute(
            select(
                select(ChannelHead.seq).where(ChannelHead.channel == channel).scalar_subquery(),
                select(func.count()).where(Student.classroom_id == classroom_id).scalar_subquery(),
                select(func.count()).where(Lesson.classroom_id == classroom_id).scalar_subquery(),
                Classroom.members_epoch,
            )
            .select_from(ClassroomTeacher)
            .join(Classroom, Classroom.id == ClassroomTeacher.classroom_id)
            .where(
                ClassroomTeacher.classroom_id == classroom_id,
                ClassroomTeacher.user_id == teacher_id,
            )
        )
    ).first()
    if row is None:
        return None
    seq, students_count, lessons_count, epoch = row
    return BoardStamp(int(seq or 0), int(students_count), int(lessons_count), int(epoch))


async def lock_of_learner(
    session: AsyncSession, learner_id: uuid.UUID, *, exclusive: bool = False
) -> list[uuid.UUID]:
    """Lock every classroom ``learner_id`` is a student of, in id order (one order for
    everyone: no deadlocks), and the learner's own row; return the classrooms' ids.

    A learner's progress write takes them before it reads which cards its words are on:
    the lesson edits, claims and card creations that change that mapping hold the
    classroom's row lock (``FOR UPDATE``, as every board write), so the write sees them
    committed or they see the write committed. A write takes the classrooms ``FOR SHARE``,
    so learners of one classroom do not queue behind each other, and its learner's row, so
    one learner's writes do (each reads the sums the one before left). A write that must
    move a card (auto-advance) needs the board's own lock: ``exclusive`` takes the
    classrooms ``FOR UPDATE`` instead (server/progress/service.py retries with it).

    The learner's row is locked for a learner who is no student too: every write that
    may create a learner's record holds it, so a write that found a word absent under it
    is the one that creates it (no other request creates it meanwhile)."""
    if dialect_of(session) == "sqlite":  # its writers are serialised already
        entries = select(Student.classroom_id).where(Student.learner_id == learner_id)
        found = await session.execute(select(Classroom.id).where(Classroom.id.in_(entries)))
        return sorted(found.scalars())
    result = await session.execute(_learner_lock(exclusive=exclusive), {"learner": learner_id})
    classroom_ids = list(result.scalars())
    if not classroom_ids:  # no classroom row came with the learner's: lock it alone
        await session.execute(
            select(User.id)
            .where(User.id == learner_id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE
        )
    return classroom_ids


def learner_lock_sql(learners: str, *, exclusive: bool) -> str:
    """PostgreSQL: the locks of :func:`lock_of_learner` as a query of the classrooms' ids,
    for the learners ``learners`` lists (SQL for an ``IN`` list: one parameter, or a
    query). Rows are locked in (classroom, learner) order and every learner's row comes
    with the first classroom, so the learners' rows too are taken in one order by all.
    The one place these locks are written: students' one-statement writes (repositories/
    learner_writes.py) take them with it too."""
    # Two locking strengths in one statement: SQLAlchemy's select() takes one ``FOR``.
    mode = "UPDATE" if exclusive else "SHARE"
    return (
        f"SELECT c.id FROM classrooms c, users u WHERE u.id IN ({learners}) AND c.id IN "  # noqa: S608
        f"(SELECT classroom_id FROM students WHERE learner_id IN ({learners})) "
        f"ORDER BY c.id, u.id FOR {mode} OF c FOR NO KEY UPDATE OF u"
    )


@cache
def _learner_lock(*, exclusive: bool) -> Any:
    return text(learner_lock_sql(":learner", exclusive=exclusive)).bindparams(
        bindparam("learner", type_=Uuid())
    )


async def advancing(session: AsyncSession, classroom_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of the classrooms have ``auto_advance`` on (contract §9)."""
    if not classroom_ids:
        return set()
    result = await session.execute(
        select(Classroom.id).where(
            Classroom.id.in_(classroom_ids), Classroom.auto_advance.is_(True)
        )
    )
    return set(result.scalars())
