"""Shared setup for the classroom and board tests (contract §4, §5).

A teacher with a classroom, its students and lessons, cards on its board; co-teachers who
joined with the teacher code; and the checks every board test wants (dense positions, each
card once). Everything goes through the public API, as a client would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.helpers import Client, bearer, signed_in

CLASSROOMS = "/api/teacher/classrooms"
STUDENTS = "/api/teacher/students"
LESSONS = "/api/teacher/lessons"
BOARD = "/api/teacher/progress-board"
CARDS = f"{BOARD}/cards"
BATCH_MOVE = f"{BOARD}/batch-move"
LEARNER_JOIN = "/api/v1/classrooms/join"

STATUSES = ("not_started", "in_progress", "needs_review", "mastered")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
CARD_KEYS = {
    "id",
    "lesson_id",
    "lesson_title",
    "lesson_category",
    "student_id",
    "student_name",
    "status",
    "position",
    "locked_by",
    "locked_at",
    "updated_at",
}


@dataclass(frozen=True)
class User:
    """A signed-in account: its id, name and bearer headers."""

    id: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@dataclass
class Room:
    """A classroom with its (first) teacher, students and lessons."""

    teacher: User
    classroom: dict[str, Any]
    students: list[dict[str, Any]] = field(default_factory=list)
    lessons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        classroom_id: str = self.classroom["id"]
        return classroom_id

    @property
    def channel(self) -> str:
        return f"board:{self.id}"


def data_of(response: httpx.Response, status: int = 200) -> Any:
    """The ``data`` of a success envelope, asserting the status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


async def user(client: Client, *, role: str = "teacher", name: str = "Grace") -> User:
    tokens = await signed_in(client, role=role, name=name)
    return User(id=tokens["user"]["id"], name=name, token=tokens["access_token"])


async def create_classroom(client: Client, teacher: User, name: str = "Room 1") -> dict[str, Any]:
    response = await client.post(CLASSROOMS, json={"name": name}, headers=teacher.headers)
    classroom: dict[str, Any] = data_of(response, 201)
    return classroom


async def join_as_teacher(client: Client, teacher: User, code: str) -> httpx.Response:
    return await client.post(
        f"{CLASSROOMS}/join", json={"join_code": code}, headers=teacher.headers
    )


async def add_student(
    client: Client, teacher: User, classroom_id: str, name: str
) -> dict[str, Any]:
    response = await client.post(
        STUDENTS, json={"classroom_id": classroom_id, "name": name}, headers=teacher.headers
    )
    student: dict[str, Any] = data_of(response, 201)
    return student


async def add_lesson(
    client: Client,
    teacher: User,
    classroom_id: str,
    title: str,
    category: str,
    word_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"classroom_id": classroom_id, "title": title, "category": category}
    if word_ids is not None:
        body["word_ids"] = list(word_ids)
    response = await client.post(LESSONS, json=body, headers=teacher.headers)
    lesson: dict[str, Any] = data_of(response, 201)
    return lesson


async def room(
    client: Client,
    *,
    teacher: User | None = None,
    name: str = "Room 1",
    students: Sequence[str] = ("Ann", "Ben", "Cleo"),
    lessons: Sequence[tuple[str, str]] = (
        ("Addition", "Mathematics"),
        ("Phonics", "Language"),
        ("Plants", "Science"),
    ),
) -> Room:
    """A teacher (new unless given) with a new classroom, its students and lessons."""
    owner = teacher or await user(client, name="Grace")
    classroom = await create_classroom(client, owner, name)
    made = Room(owner, classroom)
    for student_name in students:
        made.students.append(await add_student(client, owner, made.id, student_name))
    for title, category in lessons:
        made.lessons.append(await add_lesson(client, owner, made.id, title, category))
    return made


async def co_teacher(client: Client, place: Room, name: str = "Hedy") -> User:
    """A new teacher who joined ``place`` with its teacher code."""
    teacher = await user(client, name=name)
    data_of(await join_as_teacher(client, teacher, place.classroom["teacher_join_code"]))
    return teacher


