"""A single card move on PostgreSQL: the board's lock, the checks and the key in one call of
``tandem_move_card`` (migration 0008).

Every board write holds the classroom's row lock from its first read to its commit, so the
writes to one board queue behind each other. Made from Python, a move holds that lock for
four round trips and a commit (the card and its slot, the key, the write, the event), and
a busy server stretches every one of them: at 200 moves a second on one board, with a
teacher reading it, moves queued for hundreds of milliseconds (docs/benchmarks.md). The
function takes the lock and does the checks of contract §5 in their order, the key and the
write in one round trip, and returns the card with its stored progress sums (migration
0010; storage/repositories/card_progress.py keeps them); the caller then shows the card
(``CardOut.of``), appends the ``card.moved`` event (storage/events.py, one statement) and
commits: the lock is held for those two round trips only.

What the function decides is a second copy of rules that live in Python (the lock's lease,
the check order, past the end means last, the midpoint key), pinned to the Python move by
tests/storage/test_differential.py. What it need not decide is passed in: which statuses
may go to the new one and the new version (server.board.rules), the key gap. A column
whose neighbours' keys have no room between them comes back as ``renumber`` with nothing
written but the lock taken: the caller makes that rare move the Python way, which
renumbers. SQLite keeps the Python way for every move: it has no round trips to save.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import BigInteger, TextClause, Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import UTCDateTime
from storage.repositories.cards import GAP, LAST_INDEX, CardView, view_of


@dataclass(frozen=True, slots=True)
class MoveResult:
    """``outcome`` is ``moved``, ``not_found``, ``locked``, ``version``, ``transition`` or
    ``renumber``. ``card`` is the card as it was before the move (None for ``not_found``);
    ``position`` its place in the new column when moved."""

    outcome: str
    card: CardView | None
    position: int | None


@cache
def _statement() -> TextClause:
    return text(
        "SELECT * FROM tandem_move_card(:card_id, :teacher_id, :status, :index, :version, "
        ":new_version, :now, CAST(:allowed_from AS text[]), :gap)"
    ).bindparams(
        bindparam("card_id", type_=Uuid()),
        bindparam("teacher_id", type_=Uuid()),
        bindparam("index", type_=BigInteger()),
        bindparam("gap", type_=BigInteger()),
        bindparam("version", type_=UTCDateTime()),
        bindparam("new_version", type_=UTCDateTime()),
        bindparam("now", type_=UTCDateTime()),
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
    now: datetime,
    allowed_from: list[str],
) -> MoveResult:
    """Move the card for ``teacher_id`` (a known ``status``, ``index`` 0 or more) in the
    session's transaction, which then holds the board's lock."""
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
                "now": now,
                "allowed_from": allowed_from,
                "gap": GAP,
            },
        )
    ).one()
    # The card's 15 columns, the move's place, then the card's stored sums (migration 0010).
    outcome, *columns = row
    if outcome == "not_found":
        return MoveResult(outcome, None, None)
    position = columns[15]
    card = view_of((*columns[:15], *columns[16:]))
    return MoveResult(outcome, card, None if position is None else int(position))
