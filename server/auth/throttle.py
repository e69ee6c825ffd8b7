"""The failed-login throttle: refuses logins per email after too many failures (contract §3).

Built on the ``limits`` package's moving-window strategy. Request limits (see
:mod:`server.ratelimit`) deliberately do not use ``limits``, because they decide on several
windows at once; the throttle has a single window, where ``limits`` fits well.

Failures are counted in Redis when a URL is given, so all processes share one budget per
email, and in the process otherwise. Redis outages degrade the same way as for request limits
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


def _email_id(email: str) -> str:
    # Hashed so Redis keys hold no addresses and stay short whatever a client sends; normalised
    # so that changing the case of an address does not buy a fresh budget.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _async_redis_uri(url: str) -> str:
    """Turn a redis-py URL into the ``async+…`` form that ``limits`` expects."""
    plain = url.removeprefix("async+")
    if plain.startswith("unix://"):
        return "async+redis+unix://" + plain.removeprefix("unix://")
    return "async+" + plain


class LoginThrottle:
    """Refuses logins for an email after ``limit`` failures within ``minutes`` (moving window).

    Known and unknown addresses are throttled alike, so the throttle reveals nothing about
    which accounts exist. Successful logins do not clear the count: a success among guesses
    must not reset an attacker's budget.
    """

    def __init__(
        self,
        *,
        redis_url: str | None,
        limit: int = 10,
        minutes: int = 15,
        prefix: str = "tandem-login",
    ) -> None:
        if limit < 1 or minutes < 1:
            raise ValueError("the login throttle needs limit >= 1 and minutes >= 1")
        self._item = limits.parse(f"{limit} per {minutes} minutes")
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

    async def retry_after(self, email: str) -> int | None:
        """None while attempts are allowed, else the whole seconds (>= 1) until one is."""
        ident = _email_id(email)
        # Memory is consulted even when Redis answers: it holds the failures recorded during
        # an outage, which a flapping Redis must not wipe out.
        waits = [await self._wait(self._memory, ident)]
        if self._redis is not None and self._health.worth_trying():
            try:
                waits.append(await self._wait(self._redis, ident))
            except REDIS_DOWN as exc:
                self._health.failed(exc)
            else:
                self._health.succeeded()
        known = [w for w in waits if w is not None]
        return max(known) if known else None

    async def _wait(self, limiter: MovingWindowRateLimiter, ident: str) -> int | None:
        stats = await limiter.get_window_stats(self._item, ident)
        if stats.remaining > 0:
            return None
        # limits stamps entries with time.time(), so its reset_time is on that clock too.
        return max(1, whole_seconds(stats.reset_time - time.time()))

    async def record_failure(self, email: str) -> None:
        ident = _email_id(email)
        if self._redis is not None and self._health.worth_trying():
            try:
                await self._redis.hit(self._item, ident)
            except REDIS_DOWN as exc:
                self._health.failed(exc)
            else:
                self._health.succeeded()
                return
        await self._memory.hit(self._item, ident)

    async def aclose(self) -> None:
        # MemoryStorage prunes expired entries in a background task; let it finish rather
        # than leave it pending on a loop that is about to close.
        timer = self._memory_storage.timer
        if timer is not None and not timer.done():
            await timer
        if self._pool is not None:
            await self._pool.aclose()
