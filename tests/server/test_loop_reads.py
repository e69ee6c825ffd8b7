"""The learning loop's reads (contract §9): every card answer carries ``progress``, the
learner's assignments, the classroom overview; on either backend."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.board_helpers import (
    CARDS,
    CLASSROOMS,
    add_lesson,
    add_student,
    create_card,
    data_of,
    move,
    user,
)
from tests.helpers import error_of
from tests.server.loop_helpers import (
    ASSIGNMENTS,
    PROGRESS,
    WORDS,
    board_card,
    join,
    loop,
    put,
    sums,
)

Client = AsyncTestClient[Litestar]


async def record(client: Client, headers: dict[str, str], word_id: str) -> dict[str, Any]:
    found: dict[str, Any] = data_of(await client.get(f"{PROGRESS}/{word_id}", headers=headers))
    return found


async def test_a_card_shows_its_learners_sums_over_the_lessons_words(client: Client) -> None:
    setup = await loop(client)
    teacher = setup.place.teacher
    assert setup.card["progress"] == sums(3)
    assert setup.template["progress"] is None
    data_of(await put(client, setup.learner, WORDS[0], 4, 3, mastered=True), 201)
    data_of(await put(client, setup.learner, WORDS[1], 2, 1), 201)
    data_of(await put(client, setup.learner, "es:perro", 9, 9, mastered=True), 201)  # no lesson's
    last = (await record(client, setup.learner.headers, WORDS[1]))["lastStudiedAt"]
    shown = await board_card(client, teacher, setup.card["id"])
    assert shown["progress"] == sums(3, started=2, mastered=1, studies=6, correct=4, last=last)
    template = await board_card(client, teacher, setup.template["id"])
    assert template["progress"] is None
    # The single-card answers show the same sums: a move's answer and the batch's.
    moved = data_of(await move(client, teacher, shown, shown["status"], 0))
    assert moved["progress"] == shown["progress"]


async def test_a_student_without_a_learner_has_no_progress_and_others_records_do_not_count(
    client: Client,
) -> None:
    setup = await loop(client)
    teacher = setup.place.teacher
    nobody = await add_student(client, teacher, setup.place.id, "Nobody")
    card = await create_card(client, teacher, setup.lesson["id"], nobody["id"])
    assert card["progress"] is None
    other = await user(client, role="learner", name="Olga")
    data_of(await put(client, other, WORDS[0], 1, 1), 201)
    assert (await board_card(client, teacher, setup.card["id"]))["progress"] == sums(3)


async def test_a_lesson_without_words_shows_zero_words(client: Client) -> None:
    setup = await loop(client)
    teacher = setup.place.teacher
    empty = await add_lesson(client, teacher, setup.place.id, "Nothing yet", "Spanish", [])
    card = await create_card(client, teacher, empty["id"], setup.student["id"])
    assert card["progress"] == sums(0)


async def test_assignments_list_the_learners_lessons_across_classrooms(client: Client) -> None:
    setup = await loop(client)
    data_of(await put(client, setup.learner, WORDS[2], 3, 2, mastered=True), 201)
    second = await loop(client, words=("es:perro",))
    # The first loop's learner joins the second classroom too and gets a card there.
    joined = await join(client, setup.learner, second.place.classroom["student_join_code"])
    student = joined["student"]
    card = await create_card(client, second.place.teacher, second.lesson["id"], student["id"])
    found = data_of(await client.get(ASSIGNMENTS, headers=setup.learner.headers))
    last = (await record(client, setup.learner.headers, WORDS[2]))["lastStudiedAt"]
    assert found == [
        {
            "lesson_id": setup.lesson["id"],
            "classroom": {"id": setup.place.id, "name": setup.place.classroom["name"]},
            "title": "Greetings",
            "category": "Spanish",
            "status": "in_progress",  # auto-advanced by the first study
            "words": [
                {"id": "es:hola", "term": "hola", "translation": "hello", "topic": "Greetings"},
                {"id": "es:adios", "term": "adiós", "translation": "goodbye", "topic": "Greetings"},
                {
                    "id": "es:gracias",
                    "term": "gracias",
                    "translation": "thank you",
                    "topic": "Greetings",
                },
            ],
            "progress": sums(3, started=1, mastered=1, studies=3, correct=2, last=last),
        },
        {
            "lesson_id": second.lesson["id"],
            "classroom": {"id": second.place.id, "name": second.place.classroom["name"]},
            "title": "Greetings",
            "category": "Spanish",
            "status": card["status"],
            "words": [found[1]["words"][0]],
            "progress": sums(1),
        },
    ]
    assert found[1]["words"][0]["id"] == "es:perro"
    # Another learner has none; teachers are refused.
    other = await user(client, role="learner", name="Olga")
    assert data_of(await client.get(ASSIGNMENTS, headers=other.headers)) == []
    error_of(await client.get(ASSIGNMENTS, headers=setup.place.teacher.headers), 403, "FORBIDDEN")


async def test_assignments_show_a_classrooms_own_words(client: Client) -> None:
    setup = await loop(client)
    teacher = setup.place.teacher
    body = {"classroom_id": setup.place.id, "term": "la pizarra", "translation": "blackboard"}
    word = data_of(await client.post("/api/teacher/words", json=body, headers=teacher.headers), 201)
    patch = {"word_ids": [word["id"], WORDS[0]]}
    response = await client.patch(
        f"/api/teacher/lessons/{setup.lesson['id']}", json=patch, headers=teacher.headers
    )
    data_of(response)
    [found] = data_of(await client.get(ASSIGNMENTS, headers=setup.learner.headers))
    assert [w["id"] for w in found["words"]] == [word["id"], WORDS[0]]
    assert found["words"][0] == {
        "id": word["id"],
        "term": "la pizarra",
        "translation": "blackboard",
        "topic": None,
    }
    assert found["progress"] == sums(2)


async def test_the_overview_sums_per_student_and_per_lesson(client: Client) -> None:
    setup = await loop(client)
    teacher = setup.place.teacher
    data_of(await put(client, setup.learner, WORDS[0], 2, 2, mastered=True), 201)
    data_of(await put(client, setup.learner, WORDS[1], 1, 0, mastered=True), 201)
    data_of(await put(client, setup.learner, WORDS[2], 1, 1, mastered=True), 201)
    small = await add_lesson(client, teacher, setup.place.id, "Bye", "Spanish", [WORDS[1]])
    await create_card(client, teacher, small["id"], setup.student["id"])
    nobody = await add_student(client, teacher, setup.place.id, "Zed")
    await create_card(client, teacher, small["id"], nobody["id"])
    url = f"{CLASSROOMS}/{setup.place.id}/overview"
    found = data_of(await client.get(url, headers=teacher.headers))
    last = (await record(client, setup.learner.headers, WORDS[2]))["lastStudiedAt"]
    students = {row["student"]["name"]: row for row in found["students"]}
    assert set(students) == {"Lena", "Zed"}
    lena = students["Lena"]
    assert lena["student"]["id"] == setup.student["id"]
    assert lena["student"]["learner_id"] == setup.learner.id
    assert {k: v for k, v in lena.items() if k != "student"} == {
        "lessons": 2,
        **sums(4, started=4, mastered=4, studies=5, correct=3, last=last),
    }
    assert {k: v for k, v in students["Zed"].items() if k != "student"} == {
        "lessons": 1,
        **sums(0),
    }
    lessons = {row["lesson"]["id"]: row for row in found["lessons"]}
    assert lessons[setup.lesson["id"]] == {
        "lesson": {**setup.lesson, "word_ids": list(WORDS)},
        "students": 1,
        "mastered_by": 1,
    }
    assert lessons[small["id"]]["students"] == 2
    assert lessons[small["id"]]["mastered_by"] == 1
    # Others' classrooms are 404; learners are refused.
    stranger = await user(client, name="Stranger")
    error_of(await client.get(url, headers=stranger.headers), 404, "NOT_FOUND")
    error_of(await client.get(url, headers=setup.learner.headers), 403, "FORBIDDEN")


async def test_card_answers_and_created_events_carry_progress(client: Client) -> None:
    setup = await loop(client)
    teacher = setup.place.teacher
    data_of(await put(client, setup.learner, WORDS[0], 1, 1), 201)
    second = await add_lesson(client, teacher, setup.place.id, "Again", "Spanish", WORDS[:1])
    response = await client.post(
        CARDS,
        json={"lesson_id": second["id"], "student_id": setup.student["id"]},
        headers=teacher.headers,
    )
    created = data_of(response, 201)
    last = (await record(client, setup.learner.headers, WORDS[0]))["lastStudiedAt"]
    assert created["progress"] == sums(1, started=1, studies=1, correct=1, last=last)
