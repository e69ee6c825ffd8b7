"""Which teachers are connected to each board channel, on every process (contract §7 "Presence").

The hub calls :meth:`Presence.join` and :meth:`Presence.leave` when a websocket subscribes to or
unsubscribes from a board channel, and :meth:`Presence.members` to build the
``{"type":"presence","channel":C,"users":[...]}`` frame. Members are distinct users sorted by
``(name, id)``: a teacher with two tabs, or connected to two processes, appears once.

Two implementations share that shape: :class:`MemoryPresence` here, for a single process
without Redis, where its own connections are the whole truth; and
:class:`realtime.redis_presence.RedisPresence` for processes sharing one Redis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PresenceUser:
    """A connected teacher, as the presence frame shows them."""

    id: str
    name: str


class Presence(Protocol):
    """The presence registry the hub talks to."""

    async def start(self) -> None:
        """Begin background work (the heartbeat); calling it again changes nothing."""

    async def stop(self) -> None:
        """Stop background work and remove this process's connections."""

    async def join(self, channel: str, connection_id: str, user: PresenceUser) -> None:
        """Record that ``connection_id`` (of ``user``) is subscribed to ``channel``."""

    async def leave(self, channel: str, connection_id: str) -> None:
        """Forget ``connection_id`` on ``channel``; unknown connections are ignored."""

    async def members(self, channel: str) -> list[PresenceUser]:
        """Distinct users connected to ``channel`` on any process, sorted by (name, id)."""


def distinct_sorted(users: Iterable[PresenceUser]) -> list[PresenceUser]:
    by_id: dict[str, PresenceUser] = {}
    for user in users:
        seen = by_id.get(user.id)
        # Two connections of one user may carry different names (a rename between them). Keep
        # the smaller one so that every process, whatever order it reads in, shows the same.
        if seen is None or user.name < seen.name:
            by_id[user.id] = user
    return sorted(by_id.values(), key=lambda user: (user.name, user.id))


class Roster:
    """This process's own connections: channel -> connection id -> user."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[str, PresenceUser]] = {}

    def add(self, channel: str, connection_id: str, user: PresenceUser) -> None:
        self._channels.setdefault(channel, {})[connection_id] = user

    def remove(self, channel: str, connection_id: str) -> bool:
        """Remove a connection; False if it was not there."""
        connections = self._channels.get(channel)
        if connections is None or connections.pop(connection_id, None) is None:
            return False
        if not connections:
            # Only channels with someone in them stay, so the heartbeat's work tracks the load.
            del self._channels[channel]
        return True

    def users(self, channel: str) -> list[PresenceUser]:
        return list(self._channels.get(channel, {}).values())

    def snapshot(self) -> dict[str, dict[str, PresenceUser]]:
        return {channel: dict(connections) for channel, connections in self._channels.items()}

    def clear(self) -> None:
        self._channels.clear()


class MemoryPresence:
    """Presence for a single process: its own connections are everyone's."""

    def __init__(self) -> None:
        self._roster = Roster()

    async def start(self) -> None:
        """Nothing to do: there is no other process to tell we are alive."""

    async def stop(self) -> None:
        self._roster.clear()

    async def join(self, channel: str, connection_id: str, user: PresenceUser) -> None:
        self._roster.add(channel, connection_id, user)

    async def leave(self, channel: str, connection_id: str) -> None:
        self._roster.remove(channel, connection_id)

    async def members(self, channel: str) -> list[PresenceUser]:
        return distinct_sorted(self._roster.users(channel))
