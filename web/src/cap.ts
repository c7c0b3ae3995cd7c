// The CAP panel (demo mode): the simulator's two writers per node side by
// side (docs/cap.md). The AP writer writes at ONE and keeps succeeding on
// both sides of a partition; the CP writer advances a register by LWTs
// (Paxos among the replicas), which fail on the minority side. Counts come
// from the demo document's nodes[].cap, totals since the demo started, and
// a rate over the last few seconds; the side comes from its "partition".

import { byId, fmtNum, h, setAttr, setText } from "./dom";
import { model } from "./model";
import type { DemoNode } from "./types";

const KEYS = ["ap_ok", "ap_failed", "cp_ok", "cp_failed"] as const;
type Key = (typeof KEYS)[number];
const WINDOW_MS = 3000;

interface CapRow {
  tr: HTMLTableRowElement;
  cells: Record<Key | "node" | "side" | "value", HTMLTableCellElement>;
  hist: { t: number; c: Record<Key, number> }[];
}

export class CapPanel {
  private readonly root = byId("cap-panel");
  private readonly tbody = this.root.querySelector("tbody") as HTMLTableSectionElement;
  private readonly note = this.root.querySelector(".panel-note") as HTMLElement;
  private readonly rows = new Map<number, CapRow>();

  update(): void {
    const d = model.demo;
    this.root.hidden = !d;
    if (!d) return;
    const part = d.partition ?? null;
    setAttr(this.root, "data-partitioned", part ? "true" : "false");
    setText(
      this.note,
      part
        ? `Partitioned: nodes ${part.minority.join(", ")} | nodes ${part.majority.join(", ")}. The minority's LWTs fail, its writes at ONE go on.`
        : "No partition: both writers succeed on every node.",
    );
    const now = Date.now();
    (d.nodes ?? []).forEach((n: DemoNode, idx) => {
      let row = this.rows.get(n.i);
      if (!row) {
        const tr = h("tr", { "data-testid": "cap-row", "data-node": String(n.i) });
        const cells = {} as CapRow["cells"];
        for (const c of ["node", "side", ...KEYS, "value"] as (keyof CapRow["cells"])[]) {
          cells[c] = h("td", { class: c === "node" || c === "side" ? "" : "num" });
          tr.append(cells[c]);
        }
        row = { tr, cells, hist: [] };
        this.rows.set(n.i, row);
      }
      if (this.tbody.children[idx] !== row.tr) this.tbody.insertBefore(row.tr, this.tbody.children[idx] ?? null);
      setText(row.cells.node, `node${n.i} ${n.listen}`);
      const side = !part ? "–" : part.minority.includes(n.i) ? "minority" : "majority";
      setText(row.cells.side, side);
      setAttr(row.tr, "data-side", side);
      const cap = n.cap;
      if (!cap) return;
      row.hist.push({ t: now, c: { ...cap } });
      while (row.hist.length > 2 && now - row.hist[0].t > WINDOW_MS) row.hist.shift();
      const first = row.hist[0];
      const secs = (now - first.t) / 1000;
      for (const k of KEYS) {
        const rate = secs > 0.5 ? (cap[k] - first.c[k]) / secs : null;
        setText(row.cells[k], `${cap[k]}${rate === null ? "" : ` (${fmtNum(rate)}/s)`}`);
        setAttr(row.tr, `data-${k.replace("_", "-")}`, String(cap[k]));
      }
      setText(row.cells.value, String(cap.cp_value));
    });
  }
}
