"""One object per process for the database: the engine, sessions and transactions.

Services own their transactions: ``async with database.transaction() as session`` commits
when the block ends and rolls back when it raises, so every write is all or nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.engine import (
    DEFAULT_POOL_SIZE,
    POOL_OVERFLOW,
    READ_ONLY_OPTION,
    create_engine,
    create_sessionmaker,
    is_sqlite,
)


class Database:
    def __init__(
        self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE, max_overflow: int = POOL_OVERFLOW
    ) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        # Whether a row's write and its event's append can be one autocommitted statement
        # (``events.one_event_sql``: an ``INSERT`` inside a ``WITH``), which the guarded
        # progress PUT and the single move use to hold no lock across a round trip. PostgreSQL
        # can; SQLite cannot, and its writers are serialised anyway.
        self.one_statement_writes = not self.is_sqlite
        # Whether the database should build a large JSON answer itself (``json_agg``), for
        # the board read (server/board/card_json.py): PostgreSQL does it in its own
        # process, off this one's GIL; SQLite runs inside this process, so there it would
        # save nothing and add a second build to keep equal.
        self.builds_json = not self.is_sqlite
        self.engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        self.sessionmaker = create_sessionmaker(self.engine)
        # Each statement its own transaction, with no BEGIN or COMMIT round trip: for reads
        # and for writes that are one statement (storage/repositories/card_moves.py).
        self._autocommit = create_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._snapshot = create_sessionmaker(
            self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only.

        On SQLite it begins a deferred transaction (rolled back at the end), so reads do
        not queue behind writers and all of them see one snapshot. On PostgreSQL it begins
        none: at READ COMMITTED every statement sees its own snapshot inside a transaction
        or not, so a transaction would only add a BEGIN and a ROLLBACK round trip to every
        read (a fifth of a single-word GET's server CPU).
        """
        if not self.is_sqlite:
            async with self._autocommit() as session:
                yield session
            return
        async with self.sessionmaker() as session:
            await session.connection(execution_options={READ_ONLY_OPTION: True})
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A session for reads that must agree with each other: every statement in it sees
        the database as of one moment, such as a channel's ``seq`` and the rows it counts.

        SQLite's read transaction is one snapshot already (:meth:`reader`). On PostgreSQL,
        a ``REPEATABLE READ READ ONLY`` transaction: its snapshot is taken at its first
        statement and kept to its end. It costs a ``BEGIN`` and a ``ROLLBACK`` round trip
        more than :meth:`reader`; read-only, it never conflicts with a writer.
        """
        if self.is_sqlite:
            async with self.reader() as session:
                yield session
            return
        async with self._snapshot() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncSession]:
        """A session whose every statement commits on its own."""
        async with self._autocommit() as session:
            yield session

    async def ping(self) -> None:
        """Raise if the database does not answer ``SELECT 1`` (callers bound the wait)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
