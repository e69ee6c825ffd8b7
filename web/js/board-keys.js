// Keyboard drag and drop, mixed into the DragController (`this` is the controller): a
// focused card picks up with Space or Enter (taking its lock), the arrows move it across
// positions and columns, Space or Enter drops it, Escape cancels. Each step is announced.

import { STATUSES, STATUS_NAMES, canMove } from "./board-model.js";

export const keyboard = {
  keyDown(event) {
    const el = event.target.closest(".card");
    if (!el || event.target !== el) return;
    const id = el.dataset.cardId;
    const drag = this.drag;
    if (drag?.mode === "keyboard" && drag.cardId === id) {
      this.keyboardDragKey(event);
      return;
    }
    if (drag) return;
    const { app } = this;
    switch (event.key) {
      case " ":
      case "Enter":
        event.preventDefault();
        if (event.shiftKey || event.ctrlKey || event.metaKey) app.toggleSelect(id);
        else this.pickUpByKeyboard(id);
        break;
      case "ArrowUp":
      case "ArrowDown":
      case "ArrowLeft":
      case "ArrowRight":
      case "Home":
      case "End": {
        event.preventDefault();
        const next = app.view.neighbour(id, event.key);
        if (next) app.view.focusCard(next);
        break;
      }
      case "x":
      case "X":
        event.preventDefault();
        app.toggleSelect(id);
        break;
      case "Delete":
      case "Backspace":
        event.preventDefault();
        app.confirmDelete(id);
        break;
      case "Escape":
        if (app.selection.size) app.clearSelection();
        break;
      default:
        break;
    }
  },

  async pickUpByKeyboard(id) {
    const { app } = this;
    const card = this.card(id);
    if (!this.available(card)) {
      if (card) app.announce(`${app.describe(card)} can't be picked up right now.`);
      return;
    }
    const lock = app.pickUp(card);
    if (!(await lock) || this.drag) return;
    const fresh = this.card(id);
    if (!fresh) return;
    const origin = this.originOf(fresh);
    app.drag = { cardId: id, mode: "keyboard", status: origin.status, index: origin.index, origin, blocked: null, lock };
    app.view.elements.get(id)?.el.classList.add("is-lifted");
    app.render();
    app.view.focusCard(id);
    app.announce(
      `Picked up ${app.describe(fresh)}. ${this.where()} Arrow keys move it, Space or Enter drops it, Escape cancels.`,
    );
  },

  where() {
    const drag = this.drag;
    const total = this.app.view.layout(drag.status).length + 1;
    return `${STATUS_NAMES[drag.status]}, position ${drag.index + 1} of ${total}.`;
  },

  keyboardDragKey(event) {
    const drag = this.drag;
    const { app } = this;
    const count = (status) => app.view.layout(status).length; // the dragged card left out
    const column = STATUSES.indexOf(drag.status);
    let handled = true;
    let sentence = null;
    switch (event.key) {
      case "ArrowUp":
        if (drag.index > 0) drag.index -= 1;
        else sentence = "Already at the top.";
        break;
      case "ArrowDown":
        if (drag.index < count(drag.status)) drag.index += 1;
        else sentence = "Already at the bottom.";
        break;
      case "Home":
        drag.index = 0;
        break;
      case "End":
        drag.index = count(drag.status);
        break;
      case "ArrowLeft":
        if (column > 0) {
          drag.status = STATUSES[column - 1];
          drag.index = Math.min(drag.index, count(drag.status));
        } else sentence = "This is the first column.";
        break;
      case "ArrowRight": {
        const next = STATUSES[column + 1];
        if (!next) sentence = "This is the last column.";
        else if (!canMove(drag.origin.status, next)) sentence = this.blockedSentence(drag.origin.status, next);
        else {
          drag.status = next;
          drag.index = Math.min(drag.index, count(next));
        }
        break;
      }
      case " ":
      case "Enter":
        event.preventDefault();
        this.drop();
        return;
      case "Escape":
        event.preventDefault();
        this.cancel();
        return;
      case "Tab":
        sentence = "Drop the card with Space or Enter, or cancel with Escape, before leaving it.";
        break;
      default:
        handled = false;
    }
    if (!handled) return;
    event.preventDefault();
    app.render({ animate: true });
    app.view.focusCard(drag.cardId);
    app.announce(sentence || this.where());
  },
};
