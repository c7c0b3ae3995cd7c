// Ring/nodes panel: one row per node (data-testid="node-row") with its place
// (dc, rack), gossip status and state, ownership, estimated load, the points
// it ingests per second and hints waiting for it, plus a drawing of the
// token ring. Rows are created once per node and
// only their changed cells are touched on each tick.

import { fmtBytes, fmtNum, fmtTime, h, setAttr, setText } from "./dom";
import { model } from "./model";
import { counterRate, stats } from "./stats";
import type { ClusterNode } from "./types";

export type NodeAction = "stop" | "start" | "cut" | "heal";

export interface RingActions {
  /** Called on a button click; resolves when the request is done. */
  run(action: NodeAction, node: ClusterNode): Promise<void>;
  /** demo index of the node, running flag; null outside demo mode. */
  demoInfo(node: ClusterNode): { i: number; running: boolean } | null;
}

interface Row {
  tr: HTMLTableRowElement;
  cells: Record<string, HTMLTableCellElement>;
  swatch: HTMLSpanElement;
  actions: HTMLTableCellElement;
  buttons: Partial<Record<NodeAction, HTMLButtonElement>>;
  busy: boolean;
}

const COLS = ["node", "raft", "dc", "rack", "status", "state", "owns", "load", "points", "hints", "note"] as const;
const LOAD_TIP = "estimated: SSTable live data + memtable allocation";
const SVG = "http://www.w3.org/2000/svg";
const TWO64 = 18446744073709551616;
const TWO63 = 9223372036854775808;

/** The node-row state: the failure detector's verdict first, then whether
 * the browser itself gets answers from the node. */
export function nodeState(n: ClusterNode): "up" | "down" | "unreachable" {
  if (n.state === "down") return "down";
  const base = model.baseOf(n);
  if (base && model.reach.get(base)?.ok === false) return "unreachable";
  return "up";
}

export class RingPanel {
  private readonly rows = new Map<string, Row>();
  private readonly tbody: HTMLTableSectionElement;
  private readonly svg: SVGSVGElement;
  private readonly caption: HTMLElement;
  private readonly raftNote: HTMLElement;
  private ringSig = "";
  private demoMode = false;

  constructor(
    root: HTMLElement,
    private readonly actions: RingActions,
  ) {
    this.caption = root.querySelector(".panel-note") as HTMLElement;
    this.raftNote = root.querySelector(".raft-note") as HTMLElement;
    this.svg = root.querySelector("svg") as SVGSVGElement;
    this.tbody = root.querySelector("tbody") as HTMLTableSectionElement;
  }

  setDemoMode(on: boolean): void {
    if (on === this.demoMode) return;
    this.demoMode = on;
    document.body.classList.toggle("demo", on);
    for (const row of this.rows.values()) this.buildActions(row, row.tr.dataset.node ?? "");
  }

