"""Live progress on the board (contract §9), read from the event store as a subscriber
with ``since`` gets it: ``card.progress`` per changed card, none when nothing changed, no
version change, and auto-advance each way; on either backend."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.board import progress as board_progress
from server.progress.rules import Changed, Created, Update, apply_update
from server.settings import Settings
from storage.base import isoformat, utcnow
from storage.database import Database
from storage.repositories import card_progress, learner_writes
from storage.repositories import progress as progress_repository
from storage.repositories.learner_writes import CHANGED, MOVES, WRITTEN, Answer
from tests.board_helpers import (
    CLASSROOMS,
    LESSONS,
    add_lesson,
    create_card,
    data_of,
    get_board,
    move,
    room,
    user,
)
from tests.helpers import statements_run, stored_events
from tests.server.loop_helpers import (
    PROGRESS,
    WORDS,
    Loop,
    board_card,
    body,
    join,
    loop,
    put,
    sums,
)

Client = AsyncTestClient[Litestar]
SYSTEM = (None, "Tandem")


class Board:
    """A board channel's events since a moment: what a subscriber with ``since`` gets."""

    def __init__(self, client: Client, settings: Settings, setup: Loop) -> None:
        self.client, self.settings, self.setup = client, settings, setup
        self.seq = 0

    async def mark(self) -> None:
        board = await get_board(
            self.client, self.setup.place.teacher, classroom_id=self.setup.place.id
        )
        self.seq = board["seq"]

    async def since(self) -> list[tuple[str, Any, tuple[Any, str | None]]]:
        """The events after the mark, as (name, data, (actor id, actor name)); moves the mark."""
        found = await stored_events(self.settings, self.setup.place.channel, self.seq)
        if found:
            self.seq = found[-1].seq
        return [
            (e.name, e.data, (None if e.actor_id is None else str(e.actor_id), e.actor_name))
            for e in found
        ]


async def watched(client: Client, settings: Settings, **options: Any) -> tuple[Loop, Board]:
    setup = await loop(client, **options)
    board = Board(client, settings, setup)
    await board.mark()
    return setup, board


def learner_actor(setup: Loop) -> tuple[str, str]:
    return (setup.learner.id, setup.learner.name)


async def set_auto_advance(client: Client, setup: Loop, on: bool) -> None:
    data_of(
        await client.patch(
            f"{CLASSROOMS}/{setup.place.id}",
            json={"auto_advance": on},
            headers=setup.place.teacher.headers,
        )
    )


async def last_of(client: Client, setup: Loop, word_id: str) -> str:
    found = data_of(await client.get(f"{PROGRESS}/{word_id}", headers=setup.learner.headers))
    last: str = found["lastStudiedAt"]
    return last


async def test_a_write_announces_each_changed_card_once_without_a_new_version(
    client: Client, settings: Settings
) -> None:
    setup, board = await watched(client, settings)
    await set_auto_advance(client, setup, False)
    await board.since()
    teacher = setup.place.teacher
    # A second lesson holding two of the words, in the same classroom: two cards change.
    other = await add_lesson(client, teacher, setup.place.id, "Bye", "Spanish", WORDS[:2])
    second = await create_card(client, teacher, other["id"], setup.student["id"])
    await board.since()
    # A batch of two words of both lessons: one event per card, not one per word.
    response = await client.post(
        f"{PROGRESS}/batch",
        json={"updates": [{"wordId": WORDS[0], **body(2, 1)}, {"wordId": WORDS[1], **body(1, 1)}]},
        headers=setup.learner.headers,
    )
    data_of(response)
    last = await last_of(client, setup, WORDS[1])
    got = await board.since()
    assert got == [
        (
            "card.progress",
            {"id": card_id, "progress": sums(words, started=2, studies=3, correct=2, last=last)},
            learner_actor(setup),
        )
        # In the order the cards were made (the same on every backend).
        for card_id, words in [(setup.card["id"], 3), (second["id"], 2)]
    ]
    # No version change: the teacher's copies still move.
    for card in (setup.card, second):
        shown = await board_card(client, teacher, card["id"])
        assert shown["updated_at"] == card["updated_at"]
    data_of(await move(client, teacher, setup.card, "in_progress", 0))


