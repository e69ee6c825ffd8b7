"""Migrations: an empty database upgraded to head matches the models, on either backend."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

import storage.models  # noqa: F401 - registers the tables on Base.metadata
from storage import migrate
from storage.base import Base
from storage.engine import create_engine
from tests.databases import PostgresDatabases, SqliteDatabases


@pytest.fixture
async def empty_database_url(
    databases: PostgresDatabases | SqliteDatabases,
) -> AsyncIterator[str]:
    url = await databases.create_empty()
    yield url
    await databases.drop(url)


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_to_head_matches_the_models(empty_database_url: str) -> None:
    assert await migrate.current_revision(empty_database_url) is None
    await migrate.upgrade(empty_database_url)
    assert await migrate.current_revision(empty_database_url) == migrate.head_revision()
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert differences == []
    assert set(Base.metadata.tables) <= tables


async def _db_upgrade_process(url: str) -> tuple[int, bytes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "db",
        "upgrade",
        env={**os.environ, "TANDEM_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output


async def test_processes_starting_at_once_do_not_race(empty_database_url: str) -> None:
    """Three `tandem db upgrade` processes at once, as three `tandem serve` would: all
    succeed and the schema is migrated once."""
    results = await asyncio.gather(*(_db_upgrade_process(empty_database_url) for _ in range(3)))
    for returncode, output in results:
        assert returncode == 0, output.decode()
    assert await migrate.current_revision(empty_database_url) == migrate.head_revision()


async def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    await migrate.upgrade(empty_database_url)
    await migrate.upgrade(empty_database_url)
    assert await migrate.current_revision(empty_database_url) == migrate.head_revision()


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(migrate.alembic_config(connection), revision)
    connection.commit()


async def test_classroom_words_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    """0006 (classroom words) undoes cleanly, and the schema matches the models again after."""
    await migrate.upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_downgrade, "0005")
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert "classroom_words" not in tables
        assert "lessons" in tables
        assert await migrate.current_revision(empty_database_url) == "0005"
        await migrate.upgrade(empty_database_url)
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []
