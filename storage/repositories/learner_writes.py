"""A student's answer on PostgreSQL: the record, its cards' sums and every event in one statement.

A student's PUT changes the cards of the lessons that hold the word (contract §9): made as
a transaction (server/progress/service.py ``_put_once``) it is eight round trips, and it
holds its boards' channel heads from the append to the COMMIT, across a turn of the event
loop: every learner of a classroom queues on that row while the process fans out frames
(docs/benchmarks.md, issues 15 and 16). So, as a single move does (repositories/
card_moves.py), the write after Python's unlocked read is one autocommitted statement, a
call of a PL/pgSQL function that:

1. takes the locks every progress write of a student takes, in their order
   (``classrooms.learner_lock_sql``: the classrooms shared, then the learner's row);
2. writes the record if it is still as read (``progress.guarded_write_sql``); if it
   changed meanwhile, writes nothing and returns no row (the caller reads again);
3. stores the sums of the cards whose lessons hold the word (``card_progress.store_sql``)
   and builds each changed card's ``card.progress`` (its JSON generated from the API's
   shape by the caller, server/board/card_json.py);
4. if auto-advance would move one of those cards, raises :class:`MovesACard` and writes
   nothing: the caller makes that rare answer (a lesson's first study, its last word
   mastered) the Python way, which moves by the board's one move rule;
5. appends the events (``events.append_many_sql``) and returns them.

Why a function and not one ``WITH``: each step must see what the one before left. A
statement reads as of its start, so a ``WITH`` that waited for a lock would sum records as
they were before the lock's holder committed; a PL/pgSQL function's every statement reads
afresh. Why a temporary function, made on each connection (``pg_temp``) and named by a
hash of its text, and not one a migration makes: its text is generated from the live
definitions above, so it can never be a stale copy of them, and during a rolling restart
each process calls its own version. Every step is one of those definitions; nothing here
restates a rule. tests/storage/test_differential.py holds the answers and stored events
to SQLite's (which makes every write the Python way), and checks the stored sums after
every operation.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from storage import events
from storage.repositories import card_progress, classrooms
from storage.repositories.card_progress import STORED_COLUMNS, CardProgress
from storage.repositories.progress import (
    COLUMNS,
    GUARDED_COLUMNS,
    PG_TYPES,
    ProgressRow,
    guard_values,
    guarded_write_sql,
)

# The rows of step 3: the store statement's (``card_progress.store_sql``) as ``changed``.
CHANGED_ID = "changed.id"
CHANGED_STATUS = "changed.status"
CHANGED_LOCK_EXPIRES_AT = "changed.lock_expires_at"
#: The instant of the write (its records' and events'), as the function names it.
NOW = "p_at"


def changed_progress_source(field: str) -> str:
    """A changed card's stored sum of a :class:`CardProgress` field, after step 3."""
    return f"changed.{STORED_COLUMNS[CardProgress._fields.index(field)]}"


# Raised by the function when a card would auto-advance (a user-defined SQLSTATE).
_MOVES_STATE = "TA001"


class MovesACard(Exception):
    """The answer would auto-advance a card: nothing was written."""


@dataclass(frozen=True, slots=True)
class Appended:
    """An event the statement appended; ``data`` is its JSON text."""

    channel: str
    seq: int
    name: str
    data: str


# The function's parameters in order. The store statement's ``$1`` and ``$2`` are its
# first two: the learner and the words (``card_progress``'s ``learner_words`` scope).
_PARAMETERS = (
    ("p_learner", "uuid"),
    ("p_words", "varchar[]"),
    *((f"p_{name}", PG_TYPES[name]) for name in COLUMNS),
    *((f"p_seen_{name}", PG_TYPES[name]) for name in GUARDED_COLUMNS),
    ("p_channel", "varchar"),
    ("p_name", "varchar"),
    ("p_data", "text"),
    ("p_card_name", "varchar"),
    ("p_actor_name", "varchar"),
    (NOW, "timestamptz"),
)


def _place(name: str) -> str:
    return "p_learner" if name == "user_id" else f"p_{name}"


