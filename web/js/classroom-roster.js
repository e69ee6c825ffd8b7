// The set-up page's students: add one or many (one name per line → the bulk route), rename,
// remove, each student's own join code, and the printable sheet of codes (print CSS).

import { confirmDialog } from "./board-dialogs.js";
import { h, plural } from "./board-util.js";
import { joinLink, joinOrigin, showQr } from "./join-links.js";

const $ = (id) => document.getElementById(id);
const TEACHER = "/api/teacher";
const MAX_BULK = 200; // the bulk route's limit (server/classrooms/schemas.py)

/** Keep `list`'s children in the order of `items`, one element per key, reused between
 * renders so that focus stays on a button while the list is re-read live. */
export function keyedList(list, items, key, create, update) {
  const old = new Map([...list.children].map((el) => [el.dataset.key, el]));
  const nodes = items.map((item) => {
    let el = old.get(key(item));
    if (!el) {
      el = create(item);
      el.dataset.key = key(item);
    }
    update(el, item);
    return el;
  });
  const wanted = new Set(nodes);
  for (const child of [...list.children]) if (!wanted.has(child)) child.remove();
  nodes.forEach((node, index) => {
    if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
  });
}

/** The names in a pasted list: one per line, trimmed, blanks and repeats dropped. */
export function parseNames(text) {
  const seen = new Set();
  const names = [];
  for (const line of String(text).split(/\r?\n/)) {
    const name = line.trim().replace(/\s+/g, " ");
    if (!name || seen.has(name.toLowerCase())) continue;
    seen.add(name.toLowerCase());
    names.push(name);
  }
  return names;
}

/** Ask for a new name in the shared rename dialog; `save(name)` may throw to keep it open. */
export function renameDialog({ title, label = "Name", value, save }) {
  const dialog = $("rename-dialog");
  const input = $("rename-input");
  const note = $("rename-note");
  $("rename-title").textContent = title;
  dialog.querySelector("label").textContent = label;
  input.value = value;
  note.textContent = "";
  const form = $("rename-form");
  const onSubmit = async (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) {
      note.textContent = "The name can't be empty.";
      note.classList.add("is-error");
      return input.focus();
    }
    note.classList.remove("is-error");
    note.textContent = "Saving…";
    try {
      await save(name);
      dialog.close();
    } catch (error) {
      note.textContent = error.message;
      note.classList.add("is-error");
      input.focus();
    }
  };
  form.onsubmit = onSubmit;
  $("rename-cancel").onclick = () => dialog.close();
  dialog.showModal();
  input.select();
}

