"""Bodies of ``/api/teacher/progress-board`` in snake_case, as its clients use them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from server import validation
from server.envelope import Timestamp, timestamp
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


class CardOut(msgspec.Struct, kw_only=True):
    id: str
    lesson_id: str
    lesson_title: str
    lesson_category: str
    student_id: str | None
    student_name: str | None
    status: str
    position: int
    locked_by: str | None
    locked_by_name: str | None
    locked_at: Timestamp | None
    lock_expires_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, card: CardView, now: datetime) -> CardOut:
        held = card.lock_expires_at is not None and card.lock_expires_at > now
        return cls(
            id=str(card.id),
            lesson_id=str(card.lesson_id),
            lesson_title=card.lesson_title,
            lesson_category=card.lesson_category,
            student_id=None if card.student_id is None else str(card.student_id),
            student_name=card.student_name,
            status=card.status,
            position=card.position,
            locked_by=str(card.locked_by) if held and card.locked_by else None,
            locked_by_name=card.locked_by_name if held else None,
            locked_at=timestamp(card.locked_at) if held and card.locked_at else None,
            lock_expires_at=timestamp(card.lock_expires_at)
            if held and card.lock_expires_at
            else None,
            created_at=timestamp(card.created_at),
            updated_at=timestamp(card.updated_at),
        )


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
