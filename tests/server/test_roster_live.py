"""Roster events and teacher removal over the websocket (contract §7, §8), served for real.

A co-teacher's socket sees every roster change as its documented event, a removed
student's or lesson's cards first. A removed teacher's subscription ends with
``unsubscribed`` (reason ``removed``) and nothing later reaches them, over the socket or
REST; with Redis, the same on a second process whose caches were warm.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from litestar import Litestar
from websockets.asyncio.client import ClientConnection

from server.settings import Settings
from tests.board_helpers import (
    BOARD,
    CARDS,
    CLASSROOMS,
    LEARNER_JOIN,
    LESSONS,
    STUDENTS,
    Room,
    User,
    co_teacher,
    create_card,
    data_of,
    room,
    user,
)
from tests.helpers import error_of
from tests.live import frame_where, subscribe, websocket
from tests.server.loop_helpers import sums
from tests.server.test_board_live import (
    board_seq,
    check_event,
    next_event,
    nothing_more,
    serving,
    two_processes,
    watching,
)

UNSUBSCRIBE_WITHIN_SECONDS = 1.0


async def events(socket: ClientConnection, count: int) -> list[Any]:
    return [await next_event(socket) for _ in range(count)]


async def test_roster_changes_reach_a_co_teacher(app: Litestar) -> None:
    async with serving(app) as (http, address):
        place = await room(http)
        grace = place.teacher
        hedy = await co_teacher(http, place)
        ann, lesson = place.students[0], place.lessons[0]
        kept = await create_card(http, grace, place.lessons[1]["id"], ann["id"])
        doomed = await create_card(http, grace, lesson["id"], place.students[1]["id"])
        async with watching(address, hedy, place) as socket:
            seq = await board_seq(http, grace)

            patched = data_of(
                await http.patch(
                    f"{CLASSROOMS}/{place.id}",
                    json={"name": "4C", "auto_advance": False},
                    headers=grace.headers,
                )
            )
            data = check_event(await next_event(socket), place, grace, "classroom.updated", seq + 1)
            assert data == {"id": place.id, "name": "4C", "auto_advance": False}
            assert patched["name"] == "4C"

            made = data_of(
                await http.post(
                    f"{STUDENTS}/bulk",
                    json={"classroom_id": place.id, "names": ["Dora", "Eli"]},
                    headers=grace.headers,
                ),
                201,
            )["students"]
            for frame, student in zip(await events(socket, 2), made, strict=True):
                assert check_event(frame, place, grace, "student.added") == student

            renamed = data_of(
                await http.patch(
                    f"{STUDENTS}/{ann['id']}", json={"name": "Anne"}, headers=grace.headers
                )
            )
            assert check_event(await next_event(socket), place, grace, "student.updated") == renamed

            lin = await user(http, role="learner", name="Lin")
            joined = data_of(
                await http.post(
                    LEARNER_JOIN, json={"join_code": ann["join_code"]}, headers=lin.headers
                )
            )
            data = check_event(await next_event(socket), place, lin, "student.updated")
            assert data == {**renamed, "learner_id": lin.id, "join_code": None}
            assert joined["student"]["id"] == ann["id"]
            # Then a card.progress for each of the entry's cards (§8): the learner's now.
            data = check_event(await next_event(socket), place, lin, "card.progress")
            assert data == {"id": kept["id"], "progress": sums(0)}
            response = await http.post(f"/api/v1/classrooms/{place.id}/leave", headers=lin.headers)
            data_of(response)
            data = check_event(await next_event(socket), place, lin, "student.updated")
            assert (data["id"], data["learner_id"]) == (ann["id"], None)
            data = check_event(await next_event(socket), place, lin, "card.progress")
            assert data == {"id": kept["id"], "progress": None}

            response = await http.delete(f"{STUDENTS}/{ann['id']}", headers=grace.headers)
            data_of(response)
            deleted, removed = await events(socket, 2)
            assert check_event(deleted, place, grace, "card.deleted") == {
                "id": kept["id"],
                "status": "not_started",
                "position": 0,
            }
            assert check_event(removed, place, grace, "student.removed") == {"id": ann["id"]}

            added = data_of(
                await http.post(
                    LESSONS,
                    json={"classroom_id": place.id, "title": "Colours", "category": "Art"},
                    headers=grace.headers,
                ),
                201,
            )
            assert check_event(await next_event(socket), place, grace, "lesson.added") == added
            updated = data_of(
                await http.patch(
                    f"{LESSONS}/{lesson['id']}",
                    json={"word_ids": ["es:uno"]},
                    headers=grace.headers,
                )
            )
            assert check_event(await next_event(socket), place, grace, "lesson.updated") == updated

            data_of(await http.delete(f"{LESSONS}/{lesson['id']}", headers=grace.headers))
            deleted, removed = await events(socket, 2)
            assert check_event(deleted, place, grace, "card.deleted")["id"] == doomed["id"]
            assert check_event(removed, place, grace, "lesson.removed") == {"id": lesson["id"]}
            assert removed["seq"] == await board_seq(http, grace)
            await nothing_more(socket)


async def test_the_cards_of_a_removal_go_last_position_first(app: Litestar) -> None:
    """Each ``card.deleted`` names the card's position at its own deletion, so a client
    applying them one by one keeps every column dense."""
    async with serving(app) as (http, address):
        place = await room(http, students=("Ann", "Ben"), lessons=(("A", "X"), ("B", "X")))
        grace = place.teacher
        cards = [
            await create_card(http, grace, lesson["id"], student["id"])
            for student in place.students
            for lesson in place.lessons
        ]  # not_started: Ann-A 0, Ann-B 1, Ben-A 2, Ben-B 3
        async with watching(address, grace, place) as socket:
            lesson = place.lessons[0]
            data_of(await http.delete(f"{LESSONS}/{lesson['id']}", headers=grace.headers))
            deleted = [
                check_event(f, place, grace, "card.deleted") for f in await events(socket, 2)
            ]
            assert deleted == [
                {"id": cards[2]["id"], "status": "not_started", "position": 2},
                {"id": cards[0]["id"], "status": "not_started", "position": 0},
            ]


async def removal(http: httpx.AsyncClient, place: Room, removed: User) -> None:
    path = f"{CLASSROOMS}/{place.id}/teachers/{removed.id}"
    response = await http.delete(path, headers=place.teacher.headers)
    assert data_of(response) == {"removed_id": removed.id}


async def cut_off(socket: ClientConnection, place: Room) -> None:
    """The next frame (presence aside) is ``unsubscribed``; nothing follows it."""
    started = time.monotonic()
    frame = await frame_where(socket, lambda f: f["type"] != "presence")
    assert time.monotonic() - started < UNSUBSCRIBE_WITHIN_SECONDS
    assert frame == {"type": "unsubscribed", "channel": place.channel, "reason": "removed"}


async def test_a_removed_teacher_is_cut_off(app: Litestar) -> None:
    async with serving(app) as (http, address):
        place = await room(http)
        grace = place.teacher
        hedy = await co_teacher(http, place)
        card = await create_card(http, hedy, place.lessons[0]["id"], place.students[0]["id"])
        data_of(await http.post(f"{CARDS}/{card['id']}/lock", headers=hedy.headers))
        async with (
            watching(address, grace, place) as grace_socket,
            watching(address, hedy, place) as hedy_socket,
        ):
            await removal(http, place, hedy)
            await cut_off(hedy_socket, place)
            gone, unlocked = await events(grace_socket, 2)
            assert check_event(unlocked, place, grace, "card.unlocked") == {
                "id": card["id"],
                "reason": "released",
            }
            assert check_event(gone, place, grace, "teacher.removed") == {"id": hedy.id}
            presence = await frame_where(grace_socket, lambda f: f["type"] == "presence")
            assert presence["users"] == [{"id": grace.id, "name": "Grace"}]

            await create_card(http, grace, place.lessons[1]["id"], None)
            check_event(await next_event(grace_socket), place, grace, "card.created")
            await nothing_more(hedy_socket)
            answer = await subscribe(hedy_socket, place.channel, since=0)
            assert (answer["type"], answer["code"]) == ("error", "NOT_FOUND")
            await nothing_more(hedy_socket)


@pytest.mark.needs_redis
async def test_a_removed_teacher_is_cut_off_on_every_process(
    app: Litestar, settings: Settings
) -> None:
    async with two_processes(app, settings) as (here, _, there, there_address):
        place = await room(here)
        grace = place.teacher
        hedy = await co_teacher(there, place)
        params = {"classroom_id": place.id}
        # Warm every path of the other process: the member memo, the stamp, the cache.
        first = await there.get(BOARD, params=params, headers=hedy.headers)
        tag = first.headers["etag"]
        revalidate = {**hedy.headers, "If-None-Match": tag}
        assert (await there.get(BOARD, params=params, headers=revalidate)).status_code == 304
        assert (await there.get(BOARD, params=params, headers=hedy.headers)).status_code == 200

        async with websocket(there_address, token=hedy.token) as socket:
            assert (await subscribe(socket, place.channel))["type"] == "subscribed"
            await removal(here, place, hedy)
            for headers in (revalidate, hedy.headers):
                response = await there.get(BOARD, params=params, headers=headers)
                error_of(response, 404, "NOT_FOUND")
            await cut_off(socket, place)
            # A change right after: it reaches nobody removed.
            await create_card(here, grace, place.lessons[0]["id"], None)
            await nothing_more(socket)
            await socket.send(json.dumps({"type": "subscribe", "channel": place.channel}))
            refusal = await frame_where(socket, lambda f: f["type"] != "presence")
            assert (refusal["type"], refusal["code"]) == ("error", "NOT_FOUND")
        response = await there.get(STUDENTS, params=params, headers=hedy.headers)
        error_of(response, 404, "NOT_FOUND")


async def test_a_removal_racing_a_subscribe_never_leaks(app: Litestar) -> None:
    """Subscribes racing the removal either are refused or end with ``unsubscribed``;
    none of them sees an event committed after the removal."""
    async with serving(app) as (http, address):
        place = await room(http)
        grace = place.teacher
        hedy = await co_teacher(http, place)
        removed_at = await board_seq(http, grace) + 1

        async def subscriber() -> list[Any]:
            async with websocket(address, token=hedy.token) as socket:
                answer = await subscribe(socket, place.channel, since=0)
                if answer["type"] == "error":
                    return [answer]
                seen = [answer]
                while seen[-1]["type"] != "unsubscribed":
                    seen.append(await frame_where(socket, lambda f: f["type"] != "presence"))
                return seen

        racing = [asyncio.create_task(subscriber()) for _ in range(5)]
        await removal(http, place, hedy)
        await create_card(http, grace, place.lessons[0]["id"], None)
        for seen in await asyncio.gather(*racing):
            assert seen[-1]["type"] in {"error", "unsubscribed"}, seen
            later = [f for f in seen if f["type"] == "event" and f["seq"] >= removed_at]
            assert later == [], later
