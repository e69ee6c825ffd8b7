"""Request rate limiting, and the Redis-outage handling it shares with the login throttle.

Request limits are several sliding windows enforced together, e.g. ``100/minute;20/10 seconds``
(see :func:`parse_windows`). A request is admitted only if *every* window admits it, and a
rejected request is counted in *no* window, so a client hammering a full short window does not
also burn through its long-window budget. Windows slide: we keep a log of admission times per
key, so no interval of a window's length ever admits more than that window's limit (fixed
buckets would allow twice the limit across a bucket boundary).

Two backends implement :class:`RateLimiter`:

* :class:`MemoryRateLimiter` counts in the process. It is exact for a single process and is
  the fallback whenever Redis cannot be reached.
* :class:`server.redis_ratelimit.RedisRateLimiter` counts in one Redis sorted set per key, so
  all processes share one budget.

We do not use the ``limits`` package for request limits on purpose: ``limits`` evaluates one
window per call, so deciding on several windows takes several round trips that are not atomic
together, and a request rejected by one window would already have been counted by the windows
checked before it. The login throttle (:mod:`server.auth.throttle`) has a single window, where
``limits`` fits well.

Redis outages degrade, they do not fail requests: on ``ConnectionError``/``TimeoutError``/
``OSError`` the process falls back to its own in-memory counting (logging one warning per
outage) and tries Redis again on later calls, at most once per :data:`REDIS_RETRY_SECONDS`, so
that an outage does not add Redis' connect timeout and retries to every request.
:class:`RedisHealth` implements that policy for both the request limiters and the login throttle.
"""

from __future__ import annotations

import logging
import math
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import limits
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("tandem.ratelimit")

#: After Redis failed, calls use memory only for this many seconds before trying Redis again.
REDIS_RETRY_SECONDS = 1.0

# What redis-py raises when the server is unreachable. Anything else (e.g. a ResponseError from
# a broken script) is a bug, not an outage, and must not be hidden behind the fallback.
REDIS_DOWN: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisHealth:
    """Tracks one Redis dependency's outage: one warning per outage, limited retries."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._down = False
        self._failed_at = 0.0

    def worth_trying(self) -> bool:
        return not self._down or time.monotonic() - self._failed_at >= REDIS_RETRY_SECONDS

    def failed(self, exc: Exception) -> None:
        self._failed_at = time.monotonic()
        if not self._down:
            self._down = True
            log.warning(
                "Redis unreachable for %s, counting in this process only until it is back: %r",
                self._what,
                exc,
            )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            log.info("Redis reachable again for %s", self._what)


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` requests in any interval of ``seconds`` seconds."""

    limit: int
    seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"a rate limit window needs a limit of at least 1, got {self.limit}")
        if not self.seconds > 0:
            raise ValueError(f"a rate limit window must last more than 0 s, got {self.seconds}")


