// The sensor list (SELECT DISTINCT over the simulator's table) and the live
// sensor chart: a location plots all its sensors, a sensor plots itself; the
// last 5 minutes of one field, refreshed every second with only the rows
// newer than what the chart has (minus a few seconds, because the simulator
// sends some readings late). A series' line breaks where readings are
// missing for longer than a few of its usual intervals.

import uPlot from "uplot";
import { postJson } from "./api";
import { PALETTE, byId, fmtTimeMs, setAttr, setText, syncOptions, timeAxisValues } from "./dom";
import { model } from "./model";
import type { CqlResult } from "./types";

export interface Sensor {
  key: string; // pk values joined with "\u0000"
  pk: Record<string, string>;
  label: string;
  location: string;
}

const WINDOW_MS = 5 * 60 * 1000;
const OVERLAP_MS = 6000; // late readings: the simulator holds some back up to 5 s
const MAX_POINTS = 600; // per series
// A gap in a series is a pause longer than GAP_INTERVALS of its typical
// (median) interval between readings, and at least GAP_MIN_MS.
const GAP_INTERVALS = 4;
const GAP_MIN_MS = 2000;
const FALLBACK_FIELDS = ["temperature", "humidity", "pressure", "light", "gas"];

export function cqlString(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}

export function cqlIdent(v: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(v) ? v : `"${v.replace(/"/g, '""')}"`;
}

export class SensorList {
  sensors: Sensor[] = [];
  pkCols: string[] = [];
  fields: string[] = [];
  error = "";
  private lastLoad = 0;
  private lastTry = 0;

  /** Reloads the list at most every 10 s (sensors come and go rarely). */
  async poll(): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastLoad < 10000 && this.sensors.length) return false;
    // Until the table exists (the simulator creates it), ask every 3 s.
    if (now - this.lastTry < 3000 && this.error) return false;
    this.lastTry = now;
    const table = `${cqlIdent(model.keyspace)}.${cqlIdent(model.table)}`;
    const base = model.liveBase();
    const r = model.note(
      base,
      await postJson<CqlResult>(`${base}/api/v1/cql`, {
        query: `SELECT DISTINCT device_type, location, sensor_id FROM ${table}`,
        consistency: "ONE",
      }),
    );
    if (!r.ok) {
      this.error = r.message;
      return false;
    }
    this.lastLoad = Date.now();
    this.error = "";
    model.keyspaceReady = true;
    this.pkCols = r.data.columns;
    const li = this.pkCols.indexOf("location");
    const si = this.pkCols.indexOf("sensor_id");
    const list: Sensor[] = r.data.rows.map((row) => {
      const pk: Record<string, string> = {};
      this.pkCols.forEach((c, i) => (pk[c] = String(row[i])));
      const label = si >= 0 ? `${row[si]} · ${this.pkCols.filter((_c, i) => i !== si).map((c) => pk[c]).join(" · ")}` : Object.values(pk).join(" · ");
      return { key: Object.values(pk).join("\u0000"), pk, label, location: li >= 0 ? String(row[li]) : "" };
    });
    list.sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }));
    this.sensors = list;
    if (this.fields.length === 0 && list.length) await this.loadFields(list[0]);
    return true;
  }

  private async loadFields(s: Sensor): Promise<void> {
    const base = model.liveBase();
    const where = Object.entries(s.pk)
      .map(([c, v]) => `${cqlIdent(c)} = ${cqlString(v)}`)
      .join(" AND ");
    const r = await postJson<CqlResult>(`${base}/api/v1/cql`, {
      query: `SELECT * FROM ${cqlIdent(model.keyspace)}.${cqlIdent(model.table)} WHERE ${where} LIMIT 1`,
      consistency: "ONE",
    });
    if (!r.ok || r.data.rows.length === 0) return;
    const row = r.data.rows[0];
    this.fields = r.data.columns.filter((c, i) => !this.pkCols.includes(c) && c !== "time" && typeof row[i] === "number");
  }

  locations(): string[] {
    return [...new Set(this.sensors.map((s) => s.location))].sort();
  }

  /** <select> groups: every location, then every sensor. */
  selectGroups(withLocations: boolean) {
    const groups = [];
    if (withLocations)
      groups.push({
        label: "Locations (all their sensors)",
        options: this.locations().map((l) => ({
          value: `loc:${l}`,
          text: `${l} (${this.sensors.filter((s) => s.location === l).length} sensors)`,
        })),
      });
    groups.push({ label: "Sensors", options: this.sensors.map((s) => ({ value: `sensor:${s.key}`, text: s.label })) });
    return groups;
  }
}

interface Series {
  sensor: Sensor;
  t: number[]; // ms, ascending
  v: (number | null)[];
}

export class SensorChart {
  private readonly root: HTMLElement;
  private readonly sel: HTMLSelectElement;
  private readonly fieldSel: HTMLSelectElement;
  private readonly note: HTMLElement;
  private readonly plotBox: HTMLElement;
  private plot: uPlot | null = null;
  private series: Series[] = [];
  private choice = "";
  private field = "temperature";
  private newestMs = 0;
  private generation = 0;

