"""Bodies of ``/api/v1/progress`` in the camelCase its clients send (contract §6)."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from server.http.envelope import Timestamp, timestamp
from server.progress.rules import MAX_COUNT
from storage.repositories.progress import ProgressRow

# The one definition of a wordId's characters (§6). msgspec checks a pattern with re.search,
# where "$" also matches before a final newline ("nl2\n" would pass, and such a record could
# never be read or deleted); "(?!\n)" closes that gap. It is written so that Python and the
# ECMAScript regexes of OpenAPI clients read it alike (neither \Z nor \z is portable).
# Python code checks it with is_word_id (a full match) as well.
WORD_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$(?!\n)"
_WORD_ID = re.compile(WORD_ID_PATTERN)
RESERVED_WORD_IDS = frozenset({"stats", "batch", "import"})
MAX_BATCH = 1000
# The most words one import holds (contract §6): it bounds an import's work (issue 12: a
# 740,000-row CSV held a process for 19 s) and the list it leaves behind.
MAX_IMPORT_WORDS = 20_000

WordId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=128,
        pattern=WORD_ID_PATTERN,
        description="1-128 of A-Z a-z 0-9 . _ : -, not dots alone, not stats/batch/import",
    ),
]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
Confidence = Annotated[int, msgspec.Meta(ge=0, le=5, description="0 no recall … 5 perfect")]


def is_word_id(word_id: str) -> bool:
    """Whether ``word_id`` has a wordId's characters and length, the whole string."""
    return _WORD_ID.fullmatch(word_id) is not None


def check_word_id(word_id: str) -> str | None:
    """Why ``word_id`` is not acceptable beyond its pattern, or None."""
    if word_id.strip(".") == "":
        return "must not be made of dots alone"
    if word_id in RESERVED_WORD_IDS:
        return f"'{word_id}' names a route and cannot be a word id"
    return None


class ProgressIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    study_count: Count
    correct_count: Count
    confidence: Confidence
    mastered: bool | None = None


class BatchItemIn(ProgressIn, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    word_id: WordId


class BatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    updates: Annotated[list[BatchItemIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class ProgressOut(msgspec.Struct, kw_only=True, rename="camel"):
    word_id: str
    study_count: int
    correct_count: int
    confidence: int
    mastered: bool
    last_studied_at: Timestamp | None
    next_review: Timestamp
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, record: ProgressRow) -> ProgressOut:
        return cls(
            word_id=record.word_id,
            study_count=record.study_count,
            correct_count=record.correct_count,
            confidence=record.confidence,
            mastered=record.mastered,
            last_studied_at=None
            if record.last_studied_at is None
            else timestamp(record.last_studied_at),
            next_review=timestamp(record.next_review),
            created_at=timestamp(record.created_at),
            updated_at=timestamp(record.updated_at),
        )


class ProgressList(msgspec.Struct, kw_only=True):
    items: list[ProgressOut]
    seq: int


class BatchOut(msgspec.Struct, kw_only=True):
    items: list[ProgressOut]


class Deleted(msgspec.Struct, kw_only=True, rename="camel"):
    word_id: str


class Stats(msgspec.Struct, kw_only=True, rename="camel"):
    total_words: int
    mastered_words: int
    learning_words: int
    due_now: int
    studied_today: int
    total_studies: int
    total_correct: int
    accuracy: float


class Rejected(msgspec.Struct, kw_only=True, rename="camel"):
    word_id: str
    reason: str


class ImportReport(msgspec.Struct, kw_only=True):
    imported: int
    merged: int
    unchanged: int
    rejected: list[Rejected]
