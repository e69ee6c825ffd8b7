"""What a progress update or an import does to a word's record (contract §6). Pure.

A record only moves forward: counts lower than the stored ones are a stale device, an
update equal to the stored values changes nothing (not even ``updatedAt``), and an import
merges rather than overwrites (the larger counts win).

The record is storage's :class:`~storage.repositories.progress.ProgressRow` itself, as read
and as written: its FSRS columns are the word's schedule (:func:`schedule_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.progress.scheduling import SchedulerState, review
from storage.repositories.progress import ProgressRow

# Counts are whole numbers 0..MAX_COUNT wherever they come from: PUT, batch, import (§6).
# Well inside a 32-bit database integer, so no count reaches the store that it cannot hold.
MAX_COUNT = 1_000_000_000


def schedule_of(record: ProgressRow) -> SchedulerState:
    """The FSRS card stored in ``record``'s columns (its due time is ``next_review``)."""
    return SchedulerState(
        record.fsrs_state,
        record.fsrs_step,
        record.fsrs_stability,
        record.fsrs_difficulty,
        record.next_review,
        record.fsrs_last_review,
    )


@dataclass(frozen=True, slots=True)
class Update:
    """A device's report: its counts for the word, its confidence, maybe ``mastered``."""

    word_id: str
    study_count: int
    correct_count: int
    confidence: int
    mastered: bool | None = None


@dataclass(frozen=True, slots=True)
class Created:
    record: ProgressRow


@dataclass(frozen=True, slots=True)
class Changed:
    record: ProgressRow


@dataclass(frozen=True, slots=True)
class Unchanged:
    record: ProgressRow


@dataclass(frozen=True, slots=True)
class Stale:
    """The device's counts are below the stored ones."""

    current: ProgressRow


Outcome = Created | Changed | Unchanged | Stale


def new_record(word_id: str, now: datetime) -> ProgressRow:
    s = SchedulerState.new(now)
    return ProgressRow(
        word_id,
        0,
        0,
        0,
        False,
        None,
        s.due,
        now,
        now,
        s.state,
        s.step,
        s.stability,
        s.difficulty,
        s.last_review,
    )


def behind(update: Update, record: ProgressRow) -> bool:
    """Whether ``update``'s counts are lower than ``record``'s: a stale device."""
    return update.study_count < record.study_count or update.correct_count < record.correct_count


def apply_update(current: ProgressRow | None, update: Update, now: datetime) -> Outcome:
    """The outcome of ``update`` on ``current`` (None: no record yet) at ``now``."""
    base = current or new_record(update.word_id, now)
    if current is not None and behind(update, current):
        return Stale(current)
    mastered = base.mastered if update.mastered is None else update.mastered
    if current is not None and (
        update.study_count,
        update.correct_count,
        update.confidence,
        mastered,
    ) == (current.study_count, current.correct_count, current.confidence, current.mastered):
        return Unchanged(current)
    record = _advance(
        base,
        study_count=update.study_count,
        correct_count=update.correct_count,
        confidence=update.confidence,
        mastered=mastered,
        reviewed_at=now,
        now=now,
    )
    return Created(record) if current is None else Changed(record)


def merge_import(
    current: ProgressRow | None,
    imported: Update,
    last_studied: datetime | None,
    now: datetime,
) -> Outcome:
    """Merge an old app's record into ``current``: never overwrite blindly.

    The larger counts win, with the confidence of the side that studied more, and
    ``mastered`` if either side says so. New or raised counts are reviews dated at the old
    app's ``lastStudied`` (or now), so words not studied for long come back due.
    """
    base = current or new_record(imported.word_id, now)
    study_count = max(base.study_count, imported.study_count)
    correct_count = max(base.correct_count, imported.correct_count)
    confidence = (
        imported.confidence
        if current is None or imported.study_count > base.study_count
        else base.confidence
    )
    mastered = base.mastered or bool(imported.mastered)
    if current is not None and (study_count, correct_count, confidence, mastered) == (
        base.study_count,
        base.correct_count,
        base.confidence,
        base.mastered,
    ):
        return Unchanged(current)
    record = _advance(
        base,
        study_count=study_count,
        correct_count=correct_count,
        confidence=confidence,
        mastered=mastered,
        reviewed_at=last_studied or now,
        now=now,
    )
    return Created(record) if current is None else Changed(record)


def _advance(
    base: ProgressRow,
    *,
    study_count: int,
    correct_count: int,
    confidence: int,
    mastered: bool,
    reviewed_at: datetime,
    now: datetime,
) -> ProgressRow:
    studies = study_count - base.study_count
    schedule = review(
        schedule_of(base),
        studies=studies,
        correct=correct_count - base.correct_count,
        confidence=confidence,
        at=reviewed_at,
    )
    last_studied_at = base.last_studied_at
    if studies > 0:
        last_studied_at = max(reviewed_at, base.last_studied_at or reviewed_at)
    # Built whole: ``_replace`` goes through a dict, a thousand times a batch.
    return ProgressRow(
        word_id=base.word_id,
        study_count=study_count,
        correct_count=correct_count,
        confidence=confidence,
        mastered=mastered,
        last_studied_at=last_studied_at,
        next_review=schedule.due,
        created_at=base.created_at,
        updated_at=max(now, base.updated_at),
        fsrs_state=schedule.state,
        fsrs_step=schedule.step,
        fsrs_stability=schedule.stability,
        fsrs_difficulty=schedule.difficulty,
        fsrs_last_review=schedule.last_review,
    )
