"""A single card move on PostgreSQL: the move, its event and the commit in one statement.

Every board write holds the classroom's row lock from its first read to its commit, so the
writes to one board queue behind each other. Made in a transaction, a move held that lock
across round trips with the event loop between them, and a busy process (a 3,000-card
board being read) stretched every turn: 200 moves a second on one board queued for
hundreds of milliseconds (docs/benchmarks.md). So the move is made as the progress PUT's
guarded write is (repositories/progress.py): :func:`read` takes the card and what it was
seen as (``tandem_card_seen``, migration 0011) without a lock; the caller shows the card
moved and encodes its ``card.moved`` event in Python (the one card builder) with the two
numbers only the lock can tell left open (:data:`PLACE`, :data:`WAS`); :func:`move_card`
is one autocommitted statement: ``tandem_move_card`` takes the board's lock, does the
checks of contract §5 in their order, answers ``stale`` (nothing written) if the card is
no longer as seen, else writes the key, and the event is appended with its numbers filled
in (storage/events.py's single-event SQL). The lock is held inside PostgreSQL only.

What the function decides is a second copy of rules that live in Python (the lock's lease,
the check order, past the end means last, the midpoint key), pinned to the Python move by
tests/storage/test_differential.py, which compares the answers and the stored events. What
it need not decide is passed in: which statuses may go to the new one and the new version
(server.board.rules), the key gap. A column whose neighbours' keys have no room between
them comes back as ``renumber`` with nothing written: the caller makes that rare move the
Python way, which renumbers, as it does a ``stale`` one. SQLite keeps the Python way for
every move: it has no round trips to save.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import BigInteger, TextClause, Uuid, bindparam, func, literal, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage import events
from storage.base import UTCDateTime
from storage.models import Card, ClassroomTeacher
from storage.repositories.cards import GAP, LAST_INDEX, CardView, view_columns, view_of

# The two numbers of a ``card.moved`` event that only the lock can tell, as the caller
# writes them into the event's data: the card's place after the move and before it. They
# are no place a card can have, and a text that holds one of them twice (a lesson named
# after it) is not filled in: the caller moves the Python way then (:func:`open_event`).
PLACE = -9_007_199_254_740_001
WAS = -9_007_199_254_740_002
_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Seen:
    """A card as read for a move, without a lock, and what it was seen as."""

    card: CardView
    seen: str


@dataclass(frozen=True, slots=True)
class OpenEvent:
    """A ``card.moved`` event to append with the move: its data as JSON text in three
    pieces, between which go the card's place after the move and before it."""

    data: tuple[str, str, str]
    channel: str
    actor_id: uuid.UUID
    actor_name: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MoveResult:
    """``outcome`` is ``moved``, ``not_found``, ``locked``, ``version``, ``transition``,
    ``stale`` or ``renumber`` (nothing written for any but ``moved``). ``card`` is the card
    as it was before the move (None for ``not_found``); when moved, ``position`` is its
    place in the new column and ``seq`` its event's."""

    outcome: str
    card: CardView | None
    position: int | None = None
    seq: int | None = None


def open_event(data: Any) -> tuple[str, str, str] | None:
    """``data`` (holding :data:`PLACE` and :data:`WAS` once each) as JSON text cut where
    they stand; None if it holds either more than once."""
    encoded = _json.encode(data).decode()
    place, was = str(PLACE), str(WAS)
    if encoded.count(place) != 1 or encoded.count(was) != 1:
        return None
    first, rest = encoded.split(place)
    if was in first:
        return None  # the place after the move is written first: see _statement
    middle, last = rest.split(was)
    return first, middle, last


@cache
def _read_statement() -> Any:
    # The card's place is not read: the move finds it under the lock.
    return (
        view_columns(position=literal(0))
        .add_columns(func.tandem_card_seen(Card.id))
        .join(ClassroomTeacher, ClassroomTeacher.classroom_id == Card.classroom_id)
        .where(Card.id == bindparam("card_id"), ClassroomTeacher.user_id == bindparam("teacher_id"))
    )


async def read(session: AsyncSession, card_id: uuid.UUID, teacher_id: uuid.UUID) -> Seen | None:
    """The card, if on a board of ``teacher_id``'s, and what it is seen as; no lock."""
    row = (
        await session.execute(_read_statement(), {"card_id": card_id, "teacher_id": teacher_id})
    ).first()
    if row is None:
        return None
    *columns, seen = row
    return Seen(view_of(columns), seen)


@cache
def _statement() -> TextClause:
    # The event is appended only when the card moved; its data gets the card's place after
    # the move, then its place before (o_place), in the order open_event cut them.
    data = (
        "CAST(CAST(:data0 AS text) || placed.o_position || CAST(:data1 AS text)"
        " || placed.o_place || CAST(:data2 AS text) AS json)"
    )
    sql = f"""
WITH moved AS (
  SELECT * FROM tandem_move_card(:card_id, :teacher_id, :status, :index, :version,
    :new_version, :now, CAST(:allowed_from AS text[]), :gap, :seen)
), placed AS (
  SELECT o_position, o_place FROM moved WHERE o_outcome = 'moved'
), {events.one_event_sql(only_if="placed", data=data)}
SELECT moved.*, (SELECT seq FROM appended) FROM moved
"""  # noqa: S608 - every piece is a constant; values are all bound
    return text(sql).bindparams(
        bindparam("card_id", type_=Uuid()),
        bindparam("teacher_id", type_=Uuid()),
        bindparam("index", type_=BigInteger()),
        bindparam("gap", type_=BigInteger()),
        bindparam("version", type_=UTCDateTime()),
        bindparam("new_version", type_=UTCDateTime()),
        bindparam("now", type_=UTCDateTime()),
        *events.ONE_EVENT_PARAMETERS,
    )


async def move_card(
    session: AsyncSession,
    *,
    card_id: uuid.UUID,
    teacher_id: uuid.UUID,
    status: str,
    index: int,
    version: datetime,
    new_version: datetime,
    allowed_from: Sequence[str],
    seen: str,
    event: OpenEvent,
) -> MoveResult:
    """Move the card for ``teacher_id`` (a known ``status``, ``index`` 0 or more) if it is
    still as ``seen``, and append ``event``: one statement. ``session`` should autocommit,
    so the statement is its own transaction and its lock is let go at its end."""
    row = (
        await session.execute(
            _statement(),
            {
                "card_id": card_id,
                "teacher_id": teacher_id,
                "status": status,
                "index": min(index, LAST_INDEX),
                "version": version,
                "new_version": new_version,
                "now": event.at,
                "allowed_from": list(allowed_from),
                "gap": GAP,
                "seen": seen,
                "data0": event.data[0],
                "data1": event.data[1],
                "data2": event.data[2],
                "channel": event.channel,
                "name": "card.moved",
                "actor_id": event.actor_id,
                "actor_name": event.actor_name,
                "at": event.at,
            },
        )
    ).one()
    # The card's 15 columns, the move's place, the card's stored sums, the event's seq.
    outcome, *columns, seq = row
    if outcome == "not_found":
        return MoveResult(outcome, None)
    position = columns[15]
    card = view_of((*columns[:15], *columns[16:]))
    if outcome != "moved":
        return MoveResult(outcome, card)
    return MoveResult(outcome, card, int(position), int(seq))
