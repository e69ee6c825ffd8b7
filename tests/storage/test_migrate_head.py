"""The cheap head check ``tandem serve`` uses agrees with Alembic, and skips a database at head."""

from __future__ import annotations

from storage import migrate


def test_script_head_is_alembics_head() -> None:
    assert migrate.script_head() == migrate.head_revision()


async def test_upgrade_leaves_a_database_at_head_as_it_is(database_url: str) -> None:
    await migrate.upgrade(database_url)  # the template is at head already: a no-op
    assert await migrate.current_revision(database_url) == migrate.head_revision()
