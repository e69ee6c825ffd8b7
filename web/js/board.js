// The teacher's live progress board (/board).
//
// Modules: board-model.js (state and event application, no DOM), board-view.js (columns,
// cards, FLIP), board-dnd.js (pointer and keyboard drag and drop), board-actions.js (locks,
// moves, batch moves, create, delete), board-dialogs.js, board-util.js.
//
// data-testid attributes, stable for browser tests:
//   board, columns, loading
//   column-<status>               a column <section> (data-status); status is not_started,
//                                 in_progress, needs_review or mastered
//   column-count-<status>         its number of cards shown ("3", hidden from screen readers,
//                                 which read column-count-text-<status>: "3 cards")
//   column-cards-<status>         its list of cards
//   column-empty-<status>         its "no cards" text (visible when the column is empty)
//   add-card-<status>             its "+" button (new card dialog, that column preset)
//   card-<id>                     a card <li> (role application, aria-roledescription "card"),
//                                 with data-card-id, data-status, data-position;
//                                 classes is-locked (aria-disabled="true"), is-selected,
//                                 is-progress (briefly, after its learner studied)
//     card-title, card-student, card-category, card-progress (the mastery bar, data-mastered
//     and data-words; hidden without a learner), card-progress-text, lock-badge ("Maria is editing", hidden
//     unless another teacher holds the lock), select-<id> (checkbox), delete-<id>
//   drop-placeholder, drag-ghost  while dragging with a pointer
//   presence (group), presence-user (data-user-id) for each teacher on the board
//   connection                    data-status "open" | "connecting" | "closed"
//   classroom-picker, classroom-switcher (<select>), classroom-add, invite, setup-link (the
//   classroom's set-up page, /classroom?id=<id>), overview-link (/overview?classroom=<id>)
//   getting-started (an empty board's three steps): step-students, step-lessons,
//   step-assign (class is-done once done), each with its link step-<key>-action
//   removed (shown once this teacher was removed from the classroom), removed-other
//   classroom-dialog, classroom-dialog-close, invite-dialog, invite-close,
//   teacher-code, student-code
//   no-classroom (shown to a teacher without a classroom), create-classroom-name,
//   create-classroom-submit, join-classroom-code, join-classroom-submit
//   filters, filter-student, filter-category, filter-status, clear-filters, board-summary
//   new-card, new-card-dialog, new-card-lesson, new-card-target-student,
//   new-card-target-all, new-card-target-template, new-card-student, new-card-status,
//   new-card-note, new-card-submit, new-card-cancel
//   selection-bar, selection-count, move-target, move-selected, delete-selected,
//   clear-selection
//   confirm-dialog, confirm-ok, confirm-cancel
//   message (the visible one-sentence notice; data-kind info|ok|warn|error), message-close
//   announcer (the assertive live region that narrates our own drag and drop)
//   board-news (the polite live region that tells other people's changes: board-news.js)
//   user-name, sign-out
//
// URL: /board?classroom=<id>&student=<id>&category=<name>&status=<status>; &card=<id>
// (from the class overview) focuses and highlights that card once. Tokens never appear in
// a URL: api.js keeps them in localStorage and sends them in headers.

import { api, unwrap } from "./api.js";
import { Live } from "./live.js";
import { BOARD, actions } from "./board-actions.js";
import { chrome, readFilters, readUrl, sameQuery } from "./board-chrome.js";
import { BoardModel, emptyQuery } from "./board-model.js";
import { BoardNews, newsOf, presenceNews } from "./board-news.js";
import { BoardView } from "./board-view.js";
import { DragController } from "./board-dnd.js";
import { NewCardDialog, classroomForms, setUpClassroomDialog, setUpInviteDialog } from "./board-dialogs.js";
import { firstName, h, icon } from "./board-util.js";
import { showConnection } from "./util.js";

