"""The API's instant text has one owner, ``storage.base.isoformat``; the batch form a board
read uses, ``isoformats``, must give exactly its text for every kind of value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from storage.base import isoformat, isoformats


def test_isoformats_is_isoformat_of_each() -> None:
    values = [
        datetime(2026, 11, 22, 9, 30, tzinfo=UTC),  # a zero fraction, which msgspec drops
        datetime(2026, 11, 22, 9, 30, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 22, 9, 30, 0, 120000, tzinfo=UTC),
        datetime(2026, 11, 22, 9, 30, 5, 999999, tzinfo=timezone(timedelta(hours=2))),
        datetime(1999, 12, 31, 23, 59, 59, 500000, tzinfo=timezone(timedelta(hours=-5))),
        None,
    ]
    assert isoformats(values) == [None if v is None else isoformat(v) for v in values]
    assert isoformats(values)[:4] == [
        "2026-11-22T09:30:00.000000Z",
        "2026-11-22T09:30:00.000001Z",
        "2026-11-22T09:30:00.120000Z",
        "2026-11-22T07:30:05.999999Z",
    ]
    assert isoformats([]) == []
