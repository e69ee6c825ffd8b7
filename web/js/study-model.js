// The study page's state, with no DOM and no network: the words to study (an input, in the
// order to offer them, each `{id, term, translation, topic}` as the server's decks and
// lessons show words: the es-basics deck), the learner's lessons (GET /api/v1/assignments,
// contract §9) and the one chosen, the progress records by wordId as the server last
// described them, the card on screen, and the page's rules: what is due, which card comes
// next ("your lessons" first: a lesson's words, then everything due, then the deck for free
// practice), the counts an answer PUTs (contract §6), and the `progress` channel's events
// applied in seq order (docs/realtime.md, "How a client recovers").

export const DEFAULT_CONFIDENCE = { knew: 4, didnt: 1 };

/** A record the server would list under `?due=true`: not mastered, nextReview reached. */
export function isDue(record, now = Date.now()) {
  return Boolean(record) && !record.mastered && Boolean(record.nextReview) && Date.parse(record.nextReview) <= now;
}

/** The confidence an answer sends: the one chosen, else the default for knew / didn't. */
export function confidenceOf(knew, chosen = null) {
  return chosen ?? (knew ? DEFAULT_CONFIDENCE.knew : DEFAULT_CONFIDENCE.didnt);
}

/** The PUT body of one answer on top of `base` (the server's record, or null): one more
 * study, one more correct if known. Counts are absolute, so a retry rebuilds from the
 * newest base rather than resending. */
export function answerBody(base, knew, confidence) {
  return {
    studyCount: (base?.studyCount ?? 0) + 1,
    correctCount: (base?.correctCount ?? 0) + (knew ? 1 : 0),
    confidence,
  };
}

/** The PUT body that marks a word mastered, its counts kept. */
export function masteredBody(base) {
  return {
    studyCount: base?.studyCount ?? 0,
    correctCount: base?.correctCount ?? 0,
    confidence: base?.confidence ?? 5,
    mastered: true,
  };
}

/** The old app's localStorage value, if there is one to import: the raw text (sent as is)
 * and how many words it holds (null when it is not an object we can count). */
export function parseOldProgress(raw) {
  if (raw === null || raw === undefined || raw.trim() === "") return null;
  let count = null;
  try {
    const value = JSON.parse(raw);
    if (value && typeof value === "object" && !Array.isArray(value)) count = Object.keys(value).length;
  } catch {
    count = null;
  }
  return { raw, count };
}

export class StudyModel {
  constructor(words = []) {
    this.records = new Map(); // wordId -> record; an optimistic one carries its `base`
    this.seq = 0;
    this.loaded = false;
    this.skipped = new Set(); // words skipped in this session
    this.waiting = new Set(); // words with an answer on this device not yet saved (outbox)
    this.current = null; // the word on the card
    this.flipped = false;
    this.confidence = null; // chosen confidence, or null (defaults by answer)
    this.sessionAnswers = 0;
    this.lessons = []; // the learner's assignments, as GET /api/v1/assignments lists them
    this.chosen = null; // the lesson id studied first, or null (all lessons)
    this.deck = [];
    this.setWords(words);
  }

  /** The deck's words, in the order to offer new ones. */
  setWords(words) {
    this.deck = [...words];
    this.index();
  }

  /** The learner's lessons (assignments); a chosen lesson that is gone is forgotten. */
  setLessons(lessons) {
    this.lessons = [...lessons];
    if (this.chosen && !this.lessons.some((lesson) => lesson.lesson_id === this.chosen)) this.chosen = null;
    this.index();
  }

  /** Study `lessonId`'s words first (null: all lessons, in their order). */
  choose(lessonId) {
    this.chosen = this.lessons.some((lesson) => lesson.lesson_id === lessonId) ? lessonId : null;
  }

  /** Every word the page knows: the deck's, then the lessons' own (a teacher's words). */
  index() {
    this.byId = new Map(this.deck.map((word) => [word.id, word]));
    for (const lesson of this.lessons) {
      for (const word of lesson.words) if (!this.byId.has(word.id)) this.byId.set(word.id, word);
    }
    this.words = [...this.byId.values()];
  }

