"""Students' answers on PostgreSQL: records, their cards' sums and every event in one statement.

A student's PUT changes the cards of the lessons that hold the word (contract §9): made as
a transaction (server/progress/service.py ``_put_once``) it is eight round trips, and it
holds its boards' channel heads from the append to the COMMIT, across a turn of the event
loop: every learner of a classroom queues on that row while the process fans out frames
(docs/benchmarks.md, issues 15 and 16). So, as a single move does (repositories/
card_moves.py), the write after Python's unlocked read is one autocommitted statement, a
call of a PL/pgSQL function, and it writes every answer this process has waiting at that
moment (server/progress/student_writes.py): a board's head row is raised once for all of
them, not locked once per answer. The function:

1. takes the locks every progress write of a student takes, in their order
   (``classrooms.learner_lock_sql``: the classrooms shared, then the learners' rows);
2. for each answer, in (learner, word) order, in a block of its own:

   a. writes the record if it is still as read (``progress.guarded_write_sql``); if it
      changed meanwhile, nothing (:data:`CHANGED`: the caller reads again);
   b. stores the sums of the learner's cards whose lessons hold the word
      (``card_progress.store_sql``) and builds each changed card's ``card.progress`` (its
      JSON generated from the API's shape by the caller, server/board/card_json.py);
   c. if auto-advance would move one of those cards, rolls this answer back
      (:data:`MOVES`): the caller makes that rare answer (a lesson's first study, its last
      word mastered) the Python way, which moves by the board's one move rule;

3. appends every written answer's events (``events.append_many_sql``) and returns them.

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
#: The instant of the answer being written (its record's and its events'), as the
#: function names it.
NOW = "v_at"


def changed_progress_source(field: str) -> str:
    """A changed card's stored sum of a :class:`CardProgress` field, after step 3."""
    return f"changed.{STORED_COLUMNS[CardProgress._fields.index(field)]}"


# Raised inside the function when a card would auto-advance (a user-defined SQLSTATE),
# caught there: that answer alone is rolled back.
_MOVES_STATE = "TA001"

WRITTEN, CHANGED, MOVES = "written", "changed", "moves"