@lru_cache(maxsize=4)  # one (card event, advance) pair per process
def _function(card_event: str, advances: str) -> tuple[str, str]:
    """The function's name and its ``CREATE`` statement, for the caller's SQL of a changed
    card's ``card.progress`` data (``json``) and of whether it would auto-advance."""
    order = "ORDER BY changed.created_at, changed.id"  # a board's cards in creation order
    # The learner's event first, then each changed card's in its board's order.
    new_events = """
  SELECT channel, row_number() OVER (PARTITION BY channel ORDER BY position) AS ordinal,
    CASE WHEN position = 1 THEN p_name ELSE p_card_name END AS name, data,
    p_learner AS actor_id, p_actor_name AS actor_name, position
  FROM unnest(array_prepend(p_channel, v_channels), array_prepend(p_data, v_data))
    WITH ORDINALITY AS u(channel, data, position)"""
    body = f"""
DECLARE
  v_written bigint;
  v_channels varchar[];
  v_data text[];
  v_moves boolean;
BEGIN
  PERFORM count(*) FROM ({classrooms.learner_lock_sql("p_learner", exclusive=False)}) AS locked;
  {guarded_write_sql(_place)};
  GET DIAGNOSTICS v_written = ROW_COUNT;
  IF v_written = 0 THEN
    RETURN;
  END IF;
  WITH changed AS ({card_progress.store_sql("postgresql", "learner_words")})
  SELECT coalesce(array_agg({events.board_channel_sql("changed.classroom_id")} {order}), '{{}}'),
    coalesce(array_agg(CAST({card_event} AS text) {order}), '{{}}'),
    coalesce(bool_or(c.auto_advance AND {advances}), false)
  INTO v_channels, v_data, v_moves
  FROM changed JOIN classrooms c ON c.id = changed.classroom_id;
  IF v_moves THEN
    RAISE EXCEPTION 'the answer auto-advances a card' USING ERRCODE = '{_MOVES_STATE}';
  END IF;
  RETURN QUERY WITH {events.append_many_sql(new_events, NOW)}
  SELECT e.channel, {events.APPENDED_SEQ}, e.name, e.data
  FROM e JOIN counts USING (channel) JOIN head USING (channel) ORDER BY e.position;
END
"""  # noqa: S608 - every piece is a constant of ours or generated from our shapes; values are bound
    name = "tandem_learner_write_" + hashlib.sha256(body.encode()).hexdigest()[:16]
    parameters = ", ".join(f"{parameter} {kind}" for parameter, kind in _PARAMETERS)
    create = (
        f"CREATE OR REPLACE FUNCTION pg_temp.{name}({parameters}) "
        "RETURNS TABLE (o_channel varchar, o_seq bigint, o_name varchar, o_data text) "
        f"LANGUAGE plpgsql AS $function${body}$function$"
    )
    return name, create


async def _defined(session: AsyncSession, card_event: str, advances: str) -> str:
    """The function's name, made on this connection first if it is not yet (its
    ``info`` lives as long as the database connection, as a temporary function does)."""
    name, create = _function(card_event, advances)
    connection = await session.connection()
    made: set[str] = connection.info.setdefault("tandem_functions", set())
    if name not in made:
        await connection.exec_driver_sql(create)
        made.add(name)
    return name


async def write(
    session: AsyncSession,
    learner_id: uuid.UUID,
    record: ProgressRow,
    *,
    seen: ProgressRow | None,
    event: tuple[str, str, str],
    card_event: tuple[str, str],
    advances: str,
    actor_name: str,
    now: datetime,
) -> list[Appended] | None:
    """Write a student's ``record`` if the stored one is still ``seen``, store its cards'
    sums and append ``event`` (channel, name, JSON text) and a ``card_event`` (its name
    and its data as a ``json`` expression over :data:`CHANGED_ID` and
    :func:`changed_progress_source`) for each changed card, in one statement; the
    appended events, learner's first, or None when the record changed meanwhile and
    nothing was written. ``advances`` is a condition over the changed card
    (:data:`CHANGED_STATUS`, :data:`CHANGED_LOCK_EXPIRES_AT`, its sums, :data:`NOW`):
    when it holds for a card of a classroom with auto-advance on, nothing is written and
    :class:`MovesACard` is raised. ``session`` should autocommit."""
    card_name, card_data = card_event
    name = await _defined(session, card_data, advances)
    channel, event_name, data = event
    values: dict[str, Any] = {**record._asdict(), **guard_values(seen)}
    arguments = (
        learner_id,
        [record.word_id],
        *(values[column] for column in COLUMNS),
        *(values[f"seen_{column}"] for column in GUARDED_COLUMNS),
        channel,
        event_name,
        data,
        card_name,
        actor_name,
        now,
    )
    marks = ", ".join(f"${number}" for number in range(1, len(arguments) + 1))
    connection = await session.connection()
    try:
        result = await connection.exec_driver_sql(
            f"SELECT * FROM pg_temp.{name}({marks})",  # noqa: S608 - a name of ours
            arguments,
        )
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == _MOVES_STATE:
            raise MovesACard from error
        raise
    rows: Sequence[Any] = result.all()
    if not rows:
        return None
    return [Appended(str(row[0]), int(row[1]), str(row[2]), str(row[3])) for row in rows]
