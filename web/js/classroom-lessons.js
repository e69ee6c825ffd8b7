// The set-up page's lessons: the list, delete (with its cards), and the editor dialog: title,
// category, and words picked from the deck by topic with a search box, or the teacher's own
// (typed one at a time, or pasted as `word, translation` lines → POST /api/teacher/words).

import { confirmDialog } from "./board-dialogs.js";
import { h, plural } from "./board-util.js";
import { keyedList } from "./classroom-roster.js";

const $ = (id) => document.getElementById(id);
const TEACHER = "/api/teacher";
const SHOWN = 80; // results listed at once; the search narrows the rest
const OWN = "__own__";

/** `word, translation` lines (a tab or " - " also separates); bad lines are reported. */
export function parseWordLines(text) {
  const words = [];
  const bad = [];
  String(text)
    .split(/\r?\n/)
    .forEach((line, index) => {
      if (!line.trim()) return;
      const match = line.match(/^(.+?)(?:\t|,|;| - | – )(.+)$/);
      const term = match?.[1].trim();
      const translation = match?.[2].trim();
      if (term && translation) words.push({ term, translation });
      else bad.push(index + 1);
    });
  return { words, bad };
}

/** Lower case without accents, so "adios" finds "adiós". */
const fold = (text) => String(text).normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

