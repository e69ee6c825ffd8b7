"""Rate limits (§2): all windows at once, per user or address, headers, 429, shared by processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.ratelimit import Window
from server.settings import Settings
from tests.backends import SECRET_KEY
from tests.helpers import bearer, error_of, signed_in
from tests.servers import served

Client = AsyncTestClient[Litestar]


def _limited(settings: Settings, *windows: Window) -> Settings:
    return msgspec.structs.replace(settings, rate_limits=windows)


@pytest.fixture
async def limited_client(settings: Settings) -> AsyncIterator[Client]:
    """10 a minute and 3 in 10 seconds."""
    app = create_app(_limited(settings, Window(10, 60), Window(3, 10)))
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_headers_on_every_api_answer(limited_client: Client) -> None:
    responses = [
        await limited_client.get("/api/v1/auth/me"),  # 401
        await limited_client.get("/api/nowhere"),  # 404
        await limited_client.delete("/api/v1/auth/login"),  # 405
    ]
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in responses]
    assert remaining == [2, 1, 0]
    for response in responses:
        assert response.headers["x-ratelimit-limit"] == "3"  # the tightest window
        assert 0 < int(response.headers["x-ratelimit-reset"]) <= 10


async def test_the_short_window_refuses_the_burst(limited_client: Client) -> None:
    for _ in range(3):
        assert (await limited_client.get("/api/nowhere")).status_code == 404
    response = await limited_client.get("/api/nowhere")
    error_of(response, 429, "RATE_LIMITED")
    assert 1 <= int(response.headers["retry-after"]) <= 10
    assert response.headers["x-ratelimit-remaining"] == "0"


async def test_the_long_window_refuses_too(settings: Settings) -> None:
    app = create_app(_limited(settings, Window(3, 60), Window(10, 10)))
    async with AsyncTestClient(app=app) as client:
        for _ in range(3):
            assert (await client.get("/api/nowhere")).status_code == 404
        response = await client.get("/api/nowhere")
        error_of(response, 429, "RATE_LIMITED")
        assert response.headers["x-ratelimit-limit"] == "3"
        assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_signed_in_users_have_their_own_budget(settings: Settings) -> None:
    app = create_app(_limited(settings, Window(4, 60)))
    async with AsyncTestClient(app=app) as client:
        ada = await signed_in(client, name="Ada")  # two requests on the address budget
        bob = await signed_in(client, name="Bob")  # two more: the address budget is spent
        error_of(await client.get("/api/nowhere"), 429, "RATE_LIMITED")
        for tokens in (ada, bob):
            for _ in range(4):
                response = await client.get(
                    "/api/v1/auth/me", headers=bearer(tokens["access_token"])
                )
                assert response.status_code == 200
            response = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
            error_of(response, 429, "RATE_LIMITED")


async def test_health_is_not_rate_limited(limited_client: Client) -> None:
    for _ in range(5):
        response = await limited_client.get("/health")
        assert response.status_code == 200
        assert "x-ratelimit-limit" not in response.headers


async def test_off_means_no_limits_and_no_headers(client: Client) -> None:
    for _ in range(30):
        response = await client.get("/api/nowhere")
        assert response.status_code == 404
        assert "x-ratelimit-limit" not in response.headers


@pytest.mark.needs_redis
async def test_two_processes_share_one_budget_per_user(
    database_url: str, redis_url: str | None
) -> None:
    assert redis_url is not None
    environment = {
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_REDIS_URL": redis_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_RATE_LIMITS": "6/minute",
    }
    async with (
        served(environment) as first,
        served(environment) as second,
        httpx.AsyncClient(base_url=first.url) as a,
        httpx.AsyncClient(base_url=second.url) as b,
    ):
        tokens = await signed_in(a)
        headers = bearer(tokens["access_token"])
        statuses = []
        for index in range(8):
            client = a if index % 2 == 0 else b
            statuses.append((await client.get("/api/v1/auth/me", headers=headers)).status_code)
        assert statuses == [200] * 6 + [429, 429]
