// The class overview (/overview?classroom=<id>, contract §9): students × lessons, each cell
// a card's words mastered, with the sums per student and per lesson; live from the board
// channel; a cell opens its card on the board.
//
// Modules: overview-model.js (the grid's state and the events' effect; no DOM),
// overview-view.js (the DOM), and this file: REST, the live channel, the wiring.
// REST: GET /api/teacher/classrooms, GET /api/teacher/classrooms/{id}/overview, GET
// /api/teacher/progress-board?classroom_id= (the cells). Live: the `board:<id>` channel.
//
// data-testid attributes, stable for browser tests:
//   overview-title, overview-summary, back-to-board, connection, load-error, overview-empty,
//   overview, overview-grid, lesson-head-<lesson id>, student-row-<student id> (its
//   student-sum), cell-<student id>-<lesson id> (a link to the card; data-shade, data-card-id;
//   class is-new briefly after a change; its cell-figure, "2/3", is for the eye, the link is
//   named by a sentence), lesson-sum-<lesson id>, class-sum, announcer,
//   user-name, sign-out

import { api } from "./api.js";
import { Live } from "./live.js";
import { OverviewModel } from "./overview-model.js";
import { OverviewView } from "./overview-view.js";
import { showConnection } from "./util.js";

const $ = (id) => document.getElementById(id);
const TEACHER = "/api/teacher";
const CONNECTION = { open: "Live", connecting: "Connecting…", closed: "Offline — reconnecting…" };
const CONNECTION_TITLE = {
  open: "Learners' answers show here as they happen",
  connecting: "Connecting to live updates",
  closed: "Learners' answers will show when the connection is back",
};
const SUMS_DELAY_MS = 150; // a burst of events (one answer, several cards) is one re-read

class OverviewApp {
  constructor() {
    this.id = new URLSearchParams(location.search).get("classroom") || "";
    this.model = new OverviewModel();
    this.view = new OverviewView(this.id);
    this.live = new Live(api);
    this.channel = `board:${this.id}`;
    this.classroom = null;
    this.loading = null; // a board read in flight: events wait in `buffer`
    this.buffer = [];
    this.sumsTimer = null;
    this.changed = new Set();
  }

  async start() {
    if (!api.user) return location.replace("/");
    if (api.user.role !== "teacher") return location.replace("/study");
    if (!this.id) return location.replace("/board");
    api.onChange((user) => user || location.replace("/"));
    $("account-name").textContent = api.user.name;
    $("sign-out").addEventListener("click", () => api.signOut());
    $("back-to-board").href = `/board?classroom=${encodeURIComponent(this.id)}`;
    this.live.onStatus((status) => showConnection($("connection"), status, { text: CONNECTION, title: CONNECTION_TITLE }));
    try {
      const classrooms = await api.request("GET", `${TEACHER}/classrooms`);
      this.classroom = classrooms.find((item) => item.id === this.id);
      if (!this.classroom) return this.fail("That classroom isn't one of yours.");
      await this.loadAll();
    } catch (error) {
      if (error.status === 401) return location.replace("/");
      return this.fail(error.status === 404 ? "That classroom isn't one of yours." : error.message || "The overview couldn't be loaded.");
    }
    document.body.classList.remove("is-loading");
    this.live.subscribe(this.channel, {
      since: this.model.seq,
      onEvent: (frame) => this.onEvent(frame),
      onReset: () => this.loadAll().then(() => this.render()),
      onError: (frame) => frame.code === "NOT_FOUND" && this.fail("You aren't a teacher of this classroom any more."),
    });
  }

  fail(text) {
    document.body.classList.remove("is-loading");
    this.view.showError(text);
  }

  /** The cells (board) and the sums (overview); events that come meanwhile are applied
   * after, above the board's seq. */
  async loadAll() {
    this.loading = true;
    this.buffer = [];
    try {
      const q = `classroom_id=${encodeURIComponent(this.id)}`;
      const [board, overview] = await Promise.all([
        api.request("GET", `${TEACHER}/progress-board?${q}`),
        api.request("GET", `${TEACHER}/classrooms/${encodeURIComponent(this.id)}/overview`),
      ]);
      this.model.loadBoard(board);
      this.model.loadOverview(overview);
    } finally {
      this.loading = false;
    }
    const waiting = this.buffer;
    this.buffer = [];
    for (const frame of waiting) this.apply(frame);
    this.live.resume(this.channel, this.model.seq);
    this.render();
  }

  render() {
    this.view.render(this.model, this.classroom);
  }

  onEvent(frame) {
    if (frame.channel !== this.channel) return;
    if (frame.event === "classroom.updated" && frame.data?.name) this.classroom = { ...this.classroom, ...frame.data };
    if (this.loading) this.buffer.push(frame);
    else this.apply(frame);
  }

  apply(frame) {
    const result = this.model.apply(frame);
    if (!result) return;
    if (result.cell) this.changed.add(result.cell.id);
    if (result.reread) return this.scheduleReload();
    if (result.sums) return this.scheduleSums();
    this.render();
  }

  /** Re-read the sums (the server owns them) shortly after a burst of changes. */
  scheduleSums() {
    clearTimeout(this.sumsTimer);
    this.sumsTimer = setTimeout(async () => {
      try {
        this.model.loadOverview(await api.request("GET", `${TEACHER}/classrooms/${encodeURIComponent(this.id)}/overview`));
      } catch {
        // The cells are current; the sums catch up with the next change or a reload.
      }
      this.renderChanges();
    }, SUMS_DELAY_MS);
  }

  scheduleReload() {
    clearTimeout(this.sumsTimer);
    this.sumsTimer = setTimeout(() => this.loadAll().then(() => this.renderChanges(), () => {}), SUMS_DELAY_MS);
  }

  renderChanges() {
    this.render();
    const ids = [...this.changed];
    this.changed.clear();
    this.view.flash(ids, ids.length ? "The overview was updated." : "");
  }
}

new OverviewApp().start();
