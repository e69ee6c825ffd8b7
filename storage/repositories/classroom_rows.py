"""The one query every table of a classroom's own rows shares (students, lessons, the
classroom's words): its rows in a stated order. Nothing here commits."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ClassroomWord, Lesson, Student

# Constrained rather than bound: mypy checks the body once per table, so each one's own
# ``classroom_id`` column is typed without a protocol the mapped classes would have to share.
Row = TypeVar("Row", Student, Lesson, ClassroomWord)


async def of_classroom(
    session: AsyncSession,
    model: type[Row],
    classroom_id: uuid.UUID,
    *order_by: Any,  # columns, or expressions such as storage.dialects.bytewise's
) -> list[Row]:
    result = await session.execute(
        select(model).where(model.classroom_id == classroom_id).order_by(*order_by)
    )
    return list(result.scalars())
