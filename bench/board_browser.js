// The page side of bench/board_browser.py, installed before the app's scripts: long tasks,
// websocket frames of card moves, the last key pressed, the first card painted, and a
// promise for "this card is in that column and painted". Times are performance.now() (ms
// since navigation start) unless named `epoch` (ms since 1970, to compare with the bench's
// own clock).
(() => {
  const bench = { longTasks: [], frames: [], firstCard: null, firstCardInDom: null, lastKey: null };
  window.__bench = bench;
  // A frame was produced once a task posted from its requestAnimationFrame runs.
  bench.afterPaint = () => new Promise((resolve) => requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve(performance.now());
    channel.port2.postMessage(null);
  }));
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) bench.longTasks.push({ start: entry.startTime, duration: entry.duration });
  }).observe({ type: "longtask", buffered: true });
  addEventListener("keydown", (event) => { bench.lastKey = { key: event.key, at: event.timeStamp }; }, true);
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string" && event.data.includes("card.moved")) bench.frames.push({ at: performance.now(), data: event.data });
      });
    }
  };
  const watcher = new MutationObserver(() => {
    if (bench.firstCardInDom === null && document.querySelector(".card")) {
      bench.firstCardInDom = performance.now();
      watcher.disconnect();
      bench.afterPaint().then((at) => { bench.firstCard = at; });
    }
  });
  watcher.observe(document, { childList: true, subtree: true });
  /** Resolves, with the paint time, once card `id` is in column `status` and painted. */
  bench.landed = (id, status) => new Promise((resolve) => {
    const list = document.querySelector(`[data-testid="column-cards-${status}"]`);
    const there = () => list.querySelector(`:scope > [data-testid="card-${id}"]`) !== null;
    const done = () => bench.afterPaint().then((at) => resolve({ at, epoch: performance.timeOrigin + at }));
    if (there()) return done();
    const observer = new MutationObserver(() => {
      if (!there()) return;
      observer.disconnect();
      done();
    });
    observer.observe(list, { childList: true });
  });
})();
