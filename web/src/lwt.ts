// Lightweight transactions per node, from the "lwt" object of each node's
// /api/v1/stats (sibyl_lwt_total by outcome): the rate of each outcome over
// the last few seconds and the totals since the node started. A node that
// coordinates LWTs in a minority shows them failing (unavailable or
// timeout) while its plain writes go on: the CAP trade-off, per node.

import { byId, fmtNum, h, setAttr, setText } from "./dom";
import { model } from "./model";
import { counterRate, stats } from "./stats";
import type { Stats } from "./types";

const RATE_WINDOW_MS = 3000;

type Outcome = "applied" | "not_applied" | "unavailable" | "timeout";
const OUTCOMES: Outcome[] = ["applied", "not_applied", "unavailable", "timeout"];

interface LwtRow {
  tr: HTMLTableRowElement;
  cells: Record<Outcome | "node", HTMLTableCellElement>;
}

export class LwtRates {
  private readonly root = byId("lwt-rates");
  private readonly tbody = this.root.querySelector("tbody") as HTMLTableSectionElement;
  private readonly rows = new Map<string, LwtRow>();

  update(): void {
    const seen = new Set<string>();
    let any = false;
    model.nodes.forEach((n, idx) => {
      seen.add(n.listen);
      let row = this.rows.get(n.listen);
      if (!row) {
        const tr = h("tr", { "data-testid": "lwt-row", "data-node": n.listen });
        const cells = {} as LwtRow["cells"];
        for (const c of ["node", ...OUTCOMES] as (Outcome | "node")[]) {
          cells[c] = h("td", { class: c === "node" ? "" : "num" });
          tr.append(cells[c]);
        }
        row = { tr, cells };
        this.rows.set(n.listen, row);
      }
      if (this.tbody.children[idx] !== row.tr) this.tbody.insertBefore(row.tr, this.tbody.children[idx] ?? null);
      setText(row.cells.node, n.listen);
      const lwt = stats.latest(n.listen)?.lwt;
      for (const o of OUTCOMES) {
        const rate = counterRate(stats.snaps.get(n.listen), RATE_WINDOW_MS, (s: Stats) => s.lwt?.[o]);
        const total = lwt?.[o];
        if (typeof total === "number" && total > 0) any = true;
        setText(row.cells[o], typeof total !== "number" ? "–" : `${rate === null ? "–" : fmtNum(rate)}/s (${total})`);
        setAttr(row.cells[o], "data-total", typeof total === "number" ? String(total) : "");
      }
    });
    for (const [k, row] of this.rows) {
      if (!seen.has(k)) {
        row.tr.remove();
        this.rows.delete(k);
      }
    }
    setAttr(this.root, "data-any", any ? "true" : "false");
  }
}
