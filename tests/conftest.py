"""Fixtures: a fresh database per test on either backend, settings, the app and a client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from server.app import create_app
from server.lan import network_address
from server.settings import Settings
from tests import browsers
from tests.backends import SECRET_KEY, TEST_DATABASE_URL, TEST_REDIS_URL
from tests.databases import PostgresDatabases, SqliteDatabases

Databases = PostgresDatabases | SqliteDatabases

# The address ``tandem serve --lan`` would listen on (tests/server/test_lan.py); None on a
# machine with only loopback.
NETWORK_ADDRESS = network_address()


def pytest_report_header() -> list[str]:
    return [
        f"tandem database: {'PostgreSQL ' + TEST_DATABASE_URL if TEST_DATABASE_URL else 'SQLite'}",
        f"tandem redis: {TEST_REDIS_URL or 'none (in-process fan-out, memory counters)'}",
        "tandem browser tests: "
        + (str(browsers.CHROMIUM) if browsers.AVAILABLE else "deselected (no Chromium)"),
        "tandem --lan tests: "
        + (
            f"on {NETWORK_ADDRESS}"
            if NETWORK_ADDRESS
            else "deselected (this machine has no network address, only loopback)"
        ),
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what this machine cannot run, out loud; CI runs everything.

    ``needs_redis`` and ``needs_postgres`` tests run in the PostgreSQL + Redis pass: the
    SQLite pass is the embedded default, which has neither by design, and ``.ci/run`` runs
    both passes.
    ``needs_network_address`` tests serve on the machine's network address, which a
    sandbox may lack; the header says when they are deselected.
    ``needs_browser`` tests need Chromium: a newcomer's machine may lack it, but under CI
    (which installs it) a missing browser is an error, never a silent skip.
    """
    if not browsers.AVAILABLE and browsers.IN_CI:
        raise pytest.UsageError(
            f"CI must run the browser tests: no Chromium at {browsers.CHROMIUM}"
        )
    missing = {
        "needs_redis": not TEST_REDIS_URL,
        "needs_postgres": not TEST_DATABASE_URL,
        "needs_browser": not browsers.AVAILABLE,
        "needs_network_address": NETWORK_ADDRESS is None,
    }

    def runnable(item: pytest.Item) -> bool:
        return not any(missing[name] and item.get_closest_marker(name) for name in missing)

    deselected = [item for item in items if not runnable(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if runnable(item)]


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    factory: Databases = (
        PostgresDatabases(TEST_DATABASE_URL)
        if TEST_DATABASE_URL
        else SqliteDatabases(tmp_path_factory.mktemp("databases"))
    )
    asyncio.run(factory.create_template())
    yield factory
    asyncio.run(factory.drop_template())


@pytest.fixture
async def database_url(databases: Databases) -> AsyncIterator[str]:
    url = await databases.create()
    yield url
    await databases.drop(url)


@pytest.fixture
async def redis_url() -> AsyncIterator[str | None]:
    if TEST_REDIS_URL is None:
        yield None
        return
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    yield TEST_REDIS_URL


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    """Settings for the app under test; rate limits off unless a test turns them on."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=SECRET_KEY,
        rate_limits=(),
        anonymous_rate_limits=(),
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