  /** The lessons in the order they are studied: the chosen one first. */
  lessonOrder() {
    const chosen = this.lessons.filter((lesson) => lesson.lesson_id === this.chosen);
    return [...chosen, ...this.lessons.filter((lesson) => lesson.lesson_id !== this.chosen)];
  }

  /** The lesson a word is studied for (the first in lesson order that has it), or null. */
  lessonOf(wordId) {
    return this.lessonOrder().find((lesson) => lesson.words.some((word) => word.id === wordId)) ?? null;
  }

  /** A lesson's progress from this device's records, as a card's `progress` counts it
   * (contract §9): `{words, started, mastered}`. */
  lessonProgress(lesson) {
    let started = 0;
    let mastered = 0;
    for (const word of lesson.words) {
      const record = this.records.get(word.id);
      if (record) started += 1;
      if (record?.mastered) mastered += 1;
    }
    return { words: lesson.words.length, started, mastered };
  }

  word(wordId) {
    return this.byId.get(wordId) ?? null;
  }

  /** Replace every record with a REST read (GET /api/v1/progress: `{items, seq}`). */
  load(data) {
    this.records.clear();
    for (const record of data.items) this.records.set(record.wordId, record);
    this.seq = data.seq;
    this.loaded = true;
  }

  /** The record as the server last described it (an optimistic placeholder's base). */
  serverRecord(wordId) {
    const record = this.records.get(wordId);
    if (!record) return null;
    return record.optimistic ? record.base : record;
  }

  /** Take a record from the server unless a newer one is already known. */
  adopt(record, { force = false } = {}) {
    const known = this.records.get(record.wordId);
    if (!force && known && !known.optimistic && known.updatedAt && record.updatedAt < known.updatedAt) return false;
    this.records.set(record.wordId, record);
    return true;
  }

  /**
   * Apply one `progress` event frame. Returns `{wordId, kind: "updated" | "deleted",
   * answered}` when it changed something (`answered`: its study count rose, so someone
   * answered the word), else null: a seq already reflected, our own write's echo, a
   * record older than ours, or the deletion of a word we don't hold.
   */
  apply(frame) {
    if (frame.seq <= this.seq) return null;
    this.seq = frame.seq;
    if (frame.event === "progress.updated") {
      const record = frame.data;
      const known = this.records.get(record.wordId);
      if (known && !known.optimistic && known.updatedAt === record.updatedAt) return null;
      const before = this.serverRecord(record.wordId)?.studyCount ?? 0;
      if (!this.adopt(record)) return null;
      return { wordId: record.wordId, kind: "updated", answered: record.studyCount > before };
    }
    if (frame.event === "progress.deleted") {
      const wordId = frame.data?.wordId;
      if (!wordId || !this.records.has(wordId)) return null;
      this.records.delete(wordId);
      return { wordId, kind: "deleted", answered: false };
    }
    return null;
  }

  /** "new" (no record), "mastered", "due" or "later". */
  kindOf(word, now = Date.now()) {
    const record = this.records.get(word.id);
    if (!record) return "new";
    if (record.mastered) return "mastered";
    return isDue(record, now) ? "due" : "later";
  }

  /** The words by kind; due and later ones by nextReview, oldest first; new ones in order. */
  buckets(now = Date.now()) {
    const groups = { due: [], new: [], later: [], mastered: [] };
    for (const word of this.words) groups[this.kindOf(word, now)].push(word);
    const byNextReview = (a, b) =>
      Date.parse(this.records.get(a.id).nextReview) - Date.parse(this.records.get(b.id).nextReview);
    groups.due.sort(byNextReview);
    groups.later.sort(byNextReview);
    return groups;
  }

