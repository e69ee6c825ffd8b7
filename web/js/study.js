// The study page (`/study`): flashcards from the server's deck (es-basics), progress saved per
// user on the server, kept in sync live between every open device of the same user.
//
// Modules: study-classes.js ("My classes": join with a code, leave), study-model.js (words,
// lessons, records, the current card, due and next-card rules, event application; no DOM),
// study-outbox.js (answers kept on the device until the server has them; no DOM),
// study-view.js (the DOM), study-actions.js (REST, the live channel, the outbox's sending,
// the old app's localStorage), and this file, which wires them to the user's input.
//
// data-testid:
//   nav-study, nav-board (teachers only), user-name, signout
//   connection-status (data-status="open" | "connecting" | "closed")
//   message-box, message (aria-live text; data-kind on message-box: info | ok | error),
//     message-action, message-close
//   import-offer, import-offer-text, import-accept, import-dismiss, import-error
//   import-report, import-imported, import-merged, import-unchanged, import-rejected-count,
//     import-rejected-section, import-rejected (list; each <li data-word-id>), import-close
//   lessons, lesson-list, lesson-all, lesson-<lesson id> (aria-pressed; lesson-progress)
//   outbox (data-offline), outbox-count, outbox-text
//   queue-summary, queue-due, queue-new, queue-mastered, caught-up
//   loading, load-error, load-retry
//   card (data-word-id, data-kind = due | new | later | mastered, data-flipped),
//     card-category, card-kind, card-lesson, card-stage, card-front, card-word, card-back, card-answer,
//     card-answer-spanish, card-info, flip, mastered-toggle (aria-pressed)
//   answer (data-ready: the card was turned), answer-hint, confidence, confidence-0 … confidence-5 (labels wrapping the radios), knew, didnt,
//     skip, shortcuts, card-announcer
//   stats, stats-due, stats-today, stats-total, stats-mastered, stats-learning, stats-accuracy,
//     stats-studies, stats-deck-text, stats-bar, session-count
//
// Keyboard: Space flips; 0–5 choose the confidence; K knew it; D didn't know (those two
// and 0–5 only once the card is turned); M toggles mastered; S skips. (Not while typing in
// a field, nor with Ctrl/Alt/Meta held.) After an answer the focus is on the flip button,
// so Space turns the next card whatever was clicked.

import { api } from "./api.js";
import { Live } from "./live.js";
import { StudyActions } from "./study-actions.js";
import { StudyModel } from "./study-model.js";
import { StudyView, describeError, quoted } from "./study-view.js";
import { StudyClasses } from "./study-classes.js";

const user = api.user;
if (!user) location.replace("/");

const live = new Live(api);
const model = new StudyModel();
const view = new StudyView();
const actions = new StudyActions(api, live, model);
let signingOut = false;

// ---- header: user, sign out, connection ----------------------------------------------------

if (user) view.showUser(user);

view.get("signout").addEventListener("click", async () => {
  signingOut = true;
  live.close();
  await api.signOut();
  location.assign("/");
});

api.onChange((now) => {
  if (signingOut) return;
  if (!now) {
    live.close();
    location.replace("/?signed_out=elsewhere");
  } else if (user && now.id !== user.id) {
    location.reload(); // another account signed in in another tab
  }
});

live.onStatus((status) => {
  view.showConnection(status);
  if (status === "open") actions.flush(); // back online: what waits on the device goes out
});

// ---- the card ------------------------------------------------------------------------------

function show(word, { announceIt = true } = {}) {
  model.show(word);
  view.showConfidence(null);
  view.renderCard(model);
  view.renderQueue(model);
  if (announceIt && word) view.announce(`Next word, in Spanish: ${word.term}`);
}

function setFlipped(value) {
  const word = model.current;
  if (!word) return;
  model.flipped = value;
  view.renderFlipped(value);
  if (value) view.announce(`${word.term} means ${word.translation}`);
}

function setConfidence(value) {
  if (!model.flipped) return;
  model.confidence = value;
  view.showConfidence(value);
}

view.onConfidence((value) => {
  model.confidence = value;
});

/** After a change to `wordId`: its card if shown, the queue, the lessons' figures, and
 * the stats a moment later. */
function refreshAfterChange(wordId) {
  if (model.current?.id === wordId) view.renderCard(model);
  view.renderQueue(model);
  renderLessons();
  actions.scheduleStats();
}

// ---- your lessons ----------------------------------------------------------------------------

