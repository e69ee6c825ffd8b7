"""Board events over the websocket (contract §5, §7), against an app served for real.

One teacher acts over REST while a co-teacher's socket, subscribed to ``board:{id}``, must
see every change as the documented event: its name, its data (cards as REST shows them),
its actor, and a ``seq`` that the board's GET reports right after. Lock expiries come from
the sweeper with the former holder as actor. With Redis, the same holds with the two
teachers on different processes. Waits are for frames, with a timeout; "nothing else came"
is a ping whose pong is the very next frame (a connection's frames are written in order).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from websockets.asyncio.client import ClientConnection

from server.app import create_app
from server.settings import Settings
from tests.backends import SECRET_KEY
from tests.board_helpers import (
    BATCH_MOVE,
    BOARD,
    CARDS,
    TIMESTAMP,
    Room,
    User,
    add_lesson,
    add_student,
    co_teacher,
    columns,
    create_card,
    data_of,
    fill,
    get_board,
    move,
    room,
)
from tests.live import frame_where, live, subscribe, websocket
from tests.servers import served


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with live(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        yield http, address


@asynccontextmanager
async def watching(address: str, teacher: User, place: Room) -> AsyncIterator[ClientConnection]:
    """``teacher``'s socket, subscribed to ``place``'s board."""
    async with websocket(address, token=teacher.token) as socket:
        answer = await subscribe(socket, place.channel)
        assert answer["type"] == "subscribed", answer
        yield socket


async def next_event(socket: ClientConnection) -> Any:
    """The next event frame (presence frames are passed over)."""
    return await frame_where(socket, lambda frame: frame["type"] == "event")


async def nothing_more(socket: ClientConnection) -> None:
    await socket.send(json.dumps({"type": "ping"}))
    frame = await frame_where(socket, lambda frame: frame["type"] != "presence")
    assert frame == {"type": "pong"}


def check_event(frame: Any, place: Room, actor: User, name: str, seq: int | None = None) -> Any:
    """Assert the frame is event ``name`` on ``place``'s board by ``actor``; its data."""
    assert set(frame) == {"type", "channel", "seq", "event", "data", "actor", "at"}
    assert (frame["type"], frame["channel"], frame["event"]) == ("event", place.channel, name)
    assert frame["actor"] == {"id": actor.id, "name": actor.name}
    assert TIMESTAMP.match(frame["at"])
    if seq is not None:
        assert frame["seq"] == seq
    return frame["data"]


async def board_seq(http: httpx.AsyncClient, teacher: User) -> int:
    seq: int = (await get_board(http, teacher))["seq"]
    return seq


async def test_every_change_is_announced_to_a_co_teacher(app: Litestar) -> None:
    async with serving(app) as (http, address):
        place = await room(http)
        grace = place.teacher
        hedy = await co_teacher(http, place)
        async with watching(address, hedy, place) as socket:
            seq = await board_seq(http, grace)

            card = await create_card(http, grace, place.lessons[0]["id"], place.students[0]["id"])
            data = check_event(await next_event(socket), place, grace, "card.created", seq + 1)
            assert data == card
            assert await board_seq(http, grace) == seq + 1

            other = await create_card(http, grace, place.lessons[1]["id"], None)
            check_event(await next_event(socket), place, grace, "card.created", seq + 2)
            moved = data_of(await move(http, grace, card, "in_progress", 0))
            data = check_event(await next_event(socket), place, grace, "card.moved", seq + 3)
            assert data == {"card": moved, "from_status": "not_started", "from_position": 0}
            assert await board_seq(http, grace) == seq + 3

            response = await http.post(f"{CARDS}/{moved['id']}/lock", headers=grace.headers)
            lease = data_of(response)
            data = check_event(await next_event(socket), place, grace, "card.locked", seq + 4)
            assert data == {**lease, "locked_by_name": "Grace"}
            response = await http.post(f"{CARDS}/{moved['id']}/lock", headers=grace.headers)
            renewed = data_of(response)
            data = check_event(await next_event(socket), place, grace, "card.locked", seq + 5)
            assert data == {**renewed, "locked_by_name": "Grace"}
            assert data["locked_at"] == lease["locked_at"]

            data_of(await http.delete(f"{CARDS}/{moved['id']}/lock", headers=grace.headers))
            data = check_event(await next_event(socket), place, grace, "card.unlocked", seq + 6)
            assert data == {"id": moved["id"], "reason": "released"}

            # The co-teacher acting is the actor; she sees her own events too. The template
            # (position 0) shifts to keep positions dense but gets no event of its own.
            moved_back = data_of(await move(http, hedy, moved, "not_started", 0))
            data = check_event(await next_event(socket), place, hedy, "card.moved", seq + 7)
            assert data == {"card": moved_back, "from_status": "in_progress", "from_position": 0}
            shifted = columns(await get_board(http, grace))["not_started"][1]
            assert shifted["updated_at"] == other["updated_at"]

            data_of(await http.delete(f"{CARDS}/{card['id']}", headers=hedy.headers))
            data = check_event(await next_event(socket), place, hedy, "card.deleted", seq + 8)
            assert data == {"id": card["id"], "status": "not_started", "position": 0}
            assert await board_seq(http, grace) == seq + 8
            await nothing_more(socket)


