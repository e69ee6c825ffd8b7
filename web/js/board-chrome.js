// The board's surroundings, mixed into the board app (`this` is the app): filters kept in
// the URL, the selection and its bar, the visible message and the screen-reader announcer.

import { STATUSES, emptyQuery } from "./board-model.js";
import { h, icon, plural } from "./board-util.js";
import { announce } from "./util.js";

const $ = (id) => document.getElementById(id);
const MESSAGE_MS = { ok: 5000, info: 6000, warn: 9000, error: 12000 };

export const chrome = {
  // -- filters and the URL -----------------------------------------------------------------

  applyFilters(query, { push = true } = {}) {
    if (!this.model.classroomId) return;
    this.writeUrl(this.model.classroomId, query, push);
    this.selection.clear();
    this.reload({ query, animate: false });
  },

  fillFilters() {
    const { filters, query } = this.model;
    const student = $("filter-student");
    student.replaceChildren(h("option", { value: "" }, "All students"), ...filters.students.map((s) => h("option", { value: s.id }, s.name)));
    student.value = query.student;
    const category = $("filter-category");
    category.replaceChildren(h("option", { value: "" }, "All categories"), ...filters.categories.map((c) => h("option", { value: c }, c)));
    category.value = query.category;
    $("filter-status").value = query.status;
    for (const [select, value] of [[student, query.student], [category, query.category], [$("filter-status"), query.status]]) {
      select.classList.toggle("is-active", Boolean(value));
    }
    $("clear-filters").hidden = !this.model.filtered;
    const active = [query.student, query.category, query.status].filter(Boolean).length;
    const toggle = $("filters-toggle");
    toggle.replaceChildren(icon("filter"), active ? `Filters · ${active}` : "Filters");
    toggle.classList.toggle("is-active", active > 0);
  },

  writeUrl(classroomId, query, push) {
    const params = new URLSearchParams();
    if (classroomId) params.set("classroom", classroomId);
    if (query.student) params.set("student", query.student);
    if (query.category) params.set("category", query.category);
    if (query.status) params.set("status", query.status);
    const url = `/board?${params}`;
    if (url === `${location.pathname}${location.search}`) return;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  },

  renderSummary() {
    let count = 0;
    for (const status of STATUSES) count += this.view.layout(status).length;
    const students = this.model.filters.students.length;
    $("board-summary").replaceChildren(
      ...(this.model.filtered
        ? [`${plural(count, "card")} match${count === 1 ? "es" : ""}`]
        : [plural(count, "card"), h("span.summary-extra", {}, ` · ${plural(students, "student")}`)]),
    );
  },

  // -- a new classroom's first steps ---------------------------------------------------------

  /** An empty, unfiltered board teaches the three steps instead of showing empty columns:
   * add students, add lessons, assign; each step links to its part of the set-up page and
   * ticks itself off as the roster fills (live). */
  renderGettingStarted() {
    const id = this.model.classroomId;
    const show = Boolean(id) && !this.model.filtered && this.model.cards.size === 0 && !this.reloading;
    $("getting-started").hidden = !show;
    document.body.classList.toggle("is-new-board", show);
    if (!show) return;
    const students = this.model.filters.students.length;
    const lessons = this.model.lessons ? this.model.lessons.size : this.model.filters.categories.length;
    const base = `/classroom?id=${encodeURIComponent(id)}`;
    const steps = [
      { key: "students", done: students > 0, text: students ? `${plural(students, "student")} on the roster` : "Add your students", hint: "Type or paste their names; each gets a join code.", href: `${base}#students`, action: students ? "Add more" : "Add students" },
      { key: "lessons", done: lessons > 0, text: lessons ? `${plural(lessons, "lesson")} ready` : "Add lessons", hint: "Pick words from the deck by topic, or add your own.", href: `${base}#lessons`, action: lessons ? "Add more" : "Add lessons" },
      { key: "assign", done: false, text: "Assign a lesson", hint: "A card for each student appears here, live.", href: `${base}#assign`, action: "Assign" },
    ];
    $("getting-started-steps").replaceChildren(
      ...steps.map((step, index) =>
        h(
          "li.step",
          { "data-testid": `step-${step.key}`, class: `step${step.done ? " is-done" : ""}` },
          h("span.step-number", { "aria-hidden": "true" }, step.done ? "✓" : String(index + 1)),
          h("div.step-body", {}, h("p.step-title", {}, step.text, step.done ? h("span.visually-hidden", {}, " (done)") : null), h("p.step-hint", {}, step.hint)),
          h("a.button.step-action", { href: step.href, "data-testid": `step-${step.key}-action`, class: `button step-action${step.done ? " secondary" : ""}` }, step.action),
        ),
      ),
    );
  },

  // -- selection -----------------------------------------------------------------------------

  toggleSelect(id, on = !this.selection.has(id)) {
    if (on) this.selection.add(id);
    else this.selection.delete(id);
    const first = this.model.cards.get(id);
    if (on && this.selection.size === 1 && first) {
      // Most often the next step: one column forward.
      $("move-target").value = STATUSES[Math.min(STATUSES.indexOf(first.status) + 1, STATUSES.length - 1)];
    }
    this.anchor = id;
    this.render();
    const card = this.model.cards.get(id);
    if (card) this.announce(`${this.describe(card)} ${on ? "selected" : "unselected"}. ${plural(this.selection.size, "card")} selected.`);
  },

  /** Shift-click: select everything between the last toggled card and this one (one column). */
  selectRange(id) {
    const status = this.view.elements.get(id)?.el.closest(".column")?.dataset.status;
    const ids = status ? this.view.cardIds(status) : [];
    const from = ids.indexOf(this.anchor);
    const to = ids.indexOf(id);
    if (from < 0 || to < 0) return this.toggleSelect(id);
    for (const other of ids.slice(Math.min(from, to), Math.max(from, to) + 1)) this.selection.add(other);
    this.anchor = id;
    this.render();
    this.announce(`${plural(this.selection.size, "card")} selected.`);
  },

  clearSelection() {
    this.selection.clear();
    this.render();
    this.announce("Selection cleared.");
  },

  renderSelection() {
    const size = this.selection.size;
    $("selection-bar").hidden = size === 0;
    document.body.classList.toggle("has-selection", size > 0);
    $("selection-count").textContent = `${plural(size, "card")} selected`;
  },

  busy(on) {
    for (const id of ["move-selected", "delete-selected"]) $(id).disabled = on;
    $("selection-bar").setAttribute("aria-busy", String(on));
  },

  openNewCard(status = "not_started") {
    if (this.model.classroomId) this.newCard.open(status);
  },

  // -- messages ------------------------------------------------------------------------------

  notify(text, kind = "info") {
    const box = $("message");
    $("message-text").textContent = text;
    box.dataset.kind = kind;
    box.classList.add("is-visible");
    clearTimeout(this.messageTimer);
    this.messageTimer = setTimeout(() => this.hideMessage(), MESSAGE_MS[kind] || 6000);
  },

  hideMessage() {
    $("message").classList.remove("is-visible");
  },

  announce(text) {
    announce($("announcer"), text);
  },
};

export function readFilters() {
  return { student: $("filter-student").value, category: $("filter-category").value, status: $("filter-status").value };
}

export function readUrl() {
  const params = new URLSearchParams(location.search);
  const query = emptyQuery();
  for (const key of Object.keys(query)) query[key] = params.get(key) || "";
  if (query.status && !STATUSES.includes(query.status)) query.status = "";
  return { classroom: params.get("classroom") || "", query };
}

export function sameQuery(a, b) {
  return a.student === b.student && a.category === b.category && a.status === b.status;
}