export class Lessons {
  constructor(app) {
    this.app = app;
    this.editing = null; // the lesson being edited, or null for a new one
    this.chosen = [];
    this.dialog = $("lesson-dialog");
    $("lesson-new").addEventListener("click", () => this.open(null));
    $("lesson-cancel").addEventListener("click", () => this.dialog.close());
    $("lesson-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    $("word-topic").addEventListener("change", () => this.renderResults());
    $("word-search").addEventListener("input", () => this.renderResults());
    $("word-search").addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault(); // not a submit of the whole lesson
    });
    $("word-results").addEventListener("change", (event) => {
      const id = event.target.dataset.wordId;
      if (!id) return;
      if (event.target.checked) this.choose([id]);
      else this.unchoose(id);
    });
    $("word-add-shown").addEventListener("click", () => this.choose(this.results().slice(0, SHOWN).map((word) => word.id)));
    $("own-add").addEventListener("click", () => this.addOwn([{ term: $("own-term").value.trim(), translation: $("own-translation").value.trim() }], { one: true }));
    for (const id of ["own-term", "own-translation"]) {
      $(id).addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          $("own-add").click();
        }
      });
    }
    $("own-paste-add").addEventListener("click", () => {
      const { words, bad } = parseWordLines($("own-paste").value);
      if (bad.length) return this.ownNote(`Line${bad.length > 1 ? "s" : ""} ${bad.join(", ")} ${bad.length > 1 ? "have" : "has"} no “word, translation”.`, true);
      this.addOwn(words, { one: false });
    });
    for (const id of ["lesson-title", "lesson-category"]) $(id).addEventListener("input", () => ($(`${id}-error`).textContent = ""));
  }

  render() {
    const { lessons } = this.app;
    $("nav-lessons").textContent = String(lessons.length);
    $("lessons-empty").hidden = lessons.length > 0;
    keyedList($("lesson-list"), lessons, (lesson) => lesson.id, (lesson) => this.createRow(lesson), (el, lesson) => this.updateRow(el, lesson));
    const categories = [...new Set(lessons.map((lesson) => lesson.category))].sort();
    $("lesson-categories").replaceChildren(...categories.map((category) => h("option", { value: category })));
  }

  createRow(lesson) {
    const edit = h("button.secondary.compact", { type: "button", "data-testid": "lesson-edit" }, "Edit");
    const remove = h("button.secondary.compact.danger-text", { type: "button", "data-testid": "lesson-delete" }, "Delete");
    edit.addEventListener("click", () => this.open(lesson.id));
    remove.addEventListener("click", () => this.remove(lesson.id));
    return h(
      "li.item",
      { "data-testid": `lesson-${lesson.id}` },
      h("div.item-main", {}, h("span.item-name", { "data-testid": "lesson-name" }), h("span.item-meta", { "data-testid": "lesson-meta" })),
      h("div.item-actions", {}, edit, remove),
    );
  }

  updateRow(el, lesson) {
    el.querySelector(".item-name").textContent = lesson.title;
    el.querySelector(".item-meta").replaceChildren(h("span.chip", {}, lesson.category), ` ${plural(lesson.word_ids.length, "word")}`);
    el.querySelector("[data-testid=lesson-edit]").setAttribute("aria-label", `Edit ${lesson.title}`);
    el.querySelector("[data-testid=lesson-delete]").setAttribute("aria-label", `Delete ${lesson.title}`);
  }

  // -- the editor ------------------------------------------------------------------------------

  open(id) {
    const lesson = id ? this.app.lessons.find((item) => item.id === id) : null;
    if (id && !lesson) return;
    this.editing = lesson;
    this.chosen = lesson ? [...lesson.word_ids] : [];
    $("lesson-dialog-title").textContent = lesson ? `Edit ${lesson.title}` : "New lesson";
    $("lesson-save").textContent = lesson ? "Save changes" : "Create lesson";
    $("lesson-title").value = lesson?.title ?? "";
    $("lesson-category").value = lesson?.category ?? "";
    for (const field of ["lesson-title-error", "lesson-category-error", "lesson-words-error", "lesson-note", "own-note"]) $(field).textContent = "";
    $("word-search").value = "";
    const topics = this.app.deck.topics;
    $("word-topic").replaceChildren(
      h("option", { value: "" }, "All topics"),
      ...topics.map((topic) => h("option", { value: topic }, topic)),
      h("option", { value: OWN }, "Your own words"),
    );
    this.renderResults();
    this.renderChosen();
    this.dialog.showModal();
    $("lesson-title").focus();
  }

  /** The words the topic and search leave, deck then the classroom's own. */
  results() {
    const topic = $("word-topic").value;
    const query = fold($("word-search").value.trim());
    const pool = topic === OWN ? this.app.ownWords : topic ? this.app.deck.words.filter((word) => word.topic === topic) : [...this.app.deck.words, ...this.app.ownWords];
    if (!query) return pool;
    return pool.filter((word) => fold(word.term).includes(query) || fold(word.translation).includes(query));
  }

  renderResults() {
    const found = this.results();
    const chosen = new Set(this.chosen);
    const shown = found.slice(0, SHOWN);
    $("word-results").replaceChildren(
      ...shown.map((word) => {
        const id = `pick-${word.id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
        return h(
          "li.pick",
          {},
          h("input", { type: "checkbox", id, "data-word-id": word.id, "data-testid": `word-${word.id}`, checked: chosen.has(word.id) }),
          h("label", { for: id }, h("span.term", { lang: "es" }, word.term), h("span.translation", {}, word.translation)),
        );
      }),
    );
    $("word-count").textContent = found.length > shown.length ? `${found.length} words; the first ${SHOWN} shown — search to narrow them.` : plural(found.length, "word");
    $("word-add-shown").hidden = !shown.length || shown.every((word) => chosen.has(word.id));
  }

  renderChosen() {
    $("lesson-words-count").textContent = `(${this.chosen.length})`;
    $("lesson-words").replaceChildren(
      ...this.chosen.map((id) => {
        const word = this.app.word(id);
        const remove = h("button.link-button.compact", { type: "button", "data-testid": "chosen-remove", "aria-label": `Remove ${word?.term ?? id}` }, "Remove");
        remove.addEventListener("click", () => this.unchoose(id, { focusNext: true }));
        return h(
          "li.chosen",
          { "data-testid": `chosen-${id}`, "data-word-id": id },
          h("span.term", { lang: "es" }, word?.term ?? id),
          h("span.translation", {}, word?.translation ?? "not a known word"),
          remove,
        );
      }),
    );
    if (!this.chosen.length) $("lesson-words").append(h("li.chosen-empty", {}, "No words yet: tick them on the left, or add your own below."));
  }

  choose(ids) {
    const have = new Set(this.chosen);
    for (const id of ids) if (!have.has(id)) this.chosen.push(id);
    $("lesson-words-error").textContent = "";
    this.renderChosen();
    this.renderResults();
  }

  unchoose(id, { focusNext = false } = {}) {
    const index = this.chosen.indexOf(id);
    if (index < 0) return;
    this.chosen.splice(index, 1);
    this.renderChosen();
    this.renderResults();
    if (focusNext) {
      const buttons = $("lesson-words").querySelectorAll("[data-testid=chosen-remove]");
      (buttons[Math.min(index, buttons.length - 1)] ?? $("word-search")).focus();
    }
  }

  ownNote(text, error = false) {
    $("own-note").textContent = text;
    $("own-note").classList.toggle("is-error", error);
  }

  /** Each word becomes one of the classroom's words (POST /api/teacher/words), then joins
   * the lesson. A word the classroom already has (same word and translation) is reused. */
  async addOwn(words, { one }) {
    if (!words.length || words.some((word) => !word.term || !word.translation)) {
      return this.ownNote(one ? "Type the word and its translation." : "Paste at least one “word, translation” line.", true);
    }
    const same = (a, b) => fold(a.term) === fold(b.term) && fold(a.translation) === fold(b.translation);
    const ids = [];
    this.ownNote(`Adding ${plural(words.length, "word")}…`);
    try {
      for (const word of words) {
        const known = this.app.ownWords.find((own) => same(own, word));
        if (known) {
          ids.push(known.id);
          continue;
        }
        const made = await this.app.send("POST", `${TEACHER}/words`, { classroom_id: this.app.id, term: word.term, translation: word.translation });
        this.app.ownWords.push(made);
        ids.push(made.id);
      }
    } catch (error) {
      this.ownNote(this.app.explain(error), true);
      if (ids.length) this.choose(ids);
      return;
    }
    this.choose(ids);
    this.ownNote(`Added ${plural(ids.length, "word")} to the lesson.`);
    if (one) {
      $("own-term").value = "";
      $("own-translation").value = "";
      $("own-term").focus();
    } else {
      $("own-paste").value = "";
    }
  }

  async save() {
    const title = $("lesson-title").value.trim();
    const category = $("lesson-category").value.trim();
    $("lesson-title-error").textContent = title ? "" : "Give the lesson a title.";
    $("lesson-category-error").textContent = category ? "" : "Give it a category, e.g. “Vocabulary”.";
    if (!title) return $("lesson-title").focus();
    if (!category) return $("lesson-category").focus();
    const body = { title, category, word_ids: this.chosen };
    $("lesson-save").disabled = true;
    $("lesson-note").textContent = "Saving…";
    try {
      const lesson = this.editing
        ? await this.app.api.request("PATCH", `${TEACHER}/lessons/${this.editing.id}`, body)
        : await this.app.api.request("POST", `${TEACHER}/lessons`, { classroom_id: this.app.id, ...body });
      const others = this.app.lessons.filter((item) => item.id !== lesson.id);
      this.app.lessons = this.editing ? this.app.lessons.map((item) => (item.id === lesson.id ? lesson : item)) : [...others, lesson];
      this.dialog.close();
      this.app.renderAll();
      this.app.notify(this.editing ? `Saved ${lesson.title}.` : `Created ${lesson.title} with ${plural(lesson.word_ids.length, "word")}.`, "ok");
    } catch (error) {
      $("lesson-note").textContent = "";
      this.showError(error);
    } finally {
      $("lesson-save").disabled = false;
    }
  }

  /** A 400 names its fields (details.<field>); each message goes next to its field. */
  showError(error) {
    const details = error.details || {};
    if (error.code === "VALIDATION_ERROR" && details.word_ids) {
      const unknown = Array.isArray(details.word_ids) ? details.word_ids : [];
      $("lesson-words-error").textContent = unknown.length
        ? `Not words of the deck or of this classroom: ${unknown.join(", ")}. Remove them and save again.`
        : String(details.word_ids);
      for (const id of unknown) $("lesson-words").querySelector(`[data-word-id="${CSS.escape(id)}"]`)?.classList.add("is-unknown");
      return;
    }
    if (error.code === "VALIDATION_ERROR" && (details.title || details.category)) {
      if (details.title) $("lesson-title-error").textContent = String(details.title);
      if (details.category) $("lesson-category-error").textContent = String(details.category);
      return;
    }
    $("lesson-note").textContent = this.app.explain(error);
  }

  async remove(id) {
    const lesson = this.app.lessons.find((item) => item.id === id);
    if (!lesson) return;
    const cards = [...this.app.pairs].filter((pair) => pair.startsWith(`${id}|`)).length;
    const ok = await confirmDialog({
      title: `Delete ${lesson.title}?`,
      body: cards
        ? `The lesson and its ${plural(cards, "card")} leave the board. Learners keep the progress they made on its words.`
        : "The lesson is deleted. Learners keep any progress they made on its words.",
      confirm: "Delete lesson",
    });
    if (!ok) return;
    try {
      await this.app.api.request("DELETE", `${TEACHER}/lessons/${id}`);
      this.app.lessons = this.app.lessons.filter((item) => item.id !== id);
      this.app.renderAll();
      this.app.notify(`Deleted ${lesson.title}.`, "ok");
    } catch (error) {
      this.app.notify(this.app.explain(error), "error");
    }
  }
}
