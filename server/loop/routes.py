"""The learning loop's routes (contract §9): a learner's assignments, a classroom's
overview for its teachers."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from server.auth.guards import ApiRequest, learner_only, principal_of, teacher_only
from server.http.envelope import Envelope, ok
from server.http.params import PathId, path_id
from server.loop.schemas import AssignmentOut, OverviewOut
from server.loop.service import LoopService

Service = NamedDependency[LoopService]


class Assignments(Controller):
    path = "/api/v1/assignments"
    tags = ["learning loop"]
    guards = [learner_only]

    @get("/", summary="Your lessons in every classroom, with their words, status and progress")
    async def mine(
        self, request: ApiRequest, loop_service: Service
    ) -> Envelope[list[AssignmentOut]]:
        return ok(await loop_service.assignments(principal_of(request)))


class Overview(Controller):
    path = "/api/teacher/classrooms/{classroom_id:str}/overview"
    tags = ["learning loop"]
    guards = [teacher_only]

    @get("/", summary="Students by lessons: each student's and each lesson's progress sums")
    async def overview(
        self, classroom_id: PathId, request: ApiRequest, loop_service: Service
    ) -> Envelope[OverviewOut]:
        classroom = path_id(classroom_id, "classroom")
        return ok(await loop_service.overview(principal_of(request), classroom))
