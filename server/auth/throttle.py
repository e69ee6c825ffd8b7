"""The failed-login throttle: refuses logins after too many failures (contract §3).

Two counts per email, both over the same moving window: failures from one client address, and
failures from all addresses together. The first stops a guesser at ``limit``; keying it by
address too means a classmate who knows your email cannot lock you out from another address.
The second, larger one (``limit_all_addresses``) caps what a guesser spread over many
addresses gets, at the price that such a guesser does lock the email out everywhere.

Built on the ``limits`` package's moving-window strategy. Request limits (see
:mod:`server.ratelimit`) deliberately do not use ``limits``, because a request must fit several
windows atomically; here each count is its own single window, checked before the password and
bumped after a failure, where ``limits`` fits well.

Failures are counted in Redis when a URL is given, so all processes share the counts, and in
the process otherwise. Redis outages degrade the same way as for request limits
(:class:`server.ratelimit.RedisHealth`): failures are counted in memory until Redis is back.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import limits
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from server.ratelimit import REDIS_DOWN, RedisHealth, whole_seconds

Ident = tuple[str, str]


def _identifiers(email: str, address: str) -> tuple[Ident, Ident]:
    """The keys of the (email, address) count and of the email's count across addresses."""
    # Hashed so Redis keys hold neither emails nor client addresses and stay short whatever a
    # client sends; the email is normalised so that changing its case buys no fresh budget.
    normalised = email.strip().lower()
    pair = hashlib.sha256(f"{normalised}\n{address}".encode()).hexdigest()
    return ("pair", pair), ("email", hashlib.sha256(normalised.encode()).hexdigest())


def _async_redis_uri(url: str) -> str:
    """Turn a redis-py URL into the ``async+…`` form that ``limits`` expects."""
    plain = url.removeprefix("async+")
    if plain.startswith("unix://"):
        return "async+redis+unix://" + plain.removeprefix("unix://")
    return "async+" + plain


class LoginThrottle:
    """Refuses logins for an email from an address after ``limit`` failures from it within
    ``minutes``, and from every address after ``limit_all_addresses`` failures from all of them
    (moving windows).

    Known and unknown emails are throttled alike, so the throttle reveals nothing about which
    accounts exist. Successful logins do not clear the counts: a success among guesses must not
    reset an attacker's budget.
    """

    def __init__(
        self,
        *,
        redis_url: str | None,
        limit: int = 10,
        limit_all_addresses: int = 50,
        minutes: int = 15,
        prefix: str = "tandem-login",
    ) -> None:
        if limit < 1 or limit_all_addresses < 1 or minutes < 1:
            raise ValueError(
                "the login throttle needs limit >= 1, limit_all_addresses >= 1 and minutes >= 1"
            )
        self._pair_item = limits.parse(f"{limit} per {minutes} minutes")
        self._email_item = limits.parse(f"{limit_all_addresses} per {minutes} minutes")
        self._memory_storage = MemoryStorage()
        self._memory = MovingWindowRateLimiter(self._memory_storage)
        self._pool: ConnectionPool | None = None
        self._redis: MovingWindowRateLimiter | None = None
        self._health = RedisHealth("the login throttle")
        if redis_url:
            # We own the pool so that aclose() can close it, and so that an outage costs one
            # quick retry rather than redis-py's default ten with backoff.
            self._pool = ConnectionPool.from_url(
                redis_url.removeprefix("async+").replace("redis+unix://", "unix://"),
                socket_connect_timeout=2.0,
                socket_timeout=2.0,
                retry=Retry(NoBackoff(), 1),
            )
            # limits documents ``connection_pool`` as a storage option but annotates options
            # as float | str | bool, hence the Any.
            pool_option: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                _async_redis_uri(redis_url),
                implementation="redispy",
                key_prefix=prefix,
                **pool_option,
            )
            self._redis = MovingWindowRateLimiter(storage)

    def _counts(self, email: str, address: str) -> list[tuple[limits.RateLimitItem, Ident]]:
        pair, across = _identifiers(email, address)
        return [(self._pair_item, pair), (self._email_item, across)]

    async def retry_after(self, email: str, address: str) -> int | None:
        """None while ``address`` may try ``email``, else the whole seconds (>= 1) until it may."""
        counts = self._counts(email, address)
        # Memory is consulted even when Redis answers: it holds the failures recorded during
        # an outage, which a flapping Redis must not wipe out.
        waits = [await self._wait(self._memory, counts)]
        if self._redis is not None and self._health.worth_trying():
            try:
                waits.append(await self._wait(self._redis, counts))
            except REDIS_DOWN as exc:
                self._health.failed(exc)
            else:
                self._health.succeeded()
        known = [w for w in waits if w is not None]
        return max(known) if known else None

    @staticmethod
    async def _wait(
        limiter: MovingWindowRateLimiter, counts: list[tuple[limits.RateLimitItem, Ident]]
    ) -> int | None:
        waits: list[int] = []
        for item, ident in counts:
            stats = await limiter.get_window_stats(item, *ident)
            if stats.remaining <= 0:
                # limits stamps entries with time.time(), so its reset_time is on that clock.
                waits.append(max(1, whole_seconds(stats.reset_time - time.time())))
        return max(waits) if waits else None

    async def record_failure(self, email: str, address: str) -> None:
        counts = self._counts(email, address)
        if self._redis is not None and self._health.worth_trying():
            try:
                for item, ident in counts:
                    await self._redis.hit(item, *ident)
            except REDIS_DOWN as exc:
                self._health.failed(exc)
            else:
                self._health.succeeded()
                return
        for item, ident in counts:
            await self._memory.hit(item, *ident)

    async def aclose(self) -> None:
        # MemoryStorage prunes expired entries in a background task; let it finish rather
        # than leave it pending on a loop that is about to close.
        timer = self._memory_storage.timer
        if timer is not None and not timer.done():
            await timer
        if self._pool is not None:
            await self._pool.aclose()
