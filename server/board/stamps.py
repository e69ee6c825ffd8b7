"""Board stamps: each classroom's current (seq, students, lessons), kept beside the database
so that a board read which ends in a 304 or a cache hit needs no database round trip.

The stamp is what the ETag is made of (``server/board/reads.py``). The database stays the
truth; this is a cache of one of its answers, and it must never be older than a write the
caller could have seen. The rules that make it so:

* Every change of the board or its roster **invalidates** the classroom's stamp after its
  commit and before its answer or its events go out (``BoardService``,
  ``ClassroomService``). Whoever saw the change, in its answer or as an event, finds no
  stamp and reads the database.
* A reader refills a missing stamp from the database under a **lease** taken before that
  read (the "lease" of Nishtala et al., *Scaling Memcache at Facebook*, NSDI 2013): an
  invalidation between the lease and the fill deletes the lease, and the fill, which
  checks it atomically, does nothing. So a stamp read before a commit can never be stored
  after that commit's invalidation.
* Stamps also expire (:data:`TTL_SECONDS`). That bounds the one case the rules above cannot
  cover: a commit whose invalidation never arrived (the process died between the two,
  Redis was unreachable then, or, without Redis, a command-line tool wrote to the
  serving process's database). While Redis is unreachable, reads skip the stamps and ask
  the database.

Why not a per-process stamp updated from the event stream: pub/sub is at most once, and a
process can see a teacher's next request before it sees the event of their last write. Why
our own code: the cache libraries for asyncio we looked at (aiocache, cashews) offer
expiry and locks around a fill, but no fill that an invalidation in between cancels, and
that rule is the whole point here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from cachetools import TTLCache

from realtime.redis_client import Outage, redis_down
from storage.repositories.classrooms import BoardStamp

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("tandem.board.stamps")

TTL_SECONDS = 10
LEASE_MS = 5_000  # a reader holding a lease longer than this has failed; another may try
MEMORY_STAMPS = 10_000

# Our lease, granted: the caller should read the database and fill.
Lease = str


class BoardStamps(Protocol):
    async def get(self, classroom_id: uuid.UUID) -> tuple[BoardStamp | None, Lease | None]:
        """The stamp, or None and maybe a lease to fill it (None: someone else is)."""
        ...

    async def fill(self, classroom_id: uuid.UUID, lease: Lease, stamp: BoardStamp) -> None:
        """Store ``stamp``, read from the database after ``lease`` was granted, unless an
        invalidation came in between."""
        ...

    async def invalidate(self, classroom_ids: Iterable[uuid.UUID]) -> None:
        """Forget these classrooms' stamps (and leases): they just changed."""
        ...


def board_stamps(redis: Redis | None) -> BoardStamps:
    """Shared stamps with Redis, else this process's own."""
    return RedisBoardStamps(redis) if redis is not None else MemoryBoardStamps()