async def test_a_batch_move_is_one_event_per_applied_move(app: Litestar) -> None:
    async with serving(app) as (http, address):
        place = await room(http)
        grace = place.teacher
        hedy = await co_teacher(http, place)
        await fill(http, place, {"not_started": 3})
        first, second, third = columns(await get_board(http, grace))["not_started"]
        async with watching(address, hedy, place) as socket:
            seq = await board_seq(http, grace)
            moves = [
                {"card_id": c["id"], "new_status": status, "new_position": 0, "version": version}
                for c, status, version in [
                    (third, "in_progress", third["updated_at"]),
                    (second, "needs_review", second["updated_at"]),  # a jump: fails
                    (first, "not_started", "2020-01-01T00:00:00Z"),  # stale: fails
                    (first, "not_started", first["updated_at"]),  # reorder: same place
                    (second, "in_progress", second["updated_at"]),
                ]
            ]
            answer = data_of(
                await http.post(BATCH_MOVE, json={"moves": moves}, headers=grace.headers)
            )
            assert len(answer["failed_moves"]) == 2
            updated = answer["updated_cards"]
            assert [card["id"] for card in updated] == [third["id"], first["id"], second["id"]]
            froms = [("not_started", 2), ("not_started", 0), ("not_started", 1)]
            for index, (card, (status, position)) in enumerate(zip(updated, froms, strict=True)):
                data = check_event(
                    await next_event(socket), place, grace, "card.moved", seq + 1 + index
                )
                assert data == {"card": card, "from_status": status, "from_position": position}
            await nothing_more(socket)
            assert await board_seq(http, grace) == seq + 3


@asynccontextmanager
async def short_locks(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with serving(create_app(msgspec.structs.replace(settings, lock_ttl_seconds=1))) as (
        http,
        address,
    ):
        yield http, address


async def test_an_expiry_is_announced_with_the_former_holder_as_actor(
    settings: Settings,
) -> None:
    async with short_locks(settings) as (http, address):
        place = await room(http)
        grace = place.teacher
        hedy = await co_teacher(http, place)
        card = await create_card(http, grace, place.lessons[0]["id"], None)
        async with watching(address, hedy, place) as socket:
            lease = data_of(await http.post(f"{CARDS}/{card['id']}/lock", headers=grace.headers))
            locked = await next_event(socket)
            assert check_event(locked, place, grace, "card.locked")["id"] == card["id"]
            # The lease is one second; the sweeper runs every second.
            expired = await frame_where(socket, lambda frame: frame["type"] == "event", timeout=5)
            data = check_event(expired, place, grace, "card.unlocked", locked["seq"] + 1)
            assert data == {"id": card["id"], "reason": "expired"}
            # Both in the one fixed format (UTC, microseconds, Z): text order is time order.
            assert expired["at"] >= lease["expires_at"]
            assert await board_seq(http, grace) == expired["seq"]
            await nothing_more(socket)
        shown = (await get_board(http, grace))["columns"][0]["cards"][0]
        assert (shown["locked_by"], shown["locked_at"]) == (None, None)


@asynccontextmanager
async def two_processes(
    app: Litestar, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, str, httpx.AsyncClient, str]]:
    """The test app served here and a ``tandem serve`` process sharing its database and
    Redis: a client and an address for each."""
    assert settings.redis_url is not None
    environment = {
        "TANDEM_DATABASE_URL": settings.database_url,
        "TANDEM_REDIS_URL": settings.redis_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_RATE_LIMITS": "off",
        "TANDEM_ANONYMOUS_RATE_LIMITS": "off",
    }
    async with (
        serving(app) as (here, here_address),
        served(environment) as other,
        httpx.AsyncClient(base_url=other.url) as there,
    ):
        yield here, here_address, there, other.url.removeprefix("http://")


