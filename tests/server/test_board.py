"""The teacher progress board over REST (progress-board-api.md, contract §5), either backend.

Every endpoint, field and error code: the board read (shape, default classroom, filters,
``seq``, ETag and 304), creating cards (templates, duplicates, strangers' lessons and
students), moves (reorders, transitions, positions, versions, the order of the checks),
locks (take, renew, refuse, release, expire), batch moves and deletes. After every write the
whole board is read back and checked: positions dense, every card once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.board.routes import accepts_gzip
from server.settings import Settings
from storage.repositories import cards as cards_repo
from storage.repositories import classrooms as classrooms_repo
from tests.board_helpers import (
    BATCH_MOVE,
    BOARD,
    CARD_KEYS,
    CARDS,
    LEARNER_JOIN,
    LESSONS,
    STATUSES,
    TIMESTAMP,
    User,
    add_lesson,
    add_student,
    assert_dense,
    cards_by_id,
    co_teacher,
    columns,
    create_card,
    create_classroom,
    data_of,
    fill,
    get_board,
    ids_by_status,
    move,
    post_card,
    room,
    user,
)
from tests.helpers import Client as AnyClient
from tests.helpers import error_of, statements_run, stored_events
from tests.live import frame_where, live, subscribe, websocket

Client = AsyncTestClient[Litestar]
OLD_VERSION = "2020-01-01T00:00:00.000000Z"


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def card_now(client: Client, teacher: User, card_id: str) -> dict[str, Any]:
    """The card as the board shows it now (checking the whole board on the way)."""
    board = await get_board(client, teacher)
    assert_dense(board)
    return cards_by_id(board)[card_id]


def moved(layout: dict[str, list[str]], card_id: str, status: str, position: int) -> None:
    """Apply a move to a model of the board (status → ids in order), as §5 describes it."""
    for ids in layout.values():
        if card_id in ids:
            ids.remove(card_id)
    target = layout[status]
    target.insert(min(position, len(target)), card_id)


async def lock(client: AnyClient, teacher: User, card_id: str) -> httpx.Response:
    return await client.post(f"{CARDS}/{card_id}/lock", headers=teacher.headers)


async def unlock(client: AnyClient, teacher: User, card_id: str) -> httpx.Response:
    return await client.delete(f"{CARDS}/{card_id}/lock", headers=teacher.headers)


async def delete(client: AnyClient, teacher: User, card_id: str) -> httpx.Response:
    return await client.delete(f"{CARDS}/{card_id}", headers=teacher.headers)


async def batch(client: AnyClient, teacher: User, moves: list[dict[str, Any]]) -> httpx.Response:
    return await client.post(BATCH_MOVE, json={"moves": moves}, headers=teacher.headers)


def move_of(
    card: dict[str, Any], status: str, position: int, version: str | None = None
) -> dict[str, Any]:
    return {
        "card_id": card["id"],
        "new_status": status,
        "new_position": position,
        "version": card["updated_at"] if version is None else version,
    }


# --- reading the board -------------------------------------------------------------------------


async def test_the_board_has_four_columns_cards_filters_and_seq(client: Client) -> None:
    place = await room(client, students=("Ann", "Ben", "Cleo", "Dan"))
    await add_lesson(client, place.teacher, place.id, "Magnets", "Physics")  # no card
    ids = await fill(client, place, {"not_started": 3, "in_progress": 2, "mastered": 1})
    template = await create_card(client, place.teacher, place.lessons[1]["id"], None)

    response = await client.get(BOARD, headers=place.teacher.headers)
    board = data_of(response)
    assert {"columns", "filters", "seq"} <= set(board)
    assert [
        (c["status_value"], c["name"], c["color"], c["position"]) for c in board["columns"]
    ] == [
        ("not_started", "Not Started", "#ef4444", 0),
        ("in_progress", "In Progress", "#f59e0b", 1),
        ("needs_review", "Needs Review", "#3b82f6", 2),
        ("mastered", "Mastered", "#22c55e", 3),
    ]
    column_ids = [column["id"] for column in board["columns"]]
    assert len(set(column_ids)) == 4
    for column_id in column_ids:
        uuid.UUID(column_id)
    ids["not_started"].append(template["id"])
    assert ids_by_status(board) == ids
    assert_dense(board)

    lessons = {lesson["id"]: lesson for lesson in place.lessons}
    students = {student["id"]: student for student in place.students}
    for card in cards_by_id(board).values():
        assert set(card) >= CARD_KEYS
        uuid.UUID(card["id"])
        lesson = lessons[card["lesson_id"]]
        assert (card["lesson_title"], card["lesson_category"]) == (
            lesson["title"],
            lesson["category"],
        )
        if card["id"] == template["id"]:
            assert (card["student_id"], card["student_name"]) == (None, None)
        else:
            assert card["student_name"] == students[card["student_id"]]["name"]
        assert (card["locked_by"], card["locked_at"]) == (None, None)
        assert TIMESTAMP.match(card["updated_at"])

    # Every student (Dan has no card) and every category (Physics has no card).
    assert sorted(board["filters"]["students"], key=lambda s: s["name"]) == [
        {"id": s["id"], "name": s["name"]} for s in place.students
    ]
    assert sorted(board["filters"]["categories"]) == [
        "Language",
        "Mathematics",
        "Physics",
        "Science",
    ]
    # One student.added and lesson.added each (§7), then one card.created each.
    assert board["seq"] == len(place.students) + len(place.lessons) + 1 + 7  # and Magnets


async def test_the_default_board_is_the_first_classroom_joined(client: Client) -> None:
    teacher, other = await user(client, name="Grace"), await user(client, name="Bob")
    bobs = await room(client, teacher=other, name="Bob's", students=("Zed",))
    first = await room(client, teacher=teacher, name="First", students=("Ann",))
    data_of(
        await client.post(
            "/api/teacher/classrooms/join",
            json={"join_code": bobs.classroom["teacher_join_code"]},
            headers=teacher.headers,
        )
    )
    second = await room(client, teacher=teacher, name="Second", students=("Ben",))

    board = await get_board(client, teacher)
    assert board["classroom_id"] == first.id
    assert board["filters"]["students"] == [{"id": first.students[0]["id"], "name": "Ann"}]
    for chosen in (bobs, second):
        board = await get_board(client, teacher, classroom_id=chosen.id)
        assert board["filters"]["students"] == [
            {"id": chosen.students[0]["id"], "name": chosen.students[0]["name"]}
        ]


async def test_a_teacher_without_a_classroom_gets_404_saying_what_to_do(client: Client) -> None:
    teacher = await user(client)
    error = error_of(await client.get(BOARD, headers=teacher.headers), 404, "NOT_FOUND")
    message = error["message"].lower()
    assert "create" in message
    assert "join" in message


async def test_someone_elses_or_an_unknown_classroom_is_404(client: Client) -> None:
    place = await room(client)
    stranger = await user(client, name="Mallory")
    await create_classroom(client, stranger)
    for classroom_id in (place.id, str(uuid.uuid4())):
        response = await client.get(
            BOARD, params={"classroom_id": classroom_id}, headers=stranger.headers
        )
        error_of(response, 404, "NOT_FOUND")
    response = await client.get(BOARD, params={"classroom_id": "nope"}, headers=stranger.headers)
    error_of(response, 400, "VALIDATION_ERROR")


async def test_the_board_needs_a_teacher(client: Client) -> None:
    error_of(await client.get(BOARD), 401, "UNAUTHORIZED")
    learner = await user(client, role="learner")
    error_of(await client.get(BOARD, headers=learner.headers), 403, "FORBIDDEN")


async def test_filters_by_student_category_and_status(client: Client) -> None:
    place = await room(client)
    ann, ben = place.students[0], place.students[1]
    maths, language = place.lessons[0], place.lessons[1]
    cards = {
        "ann-maths": await create_card(client, place.teacher, maths["id"], ann["id"]),
        "ben-maths": await create_card(
            client, place.teacher, maths["id"], ben["id"], "in_progress"
        ),
        "ann-language": await create_card(
            client, place.teacher, language["id"], ann["id"], "in_progress"
        ),
        "maths-template": await create_card(client, place.teacher, maths["id"], None),
    }
    full = await get_board(client, place.teacher)

    def shown(board: dict[str, Any]) -> set[str]:
        assert board["filters"] == full["filters"]  # whatever the filters
        assert [c["status_value"] for c in board["columns"]] == list(STATUSES)
        by_id = {card["id"]: name for name, card in cards.items()}
        return {by_id[card_id] for card_id in cards_by_id(board)}

    teacher = place.teacher
    assert shown(await get_board(client, teacher, student_id=ann["id"])) == {
        "ann-maths",
        "ann-language",
    }
    assert shown(await get_board(client, teacher, category="Mathematics")) == {
        "ann-maths",
        "ben-maths",
        "maths-template",
    }
    assert shown(await get_board(client, teacher, status="in_progress")) == {
        "ben-maths",
        "ann-language",
    }
    assert shown(
        await get_board(client, teacher, student_id=ann["id"], category="Mathematics")
    ) == {"ann-maths"}
    assert shown(await get_board(client, teacher, category="Nothing")) == set()
    # Filtered cards keep their real positions.
    filtered = await get_board(client, teacher, status="in_progress")
    assert [card["position"] for card in columns(filtered)["in_progress"]] == [0, 1]


async def test_an_unknown_status_filter_is_400(client: Client) -> None:
    place = await room(client)
    response = await client.get(BOARD, params={"status": "done"}, headers=place.teacher.headers)
    error_of(response, 400, "VALIDATION_ERROR")


async def test_a_nul_character_in_a_filter_is_400_naming_it(client: Client) -> None:
    # %00 decodes to U+0000, which PostgreSQL cannot compare with: refused on both backends.
    place = await room(client)
    params = {"classroom_id": place.id, "category": "vocab\u0000"}
    response = await client.get(BOARD, params=params, headers=place.teacher.headers)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert error["details"]["fields"] == [
        {"field": "category", "message": "must not contain the NUL character"}
    ]


# Named: the read that a process can answer from the board's stamp, without the database
# (server/board/stamps.py); default: the first classroom, always read from the database.
NAMED_OR_DEFAULT = pytest.mark.parametrize("named", [True, False], ids=["named", "default"])


@NAMED_OR_DEFAULT
async def test_filters_follow_new_students_and_lessons(client: Client, named: bool) -> None:
    place = await room(client, students=("Ann",), lessons=(("Addition", "Mathematics"),))
    params = {"classroom_id": place.id} if named else {}
    before = await get_board(client, place.teacher)

    async def tag_now() -> str:
        response = await client.get(BOARD, params=params, headers=place.teacher.headers)
        return str(response.headers["etag"])

    async def read_if_changed(tag: str) -> dict[str, Any]:
        headers = {**place.teacher.headers, "If-None-Match": tag}
        response = await client.get(BOARD, params=params, headers=headers)
        assert response.headers["etag"] != tag
        board: dict[str, Any] = data_of(response)
        return board

    tag = await tag_now()
    dora = await add_student(client, place.teacher, place.id, "Dora")
    board = await read_if_changed(tag)
    assert {"id": dora["id"], "name": "Dora"} in board["filters"]["students"]
    assert len(board["filters"]["students"]) == len(before["filters"]["students"]) + 1

    tag = await tag_now()
    await add_lesson(client, place.teacher, place.id, "Rivers", "Geography")
    board = await read_if_changed(tag)
    assert sorted(board["filters"]["categories"]) == ["Geography", "Mathematics"]

    tag = await tag_now()
    learner = await user(client, role="learner", name="Lin")
    joined = await client.post(
        LEARNER_JOIN,
        json={"join_code": place.classroom["student_join_code"]},
        headers=learner.headers,
    )
    data_of(joined)
    board = await read_if_changed(tag)
    assert "Lin" in [student["name"] for student in board["filters"]["students"]]


# --- creating cards ----------------------------------------------------------------------------


async def test_create_answers_the_card_last_in_its_column(client: Client) -> None:
    place = await room(client)
    teacher, lesson = place.teacher, place.lessons[0]
    response = await post_card(client, teacher, lesson["id"], place.students[0]["id"])
    first = data_of(response, 201)
    assert set(first) >= CARD_KEYS | {"created_at"}
    assert (
        first["lesson_id"],
        first["lesson_title"],
        first["lesson_category"],
        first["student_id"],
        first["student_name"],
        first["status"],
        first["position"],
        first["locked_by"],
        first["locked_at"],
    ) == (
        lesson["id"],
        "Addition",
        "Mathematics",
        place.students[0]["id"],
        "Ann",
        "not_started",
        0,
        None,
        None,
    )
    assert TIMESTAMP.match(first["created_at"])
    assert first["created_at"] == first["updated_at"]

    second = await create_card(client, teacher, lesson["id"], place.students[1]["id"])
    assert (second["status"], second["position"]) == ("not_started", 1)
    elsewhere = await create_card(
        client, teacher, lesson["id"], place.students[2]["id"], "needs_review"
    )
    assert (elsewhere["status"], elsewhere["position"]) == ("needs_review", 0)
    third = await create_card(client, teacher, place.lessons[1]["id"], place.students[0]["id"])
    assert third["position"] == 2

    board = await get_board(client, teacher)
    assert_dense(board)
    assert ids_by_status(board)["not_started"] == [first["id"], second["id"], third["id"]]
    assert cards_by_id(board)[first["id"]] == {
        key: value for key, value in first.items() if key in cards_by_id(board)[first["id"]]
    }


async def test_template_cards_one_per_lesson(client: Client) -> None:
    place = await room(client)
    teacher, lesson = place.teacher, place.lessons[0]
    template = await create_card(client, teacher, lesson["id"], None, "in_progress")
    assert (template["student_id"], template["student_name"]) == (None, None)
    assert (template["status"], template["position"]) == ("in_progress", 0)
    # Leaving student_id out is the same as null.
    response = await client.post(CARDS, json={"lesson_id": lesson["id"]}, headers=teacher.headers)
    error_of(response, 409, "DUPLICATE_ASSIGNMENT")
    error_of(await post_card(client, teacher, lesson["id"], None), 409, "DUPLICATE_ASSIGNMENT")
    # Another lesson has its own template; the lesson's student cards are not templates.
    await create_card(client, teacher, place.lessons[1]["id"], None)
    await create_card(client, teacher, lesson["id"], place.students[0]["id"])
    board = await get_board(client, teacher)
    assert_dense(board)
    assert len(cards_by_id(board)) == 3


async def test_a_pair_has_one_card(client: Client) -> None:
    place = await room(client)
    pair = (place.lessons[0]["id"], place.students[0]["id"])
    before = (await get_board(client, place.teacher))["seq"]
    await create_card(client, place.teacher, *pair)
    error_of(await post_card(client, place.teacher, *pair), 409, "DUPLICATE_ASSIGNMENT")
    hedy = await co_teacher(client, place)
    error_of(await post_card(client, hedy, *pair, "mastered"), 409, "DUPLICATE_ASSIGNMENT")
    board = await get_board(client, place.teacher)
    assert board["seq"] == before + 1
    assert len(cards_by_id(board)) == 1


async def test_create_refuses_strangers_lessons_and_students(client: Client) -> None:
    place = await room(client)
    other = await room(client, teacher=await user(client, name="Mallory"), name="Other")
    mine = await room(client, teacher=place.teacher, name="Mine too", students=("Eve",))
    teacher = place.teacher
    cases = [
        (other.lessons[0]["id"], place.students[0]["id"]),
        (place.lessons[0]["id"], other.students[0]["id"]),
        (str(uuid.uuid4()), place.students[0]["id"]),
        (place.lessons[0]["id"], str(uuid.uuid4())),
        (other.lessons[0]["id"], None),
    ]
    for lesson_id, student_id in cases:
        error_of(await post_card(client, teacher, lesson_id, student_id), 404, "NOT_FOUND")
    # Both mine, but the student is in another classroom than the lesson.
    response = await post_card(client, teacher, place.lessons[0]["id"], mine.students[0]["id"])
    assert "student_id" in str(error_of(response, 400, "VALIDATION_ERROR")["details"])
    for board in (await get_board(client, teacher), await get_board(client, other.teacher)):
        assert cards_by_id(board) == {}


@pytest.mark.parametrize(
    "change",
    [
        {"status": "done"},
        {"status": 1},
        {"lesson_id": "not-a-uuid"},
        {"position": 0},
        {"locked_by": None},
        {"updated_at": OLD_VERSION},
    ],
)
async def test_create_refuses_a_bad_body(client: Client, change: dict[str, Any]) -> None:
    place = await room(client)
    body = {"lesson_id": place.lessons[0]["id"], "student_id": None, **change}
    response = await client.post(CARDS, json=body, headers=place.teacher.headers)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert next(iter(change)) in str(error["details"])
    response = await client.post(CARDS, json={"student_id": None}, headers=place.teacher.headers)
    assert "lesson_id" in str(error_of(response, 400, "VALIDATION_ERROR")["details"])
    assert cards_by_id(await get_board(client, place.teacher)) == {}


# --- moves -------------------------------------------------------------------------------------


async def test_reorder_within_a_column(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 4, "in_progress": 2})
    a, b, c, d = ids["not_started"]
    board = await get_board(client, place.teacher)
    before = cards_by_id(board)

    response = await move(client, place.teacher, before[a], "not_started", 2)
    card = data_of(response)
    assert (card["id"], card["status"], card["position"]) == (a, "not_started", 2)
    board = await get_board(client, place.teacher)
    assert_dense(board)
    assert ids_by_status(board)["not_started"] == [b, c, a, d]

    card = data_of(await move(client, place.teacher, before[d], "not_started", 0))
    assert card["position"] == 0
    board = await get_board(client, place.teacher)
    assert_dense(board)
    assert ids_by_status(board)["not_started"] == [d, b, c, a]
    assert ids_by_status(board)["in_progress"] == ids["in_progress"]


async def test_move_to_the_next_column(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 3, "in_progress": 2})
    before = cards_by_id(await get_board(client, place.teacher))
    a = ids["not_started"][0]
    card = data_of(await move(client, place.teacher, before[a], "in_progress", 1))
    assert (card["status"], card["position"]) == ("in_progress", 1)
    after = ids_by_status(await get_board(client, place.teacher))
    assert after["not_started"] == ids["not_started"][1:]
    assert after["in_progress"] == [ids["in_progress"][0], a, ids["in_progress"][1]]
    # And on, one column at a time, to mastered.
    card = data_of(await move(client, place.teacher, card, "needs_review", 0))
    card = data_of(await move(client, place.teacher, card, "mastered", 0))
    board = await get_board(client, place.teacher)
    assert_dense(board)
    assert ids_by_status(board)["mastered"] == [a]


async def test_back_to_any_earlier_column(client: Client) -> None:
    place = await room(client)
    ids = await fill(
        client, place, {"not_started": 1, "in_progress": 1, "needs_review": 2, "mastered": 2}
    )
    board = await get_board(client, place.teacher)
    cards = cards_by_id(board)
    layout = ids_by_status(board)
    for card_id, status, position in [
        (ids["mastered"][0], "not_started", 0),
        (ids["mastered"][1], "in_progress", 5),
        (ids["needs_review"][0], "not_started", 1),
        (ids["needs_review"][1], "needs_review", 0),
    ]:
        data_of(await move(client, place.teacher, cards[card_id], status, position))
        moved(layout, card_id, status, position)
        board = await get_board(client, place.teacher)
        assert_dense(board)
        assert ids_by_status(board) == layout


@pytest.mark.parametrize(
    ("start", "target"),
    [("not_started", "needs_review"), ("not_started", "mastered"), ("in_progress", "mastered")],
)
async def test_jumping_forward_over_a_column_is_400(
    client: Client, start: str, target: str
) -> None:
    place = await room(client)
    ids = await fill(client, place, {start: 2})
    board = await get_board(client, place.teacher)
    card = cards_by_id(board)[ids[start][0]]
    response = await move(client, place.teacher, card, target, 0)
    error_of(response, 400, "INVALID_STATUS_TRANSITION")
    assert await get_board(client, place.teacher) == board


async def test_a_bad_status_or_position_is_400(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2})
    board = await get_board(client, place.teacher)
    card = cards_by_id(board)[ids["not_started"][1]]
    error_of(await move(client, place.teacher, card, "done", 0), 400, "VALIDATION_ERROR")
    error_of(await move(client, place.teacher, card, "not_started", -1), 400, "VALIDATION_ERROR")
    path = f"{CARDS}/{card['id']}/move"
    for body in [
        {"new_status": "in_progress", "new_position": "0", "version": card["updated_at"]},
        {"new_status": "in_progress", "new_position": 0},
        {"new_status": "in_progress", "new_position": 0, "version": "yesterday"},
        {"new_status": "in_progress", "new_position": 0, "version": card["updated_at"], "x": 1},
    ]:
        response = await client.patch(path, json=body, headers=place.teacher.headers)
        error_of(response, 400, "VALIDATION_ERROR")
    assert await get_board(client, place.teacher) == board


async def test_a_position_past_the_end_means_last(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 3, "in_progress": 2})
    cards = cards_by_id(await get_board(client, place.teacher))
    first = ids["not_started"][0]
    card = data_of(await move(client, place.teacher, cards[first], "not_started", 99))
    assert card["position"] == 2
    card = data_of(await move(client, place.teacher, card, "in_progress", 1000))
    assert card["position"] == 2
    board = await get_board(client, place.teacher)
    assert_dense(board)
    assert ids_by_status(board)["in_progress"] == [*ids["in_progress"], first]
    # Beyond what a database integer holds: still last, not a server error.
    second = cards_by_id(board)[ids["not_started"][1]]
    card = data_of(await move(client, place.teacher, second, "in_progress", 10**15))
    assert card["position"] == 3


@pytest.mark.needs_postgres
async def test_a_move_on_postgresql_is_one_statement(client: Client, settings: Settings) -> None:
    """On PostgreSQL a move, its event and its commit are one autocommitted statement
    (storage/repositories/card_moves.py, migration 0013): the board's lock is held inside
    PostgreSQL only, and nothing is read before it. The moved card shows its stored
    progress sums (contract §9) and its event is the one the answer describes."""
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2, "in_progress": 1})
    card = cards_by_id(await get_board(client, place.teacher))[ids["not_started"][1]]
    with statements_run() as statements:
        response = await move(client, place.teacher, card, "in_progress", 0)
    moved = data_of(response)
    assert (moved["status"], moved["position"]) == ("in_progress", 0)
    assert len(statements) == 1, statements
    assert "tandem_move_card" in statements[0]
    assert "INSERT INTO events" in statements[0]
    board = await get_board(client, place.teacher)
    assert_dense(board)
    assert ids_by_status(board)["in_progress"] == [ids["not_started"][1], *ids["in_progress"]]
    last = (await stored_events(settings, place.channel))[-1]
    assert (last.name, last.data) == (
        "card.moved",
        {"card": moved, "from_status": "not_started", "from_position": 1},
    )


async def test_a_move_shows_the_card_as_it_is_when_moved(
    client: Client, settings: Settings
) -> None:
    """The lesson is renamed just before a move: the answer, the event and the board show
    the new title (on PostgreSQL the move statement builds its event from the card its lock
    found, storage/repositories/card_moves.py)."""
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2})
    card = cards_by_id(await get_board(client, place.teacher))[ids["not_started"][0]]
    renamed = await client.patch(
        f"{LESSONS}/{card['lesson_id']}", json={"title": "Renamed"}, headers=place.teacher.headers
    )
    assert data_of(renamed)["title"] == "Renamed"
    moved = data_of(await move(client, place.teacher, card, "in_progress", 0))
    assert (moved["lesson_title"], moved["status"], moved["position"]) == (
        "Renamed",
        "in_progress",
        0,
    )
    last = (await stored_events(settings, place.channel))[-1]
    assert last.data == {"card": moved, "from_status": "not_started", "from_position": 0}
    assert cards_by_id(await get_board(client, place.teacher))[card["id"]] == moved


async def test_a_move_gives_only_the_moved_card_a_new_version(client: Client) -> None:
    place = await room(client)
    await fill(client, place, {"not_started": 4, "in_progress": 3})
    board = await get_board(client, place.teacher)
    before = cards_by_id(board)
    card = columns(board)["not_started"][0]
    after_move = data_of(await move(client, place.teacher, card, "in_progress", 0))
    assert instant(after_move["updated_at"]) > instant(card["updated_at"])
    assert TIMESTAMP.match(after_move["updated_at"])

    board = await get_board(client, place.teacher)
    assert_dense(board)
    for card_id, now in cards_by_id(board).items():
        if card_id == card["id"]:
            assert now == {k: v for k, v in after_move.items() if k in now}
        else:  # shifted or untouched, its version stays
            assert now["updated_at"] == before[card_id]["updated_at"]
    # The answer's updated_at is the next version; the old one is now stale.
    data_of(await move(client, place.teacher, after_move, "in_progress", 2))
    response = await move(client, place.teacher, card, "not_started", 0)
    error_of(response, 409, "VERSION_CONFLICT")


async def test_a_stale_version_is_409_with_the_current_card(client: Client) -> None:
    place = await room(client)
    await fill(client, place, {"not_started": 2})
    card = columns(await get_board(client, place.teacher))["not_started"][0]
    hedy = await co_teacher(client, place)
    data_of(await move(client, hedy, card, "in_progress", 0))
    board = await get_board(client, place.teacher)
    current = cards_by_id(board)[card["id"]]

    response = await move(client, place.teacher, card, "not_started", 1)
    error = error_of(response, 409, "VERSION_CONFLICT")
    shown = error["details"]["current"]
    assert set(shown) >= CARD_KEYS
    assert {key: shown[key] for key in current} == current
    assert await get_board(client, place.teacher) == board
    # Retrying with the version from details.current works.
    retried = data_of(await move(client, place.teacher, shown, "not_started", 1))
    assert (retried["status"], retried["position"]) == ("not_started", 1)
    # Any version but the current one, earlier or later, is stale.
    later = (instant(retried["updated_at"]) + timedelta(seconds=1)).isoformat()
    for version in (OLD_VERSION, later):
        response = await move(client, place.teacher, retried, "in_progress", 0, version)
        error_of(response, 409, "VERSION_CONFLICT")


async def test_versions_are_compared_as_instants(client: Client) -> None:
    place = await room(client)
    await fill(client, place, {"not_started": 1})
    card = columns(await get_board(client, place.teacher))["not_started"][0]
    elsewhere = instant(card["updated_at"]).astimezone(timezone(timedelta(hours=2)))
    version = elsewhere.isoformat()
    assert version.endswith("+02:00")
    card = data_of(await move(client, place.teacher, card, "in_progress", 0, version))
    assert card["status"] == "in_progress"


async def test_the_order_of_the_move_checks(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2, "in_progress": 1})
    hedy = await co_teacher(client, place)
    teacher = place.teacher
    board = await get_board(client, teacher)
    cards = cards_by_id(board)
    unlocked, locked = cards[ids["not_started"][0]], cards[ids["not_started"][1]]
    data_of(await lock(client, hedy, locked["id"]))
    board = await get_board(client, teacher)
    ghost = {**unlocked, "id": str(uuid.uuid4())}

    # A well-formed body comes first, even for an unknown card.
    response = await client.patch(
        f"{CARDS}/{ghost['id']}/move",
        json={"new_status": "done", "new_position": 0},
        headers=teacher.headers,
    )
    error_of(response, 400, "VALIDATION_ERROR")
    # The card found beats a bad status.
    error_of(await move(client, teacher, ghost, "done", 0), 404, "CARD_NOT_FOUND")
    # A known status beats the lock.
    error_of(await move(client, teacher, locked, "done", 0), 400, "VALIDATION_ERROR")
    # The lock beats the version (and the transition).
    response = await move(client, teacher, locked, "mastered", 0, OLD_VERSION)
    assert error_of(response, 409, "CARD_LOCKED")["details"]["locked_by"] == hedy.id
    # The version beats the transition.
    response = await move(client, teacher, unlocked, "mastered", 0, OLD_VERSION)
    error_of(response, 409, "VERSION_CONFLICT")
    # Only then the transition.
    error_of(await move(client, teacher, unlocked, "mastered", 0), 400, "INVALID_STATUS_TRANSITION")
    assert await get_board(client, teacher) == board


async def test_unknown_and_strangers_cards_are_card_not_found(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2})
    board = await get_board(client, place.teacher)
    card = cards_by_id(board)[ids["not_started"][0]]
    stranger = await user(client, name="Mallory")
    await room(client, teacher=stranger, name="Mallory's")
    ghost = {**card, "id": str(uuid.uuid4())}
    for caller, target in [(place.teacher, ghost), (stranger, card), (stranger, ghost)]:
        for response in [
            await move(client, caller, target, "in_progress", 0),
            await lock(client, caller, target["id"]),
            await unlock(client, caller, target["id"]),
            await delete(client, caller, target["id"]),
        ]:
            error_of(response, 404, "CARD_NOT_FOUND")
    response = await client.patch(
        f"{CARDS}/not-a-uuid/move",
        json={"new_status": "in_progress", "new_position": 0, "version": OLD_VERSION},
        headers=place.teacher.headers,
    )
    assert response.status_code in {400, 404}
    assert response.json()["success"] is False
    assert await get_board(client, place.teacher) == board


async def test_positions_stay_dense_through_every_kind_of_change(client: Client) -> None:
    """A scripted mix of creates, moves and deletes, checked against a model of the board."""
    place = await room(client, students=("Ann", "Ben", "Cleo", "Dan"))
    teacher = place.teacher
    layout: dict[str, list[str]] = {status: [] for status in STATUSES}
    pairs = [(lesson["id"], s["id"]) for lesson in place.lessons for s in place.students]

    async def check() -> dict[str, dict[str, Any]]:
        board = await get_board(client, teacher)
        assert_dense(board)
        assert ids_by_status(board) == layout
        return cards_by_id(board)

    for index, (lesson_id, student_id) in enumerate(pairs[:10]):
        status = STATUSES[index % 3]
        card = await create_card(client, teacher, lesson_id, student_id, status)
        layout[status].append(card["id"])
        assert card["position"] == len(layout[status]) - 1
        await check()
    script = [
        ("move", "not_started", 0, "in_progress", 0),
        ("move", "in_progress", 2, "in_progress", 0),
        ("move", "in_progress", 0, "needs_review", 1),
        ("delete", "not_started", 1, None, None),
        ("move", "needs_review", 3, "not_started", 7),
        ("move", "needs_review", 0, "mastered", 0),
        ("move", "mastered", 0, "in_progress", 2),
        ("delete", "in_progress", 0, None, None),
        ("move", "not_started", 2, "not_started", 0),
        ("delete", "needs_review", 1, None, None),
        ("move", "in_progress", 1, "in_progress", 99),
    ]
    cards = await check()
    for action, status, position, target, target_position in script:
        card = cards[layout[status][position]]
        if action == "delete":
            assert data_of(await delete(client, teacher, card["id"])) == {"deleted_id": card["id"]}
            layout[status].remove(card["id"])
        else:
            assert target is not None
            assert target_position is not None
            answer = data_of(await move(client, teacher, card, target, target_position))
            moved(layout, card["id"], target, target_position)
        cards = await check()
        if action == "move":
            # The answer is the card exactly as the board now shows it, position included.
            assert answer == cards[card["id"]]


# --- locks -------------------------------------------------------------------------------------


async def test_lock_answers_the_lease_with_the_configured_ttl(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"in_progress": 1})
    card_id = ids["in_progress"][0]
    before = await card_now(client, place.teacher, card_id)
    lease = data_of(await lock(client, place.teacher, card_id))
    assert set(lease) == {"id", "locked_by", "locked_at", "expires_at"}
    assert (lease["id"], lease["locked_by"]) == (card_id, place.teacher.id)
    assert TIMESTAMP.match(lease["locked_at"])
    assert TIMESTAMP.match(lease["expires_at"])
    assert instant(lease["expires_at"]) - instant(lease["locked_at"]) == timedelta(seconds=300)
    shown = await card_now(client, place.teacher, card_id)
    assert (shown["locked_by"], shown["locked_at"]) == (place.teacher.id, lease["locked_at"])
    assert shown["updated_at"] == before["updated_at"]


async def test_the_holder_renews_the_lease(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"in_progress": 1})
    card_id = ids["in_progress"][0]
    first = data_of(await lock(client, place.teacher, card_id))
    seq = (await get_board(client, place.teacher))["seq"]
    renewed = data_of(await lock(client, place.teacher, card_id))
    assert renewed["locked_at"] == first["locked_at"]
    assert instant(renewed["expires_at"]) > instant(first["expires_at"])
    board = await get_board(client, place.teacher)
    assert board["seq"] == seq + 1  # announced again
    assert cards_by_id(board)[card_id]["locked_at"] == first["locked_at"]


async def test_a_card_locked_by_someone_else(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2})
    hedy = await co_teacher(client, place)
    card = await card_now(client, place.teacher, ids["not_started"][0])
    data_of(await lock(client, place.teacher, card["id"]))
    board = await get_board(client, place.teacher)

    for response in [
        await lock(client, hedy, card["id"]),
        await move(client, hedy, card, "in_progress", 0),
        await move(client, hedy, card, "not_started", 1),
        await delete(client, hedy, card["id"]),
    ]:
        error = error_of(response, 409, "CARD_LOCKED")
        assert error["details"]["locked_by"] == place.teacher.id
    error_of(await unlock(client, hedy, card["id"]), 403, "FORBIDDEN")
    batch_answer = data_of(await batch(client, hedy, [move_of(card, "in_progress", 0)]))
    assert batch_answer["updated_cards"] == []
    assert [f["code"] for f in batch_answer["failed_moves"]] == ["CARD_LOCKED"]
    assert await get_board(client, place.teacher) == board


async def test_a_move_by_the_holder_keeps_the_lock(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2})
    hedy = await co_teacher(client, place)
    card = await card_now(client, place.teacher, ids["not_started"][0])
    lease = data_of(await lock(client, place.teacher, card["id"]))
    card = data_of(await move(client, place.teacher, card, "in_progress", 0))
    assert (card["locked_by"], card["locked_at"]) == (place.teacher.id, lease["locked_at"])
    shown = await card_now(client, place.teacher, card["id"])
    assert (shown["status"], shown["locked_by"]) == ("in_progress", place.teacher.id)
    error_of(await lock(client, hedy, card["id"]), 409, "CARD_LOCKED")
    # The holder may delete it too.
    data_of(await delete(client, place.teacher, card["id"]))


async def test_unlock(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 1})
    hedy = await co_teacher(client, place)
    card_id = ids["not_started"][0]
    error_of(await unlock(client, place.teacher, card_id), 404, "NOT_FOUND")
    data_of(await lock(client, place.teacher, card_id))
    error_of(await unlock(client, hedy, card_id), 403, "FORBIDDEN")
    released = data_of(await unlock(client, place.teacher, card_id))
    assert released == {"id": card_id, "locked_by": None, "locked_at": None}
    shown = await card_now(client, place.teacher, card_id)
    assert (shown["locked_by"], shown["locked_at"]) == (None, None)
    error_of(await unlock(client, place.teacher, card_id), 404, "NOT_FOUND")
    # Free again: the other teacher may take it.
    assert data_of(await lock(client, hedy, card_id))["locked_by"] == hedy.id


async def test_locks_leave_the_version_alone(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 1})
    card = await card_now(client, place.teacher, ids["not_started"][0])
    data_of(await lock(client, place.teacher, card["id"]))
    data_of(await lock(client, place.teacher, card["id"]))
    data_of(await unlock(client, place.teacher, card["id"]))
    assert (await card_now(client, place.teacher, card["id"]))["updated_at"] == card["updated_at"]
    data_of(await move(client, place.teacher, card, "in_progress", 0))


@asynccontextmanager
async def served_with_short_locks(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    app = create_app(msgspec.structs.replace(settings, lock_ttl_seconds=1))
    async with live(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        yield http, address


async def test_an_expired_lock_is_no_lock(settings: Settings) -> None:
    async with served_with_short_locks(settings) as (http, address):
        place = await room(http)
        ids = await fill(http, place, {"not_started": 1})
        card_id = ids["not_started"][0]
        hedy = await co_teacher(http, place)
        async with websocket(address, token=hedy.token) as socket:
            assert (await subscribe(socket, place.channel))["type"] == "subscribed"
            lease = data_of(await lock(http, place.teacher, card_id))
            assert instant(lease["expires_at"]) - instant(lease["locked_at"]) == timedelta(
                seconds=1
            )
            await frame_where(
                socket,
                lambda f: f.get("event") == "card.unlocked" and f["data"]["id"] == card_id,
            )
        board = await get_board(http, place.teacher)
        shown = cards_by_id(board)[card_id]
        assert (shown["locked_by"], shown["locked_at"]) == (None, None)
        error_of(await unlock(http, place.teacher, card_id), 404, "NOT_FOUND")
        assert data_of(await lock(http, hedy, card_id))["locked_by"] == hedy.id


# --- batch moves -------------------------------------------------------------------------------


async def test_batch_applies_the_good_moves_and_lists_the_failures(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 6, "in_progress": 1})
    hedy = await co_teacher(client, place)
    other = await room(client, teacher=await user(client, name="Mallory"), name="Other")
    foreign = await create_card(client, other.teacher, other.lessons[0]["id"], None)
    board = await get_board(client, place.teacher)
    cards = cards_by_id(board)
    valid, stale, locked, jump, bad_status, negative = (cards[i] for i in ids["not_started"])
    reorder = cards[ids["in_progress"][0]]
    data_of(await lock(client, hedy, locked["id"]))
    board = await get_board(client, place.teacher)
    ghost = str(uuid.uuid4())

    moves = [
        move_of(valid, "in_progress", 0),
        move_of(stale, "in_progress", 0, OLD_VERSION),
        move_of(locked, "in_progress", 0),
        {**move_of(valid, "in_progress", 0), "card_id": ghost},
        move_of(jump, "needs_review", 0),
        move_of(bad_status, "finished", 0),
        move_of(negative, "not_started", -1),
        move_of(foreign, "in_progress", 0),
        move_of(reorder, "in_progress", 0),
    ]
    answer = data_of(await batch(client, place.teacher, moves))
    assert set(answer) == {"updated_cards", "failed_moves"}
    updated = answer["updated_cards"]
    assert [card["id"] for card in updated] == [valid["id"], reorder["id"]]
    for card in updated:
        assert set(card) >= CARD_KEYS
        assert card["status"] == "in_progress"
        assert instant(card["updated_at"]) > instant(cards[card["id"]]["updated_at"])
    assert updated[0]["lesson_title"] == valid["lesson_title"]
    assert updated[0]["student_name"] == valid["student_name"]
    failed = answer["failed_moves"]
    assert [(f["card_id"], f["code"]) for f in failed] == [
        (stale["id"], "VERSION_CONFLICT"),
        (locked["id"], "CARD_LOCKED"),
        (ghost, "CARD_NOT_FOUND"),
        (jump["id"], "INVALID_STATUS_TRANSITION"),
        (bad_status["id"], "VALIDATION_ERROR"),
        (negative["id"], "VALIDATION_ERROR"),
        (foreign["id"], "CARD_NOT_FOUND"),
    ]
    for failure in failed:
        assert set(failure) == {"card_id", "error", "code"}
        assert isinstance(failure["error"], str)
        assert failure["error"]

    # The failures changed nothing: the board is the one the two good moves make.
    layout = ids_by_status(board)
    moved(layout, valid["id"], "in_progress", 0)
    moved(layout, reorder["id"], "in_progress", 0)
    after = await get_board(client, place.teacher)
    assert_dense(after)
    assert ids_by_status(after) == layout
    now = cards_by_id(after)
    for card in (stale, locked, jump, bad_status, negative):
        assert now[card["id"]]["updated_at"] == card["updated_at"]
    assert after["seq"] == board["seq"] + 2
    assert cards_by_id(await get_board(client, other.teacher))[foreign["id"]] == foreign


async def test_batch_moves_apply_in_order(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 3, "in_progress": 1})
    cards = cards_by_id(await get_board(client, place.teacher))
    a, b, c = (cards[i] for i in ids["not_started"])
    answer = data_of(
        await batch(
            client,
            place.teacher,
            [
                move_of(c, "not_started", 0),  # [c, a, b]
                move_of(a, "not_started", 99),  # [c, b, a]: last of the column as it is now
                move_of(a, "in_progress", 0),  # a's version changed with the move before
                move_of(b, "in_progress", 5),  # in_progress [x, b]
            ],
        )
    )
    assert [card["id"] for card in answer["updated_cards"]] == [c["id"], a["id"], b["id"]]
    assert answer["updated_cards"][1]["position"] == 2
    assert [(f["card_id"], f["code"]) for f in answer["failed_moves"]] == [
        (a["id"], "VERSION_CONFLICT")
    ]
    board = await get_board(client, place.teacher)
    assert_dense(board)
    assert ids_by_status(board)["not_started"] == [c["id"], a["id"]]
    assert ids_by_status(board)["in_progress"] == [ids["in_progress"][0], b["id"]]


async def test_the_same_card_moved_twice_in_a_batch(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2})
    card = cards_by_id(await get_board(client, place.teacher))[ids["not_started"][0]]
    # With its first version, only the first of 100 moves of one card can succeed.
    answer = data_of(await batch(client, place.teacher, [move_of(card, "in_progress", 0)] * 100))
    assert [c["id"] for c in answer["updated_cards"]] == [card["id"]]
    assert [f["code"] for f in answer["failed_moves"]] == ["VERSION_CONFLICT"] * 99
    assert_dense(await get_board(client, place.teacher))


async def test_a_malformed_batch_is_400_as_a_whole(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2})
    board = await get_board(client, place.teacher)
    card = cards_by_id(board)[ids["not_started"][0]]
    good = move_of(card, "in_progress", 0)
    missing = {key: value for key, value in good.items() if key != "version"}
    for body in [
        {"moves": [good, missing]},
        {"moves": [good, {**good, "new_position": "1"}]},
        {"moves": [good, {**good, "locked_by": None}]},
        {"moves": [good] * 101},
        {"moves": []},
        {"moves": good},
        {},
    ]:
        response = await client.post(BATCH_MOVE, json=body, headers=place.teacher.headers)
        error_of(response, 400, "VALIDATION_ERROR")
    assert await get_board(client, place.teacher) == board


# --- deleting ----------------------------------------------------------------------------------


async def test_delete_answers_the_id_and_closes_the_gap(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 4, "in_progress": 2})
    before = cards_by_id(await get_board(client, place.teacher))
    gone = ids["not_started"][1]
    response = await delete(client, place.teacher, gone)
    assert data_of(response) == {"deleted_id": gone}
    board = await get_board(client, place.teacher)
    assert_dense(board)
    layout = ids_by_status(board)
    assert layout["not_started"] == [i for i in ids["not_started"] if i != gone]
    assert layout["in_progress"] == ids["in_progress"]
    for card_id, card in cards_by_id(board).items():
        assert card["updated_at"] == before[card_id]["updated_at"]
    error_of(await delete(client, place.teacher, gone), 404, "CARD_NOT_FOUND")
    # The pair is free again.
    card = before[gone]
    recreated = await create_card(client, place.teacher, card["lesson_id"], card["student_id"])
    assert recreated["position"] == 3


# --- caching -----------------------------------------------------------------------------------


@NAMED_OR_DEFAULT
async def test_etag_and_304(client: Client, named: bool) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 2})
    hedy = await co_teacher(client, place)
    teacher = place.teacher
    params = {"classroom_id": place.id} if named else {}
    response = await client.get(BOARD, params=params, headers=teacher.headers)
    assert response.headers["cache-control"] == "private, max-age=30"
    tag = response.headers["etag"]
    assert tag

    async def unchanged(current: str) -> None:
        headers = {**teacher.headers, "If-None-Match": current}
        response = await client.get(BOARD, params=params, headers=headers)
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == current

    async def changed(previous: str) -> str:
        headers = {**teacher.headers, "If-None-Match": previous}
        response = await client.get(BOARD, params=params, headers=headers)
        data_of(response)
        assert response.headers["etag"] != previous
        assert response.headers["cache-control"] == "private, max-age=30"
        return str(response.headers["etag"])

    await unchanged(tag)
    card = await card_now(client, teacher, ids["not_started"][0])
    await unchanged(tag)  # reading changes nothing
    card = data_of(await move(client, teacher, card, "in_progress", 0))
    tag = await changed(tag)
    await unchanged(tag)
    data_of(await lock(client, hedy, card["id"]))
    tag = await changed(tag)
    data_of(await unlock(client, hedy, card["id"]))
    tag = await changed(tag)
    data_of(await delete(client, teacher, ids["not_started"][1]))
    tag = await changed(tag)
    await create_card(client, teacher, place.lessons[2]["id"], None)
    tag = await changed(tag)
    # A failed write changes nothing.
    error_of(await move(client, teacher, card, "mastered", 0), 400, "INVALID_STATUS_TRANSITION")
    await unchanged(tag)
    # The tag belongs to the filtered view: another filter is another body.
    filtered = await client.get(
        BOARD,
        params={**params, "status": "in_progress"},
        headers={**teacher.headers, "If-None-Match": tag},
    )
    data_of(filtered)
    assert filtered.headers["etag"] != tag


async def test_a_named_board_revalidates_and_hits_the_cache_without_the_database(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a process has read a board and seen its teacher, a 304 or a cached body needs
    neither the membership and stamp query nor a build, until the board changes."""
    place = await room(client)
    ids = await fill(client, place, {"not_started": 1})
    queries = {"stamp": 0, "build": 0}

    def counted(name: str, function: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            queries[name] += 1
            return await function(*args, **kwargs)

        return wrapper

    stamp_query = counted("stamp", classrooms_repo.board_stamp)
    monkeypatch.setattr(classrooms_repo, "board_stamp", stamp_query)
    # A build is one of the two reads of a board's cards (rows, or JSON built by PostgreSQL).
    monkeypatch.setattr(cards_repo, "board", counted("build", cards_repo.board))
    monkeypatch.setattr(cards_repo, "board_json", counted("build", cards_repo.board_json))
    params = {"classroom_id": place.id}
    headers = {**place.teacher.headers, "Accept-Encoding": "gzip"}
    first = await client.get(BOARD, params=params, headers=headers)
    tag = first.headers["etag"]
    assert queries == {"stamp": 1, "build": 1}
    for _ in range(3):
        again = await client.get(BOARD, params=params, headers=headers)
        assert (again.status_code, again.content, again.headers["etag"]) == (
            200,
            first.content,
            tag,
        )
        unchanged = await client.get(
            BOARD, params=params, headers={**headers, "If-None-Match": tag}
        )
        assert unchanged.status_code == 304
    assert queries == {"stamp": 1, "build": 1}

    card = await card_now(client, place.teacher, ids["not_started"][0])
    data_of(await move(client, place.teacher, card, "in_progress", 0))
    queries.update(stamp=0, build=0)
    changed = await client.get(BOARD, params=params, headers={**headers, "If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    assert queries == {"stamp": 1, "build": 1}  # the move's commit dropped the stamp


async def test_the_board_is_gzipped_for_clients_that_accept_it(client: Client) -> None:
    place = await room(client)
    await fill(client, place, {"not_started": 3, "in_progress": 2})
    teacher = place.teacher
    plain = await client.get(BOARD, headers={**teacher.headers, "Accept-Encoding": "identity"})
    zipped = await client.get(BOARD, headers={**teacher.headers, "Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    for response in (plain, zipped):
        assert response.headers["vary"] == "Accept-Encoding"
    # The same board (httpx decodes the gzip body), in fewer bytes on the wire.
    assert data_of(zipped) == data_of(plain)
    assert int(zipped.headers["content-length"]) < len(plain.content)
    # Another encoding is another representation: its own tag, and a second read is
    # served from the cache with the same bytes.
    assert zipped.headers["etag"] != plain.headers["etag"]
    again = await client.get(BOARD, headers={**teacher.headers, "Accept-Encoding": "gzip"})
    assert again.headers["etag"] == zipped.headers["etag"]
    assert again.content == zipped.content
    # Either tag of the current version is current, whatever the client accepts now.
    for tag in (plain.headers["etag"], zipped.headers["etag"]):
        for accept in ("gzip", "identity"):
            response = await client.get(
                BOARD,
                headers={**teacher.headers, "Accept-Encoding": accept, "If-None-Match": tag},
            )
            assert response.status_code == 304
            assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip, deflate, br", True),
        ("GZIP", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("x-gzip", True),
        ("*", True),
        ("identity", False),
        ("", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("deflate, *;q=0.1", True),
        ("gzip;q=oops", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


async def test_a_stranger_gets_404_even_with_a_valid_tag(client: Client) -> None:
    place = await room(client)
    ids = await fill(client, place, {"not_started": 1})
    stranger = await user(client, name="Mallory")
    await room(client, teacher=stranger, name="Mallory's")
    response = await client.get(
        BOARD, params={"classroom_id": place.id}, headers=place.teacher.headers
    )
    tag = response.headers["etag"]
    response = await client.get(
        BOARD,
        params={"classroom_id": place.id},
        headers={**stranger.headers, "If-None-Match": tag},
    )
    error_of(response, 404, "NOT_FOUND")
    response = await client.get(
        BOARD,
        params={"classroom_id": place.id},
        headers={**stranger.headers, "If-None-Match": "*"},
    )
    error_of(response, 404, "NOT_FOUND")
    card = await card_now(client, place.teacher, ids["not_started"][0])
    answer = data_of(await batch(client, stranger, [move_of(card, "in_progress", 0)]))
    assert answer == {
        "updated_cards": [],
        "failed_moves": [
            {
                "card_id": card["id"],
                "error": answer["failed_moves"][0]["error"],
                "code": "CARD_NOT_FOUND",
            }
        ],
    }
    assert await card_now(client, place.teacher, card["id"]) == card


async def test_a_card_id_that_is_not_a_uuid_is_an_unknown_card(client: Client) -> None:
    place = await room(client)
    headers = place.teacher.headers
    body = {"new_status": "in_progress", "new_position": 0, "version": "2026-01-01T00:00:00Z"}
    for response in (
        await client.patch(f"{CARDS}/not-a-card/move", json=body, headers=headers),
        await client.post(f"{CARDS}/not-a-card/lock", headers=headers),
        await client.delete(f"{CARDS}/not-a-card/lock", headers=headers),
        await client.delete(f"{CARDS}/not-a-card", headers=headers),
    ):
        error_of(response, 404, "CARD_NOT_FOUND")
