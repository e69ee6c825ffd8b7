"""the move's locked part plans nothing: its queries and the seen check keep their plans

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-13 10:00:00.000000

PostgreSQL only. ``tandem_move_card`` runs under its board's lock, so every moment it
spends is a moment every other move of the board waits; at 200 moves a second on one board
a locked part a millisecond too long queued the moves for hundreds of milliseconds
(docs/benchmarks.md). Two costs in it were planning, not work:

- ``tandem_card_seen`` was a SQL function. PostgreSQL plans a SQL function's query on
  every call it cannot inline, and this one (a query with joins) it cannot: 0.31 ms of CPU
  a call against 0.09 ms for the same query in PL/pgSQL, which keeps its plan for the
  connection's life. Same query (migration 0011's, taken from it), same text answer; only
  its language changes.
- PL/pgSQL plans each of the move's queries for each call's values until it decides one
  plan would do, and for a key range and ``status = ANY(…)`` it may never decide so.
  ``plan_cache_mode = force_generic_plan`` on the function makes each query's plan once:
  every one is a single-row or an index-range lookup on the board's indexes whatever the
  values, so the plan made once is the plan each call would get.
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREVIOUS = importlib.import_module("storage.migrations.versions.0011_move_card_as_seen")

# Migration 0011's query, the one statement of what a card is seen as, run as PL/pgSQL.
assert _PREVIOUS.CARD_SEEN.count("$$") == 2, "migration 0011's function changed"
_SEEN_QUERY = _PREVIOUS.CARD_SEEN.split("$$")[1].strip()
CARD_SEEN = f"""
CREATE OR REPLACE FUNCTION tandem_card_seen(p_card uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN ({_SEEN_QUERY});
END
$$
"""

GENERIC_PLANS = "ALTER FUNCTION tandem_move_card SET plan_cache_mode = force_generic_plan"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CARD_SEEN)
    op.execute(GENERIC_PLANS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER FUNCTION tandem_move_card RESET plan_cache_mode")
    op.execute(_PREVIOUS.CARD_SEEN.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
