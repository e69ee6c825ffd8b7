"""a single card move as one PostgreSQL function call

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:40:00.000000

PostgreSQL only (SQLite moves stay in Python): storage/repositories/card_moves.py says why,
and calls it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A card as the API shows it (server.board.schemas.CardOut; board_json.py builds the same
# shape for the board read, and tests hold both to it): lock fields only while the lease
# runs, instants in UTC with microseconds and a Z.
CARD_JSON = """
CREATE FUNCTION tandem_card_json(
    p_id uuid, p_lesson uuid, p_title text, p_category text, p_student uuid,
    p_student_name text, p_status text, p_position bigint, p_locked_by uuid,
    p_holder text, p_locked_at timestamptz, p_expires timestamptz,
    p_created timestamptz, p_updated timestamptz, p_now timestamptz
) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'id', p_id, 'lesson_id', p_lesson, 'lesson_title', p_title,
    'lesson_category', p_category, 'student_id', p_student, 'student_name', p_student_name,
    'status', p_status, 'position', p_position,
    'locked_by', CASE WHEN p_expires > p_now THEN p_locked_by END,
    'locked_by_name', CASE WHEN p_expires > p_now THEN p_holder END,
    'locked_at', CASE WHEN p_expires > p_now THEN
        to_char(p_locked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END,
    'lock_expires_at', CASE WHEN p_expires > p_now THEN
        to_char(p_expires AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END,
    'created_at', to_char(p_created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'updated_at', to_char(p_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  )
$$
"""

# The move of contract §5, checks in their order, for a known status and a position of 0 or
# more (the caller checks those first). Outcomes: not_found, locked, version, transition
# (each with the card as it is), renumber (no room between the neighbours' keys: nothing
# written, the caller renumbers in Python), moved (with the card.moved event's data and seq).
MOVE_CARD = """
CREATE FUNCTION tandem_move_card(
    p_card uuid, p_teacher uuid, p_status text, p_index bigint, p_version timestamptz,
    p_now timestamptz, p_allowed_from text[], p_gap bigint, p_actor_name text,
    OUT o_outcome text, OUT o_data json, OUT o_seq bigint, OUT o_channel text
) LANGUAGE plpgsql AS $$
DECLARE
  v_classroom uuid;
  c record;
  v_card json;
  v_size bigint;
  v_target bigint;
  v_before bigint;
  v_after bigint;
  v_key bigint;
  v_version timestamptz;
  v_channel text;
BEGIN
  SELECT cards.classroom_id INTO v_classroom
    FROM cards JOIN classroom_teachers t ON t.classroom_id = cards.classroom_id
    WHERE cards.id = p_card AND t.user_id = p_teacher;
  IF NOT FOUND THEN
    o_outcome := 'not_found';
    RETURN;
  END IF;
  -- The board's lock, as every board write takes it; each statement below reads afresh.
  PERFORM 1 FROM classrooms WHERE id = v_classroom FOR UPDATE;
  SELECT cards.id, cards.lesson_id, l.title, l.category, cards.student_id,
         s.name AS student_name, cards.status, cards.sort_key, cards.locked_by,
         h.name AS holder, cards.locked_at, cards.lock_expires_at, cards.created_at,
         cards.updated_at,
         (SELECT count(*) FROM cards o WHERE o.classroom_id = cards.classroom_id
            AND o.status = cards.status AND o.sort_key < cards.sort_key) AS place
    INTO c
    FROM cards JOIN lessons l ON l.id = cards.lesson_id
    LEFT JOIN students s ON s.id = cards.student_id
    LEFT JOIN users h ON h.id = cards.locked_by
    WHERE cards.id = p_card
    FOR UPDATE OF cards;
  IF NOT FOUND THEN
    o_outcome := 'not_found';
    RETURN;
  END IF;
  v_card := tandem_card_json(c.id, c.lesson_id, c.title, c.category, c.student_id,
    c.student_name, c.status, c.place, c.locked_by, c.holder, c.locked_at,
    c.lock_expires_at, c.created_at, c.updated_at, p_now);
  IF c.locked_by IS NOT NULL AND c.locked_by <> p_teacher AND c.lock_expires_at > p_now THEN
    o_outcome := 'locked';
    o_data := v_card;
    RETURN;
  END IF;
  IF c.updated_at <> p_version THEN
    o_outcome := 'version';
    o_data := v_card;
    RETURN;
  END IF;
  IF NOT (c.status = ANY (p_allowed_from)) THEN
    o_outcome := 'transition';
    o_data := v_card;
    RETURN;
  END IF;
  -- Past the end means last; the card itself is left out of its column-to-be.
  SELECT count(*) INTO v_size FROM cards
    WHERE classroom_id = v_classroom AND status = p_status AND id <> p_card;
  v_target := least(p_index, v_size);
  IF NOT (p_status = c.status AND v_target = c.place) THEN
    IF v_target > 0 THEN
      SELECT sort_key INTO v_before FROM cards
        WHERE classroom_id = v_classroom AND status = p_status AND id <> p_card
        ORDER BY sort_key OFFSET v_target - 1 LIMIT 1;
    END IF;
    SELECT sort_key INTO v_after FROM cards
      WHERE classroom_id = v_classroom AND status = p_status AND id <> p_card
      ORDER BY sort_key OFFSET v_target LIMIT 1;
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
  v_version := greatest(p_now, c.updated_at + interval '1 microsecond');
  UPDATE cards SET status = p_status, sort_key = coalesce(v_key, sort_key),
      updated_at = v_version
    WHERE id = p_card;
  o_data := json_build_object(
    'card', tandem_card_json(c.id, c.lesson_id, c.title, c.category, c.student_id,
        c.student_name, p_status, v_target, c.locked_by, c.holder, c.locked_at,
        c.lock_expires_at, c.created_at, v_version, p_now),
    'from_status', c.status,
    'from_position', c.place);
  v_channel := 'board:' || v_classroom;
  INSERT INTO channel_heads AS h (channel, seq) VALUES (v_channel, 1)
    ON CONFLICT (channel) DO UPDATE SET seq = h.seq + 1
    RETURNING h.seq INTO o_seq;
  o_channel := v_channel;
  INSERT INTO events (channel, seq, name, data, actor_id, actor_name, at)
    VALUES (v_channel, o_seq, 'card.moved', o_data, p_teacher, p_actor_name, p_now);
  o_outcome := 'moved';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CARD_JSON)
    op.execute(MOVE_CARD)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION tandem_move_card")
    op.execute("DROP FUNCTION tandem_card_json")
