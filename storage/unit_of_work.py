"""One unit of work: a transaction, the events it produces, and what runs after its commit.

Every service write goes through :func:`unit_of_work` (polar's ``get_db_session`` is the
model): the body writes with ``work.session`` and :meth:`UnitOfWork.emit`\\ s its events;
on leaving, the events are appended in the same transaction (``storage/events.append``),
the transaction commits, and only then do the ``after_commit`` hooks run and the stored
events go to ``publish``. If the body raises, or the append or the commit fails, the
transaction rolls back and nothing is published and no hook runs.

Three writes stay outside it because they are not a transaction of ours: on PostgreSQL the
progress PUT's guarded write (``repositories/progress.write_if_unchanged``), students'
answers written together (``repositories/learner_writes.write``) and the board move
(``repositories/card_moves.move_card``) each write their rows and number their events in
one autocommitted statement; their callers publish the events that statement returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage import events
from storage.base import utcnow
from storage.database import Database

AfterCommit = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class UnitOfWork:
    """The open transaction's session, its clock (events are stamped with it), the events
    to append before the commit and the hooks to run after it."""

    session: AsyncSession
    now: datetime
    pending: list[events.NewEvent] = field(default_factory=list)
    hooks: list[AfterCommit] = field(default_factory=list)

    def emit(self, *new: events.NewEvent) -> None:
        self.pending.extend(new)

    def after_commit(self, hook: AfterCommit) -> None:
        """Run ``hook`` once the transaction has committed (before the events are
        published, so a cache it clears is fresh for whoever hears of the change)."""
        self.hooks.append(hook)


@asynccontextmanager
async def unit_of_work(
    database: Database, publish: events.Publish | None = None
) -> AsyncIterator[UnitOfWork]:
    """A :class:`UnitOfWork` in one database transaction; ``publish`` gets its stored
    events after the commit (a unit that emits events must be given one)."""
    stored: list[events.StoredEvent] = []
    async with database.transaction() as session:
        work = UnitOfWork(session, utcnow())
        yield work
        if work.pending:
            if publish is None:
                raise TypeError("this unit of work emitted events but has nowhere to publish")
            stored = await events.append(session, work.pending, now=work.now)
    for hook in work.hooks:
        await hook()
    if stored:
        assert publish is not None
        await publish(stored)
