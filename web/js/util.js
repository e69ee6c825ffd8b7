// Helpers the pages share (sign-in, board, study), so that none keeps a copy: counted nouns,
// waiting, the aria-live announcer, the connection badge and times relative to now.

export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Say `text` in an aria-live `region`. Emptied first and refilled a moment later, so that a
 * screen reader reads the same sentence twice when it comes twice. */
export function announce(region, text) {
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 30);
}

/** The connection badge (`.status-dot` and `.connection-text` inside `host`) for a Live
 * status: "open" | "connecting" | "closed". */
export function showConnection(host, status, { text, title }) {
  host.dataset.status = status;
  host.querySelector(".status-dot").dataset.status = status;
  host.querySelector(".connection-text").textContent = text[status] ?? status;
  host.title = title[status] ?? "";
}

/** sessionStorage key where a class code typed at sign-up waits for the study page, which
 * joins with it once signed in (signin.js writes it, study-classes.js uses it). */
export const JOIN_CODE_KEY = "tandem-join-code";

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** `iso` relative to `now`: "in 3 hours", "5 minutes ago", "now" (under a minute ago). */
export function whenFromNow(iso, now = Date.now()) {
  const diff = Date.parse(iso) - now;
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
