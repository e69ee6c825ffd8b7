"""The PostgreSQL pool survives the database dropping its connections (a restart)."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from server.settings import Settings
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
