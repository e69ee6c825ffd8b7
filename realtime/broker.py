"""Brokers wake processes up when events are committed: in-process, or Redis pub/sub.

Both have one shape (``start`` with the hub's handlers, ``publish``, ``stop``), like the
backends of ``encode/broadcaster`` and ``litestar.channels``. A broker carries *notices*
("channel C has event N, here is its frame"; "presence on C changed"); the stored events
stay the truth, so a notice lost to a Redis outage is made good from the event store.

The Redis broker uses the process's one Redis client (realtime/redis_client.py): it publishes
through its pool, and holds one pub/sub connection from that same pool (``client.pubsub()``),
on one Redis channel, whatever the number of sockets. Waiting for the next message is not
subject to the client's command timeout (a quiet channel is not an outage): it waits in
slices of :data:`LISTEN_SLICE_SECONDS`, and an empty slice is no error. Everything else on
that connection keeps the client's timeouts, and each slice lets the client's health check
ping a connection that has been quiet for long.

Outage policy (contract §7): the fan-out recovers from the event store. Its supervisor loop
reconnects with backoff after Redis drops or restarts. redis-py may also reconnect the pub/sub
connection by itself (the client's one retry) and re-subscribe, silently; either way Redis
confirms every subscription, and each confirmation calls the hub's ``on_reconnect``, so the
events missed meanwhile are read from the store.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from realtime import periodic
from realtime.redis_client import Outage, redis_down

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger("tandem.broker")

REDIS_CHANNEL = "tandem:realtime"
BACKOFF_FIRST_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 2.0
LISTEN_SLICE_SECONDS = 1.0  # below the client's command timeout, whatever redis-py version


@dataclass(frozen=True, slots=True)
class EventNotice:
    channel: str
    seq: int
    frame: str


@dataclass(frozen=True, slots=True)
class PresenceNotice:
    channel: str


Notice = EventNotice | PresenceNotice


@dataclass(frozen=True, slots=True)
class Handlers:
    """What the hub wants done when notices arrive; ``on_event`` must not block."""

    on_event: Callable[[str, int, str], None]
    on_presence: Callable[[str], Awaitable[None]]
    on_reconnect: Callable[[], Awaitable[None]]


class Broker(Protocol):
    async def start(self, handlers: Handlers) -> None: ...

    async def publish(self, notices: Sequence[Notice]) -> None:
        """Announce ``notices`` to every process, this one included. Never raises for an
        outage: the events are stored, and the store is the truth."""

    async def stop(self) -> None: ...


class MemoryBroker:
    """One process: notices go straight to the hub."""

    def __init__(self) -> None:
        self._handlers: Handlers | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, handlers: Handlers) -> None:
        self._handlers = handlers

    async def publish(self, notices: Sequence[Notice]) -> None:
        if self._handlers is not None:
            _deliver(self._handlers, notices, self._tasks)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._handlers = None


def _deliver(handlers: Handlers, notices: Sequence[Notice], tasks: set[asyncio.Task[None]]) -> None:
    for notice in notices:
        if isinstance(notice, EventNotice):
            handlers.on_event(notice.channel, notice.seq, notice.frame)
        else:
            task = asyncio.create_task(_guarded(handlers.on_presence(notice.channel)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


async def _guarded(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        log.exception("a presence update failed")


def _encode(process_id: str, notices: Sequence[Notice]) -> str:
    """All notices of one commit in one message: the sender's id, then a line per notice.

    Tab-separated, frame last, so a receiver routes a notice without parsing its frame;
    frames are JSON, which never holds a raw newline, so lines split cleanly.
    """
    lines = [process_id]
    for notice in notices:
        if isinstance(notice, EventNotice):
            lines.append(f"e\t{notice.channel}\t{notice.seq}\t{notice.frame}")
        else:
            lines.append(f"p\t{notice.channel}")
    return "\n".join(lines)


def _decode(payload: str) -> tuple[str, list[Notice]]:
    process_id, *lines = payload.split("\n")
    notices: list[Notice] = []
    for line in lines:
        kind, _, rest = line.partition("\t")
        if kind == "e":
            channel, seq, frame = rest.split("\t", 2)
            notices.append(EventNotice(channel, int(seq), frame))
        elif kind == "p":
            notices.append(PresenceNotice(rest))
    return process_id, notices


class RedisBroker:
    """Several processes: notices travel over one Redis pub/sub channel.

    ``redis`` is the process's client; its owner closes it after :meth:`stop`.
    """

    def __init__(self, redis: Redis, *, process_id: str, channel: str = REDIS_CHANNEL) -> None:
        self.process_id = process_id
        self.channel = channel
        self._redis = redis
        self._own = (process_id + "\n").encode()
        # Publishing always tries (an event should reach the others within 1 s); this only
        # keeps an outage to one warning.
        self._outage = Outage("publishing events", "other processes read them from the store")
        self._handlers: Handlers | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def start(self, handlers: Handlers) -> None:
        self._handlers = handlers
        self._task = asyncio.create_task(self._supervise(), name="redis-broker")
        # Serve without waiting forever for Redis: the supervisor keeps trying.
        try:
            await asyncio.wait_for(self.connected.wait(), timeout=5)
        except TimeoutError:
            log.warning("Redis pub/sub not reachable yet; live events wait for it")

    async def publish(self, notices: Sequence[Notice]) -> None:
        if self._handlers is not None:
            # This process's own subscribers hear at once, without the Redis round trip.
            _deliver(self._handlers, notices, self._tasks)
        if not notices:
            return
        try:
            # A retried publish may arrive twice: harmless, receivers drop seen seqs.
            await self._redis.publish(self.channel, _encode(self.process_id, notices))
        except redis_down() as exc:
            # The events are stored; the other processes' sweep or reconnect catches up.
            self._outage.failed(exc)
        else:
            self._outage.succeeded()

    async def stop(self) -> None:
        await periodic.cancel(self._task)  # asks again if redis-py swallows the cancellation
        for task in list(self._tasks):
            task.cancel()

    async def _supervise(self) -> None:
        backoff = BACKOFF_FIRST_SECONDS
        while True:
            pubsub = self._redis.pubsub()
            try:
                await self._listen(pubsub)
            except redis_down() as exc:
                if self.connected.is_set():
                    log.warning("Redis pub/sub connection lost (%s); reconnecting", exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Never die silently (litestar issue 5008): log, back off, go on.
                log.exception("Redis broker loop failed; restarting it")
            finally:
                self.connected.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff * (0.5 + random.random()))  # noqa: S311 - jitter
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    async def _listen(self, pubsub: PubSub) -> None:
        await pubsub.subscribe(self.channel)
        confirmation = await pubsub.get_message(timeout=2)
        if confirmation is None or confirmation.get("type") != "subscribe":
            # The builtin, an OSError: one of redis_down(), so the supervisor reconnects.
            raise ConnectionError("no subscribe confirmation from Redis")
        assert self._handlers is not None
        await self._subscribed()
        while True:
            # An explicit timeout: None (an empty slice), never a TimeoutError. See above.
            message = await pubsub.get_message(timeout=LISTEN_SLICE_SECONDS)
            if message is None:
                continue
            if message.get("type") == "subscribe":
                # redis-py reconnected and re-subscribed by itself: notices may be lost.
                log.warning("Redis pub/sub reconnected by the client; resyncing")
                await self._subscribed()
                continue
            if message.get("type") != "message":
                continue
            payload: bytes = message["data"]
            if payload.startswith(self._own):
                continue  # our own: delivered locally already, not even decoded
            _, notices = _decode(payload.decode())
            _deliver(self._handlers, notices, self._tasks)

    async def _subscribed(self) -> None:
        self.connected.set()
        self.reconnects += 1
        assert self._handlers is not None
        # Whatever was committed while we were not listening is in the store: read it.
        await self._handlers.on_reconnect()