const $ = (id) => document.getElementById(id);
const LAST_CLASSROOM = "tandem-board-classroom";
const CONNECTION = { open: "Live", connecting: "Connecting…", closed: "Offline — reconnecting…" };
const CONNECTION_TITLE = {
  open: "Changes from other teachers appear as they happen",
  connecting: "Changes will sync when the connection is back",
  closed: "Changes will sync when the connection is back",
};

class BoardApp {
  constructor() {
    this.api = api;
    this.me = api.user;
    this.model = new BoardModel();
    this.pending = new Map(); // card id -> { status, position, version, done }: moves on their way
    this.deleting = new Set();
    this.selection = new Set();
    this.anchor = null; // the last card toggled, for Shift-click ranges
    this.drag = null;
    this.locks = new Map(); // card ids whose lock we hold -> renewal timer
    this.lessonCache = new Map();
    this.classrooms = [];
    this.channel = null;
    this.reloading = null;
    this.buffer = [];
    this.queued = null; // a render waiting for more events: { timer, before, highlights }
    this.poll = 0;
    this.live = new Live(api);
    this.view = new BoardView(this, $("columns"));
    this.news = new BoardNews($("board-news"));
    this.present = null; // who the last presence frame listed (null: none yet)
    this.dnd = new DragController(this);
    this.newCard = new NewCardDialog(this);
    this.openClassroomDialog = setUpClassroomDialog(this);
    this.openInvite = setUpInviteDialog(this);
  }

  async start() {
    if (!api.user) return location.replace("/");
    if (api.user.role !== "teacher") return location.replace("/study");
    api.onChange((user) => {
      if (!user) location.replace("/");
      else this.me = user;
    });
    this.wire();
    let classrooms;
    try {
      classrooms = await api.request("GET", "/api/teacher/classrooms");
    } catch (error) {
      if (error.status === 401) return location.replace("/");
      this.notify(this.explain(error), "error");
      return;
    }
    this.classrooms = classrooms;
    if (!classrooms.length) return this.showNoClassroom();
    const url = readUrl();
    const remembered = localStorage.getItem(LAST_CLASSROOM);
    const known = (id) => classrooms.some((classroom) => classroom.id === id);
    const id = known(url.classroom) ? url.classroom : known(remembered) ? remembered : classrooms[0].id;
    const cardId = new URLSearchParams(location.search).get("card");
    await this.openClassroom(id, id === url.classroom ? url.query : emptyQuery(), { push: false });
    if (cardId && this.model.cards.has(cardId)) this.showCard(cardId);
  }

  /** A card opened from elsewhere (the class overview): focused, scrolled to, highlighted. */
  showCard(id) {
    this.view.focusCard(id);
    this.view.flash(id, null);
  }

  wire() {
    $("account-name").textContent = this.me.name;
    $("classroom-add").append(icon("plus"));
    $("message-close").append(icon("close"));
    $("new-card").prepend(icon("plus"));
    $("sign-out").addEventListener("click", () => api.signOut());
    $("classroom-switcher").addEventListener("change", (event) => this.openClassroom(event.target.value, emptyQuery()));
    $("classroom-add").addEventListener("click", () => this.openClassroomDialog());
    $("removed-other").addEventListener("click", () => {
      if (this.classrooms.length) this.openClassroom(this.classrooms[0].id, emptyQuery());
    });
    $("invite").addEventListener("click", () => {
      const classroom = this.classrooms.find((item) => item.id === this.model.classroomId);
      if (classroom) this.openInvite(classroom);
    });
    $("filters").addEventListener("change", () => this.applyFilters(readFilters()));
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    $("clear-filters").addEventListener("click", () => this.applyFilters(emptyQuery()));
    $("filters-toggle").addEventListener("click", () => {
      const open = $("toolbar").classList.toggle("filters-open");
      $("filters-toggle").setAttribute("aria-expanded", String(open));
    });
    $("new-card").addEventListener("click", () => this.openNewCard());
    $("move-selected").addEventListener("click", () => this.moveSelected($("move-target").value));
    $("delete-selected").addEventListener("click", () => this.confirmDeleteSelected());
    $("clear-selection").addEventListener("click", () => this.clearSelection());
    $("message-close").addEventListener("click", () => this.hideMessage());
    window.addEventListener("popstate", () => {
      const url = readUrl();
      if (url.classroom && url.classroom !== this.model.classroomId) this.openClassroom(url.classroom, url.query, { push: false });
      else this.applyFilters(url.query, { push: false });
    });
    // Letting go on the way out: release held locks (a keepalive request outlives the page).
    window.addEventListener("pagehide", () => {
      for (const id of this.locks.keys()) {
        api.request("DELETE", `${BOARD}/cards/${id}/lock`, null, { keepalive: true, retry: false }).catch(() => {});
      }
    });
    this.live.onStatus((status) => this.showConnection(status));
    // "studied 5 minutes ago" stays true as time passes.
    setInterval(() => this.model.classroomId && !this.drag && this.render(), 60_000);
    // Leases that ended without news (the sweeper announces them too) stop showing.
    setInterval(() => {
      const now = Date.now();
      for (const card of this.model.cards.values()) {
        if (card.lock_expires_at && Date.parse(card.lock_expires_at) <= now) {
          this.render();
          break;
        }
      }
    }, 5000);
  }