async def post_card(
    client: Client,
    teacher: User,
    lesson_id: str,
    student_id: str | None,
    status: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"lesson_id": lesson_id, "student_id": student_id}
    if status is not None:
        body["status"] = status
    return await client.post(CARDS, json=body, headers=teacher.headers)


async def create_card(
    client: Client,
    teacher: User,
    lesson_id: str,
    student_id: str | None,
    status: str | None = None,
) -> dict[str, Any]:
    card: dict[str, Any] = data_of(
        await post_card(client, teacher, lesson_id, student_id, status), 201
    )
    return card


async def a_class_with_a_learner(client: Client, words: Sequence[str]) -> dict[str, Any]:
    """Maria's Class 4A: Ana (a learner, Ana Ruiz, who joined with her own code) and Ben
    (who hasn't joined), one lesson of ``words`` with a card for each."""
    tokens = await signed_in(client, role="teacher", name="Maria Lopez")
    maria = User(id=tokens["user"]["id"], name="Maria Lopez", token=tokens["access_token"])
    place = await room(client, teacher=maria, name="Class 4A", students=("Ana", "Ben"), lessons=())
    lesson = await add_lesson(client, maria, place.id, "Greetings", "Vocabulary", list(words))
    cards = [await create_card(client, maria, lesson["id"], s["id"]) for s in place.students]
    learner = await signed_in(client, role="learner", name="Ana Ruiz")
    join = {"join_code": place.students[0]["join_code"]}
    joined = await client.post(
        "/api/v1/classrooms/join", json=join, headers=bearer(learner["access_token"])
    )
    data_of(joined)
    return {
        "maria": maria,
        "tokens": tokens,
        "place": place,
        "lesson": lesson,
        "cards": cards,
        "learner": learner,
    }


async def fill(client: Client, place: Room, layout: dict[str, int]) -> dict[str, list[str]]:
    """Create cards (lesson-student pairs, in order) so that each status of ``layout`` has
    that many; the card ids per status, in position order."""
    pairs = [(lesson["id"], s["id"]) for lesson in place.lessons for s in place.students]
    assert sum(layout.values()) <= len(pairs), "not enough lesson-student pairs"
    ids: dict[str, list[str]] = {status: [] for status in STATUSES}
    for status, count in layout.items():
        for _ in range(count):
            lesson_id, student_id = pairs.pop(0)
            card = await create_card(client, place.teacher, lesson_id, student_id, status)
            ids[status].append(card["id"])
    return ids


async def get_board(client: Client, teacher: User, **params: str) -> dict[str, Any]:
    board: dict[str, Any] = data_of(await client.get(BOARD, params=params, headers=teacher.headers))
    return board


async def move(
    client: Client,
    teacher: User,
    card: dict[str, Any],
    new_status: str,
    new_position: int,
    version: str | None = None,
) -> httpx.Response:
    """PATCH a move of ``card`` (a card as the API showed it), with its version by default."""
    return await client.patch(
        f"{CARDS}/{card['id']}/move",
        json={
            "new_status": new_status,
            "new_position": new_position,
            "version": card["updated_at"] if version is None else version,
        },
        headers=teacher.headers,
    )


def columns(board: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The board's cards per status, in the order the API lists them."""
    return {column["status_value"]: column["cards"] for column in board["columns"]}


def ids_by_status(board: dict[str, Any]) -> dict[str, list[str]]:
    return {status: [card["id"] for card in cards] for status, cards in columns(board).items()}


def cards_by_id(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {card["id"]: card for cards in columns(board).values() for card in cards}


def assert_dense(board: dict[str, Any]) -> None:
    """Every column's positions are 0..n-1 in listed order, each card is in its own status's
    column, and no card appears twice."""
    seen: list[str] = []
    for status, cards in columns(board).items():
        assert [card["position"] for card in cards] == list(range(len(cards))), (status, cards)
        assert all(card["status"] == status for card in cards), (status, cards)
        seen.extend(card["id"] for card in cards)
    assert len(seen) == len(set(seen)), seen
