"""The Redis rate-limit backend: budgets shared by every process (see :mod:`server.ratelimit.base`).

The whole decision runs in one Lua script, which makes it atomic across processes and uses the
Redis server's clock, so processes with skewed clocks still agree. Outage policy (contract §2):
while Redis is down (:func:`realtime.redis_client.redis_down`), :class:`RedisRateLimiter`
counts in this process's memory, and goes back to Redis when it answers again; a request is
never failed because of Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from realtime.redis_client import Outage, redis_down
from server.ratelimit.base import Decision, RateLimiter, Window, checked, decide
from server.ratelimit.memory import ENTRY_PREFIX, MemoryRateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis


# One sorted set per key; score = admission time in ms of the Redis clock, member = a unique id
# (several requests may share a millisecond). Scores are integer ms rather than µs because Lua
# 5.1 formats numbers with 14 significant digits; we also never concatenate them into strings.
# ARGV[2] is empty in production; tests pass their fake clock's ms there (see ``clock_ms``).
_HIT_SCRIPT = """
-- KEYS[1]: the key's sorted set. ARGV[1]: unique member for this request.
-- ARGV[2]: the current time in ms, or '' to read the Redis server's clock.
-- ARGV[2k+1], ARGV[2k+2]: limit and length in ms of window k.
local key = KEYS[1]
local now = tonumber(ARGV[2])
if not now then
  if redis.replicate_commands then
    -- Redis < 5 needs this before a write that follows TIME; newer ones ignore it.
    redis.replicate_commands()
  end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local n = (#ARGV - 2) / 2
local limits, lengths, counts = {}, {}, {}
local largest = 0
for i = 1, n do
  limits[i] = tonumber(ARGV[2 * i + 1])
  lengths[i] = tonumber(ARGV[2 * i + 2])
  if lengths[i] > largest then largest = lengths[i] end
end
-- An entry is inside a window while its age is below the window's length.
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - largest)
local allowed = 1
for i = 1, n do
  counts[i] = redis.call('ZCOUNT', key, now - lengths[i] + 1, '+inf')
  if counts[i] >= limits[i] then allowed = 0 end
end
if allowed == 1 then
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, largest)
end
-- Reply: allowed, then per window: count after the decision, ms until its oldest entry leaves.
local reply = {allowed}
for i = 1, n do
  local count = counts[i] + allowed
  local frees = 0
  if count > 0 then
    local first = redis.call(
      'ZRANGEBYSCORE', key, now - lengths[i] + 1, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    frees = tonumber(first[2]) + lengths[i] - now
  end
  reply[#reply + 1] = count
  reply[#reply + 1] = frees
end
return reply
"""


class RedisRateLimiter:
    """Sliding-log limiter shared by all processes through Redis (see the module docstring).

    The Redis client belongs to the caller, who closes it; :meth:`aclose` leaves it open. While
    Redis is down, hits go to ``fallback`` (default: a fresh :class:`MemoryRateLimiter` with the
    same windows). ``concern`` names the budget in the outage warning.

    ``clock_ms`` is a test seam: when given, it supplies the current time in integer ms in
    place of the Redis server's ``TIME``, so that tests can move time without waiting.
    Production leaves it unset, so that processes with skewed clocks still agree.
    """

    def __init__(
        self,
        redis: Redis,
        windows: Sequence[Window],
        *,
        prefix: str = "tandem:rl:",
        fallback: MemoryRateLimiter | None = None,
        clock_ms: Callable[[], int] | None = None,
        concern: str = "request rate limits",
    ) -> None:
        self._redis = redis
        self._windows = checked(windows)
        self._prefix = prefix
        self._clock_ms = clock_ms
        self._fallback = fallback if fallback is not None else MemoryRateLimiter(self._windows)
        self._script = redis.register_script(_HIT_SCRIPT)
        # Milliseconds, at least 1: a sub-millisecond window cannot be told apart on Redis.
        self._args: list[int] = []
        for window in self._windows:
            self._args += [window.limit, max(1, round(window.seconds * 1000))]
        self._outage = Outage(concern, "counting in this process only")

    async def hit(self, key: str) -> Decision:
        if self._outage.worth_trying():
            now = "" if self._clock_ms is None else self._clock_ms()
            entry = uuid.uuid4().hex
            try:
                reply = await self._script(
                    keys=[self._prefix + key], args=[entry, now, *self._args]
                )
            except redis_down() as exc:
                self._outage.failed(exc)
            else:
                self._outage.succeeded()
                return self._decision(reply, entry)
        return await self._fallback.hit(key)

    async def forget(self, key: str, decision: Decision) -> None:
        if decision.entry is None:
            return
        if decision.entry.startswith(ENTRY_PREFIX):  # counted in memory during an outage
            await self._fallback.forget(key, decision)
            return
        if not self._outage.worth_trying():
            return
        try:
            await self._redis.zrem(self._prefix + key, decision.entry)
        except redis_down() as exc:
            self._outage.failed(exc)
        else:
            self._outage.succeeded()

    def _decision(self, reply: Sequence[Any], entry: str) -> Decision:
        values = [int(v) for v in reply]
        counts = values[1::2]
        frees_in = [ms / 1000 for ms in values[2::2]]
        return decide(self._windows, counts, frees_in, values[0] == 1, entry)

    async def aclose(self) -> None:
        await self._fallback.aclose()


def rate_limiter(
    windows: Sequence[Window], redis: Redis | None, *, prefix: str, concern: str
) -> RateLimiter:
    """A limiter on ``windows``: shared through ``redis`` when there is one, else in memory."""
    memory = MemoryRateLimiter(windows)
    if redis is None:
        return memory
    return RedisRateLimiter(redis, windows, prefix=prefix, fallback=memory, concern=concern)
