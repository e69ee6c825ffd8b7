"""The success envelope and the wire formats every response shares (contract §2)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec

from storage.base import isoformat

T = TypeVar("T")

Timestamp = Annotated[
    str,
    msgspec.Meta(
        description="ISO-8601 instant in UTC with microseconds and a Z suffix",
        examples=["2026-11-22T09:30:00.000000Z"],
        extra_json_schema={"format": "date-time"},
    ),
]


class Envelope(msgspec.Struct, Generic[T], kw_only=True):
    """``{"success": true, "data": …}``."""

    success: bool = True
    data: T


def ok(data: T) -> Envelope[T]:
    return Envelope(data=data)


# Re-exported: routes format instants with it.
timestamp = isoformat
