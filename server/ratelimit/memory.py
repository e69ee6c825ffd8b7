"""The in-process rate-limit backend: a sliding log per key (see :mod:`server.ratelimit.base`).

Exact for one process, and what the Redis backend counts in while Redis is down.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence

from server.ratelimit.base import Decision, Window, checked, decide

#: Entries of this backend are named ``m<timestamp>``; Redis ones are hex ids.
ENTRY_PREFIX = "m"


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
        return decide(self._windows, counts, frees_in, allowed, f"{ENTRY_PREFIX}{now!r}")

    async def forget(self, key: str, decision: Decision) -> None:
        if decision.entry is None or not decision.entry.startswith(ENTRY_PREFIX):
            return
        # Entries at one instant are interchangeable: removing any of them is removing this one.
        at = float(decision.entry.removeprefix(ENTRY_PREFIX))
        entries = self._logs.get(key)
        if entries is None:
            return
        index = bisect_left(entries, at)
        if index < len(entries) and entries[index] == at:
            del entries[index]

    def _prune(self, now: float) -> None:
        horizon = now - self._largest
        while self._logs:
            key, entries = next(iter(self._logs.items()))
            if entries and entries[-1] > horizon:
                break
            del self._logs[key]

    async def aclose(self) -> None:
        self._logs.clear()