async def test_nothing_is_announced_when_no_cards_progress_changed(
    client: Client, settings: Settings
) -> None:
    setup, board = await watched(client, settings)
    data_of(await put(client, setup.learner, WORDS[0], 1, 1, confidence=2), 201)
    assert [name for name, _, _ in await board.since()] == ["card.progress", "card.moved"]
    # The confidence alone, the same values again, a word in no lesson: no event at all.
    data_of(await put(client, setup.learner, WORDS[0], 1, 1, confidence=5))
    data_of(await put(client, setup.learner, WORDS[0], 1, 1, confidence=5))
    data_of(await put(client, setup.learner, "es:perro", 3, 1), 201)
    response = await client.post(
        f"{PROGRESS}/import",
        json={"es:gato": {"studyCount": 2, "correctCount": 1, "confidence": 3}},
        headers=setup.learner.headers,
    )
    data_of(response)
    assert await board.since() == []


async def test_delete_and_import_announce_the_change(client: Client, settings: Settings) -> None:
    setup, board = await watched(client, settings)
    response = await client.post(
        f"{PROGRESS}/import",
        json={WORDS[2]: {"studyCount": 4, "correctCount": 4, "confidence": 5, "mastered": True}},
        headers=setup.learner.headers,
    )
    assert data_of(response)["imported"] == 1
    last = await last_of(client, setup, WORDS[2])
    got = await board.since()
    assert got[0] == (
        "card.progress",
        {"id": setup.card["id"], "progress": sums(3, 1, 1, 4, 4, last)},
        learner_actor(setup),
    )
    assert [name for name, _, _ in got] == ["card.progress", "card.moved"]
    data_of(await client.delete(f"{PROGRESS}/{WORDS[2]}", headers=setup.learner.headers))
    assert await board.since() == [
        ("card.progress", {"id": setup.card["id"], "progress": sums(3)}, learner_actor(setup))
    ]
    # Never backward: the card stays in progress with nothing started.
    assert (await board_card(client, setup.place.teacher, setup.card["id"]))["status"] == (
        "in_progress"
    )


async def test_auto_advance_moves_on_first_study_and_when_every_word_is_mastered(
    client: Client, settings: Settings
) -> None:
    setup, board = await watched(client, settings)
    teacher = setup.place.teacher
    # Another card already in progress: the advanced card goes to the end of the column.
    other = await add_lesson(client, teacher, setup.place.id, "Other", "Spanish", ["es:perro"])
    waiting = await create_card(client, teacher, other["id"], setup.student["id"], "in_progress")
    await board.since()
    data_of(await put(client, setup.learner, WORDS[0], 1, 1, mastered=True), 201)
    (progress, _, by), (moved, data, system) = await board.since()
    assert (progress, by, moved, system) == (
        "card.progress",
        learner_actor(setup),
        "card.moved",
        SYSTEM,
    )
    assert (data["from_status"], data["from_position"]) == ("not_started", 0)
    card = data["card"]
    assert (card["status"], card["position"]) == ("in_progress", 1)
    assert card["updated_at"] > setup.card["updated_at"]
    assert card["progress"]["started"] == 1
    assert await board_card(client, teacher, setup.card["id"]) == card
    # Mastering the other two words: the last write moves it on to needs_review.
    data_of(await put(client, setup.learner, WORDS[1], 1, 1, mastered=True), 201)
    assert [name for name, _, _ in await board.since()] == ["card.progress"]
    data_of(await put(client, setup.learner, WORDS[2], 2, 2, mastered=True), 201)
    (progress, _, _), (moved, data, system) = await board.since()
    assert (progress, moved, system) == ("card.progress", "card.moved", SYSTEM)
    assert (data["from_status"], data["card"]["status"]) == ("in_progress", "needs_review")
    assert data["card"]["progress"]["mastered"] == 3
    # The other card is untouched; nothing moves a card backward or past needs_review.
    assert (await board_card(client, teacher, waiting["id"]))["status"] == "in_progress"
    data_of(await put(client, setup.learner, WORDS[2], 3, 2, mastered=False))
    assert [name for name, _, _ in await board.since()] == ["card.progress"]
    assert (await board_card(client, teacher, setup.card["id"]))["status"] == "needs_review"


async def test_one_write_can_move_a_card_two_columns(client: Client, settings: Settings) -> None:
    setup, board = await watched(client, settings, words=WORDS[:1])
    data_of(await put(client, setup.learner, WORDS[0], 1, 1, mastered=True), 201)
    got = await board.since()
    assert [(name, actor) for name, _, actor in got] == [
        ("card.progress", learner_actor(setup)),
        ("card.moved", SYSTEM),
        ("card.moved", SYSTEM),
    ]
    assert [data["card"]["status"] for _, data, _ in got[1:]] == ["in_progress", "needs_review"]
    assert got[1][2] == SYSTEM


