"""The two backends' differences that queries need: which one a session is on, the
``INSERT … ON CONFLICT`` construct of each (SQLAlchemy has one per dialect), and how each
binds a UUID in driver SQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, Uuid
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


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
