"""End to end: ``/api/v1/ws`` served by a real uvicorn, spoken to by a real ``websockets`` client.

Contract §7 (and §3 for tokens). No test pauses blindly: every wait is for a frame or a close,
with a timeout. "Nothing arrives" is shown by a ping whose pong is the very next frame: the
server writes a connection's frames in order, and events are queued for the sockets before
``publish`` returns, so an event that was going to arrive would come before the pong.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import msgspec
import pytest
from litestar import Litestar
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime.framing import text_frame
from realtime.uvicorn_protocol import FramedSendProtocol
from server.app import create_app
from server.settings import Settings
from storage import events
from storage.base import utcnow
from storage.database import Database
from storage.models import Classroom, ClassroomTeacher
from tests.helpers import bearer, signed_in
from tests.live import live, next_frame, subscribe, websocket

PING = json.dumps({"type": "ping"})
PONG = {"type": "pong"}


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's own handle on the app's database, to append events as services will."""
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def address(app: Litestar) -> AsyncIterator[str]:
    async with live(app) as served:
        yield served


@pytest.fixture
async def http(address: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{address}") as client:
        yield client


@asynccontextmanager
async def served_with(settings: Settings, **changes: Any) -> AsyncIterator[tuple[Litestar, str]]:
    """An app built from ``settings`` with ``changes``, served; yields it and its address."""
    app = create_app(msgspec.structs.replace(settings, **changes))
    async with live(app) as served:
        yield app, served


async def append_and_publish(
    app: Litestar,
    db: Database,
    channel: str,
    count: int = 1,
    *,
    data: Any = None,
    actor: dict[str, Any] | None = None,
) -> list[events.StoredEvent]:
    """Append ``count`` events in one transaction, then publish them as a service would."""
    actor_id = None if actor is None else uuid.UUID(actor["id"])
    actor_name = None if actor is None else actor["name"]
    new = [
        events.NewEvent(
            channel, "progress.updated", {"n": n} if data is None else data, actor_id, actor_name
        )
        for n in range(count)
    ]
    async with db.transaction() as session:
        stored = await events.append(session, new)
    publish: events.Publish = app.state.publish
    await publish(stored)
    return stored


async def classroom_taught_by(db: Database, *teachers: dict[str, Any]) -> uuid.UUID:
    """A classroom taught by ``teachers`` (login answers, as ``signed_in`` returns them)."""
    async with db.transaction() as session:
        classroom = Classroom(
            name="Room 101",
            teacher_join_code=uuid.uuid4().hex[:12],
            student_join_code=uuid.uuid4().hex[:12],
        )
        session.add(classroom)
        await session.flush()
        for teacher in teachers:
            session.add(
                ClassroomTeacher(
                    classroom_id=classroom.id, user_id=uuid.UUID(teacher["user"]["id"])
                )
            )
        return classroom.id


async def close_code(client: ClientConnection, timeout: float = 5.0) -> int:
    """Read (and pass over) frames until the server closes the connection; its close code."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await client.recv()
        except ConnectionClosed as closed:
            received = closed.rcvd
    assert received is not None, "closed without a close frame from the server"
    return received.code


def refusal(frame: Any) -> tuple[str, Any]:
    """An ``error`` frame's code and ref (after checking its shape)."""
    assert frame["type"] == "error", frame
    assert set(frame) == {"type", "code", "message", "ref"}
    assert frame["message"]
    return frame["code"], frame["ref"]


async def nothing_else(client: ClientConnection) -> None:
    """Nothing is queued for ``client``: a ping's pong is the next frame."""
    await client.send(PING)
    assert await next_frame(client) == PONG


async def quiet_for(client: ClientConnection, seconds: float) -> None:
    """Wait ``seconds`` for a frame, asserting none arrives (a wait that is also a check)."""
    if seconds > 0:
        with pytest.raises(TimeoutError):
            await next_frame(client, timeout=seconds)


def token_expiry(token: str) -> int:
    claims = jwt.decode(token, options={"verify_signature": False})
    return int(claims["exp"])


# --- auth (§7, first bullet) -------------------------------------------------------------------


async def test_auth_by_first_frame(address: str, http: httpx.AsyncClient) -> None:
    learner = await signed_in(http, name="Lena")
    async with websocket(address) as client:
        await client.send(json.dumps({"type": "auth", "token": learner["access_token"]}))
        assert await next_frame(client) == {
            "type": "auth_ok",
            "user": {"id": learner["user"]["id"], "name": "Lena", "role": "learner"},
        }
        await nothing_else(client)


async def test_auth_by_header_answers_right_after_the_handshake(
    address: str, http: httpx.AsyncClient
) -> None:
    teacher = await signed_in(http, role="teacher", name="Tess")
    async with websocket(address, headers=bearer(teacher["access_token"])) as client:
        assert await next_frame(client) == {
            "type": "auth_ok",
            "user": {"id": teacher["user"]["id"], "name": "Tess", "role": "teacher"},
        }
        await nothing_else(client)


async def test_a_bad_token_closes_with_4401(address: str, http: httpx.AsyncClient) -> None:
    learner = await signed_in(http)
    forged = learner["access_token"][:-4] + "AAAA"
    for token in ("not-a-jwt", forged, learner["refresh_token"]):
        async with websocket(address) as client:
            await client.send(json.dumps({"type": "auth", "token": token}))
            assert await close_code(client) == 4401


async def test_no_auth_within_the_timeout_closes_with_4401(settings: Settings) -> None:
    async with (
        served_with(settings, ws_auth_timeout_seconds=0.5) as (_, address),
        websocket(address) as client,
    ):
        started = time.monotonic()
        assert await close_code(client, timeout=3) == 4401
        assert time.monotonic() - started >= 0.4


async def test_any_other_frame_before_auth_closes_with_4401_at_once(address: str) -> None:
    for frame in (PING, json.dumps({"type": "subscribe", "channel": "progress"}), "not json"):
        async with websocket(address) as client:
            await client.send(frame)
            # The default auth timeout is 10 s: closing within 2 s means "at once".
            assert await close_code(client, timeout=2) == 4401


# --- the progress channel ----------------------------------------------------------------------


async def test_progress_events_reach_only_their_learner(
    app: Litestar, db: Database, address: str, http: httpx.AsyncClient
) -> None:
    learner = await signed_in(http, name="Lena")
    other = await signed_in(http, name="Otto")
    async with (
        websocket(address, token=learner["access_token"]) as client,
        websocket(address, token=other["access_token"]) as bystander,
    ):
        assert await subscribe(client, "progress") == {
            "type": "subscribed",
            "channel": "progress",
            "seq": 0,
            "ref": "r1",
        }
        assert (await subscribe(bystander, "progress", ref="r7"))["ref"] == "r7"

        channel = events.progress_channel(uuid.UUID(learner["user"]["id"]))
        data = {"wordId": "w-1", "state": "review"}
        [stored] = await append_and_publish(app, db, channel, data=data, actor=learner["user"])

        frame = await next_frame(client)
        assert frame == {
            "type": "event",
            "channel": "progress",
            "seq": 1,
            "event": "progress.updated",
            "data": data,
            "actor": {"id": learner["user"]["id"], "name": "Lena"},
            "at": frame["at"],
        }
        assert datetime.fromisoformat(frame["at"]) == stored.at
        await nothing_else(client)
        await nothing_else(bystander)


async def test_events_reach_every_socket_as_text_frames(
    app: Litestar, db: Database, address: str, http: httpx.AsyncClient
) -> None:
    learner = await signed_in(http)
    channel = events.progress_channel(uuid.UUID(learner["user"]["id"]))
    # The live server runs Tandem's uvicorn protocol, so these are the pre-framed sends
    # (realtime/framing.py): the same bytes, written to each socket.
    async with (
        websocket(address, token=learner["access_token"]) as first,
        websocket(address, token=learner["access_token"]) as second,
    ):
        for client in (first, second):
            assert (await subscribe(client, "progress"))["type"] == "subscribed"
        framed = text_frame.cache_info()
        await append_and_publish(app, db, channel, data={"n": "é"}, actor=learner["user"])
        for client in (first, second):
            raw = await client.recv()
            assert isinstance(raw, str)  # a text frame, decoded as UTF-8 by the client
            assert '"n":"é"' in raw
        # Framed once: the first socket's send framed it, the second reused the bytes.
        now = text_frame.cache_info()
        assert (now.misses - framed.misses, now.hits - framed.hits) == (1, 1)


async def test_events_for_idle_sockets_are_written_at_once_and_in_order(
    app: Litestar,
    db: Database,
    address: str,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    learner = await signed_in(http)
    channel = events.progress_channel(uuid.UUID(learner["user"]["id"]))
    # Record what the protocol's direct path wrote (realtime/outbox.py): each event should
    # go there for a socket whose writer is idle, without a queue and a task switch.
    written: list[bytes] = []
    write_now = FramedSendProtocol.write_now

    def recording(protocol: FramedSendProtocol, frame: bytes) -> bool:
        done = write_now(protocol, frame)
        if done:
            written.append(frame)
        return done

    monkeypatch.setattr(FramedSendProtocol, "write_now", recording)
    async with (
        websocket(address, token=learner["access_token"]) as first,
        websocket(address, token=learner["access_token"]) as second,
    ):
        for client in (first, second):
            assert (await subscribe(client, "progress"))["type"] == "subscribed"
        written.clear()
        for n in range(3):
            await append_and_publish(app, db, channel, data={"n": n}, actor=learner["user"])
        received = {client: [await client.recv() for _ in range(3)] for client in (first, second)}

    for frames in received.values():
        assert [json.loads(frame)["seq"] for frame in frames] == [1, 2, 3]
    # Every event frame, to both sockets, went the direct way, and nothing else did.
    assert received[first] == received[second]
    assert written == [text_frame(str(frame)) for frame in received[first] for _ in range(2)]


# --- refusals ----------------------------------------------------------------------------------


async def test_refused_subscriptions_keep_the_connection_usable(
    db: Database, address: str, http: httpx.AsyncClient
) -> None:
    learner = await signed_in(http)
    teacher = await signed_in(http, role="teacher", name="Tess")
    colleague = await signed_in(http, role="teacher", name="Carl")
    taught = await classroom_taught_by(db, teacher)
    not_taught = await classroom_taught_by(db, colleague)

    async with websocket(address, token=learner["access_token"]) as client:
        forbidden = await subscribe(client, f"board:{taught}", ref="b1")
        assert refusal(forbidden) == ("FORBIDDEN", "b1")
        await nothing_else(client)

    async with websocket(address, token=teacher["access_token"]) as client:
        for channel in (f"board:{not_taught}", f"board:{uuid.uuid4()}"):
            assert refusal(await subscribe(client, channel, ref="nf")) == ("NOT_FOUND", "nf")
            await nothing_else(client)
        for channel in ("lobby", "board:not-a-uuid", "progress:" + teacher["user"]["id"]):
            assert refusal(await subscribe(client, channel, ref="v")) == ("VALIDATION_ERROR", "v")
            await nothing_else(client)

        await client.send(json.dumps({"type": "dance"}))
        assert refusal(await next_frame(client)) == ("VALIDATION_ERROR", None)

        board = f"board:{taught}"
        assert await subscribe(client, board, ref="ok") == {
            "type": "subscribed",
            "channel": board,
            "seq": 0,
            "ref": "ok",
        }
        presence = await next_frame(client)
        assert presence["type"] == "presence"


# --- replay with ``since`` ---------------------------------------------------------------------


async def test_since_replays_what_was_missed_or_resets(
    app: Litestar, db: Database, address: str, http: httpx.AsyncClient
) -> None:
    learner = await signed_in(http)
    channel = events.progress_channel(uuid.UUID(learner["user"]["id"]))
    await append_and_publish(app, db, channel, 5)

    async def resubscribe(client: ClientConnection, since: int) -> Any:
        await client.send(json.dumps({"type": "unsubscribe", "channel": "progress"}))
        return await subscribe(client, "progress", since=since)

    async with websocket(address, token=learner["access_token"]) as client:
        assert (await subscribe(client, "progress", since=2))["seq"] == 5
        replayed = [await next_frame(client) for _ in range(3)]
        assert [(f["type"], f["seq"]) for f in replayed] == [("event", n) for n in (3, 4, 5)]
        assert [f["data"] for f in replayed] == [{"n": 2}, {"n": 3}, {"n": 4}]
        await nothing_else(client)

        assert (await resubscribe(client, since=5))["seq"] == 5
        await nothing_else(client)

        assert (await resubscribe(client, since=9))["seq"] == 5
        assert await next_frame(client) == {"type": "reset", "channel": "progress", "seq": 5}
        await nothing_else(client)

        async with db.transaction() as session:
            assert await events.prune(session, older_than=utcnow() + timedelta(seconds=1)) == 5
        assert (await resubscribe(client, since=0))["seq"] == 5
        assert await next_frame(client) == {"type": "reset", "channel": "progress", "seq": 5}
        await nothing_else(client)


async def test_subscribing_twice_changes_nothing_and_unsubscribe_stops_events(
    app: Litestar, db: Database, address: str, http: httpx.AsyncClient
) -> None:
    learner = await signed_in(http)
    channel = events.progress_channel(uuid.UUID(learner["user"]["id"]))
    async with websocket(address, token=learner["access_token"]) as client:
        await subscribe(client, "progress", ref="first")
        await append_and_publish(app, db, channel)
        assert (await next_frame(client))["seq"] == 1
        assert await subscribe(client, "progress", ref="again") == {
            "type": "subscribed",
            "channel": "progress",
            "seq": 1,
            "ref": "again",
        }
        await append_and_publish(app, db, channel)
        assert (await next_frame(client))["seq"] == 2
        await nothing_else(client)  # once, not twice

        await client.send(json.dumps({"type": "unsubscribe", "channel": "progress"}))
        await append_and_publish(app, db, channel)
        await nothing_else(client)


# --- the handshake's Origin --------------------------------------------------------------------


async def test_a_foreign_origin_is_refused(address: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websocket(address, headers={"Origin": "https://evil.example"}):
            pass
    assert refused.value.response.status_code == 403


async def test_own_listed_and_absent_origins_are_accepted(
    settings: Settings, http: httpx.AsyncClient, address: str
) -> None:
    learner = await signed_in(http)
    token = learner["access_token"]
    async with websocket(address, token=token, headers={"Origin": f"http://{address}"}) as client:
        await nothing_else(client)
    async with websocket(address, token=token) as client:  # no Origin: not a browser
        await nothing_else(client)

    listed = "https://app.example"
    async with served_with(settings, allowed_origins=(listed,)) as (_, elsewhere):
        async with websocket(elsewhere, token=token, headers={"Origin": listed}) as client:
            await nothing_else(client)
        with pytest.raises(InvalidStatus) as refused:
            async with websocket(elsewhere, headers={"Origin": "https://other.example"}):
                pass
        assert refused.value.response.status_code == 403


# --- token expiry (§7: "a later auth frame with a fresh token extends the connection's life") --


async def test_the_connection_closes_when_its_token_expires(settings: Settings) -> None:
    async with served_with(settings, access_token_ttl_seconds=2) as (_, address):
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            learner = await signed_in(http)
        expires = token_expiry(learner["access_token"])
        async with websocket(address, token=learner["access_token"]) as client:
            assert await close_code(client, timeout=3.5) == 4401
            assert time.time() >= expires - 0.1  # not before the token's expiry


async def test_a_fresh_auth_frame_extends_the_connection(settings: Settings) -> None:
    async with (
        served_with(settings, access_token_ttl_seconds=2) as (_, address),
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        learner = await signed_in(http)
        first = learner["access_token"]
        expires = token_expiry(first)  # JWT times are whole seconds: 1 to 2 s from now
        async with (
            websocket(address, token=first) as stale,
            websocket(address, token=first) as fresh,
        ):
            # A token issued within the second before ``expires`` lives one second longer.
            await quiet_for(fresh, expires - 1 + 0.05 - time.time())
            response = await http.post(
                "/api/v1/auth/refresh", json={"refresh_token": learner["refresh_token"]}
            )
            assert response.status_code == 200, response.text
            renewed = response.json()["data"]["access_token"]
            assert token_expiry(renewed) > expires
            await fresh.send(json.dumps({"type": "auth", "token": renewed}))
            assert (await next_frame(fresh))["type"] == "auth_ok"

            assert await close_code(stale, timeout=3) == 4401
            assert time.time() >= expires - 0.1
            await nothing_else(fresh)  # still open past the first token's expiry
            assert await close_code(fresh, timeout=3) == 4401


# --- abuse: big frames and floods --------------------------------------------------------------


async def test_a_frame_over_64_kib_closes_with_1009(address: str, http: httpx.AsyncClient) -> None:
    learner = await signed_in(http)
    async with websocket(address, token=learner["access_token"]) as client:
        await client.send(json.dumps({"type": "ping", "pad": "x" * (64 * 1024)}))
        assert await close_code(client) == 1009


async def test_a_flood_is_rate_limited(address: str, http: httpx.AsyncClient) -> None:
    learner = await signed_in(http)
    async with websocket(address, token=learner["access_token"]) as client:
        for _ in range(60):
            await client.send(PING)
        answers: list[Any] = []
        try:
            while True:  # until the stream goes quiet: every answer has come by then
                answers.append(await next_frame(client, timeout=0.5))
        except TimeoutError:
            pass
        errors = [frame for frame in answers if frame["type"] == "error"]
        pongs = [frame for frame in answers if frame == PONG]
        assert [error["code"] for error in errors] == ["RATE_LIMITED"]
        assert len(pongs) + len(errors) == len(answers)
        assert 20 <= len(pongs) < 60
        await nothing_else(client)  # the bucket refilled: usable again


# --- presence on a board -----------------------------------------------------------------------


async def test_presence_follows_the_teachers_on_a_board(
    db: Database, address: str, http: httpx.AsyncClient
) -> None:
    alice = await signed_in(http, role="teacher", name="Alice")
    bob = await signed_in(http, role="teacher", name="Bob")
    learner = await signed_in(http, name="Aaron")
    classroom = await classroom_taught_by(db, alice, bob)
    board = f"board:{classroom}"
    a = {"id": alice["user"]["id"], "name": "Alice"}
    b = {"id": bob["user"]["id"], "name": "Bob"}
    a_only = {"type": "presence", "channel": board, "users": [a]}
    both = {"type": "presence", "channel": board, "users": [a, b]}  # sorted by name
    async with (
        websocket(address, token=alice["access_token"]) as alice_ws,
        websocket(address, token=learner["access_token"]) as student,
    ):
        assert (await subscribe(student, board))["code"] == "FORBIDDEN"
        assert (await subscribe(student, "progress"))["type"] == "subscribed"

        assert (await subscribe(alice_ws, board))["type"] == "subscribed"
        assert await next_frame(alice_ws) == a_only

        async with websocket(address, token=bob["access_token"]) as bob_ws:
            assert (await subscribe(bob_ws, board))["type"] == "subscribed"
            assert await next_frame(bob_ws) == both
            assert await next_frame(alice_ws) == both
            await nothing_else(alice_ws)
            await nothing_else(bob_ws)

        assert await next_frame(alice_ws) == a_only  # Bob left
        await nothing_else(alice_ws)
        await nothing_else(student)


# --- a slow consumer ---------------------------------------------------------------------------


@asynccontextmanager
async def slow_reader(address: str, token: str) -> AsyncIterator[ClientConnection]:
    """An authenticated client whose socket buffers little, so an idle reader backs up fast.

    Linux grows a loopback receive buffer to many megabytes on its own; a fixed small one
    makes the server's writer block after a few frames, whatever the machine's settings.
    """
    host, port = address.rsplit(":", 1)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (host, int(port)))
    async with connect(
        f"ws://{address}/api/v1/ws", sock=raw, compression=None, max_queue=4
    ) as client:
        await client.send(json.dumps({"type": "auth", "token": token}))
        assert (await next_frame(client))["type"] == "auth_ok"
        yield client


async def test_a_slow_consumer_gets_a_reset_and_nobody_waits_for_it(
    settings: Settings, db: Database
) -> None:
    total, batch = 2000, 100
    padding = "x" * 8 * 1024
    async with (
        served_with(settings, ws_outbox_limit=16) as (app, address),
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        learner = await signed_in(http)
        onlooker = await signed_in(http)
        channel = events.progress_channel(uuid.UUID(learner["user"]["id"]))
        async with (
            slow_reader(address, learner["access_token"]) as slow,
            websocket(address, token=onlooker["access_token"]) as other,
        ):
            assert (await subscribe(slow, "progress"))["seq"] == 0
            for _ in range(total // batch):
                await append_and_publish(app, db, channel, batch, data={"pad": padding})
                await nothing_else(other)  # the server answers others while one lags

            # Reading again: events in order, and where some were not queued, a ``reset``
            # whose seq covers them; never a gap without a reset.
            position, resets = 0, 0
            while position < total:
                frame = await next_frame(slow)
                if frame["type"] == "event":
                    assert frame["seq"] == position + 1
                    position += 1
                else:
                    assert frame["type"] == "reset", frame
                    assert frame["channel"] == "progress"
                    assert frame["seq"] > position
                    position, resets = frame["seq"], resets + 1
            assert position == total
            assert resets >= 1

            await append_and_publish(app, db, channel, data={"after": True})
            frame = await next_frame(slow)
            assert (frame["type"], frame["seq"]) == ("event", total + 1)
            assert frame["data"] == {"after": True}
            await nothing_else(slow)
