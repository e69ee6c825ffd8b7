"""Shared setup for the learning loop's tests (contract §9): a classroom whose students
have learners, lessons of deck words, cards, and a learner's progress writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from tests.board_helpers import (
    LEARNER_JOIN,
    Room,
    User,
    add_lesson,
    create_card,
    data_of,
    get_board,
    room,
    user,
)
from tests.helpers import Client

PROGRESS = "/api/v1/progress"
ASSIGNMENTS = "/api/v1/assignments"
WORDS = ("es:hola", "es:adios", "es:gracias")


@dataclass
class Loop:
    """A room with one learner who joined as a student, a lesson of :data:`WORDS` and that
    student's card on it, and a template card."""

    place: Room
    learner: User
    student: dict[str, Any]
    lesson: dict[str, Any]
    card: dict[str, Any]
    template: dict[str, Any]


async def join(client: Client, learner: User, code: str) -> dict[str, Any]:
    response = await client.post(LEARNER_JOIN, json={"join_code": code}, headers=learner.headers)
    joined: dict[str, Any] = data_of(response)
    return joined


async def loop(
    client: Client,
    *,
    words: Sequence[str] = WORDS,
    status: str | None = None,
    teacher: User | None = None,
) -> Loop:
    place = await room(client, teacher=teacher, students=(), lessons=())
    learner = await user(client, role="learner", name="Lena")
    student = (await join(client, learner, place.classroom["student_join_code"]))["student"]
    lesson = await add_lesson(client, place.teacher, place.id, "Greetings", "Spanish", words)
    card = await create_card(client, place.teacher, lesson["id"], student["id"], status)
    template = await create_card(client, place.teacher, lesson["id"], None)
    return Loop(place, learner, student, lesson, card, template)


def body(study: int, correct: int, confidence: int = 3, mastered: bool | None = None) -> Any:
    sent: dict[str, Any] = {
        "studyCount": study,
        "correctCount": correct,
        "confidence": confidence,
    }
    if mastered is not None:
        sent["mastered"] = mastered
    return sent


async def put(
    client: Client,
    learner: User,
    word_id: str,
    study: int,
    correct: int,
    confidence: int = 3,
    mastered: bool | None = None,
) -> httpx.Response:
    return await client.put(
        f"{PROGRESS}/{word_id}",
        json=body(study, correct, confidence, mastered),
        headers=learner.headers,
    )


async def board_card(client: Client, teacher: User, card_id: str, **params: str) -> Any:
    board = await get_board(client, teacher, **params)
    for column in board["columns"]:
        for card in column["cards"]:
            if card["id"] == card_id:
                return card
    raise AssertionError(f"card {card_id} is not on the board")


def sums(
    words: int,
    started: int = 0,
    mastered: int = 0,
    studies: int = 0,
    correct: int = 0,
    last: Any = None,
) -> dict[str, Any]:
    return {
        "words": words,
        "started": started,
        "mastered": mastered,
        "studies": studies,
        "correct": correct,
        "last_studied_at": last,
    }
