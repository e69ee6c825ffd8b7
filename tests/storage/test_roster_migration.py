"""Migration 0007 carries existing data over: lessons' JSON word lists become rows (order
kept, repeats dropped), unclaimed students get codes of their own, each classroom's first
teacher becomes its owner; and the way back restores the lists."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.base import UTCDateTime
from storage.engine import create_engine
from tests.databases import PostgresDatabases, SqliteDatabases

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
USERS = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("name", sa.String()),
    sa.column("role", sa.String()),
    sa.column("password_hash", sa.String()),
    sa.column("created_at", UTCDateTime()),
)
CLASSROOMS = sa.table(
    "classrooms",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("teacher_join_code", sa.String()),
    sa.column("student_join_code", sa.String()),
    sa.column("created_at", UTCDateTime()),
)
MEMBERS = sa.table(
    "classroom_teachers",
    sa.column("classroom_id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("joined_at", UTCDateTime()),
)
STUDENTS = sa.table(
    "students",
    sa.column("id", sa.Uuid()),
    sa.column("classroom_id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("learner_id", sa.Uuid()),
    sa.column("created_at", UTCDateTime()),
)
LESSONS = sa.table(
    "lessons",
    sa.column("id", sa.Uuid()),
    sa.column("classroom_id", sa.Uuid()),
    sa.column("title", sa.String()),
    sa.column("category", sa.String()),
    sa.column("word_ids", sa.JSON()),
    sa.column("created_at", UTCDateTime()),
)

CARDS = sa.table(
    "cards",
    sa.column("id", sa.Uuid()),
    sa.column("classroom_id", sa.Uuid()),
    sa.column("lesson_id", sa.Uuid()),
    sa.column("student_id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("sort_key", sa.BigInteger()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


async def _count_cards(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = (await connection.execute(sa.select(sa.func.count()).select_from(CARDS))).scalar()
    return int(count or 0)


@pytest.fixture
async def url(databases: PostgresDatabases | SqliteDatabases) -> AsyncIterator[str]:
    found = await databases.create_empty()
    yield found
    await databases.drop(found)


def _user(connection: Connection, name: str, role: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    connection.execute(
        USERS.insert().values(
            id=user_id,
            email=f"{name}-{user_id.hex[:6]}@example.org",
            name=name,
            role=role,
            password_hash="x",
            created_at=NOW,
        )
    )
    return user_id


def _fill(connection: Connection) -> dict[str, Any]:
    owner, other, learner = (
        _user(connection, "Grace", "teacher"),
        _user(connection, "Hedy", "teacher"),
        _user(connection, "Lin", "learner"),
    )
    classroom = uuid.uuid4()
    connection.execute(
        CLASSROOMS.insert().values(
            id=classroom,
            name="Room",
            teacher_join_code="TTTTTTTT",
            student_join_code="SSSSSSSS",
            created_at=NOW,
        )
    )
    connection.execute(
        MEMBERS.insert(),
        [
            {"classroom_id": classroom, "user_id": other, "joined_at": NOW + timedelta(hours=1)},
            {"classroom_id": classroom, "user_id": owner, "joined_at": NOW},
        ],
    )
    unclaimed, claimed = uuid.uuid4(), uuid.uuid4()
    connection.execute(
        STUDENTS.insert(),
        [
            {
                "id": unclaimed,
                "classroom_id": classroom,
                "name": "Ann",
                "learner_id": None,
                "created_at": NOW,
            },
            {
                "id": claimed,
                "classroom_id": classroom,
                "name": "Lin",
                "learner_id": learner,
                "created_at": NOW,
            },
        ],
    )
    lessons = {uuid.uuid4(): ["es:uno", "es:dos", "es:uno", "es:tres"], uuid.uuid4(): []}
    connection.execute(
        LESSONS.insert(),
        [
            {
                "id": lesson_id,
                "classroom_id": classroom,
                "title": "T",
                "category": "C",
                "word_ids": words,
                "created_at": NOW,
            }
            for lesson_id, words in lessons.items()
        ],
    )
    first_lesson = next(iter(lessons))
    connection.execute(
        CARDS.insert().values(
            id=uuid.uuid4(),
            classroom_id=classroom,
            lesson_id=first_lesson,
            student_id=unclaimed,
            status="not_started",
            sort_key=0,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    connection.commit()
    return {
        "owner": owner,
        "other": other,
        "classroom": classroom,
        "unclaimed": unclaimed,
        "claimed": claimed,
        "lessons": list(lessons),
    }


def _rows(connection: Connection, statement: str) -> list[Any]:
    return list(connection.execute(sa.text(statement)).all())


async def test_0007_carries_the_data_over_and_back(url: str) -> None:
    await migrate.upgrade(url, "0006")
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            made = await connection.run_sync(_fill)
        await migrate.upgrade(url)
        async with engine.connect() as connection:
            words = await connection.run_sync(
                _rows, "SELECT word_id, position FROM lesson_words ORDER BY position"
            )
            owners = await connection.run_sync(
                _rows, "SELECT user_id, owner FROM classroom_teachers"
            )
            flags = await connection.run_sync(
                _rows, "SELECT auto_advance, members_epoch FROM classrooms"
            )
            codes = await connection.run_sync(_rows, "SELECT name, join_code FROM students")
        assert [tuple(row) for row in words] == [("es:uno", 0), ("es:dos", 1), ("es:tres", 2)]
        assert {uuid.UUID(str(user_id)): bool(flag) for user_id, flag in owners} == {
            made["owner"]: True,
            made["other"]: False,
        }
        assert [(bool(auto), epoch) for auto, epoch in flags] == [(True, 0)]
        cards = await _count_cards(engine)
        assert cards == 1  # nothing cascaded away
        by_name = dict(codes)
        assert by_name["Lin"] is None
        assert isinstance(by_name["Ann"], str)
        assert len(by_name["Ann"]) == 8

        def back(connection: Connection) -> list[Any]:
            command.downgrade(migrate.alembic_config(connection), "0006")
            connection.commit()
            found = connection.execute(sa.select(LESSONS.c.id, LESSONS.c.word_ids)).all()
            return [(lesson_id, words) for lesson_id, words in found]

        async with engine.connect() as connection:
            restored = dict(await connection.run_sync(back))
        assert await _count_cards(engine) == 1
    finally:
        await engine.dispose()
    first, second = made["lessons"]
    assert restored == {first: ["es:uno", "es:dos", "es:tres"], second: []}
