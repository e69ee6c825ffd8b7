"""A learner's side of classrooms (contract §4, §8): joining with a code, listing one's
classrooms, leaving one.

A classroom's ``student_join_code`` makes a new roster entry named after the learner
(``student.added``); a student's own code links the learner to that very entry, keeping
its name and cards, and is then used up (``student.updated``). A learner already in the
classroom joining again changes nothing, whichever code they use.
"""

from __future__ import annotations

import uuid

from server.auth.tokens import Principal
from server.board.stamps import BoardStamps
from server.board.transaction import BoardWork, Tx
from server.classrooms.roster import settle_progress, student_json
from server.http.errors import NotFound
from storage import events
from storage.codes import new_code, normalize_code
from storage.database import Database
from storage.models import Classroom, Student
from storage.repositories import classrooms, roster


class LearnerService:
    def __init__(self, database: Database, publish: events.Publish, stamps: BoardStamps) -> None:
        self._db = database
        self._work = BoardWork(database, publish, stamps)

    async def join(self, principal: Principal, code: str) -> tuple[Classroom, Student]:
        code = normalize_code(code)
        async with self._work.transaction(principal) as tx:
            found = await classrooms.by_code(tx.session, student_code=code)
            if found is not None:
                return await self._join_classroom(tx, found.id)
            entry = await roster.by_join_code(tx.session, code)
            if entry is None:
                raise NotFound("No classroom has this code")
            return await self._claim(tx, entry.classroom_id, entry.id, code)

    async def _join_classroom(self, tx: Tx, classroom_id: uuid.UUID) -> tuple[Classroom, Student]:
        classroom = await _locked(tx, classroom_id)
        mine = await roster.of_learner(tx.session, classroom_id, tx.principal.user_id)
        if mine is not None:
            return classroom, mine
        [made] = await roster.add_students(
            tx.session, classroom_id, [(tx.principal.name, None)], tx.principal.user_id
        )
        tx.emit(classroom_id, "student.added", student_json(made))
        return classroom, made

    async def _claim(
        self, tx: Tx, classroom_id: uuid.UUID, student_id: uuid.UUID, code: str
    ) -> tuple[Classroom, Student]:
        classroom = await _locked(tx, classroom_id)
        mine = await roster.of_learner(tx.session, classroom_id, tx.principal.user_id)
        if mine is not None:
            return classroom, mine  # the code stays unused, for its own student
        entry = await roster.student(tx.session, student_id)
        if entry is None or entry.join_code != code:  # claimed or removed meanwhile
            raise NotFound("No classroom has this code")
        await roster.set_student(
            tx.session, student_id, learner_id=tx.principal.user_id, join_code=None
        )
        entry = await roster.student(tx.session, student_id)
        assert entry is not None
        tx.emit(classroom_id, "student.updated", student_json(entry))
        # Its cards now show the learner's progress (§8).
        await settle_progress(tx, ("student", (student_id,)))
        return classroom, entry

    async def classrooms(self, principal: Principal) -> list[tuple[Classroom, Student]]:
        async with self._db.reader() as session:
            return await roster.learner_classrooms(session, principal.user_id)

    async def leave(self, principal: Principal, classroom_id: uuid.UUID) -> None:
        """The entry stays on the roster with no learner and a fresh code of its own, so
        the teacher can hand it out again (to the same learner or another)."""
        async with self._work.transaction(principal) as tx:
            entry = await roster.of_learner(tx.session, classroom_id, principal.user_id)
            if entry is None:
                raise NotFound("You are not a student of this classroom")
            await _locked(tx, classroom_id)
            await roster.set_student(tx.session, entry.id, learner_id=None, join_code=new_code())
            left = await roster.student(tx.session, entry.id)
            if left is None or left.classroom_id != classroom_id:  # pragma: no cover - raced
                raise NotFound("You are not a student of this classroom")
            tx.emit(classroom_id, "student.updated", student_json(left))
            # Its cards show no progress any more (§8).
            await settle_progress(tx, ("student", (entry.id,)))


async def _locked(tx: Tx, classroom_id: uuid.UUID) -> Classroom:
    classroom = await classrooms.lock(tx.session, classroom_id)
    if classroom is None:
        raise NotFound("No classroom has this code")
    return classroom