def parse_windows(text: str) -> tuple[Window, ...]:
    """Parse ``"100/minute;20/10 seconds"`` into windows; ``"off"`` (any case) means none.

    The syntax is that of the ``limits`` package (``N/unit``, ``N per M units``, separated by
    ``;``, ``,`` or ``|``). Raises :class:`ValueError` with a readable message on bad text.
    """
    stripped = text.strip()
    if stripped.lower() == "off":
        return ()
    try:
        items = limits.parse_many(stripped)
    except ValueError:
        raise ValueError(
            f"cannot parse rate limits {text!r}: expected windows like "
            "'100/minute;20/10 seconds' (separated by ';'), or 'off'"
        ) from None
    try:
        return tuple(Window(item.amount, float(item.get_expiry())) for item in items)
    except ValueError as exc:
        raise ValueError(f"invalid rate limits {text!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one request plus what the ``X-RateLimit-*`` headers report.

    ``limit``/``remaining``/``reset`` describe the tightest window (fewest requests left after
    this decision; ties go to the smaller limit). ``reset`` is the whole seconds until that
    window frees a request (0 if it holds none). ``retry_after`` is the whole seconds (>= 1)
    until a rejected request would be admitted by all windows, and 0 when admitted.
    """

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int


class RateLimiter(Protocol):
    """Counts requests per key (e.g. ``"user:<uuid>"`` or ``"ip:1.2.3.4"``)."""

    async def hit(self, key: str) -> Decision:
        """Decide on one request for ``key``; an admitted request is counted, a rejected not."""
        ...

    async def aclose(self) -> None:
        """Release what the limiter holds."""
        ...


def whole_seconds(seconds: float) -> int:
    """Seconds rounded up to a whole number, as ``Retry-After`` and ``X-RateLimit-Reset`` want."""
    # Round away float noise first, so that e.g. 10.000000000001 s reports 10, not 11.
    return max(0, math.ceil(round(seconds, 6)))


def decide(
    windows: Sequence[Window], counts: Sequence[int], frees_in: Sequence[float], allowed: bool
) -> Decision:
    """Build a :class:`Decision` from each window's state after the decision.

    ``counts[i]`` is the number of requests window ``i`` holds (including this one if it was
    admitted); ``frees_in[i]`` is the seconds until its oldest request leaves it (0 if empty).
    """
    tightest = min(
        range(len(windows)),
        key=lambda i: (max(0, windows[i].limit - counts[i]), windows[i].limit),
    )
    retry_after = 0
    if not allowed:
        # Only the full windows block the request; once each has freed a slot, all admit it.
        blocking = [frees_in[i] for i, w in enumerate(windows) if counts[i] >= w.limit]
        retry_after = max(1, whole_seconds(max(blocking, default=0.0)))
    window = windows[tightest]
    return Decision(
        allowed=allowed,
        limit=window.limit,
        remaining=max(0, window.limit - counts[tightest]),
        reset=whole_seconds(frees_in[tightest]) if counts[tightest] else 0,
        retry_after=retry_after,
    )


def checked(windows: Sequence[Window]) -> tuple[Window, ...]:
    """``windows`` as a tuple; at least one, or a ValueError."""
    result = tuple(windows)
    if not result:
        raise ValueError("a rate limiter needs at least one window; with none, do not limit")
    return result


class MemoryRateLimiter:
    """Sliding-log limiter for one process.

    Memory stays bounded: a key keeps at most ``max(limit)`` timestamps (the newest ones are all
    any window needs to decide), and keys whose newest request is older than the largest window
    are dropped. Keys are ordered by their newest admission, so that pruning only ever looks at
    the front and costs amortised O(1) per request.
    """

    def __init__(
        self, windows: Sequence[Window], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._windows = checked(windows)
        self._clock = clock
        self._largest = max(w.seconds for w in self._windows)
        self._max_entries = max(w.limit for w in self._windows)
        self._logs: OrderedDict[str, list[float]] = OrderedDict()
        self._last_now = -math.inf

    def __len__(self) -> int:
        """Number of keys currently tracked (for tests and metrics)."""
        return len(self._logs)

    async def hit(self, key: str) -> Decision:
        # No await in here: on one event loop the whole decision is atomic.
        # Timestamps must not go backwards or the sorted logs break; time.monotonic never
        # does, an injected clock might.
        now = self._last_now = max(self._clock(), self._last_now)
        self._prune(now)

        entries = self._logs.get(key, [])
        # Entries no window can see any more (age >= largest window) are dead weight.
        del entries[: bisect_right(entries, now - self._largest)]

        counts: list[int] = []
        oldest: list[float | None] = []
        for window in self._windows:
            first = bisect_right(entries, now - window.seconds)
            counts.append(len(entries) - first)
            oldest.append(entries[first] if first < len(entries) else None)
        allowed = all(c < w.limit for c, w in zip(counts, self._windows, strict=True))

        if allowed:
            entries.append(now)
            if len(entries) > self._max_entries:
                del entries[0]
            self._logs[key] = entries
            self._logs.move_to_end(key)
            counts = [c + 1 for c in counts]
            oldest = [now if o is None else o for o in oldest]

        frees_in = [
            0.0 if o is None else o + w.seconds - now
            for o, w in zip(oldest, self._windows, strict=True)
        ]
        return decide(self._windows, counts, frees_in, allowed)

    def _prune(self, now: float) -> None:
        horizon = now - self._largest
        while self._logs:
            key, entries = next(iter(self._logs.items()))
            if entries and entries[-1] > horizon:
                break
            del self._logs[key]

    async def aclose(self) -> None:
        self._logs.clear()
