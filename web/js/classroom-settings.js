// The set-up page's "Classroom": its name, auto-advance, new join codes, and its teachers
// (the owner removes a co-teacher; a co-teacher may leave; the owner cannot, §8).

import { confirmDialog } from "./board-dialogs.js";
import { h } from "./board-util.js";
import { keyedList } from "./classroom-roster.js";

const $ = (id) => document.getElementById(id);
const CLASSROOMS = "/api/teacher/classrooms";

export class Settings {
  constructor(app) {
    this.app = app;
    this.teachers = [];
    $("rename-classroom").addEventListener("submit", (event) => {
      event.preventDefault();
      this.rename();
    });
    $("auto-advance").addEventListener("change", (event) => this.setAutoAdvance(event.target.checked));
    $("rotate-codes").addEventListener("click", () => this.rotate());
    $("leave-classroom").addEventListener("click", () => this.leave());
  }

  get owner() {
    return this.teachers.find((teacher) => teacher.role === "owner") ?? null;
  }

  render() {
    const { classroom, me } = this.app;
    if (document.activeElement !== $("classroom-name")) $("classroom-name").value = classroom.name;
    $("auto-advance").checked = classroom.auto_advance !== false;
    $("setup-teacher-code").textContent = classroom.teacher_join_code;
    $("setup-student-code").textContent = classroom.student_join_code;
    const iOwn = this.owner?.id === me.id;
    keyedList(
      $("teacher-list"),
      this.teachers,
      (teacher) => teacher.id,
      (teacher) => {
        const remove = h("button.secondary.compact.danger-text", { type: "button", "data-testid": "teacher-remove" }, "Remove");
        remove.addEventListener("click", () => this.remove(teacher.id));
        return h(
          "li.item",
          { "data-testid": `teacher-${teacher.id}` },
          h("div.item-main", {}, h("span.item-name", { "data-testid": "teacher-name" }), h("span.item-meta", {})),
          h("div.item-actions", {}, h("span.role-badge", { "data-testid": "teacher-role" }), remove),
        );
      },
      (el, teacher) => {
        const you = teacher.id === me.id;
        el.querySelector(".item-name").textContent = you ? `${teacher.name} (you)` : teacher.name;
        el.querySelector(".item-meta").textContent = teacher.email;
        el.querySelector(".role-badge").textContent = teacher.role === "owner" ? "Owner" : "Co-teacher";
        el.querySelector(".role-badge").classList.toggle("is-owner", teacher.role === "owner");
        const remove = el.querySelector("[data-testid=teacher-remove]");
        remove.hidden = !iOwn || you;
        remove.setAttribute("aria-label", `Remove ${teacher.name} from this classroom`);
      },
    );
    $("leave-classroom").hidden = iOwn || !this.teachers.length;
  }

  async patch(body, done) {
    try {
      this.app.classroom = await this.app.api.request("PATCH", `${CLASSROOMS}/${this.app.id}`, body);
      this.app.renderAll();
      if (done) this.app.notify(done, "ok");
      return true;
    } catch (error) {
      this.app.notify(this.app.explain(error), "error");
      this.render();
      return false;
    }
  }

  async rename() {
    const name = $("classroom-name").value.trim();
    const note = $("classroom-name-note");
    if (!name) {
      note.textContent = "Give the classroom a name.";
      note.classList.add("is-error");
      return $("classroom-name").focus();
    }
    note.textContent = "";
    note.classList.remove("is-error");
    if (name === this.app.classroom.name) return;
    $("classroom-name").blur();
    await this.patch({ name }, `Renamed to ${name}.`);
  }

  async setAutoAdvance(on) {
    await this.patch({ auto_advance: on }, on ? "Cards now move forward as learners study." : "Cards now move only when a teacher moves them.");
  }

  async rotate() {
    const ok = await confirmDialog({
      title: "Make new join codes?",
      body: "The current teacher code and class code stop working at once; share the new ones. Each student's own code stays as it is.",
      confirm: "Make new codes",
    });
    if (!ok) return;
    try {
      this.app.classroom = await this.app.api.request("POST", `${CLASSROOMS}/${this.app.id}/codes`);
      this.app.renderAll();
      this.app.notify("New codes are ready; the old ones no longer work.", "ok");
    } catch (error) {
      this.app.notify(this.app.explain(error), "error");
    }
  }

  async remove(userId) {
    const teacher = this.teachers.find((item) => item.id === userId);
    if (!teacher) return;
    const ok = await confirmDialog({
      title: `Remove ${teacher.name}?`,
      body: `${teacher.name} stops seeing this classroom and its board at once. They can come back only with a new teacher code.`,
      confirm: "Remove",
    });
    if (!ok) return;
    try {
      await this.app.api.request("DELETE", `${CLASSROOMS}/${this.app.id}/teachers/${userId}`);
      this.teachers = this.teachers.filter((item) => item.id !== userId);
      this.render();
      this.app.notify(`${teacher.name} no longer teaches this classroom.`, "ok");
    } catch (error) {
      this.app.notify(this.app.explain(error), "error");
    }
  }

  async leave() {
    const ok = await confirmDialog({
      title: `Leave ${this.app.classroom.name}?`,
      body: "You stop seeing this classroom and its board. You can come back with its teacher code.",
      confirm: "Leave",
    });
    if (!ok) return;
    try {
      await this.app.api.request("DELETE", `${CLASSROOMS}/${this.app.id}/teachers/${this.app.me.id}`);
      localStorage.removeItem("tandem-board-classroom");
      location.assign("/board");
    } catch (error) {
      this.app.notify(this.app.explain(error), "error");
    }
  }
}
