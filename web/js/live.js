// The live connection: one websocket per page, authenticated by its first frame, that
// resubscribes with `since` after every reconnect (docs/realtime.md, "How a client recovers").
//
//   const live = new Live(api);
//   live.subscribe("progress", { since, onEvent, onReset, onPresence, onSubscribed, onError,
//                               onUnsubscribed });
//
// `unsubscribed` (the server ended a subscription, e.g. reason "removed": the teacher was
// removed from the classroom, contract §7) forgets the channel, so a reconnect never asks
// for it again, and then tells the page.
//   live.onStatus((status) => …);   // "connecting" | "open" | "closed"

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

export class Live {
  constructor(api) {
    this.api = api;
    this.channels = new Map(); // channel -> { handlers, seq }
    this.statusListeners = new Set();
    this.socket = null;
    this.attempt = 0;
    this.status = "closed";
    this.stopped = false;
    this.pingTimer = null;
    api.onChange((user) => {
      if (!user) this.close();
      else if (this.socket?.readyState === WebSocket.OPEN) this.sendAuth();
    });
  }

  onStatus(listener) {
    this.statusListeners.add(listener);
    listener(this.status);
    return () => this.statusListeners.delete(listener);
  }

  setStatus(status) {
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }

  /** Listen to a channel; `since` is the seq the caller's state already reflects. */
  subscribe(channel, { since = null, ...handlers }) {
    this.channels.set(channel, { handlers, seq: since });
    if (this.socket?.readyState === WebSocket.OPEN && this.authed) this.sendSubscribe(channel);
    else this.connect();
  }

  unsubscribe(channel) {
    this.channels.delete(channel);
    if (this.socket?.readyState === WebSocket.OPEN) this.send({ type: "unsubscribe", channel });
  }

  /** After re-reading over REST at `seq`: continue from there. */
  resume(channel, seq) {
    const entry = this.channels.get(channel);
    if (entry) entry.seq = seq;
  }

  connect() {
    if (this.socket || this.stopped || !this.api.accessToken) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    this.socket = socket;
    this.authed = false;
    this.setStatus("connecting");
    socket.addEventListener("open", () => this.sendAuth());
    socket.addEventListener("message", (message) => this.receive(JSON.parse(message.data)));
    socket.addEventListener("close", () => this.closed(socket));
  }

  close() {
    this.stopped = true;
    this.socket?.close(1000);
  }

  sendAuth() {
    this.send({ type: "auth", token: this.api.accessToken });
  }

  send(frame) {
    this.socket?.send(JSON.stringify(frame));
  }

  sendSubscribe(channel) {
    const entry = this.channels.get(channel);
    const frame = { type: "subscribe", channel, ref: channel };
    if (entry?.seq !== null && entry?.seq !== undefined) frame.since = entry.seq;
    this.send(frame);
  }

  retrySubscribe(channel, entry) {
    entry.retries = (entry.retries ?? 0) + 1;
    const delay = BACKOFF_MS[Math.min(entry.retries - 1, BACKOFF_MS.length - 1)] * (0.5 + Math.random());
    this.setStatus("connecting");
    setTimeout(() => {
      const current = this.channels.get(channel);
      if (current !== entry || this.socket?.readyState !== WebSocket.OPEN || !this.authed) return;
      this.sendSubscribe(channel);
    }, delay);
  }

  receive(frame) {
    const entry = frame.channel ? this.channels.get(frame.channel) : null;
    switch (frame.type) {
      case "auth_ok":
        if (!this.authed) {
          this.authed = true;
          this.attempt = 0;
          this.setStatus("open");
          for (const channel of this.channels.keys()) this.sendSubscribe(channel);
          clearInterval(this.pingTimer);
          this.pingTimer = setInterval(() => this.send({ type: "ping" }), 25_000);
        }
        break;
      case "subscribed":
        if (entry?.retries) {
          entry.retries = 0;
          this.setStatus("open");
        }
        if (entry) {
          if (entry.seq === null || entry.seq === undefined) entry.seq = frame.seq;
          entry.handlers.onSubscribed?.(frame);
        }
        break;
      case "event":
        if (!entry) break;
        if (entry.seq !== null && frame.seq <= entry.seq) break; // already reflected
        entry.seq = frame.seq;
        entry.handlers.onEvent?.(frame);
        break;
      case "reset":
        if (entry) entry.handlers.onReset?.(frame);
        break;
      case "unsubscribed":
        if (entry) {
          this.channels.delete(frame.channel);
          entry.handlers.onUnsubscribed?.(frame);
        }
        break;
      case "presence":
        entry?.handlers.onPresence?.(frame.users);
        break;
      case "error": {
        const target = frame.ref ? this.channels.get(frame.ref) : null;
        if (target && frame.code === "SERVICE_UNAVAILABLE") {
          // The server's database is away for a moment (contract §7): subscribe again
          // with the same `since` after a backoff, quietly; the badge says "connecting".
          this.retrySubscribe(frame.ref, target);
          break;
        }
        target?.handlers.onError?.(frame);
        break;
      }
      default:
        break;
    }
  }

  closed(socket) {
    if (this.socket !== socket) return;
    this.socket = null;
    this.authed = false;
    clearInterval(this.pingTimer);
    this.setStatus("closed");
    if (this.stopped || !this.channels.size) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] * (0.5 + Math.random());
    this.attempt += 1;
    // Refresh first when the token is about to end (what a 4401 close usually means).
    setTimeout(() => {
      const soon = (this.api.session?.expires_at ?? 0) - Date.now() < 60_000;
      const ready = soon ? this.api.refresh().catch(() => {}) : Promise.resolve();
      ready.finally(() => this.connect());
    }, delay);
  }
}
