// Other people's changes on the board, told to screen readers (issue 18): a polite live region
// that says at most one sentence every THROTTLE_MS, a burst by one person counted ("12 changes
// by David"). A sighted teacher sees a card slide or a badge appear; without this a screen
// reader user would hear nothing. Our own changes are never repeated (the drag and the
// actions already said them); the board summary is not live, so re-renders stay silent.
//
// `newsOf` (what to say about one event) and `compose` (a burst in one sentence) are pure;
// `BoardNews` holds the throttle and writes the region.

import { STATUS_NAMES } from "./board-model.js";
import { firstName } from "./board-util.js";
import { announce } from "./util.js";

export const THROTTLE_MS = 2000; // the least time between two sentences
export const GATHER_MS = 400; // how long a first change waits for the rest of its burst

/** "Greetings for Sam", or "Greetings (template)". */
export function cardName(card) {
  if (!card) return "a card";
  return card.student_id ? `${card.lesson_title} for ${card.student_name || "a student"}` : `${card.lesson_title} (template)`;
}

/**
 * What a screen reader hears about one board event `frame`, as `{ who, text }`, or null when
 * it is ours or says nothing new. `before` is the card as it was before the event (null if
 * unknown), `after` as it is now; `me` our user id; `columns` a status -> name map.
 */
export function newsOf(frame, { before = null, after = null, me, columns = STATUS_NAMES }) {
  const actor = frame.actor || { id: null, name: "Tandem" };
  if (actor.id && actor.id === me) return null;
  const data = frame.data || {};
  const who = actor.id ? firstName(actor.name) : actor.name || "Tandem";
  const column = (status) => columns[status] || status;
  switch (frame.event) {
    case "card.moved": {
      const card = data.card;
      // Auto-advance (contract §9): the system moves a card its learner finished.
      if (!actor.id) return { who, text: `${cardName(card)} advanced to ${column(card.status)} by itself.` };
      if (data.from_status === card.status) return { who, text: `${who} reordered ${cardName(card)} in ${column(card.status)}.` };
      return { who, text: `${who} moved ${cardName(card)} to ${column(card.status)}.` };
    }
    case "card.created":
      return { who, text: `${who} added ${cardName(data)} to ${column(data.status)}.` };
    case "card.deleted":
      return before ? { who, text: `${who} deleted ${cardName(before)}.` } : null;
    case "card.locked":
      // A card this board doesn't show, or the renewal of a lock already shown: no news.
      if (!before || before.locked_by === data.locked_by) return null;
      return { who, text: `${firstName(data.locked_by_name || actor.name)} is editing ${cardName(after || before)}.` };
    case "card.unlocked":
      if (!before || !before.locked_by) return null;
      return { who, text: `${who} ${data.reason === "expired" ? "no longer holds" : "let go of"} ${cardName(after || before)}.` };
    default:
      return null;
  }
}

/** Arrivals and departures between two presence lists (others only), as news. */
export function presenceNews(previous, users, me) {
  const was = new Map(previous.map((user) => [user.id, user]));
  const now = new Map(users.map((user) => [user.id, user]));
  const news = [];
  for (const user of users) {
    if (user.id !== me && !was.has(user.id)) news.push({ who: firstName(user.name), text: `${firstName(user.name)} joined the board.` });
  }
  for (const user of previous) {
    if (user.id !== me && !now.has(user.id)) news.push({ who: firstName(user.name), text: `${firstName(user.name)} left the board.` });
  }
  return news;
}

/** A burst of news in one sentence: each person's one change as it is, several counted
 * ("12 changes by David"), in the order people first appear. */
export function compose(items) {
  const byWho = new Map();
  for (const item of items) {
    if (!byWho.has(item.who)) byWho.set(item.who, []);
    byWho.get(item.who).push(item.text);
  }
  return [...byWho].map(([who, texts]) => (texts.length === 1 ? texts[0] : `${texts.length} changes by ${who}.`)).join(" ");
}

export class BoardNews {
  constructor(region, { now = () => Date.now() } = {}) {
    this.region = region;
    this.now = now;
    this.items = [];
    this.timer = null;
    this.lastSaid = -Infinity;
  }

  /** Queue `items` ({who, text}); they are said together once the burst settles, and never
   * sooner than THROTTLE_MS after the last sentence. */
  add(...items) {
    const news = items.filter(Boolean);
    if (!news.length) return;
    this.items.push(...news);
    if (this.timer) return;
    const wait = Math.max(GATHER_MS, this.lastSaid + THROTTLE_MS - this.now());
    this.timer = setTimeout(() => this.say(), wait);
  }

  say() {
    this.timer = null;
    const items = this.items;
    this.items = [];
    if (!items.length) return;
    this.lastSaid = this.now();
    announce(this.region, compose(items));
  }

  /** Forget what waits (another classroom opened). */
  clear() {
    clearTimeout(this.timer);
    this.timer = null;
    this.items = [];
  }
}
