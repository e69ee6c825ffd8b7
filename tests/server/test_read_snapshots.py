"""Reads are exact while others write (contract §5, §6, §7), on either backend.

A board read's ``seq`` says which events its cards already hold: exactly those up to ``seq``,
so that a client that subscribes with ``since`` = ``seq`` applies every later event once and
no event twice, learners' progress on the cards included (§9). The same holds for
``GET /api/v1/progress`` (``{items, seq}``).

Each test writes a fixed number of times through a really served app (on PostgreSQL each
request has its own connection, so reads and commits truly interleave) while other clients
read over and over. Afterwards it replays the stored events from a quiescent starting read
and checks that every read equals the replay up to exactly its ``seq``. The replay is
written here on purpose, from the events' data alone (what a client has), so that it cannot
share a mistake with the server's read path.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from server.settings import Settings
from storage import events
from tests.board_helpers import (
    BOARD,
    LEARNER_JOIN,
    LESSONS,
    STATUSES,
    columns,
    data_of,
    get_board,
    move,
    post_card,
    room,
)
from tests.helpers import bearer, signed_in, stored_events
from tests.live import live

Columns = dict[str, list[dict[str, Any]]]

WRITERS = 2
WRITES_EACH = 40  # about a second's work on either backend; the readers stop with them
READERS = 3
MIN_SEQS_READ = 10  # reads at fewer seqs did not race the writes enough to mean anything


@pytest.fixture
async def http(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with live(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as client:
        yield client


def _mismatches(
    reads: list[tuple[int, Any]], replayed: dict[int, Any]
) -> list[tuple[int, Any, Any]]:
    return [(seq, seen, replayed.get(seq)) for seq, seen in reads if seen != replayed.get(seq)]


# --- the board -------------------------------------------------------------------------------


def _apply_board_event(board: Columns, name: str, data: dict[str, Any]) -> None:
    """A client's view of one board event: the card named goes where the event says, the
    others of its columns close up or make room (contract §5, §7)."""
    if name == "card.created":
        board[data["status"]].insert(data["position"], data)
    elif name == "card.moved":
        card = data["card"]
        source = board[data["from_status"]]
        assert source[data["from_position"]]["id"] == card["id"], (name, data)
        del source[data["from_position"]]
        board[card["status"]].insert(card["position"], card)
    elif name == "card.progress":
        for cards in board.values():
            for index, card in enumerate(cards):
                if card["id"] == data["id"]:
                    cards[index] = card | {"progress": data["progress"]}
                    return
        raise AssertionError(f"card.progress for a card not on the board: {data}")
    else:
        raise AssertionError(f"the test wrote no {name} event")


def _positioned(board: Columns) -> Columns:
    """The board as a read shows it: each card with its index in its column as position."""
    return {
        status: [card | {"position": index} for index, card in enumerate(cards)]
        for status, cards in board.items()
    }


def _next_statuses(status: str) -> list[str]:
    """Where a card in ``status`` may go: its own column, an earlier one or the next one."""
    index = STATUSES.index(status)
    return list(STATUSES[: min(index + 2, len(STATUSES))])


async def test_every_board_read_holds_exactly_the_events_up_to_its_seq(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    place = await room(
        http,
        students=[f"S{n}" for n in range(4)],
        lessons=[(f"L{n}", f"C{n % 3}") for n in range(5)],
    )
    teacher = place.teacher
    pairs = [(lesson["id"], s["id"]) for lesson in place.lessons for s in place.students]
    random.Random(12).shuffle(pairs)
    cards: dict[str, dict[str, Any]] = {}  # each card as its last write returned it
    for lesson_id, student_id in pairs[:10]:
        card = data_of(await post_card(http, teacher, lesson_id, student_id), 201)
        cards[card["id"]] = card
    to_create = pairs[10:]
    start = await get_board(http, teacher, classroom_id=place.id)

    writing = WRITERS
    reads: list[tuple[int, Columns]] = []

    async def writer(number: int) -> None:
        nonlocal writing
        chooser = random.Random(number)
        for _ in range(WRITES_EACH):
            # Each writer moves its own half of the cards: no version conflicts.
            mine = [c for index, c in enumerate(cards.values()) if index % WRITERS == number]
            if to_create and chooser.random() < 0.2:
                lesson_id, student_id = to_create.pop()
                card = data_of(await post_card(http, teacher, lesson_id, student_id), 201)
            else:
                card = chooser.choice(mine)
                status = chooser.choice(_next_statuses(card["status"]))
                response = await move(http, teacher, card, status, chooser.randrange(20))
                card = data_of(response)
            cards[card["id"]] = card
        writing -= 1

    async def reader(number: int) -> None:
        # Half the readers take gzip: the cache keeps each encoding under its own key.
        encoding = "gzip" if number % 2 else "identity"
        headers = teacher.headers | {"Accept-Encoding": encoding}
        while writing:
            response = await http.get(BOARD, params={"classroom_id": place.id}, headers=headers)
            board = data_of(response)
            reads.append((board["seq"], columns(board)))

    await asyncio.gather(*(writer(n) for n in range(WRITERS)), *(reader(n) for n in range(READERS)))

    replayed: dict[int, Columns] = {start["seq"]: columns(start)}
    board = {status: list(cards) for status, cards in columns(start).items()}
    channel = place.channel
    for event in await stored_events(settings, channel, start["seq"]):
        _apply_board_event(board, event.name, event.data)
        replayed[event.seq] = _positioned(board)
    final = await get_board(http, teacher, classroom_id=place.id)
    assert final["seq"] == max(replayed)
    assert columns(final) == replayed[final["seq"]]
    assert len({seq for seq, _ in reads}) >= MIN_SEQS_READ
    wrong = _mismatches(reads, replayed)
    assert not wrong, (
        f"{len(wrong)} of {len(reads)} reads do not hold exactly the events up to their seq; "
        f"the first at seq {wrong[0][0]}"
    )


async def test_every_board_read_holds_exactly_the_progress_up_to_its_seq(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    """Contract §9: learners' answers change their cards' ``progress`` (and auto-advance
    moves them) while a teacher moves cards and readers read: each read's cards, progress
    included, are exactly the replay of the events up to its ``seq``."""
    place = await room(http, students=(), lessons=[(f"L{n}", "Spanish") for n in range(3)])
    teacher = place.teacher
    words = ["es:hola", "es:adios", "es:gracias", "es:gato"]
    for index, lesson in enumerate(place.lessons):
        body = {"word_ids": words[index : index + 2]}
        data_of(await http.patch(f"{LESSONS}/{lesson['id']}", json=body, headers=teacher.headers))
    learners = []
    for n in range(WRITERS):
        login = await signed_in(http, name=f"Learner {n}")
        headers = bearer(login["access_token"])
        code = {"join_code": place.classroom["student_join_code"]}
        student = data_of(await http.post(LEARNER_JOIN, json=code, headers=headers))["student"]
        learners.append(headers)
        for lesson in place.lessons:
            data_of(await post_card(http, teacher, lesson["id"], student["id"]), 201)
    start = await get_board(http, teacher, classroom_id=place.id)
    writing = WRITERS + 1
    reads: list[tuple[int, Columns]] = []

    async def learner(number: int) -> None:
        nonlocal writing
        chooser = random.Random(number)
        counts: dict[str, int] = {}
        for _ in range(WRITES_EACH):
            word = chooser.choice(words)
            if counts.get(word) and chooser.random() < 0.1:
                data_of(await http.delete(f"/api/v1/progress/{word}", headers=learners[number]))
                counts[word] = 0
                continue
            counts[word] = counts.get(word, 0) + 1
            body = {
                "studyCount": counts[word],
                "correctCount": 0,
                "confidence": chooser.randrange(6),
                "mastered": chooser.random() < 0.6,
            }
            response = await http.put(
                f"/api/v1/progress/{word}", json=body, headers=learners[number]
            )
            assert response.status_code in {200, 201}, response.text
        writing -= 1

    async def mover() -> None:
        nonlocal writing
        chooser = random.Random(99)
        for _ in range(WRITES_EACH // 2):
            board = await get_board(http, teacher, classroom_id=place.id)
            card = chooser.choice([c for cards in columns(board).values() for c in cards])
            # A move back to not_started: auto-advance moves it on again at the next answer.
            response = await move(http, teacher, card, "not_started", chooser.randrange(4))
            assert response.status_code in {200, 409}, response.text  # 409: auto-advanced
        writing -= 1

    async def reader() -> None:
        while writing:
            response = await http.get(
                BOARD, params={"classroom_id": place.id}, headers=teacher.headers
            )
            board = data_of(response)
            reads.append((board["seq"], columns(board)))

    await asyncio.gather(
        *(learner(n) for n in range(WRITERS)), mover(), *(reader() for _ in range(READERS))
    )

    replayed: dict[int, Columns] = {start["seq"]: columns(start)}
    board = {status: list(cards) for status, cards in columns(start).items()}
    names = set()
    for event in await stored_events(settings, place.channel, start["seq"]):
        _apply_board_event(board, event.name, event.data)
        names.add((event.name, event.actor_name))
        replayed[event.seq] = _positioned(board)
    assert ("card.moved", "Tandem") in names
    assert any(name == "card.progress" for name, _ in names)
    final = await get_board(http, teacher, classroom_id=place.id)
    assert columns(final) == replayed[final["seq"]]
    assert len({seq for seq, _ in reads}) >= MIN_SEQS_READ
    wrong = _mismatches(reads, replayed)
    assert not wrong, (
        f"{len(wrong)} of {len(reads)} reads do not hold exactly the events up to their seq; "
        f"the first at seq {wrong[0][0]}"
    )


# --- the progress list -----------------------------------------------------------------------


WORDS = [f"w{n}" for n in range(8)]


async def test_every_progress_list_holds_exactly_the_events_up_to_its_seq(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    login = await signed_in(http)
    headers = bearer(login["access_token"])
    channel = events.progress_channel(uuid.UUID(login["user"]["id"]))
    start = data_of(await http.get("/api/v1/progress", headers=headers))
    assert start == {"items": [], "seq": 0}

    writing = WRITERS
    reads: list[tuple[int, dict[str, Any]]] = []

    async def writer(number: int) -> None:
        nonlocal writing
        chooser = random.Random(number)
        counts = dict.fromkeys(WORDS[number::WRITERS], 0)
        for _ in range(WRITES_EACH):
            word = chooser.choice(list(counts))
            if counts[word] and chooser.random() < 0.1:
                data_of(await http.delete(f"/api/v1/progress/{word}", headers=headers))
                counts[word] = 0
            else:
                counts[word] += 1
                body = {"studyCount": counts[word], "correctCount": 0, "confidence": 3}
                response = await http.put(f"/api/v1/progress/{word}", json=body, headers=headers)
                assert response.status_code in {200, 201}, response.text
        writing -= 1

    async def reader() -> None:
        while writing:
            listing = data_of(await http.get("/api/v1/progress", headers=headers))
            reads.append((listing["seq"], {item["wordId"]: item for item in listing["items"]}))

    await asyncio.gather(*(writer(n) for n in range(WRITERS)), *(reader() for _ in range(READERS)))

    replayed: dict[int, dict[str, Any]] = {0: {}}
    records: dict[str, Any] = {}
    for event in await stored_events(settings, channel, 0):
        if event.name == "progress.updated":
            records[event.data["wordId"]] = event.data
        else:
            assert event.name == "progress.deleted", event
            del records[event.data["wordId"]]
        replayed[event.seq] = dict(records)
    assert len({seq for seq, _ in reads}) >= MIN_SEQS_READ
    wrong = _mismatches(reads, replayed)
    assert not wrong, (
        f"{len(wrong)} of {len(reads)} lists do not hold exactly the events up to their seq; "
        f"the first at seq {wrong[0][0]}"
    )