async def test_a_locked_card_is_skipped_and_judged_again_later(
    client: Client, settings: Settings
) -> None:
    setup, board = await watched(client, settings)
    teacher = setup.place.teacher
    lock_url = f"/api/teacher/progress-board/cards/{setup.card['id']}/lock"
    data_of(await client.post(lock_url, headers=teacher.headers))
    await board.since()
    data_of(await put(client, setup.learner, WORDS[0], 1, 1), 201)
    assert [name for name, _, _ in await board.since()] == ["card.progress"]
    data_of(await client.delete(lock_url, headers=teacher.headers))
    await board.since()
    data_of(await put(client, setup.learner, WORDS[0], 2, 2))
    assert [name for name, _, _ in await board.since()] == ["card.progress", "card.moved"]


async def test_with_auto_advance_off_nothing_moves(client: Client, settings: Settings) -> None:
    setup, board = await watched(client, settings, words=WORDS[:1])
    await set_auto_advance(client, setup, False)
    await board.since()
    data_of(await put(client, setup.learner, WORDS[0], 1, 1, mastered=True), 201)
    assert [name for name, _, _ in await board.since()] == ["card.progress"]
    assert (await board_card(client, setup.place.teacher, setup.card["id"]))["status"] == (
        "not_started"
    )


async def test_a_lesson_word_edit_announces_and_advances(
    client: Client, settings: Settings
) -> None:
    setup, board = await watched(client, settings, status="in_progress")
    teacher = setup.place.teacher
    data_of(await put(client, setup.learner, WORDS[0], 1, 1, mastered=True), 201)
    await board.since()
    url = f"{LESSONS}/{setup.lesson['id']}"
    # A title alone changes no card's progress.
    data_of(await client.patch(url, json={"title": "Hi"}, headers=teacher.headers))
    assert [name for name, _, _ in await board.since()] == ["lesson.updated"]
    # Only the mastered word left: the card's progress changes and it moves on, by the
    # teacher's edit (the card.progress actor) and the system (the move).
    data_of(await client.patch(url, json={"word_ids": [WORDS[0]]}, headers=teacher.headers))
    last = await last_of(client, setup, WORDS[0])
    got = await board.since()
    teacher_actor = (teacher.id, teacher.name)
    assert got[:2] == [
        ("lesson.updated", got[0][1], teacher_actor),
        (
            "card.progress",
            {"id": setup.card["id"], "progress": sums(1, 1, 1, 1, 1, last)},
            teacher_actor,
        ),
    ]
    assert [(name, actor) for name, _, actor in got[2:]] == [("card.moved", SYSTEM)]
    # The same words again: nothing changes but the lesson's event.
    data_of(await client.patch(url, json={"word_ids": [WORDS[0]]}, headers=teacher.headers))
    assert [name for name, _, _ in await board.since()] == ["lesson.updated"]


async def test_claiming_and_leaving_announce_each_card_of_the_entry(
    client: Client, settings: Settings
) -> None:
    place = await room(client, students=("Ann",), lessons=())
    teacher = place.teacher
    lesson = await add_lesson(client, teacher, place.id, "Greetings", "Spanish", WORDS)
    empty = await add_lesson(client, teacher, place.id, "Empty", "Spanish", [])
    ann = place.students[0]
    cards = [await create_card(client, teacher, x["id"], ann["id"]) for x in (lesson, empty)]
    assert [card["progress"] for card in cards] == [None, None]
    start = (await get_board(client, teacher, classroom_id=place.id))["seq"]
    learner = await _learner_with(client, WORDS[0])
    await join(client, learner, ann["join_code"])
    found = await stored_events(settings, place.channel, start)
    assert [e.name for e in found[:3]] == ["student.updated", "card.progress", "card.progress"]
    progress = {e.data["id"]: e.data["progress"] for e in found[1:3]}
    assert progress[cards[1]["id"]] == sums(0)
    assert progress[cards[0]["id"]]["started"] == 1
    # The first study is on record: the card with it advances (§9) after the announcements.
    assert [e.name for e in found[3:]] == ["card.moved"]
    assert all(str(e.actor_id) == learner.id for e in found[:3])
    response = await client.post(f"/api/v1/classrooms/{place.id}/leave", headers=learner.headers)
    data_of(response)
    left = await stored_events(settings, place.channel, found[-1].seq)
    assert [e.name for e in left] == ["student.updated", "card.progress", "card.progress"]
    assert {e.data["id"]: e.data["progress"] for e in left[1:]} == {c["id"]: None for c in cards}


