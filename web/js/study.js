// The study page (`/study`): flashcards from the shipped deck, progress saved per user on the
// server, kept in sync live between every open device of the same user.
//
// data-testid:
//   nav-study, nav-board (teachers only), user-name, signout
//   connection-status (data-status="open" | "connecting" | "closed")
//   message-box, message (aria-live text; data-kind on message-box: info | ok | error),
//     message-action, message-close
//   import-offer, import-offer-text, import-accept, import-dismiss, import-error
//   import-report, import-imported, import-merged, import-unchanged, import-rejected-count,
//     import-rejected-section, import-rejected (list; each <li data-word-id>), import-close
//   queue-summary, queue-due, queue-new, queue-mastered, caught-up
//   loading, load-error, load-retry
//   card (data-word-id, data-kind = due | new | later | mastered, data-flipped),
//     card-category, card-kind, card-stage, card-front, card-word, card-back, card-answer,
//     card-answer-spanish, card-info, flip, mastered-toggle (aria-pressed)
//   answer, confidence, confidence-0 … confidence-5 (labels wrapping the radios), knew, didnt,
//     skip, shortcuts, card-announcer
//   stats, stats-due, stats-today, stats-total, stats-mastered, stats-learning, stats-accuracy,
//     stats-studies, stats-deck-text, stats-bar, session-count
//
// Keyboard: Space flips; 0–5 choose the confidence; K knew it; D didn't know; M toggles
// mastered; S skips. (Not while typing in a field, nor with Ctrl/Alt/Meta held.)
//
// REST: GET /api/v1/progress (records + seq), PUT /api/v1/progress/{wordId} (an answer, or
// mastered: true), DELETE /api/v1/progress/{wordId} (unmark mastered: the word is unlearned),
// GET /api/v1/progress/stats, POST /api/v1/progress/import. Live: the `progress` channel.

import { api } from "./api.js";
import { Live } from "./live.js";
import { DECK, WORDS } from "./deck.js";

const OLD_PROGRESS_KEY = "vocab-progress";
const IMPORT_LATER_KEY = "tandem-import-later"; // sessionStorage: "Not now" in this session
const DEFAULT_CONFIDENCE = { knew: 4, didnt: 1 };

const $ = (selector, root = document) => root.querySelector(selector);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

// ---- state --------------------------------------------------------------------------------

const records = new Map(); // wordId -> progress record, as the server last described it
const chains = new Map(); // wordId -> promise of the last write queued for it
const pendingWrites = new Map(); // wordId -> number of writes in flight
const skipped = new Set(); // words skipped in this session
let seq = 0;
let current = null; // the word on the card
let flipped = false;
let confidence = null; // chosen confidence, or null (defaults by answer)
let sessionAnswers = 0;
let signingOut = false;
let loaded = false;

const user = api.user;
if (!user) location.replace("/");

const live = new Live(api);

// ---- small helpers -------------------------------------------------------------------------

function quoted(word) {
  return `“${word.spanish}”`;
}

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

function whenFromNow(iso) {
  const diff = Date.parse(iso) - Date.now();
  const abs = Math.abs(diff);
  const units = [
    ["day", 86_400_000],
    ["hour", 3_600_000],
    ["minute", 60_000],
  ];
  for (const [unit, ms] of units) {
    if (abs >= ms) return relative.format(Math.round(diff / ms), unit);
  }
  return diff <= 0 ? "now" : "in under a minute";
}

function isDue(record, now = Date.now()) {
  return Boolean(record) && !record.mastered && record.nextReview && Date.parse(record.nextReview) <= now;
}

function kindOf(word, now = Date.now()) {
  const record = records.get(word.id);
  if (!record) return "new";
  if (record.mastered) return "mastered";
  return isDue(record, now) ? "due" : "later";
}

