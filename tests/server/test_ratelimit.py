"""Tests of server.ratelimit: sliding multi-window limits, Redis sharing and outages.

Backend-neutral tests run on memory and, when ``TANDEM_TEST_REDIS_URL`` is set, on Redis too
(the ``redis`` fixture parameter only exists then). Time-dependent behaviour is tested on both
with a fake clock: the memory limiter takes it as ``clock``, the Redis one as its ``clock_ms``
seam, which replaces the server's ``TIME`` in the script; one test checks that production's
``TIME`` is what stamps entries otherwise. Tests that make sense only with a real Redis are
marked ``needs_redis``, which deselects them when no Redis is configured. Every Redis test uses
its own key prefix.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Protocol, cast

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from realtime import redis_client as redis_policy
from server.ratelimit.base import Decision, RateLimiter, Window, parse_windows
from server.ratelimit.memory import MemoryRateLimiter
from server.ratelimit.redis import RedisRateLimiter
from tests.backends import TEST_REDIS_URL

BACKENDS = ["memory", *(["redis"] if TEST_REDIS_URL else [])]
# A port nothing listens on: connecting fails at once with "connection refused".
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def ms(self) -> int:
        """The time in whole ms, for :class:`RedisRateLimiter`'s ``clock_ms`` seam."""
        return round(self.now * 1000)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class LimiterFactory(Protocol):
    """Builds a limiter on the backend under test, on ``clock`` if given, else on real time."""

    def __call__(
        self, windows: Sequence[Window], clock: FakeClock | None = None
    ) -> RateLimiter: ...


