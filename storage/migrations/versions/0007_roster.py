"""roster: classroom owner, auto_advance and membership epoch, students' own join codes,
lesson words as rows

Every step is a plain ALTER (add or drop a column, create or drop an index), never a
batch-mode table rebuild: SQLite rebuilds a table by dropping the old one, and with
foreign keys on, that cascades (dropping ``lessons`` deletes every card).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:10:00.000000
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from storage.codes import new_code

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LESSONS = sa.table("lessons", sa.column("id", sa.Uuid()), sa.column("word_ids", sa.JSON()))
LESSON_WORDS = sa.table(
    "lesson_words",
    sa.column("lesson_id", sa.Uuid()),
    sa.column("word_id", sa.String()),
    sa.column("position", sa.Integer()),
)
STUDENTS = sa.table(
    "students",
    sa.column("id", sa.Uuid()),
    sa.column("learner_id", sa.Uuid()),
    sa.column("join_code", sa.String()),
)


def upgrade() -> None:
    connection = op.get_bind()
    op.add_column(
        "classrooms", sa.Column("auto_advance", sa.Boolean(), server_default="1", nullable=False)
    )
    op.add_column(
        "classrooms", sa.Column("members_epoch", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "classroom_teachers",
        sa.Column("owner", sa.Boolean(), server_default="0", nullable=False),
    )
    # The creator was the first member: the earliest to join owns the classroom.
    op.execute(
        "UPDATE classroom_teachers SET owner = (user_id = (SELECT t.user_id"
        " FROM classroom_teachers t WHERE t.classroom_id = classroom_teachers.classroom_id"
        " ORDER BY t.joined_at, t.user_id LIMIT 1))"
    )

    op.add_column("students", sa.Column("join_code", sa.String(length=32), nullable=True))
    op.create_index("uq_students_join_code", "students", ["join_code"], unique=True)
    unlinked = list(
        connection.execute(
            sa.select(STUDENTS.c.id).where(STUDENTS.c.learner_id.is_(None))
        ).scalars()
    )
    # A roster entry nobody claimed yet gets its own code, as a new one would.
    for student_id in unlinked:
        connection.execute(
            STUDENTS.update().where(STUDENTS.c.id == student_id).values(join_code=new_code())
        )

    op.create_table(
        "lesson_words",
        sa.Column("lesson_id", sa.Uuid(), nullable=False),
        sa.Column("word_id", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_lesson_words_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lesson_id", "word_id", name=op.f("pk_lesson_words")),
        sa.UniqueConstraint(
            "lesson_id", "position", name=op.f("uq_lesson_words_lesson_id_position")
        ),
    )
    op.create_index("ix_lesson_words_word_id", "lesson_words", ["word_id"], unique=False)
    rows: list[dict[str, Any]] = []
    for lesson_id, stored in connection.execute(sa.select(LESSONS.c.id, LESSONS.c.word_ids)):
        # A driver may hand JSON back as text.
        word_ids = json.loads(stored) if isinstance(stored, str) else stored
        # Order kept, repeats dropped: the rule lessons follow from now on (contract §8).
        for position, word_id in enumerate(dict.fromkeys(word_ids or [])):
            rows.append({"lesson_id": lesson_id, "word_id": word_id, "position": position})
    if rows:
        op.bulk_insert(LESSON_WORDS, rows)
    op.drop_column("lessons", "word_ids")


def downgrade() -> None:
    connection = op.get_bind()
    # NOT NULL with a default: SQLite adds it in place.
    op.add_column("lessons", sa.Column("word_ids", sa.JSON(), server_default="[]", nullable=False))
    words: dict[Any, list[str]] = {}
    ordered = sa.select(LESSON_WORDS.c.lesson_id, LESSON_WORDS.c.word_id).order_by(
        LESSON_WORDS.c.lesson_id, LESSON_WORDS.c.position
    )
    for lesson_id, word_id in connection.execute(ordered):
        words.setdefault(lesson_id, []).append(word_id)
    for lesson_id, word_ids in words.items():
        connection.execute(
            LESSONS.update().where(LESSONS.c.id == lesson_id).values(word_ids=word_ids)
        )
    op.drop_index("ix_lesson_words_word_id", table_name="lesson_words")
    op.drop_table("lesson_words")

    op.drop_index("uq_students_join_code", table_name="students")
    op.drop_column("students", "join_code")
    op.drop_column("classroom_teachers", "owner")
    op.drop_column("classrooms", "members_epoch")
    op.drop_column("classrooms", "auto_advance")
