"""The tables of Tandem. Each class docstring says what a row is."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, utcnow, uuid_pk

ROLES = ("teacher", "learner")


class User(Base):
    """An account. ``email`` is stored lower-cased: emails compare case-insensitively."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('teacher', 'learner')", name="role"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshToken(Base):
    """One refresh token, stored only as its SHA-256 hash.

    Tokens of one login form a *family*: each refresh rotates to a new token of the same
    family and marks the old one ``rotated_at``. Presenting a rotated token again means it
    leaked, so the whole family is revoked (contract §3).
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family_id", "family_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Classroom(Base):
    """What a board belongs to and what teachers share (contract §4)."""

    __tablename__ = "classrooms"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    teacher_join_code: Mapped[str] = mapped_column(String(32), unique=True)
    student_join_code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    auto_advance: Mapped[bool] = mapped_column(default=True, server_default="1")
    # Bumped whenever a teacher leaves or is removed: the board stamp carries it, so a
    # process that remembers "T teaches C" from an older epoch asks the database again
    # (server/board/reads.py).
    members_epoch: Mapped[int] = mapped_column(default=0, server_default="0")


class ClassroomTeacher(Base):
    """A teacher's membership of a classroom; ``joined_at`` orders a teacher's classrooms."""

    __tablename__ = "classroom_teachers"
    __table_args__ = (Index("ix_classroom_teachers_user_id", "user_id"),)

    classroom_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The creator (contract §8): the one teacher who removes others and cannot leave.
    owner: Mapped[bool] = mapped_column(default=False, server_default="0")


class ChannelHead(Base):
    """The last sequence number given out on an event channel (contract §7).

    Appending takes this row (an upsert that increments it), so concurrent writers on one
    channel queue behind each other and numbers come out 1, 2, 3, … with no gap: a rolled
    back transaction rolls its increment back with it.
    """

    __tablename__ = "channel_heads"

    channel: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class Event(Base):
    """One stored event of a channel; the truth that pub/sub only announces."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("channel", "seq"),
        Index("ix_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    channel: Mapped[str] = mapped_column(String(100))
    seq: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(64))
    data: Mapped[Any] = mapped_column(JSON)
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime]


class Progress(Base):
    """One learner's progress on one word, with the FSRS scheduler state behind it.

    ``next_review`` is computed on the server from the reviews (contract §6); the
    ``fsrs_*`` columns keep the scheduler's card so later reviews continue from it.
    """

    __tablename__ = "progress"
    __table_args__ = (
        CheckConstraint("correct_count >= 0 AND correct_count <= study_count", name="counts"),
        CheckConstraint("confidence BETWEEN 0 AND 5", name="confidence"),
        Index("ix_progress_user_id_next_review", "user_id", "next_review"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    word_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    study_count: Mapped[int]
    correct_count: Mapped[int]
    confidence: Mapped[int]
    mastered: Mapped[bool]
    last_studied_at: Mapped[datetime | None]
    next_review: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    fsrs_state: Mapped[int]
    fsrs_step: Mapped[int | None]
    fsrs_stability: Mapped[float | None]
    fsrs_difficulty: Mapped[float | None]
    fsrs_last_review: Mapped[datetime | None]


class Student(Base):
    """A student of a classroom; ``learner_id`` links the learner account that joined."""

    __tablename__ = "students"
    __table_args__ = (
        Index("ix_students_classroom_id", "classroom_id"),
        Index("ix_students_learner_id", "learner_id"),
        UniqueConstraint("classroom_id", "learner_id"),
        # An index, not a constraint: SQLite adds one without rebuilding the table.
        Index("uq_students_join_code", "join_code", unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    classroom_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    learner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The student's own single-use code (contract §8): null once a learner claimed it.
    join_code: Mapped[str | None] = mapped_column(String(32))


class Lesson(Base):
    """A lesson of a classroom: what a board card tracks for a student."""

    __tablename__ = "lessons"
    __table_args__ = (Index("ix_lessons_classroom_id", "classroom_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    classroom_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LessonWord(Base):
    """A word of a lesson, at its place in the lesson's order (each word once a lesson).

    Rows rather than a JSON list: a card's progress is computed from its lesson's words,
    and a learner's new record must find "the lessons holding word W" by index.
    """

    __tablename__ = "lesson_words"
    __table_args__ = (
        UniqueConstraint("lesson_id", "position"),
        Index("ix_lesson_words_word_id", "word_id"),
    )

    lesson_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    word_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int]


class Card(Base):
    """A (lesson, student) card on its classroom's board; ``student_id`` null: the template.

    The API shows positions dense 0..n-1 within (classroom, status); they are not stored.
    ``sort_key`` orders a column with gaps between neighbours, so a move writes one row (a
    key between its new neighbours) instead of renumbering every card after it, and a
    card's position is its rank by ``sort_key``. ``updated_at`` is the card's version. A
    lock is a lease: it counts only while ``lock_expires_at`` is in the future.

    The ``progress_*`` columns are the card's learner progress (contract §9) as
    storage/repositories/card_progress.py computes it, stored by every write that changes
    what it is computed from, in that write's transaction: ``progress_words`` null means
    no progress (a template card, a student with no learner). They are not the card's
    version: storing them leaves ``updated_at`` as it is.
    """

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint(
            "status IN ('not_started', 'in_progress', 'needs_review', 'mastered')",
            name="status",
        ),
        UniqueConstraint("lesson_id", "student_id"),
        Index(
            "uq_cards_template",
            "lesson_id",
            unique=True,
            sqlite_where=text("student_id IS NULL"),
            postgresql_where=text("student_id IS NULL"),
        ),
        Index("ix_cards_classroom_id_status_sort_key", "classroom_id", "status", "sort_key"),
        Index("ix_cards_lock_expires_at", "lock_expires_at"),
        Index("ix_cards_student_id", "student_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    classroom_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"))
    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    student_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16))
    sort_key: Mapped[int] = mapped_column(BigInteger)
    locked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    locked_at: Mapped[datetime | None]
    lock_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    progress_words: Mapped[int | None] = mapped_column(Integer)
    progress_started: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progress_mastered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progress_studies: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progress_correct: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progress_last_studied_at: Mapped[datetime | None]


class ClassroomWord(Base):
    """A teacher's own word in a classroom (contract §8). ``id`` is its ``wordId``: chosen by
    the server, never a deck's, never changed; words are not deleted (learners may have
    progress on them)."""

    __tablename__ = "classroom_words"
    __table_args__ = (Index("ix_classroom_words_classroom_id", "classroom_id"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    classroom_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"))
    term: Mapped[str] = mapped_column(String(200))
    translation: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
