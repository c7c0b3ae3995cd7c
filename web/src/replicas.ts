// Replica view: for the chosen sensor (partition), the replicas from
// /api/v1/replicas and what each one's own storage holds (/api/v1/local on
// that replica, no coordination): the newest rows with value and write time.
//
// Divergence: each replica's newest rows (up to LIMIT) are compared over the
// time span every answering replica covers, up to the newest row any replica
// held one poll earlier (rows written since may still be in flight). A
// replica that lacks a row another has there, or holds it with another write
// time, is behind; when only one row is off it must be so on two polls in a
// row to count, so that a write landing between two replicas' answers does
// not flicker. A replica
// that does not answer while others do counts as divergent too: it is not
// taking the writes the others take.

import { getJson } from "./api";
import { byId, fmtTimeMs, h, setAttr, setText, syncOptions } from "./dom";
import { model } from "./model";
import type { Sensor, SensorList } from "./sensors";
import type { LocalRows, ReplicaList } from "./types";

const LIMIT = 20;
const SHOWN = 3;

interface ReplicaRow {
  tr: HTMLTableRowElement;
  node: HTMLElement;
  state: HTMLElement;
  rows: HTMLTableCellElement;
  verdict: HTMLTableCellElement;
  behindPolls: number;
}

interface Held {
  ok: boolean;
  message: string;
  times: Map<number, number>; // row time (ms) -> newest cell writetime (us)
  oldest: number;
  newest: number;
  rows: LocalRows["rows"];
}

function rowTime(key: Record<string, unknown>): number {
  const t = key.time ?? Object.values(key)[0];
  return typeof t === "number" ? t : Date.parse(String(t));
}

function rowWritetime(cells: LocalRows["rows"][number]["cells"]): number {
  let w = 0;
  for (const c of Object.values(cells)) if (typeof c?.writetime === "number" && c.writetime > w) w = c.writetime;
  return w;
}

export class ReplicaView {
  private readonly root = byId("replica-view");
  private readonly sel = byId<HTMLSelectElement>("replica-key");
  private readonly tbody: HTMLTableSectionElement;
  private readonly note: HTMLElement;
  private readonly rows = new Map<string, ReplicaRow>();
  private sensor: Sensor | null = null;
  private replicas: ReplicaList["replicas"] = [];
  private replicasAt = 0;
  private prevNewest = 0;
  private generation = 0;

  constructor(private readonly list: SensorList) {
    this.tbody = this.root.querySelector("tbody") as HTMLTableSectionElement;
    this.note = this.root.querySelector(".panel-note") as HTMLElement;
    this.sel.addEventListener("change", () => this.choose(this.sel.value));
  }

  refreshOptions(): void {
    syncOptions(this.sel, this.list.selectGroups(false));
    if (!this.sensor && this.sel.options.length) this.choose(this.sel.options[0].value);
    else if (this.sensor) this.sel.value = `sensor:${this.sensor.key}`;
  }

  private choose(value: string): void {
    this.sensor = this.list.sensors.find((s) => `sensor:${s.key}` === value) ?? null;
    this.generation++;
    this.replicas = [];
    this.replicasAt = 0;
    this.prevNewest = 0;
    for (const r of this.rows.values()) r.tr.remove();
    this.rows.clear();
    setAttr(this.root, "data-divergent", "false");
    void this.poll();
  }

  private params(): string {
    const p = new URLSearchParams({ keyspace: model.keyspace, table: model.table });
    for (const [c, v] of Object.entries(this.sensor?.pk ?? {})) p.set(c, v);
    return p.toString();
  }

  async poll(): Promise<void> {
    const s = this.sensor;
    if (!s) return;
    const gen = this.generation;
    // The replica set changes only with the ring: ask every 5 s.
    if (Date.now() - this.replicasAt > 5000 || this.replicas.length === 0) {
      const base = model.liveBase();
      const r = model.note(base, await getJson<ReplicaList>(`${base}/api/v1/replicas?${this.params()}`));
      if (gen !== this.generation) return;
      if (!r.ok) {
        setText(this.note, r.kind === "notfound" && r.status === 404 && /endpoint/.test(r.message)
          ? "Replica view not available (the node has no /api/v1/replicas)."
          : `Replicas not available: ${r.message}`);
        if (this.replicas.length === 0) return;
      } else {
        this.replicas = r.data.replicas ?? [];
        this.replicasAt = Date.now();
      }
    }
    const held = await Promise.all(
      this.replicas.map(async (rep): Promise<Held> => {
        const node = model.nodes.find((n) => n.listen === rep.listen);
        const base = node ? model.baseOf(node) : null;
        const url = `${base ?? `${location.protocol}//${rep.http}`}/api/v1/local?${this.params()}&limit=${LIMIT}`;
        const r = await getJson<LocalRows>(url);
        if (base) model.note(base, r);
        const out: Held = { ok: r.ok || r.kind !== "unreachable", message: r.ok ? "" : r.message, times: new Map(), oldest: Infinity, newest: 0, rows: [] };
        if (r.ok) {
          out.rows = r.data.rows ?? [];
          for (const row of out.rows) {
            const t = rowTime(row.key);
            if (!Number.isFinite(t)) continue;
            out.times.set(t, rowWritetime(row.cells));
            out.oldest = Math.min(out.oldest, t);
            out.newest = Math.max(out.newest, t);
          }
        }
        return out;
      }),
    );
    if (gen !== this.generation) return;
    this.render(held);
  }

