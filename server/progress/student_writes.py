"""Students' answers of this process go to the database together, one statement for all waiting.

Every student's answer that changes cards appends a ``card.progress`` to each of their
boards' channels in its own transaction (contract §9), and a channel's head row stays
locked from that append to the commit: one answer at a time a board, whatever this process
does. Sent one statement an answer, sixteen answers on two boards queued on those two
rows inside PostgreSQL, each waiting backend holding its other locks and woken at every
commit, and the database spent three times the CPU on an answer that changed cards as on
one that did not (docs/benchmarks.md). So answers are written as a database group-commits:
while one statement is on its way, the answers that arrive wait here, and the next
statement writes them all (storage/repositories/learner_writes.py), each in a block of its
own, a board's head raised once for all of them. Alone, an answer goes at once.

After the statement, the events of every answer written go out in one announcement (the
boards' stamps, then the broker: server/board/transaction.py), before any of their
requests is answered, as for every other write (events after commit).

Written here rather than taken from a library: it is a queue and one task, and what it
must get right is ours (who waits, what a cancelled request means, where an error goes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec

from server.board import progress as board_progress
from storage import events
from storage.database import Database
from storage.repositories import learner_writes
from storage.repositories.learner_writes import Answer, Outcome

# Answers a statement writes at most; each is a block (a subtransaction) of its own, and
# PostgreSQL keeps the first 64 of a transaction's subtransactions in shared memory.
MOST = 32

# An answer waiting: what to write, its event's data as shown, and its request's future.
_Waiting = tuple[Answer, Any, "asyncio.Future[Outcome]"]


class StudentWrites:
    """This process's students' answers, written together (PostgreSQL only)."""

    def __init__(self, database: Database, publish: events.Publish) -> None:
        self._db = database
        self._publish = publish
        self._waiting: list[_Waiting] = []
        # The one statement on its way (a second one at once gained nothing measurable and
        # cost CPU an answer: docs/benchmarks.md).
        self._writer: asyncio.Task[None] | None = None

    async def write(self, answer: Answer, shown: Any) -> Outcome:
        """Write ``answer`` (``shown``: its event's data as the answer shows it) with
        whatever else waits; its outcome once its events are announced."""
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((answer, shown, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all())
        return await done

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:MOST], self._waiting[MOST:]
                # A request that went away before its turn is not written: it had no answer.
                await self._write([entry for entry in group if not entry[2].done()])
        finally:
            self._writer = None

    async def _write(self, group: Sequence[_Waiting]) -> None:
        if not group:
            return
        try:
            async with self._db.autocommit() as session:
                outcomes = await learner_writes.write(
                    session,
                    [answer for answer, _, _ in group],
                    card_event=board_progress.card_event_sql(),
                    advances=board_progress.advances_sql(),
                )
        except asyncio.CancelledError:
            for _, _, done in group:
                done.cancel()
            raise
        except Exception as error:  # each request answers it as its own (a 503, a 500)
            for _, _, done in group:
                if not done.done():
                    done.set_exception(error)
            return
        stored = [
            event
            for (answer, shown, _), outcome in zip(group, outcomes, strict=True)
            for event in _stored(answer, shown, outcome)
        ]
        if stored:
            await self._publish(stored)
        for (_, _, done), outcome in zip(group, outcomes, strict=True):
            if not done.done():
                done.set_result(outcome)


def _stored(answer: Answer, shown: Any, outcome: Outcome) -> list[events.StoredEvent]:
    """An answer's appended events as stored: the learner's event as Python showed it,
    each card's as the statement built it."""
    return [
        events.StoredEvent(
            item.channel,
            item.seq,
            item.name,
            shown if index == 0 else msgspec.json.decode(item.data),
            answer.learner_id,
            answer.actor_name,
            answer.at,
        )
        for index, item in enumerate(outcome.events)
    ]
