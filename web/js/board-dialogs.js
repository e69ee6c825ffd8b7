// The board's dialogs: new card, delete confirmation, create/join a classroom, invite codes.
// Native <dialog> elements: focus stays inside, Escape closes, focus returns afterwards.

import { pairKey } from "./board-model.js";
import { h, plural } from "./board-util.js";
import { joinLink, joinOrigin, showQr } from "./join-links.js";

const $ = (id) => document.getElementById(id);

/** Ask a yes/no question; resolves true when confirmed. */
export function confirmDialog({ title, body, confirm = "Delete" }) {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-body").textContent = body;
  $("confirm-ok").textContent = confirm;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    dialog.querySelector("[data-testid=confirm-cancel]").focus();
  });
}

export class NewCardDialog {
  constructor(app) {
    this.app = app;
    this.dialog = $("new-card-dialog");
    this.form = $("new-card-form");
    this.lesson = $("new-card-lesson");
    this.student = $("new-card-student");
    this.status = $("new-card-status");
    this.note = $("new-card-note");
    this.submit = $("new-card-submit");
    this.busy = false;
    this.existing = new Set();
    $("new-card-cancel").addEventListener("click", () => this.dialog.close());
    this.form.addEventListener("change", () => this.sync());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    this.dialog.addEventListener("cancel", (event) => {
      if (this.busy) event.preventDefault();
    });
  }

  get target() {
    return this.form.elements.target.value;
  }

