"""Classrooms, students and lessons (contract §4, with §2's conventions).

Every route: creating a classroom and its codes, listing one's own (earliest joined first),
co-teachers joining with the teacher code, students and lessons added and listed per
classroom, learners joining with the student code; what learners, strangers and sloppy
bodies are refused.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.board_helpers import (
    BATCH_MOVE,
    BOARD,
    CARDS,
    CLASSROOMS,
    LEARNER_JOIN,
    LESSONS,
    STUDENTS,
    TIMESTAMP,
    User,
    add_lesson,
    add_student,
    create_classroom,
    data_of,
    get_board,
    join_as_teacher,
    room,
    user,
)
from tests.helpers import error_of

Client = AsyncTestClient[Litestar]


# --- classrooms --------------------------------------------------------------------------------


async def test_create_answers_the_classroom_with_two_distinct_codes(client: Client) -> None:
    teacher = await user(client)
    response = await client.post(CLASSROOMS, json={"name": "Room 7"}, headers=teacher.headers)
    classroom = data_of(response, 201)
    assert set(classroom) == {
        "id",
        "name",
        "teacher_join_code",
        "student_join_code",
        "auto_advance",
        "created_at",
    }
    assert classroom["auto_advance"] is True
    uuid.UUID(classroom["id"])
    assert classroom["name"] == "Room 7"
    assert TIMESTAMP.match(classroom["created_at"])
    codes = (classroom["teacher_join_code"], classroom["student_join_code"])
    assert all(isinstance(code, str) and code for code in codes)
    assert codes[0] != codes[1]
    other = await create_classroom(client, teacher, "Room 8")
    assert {other["teacher_join_code"], other["student_join_code"]}.isdisjoint(codes)


async def test_the_creator_is_a_member(client: Client) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    listed = data_of(await client.get(CLASSROOMS, headers=teacher.headers))
    assert listed == [classroom]
    board = await get_board(client, teacher, classroom_id=classroom["id"])
    assert board["filters"] == {"students": [], "categories": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": "Room", "teacher_join_code": "MINE"}, "teacher_join_code"),
    ],
)
async def test_create_refuses_a_bad_body(client: Client, body: Any, field: str) -> None:
    teacher = await user(client)
    response = await client.post(CLASSROOMS, json=body, headers=teacher.headers)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert field in str(error["details"])
    assert data_of(await client.get(CLASSROOMS, headers=teacher.headers)) == []


async def test_list_has_only_mine_earliest_joined_first(client: Client) -> None:
    ada, bob = await user(client, name="Ada"), await user(client, name="Bob")
    # Bob's room is created first; Ada joins it only after creating her own.
    bobs = await create_classroom(client, bob, "Bob's")
    adas = await create_classroom(client, ada, "Ada's")
    data_of(await join_as_teacher(client, ada, bobs["teacher_join_code"]))
    bobs_second = await create_classroom(client, bob, "Bob's second")

    ada_sees = data_of(await client.get(CLASSROOMS, headers=ada.headers))
    assert [c["id"] for c in ada_sees] == [adas["id"], bobs["id"]]
    bob_sees = data_of(await client.get(CLASSROOMS, headers=bob.headers))
    assert [c["id"] for c in bob_sees] == [bobs["id"], bobs_second["id"]]
    assert bob_sees[0] == bobs  # the listing shows classrooms as the creation did


async def test_join_with_the_teacher_code_makes_a_co_teacher(client: Client) -> None:
    place = await room(client)
    hedy = await user(client, name="Hedy")
    response = await join_as_teacher(client, hedy, place.classroom["teacher_join_code"])
    assert data_of(response) == place.classroom
    assert data_of(await client.get(CLASSROOMS, headers=hedy.headers)) == [place.classroom]
    # A co-teacher sees the same board and may add to the classroom.
    board = await get_board(client, hedy)
    assert board["classroom_id"] == place.id
    assert len(board["filters"]["students"]) == len(place.students)
    await add_student(client, hedy, place.id, "Dora")


async def test_joining_twice_is_fine_and_changes_nothing(client: Client) -> None:
    place = await room(client)
    hedy = await user(client, name="Hedy")
    for _ in range(2):
        response = await join_as_teacher(client, hedy, place.classroom["teacher_join_code"])
        assert data_of(response)["id"] == place.id
    assert len(data_of(await client.get(CLASSROOMS, headers=hedy.headers))) == 1
    # The creator joining with their own code is no different.
    data_of(await join_as_teacher(client, place.teacher, place.classroom["teacher_join_code"]))
    assert len(data_of(await client.get(CLASSROOMS, headers=place.teacher.headers))) == 1


async def test_join_with_an_unknown_or_a_student_code_is_404(client: Client) -> None:
    place = await room(client)
    hedy = await user(client, name="Hedy")
    error_of(await join_as_teacher(client, hedy, "NOSUCHCODE"), 404, "NOT_FOUND")
    student_code = place.classroom["student_join_code"]
    error_of(await join_as_teacher(client, hedy, student_code), 404, "NOT_FOUND")
    assert data_of(await client.get(CLASSROOMS, headers=hedy.headers)) == []


# --- students ----------------------------------------------------------------------------------


async def test_add_and_list_students(client: Client) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    response = await client.post(
        STUDENTS, json={"classroom_id": classroom["id"], "name": "Ann"}, headers=teacher.headers
    )
    ann = data_of(response, 201)
    assert set(ann) == {"id", "name", "classroom_id", "learner_id", "join_code"}
    uuid.UUID(ann["id"])
    assert isinstance(ann["join_code"], str) and ann["join_code"]
    assert (ann["name"], ann["classroom_id"], ann["learner_id"]) == ("Ann", classroom["id"], None)
    ben = await add_student(client, teacher, classroom["id"], "Ben")
    # Another classroom's students are not listed.
    other = await create_classroom(client, teacher, "Other")
    await add_student(client, teacher, other["id"], "Zoe")

    listed = data_of(
        await client.get(
            STUDENTS, params={"classroom_id": classroom["id"]}, headers=teacher.headers
        )
    )
    assert sorted(listed, key=lambda s: s["name"]) == [ann, ben]


async def test_students_need_a_classroom_id(client: Client) -> None:
    teacher = await user(client)
    await create_classroom(client, teacher)
    error_of(await client.get(STUDENTS, headers=teacher.headers), 400, "VALIDATION_ERROR")
    response = await client.get(STUDENTS, params={"classroom_id": "x"}, headers=teacher.headers)
    error_of(response, 400, "VALIDATION_ERROR")
    response = await client.post(STUDENTS, json={"name": "Ann"}, headers=teacher.headers)
    assert "classroom_id" in str(error_of(response, 400, "VALIDATION_ERROR")["details"])


async def test_another_teachers_classroom_is_404_for_students_and_lessons(client: Client) -> None:
    place = await room(client)
    stranger = await user(client, name="Mallory")
    await create_classroom(client, stranger, "Mallory's")
    for classroom_id in (place.id, str(uuid.uuid4())):
        query = {"classroom_id": classroom_id}
        error_of(
            await client.get(STUDENTS, params=query, headers=stranger.headers), 404, "NOT_FOUND"
        )
        error_of(
            await client.get(LESSONS, params=query, headers=stranger.headers), 404, "NOT_FOUND"
        )
        response = await client.post(
            STUDENTS, json={**query, "name": "Intruder"}, headers=stranger.headers
        )
        error_of(response, 404, "NOT_FOUND")
        response = await client.post(
            LESSONS, json={**query, "title": "Spam", "category": "Spam"}, headers=stranger.headers
        )
        error_of(response, 404, "NOT_FOUND")
    # Nothing was added to the real classroom.
    board = await get_board(client, place.teacher)
    assert len(board["filters"]["students"]) == len(place.students)
    assert "Spam" not in board["filters"]["categories"]


# --- learners joining --------------------------------------------------------------------------


async def _learner_join(client: Client, learner: User, code: str) -> Any:
    return await client.post(LEARNER_JOIN, json={"join_code": code}, headers=learner.headers)


async def test_a_learner_joins_with_the_student_code(client: Client) -> None:
    place = await room(client, students=())
    learner = await user(client, role="learner", name="Lin")
    response = await _learner_join(client, learner, place.classroom["student_join_code"])
    joined = data_of(response)
    assert set(joined) == {"classroom", "student"}
    assert joined["classroom"] == {"id": place.id, "name": place.classroom["name"]}
    student = joined["student"]
    assert set(student) == {"id", "name", "classroom_id", "learner_id"}
    assert (student["name"], student["classroom_id"], student["learner_id"]) == (
        "Lin",
        place.id,
        learner.id,
    )
    # The answer never shows the join codes.
    for code in (place.classroom["teacher_join_code"], place.classroom["student_join_code"]):
        assert code not in response.text
    listed = data_of(
        await client.get(STUDENTS, params={"classroom_id": place.id}, headers=place.teacher.headers)
    )
    assert listed == [{**student, "join_code": None}]


async def test_a_learner_joining_twice_changes_nothing(client: Client) -> None:
    place = await room(client, students=())
    learner = await user(client, role="learner", name="Lin")
    code = place.classroom["student_join_code"]
    first = data_of(await _learner_join(client, learner, code))
    second = data_of(await _learner_join(client, learner, code))
    assert second == first
    listed = data_of(
        await client.get(STUDENTS, params={"classroom_id": place.id}, headers=place.teacher.headers)
    )
    assert listed == [{**first["student"], "join_code": None}]


async def test_a_learner_needs_a_student_code(client: Client) -> None:
    place = await room(client, students=())
    learner = await user(client, role="learner", name="Lin")
    error_of(await _learner_join(client, learner, "NOSUCHCODE"), 404, "NOT_FOUND")
    teacher_code = place.classroom["teacher_join_code"]
    error_of(await _learner_join(client, learner, teacher_code), 404, "NOT_FOUND")
    response = await client.post(
        LEARNER_JOIN,
        json={"join_code": place.classroom["student_join_code"], "name": "Someone else"},
        headers=learner.headers,
    )
    error_of(response, 400, "VALIDATION_ERROR")
    listed = data_of(
        await client.get(STUDENTS, params={"classroom_id": place.id}, headers=place.teacher.headers)
    )
    assert listed == []


async def test_teachers_cannot_use_the_learner_join(client: Client) -> None:
    place = await room(client)
    response = await client.post(
        LEARNER_JOIN,
        json={"join_code": place.classroom["student_join_code"]},
        headers=place.teacher.headers,
    )
    error_of(response, 403, "FORBIDDEN")


# --- lessons -----------------------------------------------------------------------------------


async def test_add_and_list_lessons_with_word_ids(client: Client) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    response = await client.post(
        LESSONS,
        json={
            "classroom_id": classroom["id"],
            "title": "Fruit",
            "category": "Vocabulary",
            "word_ids": ["es:uno", "es:hola", "es:gracias"],
        },
        headers=teacher.headers,
    )
    fruit = data_of(response, 201)
    assert set(fruit) == {"id", "classroom_id", "title", "category", "word_ids"}
    uuid.UUID(fruit["id"])
    assert fruit["classroom_id"] == classroom["id"]
    assert (fruit["title"], fruit["category"]) == ("Fruit", "Vocabulary")
    assert fruit["word_ids"] == ["es:uno", "es:hola", "es:gracias"]
    plain = await add_lesson(client, teacher, classroom["id"], "Counting", "Mathematics")
    assert plain["word_ids"] == []

    listed = data_of(
        await client.get(LESSONS, params={"classroom_id": classroom["id"]}, headers=teacher.headers)
    )
    assert listed == [fruit, plain]
    board = await get_board(client, teacher)
    assert sorted(board["filters"]["categories"]) == ["Mathematics", "Vocabulary"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"category": None}, "category"),
        ({"word_ids": "apple"}, "word_ids"),
        ({"word_ids": ["has space"]}, "word_ids"),
        ({"position": 1}, "position"),
    ],
)
async def test_lessons_refuse_a_bad_body(
    client: Client, change: dict[str, Any], field: str
) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    body = {"classroom_id": classroom["id"], "title": "Fruit", "category": "Vocabulary", **change}
    response = await client.post(LESSONS, json=body, headers=teacher.headers)
    assert field in str(error_of(response, 400, "VALIDATION_ERROR")["details"])
    query = {"classroom_id": classroom["id"]}
    assert data_of(await client.get(LESSONS, params=query, headers=teacher.headers)) == []


async def test_unknown_fields_are_refused_everywhere(client: Client) -> None:
    place = await room(client)
    learner = await user(client, role="learner", name="Lin")
    teacher = place.teacher
    refusals = [
        (teacher, CLASSROOMS, {"name": "R", "id": str(uuid.uuid4())}, "id"),
        (teacher, f"{CLASSROOMS}/join", {"join_code": "X", "role": "teacher"}, "role"),
        (
            teacher,
            STUDENTS,
            {"classroom_id": place.id, "name": "A", "learner_id": learner.id},
            "learner_id",
        ),
        (teacher, LESSONS, {"classroom_id": place.id, "title": "T", "category": "C", "x": 1}, "x"),
        (learner, LEARNER_JOIN, {"join_code": "X", "classroom_id": place.id}, "classroom_id"),
    ]
    for caller, path, body, field in refusals:
        error = error_of(
            await client.post(path, json=body, headers=caller.headers), 400, "VALIDATION_ERROR"
        )
        assert field in str(error["details"]), (path, error)


# --- roles -------------------------------------------------------------------------------------


async def test_learners_get_403_on_every_teacher_route(client: Client) -> None:
    place = await room(client)
    learner = await user(client, role="learner", name="Lin")
    card_path = f"{CARDS}/{uuid.uuid4()}"
    query = {"classroom_id": place.id}
    routes: list[tuple[str, str, Any, Any]] = [
        ("POST", CLASSROOMS, {"name": "Mine"}, None),
        ("GET", CLASSROOMS, None, None),
        ("POST", f"{CLASSROOMS}/join", {"join_code": place.classroom["teacher_join_code"]}, None),
        ("POST", STUDENTS, {"classroom_id": place.id, "name": "Me"}, None),
        ("GET", STUDENTS, None, query),
        ("POST", LESSONS, {"classroom_id": place.id, "title": "T", "category": "C"}, None),
        ("GET", LESSONS, None, query),
        ("GET", BOARD, None, query),
        ("POST", CARDS, {"lesson_id": place.lessons[0]["id"], "student_id": None}, None),
        (
            "PATCH",
            f"{card_path}/move",
            {"new_status": "in_progress", "new_position": 0, "version": "2025-10-02T10:00:00Z"},
            None,
        ),
        ("POST", f"{card_path}/lock", None, None),
        ("DELETE", f"{card_path}/lock", None, None),
        ("POST", BATCH_MOVE, {"moves": []}, None),
        ("DELETE", card_path, None, None),
    ]
    for method, path, body, params in routes:
        response = await client.request(
            method, path, json=body, params=params, headers=learner.headers
        )
        error_of(response, 403, "FORBIDDEN")
    # And nothing happened: the teacher's classroom is as it was, the learner in none.
    assert data_of(await client.get(CLASSROOMS, headers=place.teacher.headers)) == [place.classroom]
    listed = data_of(await client.get(STUDENTS, params=query, headers=place.teacher.headers))
    assert len(listed) == len(place.students)


async def test_teacher_routes_need_a_token(client: Client) -> None:
    error_of(await client.get(CLASSROOMS), 401, "UNAUTHORIZED")
    error_of(await client.post(CLASSROOMS, json={"name": "R"}), 401, "UNAUTHORIZED")
    error_of(await client.post(LEARNER_JOIN, json={"join_code": "X"}), 401, "UNAUTHORIZED")
