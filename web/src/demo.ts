// Demo mode: present when the serving node's /health names a demo control
// server (`sibyl demo`). Then node rows get stop/start (the control server)
// and cut/heal (POST /api/v1/fault on the node itself), and the header gets
// the simulator's write/read consistency selects and its counters.

import { getJson, postJson } from "./api";
import { byId, setText } from "./dom";
import { model } from "./model";
import type { NodeAction, RingActions } from "./ring";
import type { ClusterNode, DemoStatus, Health } from "./types";

const WRITE_LEVELS = ["ANY", "ONE", "TWO", "THREE", "QUORUM", "LOCAL_ONE", "LOCAL_QUORUM", "EACH_QUORUM", "ALL"];
const READ_LEVELS = ["ONE", "TWO", "THREE", "QUORUM", "LOCAL_ONE", "LOCAL_QUORUM", "EACH_QUORUM", "ALL", "SERIAL", "LOCAL_SERIAL"];

export class DemoControls implements RingActions {
  private readonly box = byId("demo-controls");
  private readonly clWrite = byId<HTMLSelectElement>("cl-write");
  private readonly clRead = byId<HTMLSelectElement>("cl-read");
  private readonly simNote = byId("sim-status");
  private readonly partitionBtn = byId<HTMLButtonElement>("partition");
  private readonly healBtn = byId<HTMLButtonElement>("heal-all");
  private readonly actionNote = byId("action-status");
  private posting = false;
  private demoError = "";

  constructor() {
    for (const [sel, levels] of [
      [this.clWrite, WRITE_LEVELS],
      [this.clRead, READ_LEVELS],
    ] as [HTMLSelectElement, string[]][]) {
      for (const l of levels) sel.add(new Option(l, l));
    }
    this.clWrite.addEventListener("change", () => void this.setConsistency({ write: this.clWrite.value }));
    this.clRead.addEventListener("change", () => void this.setConsistency({ read: this.clRead.value }));
    this.partitionBtn.addEventListener("click", () => void this.partition(true));
    this.healBtn.addEventListener("click", () => void this.partition(false));
  }

  /** Partition: the highest-numbered nodes, fewer than half, cut off from
   * the rest (node 3 of 3, nodes 4 and 5 of 5); heal: every cut healed. */
  private async partition(on: boolean): Promise<void> {
    const ctl = model.demoControl;
    const n = model.demo?.nodes?.length ?? 0;
    if (!ctl || (on && n < 2)) return this.say("A partition needs a demo of two nodes or more.", true);
    const minority: number[] = [];
    for (let i = n - Math.max(1, Math.floor((n - 1) / 2)) + 1; i <= n; i++) minority.push(i);
    this.say(on ? `Partitioning nodes ${minority.join(", ")} from the others…` : "Healing every cut…");
    const r = on
      ? await postJson<DemoStatus>(`${ctl}/api/v1/demo/partition`, { minority }, 15000)
      : await postJson<DemoStatus>(`${ctl}/api/v1/demo/heal`, {}, 15000);
    if (r.ok) {
      model.demo = r.data;
      this.say(on ? `Partitioned: nodes ${minority.join(", ")} | the others.` : "Healed.");
    } else this.say(`Could not ${on ? "partition" : "heal"}: ${r.message}`, true);
    this.render();
  }

  get active(): boolean {
    return model.demoControl !== null;
  }

  /** /health of a node that answers: does it name a demo control server? */
  async pollHealth(): Promise<void> {
    const base = model.liveBase();
    const r = model.note(base, await getJson<Health>(`${base}/health`));
    if (!r.ok) return; // keep what we knew: a node being down ends no demo
    const dc = r.data.demo_control;
    model.demoControl = typeof dc === "string" && dc ? dc.replace(/\/+$/, "") : null;
    if (!model.demoControl) model.demo = null;
  }

  async pollDemo(): Promise<void> {
    const ctl = model.demoControl;
    if (!ctl) {
      this.render();
      return;
    }
    const r = model.note(ctl, await getJson<DemoStatus>(`${ctl}/api/v1/demo`));
    if (r.ok) {
      model.demo = r.data;
      this.demoError = "";
      if (r.data.keyspace) model.keyspace = r.data.keyspace;
      if (r.data.table) model.table = r.data.table;
    } else {
      this.demoError = r.kind === "unreachable" ? `the demo control server ${ctl} is not answering` : r.message;
    }
    this.render();
  }

  private render(): void {
    this.box.hidden = !this.active;
    const d = model.demo;
    if (!d) {
      setText(this.simNote, this.demoError);
      return;
    }
    // Don't fight the presenter: leave a select alone while it is in use.
    if (!this.posting && document.activeElement !== this.clWrite && d.write_consistency) this.clWrite.value = d.write_consistency;
    if (!this.posting && document.activeElement !== this.clRead && d.read_consistency) this.clRead.value = d.read_consistency;
    const s = d.sim;
    setText(
      this.simNote,
      this.demoError ||
        (s
          ? `Simulator ${s.running ? "running" : "stopped"}: writes ${s.writes_ok} ok / ${s.writes_failed} failed, reads ${s.reads_ok} ok / ${s.reads_failed} failed`
          : ""),
    );
  }

  private async setConsistency(body: { write?: string; read?: string }): Promise<void> {
    const ctl = model.demoControl;
    if (!ctl) return;
    this.posting = true;
    const what = body.write ? `writes at ${body.write}` : `reads at ${body.read}`;
    this.say(`Simulator: ${what}…`);
    const r = await postJson<DemoStatus>(`${ctl}/api/v1/demo/consistency`, body, 3000);
    this.posting = false;
    if (r.ok) {
      model.demo = r.data;
      this.say(`Simulator now does ${what}.`);
    } else this.say(`Could not set ${what}: ${r.message}`, true);
    this.render();
  }

  demoInfo(node: ClusterNode): { i: number; running: boolean } | null {
    const d = model.demo?.nodes?.find((x) => x.listen === node.listen);
    return d ? { i: d.i, running: d.running } : null;
  }

  async run(action: NodeAction, node: ClusterNode): Promise<void> {
    const name = node.listen;
    if (action === "stop" || action === "start") {
      const info = this.demoInfo(node);
      const ctl = model.demoControl;
      if (!info || !ctl) return this.say(`${name} is not a node of this demo.`, true);
      this.say(`${action === "stop" ? "Stopping" : "Starting"} ${name}…`);
      const r = await postJson<DemoStatus>(`${ctl}/api/v1/demo/nodes/${info.i}/${action}`, {}, 10000);
      if (r.ok) {
        model.demo = r.data;
        this.say(`${name} ${action === "stop" ? "stopped (killed)" : "started"}.`);
      } else this.say(`Could not ${action} ${name}: ${r.message}`, true);
      return;
    }
    const base = model.baseOf(node);
    if (!base) return this.say(`${name} has no HTTP address yet.`, true);
    this.say(`${action === "cut" ? "Cutting off" : "Healing"} ${name}…`);
    const r = await postJson<{ blocked: string[] }>(`${base}/api/v1/fault`, { action }, 3000);
    if (r.ok)
      this.say(
        action === "cut"
          ? `${name} is cut off from ${r.data.blocked?.length ?? 0} peers (node-to-node traffic dropped both ways).`
          : `${name} is healed.`,
      );
    else this.say(`Could not ${action} ${name}: ${r.message}`, true);
  }

  private say(text: string, error = false): void {
    setText(this.actionNote, text);
    this.actionNote.classList.toggle("error", error);
  }
}
