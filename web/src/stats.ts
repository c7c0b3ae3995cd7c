// Per-node /api/v1/stats snapshots, and what two snapshots say: request
// rates and latency quantiles computed from histogram bucket deltas exactly
// as Prometheus' histogram_quantile() does (linear interpolation inside the
// bucket that holds the rank; the +Inf bucket answers the highest finite
// bound).

import { getJson } from "./api";
import { model } from "./model";
import type { HistEntry, Stats } from "./types";

export interface Snap {
  t: number; // browser time of receipt, ms
  s: Stats;
}

export type StatsState = "ok" | "notfound" | "unreachable" | "error";

const KEEP_MS = 15000;

export function histogramQuantile(q: number, bounds: number[], buckets: number[]): number {
  const n = buckets.length;
  if (n === 0 || n !== bounds.length + 1) return NaN;
  const total = buckets[n - 1];
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let i = 0;
  while (i < n - 1 && buckets[i] < rank) i++;
  if (i === n - 1) return bounds[bounds.length - 1]; // in the +Inf bucket
  const upper = bounds[i];
  const lower = i === 0 ? (upper > 0 ? 0 : upper) : bounds[i - 1];
  const below = i === 0 ? 0 : buckets[i - 1];
  const inBucket = buckets[i] - below;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}

export function entryKey(e: HistEntry): string {
  return `${e.op}|${e.consistency ?? ""}|${e.outcome}`;
}

export interface Delta {
  op: string;
  consistency: string;
  outcome: string;
  count: number;
  seconds: number; // length of the window
  buckets: number[];
}

/** Request deltas of one node between its newest snapshot and the oldest one
 * at most windowMs older. Empty when there are not two snapshots yet. */
export function deltas(snaps: Snap[] | undefined, windowMs: number): Delta[] {
  if (!snaps || snaps.length < 2) return [];
  const last = snaps[snaps.length - 1];
  let first = snaps[snaps.length - 2];
  for (let i = snaps.length - 2; i >= 0; i--) {
    if (last.t - snaps[i].t > windowMs + 200) break;
    first = snaps[i];
  }
  const seconds = Math.max(0.001, (last.s.time_ms - first.s.time_ms) / 1000 || (last.t - first.t) / 1000);
  const before = new Map<string, HistEntry>();
  for (const e of first.s.requests ?? []) before.set(entryKey(e), e);
  const out: Delta[] = [];
  for (const e of last.s.requests ?? []) {
    const b = before.get(entryKey(e));
    const buckets = e.buckets.map((v, i) => v - (b?.buckets[i] ?? 0));
    out.push({
      op: e.op,
      consistency: e.consistency ?? "",
      outcome: e.outcome,
      count: e.count - (b?.count ?? 0),
      seconds,
      buckets,
    });
  }
  return out;
}

/** Per-second rate of one cumulative counter of a node over the last
 * windowMs (same window rule as deltas()); null without two snapshots or
 * when the counter is missing. */
export function counterRate(snaps: Snap[] | undefined, windowMs: number, get: (s: Stats) => number | undefined): number | null {
  if (!snaps || snaps.length < 2) return null;
  const last = snaps[snaps.length - 1];
  let first = snaps[snaps.length - 2];
  for (let i = snaps.length - 2; i >= 0; i--) {
    if (last.t - snaps[i].t > windowMs + 200) break;
    first = snaps[i];
  }
  const a = get(first.s);
  const b = get(last.s);
  if (typeof a !== "number" || typeof b !== "number" || b < a) return null;
  const seconds = Math.max(0.001, (last.s.time_ms - first.s.time_ms) / 1000 || (last.t - first.t) / 1000);
  return (b - a) / seconds;
}

export class StatsStore {
  readonly snaps = new Map<string, Snap[]>(); // by node listen address
  readonly state = new Map<string, StatsState>();
  readonly message = new Map<string, string>();

  latest(listen: string): Stats | undefined {
    const s = this.snaps.get(listen);
    return s && s.length ? s[s.length - 1].s : undefined;
  }

  async poll(): Promise<void> {
    await Promise.all(
      model.nodes.map(async (n) => {
        const base = model.baseOf(n);
        if (!base) return;
        const r = model.note(base, await getJson<Stats>(`${base}/api/v1/stats`));
        if (!r.ok) {
          this.state.set(n.listen, r.kind);
          this.message.set(n.listen, r.message);
          if (r.kind === "unreachable") this.snaps.delete(n.listen);
          return;
        }
        this.state.set(n.listen, "ok");
        const s = r.data;
        if (!Array.isArray(s.requests) || !Array.isArray(s.bounds)) return;
        if (base === location.origin || !model.nodes.some((m) => model.baseOf(m) === location.origin))
          model.noteServerTime(s.time_ms);
        const now = Date.now();
        let list = this.snaps.get(n.listen) ?? [];
        const prev = list[list.length - 1];
        // A restarted node starts its counters again: forget the old ones.
        if (prev && s.uptime_seconds < prev.s.uptime_seconds) list = [];
        list.push({ t: now, s });
        while (list.length > 2 && now - list[0].t > KEEP_MS) list.shift();
        this.snaps.set(n.listen, list);
      }),
    );
    for (const k of [...this.snaps.keys()]) if (!model.nodes.some((n) => n.listen === k)) this.snaps.delete(k);
  }
}

export const stats = new StatsStore();
