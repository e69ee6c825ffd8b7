"""Queries on classrooms' own words (contract §8). Nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ClassroomTeacher, ClassroomWord
from storage.repositories import classroom_rows


async def add(
    session: AsyncSession,
    *,
    word_id: str,
    classroom_id: uuid.UUID,
    term: str,
    translation: str,
    topic: str | None,
    now: datetime,
) -> ClassroomWord:
    """Insert a word; a taken ``word_id`` raises ``IntegrityError`` at the flush."""
    word = ClassroomWord(
        id=word_id,
        classroom_id=classroom_id,
        term=term,
        translation=translation,
        topic=topic,
        created_at=now,
        updated_at=now,
    )
    session.add(word)
    await session.flush()
    return word


async def of_classroom(session: AsyncSession, classroom_id: uuid.UUID) -> list[ClassroomWord]:
    """The classroom's words, oldest first."""
    return await classroom_rows.of_classroom(
        session, ClassroomWord, classroom_id, ClassroomWord.created_at, ClassroomWord.id
    )


async def for_teacher(
    session: AsyncSession, word_id: str, teacher_id: uuid.UUID
) -> ClassroomWord | None:
    """The word if ``teacher_id`` teaches its classroom, else None (as if it did not exist)."""
    result = await session.execute(
        select(ClassroomWord)
        .join(ClassroomTeacher, ClassroomTeacher.classroom_id == ClassroomWord.classroom_id)
        .where(ClassroomWord.id == word_id, ClassroomTeacher.user_id == teacher_id)
    )
    return result.scalar_one_or_none()


async def known_ids(
    session: AsyncSession, classroom_id: uuid.UUID, word_ids: Collection[str]
) -> set[str]:
    """Which of ``word_ids`` are the classroom's words."""
    if not word_ids:
        return set()
    result = await session.execute(
        select(ClassroomWord.id).where(
            ClassroomWord.classroom_id == classroom_id, ClassroomWord.id.in_(word_ids)
        )
    )
    return set(result.scalars())


async def change(
    session: AsyncSession,
    word: ClassroomWord,
    *,
    term: str,
    translation: str,
    topic: str | None,
    now: datetime,
) -> None:
    """Give ``word`` these values; ``updated_at`` moves only when one of them differs."""
    if (word.term, word.translation, word.topic) == (term, translation, topic):
        return
    word.term, word.translation, word.topic, word.updated_at = term, translation, topic, now
    await session.flush()


async def by_ids(session: AsyncSession, word_ids: Collection[str]) -> list[ClassroomWord]:
    """The classrooms' words among ``word_ids`` (deck ids are simply not found)."""
    if not word_ids:
        return []
    result = await session.execute(select(ClassroomWord).where(ClassroomWord.id.in_(word_ids)))
    return list(result.scalars())
