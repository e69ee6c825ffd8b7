"""Reading a board (contract §5): access check, ``seq``, ETag/304, the cache, the build.

The ETag is the board's stamp: its event ``seq`` and the counts of students and lessons
(which ``filters`` shows but which append no board event), with the filters and the
encoding. ``If-None-Match`` is answered without building the board, and a cached body is
served, only after the caller's access to the classroom is checked. When the stamp is in
:mod:`server.board.stamps` and this process has seen the caller teach the classroom,
neither needs the database; otherwise one indexed query gives membership and stamp.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import msgspec
from cachetools import LRUCache
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.tokens import Principal
from server.board import rules
from server.board.cache import BoardCache
from server.board.card_json import card_json
from server.board.schemas import BoardOut, CardOut, ColumnOut, Filters, StudentRef
from server.board.stamps import BoardStamps, Lease
from server.http.envelope import ok
from server.http.errors import NotFound
from storage import events, offload
from storage.base import utcnow
from storage.database import Database
from storage.repositories import cards, classrooms
from storage.repositories.classrooms import BoardStamp

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class BoardQuery:
    classroom_id: uuid.UUID | None
    student_id: uuid.UUID | None = None
    category: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class BoardAnswer:
    etag: str
    body: bytes | None  # None: the client's copy is current (304)
    gzipped: bool = False  # the body is gzip-encoded (``Content-Encoding: gzip``)


# A board of 3,000 cards is about 1.4 MB of JSON; gzip at level 1 takes it to roughly a
# seventh in a few milliseconds, once per board version: the compressed copy is cached too.
GZIP_LEVEL = 1
GZIP_SUFFIX = "-gzip"  # its own ETag: another encoding is another representation (RFC 9110)


class KnownTeachers:
    """The (teacher, classroom) pairs this process has seen in the database, each with the
    classroom's membership epoch at that moment, so a board read need not ask again: a
    bounded LRU of positive answers only.

    A teacher can be removed (contract §8). Each removal bumps the classroom's epoch in
    the same transaction, and the board stamp carries the epoch; a pair counts only while
    the stamp's epoch is the one it was confirmed in. The stamp itself is invalidated
    after the removal's commit, before its answer (server/board/stamps.py), so after that
    every stamp any process finds has the new epoch, and a remembered pair from before
    it sends the read to the database, which answers 404.
    """

    def __init__(self, entries: int = 100_000) -> None:
        self._pairs: LRUCache[tuple[uuid.UUID, uuid.UUID], int] = LRUCache(maxsize=entries)

    def confirmed(self, pair: tuple[uuid.UUID, uuid.UUID], epoch: int) -> bool:
        """Whether the database said the pair is a member in membership epoch ``epoch``."""
        return self._pairs.get(pair) == epoch

    def add(self, pair: tuple[uuid.UUID, uuid.UUID], epoch: int) -> None:
        self._pairs[pair] = epoch


class BoardReads:
    def __init__(self, database: Database, cache: BoardCache, stamps: BoardStamps) -> None:
        self._db = database
        self._cache = cache
        self._stamps = stamps
        self._teachers = KnownTeachers()

    async def read(
        self,
        principal: Principal,
        query: BoardQuery,
        if_none_match: str | None,
        *,
        gzip_ok: bool = False,
    ) -> BoardAnswer:
        """The board for ``query``: 304 when ``if_none_match`` names the current version
        (in either encoding), else the body, gzip-encoded when ``gzip_ok`` and cached."""
        lease: Lease | None = None
        if query.classroom_id is not None:
            stamp, lease = await self._stamps.get(query.classroom_id)
            pair = (principal.user_id, query.classroom_id)
            if stamp is not None and self._teachers.confirmed(pair, stamp.epoch):
                # The 304 and cache-hit path: no database (see server/board/stamps.py).
                answer = self._answer(query.classroom_id, stamp, query, if_none_match, gzip_ok)
                if answer.body is None:
                    return answer
                body = await self._cache.get(_cache_key(answer))
                if body is not None:
                    return BoardAnswer(answer.etag, body, gzip_ok)
        # One snapshot for the stamp, the cards and the filters: the body is exactly the
        # board at the stamp's seq (contract §5), and it is cached under that stamp only.
        async with self._db.snapshot() as session:
            if query.classroom_id is None:
                mine = await classrooms.of_teacher(session, principal.user_id)
                if not mine:
                    raise NotFound("You have no classroom yet: create one or join one with a code")
                classroom_id = mine[0].id
            else:
                classroom_id = query.classroom_id
            stamp = await classrooms.board_stamp(
                session, classroom_id, principal.user_id, events.board_channel(classroom_id)
            )
            if stamp is None:
                if lease is not None:  # give it back: a stranger's read fills nothing
                    await self._stamps.invalidate([classroom_id])
                raise NotFound("No such classroom among yours")
            self._teachers.add((principal.user_id, classroom_id), stamp.epoch)
            if lease is not None:
                await self._stamps.fill(classroom_id, lease, stamp)
            answer = self._answer(classroom_id, stamp, query, if_none_match, gzip_ok)
            if answer.body is None:
                return answer
            key = _cache_key(answer)
            body = await self._cache.get(key)
            if body is None:
                body = await encoded(
                    session, classroom_id, stamp.seq, query, in_database=self._db.builds_json
                )
                if gzip_ok:
                    # In a thread (zlib lets go of the GIL): a 3,000-card board takes about
                    # 10 ms to compress, and on the event loop that stalled every request
                    # of the process, a move holding its board's lock among them, so every
                    # teacher's next move waited too.
                    body = await asyncio.to_thread(gzip.compress, body, GZIP_LEVEL, mtime=0)
                await self._cache.put(key, body)
        return BoardAnswer(answer.etag, body, gzip_ok)

    @staticmethod
    def _answer(
        classroom_id: uuid.UUID,
        stamp: BoardStamp,
        query: BoardQuery,
        if_none_match: str | None,
        gzip_ok: bool,
    ) -> BoardAnswer:
        """The ETag of the board at ``stamp``, and a 304 (no body) when the client has it;
        else an answer whose body is still to be found (``b""``)."""
        version = _key(classroom_id, stamp.seq, (stamp.students, stamp.lessons), query)
        etag = f'"{version + GZIP_SUFFIX if gzip_ok else version}"'
        if if_none_match is not None and _current(if_none_match, version):
            return BoardAnswer(etag, None, gzip_ok)
        return BoardAnswer(etag, b"", gzip_ok)


def _cache_key(answer: BoardAnswer) -> str:
    """An answer's cache key: its ETag's value (the version, the filters, the encoding)."""
    return answer.etag.strip('"')


def _current(if_none_match: str, key: str) -> bool:
    """Whether ``If-None-Match`` names version ``key`` in either encoding (or is ``*``)."""
    if if_none_match.strip() == "*":
        return True
    tags = _tags(if_none_match)
    return f'"{key}"' in tags or f'"{key}{GZIP_SUFFIX}"' in tags


def _tags(header: str) -> set[str]:
    """The entity tags of an ``If-None-Match`` header (weak ones compare equal, RFC 9110
    §13.1.2)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _key(classroom_id: uuid.UUID, seq: int, roster: tuple[int, int], query: BoardQuery) -> str:
    filters = f"{roster[0]}|{roster[1]}|{query.student_id}|{query.category}|{query.status}"
    digest = hashlib.sha256(filters.encode()).hexdigest()[:12]
    return f"{classroom_id}.{seq}.{digest}"


