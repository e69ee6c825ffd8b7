"""Bodies of the classroom, student and lesson routes (contract §4, §8)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec

from server.envelope import Timestamp, timestamp
from storage.models import Classroom, Lesson, Student
from storage.repositories.classrooms import Member

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
JoinCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
WordId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
WordIds = Annotated[list[WordId], msgspec.Meta(max_length=1000)]
MAX_BULK_STUDENTS = 200

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class ClassroomIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name


class ClassroomPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name | Unset = UNSET
    auto_advance: bool | Unset = UNSET


class JoinIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    join_code: JoinCode


class StudentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    classroom_id: uuid.UUID
    name: Name


class StudentsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    classroom_id: uuid.UUID
    names: Annotated[list[Name], msgspec.Meta(min_length=1, max_length=MAX_BULK_STUDENTS)]


class StudentPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name


class LessonIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    classroom_id: uuid.UUID
    title: Name
    category: Category
    word_ids: WordIds = []


class LessonPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Name | Unset = UNSET
    category: Category | Unset = UNSET
    word_ids: WordIds | Unset = UNSET


class ClassroomOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    teacher_join_code: str
    student_join_code: str
    auto_advance: bool
    created_at: Timestamp

    @classmethod
    def of(cls, classroom: Classroom) -> ClassroomOut:
        return cls(
            id=str(classroom.id),
            name=classroom.name,
            teacher_join_code=classroom.teacher_join_code,
            student_join_code=classroom.student_join_code,
            auto_advance=classroom.auto_advance,
            created_at=timestamp(classroom.created_at),
        )


def classroom_event(classroom: Classroom) -> dict[str, Any]:
    """``classroom.updated``'s data (contract §7): no join codes on the board channel."""
    return {"id": str(classroom.id), "name": classroom.name, "auto_advance": classroom.auto_advance}


class StudentOut(msgspec.Struct, kw_only=True):
    """A student as teachers see it, with its own join code (null once claimed)."""

    id: str
    name: str
    classroom_id: str
    learner_id: str | None
    join_code: str | None

    @classmethod
    def of(cls, student: Student) -> StudentOut:
        return cls(
            id=str(student.id),
            name=student.name,
            classroom_id=str(student.classroom_id),
            learner_id=None if student.learner_id is None else str(student.learner_id),
            join_code=student.join_code,
        )


class StudentsOut(msgspec.Struct, kw_only=True):
    students: list[StudentOut]


class LearnerStudentOut(msgspec.Struct, kw_only=True):
    """A learner's own roster entry (§4's shape: no join code)."""

    id: str
    name: str
    classroom_id: str
    learner_id: str | None

    @classmethod
    def of(cls, student: Student) -> LearnerStudentOut:
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
    def of(cls, lesson: Lesson, word_ids: Sequence[str]) -> LessonOut:
        return cls(
            id=str(lesson.id),
            classroom_id=str(lesson.classroom_id),
            title=lesson.title,
            category=lesson.category,
            word_ids=list(word_ids),
        )


class TeacherOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    email: str
    role: str  # "owner" (the creator) or "teacher"

    @classmethod
    def of(cls, member: Member) -> TeacherOut:
        role = "owner" if member.owner else "teacher"
        return cls(id=str(member.id), name=member.name, email=member.email, role=role)


class DeletedOut(msgspec.Struct, kw_only=True):
    deleted_id: str


class RemovedOut(msgspec.Struct, kw_only=True):
    removed_id: str


class LeftOut(msgspec.Struct, kw_only=True):
    left_id: str


class ClassroomRef(msgspec.Struct, kw_only=True):
    id: str
    name: str


class StudentRef(msgspec.Struct, kw_only=True):
    id: str
    name: str


class LearnerJoinOut(msgspec.Struct, kw_only=True):
    classroom: ClassroomRef
    student: LearnerStudentOut


class LearnerClassroomOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    student: StudentRef
