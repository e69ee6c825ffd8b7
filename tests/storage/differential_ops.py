"""The operations of the differential test: chosen by a seeded generator, performed on a run.

An :class:`Op` names what it acts on by handle (the n-th teacher, the n-th card made), never
by id, so the same op means the same thing in both runs; each run resolves handles, join
codes and card versions against what its own answers showed. The generator looks at one
run's answers only to bias its choices towards moves that can succeed; the op it makes is
then performed on both runs alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.helpers import PASSWORD
from tests.storage.differential import Run

BOARD = "/api/teacher/progress-board"
PROGRESS = "/api/v1/progress"
FIXED_VERSION = "2001-02-03T04:05:06.789012Z"


@dataclass(frozen=True)
class Op:
    kind: str
    args: dict[str, Any]

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.kind}({shown})"


# -- performing an op on one run ----------------------------------------------------------

Answer = tuple[int, Any]


def _headers(run: Run, user: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {run.users[user]['token']}"}


def _json(response: Any) -> Answer:
    body = response.json() if response.content else None
    return response.status_code, body


async def _register(run: Run, a: dict[str, Any]) -> Answer:
    response = await run.client.post(
        "/api/v1/auth/register",
        json={"email": a["email"], "password": PASSWORD, "name": a["name"], "role": a["role"]},
    )
    if response.status_code != 201:
        return _json(response)
    login = await run.client.post(
        "/api/v1/auth/login", json={"email": a["email"], "password": PASSWORD}
    )
    data = login.json()["data"]
    run.users.append({"id": data["user"]["id"], "token": data["access_token"]})
    return login.status_code, [response.json(), login.json()]


async def _create_classroom(run: Run, a: dict[str, Any]) -> Answer:
    response = await run.client.post(
        "/api/teacher/classrooms", json={"name": a["name"]}, headers=_headers(run, a["teacher"])
    )
    if response.status_code == 201:
        run.classrooms.append(response.json()["data"])
    return _json(response)


def _code(run: Run, room: int | None, which: str) -> str:
    return "no-such-code" if room is None else str(run.classrooms[room][which])


async def _join_teacher(run: Run, a: dict[str, Any]) -> Answer:
    code = _code(run, a["room"], "teacher_join_code")
    return _json(
        await run.client.post(
            "/api/teacher/classrooms/join",
            json={"join_code": code},
            headers=_headers(run, a["teacher"]),
        )
    )


async def _join_learner(run: Run, a: dict[str, Any]) -> Answer:
    code = _code(run, a["room"], "student_join_code")
    response = await run.client.post(
        "/api/v1/classrooms/join", json={"join_code": code}, headers=_headers(run, a["learner"])
    )
    if response.status_code == 200:
        student = response.json()["data"]["student"]["id"]
        if student not in run.students:
            run.students.append(student)
            run.room_of[student] = a["room"]
    return _json(response)


async def _leave(run: Run, a: dict[str, Any]) -> Answer:
    """The learner leaves the classroom: the entry's cards show no progress any more."""
    room = run.classrooms[a["room"]]["id"]
    return _json(
        await run.client.post(
            f"/api/v1/classrooms/{room}/leave", headers=_headers(run, a["learner"])
        )
    )


async def _claim(run: Run, a: dict[str, Any]) -> Answer:
    """The learner joins with a student entry's own code (read off the teacher's roster):
    the entry's cards show the learner's progress (contract §8, §9)."""
    student = run.students[a["student"]]
    room = run.room_of[student]
    listed = await run.client.get(
        "/api/teacher/students",
        params={"classroom_id": run.classrooms[room]["id"]},
        headers=_headers(run, a["teacher"]),
    )
    entries = listed.json()["data"] if listed.status_code == 200 else []  # not their teacher
    codes = {entry["id"]: entry.get("join_code") for entry in entries}
    response = await run.client.post(
        "/api/v1/classrooms/join",
        json={"join_code": codes.get(student) or "NO-SUCH-CODE"},
        headers=_headers(run, a["learner"]),
    )
    return _json(response)


async def _add(run: Run, a: dict[str, Any]) -> Answer:
    """A student or a lesson."""
    body = {"classroom_id": run.classrooms[a["room"]]["id"], **a["fields"]}
    response = await run.client.post(
        f"/api/teacher/{a['what']}", json=body, headers=_headers(run, a["teacher"])
    )
    if response.status_code == 201:
        made = response.json()["data"]["id"]
        (run.students if a["what"] == "students" else run.lessons).append(made)
        run.room_of[made] = a["room"]
    return _json(response)


async def _lesson_words(run: Run, a: dict[str, Any]) -> Answer:
    response = await run.client.patch(
        f"/api/teacher/lessons/{run.lessons[a['lesson']]}",
        json={"word_ids": a["word_ids"]},
        headers=_headers(run, a["teacher"]),
    )
    return _json(response)


async def _list_roster(run: Run, a: dict[str, Any]) -> Answer:
    path = f"/api/teacher/{a['what']}"
    params = {} if a["what"] == "classrooms" else {"classroom_id": run.classrooms[a["room"]]["id"]}
    return _json(await run.client.get(path, params=params, headers=_headers(run, a["teacher"])))


