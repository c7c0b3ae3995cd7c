// Small DOM helpers: build elements, and change text/attributes only when the
// value differs, so that a tick that changes nothing touches nothing.

type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) el.append(c);
  return el;
}

export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setAttr(el: Element, name: string, value: string): void {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el as T;
}

/** Keeps a <select>'s options equal to opts without disturbing the choice. */
export function syncOptions(
  sel: HTMLSelectElement,
  groups: { label: string; options: { value: string; text: string }[] }[],
): void {
  const want = JSON.stringify(groups);
  if (sel.dataset.options === want) return;
  const keep = sel.value;
  sel.replaceChildren();
  for (const g of groups) {
    if (g.options.length === 0) continue;
    const og = h("optgroup", { label: g.label });
    for (const o of g.options) og.append(h("option", { value: o.value }, o.text));
    sel.append(og);
  }
  sel.dataset.options = want;
  if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

// Tableau 10: distinct on a projector and for most colour-blind viewers.
export const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];

export function fmtTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtTimeMs(ms: number): string {
  return `${fmtTime(ms)}.${String(Math.floor(ms % 1000)).padStart(3, "0")}`;
}

/** uPlot `values` for a time axis (seconds): wall-clock labels like the
 * rest of the page ("17:31:30"), with milliseconds only for sub-second
 * ticks; no date row. */
export function timeAxisValues(_u: unknown, splits: number[], _axis: number, _space: number, incr: number): string[] {
  return splits.map((v) => (v == null ? "" : incr < 1 ? fmtTimeMs(v * 1000) : fmtTime(v * 1000)));
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${u[i]}`;
}

export function fmtNum(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 100) return Math.round(n).toString();
  return n.toFixed(digits);
}