  // -- classrooms ----------------------------------------------------------------------------

  async openClassroom(id, query, { push = true } = {}) {
    if (this.drag) this.dnd.cancel({ quiet: true });
    if (this.channel) this.live.unsubscribe(this.channel);
    for (const lockId of [...this.locks.keys()]) this.release(lockId);
    this.model.clear();
    this.view.reset();
    this.pending.clear();
    this.deleting.clear();
    this.selection.clear();
    this.channel = `board:${id}`;
    this.news.clear();
    this.present = null;
    localStorage.setItem(LAST_CLASSROOM, id);
    $("no-classroom").hidden = true;
    $("removed").hidden = true;
    document.body.classList.remove("is-removed");
    $("no-classroom-forms").replaceChildren();
    document.body.classList.remove("has-no-classroom");
    document.body.classList.add("is-loading");
    this.fillSwitcher(id);
    this.writeUrl(id, query, push);
    this.view.renderPresence($("presence"), [{ id: this.me.id, name: this.me.name }]);
    const loaded = await this.reload({ classroomId: id, query, animate: false });
    if (!loaded || this.channel !== `board:${id}`) return;
    this.live.subscribe(this.channel, {
      since: this.model.seq,
      onEvent: (frame) => this.onEvent(frame),
      onReset: () => this.reload({ animate: true }),
      onPresence: (users) => {
        if (this.present) this.news.add(...presenceNews(this.present, users, this.me.id));
        this.present = users;
        this.view.renderPresence($("presence"), users);
      },
      onUnsubscribed: (frame) => {
        if (frame.reason === "removed") this.showRemoved(id);
      },
      onError: (frame) => this.notify(frame.code === "NOT_FOUND" ? "This board is no longer yours: you aren't a teacher of this classroom." : frame.message, "error"),
    });
  }

  addClassroom(classroom) {
    if (!this.classrooms.some((item) => item.id === classroom.id)) this.classrooms.push(classroom);
    this.notify(`You're now on the board of ${classroom.name}.`, "ok");
    this.openClassroom(classroom.id, emptyQuery());
  }

  fillSwitcher(id) {
    const select = $("classroom-switcher");
    select.replaceChildren(...this.classrooms.map((classroom) => h("option", { value: classroom.id }, classroom.name)));
    select.value = id;
    select.disabled = this.classrooms.length < 2;
    select.title = this.classrooms.length < 2 ? "Your only classroom" : "Switch classroom";
    $("invite").hidden = false;
    $("setup-link").hidden = false;
    $("setup-link").href = `/classroom?id=${encodeURIComponent(id)}`;
    $("overview-link").hidden = false;
    $("overview-link").href = `/overview?classroom=${encodeURIComponent(id)}`;
  }

