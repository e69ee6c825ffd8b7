"""The async engine and session factory, tuned per backend.

SQLite (aiosqlite): WAL so readers never block the writer, foreign keys on, a busy timeout
so a writer waits for the lock instead of failing, and ``BEGIN IMMEDIATE`` so a transaction
takes the write lock up front: with SQLite's default deferred transactions, two requests
that read and then write deadlock on the upgrade, and one fails at once with "database is
locked" whatever the busy timeout.

PostgreSQL (asyncpg): a ping on every checkout so the pool recovers after a database
restart, and short connect/checkout timeouts so an unreachable database is a prompt 503,
never a hung request.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "tandem_read_only"
# An unreachable database must be a 503 within 5 s (contract §2): a checkout pings a pooled
# connection for at most PING_TIMEOUT_SECONDS, then opens a new one for at most
# CONNECT_TIMEOUT_SECONDS, and a request waits for a free connection at most as long.
PING_TIMEOUT_SECONDS = 1
CONNECT_TIMEOUT_SECONDS = 3


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _json_dumps(value: Any) -> str:
    # JSON columns (every event's data) are written through msgspec, several times faster
    # than the default ``json.dumps`` on a batch's thousand event payloads.
    return msgspec.json.encode(value).decode()


JSON_CODEC: dict[str, Any] = {
    "json_serializer": _json_dumps,
    "json_deserializer": msgspec.json.decode,
}


# A process holds at most this many PostgreSQL connections, and keeps every one it opens:
# a connection opened for a burst and closed when returned (SQLAlchemy's overflow) cost
# PostgreSQL a fork, the asyncpg codecs' type introspection, the students' write function
# and every statement's first plans again. At a school day's load the pool's 20 plus 5
# overflow churned 19 backends a second, and PostgreSQL spent 71 % of a core at 1,500 learners;
# the same 25, all kept: 50 %, and 1,750 learners carried where 1,500 was the most
# (docs/benchmarks.md). Requests past the pool wait for a connection (``pool_timeout``).
DEFAULT_POOL_SIZE = 25
POOL_OVERFLOW = 0


def create_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = POOL_OVERFLOW,
    echo: bool = False,
) -> AsyncEngine:
    """An engine for ``url``; the only place backend-specific connection settings live."""
    if is_sqlite(url):
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **JSON_CODEC
        )
        _tune_sqlite(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=CONNECT_TIMEOUT_SECONDS,
        connect_args={"timeout": CONNECT_TIMEOUT_SECONDS, "command_timeout": 30},
        **JSON_CODEC,
    )
    _ping_on_checkout(engine)
    return engine


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """Pre-ping in one round trip: a dead pooled connection is replaced before use.

    SQLAlchemy's own ``pool_pre_ping`` on asyncpg wraps its ping in ``BEGIN`` ... ``ROLLBACK``
    (for pgbouncer's transaction mode, which Tandem does not use): three round trips on
    every checkout, a third of a PUT's (docs/benchmarks.md). Its own short timeout: a
    connection whose network went silent must not hold a request for the 30 s a statement
    may take. Raising
    ``DisconnectionError`` here is the pool's documented signal to discard the connection
    and check out a fresh one.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def ping(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        try:
            dbapi_connection.run_async(
                lambda raw: raw.execute("SELECT 1", timeout=PING_TIMEOUT_SECONDS)
            )
        except Exception as error:
            # Abort it here: the pool's invalidation would first try a polite close, which
            # waits up to 2 s on a connection whose network went silent.
            dbapi_connection.driver_connection.terminate()
            raise DisconnectionError(f"pooled connection is gone: {error!r}") from error


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        # Reads (Database.reader) begin deferred: under WAL they never wait for a writer.
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
