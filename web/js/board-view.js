// The board's DOM: columns, cards (kept by id and reordered in place, so focus survives
// live updates), the drop placeholder, FLIP animations, presence and the connection dot.

import { STATUSES, STATUS_NAMES, mastery, pendingKey } from "./board-model.js";
import { avatarColour, chipColours, h, icon, initials, plural, reducedMotion } from "./board-util.js";
import { whenFromNow } from "./util.js";

const MOVE_MS = 320;
const PROGRESS_FLASH_MS = 1600;

/** "studied 5 minutes ago" for a card's last study (contract §9's `last_studied_at`). */
export function studiedText(iso, now = Date.now()) {
  if (!iso) return "not studied yet";
  const when = whenFromNow(iso, now);
  return `studied ${when === "now" ? "just now" : when}`;
}

export class BoardView {
  constructor(app, container) {
    this.app = app;
    this.container = container;
    this.columns = new Map(); // status -> { section, list, count, empty }
    this.elements = new Map(); // card id -> { el, parts, sig }
    this.placeholder = h("li.drop-placeholder", { "data-testid": "drop-placeholder", "aria-hidden": "true" });
    this.activeId = null;
    this.tabStop = null; // the entry of the card in the tab order
    this.build();
  }

  build() {
    this.container.replaceChildren();
    for (const status of STATUSES) {
      const titleId = `column-title-${status}`;
      // The badge shows "57"; screen readers hear "57 cards" (an aria-label on a plain span
      // is not read).
      const count = h("span.column-count", { "data-testid": `column-count-${status}`, "aria-hidden": "true" }, "0");
      const countText = h("span.visually-hidden", { "data-testid": `column-count-text-${status}` }, "0 cards");
      // A group, not a list: its cards are widgets of their own (role application, below).
      const list = h("ul.column-cards", { "data-testid": `column-cards-${status}`, "data-status": status, role: "group", "aria-labelledby": titleId });
      const add = h(
        "button.column-add",
        { type: "button", "data-testid": `add-card-${status}`, "aria-label": `New card in ${STATUS_NAMES[status]}`, title: "New card" },
        icon("plus"),
      );
      add.addEventListener("click", () => this.app.openNewCard(status));
      const empty = h("p.column-empty", { "data-testid": `column-empty-${status}` }, "No cards yet");
      const section = h(
        "section.column",
        { "data-testid": `column-${status}`, "data-status": status, "aria-labelledby": titleId },
        h("header.column-header", {}, h("span.column-swatch", { "aria-hidden": "true" }), h("h2.column-title", { id: titleId }, STATUS_NAMES[status]), count, countText, add),
        h("div.column-body", {}, list, empty),
      );
      this.container.append(section);
      this.columns.set(status, { section, list, count, countText, empty, add });
    }
  }

  /** Column names and colours from the server (the CSS tokens are the fallback). */
  setColumns(columns) {
    for (const column of columns) {
      const parts = this.columns.get(column.status_value);
      if (!parts) continue;
      parts.section.querySelector(".column-title").textContent = column.name;
      if (column.color) parts.section.style.setProperty("--col", column.color);
    }
  }

  reset() {
    for (const { list } of this.columns.values()) list.replaceChildren();
    this.elements.clear();
    this.activeId = null;
    this.tabStop = null;
  }

  /** The cards of a column in display order: pending moves where they are going, the
   * dragged card left out (it is placed by `render`). */
  layout(status) {
    const { model, pending, deleting, drag } = this.app;
    if (!pending.size) {
      // The common case, without an object per card (a render lays out every column).
      const cards = [];
      for (const card of model.cards.values()) {
        if (card.status === status && !deleting.has(card.id) && drag?.cardId !== card.id) cards.push(card);
      }
      return cards.sort((a, b) => a.position - b.position);
    }
    const items = [];
    for (const card of model.cards.values()) {
      if (deleting.has(card.id) || drag?.cardId === card.id) continue;
      const move = pending.get(card.id);
      if (move && move.version === card.updated_at) {
        if (move.status === status) items.push({ card, key: pendingKey(card, move.status, move.position) });
      } else if (card.status === status) {
        items.push({ card, key: card.position });
      }
    }
    return items.sort((a, b) => a.key - b.key).map((item) => item.card);
  }

  /** Where each card is shown right now (status), pending moves included. */
  shownStatus(card) {
    const move = this.app.pending.get(card.id);
    return move && move.version === card.updated_at ? move.status : card.status;
  }

  /** Lay every column out again. `before` (from `measure`) or `animate` slides what moved;
   * `highlights` ([{id, by}]) flash the cards other teachers changed. */
  render({ animate = false, before = null, highlights = [], progressed = [] } = {}) {
    const { model, drag } = this.app;
    if (reducedMotion()) before = null;
    else if (!before && animate) before = this.measure();
    const focused = document.activeElement;
    const seen = new Set();
    const dragCard = drag ? model.cards.get(drag.cardId) : null;
    for (const status of STATUSES) {
      const { list, count, countText, section } = this.columns.get(status);
      const cards = this.layout(status);
      const nodes = cards.map((card) => {
        seen.add(card.id);
        return this.cardElement(card);
      });
      if (drag && dragCard) {
        if (drag.status === status) {
          const node = drag.mode === "keyboard" ? this.cardElement(dragCard) : this.placeholder;
          nodes.splice(Math.min(drag.index, nodes.length), 0, node);
        }
        if (drag.mode === "pointer" && dragCard.status === status) nodes.push(this.cardElement(dragCard));
        seen.add(dragCard.id);
      }
      reconcile(list, nodes);
      const shown = cards.length + (dragCard && drag.status === status && drag.mode === "keyboard" ? 1 : 0);
      const filled = cards.length + (dragCard && drag.status === status ? 1 : 0);
      count.textContent = String(shown);
      countText.textContent = plural(shown, "card");
      section.classList.toggle("is-empty", filled === 0);
      section.classList.toggle("is-filtered-out", Boolean(model.query.status && model.query.status !== status));
      this.columns.get(status).empty.textContent = section.classList.contains("is-filtered-out")
        ? "Hidden by the status filter"
        : model.filtered ? "No cards match the filters" : "No cards yet";
      section.classList.toggle("drop-blocked", Boolean(drag?.blocked === status));
      section.classList.toggle("drop-target", Boolean(drag && drag.status === status));
    }
    for (const [id, entry] of this.elements) {
      if (!seen.has(id)) {
        entry.el.remove();
        this.elements.delete(id);
      }
    }
    this.updateRoving();
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
    if (before) this.animate(before, drag?.cardId);
    for (const { id, by } of highlights) this.flash(id, by);
    for (const id of progressed) this.flashProgress(id);
  }

  cardElement(card) {
    let entry = this.elements.get(card.id);
    if (!entry) {
      entry = this.createCard(card);
      this.elements.set(card.id, entry);
    }
    this.updateCard(entry, card);
    return entry.el;
  }

  createCard(card) {
    const select = h("input.card-select", { type: "checkbox", "data-testid": `select-${card.id}`, tabindex: "-1" });
    select.addEventListener("change", () => this.app.toggleSelect(card.id, select.checked));
    const remove = h("button.card-delete", { type: "button", "data-testid": `delete-${card.id}`, tabindex: "-1" }, icon("trash"));
    remove.addEventListener("click", () => this.app.confirmDelete(card.id));
    const title = h("p.card-title", { "data-testid": "card-title" });
    const student = h("p.card-student", { "data-testid": "card-student" });
    const category = h("span.chip", { "data-testid": "card-category" });
    const lock = h("span.lock-badge", { "data-testid": "lock-badge", hidden: true }, icon("lock"), h("span"));
    const grip = h("span.card-grip", { "aria-hidden": "true" }, icon("grip"));
    const fill = h("span.mastery-fill");
    const progressText = h("span.mastery-text", { "data-testid": "card-progress-text" });
    const progress = h(
      "div.card-progress",
      { "data-testid": "card-progress", hidden: true },
      h("span.mastery-bar", { "aria-hidden": "true" }, fill),
      progressText,
    );
    const el = h(
      "li.card",
      // An interactive role, so that a screen reader in browse mode hands Space and the
      // arrows to the keyboard drag (board-keys.js); "card" is what it is called. Not a
      // button: a card holds its own checkbox and delete button.
      { "data-testid": `card-${card.id}`, "data-card-id": card.id, tabindex: "-1", role: "application", "aria-roledescription": "card", "aria-describedby": "dnd-instructions" },
      h("div.card-top", {}, select, title, remove),
      h("div.card-foot", {}, student, category),
      progress,
      lock,
      grip,
    );
    return { el, parts: { select, remove, title, student, category, lock, grip, progress, fill, progressText }, sig: "" };
  }

