"""A single card move on PostgreSQL: one call of ``tandem_move_card`` (migration 0005).

Every board write holds the classroom's row lock from its first read to its commit, so the
writes to one board queue behind each other. Made from Python, a move holds that lock for
three round trips and a commit, and a busy server stretches every one of them: at 200
moves a second on one board, with a teacher reading it, moves queued for hundreds of
milliseconds (docs/benchmarks.md). The function does the same move (the checks of contract
§5 in their order, the key, the write, the ``card.moved`` event) inside PostgreSQL, in one
autocommitted statement, so the lock is held only while PostgreSQL runs it.

What the function does not decide stays in Python and is passed in: which statuses may go
to the new one (server.board.rules) and the key gap. A column whose neighbours' keys have
no room between them comes back as ``renumber`` with nothing written: the caller makes that
rare move the Python way, which renumbers. SQLite keeps the Python way for every move: it
has no server round trips to save.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import BigInteger, TextClause, Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import UTCDateTime
from storage.repositories.cards import GAP, LAST_INDEX


@dataclass(frozen=True, slots=True)
class MoveResult:
    """``outcome`` is ``moved``, ``not_found``, ``locked``, ``version``, ``transition`` or
    ``renumber``. ``data`` is the ``card.moved`` event's data when moved, the card as it is
    for ``locked``, ``version`` and ``transition``; ``seq`` and ``channel`` are the event's."""

    outcome: str
    data: Any
    seq: int | None
    channel: str | None


@cache
def _statement() -> TextClause:
    return text(
        "SELECT o_outcome, o_data::text, o_seq, o_channel FROM tandem_move_card("
        ":card_id, :teacher_id, :status, :index, :version, :now, "
        "CAST(:allowed_from AS text[]), :gap, :actor_name)"
    ).bindparams(
        bindparam("card_id", type_=Uuid()),
        bindparam("teacher_id", type_=Uuid()),
        bindparam("index", type_=BigInteger()),
        bindparam("gap", type_=BigInteger()),
        bindparam("version", type_=UTCDateTime()),
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
    now: datetime,
    allowed_from: list[str],
    actor_name: str,
) -> MoveResult:
    """Move the card for ``teacher_id`` (a known ``status``, ``index`` 0 or more). The
    session should autocommit: the call is then its own transaction."""
    row = (
        await session.execute(
            _statement(),
            {
                "card_id": card_id,
                "teacher_id": teacher_id,
                "status": status,
                "index": min(index, LAST_INDEX),
                "version": version,
                "now": now,
                "allowed_from": allowed_from,
                "gap": GAP,
                "actor_name": actor_name,
            },
        )
    ).one()
    outcome, data, seq, channel = row
    return MoveResult(outcome, None if data is None else msgspec.json.decode(data), seq, channel)
