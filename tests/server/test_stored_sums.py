"""Each card stores its progress sums (storage/repositories/card_progress.py, migration
0010): the board shows the stored sums, and they stay what the aggregate computes.

Migration 0010 fills the columns of existing cards from the aggregate: a database taken
back to 0009 (the columns gone) and migrated again shows the same board."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection

from storage import migrate
from storage.database import Database
from storage.engine import create_engine
from storage.models import Card
from storage.repositories import card_progress
from tests.board_helpers import get_board
from tests.helpers import Client
from tests.server.loop_helpers import board_card, loop, put


async def _drifted(database_url: str) -> list[object]:
    database = Database(database_url)
    try:
        async with database.reader() as session:
            return list(await card_progress.drifted(session))
    finally:
        await database.dispose()


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(migrate.alembic_config(connection), revision)
    connection.commit()


async def test_the_migration_fills_existing_cards_from_the_aggregate(
    client: Client, database_url: str
) -> None:
    place = await loop(client)
    assert (await put(client, place.learner, "es:hola", 3, 2, mastered=True)).status_code == 201
    assert (await put(client, place.learner, "es:adios", 1, 0)).status_code == 201
    before = await get_board(client, place.place.teacher)
    shown = await board_card(client, place.place.teacher, place.card["id"])
    assert shown["progress"]["started"] == 2
    assert shown["progress"]["mastered"] == 1

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_downgrade, "0009")
    finally:
        await engine.dispose()
    await migrate.upgrade(database_url)

    assert await _drifted(database_url) == []
    database = Database(database_url)
    try:
        async with database.reader() as session:
            stored = (
                await session.execute(
                    select(
                        Card.progress_words, Card.progress_started, Card.progress_mastered
                    ).where(Card.id == uuid.UUID(place.card["id"]))
                )
            ).one()
    finally:
        await database.dispose()
    assert tuple(stored) == (3, 2, 1)
    assert before["columns"]  # the board it was read from


async def test_every_change_keeps_the_stored_sums_computed(
    client: Client, database_url: str
) -> None:
    place = await loop(client)
    teacher = place.place.teacher
    await put(client, place.learner, "es:hola", 2, 2)
    assert await _drifted(database_url) == []
    # A lesson's words replaced: the card counts the new words.
    response = await client.patch(
        f"/api/teacher/lessons/{place.lesson['id']}",
        json={"word_ids": ["es:hola", "es:gato"]},
        headers=teacher.headers,
    )
    assert response.status_code == 200
    assert await _drifted(database_url) == []
    assert (await board_card(client, teacher, place.card["id"]))["progress"]["words"] == 2
    # The learner leaves: the card shows no progress.
    response = await client.post(
        f"/api/v1/classrooms/{place.place.id}/leave", headers=place.learner.headers
    )
    assert response.status_code == 200
    assert await _drifted(database_url) == []
    assert (await board_card(client, teacher, place.card["id"]))["progress"] is None
