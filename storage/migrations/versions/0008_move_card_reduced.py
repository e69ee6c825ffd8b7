"""the move function keeps only the locking, the checks and the key: no card JSON, events

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 10:00:00.000000

PostgreSQL only. ``tandem_card_json`` goes: cards are shown by ``CardOut.of`` in Python only.
``tandem_move_card`` now returns the card's columns and the move's place, and appends no
event; the caller shows the card and appends ``card.moved`` through storage/events.py in
the same transaction (storage/repositories/card_moves.py says why the function stays).
Its result type changes, so it is dropped and created, not replaced.
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Contract §5's move for a known status and a position of 0 or more (the caller checks those
# first), the checks in their order. Outcomes: not_found (no columns), locked, version,
# transition (the card as it is), renumber (no room between the neighbours' keys: nothing
# written, the caller renumbers in Python under the lock this took), moved (the card as it
# was, and o_position, its place now). What it does not decide is passed in: the statuses
# allowed to go to the new one, the new version (``rules.next_version`` of the version the
# check requires) and the key gap.
MOVE_CARD = """
CREATE FUNCTION tandem_move_card(
    p_card uuid, p_teacher uuid, p_status text, p_index bigint, p_version timestamptz,
    p_new_version timestamptz, p_now timestamptz, p_allowed_from text[], p_gap bigint,
    OUT o_outcome text, OUT o_id uuid, OUT o_classroom uuid, OUT o_lesson uuid,
    OUT o_title text, OUT o_category text, OUT o_student uuid, OUT o_student_name text,
    OUT o_status text, OUT o_place bigint, OUT o_locked_by uuid, OUT o_holder text,
    OUT o_locked_at timestamptz, OUT o_expires timestamptz, OUT o_created timestamptz,
    OUT o_updated timestamptz, OUT o_position bigint
) LANGUAGE plpgsql AS $$
DECLARE
  v_key bigint;
  v_size bigint;
  v_before bigint;
  v_after bigint;
BEGIN
  SELECT cards.classroom_id INTO o_classroom
    FROM cards JOIN classroom_teachers t ON t.classroom_id = cards.classroom_id
    WHERE cards.id = p_card AND t.user_id = p_teacher;
  IF NOT FOUND THEN
    o_outcome := 'not_found';
    RETURN;
  END IF;
  -- The board's lock, as every board write takes it; each statement below reads afresh.
  PERFORM 1 FROM classrooms WHERE id = o_classroom FOR UPDATE;
  SELECT cards.id, cards.lesson_id, l.title, l.category, cards.student_id, s.name,
         cards.status, cards.locked_by, h.name, cards.locked_at, cards.lock_expires_at,
         cards.created_at, cards.updated_at,
         (SELECT count(*) FROM cards o WHERE o.classroom_id = cards.classroom_id
            AND o.status = cards.status AND o.sort_key < cards.sort_key)
    INTO o_id, o_lesson, o_title, o_category, o_student, o_student_name, o_status,
         o_locked_by, o_holder, o_locked_at, o_expires, o_created, o_updated, o_place
    FROM cards JOIN lessons l ON l.id = cards.lesson_id
    LEFT JOIN students s ON s.id = cards.student_id
    LEFT JOIN users h ON h.id = cards.locked_by
    WHERE cards.id = p_card
    FOR UPDATE OF cards;
  IF NOT FOUND THEN
    o_outcome := 'not_found';
    RETURN;
  END IF;
  -- rules.lock_held's second copy (a lease counts while it has not expired).
  IF o_locked_by IS NOT NULL AND o_locked_by <> p_teacher AND o_expires > p_now THEN
    o_outcome := 'locked';
    RETURN;
  END IF;
  IF o_updated <> p_version THEN
    o_outcome := 'version';
    RETURN;
  END IF;
  IF NOT (o_status = ANY (p_allowed_from)) THEN
    o_outcome := 'transition';
    RETURN;
  END IF;
  -- Past the end means last; the card itself is left out of its column-to-be.
  SELECT count(*) INTO v_size FROM cards
    WHERE classroom_id = o_classroom AND status = p_status AND id <> p_card;
  o_position := least(p_index, v_size);
  IF NOT (p_status = o_status AND o_position = o_place) THEN
    IF o_position > 0 THEN
      SELECT sort_key INTO v_before FROM cards
        WHERE classroom_id = o_classroom AND status = p_status AND id <> p_card
        ORDER BY sort_key OFFSET o_position - 1 LIMIT 1;
    END IF;
    SELECT sort_key INTO v_after FROM cards
      WHERE classroom_id = o_classroom AND status = p_status AND id <> p_card
      ORDER BY sort_key OFFSET o_position LIMIT 1;
    IF v_before IS NULL AND v_after IS NULL THEN
      v_key := p_gap;
    ELSIF v_before IS NULL THEN
      v_key := v_after - p_gap;
    ELSIF v_after IS NULL THEN
      v_key := v_before + p_gap;
    ELSIF v_after - v_before > 1 THEN
      v_key := floor((v_before + v_after)::numeric / 2)::bigint;
    ELSE
      o_outcome := 'renumber';
      RETURN;
    END IF;
  END IF;
  UPDATE cards SET status = p_status, sort_key = coalesce(v_key, sort_key),
      updated_at = p_new_version
    WHERE id = p_card;
  o_outcome := 'moved';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION tandem_move_card")
    op.execute("DROP FUNCTION tandem_card_json")
    op.execute(MOVE_CARD)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    previous = importlib.import_module("storage.migrations.versions.0005_move_card_function")
    op.execute("DROP FUNCTION tandem_move_card")
    op.execute(previous.CARD_JSON)
    op.execute(previous.MOVE_CARD)