  /** "Your lessons" first: each lesson's due then new words (the chosen lesson first), then
   * every other due word, then the deck's new words (free practice), then those due later,
   * then the mastered. */
  studyOrder(now = Date.now()) {
    const groups = this.buckets(now);
    const lessonWords = [];
    for (const lesson of this.lessonOrder()) {
      const due = lesson.words.filter((word) => this.kindOf(word, now) === "due");
      due.sort((a, b) => Date.parse(this.records.get(a.id).nextReview) - Date.parse(this.records.get(b.id).nextReview));
      lessonWords.push(...due, ...lesson.words.filter((word) => this.kindOf(word, now) === "new"));
    }
    const order = [...lessonWords, ...groups.due, ...groups.new, ...groups.later, ...groups.mastered];
    const seen = new Set();
    return order
      .map((word) => this.byId.get(word.id) ?? word)
      .filter((word) => !seen.has(word.id) && seen.add(word.id));
  }

  /** The next card: the first in study order that isn't `excludeId`, skipped, nor waiting
   * to be saved (its record is not known yet); once everything was skipped, the skips are
   * forgotten. */
  pickNext(excludeId = null, now = Date.now()) {
    const order = this.studyOrder(now);
    let pick = order.find((word) => word.id !== excludeId && !this.skipped.has(word.id) && !this.waiting.has(word.id));
    if (!pick) {
      this.skipped.clear();
      pick = order.find((word) => word.id !== excludeId) ?? order[0] ?? null;
    }
    return pick ?? null;
  }

  /** What the queue summary shows; `caughtUp` once loaded with nothing due nor new. */
  summary(now = Date.now()) {
    const groups = this.buckets(now);
    const next = groups.later[0] ? this.records.get(groups.later[0].id).nextReview : null;
    return {
      due: groups.due.length,
      new: groups.new.length,
      later: groups.later.length,
      mastered: groups.mastered.length,
      caughtUp: this.loaded && !groups.due.length && !groups.new.length,
      nextReview: next,
    };
  }

  /** The deck's mastered words (the side panel's bar). */
  masteredCount() {
    return this.deck.filter((word) => this.records.get(word.id)?.mastered).length;
  }

  /** Put `word` on the card, face up, no confidence chosen. */
  show(word) {
    this.current = word ?? null;
    this.flipped = false;
    this.confidence = null;
  }

  /** Answer the current card and move on. Returns `{word, knew, confidence, next}` (what
   * to save and what is shown now), or null without a card or before it was turned (an
   * answer is a judgement of the answer seen). */
  answer(knew, now = Date.now()) {
    const word = this.current;
    if (!word || !this.flipped) return null;
    const confidence = confidenceOf(knew, this.confidence);
    this.sessionAnswers += 1;
    this.skipped.delete(word.id);
    const next = this.pickNext(word.id, now);
    this.show(next);
    return { word, knew, confidence, next };
  }

  /** Skip the current card for this session; returns the card shown now. */
  skip(now = Date.now()) {
    if (!this.current) return null;
    this.skipped.add(this.current.id);
    this.show(this.pickNext(this.current.id, now));
    return this.current;
  }

  /**
   * Toggle a word's mastered state optimistically: marking puts a placeholder record (its
   * `base` the server's record), unmarking removes the record (the word is unlearned).
   * Returns the change, for `undoMastered`.
   */
  toggleMastered(wordId) {
    const before = this.records.get(wordId) ?? null;
    const base = before?.optimistic ? before.base : before;
    const marking = !before?.mastered;
    let placeholder = null;
    if (marking) {
      placeholder = { wordId, ...masteredBody(base), nextReview: base?.nextReview ?? null, optimistic: true, base };
      this.records.set(wordId, placeholder);
    } else {
      this.records.delete(wordId);
    }
    return { wordId, marking, base, placeholder };
  }

  /** Undo a refused toggle, unless something newer (a live event) has replaced it. */
  undoMastered({ wordId, marking, base, placeholder }) {
    const now = this.records.get(wordId);
    const untouched = marking ? now === placeholder : now === undefined;
    if (!untouched) return false;
    if (base) this.records.set(wordId, base);
    else this.records.delete(wordId);
    return true;
  }
}