async def _filters(session: AsyncSession, classroom_id: uuid.UUID) -> Filters:
    """Every student and category of the classroom, whatever the query's filters (§5)."""
    students = await classrooms.students(session, classroom_id)
    return Filters(
        students=[StudentRef(id=str(s.id), name=s.name) for s in students],
        categories=await classrooms.categories(session, classroom_id),
    )


# Making, showing and encoding a card costs about 5.5 µs (a 3,000-card board: 16.5 ms of
# Python, bench/board_read.py), so a board of a few hundred cards and more is made from
# its rows and shown in a worker thread (storage/offload.py): on the loop, a large board's
# 16 ms stalled every request of the process, and one reader held 200 moves/s on its board
# back by tens of milliseconds each (docs/benchmarks.md).
SHOW_CARD_US = 5.5


async def encoded(
    session: AsyncSession,
    classroom_id: uuid.UUID,
    seq: int,
    query: BoardQuery,
    *,
    in_database: bool = False,
) -> bytes:
    """The encoded envelope of the board: the hot path of an uncached read. Its rows read
    plainly (``cards.board``) in the caller's snapshot, each card shown by the one builder,
    ``CardOut.many``, as REST answers and events show it; ``in_database``: the cards built
    as JSON by the database instead, from the same shape (server/board/card_json.py)."""
    student, category, status = query.student_id, query.category, query.status
    if in_database:
        columns = await cards.board_json(
            session,
            classroom_id,
            card_json,
            utcnow(),
            student_id=student,
            category=category,
            status=status,
        )
        roster = await _filters(session, classroom_id)
        # On the loop: the envelope only copies the database's text (a 3,000-card board's
        # 1.7 MB in about a millisecond).
        built = {column: msgspec.Raw(columns.get(column, "[]")) for column in rules.STATUSES}
        return _envelope(classroom_id, seq, built, roster)
    found = await cards.board(
        session, classroom_id, student_id=student, category=category, status=status
    )
    roster = await _filters(session, classroom_id)
    return await offload.run(
        len(found) * SHOW_CARD_US, _encoded_board, classroom_id, seq, found, roster
    )


def _encoded_board(
    classroom_id: uuid.UUID, seq: int, found: cards.BoardRows, filters: Filters
) -> bytes:
    by_status: dict[str, list[CardOut]] = {status: [] for status in rules.STATUSES}
    for shown in CardOut.many(found.views(), utcnow()):  # in position order: so is each column
        by_status[shown.status].append(shown)
    return _envelope(classroom_id, seq, by_status, filters)


def _envelope(
    classroom_id: uuid.UUID,
    seq: int,
    by_status: Mapping[str, list[CardOut] | msgspec.Raw],
    filters: Filters,
) -> bytes:
    """The board's envelope, each column's cards as shown or as JSON already built (a
    ``msgspec.Raw``, which the encoder writes as it is)."""
    board = BoardOut(
        columns=[
            ColumnOut(
                id=str(rules.column_id(classroom_id, column.status)),
                name=column.name,
                status_value=column.status,
                position=index,
                color=column.color,
                cards=cast(list[CardOut], by_status[column.status]),
            )
            for index, column in enumerate(rules.COLUMNS)
        ],
        filters=filters,
        seq=seq,
        classroom_id=str(classroom_id),
    )
    return _encoder.encode(ok(board))
