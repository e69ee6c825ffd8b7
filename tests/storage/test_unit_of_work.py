"""The unit of work (storage/unit_of_work.py): events are appended in the transaction and
published only after it commits; a failed transaction publishes nothing and runs no hook.

Runs on SQLite and, with ``TANDEM_TEST_DATABASE_URL`` set, on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from storage import events
from storage.database import Database
from storage.events import NewEvent, StoredEvent
from storage.unit_of_work import unit_of_work

ADA = uuid.UUID("00000000-0000-4000-8000-00000000ada0")
CHANNEL = events.progress_channel(ADA)


class Boom(Exception):
    """Raised inside the unit of work to make it fail."""


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


def new(name: str) -> NewEvent:
    return NewEvent(CHANNEL, name, {"n": name}, ADA, "Ada")


async def stored_names(db: Database) -> list[str]:
    async with db.reader() as session:
        return [event.name for event in await events.read_since(session, CHANNEL, 0)]


async def test_events_are_published_after_the_commit_numbered_and_stored(db: Database) -> None:
    seen: list[tuple[list[StoredEvent], list[str]]] = []
    order: list[str] = []

    async def publish(stored: Sequence[StoredEvent]) -> None:
        # What a subscriber does on hearing of an event: read the store. It is there.
        seen.append((list(stored), await stored_names(db)))
        order.append("publish")

    async def hook() -> None:
        order.append("hook")

    async with unit_of_work(db, publish) as work:
        work.emit(new("a"), new("b"))
        work.after_commit(hook)
        assert seen == []

    [(published, visible)] = seen
    assert [(e.name, e.seq, e.at) for e in published] == [("a", 1, work.now), ("b", 2, work.now)]
    assert visible == ["a", "b"]
    assert order == ["hook", "publish"]


async def test_a_failed_unit_publishes_nothing_stores_nothing_and_runs_no_hook(
    db: Database,
) -> None:
    published: list[StoredEvent] = []
    hooks: list[str] = []

    async def publish(stored: Sequence[StoredEvent]) -> None:
        published.extend(stored)

    async def hook() -> None:
        hooks.append("ran")

    async def failing() -> None:
        async with unit_of_work(db, publish) as work:
            work.emit(new("a"))
            work.after_commit(hook)
            raise Boom()

    with pytest.raises(Boom):
        await failing()

    assert (published, hooks) == ([], [])
    assert await stored_names(db) == []


async def test_a_unit_without_events_publishes_nothing(db: Database) -> None:
    calls: list[Sequence[StoredEvent]] = []

    async def publish(stored: Sequence[StoredEvent]) -> None:
        calls.append(stored)

    async with unit_of_work(db, publish):
        pass
    assert calls == []


async def test_events_with_nowhere_to_publish_roll_the_unit_back(db: Database) -> None:
    async def unpublished() -> None:
        async with unit_of_work(db) as work:
            work.emit(new("a"))

    with pytest.raises(TypeError):
        await unpublished()
    assert await stored_names(db) == []
