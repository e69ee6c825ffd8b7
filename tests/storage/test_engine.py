"""The PostgreSQL pool: it survives the database dropping its connections (a restart), and
keeps every connection it opened (a burst opens no new backend the next time)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.settings import Settings
from storage.database import Database
from storage.engine import DEFAULT_POOL_SIZE, POOL_OVERFLOW
from tests.helpers import bearer, signed_in

pytestmark = pytest.mark.needs_postgres

TERMINATE_OTHERS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


async def test_requests_succeed_after_the_database_drops_every_pooled_connection(
    client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    tokens = await signed_in(client)  # the pool now holds open connections
    dsn = make_url(settings.database_url).set(drivername="postgresql")
    admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        assert await admin.fetchval(TERMINATE_OTHERS) >= 1
    finally:
        await admin.close()

    # Every pooled connection is dead now; the pool must notice and reconnect.
    for _ in range(3):
        answer = await client.get("/api/v1/progress", headers=bearer(tokens["access_token"]))
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["items"] == []


async def test_a_burst_of_requests_opens_no_new_backend_the_second_time(
    database_url: str,
) -> None:
    """Each request of two bursts holds a connection (as requests waiting on a row lock do):
    the second burst finds every connection the first opened, and PostgreSQL starts no
    backend for it (a backend per checkout cost it a third of its CPU at a school day's
    load: storage/engine.py). Backends are told apart by their process ids, which the
    server reports at once (its cumulative session count is flushed later)."""
    database = Database(database_url)
    most = DEFAULT_POOL_SIZE + POOL_OVERFLOW  # all a process may open at once
    bursts: list[set[int]] = []
    try:
        for _ in range(2):
            async with AsyncExitStack() as held:
                sessions = [
                    await held.enter_async_context(database.autocommit()) for _ in range(most)
                ]
                backends = await asyncio.gather(
                    *(s.scalar(text("SELECT pg_backend_pid()")) for s in sessions)
                )
            bursts.append(set(backends))
    finally:
        await database.dispose()
    first, second = bursts
    assert len(first) == most
    assert second == first, f"{len(second - first)} backends started for the second burst"
