// The class overview's DOM: the grid (a row per student, a column per lesson, each cell a
// link to its card on the board), the sums per student and per lesson, the summary line.
// It reads the model and writes the page; it calls no API. User data goes in as text.

import { cellText, shade } from "./overview-model.js";
import { h, plural } from "./board-util.js";
import { announce, whenFromNow } from "./util.js";

const $ = (id) => document.getElementById(id);
const FLASH_MS = 1600;

const SHADE_TEXT = {
  waiting: "hasn't joined yet",
  unstarted: "not started",
  started: "studying, no word mastered yet",
  some: "under half mastered",
  most: "half or more mastered",
  all: "every word mastered",
};

export class OverviewView {
  constructor(classroomId) {
    this.classroomId = classroomId;
    this.links = new Map(); // card id -> the cell's link
  }

  boardHref(cardId) {
    return `/board?classroom=${encodeURIComponent(this.classroomId)}&card=${encodeURIComponent(cardId)}`;
  }

  render(model, classroom) {
    const focused = document.activeElement?.dataset?.testid;
    this.draw(model, classroom);
    // The grid is drawn anew: the cell that had the focus keeps it.
    if (focused?.startsWith("cell-")) document.querySelector(`[data-testid="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  }

  draw(model, classroom) {
    $("overview-title").textContent = classroom.name;
    document.title = `${classroom.name} · Class overview · Tandem`;
    const empty = !model.students.length || !model.lessons.length;
    $("overview-empty").hidden = !empty;
    $("setup-link").href = `/classroom?id=${encodeURIComponent(this.classroomId)}`;
    const totals = model.totals();
    $("overview-summary").textContent = `${plural(model.students.length, "student")} · ${plural(model.lessons.length, "lesson")} · ${totals.mastered} of ${plural(totals.words, "assigned word")} mastered`;

    $("grid-head").replaceChildren(
      h("th.corner", { scope: "col" }, "Student"),
      ...model.lessons.map((column) =>
        h("th", { scope: "col", "data-testid": `lesson-head-${column.lesson.id}` }, column.lesson.title, h("span.lesson-cat", {}, column.lesson.category)),
      ),
      h("th.sum", { scope: "col" }, "Mastered"),
    );
    this.links.clear();
    $("grid-body").replaceChildren(
      ...model.students.map((row) => {
        const student = row.student;
        const cells = model.lessons.map((column) => h("td", {}, this.cell(model.cell(student.id, column.lesson.id), student, column.lesson)));
        const studied = row.last_studied_at ? `, studied ${whenFromNow(row.last_studied_at)}` : "";
        return h(
          "tr",
          { "data-testid": `student-row-${student.id}` },
          h("th", { scope: "row" }, student.name),
          ...cells,
          h(
            "td.sum",
            { "data-testid": "student-sum", title: `${row.studies} answers, ${row.correct} correct${studied}` },
            `${row.mastered}/${row.words}`,
          ),
        );
      }),
    );
    $("grid-foot").replaceChildren(
      h("th", { scope: "row" }, "Mastered by"),
      ...model.lessons.map((column) =>
        h("td.sum", { "data-testid": `lesson-sum-${column.lesson.id}` }, `${column.mastered_by} of ${column.students}`),
      ),
      h("td.sum", { "data-testid": "class-sum" }, `${totals.mastered}/${totals.words}`),
    );
  }

  cell(cell, student, lesson) {
    if (!cell) return h("span.cell-none", { "aria-label": `${student.name}, ${lesson.title}: not assigned`, role: "img" });
    const band = shade(cell);
    const progress = cell.progress;
    const label = progress
      ? `${student.name}, ${lesson.title}: ${progress.mastered} of ${plural(progress.words, "word")} mastered, ${SHADE_TEXT[band]}. Open the card on the board`
      : `${student.name}, ${lesson.title}: ${SHADE_TEXT[band]}. Open the card on the board`;
    const link = h(
      "a.cell-link",
      { href: this.boardHref(cell.id), "data-testid": `cell-${student.id}-${lesson.id}`, "data-card-id": cell.id, "data-shade": band },
      // The figure ("2/3") is for the eye; the sentence is the link's name (as its text, not
      // an aria-label that the visible figure would contradict: WCAG 2.5.3).
      h("span", { "aria-hidden": "true", "data-testid": "cell-figure" }, cellText(cell)),
      h("span.visually-hidden", {}, label),
    );
    this.links.set(cell.id, link);
    return link;
  }

  /** Highlight the cells that just changed; say the news politely. */
  flash(cardIds, news) {
    for (const id of cardIds) {
      const link = this.links.get(id);
      if (!link) continue;
      link.classList.remove("is-new");
      void link.offsetWidth;
      link.classList.add("is-new");
      clearTimeout(link.flashTimer);
      link.flashTimer = setTimeout(() => link.classList.remove("is-new"), FLASH_MS);
    }
    if (news) announce($("announcer"), news);
  }

  showError(text) {
    $("load-error").textContent = text;
    $("load-error").hidden = false;
  }
}
