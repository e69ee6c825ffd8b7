// A classroom's set-up page (/classroom?id=<id>, contract §8): roster, lessons, assigning,
// the classroom's name, auto-advance, join codes and teachers.
//
// Modules: classroom-roster.js (students, the printable code sheet), classroom-lessons.js
// (lessons and the word editor), classroom-assign.js (cards for a lesson × students),
// classroom-settings.js (name, auto-advance, codes, teachers), and this file: loading, the
// live board channel (another teacher's change shows here too), messages.
//
// data-testid attributes, stable for browser tests:
//   classroom-title, back-to-board, overview-link, nav-students, nav-lessons, load-error, connection
//   students-section, add-students, students-names, students-add, students-note,
//     students-empty, student-list, student-<id> (each with student-name, student-code or
//     student-joined, student-rename, student-remove), print-codes, print-sheet
//   lessons-section, lesson-new, lessons-empty, lesson-list, lesson-<id> (lesson-name,
//     lesson-meta, lesson-edit, lesson-delete)
//   lesson-dialog, lesson-title(-error), lesson-category(-error), word-topic, word-search,
//     word-count, word-results (word-<id> checkboxes), word-add-shown, lesson-words,
//     lesson-words-count, lesson-words-error, chosen-<id> (with chosen-remove), own-words,
//     own-term, own-translation, own-add, own-paste, own-paste-add, own-note, lesson-note,
//     lesson-save, lesson-cancel
//   assign-section, assign-form, assign-lesson, assign-all, assign-student-<id>,
//     assign-submit, assign-progress, assign-note
//   settings-section, classroom-name, classroom-rename, auto-advance, setup-teacher-code,
//     setup-student-code, rotate-codes, teacher-list, teacher-<id> (teacher-role,
//     teacher-remove), leave-classroom
//   confirm-dialog, confirm-ok, confirm-cancel, rename-dialog, rename-input, rename-save,
//     rename-cancel, removed, message, message-close, user-name, sign-out

import { ApiError, api } from "./api.js";
import { Live } from "./live.js";
import { icon } from "./board-util.js";
import { showConnection } from "./util.js";
import { Roster } from "./classroom-roster.js";
import { Lessons } from "./classroom-lessons.js";
import { Assign } from "./classroom-assign.js";
import { Settings } from "./classroom-settings.js";

const $ = (id) => document.getElementById(id);
const MESSAGE_MS = { ok: 5000, info: 6000, warn: 9000, error: 12000 };
const CONNECTION = { open: "Live", connecting: "Connecting…", closed: "Offline — reconnecting…" };
const CONNECTION_TITLE = {
  open: "Changes other teachers make appear as they happen",
  connecting: "Connecting to live updates",
  closed: "Changes other teachers make will show when the connection is back",
};

export const TEACHER = "/api/teacher";

class SetupApp {
  constructor() {
    this.api = api;
    this.me = api.user;
    this.id = new URLSearchParams(location.search).get("id") || "";
    this.classroom = null;
    this.students = [];
    this.lessons = [];
    this.deck = { words: [], topics: [] };
    this.ownWords = [];
    this.pairs = new Set(); // "lesson|student" pairs that have a card
    this.live = new Live(api);
    this.channel = `board:${this.id}`;
    this.refreshing = new Map(); // what -> timer: re-reads after live events, coalesced
    this.roster = new Roster(this);
    this.lessonsView = new Lessons(this);
    this.assign = new Assign(this);
    this.settings = new Settings(this);
  }

  async start() {
    if (!api.user) return location.replace("/");
    if (api.user.role !== "teacher") return location.replace("/study");
    if (!this.id) return location.replace("/board");
    api.onChange((user) => {
      if (!user) location.replace("/");
      else this.me = user;
    });
    $("account-name").textContent = this.me.name;
    $("message-close").append(icon("close"));
    $("message-close").addEventListener("click", () => this.hideMessage());
    $("sign-out").addEventListener("click", () => api.signOut());
    $("back-to-board").href = `/board?classroom=${encodeURIComponent(this.id)}`;
    $("overview-link").href = `/overview?classroom=${encodeURIComponent(this.id)}`;
    this.live.onStatus((status) => showConnection($("connection"), status, { text: CONNECTION, title: CONNECTION_TITLE }));
    try {
      await this.loadAll();
    } catch (error) {
      if (error.status === 401) return location.replace("/");
      document.body.classList.remove("is-loading");
      $("load-error").textContent = error.status === 404 ? "That classroom isn't one of yours." : this.explain(error);
      $("load-error").hidden = false;
      return;
    }
    document.body.classList.remove("is-loading");
    this.live.subscribe(this.channel, {
      onSubscribed: () => this.refreshAll(),
      onEvent: (frame) => this.onEvent(frame),
      onReset: () => this.refreshAll(),
      // A teacher joining is no board event; one who shows up on the board is news.
      onPresence: (users) => {
        if (users.some((user) => !this.settings.teachers.some((teacher) => teacher.id === user.id))) this.refresh("teachers");
      },
      onUnsubscribed: (frame) => {
        if (frame.reason === "removed") this.showRemoved();
      },
      onError: (frame) => {
        if (frame.code === "NOT_FOUND") this.showRemoved();
      },
    });
    window.addEventListener("focus", () => this.refresh("teachers"));
    if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
  }