def redis_client(url: str) -> Redis:
    # No retries and a short connect timeout: a refused connection must fail fast in tests.
    return Redis.from_url(url, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


async def delete_prefix(client: Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)


def server_ms(time: tuple[int, int]) -> int:
    """Redis ``TIME`` (seconds, microseconds) in ms, as the script scores entries."""
    seconds, micros = time
    return seconds * 1000 + micros // 1000


def decision(allowed: bool, limit: int, remaining: int, reset: int, retry_after: int) -> Decision:
    return Decision(
        allowed=allowed, limit=limit, remaining=remaining, reset=reset, retry_after=retry_after
    )


@pytest.fixture(params=BACKENDS)
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[LimiterFactory]:
    """Builds limiters on the parametrised backend; each gets its own Redis key prefix."""
    backend: str = request.param
    client = redis_client(TEST_REDIS_URL) if backend == "redis" and TEST_REDIS_URL else None
    prefixes: list[str] = []
    created: list[RateLimiter] = []

    def make(windows: Sequence[Window], clock: FakeClock | None = None) -> RateLimiter:
        limiter: RateLimiter
        if client is None:
            limiter = (
                MemoryRateLimiter(windows) if clock is None else MemoryRateLimiter(windows, clock)
            )
        else:
            prefixes.append(f"tandem-test:rl:{uuid.uuid4().hex}:")
            limiter = RedisRateLimiter(
                client,
                windows,
                prefix=prefixes[-1],
                clock_ms=None if clock is None else clock.ms,
            )
        created.append(limiter)
        return limiter

    yield make

    for limiter in created:
        await limiter.aclose()
    if client is not None:
        try:
            for prefix in prefixes:
                await delete_prefix(client, prefix)
        finally:
            await client.aclose()


@pytest.fixture
def no_redis_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let every call probe Redis again instead of waiting out the retry interval."""
    monkeypatch.setattr(redis_policy, "RETRY_SECONDS", 0.0)


def warnings_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        1
        for record in caplog.records
        if record.name == "tandem.redis" and record.levelno == logging.WARNING
    )


# --- parse_windows and Window -------------------------------------------------------------


def test_parse_windows_reads_the_limits_syntax() -> None:
    assert parse_windows("100/minute;20/10 seconds") == (Window(100, 60.0), Window(20, 10.0))
    assert parse_windows(" 5 per hour, 1/second ") == (Window(5, 3600.0), Window(1, 1.0))


@pytest.mark.parametrize("text", ["off", "OFF", "  Off \n"])
def test_parse_windows_off_means_no_windows(text: str) -> None:
    assert parse_windows(text) == ()


@pytest.mark.parametrize(
    "text", ["", "   ", "often", "100", "100/fortnight", "100/minute;;", "0/minute", "-1/minute"]
)
def test_parse_windows_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_windows(text)


@pytest.mark.parametrize(("limit", "seconds"), [(0, 10.0), (-1, 10.0), (5, 0.0), (5, -1.0)])
def test_window_must_be_meaningful(limit: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="window"):
        Window(limit, seconds)


async def test_limiters_need_at_least_one_window() -> None:
    with pytest.raises(ValueError, match="at least one window"):
        MemoryRateLimiter([])
    client = redis_client(CLOSED_REDIS_URL)
    try:
        with pytest.raises(ValueError, match="at least one window"):
            RedisRateLimiter(client, [])
    finally:
        await client.aclose()


# --- behaviour on every backend ---------------------------------------------------------------


async def test_admits_up_to_the_limit_then_rejects(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter([Window(3, 60)])
    decisions = [await limiter.hit("user:a") for _ in range(4)]
    assert decisions == [
        decision(True, 3, 2, 60, 0),
        decision(True, 3, 1, 60, 0),
        decision(True, 3, 0, 60, 0),
        decision(False, 3, 0, 60, 60),
    ]


async def test_headers_describe_the_tightest_window(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter(parse_windows("100/minute;20/10 seconds"))
    assert await limiter.hit("ip:1.2.3.4") == decision(True, 20, 19, 10, 0)


@pytest.mark.parametrize(
    "windows",
    [(Window(2, 60), Window(5, 60)), (Window(5, 60), Window(2, 60))],
    ids=["tight-first", "tight-last"],
)
async def test_every_window_is_enforced(
    make_limiter: LimiterFactory, windows: tuple[Window, ...]
) -> None:
    limiter = make_limiter(windows)
    assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, False]
    assert (await limiter.hit("k")).limit == 2


async def test_keys_are_independent(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter([Window(2, 60)])
    assert [(await limiter.hit("user:a")).allowed for _ in range(3)] == [True, True, False]
    assert (await limiter.hit("user:b")) == decision(True, 2, 1, 60, 0)
    assert (await limiter.hit("ip:10.0.0.1")).allowed


async def test_concurrent_hits_admit_exactly_the_limit(make_limiter: LimiterFactory) -> None:
    limiter = make_limiter([Window(20, 60), Window(1000, 3600)])
    decisions = await asyncio.gather(*(limiter.hit("user:burst") for _ in range(50)))
    admitted = [d for d in decisions if d.allowed]
    assert len(admitted) == 20
    # Each admitted request saw a distinct count: the decisions did not interleave.
    assert sorted(d.remaining for d in admitted) == list(range(20))
    assert all(d.retry_after >= 1 for d in decisions if not d.allowed)


# --- time on every backend, with a fake clock --------------------------------------------------


async def test_window_slides(make_limiter: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = make_limiter([Window(3, 10)], clock)
    assert await limiter.hit("k") == decision(True, 3, 2, 10, 0)  # t=0
    clock.advance(4)
    assert await limiter.hit("k") == decision(True, 3, 1, 6, 0)  # t=4
    clock.advance(4)
    assert await limiter.hit("k") == decision(True, 3, 0, 2, 0)  # t=8
    clock.advance(1)
    assert await limiter.hit("k") == decision(False, 3, 0, 1, 1)  # t=9: the t=0 entry is in
    clock.advance(1)
    # t=10: the t=0 entry has left (windows are half-open), the oldest is now t=4.
    assert await limiter.hit("k") == decision(True, 3, 0, 4, 0)
    clock.advance(1)
    assert await limiter.hit("k") == decision(False, 3, 0, 3, 3)  # t=11


async def test_sliding_windows_match_a_brute_force_model(make_limiter: LimiterFactory) -> None:
    """No interval of a window's length admits more than its limit, and nothing is refused
    that the windows would admit."""
    windows = (Window(5, 10), Window(2, 1.5))
    clock = FakeClock()
    limiter = make_limiter(windows, clock)
    rng = random.Random(20240601)
    admitted: list[float] = []
    rejected = 0
    for _ in range(1000):
        clock.advance(rng.choice([0.0, 0.0, 0.25, 0.5, 1.0, 2.5]))
        now = clock.now
        expected = all(sum(1 for a in admitted if a > now - w.seconds) < w.limit for w in windows)
        result = await limiter.hit("k")
        assert result.allowed is expected, f"at t={now}"
        if expected:
            admitted.append(now)
        else:
            rejected += 1
    assert admitted
    assert rejected
    for w in windows:
        for start in admitted:
            assert sum(1 for a in admitted if start <= a < start + w.seconds) <= w.limit


async def test_rejected_requests_count_in_no_window(make_limiter: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = make_limiter([Window(2, 10), Window(4, 60)], clock)
    assert [(await limiter.hit("k")).allowed for _ in range(2)] == [True, True]
    for _ in range(10):
        refused = await limiter.hit("k")  # refused by the 10 s window...
        assert not refused.allowed
        assert refused.limit == 2
    clock.advance(10)
    # ...and not counted by the 60 s one, which still has two requests to give (t=10).
    assert await limiter.hit("k") == decision(True, 2, 1, 10, 0)
    assert await limiter.hit("k") == decision(True, 2, 0, 10, 0)
    clock.advance(10)
    # t=20: the 10 s window is empty again, the 60 s one is full until t=60.
    assert await limiter.hit("k") == decision(False, 4, 0, 40, 40)


async def test_retry_after_waits_for_every_blocking_window(make_limiter: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = make_limiter([Window(2, 10), Window(3, 60)], clock)
    assert (await limiter.hit("k")).allowed  # t=0
    clock.advance(5)
    assert (await limiter.hit("k")).allowed  # t=5
    clock.advance(6)
    assert (await limiter.hit("k")).allowed  # t=11: the 10 s window holds t=5 and t=11
    clock.advance(1)
    # t=12, both windows full. Tightest: a tie at 0 remaining goes to the smaller limit, whose
    # oldest entry (t=5) leaves at t=15; but the 60 s window only frees a request at t=60.
    assert await limiter.hit("k") == decision(False, 2, 0, 3, 48)


async def test_ties_go_to_the_smaller_limit(make_limiter: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = make_limiter([Window(5, 60), Window(3, 10)], clock)
    await limiter.hit("k")
    await limiter.hit("k")
    clock.advance(10)
    # Both windows have 2 left: the 3-per-10 s one is reported, and it frees at t=20.
    assert await limiter.hit("k") == decision(True, 3, 2, 10, 0)


async def test_reset_and_retry_after_round_up(make_limiter: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = make_limiter([Window(2, 10)], clock)
    await limiter.hit("k")
    clock.advance(2.5)
    assert await limiter.hit("k") == decision(True, 2, 0, 8, 0)
    clock.advance(7.4)
    # t=9.9, 0.1 s to go: still at least a whole second.
    assert await limiter.hit("k") == decision(False, 2, 0, 1, 1)


# --- memory limiter only ----------------------------------------------------------------------


async def test_idle_keys_are_dropped() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter([Window(3, 10), Window(10, 60)], clock=clock)
    for n in range(500):
        await limiter.hit(f"ip:10.0.{n // 256}.{n % 256}")
    assert len(limiter) == 500
    clock.advance(59)
    await limiter.hit("user:fresh")
    assert len(limiter) == 501  # every key still has a request in the 60 s window
    clock.advance(1)
    await limiter.hit("user:fresh")
    assert len(limiter) == 1
    await limiter.aclose()
    assert len(limiter) == 0


# --- Redis: fallback and recovery (no server needed) -----------------------------------------


async def test_unreachable_redis_falls_back_to_memory(
    caplog: pytest.LogCaptureFixture, no_redis_retry_delay: None
) -> None:
    caplog.set_level(logging.INFO, logger="tandem.redis")
    client = redis_client(CLOSED_REDIS_URL)
    clock = FakeClock()
    fallback = MemoryRateLimiter([Window(2, 60)], clock=clock)
    limiter = RedisRateLimiter(client, [Window(2, 60)], fallback=fallback)
    try:
        assert await limiter.hit("k") == decision(True, 2, 1, 60, 0)
        assert await limiter.hit("k") == decision(True, 2, 0, 60, 0)
        assert await limiter.hit("k") == decision(False, 2, 0, 60, 60)
        clock.advance(60)
        assert (await limiter.hit("k")).allowed
    finally:
        await limiter.aclose()
        await client.aclose()
    assert warnings_logged(caplog) == 1  # once per outage, not per request


class FlakyScript:
    """Stands in for a registered Lua script: fails while the fake server is down."""

    def __init__(self, server: FlakyRedis) -> None:
        self.server = server

    async def __call__(self, keys: Sequence[str], args: Sequence[object]) -> list[int]:
        self.server.calls += 1
        if self.server.down:
            raise RedisConnectionError("Connection refused")
        return self.server.reply


class FlakyRedis:
    """Just enough of a Redis client for RedisRateLimiter, with a switchable outage."""

    def __init__(self, reply: list[int]) -> None:
        self.down = False
        self.calls = 0
        self.reply = reply

    def register_script(self, script: str) -> FlakyScript:
        return FlakyScript(self)


def flaky_limiter(server: FlakyRedis, windows: Sequence[Window]) -> RedisRateLimiter:
    return RedisRateLimiter(cast("Redis", server), windows)


async def test_redis_is_tried_again_after_an_outage(
    caplog: pytest.LogCaptureFixture, no_redis_retry_delay: None
) -> None:
    caplog.set_level(logging.INFO, logger="tandem.redis")
    # Script reply: admitted; the one window holds 3 requests, its oldest leaves in 42.5 s.
    server = FlakyRedis(reply=[1, 3, 42_500])
    limiter = flaky_limiter(server, [Window(5, 60)])

    server.down = True
    assert await limiter.hit("k") == decision(True, 5, 4, 60, 0)  # from memory
    assert await limiter.hit("k") == decision(True, 5, 3, 60, 0)
    assert warnings_logged(caplog) == 1

    server.down = False
    assert await limiter.hit("k") == decision(True, 5, 2, 43, 0)  # from "Redis"
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert server.calls == 3

    server.down = True
    await limiter.hit("k")
    assert warnings_logged(caplog) == 2  # a new outage warns again


async def test_redis_is_not_hammered_during_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_policy, "RETRY_SECONDS", 3600.0)
    server = FlakyRedis(reply=[1, 1, 60_000])
    limiter = flaky_limiter(server, [Window(5, 60)])
    server.down = True
    for _ in range(5):
        assert (await limiter.hit("k")).allowed
    assert server.calls == 1  # later calls answer from memory until the retry interval passes


async def test_redis_rejection_reply_is_decoded() -> None:
    # Rejected by the first window (3 of 3, frees in 0.2 s) but not the second (3 of 10).
    server = FlakyRedis(reply=[0, 3, 200, 3, 59_000])
    limiter = flaky_limiter(server, [Window(3, 1), Window(10, 60)])
    assert await limiter.hit("k") == decision(False, 3, 0, 1, 1)


# --- Redis: a real server ---------------------------------------------------------------------


@pytest.mark.needs_redis
async def test_two_processes_share_one_budget() -> None:
    assert TEST_REDIS_URL is not None
    prefix = f"tandem-test:rl:{uuid.uuid4().hex}:"
    first, second = redis_client(TEST_REDIS_URL), redis_client(TEST_REDIS_URL)
    try:
        windows = [Window(3, 2)]
        one = RedisRateLimiter(first, windows, prefix=prefix)
        two = RedisRateLimiter(second, windows, prefix=prefix)
        results = [await limiter.hit("user:shared") for limiter in (one, two, one, two)]
        assert [r.allowed for r in results] == [True, True, True, False]
        assert [r.remaining for r in results] == [2, 1, 0, 0]
        both = await asyncio.gather(*(lim.hit("user:other") for lim in (one, two) * 10))
        assert sum(d.allowed for d in both) == 3
    finally:
        await delete_prefix(first, prefix)
        await first.aclose()
        await second.aclose()


@pytest.mark.needs_redis
async def test_redis_rejected_hits_count_in_no_window() -> None:
    assert TEST_REDIS_URL is not None
    prefix = f"tandem-test:rl:{uuid.uuid4().hex}:"
    client = redis_client(TEST_REDIS_URL)
    try:
        strict = RedisRateLimiter(client, [Window(2, 60), Window(10, 60)], prefix=prefix)
        assert [(await strict.hit("k")).allowed for _ in range(12)] == [True] * 2 + [False] * 10
        assert await client.zcard(prefix + "k") == 2
        # A limiter reading the same set with only the wide window sees 2 used, not 12.
        wide = RedisRateLimiter(client, [Window(10, 60)], prefix=prefix)
        assert await wide.hit("k") == decision(True, 10, 7, 60, 0)
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


@pytest.mark.needs_redis
async def test_redis_stamps_entries_with_the_server_clock() -> None:
    """Without the ``clock_ms`` seam (production), entries are scored by Redis' ``TIME``."""
    assert TEST_REDIS_URL is not None
    prefix = f"tandem-test:rl:{uuid.uuid4().hex}:"
    client = redis_client(TEST_REDIS_URL)
    try:
        limiter = RedisRateLimiter(client, [Window(2, 60), Window(3, 120)], prefix=prefix)
        before = server_ms(await client.time())
        results = [await limiter.hit("k") for _ in range(3)]
        after = server_ms(await client.time())
        assert results[:2] == [decision(True, 2, 1, 60, 0), decision(True, 2, 0, 60, 0)]
        assert (results[2].allowed, results[2].limit, results[2].remaining) == (False, 2, 0)
        assert 59 <= results[2].retry_after <= 60
        entries = await client.zrange(prefix + "k", 0, -1, withscores=True)
        scores = [score for _, score in cast("list[tuple[bytes, float]]", entries)]
        assert len(scores) == 2
        assert all(before <= score <= after for score in scores)
        assert 0 < await client.pttl(prefix + "k") <= 120_000  # expires with the largest window
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


@pytest.mark.needs_redis
async def test_redis_drops_entries_older_than_the_largest_window() -> None:
    assert TEST_REDIS_URL is not None
    prefix = f"tandem-test:rl:{uuid.uuid4().hex}:"
    client = redis_client(TEST_REDIS_URL)
    clock = FakeClock()
    try:
        limiter = RedisRateLimiter(
            client, [Window(2, 1), Window(3, 10)], prefix=prefix, clock_ms=clock.ms
        )
        assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, False]
        clock.advance(1)
        # t=1: the 1 s window is free again, the 10 s one is now full until t=10.
        assert await limiter.hit("k") == decision(True, 3, 0, 9, 0)
        assert await client.zcard(prefix + "k") == 3
        clock.advance(9)
        # t=10: the t=0 entries have left both windows and the set; t=1 is still in the 10 s one.
        assert await limiter.hit("k") == decision(True, 2, 1, 1, 0)
        assert await client.zcard(prefix + "k") == 2
        assert 0 < await client.pttl(prefix + "k") <= 10_000
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()