  private render(held: Held[]): void {
    const answered = held.filter((x) => x.ok && x.times.size > 0);
    // The span every answering replica covers, up to what was there a poll ago.
    const lo = Math.max(...answered.map((x) => (x.rows.length >= LIMIT ? x.oldest : -Infinity)));
    const hi = this.prevNewest;
    const union = new Map<number, number>();
    for (const x of answered) for (const [t, w] of x.times) if (t >= lo && t <= hi) union.set(t, Math.max(union.get(t) ?? 0, w));
    let divergent = false;
    const seen = new Set<string>();
    this.replicas.forEach((rep, i) => {
      const x = held[i];
      seen.add(rep.listen);
      const row = this.row(rep.listen, i);
      const state = x.ok ? "ok" : "unreachable";
      setAttr(row.tr, "data-state", state);
      setText(row.node, `${rep.listen} (${rep.dc})`);
      // Up/down from the cluster view of this very poll: the replica list
      // itself is asked only every 5 s and would lag behind the ring.
      const node = model.nodes.find((n) => n.listen === rep.listen);
      const up = node ? node.state !== "down" : rep.up;
      setText(
        row.state,
        !x.ok
          ? "not answering (connection refused or timed out)"
          : x.message
            ? `answers with an error: ${x.message}`
            : up
              ? "answering"
              : "answering, down to the cluster",
      );
      let missing = 0;
      let stale = 0;
      if (x.ok) {
        for (const [t, w] of union) {
          const mine = x.times.get(t);
          if (mine === undefined) missing++;
          else if (mine !== w) stale++;
        }
      }
      const behind = missing + stale > 0;
      row.behindPolls = behind ? row.behindPolls + 1 : 0;
      // More than one row off is no write in flight: count it at once.
      if (missing + stale > 1) row.behindPolls = Math.max(row.behindPolls, 2);
      const first = x.rows[0];
      const latestMs = first ? rowTime(first.key) : 0;
      const latestWt = first ? rowWritetime(first.cells) : 0;
      setAttr(row.tr, "data-latest-ms", x.ok && first ? String(latestMs) : "");
      setAttr(row.tr, "data-latest-writetime", x.ok && first ? String(latestWt) : "");
      this.fillRows(row.rows, x);
      let verdict = "";
      if (!x.ok) verdict = answered.length ? "cannot be read: misses the writes the others take" : "";
      else if (row.behindPolls >= 2) verdict = `behind: ${missing ? `${missing} row${missing > 1 ? "s" : ""} missing` : ""}${missing && stale ? ", " : ""}${stale ? `${stale} older` : ""}`;
      else verdict = answered.length > 1 || held.length === 1 ? "in step" : "";
      setText(row.verdict, verdict);
      const bad = (!x.ok && answered.length > 0) || row.behindPolls >= 2;
      setAttr(row.tr, "class", bad ? "diverged" : "");
      if (bad) divergent = true;
    });
    for (const [k, r] of this.rows) {
      if (!seen.has(k)) {
        r.tr.remove();
        this.rows.delete(k);
      }
    }
    this.prevNewest = Math.max(0, ...answered.map((x) => x.newest));
    setAttr(this.root, "data-divergent", divergent ? "true" : "false");
    const s = this.sensor;
    setText(
      this.note,
      s
        ? `${Object.values(s.pk).join(" / ")}: ${this.replicas.length} replicas; ${divergent ? "the replicas differ" : "the replicas agree"}.`
        : "",
    );
  }

  private fillRows(cell: HTMLTableCellElement, x: Held): void {
    const field = this.list.fields.includes("temperature") ? "temperature" : this.list.fields[0];
    setText(this.root.querySelector(".rows-head") as HTMLElement, `Newest rows it holds (time, ${field ?? "value"}, write time)`);
    if (x.ok && x.rows.length === 0) {
      setText(cell, "no rows");
      cell.dataset.sig = "";
      return;
    }
    const lines = x.rows.slice(0, SHOWN).map((row) => {
      const t = rowTime(row.key);
      const c = field ? row.cells[field] : undefined;
      const v = c ? (typeof c.value === "number" ? c.value.toFixed(1) : String(c.value)) : "–";
      const wt = c?.writetime ?? rowWritetime(row.cells);
      return [`${fmtTimeMs(t)} ${v.padStart(6)}`, `  written ${fmtTimeMs(wt / 1000)}`];
    });
    const sig = lines.join("\n");
    if (cell.dataset.sig !== sig) {
      cell.dataset.sig = sig;
      cell.replaceChildren(...lines.map(([a, b]) => h("div", {}, a, h("span", { class: "wt" }, b))));
    }
  }

  private row(listen: string, idx: number): ReplicaRow {
    let r = this.rows.get(listen);
    if (!r) {
      const node = h("div", { class: "rep-node" });
      const state = h("div", { class: "rep-state" });
      const rows = h("td", { class: "rows" });
      const verdict = h("td", { class: "verdict" });
      const tr = h("tr", { "data-testid": "replica-row", "data-node": listen }, h("td", {}, node, state), rows, verdict);
      r = { tr, node, state, rows, verdict, behindPolls: 0 };
      this.rows.set(listen, r);
    }
    if (this.tbody.children[idx] !== r.tr) this.tbody.insertBefore(r.tr, this.tbody.children[idx] ?? null);
    return r;
  }
}