  update(): void {
    const seen = new Set<string>();
    model.nodes.forEach((n, idx) => {
      seen.add(n.listen);
      let row = this.rows.get(n.listen);
      if (!row) {
        row = this.makeRow(n.listen);
        this.rows.set(n.listen, row);
      }
      // Keep DOM order equal to the (sorted) node order.
      if (this.tbody.children[idx] !== row.tr) this.tbody.insertBefore(row.tr, this.tbody.children[idx] ?? null);
      this.fill(row, n);
    });
    for (const [k, row] of this.rows) {
      if (!seen.has(k)) {
        row.tr.remove();
        this.rows.delete(k);
      }
    }
    const from = model.viewFrom.replace(/^https?:\/\//, "");
    const own = model.viewFrom === location.origin;
    setText(
      this.caption,
      model.nodes.length === 0
        ? model.viewError
          ? `Cluster view not available: ${model.viewError}`
          : "Waiting for the cluster view…"
        : `${model.nodes.length} node${model.nodes.length === 1 ? "" : "s"}, as ${own ? "this node" : from} sees them` +
            (model.keyspaceReady ? `; owns = share of keyspace ${model.keyspace}` : "; owns = primary ranges"),
    );
    const raft = model.raft;
    setAttr(this.raftNote, "data-term", raft ? String(raft.term) : "");
    setAttr(this.raftNote, "data-leader", raft?.leader ?? "");
    setText(
      this.raftNote,
      !raft
        ? "Raft: no group yet"
        : raft.leader
          ? `Raft leader ${raft.leader}, term ${raft.term} (${raft.voters} voter${raft.voters === 1 ? "" : "s"}, ${raft.learners} learner${raft.learners === 1 ? "" : "s"})`
          : `Raft: no leader known to ${own ? "this node" : from} (term ${raft.term}): a majority of the voters is not reachable; schema changes and LWTs fail there`,
    );
    this.drawRing();
  }

  private makeRow(listen: string): Row {
    const tr = h("tr", { "data-testid": "node-row", "data-node": listen });
    const cells = {} as Record<string, HTMLTableCellElement>;
    const swatch = h("span", { class: "swatch" });
    for (const c of COLS) {
      const td = h("td", { class: `c-${c}` });
      cells[c] = td;
      tr.append(td);
    }
    const label = h("span");
    // The leader's badge sits in the node cell; fill() shows or hides it.
    const badge = h("span", { class: "badge-leader", "data-testid": "leader-badge", title: "Raft leader of the metadata group" }, "leader");
    badge.hidden = true;
    cells.node.append(swatch, label, badge);
    const actions = h("td", { class: "c-actions" });
    tr.append(actions);
    const row: Row = { tr, cells, swatch, actions, buttons: {}, busy: false };
    this.buildActions(row, listen);
    return row;
  }

  private buildActions(row: Row, listen: string): void {
    row.actions.replaceChildren();
    row.buttons = {};
    if (!this.demoMode) return;
    const labels: Record<NodeAction, string> = { stop: "Stop", start: "Start", cut: "Cut", heal: "Heal" };
    for (const a of ["stop", "start", "cut", "heal"] as NodeAction[]) {
      const tips: Record<NodeAction, string> = {
        stop: "kill the node's process (SIGKILL)",
        start: "start the node again with its data",
        cut: "drop node-to-node traffic between this node and every other",
        heal: "let node-to-node traffic through again",
      };
      const ids: Record<NodeAction, string> = { stop: "node-stop", start: "node-start", cut: "node-cut", heal: "node-heal" };
      const b = h("button", { type: "button", "data-testid": ids[a], class: `btn btn-${a}`, title: tips[a] }, labels[a]);
      b.addEventListener("click", () => {
        const n = model.nodes.find((m) => m.listen === listen);
        if (!n || row.busy) return;
        row.busy = true;
        for (const x of Object.values(row.buttons)) x.disabled = true;
        void this.actions.run(a, n).finally(() => {
          row.busy = false;
          this.update();
        });
      });
      row.buttons[a] = b;
      row.actions.append(b);
    }
  }

  private fill(row: Row, n: ClusterNode): void {
    const state = nodeState(n);
    const base = model.baseOf(n);
    setAttr(row.tr, "data-state", state);
    setAttr(row.tr, "data-status", n.status ?? "UNKNOWN");
    row.swatch.style.background = model.colorOf(n.listen);
    setText(row.cells.node.children[1] as Element, n.listen);
    // Only the node the view's source calls leader gets the badge: one
    // node's view, so there is never more than one.
    const leads = model.raft?.leader === n.listen;
    const badge = row.cells.node.querySelector(".badge-leader") as HTMLElement;
    if (badge.hidden === leads) badge.hidden = !leads;
    setAttr(row.tr, "data-raft", n.raft ?? "none");
    setText(row.cells.raft, n.raft ?? "–");
    row.cells.node.title = `http ${n.http ?? "?"}, cql ${n.cql ?? "?"}, host id ${n.host_id ?? "?"}`;
    setText(row.cells.dc, n.dc ?? "");
    setText(row.cells.rack, n.rack ?? "");
    setText(row.cells.status, n.status ?? "");
    setText(row.cells.state, state === "unreachable" ? "unreachable" : state);
    setAttr(row.cells.state, "class", `c-state state-${state}`);
    setText(row.cells.owns, Number.isFinite(n.owns) ? `${(n.owns * 100).toFixed(1)} %` : "–");
    // Load: the node's own statistics when it answers (SSTable live data
    // plus what its memtables have allocated, which is most of it while the
    // data is young); the gossiped figure, the same sum, otherwise.
    const st = stats.latest(n.listen)?.storage;
    if (st && typeof st.live_bytes === "number" && typeof st.memtable_bytes === "number") {
      setText(row.cells.load, fmtBytes(st.live_bytes + st.memtable_bytes));
      setAttr(row.cells.load, "title", `${LOAD_TIP}: ${fmtBytes(st.live_bytes)} + ${fmtBytes(st.memtable_bytes)}`);
    } else {
      setText(row.cells.load, fmtBytes(n.load_bytes));
      setAttr(row.cells.load, "title", `${LOAD_TIP} (as gossiped)`);
    }
    const pts = counterRate(stats.snaps.get(n.listen), 3000, (s) => s.ingest?.points);
    setText(row.cells.points, pts === null ? "–" : fmtNum(pts));

    // Hints waiting for this node: what every other node's stats say it
    // holds for it; the cluster view's own number when stats are missing.
    let hints = 0;
    let fromStats = false;
    for (const m of model.nodes) {
      const s = stats.latest(m.listen);
      for (const p of s?.peers ?? []) {
        if (p.peer === n.listen) {
          hints += p.hints_pending ?? 0;
          fromStats = true;
        }
      }
    }
    setText(row.cells.hints, String(fromStats ? hints : (n.hints_pending ?? 0)));

    const notes: string[] = [];
    const own = stats.latest(n.listen);
    const blocked = (own?.peers ?? []).filter((p) => p.blocked).length;
    setAttr(row.tr, "data-cut", blocked > 0 ? "true" : "false");
    if (blocked > 0) notes.push(`cut off from ${blocked} peer${blocked > 1 ? "s" : ""}`);
    // A node whose disk is full or failed still serves reads but refuses
    // writes: say so, with the node's own reason.
    const refuses = own?.storage?.refuses_writes;
    setAttr(row.tr, "data-read-only", refuses ? "true" : "false");
    if (refuses) notes.push(`read-only: ${refuses}`);
    const demo = this.actions.demoInfo(n);
    if (demo && !demo.running) notes.push("stopped");
    if (state === "unreachable" || (base && model.reach.get(base)?.ok === false)) {
      const r = base ? model.reach.get(base) : undefined;
      notes.push(`not answering since ${r ? fmtTime(r.since) : "?"}`);
    }
    if (n.state === "down" && Number.isFinite(n.phi)) notes.push(`phi ${n.phi.toFixed(1)}`);
    setText(row.cells.note, notes.join(", "));

    if (this.demoMode && !row.busy) {
      const b = row.buttons;
      const running = demo ? demo.running : true;
      if (b.stop) b.stop.disabled = !demo || !running;
      if (b.start) b.start.disabled = !demo || running;
      if (b.cut) b.cut.disabled = !base || state === "unreachable";
      if (b.heal) b.heal.disabled = !base || state === "unreachable";
    }
  }

  private drawRing(): void {
    const sig =
      model.ring.map((r) => r.token + r.address).join(",") +
      "|" +
      model.nodes.map((n) => `${n.address}:${nodeState(n)}`).join(",");
    if (sig === this.ringSig) return;
    this.ringSig = sig;
    const R = 80;
    const C = 100;
    const parts: SVGElement[] = [];
    const bg = document.createElementNS(SVG, "circle");
    bg.setAttribute("cx", String(C));
    bg.setAttribute("cy", String(C));
    bg.setAttribute("r", String(R));
    bg.setAttribute("class", "ring-bg");
    parts.push(bg);
    const ring = model.ring;
    const frac = (t: string) => (parseFloat(t) + TWO63) / TWO64;
    const pt = (f: number) => {
      const a = f * 2 * Math.PI - Math.PI / 2;
      return `${(C + R * Math.cos(a)).toFixed(2)} ${(C + R * Math.sin(a)).toFixed(2)}`;
    };
    for (let i = 0; i < ring.length; i++) {
      // A token owns the range from the previous token (exclusive) to itself.
      const start = frac(ring[(i + ring.length - 1) % ring.length].token);
      let end = frac(ring[i].token);
      if (ring.length === 1 || end <= start) end += 1;
      const node = model.nodeByAddress(ring[i].address);
      const path = document.createElementNS(SVG, "path");
      const large = end - start > 0.5 ? 1 : 0;
      const span = Math.min(end - start, 0.99999);
      path.setAttribute("d", `M ${pt(start)} A ${R} ${R} 0 ${large} 1 ${pt(start + span)}`);
      path.setAttribute("stroke", node ? model.colorOf(node.listen) : "#999");
      path.setAttribute("class", `ring-arc${node && nodeState(node) !== "up" ? " ring-arc-down" : ""}`);
      const title = document.createElementNS(SVG, "title");
      title.textContent = `token ${ring[i].token} → ${ring[i].address}`;
      path.append(title);
      parts.push(path);
    }
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", String(C));
    label.setAttribute("y", String(C + 6));
    label.setAttribute("class", "ring-label");
    label.textContent = ring.length ? `${ring.length} tokens` : "no ring";
    parts.push(label);
    this.svg.replaceChildren(...parts);
  }
}
