"""A PostgreSQL outage, every shape of it, is 503 ``SERVICE_UNAVAILABLE``, never 500 (§2).

The app talks to PostgreSQL through a proxy of the test's own (tests/faults.py), which
refuses, resets, stalls, answers as a server that is starting up, or passes traffic; the
shared server itself is never touched, apart from terminating this test database's own
backends. Each test checks every answer during the fault (the envelope, within 5 s) and
that requests succeed once the database is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from sqlalchemy.engine import make_url

from server.app import create_app
from server.settings import Settings
from tests.faults import FaultProxy, database_proxy, postgres_fatal, through
from tests.helpers import bearer, error_of, signed_in
from tests.live import live

pytestmark = pytest.mark.needs_postgres

Client = httpx.AsyncClient
ANSWER_WITHIN_SECONDS = 5.0


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[FaultProxy]:
    async with database_proxy(settings.database_url) as proxy:
        yield proxy


@pytest.fixture
async def client(settings: Settings, proxy: FaultProxy) -> AsyncIterator[Client]:
    # Served by uvicorn in the test's own loop, where the proxy runs too: Litestar's test
    # client would run the app on a thread of its own and block this loop meanwhile.
    proxied = msgspec.structs.replace(settings, database_url=through(settings.database_url, proxy))
    async with (
        live(create_app(proxied)) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as client,
    ):
        yield client


Request = Callable[[Client], Coroutine[Any, Any, httpx.Response]]


def requests(tokens: dict[str, Any]) -> dict[str, Request]:
    """A read, a write, a login and the readiness check: each touches the database."""
    auth = bearer(tokens["access_token"])
    email = tokens["user"]["email"]
    return {
        "read": lambda c: c.get("/api/v1/progress", headers=auth),
        "write": lambda c: c.put(
            "/api/v1/progress/hola",
            headers=auth,
            json={"studyCount": 1, "correctCount": 1, "confidence": 3},
        ),
        "login": lambda c: c.post(
            "/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}
        ),
        "ready": lambda c: c.get("/ready"),
    }


async def assert_unavailable(client: Client, tokens: dict[str, Any]) -> None:
    for name, request in requests(tokens).items():
        started = time.monotonic()
        response = await request(client)
        assert response.status_code == 503, (name, response.text)
        error_of(response, 503, "SERVICE_UNAVAILABLE")
        assert time.monotonic() - started < ANSWER_WITHIN_SECONDS, name


async def assert_available(client: Client, tokens: dict[str, Any]) -> None:
    for name, request in requests(tokens).items():
        response = await request(client)
        assert response.status_code in (200, 201), (name, response.text)


async def down(proxy: FaultProxy) -> None:
    """The database is gone: no new connection, and every open one cut."""
    await proxy.refuse()
    proxy.reset()


async def test_refused_connections_are_503_until_the_database_is_back(
    client: Client, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = await signed_in(client)
    await down(proxy)
    with caplog.at_level(logging.WARNING, logger="tandem"):
        await assert_unavailable(client, tokens)
    # An outage is logged one line a request, as a warning without a traceback: an
    # operator's log stays readable while it lasts.
    outage = [r for r in caplog.records if "answered 503" in r.getMessage()]
    assert len(outage) == len(requests(tokens)), [r.getMessage() for r in caplog.records]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in outage)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await proxy.restore()
    await assert_available(client, tokens)


async def test_a_request_cut_off_mid_query_is_503(client: Client, proxy: FaultProxy) -> None:
    tokens = await signed_in(client)
    read = requests(tokens)["read"]
    proxy.hold()
    in_flight = asyncio.create_task(read(client))
    async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
        await proxy.holding.wait()  # the request has sent its query and waits for rows
    await down(proxy)
    error_of(await in_flight, 503, "SERVICE_UNAVAILABLE")
    await proxy.restore()
    await assert_available(client, tokens)


async def test_terminated_backends_are_503_while_the_database_stays_away(
    client: Client, proxy: FaultProxy, settings: Settings
) -> None:
    tokens = await signed_in(client)
    await proxy.refuse()  # the pooled connections stay open, but no new one gets through
    dsn = make_url(settings.database_url).set(drivername="postgresql")
    admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        terminated = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            dsn.database,
        )
    finally:
        await admin.close()
    assert terminated >= 1
    await assert_unavailable(client, tokens)
    await proxy.restore()
    await assert_available(client, tokens)


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("57P03", "the database system is starting up"),
        ("57P03", "the database system is shutting down"),
        ("53300", "sorry, too many clients already"),
    ],
)
async def test_a_server_refusing_logins_is_503(
    client: Client, proxy: FaultProxy, sqlstate: str, message: str
) -> None:
    """What a restart looks like at its edges: the server answers, but lets nobody in."""
    tokens = await signed_in(client)
    proxy.answer(postgres_fatal(sqlstate, message))
    proxy.reset()
    await assert_unavailable(client, tokens)
    await proxy.restore()
    await assert_available(client, tokens)


async def test_a_silent_network_is_503_within_5_seconds(client: Client, proxy: FaultProxy) -> None:
    """Packets vanish: pooled connections never answer, new ones never finish connecting."""
    tokens = await signed_in(client)
    proxy.hold()
    proxy.stall()
    read = requests(tokens)["read"]
    started = time.monotonic()
    error_of(await read(client), 503, "SERVICE_UNAVAILABLE")
    assert time.monotonic() - started < ANSWER_WITHIN_SECONDS
    proxy.reset()
    await proxy.restore()
    await assert_available(client, tokens)


async def hammer(client: Client, request: Request, stop: asyncio.Event) -> list[int]:
    """Send ``request`` back to back until ``stop``; every status, each checked."""
    statuses: list[int] = []
    while not stop.is_set():
        response = await request(client)
        if response.status_code != 200:
            error_of(response, 503, "SERVICE_UNAVAILABLE")
        statuses.append(response.status_code)
    return statuses


async def flap(proxy: FaultProxy, times: int, *, seconds: float) -> None:
    """Down and up, ``times`` over, ``seconds`` each way."""
    for _ in range(times):
        await down(proxy)
        await asyncio.sleep(seconds)  # the length of the outage is the scenario
        await proxy.restore()
        await asyncio.sleep(seconds)


async def test_a_flapping_database_is_503_or_an_answer_never_500(
    client: Client, proxy: FaultProxy
) -> None:
    tokens = await signed_in(client)
    stop = asyncio.Event()
    readers = [
        asyncio.create_task(hammer(client, requests(tokens)["read"], stop)) for _ in range(4)
    ]
    await flap(proxy, 3, seconds=0.3)
    stop.set()
    statuses = [status for reader in await asyncio.gather(*readers) for status in reader]
    assert 503 in statuses
    assert 200 in statuses
    await assert_available(client, tokens)