function renderLessons() {
  view.renderLessons(model, chooseLesson);
}

function chooseLesson(lessonId) {
  model.choose(lessonId);
  renderLessons();
  // A turned card is being answered: it stays. Otherwise the chosen lesson starts now.
  if (!model.flipped) show(model.pickNext());
}

async function reloadLessons() {
  try {
    await actions.loadAssignments();
  } catch {
    return; // the lessons keep their last list; the deck is still there
  }
  renderLessons();
  if (!model.flipped) show(model.pickNext(), { announceIt: false });
}

// ---- the outbox: answers kept on the device until the server has them ----------------------

function outboxChanged(state) {
  model.waiting = new Set(actions.outbox.entries.map((entry) => entry.wordId));
  view.renderOutbox(state);
}

actions.onOutbox({
  onState: outboxChanged,
  onSent: (record) => refreshAfterChange(record.wordId),
  onFailed: (entry, error) => {
    const word = model.word(entry.wordId);
    view.say(`Your answer for ${word ? quoted(word) : entry.wordId} couldn't be saved: ${describeError(error, "the server refused it")}.`, {
      kind: "error",
    });
  },
});

actions.onStats((stats) => view.renderStats(stats, model));

// ---- answering -----------------------------------------------------------------------------

function answer(knew) {
  if (model.current && !model.flipped) {
    view.announce("Turn the card first: press Space.");
    return;
  }
  // The rating button that was clicked is about to be disabled: the focus goes to the flip
  // button, so that Space (the flip key) turns the next card instead of answering it unseen.
  const fromPanel = view.get("answer").contains(document.activeElement);
  const answered = model.answer(knew);
  if (!answered) return;
  const { word, confidence, next } = answered;
  model.waiting.add(word.id);
  view.showSessionCount(model.sessionAnswers);
  show(next, { announceIt: false });
  if (fromPanel) view.focusFlip();
  view.announce(`${knew ? "Knew it" : "Didn't know"}: saved. ${next ? `Next word, in Spanish: ${next.term}` : ""}`);
  actions.saveAnswer(word.id, knew, confidence);
}

function skip() {
  if (model.current) show(model.skip());
}

// ---- mastered: optimistic, rolled back when the server refuses -----------------------------

function toggleMastered() {
  const word = model.current;
  if (!word) return;
  const change = model.toggleMastered(word.id);
  const { marking } = change;
  view.renderCard(model);
  view.renderQueue(model);
  view.announce(marking ? `${word.term} marked as mastered` : `${word.term} is no longer mastered`);
  actions
    .saveMastered(word.id, marking)
    .then(() => {
      view.say(
        marking
          ? `${quoted(word)} is mastered. It won't come up for review.`
          : `${quoted(word)} is no longer mastered. It's back with your new words.`,
        { kind: "ok" },
      );
      refreshAfterChange(word.id);
    })
    .catch((error) => {
      model.undoMastered(change);
      if (model.current?.id === word.id) view.renderCard(model);
      view.renderQueue(model);
      view.say(
        `Couldn't ${marking ? "mark" : "unmark"} ${quoted(word)} as mastered: ${describeError(error, "the server refused")}. Your change was undone.`,
        { kind: "error" },
      );
    });
}

// ---- live sync -----------------------------------------------------------------------------

function onEvent(frame) {
  const change = model.apply(frame);
  if (!change) return;
  const { wordId, kind, answered } = change;
  if (model.current?.id === wordId && answered && !actions.writing(wordId)) {
    // Answered on another device: this one moves on too, rather than ask it again.
    const word = model.word(wordId);
    show(model.pickNext(wordId));
    view.say(`${quoted(word)} was answered on another device. On to the next word.`);
  } else if (model.current?.id === wordId) {
    view.renderCard(model);
    if (!actions.writing(wordId)) {
      const word = model.word(wordId);
      view.say(
        kind === "deleted"
          ? `${quoted(word)} was unmarked on another device: it's a new word again.`
          : `${quoted(word)} was just updated on another device.`,
      );
    }
  }
  view.renderQueue(model);
  renderLessons();
  actions.scheduleStats();
}

async function onReset() {
  try {
    await actions.reload();
    if (model.current) view.renderCard(model);
    view.renderQueue(model);
    actions.scheduleStats(0);
  } catch (error) {
    view.say(`Couldn't catch up with your other devices. ${describeError(error, "")}`, {
      kind: "error",
      action: { label: "Retry", run: onReset },
    });
  }
}

