"""a move reads nothing before its statement: the seen check goes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-14 10:00:00.000000

PostgreSQL only. Since migration 0011 a single move read its card without a lock, built its
``card.moved`` event in Python, and sent it to ``tandem_move_card`` with what the card was
seen as (``tandem_card_seen``), so that the function could refuse a card changed meanwhile.
The move statement now builds the event itself from the card as the function finds it
under the board's lock (storage/repositories/card_moves.py, with SQL generated from the
API's shapes by server/board/card_json.py): no read before, nothing to compare, one round
trip a move fewer. So ``tandem_move_card`` is again migration 0010's, without ``p_seen``
(taken from that migration, not copied), keeps migration 0012's plans made once, and
``tandem_card_seen`` goes.
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WITHOUT_SEEN = importlib.import_module("storage.migrations.versions.0010_card_progress_sums")
_WITH_SEEN = importlib.import_module("storage.migrations.versions.0011_move_card_as_seen")
_PLANS = importlib.import_module("storage.migrations.versions.0012_move_card_generic_plans")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION tandem_move_card")
    op.execute(_WITHOUT_SEEN._move_card())
    op.execute(_PLANS.GENERIC_PLANS)
    op.execute("DROP FUNCTION tandem_card_seen")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_PLANS.CARD_SEEN)
    op.execute("DROP FUNCTION tandem_move_card")
    op.execute(_WITH_SEEN._move_card())
    op.execute(_PLANS.GENERIC_PLANS)
