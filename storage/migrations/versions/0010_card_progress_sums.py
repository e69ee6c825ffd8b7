"""each card keeps its progress sums; the move function returns them with the card

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-11 10:00:00.000000

A card's learner progress (contract §9) is computed by one aggregate
(storage/repositories/card_progress.py); the board read joined it into its statement and a
move ran it under the board's lock, which cost the read about a quarter and the move most
of its speed (docs/benchmarks.md). The cards now keep the aggregate's result in six
columns, written by every write that changes what it is computed from; they are filled
here by the same statement those writes run (``store_sql`` over every card), so there is
one rule, not a frozen copy of it.

PostgreSQL: ``tandem_move_card`` also returns the moved card's stored sums, read with the
card under its row lock, so a move shows the card with no statement more. Its result type
changes, so it is dropped and created; its text is migration 0008's with the six columns
added (checked: each edit must apply exactly once).
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.base
from storage.repositories import card_progress

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREVIOUS = importlib.import_module("storage.migrations.versions.0008_move_card_reduced")

# 0008's function with the stored sums as six more results, read with the card.
_EDITS = (
    (
        "OUT o_updated timestamptz, OUT o_position bigint",
        "OUT o_updated timestamptz, OUT o_position bigint, OUT o_words integer,\n"
        "    OUT o_started integer, OUT o_mastered integer, OUT o_studies integer,\n"
        "    OUT o_correct integer, OUT o_last_studied timestamptz",
    ),
    (
        "         cards.created_at, cards.updated_at,\n",
        "         cards.created_at, cards.updated_at, cards.progress_words,\n"
        "         cards.progress_started, cards.progress_mastered, cards.progress_studies,\n"
        "         cards.progress_correct, cards.progress_last_studied_at,\n",
    ),
    (
        "o_expires, o_created, o_updated, o_place\n",
        "o_expires, o_created, o_updated, o_words,\n"
        "         o_started, o_mastered, o_studies, o_correct, o_last_studied, o_place\n",
    ),
)


def _move_card() -> str:
    text: str = _PREVIOUS.MOVE_CARD
    for old, new in _EDITS:
        assert text.count(old) == 1, f"migration 0008's function changed: {old!r}"
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for column in card_progress.STORED_COLUMNS[1:-1]:
        op.add_column("cards", sa.Column(column, sa.Integer(), server_default="0", nullable=False))
    op.add_column("cards", sa.Column("progress_words", sa.Integer(), nullable=True))
    op.add_column(
        "cards",
        sa.Column(
            "progress_last_studied_at", storage.base.UTCDateTime(timezone=True), nullable=True
        ),
    )
    # Every card with a learner gets its sums (a card with none keeps the defaults, which
    # are its sums: no progress).
    op.get_bind().exec_driver_sql(card_progress.store_sql(dialect, "all"))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION tandem_move_card")
        op.execute(_move_card())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION tandem_move_card")
        op.execute(_PREVIOUS.MOVE_CARD)
    with op.batch_alter_table("cards", schema=None) as batch_op:
        for column in reversed(card_progress.STORED_COLUMNS):
            batch_op.drop_column(column)
