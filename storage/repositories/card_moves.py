"""A single card move on PostgreSQL: the move, its event and the commit in one statement.

Every board write holds the classroom's row lock from its first read to its commit, so the
writes to one board queue behind each other. Made in a transaction, a move held that lock
across round trips with the event loop between them, and a busy process (a 3,000-card
board being read) stretched every turn: 200 moves a second on one board queued for
hundreds of milliseconds (docs/benchmarks.md). So :func:`move_card` is one autocommitted
statement: ``tandem_move_card`` takes the board's lock, does the checks of contract §5 in
their order, writes the key and returns the card as it found it under the lock; the
``card.moved`` event is built from that row in the same statement and appended with it
(storage/events.py's single-event SQL). The lock is held inside PostgreSQL only, and
nothing is read before it: the event shows the card as the lock found it.

The event's JSON is not written here. The caller passes it in as an SQL expression over
:data:`MOVED_SOURCES` and :data:`FROM_SOURCES`, generated from the API's shapes
(server/board/card_json.py), as the board read's JSON is; tests/server/test_board_json.py
and tests/storage/test_differential.py hold it equal to the event Python builds.

What the function decides is a second copy of rules that live in Python (the lock's lease,
the check order, past the end means last, the midpoint key), pinned to the Python move by
tests/storage/test_differential.py, which compares the answers and the stored events. What
it need not decide is passed in: which statuses may go to the new one and the new version
(server.board.rules), the key gap. A column whose neighbours' keys have no room between
them comes back as ``renumber`` with nothing written: the caller makes that rare move the
Python way, which renumbers. SQLite keeps the Python way for every move: it has no round
trips to save.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import BigInteger, TextClause, Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage import events
from storage.base import UTCDateTime
from storage.repositories.card_progress import CardProgress
from storage.repositories.cards import GAP, LAST_INDEX, CardView, view_of

# ``tandem_move_card``'s columns after its outcome, named by migration 0008 (and 0010 for
# the sums): the card as the lock found it, in CardView's order, its place after the move
# (``o_position``), then its stored sums in CardProgress's order.
_CARD_COLUMNS = (
    "o_id", "o_classroom", "o_lesson", "o_title", "o_category", "o_student",
    "o_student_name", "o_status", "o_place", "o_locked_by", "o_holder", "o_locked_at",
    "o_expires", "o_created", "o_updated",
)  # fmt: skip
_PROGRESS_COLUMNS = (
    "o_words", "o_started", "o_mastered", "o_studies", "o_correct", "o_last_studied",
)  # fmt: skip
assert len(_CARD_COLUMNS) == len(CardView._fields) - 1, "one column per CardView field"
assert len(_PROGRESS_COLUMNS) == len(CardProgress._fields), "one column per sum"

#: Each CardView field of the card after the move, as SQL over the moved row (``m``): what
#: the lock found, with the new status, place and version.
MOVED_SOURCES = {
    **dict(zip(CardView._fields[:-1], (f"m.{column}" for column in _CARD_COLUMNS), strict=True)),
    "status": "CAST(:status AS text)",
    "position": "m.o_position",
    "updated_at": ":new_version",
}
#: The card's place before the move, as SQL over the moved row (``card.moved``'s
#: ``from_status`` and ``from_position``).
FROM_SOURCES = {"from_status": "m.o_status", "from_position": "m.o_place"}
#: The instant the event's card shows its lock at: the move's.
NOW = ":now"


def moved_progress_source(field: str) -> str:
    """The moved row's column of a :class:`CardProgress` field (its stored sum)."""
    return f"m.{_PROGRESS_COLUMNS[CardProgress._fields.index(field)]}"


@dataclass(frozen=True, slots=True)
class MoveResult:
    """``outcome`` is ``moved``, ``not_found``, ``locked``, ``version``, ``transition`` or
    ``renumber`` (nothing written for any but ``moved``). ``card`` is the card as the lock
    found it, before the move (None for ``not_found``); when moved, ``position`` is its
    place in the new column and ``seq`` its event's."""

    outcome: str
    card: CardView | None
    position: int | None = None
    seq: int | None = None


@lru_cache(maxsize=4)  # one event expression per process
def _statement(event_data: str) -> TextClause:
    # The event is appended only when the card moved (``m`` has a row), to the board of
    # the classroom the lock found it on.
    event = events.one_event_sql(
        only_if="m", data=event_data, channel=events.board_channel_sql("m.o_classroom")
    )
    sql = f"""
WITH moved AS (
  SELECT * FROM tandem_move_card(:card_id, :teacher_id, :status, :index, :version,
    :new_version, :now, CAST(:allowed_from AS text[]), :gap)
), m AS (
  SELECT * FROM moved WHERE o_outcome = 'moved'
), {event}
SELECT moved.*, (SELECT seq FROM appended) FROM moved
"""  # noqa: S608 - every piece is a constant or generated from our shapes; values are bound
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
    actor_name: str,
    now: datetime,
    event_data: str,
) -> MoveResult:
    """Move the card for ``teacher_id`` (a known ``status``, ``index`` 0 or more) and
    append its ``card.moved`` event, whose data is ``event_data`` (an SQL expression of
    type ``json`` over :data:`MOVED_SOURCES`, :data:`FROM_SOURCES` and :data:`NOW`): one
    statement. ``session`` should autocommit, so the statement is its own transaction and
    its lock is let go at its end."""
    row = (
        await session.execute(
            _statement(event_data),
            {
                "card_id": card_id,
                "teacher_id": teacher_id,
                "status": status,
                "index": min(index, LAST_INDEX),
                "version": version,
                "new_version": new_version,
                "now": now,
                "allowed_from": list(allowed_from),
                "gap": GAP,
                "name": "card.moved",
                "actor_id": teacher_id,
                "actor_name": actor_name,
                "at": now,
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
