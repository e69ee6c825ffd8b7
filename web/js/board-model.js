// The board's state, with no DOM: the cards the current filters show, kept current by
// applying the channel's events in seq order (docs/realtime.md §4). Positions are the
// server's, dense 0..n-1 per column over ALL cards, so a filtered view has gaps; shifts are
// derived from each event exactly as the server made them.

export const STATUSES = ["not_started", "in_progress", "needs_review", "mastered"];
export const STATUS_NAMES = {
  not_started: "Not Started",
  in_progress: "In Progress",
  needs_review: "Needs Review",
  mastered: "Mastered",
};
/** "Past the end means last" (contract §5): used where the true column size is unknown. */
export const END = 100000;

export const statusIndex = (status) => STATUSES.indexOf(status);

/** Forward one column at a time; back to any earlier column; reorder within one. */
export const canMove = (from, to) => statusIndex(to) <= statusIndex(from) + 1;

/** The key of a (lesson, student) pair: one card each; a null student is the template. */
export const pairKey = (lessonId, studentId) => `${lessonId}|${studentId ?? ""}`;

export function emptyQuery() {
  return { student: "", category: "", status: "" };
}

export class BoardModel {
  constructor() {
    this.clear();
  }

  clear() {
    this.classroomId = null;
    this.columns = STATUSES.map((status) => ({ status_value: status, name: STATUS_NAMES[status], color: null }));
    this.cards = new Map();
    this.seq = 0;
    this.filters = { students: [], categories: [] };
    this.query = emptyQuery();
    this.etag = null;
    this.lastActor = new Map(); // card id -> name of the teacher who last moved it
    this.lessons = null; // lesson id -> lesson, once read (for the categories filter)
  }

  /** The classroom's lessons (GET /lessons): the categories filter is theirs (§4). */
  setLessons(lessons) {
    this.lessons = new Map(lessons.map((lesson) => [lesson.id, lesson]));
    this.filters.categories = categoriesOf(this.lessons.values());
  }

  get filtered() {
    return Boolean(this.query.student || this.query.category || this.query.status);
  }

  /** Replace everything with a REST answer (GET /progress-board). */
  load(data, query, etag = null) {
    this.classroomId = data.classroom_id;
    this.columns = data.columns.map(({ cards, ...column }) => column);
    this.cards = new Map();
    for (const column of data.columns) for (const card of column.cards) this.cards.set(card.id, card);
    this.seq = data.seq;
    this.filters = data.filters;
    this.query = { ...query };
    this.etag = etag;
  }

  matches(card) {
    const { student, category, status } = this.query;
    if (student && card.student_id !== student) return false;
    if (category && card.lesson_category !== category) return false;
    if (status && card.status !== status) return false;
    return true;
  }

  column(status) {
    return this.columns.find((column) => column.status_value === status);
  }

  /** The column's cards in server order. */
  cardsIn(status) {
    return [...this.cards.values()]
      .filter((card) => card.status === status)
      .sort((a, b) => a.position - b.position);
  }

  studentName(id) {
    return this.filters.students.find((student) => student.id === id)?.name ?? null;
  }

  /**
   * Apply one event frame. Returns what the view needs: the card it concerns and whether it
   * moved somewhere visible (for the FLIP animation and the "moved by" highlight).
   */
  apply(frame) {
    if (frame.seq <= this.seq) return null;
    this.seq = frame.seq;
    this.etag = null;
    const data = frame.data;
    switch (frame.event) {
      case "card.created":
        if (this.matches(data)) this.cards.set(data.id, data);
        return { id: data.id, kind: "created" };
      case "card.moved":
        this.shiftForMove(data.card, data.from_status, data.from_position);
        if (this.matches(data.card)) this.cards.set(data.card.id, data.card);
        else this.cards.delete(data.card.id);
        if (frame.actor?.name) this.lastActor.set(data.card.id, frame.actor);
        return { id: data.card.id, kind: "moved" };
      case "card.locked": {
        const card = this.cards.get(data.id);
        if (card) {
          this.cards.set(data.id, {
            ...card,
            locked_by: data.locked_by,
            locked_by_name: data.locked_by_name,
            locked_at: data.locked_at,
            lock_expires_at: data.expires_at,
          });
        }
        return { id: data.id, kind: "locked" };
      }
      case "card.unlocked": {
        const card = this.cards.get(data.id);
        if (card) {
          this.cards.set(data.id, { ...card, locked_by: null, locked_by_name: null, locked_at: null, lock_expires_at: null });
        }
        return { id: data.id, kind: "unlocked", reason: data.reason };
      }
      case "card.progress": {
        // A learner's progress on the lesson's words (contract §9): no version change, no
        // move; an auto-advance comes after it as its own card.moved.
        const card = this.cards.get(data.id);
        if (card) this.cards.set(data.id, { ...card, progress: data.progress });
        return { id: data.id, kind: "progress" };
      }
      case "card.deleted":
        this.cards.delete(data.id);
        for (const card of this.cards.values()) {
          if (card.status === data.status && card.position > data.position) card.position -= 1;
        }
        return { id: data.id, kind: "deleted" };
      default:
        return this.applyRoster(frame.event, data);
    }
  }