  constructor(private readonly list: SensorList) {
    this.root = byId("sensor-chart");
    this.sel = byId<HTMLSelectElement>("sensor-select");
    this.fieldSel = byId<HTMLSelectElement>("sensor-field");
    this.note = this.root.querySelector(".chart-note") as HTMLElement;
    this.plotBox = this.root.querySelector(".plot") as HTMLElement;
    this.sel.addEventListener("change", () => this.choose(this.sel.value, this.field));
    this.fieldSel.addEventListener("change", () => this.choose(this.choice, this.fieldSel.value));
    new ResizeObserver(() => this.resize()).observe(this.plotBox);
  }

  /** Called after the sensor list is (re)loaded. */
  refreshOptions(): void {
    syncOptions(this.sel, this.list.selectGroups(true));
    const fields = this.list.fields.length ? this.list.fields : FALLBACK_FIELDS;
    syncOptions(this.fieldSel, [{ label: "Field", options: fields.map((f) => ({ value: f, text: f })) }]);
    if (!fields.includes(this.field)) this.field = fields[0];
    this.fieldSel.value = this.field;
    if (!this.choice && this.sel.options.length) this.choose(this.sel.options[0].value, this.field);
    else if (this.choice) this.sel.value = this.choice;
  }

  private choose(choice: string, field: string): void {
    this.choice = choice;
    this.field = field;
    this.generation++;
    this.newestMs = 0;
    let sensors: Sensor[] = [];
    if (choice.startsWith("loc:")) sensors = this.list.sensors.filter((s) => s.location === choice.slice(4));
    else if (choice.startsWith("sensor:")) sensors = this.list.sensors.filter((s) => s.key === choice.slice(7));
    this.series = sensors.map((sensor) => ({ sensor, t: [], v: [] }));
    this.build();
    void this.poll();
  }

