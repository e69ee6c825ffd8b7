"""Tests of server.auth.throttle: the failed-login throttle per email (contract §3).

Backend-neutral tests run in memory and, when ``TANDEM_TEST_REDIS_URL`` is set, on Redis too.
Redis helpers come from the rate limiter tests, which share the outage handling under test
here (:class:`server.ratelimit.RedisHealth`). Every Redis test uses its own key prefix.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from server import ratelimit
from server.auth.throttle import LoginThrottle
from tests.backends import TEST_REDIS_URL
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


async def fail(throttle: LoginThrottle, email: str, times: int) -> None:
    for _ in range(times):
        await throttle.record_failure(email)


async def test_login_throttle_after_ten_failures(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    assert await throttle.retry_after("ada@example.com") is None
    await fail(throttle, "ada@example.com", 9)
    assert await throttle.retry_after("ada@example.com") is None
    await throttle.record_failure("ada@example.com")
    wait = await throttle.retry_after("ada@example.com")
    assert wait is not None
    assert 1 <= wait <= 15 * 60
    # More failures while throttled change nothing about the verdict.
    await throttle.record_failure("ada@example.com")
    assert await throttle.retry_after("ada@example.com") is not None


async def test_login_throttle_is_per_email(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    await fail(throttle, "ada@example.com", 10)
    assert await throttle.retry_after("ada@example.com") is not None
    assert await throttle.retry_after("grace@example.com") is None
    # Case and surrounding blanks do not make a different address.
    assert await throttle.retry_after("  Ada@Example.COM ") is not None


async def test_login_throttle_with_unreachable_redis_uses_memory(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every call probes Redis again instead of waiting out the retry interval, so that the
    # single warning below shows it is logged once per outage, not once per failed probe.
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="tandem.ratelimit")
    throttle = LoginThrottle(redis_url=CLOSED_REDIS_URL, limit=3, minutes=1)
    try:
        await fail(throttle, "ada@example.com", 3)
        wait = await throttle.retry_after("ada@example.com")
        assert wait is not None
        assert 1 <= wait <= 60
        assert await throttle.retry_after("grace@example.com") is None
    finally:
        await throttle.aclose()
    assert warnings_logged(caplog) == 1


@pytest.mark.parametrize(("limit", "minutes"), [(0, 15), (10, 0)])
def test_login_throttle_rejects_meaningless_settings(limit: int, minutes: int) -> None:
    with pytest.raises(ValueError, match="login throttle"):
        LoginThrottle(redis_url=None, limit=limit, minutes=minutes)


@pytest.mark.needs_redis
async def test_login_throttle_is_shared_through_redis() -> None:
    assert TEST_REDIS_URL is not None
    prefix = f"tandem-test-login-{uuid.uuid4().hex}"
    one = LoginThrottle(redis_url=TEST_REDIS_URL, prefix=prefix)
    two = LoginThrottle(redis_url=TEST_REDIS_URL, prefix=prefix)
    try:
        await fail(one, "ada@example.com", 5)
        await fail(two, "ada@example.com", 5)
        assert await one.retry_after("ada@example.com") is not None
        assert await two.retry_after("ada@example.com") is not None
    finally:
        await one.aclose()
        await two.aclose()
        client = redis_client(TEST_REDIS_URL)
        try:
            await delete_prefix(client, prefix + ":")
        finally:
            await client.aclose()