  async loadAll() {
    const classrooms = await api.request("GET", `${TEACHER}/classrooms`);
    this.classroom = classrooms.find((item) => item.id === this.id);
    if (!this.classroom) throw new ApiError(404, { code: "NOT_FOUND", message: "No such classroom" });
    const q = `classroom_id=${encodeURIComponent(this.id)}`;
    const [students, lessons, deck, words, teachers] = await Promise.all([
      api.request("GET", `${TEACHER}/students?${q}`),
      api.request("GET", `${TEACHER}/lessons?${q}`),
      api.request("GET", "/api/v1/decks/es-basics"),
      api.request("GET", `${TEACHER}/words?${q}`),
      api.request("GET", `${TEACHER}/classrooms/${this.id}/teachers`),
      this.loadPairs(),
    ]);
    this.students = students;
    this.lessons = lessons;
    this.deck = { words: deck.words, topics: [...new Set(deck.words.map((word) => word.topic))] };
    this.ownWords = words;
    this.settings.teachers = teachers;
    this.renderAll();
  }

  async loadPairs() {
    const board = await api.request("GET", `${TEACHER}/progress-board?classroom_id=${encodeURIComponent(this.id)}`);
    this.pairs = new Set(board.columns.flatMap((column) => column.cards).map((card) => `${card.lesson_id}|${card.student_id ?? ""}`));
  }

  renderAll() {
    document.title = `${this.classroom.name} · Set up · Tandem`;
    $("classroom-title").textContent = this.classroom.name;
    this.roster.render();
    this.lessonsView.render();
    this.assign.render();
    this.settings.render();
  }

  /** A word by id, from the deck or the classroom's own words. */
  word(id) {
    return this.wordIndex().get(id) ?? null;
  }

  wordIndex() {
    if (!this.index || this.index.size !== this.deck.words.length + this.ownWords.length) {
      this.index = new Map([...this.deck.words, ...this.ownWords].map((word) => [word.id, word]));
    }
    return this.index;
  }

  // -- live ----------------------------------------------------------------------------------

  /** Another teacher's change (or ours, echoed): re-read what it touched. Re-reading keeps
   * one owner of each list's order (the server), at the cost of a small GET. */
  onEvent(frame) {
    const [kind] = frame.event.split(".");
    if (kind === "student") this.refresh("students");
    else if (kind === "lesson") this.refresh("lessons");
    else if (kind === "classroom") this.refresh("classroom");
    else if (kind === "teacher") this.refresh("teachers");
    else if (frame.event === "card.created" || frame.event === "card.deleted") this.refresh("pairs");
  }

  refresh(what) {
    clearTimeout(this.refreshing.get(what));
    this.refreshing.set(
      what,
      setTimeout(async () => {
        this.refreshing.delete(what);
        const q = `classroom_id=${encodeURIComponent(this.id)}`;
        try {
          if (what === "students") this.students = await api.request("GET", `${TEACHER}/students?${q}`);
          else if (what === "lessons") this.lessons = await api.request("GET", `${TEACHER}/lessons?${q}`);
          else if (what === "pairs") await this.loadPairs();
          else if (what === "teachers") this.settings.teachers = await api.request("GET", `${TEACHER}/classrooms/${this.id}/teachers`);
          else if (what === "classroom") {
            const classrooms = await api.request("GET", `${TEACHER}/classrooms`);
            const found = classrooms.find((item) => item.id === this.id);
            if (!found) return this.showRemoved();
            this.classroom = found;
          }
        } catch (error) {
          if (error.status === 404) this.showRemoved();
          return;
        }
        this.renderAll();
      }, 60),
    );
  }

  refreshAll() {
    for (const what of ["students", "lessons", "pairs", "classroom", "teachers"]) this.refresh(what);
  }

  showRemoved() {
    this.live.unsubscribe(this.channel);
    document.body.classList.add("is-removed");
    $("setup-main").hidden = true;
    $("removed").hidden = false;
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
    $("removed-title").focus();
  }

  // -- messages ------------------------------------------------------------------------------

  notify(text, kind = "info") {
    $("message-text").textContent = text;
    $("message").dataset.kind = kind;
    $("message").classList.add("is-visible");
    clearTimeout(this.messageTimer);
    this.messageTimer = setTimeout(() => this.hideMessage(), MESSAGE_MS[kind] || 6000);
  }

  hideMessage() {
    $("message").classList.remove("is-visible");
  }

  /** One sentence a teacher can act on, for any failure. */
  explain(error) {
    if (!(error instanceof ApiError)) return "Tandem can't be reached right now. Check your connection and try again.";
    switch (error.code) {
      case "CARD_LOCKED":
        return `${error.details.locked_by_name || "Another teacher"} is editing one of its cards right now. Try again when they're done.`;
      case "RATE_LIMITED":
        return "That's a lot of changes at once. Wait a few seconds, then try again.";
      case "SERVICE_UNAVAILABLE":
        return "Tandem is briefly unavailable. Try again in a moment.";
      case "NOT_FOUND":
        return "That was removed meanwhile.";
      default:
        return error.message || "Something went wrong. Try again.";
    }
  }

  /** A request, waiting and retrying when the rate limit says so (many cards at once). */
  async send(method, path, body) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await api.request(method, path, body);
      } catch (error) {
        if (error.code !== "RATE_LIMITED" || attempt >= 6) throw error;
        const wait = Number(error.details?.retry_after) || attempt + 1;
        await new Promise((resolve) => setTimeout(resolve, 1000 * wait));
      }
    }
  }
}

new SetupApp().start();
