// Event timeline: every node's /api/v1/events?since=<next>, merged newest
// first and bounded. Each node keeps its own cursor; a node whose cursor
// went backwards (it restarted and its ring began again) is read from 0.

import { getJson } from "./api";
import { byId, fmtTime, h, setText } from "./dom";
import { model } from "./model";
import type { EventsPage, NodeEvent } from "./types";

const MAX_EVENTS = 200;

interface Shown {
  key: string;
  time: number;
  el: HTMLLIElement;
  group: string; // "" when the event is one node's own fact
  reporters: string[];
}

// Cluster-wide facts every node reports (a node went down, a table was
// created) are shown once, with the nodes that reported them.
const GROUPED = /^(node_|schema_change$)/;
const GROUP_WINDOW_MS = 5000;

export class EventTimeline {
  private readonly root = byId("events");
  private readonly list: HTMLOListElement;
  private readonly note: HTMLElement;
  private readonly cursor = new Map<string, number>();
  private readonly keys = new Set<string>();
  private shown: Shown[] = []; // newest first, same order as the DOM
  private notFound = new Set<string>();
  private silent = new Set<string>();

  constructor() {
    this.list = this.root.querySelector("ol") as HTMLOListElement;
    this.note = this.root.querySelector(".panel-note") as HTMLElement;
  }

  async poll(): Promise<void> {
    await Promise.all(
      model.nodes.map(async (n) => {
        const base = model.baseOf(n);
        if (!base) return;
        // After a spell of silence the node may have restarted with a new
        // ring whose sequence passed ours: read it all again (events already
        // shown are recognised by their content).
        if (this.silent.has(n.listen)) this.cursor.set(n.listen, 0);
        const since = this.cursor.get(n.listen) ?? 0;
        const r = model.note(base, await getJson<EventsPage>(`${base}/api/v1/events?since=${since}`));
        if (!r.ok) {
          if (r.kind === "notfound") this.notFound.add(n.listen);
          if (r.kind === "unreachable") this.silent.add(n.listen);
          return;
        }
        this.silent.delete(n.listen);
        this.notFound.delete(n.listen);
        const page = r.data;
        if (typeof page.next !== "number") return;
        if (page.next < since) {
          this.cursor.set(n.listen, 0); // restarted: its sequence began again
          return;
        }
        this.cursor.set(n.listen, page.next);
        for (const e of page.events ?? []) this.add(n.listen, e);
      }),
    );
    const total = model.nodes.length;
    setText(
      this.note,
      total && this.notFound.size === total
        ? "Event timeline not available (the nodes have no /api/v1/events)."
        : this.shown.length === 0
          ? "No events yet."
          : `Newest first, the last ${MAX_EVENTS} at most, from every node (what several nodes report is shown once).`,
    );
  }

  private add(node: string, e: NodeEvent): void {
    const type = String(e.type ?? "event");
    const key = `${node}|${e.time_ms}|${type}|${e.peer ?? ""}|${e.count ?? ""}|${e.message ?? ""}`;
    if (this.keys.has(key) || typeof e.time_ms !== "number") return;
    const short = node.replace(/:\d+$/, "");
    const msg = e.message ?? `${type}${e.peer ? ` ${e.peer}` : ""}${e.count ? ` (${e.count})` : ""}`;
    const group = GROUPED.test(type) ? `${type}|${e.peer ?? msg}` : "";
    if (group) {
      const same = this.shown.find((x) => x.group === group && Math.abs(x.time - e.time_ms) <= GROUP_WINDOW_MS);
      if (same) {
        this.keys.add(key);
        if (!same.reporters.includes(node)) {
          same.reporters.push(node);
          const who = same.el.querySelector(".ev-node") as HTMLElement;
          who.textContent = `${same.reporters[0].replace(/:\d+$/, "")} +${same.reporters.length - 1}`;
          who.title = `reported by ${same.reporters.join(", ")}`;
        }
        return;
      }
    }
    const el = h(
      "li",
      { "data-testid": "event", "data-type": type, "data-node": node, class: `event ev-${type.replace(/[^a-z_]/g, "")}` },
      h("time", { datetime: new Date(e.time_ms).toISOString() }, fmtTime(e.time_ms)),
      h("span", { class: "ev-type" }, type.replace(/_/g, " ")),
      h("span", { class: "ev-msg" }, msg),
      h("span", { class: "ev-node", title: `reported by ${node}` }, short),
    );
    // Insert by time, newest first (most events go to the top).
    let i = 0;
    while (i < this.shown.length && this.shown[i].time > e.time_ms) i++;
    this.list.insertBefore(el, this.shown[i]?.el ?? null);
    this.shown.splice(i, 0, { key, time: e.time_ms, el, group, reporters: [node] });
    this.keys.add(key);
    while (this.shown.length > MAX_EVENTS) {
      const old = this.shown.pop() as Shown;
      old.el.remove();
      this.keys.delete(old.key);
    }
  }
}
