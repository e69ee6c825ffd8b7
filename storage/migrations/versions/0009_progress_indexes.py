"""indexes for card progress: a learner's student entries and a student's cards

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00.000000

A card's progress (contract §9, storage/repositories/card_progress.py) is found from the
other end too: a learner's write finds the learner's student entries, then their cards
whose lessons hold the written words; a learner's assignments list their entries' cards.
``students (classroom_id, learner_id)`` and ``cards (lesson_id, student_id)`` lead with
the other column, so each lookup gets an index of its own. Indexes only: no table is
rebuilt on SQLite.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_students_learner_id", "students", ["learner_id"])
    op.create_index("ix_cards_student_id", "cards", ["student_id"])


def downgrade() -> None:
    op.drop_index("ix_cards_student_id", table_name="cards")
    op.drop_index("ix_students_learner_id", table_name="students")
