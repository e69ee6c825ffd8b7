"""The declarative base and the column types every table shares.

Timestamps are always timezone-aware UTC with microseconds, on SQLite (which has no time
zones, so :class:`UTCDateTime` stores naive UTC and re-attaches UTC on the way out) and on
PostgreSQL (``timestamptz``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import msgspec
from sqlalchemy import DateTime, MetaData, Uuid
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Stable constraint names, so Alembic migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=4096)
def isoformat(value: datetime) -> str:
    """The one way the API shows an instant (contract §2): UTC, microseconds, ``Z``.

    ``datetime.isoformat`` drops the fraction when it is zero and writes ``+00:00``, so it
    runs on the naive UTC value with the fraction forced (and is cheaper than ``strftime``).
    Remembered: a batch of 1,000 records shows the same few instants (its ``now``) about
    5,000 times, in its answer and in its events, and a lookup costs a sixteenth of the
    formatting. Equal instants in other zones share the text, which is UTC's anyway.
    """
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def isoformat_sql(expression: str) -> str:
    """PostgreSQL's text of :func:`isoformat` for a ``timestamptz`` expression (null stays
    null), for JSON the database builds (server/board/card_json.py); a test holds the two
    equal over generated instants."""
    return f"""to_char(({expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


_encode_instants = msgspec.json.Encoder().encode
_decode_texts = msgspec.json.Decoder(list[str | None]).decode
_API_TEXT_LENGTH = len("2026-11-22T09:30:00.000000Z")


def isoformats(values: Sequence[datetime | None]) -> list[str | None]:
    """:func:`isoformat` of many instants at once (None stays None), for a board read's
    6,000: msgspec writes RFC 3339 in C at a tenth of the cost per value. It leaves a zero
    fraction out and writes other zones' offsets: any text not of the API's length is
    made by :func:`isoformat` instead, so the answer is always its (a test holds them
    equal)."""
    texts = _decode_texts(_encode_instants(values))
    for index, text in enumerate(texts):
        if text is not None and len(text) != _API_TEXT_LENGTH:
            value = values[index]
            assert value is not None
            texts[index] = isoformat(value)
    return texts


@lru_cache(maxsize=4096)
def sqlite_text(value: datetime) -> str:
    """An aware instant as the text SQLite stores (naive UTC, microseconds, space): such
    text compares in time order. Remembered, as :func:`isoformat` is, for the same reason."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def from_sqlite_text(value: str) -> datetime:
    """The aware UTC instant of :func:`sqlite_text`'s text.

    Parsed with its offset appended: a quarter of the time of ``replace(tzinfo=UTC)`` after
    parsing, and the result's zone is the ``UTC`` singleton all the same.
    """
    return datetime.fromisoformat(value + "+00:00")


class _SQLiteText(sqlite.DATETIME):
    """SQLite's ``DATETIME`` column, with values passed through as the text they are.

    :class:`UTCDateTime` writes and parses that text itself: SQLAlchemy's own formatting
    (``%`` on a dict) and regex parsing cost several microseconds a value, which added up
    to a noticeable part of a 1,000-word batch. The stored text is the same as before:
    ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, so comparisons stay textual.
    """

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is aware UTC in Python on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteText())  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC datetime")
        if dialect.name == "sqlite":
            return sqlite_text(value)
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite
            return from_sqlite_text(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=uuid.uuid4)
