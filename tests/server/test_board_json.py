"""The database-built board JSON is exactly the board the Python objects describe.

``storage/repositories/board_json.py`` builds card JSON in SQL for speed; this compares
it, on each backend, with :func:`server.board.reads.build` over a board with templates,
shuffled positions, a held lock and an expired one, and every filter.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from server.board.reads import BoardQuery, _encoded, build
from server.http.envelope import ok
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


async def _board(client: Client) -> tuple[uuid.UUID, dict[str, str], list[dict[str, str]]]:
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
    held, expired = made[9], made[10]
    for card in (held, expired):
        assert (
            await client.post(
                f"/api/teacher/progress-board/cards/{card['id']}/lock", headers=headers
            )
        ).status_code == 200
    return uuid.UUID(classroom["id"]), {"held": held["id"], "expired": expired["id"]}, students


@pytest.mark.parametrize("filtered", ["none", "student", "category", "status"])
async def test_database_json_equals_the_python_board(
    client: Client, database_url: str, filtered: str
) -> None:
    classroom_id, locked, students = await _board(client)
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await session.execute(
                update(Card)
                .where(Card.id == uuid.UUID(locked["expired"]))
                .values(lock_expires_at=utcnow() - timedelta(seconds=1))
            )
        query = BoardQuery(
            classroom_id,
            student_id=uuid.UUID(students[1]["id"]) if filtered == "student" else None,
            category="Language" if filtered == "category" else None,
            status="in_progress" if filtered == "status" else None,
        )
        async with database.reader() as session:
            fast = msgspec.json.decode(await _encoded(session, classroom_id, 7, query))
            reference = msgspec.to_builtins(ok(await build(session, classroom_id, 7, query)))
    finally:
        await database.dispose()
    assert fast == reference
    cards = [card for column in fast["data"]["columns"] for card in column["cards"]]
    assert cards, "the comparison must cover cards"
    by_id = {card["id"]: card for card in cards}
    if filtered == "none":
        assert by_id[locked["held"]]["locked_by"] is not None
        assert by_id[locked["expired"]]["locked_by"] is None


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
