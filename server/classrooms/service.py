"""Classroom use cases (contract §4)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from functools import partial

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.tokens import Principal
from server.board.stamps import BoardStamps
from server.http.errors import NotFound
from storage.database import Database
from storage.models import Classroom, Lesson, Student
from storage.repositories import classrooms
from storage.unit_of_work import unit_of_work

# Codes people type from a board or a slip of paper: no 0/O or 1/I/L to confuse.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


class ClassroomService:
    def __init__(self, database: Database, stamps: BoardStamps) -> None:
        self._db = database
        # The board shows the roster (its filters), so a new student or lesson changes it.
        self._stamps = stamps

    async def create(self, principal: Principal, name: str) -> Classroom:
        for _ in range(5):  # a code collision is astronomically rare; retry all the same
            try:
                async with self._db.transaction() as session:
                    return await classrooms.create(
                        session,
                        name=name.strip(),
                        teacher_id=principal.user_id,
                        codes=(new_code(), new_code()),
                    )
            except IntegrityError:
                continue
        raise RuntimeError("could not find unused join codes")

    async def mine(self, principal: Principal) -> list[Classroom]:
        async with self._db.reader() as session:
            return await classrooms.of_teacher(session, principal.user_id)

    async def join_as_teacher(self, principal: Principal, code: str) -> Classroom:
        async with self._db.transaction() as session:
            classroom = await classrooms.by_code(session, teacher_code=normalize_code(code))
            if classroom is None:
                raise NotFound("No classroom has this teacher code")
            await classrooms.add_teacher(session, classroom.id, principal.user_id)
            return classroom

    async def join_as_learner(self, principal: Principal, code: str) -> tuple[Classroom, Student]:
        """Become a student of the classroom, named after the learner; twice changes nothing."""
        async with unit_of_work(self._db) as work:
            session = work.session
            classroom = await classrooms.by_code(session, student_code=normalize_code(code))
            if classroom is None:
                raise NotFound("No classroom has this student code")
            student = await classrooms.student_of_learner(session, classroom.id, principal.user_id)
            if student is None:
                try:
                    async with session.begin_nested():
                        student = await classrooms.add_student(
                            session, classroom.id, principal.name, principal.user_id
                        )
                except IntegrityError:  # joined concurrently
                    student = await classrooms.student_of_learner(
                        session, classroom.id, principal.user_id
                    )
                    assert student is not None
            work.after_commit(partial(self._stamps.invalidate, [classroom.id]))
        return classroom, student

    async def add_student(
        self, principal: Principal, classroom_id: uuid.UUID, name: str
    ) -> Student:
        async with unit_of_work(self._db) as work:
            await self._own(work.session, principal, classroom_id)
            student = await classrooms.add_student(work.session, classroom_id, name.strip())
            work.after_commit(partial(self._stamps.invalidate, [classroom_id]))
        return student

    async def students(self, principal: Principal, classroom_id: uuid.UUID) -> list[Student]:
        async with self._db.reader() as session:
            await self._own(session, principal, classroom_id)
            return await classrooms.students(session, classroom_id)

    async def add_lesson(
        self,
        principal: Principal,
        classroom_id: uuid.UUID,
        *,
        title: str,
        category: str,
        word_ids: Sequence[str],
    ) -> Lesson:
        async with unit_of_work(self._db) as work:
            await self._own(work.session, principal, classroom_id)
            lesson = await classrooms.add_lesson(
                work.session,
                classroom_id,
                title=title.strip(),
                category=category.strip(),
                word_ids=word_ids,
            )
            work.after_commit(partial(self._stamps.invalidate, [classroom_id]))
        return lesson

    async def lessons(self, principal: Principal, classroom_id: uuid.UUID) -> list[Lesson]:
        async with self._db.reader() as session:
            await self._own(session, principal, classroom_id)
            return await classrooms.lessons(session, classroom_id)

    @staticmethod
    async def _own(session: AsyncSession, principal: Principal, classroom_id: uuid.UUID) -> None:
        if not await classrooms.is_teacher(session, classroom_id, principal.user_id):
            raise NotFound("No such classroom among yours")
