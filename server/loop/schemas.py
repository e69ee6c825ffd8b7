"""Bodies of the learning loop's reads (contract §9), in snake_case as the board's."""

from __future__ import annotations

import msgspec

from server.board.schemas import ProgressOut
from server.classrooms.schemas import ClassroomRef, LessonOut, StudentOut
from server.http.envelope import Timestamp
from server.words.schemas import Word


class AssignmentOut(msgspec.Struct, kw_only=True):
    """A lesson a learner has a card for: its words, the card's status and progress."""

    lesson_id: str
    classroom: ClassroomRef
    title: str
    category: str
    status: str
    words: list[Word]
    progress: ProgressOut | None


class StudentRow(msgspec.Struct, kw_only=True):
    """A student's sums over their cards (zeros without a learner)."""

    student: StudentOut
    lessons: int
    words: int
    started: int
    mastered: int
    studies: int
    correct: int
    last_studied_at: Timestamp | None


class LessonRow(msgspec.Struct, kw_only=True):
    """A lesson's student cards, and how many of their learners mastered every word."""

    lesson: LessonOut
    students: int
    mastered_by: int


class OverviewOut(msgspec.Struct, kw_only=True):
    students: list[StudentRow]
    lessons: list[LessonRow]