@dataclass(frozen=True, slots=True)
class Answer:
    """A student's answer to write: the record as Python made it from the one it read
    (``seen``, None if none), its event (channel, name, JSON text), by whom, at when."""

    learner_id: uuid.UUID
    record: ProgressRow
    seen: ProgressRow | None
    event: tuple[str, str, str]
    actor_name: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Appended:
    """An event the statement appended; ``data`` is its JSON text."""

    channel: str
    seq: int
    name: str
    data: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of an answer: :data:`WRITTEN` with its events (the learner's first),
    :data:`CHANGED` (the record changed since it was read: nothing written, read again) or
    :data:`MOVES` (a card would auto-advance: nothing written, the caller moves it the
    Python way)."""

    state: str
    events: tuple[Appended, ...] = ()


# The function's parameters in order: an array of one element per answer, but for the
# cards' event's name. The answers come sorted by (learner, word): the order their records'
# rows are locked in.
_PARAMETERS = (
    ("p_learners", "uuid[]"),
    *((f"p_{name}", f"{PG_TYPES[name]}[]") for name in COLUMNS),
    *((f"p_seen_{name}", f"{PG_TYPES[name]}[]") for name in GUARDED_COLUMNS),
    ("p_channels", "varchar[]"),
    ("p_names", "varchar[]"),
    ("p_data", "text[]"),
    ("p_card_name", "varchar"),
    ("p_actor_names", "varchar[]"),
    ("p_ats", "timestamptz[]"),
)


def _place(name: str) -> str:
    """An answer's value in the loop over them (``i``)."""
    return "v_learner" if name == "user_id" else f"p_{name}[i]"


@lru_cache(maxsize=4)  # one (card event, advance) pair per process
def _function(card_event: str, advances: str) -> tuple[str, str]:
    """The function's name and its ``CREATE`` statement, for the caller's SQL of a changed
    card's ``card.progress`` data (``json``) and of whether it would auto-advance."""
    order = "ORDER BY changed.created_at, changed.id"  # a board's cards in creation order
    board = events.board_channel_sql("changed.classroom_id")
    store = card_progress.store_sql("postgresql", "learner_words", names=("v_learner", "v_words"))
    # Each answer's events in order: the learner's, then each changed card's in its
    # board's order; answers in the order they were written.
    new_events = """
  SELECT channel, row_number() OVER (PARTITION BY channel ORDER BY position) AS ordinal,
    name, data, p_learners[item] AS actor_id, p_actor_names[item] AS actor_name, item, position
  FROM unnest(e_channels, e_names, e_data, e_items)
    WITH ORDINALITY AS u(channel, name, data, item, position)"""
    body = f"""
DECLARE
  v_learner uuid;
  v_words varchar[];
  v_at timestamptz;
  v_written bigint;
  v_channels varchar[];
  v_data text[];
  v_moves boolean;
  v_states text[] := '{{}}';
  e_items integer[] := '{{}}';
  e_channels varchar[] := '{{}}';
  e_names varchar[] := '{{}}';
  e_data text[] := '{{}}';
BEGIN
  PERFORM count(*) FROM (
    {classrooms.learner_lock_sql("SELECT unnest(p_learners)", exclusive=False)}
  ) AS locked;
  FOR i IN 1 .. cardinality(p_learners) LOOP
    v_learner := p_learners[i];
    v_words := ARRAY[p_word_id[i]];
    v_at := p_ats[i];
    BEGIN
      {guarded_write_sql(_place)};
      GET DIAGNOSTICS v_written = ROW_COUNT;
      IF v_written = 0 THEN
        v_states := v_states || '{CHANGED}'::text;
        CONTINUE;
      END IF;
      WITH changed AS ({store})
      SELECT coalesce(array_agg({board} {order}), '{{}}'),
        coalesce(array_agg(CAST({card_event} AS text) {order}), '{{}}'),
        coalesce(bool_or(c.auto_advance AND {advances}), false)
      INTO v_channels, v_data, v_moves
      FROM changed JOIN classrooms c ON c.id = changed.classroom_id;
      IF v_moves THEN
        RAISE EXCEPTION 'the answer auto-advances a card' USING ERRCODE = '{_MOVES_STATE}';
      END IF;
      v_states := v_states || '{WRITTEN}'::text;
      e_items := e_items || array_fill(i, ARRAY[1 + cardinality(v_channels)]);
      e_channels := e_channels || p_channels[i] || v_channels;
      e_names := e_names || p_names[i] || array_fill(p_card_name, ARRAY[cardinality(v_channels)]);
      e_data := e_data || p_data[i] || v_data;
    EXCEPTION WHEN SQLSTATE '{_MOVES_STATE}' THEN
      -- This answer's writes are rolled back; the others stand.
      v_states := v_states || '{MOVES}'::text;
    END;
  END LOOP;
  RETURN QUERY WITH {events.append_many_sql(new_events, "p_ats[e.item]")}
  SELECT e.item, CAST('{WRITTEN}' AS text), e.channel, {events.APPENDED_SEQ}, e.name, e.data
  FROM e JOIN counts USING (channel) JOIN head USING (channel) ORDER BY e.position;
  RETURN QUERY SELECT n, v_states[n], NULL::varchar, NULL::bigint, NULL::varchar, NULL::text
  FROM generate_subscripts(v_states, 1) AS n WHERE v_states[n] <> '{WRITTEN}';
END
"""  # noqa: S608 - every piece is a constant of ours or generated from our shapes; values are bound
    name = "tandem_learner_write_" + hashlib.sha256(body.encode()).hexdigest()[:16]
    parameters = ", ".join(f"{parameter} {kind}" for parameter, kind in _PARAMETERS)
    create = (
        f"CREATE OR REPLACE FUNCTION pg_temp.{name}({parameters}) "
        "RETURNS TABLE (o_item integer, o_state text, o_channel varchar, o_seq bigint, "
        "o_name varchar, o_data text) "
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
    answers: Sequence[Answer],
    *,
    card_event: tuple[str, str],
    advances: str,
) -> list[Outcome]:
    """Write students' ``answers``, each if its stored record is still the one it read,
    store their cards' sums and append each answer's event and a ``card_event`` (its name
    and its data as a ``json`` expression over :data:`CHANGED_ID` and
    :func:`changed_progress_source`) for each card it changed, in one statement; each
    answer's :class:`Outcome`, in the order given. ``advances`` is a condition over a
    changed card (:data:`CHANGED_STATUS`, :data:`CHANGED_LOCK_EXPIRES_AT`, its sums,
    :data:`NOW`): when it holds for a card of a classroom with auto-advance on, that
    answer is not written (:data:`MOVES`). ``session`` should autocommit."""
    card_name, card_data = card_event
    name = await _defined(session, card_data, advances)
    # Sorted by (learner, word): every writer locks records' rows in one order.
    order = sorted(
        range(len(answers)), key=lambda k: (answers[k].learner_id, answers[k].record.word_id)
    )
    ranked = [answers[k] for k in order]
    values = [{**a.record._asdict(), **guard_values(a.seen)} for a in ranked]
    arguments = (
        [a.learner_id for a in ranked],
        *([v[column] for v in values] for column in COLUMNS),
        *([v[f"seen_{column}"] for v in values] for column in GUARDED_COLUMNS),
        [a.event[0] for a in ranked],
        [a.event[1] for a in ranked],
        [a.event[2] for a in ranked],
        card_name,
        [a.actor_name for a in ranked],
        [a.at for a in ranked],
    )
    marks = ", ".join(f"${number}" for number in range(1, len(arguments) + 1))
    connection = await session.connection()
    result = await connection.exec_driver_sql(
        f"SELECT * FROM pg_temp.{name}({marks})",  # noqa: S608 - a name of ours
        arguments,
    )
    states: dict[int, str] = {}
    appended: dict[int, list[Appended]] = {}
    rows: list[Any] = list(result.all())
    for item, state, channel, seq, event_name, data in rows:
        states[item] = state
        if state == WRITTEN:
            appended.setdefault(item, []).append(Appended(channel, int(seq), event_name, data))
    # The function numbers the answers as it wrote them (sorted, from 1).
    outcomes = {
        k: Outcome(states[rank], tuple(appended.get(rank, ()))) for rank, k in enumerate(order, 1)
    }
    return [outcomes[k] for k in range(len(answers))]