export class Roster {
  constructor(app) {
    this.app = app;
    $("add-students").addEventListener("submit", (event) => {
      event.preventDefault();
      this.add();
    });
    // Enter adds a line; Ctrl/Cmd+Enter sends the list.
    $("students-names").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.add();
      }
    });
    $("print-codes").addEventListener("click", async () => {
      this.renderSheet();
      // Print once every QR code is drawn, not a sheet of empty boxes.
      await Promise.all(this.sheetImages.map(([img, code]) => showQr(img, code)));
      window.print();
    });
    this.joinBase = location.origin;
    this.sheetImages = [];
    joinOrigin(app.api).then((base) => {
      this.joinBase = base;
      this.renderSheet();
    });
  }

  render() {
    const { students } = this.app;
    $("nav-students").textContent = String(students.length);
    $("students-empty").hidden = students.length > 0;
    $("print-codes").disabled = !students.some((student) => student.join_code);
    keyedList($("student-list"), students, (student) => student.id, (student) => this.createRow(student), (el, student) => this.updateRow(el, student));
    this.renderSheet();
  }

  createRow(student) {
    const name = h("span.item-name", { "data-testid": "student-name" });
    const code = h("span.item-code");
    const rename = h("button.secondary.compact", { type: "button", "data-testid": "student-rename" }, "Rename");
    const remove = h("button.secondary.compact.danger-text", { type: "button", "data-testid": "student-remove" }, "Remove");
    rename.addEventListener("click", () => this.rename(student.id));
    remove.addEventListener("click", () => this.remove(student.id));
    return h("li.item", { "data-testid": `student-${student.id}` }, h("div.item-main", {}, name, code), h("div.item-actions", {}, rename, remove));
  }

  updateRow(el, student) {
    el.querySelector(".item-name").textContent = student.name;
    const code = el.querySelector(".item-code");
    code.replaceChildren(
      student.join_code
        ? h("span", {}, h("span.code-label", {}, "Join code "), h("code", { "data-testid": "student-code" }, student.join_code))
        : h("span.joined-badge", { "data-testid": "student-joined" }, "Joined"),
    );
    el.querySelector("[data-testid=student-rename]").setAttribute("aria-label", `Rename ${student.name}`);
    el.querySelector("[data-testid=student-remove]").setAttribute("aria-label", `Remove ${student.name}`);
  }

  renderSheet() {
    const { classroom, students } = this.app;
    $("print-title").textContent = `${classroom?.name ?? ""} — join codes`;
    // Each row: the name, the code to type, and the QR code of the student's join link.
    // Rebuilt only when one of those changed, so the images are not fetched again.
    const holding = students.filter((student) => student.join_code);
    const signature = JSON.stringify([this.joinBase, holding.map((student) => [student.name, student.join_code])]);
    if (signature === this.sheetSignature) return;
    this.sheetSignature = signature;
    this.sheetImages = [];
    $("print-rows").replaceChildren(
      ...holding
        .map((student) => {
          const link = joinLink(this.joinBase, student.join_code);
          const img = h("img.sheet-qr", { alt: `QR code of ${student.name}'s join link`, width: "96", height: "96", "data-testid": "sheet-qr" });
          this.sheetImages.push([img, student.join_code]);
          showQr(img, student.join_code);
          return h(
            "tr",
            {},
            h("td", {}, student.name),
            h("td", {}, h("code", {}, student.join_code), h("span.sheet-link", { "data-testid": "sheet-link" }, link)),
            h("td", {}, img),
          );
        }),
    );
  }

  async add() {
    const names = parseNames($("students-names").value);
    const note = $("students-note");
    note.classList.remove("is-error");
    if (!names.length) {
      note.textContent = "Type a name first, one per line.";
      note.classList.add("is-error");
      return $("students-names").focus();
    }
    const tooLong = names.find((name) => name.length > 200);
    if (tooLong) {
      note.textContent = `“${tooLong.slice(0, 40)}…” is longer than 200 characters.`;
      note.classList.add("is-error");
      return;
    }
    $("students-add").disabled = true;
    note.textContent = `Adding ${plural(names.length, "student")}…`;
    try {
      const made = [];
      for (let start = 0; start < names.length; start += MAX_BULK) {
        const answer = await this.app.send("POST", `${TEACHER}/students/bulk`, { classroom_id: this.app.id, names: names.slice(start, start + MAX_BULK) });
        made.push(...answer.students);
      }
      const known = new Set(this.app.students.map((student) => student.id));
      this.app.students = [...this.app.students, ...made.filter((student) => !known.has(student.id))].sort(byName);
      $("students-names").value = "";
      note.textContent = `Added ${plural(made.length, "student")}.`;
      this.app.renderAll();
    } catch (error) {
      note.textContent = this.app.explain(error);
      note.classList.add("is-error");
    } finally {
      $("students-add").disabled = false;
    }
  }

  rename(id) {
    const student = this.app.students.find((item) => item.id === id);
    if (!student) return;
    renameDialog({
      title: `Rename ${student.name}`,
      value: student.name,
      save: async (name) => {
        try {
          const saved = await this.app.api.request("PATCH", `${TEACHER}/students/${id}`, { name });
          this.app.students = this.app.students.map((item) => (item.id === id ? saved : item)).sort(byName);
          this.app.renderAll();
          this.app.notify(`Renamed to ${saved.name}.`, "ok");
        } catch (error) {
          throw new Error(this.app.explain(error));
        }
      },
    });
  }

  async remove(id) {
    const student = this.app.students.find((item) => item.id === id);
    if (!student) return;
    const ok = await confirmDialog({
      title: `Remove ${student.name}?`,
      body: `${student.name} leaves the roster and their cards leave the board. If a learner joined as ${student.name}, they keep their own progress.`,
      confirm: "Remove",
    });
    if (!ok) return;
    try {
      await this.app.api.request("DELETE", `${TEACHER}/students/${id}`);
      this.app.students = this.app.students.filter((item) => item.id !== id);
      this.app.renderAll();
      this.app.notify(`Removed ${student.name}.`, "ok");
    } catch (error) {
      this.app.notify(this.app.explain(error), "error");
    }
  }
}

export const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1);
