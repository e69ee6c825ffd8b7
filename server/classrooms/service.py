"""Classroom use cases (contract §4, §8): creating and joining classrooms, their settings
and join codes, and who teaches them. Writes that the board shows go through the unit of
work (server/unit_of_work.py): one transaction with its events, published after commit."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.tokens import Principal
from server.board.service import release_locks_of
from server.board.stamps import BoardStamps
from server.classrooms.schemas import classroom_event
from server.errors import Forbidden, NotFound, ValidationFailed
from server.unit_of_work import UnitOfWork
from storage import events
from storage.codes import new_code, normalize_code
from storage.database import Database
from storage.models import Classroom
from storage.repositories import classrooms

CODE_ATTEMPTS = 5  # a code collision is astronomically rare; retry all the same


class ClassroomService:
    def __init__(self, database: Database, publish: events.Publish, stamps: BoardStamps) -> None:
        self._db = database
        self._work = UnitOfWork(database, publish, stamps)

    async def create(self, principal: Principal, name: str) -> Classroom:
        for _ in range(CODE_ATTEMPTS):
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

    async def update(
        self,
        principal: Principal,
        classroom_id: uuid.UUID,
        *,
        name: str | None = None,
        auto_advance: bool | None = None,
    ) -> Classroom:
        async with self._work.transaction(principal) as tx:
            classroom = await locked_classroom(tx.session, principal, classroom_id)
            if name is None and auto_advance is None:
                return classroom
            if name is not None:
                classroom.name = name.strip()
            if auto_advance is not None:
                classroom.auto_advance = auto_advance
            await tx.session.flush()
            tx.emit(classroom_id, "classroom.updated", classroom_event(classroom))
        return classroom

    async def new_codes(self, principal: Principal, classroom_id: uuid.UUID) -> Classroom:
        """New teacher and student codes; the old ones stop working with the commit."""
        async with self._work.transaction(principal) as tx:
            classroom = await locked_classroom(tx.session, principal, classroom_id)
            for _ in range(CODE_ATTEMPTS):
                try:
                    async with tx.session.begin_nested():
                        classroom.teacher_join_code = new_code()
                        classroom.student_join_code = new_code()
                        await tx.session.flush()
                    break
                except IntegrityError:
                    await tx.session.refresh(classroom)
            else:
                raise RuntimeError("could not find unused join codes")
        return classroom

    async def teachers(
        self, principal: Principal, classroom_id: uuid.UUID
    ) -> list[classrooms.Member]:
        async with self._db.reader() as session:
            if not await classrooms.is_teacher(session, classroom_id, principal.user_id):
                raise NotFound("No such classroom among yours")
            return await classrooms.teachers(session, classroom_id)

    async def remove_teacher(
        self, principal: Principal, classroom_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """Anyone may leave but the owner; only the owner removes others (§8).

        The removal takes effect everywhere at once: the membership epoch moves on (so no
        process serves the board from what it remembered, server/board/reads.py), and the
        ``teacher.removed`` event ends the teacher's subscriptions on every process before
        any later event is delivered (realtime/hub.py). Their locks are released with it.
        """
        async with self._work.transaction(principal) as tx:
            classroom = await locked_classroom(tx.session, principal, classroom_id)
            owner = await classrooms.owner_of(tx.session, classroom_id)
            if user_id == principal.user_id:
                if owner == user_id:
                    raise ValidationFailed(
                        "The owner cannot leave: a classroom keeps its owner",
                        details={"fields": [{"field": "user_id", "message": "the owner"}]},
                    )
            elif owner != principal.user_id:
                raise Forbidden("Only the classroom's owner removes other teachers")
            if not await classrooms.remove_teacher(tx.session, classroom, user_id):
                raise NotFound("No such teacher in this classroom")
            # The removal's own event first: the removed teacher's subscriptions end there,
            # so nothing after it reaches them, their released locks included.
            tx.emit(classroom_id, "teacher.removed", {"id": str(user_id)})
            await release_locks_of(tx, classroom_id, user_id)


async def locked_classroom(
    session: AsyncSession, principal: Principal, classroom_id: uuid.UUID
) -> Classroom:
    """The caller's classroom under its row lock (so roster and board writes queue up),
    else 404 as for any classroom not theirs."""
    if not await classrooms.lock_for_teacher(session, classroom_id, principal.user_id):
        raise NotFound("No such classroom among yours")
    classroom = await session.get(Classroom, classroom_id, populate_existing=True)
    assert classroom is not None
    return classroom
