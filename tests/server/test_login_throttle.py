"""Tests of server.auth.throttle: the login throttle per email and address (contract §3).

Backend-neutral tests run in memory and, when ``TANDEM_TEST_REDIS_URL`` is set, on Redis too.
Redis helpers come from the rate limiter tests, whose limiters the throttle is made of (with
their outage handling). Every Redis test uses its own key prefix.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient

from realtime import redis_client
from server.app import create_app
from server.auth import passwords
from server.auth.throttle import LoginThrottle
from server.settings import Settings
from tests.backends import TEST_REDIS_URL
from tests.helpers import PASSWORD, error_of, register
from tests.live import served
from tests.server.test_ratelimit import (
    BACKENDS,
    CLOSED_REDIS_URL,
    delete_prefix,
    warnings_logged,
)
from tests.server.test_ratelimit import (
    redis_client as make_client,
)

ThrottleFactory = Callable[[], LoginThrottle]


@pytest.fixture(params=BACKENDS)
async def make_throttle(request: pytest.FixtureRequest) -> AsyncIterator[ThrottleFactory]:
    backend: str = request.param
    client = make_client(TEST_REDIS_URL) if backend == "redis" and TEST_REDIS_URL else None
    prefixes: list[str] = []
    created: list[LoginThrottle] = []

    def make() -> LoginThrottle:
        prefixes.append(f"tandem-test-login-{uuid.uuid4().hex}:")
        created.append(LoginThrottle(client, prefix=prefixes[-1]))
        return created[-1]

    yield make

    for throttle in created:
        await throttle.aclose()
    if client is not None:
        try:
            for prefix in prefixes:
                await delete_prefix(client, prefix)
        finally:
            await client.aclose()


ADA = "ada@example.com"
HOME = "198.51.100.7"  # the school's address, where Ada signs in
ELSEWHERE = "203.0.113.9"  # a classmate's, or a guesser's


async def fail(throttle: LoginThrottle, email: str, address: str, times: int) -> None:
    """``times`` attempts that turn out wrong (they stay counted)."""
    for _ in range(times):
        attempt = await throttle.attempt(email, address)
        assert attempt.retry_after is None


async def refused(throttle: LoginThrottle, email: str, address: str) -> int | None:
    """The wait if an attempt now is refused; None if it is admitted (and then un-counted,
    as a right password would be)."""
    attempt = await throttle.attempt(email, address)
    await throttle.not_a_failure(attempt)
    return attempt.retry_after


async def test_login_throttle_after_ten_failures(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    assert await refused(throttle, ADA, ELSEWHERE) is None
    await fail(throttle, ADA, ELSEWHERE, 9)
    assert await refused(throttle, ADA, ELSEWHERE) is None
    await fail(throttle, ADA, ELSEWHERE, 1)
    wait = await refused(throttle, ADA, ELSEWHERE)
    assert wait is not None
    assert 1 <= wait <= 15 * 60
    # Refused attempts are not counted, and change nothing about the verdict.
    assert await refused(throttle, ADA, ELSEWHERE) is not None


async def test_right_passwords_do_not_count(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    for _ in range(20):
        assert await refused(throttle, ADA, ELSEWHERE) is None
    await fail(throttle, ADA, ELSEWHERE, 10)
    assert await refused(throttle, ADA, ELSEWHERE) is not None


async def test_attempts_in_flight_hold_their_place(make_throttle: ThrottleFactory) -> None:
    """Thirty attempts at once: ten are admitted to the password check, the rest refused."""
    throttle = make_throttle()
    attempts = await asyncio.gather(*(throttle.attempt(ADA, ELSEWHERE) for _ in range(30)))
    assert sum(a.retry_after is None for a in attempts) == 10
    # All ten were right after all: un-counted, the address may try again.
    for attempt in attempts:
        await throttle.not_a_failure(attempt)
    assert await refused(throttle, ADA, ELSEWHERE) is None


async def test_ten_failures_from_one_address_leave_other_addresses_alone(
    make_throttle: ThrottleFactory,
) -> None:
    throttle = make_throttle()
    await fail(throttle, ADA, ELSEWHERE, 10)
    assert await refused(throttle, ADA, ELSEWHERE) is not None
    assert await refused(throttle, ADA, HOME) is None


async def test_login_throttle_is_per_email(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    await fail(throttle, ADA, ELSEWHERE, 10)
    assert await refused(throttle, ADA, ELSEWHERE) is not None
    assert await refused(throttle, "grace@example.com", ELSEWHERE) is None
    # Case and surrounding blanks do not make a different address.
    assert await refused(throttle, "  Ada@Example.COM ", ELSEWHERE) is not None


async def test_fifty_failures_from_all_addresses_lock_everyone(
    make_throttle: ThrottleFactory,
) -> None:
    throttle = make_throttle()
    # Seven addresses fail seven times each: none reaches its own ten, together they make 49.
    guessers = [f"192.0.2.{n}" for n in range(1, 8)]
    for address in guessers:
        await fail(throttle, ADA, address, 7)
    assert await refused(throttle, ADA, HOME) is None
    assert all([await refused(throttle, ADA, a) is None for a in guessers])
    await fail(throttle, ADA, "192.0.2.8", 1)
    for address in [HOME, *guessers, "192.0.2.8"]:
        wait = await refused(throttle, ADA, address)
        assert wait is not None
        assert 1 <= wait <= 15 * 60
    assert await refused(throttle, "grace@example.com", HOME) is None


async def test_login_throttle_with_unreachable_redis_uses_memory(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every call probes Redis again instead of waiting out the retry interval, so that the
    # warnings below show they are logged once per outage, not once per failed probe.
    monkeypatch.setattr(redis_client, "RETRY_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="tandem.redis")
    client = make_client(CLOSED_REDIS_URL)
    throttle = LoginThrottle(client, limit=3, limit_all_addresses=5, minutes=1)
    try:
        await fail(throttle, ADA, ELSEWHERE, 3)
        wait = await refused(throttle, ADA, ELSEWHERE)
        assert wait is not None
        assert 1 <= wait <= 60
        assert await refused(throttle, ADA, HOME) is None
        await fail(throttle, ADA, "192.0.2.1", 2)
        assert await refused(throttle, ADA, HOME) is not None
        assert await refused(throttle, "grace@example.com", ELSEWHERE) is None
    finally:
        await throttle.aclose()
        await client.aclose()
    assert warnings_logged(caplog) == 2  # one per count (per address, across addresses)


@pytest.mark.parametrize(
    ("limit", "all_addresses", "minutes"), [(0, 50, 15), (10, 0, 15), (10, 50, 0)]
)
def test_login_throttle_rejects_meaningless_settings(
    limit: int, all_addresses: int, minutes: int
) -> None:
    with pytest.raises(ValueError, match="login throttle"):
        LoginThrottle(None, limit=limit, limit_all_addresses=all_addresses, minutes=minutes)


def _behind_a_proxy(settings: Settings) -> Settings:
    # Litestar's test client connects as the peer "testclient", a client of an app served
    # for real (tests/live.served) from 127.0.0.1. Trusting them as a proxy lets each request
    # name its client address in X-Forwarded-For, as a school's proxy would.
    return msgspec.structs.replace(settings, trusted_proxies=("testclient", "127.0.0.1"))


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
    prefix = f"tandem-test-login-{uuid.uuid4().hex}:"
    first, second = make_client(TEST_REDIS_URL), make_client(TEST_REDIS_URL)
    one = LoginThrottle(first, prefix=prefix)
    two = LoginThrottle(second, prefix=prefix)
    try:
        await fail(one, ADA, ELSEWHERE, 5)
        await fail(two, ADA, ELSEWHERE, 5)
        assert await refused(one, ADA, ELSEWHERE) is not None
        assert await refused(two, ADA, ELSEWHERE) is not None
        assert await refused(one, ADA, HOME) is None
        # The count across addresses is shared too: 5 x 8 more from other addresses make 50.
        for n in range(8):
            await fail(one if n % 2 else two, ADA, f"192.0.2.{n}", 5)
        assert await refused(one, ADA, HOME) is not None
        assert await refused(two, ADA, HOME) is not None
    finally:
        await one.aclose()
        await two.aclose()
        await delete_prefix(first, prefix)
        await first.aclose()
        await second.aclose()


async def test_parallel_wrong_logins_reach_the_password_check_ten_times(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty wrong passwords for one email from one address, all at once: at most ten are
    checked (401), the others are refused before the check (429), on either backend."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    checked: list[str] = []
    verify = passwords.verify_password

    def counting_verify(stored_hash: str | None, password: str) -> bool:
        checked.append(password)
        return verify(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting_verify)
    app = create_app(_behind_a_proxy(settings))
    async with served(app) as client:
        email = (await register(client))["email"]
        wrong = {"email": email, "password": "wrong password"}
        responses = await asyncio.gather(
            *(
                client.post("/api/v1/auth/login", json=wrong, headers=_from(ELSEWHERE))
                for _ in range(30)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [401] * 10 + [429] * 20
        assert len(checked) == 10
        # The right password from another address still gets in.
        right = {"email": email, "password": PASSWORD}
        response = await client.post("/api/v1/auth/login", json=right, headers=_from(HOME))
        assert response.status_code == 200, response.text
