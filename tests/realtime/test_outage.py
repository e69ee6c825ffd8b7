"""A database outage over websockets and across processes (contract §2, §7).

A ``subscribe`` the store cannot serve because the database is unreachable answers the
``SERVICE_UNAVAILABLE`` error frame and the socket stays open; once the database is back,
subscribing works. Two ``tandem serve`` processes behind one flapping database answer
every request either normally or with 503, never 500.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from websockets.asyncio.client import ClientConnection

from server.app import create_app
from server.auth.tokens import issue_access_token
from server.settings import Settings
from tests.backends import SECRET_KEY, TEST_DATABASE_URL
from tests.board_helpers import create_classroom, user
from tests.faults import FaultProxy, database_proxy, through
from tests.helpers import bearer, error_of, signed_in
from tests.live import live, next_frame, subscribe, websocket
from tests.servers import served


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[FaultProxy]:
    async with database_proxy(settings.database_url) as proxy:
        yield proxy


@pytest.fixture
def proxied(settings: Settings, proxy: FaultProxy) -> Settings:
    return msgspec.structs.replace(settings, database_url=through(settings.database_url, proxy))


async def down(proxy: FaultProxy) -> None:
    await proxy.refuse()
    proxy.reset()


async def assert_refused_and_open(client: ClientConnection, channel: str, ref: str) -> None:
    frame = await subscribe(client, channel, ref=ref)
    assert frame["type"] == "error", frame
    assert set(frame) == {"type", "code", "message", "ref"}
    assert (frame["code"], frame["ref"]) == ("SERVICE_UNAVAILABLE", ref)
    assert frame["message"]
    await client.send(json.dumps({"type": "ping"}))
    assert await next_frame(client) == {"type": "pong"}


@pytest.mark.needs_postgres
async def test_subscribe_during_an_outage_is_refused_and_works_after(
    proxied: Settings, proxy: FaultProxy
) -> None:
    async with (
        live(create_app(proxied)) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        teacher = await user(http)
        classroom = await create_classroom(http, teacher)
        board = f"board:{classroom['id']}"
        async with websocket(address, token=teacher.token) as client:
            await down(proxy)
            await assert_refused_and_open(client, "progress", "p1")
            await assert_refused_and_open(client, board, "b1")
            # Auth needs no database: a fresh token is still taken during the outage.
            await client.send(json.dumps({"type": "auth", "token": teacher.token}))
            assert (await next_frame(client))["type"] == "auth_ok"

            await proxy.restore()
            subscribed = await subscribe(client, "progress", ref="p2")
            assert (subscribed["type"], subscribed["ref"]) == ("subscribed", "p2")
            subscribed = await subscribe(client, board, ref="b2")
            assert (subscribed["type"], subscribed["ref"]) == ("subscribed", "b2")


def _unreachable(tmp_path: Path) -> str:
    if TEST_DATABASE_URL:
        return "postgresql+asyncpg://postgres@127.0.0.1:1/tandem"  # nothing listens: refused
    return f"sqlite+aiosqlite:///{tmp_path}/missing-directory/tandem.db"  # cannot open


async def test_subscribe_with_the_database_unreachable_from_the_start(
    settings: Settings, tmp_path: Path
) -> None:
    """Both backends: a process whose database never answered still keeps its sockets."""
    dead = msgspec.structs.replace(settings, database_url=_unreachable(tmp_path))
    token = issue_access_token(
        secret_key=SECRET_KEY, user_id=uuid.uuid4(), role="teacher", name="Ada", ttl_seconds=60
    )
    async with live(create_app(dead)) as address, websocket(address, token=token) as client:
        await assert_refused_and_open(client, "progress", "p1")
        await assert_refused_and_open(client, f"board:{uuid.uuid4()}", "b1")


async def _hammer(base_url: str, token: str, stop: asyncio.Event) -> list[int]:
    statuses: list[int] = []
    headers = bearer(token)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while not stop.is_set():
            response = await http.get("/api/v1/progress", headers=headers)
            if response.status_code != 200:
                error_of(response, 503, "SERVICE_UNAVAILABLE")
            statuses.append(response.status_code)
    return statuses


@pytest.mark.needs_postgres
async def test_two_processes_through_a_flapping_database_never_answer_500(
    proxied: Settings, proxy: FaultProxy
) -> None:
    environment = {
        "TANDEM_DATABASE_URL": proxied.database_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_RATE_LIMITS": "off",
    }
    if proxied.redis_url:
        environment["TANDEM_REDIS_URL"] = proxied.redis_url
    async with served(environment) as first, served(environment) as second:
        async with httpx.AsyncClient(base_url=first.url) as http:
            tokens: dict[str, Any] = await signed_in(http)
        stop = asyncio.Event()
        hammers = [
            asyncio.create_task(_hammer(server.url, tokens["access_token"], stop))
            for server in (first, second)
            for _ in range(2)
        ]
        for _ in range(3):
            await down(proxy)
            await asyncio.sleep(0.5)  # the outage's length is the scenario, not a wait
            await proxy.restore()
            await asyncio.sleep(0.5)
        stop.set()
        answered = await asyncio.gather(*hammers)
        for first_hammer, second_hammer, server in zip(
            answered[::2], answered[1::2], (first, second), strict=True
        ):
            assert 503 in first_hammer + second_hammer, server.url
            async with httpx.AsyncClient(base_url=server.url) as http:
                again = await http.get("/api/v1/progress", headers=bearer(tokens["access_token"]))
            assert again.status_code == 200, again.text  # back to normal with the database
