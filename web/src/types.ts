// JSON shapes of the endpoints the dashboard reads (docs/http-api.md and
// /tmp spec section numbers in comments). Fields the dashboard does not use
// are left out; every field is treated as possibly missing at run time.

export interface ClusterNode {
  address: string;
  listen: string;
  cql: string | null;
  http: string | null;
  host_id: string | null;
  dc: string;
  rack: string;
  status: string;
  state: string;
  phi: number;
  load_bytes: number;
  tokens: string[];
  ntokens: number;
  owns: number;
  hints_pending: number;
  raft?: string | null; // "leader", "voter", "learner" as the answering node sees it
}

export interface RaftView {
  leader: string | null;
  term: number;
  role: string;
  voters: number;
  learners: number;
}

export interface ClusterView {
  cluster_name: string;
  local: string;
  nodes: ClusterNode[];
  ring: { token: string; address: string }[];
  raft?: RaftView | null;
}

export interface Health {
  status: string;
  http?: string;
  demo_control?: string | null;
}

export interface HistEntry {
  op: string;
  consistency?: string;
  outcome: string;
  count: number;
  sum_seconds: number;
  buckets: number[];
}

export interface PeerStats {
  peer: string;
  up: boolean;
  phi: number;
  blocked: boolean;
  hints_pending: number;
}

export interface Stats {
  node: string;
  http: string;
  time_ms: number;
  uptime_seconds: number;
  bounds: number[];
  requests: HistEntry[];
  replica?: HistEntry[];
  hints?: { stored: number; replayed: number; dropped: number; pending: number };
  peers?: PeerStats[];
  storage?: {
    live_bytes: number;
    memtable_bytes: number;
    sstable_bytes: number;
    disk_state?: string;
    /** why the node refuses writes (disk full or failed); null when it takes them */
    refuses_writes?: string | null;
  };
  ingest?: { requests: number; points: number; rejected_requests: number };
  lwt?: { applied: number; not_applied: number; unavailable: number; timeout: number; contention: number };
}

export interface NodeEvent {
  seq: number;
  time_ms: number;
  type: string;
  peer?: string;
  message?: string;
  count?: number;
}

export interface EventsPage {
  node: string;
  next: number;
  events: NodeEvent[];
}

export interface DemoNode {
  i: number;
  listen: string;
  http: string;
  dc: string;
  rack: string;
  running: boolean;
  pid?: number | null;
  cap?: { ap_ok: number; ap_failed: number; cp_ok: number; cp_failed: number; cp_value: number };
}

export interface DemoStatus {
  nodes: DemoNode[];
  write_consistency: string;
  read_consistency: string;
  sim?: {
    running: boolean;
    sent: number;
    writes_ok: number;
    writes_failed: number;
    reads_ok: number;
    reads_failed: number;
  };
  keyspace?: string;
  table?: string;
  partition?: { minority: number[]; majority: number[] } | null;
}

export interface CqlResult {
  columns: string[];
  rows: unknown[][];
}

export interface ReplicaList {
  keyspace: string;
  table: string;
  token: string;
  replicas: { listen: string; http: string; dc: string; up: boolean }[];
}

export interface LocalCell {
  value: unknown;
  writetime: number;
}

export interface LocalRows {
  node: string;
  replica: boolean;
  rows: { key: Record<string, unknown>; cells: Record<string, LocalCell> }[];
}
