// What the study page asks of the server, and the live `progress` channel: reading the
// words, the learner's lessons and records, saving answers (through the outbox, so that
// answers given offline are sent when the connection is back) and the mastered toggle
// (serialized per word, one retry after a version conflict, waiting out a rate limit), the
// stats, and the import of the old app's progress from this browser's localStorage.
// Results land in the model; the wiring (study.js) decides what the page shows.
//
// REST: GET /api/v1/decks/es-basics (the words, once), GET /api/v1/assignments (the
// learner's lessons, contract §9), GET /api/v1/progress (records + seq), PUT
// /api/v1/progress/{wordId} (an answer, or mastered: true), DELETE /api/v1/progress/{wordId}
// (unmark mastered: the word is unlearned), GET /api/v1/progress/stats, POST
// /api/v1/progress/import. Live: the `progress` channel.

import { masteredBody, parseOldProgress } from "./study-model.js";
import { Outbox } from "./study-outbox.js";
import { sleep } from "./util.js";

const CHANNEL = "progress";
const DECK = "es-basics"; // the deck the page studies (contract §8)
const OLD_PROGRESS_KEY = "vocab-progress"; // the previous app's localStorage key
const IMPORT_LATER_KEY = "tandem-import-later"; // sessionStorage: "Not now" in this session
const RATE_RETRIES = 3;
const RETRY_OFFLINE_MS = 5000; // how often a stuck outbox tries again without news

/** A request that never reached the server (no answer at all): the device is offline. */
export const unreachable = (error) => error?.status === undefined;

/** An answer worth sending again later: the device is offline, or the server could not take
 * it just now (5xx: overloaded, restarting, its database out of reach; or still rate-limited
 * after the retries). Only a 4xx refusal drops an answer from the outbox: dropping it on a 503
 * would lose a learner's answer whenever the server is busy. */
export const sendLater = (error) =>
  unreachable(error) || error.status >= 500 || error.code === "RATE_LIMITED";

const progressPath = (wordId) => `/api/v1/progress/${encodeURIComponent(wordId)}`;

export class StudyActions {
  constructor(api, live, model) {
    this.api = api;
    this.live = live;
    this.model = model;
    this.chains = new Map(); // wordId -> promise of the last write queued for it
    this.pendingWrites = new Map(); // wordId -> number of writes queued or in flight
    this.stats = { timer: null, inFlight: false, again: false, onStats: null };
    this.outbox = new Outbox(localStorage, api.user?.id ?? "anonymous");
    this.sending = null; // the running flush, if any
    this.retryTimer = null;
    this.outboxHandlers = { onSent: () => {}, onState: () => {}, onFailed: () => {} };
    window.addEventListener("online", () => this.flush());
  }

  // -- reading and the live channel ---------------------------------------------------------

  /** Fetch the deck's words, in teaching order, into the model. */
  async loadWords() {
    const deck = await this.api.request("GET", `/api/v1/decks/${DECK}`);
    this.model.setWords(deck.words);
  }

  /** The learner's lessons (contract §9) into the model; none for a teacher's account. */
  async loadAssignments() {
    try {
      this.model.setLessons(await this.api.request("GET", "/api/v1/assignments"));
    } catch (error) {
      if (error.status === 403) this.model.setLessons([]);
      else throw error;
    }
  }

  /** Re-read every record (first load, `reset`, after an import) and continue live from there. */
  async reload() {
    this.model.load(await this.api.request("GET", "/api/v1/progress"));
    this.live.resume(CHANNEL, this.model.seq);
  }

  /** Listen to the `progress` channel from the model's seq. */
  subscribe(handlers) {
    this.live.subscribe(CHANNEL, { since: this.model.seq, ...handlers });
  }

  // -- writes: serialized per word -----------------------------------------------------------

  /** Whether a write of ours for `wordId` is queued or on its way (its events are echoes). */
  writing(wordId) {
    return this.pendingWrites.has(wordId) || this.outbox.holds(wordId);
  }

  /** Queue `task` after the writes already queued for `wordId`. */
  enqueue(wordId, task) {
    this.pendingWrites.set(wordId, (this.pendingWrites.get(wordId) ?? 0) + 1);
    const run = (this.chains.get(wordId) ?? Promise.resolve()).catch(() => {}).then(task);
    const tail = run.finally(() => {
      const left = (this.pendingWrites.get(wordId) ?? 1) - 1;
      if (left) this.pendingWrites.set(wordId, left);
      else this.pendingWrites.delete(wordId);
      if (this.chains.get(wordId) === tail) this.chains.delete(wordId);
    });
    this.chains.set(wordId, tail.catch(() => {}));
    return run;
  }

  /** PUT the body `build(record)` (record: what the server has, or null); on 409
   * VERSION_CONFLICT adopt `details.current` and build again, once. Waits out a rate limit,
   * building again too: counts are absolute, and a live event may have raised them. */
  async putProgress(wordId, build) {
    let conflictRetried = false;
    let rateRetries = 0;
    for (;;) {
      try {
        const saved = await this.api.request("PUT", progressPath(wordId), build(this.model.serverRecord(wordId)));
        this.model.adopt(saved);
        return saved;
      } catch (error) {
        if (error.code === "VERSION_CONFLICT" && error.details?.current && !conflictRetried) {
          conflictRetried = true;
          this.model.adopt(error.details.current, { force: true });
          continue;
        }
        if (error.code === "RATE_LIMITED" && rateRetries < RATE_RETRIES) {
          rateRetries += 1;
          await sleep(Math.max(1, Number(error.details?.retry_after) || 2) * 1000);
          continue;
        }
        throw error;
      }
    }
  }