  /**
   * Roster events (contract §7, §8): the filters' lists, and the names and titles cards
   * show. A removed student's or lesson's cards were already deleted by their own events.
   * `stale` says the current filter no longer names anything, or may now match cards this
   * copy never had: the board is then re-read.
   */
  applyRoster(event, data) {
    const { students } = this.filters;
    switch (event) {
      case "student.added":
      case "student.updated": {
        const known = students.find((student) => student.id === data.id);
        if (known) known.name = data.name;
        else students.push({ id: data.id, name: data.name });
        students.sort(byName);
        for (const card of this.cards.values()) if (card.student_id === data.id) card.student_name = data.name;
        return { id: data.id, kind: "roster" };
      }
      case "student.removed":
        this.filters.students = students.filter((student) => student.id !== data.id);
        return { id: data.id, kind: "roster", stale: this.query.student === data.id };
      case "lesson.added":
      case "lesson.updated": {
        const before = this.lessons?.get(data.id);
        this.lessons?.set(data.id, data);
        for (const card of this.cards.values()) {
          if (card.lesson_id !== data.id) continue;
          card.lesson_title = data.title;
          card.lesson_category = data.category;
        }
        this.refreshCategories(data.category);
        const moved = event === "lesson.updated" && Boolean(this.query.category) && (!before || before.category !== data.category);
        return { id: data.id, kind: "roster", stale: moved };
      }
      case "lesson.removed":
        this.lessons?.delete(data.id);
        this.refreshCategories();
        return { id: data.id, kind: "roster", stale: Boolean(this.query.category) && !this.filters.categories.includes(this.query.category) };
      case "classroom.updated":
        return { id: data.id, kind: "classroom", classroom: data };
      default:
        return null;
    }
  }

  refreshCategories(added = null) {
    if (this.lessons) this.filters.categories = categoriesOf(this.lessons.values());
    else if (added && !this.filters.categories.includes(added)) this.filters.categories = [...this.filters.categories, added].sort();
  }

  /** The other cards of the two columns shift to keep positions dense (contract §5). */
  shiftForMove(moved, fromStatus, fromPosition) {
    const to = moved.position;
    for (const card of this.cards.values()) {
      if (card.id === moved.id) continue;
      if (fromStatus === moved.status) {
        if (card.status !== fromStatus) continue;
        if (fromPosition < to && card.position > fromPosition && card.position <= to) card.position -= 1;
        else if (to < fromPosition && card.position >= to && card.position < fromPosition) card.position += 1;
      } else {
        if (card.status === fromStatus && card.position > fromPosition) card.position -= 1;
        else if (card.status === moved.status && card.position >= to) card.position += 1;
      }
    }
  }

  /** A card as the server says it is now (a 409's details.current), if newer than ours. */
  adoptCurrent(current) {
    if (!current?.id) return;
    const ours = this.cards.get(current.id);
    if (ours && Date.parse(ours.updated_at) > Date.parse(current.updated_at)) return;
    if (this.matches(current)) this.cards.set(current.id, { ...ours, ...current });
    else this.cards.delete(current.id);
  }

  /** Whether someone other than `me` holds a live lease on the card. */
  lockedByOther(card, me, now = Date.now()) {
    if (!card?.locked_by || card.locked_by === me) return false;
    return !card.lock_expires_at || Date.parse(card.lock_expires_at) > now;
  }
}

const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1);

function categoriesOf(lessons) {
  return [...new Set([...lessons].map((lesson) => lesson.category))].sort();
}

/**
 * The server position for dropping `card` at `index` among the `visible` cards of a column
 * (the dragged card left out). Filtered views show gaps, so the answer comes from the
 * neighbours' real positions.
 */
export function dropPosition(card, status, visible, index, { filtered }) {
  const others = visible.filter((other) => other.id !== card.id);
  const same = card.status === status;
  if (index < others.length) {
    const q = others[index].position;
    return same && q > card.position ? q - 1 : q;
  }
  if (!others.length) return same ? card.position : filtered ? END : 0;
  const last = others[others.length - 1].position;
  if (same) return last > card.position ? last : last + 1;
  return last + 1;
}

/** What a card's mastery bar shows (contract §9's `progress`): null for a template card or
 * a student with no learner; else the share of the lesson's words mastered (0..1), and the
 * words counted. */
export function mastery(progress) {
  if (!progress) return null;
  const { words, mastered, started } = progress;
  return { share: words ? mastered / words : 0, words, mastered, started, lastStudiedAt: progress.last_studied_at ?? null };
}

/** A sort key that puts a pending move where the server will put it. */
export function pendingKey(card, status, position) {
  if (card.status === status && position > card.position) return position + 0.5;
  return position - 0.5;
}
