"""Bodies of ``/api/teacher/progress-board`` in snake_case, as its clients use them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from server.board import rules
from server.http import validation
from server.http.envelope import Timestamp
from storage.base import isoformats
from storage.repositories.card_progress import CardProgress
from storage.repositories.cards import CardView

Status = Literal["not_started", "in_progress", "needs_review", "mastered"]
MAX_BATCH_MOVES = 100
Version = Annotated[
    datetime,
    msgspec.Meta(tz=True, description="the card's updated_at exactly as the API returned it"),
]


class CardIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    lesson_id: uuid.UUID
    student_id: uuid.UUID | None = None
    status: Status = "not_started"


class MoveIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # A string, not the Status literal: an unknown status is reported only after the card
    # is found (contract §5's order of checks).
    new_status: str
    new_position: int
    version: Version

    def __post_init__(self) -> None:
        # A well-formed body first (§5's order): a version with no UTC form (as
        # 9999-12-31T23:59:59-01:00) fails decoding, before any card is looked up, and
        # validation.describe names the field.
        if not validation.has_utc_form(self.version):
            raise ValueError(f"version is {validation.OUTSIDE_UTC}")


class BatchMoveItem(MoveIn, kw_only=True, forbid_unknown_fields=True):
    card_id: uuid.UUID


class BatchMoveIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    moves: Annotated[list[BatchMoveItem], msgspec.Meta(min_length=1, max_length=MAX_BATCH_MOVES)]


class ProgressOut(msgspec.Struct, kw_only=True):
    """A card's learner progress (contract §9): sums over the lesson's words."""

    words: int
    started: int
    mastered: int
    studies: int
    correct: int
    last_studied_at: Timestamp | None

    @classmethod
    def of(cls, progress: CardProgress | None) -> ProgressOut | None:
        """One card's progress as :meth:`CardOut.many` shows it (``card.progress``)."""
        if progress is None:
            return None
        [last] = isoformats([progress.last_studied_at])
        return cls._made(progress, last)

    @classmethod
    def _made(cls, progress: CardProgress, last: str | None) -> ProgressOut:
        return cls(
            words=progress.words,
            started=progress.started,
            mastered=progress.mastered,
            studies=progress.studies,
            correct=progress.correct,
            last_studied_at=last,
        )


# The card fields shown only while its lease runs (``rules.lock_held``), null after.
LEASE_FIELDS = frozenset({"locked_by", "locked_by_name", "locked_at", "lock_expires_at"})


class CardOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    lesson_id: uuid.UUID
    lesson_title: str
    lesson_category: str
    student_id: uuid.UUID | None
    student_name: str | None
    status: str
    position: int
    locked_by: uuid.UUID | None
    locked_by_name: str | None
    locked_at: Timestamp | None
    lock_expires_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    progress: ProgressOut | None

    @classmethod
    def of(cls, card: CardView, now: datetime) -> CardOut:
        """One card as :meth:`many` shows it."""
        return cls.many([card], now)[0]

    @classmethod
    def many(cls, cards: Sequence[CardView], now: datetime) -> list[CardOut]:
        """The one card builder: the board read, every REST answer and every event show
        cards through it. Lock fields only while the lease runs (``rules.lock_held``);
        instants in the API's one format, made together (``storage.base.isoformats``)."""
        instants: list[datetime | None] = []
        held: list[bool] = []
        for card in cards:
            holds = rules.lock_held(card.lock_expires_at, now)
            held.append(holds)
            instants += (
                (card.created_at, card.updated_at, card.locked_at, card.lock_expires_at)
                if holds
                else (card.created_at, card.updated_at, None, None)
            )
            progress = card.progress
            instants.append(None if progress is None else progress.last_studied_at)
        texts = isoformats(instants)
        shown = []
        for index, card in enumerate(cards):
            created, updated, locked_at, expires_at, last = texts[5 * index : 5 * index + 5]
            progress = card.progress
            holder = card.locked_by if held[index] else None
            student = card.student_id
            shown.append(
                cls(
                    id=card.id,
                    lesson_id=card.lesson_id,
                    lesson_title=card.lesson_title,
                    lesson_category=card.lesson_category,
                    student_id=student,
                    student_name=card.student_name,
                    status=card.status,
                    position=card.position,
                    locked_by=holder,
                    locked_by_name=card.locked_by_name if held[index] else None,
                    locked_at=locked_at,
                    lock_expires_at=expires_at,
                    created_at=created,  # type: ignore[arg-type]
                    updated_at=updated,  # type: ignore[arg-type]
                    progress=None if progress is None else ProgressOut._made(progress, last),
                )
            )
        return shown


class CardMovedOut(msgspec.Struct, kw_only=True):
    """A ``card.moved`` event's data: the card after the move and where it was before.
    PostgreSQL builds the same from these fields for a single move (server/board/
    card_json.py)."""

    card: CardOut
    from_status: str
    from_position: int


class CardProgressOut(msgspec.Struct, kw_only=True):
    """A ``card.progress`` event's data (contract §9): the card and its new progress.
    PostgreSQL builds the same from these fields for a student's one-statement answer
    (server/board/card_json.py)."""

    id: uuid.UUID
    progress: ProgressOut | None


class ColumnOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    status_value: str
    position: int
    color: str
    cards: list[CardOut]


class StudentRef(msgspec.Struct, kw_only=True):
    id: str
    name: str


class Filters(msgspec.Struct, kw_only=True):
    students: list[StudentRef]
    categories: list[str]


class BoardOut(msgspec.Struct, kw_only=True):
    columns: list[ColumnOut]
    filters: Filters
    seq: int
    classroom_id: str


class LockOut(msgspec.Struct, kw_only=True):
    id: str
    locked_by: str
    locked_at: Timestamp
    expires_at: Timestamp


class UnlockOut(msgspec.Struct, kw_only=True):
    id: str
    locked_by: None = None
    locked_at: None = None


class DeletedOut(msgspec.Struct, kw_only=True):
    deleted_id: str


class FailedMove(msgspec.Struct, kw_only=True):
    card_id: str
    error: str
    code: str


class BatchMoveOut(msgspec.Struct, kw_only=True):
    updated_cards: list[CardOut]
    failed_moves: list[FailedMove]
