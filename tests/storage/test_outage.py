"""``is_unreachable``: every shape of a database outage, and nothing else, is one.

The errors are the real classes, raised the way the drivers and SQLAlchemy raise them
where that is cheap (a refused port, a SQLite file in a missing directory); the
PostgreSQL server's own shapes are reproduced end to end in tests/server/test_outage.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import exc as sa
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

from storage.engine import create_engine
from storage.outage import is_unreachable

ADAPTER = AsyncAdapt_asyncpg_dbapi(asyncpg)  # type: ignore[no-untyped-call]


def _wrapped(orig: Exception, *, invalidated: bool = False) -> sa.DBAPIError:
    """``orig`` as SQLAlchemy's asyncpg dialect hands it to the application."""
    adapted = next(
        translated(str(orig), orig)
        for cls, translated in ADAPTER._asyncpg_error_translate.items()
        if isinstance(orig, cls)
    )
    adapted.__cause__ = orig
    error = sa.DBAPIError.instance(
        "SELECT 1", None, adapted, ADAPTER.Error, connection_invalidated=invalidated
    )
    assert isinstance(error, sa.DBAPIError)
    error.__cause__ = adapted
    return error


SERVER_GONE = [
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CrashShutdownError("terminating connection because of crash"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
    asyncpg.exceptions.ConnectionFailureError("connection failure"),
    asyncpg.exceptions.InterfaceError("cannot perform operation: connection is closed"),
]


@pytest.mark.parametrize("error", SERVER_GONE, ids=lambda e: type(e).__name__ + str(e)[:12])
def test_postgresql_going_away_is_unreachable_raw_and_wrapped(error: Exception) -> None:
    assert is_unreachable(error)
    assert is_unreachable(_wrapped(error))


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
        sa.TimeoutError("QueuePool limit of size 20 overflow 5 reached"),
        sa.DisconnectionError("pooled connection is gone"),
        sa.InvalidRequestError("This connection is closed"),
        sa.OperationalError("SELECT 1", None, Exception("server closed the connection")),
        sa.InterfaceError("SELECT 1", None, Exception("connection already closed")),
    ],
    ids=repr,
)
def test_sockets_and_sqlalchemy_wrappers_are_unreachable(error: Exception) -> None:
    assert is_unreachable(error)


def test_any_error_sqlalchemy_flagged_as_a_disconnect_is_unreachable() -> None:
    assert is_unreachable(_wrapped(asyncpg.exceptions.InternalServerError("x"), invalidated=True))


def test_an_outage_hidden_under_a_later_error_is_still_found() -> None:
    """A rollback failing on the dead connection raises while the outage is handled."""
    later = RuntimeError("rollback failed")
    later.__context__ = ConnectionResetError(104, "Connection reset by peer")
    assert is_unreachable(later)
    later.__suppress_context__ = True  # ``raise … from None``: not the cause after all
    assert not is_unreachable(later)
    group = ExceptionGroup("tasks", [ValueError("x"), ConnectionRefusedError()])
    assert is_unreachable(group)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        KeyError("a bug"),
        sa.ResourceClosedError("This Connection is closed"),
        sa.InvalidRequestError("some other misuse"),
        _wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")),
        _wrapped(asyncpg.exceptions.UndefinedTableError('relation "x" does not exist')),
        _wrapped(asyncpg.exceptions.QueryCanceledError("canceling statement")),
        _wrapped(asyncpg.exceptions.InterfaceError("another operation is in progress")),
    ],
    ids=repr,
)
def test_faults_of_ours_are_not_an_outage(error: Exception) -> None:
    assert not is_unreachable(error)


async def _sqlite_error(
    url: str, statement: str, params: dict[str, object] | None = None
) -> BaseException:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement), params)
    except Exception as error:
        return error
    finally:
        await engine.dispose()
    raise AssertionError(f"{statement!r} did not fail")


def test_sqlite_that_cannot_open_its_file_is_unreachable(tmp_path: Path) -> None:
    # The driver's own error, wrapped as SQLAlchemy wraps it; through aiosqlite, a failed
    # connect leaves its worker thread finishing after the test's loop has closed (the
    # app-level check is tests/server/test_health.py's unreachable database).
    with pytest.raises(sqlite3.OperationalError) as raised:
        sqlite3.connect(tmp_path / "missing-directory" / "tandem.db")
    wrapped = sa.DBAPIError.instance(None, None, raised.value, sqlite3.Error)
    assert isinstance(wrapped, sa.OperationalError)
    assert is_unreachable(raised.value)
    assert is_unreachable(wrapped)


async def test_sqlite_faults_of_ours_stay_internal_errors(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/tandem.db"
    assert not is_unreachable(await _sqlite_error(url, "SELECT * FROM no_such_table"))
    assert not is_unreachable(await _sqlite_error(url, "SELEC 1"))
    assert not is_unreachable(await _sqlite_error(url, "SELECT :x", {"x": object()}))


async def test_a_refused_postgresql_connection_is_unreachable() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/tandem")
    try:
        with pytest.raises((OSError, sa.DBAPIError)) as raised:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert is_unreachable(raised.value)
