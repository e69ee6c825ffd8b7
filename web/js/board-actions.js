// What a teacher does to cards: locks, moves, batch moves, creating and deleting. Mixed into
// the board app (`this` is the app). Every change reaches the board through the websocket
// events; a move shows at once as a pending overlay until its event arrives.

import { ApiError } from "./api.js";
import { END, STATUSES, STATUS_NAMES, canMove, emptyQuery, pairKey } from "./board-model.js";
import { confirmDialog } from "./board-dialogs.js";
import { firstName, plural, sleep } from "./board-util.js";

export const BOARD = "/api/teacher/progress-board";
const MAX_BATCH = 100;

const WHY = {
  CARD_LOCKED: "someone else is editing it",
  VERSION_CONFLICT: "it changed meanwhile",
  INVALID_STATUS_TRANSITION: "cards move forward one column at a time",
  CARD_NOT_FOUND: "it was deleted",
  VALIDATION_ERROR: "the move wasn't valid",
};

export const actions = {
  describe(card) {
    return card.student_id ? `${card.lesson_title} for ${card.student_name}` : `${card.lesson_title} (template)`;
  },

  /** One sentence a teacher can act on, for any failure. */
  explain(error, card = null) {
    if (!(error instanceof ApiError)) return "Tandem can't be reached right now. Check your connection and try again.";
    switch (error.code) {
      case "CARD_LOCKED":
        return `${error.details.locked_by_name || "Another teacher"} is editing this card.`;
      case "CARD_NOT_FOUND":
        return "This card was deleted meanwhile.";
      case "INVALID_STATUS_TRANSITION":
        return "Cards move forward one column at a time, so it's back where it was.";
      case "DUPLICATE_ASSIGNMENT":
        return card ? `${this.describe(card)} is already on the board.` : "That card is already on the board.";
      case "RATE_LIMITED":
        return "That's a lot of changes at once. Wait a few seconds, then try again.";
      case "SERVICE_UNAVAILABLE":
        return "Tandem is briefly unavailable. Try again in a moment.";
      default:
        return error.message || "Something went wrong. Try again.";
    }
  },

  /** A request, waiting and retrying when the rate limit says so. */
  async send(method, path, body) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.api.request(method, path, body);
      } catch (error) {
        if (error.code !== "RATE_LIMITED" || attempt >= 6) throw error;
        await sleep(1000 * (attempt + 1));
      }
    }
  },

  // -- locks -------------------------------------------------------------------------------

  /** Take the card's lock (picking it up). Resolves false, having said why, if refused. */
  async pickUp(card) {
    try {
      const lock = await this.api.request("POST", `${BOARD}/cards/${card.id}/lock`);
      const ttl = Math.max(10_000, Date.parse(lock.expires_at) - Date.parse(lock.locked_at) || 300_000);
      this.hold(card.id, ttl);
      return true;
    } catch (error) {
      if (error.code === "CARD_LOCKED") {
        const current = this.model.cards.get(card.id);
        if (current) {
          this.model.cards.set(card.id, {
            ...current,
            locked_by: error.details.locked_by,
            locked_by_name: error.details.locked_by_name,
            lock_expires_at: error.details.expires_at,
          });
        }
      }
      const sentence = this.explain(error, card);
      this.notify(sentence, "warn");
      this.announce(sentence);
      this.render({ animate: true });
      return false;
    }
  },

  /** Renew the lease while holding it (it lasts `ttl` ms). */
  hold(id, ttl) {
    clearTimeout(this.locks.get(id));
    this.locks.set(
      id,
      setTimeout(async () => {
        if (!this.locks.has(id)) return;
        try {
          await this.api.request("POST", `${BOARD}/cards/${id}/lock`);
          this.hold(id, ttl);
        } catch {
          this.locks.delete(id);
        }
      }, ttl * 0.6),
    );
  },

  release(id) {
    if (!this.locks.has(id)) return;
    clearTimeout(this.locks.get(id));
    this.locks.delete(id);
    this.api.request("DELETE", `${BOARD}/cards/${id}/lock`).catch(() => {});
  },

  /** Letting go of a card without moving it: unlock once the lock request is done. */
  async letGo(card, lock) {
    if (await lock) this.release(card.id);
  },

  // -- moves -------------------------------------------------------------------------------

  async dropMove(card, status, position, lock) {
    const pending = this.pending.get(card.id);
    if (!(await lock)) {
      this.pending.delete(card.id);
      this.render({ animate: true });
      return;
    }
    try {
      await this.api.request("PATCH", `${BOARD}/cards/${card.id}/move`, {
        new_status: status,
        new_position: position,
        version: card.updated_at,
      });
      if (pending) pending.done = true;
      this.catchUpIfOffline();
    } catch (error) {
      this.pending.delete(card.id);
      await this.moveFailed(error, card);
    } finally {
      this.release(card.id);
      this.render({ animate: true });
    }
  },

  /** Explain a refused move in one sentence and show the card where the server has it. */
  async moveFailed(error, card) {
    let sentence = this.explain(error, card);
    if (error.code === "VERSION_CONFLICT") {
      const current = error.details.current;
      this.model.adoptCurrent(current);
      this.render({ animate: true });
      const actor = await this.actorOf(card.id, current?.updated_at);
      const where = current && STATUS_NAMES[current.status] ? `, in ${STATUS_NAMES[current.status]}` : "";
      const who = actor ? (actor.id === this.me.id ? "You" : firstName(actor.name)) : "Another teacher";
      const pronoun = actor?.id === this.me.id ? "you" : "they";
      sentence = `${who} moved this card meanwhile — it's back where ${pronoun} put it${where}.`;
    }
    this.notify(sentence, "warn");
    this.announce(sentence);
  },

  /** Who made the card's latest move; waits briefly for that move's event to arrive. */
  async actorOf(id, version) {
    for (let waited = 0; waited <= 600; waited += 100) {
      const last = this.model.lastActor.get(id);
      const card = this.model.cards.get(id);
      if (last && (!version || card?.updated_at === version)) return last;
      await sleep(100);
    }
    return this.model.lastActor.get(id) ?? null;
  },

  async moveSelected(status) {
    const cards = [...this.selection].map((id) => this.model.cards.get(id)).filter(Boolean);
    const moving = cards
      .filter((card) => card.status !== status)
      .sort((a, b) => STATUSES.indexOf(a.status) - STATUSES.indexOf(b.status) || a.position - b.position);
    const already = cards.length - moving.length;
    if (!moving.length) {
      this.notify(`${already === 1 ? "That card is" : "Those cards are"} already in ${STATUS_NAMES[status]}.`, "info");
      return;
    }
    this.busy(true);
    const updated = [];
    const failed = [];
    try {
      for (let start = 0; start < moving.length; start += MAX_BATCH) {
        const chunk = moving.slice(start, start + MAX_BATCH);
        const answer = await this.send("POST", `${BOARD}/batch-move`, {
          moves: chunk.map((card) => ({ card_id: card.id, new_status: status, new_position: END, version: card.updated_at })),
        });
        updated.push(...answer.updated_cards);
        failed.push(...answer.failed_moves);
      }
    } catch (error) {
      this.notify(this.explain(error), "error");
      return;
    } finally {
      this.busy(false);
    }
    for (const card of updated) this.selection.delete(card.id);
    this.catchUpIfOffline();
    const target = STATUS_NAMES[status];
    let sentence = updated.length
      ? `Moved ${plural(updated.length, "card")} to ${target}.`
      : `None of the ${plural(moving.length, "card")} could move to ${target}.`;
    if (failed.length) {
      if (updated.length) sentence = `Moved ${updated.length} of ${moving.length} cards to ${target}.`;
      const reasons = failed.slice(0, 3).map((failure) => {
        const card = this.model.cards.get(failure.card_id);
        const name = card ? this.describe(card) : "A card";
        let why = WHY[failure.code] || failure.error;
        if (failure.code === "CARD_LOCKED" && card?.locked_by_name) why = `${card.locked_by_name} is editing it`;
        if (failure.code === "INVALID_STATUS_TRANSITION" && card && !canMove(card.status, status)) {
          why = `from ${STATUS_NAMES[card.status]} it can only go one column forward`;
        }
        return `${name}: ${why}`;
      });
      const more = failed.length > 3 ? `; and ${failed.length - 3} more` : "";
      sentence += ` Not moved — ${reasons.join("; ")}${more}.`;
    }
    this.notify(sentence, failed.length ? "warn" : "ok");
    this.announce(sentence);
    this.render({ animate: true });
  },

  // -- create and delete -------------------------------------------------------------------

  async lessons() {
    const id = this.model.classroomId;
    if (!this.lessonCache.has(id)) {
      const lessons = await this.api.request("GET", `/api/teacher/lessons?classroom_id=${encodeURIComponent(id)}`);
      this.lessonCache.set(id, lessons);
    }
    return this.lessonCache.get(id);
  },

  /** "lesson|student" for every card of the classroom (filters or not): the pairs that
   * already have a card, so the dialog offers only what can be created. */
  async existingPairs() {
    let cards = [...this.model.cards.values()];
    if (this.model.filtered) {
      const answer = await this.fetchBoard(this.model.classroomId, emptyQuery(), null);
      cards = answer.data.columns.flatMap((column) => column.cards);
    }
    return new Set(cards.map((card) => pairKey(card.lesson_id, card.student_id)));
  },

  /** Create one card per student id (null: the template). Returns a summary. */
  async createCards(lessonId, studentIds, status, progress, { skipped = 0, all = false } = {}) {
    const lesson = (await this.lessons()).find((item) => item.id === lessonId);
    const title = lesson?.title ?? "the lesson";
    let created = 0;
    let hidden = 0;
    const duplicates = [];
    const failed = [];
    const queue = [...studentIds];
    let done = 0;
    let offline = false;
    const worker = async () => {
      while (queue.length && !offline) {
        const studentId = queue.shift();
        try {
          const card = await this.send("POST", `${BOARD}/cards`, { lesson_id: lessonId, student_id: studentId, status });
          created += 1;
          if (!this.model.matches(card)) hidden += 1;
        } catch (error) {
          if (error.code === "DUPLICATE_ASSIGNMENT") duplicates.push(studentId);
          else failed.push(this.explain(error));
          if (!(error instanceof ApiError)) offline = true;
        }
        done += 1;
        progress?.(done, studentIds.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, studentIds.length) }, worker));
    this.catchUpIfOffline();
    const column = STATUS_NAMES[status];
    const parts = [];
    if (studentIds.length === 1 && !all) {
      const studentId = studentIds[0];
      const who = studentId ? this.model.studentName(studentId) || "this student" : null;
      if (created) parts.push(who ? `Added ${title} for ${who} to ${column}.` : `Added the template card for ${title} to ${column}.`);
      else if (duplicates.length) parts.push(who ? `${who} already has a card for ${title}.` : `${title} already has a template card.`);
    } else {
      if (created) parts.push(`Added ${title} for ${plural(created, "student")} to ${column}.`);
      const had = duplicates.length + skipped;
      if (had) parts.push(`${plural(had, "student")} already had it.`);
    }
    if (hidden) parts.push(`${hidden === 1 ? "It's" : "They're"} hidden by the current filters.`);
    if (failed.length) parts.push(`${plural(failed.length, "card")} couldn't be created: ${failed[0]}`);
    return { created, failed: [...failed, ...duplicates], summary: parts.join(" ") || "Nothing was created." };
  },

  async confirmDelete(id) {
    const card = this.model.cards.get(id);
    if (!card) return;
    if (this.model.lockedByOther(card, this.me.id)) {
      this.notify(`${card.locked_by_name || "Another teacher"} is editing this card, so it can't be deleted now.`, "warn");
      return;
    }
    const ok = await confirmDialog({
      title: "Delete this card?",
      body: `${this.describe(card)} will be removed from the board for every teacher. The lesson itself stays.`,
      confirm: "Delete card",
    });
    if (ok) await this.deleteCards([id]);
    this.view.focusCard(this.view.activeId);
  },

  async confirmDeleteSelected() {
    const ids = [...this.selection].filter((id) => this.model.cards.has(id));
    if (!ids.length) return;
    const ok = await confirmDialog({
      title: `Delete ${plural(ids.length, "card")}?`,
      body: `The selected ${ids.length === 1 ? "card" : "cards"} will be removed from the board for every teacher. The lessons themselves stay.`,
      confirm: `Delete ${plural(ids.length, "card")}`,
    });
    if (ok) await this.deleteCards(ids);
  },

  async deleteCards(ids) {
    for (const id of ids) this.deleting.add(id);
    this.render({ animate: true });
    let deleted = 0;
    const problems = [];
    for (const id of ids) {
      const card = this.model.cards.get(id);
      try {
        await this.send("DELETE", `${BOARD}/cards/${id}`);
        deleted += 1;
        this.selection.delete(id);
      } catch (error) {
        this.deleting.delete(id);
        if (error.code === "CARD_NOT_FOUND") {
          this.selection.delete(id);
          continue;
        }
        problems.push(card ? `${this.describe(card)}: ${this.explain(error, card)}` : this.explain(error));
      }
    }
    this.catchUpIfOffline();
    let sentence = ids.length === 1 ? (deleted ? "Card deleted." : "") : `Deleted ${plural(deleted, "card")}.`;
    if (problems.length) sentence = `${sentence} ${problems.slice(0, 2).join(" ")}`.trim();
    if (sentence) {
      this.notify(sentence, problems.length ? "warn" : "ok");
      this.announce(sentence);
    }
    this.render({ animate: true });
  },
};
