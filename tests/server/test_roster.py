"""Setting up a classroom (contract §8) over REST: lessons and their words, students and
their own join codes, learners joining, listing and leaving, the classroom's settings and
codes, and who teaches it. Every route's answers and refusals, on either backend.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.board_helpers import (
    BOARD,
    CARDS,
    CLASSROOMS,
    LEARNER_JOIN,
    LESSONS,
    STUDENTS,
    Room,
    User,
    add_lesson,
    cards_by_id,
    co_teacher,
    create_card,
    data_of,
    get_board,
    join_as_teacher,
    room,
    user,
)
from tests.helpers import error_of

Client = AsyncTestClient[Litestar]
BULK = f"{STUDENTS}/bulk"
LEARNER_CLASSROOMS = "/api/v1/classrooms"
WORDS = "/api/teacher/words"


async def learner_join(client: Client, learner: User, code: str) -> httpx.Response:
    return await client.post(LEARNER_JOIN, json={"join_code": code}, headers=learner.headers)


async def roster_of(client: Client, place: Room) -> list[dict[str, Any]]:
    query = {"classroom_id": place.id}
    found: list[dict[str, Any]] = data_of(
        await client.get(STUDENTS, params=query, headers=place.teacher.headers)
    )
    return found


async def own_word(client: Client, teacher: User, classroom_id: str) -> str:
    body = {"classroom_id": classroom_id, "term": "la pizarra", "translation": "blackboard"}
    word_id: str = data_of(await client.post(WORDS, json=body, headers=teacher.headers), 201)["id"]
    return word_id


async def lock(client: Client, teacher: User, card_id: str) -> None:
    data_of(await client.post(f"{CARDS}/{card_id}/lock", headers=teacher.headers))


# --- lessons -----------------------------------------------------------------------------------


async def test_lesson_words_keep_their_order_without_repeats(client: Client) -> None:
    place = await room(client, students=(), lessons=())
    mine = await own_word(client, place.teacher, place.id)
    lesson = await add_lesson(
        client, place.teacher, place.id, "Class", "Vocabulary", ["es:uno", mine, "es:uno"]
    )
    assert lesson["word_ids"] == ["es:uno", mine]
    response = await client.patch(
        f"{LESSONS}/{lesson['id']}",
        json={"word_ids": [mine, "es:hola", mine, "es:dos"]},
        headers=place.teacher.headers,
    )
    patched = data_of(response)
    assert patched == {**lesson, "word_ids": [mine, "es:hola", "es:dos"]}
    listed = data_of(
        await client.get(LESSONS, params={"classroom_id": place.id}, headers=place.teacher.headers)
    )
    assert listed == [patched]


async def test_unknown_words_are_400_naming_each(client: Client) -> None:
    place = await room(client, students=(), lessons=())
    elsewhere = await room(client, teacher=place.teacher, name="Other", students=(), lessons=())
    theirs = await own_word(client, place.teacher, elsewhere.id)  # another classroom's word
    body = {
        "classroom_id": place.id,
        "title": "T",
        "category": "C",
        "word_ids": ["es:uno", "xx:nope", theirs, "xx:nope"],
    }
    response = await client.post(LESSONS, json=body, headers=place.teacher.headers)
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert error["details"]["word_ids"] == ["xx:nope", theirs]
    lesson = await add_lesson(client, place.teacher, place.id, "T", "C", ["es:uno"])
    response = await client.patch(
        f"{LESSONS}/{lesson['id']}", json={"word_ids": ["zz:gone"]}, headers=place.teacher.headers
    )
    assert error_of(response, 400, "VALIDATION_ERROR")["details"]["word_ids"] == ["zz:gone"]
    listed = data_of(
        await client.get(LESSONS, params={"classroom_id": place.id}, headers=place.teacher.headers)
    )
    assert listed == [lesson]


async def test_patch_a_lesson(client: Client) -> None:
    place = await room(client, students=("Ann",))
    lesson = place.lessons[0]
    card = await create_card(client, place.teacher, lesson["id"], place.students[0]["id"])
    path = f"{LESSONS}/{lesson['id']}"
    patched = data_of(
        await client.patch(path, json={"title": " Sums "}, headers=place.teacher.headers)
    )
    assert patched == {**lesson, "title": "Sums"}
    patched = data_of(
        await client.patch(path, json={"category": "Maths"}, headers=place.teacher.headers)
    )
    assert patched == {**lesson, "title": "Sums", "category": "Maths"}
    assert data_of(await client.patch(path, json={}, headers=place.teacher.headers)) == patched
    # Cards show the lesson as it is now.
    shown = cards_by_id(await get_board(client, place.teacher))[card["id"]]
    assert (shown["lesson_title"], shown["lesson_category"]) == ("Sums", "Maths")
    for body, field in [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"word_ids": "es:uno"}, "word_ids"),
        ({"classroom_id": place.id}, "classroom_id"),
    ]:
        response = await client.patch(path, json=body, headers=place.teacher.headers)
        assert field in str(error_of(response, 400, "VALIDATION_ERROR")["details"])


async def test_delete_a_lesson_takes_its_cards(client: Client) -> None:
    place = await room(client)
    lesson, other = place.lessons[0], place.lessons[1]
    gone = [
        await create_card(client, place.teacher, lesson["id"], student["id"])
        for student in place.students
    ]
    gone.append(await create_card(client, place.teacher, lesson["id"], None))
    kept = await create_card(client, place.teacher, other["id"], place.students[0]["id"])
    response = await client.delete(f"{LESSONS}/{lesson['id']}", headers=place.teacher.headers)
    assert data_of(response) == {"deleted_id": lesson["id"]}
    board = await get_board(client, place.teacher)
    assert list(cards_by_id(board)) == [kept["id"]]
    assert cards_by_id(board)[kept["id"]]["position"] == 0
    assert "Mathematics" not in board["filters"]["categories"]
    response = await client.delete(f"{LESSONS}/{lesson['id']}", headers=place.teacher.headers)
    error_of(response, 404, "NOT_FOUND")
    error_of(await client.delete(f"{LESSONS}/x", headers=place.teacher.headers), 404, "NOT_FOUND")


async def test_a_lesson_with_a_card_another_teacher_locked_stays(client: Client) -> None:
    place = await room(client)
    lesson = place.lessons[0]
    hedy = await co_teacher(client, place)
    card = await create_card(client, place.teacher, lesson["id"], place.students[0]["id"])
    await lock(client, hedy, card["id"])
    response = await client.delete(f"{LESSONS}/{lesson['id']}", headers=place.teacher.headers)
    error = error_of(response, 409, "CARD_LOCKED")
    assert error["details"]["locked_by"] == hedy.id
    assert card["id"] in cards_by_id(await get_board(client, place.teacher))
    # The holder's own lock does not stop them.
    response = await client.delete(f"{LESSONS}/{lesson['id']}", headers=hedy.headers)
    assert data_of(response) == {"deleted_id": lesson["id"]}


# --- students ----------------------------------------------------------------------------------


async def test_every_student_has_a_code_of_their_own(client: Client) -> None:
    place = await room(client)
    codes = [student["join_code"] for student in place.students]
    assert all(isinstance(code, str) and code for code in codes)
    assert len(set(codes)) == len(codes)
    assert not set(codes) & {place.classroom[k] for k in ("teacher_join_code", "student_join_code")}
    assert await roster_of(client, place) == sorted(place.students, key=lambda s: s["name"])


async def test_bulk_adds_students_in_order_in_one_go(client: Client) -> None:
    place = await room(client, students=(), lessons=())
    names = [f"Pupil {n:03}" for n in range(200)]
    response = await client.post(
        BULK, json={"classroom_id": place.id, "names": names}, headers=place.teacher.headers
    )
    made = data_of(response, 201)["students"]
    assert [student["name"] for student in made] == names
    assert len({student["join_code"] for student in made}) == 200
    assert await roster_of(client, place) == made
    for body, field in [
        ({"classroom_id": place.id, "names": []}, "names"),
        ({"classroom_id": place.id, "names": ["x"] * 201}, "names"),
        ({"classroom_id": place.id, "names": ["Ok", ""]}, "names"),
        ({"classroom_id": place.id, "names": "Ann"}, "names"),
        ({"names": ["Ann"]}, "classroom_id"),
    ]:
        response = await client.post(BULK, json=body, headers=place.teacher.headers)
        assert field in str(error_of(response, 400, "VALIDATION_ERROR")["details"])
    stranger = await user(client, name="Mallory")
    response = await client.post(
        BULK, json={"classroom_id": place.id, "names": ["Spy"]}, headers=stranger.headers
    )
    error_of(response, 404, "NOT_FOUND")
    assert len(await roster_of(client, place)) == 200


async def test_rename_a_student(client: Client) -> None:
    place = await room(client)
    ann = place.students[0]
    card = await create_card(client, place.teacher, place.lessons[0]["id"], ann["id"])
    response = await client.patch(
        f"{STUDENTS}/{ann['id']}", json={"name": "Anne"}, headers=place.teacher.headers
    )
    assert data_of(response) == {**ann, "name": "Anne"}
    assert cards_by_id(await get_board(client, place.teacher))[card["id"]]["student_name"] == "Anne"
    for body in ({}, {"name": ""}, {"name": "A", "learner_id": None}):
        response = await client.patch(
            f"{STUDENTS}/{ann['id']}", json=body, headers=place.teacher.headers
        )
        error_of(response, 400, "VALIDATION_ERROR")


async def test_delete_a_student_takes_their_cards_not_the_learners_progress(
    client: Client,
) -> None:
    place = await room(client)
    ann = place.students[0]
    learner = await user(client, role="learner", name="Ann")
    data_of(await learner_join(client, learner, ann["join_code"]))
    progress = {"studyCount": 2, "correctCount": 1, "confidence": 3}
    response = await client.put("/api/v1/progress/es:uno", json=progress, headers=learner.headers)
    assert response.status_code == 201, response.text
    for lesson in place.lessons:
        await create_card(client, place.teacher, lesson["id"], ann["id"])
    kept = await create_card(client, place.teacher, place.lessons[0]["id"], None)
    hedy = await co_teacher(client, place)
    await lock(client, hedy, kept["id"])  # a lock on another student's card is no matter

    response = await client.delete(f"{STUDENTS}/{ann['id']}", headers=place.teacher.headers)
    assert data_of(response) == {"deleted_id": ann["id"]}
    assert list(cards_by_id(await get_board(client, place.teacher))) == [kept["id"]]
    assert ann["id"] not in [s["id"] for s in await roster_of(client, place)]
    record = data_of(await client.get("/api/v1/progress/es:uno", headers=learner.headers))
    assert record["studyCount"] == 2
    assert data_of(await client.get(LEARNER_CLASSROOMS, headers=learner.headers)) == []
    response = await client.delete(f"{STUDENTS}/{ann['id']}", headers=place.teacher.headers)
    error_of(response, 404, "NOT_FOUND")


async def test_a_student_with_a_card_another_teacher_locked_stays(client: Client) -> None:
    place = await room(client)
    ann = place.students[0]
    hedy = await co_teacher(client, place)
    card = await create_card(client, place.teacher, place.lessons[0]["id"], ann["id"])
    await lock(client, hedy, card["id"])
    response = await client.delete(f"{STUDENTS}/{ann['id']}", headers=place.teacher.headers)
    assert error_of(response, 409, "CARD_LOCKED")["details"]["locked_by"] == hedy.id
    assert ann["id"] in [s["id"] for s in await roster_of(client, place)]


async def test_other_teachers_ids_are_404(client: Client) -> None:
    place = await room(client)
    await create_card(client, place.teacher, place.lessons[0]["id"], place.students[0]["id"])
    stranger = await user(client, name="Mallory")
    await room(client, teacher=stranger, name="Mallory's")
    student, lesson = place.students[0]["id"], place.lessons[0]["id"]
    attempts: list[tuple[str, str, Any]] = [
        ("PATCH", f"{STUDENTS}/{student}", {"name": "X"}),
        ("DELETE", f"{STUDENTS}/{student}", None),
        ("PATCH", f"{LESSONS}/{lesson}", {"title": "X"}),
        ("DELETE", f"{LESSONS}/{lesson}", None),
        ("PATCH", f"{CLASSROOMS}/{place.id}", {"name": "X"}),
        ("POST", f"{CLASSROOMS}/{place.id}/codes", None),
        ("GET", f"{CLASSROOMS}/{place.id}/teachers", None),
        ("DELETE", f"{CLASSROOMS}/{place.id}/teachers/{place.teacher.id}", None),
        ("DELETE", f"{CLASSROOMS}/{place.id}/teachers/{stranger.id}", None),
        ("PATCH", f"{STUDENTS}/{uuid.uuid4()}", {"name": "X"}),
        ("DELETE", f"{LESSONS}/{uuid.uuid4()}", None),
        ("PATCH", f"{CLASSROOMS}/{uuid.uuid4()}", {"name": "X"}),
        ("PATCH", f"{CLASSROOMS}/not-an-id", {"name": "X"}),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=stranger.headers)
        error_of(response, 404, "NOT_FOUND")
    board = await get_board(client, place.teacher)
    assert len(cards_by_id(board)) == 1
    assert len(board["filters"]["students"]) == len(place.students)
    assert data_of(await client.get(CLASSROOMS, headers=place.teacher.headers)) == [place.classroom]


# --- learners ----------------------------------------------------------------------------------


async def test_a_students_own_code_links_that_entry_once(client: Client) -> None:
    place = await room(client)
    ann = place.students[0]
    card = await create_card(client, place.teacher, place.lessons[0]["id"], ann["id"])
    lin = await user(client, role="learner", name="Lin")
    joined = data_of(await learner_join(client, lin, ann["join_code"].lower()))
    assert joined == {
        "classroom": {"id": place.id, "name": place.classroom["name"]},
        "student": {"id": ann["id"], "name": "Ann", "classroom_id": place.id, "learner_id": lin.id},
    }
    entry = next(s for s in await roster_of(client, place) if s["id"] == ann["id"])
    assert entry == {**ann, "learner_id": lin.id, "join_code": None}
    assert (
        cards_by_id(await get_board(client, place.teacher))[card["id"]]["student_id"] == ann["id"]
    )
    # Single use: the code stops working, for anyone; Lin joining again changes nothing.
    other = await user(client, role="learner", name="Max")
    for learner in (other, lin):
        error_of(await learner_join(client, learner, ann["join_code"]), 404, "NOT_FOUND")
    assert data_of(await learner_join(client, lin, place.classroom["student_join_code"])) == joined
    assert len(await roster_of(client, place)) == len(place.students)
    # A teacher code is not a student's code, nor the other way round.
    error_of(await join_as_teacher(client, place.teacher, ann["join_code"]), 404, "NOT_FOUND")


async def test_a_learner_in_the_classroom_leaves_other_codes_alone(client: Client) -> None:
    place = await room(client)
    lin = await user(client, role="learner", name="Lin")
    first = data_of(await learner_join(client, lin, place.classroom["student_join_code"]))
    ben = place.students[1]
    assert data_of(await learner_join(client, lin, ben["join_code"])) == first
    max_ = await user(client, role="learner", name="Max")
    claimed = data_of(await learner_join(client, max_, ben["join_code"]))
    assert claimed["student"]["id"] == ben["id"]


async def test_the_classroom_code_still_makes_a_new_student(client: Client) -> None:
    place = await room(client)
    lin = await user(client, role="learner", name="Lin")
    joined = data_of(await learner_join(client, lin, place.classroom["student_join_code"]))
    assert joined["student"]["name"] == "Lin"
    assert joined["student"]["id"] not in [s["id"] for s in place.students]
    assert len(await roster_of(client, place)) == len(place.students) + 1


async def test_a_learner_lists_and_leaves_classrooms(client: Client) -> None:
    place = await room(client)
    second = await room(client, teacher=place.teacher, name="Room 2", lessons=())
    lin = await user(client, role="learner", name="Lin")
    ann = place.students[0]
    data_of(await learner_join(client, lin, ann["join_code"]))
    data_of(await learner_join(client, lin, second.classroom["student_join_code"]))
    listed = data_of(await client.get(LEARNER_CLASSROOMS, headers=lin.headers))
    assert listed[0] == {
        "id": place.id,
        "name": "Room 1",
        "student": {"id": ann["id"], "name": "Ann"},
    }
    assert [c["id"] for c in listed] == [place.id, second.id]

    response = await client.post(f"{LEARNER_CLASSROOMS}/{place.id}/leave", headers=lin.headers)
    assert data_of(response) == {"left_id": place.id}
    assert [
        c["id"] for c in data_of(await client.get(LEARNER_CLASSROOMS, headers=lin.headers))
    ] == [second.id]
    entry = next(s for s in await roster_of(client, place) if s["id"] == ann["id"])
    assert (entry["learner_id"], entry["name"]) == (None, "Ann")
    # The entry can be handed out again, with a fresh code of its own.
    assert isinstance(entry["join_code"], str)
    assert entry["join_code"] != ann["join_code"]
    error_of(await learner_join(client, lin, ann["join_code"]), 404, "NOT_FOUND")
    for classroom_id in (place.id, str(uuid.uuid4()), "nope"):
        response = await client.post(
            f"{LEARNER_CLASSROOMS}/{classroom_id}/leave", headers=lin.headers
        )
        error_of(response, 404, "NOT_FOUND")


async def test_roles_are_kept_apart(client: Client) -> None:
    place = await room(client)
    lin = await user(client, role="learner", name="Lin")
    teacher_routes: list[tuple[str, str, Any]] = [
        ("POST", BULK, {"classroom_id": place.id, "names": ["A"]}),
        ("PATCH", f"{STUDENTS}/{place.students[0]['id']}", {"name": "X"}),
        ("DELETE", f"{STUDENTS}/{place.students[0]['id']}", None),
        ("PATCH", f"{LESSONS}/{place.lessons[0]['id']}", {"title": "X"}),
        ("DELETE", f"{LESSONS}/{place.lessons[0]['id']}", None),
        ("PATCH", f"{CLASSROOMS}/{place.id}", {"name": "X"}),
        ("POST", f"{CLASSROOMS}/{place.id}/codes", None),
        ("GET", f"{CLASSROOMS}/{place.id}/teachers", None),
        ("DELETE", f"{CLASSROOMS}/{place.id}/teachers/{place.teacher.id}", None),
    ]
    for method, path, body in teacher_routes:
        response = await client.request(method, path, json=body, headers=lin.headers)
        error_of(response, 403, "FORBIDDEN")
    for method, path in [("GET", LEARNER_CLASSROOMS), ("POST", f"{LEARNER_CLASSROOMS}/x/leave")]:
        response = await client.request(method, path, headers=place.teacher.headers)
        error_of(response, 403, "FORBIDDEN")


# --- the classroom -----------------------------------------------------------------------------


async def test_patch_the_classroom(client: Client) -> None:
    place = await room(client)
    path = f"{CLASSROOMS}/{place.id}"
    patched = data_of(
        await client.patch(path, json={"auto_advance": False}, headers=place.teacher.headers)
    )
    assert patched == {**place.classroom, "auto_advance": False}
    patched = data_of(
        await client.patch(path, json={"name": " 4C "}, headers=place.teacher.headers)
    )
    assert patched == {**place.classroom, "auto_advance": False, "name": "4C"}
    assert data_of(await client.get(CLASSROOMS, headers=place.teacher.headers)) == [patched]
    for body, field in [
        ({"auto_advance": "no"}, "auto_advance"),
        ({"name": ""}, "name"),
        ({"student_join_code": "MINE"}, "student_join_code"),
    ]:
        response = await client.patch(path, json=body, headers=place.teacher.headers)
        assert field in str(error_of(response, 400, "VALIDATION_ERROR")["details"])


async def test_new_codes_kill_the_old_ones_at_once(client: Client) -> None:
    place = await room(client)
    old = place.classroom
    response = await client.post(f"{CLASSROOMS}/{place.id}/codes", headers=place.teacher.headers)
    fresh = data_of(response)
    assert fresh["id"] == place.id
    for key in ("teacher_join_code", "student_join_code"):
        assert fresh[key] != old[key]
    hedy = await user(client, name="Hedy")
    error_of(await join_as_teacher(client, hedy, old["teacher_join_code"]), 404, "NOT_FOUND")
    lin = await user(client, role="learner", name="Lin")
    error_of(await learner_join(client, lin, old["student_join_code"]), 404, "NOT_FOUND")
    data_of(await join_as_teacher(client, hedy, fresh["teacher_join_code"]))
    data_of(await learner_join(client, lin, fresh["student_join_code"]))
    # Students' own codes stay.
    ann = place.students[0]
    max_ = await user(client, role="learner", name="Max")
    assert data_of(await learner_join(client, max_, ann["join_code"]))["student"]["id"] == ann["id"]


# --- teachers ----------------------------------------------------------------------------------


async def test_teachers_list_the_owner_first(client: Client) -> None:
    place = await room(client)
    hedy = await co_teacher(client, place)
    for caller in (place.teacher, hedy):
        listed = data_of(
            await client.get(f"{CLASSROOMS}/{place.id}/teachers", headers=caller.headers)
        )
        assert [(t["id"], t["name"], t["role"]) for t in listed] == [
            (place.teacher.id, "Grace", "owner"),
            (hedy.id, "Hedy", "teacher"),
        ]
        assert all(set(t) == {"id", "name", "email", "role"} for t in listed)
        assert all(t["email"].endswith("@example.org") for t in listed)


async def test_owner_rules(client: Client) -> None:
    place = await room(client)
    grace = place.teacher
    hedy = await co_teacher(client, place)
    ida = await co_teacher(client, place, name="Ida")
    teachers = f"{CLASSROOMS}/{place.id}/teachers"
    error_of(await client.delete(f"{teachers}/{ida.id}", headers=hedy.headers), 403, "FORBIDDEN")
    error_of(await client.delete(f"{teachers}/{grace.id}", headers=hedy.headers), 403, "FORBIDDEN")
    response = await client.delete(f"{teachers}/{grace.id}", headers=grace.headers)
    error_of(response, 400, "VALIDATION_ERROR")
    stranger = await user(client, name="Mallory")
    response = await client.delete(f"{teachers}/{stranger.id}", headers=grace.headers)
    error_of(response, 404, "NOT_FOUND")
    # Anyone may leave; the owner removes others.
    assert data_of(await client.delete(f"{teachers}/{hedy.id}", headers=hedy.headers)) == {
        "removed_id": hedy.id
    }
    assert data_of(await client.delete(f"{teachers}/{ida.id}", headers=grace.headers)) == {
        "removed_id": ida.id
    }
    listed = data_of(await client.get(teachers, headers=grace.headers))
    assert [t["id"] for t in listed] == [grace.id]
    for gone in (hedy, ida):
        assert data_of(await client.get(CLASSROOMS, headers=gone.headers)) == []


@pytest.mark.parametrize("warm", ["304", "cached"])
async def test_a_removed_teacher_gets_404_at_once_even_with_warm_caches(
    client: Client, warm: str
) -> None:
    place = await room(client)
    hedy = await co_teacher(client, place)
    card = await create_card(client, hedy, place.lessons[0]["id"], place.students[0]["id"])
    await lock(client, hedy, card["id"])
    params = {"classroom_id": place.id}
    first = await client.get(BOARD, params=params, headers=hedy.headers)
    tag = first.headers["etag"]
    headers = {**hedy.headers, "If-None-Match": tag} if warm == "304" else hedy.headers
    again = await client.get(BOARD, params=params, headers=headers)
    assert again.status_code == (304 if warm == "304" else 200)

    teachers = f"{CLASSROOMS}/{place.id}/teachers"
    data_of(await client.delete(f"{teachers}/{hedy.id}", headers=place.teacher.headers))
    error_of(await client.get(BOARD, params=params, headers=headers), 404, "NOT_FOUND")
    error_of(await client.get(STUDENTS, params=params, headers=hedy.headers), 404, "NOT_FOUND")
    response = await client.post(f"{CARDS}/{card['id']}/lock", headers=hedy.headers)
    error_of(response, 404, "CARD_NOT_FOUND")
    # Their lock went with them.
    shown = cards_by_id(await get_board(client, place.teacher, **params))[card["id"]]
    assert shown["locked_by"] is None
