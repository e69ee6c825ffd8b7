"""Apply and create Alembic migrations from code (``tandem db upgrade``, ``tandem serve``).

Several processes may start at once against one PostgreSQL: each takes a session-level
advisory lock before looking at the schema version, so exactly one migrates and the others
find the schema at head when they get the lock. On SQLite the upgrade's ``BEGIN IMMEDIATE``
transaction serialises them the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# An arbitrary constant: the key of the advisory lock migrations hold on PostgreSQL.
ADVISORY_LOCK_KEY = 0x7A4D_3E11


# Alembic costs about half a second to import; a start against a database already at head
# (every restart) does not need it: ``upgrade`` compares the stored revision with
# :func:`script_head` first, and imports Alembic only when there is work to do.
_REVISION_LINE = re.compile(r'^(down_)?revision\b[^=]*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


def script_head() -> str | None:
    """The head revision, read from the scripts' ``revision``/``down_revision`` lines.

    Agrees with :func:`head_revision` (a test pins them) while the history is one line; a
    branched history (several heads) gives None, and ``upgrade`` then asks Alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        for down, value in _REVISION_LINE.findall(script.read_text()):
            if value:
                (parents if down else revisions).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # noqa: PLC0415 - see script_head

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    # New revisions are named NNNN_slug by hand after generation; keep ids readable.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - see script_head

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``; safe when processes race."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            if revision == "head" and await _stored_revision(connection) == script_head():
                return
            await connection.run_sync(_upgrade, revision)
    finally:
        await engine.dispose()


async def _stored_revision(connection: AsyncConnection) -> str | None:
    """The revision in ``alembic_version``; None for a new database (or several heads)."""
    try:
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:
        await connection.rollback()
        return None
    await connection.rollback()
    return str(rows[0][0]) if len(rows) == 1 else None


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command  # noqa: PLC0415 - see script_head

    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        connection.commit()
    try:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()
    finally:
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.commit()


async def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - see script_head

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


async def make_revision(url: str, message: str) -> None:
    """Autogenerate a revision from the difference between the models and ``url``'s schema."""
    from alembic import command  # noqa: PLC0415 - see script_head

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(
                lambda sync: command.revision(
                    alembic_config(sync), message=message, autogenerate=True
                )
            )
    finally:
        await engine.dispose()