@pytest.mark.needs_redis
async def test_teachers_on_two_processes_get_every_event(app: Litestar, settings: Settings) -> None:
    async with two_processes(app, settings) as (here, here_address, there, there_address):
        place = await room(here)
        grace = place.teacher
        hedy = await co_teacher(there, place)
        async with (
            watching(here_address, grace, place) as grace_socket,
            watching(there_address, hedy, place) as hedy_socket,
        ):
            seq = await board_seq(here, grace)
            expected: list[tuple[str, User]] = []

            card = await create_card(here, grace, place.lessons[0]["id"], place.students[0]["id"])
            expected.append(("card.created", grace))
            card = data_of(await move(there, hedy, card, "in_progress", 0))
            expected.append(("card.moved", hedy))
            data_of(await here.post(f"{CARDS}/{card['id']}/lock", headers=grace.headers))
            expected.append(("card.locked", grace))
            data_of(await here.delete(f"{CARDS}/{card['id']}/lock", headers=grace.headers))
            expected.append(("card.unlocked", grace))
            template = await create_card(there, hedy, place.lessons[1]["id"], None)
            expected.append(("card.created", hedy))
            data_of(await there.delete(f"{CARDS}/{template['id']}", headers=hedy.headers))
            expected.append(("card.deleted", hedy))

            for socket in (grace_socket, hedy_socket):
                received = [await next_event(socket) for _ in expected]
                assert [frame["seq"] for frame in received] == list(
                    range(seq + 1, seq + 1 + len(expected))
                )
                for frame, (name, actor) in zip(received, expected, strict=True):
                    check_event(frame, place, actor, name)
                assert received[1]["data"]["card"] == card
                await nothing_more(socket)
            assert await board_seq(there, hedy) == seq + len(expected)


@pytest.mark.needs_redis
async def test_a_write_on_one_process_changes_the_tag_at_once_on_the_other(
    app: Litestar, settings: Settings
) -> None:
    """Both processes answer a named board's 304 from the shared stamp: a write on one, and
    the very next revalidation on the other is a 200 with the new board."""
    async with two_processes(app, settings) as (here, _, there, _):
        place = await room(here)
        grace = place.teacher
        card = await create_card(here, grace, place.lessons[0]["id"], place.students[0]["id"])
        params = {"classroom_id": place.id}

        async def revalidate(tag: str) -> httpx.Response:
            headers = {**grace.headers, "If-None-Match": tag}
            return await there.get(BOARD, params=params, headers=headers)

        tag = (await there.get(BOARD, params=params, headers=grace.headers)).headers["etag"]
        assert (await revalidate(tag)).status_code == 304
        changes: list[Callable[[], Awaitable[Any]]] = [
            lambda: move(here, grace, card, "in_progress", 0),
            lambda: here.post(f"{CARDS}/{card['id']}/lock", headers=grace.headers),
            lambda: here.delete(f"{CARDS}/{card['id']}/lock", headers=grace.headers),
            lambda: add_student(here, grace, place.id, "Dora"),
            lambda: add_lesson(here, grace, place.id, "Rivers", "Geography"),
        ]
        for change in changes:
            answer = await change()
            if isinstance(answer, httpx.Response):
                assert answer.status_code < 300, answer.text
            response = await revalidate(tag)
            assert response.status_code == 200, response.text
            assert response.headers["etag"] != tag
            tag = response.headers["etag"]
            assert (await revalidate(tag)).status_code == 304
        shown = data_of(await there.get(BOARD, params=params, headers=grace.headers))
        assert "Dora" in [student["name"] for student in shown["filters"]["students"]]
        assert [c["id"] for c in columns(shown)["in_progress"]] == [card["id"]]
