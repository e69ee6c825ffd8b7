"""a move applies only to the card as its caller read it, so its event goes in the same statement

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12 10:00:00.000000

PostgreSQL only. A move held its board's lock from ``tandem_move_card`` to its commit:
three round trips with the event loop between them, and a board read of 3,000 cards on the
same process stretched each turn of the loop, so 200 moves a second on one board queued
for hundreds of milliseconds (docs/benchmarks.md). The caller now reads the card first,
without a lock, shows it and encodes its ``card.moved`` event in Python (the one card
builder), and makes the move, its event and the commit one autocommitted statement
(storage/repositories/card_moves.py): the lock is held inside PostgreSQL only.

What tells the caller's card from the card under the lock is ``tandem_card_seen``: the row
versions (``xmin``) of the card and of the rows shown with it (its lesson, its student, its
lock's holder). Any write to one of them changes it; a lock on them does not. The pre-read
and the move both call it, so the rule is written here once. ``tandem_move_card`` takes the
caller's ``p_seen`` and answers ``stale`` (nothing written) when it differs; the caller
then moves the card the Python way. Its signature changes, so it is dropped and created;
its text is migration 0010's with the check added (each edit must apply exactly once).
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREVIOUS = importlib.import_module("storage.migrations.versions.0010_card_progress_sums")

# NULLs spelt out: concat_ws would skip them, and a card with no student but a holder
# would read like one with a student and no holder.
CARD_SEEN = """
CREATE FUNCTION tandem_card_seen(p_card uuid) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT concat_ws(':', c.xmin, l.xmin, coalesce(s.xmin::text, '-'),
                   coalesce(h.xmin::text, '-'))
    FROM cards c JOIN lessons l ON l.id = c.lesson_id
    LEFT JOIN students s ON s.id = c.student_id
    LEFT JOIN users h ON h.id = c.locked_by
    WHERE c.id = p_card
$$
"""

_EDITS = (
    (
        "p_allowed_from text[], p_gap bigint,\n",
        "p_allowed_from text[], p_gap bigint, p_seen text,\n",
    ),
    (
        "    FOR UPDATE OF cards;\n"
        "  IF NOT FOUND THEN\n"
        "    o_outcome := 'not_found';\n"
        "    RETURN;\n"
        "  END IF;\n",
        "    FOR UPDATE OF cards;\n"
        "  IF NOT FOUND THEN\n"
        "    o_outcome := 'not_found';\n"
        "    RETURN;\n"
        "  END IF;\n"
        "  -- Changed since the caller read it: the caller's card and event would be stale.\n"
        "  IF tandem_card_seen(p_card) IS DISTINCT FROM p_seen THEN\n"
        "    o_outcome := 'stale';\n"
        "    RETURN;\n"
        "  END IF;\n",
    ),
)


def _move_card() -> str:
    text: str = _PREVIOUS._move_card()
    for old, new in _EDITS:
        assert text.count(old) == 1, f"migration 0010's function changed: {old!r}"
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CARD_SEEN)
    op.execute("DROP FUNCTION tandem_move_card")
    op.execute(_move_card())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION tandem_move_card")
    op.execute(_PREVIOUS._move_card())
    op.execute("DROP FUNCTION tandem_card_seen")
