"""The board read shows every card exactly as the REST answers about it did.

Cards are read as plain rows (``storage/repositories/cards.py``) and shown by the one
builder, ``CardOut.of``, which the REST answers and events use too. This checks, on each
backend, a board with templates, names that need escaping, shuffled positions, a held
lock and an expired one, and every filter: each card on the board is the one the last
answer about it showed (lock fields only while the lease runs), positions are the whole
column's under a filter, and every instant is in the API's one format.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from storage.base import utcnow
from storage.database import Database
from storage.models import Card
from tests.board_helpers import (
    assert_dense,
    cards_by_id,
    fill,
    get_board,
    ids_by_status,
    move,
    room,
)
from tests.helpers import bearer, signed_in

Client = AsyncTestClient[Litestar]
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
LOCK_FIELDS = ("locked_by", "locked_by_name", "locked_at", "lock_expires_at")


async def _board(
    client: Client,
) -> tuple[dict[str, str], dict[str, dict[str, Any]], dict[str, Any], list[dict[str, str]]]:
    """The teacher's headers, the last answer about each card, the held lock's answer and
    the students; the card ``expired`` is locked too, its lease about to be ended."""
    teacher = await signed_in(client, role="teacher", name='Zoë O\'Hara "quoted"')
    headers = bearer(teacher["access_token"])
    classroom = (
        await client.post("/api/teacher/classrooms", json={"name": "7C"}, headers=headers)
    ).json()["data"]
    students = [
        (
            await client.post(
                "/api/teacher/students",
                json={"classroom_id": classroom["id"], "name": name},
                headers=headers,
            )
        ).json()["data"]
        for name in ("Ana", "Bruno", "Chloé")
    ]
    lessons = [
        (
            await client.post(
                "/api/teacher/lessons",
                json={"classroom_id": classroom["id"], "title": title, "category": category},
                headers=headers,
            )
        ).json()["data"]
        for title, category in (("Fractions", "Math"), ("Verbs", "Language"), ("Plants", "Science"))
    ]
    made = []
    for lesson in lessons:
        for student in [*students, None]:
            body = {"lesson_id": lesson["id"], "student_id": student["id"] if student else None}
            made.append(
                (
                    await client.post(
                        "/api/teacher/progress-board/cards", json=body, headers=headers
                    )
                ).json()["data"]
            )
    # Spread cards over the columns and reorder some.
    for index, card in enumerate(made[:8]):
        target = "in_progress" if index % 2 else "not_started"
        moved = await client.patch(
            f"/api/teacher/progress-board/cards/{card['id']}/move",
            json={"new_status": target, "new_position": 0, "version": card["updated_at"]},
            headers=headers,
        )
        assert moved.status_code == 200, moved.text
        made[index] = moved.json()["data"]
    locks = []
    for card in (made[9], made[10]):
        locked = await client.post(
            f"/api/teacher/progress-board/cards/{card['id']}/lock", headers=headers
        )
        assert locked.status_code == 200, locked.text
        locks.append(locked.json()["data"])
    answers = {card["id"]: card for card in made}
    answers["expired"] = made[10]
    return headers, answers, locks[0], students


@pytest.mark.parametrize("filtered", ["none", "student", "category", "status"])
async def test_the_board_shows_each_card_as_its_answers_did(
    client: Client, database_url: str, filtered: str
) -> None:
    headers, answers, held, students = await _board(client)
    expired = answers.pop("expired")
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await session.execute(
                update(Card)
                .where(Card.id == uuid.UUID(expired["id"]))
                .values(lock_expires_at=utcnow() - timedelta(seconds=1))
            )
    finally:
        await database.dispose()
    params = {
        "student": {"student_id": students[1]["id"]},
        "category": {"category": "Language"},
        "status": {"status": "in_progress"},
    }.get(filtered, {})
    whole = (await client.get("/api/teacher/progress-board", headers=headers)).json()["data"]
    board = (
        await client.get("/api/teacher/progress-board", params=params, headers=headers)
    ).json()["data"]
    assert_dense(whole)
    shown = cards_by_id(board)
    everything = cards_by_id(whole)
    wanted = {
        card_id
        for card_id, card in everything.items()
        if filtered == "none"
        or (filtered == "student" and card["student_id"] == students[1]["id"])
        or (filtered == "category" and card["lesson_category"] == "Language")
        or (filtered == "status" and card["status"] == "in_progress")
    }
    assert wanted, "the check must cover cards"
    assert set(shown) == wanted
    for card_id, card in shown.items():
        assert card == everything[card_id]  # a filter keeps the whole column's positions
        answer = answers[card_id]
        unlocked = {k: v for k, v in card.items() if k not in {"position", *LOCK_FIELDS}}
        assert unlocked == {k: v for k, v in answer.items() if k in unlocked}
        for name in ("created_at", "updated_at", "locked_at", "lock_expires_at"):
            assert card[name] is None or INSTANT.fullmatch(card[name]), card[name]
        if card_id == held["id"]:
            assert (card["locked_by"], card["locked_at"], card["lock_expires_at"]) == (
                held["locked_by"],
                held["locked_at"],
                held["expires_at"],
            )
            assert card["locked_by_name"] == 'Zoë O\'Hara "quoted"'
        else:  # never locked, or its lease ended: no lock shown
            assert all(card[name] is None for name in LOCK_FIELDS), card
    if filtered == "none":
        assert {held["id"], expired["id"]} <= set(shown)


async def test_many_moves_into_one_gap_keep_the_order(client: Client) -> None:
    """Moves take the midpoint of their neighbours' keys; forty moves into the same slot
    exhaust the gap several times over, and the column is renumbered each time, with the
    order exactly what the moves said."""
    place = await room(client, students=("Ann", "Ben", "Cleo", "Dev"), lessons=(("Sums", "Math"),))
    ids = (await fill(client, place, {"not_started": 4}))["not_started"]
    expected = list(ids)
    for turn in range(40):
        card_id = expected[-1] if turn % 2 else expected[0]
        card = cards_by_id(await get_board(client, place.teacher))[card_id]
        response = await move(client, place.teacher, card, "not_started", 1)
        assert response.status_code == 200, response.text
        expected.remove(card_id)
        expected.insert(1, card_id)
    board = await get_board(client, place.teacher)
    assert_dense(board)
    assert ids_by_status(board)["not_started"] == expected