// ---- import of the old app's progress ------------------------------------------------------

function offerImport() {
  const old = actions.importOffer();
  if (old) view.showImportOffer(old.count);
}

view.get("import-dismiss").addEventListener("click", () => {
  actions.importLater();
  view.hideImportOffer();
  view.say("No problem. We'll offer the import again next time you sign in.");
  view.focusStudy();
});

view.get("import-accept").addEventListener("click", async () => {
  const old = actions.oldProgress();
  if (!old) {
    view.hideImportOffer();
    return;
  }
  view.importBusy(true);
  try {
    const report = await actions.importOld(old);
    view.hideImportOffer();
    view.showReport(report);
    view.say(
      `Import complete: ${report.imported} imported, ${report.merged} merged, ${report.unchanged} unchanged, ${report.rejected.length} rejected.`,
      { kind: "ok" },
    );
    await actions.reload();
    // Imported words may be due now: they come first, unless this card is already turned.
    if (!model.current || !model.flipped) show(model.pickNext(), { announceIt: false });
    else view.renderCard(model);
    view.renderQueue(model);
    actions.scheduleStats(0);
  } catch (error) {
    if (error.code === "VALIDATION_ERROR" || error.code === "PAYLOAD_TOO_LARGE") {
      view.showImportError(`This old progress can't be imported: ${error.message}.`.replace("..", "."));
    } else {
      view.showImportError(`The import didn't go through. ${describeError(error, "Please try again.")}`);
    }
  } finally {
    view.importBusy(false);
  }
});

view.get("import-close").addEventListener("click", () => {
  view.hideReport();
  view.focusStudy();
});

// ---- controls and keyboard -----------------------------------------------------------------

view.get("flip").addEventListener("click", () => setFlipped(!model.flipped));
view.get("card-stage").addEventListener("click", () => setFlipped(!model.flipped));
view.get("knew").addEventListener("click", () => answer(true));
view.get("didnt").addEventListener("click", () => answer(false));
view.get("skip").addEventListener("click", skip);
view.get("mastered-toggle").addEventListener("click", toggleMastered);

const KEYS = { k: () => answer(true), d: () => answer(false), m: toggleMastered, s: skip };

document.addEventListener("keydown", (event) => {
  if (!model.current || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest?.("input:not([type=radio]), textarea, select, [contenteditable='true']")) return;
  const onControl = target.closest?.("button, a, summary");
  const key = event.key;
  if (key === " " || key === "Spacebar") {
    if (onControl) return; // Space presses the focused button (the flip button flips)
    event.preventDefault();
    setFlipped(!model.flipped);
    return;
  }
  if (event.repeat) return;
  if (/^[0-5]$/.test(key)) {
    event.preventDefault();
    setConfidence(Number(key));
    return;
  }
  const run = KEYS[key.toLowerCase()];
  if (run) {
    event.preventDefault();
    run();
  }
});

// ---- start ---------------------------------------------------------------------------------

async function start() {
  view.showLoading();
  try {
    if (!model.deck.length) await actions.loadWords();
    // The lessons are an addition to the deck: without them the learner still studies.
    await actions.loadAssignments().catch(() => view.say("Your lessons couldn't be loaded: you're studying the deck. Reload the page to try again.", { kind: "error" }));
    await actions.reload();
  } catch (error) {
    if (!api.user) {
      view.showLoaded();
      return; // signed out: the redirect is on its way
    }
    const what = model.deck.length ? "Your progress" : "The words to study";
    view.showLoadError(`${what} couldn't be loaded. ${describeError(error, "")}`);
    return;
  }
  view.showLoaded();
  actions.subscribe({
    onEvent,
    onReset,
    onError: (frame) => view.say(`Live sync: ${frame.message}`, { kind: "error" }),
  });
  outboxChanged({ waiting: actions.outbox.size, offline: false });
  renderLessons();
  show(model.pickNext(), { announceIt: false });
  actions.scheduleStats(0);
  offerImport();
  actions.flush(); // answers left on this device by an earlier visit
}

view.get("load-retry").addEventListener("click", start);

// Keep "due" and "next review in …" honest as time passes.
setInterval(() => {
  if (!model.loaded) return;
  view.renderQueue(model);
  if (model.current) view.renderCard(model);
}, 30_000);

if (user) {
  start();
  new StudyClasses(api, { onChange: reloadLessons }).start();
}
