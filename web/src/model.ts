// What the dashboard knows about the cluster, shared by every panel.
//
// The cluster view (/api/v1/cluster) comes from the node that served the page;
// when that node stops answering, from the next node that does (so stopping
// the page's own node in a demo does not blank the page). Reachability is
// tracked per HTTP base URL from the answers of every poll.

import { baseOf, getJson, Result } from "./api";
import { PALETTE } from "./dom";
import type { ClusterNode, ClusterView, DemoStatus, RaftView } from "./types";

export interface Reach {
  ok: boolean;
  since: number; // Date.now() of the first failure (or success) in a row
  message: string;
}

export class Model {
  nodes: ClusterNode[] = [];
  ring: { token: string; address: string }[] = [];
  raft: RaftView | null = null; // the metadata Raft group, as viewFrom sees it
  viewFrom = ""; // base URL whose cluster view is shown
  viewError = "";
  keyspace = "sensors";
  table = "readings";
  keyspaceReady = false; // the sensor table answered a query
  demoControl: string | null = null;
  demo: DemoStatus | null = null;
  /** Estimated server clock minus browser clock, ms. */
  clockOffsetMs = 0;
  private clockFromStats = false;
  readonly reach = new Map<string, Reach>();
  private readonly self = location.origin;
  private sourceIdx = 0;
  private ownsWithKeyspace = true;
  private ownsRetryAt = 0;

  /** Base URL of a node's HTTP API, or null while it is not gossiped yet. */
  baseOf(n: ClusterNode): string | null {
    return n.http ? baseOf(n.http, n.address) : null;
  }

  colorOf(listen: string): string {
    const i = this.nodes.findIndex((n) => n.listen === listen);
    return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
  }

  nodeByAddress(address: string): ClusterNode | undefined {
    return this.nodes.find((n) => n.address === address || n.listen === address);
  }

  /** Records the outcome of a request to base; returns r unchanged. */
  note<T>(base: string, r: Result<T>): Result<T> {
    const ok = r.ok || r.kind !== "unreachable";
    const prev = this.reach.get(base);
    if (!prev || prev.ok !== ok) this.reach.set(base, { ok, since: Date.now(), message: r.ok ? "" : r.message });
    else if (!r.ok) prev.message = r.message;
    if (r.ok && !this.clockFromStats && base === this.self && r.dateHeader) {
      const server = Date.parse(r.dateHeader);
      // The Date header has 1 s resolution: only trust it for bigger skews.
      if (Number.isFinite(server) && Math.abs(server - Date.now()) > 2000) this.clockOffsetMs = server - Date.now();
    }
    return r;
  }

  noteServerTime(timeMs: number): void {
    if (!Number.isFinite(timeMs) || timeMs <= 0) return;
    this.clockFromStats = true;
    this.clockOffsetMs = timeMs - Date.now();
  }

  serverNow(): number {
    return Date.now() + this.clockOffsetMs;
  }

  isReachable(base: string | null): boolean {
    return base !== null && this.reach.get(base)?.ok !== false;
  }

  /** A node that answers (the page's own first), for cluster-wide queries. */
  liveBase(): string {
    if (this.viewFrom && this.isReachable(this.viewFrom)) return this.viewFrom;
    if (this.isReachable(this.self)) return this.self;
    for (const n of this.nodes) {
      const b = this.baseOf(n);
      if (b && this.isReachable(b)) return b;
    }
    return this.self;
  }

  /** Bases to try for the cluster view: the page's node, then every other. */
  private sources(): string[] {
    const out = [this.self];
    for (const n of this.nodes) {
      const b = this.baseOf(n);
      if (b && !out.includes(b)) out.push(b);
    }
    return out;
  }

  /** One poll of the cluster view; tries the next source when one fails. */
  async pollCluster(): Promise<void> {
    const srcs = this.sources();
    // Go back to the page's own node as soon as it answers again.
    if (this.sourceIdx !== 0 && this.reach.get(this.self)?.ok) this.sourceIdx = 0;
    for (let attempt = 0; attempt < Math.min(srcs.length, 3); attempt++) {
      const base = srcs[this.sourceIdx % srcs.length];
      const withKs = this.keyspaceReady && this.ownsWithKeyspace && Date.now() >= this.ownsRetryAt;
      const url = `${base}/api/v1/cluster${withKs ? `?keyspace=${encodeURIComponent(this.keyspace)}` : ""}`;
      const r = this.note(base, await getJson<ClusterView>(url));
      if (r.ok) {
        this.apply(r.data, base);
        return;
      }
      if (r.kind === "notfound" && withKs) {
        // The keyspace is not on that node yet: plain ownership for a while.
        this.ownsRetryAt = Date.now() + 10000;
        continue;
      }
      this.viewError = `${base.replace(/^https?:\/\//, "")}: ${r.message}`;
      this.sourceIdx = (this.sourceIdx + 1) % srcs.length;
    }
  }

  private apply(v: ClusterView, base: string): void {
    const nodes = Array.isArray(v.nodes) ? v.nodes.slice() : [];
    nodes.sort((a, b) => a.listen.localeCompare(b.listen, undefined, { numeric: true }));
    this.nodes = nodes;
    this.ring = Array.isArray(v.ring) ? v.ring : [];
    this.raft = v.raft && typeof v.raft === "object" ? v.raft : null;
    this.viewFrom = base;
    this.viewError = "";
  }
}

export const model = new Model();
