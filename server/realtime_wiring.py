"""Builds the realtime side of a process (broker, presence, hub) from settings.

Kept out of ``app.py`` so the composition root reads as a list of parts; this is the part
that knows which broker and presence registry the settings call for, and how the
websocket endpoint verifies tokens and board access.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from realtime import periodic
from realtime.broker import Broker, MemoryBroker, RedisBroker
from realtime.hub import Hub
from realtime.meters import NO_METERS, Meters
from realtime.presence import MemoryPresence, Presence
from realtime.redis_client import connect
from realtime.redis_presence import RedisPresence
from realtime.routes import Realtime
from realtime.session import AuthFailed, Identity
from server.auth.tokens import InvalidToken, decode_access_token
from server.board.stamps import BoardStamps, board_stamps
from server.settings import Settings
from storage import events
from storage.base import utcnow
from storage.database import Database
from storage.repositories import classrooms

if TYPE_CHECKING:
    from redis.asyncio import Redis

SWEEP_SECONDS = 5.0
PRUNE_SECONDS = 3600.0


@dataclass
class RealtimeParts:
    broker: Broker
    presence: Presence
    hub: Hub
    endpoint: Realtime
    _tasks: list[periodic.Task] | None = None

    async def start(self, database: Database, retention_days: int) -> None:
        await self.presence.start()
        await self.broker.start(self.hub.handlers)

        async def prune() -> None:
            async with database.transaction() as session:
                await events.prune(session, older_than=utcnow() - timedelta(days=retention_days))

        self._tasks = [
            # The safety net: whatever a lost notice kept from us arrives within seconds.
            periodic.run_every(SWEEP_SECONDS, self.hub.resync, "realtime-resync"),
            periodic.run_every(SWEEP_SECONDS, self.hub.refresh_presence, "presence-refresh"),
            periodic.run_every(PRUNE_SECONDS, prune, "event-retention"),
        ]

    async def stop(self) -> None:
        for task in self._tasks or []:
            await periodic.cancel(task)
        await self.broker.stop()
        await self.presence.stop()


def build_realtime(
    settings: Settings, database: Database, redis: Redis | None, *, meters: Meters | None = None
) -> RealtimeParts:
    """The realtime parts: on ``redis`` (the process's one client) when given, else in-process."""
    secret_key = settings.secret_key
    assert secret_key is not None
    process_id = uuid.uuid4().hex
    broker: Broker
    presence: Presence
    if redis is not None:
        broker = RedisBroker(redis, process_id=process_id)
        presence = RedisPresence(redis, process_id=process_id)
    else:
        broker, presence = MemoryBroker(), MemoryPresence()
    hub = Hub(database, broker, presence, meters=meters or NO_METERS)

    def verify(token: str) -> Identity:
        try:
            principal = decode_access_token(token, secret_key=secret_key)
        except InvalidToken:
            raise AuthFailed from None
        return Identity(
            user_id=principal.user_id,
            name=principal.name,
            role=principal.role,
            expires_at=principal.expires_at.timestamp(),
        )

    async def authorize_board(classroom_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        async with database.reader() as session:
            return await classrooms.is_teacher(session, classroom_id, user_id)

    endpoint = Realtime(
        hub,
        verify,
        authorize_board,
        settings.allowed_origins,
        auth_timeout=settings.ws_auth_timeout_seconds,
        outbox_limit=settings.ws_outbox_limit,
    )
    return RealtimeParts(broker, presence, hub, endpoint)


@dataclass(frozen=True)
class Offline:
    """What a command-line tool writes through, as a serving process would."""

    database: Database
    publish: events.Publish
    board_stamps: BoardStamps


@asynccontextmanager
async def offline_services(settings: Settings) -> AsyncIterator[Offline]:
    """A database, a ``Publish`` and the board stamps for command-line tools (``demo``,
    ``import-progress``).

    Their events are stored like any others and announced through the broker: with Redis,
    every serving process hears them at once; without, the serving process's sweep finds
    them in the store within seconds. With Redis their board writes invalidate the shared
    stamps; without, a serving process's stamps expire on their own (server/board/stamps.py).
    """
    database = Database(settings.database_url, pool_size=2, max_overflow=2)
    redis = connect(settings.redis_url) if settings.redis_url else None
    realtime = build_realtime(settings, database, redis)
    await realtime.broker.start(realtime.hub.handlers)
    try:
        yield Offline(database, realtime.hub.publish, board_stamps(redis))
    finally:
        await realtime.broker.stop()
        if redis is not None:
            await redis.aclose()
        await database.dispose()
