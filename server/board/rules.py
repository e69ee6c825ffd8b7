"""The board's fixed rules (contract §5): columns, transitions, versions. Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeGuard


@dataclass(frozen=True, slots=True)
class Column:
    status: str
    name: str
    color: str


COLUMNS = (
    Column("not_started", "Not Started", "#ef4444"),
    Column("in_progress", "In Progress", "#f59e0b"),
    Column("needs_review", "Needs Review", "#3b82f6"),
    Column("mastered", "Mastered", "#22c55e"),
)
STATUSES = tuple(column.status for column in COLUMNS)
_ORDER = {status: index for index, status in enumerate(STATUSES)}
_COLUMN_IDS = uuid.UUID("6f1c1c55-9a57-4a43-9d3e-7f1b2c3d4e5f")


def is_status(value: str) -> bool:
    return value in _ORDER


def transition_allowed(current: str, new: str) -> bool:
    """Within a column, back to any earlier one, or forward to the next one only."""
    return _ORDER[new] <= _ORDER[current] + 1


def allowed_from(new: str) -> list[str]:
    """The statuses a card may move to ``new`` from (:func:`transition_allowed`)."""
    return [current for current in STATUSES if transition_allowed(current, new)]


def column_id(classroom_id: uuid.UUID, status: str) -> uuid.UUID:
    """Columns are per classroom but not stored: a stable id derived from both."""
    return uuid.uuid5(_COLUMN_IDS, f"{classroom_id}:{status}")


def next_version(previous: datetime, now: datetime) -> datetime:
    """A card's new ``updated_at``: now, and strictly later than the one it replaces."""
    return max(now, previous + timedelta(microseconds=1))


def lock_held(expires_at: datetime | None, now: datetime) -> TypeGuard[datetime]:
    """A lease counts while it has not expired; an expired lock is no lock. The one owner
    of this rule: the board read, REST answers, events and the move's checks ask it (and
    the PL/pgSQL move, which gets no say in what a card shows, is pinned to it by
    tests/storage/test_differential.py); PostgreSQL's board read asks
    :func:`lock_held_sql`, its one SQL form."""
    return expires_at is not None and expires_at > now


def lock_held_sql(expires_at: str, now: str) -> str:
    """:func:`lock_held` as a PostgreSQL condition on two expressions (a null expiry is
    null, which a ``CASE`` takes as false), for the board JSON the database builds
    (server/board/card_json.py)."""
    return f"{expires_at} > {now}"


# -- the learning loop (contract §9) ----------------------------------------------------------


def all_mastered(words: int, mastered: int) -> bool:
    """Every word of a lesson mastered; a lesson with no words never is."""
    return words >= 1 and mastered == words


def advances(status: str, *, started: int, words: int, mastered: int) -> list[str]:
    """Auto-advance: the columns a card moves on to, in order, after its progress changed.
    A ``not_started`` card that has a started word goes to ``in_progress``; an
    ``in_progress`` card (one that just moved there too) whose every word is mastered goes
    on to ``needs_review``. Never backward, never further."""
    moves = []
    if status == "not_started" and started >= 1:
        status = "in_progress"
        moves.append(status)
    if status == "in_progress" and all_mastered(words, mastered):
        moves.append("needs_review")
    return moves


def advances_sql(status: str, *, started: str, words: str, mastered: str) -> str:
    """Whether :func:`advances` moves the card at all, as a PostgreSQL condition on four
    expressions, for a student's one-statement answer (storage/repositories/
    learner_writes.py), which leaves a card that would move to the Python path.
    tests/server/test_board_json.py holds it, as ``server/board/progress.advances_sql``
    uses it, to the judgement ``settle`` makes on every status."""
    return (
        f"(({status} = 'not_started' AND {started} >= 1) OR "
        f"({status} = 'in_progress' AND {words} >= 1 AND {mastered} = {words}))"
    )