  showNoClassroom() {
    document.body.classList.remove("is-loading");
    document.body.classList.add("has-no-classroom");
    $("no-classroom").hidden = false;
    const forms = classroomForms($("no-classroom-forms"), this, (classroom) => this.addClassroom(classroom));
    forms.focus();
  }

  // -- reading the board -------------------------------------------------------------------

  /** GET the board; If-None-Match keeps the browser's HTTP cache out of it (a stale copy
   * would hold an old seq). Resolves to null when our copy is current (304). */
  async fetchBoard(classroomId, query, etag) {
    const params = new URLSearchParams({ classroom_id: classroomId });
    if (query.student) params.set("student_id", query.student);
    if (query.category) params.set("category", query.category);
    if (query.status) params.set("status", query.status);
    // api.request has already refreshed the token and retried once after a 401.
    const response = await api.request("GET", `${BOARD}?${params}`, null, { raw: true, headers: { "If-None-Match": etag || '"none"' } });
    if (response.status === 304) return null;
    return { data: await unwrap(response), etag: response.headers.get("ETag") };
  }

  /** Re-read the board (first load, filters, `reset`): events that arrive meanwhile wait
   * and are applied after, above the answer's seq. Resolves true when the board is shown. */
  async reload({ classroomId = this.model.classroomId, query = this.model.query, animate = true } = {}) {
    const token = {};
    this.reloading = token;
    this.buffer = [];
    const same = classroomId === this.model.classroomId && sameQuery(query, this.model.query);
    const before = animate ? this.view.measure() : null;
    try {
      const answer = await this.fetchBoard(classroomId, query, same ? this.model.etag : null);
      if (this.reloading !== token) return false;
      if (answer) {
        this.model.load(answer.data, query, answer.etag);
        this.view.setColumns(this.model.columns);
      }
    } catch (error) {
      if (this.reloading !== token) return false;
      this.reloading = null;
      if (error.status === 401) {
        location.replace("/");
        return false;
      }
      if (error.status === 400 && !sameQuery(query, emptyQuery())) {
        this.notify("That filter isn't valid here, so the whole board is shown.", "warn");
        this.writeUrl(classroomId, emptyQuery(), false);
        return this.reload({ classroomId, query: emptyQuery(), animate });
      }
      this.notify(error.status === 404 ? "That classroom isn't one of yours." : this.explain(error), "error");
      this.flush();
      return false;
    }
    // The lessons (for the categories filter) are read while events still wait in the
    // buffer, so that they are applied in seq order after both answers.
    if (!this.model.lessons) {
      await this.loadLessons();
      if (this.reloading !== token) return false;
    }
    this.reloading = null;
    this.flush();
    this.live.resume(this.channel, this.model.seq);
    for (const id of this.selection) if (!this.model.cards.has(id)) this.selection.delete(id);
    document.body.classList.remove("is-loading");
    this.fillFilters();
    this.render({ before });
    return true;
  }

  flush() {
    const frames = this.buffer;
    this.buffer = [];
    for (const frame of frames) this.applyFrame(frame);
  }

  /** While offline, changes we make reach the board by polling (cheap: ETag → 304). */
  catchUpIfOffline() {
    if (this.live.status !== "open" && !this.reloading) this.reload({ animate: true });
  }

  showConnection(status) {
    showConnection($("connection"), status, { text: CONNECTION, title: CONNECTION_TITLE });
    document.body.dataset.connection = status;
    clearInterval(this.poll);
    if (status === "closed") this.poll = setInterval(() => this.model.classroomId && this.catchUpIfOffline(), 15_000);
  }

  // -- live events ---------------------------------------------------------------------------

  onEvent(frame) {
    if (frame.channel !== this.channel) return;
    if (this.reloading) this.buffer.push(frame);
    else this.applyFrame(frame);
  }

