// The study page's DOM: the header, the card and its answer panel, the queue summary, the
// stats panel, the one message box, the import offer and report. It reads the model and
// writes the page; it decides nothing and calls no API. User data always goes in as text.

import { isDue } from "./study-model.js";
import { announce, plural, showConnection, whenFromNow } from "./util.js";

export { whenFromNow };

const $ = (selector, root = document) => root.querySelector(selector);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

const KIND_TEXT = { due: "Due for review", new: "New word", later: "Review ahead", mastered: "Mastered" };
const STATUS_TEXT = { open: "Live", connecting: "Connecting…", closed: "Offline" };
const STATUS_TITLE = {
  open: "Live: changes from your other devices appear here at once",
  connecting: "Connecting to live sync…",
  closed: "Live sync is offline; your answers still save, and the page catches up when it reconnects",
};

export function quoted(word) {
  return `“${word.term}”`;
}

/** One sentence for a failed request. */
export function describeError(error, fallback) {
  if (!error || error.status === undefined) return "Tandem can't be reached. Check your connection.";
  if (error.code === "RATE_LIMITED") {
    const wait = Number(error.details?.retry_after) || 0;
    return wait ? `You're going a bit fast: please wait ${plural(wait, "second")}.` : "You're going a bit fast: please wait a moment.";
  }
  if (error.code === "SERVICE_UNAVAILABLE") return "Tandem is temporarily unavailable. Please try again shortly.";
  return error.message || fallback;
}

function infoLine(record) {
  if (!record) return "You haven't studied this word yet.";
  const parts = [];
  if (record.studyCount) {
    parts.push(`Studied ${plural(record.studyCount, "time")}`, `${record.correctCount} correct`);
  } else {
    parts.push("Not answered yet");
  }
  if (record.mastered) parts.push("mastered: it won't come up for review");
  else if (record.nextReview) {
    parts.push(isDue(record) ? "due for review now" : `next review ${whenFromNow(record.nextReview)}`);
  }
  return parts.join(" · ");
}

export class StudyView {
  constructor() {
    this.card = byTestId("card");
    this.answerPanel = byTestId("answer");
    this.flipButton = byTestId("flip");
    this.masteredToggle = byTestId("mastered-toggle");
    this.confidenceInputs = [...document.querySelectorAll('input[name="confidence"]')];
    this.messageBox = byTestId("message-box");
    this.messageText = byTestId("message");
    this.messageAction = byTestId("message-action");
    this.messageClose = byTestId("message-close");
    this.messageTimer = null;
    this.importOffer = byTestId("import-offer");
    this.importReport = byTestId("import-report");
    this.importError = byTestId("import-error");
    this.importAccept = byTestId("import-accept");
    this.messageClose.addEventListener("click", () => this.clear());
    this.clear();
  }

  /** An element by its data-testid, for the wiring's event listeners. */
  get(testId) {
    return byTestId(testId);
  }

  // -- messages (one aria-live region) and the card announcer ---------------------------------

  say(text, { kind = "info", action = null, sticky = kind === "error" } = {}) {
    clearTimeout(this.messageTimer);
    this.messageBox.dataset.kind = kind;
    this.messageText.textContent = text;
    this.messageBox.classList.toggle("show", Boolean(text));
    this.messageClose.hidden = !text;
    this.messageAction.hidden = !action;
    this.messageAction.onclick = null;
    if (action) {
      this.messageAction.textContent = action.label;
      this.messageAction.onclick = () => {
        this.clear();
        action.run();
      };
    }
    if (text && !sticky) this.messageTimer = setTimeout(() => this.clear(), 5000);
  }

  clear() {
    clearTimeout(this.messageTimer);
    this.messageText.textContent = "";
    this.messageBox.classList.remove("show");
    this.messageAction.hidden = true;
    this.messageClose.hidden = true;
  }

  announce(text) {
    announce(byTestId("card-announcer"), text);
  }

  // -- header ------------------------------------------------------------------------------

  showUser(user) {
    byTestId("user-name").textContent = user.name;
    byTestId("nav-board").hidden = user.role !== "teacher";
  }

  showConnection(status) {
    showConnection(byTestId("connection-status"), status, { text: STATUS_TEXT, title: STATUS_TITLE });
  }

