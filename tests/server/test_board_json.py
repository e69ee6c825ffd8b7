"""On PostgreSQL the database builds the board's cards as JSON (server/board/card_json.py),
generated from ``CardOut``; it must show every kind of card exactly as the one card builder,
``CardOut.many``, does, and write every instant as ``storage.base.isoformat`` does."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from server.board import progress as board_progress
from server.board import reads
from server.board.reads import BoardQuery
from server.board.rules import STATUSES
from server.settings import Settings
from storage.base import isoformat, isoformat_sql
from storage.database import Database
from storage.repositories.card_progress import CardProgress, CardSums
from storage.repositories.learner_writes import NOW
from tests.board_helpers import (
    CARDS,
    add_lesson,
    add_student,
    create_card,
    data_of,
    get_board,
    move,
)
from tests.helpers import Client, stored_events
from tests.server.loop_helpers import WORDS, Loop, loop, put

pytestmark = pytest.mark.needs_postgres

# Any instant Python holds, in any zone a client or server could give (the API's text is UTC).
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])
    | st.timezones(),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instants=st.lists(INSTANTS, min_size=1, max_size=40))
async def test_the_database_writes_an_instant_as_the_api_does(
    settings: Settings, instants: list[datetime]
) -> None:
    database = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with database.reader() as session:
            connection = await session.connection()
            sql = f"SELECT {isoformat_sql('value')} FROM unnest($1::timestamptz[]) AS t(value)"  # noqa: S608
            result = await connection.exec_driver_sql(sql, (instants,))
            written = [row[0] for row in result.all()]
    finally:
        await database.dispose()
    assert written == [isoformat(instant) for instant in instants]


async def test_the_database_judges_auto_advance_as_python_does(settings: Settings) -> None:
    """A student's one-statement answer (storage/repositories/learner_writes.py) leaves
    an answer that would move a card to the Python way, judged by ``advances_sql``: on
    every status, small sums (a lesson of no words, some, all mastered), no progress, and
    a lock running, run out or absent, it agrees with the judgement ``settle`` makes."""
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    cases = [
        CardSums(
            uuid.uuid4(),
            uuid.uuid4(),
            None if words is None else CardProgress(words, started, mastered, 0, 0, None),
            status=status,
            lock_expires_at=expires,
        )
        for status in (*STATUSES, "unknown")
        for words, started, mastered in [
            (None, 0, 0),
            *itertools.product(range(3), range(3), range(3)),
        ]
        for expires in (None, now - timedelta(seconds=1), now, now + timedelta(seconds=1))
    ]
    columns = [
        [case.progress and getattr(case.progress, name) for case in cases]
        for name in ("words", "started", "mastered")
    ]
    changed = (
        "changed(progress_words, progress_started, progress_mastered, status, lock_expires_at)"
    )
    sql = (
        f"SELECT {board_progress.advances_sql()} FROM unnest($1::int[], $2::int[], $3::int[], "  # noqa: S608
        f"$4::text[], $5::timestamptz[]) AS {changed}, (SELECT $6::timestamptz AS {NOW}) AS now"
    )
    database = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with database.reader() as session:
            connection = await session.connection()
            result = await connection.exec_driver_sql(
                sql,
                (*columns, [c.status for c in cases], [c.lock_expires_at for c in cases], now),
            )
            judged = [bool(row[0]) for row in result.all()]
    finally:
        await database.dispose()
    expected = [board_progress._may_advance(case, now) for case in cases]
    assert judged == expected
    assert 0 < sum(expected) < len(expected)


@dataclass
class Kinds:
    """A board with every kind of card: ``setup``'s learner card with progress and its
    template card, ``plain`` (a student with no learner), ``held`` (locked by the teacher,
    the lock running) and ``expired`` (its lock ran out), under a title and a name JSON
    must escape."""

    setup: Loop
    pupil: dict[str, Any]
    plain: dict[str, Any]
    held: dict[str, Any]
    expired: dict[str, Any]


async def every_kind_of_card(client: Client, settings: Settings) -> Kinds:
    setup = await loop(client, status="in_progress")
    teacher, place = setup.place.teacher, setup.place
    data_of(await put(client, setup.learner, WORDS[0], 3, 2, mastered=True), 201)
    odd = await add_lesson(client, teacher, place.id, 'Quotes "\\ and\ttabs', "Ünïcödé ✓", WORDS)
    pupil = await add_student(client, teacher, place.id, 'Zoë "Z" \u0001')
    held = await create_card(client, teacher, odd["id"], pupil["id"], "needs_review")
    expired = await create_card(client, teacher, odd["id"], None, "mastered")
    plain = await create_card(client, teacher, setup.lesson["id"], pupil["id"], "mastered")
    for card in (held, expired):
        data_of(await client.post(f"{CARDS}/{card['id']}/lock", headers=teacher.headers))
    database = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with database.transaction() as session:
            await session.execute(
                text("UPDATE cards SET lock_expires_at = :past WHERE id = :id"),
                {"past": datetime.now(UTC) - timedelta(hours=1), "id": uuid.UUID(expired["id"])},
            )
    finally:
        await database.dispose()
    return Kinds(setup, pupil, plain, held, expired)


async def test_the_database_shows_every_kind_of_card_as_the_card_builder_does(
    client: Client, settings: Settings
) -> None:
    """A learner's card with progress, a template card, a student with no learner, a lock
    that runs, a lock that ran out, titles and names JSON must escape; every filter."""
    kinds = await every_kind_of_card(client, settings)
    setup, pupil, held, expired = kinds.setup, kinds.pupil, kinds.held, kinds.expired
    teacher, place = setup.place.teacher, setup.place
    database = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        classroom = uuid.UUID(place.id)
        queries = [
            BoardQuery(classroom),
            BoardQuery(classroom, student_id=uuid.UUID(pupil["id"])),
            BoardQuery(classroom, category="Ünïcödé ✓"),
            BoardQuery(classroom, status="mastered"),
            BoardQuery(classroom, student_id=uuid.UUID(setup.student["id"]), status="in_progress"),
            BoardQuery(classroom, category="no such category"),
        ]
        async with database.snapshot() as session:
            for query in queries:
                built = await reads.encoded(session, classroom, 7, query, in_database=True)
                shown = await reads.encoded(session, classroom, 7, query, in_database=False)
                assert json.loads(built) == json.loads(shown), query
    finally:
        await database.dispose()
    # The board the API serves (built by the database here) shows each kind as it should.
    board = await get_board(client, teacher)
    cards = {card["id"]: card for column in board["columns"] for card in column["cards"]}
    assert cards[held["id"]]["locked_by"] == teacher.id
    assert cards[expired["id"]]["locked_by"] is None
    assert cards[expired["id"]]["lock_expires_at"] is None
    learned = cards[setup.card["id"]]["progress"]
    assert (learned["words"], learned["mastered"], learned["studies"]) == (len(WORDS), 1, 3)
    assert cards[setup.template["id"]]["progress"] is None
    assert cards[held["id"]]["student_name"] == 'Zoë "Z" \u0001'


async def test_a_moves_event_the_database_builds_shows_the_card_as_the_answer_does(
    client: Client, settings: Settings
) -> None:
    """A single move's ``card.moved`` is built by its statement (server/board/card_json.py's
    ``moved_event``); for every kind of card it holds what Python shows: the answer's card
    (``CardOut.of``) and the place the card left."""
    kinds = await every_kind_of_card(client, settings)
    teacher, place = kinds.setup.place.teacher, kinds.setup.place
    cards = (kinds.setup.card, kinds.setup.template, kinds.plain, kinds.held, kinds.expired)
    shown: dict[str, Any] = {}
    for card in cards:
        board = await get_board(client, teacher)
        was = next(
            c for column in board["columns"] for c in column["cards"] if c["id"] == card["id"]
        )
        target = "in_progress" if was["status"] == "not_started" else "not_started"
        moved = data_of(await move(client, teacher, was, target, 0))
        # The newest card.moved is this one (the lock sweeper may append a card.unlocked).
        stored = await stored_events(settings, place.channel)
        shown[card["id"]] = next(e.data for e in reversed(stored) if e.name == "card.moved")
        assert shown[card["id"]] == {
            "card": moved,
            "from_status": was["status"],
            "from_position": was["position"],
        }, card["id"]
    assert shown[kinds.setup.card["id"]]["card"]["progress"]["studies"] == 3
    assert shown[kinds.setup.template["id"]]["card"]["progress"] is None
    assert shown[kinds.held["id"]]["card"]["locked_by"] == teacher.id
    assert shown[kinds.held["id"]]["card"]["lesson_title"] == 'Quotes "\\ and\ttabs'
    assert shown[kinds.expired["id"]]["card"]["locked_by"] is None
