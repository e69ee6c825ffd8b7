// Small DOM and formatting helpers for the board. User data always goes in as text.
// `plural` and `sleep` are the pages' shared ones (util.js), passed on for the board's modules.

export { plural, sleep } from "./util.js";

/** h("div.card", {attrs}, ...children): an element; strings become text nodes. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const element = document.createElement(tag || "div");
  if (classes.length) element.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") element.textContent = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";
const PATHS = {
  lock: ["M7 11V8a5 5 0 0 1 10 0v3", "M5 11h14v10H5z"],
  trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13", "M10 11v6", "M14 11v6"],
  plus: ["M12 5v14", "M5 12h14"],
  grip: ["M9 6h.01", "M15 6h.01", "M9 12h.01", "M15 12h.01", "M9 18h.01", "M15 18h.01"],
  close: ["M6 6l12 12", "M18 6L6 18"],
  filter: ["M4 5h16l-6 8v5l-4 2v-7z"],
  users: ["M16 19v-1a4 4 0 0 0-4-4H7a4 4 0 0 0-4 4v1", "M9.5 10a3 3 0 1 0 0-6 3 3 0 0 0 0 6", "M21 19v-1a4 4 0 0 0-3-3.9", "M16 4.1a3 3 0 0 1 0 5.8"],
  move: ["M5 12h14", "M13 6l6 6-6 6"],
  key: ["M15 7a4 4 0 1 1-3.9 5H3v3h3v2h3v-2h2.1", "M16 7h.01"],
  logout: ["M15 4h4v16h-4", "M10 8l-4 4 4 4", "M6 12h10"],
  book: ["M4 5a2 2 0 0 1 2-2h13v16H6a2 2 0 0 0-2 2z", "M4 19V5"],
  template: ["M4 4h16v16H4z", "M4 9h16", "M9 9v11"],
};

/** An inline icon (stroke paths), hidden from assistive technology. */
export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of PATHS[name] || []) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return "?";
  const first = parts[0][0] || "";
  const last = parts.length > 1 ? parts[parts.length - 1][0] : "";
  return (first + last).toUpperCase();
}

function hash(text) {
  let value = 0;
  for (const char of String(text)) value = (value * 31 + char.codePointAt(0)) >>> 0;
  return value;
}

/** A stable hue for a person or a category. */
export function hueOf(text) {
  return hash(text) % 360;
}

/** [r, g, b] (0–255) of hsl(h s% l%). */
export function hslToRgb(h, s, l) {
  const a = (s / 100) * Math.min(l / 100, 1 - l / 100);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l / 100 - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** WCAG 2.1 relative luminance of [r, g, b] (0–255). */
export function luminance(rgb) {
  const [r, g, b] = rgb.map((value) => {
    const c = value / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2.1 contrast ratio of two [r, g, b] colours. */
export function contrast(a, b) {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

// Text must keep 4.5:1 (WCAG 1.4.3); the margin absorbs the rounding of a browser's colours.
const TEXT_CONTRAST = 4.6;
const WHITE = [255, 255, 255];
const css = ([r, g, b]) => `rgb(${r} ${g} ${b})`;

/** The darkest-needed shade of `hue` (saturation `s`), from lightness `l` down, that keeps
 * TEXT_CONTRAST against `against`. Hues differ a lot in luminance (yellow is bright, blue
 * dark), so one lightness for all would fail some people's colours. */
function readableShade(hue, s, l, against) {
  for (let shade = l; shade > 0; shade -= 1) {
    const rgb = hslToRgb(hue, s, shade);
    if (contrast(rgb, against) >= TEXT_CONTRAST) return rgb;
  }
  return [0, 0, 0];
}

// Worked out once per hue: a 3,000-card board asks for the same few categories again and again.
const avatars = new Map();
const chips = new Map();

/** A person's avatar background (white initials on it), from their id: >= 4.5:1 for any id. */
export function avatarColour(key) {
  const hue = hueOf(key);
  if (!avatars.has(hue)) avatars.set(hue, css(readableShade(hue, 55, 46, WHITE)));
  return avatars.get(hue);
}

/** A category chip's colours from its name: a pale tint, its line, and ink >= 4.5:1 on it. */
export function chipColours(text) {
  const hue = hueOf(text);
  if (!chips.has(hue)) {
    const background = hslToRgb(hue, 75, 95);
    chips.set(hue, { background: css(background), line: css(hslToRgb(hue, 60, 88)), ink: css(readableShade(hue, 50, 30, background)) });
  }
  return chips.get(hue);
}

export function firstName(name) {
  return String(name || "").trim().split(/\s+/)[0] || "Someone";
}

export const reducedMotion = () => window.matchMedia("(prefers-reduced-motion: reduce)").matches;
