"""Progress changes as events on the ``progress`` channel (contract §6 and §7), end to end.

A real uvicorn serves the app; REST writes go over HTTP and the events are read by real
``websockets`` clients. "Nothing arrives" is shown by a ping whose pong is the very next
frame: a write's events are queued for the sockets before its HTTP answer is sent, and a
connection's frames are written in order, so an event that was coming would come first.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from websockets.asyncio.client import ClientConnection

from server.settings import Settings
from tests.backends import SECRET_KEY
from tests.helpers import bearer, signed_in
from tests.live import live, next_frame, subscribe, websocket
from tests.progress_helpers import PROGRESS, progress_body, put_progress
from tests.servers import served

PING = json.dumps({"type": "ping"})
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
FAN_OUT_SECONDS = 1.0  # contract §7: with Redis up, on every process within 1 s of the commit


@pytest.fixture
async def address(app: Litestar) -> AsyncIterator[str]:
    async with live(app) as served_at:
        yield served_at


@pytest.fixture
async def http(address: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{address}") as client:
        yield client


async def _put(
    http: httpx.AsyncClient, token: str, word_id: str, study: int, correct: int, confidence: int
) -> httpx.Response:
    return await put_progress(http, bearer(token), word_id, study, correct, confidence)


async def _subscribed(client: ClientConnection) -> int:
    frame = await subscribe(client, "progress")
    assert frame["type"] == "subscribed", frame
    seq: int = frame["seq"]
    return seq


async def _nothing_more(client: ClientConnection) -> None:
    await client.send(PING)
    assert await next_frame(client) == {"type": "pong"}


def _assert_event(frame: Any, *, seq: int, event: str, data: Any, user: dict[str, Any]) -> None:
    assert set(frame) == {"type", "channel", "seq", "event", "data", "actor", "at"}, frame
    assert (frame["type"], frame["channel"], frame["seq"]) == ("event", "progress", seq)
    assert frame["event"] == event
    assert frame["data"] == data
    assert frame["actor"] == {"id": user["id"], "name": user["name"]}
    assert TIMESTAMP.match(frame["at"]), frame["at"]


async def test_both_sockets_of_a_learner_see_updates_and_deletes(
    address: str, http: httpx.AsyncClient
) -> None:
    tokens = await signed_in(http, name="Ada")
    token, user = tokens["access_token"], tokens["user"]
    async with websocket(address, token=token) as phone, websocket(address, token=token) as laptop:
        assert await _subscribed(phone) == 0
        assert await _subscribed(laptop) == 0

        created = await _put(http, token, "hund", 3, 2, 4)
        assert created.status_code == 201
        record = created.json()["data"]
        for client in (phone, laptop):
            frame = await next_frame(client)
            _assert_event(frame, seq=1, event="progress.updated", data=record, user=user)

        updated = await _put(http, token, "hund", 4, 3, 5)
        assert updated.status_code == 200
        shown = (await http.get(f"{PROGRESS}/hund", headers=bearer(token))).json()["data"]
        assert shown == updated.json()["data"]
        for client in (phone, laptop):
            frame = await next_frame(client)
            _assert_event(frame, seq=2, event="progress.updated", data=shown, user=user)

        deleted = await http.delete(f"{PROGRESS}/hund", headers=bearer(token))
        assert deleted.status_code == 200
        for client in (phone, laptop):
            frame = await next_frame(client)
            _assert_event(
                frame, seq=3, event="progress.deleted", data={"wordId": "hund"}, user=user
            )
            await _nothing_more(client)


async def test_a_batch_of_three_changes_is_three_events_in_order(
    address: str, http: httpx.AsyncClient
) -> None:
    tokens = await signed_in(http)
    token, user = tokens["access_token"], tokens["user"]
    assert (await _put(http, token, "same", 1, 1, 3)).status_code == 201
    async with websocket(address, token=token) as client:
        assert await _subscribed(client) == 1
        updates = [
            {"wordId": "c", **progress_body(1, 0, 1)},
            {"wordId": "same", **progress_body(1, 1, 3)},  # changes nothing: no event
            {"wordId": "a", **progress_body(2, 2, 5)},
            {"wordId": "c", **progress_body(2, 1, 3)},
        ]
        response = await http.post(
            f"{PROGRESS}/batch", json={"updates": updates}, headers=bearer(token)
        )
        assert response.status_code == 200, response.text
        items = response.json()["data"]["items"]
        for seq, item in zip((2, 3, 4), (items[0], items[2], items[3]), strict=True):
            frame = await next_frame(client)
            _assert_event(frame, seq=seq, event="progress.updated", data=item, user=user)
        await _nothing_more(client)
        assert (await http.get(PROGRESS, headers=bearer(token))).json()["data"]["seq"] == 4


async def test_writes_that_change_nothing_send_no_event(
    address: str, http: httpx.AsyncClient
) -> None:
    tokens = await signed_in(http)
    token = tokens["access_token"]
    async with websocket(address, token=token) as client:
        await _subscribed(client)
        assert (await _put(http, token, "hund", 2, 1, 3)).status_code == 201
        assert (await next_frame(client))["seq"] == 1
        assert (await _put(http, token, "hund", 2, 1, 3)).status_code == 200  # identical
        assert (await _put(http, token, "hund", 1, 1, 3)).status_code == 409  # stale
        refused = await http.post(
            f"{PROGRESS}/batch",
            json={
                "updates": [
                    {"wordId": "katze", **progress_body(1, 1, 3)},
                    {"wordId": "hund", **progress_body(0, 0, 3)},
                ]
            },
            headers=bearer(token),
        )
        assert refused.status_code == 400
        missing = await http.delete(f"{PROGRESS}/katze", headers=bearer(token))
        assert missing.status_code == 404
        await _nothing_more(client)


async def test_an_import_is_one_event_per_changed_word(
    address: str, http: httpx.AsyncClient
) -> None:
    tokens = await signed_in(http)
    token, user = tokens["access_token"], tokens["user"]
    async with websocket(address, token=token) as client:
        await _subscribed(client)
        old = {"studyCount": 4, "correctCount": 3, "confidence": 4, "lastStudied": 1700000000000}
        response = await http.post(
            f"{PROGRESS}/import", json={"hund": old, "katze": old}, headers=bearer(token)
        )
        assert response.json()["data"]["imported"] == 2
        records = (await http.get(PROGRESS, headers=bearer(token))).json()["data"]["items"]
        for seq, record in enumerate(records, start=1):
            _assert_event(
                await next_frame(client), seq=seq, event="progress.updated", data=record, user=user
            )
        await _nothing_more(client)


async def test_another_learners_socket_receives_nothing(
    address: str, http: httpx.AsyncClient
) -> None:
    ada = await signed_in(http, name="Ada")
    bob = await signed_in(http, name="Bob")
    async with (
        websocket(address, token=ada["access_token"]) as adas,
        websocket(address, token=bob["access_token"]) as bobs,
    ):
        await _subscribed(adas)
        await _subscribed(bobs)
        token = ada["access_token"]
        assert (await _put(http, token, "hund", 1, 1, 3)).status_code == 201
        batch = await http.post(
            f"{PROGRESS}/batch",
            json={"updates": [{"wordId": "katze", **progress_body(1, 0, 2)}]},
            headers=bearer(token),
        )
        assert batch.status_code == 200
        assert (await http.delete(f"{PROGRESS}/hund", headers=bearer(token))).status_code == 200
        assert [(await next_frame(adas))["seq"] for _ in range(3)] == [1, 2, 3]
        await _nothing_more(bobs)
        # Bob's own change reaches Bob, on his own channel's numbering.
        assert (await _put(http, bob["access_token"], "hund", 1, 0, 1)).status_code == 201
        frame = await next_frame(bobs)
        assert (frame["seq"], frame["actor"]["name"]) == (1, "Bob")
        await _nothing_more(adas)


# --- across processes (PostgreSQL + Redis pass) ------------------------------------------------


def _environment(settings: Settings) -> dict[str, str]:
    assert settings.redis_url is not None
    return {
        "TANDEM_DATABASE_URL": settings.database_url,
        "TANDEM_REDIS_URL": settings.redis_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_RATE_LIMITS": "off",
        "TANDEM_ANONYMOUS_RATE_LIMITS": "off",
    }


@pytest.mark.needs_redis
async def test_a_change_through_one_process_reaches_a_socket_on_another(
    app: Litestar, settings: Settings
) -> None:
    async with (
        live(app) as first,
        served(_environment(settings)) as second,
        httpx.AsyncClient(base_url=f"http://{first}") as via_first,
        httpx.AsyncClient(base_url=second.url) as via_second,
    ):
        tokens = await signed_in(via_second)
        token, user = tokens["access_token"], tokens["user"]
        second_address = second.url.removeprefix("http://")
        async with (
            websocket(first, token=token) as on_first,
            websocket(second_address, token=token) as on_second,
        ):
            await _subscribed(on_first)
            await _subscribed(on_second)

            response = await _put(via_second, token, "hund", 2, 2, 4)
            assert response.status_code == 201
            record = response.json()["data"]
            for client in (on_first, on_second):
                frame = await next_frame(client, timeout=FAN_OUT_SECONDS)
                _assert_event(frame, seq=1, event="progress.updated", data=record, user=user)

            response = await _put(via_first, token, "hund", 3, 2, 4)
            assert response.status_code == 200
            record = response.json()["data"]
            for client in (on_second, on_first):
                frame = await next_frame(client, timeout=FAN_OUT_SECONDS)
                _assert_event(frame, seq=2, event="progress.updated", data=record, user=user)
            # Both processes read the same store: the record is the same through either.
            for via in (via_first, via_second):
                shown = await via.get(f"{PROGRESS}/hund", headers=bearer(token))
                assert shown.json()["data"] == record

            deleted = await via_second.delete(f"{PROGRESS}/hund", headers=bearer(token))
            assert deleted.status_code == 200
            for client in (on_first, on_second):
                frame = await next_frame(client, timeout=FAN_OUT_SECONDS)
                _assert_event(
                    frame, seq=3, event="progress.deleted", data={"wordId": "hund"}, user=user
                )
                await _nothing_more(client)