  updateCard(entry, card) {
    const { app } = this;
    const me = app.me.id;
    const lockedByOther = app.model.lockedByOther(card, me);
    const selected = app.selection.has(card.id);
    const status = this.shownStatus(card);
    const bar = mastery(card.progress);
    const studied = bar ? studiedText(bar.lastStudiedAt) : "";
    // What the card shows, without where it is: a move shifts the positions of a whole
    // column, and rewriting every card of it is what made a move slow on a large board.
    const sig = [card.lesson_title, card.lesson_category, card.student_name, lockedByOther && card.locked_by_name, selected, card.locked_by === me, bar && `${bar.mastered}/${bar.words}/${bar.started}`, studied].join("|");
    const { el, parts } = entry;
    // Written only when changed (kept on the entry: reading the DOM costs too), since a
    // render goes through every card.
    if (entry.status !== status) el.dataset.status = entry.status = status;
    if (entry.position !== card.position) el.dataset.position = String((entry.position = card.position));
    if (sig === entry.sig) return;
    entry.sig = sig;
    const who = card.student_id ? card.student_name || "a student" : "template";
    parts.title.textContent = card.lesson_title;
    parts.student.replaceChildren(
      card.student_id
        ? h("span.person", {}, h("span.mini-avatar", { "aria-hidden": "true" }, initials(card.student_name)), h("span.person-name", {}, card.student_name || "Student"))
        : h("span.template-badge", {}, icon("template"), "Template"),
    );
    parts.category.textContent = card.lesson_category;
    const chip = chipColours(card.lesson_category);
    parts.category.style.setProperty("--chip-bg", chip.background);
    parts.category.style.setProperty("--chip-line", chip.line);
    parts.category.style.setProperty("--chip-ink", chip.ink);
    parts.select.checked = selected;
    parts.select.setAttribute("aria-label", `Select ${card.lesson_title} (${who})`);
    parts.remove.setAttribute("aria-label", `Delete ${card.lesson_title} (${who})`);
    parts.remove.title = "Delete card";
    this.renderProgress(parts, bar, studied);
    parts.lock.hidden = !lockedByOther;
    parts.lock.lastElementChild.textContent = lockedByOther ? `${card.locked_by_name || "Another teacher"} is editing` : "";
    el.classList.toggle("is-locked", lockedByOther);
    el.classList.toggle("is-selected", selected);
    el.classList.toggle("is-mine", card.locked_by === me);
    if (lockedByOther) el.setAttribute("aria-disabled", "true");
    else el.removeAttribute("aria-disabled");
    const lockText = lockedByOther ? `, ${card.locked_by_name || "another teacher"} is editing` : "";
    const progressText = bar ? `, ${bar.mastered} of ${plural(bar.words, "word")} mastered, ${studied}` : "";
    el.setAttribute("aria-label", `${card.lesson_title}, ${card.student_id ? card.student_name : "template card"}, ${card.lesson_category}${progressText}${selected ? ", selected" : ""}${lockText}`);
  }

  /** The mastery bar (mastered / words) and the time of the last study; hidden for a
   * template card or a student with no learner (progress null). */
  renderProgress(parts, bar, studied) {
    parts.progress.hidden = !bar;
    if (!bar) return;
    parts.progress.dataset.mastered = String(bar.mastered);
    parts.progress.dataset.words = String(bar.words);
    parts.progress.classList.toggle("is-complete", bar.words > 0 && bar.mastered === bar.words);
    parts.fill.style.width = `${Math.round(bar.share * 100)}%`;
    parts.progressText.textContent = `${bar.mastered}/${bar.words} mastered · ${studied}`;
  }

  /** A brief highlight on a card whose learner just studied (a `card.progress`); without
   * motion when the user asks for less (a tint, no animation). */
  flashProgress(id) {
    const el = this.elements.get(id)?.el;
    if (!el) return;
    if (el.classList.contains("is-progress")) {
      el.classList.remove("is-progress");
      void el.offsetWidth; // restart the animation (a forced layout: only when it runs)
    }
    el.classList.add("is-progress");
    clearTimeout(el.progressTimer);
    el.progressTimer = setTimeout(() => el.classList.remove("is-progress"), PROGRESS_FLASH_MS);
  }

