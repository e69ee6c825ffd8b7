"""Local fan-out: each process's registry of which connections listen to which channel.

For every channel with a local subscriber the hub remembers ``delivered``, the seq of the
last event it fanned out. A notice for ``delivered + 1`` is fanned out at once, its frame
serialized once for all sockets; an older one is a duplicate and is dropped; a newer one
means notices were lost, and the hub reads the missing events from the store, in order.
That is what makes delivery gapless and once-only across Redis hiccups (contract §7).

Joining with ``since`` replays from the store while live events are *held* for the new
subscription, then releases them, so the subscriber sees ``subscribed``, presence, the
replay and the live events in seq order with nothing twice.

``delivered`` is this process's view, and it lags the store while a notice is in flight or
a catch-up waits for the database. A client that saw more on another process may resume
here with a ``since`` above it: the hub then asks the store. If the store has ``since``,
the events are kept and the client has them: no ``reset``, the subscription starts at
``since``. Each subscription has a *floor*, the seq its ``subscribed`` named, and is never
sent an event at or below it, nor a ``reset`` for a gap below it, so the late catch-up that
brings this process up to date sends the client nothing it has.

A teacher removed from a classroom (contract §8) is cut off by an event on the board's own
channel, ``teacher.removed``. Since every process fans a channel's events out in seq
order, the hub that reaches that event ends the teacher's subscriptions to the board
(``unsubscribed``, reason ``removed``) before it delivers anything later: no event
committed after the removal reaches them, on any process. A board subscription is
authorized only after it is registered (held), so a removal is either committed before
that check, which then refuses, or fanned out after it, which ends the subscription.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from realtime import protocol
from realtime.broker import Broker, EventNotice, Handlers, PresenceNotice
from realtime.meters import NO_METERS, Meters
from realtime.outbox import Outbox
from realtime.presence import Presence, PresenceUser
from storage import events, offload
from storage.database import Database

log = logging.getLogger("tandem.hub")

REPLAY_LIMIT = 1000  # more missed events than this: ``reset``, the client re-reads over REST
CATCH_UP_BATCH = 500
REPLAY_CACHE_ENTRIES = 64


@dataclass(eq=False, slots=True)
class Subscription:
    """One connection's interest in one channel."""

    outbox: Outbox
    client_channel: str
    store_channel: str
    member: PresenceUser | None
    connection_id: str
    held: list[tuple[int | None, str]] | None = field(default_factory=list)
    # While held: the newest presence frame shown to the channel, with its read's number.
    # It follows ``subscribed`` only if read after the set the subscribe sent itself: a
    # read started before this member joined lists the board without them.
    held_presence: tuple[int, str] | None = None
    # The client has every event up to here (its ``subscribed`` said so, or it re-reads
    # that far after the ``reset`` sent with it): a lagging process must not send them.
    floor: int = 0
    # Told when the hub ends the subscription itself (the teacher was removed).
    on_end: Callable[[Subscription], None] | None = None
    ended: bool = False


@dataclass(eq=False, slots=True)
class _Channel:
    delivered: int
    heard: int
    subscriptions: set[Subscription] = field(default_factory=set)
    catch_up: asyncio.Task[None] | None = None
    presence: list[PresenceUser] | None = None
    # Presence reads of this channel started, and the number of the newest one shown: two
    # reads (two notices, or a notice and a subscribe) may answer out of order, and the
    # set an earlier read found must not replace the one a later read showed.
    presence_reads: int = 0
    presence_shown: int = 0


