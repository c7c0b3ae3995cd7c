// Per-node throughput and latency from /api/v1/stats: two uPlot time series
// (requests/s and p99 per node, writes solid, reads dashed) over a fixed
// two-minute time axis, and a table with one row per (node, op,
// consistency, outcome): rate, p50, p99 over the last few seconds. The
// table's rows are kept and updated in place. The headline adds the points
// ingested per second (a write request carries a batch of points).

import uPlot from "uplot";
import { byId, fmtNum, h, setAttr, setText, timeAxisValues } from "./dom";
import { model } from "./model";
import { counterRate, deltas, histogramQuantile, stats, type Delta } from "./stats";

const RATE_WINDOW_MS = 3000; // rates: short, so a dead node shows at once
const QUANTILE_WINDOW_MS = 10000; // quantiles: longer, for enough samples
// A fixed time axis: right after load it would otherwise span a second or
// two and be labelled in fractions of a second.
const AXIS_S = 120;
const HISTORY = AXIS_S + 5; // chart points (one per poll, about 1/s)

const isWrite = (op: string) => op === "write";
const isRead = (op: string) => op === "read" || op === "range";

interface RowRef {
  tr: HTMLTableRowElement;
  rate: HTMLTableCellElement;
  p50: HTMLTableCellElement;
  p99: HTMLTableCellElement;
}

function sum(ds: Delta[], pred: (d: Delta) => boolean): { count: number; seconds: number; buckets: number[] } {
  let count = 0;
  let seconds = 0;
  let buckets: number[] = [];
  for (const d of ds) {
    if (!pred(d)) continue;
    count += d.count;
    seconds = d.seconds;
    if (buckets.length === 0) buckets = d.buckets.slice();
    else d.buckets.forEach((v, i) => (buckets[i] += v));
  }
  return { count, seconds, buckets };
}

export class LatencyPanel {
  private readonly root = byId("latency-panel");
  private readonly note: HTMLElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly rows = new Map<string, RowRef>();
  private rateBox: HTMLElement;
  private latBox: HTMLElement;
  private ratePlot: uPlot | null = null;
  private latPlot: uPlot | null = null;
  private plotNodes = "";
  private xs: number[] = [];
  private rateCols: (number | null)[][] = [];
  private latCols: (number | null)[][] = [];

  constructor() {
    this.note = this.root.querySelector(".panel-note") as HTMLElement;
    this.tbody = this.root.querySelector("tbody") as HTMLTableSectionElement;
    this.rateBox = this.root.querySelector(".plot-rate") as HTMLElement;
    this.latBox = this.root.querySelector(".plot-latency") as HTMLElement;
    new ResizeObserver(() => {
      for (const [p, box] of [
        [this.ratePlot, this.rateBox],
        [this.latPlot, this.latBox],
      ] as [uPlot | null, HTMLElement][]) {
        if (p && box.clientWidth && box.clientWidth !== p.width) p.setSize({ width: box.clientWidth, height: p.height });
      }
    }).observe(this.root);
  }

  private buildPlots(nodes: string[]): void {
    this.ratePlot?.destroy();
    this.latPlot?.destroy();
    this.xs = [];
    this.rateCols = nodes.flatMap(() => [[], []]);
    this.latCols = nodes.flatMap(() => [[], []]);
    const series = (unit: string): uPlot.Series[] => [
      { label: "time" },
      ...nodes.flatMap((n) => {
        const c = model.colorOf(n);
        const short = n.replace(/:\d+$/, "");
        return [
          { label: `${short} writes`, stroke: c, width: 2, spanGaps: false, points: { show: false }, value: (_u: uPlot, v: number | null) => (v == null ? "–" : `${fmtNum(v)}${unit}`) },
          { label: `${short} reads`, stroke: c, width: 2, dash: [6, 4], spanGaps: false, points: { show: false }, value: (_u: uPlot, v: number | null) => (v == null ? "–" : `${fmtNum(v)}${unit}`) },
        ];
      }),
    ];
    const axes = (label: string): uPlot.Axis[] => [
      { stroke: "#111", grid: { stroke: "#ddd" }, font: "13px system-ui, sans-serif", space: 80, values: timeAxisValues },
      { stroke: "#111", grid: { stroke: "#ddd" }, font: "13px system-ui, sans-serif", size: 60, label, labelFont: "14px system-ui, sans-serif" },
    ];
    const xRange = (_u: uPlot, _min: number | null, max: number | null): uPlot.Range.MinMax => {
      const hi = max ?? Date.now() / 1000;
      return [hi - AXIS_S, hi];
    };
    const yRange = (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, Math.max(1, (max ?? 0) * 1.1)];
    const common = { height: 150, scales: { x: { time: true, range: xRange }, y: { range: yRange } }, legend: { show: nodes.length <= 5, live: false }, cursor: { drag: { x: false, y: false } } };
    this.ratePlot = new uPlot({ ...common, width: Math.max(300, this.rateBox.clientWidth), series: series("/s"), axes: axes("req/s") }, [[], ...this.rateCols] as uPlot.AlignedData, this.rateBox);
    this.latPlot = new uPlot({ ...common, width: Math.max(300, this.latBox.clientWidth), series: series(" ms"), axes: axes("p99 (ms)") }, [[], ...this.latCols] as uPlot.AlignedData, this.latBox);
  }

