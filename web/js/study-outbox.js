// The study page's outbox, with no DOM and no network: every answer is written here first
// (the device's storage, so that a closed tab or a dead connection loses nothing), and
// leaves it once the server has it (contract §9, "answers given while offline are kept on
// the device and sent when the connection is back, each counted once").
//
// An entry is `{id, wordId, knew, confidence, body}`. `body` is null until the answer is
// first sent; from then on it holds the absolute counts sent (contract §6) and is resent
// as it is: a PUT of counts the server already holds changes nothing, so an answer whose
// reply was lost on the way is not counted twice. Only a 409 (newer counts from another
// device) builds the body again, on top of the server's record: merged, not lost.

import { answerBody } from "./study-model.js";

export const OUTBOX_KEY = "tandem-outbox"; // + ":" + the user's id

export class Outbox {
  /** `storage`: localStorage, or any object with getItem / setItem / removeItem. */
  constructor(storage, userId) {
    this.storage = storage;
    this.key = `${OUTBOX_KEY}:${userId}`;
    this.entries = this.read();
  }

  read() {
    try {
      const value = JSON.parse(this.storage.getItem(this.key) || "[]");
      return Array.isArray(value) ? value.filter((entry) => entry && typeof entry.wordId === "string") : [];
    } catch {
      return []; // unreadable (another version's shape, storage refused): nothing to send
    }
  }

  save() {
    try {
      if (this.entries.length) this.storage.setItem(this.key, JSON.stringify(this.entries));
      else this.storage.removeItem(this.key);
    } catch {
      // Storage refused (full, private mode): the entries still live in this page.
    }
  }

  get size() {
    return this.entries.length;
  }

  /** Whether an answer for `wordId` waits here. */
  holds(wordId) {
    return this.entries.some((entry) => entry.wordId === wordId);
  }

  /** Keep one answer; returns its entry. */
  add(wordId, knew, confidence) {
    const last = this.entries.reduce((max, entry) => Math.max(max, entry.id), 0);
    const entry = { id: last + 1, wordId, knew, confidence, body: null };
    this.entries.push(entry);
    this.save();
    return entry;
  }

  /** The oldest answer not yet delivered, or null. */
  next() {
    return this.entries[0] ?? null;
  }

  /** The counts to PUT for `entry`: the ones already sent, else one answer on `base` (the
   * server's record, or null). Kept before sending, so a resend sends the same counts. */
  bodyFor(entry, base) {
    if (!entry.body) {
      entry.body = answerBody(base, entry.knew, entry.confidence);
      this.save();
    }
    return entry.body;
  }

  /** A 409: the server holds newer counts (`current`) from another device. The answer is
   * counted on top of them. */
  rebase(entry, current) {
    entry.body = answerBody(current, entry.knew, entry.confidence);
    this.save();
    return entry.body;
  }

  /** The server has `entry`: it leaves the outbox. */
  done(entry) {
    this.entries = this.entries.filter((other) => other.id !== entry.id);
    this.save();
  }
}