class Hub:
    def __init__(
        self,
        database: Database,
        broker: Broker,
        presence: Presence,
        *,
        replay_limit: int = REPLAY_LIMIT,
        meters: Meters = NO_METERS,
    ) -> None:
        self._db = database
        self.meters = meters
        self._broker = broker
        self._presence = presence
        self._replay_limit = replay_limit
        self._channels: dict[str, _Channel] = {}
        self._opening: dict[str, asyncio.Task[_Channel]] = {}
        self._replaying: dict[tuple[str, int, int], asyncio.Future[list[str] | None]] = {}
        self._replayed: OrderedDict[tuple[str, int, int], list[str] | None] = OrderedDict()
        # The highest seq heard for a channel whose head is being read: that read may have
        # come before the event's commit, and the notice is not heard again.
        self._heard_while_opening: dict[str, int] = {}
        self._broker_connections = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def handlers(self) -> Handlers:
        return Handlers(self.on_event, self.on_presence, self._broker_connected)

    def current(self, store_channel: str) -> int:
        channel = self._channels.get(store_channel)
        return 0 if channel is None else channel.delivered

    def seq_of(self, subscription: Subscription) -> int:
        """The seq a subscription is at: every later event follows on it."""
        return max(self.current(subscription.store_channel), subscription.floor)

    def local_channels(self) -> list[str]:
        return list(self._channels)

    # -- subscribing --------------------------------------------------------------------

    async def subscribe(
        self,
        outbox: Outbox,
        *,
        client_channel: str,
        store_channel: str,
        since: int | None,
        ref: protocol.Ref,
        member: PresenceUser | None,
        connection_id: str,
        authorize: Callable[[], Awaitable[bool]] | None = None,
        on_end: Callable[[Subscription], None] | None = None,
    ) -> Subscription | None:
        """Join a channel: queue ``subscribed``, presence, the replay, then live events.

        ``authorize`` (a board's membership check) runs once the subscription is
        registered and its events are held, so no removal can slip between the check and
        the subscription (see the module docstring); None when it says no.
        """
        channel = await self._open(store_channel)
        subscription = Subscription(
            outbox, client_channel, store_channel, member, connection_id, on_end=on_end
        )
        channel.subscriptions.add(subscription)
        current = subscription.floor = channel.delivered
        if authorize is not None:
            try:
                allowed = await authorize()
            except BaseException:
                self._drop(channel, subscription)
                raise
            if not allowed or subscription.ended:
                self._drop(channel, subscription)
                return None
        # Presence is joined and the missed events are read before ``subscribed`` goes out:
        # if the store does not answer (an outage, a terminated connection, a pool
        # exhausted by a reconnect storm), the subscribe is refused as a whole and the
        # client asks again with the same ``since``, rather than being told ``reset`` for
        # events that are still kept (§7). Live events and other members' presence that
        # arrive meanwhile are held in ``subscription.held``, behind the replay.
        users: list[PresenceUser] | None = None
        read = 0
        try:
            if member is not None:
                await self._presence.join(store_channel, connection_id, member)
                read, users = await self._members(store_channel, channel)
            replay: list[str] = []
            if since is not None:
                current, replay = await self._replay(channel, subscription, since, current)
                subscription.floor = current
        except BaseException:
            self._drop(channel, subscription)
            if member is not None:
                await asyncio.shield(self._presence.leave(store_channel, connection_id))
            raise
        if subscription.ended:
            # Removed from the classroom meanwhile, before anything was sent for it: a
            # refusal, as if the check had come after the removal. Its presence may have
            # been left before it was joined; leave again.
            self._drop(channel, subscription)
            if member is not None:
                await asyncio.shield(self._left(subscription))
            return None
        outbox.force(protocol.subscribed(client_channel, current, ref))
        sent: tuple[int, str] | None = None  # the presence frame sent here, with its read
        try:
            if users is not None:
                sent = read, protocol.presence(client_channel, _users(users))
                outbox.force(sent[1])
                # The others here are told now; the notice is for other processes (ours
                # then finds ``channel.presence`` up to date and sends nothing twice). After
                # a replay read the set may have changed meanwhile: tell them the current one.
                if since is not None:
                    read, users = await self._members(store_channel, channel)
                self._show_presence(channel, users, read)
                await self._broker.publish([PresenceNotice(store_channel)])
            for frame in replay:
                outbox.force(frame)
        finally:
            self._release(subscription, current, sent)
        self.meters.subscribed()
        return subscription

    @staticmethod
    def _release(subscription: Subscription, current: int, sent: tuple[int, str] | None) -> None:
        """Send what was held behind ``subscribed`` (at ``current``) and go live."""
        held, subscription.held = subscription.held or [], None
        for seq, frame in held:
            if seq is None or seq > current:
                subscription.outbox.put(frame)  # else the replay had it, or the client has it
        shown, subscription.held_presence = subscription.held_presence, None
        if shown is not None and (sent is None or (shown[0] > sent[0] and shown[1] != sent[1])):
            subscription.outbox.put(shown[1])

    async def _replay(
        self, channel: _Channel, subscription: Subscription, since: int, current: int
    ) -> tuple[int, list[str]]:
        """Where a subscriber resuming after ``since`` starts (its ``subscribed`` seq and
        floor), and the frames it is sent: the events up to ``current``, or one ``reset``
        when they are no longer all kept or too many. Raises when the store does not
        answer."""
        name = subscription.client_channel
        if since == current:
            return current, []
        if since > current:
            # This process may lag the store (see the module docstring): the client may
            # have seen ``since`` elsewhere. Only a ``since`` the store never issued (a
            # restored database) is reset, to the store's head.
            store_channel = subscription.store_channel
            async with self._db.reader() as session:
                head = await events.head(session, store_channel)
            if head > channel.delivered and self._channels.get(store_channel) is channel:
                channel.heard = max(channel.heard, head)
                self._start_catch_up(store_channel, channel)
            if since <= head:
                return since, []
            start = max(head, current)
            self.meters.reset_sent()
            return start, [protocol.reset(name, start)]
        if current - since > self._replay_limit:
            self.meters.reset_sent()
            return current, [protocol.reset(name, current)]
        frames = await self._replay_frames(subscription.store_channel, since, current)
        if frames is None:
            self.meters.reset_sent()
            return current, [protocol.reset(name, current)]
        self.meters.delivered(len(frames))
        return current, frames

    def _drop(self, channel: _Channel, subscription: Subscription) -> None:
        """Forget a subscription that never started (nothing was sent for it)."""
        channel.subscriptions.discard(subscription)
        if not channel.subscriptions and self._channels.get(subscription.store_channel) is channel:
            del self._channels[subscription.store_channel]
            if channel.catch_up is not None:
                channel.catch_up.cancel()

    async def _replay_frames(
        self, store_channel: str, since: int, current: int
    ) -> list[str] | None:
        """The encoded events (since, current], or None when they are no longer all kept.

        Stored events never change, so one read and one encoding serve every subscriber
        that asks for the same range: concurrent askers share the read in flight (a
        reconnect storm is many clients asking the same thing at once), and recent answers
        are kept in a small LRU.
        """
        key = (store_channel, since, current)
        if key in self._replayed:
            self._replayed.move_to_end(key)
            return self._replayed[key]
        reading = self._replaying.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read_frames(store_channel, since, current))
            self._replaying[key] = reading
            reading.add_done_callback(lambda _: self._replaying.pop(key, None))
        frames = await asyncio.shield(reading)
        self._replayed[key] = frames
        while len(self._replayed) > REPLAY_CACHE_ENTRIES:
            self._replayed.popitem(last=False)
        return frames

    async def _read_frames(self, store_channel: str, since: int, current: int) -> list[str] | None:
        async with self._db.reader() as session:
            missed = await events.read_since(session, store_channel, since, limit=current - since)
        if len(missed) != current - since or (missed and missed[0].seq != since + 1):
            return None
        return [protocol.event(event) for event in missed]

    async def unsubscribe(self, subscription: Subscription) -> None:
        channel = self._channels.get(subscription.store_channel)
        if channel is None or subscription not in channel.subscriptions:
            return
        channel.subscriptions.discard(subscription)
        self.meters.unsubscribed()
        if not channel.subscriptions:
            del self._channels[subscription.store_channel]
            if channel.catch_up is not None:
                channel.catch_up.cancel()
        if subscription.member is not None:
            await self._presence.leave(subscription.store_channel, subscription.connection_id)
            await self._broker.publish([PresenceNotice(subscription.store_channel)])

    async def _open(self, store_channel: str) -> _Channel:
        """The channel's state, created from the store's head on first use."""
        while True:
            channel = self._channels.get(store_channel)
            if channel is not None:
                return channel
            opening = self._opening.get(store_channel)
            if opening is None:
                opening = asyncio.create_task(self._read_head(store_channel))
                self._opening[store_channel] = opening
                opening.add_done_callback(lambda _: self._forget_opening(store_channel))
            created = await asyncio.shield(opening)
            # Others may have seen it created and emptied meanwhile; take what is current.
            self._channels.setdefault(store_channel, created)

    async def _read_head(self, store_channel: str) -> _Channel:
        async with self._db.reader() as session:
            head = await events.head(session, store_channel)
        channel = self._channels.get(store_channel)
        if channel is None:
            heard = max(head, self._heard_while_opening.pop(store_channel, 0))
            channel = _Channel(delivered=head, heard=heard)
            self._channels[store_channel] = channel
            if heard > head:
                self._start_catch_up(store_channel, channel)
        return channel

    def _forget_opening(self, store_channel: str) -> None:
        self._opening.pop(store_channel, None)
        self._heard_while_opening.pop(store_channel, None)

    # -- live events --------------------------------------------------------------------

    def on_event(self, store_channel: str, seq: int, frame: str) -> None:
        channel = self._channels.get(store_channel)
        if channel is None:
            if store_channel in self._opening:
                heard = self._heard_while_opening.get(store_channel, 0)
                self._heard_while_opening[store_channel] = max(heard, seq)
            return
        channel.heard = max(channel.heard, seq)
        if channel.catch_up is not None or seq <= channel.delivered:
            return  # a catch-up reads it from the store; or we had it already
        if seq == channel.delivered + 1:
            self._fan_out(channel, seq, frame)
        else:
            self._start_catch_up(store_channel, channel)

    def _fan_out(self, channel: _Channel, seq: int | None, frame: str) -> None:
        if seq is not None:
            channel.delivered = seq
            removed = protocol.removed_teacher(frame)
            if removed is not None:
                self._end_member(channel, removed)
            if self.meters.on:
                self.meters.delivered(len(channel.subscriptions), protocol.event_at(frame))
        for subscription in channel.subscriptions:
            if subscription.held is not None:
                subscription.held.append((seq, frame))
            elif seq is None or seq > subscription.floor:
                subscription.outbox.put(frame)  # a full outbox flags itself for reset

    def _end_member(self, channel: _Channel, user_id: str) -> None:
        """End every subscription of ``user_id`` to this board, before the removal's own
        event and anything after it is fanned out (the others see the event)."""
        for subscription in list(channel.subscriptions):
            if subscription.member is None or subscription.member.id != user_id:
                continue
            channel.subscriptions.discard(subscription)
            subscription.ended = True
            frame = protocol.unsubscribed(subscription.client_channel, "removed")
            if subscription.held is not None:
                subscription.held.append((None, frame))
            else:
                subscription.outbox.force(frame)
            if subscription.on_end is not None:
                subscription.on_end(subscription)
            self._spawn(self._left(subscription))
        if not channel.subscriptions:
            store_channel = next(
                (name for name, found in self._channels.items() if found is channel), None
            )
            if store_channel is not None:
                # A catch-up running for it sees the channel gone and stops by itself.
                del self._channels[store_channel]

    async def _left(self, subscription: Subscription) -> None:
        await self._presence.leave(subscription.store_channel, subscription.connection_id)
        await self._broker.publish([PresenceNotice(subscription.store_channel)])

    def _spawn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("leaving presence after a removal failed")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_catch_up(self, store_channel: str, channel: _Channel) -> None:
        if channel.catch_up is None:
            channel.catch_up = asyncio.create_task(self._catch_up(store_channel, channel))

    async def _catch_up(self, store_channel: str, channel: _Channel) -> None:
        try:
            while (
                channel.delivered < channel.heard and self._channels.get(store_channel) is channel
            ):
                async with self._db.reader() as session:
                    batch = await events.read_since(
                        session, store_channel, channel.delivered, limit=CATCH_UP_BATCH
                    )
                if not batch:
                    return  # heard of an event the store does not show yet; the sweep retries
                if batch[0].seq != channel.delivered + 1:
                    # The events in between were pruned: the subscribers must re-read.
                    self._reset(channel, batch[0].seq - 1)
                for event in batch:
                    self._fan_out(channel, event.seq, protocol.event(event))
                channel.heard = max(channel.heard, channel.delivered)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("catching up %s failed; the next sweep retries", store_channel)
        finally:
            channel.catch_up = None

    def _reset(self, channel: _Channel, seq: int) -> None:
        """Tell the subscribers the events up to ``seq`` are gone; skip those that have them
        all (they started past the gap)."""
        told = 0
        for subscription in channel.subscriptions:
            if subscription.floor >= seq:
                continue
            frame = protocol.reset(subscription.client_channel, seq)
            if subscription.held is not None:
                subscription.held.append((seq, frame))  # after ``subscribed``, in order
            else:
                subscription.outbox.force(frame)
            told += 1
        self.meters.reset_sent(told)
        channel.delivered = seq

    async def _broker_connected(self) -> None:
        # The broker calls this after its first connection too; only later ones are reconnects.
        self._broker_connections += 1
        if self._broker_connections > 1:
            self.meters.broker_reconnected()
        await self.resync()

    async def resync(self) -> None:
        """Compare every local channel with the store and deliver what was missed."""
        names = list(self._channels)
        if not names:
            return
        async with self._db.reader() as session:
            found = await events.heads(session, names)
        for name, head in found.items():
            channel = self._channels.get(name)
            if channel is not None and head > channel.delivered:
                channel.heard = max(channel.heard, head)
                self._start_catch_up(name, channel)

    # -- presence -----------------------------------------------------------------------

    async def on_presence(self, store_channel: str) -> None:
        channel = self._channels.get(store_channel)
        if channel is None:
            return
        read, users = await self._members(store_channel, channel)
        if self._channels.get(store_channel) is channel:
            self._show_presence(channel, users, read)

    async def _members(
        self, store_channel: str, channel: _Channel
    ) -> tuple[int, list[PresenceUser]]:
        """The channel's members, with the number of this read among the channel's."""
        channel.presence_reads += 1
        read = channel.presence_reads
        return read, await self._presence.members(store_channel)

    @staticmethod
    def _show_presence(channel: _Channel, users: list[PresenceUser], read: int) -> None:
        """Send ``users`` (found by read number ``read``) to the channel's subscribers if the
        set changed, unless a read started later was shown already. A subscription still
        being set up keeps only the newest set, which its subscribe sends if it is newer than
        the one it sent itself."""
        if read < channel.presence_shown:
            return
        channel.presence_shown = read
        if users == channel.presence:
            return
        channel.presence = users
        listed = _users(users)
        for subscription in channel.subscriptions:
            frame = protocol.presence(subscription.client_channel, listed)
            if subscription.held is not None:
                subscription.held_presence = (read, frame)
            else:
                subscription.outbox.force(frame)

    async def refresh_presence(self) -> None:
        """Re-read presence of every local board (a crashed process's teachers drop out)."""
        for name in list(self._channels):
            if events.is_board_channel(name):
                await self.on_presence(name)

    async def publish(self, stored: Sequence[events.StoredEvent]) -> None:
        """Announce committed events (the services' ``Publish``); never raises."""
        # Every service publishes what it committed, so appends are counted here, once.
        self.meters.events_appended(len(stored))
        try:
            notices = await offload.run(len(stored) * FRAME_US, _notices, stored)
            await self._broker.publish(notices)
        except Exception:
            log.exception("publishing %d event(s) failed; subscribers catch up", len(stored))


# Building an event's frame costs about 3.6 µs: the frames of thousands of events (an
# import's) are built in a worker thread (storage/offload.py).
FRAME_US = 3.6


def _notices(stored: Sequence[events.StoredEvent]) -> list[EventNotice]:
    return [EventNotice(e.channel, e.seq, protocol.event(e)) for e in stored]


def _users(users: list[PresenceUser]) -> list[dict[str, str]]:
    return [{"id": user.id, "name": user.name} for user in users]