  // -- focus: one card in the tab order (roving tabindex) ----------------------------------

  cardIds(status) {
    return [...this.columns.get(status).list.querySelectorAll(".card")]
      .filter((el) => !el.classList.contains("drag-source"))
      .map((el) => el.dataset.cardId);
  }

  updateRoving() {
    let active = this.activeId && this.elements.get(this.activeId)?.el.isConnected ? this.activeId : null;
    if (!active) {
      for (const status of STATUSES) {
        const ids = this.cardIds(status);
        if (ids.length) {
          active = ids[0];
          break;
        }
      }
    }
    this.activeId = active;
    // Cards are made with tabindex -1: only the old and the new tab stop change (a render
    // of 3,000 cards would otherwise write 9,000 attributes).
    const entry = active ? this.elements.get(active) : null;
    if (this.tabStop?.el === entry?.el) return;
    if (this.tabStop) setTabStop(this.tabStop, -1);
    if (entry) setTabStop(entry, 0);
    this.tabStop = entry;
  }

  setActive(id) {
    if (this.activeId === id) return;
    this.activeId = id;
    this.updateRoving();
  }

  focusCard(id) {
    const entry = this.elements.get(id);
    if (!entry) return;
    this.setActive(id);
    entry.el.focus();
    entry.el.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  /** The card next to `id` in the direction of an arrow key (not dragging). */
  neighbour(id, key) {
    const el = this.elements.get(id)?.el;
    const status = el?.closest(".column")?.dataset.status;
    if (!status) return null;
    const ids = this.cardIds(status);
    const index = ids.indexOf(id);
    if (key === "ArrowUp") return ids[index - 1] ?? null;
    if (key === "ArrowDown") return ids[index + 1] ?? null;
    if (key === "Home") return ids[0] ?? null;
    if (key === "End") return ids[ids.length - 1] ?? null;
    const step = key === "ArrowLeft" ? -1 : 1;
    for (let i = STATUSES.indexOf(status) + step; i >= 0 && i < STATUSES.length; i += step) {
      const other = this.cardIds(STATUSES[i]);
      if (other.length) return other[Math.min(index, other.length - 1)];
    }
    return null;
  }

  // -- animation -------------------------------------------------------------------------

  /** Where the cards in view are (id -> { rect, status }): the "first" of FLIP. Only cards on
   * screen (and a margin around it) are read: a move on a 3,000-card board then reads a few
   * dozen rects, not every card's. */
  measure() {
    const rects = new Map();
    for (const status of STATUSES) {
      for (const el of this.inView(status)) rects.set(el.dataset.cardId, { rect: el.getBoundingClientRect(), status });
    }
    return rects;
  }

  /** The cards of a column inside its scrolled view, the board's and the window's, with a
   * margin of a quarter of the window's height: cards stack in list order, so a binary
   * search finds the first and a walk stops after the last. */
  inView(status) {
    const { list } = this.columns.get(status);
    const body = list.parentElement.getBoundingClientRect();
    const board = this.container.getBoundingClientRect();
    const margin = innerHeight / 4;
    const top = Math.max(body.top, 0) - margin;
    const bottom = Math.min(body.bottom, innerHeight) + margin;
    if (body.right <= Math.max(board.left, 0) || body.left >= Math.min(board.right, innerWidth)) return [];
    const cards = [];
    for (const el of list.children) if (el.classList.contains("card") && !el.classList.contains("drag-source")) cards.push(el);
    let low = 0;
    let high = cards.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cards[middle].getBoundingClientRect().bottom < top) low = middle + 1;
      else high = middle;
    }
    const shown = [];
    for (let i = low; i < cards.length && cards[i].getBoundingClientRect().top <= bottom; i += 1) shown.push(cards[i]);
    return shown;
  }

  /** FLIP: each card that moved slides from where it was. Across columns a clone flies
   * above the columns (they clip their own overflow). Every position is read before any
   * animation starts, so the layout is computed once, not once per card. */
  animate(before, skipId) {
    const moved = [];
    for (const [id, old] of before) {
      if (id === skipId) continue;
      const el = this.elements.get(id)?.el;
      if (!el?.isConnected) continue;
      const rect = el.getBoundingClientRect();
      if (Math.abs(old.rect.left - rect.left) < 1 && Math.abs(old.rect.top - rect.top) < 1) continue;
      moved.push({ el, old, rect, status: el.closest(".column")?.dataset.status });
    }
    for (const { el, old, rect, status } of moved) {
      if (status === old.status) {
        const dx = old.rect.left - rect.left;
        const dy = old.rect.top - rect.top;
        el.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: "none" }], { duration: MOVE_MS, easing: "cubic-bezier(.2,.8,.2,1)" });
      } else {
        this.fly(el, old.rect, rect);
      }
    }
  }

  fly(el, from, to) {
    const clone = el.cloneNode(true);
    stripIds(clone);
    clone.classList.add("card-flying");
    clone.setAttribute("aria-hidden", "true");
    clone.style.width = `${from.width}px`;
    clone.style.left = `${from.left}px`;
    clone.style.top = `${from.top}px`;
    document.body.append(clone);
    el.classList.add("is-arriving");
    const animation = clone.animate(
      [{ transform: "none" }, { transform: `translate(${to.left - from.left}px, ${to.top - from.top}px)` }],
      { duration: MOVE_MS + 120, easing: "cubic-bezier(.2,.8,.2,1)" },
    );
    const done = () => {
      clone.remove();
      el.classList.remove("is-arriving");
    };
    animation.onfinish = done;
    animation.oncancel = done;
  }

  flash(id, by) {
    const el = this.elements.get(id)?.el;
    if (!el) return;
    if (by) el.dataset.movedBy = by;
    if (el.classList.contains("is-flash")) {
      el.classList.remove("is-flash");
      void el.offsetWidth; // restart the animation (a forced layout: only when it runs)
    }
    el.classList.add("is-flash");
    clearTimeout(el.flashTimer);
    el.flashTimer = setTimeout(() => {
      el.classList.remove("is-flash");
      delete el.dataset.movedBy;
    }, 2200);
  }

  // -- presence and connection -----------------------------------------------------------

  renderPresence(host, users) {
    const me = this.app.me.id;
    const list = host.querySelector("ul");
    const shown = users.slice(0, 5);
    list.replaceChildren(
      ...shown.map((user) => {
        const you = user.id === me;
        const avatar = h(
          "li.avatar",
          { "data-testid": "presence-user", "data-user-id": user.id, title: you ? `${user.name} (you)` : user.name },
          h("span", { "aria-hidden": "true" }, initials(user.name)),
          h("span.visually-hidden", {}, you ? `${user.name} (you)` : user.name),
        );
        avatar.style.setProperty("--avatar", avatarColour(user.id));
        if (you) avatar.classList.add("is-you");
        return avatar;
      }),
    );
    if (users.length > shown.length) list.append(h("li.avatar.more", { title: `${users.length - shown.length} more` }, `+${users.length - shown.length}`));
    const others = users.filter((user) => user.id !== me);
    host.querySelector(".presence-label").textContent = others.length
      ? `${others.map((user) => user.name).join(", ")} ${others.length === 1 ? "is" : "are"} here too`
      : "Only you";
    host.setAttribute("aria-label", `On this board: ${users.map((user) => (user.id === me ? `${user.name} (you)` : user.name)).join(", ")}`);
  }
}

function setTabStop({ el, parts }, index) {
  el.tabIndex = index;
  parts.select.tabIndex = index;
  parts.remove.tabIndex = index;
}

/** Put `nodes` into `list` in order, touching only what differs. */
function reconcile(list, nodes) {
  const wanted = new Set(nodes);
  for (const child of [...list.children]) if (!wanted.has(child)) child.remove();
  nodes.forEach((node, index) => {
    if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
  });
}

export function stripIds(element) {
  element.removeAttribute("data-testid");
  element.removeAttribute("id");
  for (const child of element.querySelectorAll("[data-testid], [id]")) {
    child.removeAttribute("data-testid");
    child.removeAttribute("id");
  }
  for (const control of element.querySelectorAll("input, button, [tabindex]")) control.setAttribute("tabindex", "-1");
  element.removeAttribute("tabindex");
}
