"""The one Redis client of a process, and the one rule for what a Redis outage is.

Everything in a process that talks to Redis (request limits, the login throttle, board stamps
and the board cache, presence, the pub/sub broker) shares the client :func:`connect` makes, so
a process has one connection pool with one timeout policy. ``create_app`` (or a command-line
tool's ``offline_services``) makes it, hands it to each part and closes it on shutdown.

The timeout policy (docs/operations.md, "Redis"):

* connecting gives up after :data:`CONNECT_TIMEOUT_SECONDS`, a command's reply after
  :data:`COMMAND_TIMEOUT_SECONDS`: a Redis that stops answering costs a caller one fallback,
  never a hung request;
* a command that fails with a connection error is retried once, on a fresh connection, after
  a short backoff (redis-py's ``Retry`` with ``ExponentialWithJitterBackoff``): that is what
  makes a pooled connection that Redis closed meanwhile (a restart, ``CLIENT KILL``, an idle
  timeout) invisible. Timeouts are not retried: a command that timed out may have run (a
  rate-limit hit is not idempotent), and a retry would double the wait;
* an idle connection is pinged before reuse after :data:`HEALTH_CHECK_SECONDS`, and TCP
  keepalive (redis-py's default) notices a peer that vanished;
* the pool opens at most :data:`MAX_CONNECTIONS`; a command past them waits for one to come
  back (redis-py's ``BlockingConnectionPool``), up to :data:`CONNECT_TIMEOUT_SECONDS`. The
  plain pool refuses at once, which a burst (a bell's reconnections: presence, board
  stamps, publishes of a thousand sockets at once) took for an outage.

The one exception is the pub/sub connection (``client.pubsub()``, realtime/broker.py): it
comes from the same pool and settings, but waiting for the next message is not subject to
the command timeout, since a quiet channel is not an outage: the broker waits in slices of
its own, shorter than the command timeout, and an empty slice is no error.

The outage rule (:func:`redis_down`) is written here once. Every concern catches exactly these
exceptions and applies its own documented fallback; anything else, above all a
``ResponseError`` (a wrong command or type, a broken script), is a bug and propagates.
:class:`Outage` is the one bookkeeping of an outage: one warning when it starts, one line when
it ends, and Redis left alone for :data:`RETRY_SECONDS` after a failure.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("tandem.redis")

CONNECT_TIMEOUT_SECONDS = 1.0
COMMAND_TIMEOUT_SECONDS = 2.0
HEALTH_CHECK_SECONDS = 15
MAX_CONNECTIONS = 100  # redis-py's default
#: After a failure, a concern uses its fallback for this long before trying Redis again.
RETRY_SECONDS = 1.0

# redis-py takes about a quarter of a second to import, an eighth of a start, and a process
# without TANDEM_REDIS_URL never uses it. So it is imported here, by the two functions below,
# which run only once a client exists; every other module names its types under
# TYPE_CHECKING (tests/server/test_startup.py pins that a plain start does not import it).


@functools.cache
def redis_down() -> tuple[type[Exception], ...]:
    """What means "Redis is down" for every concern (``except redis_down()``), and nothing
    else does:

    - ``ConnectionError`` (refused, reset, closed; includes ``BusyLoadingError``, a Redis still
      loading its data after a restart, and ``AuthenticationError``, a misconfigured password),
    - ``TimeoutError`` (no connection or no reply in time),
    - ``ReadOnlyError`` (we reached a replica, e.g. during a failover: writes cannot land),
    - ``OutOfMemoryError`` (Redis at ``maxmemory`` refuses writes: its state, not our command),
    - ``OSError`` (socket errors redis-py did not wrap).

    ``ReadOnlyError`` and ``OutOfMemoryError`` are ``ResponseError`` subclasses, the only ones
    that describe the server's state rather than a fault of ours.
    """
    from redis import exceptions  # noqa: PLC0415 - see above

    return (
        exceptions.ConnectionError,
        exceptions.TimeoutError,
        exceptions.ReadOnlyError,
        exceptions.OutOfMemoryError,
        OSError,
    )


def connect(url: str, *, name: str | None = None) -> Redis:
    """The process's Redis client (one connection pool) for ``url``, with the policy above.

    ``name`` is sent as ``CLIENT SETNAME`` on every connection, so that ``CLIENT LIST`` tells
    processes apart; by default ``tandem-<pid>-<random>``.
    """
    from redis.asyncio import BlockingConnectionPool, Redis  # noqa: PLC0415 - see redis_down
    from redis.asyncio.retry import Retry  # noqa: PLC0415
    from redis.backoff import ExponentialWithJitterBackoff  # noqa: PLC0415
    from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: PLC0415

    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=CONNECT_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.01, cap=0.1),
            retries=1,
            supported_errors=(RedisConnectionError,),
        ),
        client_name=name or f"tandem-{os.getpid()}-{secrets.token_hex(3)}",
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the pool


class Outage:
    """One concern's view of a Redis outage: when to try Redis, and logging it once.

    ``concern`` names what uses Redis, ``fallback`` what it does meanwhile; both go into the
    one warning an outage gets. ``retry_seconds`` (default :data:`RETRY_SECONDS`, read at call
    time) is how long a failure keeps callers off Redis, so that an outage does not add a
    connect timeout to every request.
    """

    def __init__(self, concern: str, fallback: str, *, retry_seconds: float | None = None) -> None:
        self._concern = concern
        self._fallback = fallback
        self._retry_seconds = retry_seconds
        self._retry_at: float | None = None  # None while Redis is believed up

    @property
    def down(self) -> bool:
        return self._retry_at is not None

    def worth_trying(self) -> bool:
        return self._retry_at is None or time.monotonic() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        if self._retry_at is None:
            log.warning(
                "Redis unreachable for %s (%s: %s); %s until it answers again",
                self._concern,
                type(exc).__name__,
                exc,
                self._fallback,
            )
        wait = RETRY_SECONDS if self._retry_seconds is None else self._retry_seconds
        self._retry_at = time.monotonic() + wait

    def succeeded(self) -> None:
        if self._retry_at is not None:
            self._retry_at = None
            log.info("Redis reachable again for %s", self._concern)
