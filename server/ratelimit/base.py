"""The rate-limit interface every backend implements, and the arithmetic they share.

Limits are several sliding windows enforced together, e.g. ``100/minute;20/10 seconds``
(see :func:`parse_windows`). A hit is admitted only if *every* window admits it, and a
rejected hit is counted in *no* window, so a client hammering a full short window does not
also burn through its long-window budget. Windows slide: backends keep a log of admission
times per key, so no interval of a window's length ever admits more than that window's limit
(fixed buckets would allow twice the limit across a bucket boundary).

The backends (one module each, like litestar's ``channels/backends/``):

* :mod:`server.ratelimit.memory` counts in the process. It is exact for a single process and
  is the fallback whenever Redis is down.
* :mod:`server.ratelimit.redis` counts in one Redis sorted set per key, so all processes share
  one budget; while Redis is down it counts in memory (contract §2).

Both request budgets (:mod:`server.edge`) and the login throttle (:mod:`server.auth.throttle`)
use them, so the sliding window and its fallback exist once.

We do not use the ``limits`` package for the counting on purpose: ``limits`` evaluates one
window per call, so deciding on several windows takes several round trips that are not atomic
together, and a request rejected by one window would already have been counted by the windows
checked before it. Its parser reads the settings' syntax.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import limits


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

    ``entry`` names the admitted hit in its backend, for :meth:`RateLimiter.forget`; it is None
    for a rejected one and takes no part in comparisons.
    """

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int
    entry: str | None = field(default=None, compare=False)


class RateLimiter(Protocol):
    """Counts requests per key (e.g. ``"user:<uuid>"`` or ``"ip:1.2.3.4"``)."""

    async def hit(self, key: str) -> Decision:
        """Decide on one request for ``key``; an admitted request is counted, a rejected not.

        Atomic: concurrent hits on one key (from any process sharing the backend) never admit
        more than the windows allow.
        """
        ...

    async def forget(self, key: str, decision: Decision) -> None:
        """Un-count the admitted hit ``decision`` (e.g. a login that turned out right).

        Best effort: a hit that already left its windows, or a backend that cannot be reached,
        leaves the counts as they are, which only ever errs on the strict side.
        """
        ...

    async def aclose(self) -> None:
        """Release what the limiter holds."""
        ...


def whole_seconds(seconds: float) -> int:
    """Seconds rounded up to a whole number, as ``Retry-After`` and ``X-RateLimit-Reset`` want."""
    # Round away float noise first, so that e.g. 10.000000000001 s reports 10, not 11.
    return max(0, math.ceil(round(seconds, 6)))


def decide(
    windows: Sequence[Window],
    counts: Sequence[int],
    frees_in: Sequence[float],
    allowed: bool,
    entry: str | None = None,
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
        entry=entry if allowed else None,
    )


def checked(windows: Sequence[Window]) -> tuple[Window, ...]:
    """``windows`` as a tuple; at least one, or a ValueError."""
    result = tuple(windows)
    if not result:
        raise ValueError("a rate limiter needs at least one window; with none, do not limit")
    return result