  // -- answers: the outbox -------------------------------------------------------------------

  /** `onSent(record)` after each delivered answer, `onState({waiting, offline})` whenever
   * the outbox changes, `onFailed(entry, error)` for an answer the server refused for good. */
  onOutbox(handlers) {
    Object.assign(this.outboxHandlers, handlers);
  }

  /** Keep one answer on the device, then send what waits. */
  saveAnswer(wordId, knew, confidence) {
    this.outbox.add(wordId, knew, confidence);
    this.outboxState(false);
    return this.flush();
  }

  outboxState(offline) {
    this.outboxHandlers.onState({ waiting: this.outbox.size, offline });
  }

  /** Send the outbox's answers, oldest first, one at a time (each after the word's other
   * writes). Stops at the first that cannot reach the server and tries again when the
   * browser is back online, the live channel reconnects, or a few seconds later. */
  flush() {
    // Counts are built on the server's records: none are sent before they are read.
    if (!this.model.loaded) return Promise.resolve();
    if (this.sending) {
      this.sending.again = true;
      return this.sending.promise;
    }
    const run = { again: false, promise: null };
    this.sending = run;
    run.promise = (async () => {
      try {
        do {
          run.again = false;
          await this.sendAll();
        } while (run.again && this.outbox.size);
      } finally {
        this.sending = null;
      }
    })();
    return run.promise;
  }

  async sendAll() {
    clearTimeout(this.retryTimer);
    for (let entry = this.outbox.next(); entry; entry = this.outbox.next()) {
      try {
        const saved = await this.enqueue(entry.wordId, () => this.sendEntry(entry));
        this.outbox.done(entry);
        this.outboxState(false);
        this.outboxHandlers.onSent(saved);
      } catch (error) {
        if (sendLater(error)) {
          this.outboxState(unreachable(error));
          this.retryTimer = setTimeout(() => this.flush(), RETRY_OFFLINE_MS);
          return;
        }
        // Refused for good (the word no longer exists, a bad id): it cannot be sent.
        this.outbox.done(entry);
        this.outboxState(false);
        this.outboxHandlers.onFailed(entry, error);
      }
    }
  }

  /** PUT one outbox answer. A 409 is another device's newer counts: the answer is counted
   * on top of them (merged). A rate limit is waited out and the same counts sent again. */
  async sendEntry(entry) {
    let rateRetries = 0;
    let conflicts = 0;
    for (;;) {
      const body = this.outbox.bodyFor(entry, this.model.serverRecord(entry.wordId));
      try {
        const saved = await this.api.request("PUT", progressPath(entry.wordId), body);
        this.model.adopt(saved);
        return saved;
      } catch (error) {
        if (error.code === "VERSION_CONFLICT" && error.details?.current && conflicts < RATE_RETRIES) {
          conflicts += 1;
          this.model.adopt(error.details.current, { force: true });
          this.outbox.rebase(entry, error.details.current);
          continue;
        }
        if (error.code === "RATE_LIMITED" && rateRetries < RATE_RETRIES) {
          rateRetries += 1;
          await sleep(Math.max(1, Number(error.details?.retry_after) || 2) * 1000);
          continue;
        }
        throw error;
      }
    }
  }

  /** Mark (`marking`) or unmark a word as mastered on the server. Unmarking deletes the
   * record; one that is already gone is what was wanted. */
  saveMastered(wordId, marking) {
    const write = marking
      ? () => this.putProgress(wordId, masteredBody)
      : () =>
          this.api.request("DELETE", progressPath(wordId)).catch((error) => {
            if (error.status === 404) return { wordId };
            throw error;
          });
    return this.enqueue(wordId, write);
  }

  // -- stats: re-read shortly after changes, one request at a time ----------------------------

  /** `onStats(stats)` receives every stats answer. */
  onStats(handler) {
    this.stats.onStats = handler;
  }

  scheduleStats(delay = 400) {
    clearTimeout(this.stats.timer);
    this.stats.timer = setTimeout(() => this.loadStats(), delay);
  }

  async loadStats() {
    const state = this.stats;
    if (state.inFlight) {
      state.again = true;
      return;
    }
    state.inFlight = true;
    try {
      state.onStats?.(await this.api.request("GET", "/api/v1/progress/stats"));
    } catch (error) {
      if (error.code === "RATE_LIMITED") this.scheduleStats((Number(error.details?.retry_after) || 2) * 1000);
    } finally {
      state.inFlight = false;
      if (state.again) {
        state.again = false;
        this.scheduleStats(100);
      }
    }
  }

  // -- the old app's progress, kept in this browser -------------------------------------------

  /** The old progress to offer, `{raw, count}`, unless absent or put off for this session. */
  importOffer() {
    const old = this.oldProgress();
    if (!old || sessionStorage.getItem(IMPORT_LATER_KEY)) return null;
    return old;
  }

  oldProgress() {
    try {
      return parseOldProgress(localStorage.getItem(OLD_PROGRESS_KEY));
    } catch {
      return null; // storage refused (privacy settings): nothing to import
    }
  }

  importLater() {
    sessionStorage.setItem(IMPORT_LATER_KEY, "1");
  }

  /** POST the old progress as it is stored; once imported, the old copy is removed. */
  async importOld(old) {
    const report = await this.api.request("POST", "/api/v1/progress/import", old.raw, {
      headers: { "Content-Type": "application/json" },
    });
    localStorage.removeItem(OLD_PROGRESS_KEY);
    return report;
  }
}
