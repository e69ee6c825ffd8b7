"""Alembic environment: runs on the connection :mod:`storage.migrate` hands it.

Batch mode on SQLite (which cannot ALTER most things in place) and the whole upgrade in one
transaction on both backends, so a failed migration leaves the schema as it was.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import storage.models  # noqa: F401 - registers the tables on Base.metadata
from storage.base import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through `tandem db upgrade` or `tandem db revision`, "
            "which supply the database connection"
        )
    run_migrations(connection)


main()