async def test_a_learner_who_left_is_written_right_after_answering_as_a_student(
    client: Client, settings: Settings
) -> None:
    """A student's answers go straight to the write that updates their cards (the server
    remembers who is a student); after leaving, the same learner's answers still update
    their record and announce nothing on the board they left."""
    setup = await loop(client)
    await set_auto_advance(client, setup, False)
    data_of(await put(client, setup.learner, WORDS[0], 1, 1), 201)
    data_of(await put(client, setup.learner, WORDS[0], 2, 2))
    shown = await board_card(client, setup.place.teacher, setup.card["id"])
    assert (shown["progress"]["studies"], shown["progress"]["correct"]) == (2, 2)
    response = await client.post(
        f"/api/v1/classrooms/{setup.place.id}/leave", headers=setup.learner.headers
    )
    data_of(response)
    start = (await get_board(client, setup.place.teacher, classroom_id=setup.place.id))["seq"]
    record = data_of(await put(client, setup.learner, WORDS[0], 3, 2))
    assert (record["studyCount"], record["correctCount"]) == (3, 2)
    assert await stored_events(settings, setup.place.channel, start) == []
    response = await client.get(f"{PROGRESS}/{WORDS[0]}", headers=setup.learner.headers)
    assert data_of(response)["studyCount"] == 3


async def _learner_with(client: Client, word_id: str) -> Any:
    learner = await user(client, role="learner", name="Lou")
    data_of(await put(client, learner, word_id, 1, 1), 201)
    return learner


@pytest.mark.parametrize("seed", range(4))
async def test_the_events_replayed_equal_the_board(
    client: Client, settings: Settings, seed: int
) -> None:
    """Whatever the writes (raises, confidence alone, mastered on and off, deletions, a
    word in no lesson, in a seeded random plan): the card as the first read showed it,
    with each ``card.progress`` and ``card.moved`` applied, equals the card the board
    reads after every write, and a card's progress event came only with a change."""
    chooser = random.Random(seed)
    setup, board = await watched(client, settings)
    teacher = setup.place.teacher
    card = await board_card(client, teacher, setup.card["id"])
    counts: dict[str, int] = {}
    for _ in range(8):
        word_id = chooser.choice([*WORDS, "es:perro"])
        if word_id in counts and chooser.random() < 0.2:
            data_of(await client.delete(f"{PROGRESS}/{word_id}", headers=setup.learner.headers))
            del counts[word_id]
        else:
            counts[word_id] = counts.get(word_id, 0) + chooser.randrange(3)
            response = await put(
                client,
                setup.learner,
                word_id,
                counts[word_id],
                0,
                chooser.randrange(6),
                chooser.random() < 0.5,
            )
            assert response.status_code in {200, 201}, response.text
        for name, data, _ in await board.since():
            if name == "card.progress":
                assert data["progress"] != card["progress"]
                card = {**card, "progress": data["progress"]}
            else:
                assert name == "card.moved"
                card = data["card"]
        assert await board_card(client, teacher, setup.card["id"]) == card


@pytest.mark.needs_postgres
async def test_a_students_answer_on_postgresql_is_a_read_and_one_statement(
    client: Client, settings: Settings
) -> None:
    """On PostgreSQL a student's PUT reads the record without a lock, then writes it,
    stores its cards' sums and appends every event in one autocommitted statement
    (storage/repositories/learner_writes.py): no transaction holds the boards' heads
    across a round trip. Its events are those the Python way makes: one ``card.progress``
    per changed card, on each classroom's board, in the order the cards were made."""
    setup, board = await watched(client, settings)
    teacher = setup.place.teacher
    other = await add_lesson(client, teacher, setup.place.id, "Bye", "Spanish", WORDS[:2])
    second = await create_card(client, teacher, other["id"], setup.student["id"])
    await board.since()
    # The same learner is a student of a second classroom, whose lesson holds the word.
    elsewhere = await room(client, students=(), lessons=())
    student = (await join(client, setup.learner, elsewhere.classroom["student_join_code"]))[
        "student"
    ]
    far = await add_lesson(client, elsewhere.teacher, elsewhere.id, "Hi", "Spanish", WORDS[:1])
    third = await create_card(client, elsewhere.teacher, far["id"], student["id"], "in_progress")
    far_board = Board(client, settings, Loop(elsewhere, setup.learner, student, far, third, {}))
    await far_board.mark()
    # The first study moves the cards (auto-advance): the Python way, as a move.
    data_of(await put(client, setup.learner, WORDS[0], 1, 1), 201)
    assert [name for name, _, _ in await board.since()] == ["card.progress"] * 2 + [
        "card.moved"
    ] * 2
    await far_board.since()
    with statements_run() as run:
        answer = data_of(await put(client, setup.learner, WORDS[0], 2, 1))
    # A new pooled connection first makes the function (once per connection).
    statements = [sql for sql in run if not sql.startswith("CREATE OR REPLACE FUNCTION pg_temp.")]
    assert len(statements) == 2, statements
    assert "pg_temp.tandem_learner_write_" in statements[1]
    last = answer["lastStudiedAt"]
    actor = learner_actor(setup)
    assert await board.since() == [
        ("card.progress", {"id": card["id"], "progress": sums(words, 1, 0, 2, 1, last)}, actor)
        for card, words in [(setup.card, 3), (second, 2)]
    ]
    assert await far_board.since() == [
        ("card.progress", {"id": third["id"], "progress": sums(1, 1, 0, 2, 1, last)}, actor)
    ]
    updated = (await stored_events(settings, f"progress:{setup.learner.id}"))[-1]
    assert (updated.name, updated.data) == ("progress.updated", answer)