  private build(): void {
    this.plot?.destroy();
    this.plot = null;
    this.plotBox.replaceChildren();
    if (this.series.length === 0) {
      this.render();
      return;
    }
    const unit = { temperature: "°C", humidity: "%", pressure: "hPa", light: "lx" }[this.field] ?? "";
    const opts: uPlot.Options = {
      width: Math.max(300, this.plotBox.clientWidth),
      height: 220, // resize() fits it to the box once the legend is there
      scales: { x: { time: true } },
      legend: { show: this.series.length <= 12 },
      cursor: { drag: { x: false, y: false } },
      axes: [
        { stroke: "#111", grid: { stroke: "#ddd" }, font: "14px system-ui, sans-serif", space: 90, values: timeAxisValues },
        {
          stroke: "#111",
          grid: { stroke: "#ddd" },
          font: "14px system-ui, sans-serif",
          size: 60,
          label: `${this.field}${unit ? ` (${unit})` : ""}`,
          labelFont: "15px system-ui, sans-serif",
        },
      ],
      series: [
        { label: "time", value: (_u: uPlot, v: number | null) => (v == null ? "–" : fmtTimeMs(v * 1000)) },
        ...this.series.map((s, i) => ({
          label: s.sensor.pk.sensor_id ?? s.sensor.label,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          // null = a gap (the line breaks); undefined = no reading of this
          // sensor at another sensor's time (the line goes on).
          spanGaps: false,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v == null ? "–" : v.toFixed(1)),
        })),
      ],
    };
    this.plot = new uPlot(opts, [[], ...this.series.map(() => [])], this.plotBox);
    // The legend has its final height only once uPlot has laid itself out.
    requestAnimationFrame(() => this.resize());
  }

  /** Fits the plot to its box, which the panel stretches to the height of
   * its grid row (the plot is positioned out of the flow, so its own size
   * never feeds back into the box's); uPlot's height excludes the legend. */
  private resize(): void {
    if (!this.plot) return;
    const legend = this.plot.root.querySelector(".u-legend") as HTMLElement | null;
    const w = Math.max(300, this.plotBox.clientWidth);
    const ht = Math.max(200, this.plotBox.clientHeight - (legend?.offsetHeight ?? 0) - 4);
    if (w !== this.plot.width || ht !== this.plot.height) this.plot.setSize({ width: w, height: ht });
  }

  async poll(): Promise<void> {
    if (this.series.length === 0) return;
    const gen = this.generation;
    const pk = this.list.pkCols;
    const since = this.newestMs ? this.newestMs - OVERLAP_MS : model.serverNow() - WINDOW_MS;
    const base = model.liveBase();
    // One query per group of sensors that share every partition-key column
    // but the last, with IN over the last: exactly the chosen partitions.
    const groups = new Map<string, Sensor[]>();
    for (const s of this.series) {
      const g = pk.slice(0, -1).map((c) => s.sensor.pk[c]).join("\u0000");
      groups.set(g, [...(groups.get(g) ?? []), s.sensor]);
    }
    const results = await Promise.all(
      [...groups.values()].map((sensors) => {
        const last = pk[pk.length - 1];
        const where = [
          ...pk.slice(0, -1).map((c) => `${cqlIdent(c)} = ${cqlString(sensors[0].pk[c])}`),
          sensors.length === 1
            ? `${cqlIdent(last)} = ${cqlString(sensors[0].pk[last])}`
            : `${cqlIdent(last)} IN (${sensors.map((x) => cqlString(x.pk[last])).join(", ")})`,
        ].join(" AND ");
        return postJson<CqlResult>(`${base}/api/v1/cql`, {
          query:
            `SELECT ${pk.map(cqlIdent).join(", ")}, time, ${cqlIdent(this.field)} ` +
            `FROM ${cqlIdent(model.keyspace)}.${cqlIdent(model.table)} WHERE ${where} AND time > ${Math.floor(since)}`,
          consistency: "ONE",
        });
      }),
    );
    const failed = results.find((x) => !x.ok);
    if (failed) model.note(base, failed);
    else if (results.length) model.note(base, results[0]);
    if (gen !== this.generation) return; // the choice changed meanwhile
    if (failed && !failed.ok) {
      setText(this.note, `Readings not available: ${failed.message}`);
      return;
    }
    const byKey = new Map(this.series.map((s) => [s.sensor.key, s]));
    for (const r of results) {
      if (r.ok) this.merge(r.data, byKey);
    }
    const cutoff = this.newestMs - WINDOW_MS;
    for (const s of this.series) {
      let drop = 0;
      while (drop < s.t.length && s.t[drop] < cutoff) drop++;
      drop = Math.max(drop, s.t.length - MAX_POINTS);
      if (drop > 0) {
        s.t.splice(0, drop);
        s.v.splice(0, drop);
      }
    }
    setText(this.note, "");
    this.render();
  }

  private merge(res: CqlResult, byKey: Map<string, Series>): void {
    const pk = this.list.pkCols;
    const cols = res.columns;
    const ti = cols.indexOf("time");
    const vi = cols.indexOf(this.field);
    for (const row of res.rows) {
      const key = pk.map((c) => String(row[cols.indexOf(c)])).join("\u0000");
      const s = byKey.get(key);
      if (!s) continue;
      const t = typeof row[ti] === "number" ? (row[ti] as number) : Date.parse(String(row[ti]));
      const v = typeof row[vi] === "number" ? (row[vi] as number) : null;
      if (!Number.isFinite(t)) continue;
      insert(s, t, v);
      if (t > this.newestMs) this.newestMs = t;
    }
  }

  private render(): void {
    // uPlot wants one shared x array: the union of every series' times and
    // of a marker inside each gap. uPlot clips a series' line from the x
    // before its first null to the x after its last one, so a series is null
    // at every shared x inside its gaps: the break then spans the whole gap
    // whatever the other series have there.
    const gaps = this.series.map((s) => gapsOf(s.t));
    const xs = [...new Set([...this.series.flatMap((s) => s.t), ...gaps.flat().map(([a]) => a + 1)])].sort((a, b) => a - b);
    const idx = new Map(xs.map((t, i) => [t, i]));
    let points = 0;
    const ys = this.series.map((s, si) => {
      const col: (number | null | undefined)[] = new Array(xs.length).fill(undefined);
      for (const [a, b] of gaps[si]) for (let k = (idx.get(a) as number) + 1; k < xs.length && xs[k] < b; k++) col[k] = null;
      s.t.forEach((t, i) => {
        col[idx.get(t) as number] = s.v[i];
        if (s.v[i] !== null) points++;
      });
      return col;
    });
    setAttr(this.root, "data-points", String(points));
    setAttr(this.root, "data-series", String(this.series.length));
    if (this.plot) this.plot.setData([xs.map((t) => t / 1000), ...ys] as uPlot.AlignedData);
    if (this.series.length === 0)
      setText(this.note, this.list.error ? `Sensors not available: ${this.list.error}` : "No sensors yet.");
    else if (points === 0) setText(this.note, "No readings in the last 5 minutes yet.");
  }
}

/** Where a series' line must break: [before, after] reading times (ms)
 * around each pause longer than a few of its usual intervals. */
export function gapsOf(t: number[]): [number, number][] {
  if (t.length < 3) return [];
  const diffs: number[] = [];
  for (let i = 1; i < t.length; i++) diffs.push(t[i] - t[i - 1]);
  const sorted = diffs.slice().sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1];
  const limit = Math.max(GAP_MIN_MS, GAP_INTERVALS * median);
  const out: [number, number][] = [];
  diffs.forEach((d, i) => {
    if (d > limit) out.push([t[i], t[i + 1]]);
  });
  return out;
}

function insert(s: Series, t: number, v: number | null): void {
  const n = s.t.length;
  if (n === 0 || t > s.t[n - 1]) {
    s.t.push(t);
    s.v.push(v);
    return;
  }
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s.t[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  if (s.t[lo] === t) s.v[lo] = v;
  else {
    s.t.splice(lo, 0, t);
    s.v.splice(lo, 0, v);
  }
}