def _card_id(run: Run, card: int | str) -> str:
    """A card handle, or a literal id no run made."""
    return run.cards[card] if isinstance(card, int) else card


def _version(run: Run, card_id: str, which: str) -> str:
    seen = run.versions.get(card_id, [])
    if which == "current" and seen:
        return seen[-1]
    if which == "offset" and seen:
        # The same instant written with another offset: versions compare as instants.
        return seen[-1].replace("Z", "+00:00")
    if which == "stale" and len(seen) > 1:
        return seen[0]
    return FIXED_VERSION


def _move_body(run: Run, move: dict[str, Any]) -> dict[str, Any]:
    card_id = _card_id(run, move["card"])
    return {
        "new_status": move["status"],
        "new_position": move["position"],
        "version": _version(run, card_id, move["version"]),
    }


async def _create_card(run: Run, a: dict[str, Any]) -> Answer:
    body: dict[str, Any] = {
        "lesson_id": run.lessons[a["lesson"]],
        "student_id": None if a["student"] is None else run.students[a["student"]],
    }
    if a["status"] is not None:
        body["status"] = a["status"]
    response = await run.client.post(
        f"{BOARD}/cards", json=body, headers=_headers(run, a["teacher"])
    )
    if response.status_code == 201:
        made = response.json()["data"]["id"]
        run.cards.append(made)
        run.room_of[made] = run.room_of[body["lesson_id"]]
    return _json(response)


async def _move(run: Run, a: dict[str, Any]) -> Answer:
    card_id = _card_id(run, a["card"])
    return _json(
        await run.client.patch(
            f"{BOARD}/cards/{card_id}/move",
            json=_move_body(run, a),
            headers=_headers(run, a["teacher"]),
        )
    )


async def _batch_move(run: Run, a: dict[str, Any]) -> Answer:
    moves = [{"card_id": _card_id(run, m["card"]), **_move_body(run, m)} for m in a["moves"]]
    return _json(
        await run.client.post(
            f"{BOARD}/batch-move", json={"moves": moves}, headers=_headers(run, a["teacher"])
        )
    )


async def _card_action(run: Run, a: dict[str, Any]) -> Answer:
    """Lock, unlock or delete."""
    card_id = _card_id(run, a["card"])
    method, path = {
        "lock": ("POST", f"{BOARD}/cards/{card_id}/lock"),
        "unlock": ("DELETE", f"{BOARD}/cards/{card_id}/lock"),
        "delete": ("DELETE", f"{BOARD}/cards/{card_id}"),
    }[a["action"]]
    status, body = _json(
        await run.client.request(method, path, headers=_headers(run, a["teacher"]))
    )
    if a["action"] == "delete" and status == 200:
        run.shown.pop(card_id)
    return status, body


async def _board(run: Run, a: dict[str, Any]) -> Answer:
    params: dict[str, str] = {}
    if a["room"] is not None:
        params["classroom_id"] = run.classrooms[a["room"]]["id"]
    if a["student"] is not None:
        params["student_id"] = run.students[a["student"]]
    if a["category"] is not None:
        params["category"] = a["category"]
    if a["status"] is not None:
        params["status"] = a["status"]
    return _json(await run.client.get(BOARD, params=params, headers=_headers(run, a["teacher"])))


def _note_records(run: Run, learner: int, status: int, body: Any) -> None:
    if status >= 300 or not isinstance(body, dict):
        return
    data = body["data"]
    found = data.get("items", [data]) if isinstance(data, dict) else []
    mine = run.records.setdefault(learner, {})
    for record in found:
        if isinstance(record, dict) and "studyCount" in record:
            mine[record["wordId"]] = record


async def _progress(run: Run, a: dict[str, Any]) -> Answer:
    """Any progress request: ``method``, ``path`` under the progress routes, ``json``."""
    headers = _headers(run, a["learner"])
    response = await run.client.request(
        a["method"], f"{PROGRESS}{a['path']}", json=a.get("json"), headers=headers
    )
    status, body = _json(response)
    _note_records(run, a["learner"], status, body)
    if a["method"] == "DELETE" and status == 200:
        run.records.get(a["learner"], {}).pop(a["path"].lstrip("/"), None)
    return status, body


PERFORM: dict[str, Callable[[Run, dict[str, Any]], Awaitable[Answer]]] = {
    "register": _register,
    "create_classroom": _create_classroom,
    "join_teacher": _join_teacher,
    "join_learner": _join_learner,
    "leave": _leave,
    "claim": _claim,
    "add": _add,
    "list": _list_roster,
    "lesson_words": _lesson_words,
    "create_card": _create_card,
    "move": _move,
    "batch_move": _batch_move,
    "card": _card_action,
    "board": _board,
    "progress": _progress,
}


async def perform(run: Run, op: Op) -> Answer:
    status, body = await PERFORM[op.kind](run, op.args)
    run.note_cards(body)
    return status, body