  async open(status = "not_started") {
    const { app } = this;
    this.say("");
    this.status.value = status;
    this.dialog.showModal();
    this.lesson.replaceChildren(h("option", { value: "" }, "Loading lessons…"));
    this.lesson.disabled = true;
    let lessons = [];
    try {
      [lessons, this.existing] = await Promise.all([app.lessons(), app.existingPairs()]);
    } catch (error) {
      this.say(app.explain(error), true);
    }
    const groups = new Map();
    for (const lesson of lessons) {
      if (!groups.has(lesson.category)) groups.set(lesson.category, []);
      groups.get(lesson.category).push(lesson);
    }
    const chosenCategory = app.model.query.category;
    this.lesson.replaceChildren(
      h("option", { value: "" }, lessons.length ? "Choose a lesson…" : "This classroom has no lessons yet"),
      ...[...groups.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .filter(([category]) => !chosenCategory || category === chosenCategory)
        .map(([category, items]) =>
          h("optgroup", { label: category }, ...items.map((lesson) => h("option", { value: lesson.id }, lesson.title))),
        ),
    );
    this.lesson.disabled = !lessons.length;
    const students = app.model.filters.students;
    this.student.replaceChildren(
      h("option", { value: "" }, students.length ? "Choose a student…" : "No students yet"),
      ...students.map((student) => h("option", { value: student.id, "data-name": student.name }, student.name)),
    );
    if (app.model.query.student) this.student.value = app.model.query.student;
    this.sync();
    this.lesson.focus();
  }

  /** The students still without a card for the chosen lesson. */
  missing() {
    const lessonId = this.lesson.value;
    return this.app.model.filters.students.filter((student) => !this.existing.has(pairKey(lessonId, student.id)));
  }

  /** Offer only what can be created: students who have the lesson are marked and skipped. */
  sync() {
    const target = this.target;
    const lessonId = this.lesson.value;
    $("new-card-student-field").hidden = target !== "student";
    for (const option of this.student.options) {
      if (!option.value) continue;
      const has = Boolean(lessonId) && this.existing.has(pairKey(lessonId, option.value));
      option.disabled = has;
      option.textContent = has ? `${option.dataset.name} — already has it` : option.dataset.name;
    }
    if (this.student.selectedOptions[0]?.disabled) this.student.value = "";
    const missing = lessonId ? this.missing().length : this.app.model.filters.students.length;
    const total = this.app.model.filters.students.length;
    const templateExists = Boolean(lessonId) && this.existing.has(pairKey(lessonId, null));
    let note = "";
    let blocked = false;
    if (target === "all") {
      this.submit.textContent = `Create ${plural(missing, "card")}`;
      if (lessonId && missing < total) note = missing ? `${plural(total - missing, "student")} already ${total - missing === 1 ? "has" : "have"} this lesson and will be skipped.` : "Every student already has this lesson.";
      blocked = Boolean(lessonId) && missing === 0;
    } else if (target === "template") {
      this.submit.textContent = "Create template";
      if (templateExists) note = "This lesson already has a template card.";
      blocked = templateExists;
    } else {
      this.submit.textContent = "Create card";
    }
    if (!this.busy) {
      this.say(note);
      this.submit.disabled = blocked;
    }
  }

  say(text, error = false) {
    this.note.textContent = text;
    this.note.classList.toggle("is-error", error);
  }

  async create() {
    if (this.busy) return;
    const lessonId = this.lesson.value;
    const target = this.target;
    if (!lessonId) {
      this.say("Choose a lesson first.", true);
      this.lesson.focus();
      return;
    }
    if (target === "student" && !this.student.value) {
      this.say("Choose a student, or pick “All students”.", true);
      this.student.focus();
      return;
    }
    const studentIds = target === "template" ? [null] : target === "all" ? this.missing().map((s) => s.id) : [this.student.value];
    if (!studentIds.length) {
      this.say(this.app.model.filters.students.length ? "Every student already has this lesson." : "This classroom has no students yet.", true);
      return;
    }
    this.busy = true;
    this.submit.disabled = true;
    try {
      const all = target === "all";
      const skipped = all ? this.app.model.filters.students.length - studentIds.length : 0;
      const result = await this.app.createCards(
        lessonId,
        studentIds,
        this.status.value,
        (done, total) => {
          if (total > 1) this.say(`Creating ${done} of ${total}…`);
        },
        { skipped, all },
      );
      if (result.created === 0 && result.failed.length) {
        this.say(result.summary, true);
        return;
      }
      this.dialog.close();
      this.app.notify(result.summary, result.failed.length ? "warn" : "ok");
    } finally {
      this.busy = false;
      this.submit.disabled = false;
      this.existing = await this.app.existingPairs().catch(() => this.existing);
    }
  }
}

/** The "create a classroom" and "join with a code" forms, in `host`. */
export function classroomForms(host, app, onDone) {
  const name = h("input", { id: `${host.id}-name`, type: "text", maxlength: "200", required: true, autocomplete: "off", "data-testid": "create-classroom-name", placeholder: "e.g. Class 4A" });
  const code = h("input", { id: `${host.id}-code`, type: "text", maxlength: "64", required: true, autocomplete: "off", spellcheck: "false", "data-testid": "join-classroom-code", placeholder: "Teacher code" });
  const createNote = h("p.form-note", { "aria-live": "polite" });
  const joinNote = h("p.form-note", { "aria-live": "polite" });
  const create = h(
    "form.classroom-form",
    { "aria-label": "Create a classroom", novalidate: true },
    h("h3", {}, "Create a classroom"),
    h("label", { for: name.id }, "Name"),
    h("div.inline-row", {}, name, h("button", { type: "submit", "data-testid": "create-classroom-submit" }, "Create")),
    createNote,
  );
  const join = h(
    "form.classroom-form",
    { "aria-label": "Join a classroom", novalidate: true },
    h("h3", {}, "Join a colleague's classroom"),
    h("label", { for: code.id }, "Teacher code"),
    h("div.inline-row", {}, code, h("button.secondary", { type: "submit", "data-testid": "join-classroom-submit" }, "Join")),
    joinNote,
  );
  const run = async (event, note, input, action) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      note.textContent = input === name ? "Give the classroom a name." : "Enter the code your colleague shared.";
      note.classList.add("is-error");
      input.focus();
      return;
    }
    note.classList.remove("is-error");
    note.textContent = "Working…";
    try {
      const classroom = await action(value);
      note.textContent = "";
      input.value = "";
      onDone(classroom);
    } catch (error) {
      note.textContent = error.status === 404 ? "No classroom has that teacher code. Check it and try again." : app.explain(error);
      note.classList.add("is-error");
    }
  };
  create.addEventListener("submit", (event) =>
    run(event, createNote, name, (value) => app.api.request("POST", "/api/teacher/classrooms", { name: value })),
  );
  join.addEventListener("submit", (event) =>
    run(event, joinNote, code, (value) => app.api.request("POST", "/api/teacher/classrooms/join", { join_code: value })),
  );
  host.replaceChildren(create, join);
  return { focus: () => name.focus() };
}

/** The forms exist only while the dialog is open, so their test ids stay unique. */
export function setUpClassroomDialog(app) {
  const dialog = $("classroom-dialog");
  const host = $("classroom-dialog-forms");
  $("classroom-dialog-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => host.replaceChildren());
  return () => {
    const forms = classroomForms(host, app, (classroom) => {
      dialog.close();
      app.addClassroom(classroom);
    });
    dialog.showModal();
    forms.focus();
  };
}

export function setUpInviteDialog(app) {
  const dialog = $("invite-dialog");
  $("invite-close").addEventListener("click", () => dialog.close());
  for (const button of dialog.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = $(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents($(button.dataset.copy));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        button.textContent = "Selected";
      }
      setTimeout(() => (button.textContent = "Copy"), 1600);
    });
  }
  return async (classroom) => {
    $("teacher-code").textContent = classroom.teacher_join_code;
    $("student-code").textContent = classroom.student_join_code;
    showQr($("invite-qr"), classroom.student_join_code);
    dialog.showModal();
    // The learners' join link (join-links.js): its origin is asked for once per page.
    const link = joinLink(await joinOrigin(app.api), classroom.student_join_code);
    $("invite-link").href = link;
    $("invite-link").textContent = link;
  };
}