  // -- the card ----------------------------------------------------------------------------

  renderCard(model) {
    const word = model.current;
    this.card.hidden = !word;
    this.answerPanel.hidden = !word;
    if (!word) return;
    const record = model.records.get(word.id);
    const kind = model.kindOf(word);
    this.card.dataset.wordId = word.id;
    this.card.dataset.kind = kind;
    byTestId("card-category").textContent = word.topic ?? "";
    const kindPill = byTestId("card-kind");
    kindPill.textContent = KIND_TEXT[kind];
    kindPill.dataset.kind = kind;
    byTestId("card-word").textContent = word.term;
    byTestId("card-answer").textContent = word.translation;
    byTestId("card-answer-spanish").textContent = word.term;
    const lesson = model.lessonOf(word.id);
    const lessonPill = byTestId("card-lesson");
    lessonPill.hidden = !lesson;
    lessonPill.textContent = lesson ? `Lesson · ${lesson.title}` : "";
    this.renderFlipped(model.flipped);
    this.renderMastered(record);
    byTestId("card-info").textContent = infoLine(record);
  }

  /** Turned or not; the answer (its buttons and confidence) only works once turned. */
  renderFlipped(flipped) {
    this.answerPanel.dataset.ready = String(flipped);
    for (const control of this.answerPanel.querySelectorAll("button.didnt, button.knew, input")) control.disabled = !flipped;
    byTestId("answer-hint").hidden = flipped;
    this.card.dataset.flipped = String(flipped);
    byTestId("card-front").setAttribute("aria-hidden", String(flipped));
    byTestId("card-back").setAttribute("aria-hidden", String(!flipped));
    $(".flip-label", this.flipButton).textContent = flipped ? "Show the Spanish" : "Show answer";
    this.flipButton.setAttribute("aria-expanded", String(flipped));
  }

  renderMastered(record) {
    const on = Boolean(record?.mastered);
    this.masteredToggle.setAttribute("aria-pressed", String(on));
    this.masteredToggle.title = on
      ? "Mastered (M). Press again to unmark: the word starts over as new"
      : "Mark this word as mastered (M)";
  }

  showConfidence(value) {
    for (const input of this.confidenceInputs) input.checked = value !== null && Number(input.value) === value;
  }

  /** `handler(value)` when a confidence radio is chosen. */
  onConfidence(handler) {
    for (const input of this.confidenceInputs) {
      input.addEventListener("change", () => {
        if (input.checked) handler(Number(input.value));
      });
    }
  }

  renderQueue(model) {
    const summary = model.summary();
    byTestId("queue-due").textContent = String(summary.due);
    byTestId("queue-new").textContent = String(summary.new);
    byTestId("queue-mastered").textContent = String(summary.mastered);
    const caughtUp = byTestId("caught-up");
    if (summary.caughtUp) {
      caughtUp.textContent = summary.nextReview
        ? `All caught up! Your next review is ${whenFromNow(summary.nextReview)}. You can keep practising ahead of time.`
        : "All caught up! Every word in the deck is mastered.";
      caughtUp.hidden = false;
    } else {
      caughtUp.hidden = true;
    }
  }

