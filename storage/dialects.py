"""The two backends' differences that queries need: which one a session is on, the
``INSERT … ON CONFLICT`` construct of each (SQLAlchemy has one per dialect), how each
binds a UUID in driver SQL, how each sorts text by its bytes, and how each matches a
column against a list of values."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import ColumnElement, Table, Uuid, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute


def dialect_of(session: AsyncSession) -> str:
    """``"postgresql"`` or ``"sqlite"``."""
    return session.get_bind().dialect.name


def upsert_into(dialect: str, table: Table) -> Any:
    """An ``INSERT`` into ``table`` that takes ``on_conflict_do_*`` on ``dialect``."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def uuid_binder(session: AsyncSession) -> Callable[[uuid.UUID | None], Any]:
    """How ``session``'s backend takes a UUID in driver SQL (``exec_driver_sql``): as it is
    on PostgreSQL, as the 32 hex digits SQLAlchemy's ``Uuid`` stores on SQLite."""
    process: Callable[[uuid.UUID | None], Any] | None = Uuid().bind_processor(
        session.get_bind().dialect
    )
    return process or _same


def _same(value: uuid.UUID | None) -> Any:
    return value


# Text is ordered by its bytes (code points, for UTF-8) on both backends, so answers do not
# depend on the database's collation: SQLite's is binary, PostgreSQL's is the cluster's
# (en_US in compose.yaml's image, which puts "ann" before "Bob"). ``COLLATE "C"`` makes
# PostgreSQL's order SQLite's; SQLite has no collation of that name.
BYTEWISE = {"postgresql": ' COLLATE "C"', "sqlite": ""}


def bytewise(dialect: str, column: ColumnElement[str] | QueryableAttribute[str]) -> Any:
    """``column`` ordered by its bytes on ``dialect`` (:data:`BYTEWISE`)."""
    return column.collate("C") if dialect == "postgresql" else column


def one_of(dialect: str, column: QueryableAttribute[Any], values: Collection[Any]) -> Any:
    """``column`` equals one of ``values``, as one statement whatever their number: for
    lists whose length has no bound.

    ``in_`` spells n values with n parameters, so every length is a statement of its own:
    on PostgreSQL asyncpg prepares and keeps each (100 a pooled connection, each with its n
    parameter types) and the server plans each. The realtime resync asks every few seconds
    for the heads of the thousand or so channels a process serves, a number that changes
    as learners come and go. One array parameter is one statement.

    Not for the short lists of the requests' own paths (a learner's classrooms or lessons,
    a batch's cards): there ``= ANY`` cost PostgreSQL up to a third more CPU in the school
    day's ramp than ``in_`` (docs/benchmarks.md, "Dropped websockets freed too"). SQLite's
    statements are cheap to prepare and its cache small, so ``in_`` stays there."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)
