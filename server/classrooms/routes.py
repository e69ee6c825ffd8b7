"""Classroom routes (contract §4): teachers under ``/api/teacher``, learners join by code."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from server.auth.guards import ApiRequest, learner_only, principal_of, teacher_only
from server.classrooms.schemas import (
    ClassroomIn,
    ClassroomOut,
    ClassroomRef,
    JoinIn,
    LearnerJoinOut,
    LessonIn,
    LessonOut,
    StudentIn,
    StudentOut,
)
from server.classrooms.service import ClassroomService
from server.http.envelope import Envelope, ok

ClassroomQuery = Annotated[uuid.UUID, QueryParameter(description="the classroom")]
Service = NamedDependency[ClassroomService]


class TeacherClassrooms(Controller):
    path = "/api/teacher"
    tags = ["classrooms"]
    guards = [teacher_only]

    @post("/classrooms", status_code=201, summary="Create a classroom (you become a member)")
    async def create(
        self,
        data: JSONBody[ClassroomIn],
        request: ApiRequest,
        classroom_service: Service,
    ) -> Envelope[ClassroomOut]:
        principal = principal_of(request)
        return ok(ClassroomOut.of(await classroom_service.create(principal, data.name)))

    @get("/classrooms", summary="The classrooms you teach")
    async def mine(
        self, request: ApiRequest, classroom_service: Service
    ) -> Envelope[list[ClassroomOut]]:
        principal = principal_of(request)
        return ok([ClassroomOut.of(c) for c in await classroom_service.mine(principal)])

    @post("/classrooms/join", status_code=200, summary="Join as a co-teacher with a teacher code")
    async def join(
        self, data: JSONBody[JoinIn], request: ApiRequest, classroom_service: Service
    ) -> Envelope[ClassroomOut]:
        principal = principal_of(request)
        return ok(
            ClassroomOut.of(await classroom_service.join_as_teacher(principal, data.join_code))
        )

    @post("/students", status_code=201, summary="Add a student to a classroom")
    async def add_student(
        self, data: JSONBody[StudentIn], request: ApiRequest, classroom_service: Service
    ) -> Envelope[StudentOut]:
        principal = principal_of(request)
        student = await classroom_service.add_student(principal, data.classroom_id, data.name)
        return ok(StudentOut.of(student))

    @get("/students", summary="A classroom's students")
    async def students(
        self,
        classroom_id: ClassroomQuery,
        request: ApiRequest,
        classroom_service: Service,
    ) -> Envelope[list[StudentOut]]:
        principal = principal_of(request)
        found = await classroom_service.students(principal, classroom_id)
        return ok([StudentOut.of(s) for s in found])

    @post("/lessons", status_code=201, summary="Add a lesson to a classroom")
    async def add_lesson(
        self, data: JSONBody[LessonIn], request: ApiRequest, classroom_service: Service
    ) -> Envelope[LessonOut]:
        principal = principal_of(request)
        lesson = await classroom_service.add_lesson(
            principal,
            data.classroom_id,
            title=data.title,
            category=data.category,
            word_ids=data.word_ids,
        )
        return ok(LessonOut.of(lesson))

    @get("/lessons", summary="A classroom's lessons")
    async def lessons(
        self,
        classroom_id: ClassroomQuery,
        request: ApiRequest,
        classroom_service: Service,
    ) -> Envelope[list[LessonOut]]:
        principal = principal_of(request)
        return ok(
            [LessonOut.of(x) for x in await classroom_service.lessons(principal, classroom_id)]
        )


class LearnerClassrooms(Controller):
    path = "/api/v1/classrooms"
    tags = ["classrooms"]
    guards = [learner_only]

    @post("/join", status_code=200, summary="Join a classroom as a student with a student code")
    async def join(
        self, data: JSONBody[JoinIn], request: ApiRequest, classroom_service: Service
    ) -> Envelope[LearnerJoinOut]:
        principal = principal_of(request)
        classroom, student = await classroom_service.join_as_learner(principal, data.join_code)
        return ok(
            LearnerJoinOut(
                classroom=ClassroomRef(id=str(classroom.id), name=classroom.name),
                student=StudentOut.of(student),
            )
        )
