"""Fresh databases for tests: a migrated template, copied per test, on either backend."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

from storage import migrate


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: URL, sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


class PostgresDatabases:
    """Databases on the server of ``maintenance_url``, named ``tandem_test_*``."""

    def __init__(self, maintenance_url: str) -> None:
        self.maintenance = make_url(maintenance_url)
        self.template = f"tandem_tpl_{uuid.uuid4().hex[:12]}"

    async def create_template(self) -> None:
        await _admin(self.maintenance, f'CREATE DATABASE "{self.template}"')
        await migrate.upgrade(self.url_of(self.template))

    async def drop_template(self) -> None:
        await _admin(self.maintenance, f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')

    async def create_empty(self) -> str:
        name = f"tandem_test_{uuid.uuid4().hex[:12]}"
        await _admin(self.maintenance, f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    async def create(self) -> str:
        name = f"tandem_test_{uuid.uuid4().hex[:12]}"
        await _admin(self.maintenance, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return self.url_of(name)

    async def drop(self, url: str) -> None:
        name = make_url(url).database
        await _admin(self.maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url_of(self, name: str) -> str:
        return self.maintenance.set(database=name).render_as_string(hide_password=False)


class SqliteDatabases:
    """SQLite files: the template migrated once, copied for each test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.template = directory / "template.db"

    async def create_template(self) -> None:
        await migrate.upgrade(self.url_of(self.template))

    async def drop_template(self) -> None:
        self.template.unlink(missing_ok=True)

    async def create_empty(self) -> str:
        return self.url_of(self.directory / f"empty-{uuid.uuid4().hex[:12]}.db")

    async def create(self) -> str:
        path = self.directory / f"test-{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(self.template, path)
        return self.url_of(path)

    async def drop(self, url: str) -> None:
        database = make_url(url).database
        assert database is not None
        for suffix in ("", "-wal", "-shm", ".secret-key"):
            Path(database + suffix).unlink(missing_ok=True)  # noqa: ASYNC240 - tiny, local

    @staticmethod
    def url_of(path: Path) -> str:
        return f"sqlite+aiosqlite:///{path}"