  /** "Your lessons": each with its words mastered, the chosen one pressed. `onChoose(id)`
   * is called with a lesson id, or null for all of them. */
  renderLessons(model, onChoose) {
    const section = byTestId("lessons");
    section.hidden = !model.lessons.length;
    const list = byTestId("lesson-list");
    const item = (id, title, detail, progress) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "lesson-choice";
      button.dataset.testid = id ? `lesson-${id}` : "lesson-all";
      button.setAttribute("aria-pressed", String(model.chosen === id));
      const name = document.createElement("span");
      name.className = "lesson-title";
      name.textContent = title;
      const meta = document.createElement("span");
      meta.className = "lesson-meta";
      meta.dataset.testid = "lesson-progress";
      meta.textContent = detail;
      button.append(name, meta);
      if (progress) {
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.setAttribute("aria-hidden", "true");
        const fill = document.createElement("span");
        fill.className = "bar-fill";
        fill.style.width = `${progress.words ? (progress.mastered / progress.words) * 100 : 0}%`;
        bar.append(fill);
        button.append(bar);
      }
      button.addEventListener("click", () => onChoose(id));
      const li = document.createElement("li");
      li.append(button);
      return li;
    };
    list.replaceChildren(
      item(null, "All my lessons", `${plural(model.lessons.length, "lesson")}, then the deck`, null),
      ...model.lessons.map((lesson) => {
        const progress = model.lessonProgress(lesson);
        return item(lesson.lesson_id, lesson.title, `${lesson.classroom.name} · ${progress.mastered} of ${plural(progress.words, "word")} mastered`, progress);
      }),
    );
  }

  /** The outbox: how many answers wait on this device, and whether it is offline. */
  renderOutbox({ waiting, offline }) {
    const note = byTestId("outbox");
    note.hidden = waiting === 0;
    note.dataset.offline = String(offline);
    byTestId("outbox-count").textContent = String(waiting);
    byTestId("outbox-text").textContent = offline
      ? `${waiting === 1 ? "answer is" : "answers are"} kept on this device and will be sent when you're back online.`
      : `${waiting === 1 ? "answer is" : "answers are"} being sent…`;
  }

  focusFlip() {
    this.flipButton.focus({ preventScroll: true });
  }

  showSessionCount(count) {
    byTestId("session-count").textContent = String(count);
  }

  // -- loading and stats --------------------------------------------------------------------

  showLoading() {
    byTestId("loading").hidden = false;
    byTestId("load-error").hidden = true;
  }

  showLoaded() {
    byTestId("loading").hidden = true;
  }

  showLoadError(text) {
    byTestId("loading").hidden = true;
    const loadError = byTestId("load-error");
    $(".load-error-text", loadError).textContent = text;
    loadError.hidden = false;
  }

  renderStats(stats, model) {
    byTestId("stats-due").textContent = String(stats.dueNow);
    byTestId("stats-today").textContent = String(stats.studiedToday);
    byTestId("stats-total").textContent = String(stats.totalWords);
    byTestId("stats-mastered").textContent = String(stats.masteredWords);
    byTestId("stats-learning").textContent = String(stats.learningWords);
    byTestId("stats-accuracy").textContent = stats.totalStudies ? `${Math.round(stats.accuracy * 100)}%` : "–";
    byTestId("stats-studies").textContent = String(stats.totalStudies);
    const mastered = model.masteredCount();
    const total = model.deck.length;
    byTestId("stats-deck-text").textContent = `${mastered} of ${total} deck words mastered`;
    byTestId("stats-bar").style.width = `${total ? (mastered / total) * 100 : 0}%`;
  }

  // -- the import of the old app's progress -------------------------------------------------

  showImportOffer(count) {
    byTestId("import-offer-text").textContent =
      (count !== null
        ? `This browser still holds your progress on ${plural(count, "word")} from the previous vocabulary app. `
        : "This browser still holds progress saved by the previous vocabulary app. ") +
      "Import it into your account to keep your study history on every device. Nothing you've done in Tandem is overwritten: the larger counts win.";
    this.importError.hidden = true;
    this.importOffer.hidden = false;
  }

  hideImportOffer() {
    this.importOffer.hidden = true;
  }

  importBusy(busy) {
    this.importAccept.disabled = busy;
    this.importAccept.textContent = busy ? "Importing…" : "Import my progress";
    if (busy) this.importError.hidden = true;
  }

  showImportError(text) {
    this.importError.textContent = text;
    this.importError.hidden = false;
  }

  showReport(report) {
    byTestId("import-imported").textContent = String(report.imported);
    byTestId("import-merged").textContent = String(report.merged);
    byTestId("import-unchanged").textContent = String(report.unchanged);
    byTestId("import-rejected-count").textContent = String(report.rejected.length);
    byTestId("import-rejected").replaceChildren(
      ...report.rejected.map(({ wordId, reason }) => {
        const item = document.createElement("li");
        item.dataset.wordId = wordId;
        const code = document.createElement("code");
        code.textContent = wordId || "(no id)";
        item.append(code, document.createTextNode(`: ${reason}`));
        return item;
      }),
    );
    byTestId("import-rejected-section").hidden = report.rejected.length === 0;
    this.importReport.hidden = false;
    this.importReport.focus();
  }

  hideReport() {
    this.importReport.hidden = true;
  }

  focusStudy() {
    $("#study").focus();
  }
}
