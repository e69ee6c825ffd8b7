"""Rate limits (§2): all windows at once, per user or address, headers, 429, shared by processes.

Authenticated requests count against ``rate_limits`` per user, anonymous ones against
``anonymous_rate_limits`` per client address; tests of the windows themselves give both the
same windows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.auth import passwords
from server.ratelimit.base import Window
from server.settings import Settings
from tests.backends import SECRET_KEY
from tests.helpers import PASSWORD, bearer, error_of, register, signed_in
from tests.servers import served

Client = AsyncTestClient[Litestar]


def _limited(settings: Settings, *windows: Window) -> Settings:
    return msgspec.structs.replace(settings, rate_limits=windows, anonymous_rate_limits=windows)


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
        # An invalid token is no token: the request counts against the address.
        error_of(await client.get("/api/nowhere", headers=bearer("x.y.z")), 429, "RATE_LIMITED")
        for tokens in (ada, bob):
            for _ in range(4):
                response = await client.get(
                    "/api/v1/auth/me", headers=bearer(tokens["access_token"])
                )
                assert response.status_code == 200
            response = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
            error_of(response, 429, "RATE_LIMITED")


async def test_a_class_signs_in_at_the_bell(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default limits: thirty learners behind one address register and sign in at once,
    and each then still has the whole per-user budget (20 in 10 s), no more."""
    # The limits are under test, not Argon2: cheap hashes keep sixty calls within a second or
    # two even on a busy machine, so the burst really lands in the 10-second window.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    defaults = Settings()
    assert defaults.rate_limits == (Window(100, 60), Window(20, 10))
    app = create_app(
        msgspec.structs.replace(
            settings,
            rate_limits=defaults.rate_limits,
            anonymous_rate_limits=defaults.anonymous_rate_limits,
        )
    )
    async with AsyncTestClient(app=app) as client:
        learners = [register(client, name=f"Learner {n}") for n in range(30)]
        emails = [user["email"] for user in await asyncio.gather(*learners)]
        logins = await asyncio.gather(
            *(
                client.post("/api/v1/auth/login", json={"email": e, "password": PASSWORD})
                for e in emails
            )
        )
        assert [r.status_code for r in logins] == [200] * 30
        assert {r.headers["x-ratelimit-limit"] for r in logins} == {"200"}
        headers = bearer(logins[0].json()["data"]["access_token"])
        answers = [await client.get("/api/v1/auth/me", headers=headers) for _ in range(21)]
        assert [r.status_code for r in answers] == [200] * 20 + [429]
        assert answers[0].headers["x-ratelimit-limit"] == "20"
        # Another learner's budget is untouched.
        other = bearer(logins[1].json()["data"]["access_token"])
        assert (await client.get("/api/v1/auth/me", headers=other)).status_code == 200


async def test_the_anonymous_limit_is_enforced(settings: Settings) -> None:
    app = create_app(
        msgspec.structs.replace(
            settings, rate_limits=(Window(5, 60),), anonymous_rate_limits=(Window(3, 60),)
        )
    )
    async with AsyncTestClient(app=app) as client:
        tokens = await signed_in(client)  # two anonymous requests
        response = await client.get("/api/nowhere")
        assert response.status_code == 404
        assert response.headers["x-ratelimit-limit"] == "3"
        assert response.headers["x-ratelimit-remaining"] == "0"
        response = await client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x"})
        error_of(response, 429, "RATE_LIMITED")
        assert 1 <= int(response.headers["retry-after"]) <= 60
        # The signed-in user counts against their own budget, not the address's.
        response = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "5"
        assert response.headers["x-ratelimit-remaining"] == "4"


async def test_anonymous_limits_off_leaves_user_limits_on(settings: Settings) -> None:
    app = create_app(msgspec.structs.replace(settings, rate_limits=(Window(2, 60),)))
    async with AsyncTestClient(app=app) as client:
        tokens = await signed_in(client)
        for _ in range(5):
            response = await client.get("/api/nowhere")
            assert response.status_code == 404
            assert "x-ratelimit-limit" not in response.headers
        headers = bearer(tokens["access_token"])
        statuses = [
            (await client.get("/api/v1/auth/me", headers=headers)).status_code for _ in "abc"
        ]
        assert statuses == [200, 200, 429]


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
async def test_two_processes_share_budgets_per_user_and_address(
    database_url: str, redis_url: str | None
) -> None:
    assert redis_url is not None
    environment = {
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_REDIS_URL": redis_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_RATE_LIMITS": "6/minute",
        "TANDEM_ANONYMOUS_RATE_LIMITS": "4/minute",
    }
    async with (
        served(environment) as first,
        served(environment) as second,
        httpx.AsyncClient(base_url=first.url) as a,
        httpx.AsyncClient(base_url=second.url) as b,
    ):
        tokens = await signed_in(a)  # two of the address's four
        headers = bearer(tokens["access_token"])
        statuses = []
        for index in range(8):
            client = a if index % 2 == 0 else b
            statuses.append((await client.get("/api/v1/auth/me", headers=headers)).status_code)
        assert statuses == [200] * 6 + [429, 429]
        anonymous = [(await c.get("/api/nowhere")).status_code for c in (b, a, b)]
        assert anonymous == [404, 404, 429]
