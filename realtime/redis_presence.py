"""Presence shared by processes on one Redis (see :mod:`realtime.presence` for the shape).

Its layout::

    {prefix}ch:{channel}       hash   "{process_id}:{connection_id}" -> {"id":…,"name":…}
    {prefix}proc:{process_id}  string, expires after process_ttl_seconds

A process that crashes cannot clean up after itself, so its fields are only believed while
its liveness key exists: a heartbeat renews the key every ``heartbeat_seconds``, and readers
ignore (and delete) fields whose process key has expired. A crashed process's teachers thus
vanish within the TTL. Channel hashes get the same TTL, renewed by every live process that has
a connection in them, so a channel nobody reads again after a crash does not linger forever.

Outage policy: while Redis is down (:func:`realtime.redis_client.redis_down`), presence
degrades to per-process and never fails the websocket: ``join``/``leave``/``members`` log one
warning per outage and fall back to this process's own connections, which each process mirrors
locally. Its own connections are always read from that mirror, never from Redis, so what a
process reports about itself is right even while Redis lags. After a failure, calls leave Redis
alone for ``retry_seconds`` so that an outage does not add a connect timeout to every frame; the
heartbeat keeps probing, and each beat rewrites this process's whole state (liveness key, current
connections, and removals that failed), which heals a Redis that restarted empty, a ``leave``
that never reached it, and fields a reader deleted while our key had lapsed.

All processes sharing a prefix must use the same ``process_ttl_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import msgspec

from realtime import periodic
from realtime.presence import PresenceUser, Roster, distinct_sorted
from realtime.redis_client import Outage, redis_down

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

log = logging.getLogger("tandem.presence")

_encode_user = msgspec.json.Encoder().encode
_decode_user = msgspec.json.Decoder(PresenceUser).decode


class RedisPresence:
    """Presence shared by every process on one Redis; see the module docstring for the layout."""

    def __init__(
        self,
        redis: Redis,
        *,
        process_id: str,
        prefix: str = "tandem:presence:",
        heartbeat_seconds: float = 5.0,
        process_ttl_seconds: float = 15.0,
        retry_seconds: float | None = None,
    ) -> None:
        if not process_id or ":" in process_id:
            # Fields are "{process_id}:{connection_id}", split at the first colon.
            raise ValueError(f"process_id must be non-empty and without ':', got {process_id!r}")
        if not 0 < heartbeat_seconds < process_ttl_seconds:
            raise ValueError("the liveness key must outlive the interval between heartbeats")
        self._redis = redis
        self._process_id = process_id
        self._prefix = prefix
        self._heartbeat_seconds = heartbeat_seconds
        self._ttl_ms = max(1, round(process_ttl_seconds * 1000))
        self._outage = Outage(
            "presence", "showing this process's own connections", retry_seconds=retry_seconds
        )
        self._roster = Roster()
        # Fields whose HDEL failed during an outage, by channel: the next beat deletes them,
        # or other processes would show a departed teacher for as long as we live.
        self._unremoved: dict[str, set[str]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def process_id(self) -> str:
        return self._process_id

    def channel_key(self, channel: str) -> str:
        return f"{self._prefix}ch:{channel}"

    def process_key(self, process_id: str) -> str:
        return f"{self._prefix}proc:{process_id}"

    def _field(self, connection_id: str) -> str:
        return f"{self._process_id}:{connection_id}"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.create_task(
            self._heartbeat(), name=f"presence-heartbeat-{self._process_id}"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        await periodic.cancel(task)  # asks again if a Redis call swallows the cancellation
        channels = {
            channel: {self._field(connection_id) for connection_id in connections}
            for channel, connections in self._roster.snapshot().items()
        }
        for channel, fields in self._unremoved.items():
            channels.setdefault(channel, set()).update(fields)
        self._roster.clear()
        self._unremoved.clear()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, fields in channels.items():
                    pipe.hdel(self.channel_key(channel), *fields)
                pipe.delete(self.process_key(self._process_id))
                await pipe.execute()
        except redis_down() as exc:
            # Nothing will retry: the other processes drop our fields once our key expires.
            log.warning("presence: could not remove this process's entries from Redis: %s", exc)

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:
                # beat() absorbs outages, so this is a bug. A dead heartbeat would make every
                # teacher on this process vanish for the others within the TTL: log and go on.
                log.exception("presence: heartbeat failed; trying again next beat")
            await asyncio.sleep(self._heartbeat_seconds)

    async def beat(self) -> bool:
        """One heartbeat: renew this process's key and rewrite its state; False if Redis is down.

        Always tries Redis, whatever the retry interval: it is how recovery is noticed.
        """
        unremoved = {channel: set(fields) for channel, fields in self._unremoved.items()}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                self._queue_liveness(pipe)
                for channel, fields in unremoved.items():
                    pipe.hdel(self.channel_key(channel), *fields)
                for channel, connections in self._roster.snapshot().items():
                    key = self.channel_key(channel)
                    pipe.hset(
                        key,
                        mapping={
                            self._field(connection_id): _encode_user(user)
                            for connection_id, user in connections.items()
                        },
                    )
                    pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()
        except redis_down() as exc:
            self._redis_failed("renew presence", exc)
            return False
        for channel, fields in unremoved.items():
            # Only what this beat sent: a leave may have failed meanwhile and added more.
            left = self._unremoved.get(channel)
            if left is not None:
                left -= fields
                if not left:
                    del self._unremoved[channel]
        self._redis_ok()
        return True

    # -- the hub's calls -------------------------------------------------------------------

    async def join(self, channel: str, connection_id: str, user: PresenceUser) -> None:
        self._roster.add(channel, connection_id, user)
        field = self._field(connection_id)
        self._forget_unremoved(channel, field)
        if self._redis_skipped():
            return  # the next beat writes it
        key = self.channel_key(channel)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                # Liveness first: a reader must never see our field without our key, or it
                # would delete the field as a dead process's (before start()'s first beat too).
                self._queue_liveness(pipe)
                pipe.hset(key, field, _encode_user(user))
                pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()
        except redis_down() as exc:
            self._redis_failed("join", exc)
            return
        self._redis_ok()

    async def leave(self, channel: str, connection_id: str) -> None:
        if not self._roster.remove(channel, connection_id):
            return
        field = self._field(connection_id)
        if self._redis_skipped():
            self._unremoved.setdefault(channel, set()).add(field)
            return
        try:
            await self._redis.hdel(self.channel_key(channel), field)
        except redis_down() as exc:
            self._unremoved.setdefault(channel, set()).add(field)
            self._redis_failed("leave", exc)
            return
        self._redis_ok()

    async def members(self, channel: str) -> list[PresenceUser]:
        own = self._roster.users(channel)
        if self._redis_skipped():
            return distinct_sorted(own)
        try:
            others = await self._other_processes_users(channel)
        except redis_down() as exc:
            self._redis_failed("read members", exc)
            return distinct_sorted(own)
        self._redis_ok()
        return distinct_sorted([*own, *others])

    async def _other_processes_users(self, channel: str) -> list[PresenceUser]:
        """Users of live other processes on ``channel``: two round trips, three on cleanup."""
        key = self.channel_key(channel)
        entries: dict[bytes | str, bytes | str] = await self._redis.hgetall(key)
        by_process: dict[str, list[tuple[str, bytes | str]]] = {}
        for raw_field, value in entries.items():
            field = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
            process_id, separator, _ = field.partition(":")
            # Our own connections come from the roster, which is right even when a write to
            # Redis failed or has not happened yet.
            if separator and process_id != self._process_id:
                by_process.setdefault(process_id, []).append((field, value))
        if not by_process:
            return []
        process_ids = list(by_process)
        alive: list[bytes | str | None] = await self._redis.mget(
            [self.process_key(process_id) for process_id in process_ids]
        )
        users: list[PresenceUser] = []
        dead: list[str] = []
        for process_id, flag in zip(process_ids, alive, strict=True):
            if flag is None:
                dead.extend(field for field, _ in by_process[process_id])
                continue
            for field, value in by_process[process_id]:
                try:
                    users.append(_decode_user(value))
                except msgspec.DecodeError as exc:
                    log.warning("presence: ignoring malformed entry %s in %s: %s", field, key, exc)
        if dead:
            # A crashed process never deletes its fields, and nobody else knows them: readers
            # clean up as they go.
            await self._redis.hdel(key, *dead)
        return users

    # -- outage bookkeeping ----------------------------------------------------------------

    def _queue_liveness(self, pipe: Pipeline) -> None:
        pipe.set(self.process_key(self._process_id), b"1", px=self._ttl_ms)

    def _forget_unremoved(self, channel: str, field: str) -> None:
        fields = self._unremoved.get(channel)
        if fields is not None:
            fields.discard(field)
            if not fields:
                del self._unremoved[channel]

    def _redis_skipped(self) -> bool:
        return not self._outage.worth_trying()

    def _redis_failed(self, action: str, exc: Exception) -> None:
        log.debug("presence: %s failed: %s", action, exc)
        self._outage.failed(exc)

    def _redis_ok(self) -> None:
        self._outage.succeeded()
