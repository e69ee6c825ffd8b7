"""One websocket connection at run time: carries out its session's actions.

Between the sans-I/O :class:`~realtime.session.Session` and the socket: joins and leaves
go to the hub, frames go to the connection's outbox, and :meth:`Connection.write` drains
the outbox to the socket (one writer per connection, so a slow socket only slows itself).
Where the server offers a ``direct`` write, a frame for an idle socket skips the queue.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from realtime import protocol
from realtime.hub import Hub, Subscription
from realtime.outbox import DEFAULT_LIMIT, Direct, Outbox
from realtime.presence import PresenceUser
from realtime.session import Action, Close, Join, Leave, Send, Session
from storage.outage import is_unreachable

log = logging.getLogger("tandem.ws")

UNREACHABLE_MESSAGE = "the database cannot be reached; subscribe again shortly"

Authorize = Callable[[uuid.UUID, uuid.UUID], Awaitable[bool]]


class Connection:
    def __init__(
        self,
        session: Session,
        hub: Hub,
        authorize_board: Authorize,
        *,
        outbox_limit: int | None = None,
        direct: Direct | None = None,
    ) -> None:
        self.session = session
        self.hub = hub
        self.authorize_board = authorize_board
        self.id = uuid.uuid4().hex
        limit = DEFAULT_LIMIT if outbox_limit is None else outbox_limit
        self.outbox = Outbox(limit, direct)
        self.subscriptions: dict[str, Subscription] = {}
        self._open = True
        hub.meters.websocket_opened()

    async def apply(self, actions: Sequence[Action]) -> Close | None:
        """Carry out ``actions``; the :class:`Close` among them, if any, for the caller."""
        for action in actions:
            match action:
                case Send(frame=frame):
                    self.outbox.force(frame)
                case Join():
                    await self._join(action)
                case Leave(store_channel=store_channel):
                    subscription = self.subscriptions.pop(store_channel, None)
                    if subscription is not None:
                        await self.hub.unsubscribe(subscription)
                case Close():
                    return action
        return None

    async def _join(self, join: Join) -> None:
        identity = self.session.identity
        assert identity is not None
        if join.again:
            held = self.subscriptions.get(join.store_channel)
            current = (
                self.hub.current(join.store_channel) if held is None else self.hub.seq_of(held)
            )
            self.outbox.force(protocol.subscribed(join.channel, current, join.ref))
            return
        try:
            await self._subscribe(join, identity.user_id, identity.name)
        except Exception as error:
            # Refuse this subscribe and keep the connection either way (§7). The database
            # being unreachable (an outage, or a pool exhausted by a reconnect storm) is
            # the same SERVICE_UNAVAILABLE a REST request gets, and the client retries;
            # anything else is a fault of ours, like a 500.
            if is_unreachable(error):
                log.warning("subscribe to %s: database unreachable: %r", join.store_channel, error)
                code, message = "SERVICE_UNAVAILABLE", UNREACHABLE_MESSAGE
            else:
                log.exception("subscribe to %s failed", join.store_channel)
                code, message = "INTERNAL_ERROR", "something went wrong on our side"
            await self.apply([self.session.refused(join.store_channel, code, message, join.ref)])

    async def _subscribe(self, join: Join, user_id: uuid.UUID, name: str) -> None:
        member = None
        authorize = None
        classroom_id = join.classroom_id
        if classroom_id is not None:

            async def authorize() -> bool:
                return await self.authorize_board(classroom_id, user_id)

            member = PresenceUser(id=str(user_id), name=name)
        subscription = await self.hub.subscribe(
            self.outbox,
            client_channel=join.channel,
            store_channel=join.store_channel,
            since=join.since,
            ref=join.ref,
            member=member,
            connection_id=self.id,
            authorize=authorize,
            on_end=self._ended,
        )
        if subscription is None:
            refusal = self.session.refused(
                join.store_channel, "NOT_FOUND", "no such board", join.ref
            )
            await self.apply([refusal])
        elif not subscription.ended:
            self.subscriptions[join.store_channel] = subscription

    def _ended(self, subscription: Subscription) -> None:
        """The hub ended a subscription (its teacher was removed from the classroom)."""
        if self.subscriptions.get(subscription.store_channel) is subscription:
            del self.subscriptions[subscription.store_channel]
        self.session.ended(subscription.store_channel)

    async def write(self, send: Callable[[str], Awaitable[None]]) -> None:
        """Send queued frames until the outbox closes."""
        while frames := await self.outbox.take():
            for frame in frames:
                await send(frame)
            if self.outbox.overflowed:
                # This subscriber fell too far behind: tell it to re-read, never skip.
                for subscription in self.subscriptions.values():
                    current = self.hub.seq_of(subscription)
                    self.outbox.force(protocol.reset(subscription.client_channel, current))
                self.hub.meters.reset_sent(len(self.subscriptions))
                self.outbox.overflowed = False

    async def close(self) -> None:
        if self._open:
            self._open = False
            self.hub.meters.websocket_closed()
        self.outbox.close()
        subscriptions, self.subscriptions = self.subscriptions, {}
        for subscription in subscriptions.values():
            await self.hub.unsubscribe(subscription)