function describeError(error, fallback) {
  if (!error || error.status === undefined) return "Tandem can't be reached. Check your connection.";
  if (error.code === "RATE_LIMITED") {
    const wait = Number(error.details?.retry_after) || 0;
    return wait ? `You're going a bit fast: please wait ${plural(wait, "second")}.` : "You're going a bit fast: please wait a moment.";
  }
  if (error.code === "SERVICE_UNAVAILABLE") return "Tandem is temporarily unavailable. Please try again shortly.";
  return error.message || fallback;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- messages (one aria-live region) --------------------------------------------------------

const messageBox = byTestId("message-box");
const messageText = byTestId("message");
const messageAction = byTestId("message-action");
const messageClose = byTestId("message-close");
let messageTimer = null;

function say(text, { kind = "info", action = null, sticky = kind === "error" } = {}) {
  clearTimeout(messageTimer);
  messageBox.dataset.kind = kind;
  messageText.textContent = text;
  messageBox.classList.toggle("show", Boolean(text));
  messageClose.hidden = !text;
  messageAction.hidden = !action;
  messageAction.onclick = null;
  if (action) {
    messageAction.textContent = action.label;
    messageAction.onclick = () => {
      clear();
      action.run();
    };
  }
  if (text && !sticky) messageTimer = setTimeout(clear, 5000);
}

function clear() {
  clearTimeout(messageTimer);
  messageText.textContent = "";
  messageBox.classList.remove("show");
  messageAction.hidden = true;
  messageClose.hidden = true;
}

messageClose.addEventListener("click", clear);
clear();

const announcer = byTestId("card-announcer");
function announce(text) {
  announcer.textContent = "";
  // A fresh text node each time, so that the same words are announced again.
  setTimeout(() => {
    announcer.textContent = text;
  }, 30);
}

// ---- header: user, sign out, connection ----------------------------------------------------

if (user) {
  byTestId("user-name").textContent = user.name;
  byTestId("nav-board").hidden = user.role !== "teacher";
}

byTestId("signout").addEventListener("click", async () => {
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

const connection = byTestId("connection-status");
const STATUS_TEXT = { open: "Live", connecting: "Connecting…", closed: "Offline" };
const STATUS_TITLE = {
  open: "Live: changes from your other devices appear here at once",
  connecting: "Connecting to live sync…",
  closed: "Live sync is offline; your answers still save, and the page catches up when it reconnects",
};
live.onStatus((status) => {
  connection.dataset.status = status;
  $(".status-dot", connection).dataset.status = status;
  $(".connection-text", connection).textContent = STATUS_TEXT[status] ?? status;
  connection.title = STATUS_TITLE[status] ?? "";
});

// ---- the card --------------------------------------------------------------------------------

const card = byTestId("card");
const answerPanel = byTestId("answer");
const flipButton = byTestId("flip");
const masteredToggle = byTestId("mastered-toggle");
const KIND_TEXT = { due: "Due for review", new: "New word", later: "Review ahead", mastered: "Mastered" };

function buckets(now = Date.now()) {
  const due = [];
  const fresh = [];
  const later = [];
  const mastered = [];
  for (const word of DECK) {
    const kind = kindOf(word, now);
    if (kind === "due") due.push(word);
    else if (kind === "new") fresh.push(word);
    else if (kind === "later") later.push(word);
    else mastered.push(word);
  }
  const byNextReview = (a, b) => Date.parse(records.get(a.id).nextReview) - Date.parse(records.get(b.id).nextReview);
  due.sort(byNextReview);
  later.sort(byNextReview);
  return { due, fresh, later, mastered };
}

/** Due words first (oldest nextReview first), then new words, then the rest. */
function studyOrder() {
  const { due, fresh, later, mastered } = buckets();
  return [...due, ...fresh, ...later, ...mastered];
}

function pickNext(excludeId = null) {
  const order = studyOrder();
  let pick = order.find((word) => word.id !== excludeId && !skipped.has(word.id));
  if (!pick) {
    skipped.clear();
    pick = order.find((word) => word.id !== excludeId) ?? order[0] ?? null;
  }
  return pick;
}

function show(word, { announceIt = true } = {}) {
  current = word;
  flipped = false;
  setConfidence(null);
  renderCard();
  renderQueue();
  if (announceIt && word) announce(`Next word, in Spanish: ${word.spanish}`);
}

function setFlipped(value) {
  if (!current) return;
  flipped = value;
  card.dataset.flipped = String(flipped);
  byTestId("card-front").setAttribute("aria-hidden", String(flipped));
  byTestId("card-back").setAttribute("aria-hidden", String(!flipped));
  $(".flip-label", flipButton).textContent = flipped ? "Show the Spanish" : "Show answer";
  flipButton.setAttribute("aria-expanded", String(flipped));
  if (flipped) announce(`${current.spanish} means ${current.english}`);
}

function renderCard() {
  const word = current;
  card.hidden = !word;
  answerPanel.hidden = !word;
  if (!word) return;
  const record = records.get(word.id);
  const kind = kindOf(word);
  card.dataset.wordId = word.id;
  card.dataset.kind = kind;
  card.dataset.flipped = String(flipped);
  byTestId("card-category").textContent = word.category;
  const kindPill = byTestId("card-kind");
  kindPill.textContent = KIND_TEXT[kind];
  kindPill.dataset.kind = kind;
  byTestId("card-word").textContent = word.spanish;
  byTestId("card-answer").textContent = word.english;
  byTestId("card-answer-spanish").textContent = word.spanish;
  byTestId("card-front").setAttribute("aria-hidden", String(flipped));
  byTestId("card-back").setAttribute("aria-hidden", String(!flipped));
  $(".flip-label", flipButton).textContent = flipped ? "Show the Spanish" : "Show answer";
  flipButton.setAttribute("aria-expanded", String(flipped));
  renderMastered(record);
  byTestId("card-info").textContent = infoLine(record);
}

function renderMastered(record) {
  const on = Boolean(record?.mastered);
  masteredToggle.setAttribute("aria-pressed", String(on));
  masteredToggle.title = on
    ? "Mastered (M). Press again to unmark: the word starts over as new"
    : "Mark this word as mastered (M)";
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

function renderQueue() {
  const { due, fresh, later, mastered } = buckets();
  byTestId("queue-due").textContent = String(due.length);
  byTestId("queue-new").textContent = String(fresh.length);
  byTestId("queue-mastered").textContent = String(mastered.length);
  const caughtUp = byTestId("caught-up");
  if (loaded && !due.length && !fresh.length) {
    const next = later[0] ? records.get(later[0].id).nextReview : null;
    caughtUp.textContent = next
      ? `All caught up! Your next review is ${whenFromNow(next)}. You can keep practising ahead of time.`
      : "All caught up! Every word in the deck is mastered.";
    caughtUp.hidden = false;
  } else {
    caughtUp.hidden = true;
  }
}

// ---- confidence ------------------------------------------------------------------------------

const confidenceInputs = [...document.querySelectorAll('input[name="confidence"]')];

function setConfidence(value) {
  confidence = value;
  for (const input of confidenceInputs) input.checked = value !== null && Number(input.value) === value;
}

for (const input of confidenceInputs) {
  input.addEventListener("change", () => {
    if (input.checked) confidence = Number(input.value);
  });
}

// ---- writes: serialized per word, one retry after a version conflict -------------------------

/** Queue `task` after the writes already queued for `wordId`. */
function enqueue(wordId, task) {
  pendingWrites.set(wordId, (pendingWrites.get(wordId) ?? 0) + 1);
  const run = (chains.get(wordId) ?? Promise.resolve()).catch(() => {}).then(task);
  const tail = run.finally(() => {
    const left = (pendingWrites.get(wordId) ?? 1) - 1;
    if (left) pendingWrites.set(wordId, left);
    else pendingWrites.delete(wordId);
    if (chains.get(wordId) === tail) chains.delete(wordId);
  });
  chains.set(wordId, tail.catch(() => {}));
  return run;
}

/** PUT the body `build(record)` (record: what the server has, or null); on 409
 *  VERSION_CONFLICT adopt `details.current` and build again, once. Waits out a rate limit. */
async function putProgress(wordId, build) {
  let conflictRetried = false;
  let rateRetries = 0;
  for (;;) {
    const base = serverRecord(wordId);
    try {
      const saved = await api.request("PUT", `/api/v1/progress/${encodeURIComponent(wordId)}`, build(base));
      adopt(saved);
      return saved;
    } catch (error) {
      if (error.code === "VERSION_CONFLICT" && error.details?.current && !conflictRetried) {
        conflictRetried = true;
        adopt(error.details.current, { force: true });
        continue;
      }
      if (error.code === "RATE_LIMITED" && rateRetries < 3) {
        rateRetries += 1;
        await sleep(Math.max(1, Number(error.details?.retry_after) || 2) * 1000);
        continue;
      }
      throw error;
    }
  }
}

/** The record as the server last described it (optimistic placeholders left out). */
function serverRecord(wordId) {
  const record = records.get(wordId);
  if (!record) return null;
  return record.optimistic ? record.base : record;
}

/** Take a record from the server unless a newer one is already known. */
function adopt(record, { force = false } = {}) {
  const known = records.get(record.wordId);
  if (!force && known && !known.optimistic && known.updatedAt && record.updatedAt < known.updatedAt) return false;
  records.set(record.wordId, record);
  return true;
}

// ---- answering -------------------------------------------------------------------------------

function answer(knew) {
  const word = current;
  if (!word) return;
  const chosen = confidence ?? (knew ? DEFAULT_CONFIDENCE.knew : DEFAULT_CONFIDENCE.didnt);
  sessionAnswers += 1;
  byTestId("session-count").textContent = String(sessionAnswers);
  skipped.delete(word.id);
  const next = pickNext(word.id);
  show(next, { announceIt: false });
  announce(`${knew ? "Knew it" : "Didn't know"}: saved. ${next ? `Next word, in Spanish: ${next.spanish}` : ""}`);
  save(word, knew, chosen);
}

function save(word, knew, chosen) {
  enqueue(word.id, () =>
    putProgress(word.id, (base) => ({
      studyCount: (base?.studyCount ?? 0) + 1,
      correctCount: (base?.correctCount ?? 0) + (knew ? 1 : 0),
      confidence: chosen,
    })),
  )
    .then(() => {
      refreshAfterChange(word.id);
    })
    .catch((error) => {
      say(`Your answer for ${quoted(word)} wasn't saved. ${describeError(error, "Please try again.")}`, {
        kind: "error",
        action: { label: "Retry", run: () => save(word, knew, chosen) },
      });
    });
}

function refreshAfterChange(wordId) {
  if (current?.id === wordId) renderCard();
  renderQueue();
  scheduleStats();
}

// ---- mastered: optimistic, rolled back when the server refuses -------------------------------

function toggleMastered() {
  const word = current;
  if (!word) return;
  const before = records.get(word.id) ?? null;
  const base = before?.optimistic ? before.base : before;
  const marking = !before?.mastered;
  let placeholder;
  if (marking) {
    placeholder = {
      wordId: word.id,
      studyCount: base?.studyCount ?? 0,
      correctCount: base?.correctCount ?? 0,
      confidence: base?.confidence ?? 5,
      nextReview: base?.nextReview ?? null,
      mastered: true,
      optimistic: true,
      base,
    };
    records.set(word.id, placeholder);
  } else {
    records.delete(word.id); // unmarking unlearns the word: it starts over as new
  }
  renderCard();
  renderQueue();
  announce(marking ? `${word.spanish} marked as mastered` : `${word.spanish} is no longer mastered`);

  const write = marking
    ? () =>
        putProgress(word.id, (server) => ({
          studyCount: server?.studyCount ?? 0,
          correctCount: server?.correctCount ?? 0,
          confidence: server?.confidence ?? 5,
          mastered: true,
        }))
    : () =>
        api.request("DELETE", `/api/v1/progress/${encodeURIComponent(word.id)}`).catch((error) => {
          if (error.status === 404) return { wordId: word.id }; // already unlearned: that's the goal
          throw error;
        });

  enqueue(word.id, write)
    .then(() => {
      say(
        marking
          ? `${quoted(word)} is mastered. It won't come up for review.`
          : `${quoted(word)} is no longer mastered. It's back with your new words.`,
        { kind: "ok" },
      );
      refreshAfterChange(word.id);
    })
    .catch((error) => {
      // Roll back, unless something newer (a live event) has replaced the optimistic state.
      const now = records.get(word.id);
      const untouched = marking ? now === placeholder : now === undefined;
      if (untouched) {
        if (base) records.set(word.id, base);
        else records.delete(word.id);
      }
      if (current?.id === word.id) renderCard();
      renderQueue();
      say(
        `Couldn't ${marking ? "mark" : "unmark"} ${quoted(word)} as mastered: ${describeError(error, "the server refused")}. Your change was undone.`,
        { kind: "error" },
      );
    });
}

// ---- stats ----------------------------------------------------------------------------------

let statsTimer = null;
let statsInFlight = false;
let statsAgain = false;

function scheduleStats(delay = 400) {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(loadStats, delay);
}

async function loadStats() {
  if (statsInFlight) {
    statsAgain = true;
    return;
  }
  statsInFlight = true;
  try {
    renderStats(await api.request("GET", "/api/v1/progress/stats"));
  } catch (error) {
    if (error.code === "RATE_LIMITED") scheduleStats((Number(error.details?.retry_after) || 2) * 1000);
  } finally {
    statsInFlight = false;
    if (statsAgain) {
      statsAgain = false;
      scheduleStats(100);
    }
  }
}

function renderStats(stats) {
  byTestId("stats-due").textContent = String(stats.dueNow);
  byTestId("stats-today").textContent = String(stats.studiedToday);
  byTestId("stats-total").textContent = String(stats.totalWords);
  byTestId("stats-mastered").textContent = String(stats.masteredWords);
  byTestId("stats-learning").textContent = String(stats.learningWords);
  byTestId("stats-accuracy").textContent = stats.totalStudies ? `${Math.round(stats.accuracy * 100)}%` : "–";
  byTestId("stats-studies").textContent = String(stats.totalStudies);
  const masteredInDeck = DECK.filter((word) => records.get(word.id)?.mastered).length;
  byTestId("stats-deck-text").textContent = `${masteredInDeck} of ${DECK.length} deck words mastered`;
  const bar = byTestId("stats-bar");
  bar.style.width = `${DECK.length ? (masteredInDeck / DECK.length) * 100 : 0}%`;
}

// ---- live sync -------------------------------------------------------------------------------

function onEvent(frame) {
  if (frame.event === "progress.updated") {
    const record = frame.data;
    const known = records.get(record.wordId);
    if (known && !known.optimistic && known.updatedAt === record.updatedAt) return; // our own echo
    if (!adopt(record)) return;
    remoteChange(record.wordId, "updated");
  } else if (frame.event === "progress.deleted") {
    const wordId = frame.data?.wordId;
    if (!wordId || !records.has(wordId)) return;
    records.delete(wordId);
    remoteChange(wordId, "deleted");
  }
}

function remoteChange(wordId, what) {
  const word = WORDS.get(wordId);
  const mine = pendingWrites.has(wordId);
  if (current?.id === wordId) {
    renderCard();
    if (!mine) {
      say(
        what === "deleted"
          ? `${quoted(word)} was unmarked on another device: it's a new word again.`
          : `${quoted(word)} was just updated on another device.`,
      );
    }
  }
  renderQueue();
  scheduleStats();
}

async function reload() {
  const data = await api.request("GET", "/api/v1/progress");
  records.clear();
  for (const record of data.items) records.set(record.wordId, record);
  seq = data.seq;
  return data;
}

async function onReset() {
  try {
    await reload();
    live.resume("progress", seq);
    if (current) renderCard();
    renderQueue();
    scheduleStats(0);
  } catch (error) {
    say(`Couldn't catch up with your other devices. ${describeError(error, "")}`, {
      kind: "error",
      action: { label: "Retry", run: onReset },
    });
  }
}

// ---- import of the old app's progress ---------------------------------------------------------

const importOffer = byTestId("import-offer");
const importReport = byTestId("import-report");
const importError = byTestId("import-error");

function oldProgress() {
  let raw = null;
  try {
    raw = localStorage.getItem(OLD_PROGRESS_KEY);
  } catch {
    return null;
  }
  if (raw === null || raw.trim() === "") return null;
  let count = null;
  try {
    const value = JSON.parse(raw);
    if (value && typeof value === "object" && !Array.isArray(value)) count = Object.keys(value).length;
  } catch {
    count = null;
  }
  return { raw, count };
}

function offerImport() {
  const old = oldProgress();
  if (!old || sessionStorage.getItem(IMPORT_LATER_KEY)) return;
  byTestId("import-offer-text").textContent =
    (old.count !== null
      ? `This browser still holds your progress on ${plural(old.count, "word")} from the previous vocabulary app. `
      : "This browser still holds progress saved by the previous vocabulary app. ") +
    "Import it into your account to keep your study history on every device. Nothing you've done in Tandem is overwritten: the larger counts win.";
  importError.hidden = true;
  importOffer.hidden = false;
}

byTestId("import-dismiss").addEventListener("click", () => {
  sessionStorage.setItem(IMPORT_LATER_KEY, "1");
  importOffer.hidden = true;
  say("No problem. We'll offer the import again next time you sign in.");
  $("#study").focus();
});

byTestId("import-accept").addEventListener("click", async () => {
  const old = oldProgress();
  if (!old) {
    importOffer.hidden = true;
    return;
  }
  const accept = byTestId("import-accept");
  accept.disabled = true;
  accept.textContent = "Importing…";
  importError.hidden = true;
  try {
    const report = await api.request("POST", "/api/v1/progress/import", old.raw, {
      headers: { "Content-Type": "application/json" },
    });
    localStorage.removeItem(OLD_PROGRESS_KEY);
    importOffer.hidden = true;
    showReport(report);
    await reload();
    live.resume("progress", seq);
    // Imported words may be due now: they come first, unless this card is already turned.
    if (!current || !flipped) show(pickNext(), { announceIt: false });
    else renderCard();
    renderQueue();
    scheduleStats(0);
  } catch (error) {
    if (error.code === "VALIDATION_ERROR" || error.code === "PAYLOAD_TOO_LARGE") {
      importError.textContent = `This old progress can't be imported: ${error.message}.`.replace("..", ".");
    } else {
      importError.textContent = `The import didn't go through. ${describeError(error, "Please try again.")}`;
    }
    importError.hidden = false;
  } finally {
    accept.disabled = false;
    accept.textContent = "Import my progress";
  }
});

function showReport(report) {
  byTestId("import-imported").textContent = String(report.imported);
  byTestId("import-merged").textContent = String(report.merged);
  byTestId("import-unchanged").textContent = String(report.unchanged);
  byTestId("import-rejected-count").textContent = String(report.rejected.length);
  const list = byTestId("import-rejected");
  list.replaceChildren(
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
  importReport.hidden = false;
  importReport.focus();
  say(
    `Import complete: ${report.imported} imported, ${report.merged} merged, ${report.unchanged} unchanged, ${report.rejected.length} rejected.`,
    { kind: "ok" },
  );
}

byTestId("import-close").addEventListener("click", () => {
  importReport.hidden = true;
  $("#study").focus();
});

// ---- controls and keyboard --------------------------------------------------------------------

flipButton.addEventListener("click", () => setFlipped(!flipped));
byTestId("card-stage").addEventListener("click", () => setFlipped(!flipped));
byTestId("knew").addEventListener("click", () => answer(true));
byTestId("didnt").addEventListener("click", () => answer(false));
byTestId("skip").addEventListener("click", skip);
masteredToggle.addEventListener("click", toggleMastered);

function skip() {
  if (!current) return;
  skipped.add(current.id);
  show(pickNext(current.id));
}

document.addEventListener("keydown", (event) => {
  if (!current || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest?.("input:not([type=radio]), textarea, select, [contenteditable='true']")) return;
  const onControl = target.closest?.("button, a, summary");
  const key = event.key;
  if (key === " " || key === "Spacebar") {
    if (onControl) return; // Space presses the focused button (the flip button flips)
    event.preventDefault();
    setFlipped(!flipped);
    return;
  }
  if (event.repeat) return;
  if (/^[0-5]$/.test(key)) {
    event.preventDefault();
    setConfidence(Number(key));
    return;
  }
  switch (key.toLowerCase()) {
    case "k":
      event.preventDefault();
      answer(true);
      break;
    case "d":
      event.preventDefault();
      answer(false);
      break;
    case "m":
      event.preventDefault();
      toggleMastered();
      break;
    case "s":
      event.preventDefault();
      skip();
      break;
    default:
      break;
  }
});

// ---- start ------------------------------------------------------------------------------------

async function start() {
  const loading = byTestId("loading");
  const loadError = byTestId("load-error");
  loading.hidden = false;
  loadError.hidden = true;
  try {
    await reload();
  } catch (error) {
    loading.hidden = true;
    if (!api.user) return; // signed out: the redirect is on its way
    $(".load-error-text", loadError).textContent = `Your progress couldn't be loaded. ${describeError(error, "")}`;
    loadError.hidden = false;
    return;
  }
  loaded = true;
  loading.hidden = true;
  live.subscribe("progress", {
    since: seq,
    onEvent,
    onReset,
    onError: (frame) => say(`Live sync: ${frame.message}`, { kind: "error" }),
  });
  show(pickNext(), { announceIt: false });
  scheduleStats(0);
  offerImport();
}

byTestId("load-retry").addEventListener("click", start);

// Keep "due" and "next review in …" honest as time passes.
setInterval(() => {
  if (!loaded) return;
  renderQueue();
  if (current) renderCard();
}, 30_000);

if (user) start();
