"""One answer to "does this exception mean the database cannot be reached?".

While the database is down every request answers 503 ``SERVICE_UNAVAILABLE`` and every
websocket ``subscribe`` gets that error frame (contract §2, §7), from the first failed
request to the last. An outage surfaces in many shapes, depending on where in a request it
strikes and on how the database goes away, and each of them is caught here:

- refused, reset or timed-out sockets (``OSError``: ``ConnectionRefusedError``,
  ``ConnectionResetError``, ``TimeoutError``, asyncio's "Multiple exceptions" when every
  address of a host refuses);
- a PostgreSQL server going down or refusing us: SQLSTATE class 08 (connection
  exception, ``ConnectionDoesNotExistError``), 57P01-57P05 (``AdminShutdownError`` after
  ``pg_terminate_backend`` or a shutdown, ``CannotConnectNowError`` while it starts up or
  shuts down), 53300 (``TooManyConnectionsError``), and asyncpg's ``InterfaceError``
  "connection is closed";
- SQLAlchemy's wrappers: any ``DBAPIError`` it flagged ``connection_invalidated``, a pool
  checkout that timed out (``sqlalchemy.exc.TimeoutError``), a ``DisconnectionError``, and
  the pool giving up after its reconnection attempts ("This connection is closed");
- SQLite (aiosqlite), by the error's primary result code: the file cannot be opened
  (``SQLITE_CANTOPEN``: a missing directory, a lost mount), disk I/O errors
  (``SQLITE_IOERR``), a full disk (``SQLITE_FULL``), a file that became read-only
  (``SQLITE_READONLY``), and a lock held past the busy timeout (``SQLITE_BUSY``): each is
  the database being unavailable, not a fault of this request, and a retry later may
  succeed. Other SQLite errors (``no such table``, a syntax error, a bad binding,
  corruption) are real faults and stay 500.

SQLAlchemy wraps the driver's error (``raise … from``), and the asyncpg adapter wraps
asyncpg's in turn, so the whole chain of causes is read, not just the outermost error. A
generic ``OperationalError`` or ``InterfaceError`` from a driver not named above counts
as an outage, as PEP 249 defines them (disconnects, unreachable data source).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from sqlalchemy import exc as sa

# PostgreSQL SQLSTATEs (Appendix A of its manual) that mean "not reachable now".
_PG_UNREACHABLE_CLASSES = ("08",)  # connection exception
_PG_UNREACHABLE_STATES = frozenset(
    {
        "57P01",  # admin_shutdown (pg_terminate_backend, a fast shutdown)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, shutting down)
        "57P04",  # database_dropped
        "57P05",  # idle_session_timeout
        "53300",  # too_many_connections
    }
)

# SQLite primary result codes (https://sqlite.org/rescode.html) that mean "unavailable".
_SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
    }
)

# What SQLAlchemy's pool raises when a checkout's reconnection attempts are exhausted
# (sqlalchemy/pool/base.py); ``ResourceClosedError`` ("This Connection is closed", a
# closed object used again) is a bug and is not matched.
_POOL_GAVE_UP = "This connection is closed"


def is_unreachable(error: BaseException) -> bool:
    """True when ``error``, or any error in its chain, says the database is unreachable."""
    return any(_says_unreachable(link) for link in _chain(error))


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, its causes and contexts, and the members of exception groups, once each."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        if current.__cause__ is not None:
            pending.append(current.__cause__)
        if current.__context__ is not None and not current.__suppress_context__:
            pending.append(current.__context__)
        # SQLAlchemy's wrappers and its asyncpg adapter keep the driver's error as ``orig``.
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException):
            pending.append(orig)


def _says_unreachable(error: BaseException) -> bool:
    if isinstance(error, OSError):  # refused, reset, unreachable host, TimeoutError
        return True
    if isinstance(error, sa.TimeoutError | sa.DisconnectionError):
        return True
    if type(error) is sa.InvalidRequestError:
        return str(error) == _POOL_GAVE_UP
    if isinstance(error, sa.DBAPIError):
        if error.connection_invalidated:
            return True
        # A driver we know is judged by its own error, further down the chain.
        known = isinstance(error.orig, sqlite3.Error) or _is_asyncpg(error.orig)
        return not known and isinstance(error, sa.OperationalError | sa.InterfaceError)
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", 0) & 0xFF in _SQLITE_UNAVAILABLE
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and _is_asyncpg(error):
        return sqlstate in _PG_UNREACHABLE_STATES or sqlstate.startswith(_PG_UNREACHABLE_CLASSES)
    if _is_asyncpg(error) and type(error).__name__ == "InterfaceError":
        return "connection is closed" in str(error)
    return False


def _is_asyncpg(error: object) -> bool:
    """asyncpg's own errors and SQLAlchemy's adapters of them, without importing asyncpg
    (a SQLite-only install need not have it)."""
    module = type(error).__module__
    return module.startswith("asyncpg") or module == "sqlalchemy.dialects.postgresql.asyncpg"
