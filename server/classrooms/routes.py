"""Classroom routes (contract §4, §8): teachers' classrooms, codes and co-teachers under
``/api/teacher``; learners join, list and leave under ``/api/v1/classrooms``."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from server.auth.guards import ApiRequest, learner_only, principal_of, teacher_only
from server.classrooms.learners import LearnerService
from server.classrooms.schemas import (
    UNSET,
    ClassroomIn,
    ClassroomOut,
    ClassroomPatch,
    ClassroomRef,
    JoinIn,
    LearnerClassroomOut,
    LearnerJoinOut,
    LearnerStudentOut,
    LeftOut,
    RemovedOut,
    StudentRef,
    TeacherOut,
)
from server.classrooms.service import ClassroomService
from server.http.envelope import Envelope, ok
from server.http.params import PathId, path_id

Service = NamedDependency[ClassroomService]


class TeacherClassrooms(Controller):
    path = "/api/teacher/classrooms"
    tags = ["classrooms"]
    guards = [teacher_only]

    @post("/", status_code=201, summary="Create a classroom (you become its owner)")
    async def create(
        self,
        data: JSONBody[ClassroomIn],
        request: ApiRequest,
        classroom_service: Service,
    ) -> Envelope[ClassroomOut]:
        principal = principal_of(request)
        return ok(ClassroomOut.of(await classroom_service.create(principal, data.name)))

    @get("/", summary="The classrooms you teach")
    async def mine(
        self, request: ApiRequest, classroom_service: Service
    ) -> Envelope[list[ClassroomOut]]:
        principal = principal_of(request)
        return ok([ClassroomOut.of(c) for c in await classroom_service.mine(principal)])

    @post("/join", status_code=200, summary="Join as a co-teacher with a teacher code")
    async def join(
        self, data: JSONBody[JoinIn], request: ApiRequest, classroom_service: Service
    ) -> Envelope[ClassroomOut]:
        principal = principal_of(request)
        return ok(
            ClassroomOut.of(await classroom_service.join_as_teacher(principal, data.join_code))
        )

    @patch("/{classroom_id:str}", summary="Rename a classroom or set auto_advance")
    async def update(
        self,
        classroom_id: PathId,
        data: JSONBody[ClassroomPatch],
        request: ApiRequest,
        classroom_service: Service,
    ) -> Envelope[ClassroomOut]:
        classroom = await classroom_service.update(
            principal_of(request),
            path_id(classroom_id, "classroom"),
            name=None if data.name is UNSET else data.name,
            auto_advance=None if data.auto_advance is UNSET else data.auto_advance,
        )
        return ok(ClassroomOut.of(classroom))

    @post(
        "/{classroom_id:str}/codes",
        status_code=200,
        summary="New teacher and student join codes (the old ones stop working)",
    )
    async def new_codes(
        self, classroom_id: PathId, request: ApiRequest, classroom_service: Service
    ) -> Envelope[ClassroomOut]:
        classroom = await classroom_service.new_codes(
            principal_of(request), path_id(classroom_id, "classroom")
        )
        return ok(ClassroomOut.of(classroom))

    @get("/{classroom_id:str}/teachers", summary="Who teaches the classroom (owner first)")
    async def teachers(
        self, classroom_id: PathId, request: ApiRequest, classroom_service: Service
    ) -> Envelope[list[TeacherOut]]:
        found = await classroom_service.teachers(
            principal_of(request), path_id(classroom_id, "classroom")
        )
        return ok([TeacherOut.of(member) for member in found])

    @delete(
        "/{classroom_id:str}/teachers/{user_id:str}",
        status_code=200,
        summary="Leave the classroom, or (the owner) remove another teacher",
    )
    async def remove_teacher(
        self,
        classroom_id: PathId,
        user_id: PathId,
        request: ApiRequest,
        classroom_service: Service,
    ) -> Envelope[RemovedOut]:
        removed = path_id(user_id, "teacher")
        await classroom_service.remove_teacher(
            principal_of(request), path_id(classroom_id, "classroom"), removed
        )
        return ok(RemovedOut(removed_id=str(removed)))


class LearnerClassrooms(Controller):
    path = "/api/v1/classrooms"
    tags = ["classrooms"]
    guards = [learner_only]

    @post("/join", status_code=200, summary="Join a classroom with a student code or your own")
    async def join(
        self,
        data: JSONBody[JoinIn],
        request: ApiRequest,
        learner_service: NamedDependency[LearnerService],
    ) -> Envelope[LearnerJoinOut]:
        principal = principal_of(request)
        classroom, student = await learner_service.join(principal, data.join_code)
        return ok(
            LearnerJoinOut(
                classroom=ClassroomRef(id=str(classroom.id), name=classroom.name),
                student=LearnerStudentOut.of(student),
            )
        )

    @get("/", summary="The classrooms you are a student of")
    async def mine(
        self, request: ApiRequest, learner_service: NamedDependency[LearnerService]
    ) -> Envelope[list[LearnerClassroomOut]]:
        found = await learner_service.classrooms(principal_of(request))
        return ok(
            [
                LearnerClassroomOut(
                    id=str(classroom.id),
                    name=classroom.name,
                    student=StudentRef(id=str(student.id), name=student.name),
                )
                for classroom, student in found
            ]
        )

    @post("/{classroom_id:str}/leave", status_code=200, summary="Leave a classroom")
    async def leave(
        self,
        classroom_id: PathId,
        request: ApiRequest,
        learner_service: NamedDependency[LearnerService],
    ) -> Envelope[LeftOut]:
        found = path_id(classroom_id, "classroom")
        await learner_service.leave(principal_of(request), found)
        return ok(LeftOut(left_id=str(found)))