  update(): void {
    const nodes = model.nodes.map((n) => n.listen);
    const sig = nodes.join(",");
    if (sig !== this.plotNodes) {
      this.plotNodes = sig;
      this.buildPlots(nodes);
    }
    let totalWrites = 0;
    let totalPoints = 0;
    let anyPoints = false;
    let anyStats = false;
    const seen = new Set<string>();
    const now = Date.now() / 1000;
    this.xs.push(now);
    nodes.forEach((listen, i) => {
      const st = stats.state.get(listen);
      if (st === "ok") anyStats = true;
      const rate = deltas(stats.snaps.get(listen), RATE_WINDOW_MS);
      const qd = deltas(stats.snaps.get(listen), QUANTILE_WINDOW_MS);
      const have = rate.length > 0 || (stats.snaps.get(listen)?.length ?? 0) >= 2;
      const w = sum(rate, (d) => isWrite(d.op));
      const r = sum(rate, (d) => isRead(d.op));
      const wq = sum(qd, (d) => isWrite(d.op) && d.outcome === "success");
      const rq = sum(qd, (d) => isRead(d.op) && d.outcome === "success");
      const bounds = stats.latest(listen)?.bounds ?? [];
      const wr = w.seconds ? w.count / w.seconds : 0;
      if (have) totalWrites += wr;
      const pr = counterRate(stats.snaps.get(listen), RATE_WINDOW_MS, (s) => s.ingest?.points);
      if (pr !== null) {
        totalPoints += pr;
        anyPoints = true;
      }
      this.rateCols[2 * i].push(have ? wr : null);
      this.rateCols[2 * i + 1].push(have ? (r.seconds ? r.count / r.seconds : 0) : null);
      const q99 = (b: number[]) => {
        const v = histogramQuantile(0.99, bounds, b);
        return Number.isFinite(v) ? v * 1000 : null;
      };
      this.latCols[2 * i].push(have ? q99(wq.buckets) : null);
      this.latCols[2 * i + 1].push(have ? q99(rq.buckets) : null);

      // Table rows: one per (op, consistency, outcome) this node has seen.
      const qByKey = new Map(qd.map((d) => [`${d.op}|${d.consistency}|${d.outcome}`, d]));
      for (const d of rate) {
        const key = `${listen}|${d.op}|${d.consistency}|${d.outcome}`;
        seen.add(key);
        const row = this.row(key, listen, d);
        const q = qByKey.get(`${d.op}|${d.consistency}|${d.outcome}`);
        const ms = (p: number) => {
          const v = q ? histogramQuantile(p, bounds, q.buckets) : NaN;
          return Number.isFinite(v) ? fmtNum(v * 1000, 2) : "–";
        };
        setText(row.rate, fmtNum(d.count / d.seconds));
        setText(row.p50, ms(0.5));
        setText(row.p99, ms(0.99));
        setAttr(row.tr, "class", `${d.count === 0 ? "idle" : ""} outcome-${d.outcome}`);
      }
    });
    while (this.xs.length > HISTORY) {
      this.xs.shift();
      for (const c of this.rateCols) c.shift();
      for (const c of this.latCols) c.shift();
    }
    this.ratePlot?.setData([this.xs, ...this.rateCols] as uPlot.AlignedData);
    this.latPlot?.setData([this.xs, ...this.latCols] as uPlot.AlignedData);
    for (const [k, r] of this.rows) {
      if (!seen.has(k)) {
        r.tr.remove();
        this.rows.delete(k);
      }
    }
    setAttr(this.root, "data-writes-per-s", totalWrites.toFixed(1));
    setText(this.root.querySelector(".total-writes") as HTMLElement, fmtNum(totalWrites));
    setAttr(this.root, "data-points-per-s", anyPoints ? totalPoints.toFixed(1) : "");
    setText(this.root.querySelector(".total-points") as HTMLElement, anyPoints ? `(≈ ${fmtNum(totalPoints)} points/s)` : "");
    const missing = nodes.filter((n) => stats.state.get(n) === "notfound");
    setText(
      this.note,
      !anyStats && missing.length
        ? "Request statistics not available (the nodes have no /api/v1/stats)."
        : anyStats
          ? `Coordinator requests; rates over ${RATE_WINDOW_MS / 1000} s, p50/p99 of successful requests over ${QUANTILE_WINDOW_MS / 1000} s.`
          : "Waiting for statistics…",
    );
  }

  private row(key: string, listen: string, d: Delta): RowRef {
    let r = this.rows.get(key);
    if (r) return r;
    const rate = h("td", { class: "num" });
    const p50 = h("td", { class: "num" });
    const p99 = h("td", { class: "num" });
    const sw = h("span", { class: "swatch" });
    sw.style.background = model.colorOf(listen);
    const tr = h(
      "tr",
      { "data-key": key },
      h("td", { title: listen }, sw, listen.replace(/:\d+$/, "")),
      h("td", {}, d.op),
      h("td", {}, d.consistency),
      h("td", { class: `outcome outcome-${d.outcome}` }, d.outcome),
      rate,
      p50,
      p99,
    );
    r = { tr, rate, p50, p99 };
    this.rows.set(key, r);
    // Keep rows sorted by key: insert before the first row with a bigger key.
    const cmp = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });
    const next = [...this.rows.entries()]
      .filter(([k]) => cmp(k, key) > 0)
      .sort(([a], [b]) => cmp(a, b))[0];
    this.tbody.insertBefore(tr, next ? next[1].tr : null);
    return r;
  }
}
