"""The two backends' differences that queries need: which one a session is on, and the
``INSERT … ON CONFLICT`` construct of each (SQLAlchemy has one per dialect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_of(session: AsyncSession) -> str:
    """``"postgresql"`` or ``"sqlite"``."""
    return session.get_bind().dialect.name


def upsert_into(dialect: str, table: Table) -> Any:
    """An ``INSERT`` into ``table`` that takes ``on_conflict_do_*`` on ``dialect``."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