  applyFrame(frame) {
    const before = this.queued ? null : this.view.measure();
    const cardId = frame.data?.card?.id ?? frame.data?.id;
    const prior = this.model.cards.get(cardId) ?? null;
    const result = this.model.apply(frame);
    if (!result) return;
    const columns = Object.fromEntries(this.model.columns.map((column) => [column.status_value, column.name]));
    this.news.add(newsOf(frame, { before: prior, after: this.model.cards.get(result.id) ?? null, me: this.me.id, columns }));
    const remote = frame.actor && frame.actor.id !== this.me.id;
    const { id, kind } = result;
    if (kind === "roster" || kind === "classroom") return this.applyRoster(frame, result, before);
    if (kind === "progress") return this.queueRender(before, [], [id]);
    const highlights = [];
    if (kind === "deleted") {
      this.deleting.delete(id);
      this.selection.delete(id);
    }
    if (this.drag?.cardId === id && remote && (kind === "deleted" || kind === "moved")) {
      this.dnd.cancel({ quiet: true });
      this.notify(`${firstName(frame.actor.name)} ${kind === "deleted" ? "deleted" : "moved"} this card meanwhile.`, "warn");
    }
    if (remote && (kind === "moved" || kind === "created")) highlights.push({ id, by: firstName(frame.actor.name) });
    this.queueRender(before, highlights);
  }

  /** Names, titles and the filters' lists follow the roster live; a filter that no longer
   * names anything (or may now match other cards) re-reads the board. */
  applyRoster(frame, result, before) {
    if (frame.event.startsWith("lesson.")) this.lessonCache.delete(this.model.classroomId);
    if (result.kind === "classroom") {
      const classroom = this.classrooms.find((item) => item.id === result.classroom.id);
      if (classroom) Object.assign(classroom, result.classroom);
      this.fillSwitcher(this.model.classroomId);
      return;
    }
    if (result.stale) {
      const query = { ...this.model.query };
      if (frame.event === "student.removed") query.student = "";
      if (frame.event.startsWith("lesson.") && !this.model.filters.categories.includes(query.category)) query.category = "";
      this.applyFilters(query, { push: false });
      return;
    }
    this.fillFilters();
    this.queueRender(before, []);
  }

  async loadLessons() {
    this.lessonCache.delete(this.model.classroomId); // it missed events while elsewhere
    try {
      this.model.setLessons(await this.lessons());
    } catch {
      // The filters keep the board's own categories; a later read tries again.
    }
  }

  showRemoved(id) {
    this.classrooms = this.classrooms.filter((classroom) => classroom.id !== id);
    if (localStorage.getItem(LAST_CLASSROOM) === id) localStorage.removeItem(LAST_CLASSROOM);
    for (const lockId of [...this.locks.keys()]) this.locks.delete(lockId);
    this.channel = null;
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
    document.body.classList.add("is-removed");
    $("removed").hidden = false;
    $("removed-other").hidden = !this.classrooms.length;
    $("removed-title").focus();
    this.notify("You were removed from this classroom.", "warn");
  }

  /** Events often come in bursts (a batch move): one animated render for the frames already
   * received. Not a frame callback: the render would then share a task with the frame's
   * layout and paint, one long task on a large board instead of two short ones. */
  queueRender(before, highlights, progressed = []) {
    if (!this.queued) this.queued = { before, highlights: [], progressed: [], timer: setTimeout(() => this.render()) };
    this.queued.highlights.push(...highlights);
    this.queued.progressed.push(...progressed);
  }

  render({ animate = false, before = null } = {}) {
    let highlights = [];
    let progressed = [];
    if (this.queued) {
      clearTimeout(this.queued.timer);
      before = before || this.queued.before;
      highlights = this.queued.highlights;
      progressed = this.queued.progressed;
      this.queued = null;
    }
    for (const [id, move] of this.pending) {
      const card = this.model.cards.get(id);
      if (move.done && (!card || card.updated_at !== move.version)) this.pending.delete(id);
    }
    for (const id of this.deleting) if (!this.model.cards.has(id)) this.deleting.delete(id);
    this.view.render({ animate, before, highlights, progressed });
    this.renderGettingStarted();
    this.renderSelection();
    this.renderSummary();
  }
}

Object.assign(BoardApp.prototype, actions, chrome);

const app = new BoardApp();
app.start();
