"""Concurrent writes to one board (contract §5), on either backend.

Requests are fired together with ``asyncio.gather`` at a really served app (``live``: the
test client's transport runs one request at a time, so it could not race anything). Of many
moves of one card with one version exactly one wins; concurrent moves of different cards
leave every column dense with every card once; one lock has one holder; one pair gets one
card. No request may fail with a 500, SQLite included.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.board_helpers import (
    CARDS,
    STATUSES,
    assert_dense,
    cards_by_id,
    co_teacher,
    columns,
    data_of,
    fill,
    get_board,
    move,
    post_card,
    room,
)
from tests.helpers import error_of
from tests.live import served

Client = httpx.AsyncClient


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app served for real, so that requests do run at the same time."""
    async with served(app) as http:
        yield http


def codes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    """How many answers of each (status, error code)."""
    counted: Counter[tuple[int, str | None]] = Counter()
    for response in responses:
        body = response.json()
        counted[response.status_code, None if body["success"] else body["error"]["code"]] += 1
    return counted


async def test_one_of_fifty_moves_with_one_version_wins(client: Client) -> None:
    place = await room(client)
    await fill(client, place, {"not_started": 3, "in_progress": 3})
    board = await get_board(client, place.teacher)
    card = columns(board)["not_started"][1]
    targets = [("not_started", 0), ("not_started", 2), ("in_progress", 0), ("in_progress", 9)]

    responses = await asyncio.gather(
        *(move(client, place.teacher, card, *targets[index % len(targets)]) for index in range(50))
    )
    assert codes(responses) == {(200, None): 1, (409, "VERSION_CONFLICT"): 49}
    (winner,) = (data_of(r) for r in responses if r.status_code == 200)
    after = await get_board(client, place.teacher)
    assert_dense(after)
    assert after["seq"] == board["seq"] + 1
    shown = cards_by_id(after)[card["id"]]
    assert (shown["status"], shown["position"], shown["updated_at"]) == (
        winner["status"],
        winner["position"],
        winner["updated_at"],
    )
    assert len(cards_by_id(after)) == len(cards_by_id(board))


async def test_twenty_concurrent_moves_of_different_cards_keep_columns_dense(
    client: Client,
) -> None:
    place = await room(
        client,
        students=("Ann", "Ben", "Cleo", "Dan"),
        lessons=[(f"Lesson {n}", f"Category {n % 2}") for n in range(5)],
    )
    await fill(
        client, place, {"not_started": 6, "in_progress": 5, "needs_review": 5, "mastered": 4}
    )
    board = await get_board(client, place.teacher)
    cards = list(cards_by_id(board).values())
    assert len(cards) == 20
    chooser = random.Random(20)
    planned: dict[str, str] = {}
    requests = []
    for card in cards:
        index = STATUSES.index(card["status"])
        target = STATUSES[chooser.randrange(0, min(index + 2, len(STATUSES)))]
        planned[card["id"]] = target
        requests.append(move(client, place.teacher, card, target, chooser.randrange(0, 8)))

    responses = await asyncio.gather(*requests)
    assert codes(responses) == {(200, None): 20}
    after = await get_board(client, place.teacher)
    assert_dense(after)
    shown = cards_by_id(after)
    assert {card_id: card["status"] for card_id, card in shown.items()} == planned
    assert after["seq"] == board["seq"] + 20


async def test_concurrent_lock_attempts_have_one_holder(client: Client) -> None:
    place = await room(client)
    await fill(client, place, {"in_progress": 1})
    card = columns(await get_board(client, place.teacher))["in_progress"][0]
    teachers = [place.teacher] + [await co_teacher(client, place, name=f"Co {n}") for n in range(3)]
    attempts = [teacher for teacher in teachers for _ in range(5)]

    responses = await asyncio.gather(
        *(client.post(f"{CARDS}/{card['id']}/lock", headers=t.headers) for t in attempts)
    )
    # The winner's other attempts are renewals; everyone else is refused.
    granted = {data_of(r)["locked_by"] for r in responses if r.status_code == 200}
    assert len(granted) == 1
    (holder,) = granted
    assert holder in {teacher.id for teacher in teachers}
    for teacher, response in zip(attempts, responses, strict=True):
        if teacher.id == holder:
            assert data_of(response)["locked_by"] == holder
        else:
            assert error_of(response, 409, "CARD_LOCKED")["details"]["locked_by"] == holder
    shown = cards_by_id(await get_board(client, place.teacher))[card["id"]]
    assert shown["locked_by"] == holder
    assert shown["updated_at"] == card["updated_at"]


async def test_concurrent_creates_of_one_pair_make_one_card(client: Client) -> None:
    place = await room(client)
    hedy = await co_teacher(client, place)
    lesson, student = place.lessons[0]["id"], place.students[0]["id"]
    before = (await get_board(client, place.teacher))["seq"]
    attempts: list[Any] = []
    for index in range(20):
        teacher = place.teacher if index % 2 else hedy
        attempts.append(post_card(client, teacher, lesson, student))
        attempts.append(post_card(client, teacher, lesson, None, "in_progress"))
    responses = await asyncio.gather(*attempts)

    pairs, templates = responses[0::2], responses[1::2]
    assert codes(pairs) == {(201, None): 1, (409, "DUPLICATE_ASSIGNMENT"): 19}
    assert codes(templates) == {(201, None): 1, (409, "DUPLICATE_ASSIGNMENT"): 19}
    board = await get_board(client, place.teacher)
    assert_dense(board)
    created = {data_of(r, 201)["id"] for r in responses if r.status_code == 201}
    assert set(cards_by_id(board)) == created
    assert board["seq"] == before + 2
