// Drag and drop: Pointer Events (mouse at once; touch by the grip at once or by a long
// press on the card) and the keyboard (Space/Enter, arrows, Space/Enter, Escape). Picking a
// card up takes its lock; dropping moves it with its version; letting go unlocks.

import { STATUSES, STATUS_NAMES, canMove, dropPosition } from "./board-model.js";
import { stripIds } from "./board-view.js";
import { reducedMotion } from "./board-util.js";
import { keyboard } from "./board-keys.js";

const SLOP = 6;
const LONG_PRESS_MS = 300;
const EDGE = 56;

const INTERACTIVE = "input, button, a, select, textarea, label";

export class DragController {
  constructor(app) {
    this.app = app;
    this.press = null; // a pointer that is down on a card, not yet dragging
    this.ghost = null;
    this.point = null;
    this.frame = 0;
    const board = app.view.container;
    board.addEventListener("pointerdown", (event) => this.pointerDown(event));
    board.addEventListener("keydown", (event) => this.keyDown(event));
    board.addEventListener("click", (event) => this.click(event));
    board.addEventListener("focusin", (event) => {
      const card = event.target.closest(".card");
      if (card && !card.classList.contains("drag-source")) app.view.setActive(card.dataset.cardId);
    });
    board.addEventListener("contextmenu", (event) => {
      if (this.press || app.drag) event.preventDefault();
    });
    window.addEventListener("pointermove", (event) => this.pointerMove(event));
    window.addEventListener("pointerup", (event) => this.pointerUp(event));
    window.addEventListener("pointercancel", (event) => this.pointerCancel(event));
    window.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && app.drag?.mode === "pointer") {
        event.preventDefault();
        this.cancel();
      }
    });
    // Once a touch drag has begun, the page must not scroll under the finger.
    document.addEventListener(
      "touchmove",
      (event) => {
        if (app.drag?.mode === "pointer" || this.press?.armed) event.preventDefault();
      },
      { passive: false },
    );
  }

  get drag() {
    return this.app.drag;
  }

  card(id) {
    return this.app.model.cards.get(id);
  }

  /** Whether the card may be picked up; says why not. */
  available(card) {
    const { app } = this;
    if (!card) return false;
    if (app.model.lockedByOther(card, app.me.id)) {
      app.notify(`${card.locked_by_name || "Another teacher"} is editing this card.`, "warn");
      return false;
    }
    if (app.pending.has(card.id) || app.deleting.has(card.id)) {
      app.notify("This card is still being saved. Try again in a moment.", "warn");
      return false;
    }
    return true;
  }

  originOf(card) {
    const visible = this.app.view.layout(card.status);
    return { status: card.status, index: Math.max(0, visible.findIndex((other) => other.id === card.id)) };
  }

  // -- pointer -----------------------------------------------------------------------------

  pointerDown(event) {
    if (this.drag?.mode === "keyboard") this.cancel();
    if (event.button !== 0 || this.drag || event.target.closest(INTERACTIVE)) return;
    const el = event.target.closest(".card");
    if (!el || event.shiftKey || event.ctrlKey || event.metaKey) return;
    const press = { id: el.dataset.cardId, el, pointerId: event.pointerId, x: event.clientX, y: event.clientY, armed: false, timer: 0 };
    if (event.pointerType === "mouse" || event.target.closest(".card-grip")) {
      press.armed = true;
    } else {
      press.timer = setTimeout(() => {
        if (this.press !== press) return;
        press.armed = true;
        this.start(press, press.x, press.y);
      }, LONG_PRESS_MS);
    }
    this.press = press;
  }

  pointerMove(event) {
    const press = this.press;
    if (press && event.pointerId === press.pointerId && !this.drag) {
      const far = Math.hypot(event.clientX - press.x, event.clientY - press.y) > SLOP;
      if (!press.armed) {
        if (far) this.clearPress(); // the finger is scrolling
        return;
      }
      if (far) this.start(press, event.clientX, event.clientY);
      return;
    }
    if (this.drag?.mode === "pointer" && event.pointerId === this.drag.pointerId) {
      event.preventDefault();
      this.point = { x: event.clientX, y: event.clientY };
      this.moveGhost();
      this.hitTest();
    }
  }

  pointerUp(event) {
    if (this.press && event.pointerId === this.press.pointerId && !this.drag) {
      this.clearPress();
      return;
    }
    if (this.drag?.mode === "pointer" && event.pointerId === this.drag.pointerId) this.drop();
  }

  pointerCancel(event) {
    if (this.press && event.pointerId === this.press.pointerId) this.clearPress();
    if (this.drag?.mode === "pointer" && event.pointerId === this.drag.pointerId) this.cancel();
  }

  clearPress() {
    if (this.press) clearTimeout(this.press.timer);
    this.press = null;
  }

  start(press, x, y) {
    const { app } = this;
    this.clearPress();
    const card = this.card(press.id);
    if (!this.available(card)) return;
    const el = app.view.elements.get(card.id)?.el;
    if (!el) return;
    const rect = el.getBoundingClientRect();
    const origin = this.originOf(card);
    const ghost = el.cloneNode(true);
    stripIds(ghost);
    ghost.classList.add("drag-ghost");
    ghost.setAttribute("data-testid", "drag-ghost");
    ghost.setAttribute("aria-hidden", "true");
    ghost.style.width = `${rect.width}px`;
    ghost.style.left = `${rect.left}px`;
    ghost.style.top = `${rect.top}px`;
    document.body.append(ghost);
    this.ghost = { el: ghost, dx: x - rect.left, dy: y - rect.top, left: rect.left, top: rect.top };
    app.view.placeholder.style.height = `${rect.height}px`;
    el.classList.add("drag-source");
    try {
      el.setPointerCapture(press.pointerId);
    } catch {
      // The window listeners follow the pointer anyway.
    }
    document.body.classList.add("is-dragging");
    app.drag = {
      cardId: card.id,
      mode: "pointer",
      pointerId: press.pointerId,
      status: origin.status,
      index: origin.index,
      origin,
      blocked: null,
      lock: app.pickUp(card),
    };
    const drag = app.drag;
    drag.lock.then((ok) => {
      if (!ok && this.drag === drag) this.cancel({ quiet: true });
    });
    this.point = { x, y };
    this.moveGhost();
    app.render();
    app.announce(`Picked up ${app.describe(card)}.`);
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.autoScroll());
  }

  moveGhost() {
    if (!this.ghost || !this.point) return;
    const { el, dx, dy, left, top } = this.ghost;
    el.style.transform = `translate(${this.point.x - dx - left}px, ${this.point.y - dy - top}px) rotate(2deg)`;
  }

  /** Which column and index the pointer is over; forward jumps are refused. */
  hitTest() {
    const drag = this.drag;
    if (!drag || !this.point) return;
    const { x, y } = this.point;
    const column = document.elementFromPoint(x, y)?.closest(".column");
    if (!column) return;
    const status = column.dataset.status;
    let next = { status, index: 0, blocked: null };
    if (!canMove(drag.origin.status, status)) {
      next = { status: drag.origin.status, index: drag.origin.index, blocked: status };
    } else {
      const cards = [...column.querySelectorAll(".column-cards > .card:not(.drag-source)")];
      const index = cards.findIndex((el) => {
        const rect = el.getBoundingClientRect();
        return y < rect.top + rect.height / 2;
      });
      next.index = index < 0 ? cards.length : index;
    }
    if (next.status === drag.status && next.index === drag.index && next.blocked === drag.blocked) return;
    const announceColumn = next.status !== drag.status || next.blocked !== drag.blocked;
    Object.assign(drag, next);
    this.app.render();
    if (announceColumn) {
      this.app.announce(
        next.blocked ? this.blockedSentence(drag.origin.status, next.blocked) : `Over ${STATUS_NAMES[next.status]}.`,
      );
    }
  }

  autoScroll() {
    const drag = this.drag;
    if (!drag || drag.mode !== "pointer" || !this.point) return;
    const { x, y } = this.point;
    const scroller = this.app.view.container;
    const box = scroller.getBoundingClientRect();
    let moved = false;
    const speed = (distance) => Math.ceil(((EDGE - distance) / EDGE) * 18);
    if (x < box.left + EDGE && scroller.scrollLeft > 0) {
      scroller.scrollLeft -= speed(x - box.left);
      moved = true;
    } else if (x > box.right - EDGE && scroller.scrollLeft < scroller.scrollWidth - scroller.clientWidth) {
      scroller.scrollLeft += speed(box.right - x);
      moved = true;
    }
    const body = document.elementFromPoint(x, y)?.closest(".column")?.querySelector(".column-body");
    if (body) {
      const inner = body.getBoundingClientRect();
      if (y < inner.top + EDGE && body.scrollTop > 0) {
        body.scrollTop -= speed(Math.max(0, y - inner.top));
        moved = true;
      } else if (y > inner.bottom - EDGE && body.scrollTop < body.scrollHeight - body.clientHeight) {
        body.scrollTop += speed(Math.max(0, inner.bottom - y));
        moved = true;
      }
    }
    if (moved) this.hitTest();
    this.frame = requestAnimationFrame(() => this.autoScroll());
  }

  endPointerVisuals(card) {
    cancelAnimationFrame(this.frame);
    document.body.classList.remove("is-dragging");
    const el = card ? this.app.view.elements.get(card.id)?.el : null;
    el?.classList.remove("drag-source");
    const ghost = this.ghost;
    this.ghost = null;
    if (!ghost) return;
    if (!el || !el.isConnected || reducedMotion()) {
      ghost.el.remove();
      return;
    }
    // Let the ghost settle where the card now is, then show the card.
    const to = el.getBoundingClientRect();
    el.classList.add("is-arriving");
    const animation = ghost.el.animate(
      [{ transform: ghost.el.style.transform }, { transform: `translate(${to.left - ghost.left}px, ${to.top - ghost.top}px)` }],
      { duration: 160, easing: "ease-out" },
    );
    const done = () => {
      ghost.el.remove();
      el.classList.remove("is-arriving");
    };
    animation.onfinish = done;
    animation.oncancel = done;
  }

  // -- drop and cancel (both modes) --------------------------------------------------------

  drop() {
    const { app } = this;
    const drag = this.drag;
    if (!drag) return;
    const card = this.card(drag.cardId);
    if (drag.blocked) {
      app.notify(`${this.blockedSentence(drag.origin.status, drag.blocked)} It's back where it was.`, "warn");
      this.cancel({ quiet: true });
      return;
    }
    const visible = app.view.layout(drag.status);
    const position = card ? dropPosition(card, drag.status, visible, drag.index, { filtered: app.model.filtered }) : 0;
    app.drag = null;
    app.view.elements.get(drag.cardId)?.el.classList.remove("is-lifted");
    if (!card) {
      this.endPointerVisuals(null);
      app.render();
      return;
    }
    const unchanged = drag.status === card.status && position === card.position;
    if (!unchanged) app.pending.set(card.id, { status: drag.status, position, version: card.updated_at });
    app.render();
    if (drag.mode === "pointer") this.endPointerVisuals(card);
    else app.view.focusCard(card.id);
    if (unchanged) {
      app.announce(`Dropped ${card.lesson_title} back where it was.`);
      app.letGo(card, drag.lock);
    } else {
      const shown = app.view.layout(drag.status);
      const at = shown.findIndex((other) => other.id === card.id) + 1;
      app.announce(`Dropped ${card.lesson_title} in ${STATUS_NAMES[drag.status]}, position ${at} of ${shown.length}.`);
      app.dropMove(card, drag.status, position, drag.lock);
    }
  }

  cancel({ quiet = false } = {}) {
    const { app } = this;
    const drag = this.drag;
    if (!drag) return;
    const card = this.card(drag.cardId);
    app.drag = null;
    app.view.elements.get(drag.cardId)?.el.classList.remove("is-lifted");
    app.render({ animate: drag.mode === "keyboard" });
    if (drag.mode === "pointer") this.endPointerVisuals(card);
    else if (card) app.view.focusCard(card.id);
    if (card) {
      if (!quiet) app.announce(`Cancelled. ${card.lesson_title} is back in ${STATUS_NAMES[card.status]}.`);
      app.letGo(card, drag.lock);
    }
  }

  blockedSentence(from, to) {
    const next = STATUSES[STATUSES.indexOf(from) + 1];
    return `Cards move forward one column at a time: from ${STATUS_NAMES[from]} it can go to ${STATUS_NAMES[next]}, not ${STATUS_NAMES[to]}.`;
  }

  click(event) {
    const el = event.target.closest(".card");
    if (!el || event.target.closest(INTERACTIVE)) return;
    const id = el.dataset.cardId;
    if (event.shiftKey) this.app.selectRange(id);
    else if (event.ctrlKey || event.metaKey) this.app.toggleSelect(id);
    else return;
    event.preventDefault();
  }
}

Object.assign(DragController.prototype, keyboard);
