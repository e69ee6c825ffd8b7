"""roster: classroom owner, auto_advance and membership epoch, students' own join codes,
lesson words as rows

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


def upgrade() -> None:
    with op.batch_alter_table("classrooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("auto_advance", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("members_epoch", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_classrooms_owner_id_users"),
            "users",
            ["owner_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # The creator was the first member: the earliest to join owns the classroom.
    op.execute(
        "UPDATE classrooms SET owner_id = (SELECT t.user_id FROM classroom_teachers t"
        " WHERE t.classroom_id = classrooms.id ORDER BY t.joined_at, t.user_id LIMIT 1)"
    )

    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.add_column(sa.Column("join_code", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_students_join_code"), ["join_code"])
    connection = op.get_bind()
    students = sa.table(
        "students",
        sa.column("id", sa.Uuid()),
        sa.column("learner_id", sa.Uuid()),
        sa.column("join_code", sa.String()),
    )
    unlinked = list(
        connection.execute(
            sa.select(students.c.id).where(students.c.learner_id.is_(None))
        ).scalars()
    )
    # A roster entry nobody claimed yet gets its own code, as a new one would.
    for student_id in unlinked:
        connection.execute(
            students.update().where(students.c.id == student_id).values(join_code=new_code())
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
    with op.batch_alter_table("lesson_words", schema=None) as batch_op:
        batch_op.create_index("ix_lesson_words_word_id", ["word_id"], unique=False)
    lessons = sa.table("lessons", sa.column("id", sa.Uuid()), sa.column("word_ids", sa.JSON()))
    lesson_words = sa.table(
        "lesson_words",
        sa.column("lesson_id", sa.Uuid()),
        sa.column("word_id", sa.String()),
        sa.column("position", sa.Integer()),
    )
    rows: list[dict[str, Any]] = []
    for lesson_id, stored in connection.execute(sa.select(lessons.c.id, lessons.c.word_ids)):
        # A driver may hand JSON back as text.
        word_ids = json.loads(stored) if isinstance(stored, str) else stored
        # Order kept, repeats dropped: the rule lessons follow from now on (contract §8).
        for position, word_id in enumerate(dict.fromkeys(word_ids or [])):
            rows.append({"lesson_id": lesson_id, "word_id": word_id, "position": position})
    if rows:
        op.bulk_insert(lesson_words, rows)
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_column("word_ids")


def downgrade() -> None:
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("word_ids", sa.JSON(), nullable=True))
    connection = op.get_bind()
    words: dict[Any, list[str]] = {}
    for lesson_id, word_id in connection.execute(
        sa.text("SELECT lesson_id, word_id FROM lesson_words ORDER BY lesson_id, position")
    ):
        words.setdefault(lesson_id, []).append(word_id)
    lessons = sa.table("lessons", sa.column("id", sa.Uuid()), sa.column("word_ids", sa.JSON()))
    for lesson_id, word_ids in words.items():
        connection.execute(
            lessons.update().where(lessons.c.id == lesson_id).values(word_ids=word_ids)
        )
    connection.execute(lessons.update().where(lessons.c.word_ids.is_(None)).values(word_ids=[]))
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.alter_column("word_ids", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("lesson_words", schema=None) as batch_op:
        batch_op.drop_index("ix_lesson_words_word_id")
    op.drop_table("lesson_words")

    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_students_join_code"), type_="unique")
        batch_op.drop_column("join_code")

    with op.batch_alter_table("classrooms", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_classrooms_owner_id_users"), type_="foreignkey")
        batch_op.drop_column("members_epoch")
        batch_op.drop_column("auto_advance")
        batch_op.drop_column("owner_id")
