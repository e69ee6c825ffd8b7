"""The login throttle: at most so many wrong guesses per email (contract §3).

Two counts per email, both over the same sliding window: attempts from one client address, and
attempts from all addresses together. The first stops a guesser at ``limit``; keying it by
address too means a classmate who knows your email cannot lock you out from another address.
The second, larger one (``limit_all_addresses``) caps what a guesser spread over many
addresses gets, at the price that such a guesser does lock the email out everywhere.

Each count is a rate limiter of :mod:`server.ratelimit` (memory, or Redis shared by every
process with the same fallback to memory while Redis is down), so the sliding window and the
outage policy are those of the request budgets.

Atomic: an attempt is counted *before* its password is checked (the limiter's atomic
increment-and-check), and un-counted when it turns out not to be a failure (a right password,
or a fault such as a database outage). So parallel logins cannot slip more than ``limit``
guesses past the check: an attempt in flight holds its place in the window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.ratelimit.base import Decision, RateLimiter, Window
from server.ratelimit.redis import rate_limiter

if TYPE_CHECKING:
    from redis.asyncio import Redis


def _identifiers(email: str, address: str) -> tuple[str, str]:
    """The keys of the (email, address) count and of the email's count across addresses."""
    # Hashed so Redis keys hold neither emails nor client addresses and stay short whatever a
    # client sends; the email is normalised so that changing its case buys no fresh budget.
    normalised = email.strip().lower()
    pair = hashlib.sha256(f"{normalised}\n{address}".encode()).hexdigest()
    return pair, hashlib.sha256(normalised.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """An attempt the throttle decided on: refused (``retry_after`` set) or counted."""

    retry_after: int | None
    counted: tuple[tuple[RateLimiter, str, Decision], ...] = ()


class LoginThrottle:
    """Refuses logins for an email from an address after ``limit`` attempts from it within
    ``minutes``, and from every address after ``limit_all_addresses`` from all of them, not
    counting the attempts that were not failures.

    Known and unknown emails are throttled alike, so the throttle reveals nothing about which
    accounts exist. A successful login un-counts only itself: it must not reset an attacker's
    budget.
    """

    def __init__(
        self,
        redis: Redis | None,
        *,
        limit: int = 10,
        limit_all_addresses: int = 50,
        minutes: int = 15,
        prefix: str = "tandem:login:",
    ) -> None:
        if limit < 1 or limit_all_addresses < 1 or minutes < 1:
            raise ValueError(
                "the login throttle needs limit >= 1, limit_all_addresses >= 1 and minutes >= 1"
            )
        seconds = minutes * 60.0
        self._per_address = rate_limiter(
            (Window(limit, seconds),), redis, prefix=prefix + "pair:", concern="the login throttle"
        )
        self._per_email = rate_limiter(
            (Window(limit_all_addresses, seconds),),
            redis,
            prefix=prefix + "email:",
            concern="the login throttle across addresses",
        )

    async def attempt(self, email: str, address: str) -> LoginAttempt:
        """Count an attempt at ``email`` from ``address``, or refuse it (nothing counted)."""
        pair, across = _identifiers(email, address)
        first = await self._per_address.hit(pair)
        if not first.allowed:
            return LoginAttempt(first.retry_after)
        second = await self._per_email.hit(across)
        if not second.allowed:
            await self._per_address.forget(pair, first)
            return LoginAttempt(second.retry_after)
        counted = ((self._per_address, pair, first), (self._per_email, across, second))
        return LoginAttempt(None, counted)

    async def not_a_failure(self, attempt: LoginAttempt) -> None:
        """Un-count ``attempt``: the password was right, or it was never checked."""
        for limiter, key, decision in attempt.counted:
            await limiter.forget(key, decision)

    async def aclose(self) -> None:
        await self._per_address.aclose()
        await self._per_email.aclose()
