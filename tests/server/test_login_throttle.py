"""Tests of server.auth.throttle: the failed-login throttle per email and address (contract §3).

Backend-neutral tests run in memory and, when ``TANDEM_TEST_REDIS_URL`` is set, on Redis too.
Redis helpers come from the rate limiter tests, which share the outage handling under test
here (:class:`server.ratelimit.RedisHealth`). Every Redis test uses its own key prefix.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from server import ratelimit
from server.app import create_app
from server.auth.throttle import LoginThrottle
from server.settings import Settings
from tests.backends import TEST_REDIS_URL
from tests.helpers import PASSWORD, error_of, register
from tests.server.test_ratelimit import (
    BACKENDS,
    CLOSED_REDIS_URL,
    delete_prefix,
    redis_client,
    warnings_logged,
)

ThrottleFactory = Callable[[], LoginThrottle]


@pytest.fixture(params=BACKENDS)
async def make_throttle(request: pytest.FixtureRequest) -> AsyncIterator[ThrottleFactory]:
    backend: str = request.param
    url = TEST_REDIS_URL if backend == "redis" else None
    prefixes: list[str] = []
    created: list[LoginThrottle] = []

    def make() -> LoginThrottle:
        prefixes.append(f"tandem-test-login-{uuid.uuid4().hex}")
        created.append(LoginThrottle(redis_url=url, prefix=prefixes[-1]))
        return created[-1]

    yield make

    for throttle in created:
        await throttle.aclose()
    if url is not None:
        client = redis_client(url)
        try:
            for prefix in prefixes:
                await delete_prefix(client, prefix + ":")
        finally:
            await client.aclose()


ADA = "ada@example.com"
HOME = "198.51.100.7"  # the school's address, where Ada signs in
ELSEWHERE = "203.0.113.9"  # a classmate's, or a guesser's


async def fail(throttle: LoginThrottle, email: str, address: str, times: int) -> None:
    for _ in range(times):
        await throttle.record_failure(email, address)


async def test_login_throttle_after_ten_failures(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    assert await throttle.retry_after(ADA, ELSEWHERE) is None
    await fail(throttle, ADA, ELSEWHERE, 9)
    assert await throttle.retry_after(ADA, ELSEWHERE) is None
    await throttle.record_failure(ADA, ELSEWHERE)
    wait = await throttle.retry_after(ADA, ELSEWHERE)
    assert wait is not None
    assert 1 <= wait <= 15 * 60
    # More failures while throttled change nothing about the verdict.
    await throttle.record_failure(ADA, ELSEWHERE)
    assert await throttle.retry_after(ADA, ELSEWHERE) is not None


async def test_ten_failures_from_one_address_leave_other_addresses_alone(
    make_throttle: ThrottleFactory,
) -> None:
    throttle = make_throttle()
    await fail(throttle, ADA, ELSEWHERE, 10)
    assert await throttle.retry_after(ADA, ELSEWHERE) is not None
    assert await throttle.retry_after(ADA, HOME) is None


async def test_login_throttle_is_per_email(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    await fail(throttle, ADA, ELSEWHERE, 10)
    assert await throttle.retry_after(ADA, ELSEWHERE) is not None
    assert await throttle.retry_after("grace@example.com", ELSEWHERE) is None
    # Case and surrounding blanks do not make a different address.
    assert await throttle.retry_after("  Ada@Example.COM ", ELSEWHERE) is not None


async def test_fifty_failures_from_all_addresses_lock_everyone(
    make_throttle: ThrottleFactory,
) -> None:
    throttle = make_throttle()
    # Seven addresses fail seven times each: none reaches its own ten, together they make 49.
    guessers = [f"192.0.2.{n}" for n in range(1, 8)]
    for address in guessers:
        await fail(throttle, ADA, address, 7)
    assert await throttle.retry_after(ADA, HOME) is None
    assert all([await throttle.retry_after(ADA, a) is None for a in guessers])
    await throttle.record_failure(ADA, "192.0.2.8")
    for address in [HOME, *guessers, "192.0.2.8"]:
        wait = await throttle.retry_after(ADA, address)
        assert wait is not None
        assert 1 <= wait <= 15 * 60
    assert await throttle.retry_after("grace@example.com", HOME) is None


async def test_login_throttle_with_unreachable_redis_uses_memory(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every call probes Redis again instead of waiting out the retry interval, so that the
    # single warning below shows it is logged once per outage, not once per failed probe.
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="tandem.ratelimit")
    throttle = LoginThrottle(redis_url=CLOSED_REDIS_URL, limit=3, limit_all_addresses=5, minutes=1)
    try:
        await fail(throttle, ADA, ELSEWHERE, 3)
        wait = await throttle.retry_after(ADA, ELSEWHERE)
        assert wait is not None
        assert 1 <= wait <= 60
        assert await throttle.retry_after(ADA, HOME) is None
        await fail(throttle, ADA, "192.0.2.1", 2)
        assert await throttle.retry_after(ADA, HOME) is not None
        assert await throttle.retry_after("grace@example.com", ELSEWHERE) is None
    finally:
        await throttle.aclose()
    assert warnings_logged(caplog) == 1


@pytest.mark.parametrize(
    ("limit", "all_addresses", "minutes"), [(0, 50, 15), (10, 0, 15), (10, 50, 0)]
)
def test_login_throttle_rejects_meaningless_settings(
    limit: int, all_addresses: int, minutes: int
) -> None:
    with pytest.raises(ValueError, match="login throttle"):
        LoginThrottle(
            redis_url=None, limit=limit, limit_all_addresses=all_addresses, minutes=minutes
        )


def _behind_a_proxy(settings: Settings) -> Settings:
    # Litestar's test client connects as the peer "testclient". Trusting it as a proxy lets
    # each request name its client address in X-Forwarded-For, as a school's proxy would.
    return msgspec.structs.replace(settings, trusted_proxies=("testclient",))


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_a_classmate_cannot_lock_a_learner_out_over_http(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(_behind_a_proxy(settings))) as client:
        email = (await register(client))["email"]
        wrong = {"email": email, "password": "wrong password"}
        right = {"email": email, "password": PASSWORD}
        for _ in range(10):
            response = await client.post("/api/v1/auth/login", json=wrong, headers=_from(ELSEWHERE))
            error_of(response, 401, "INVALID_CREDENTIALS")
        response = await client.post("/api/v1/auth/login", json=right, headers=_from(ELSEWHERE))
        error_of(response, 429, "RATE_LIMITED")
        response = await client.post("/api/v1/auth/login", json=right, headers=_from(HOME))
        assert response.status_code == 200, response.text


@pytest.mark.needs_redis
async def test_login_throttle_is_shared_through_redis() -> None:
    assert TEST_REDIS_URL is not None
    prefix = f"tandem-test-login-{uuid.uuid4().hex}"
    one = LoginThrottle(redis_url=TEST_REDIS_URL, prefix=prefix)
    two = LoginThrottle(redis_url=TEST_REDIS_URL, prefix=prefix)
    try:
        await fail(one, ADA, ELSEWHERE, 5)
        await fail(two, ADA, ELSEWHERE, 5)
        assert await one.retry_after(ADA, ELSEWHERE) is not None
        assert await two.retry_after(ADA, ELSEWHERE) is not None
        assert await one.retry_after(ADA, HOME) is None
        # The count across addresses is shared too: 5 x 8 more from other addresses make 50.
        for n in range(8):
            await fail(one if n % 2 else two, ADA, f"192.0.2.{n}", 5)
        assert await one.retry_after(ADA, HOME) is not None
        assert await two.retry_after(ADA, HOME) is not None
    finally:
        await one.aclose()
        await two.aclose()
        client = redis_client(TEST_REDIS_URL)
        try:
            await delete_prefix(client, prefix + ":")
        finally:
            await client.aclose()