@pytest.mark.needs_postgres
async def test_answers_written_together_stand_or_fall_each_on_its_own(
    client: Client, settings: Settings
) -> None:
    """A process's waiting answers are one statement (server/progress/student_writes.py,
    storage/repositories/learner_writes.py), each in a block of its own: one whose
    record changed since it was read writes nothing, one that would auto-advance a card
    writes nothing (its caller moves it the Python way), the others stand with their
    events, every card's stored sums stay what the aggregate computes, and a board's
    events are numbered in the answers' (learner, word) order."""
    setup, board = await watched(client, settings)
    teacher = setup.place.teacher
    first = data_of(await put(client, setup.learner, WORDS[0], 1, 1), 201)
    await board.since()  # its card.progress and the card's move to in_progress
    other = await user(client, role="learner", name="Omar")
    student = (await join(client, other, setup.place.classroom["student_join_code"]))["student"]
    await create_card(client, teacher, setup.lesson["id"], student["id"])
    await board.since()
    database = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with database.autocommit() as session:
            lena, omar = uuid.UUID(setup.learner.id), uuid.UUID(other.id)
            stored = await progress_repository.get(session, lena, WORDS[0])
            assert stored is not None
            assert stored.study_count == first["studyCount"]
            now = utcnow()

            def answer(learner: uuid.UUID, seen: Any, word: str, study: int) -> Answer:
                made = apply_update(seen, Update(word, study, 1, 3), now)
                assert isinstance(made, Created | Changed)
                name = setup.learner.name if learner == lena else other.name
                event = (f"progress:{learner}", "progress.updated", '{"answered": true}')
                return Answer(learner, made.record, seen, event, name, now)

            answers = [
                answer(omar, None, WORDS[0], 1),  # Omar's first study: his card would move
                answer(lena, stored, WORDS[0], 3),
                answer(lena, None, WORDS[1], 1),
                answer(lena, stored, WORDS[0], 2),  # read before the write above: changed since
            ]
            outcomes = await learner_writes.write(
                session,
                answers,
                card_event=board_progress.card_event_sql(),
                advances=board_progress.advances_sql(),
            )
            assert [o.state for o in outcomes] == [MOVES, WRITTEN, WRITTEN, CHANGED]
            assert await card_progress.drifted(session) == []
            assert await progress_repository.get(session, omar, WORDS[0]) is None
    finally:
        await database.dispose()
    last = isoformat(now)
    got = await board.since()
    # WORDS[1] ("es:adios") sorts before WORDS[0] ("es:hola"): its answer went first.
    assert [(name, data["progress"]) for name, data, _ in got] == [
        ("card.progress", sums(3, 2, 0, 2, 2, last)),
        ("card.progress", sums(3, 2, 0, 4, 2, last)),
    ]
    assert {data["id"] for _, data, _ in got} == {setup.card["id"]}
    # What each written answer's outcome names is what the store holds, seq for seq.
    for answered in outcomes[1:3]:
        for appended in answered.events:
            held = (await stored_events(settings, appended.channel, appended.seq - 1))[0]
            assert (held.seq, held.name, held.data) == (
                appended.seq,
                appended.name,
                json.loads(appended.data),
            )
