"""Roster routes (contract §4, §8): a classroom's students and lessons, under
``/api/teacher``. Thin: each translates HTTP to one :class:`RosterService` call."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from server.auth.guards import ApiRequest, principal_of, teacher_only
from server.classrooms.roster import RosterService
from server.classrooms.schemas import (
    UNSET,
    DeletedOut,
    LessonIn,
    LessonOut,
    LessonPatch,
    StudentIn,
    StudentOut,
    StudentPatch,
    StudentsIn,
    StudentsOut,
)
from server.http.envelope import Envelope, ok
from server.http.params import ClassroomQuery, PathId, path_id

Service = NamedDependency[RosterService]


class Students(Controller):
    path = "/api/teacher/students"
    tags = ["classrooms"]
    guards = [teacher_only]

    @post("/", status_code=201, summary="Add a student (a roster entry with its own code)")
    async def add(
        self, data: JSONBody[StudentIn], request: ApiRequest, roster_service: Service
    ) -> Envelope[StudentOut]:
        [student] = await roster_service.add_students(
            principal_of(request), data.classroom_id, [data.name]
        )
        return ok(StudentOut.of(student))

    @post("/bulk", status_code=201, summary="Add 1 to 200 students at once (our addition)")
    async def add_many(
        self, data: JSONBody[StudentsIn], request: ApiRequest, roster_service: Service
    ) -> Envelope[StudentsOut]:
        made = await roster_service.add_students(
            principal_of(request), data.classroom_id, data.names
        )
        return ok(StudentsOut(students=[StudentOut.of(student) for student in made]))

    @get("/", summary="A classroom's students")
    async def listed(
        self, classroom_id: ClassroomQuery, request: ApiRequest, roster_service: Service
    ) -> Envelope[list[StudentOut]]:
        found = await roster_service.students(principal_of(request), classroom_id)
        return ok([StudentOut.of(student) for student in found])

    @patch("/{student_id:str}", summary="Rename a student")
    async def rename(
        self,
        student_id: PathId,
        data: JSONBody[StudentPatch],
        request: ApiRequest,
        roster_service: Service,
    ) -> Envelope[StudentOut]:
        student = await roster_service.rename_student(
            principal_of(request), path_id(student_id, "student"), data.name
        )
        return ok(StudentOut.of(student))

    @delete("/{student_id:str}", status_code=200, summary="Remove a student and their cards")
    async def remove(
        self, student_id: PathId, request: ApiRequest, roster_service: Service
    ) -> Envelope[DeletedOut]:
        found = path_id(student_id, "student")
        await roster_service.remove_student(principal_of(request), found)
        return ok(DeletedOut(deleted_id=str(found)))


class Lessons(Controller):
    path = "/api/teacher/lessons"
    tags = ["classrooms"]
    guards = [teacher_only]

    @post("/", status_code=201, summary="Add a lesson to a classroom")
    async def add(
        self, data: JSONBody[LessonIn], request: ApiRequest, roster_service: Service
    ) -> Envelope[LessonOut]:
        lesson = await roster_service.add_lesson(
            principal_of(request),
            data.classroom_id,
            title=data.title,
            category=data.category,
            word_ids=data.word_ids,
        )
        return ok(lesson)

    @get("/", summary="A classroom's lessons")
    async def listed(
        self, classroom_id: ClassroomQuery, request: ApiRequest, roster_service: Service
    ) -> Envelope[list[LessonOut]]:
        return ok(await roster_service.lessons(principal_of(request), classroom_id))

    @patch("/{lesson_id:str}", summary="Change a lesson's title, category or words")
    async def update(
        self,
        lesson_id: PathId,
        data: JSONBody[LessonPatch],
        request: ApiRequest,
        roster_service: Service,
    ) -> Envelope[LessonOut]:
        lesson = await roster_service.update_lesson(
            principal_of(request),
            path_id(lesson_id, "lesson"),
            title=None if data.title is UNSET else data.title,
            category=None if data.category is UNSET else data.category,
            word_ids=None if data.word_ids is UNSET else data.word_ids,
        )
        return ok(lesson)

    @delete("/{lesson_id:str}", status_code=200, summary="Remove a lesson and its cards")
    async def remove(
        self, lesson_id: PathId, request: ApiRequest, roster_service: Service
    ) -> Envelope[DeletedOut]:
        found = path_id(lesson_id, "lesson")
        await roster_service.remove_lesson(principal_of(request), found)
        return ok(DeletedOut(deleted_id=str(found)))