class MemoryBoardStamps:
    """One process (the embedded default): the same rules over a dictionary."""

    def __init__(
        self, entries: int = MEMORY_STAMPS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stamps: TTLCache[uuid.UUID, BoardStamp] = TTLCache(
            maxsize=entries, ttl=TTL_SECONDS, timer=clock
        )
        self._leases: dict[uuid.UUID, tuple[Lease, float]] = {}  # and when each ends
        self._tokens = itertools.count()
        self._clock = clock

    async def get(self, classroom_id: uuid.UUID) -> tuple[BoardStamp | None, Lease | None]:
        stamp = self._stamps.get(classroom_id)
        if stamp is not None:
            return stamp, None
        held = self._leases.get(classroom_id)
        if held is not None and self._clock() < held[1]:
            return None, None
        lease = str(next(self._tokens))
        self._leases[classroom_id] = (lease, self._clock() + LEASE_MS / 1000)
        return None, lease

    async def fill(self, classroom_id: uuid.UUID, lease: Lease, stamp: BoardStamp) -> None:
        held = self._leases.get(classroom_id)
        if held is None or held[0] != lease:
            return
        del self._leases[classroom_id]
        self._stamps[classroom_id] = stamp

    async def invalidate(self, classroom_ids: Iterable[uuid.UUID]) -> None:
        for classroom_id in classroom_ids:
            self._stamps.pop(classroom_id, None)
            self._leases.pop(classroom_id, None)


# One key per classroom holds either its stamp ("s:seq:students:lessons:epoch") or a
# reader's lease ("l:token"). A read is a plain GET (a script call cost three times the client
# CPU); only a read that finds neither asks for the lease (SET NX).
_FILL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return false
"""


class RedisBoardStamps:
    """Shared by every process. Outage policy: while Redis is down (``redis_down()``), reads
    go to the database, as without stamps, and are not an error."""

    def __init__(self, redis: Redis, *, prefix: str = "tandem:board-stamp:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._outage = Outage("board stamps", "reading boards from the database")
        self._fill = redis.register_script(_FILL)
        self._gathering: dict[uuid.UUID, asyncio.Future[bytes | None]] = {}

    async def get(self, classroom_id: uuid.UUID) -> tuple[BoardStamp | None, Lease | None]:
        # Reads of one board that arrive together share one GET: on a busy board the
        # round trip to Redis was a fifth of a 304's CPU. A read may only join a GET that
        # has not been sent yet, so the answer it gets is never older than its own
        # arrival, nor than any invalidation that came before it.
        gathering = self._gathering.get(classroom_id)
        if gathering is not None:
            return _stamp_in(await asyncio.shield(gathering)), None
        gathering = asyncio.get_running_loop().create_future()
        self._gathering[classroom_id] = gathering
        value: bytes | None = None
        try:
            await asyncio.sleep(0)  # the reads already received get to join
            del self._gathering[classroom_id]  # from here on, nobody joins this GET
            value, lease = await self._get_or_lease(classroom_id)
            return _stamp_in(value), lease
        finally:
            if self._gathering.get(classroom_id) is gathering:  # cancelled while gathering
                del self._gathering[classroom_id]
            if not gathering.done():
                gathering.set_result(value)

    async def _get_or_lease(self, classroom_id: uuid.UUID) -> tuple[bytes | None, Lease | None]:
        """The key's value; when there is none, the lease if this call got it."""
        key = self._key(classroom_id)
        if not self._outage.worth_trying():
            return None, None
        try:
            value = await self._redis.get(key)
            if value is None:
                lease = "l:" + secrets.token_hex(8)
                granted = await self._redis.set(key, lease, px=LEASE_MS, nx=True)
                self._outage.succeeded()
                return None, lease if granted else None
        except redis_down() as exc:
            self._outage.failed(exc)
            return None, None
        self._outage.succeeded()
        return value if isinstance(value, bytes) else None, None

    async def fill(self, classroom_id: uuid.UUID, lease: Lease, stamp: BoardStamp) -> None:
        value = f"s:{stamp.seq}:{stamp.students}:{stamp.lessons}:{stamp.epoch}"
        try:
            await self._fill(keys=[self._key(classroom_id)], args=[lease, value, TTL_SECONDS])
        except redis_down() as exc:
            self._outage.failed(exc)

    async def invalidate(self, classroom_ids: Iterable[uuid.UUID]) -> None:
        keys = [self._key(classroom_id) for classroom_id in classroom_ids]
        if not keys:
            return
        # Tried even during an outage: a stale stamp must go as soon as Redis can take it.
        try:
            await self._redis.delete(*keys)
        except redis_down() as exc:
            # The commit stands; the stale stamp lives at most TTL_SECONDS (see above).
            log.error("board stamp invalidation failed: %s", exc)
            self._outage.failed(exc)

    def _key(self, classroom_id: uuid.UUID) -> str:
        return f"{self._prefix}{classroom_id}"


def _stamp_in(value: bytes | None) -> BoardStamp | None:
    """The stamp a key's value holds; None for nothing or a reader's lease."""
    if value is None or not value.startswith(b"s:"):
        return None
    parts = value[2:].split(b":")
    if len(parts) != 4:  # written by an older version: no epoch, so no stamp
        return None
    seq, students, lessons, epoch = (int(part) for part in parts)
    return BoardStamp(seq, students, lessons, epoch)
