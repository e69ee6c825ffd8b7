"""A board transaction: the one unit of work (storage/unit_of_work.py) with a teacher as
the actor, and, after the commit, the changed boards' stamps invalidated before the events
are published (server/board/stamps.py).

Every service that writes to a board channel goes through :meth:`BoardWork.transaction`
(the board's cards, the roster), so no service writes publish-after-commit by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.tokens import Principal
from server.board.stamps import BoardStamps
from storage import events
from storage.database import Database
from storage.unit_of_work import unit_of_work


@dataclass
class Tx:
    """One transaction: its session, clock, and the events it will publish."""

    session: AsyncSession
    principal: Principal
    now: datetime
    pending: list[events.NewEvent]

    def emit(
        self,
        classroom_id: uuid.UUID,
        name: str,
        data: Any,
        actor: tuple[uuid.UUID | None, str] | None = None,
    ) -> None:
        """Queue event ``name`` on the classroom's board; the caller is its actor unless
        ``actor`` says otherwise."""
        actor_id, actor_name = actor or (self.principal.user_id, self.principal.name)
        self.pending.append(
            events.NewEvent(events.board_channel(classroom_id), name, data, actor_id, actor_name)
        )


class BoardWork:
    def __init__(self, database: Database, publish: events.Publish, stamps: BoardStamps) -> None:
        self._db = database
        self._publish = publish
        self._stamps = stamps

    @asynccontextmanager
    async def transaction(self, principal: Principal) -> AsyncIterator[Tx]:
        """One :class:`Tx` in one unit of work: its events are appended before the commit
        and announced after it, never if it rolls back."""
        async with unit_of_work(self._db, self.announce) as work:
            yield Tx(work.session, principal, work.now, work.pending)

    async def announce(self, stored: Sequence[events.StoredEvent]) -> None:
        """After a commit: the boards' stamps go first, so whoever learns of the change,
        from the answer or the events, reads the new board (server/board/stamps.py)."""
        changed = {events.board_classroom(event.channel) for event in stored}
        await self._stamps.invalidate(c for c in changed if c is not None)
        await self._publish(stored)
