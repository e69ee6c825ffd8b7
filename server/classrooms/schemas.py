"""Bodies of the classroom, student and lesson routes (contract §4)."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from server.http.envelope import Timestamp, timestamp
from server.progress.schemas import WordId
from storage.models import Classroom, Lesson, Student

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
JoinCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ClassroomIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name


class JoinIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    join_code: JoinCode


class StudentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    classroom_id: uuid.UUID
    name: Name


class LessonIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    classroom_id: uuid.UUID
    title: Name
    category: Category
    word_ids: Annotated[list[WordId], msgspec.Meta(max_length=1000)] = []


class ClassroomOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    teacher_join_code: str
    student_join_code: str
    created_at: Timestamp

    @classmethod
    def of(cls, classroom: Classroom) -> ClassroomOut:
        return cls(
            id=str(classroom.id),
            name=classroom.name,
            teacher_join_code=classroom.teacher_join_code,
            student_join_code=classroom.student_join_code,
            created_at=timestamp(classroom.created_at),
        )


class StudentOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    classroom_id: str
    learner_id: str | None

    @classmethod
    def of(cls, student: Student) -> StudentOut:
        return cls(
            id=str(student.id),
            name=student.name,
            classroom_id=str(student.classroom_id),
            learner_id=None if student.learner_id is None else str(student.learner_id),
        )


class LessonOut(msgspec.Struct, kw_only=True):
    id: str
    classroom_id: str
    title: str
    category: str
    word_ids: list[str]

    @classmethod
    def of(cls, lesson: Lesson) -> LessonOut:
        return cls(
            id=str(lesson.id),
            classroom_id=str(lesson.classroom_id),
            title=lesson.title,
            category=lesson.category,
            word_ids=list(lesson.word_ids),
        )


class ClassroomRef(msgspec.Struct, kw_only=True):
    id: str
    name: str


class LearnerJoinOut(msgspec.Struct, kw_only=True):
    classroom: ClassroomRef
    student: StudentOut
