// The set-up page's "Assign a lesson": a card for a lesson × every chosen student.
//
// One POST /api/teacher/progress-board/cards per pair (contract §5 has no batch create):
// four at a time, so that 25 students take a few round trips rather than 25, with
// progress shown; a 409 DUPLICATE_ASSIGNMENT (someone assigned it meanwhile) is skipped
// quietly, since the card the teacher wanted is there.

import { h, plural } from "./board-util.js";
import { keyedList } from "./classroom-roster.js";

const $ = (id) => document.getElementById(id);
const CARDS = "/api/teacher/progress-board/cards";
const CONCURRENCY = 4;

export class Assign {
  constructor(app) {
    this.app = app;
    this.busy = false;
    this.unticked = new Set(); // students the teacher left out (kept across live re-renders)
    this.result = null; // the last run's summary, shown until the teacher changes the choice
    // Capture: cleared before the control's own handler shows the new state.
    $("assign-form").addEventListener("change", () => (this.result = null), true);
    $("assign-lesson").addEventListener("change", () => this.sync());
    $("assign-all").addEventListener("change", (event) => {
      this.unticked.clear();
      if (!event.target.checked) for (const student of this.app.students) this.unticked.add(student.id);
      this.sync();
    });
    $("assign-list").addEventListener("change", (event) => {
      const id = event.target.dataset.studentId;
      if (!id) return;
      if (event.target.checked) this.unticked.delete(id);
      else this.unticked.add(id);
      this.sync();
    });
    $("assign-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
  }

  render() {
    const { lessons, students } = this.app;
    const select = $("assign-lesson");
    const chosen = select.value;
    select.replaceChildren(
      h("option", { value: "" }, lessons.length ? "Choose a lesson…" : "No lessons yet: create one above"),
      ...lessons.map((lesson) => h("option", { value: lesson.id }, `${lesson.title} (${lesson.category})`)),
    );
    if (lessons.some((lesson) => lesson.id === chosen)) select.value = chosen;
    else if (lessons.length === 1) select.value = lessons[0].id;
    keyedList(
      $("assign-list"),
      students,
      (student) => student.id,
      (student) => {
        const id = `assign-${student.id}`;
        return h(
          "label.check-row",
          { for: id },
          h("input", { type: "checkbox", id, "data-student-id": student.id, "data-testid": `assign-student-${student.id}` }),
          h("span.check-name", {}),
          h("span.check-note", {}),
        );
      },
      (el, student) => {
        el.querySelector(".check-name").textContent = student.name;
      },
    );
    this.sync();
  }

  /** Tick boxes and notes from the state: who is chosen, who already has the lesson. */
  sync() {
    const lessonId = $("assign-lesson").value;
    const { students, pairs } = this.app;
    let chosen = 0;
    let have = 0;
    for (const box of $("assign-list").querySelectorAll("input[data-student-id]")) {
      const id = box.dataset.studentId;
      const has = Boolean(lessonId) && pairs.has(`${lessonId}|${id}`);
      box.checked = !has && !this.unticked.has(id);
      box.disabled = has || this.busy;
      box.closest("label").querySelector(".check-note").textContent = has ? "has it" : "";
      if (has) have += 1;
      else if (box.checked) chosen += 1;
    }
    const open = students.filter((student) => !(lessonId && pairs.has(`${lessonId}|${student.id}`)));
    $("assign-all").checked = open.length > 0 && open.every((student) => !this.unticked.has(student.id));
    $("assign-all").disabled = this.busy || !students.length;
    $("assign-submit").textContent = chosen ? `Assign to ${plural(chosen, "student")}` : "Assign";
    $("assign-submit").disabled = this.busy || !lessonId || chosen === 0;
    if (this.busy) return;
    if (this.result) return this.say(this.result.text, this.result.error);
    let note = "";
    if (!students.length) note = "Add students first.";
    else if (!this.app.lessons.length) note = "Create a lesson first.";
    else if (lessonId && have === students.length) note = "Every student has this lesson.";
    else if (lessonId && have) note = `${plural(have, "student")} already ${have === 1 ? "has" : "have"} it.`;
    this.say(note);
  }

  say(text, error = false) {
    $("assign-note").textContent = text;
    $("assign-note").classList.toggle("is-error", error);
  }

  async run() {
    if (this.busy) return;
    const lessonId = $("assign-lesson").value;
    const ids = [...$("assign-list").querySelectorAll("input[data-student-id]:checked:enabled")].map((box) => box.dataset.studentId);
    if (!lessonId || !ids.length) return;
    const lesson = this.app.lessons.find((item) => item.id === lessonId);
    this.busy = true;
    this.sync();
    const progress = $("assign-progress");
    progress.hidden = false;
    progress.max = ids.length;
    progress.value = 0;
    const queue = [...ids];
    let created = 0;
    let skipped = 0;
    const failed = [];
    const worker = async () => {
      while (queue.length) {
        const studentId = queue.shift();
        try {
          await this.app.send("POST", CARDS, { lesson_id: lessonId, student_id: studentId, status: "not_started" });
          created += 1;
        } catch (error) {
          if (error.code === "DUPLICATE_ASSIGNMENT") skipped += 1;
          else failed.push(this.app.explain(error));
        }
        this.app.pairs.add(`${lessonId}|${studentId}`);
        progress.value += 1;
        this.say(`Assigning ${progress.value} of ${ids.length}…`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ids.length) }, worker));
    this.busy = false;
    progress.hidden = true;
    const parts = [`Assigned ${lesson?.title ?? "the lesson"} to ${plural(created, "student")}.`];
    if (skipped) parts.push(`${plural(skipped, "student")} already had it.`);
    if (failed.length) parts.push(`${plural(failed.length, "card")} couldn't be created: ${failed[0]}`);
    if (failed.length) await this.app.loadPairs().catch(() => {});
    this.result = { text: parts.join(" "), error: failed.length > 0 };
    this.sync();
  }
}
