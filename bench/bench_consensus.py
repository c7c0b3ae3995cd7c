#!/usr/bin/python3
"""Consensus benchmarks: Sibyl's LWTs and Raft failover, with etcd as the
anchor (issue 11, item 7; docs/benchmarks.md "Consensus").

On a real local 3-node Sibyl cluster (bench_cluster.py's Cluster: 127.0.0.1-3,
same ports on each, default settings: Raft heartbeat 100 ms, election
timeout 1000 ms) it measures, with the Python driver:

  1. LWT throughput and latency: N client threads for S seconds each phase,
     (a) INSERT ... IF NOT EXISTS on distinct keys, (b) UPDATE ... IF v = ?
     on H hot keys (compare-and-set; a not-applied answer carries the
     current value, which the thread uses next), and (c) plain INSERTs at
     QUORUM for comparison; ops/s, p50/p99 latency seen by the client, and
     the change of sibyl_lwt_total / sibyl_lwt_contention_total summed over
     the three nodes' /metrics;
  2. leader failover, R runs: find the Raft leader (GET /api/v1/raft),
     SIGKILL it, then measure (a) the time until a surviving node reports a
     new leader (polled every 10 ms), and, with a CREATE TABLE sent through
     a survivor at once and a fresh one every 100 ms, (b) the time until
     one is committed and in that survivor's schema and (c) until the
     first is answered without error; restart the killed node and wait for
     it to follow again.

Then on 3 etcd members (Debian's /usr/bin/etcd, 127.0.0.1, free ports,
--heartbeat-interval 100 --election-timeout 1000, data under /tmp), through
its v3 HTTP/JSON gateway:

  3. the same client load as 1: N threads of compare-and-swap txns, create
     if absent (create_revision = 0) on distinct keys, then value = expected
     on H hot keys; and plain puts;
  4. the same failover: the leader from /v3/maintenance/status, SIGKILL,
     (a) the time until a survivor reports another leader, and with puts
     through a survivor as in 2, (b) until one is readable there (a local,
     serializable read) and (c) until the first is acknowledged; R runs.

Prints progress and a table, then one line per figure starting with
"consensus-"; the same lines go to --out when given. Knobs (environment):
  BENCH_CONSENSUS_SECONDS=10   length of each throughput phase
  BENCH_CONSENSUS_CLIENTS=16   client threads
  BENCH_CONSENSUS_HOT_KEYS=4   hot keys of the compare-and-set phase
  BENCH_CONSENSUS_RUNS=5       failover runs (each system)
  BENCH_CONSENSUS_ONLY="lwt failover etcd"  a subset
Every wait is bounded in time; only processes started here are signalled
(by pid); the data directories are removed at the end. etcd is a
reference for this benchmark only, never a dependency of the node.
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import HOSTS, ROOT, Cluster, log  # noqa: E402

ETCD = "/usr/bin/etcd"


def pct(xs, p):
    """The p-th percentile (nearest rank) of xs, in ms; 0 when empty."""
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))] * 1000.0


def spread(xs):
    return "min %.2f / median %.2f / max %.2f s" % (min(xs), statistics.median(xs), max(xs))


def run_clients(n, seconds, op):
    """n threads call op(thread, i) for `seconds` (i counts that thread's
    calls); op returns an outcome name. {outcome: count}, latencies (s)."""
    lock = threading.Lock()
    counts, lats = {}, []
    stop_at = time.monotonic() + seconds

    def client(t):
        mine, my_lats, i = {}, [], 0
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                what = op(t, i)
            except Exception as e:  # counted by kind, a benchmark keeps going
                what = "error:" + type(e).__name__
            my_lats.append(time.perf_counter() - t0)
            mine[what] = mine.get(what, 0) + 1
            i += 1
        with lock:
            lats.extend(my_lats)
            for k, v in mine.items():
                counts[k] = counts.get(k, 0) + v

    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(n)]
    cpu0 = sum(os.times()[:2])
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    counts["client_cores"] = round((sum(os.times()[:2]) - cpu0) / seconds, 2)
    return counts, lats


def describe_counts(counts):
    return ", ".join("%s %d" % (k, v) for k, v in sorted(counts.items()))


# ------------------------------------------------------------------ Sibyl


def http_json(url, body, timeout):
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def raft_view(c, i, timeout=0.5):
    try:
        with urllib.request.urlopen("http://%s/api/v1/raft" % c.addr(i, c.http),
                                    timeout=timeout) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def raft_leader(c, i, timeout=0.5):
    """Index of the node that node i names as leader, or None."""
    v = raft_view(c, i, timeout)
    if not v or not v.get("leader"):
        return None
    host = v["leader"].rsplit(":", 1)[0]
    return HOSTS.index(host) if host in HOSTS else None


def wait_raft_formed(c, limit=60):
    """Until all three nodes name the same leader and three voters."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        c.check_alive()
        views = [raft_view(c, i) for i in range(3)]
        if all(views) and len({v.get("leader") for v in views}) == 1 and views[0]["leader"] \
                and all(len(v.get("voters", [])) == 3 for v in views):
            return raft_leader(c, 0)
        time.sleep(0.1)
    raise SystemExit("bench_consensus: no Raft leader with 3 voters within %d s" % limit)


def lwt_metrics(c):
    """{outcome: count} of sibyl_lwt_total plus 'contention', summed over
    the live nodes' /metrics."""
    tot = {}
    for i in range(3):
        try:
            with urllib.request.urlopen("http://%s/metrics" % c.addr(i, c.http),
                                        timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue
        for m in re.finditer(r'^sibyl_lwt_total\{outcome="(\w+)"\} (\S+)$', text, re.M):
            tot[m.group(1)] = tot.get(m.group(1), 0) + float(m.group(2))
        m = re.search(r"^sibyl_lwt_contention_total (\S+)$", text, re.M)
        if m:
            tot["contention"] = tot.get("contention", 0) + float(m.group(1))
    return tot


def driver_session(hosts, port, keyspace=None, pinned=False):
    from cassandra.cluster import Cluster as Driver
    from cassandra.policies import WhiteListRoundRobinPolicy
    kw = {}
    if pinned:  # every request, and the control connection, to these hosts
        kw = dict(load_balancing_policy=WhiteListRoundRobinPolicy(hosts),
                  max_schema_agreement_wait=0, schema_metadata_enabled=False)
    cl = Driver(hosts, port=port, **kw)
    return cl, cl.connect(keyspace)


def bench_lwt(c, args, figures, table):
    from cassandra import ConsistencyLevel as CL
    cl, s = driver_session(HOSTS, c.cql)
    try:
        s.execute("CREATE KEYSPACE IF NOT EXISTS cb WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE IF NOT EXISTS cb.reg (k text PRIMARY KEY, v int)")
        s.execute("CREATE TABLE IF NOT EXISTS cb.plain (k text PRIMARY KEY, v int)")
        cl.control_connection.wait_for_schema_agreement()
        ins = s.prepare("INSERT INTO cb.reg (k, v) VALUES (?, ?) IF NOT EXISTS")
        cas = s.prepare("UPDATE cb.reg SET v = ? WHERE k = ? IF v = ?")
        plain = s.prepare("INSERT INTO cb.plain (k, v) VALUES (?, ?)")
        plain.consistency_level = CL.QUORUM
        hot = ["hot%d" % h for h in range(args.hot_keys)]
        for k in hot:
            s.execute(ins, (k, 0))
        seen = {}  # (thread, key) -> the value last seen

        def op_insert(t, i):
            r = s.execute(ins, ("t%d-%d" % (t, i), i))
            return "applied" if r.was_applied else "not_applied"

        def op_cas(t, i):
            k = hot[(t + i) % len(hot)]
            old = seen.get((t, k), 0)
            r = s.execute(cas, (old + 1, k, old))
            if r.was_applied:
                seen[(t, k)] = old + 1
                return "applied"
            row = r.one()
            seen[(t, k)] = row.v if row is not None and row.v is not None else 0
            return "not_applied"

        def op_plain(t, i):
            s.execute(plain, ("t%d-%d" % (t, i), i))
            return "ok"

        phases = (("lwt-insert", "INSERT ... IF NOT EXISTS, distinct keys", op_insert),
                  ("lwt-cas", "UPDATE ... IF v = ?, %d hot keys" % len(hot), op_cas),
                  ("quorum-insert", "plain INSERT at QUORUM, distinct keys", op_plain))
        for name, what, op in phases:
            log("-- sibyl %s: %d client threads for %d s" % (what, args.clients, args.seconds))
            m0, cpu0, t0 = lwt_metrics(c), c.cpu_s(), time.monotonic()
            counts, lats = run_clients(args.clients, args.seconds, op)
            secs = time.monotonic() - t0
            cores = (c.cpu_s() - cpu0) / secs
            client_cores = counts.pop("client_cores")
            m1 = lwt_metrics(c)
            dm = {k: int(m1.get(k, 0) - m0.get(k, 0)) for k in m1}
            n = sum(counts.values())
            server = ("; /metrics: %s" % describe_counts({k: v for k, v in dm.items() if v})
                      if name != "quorum-insert" else "")
            figures.append(
                "consensus-sibyl-%s: %.0f ops/s (%s; 3 local nodes, RF 3, %d client threads, "
                "one driver session); p50 %.2f ms, p99 %.2f ms; client: %s%s; the 3 nodes used "
                "%.2f cores, the client %.2f" % (name, n / secs, what, args.clients, pct(lats, 50),
                                                 pct(lats, 99), describe_counts(counts), server,
                                                 cores, client_cores))
            log(figures[-1])
            table.append(("Sibyl " + what, "%.0f" % (n / secs), "%.2f" % pct(lats, 50),
                          "%.2f" % pct(lats, 99), describe_counts(counts) + server.replace(";", "")))
            c.check_alive()
    finally:
        cl.shutdown()


def measure_failover(kill, new_leader, applied, commit, limit=30.0, every=0.1):
    """Kills the leader; from then on polls new_leader() and applied()
    every 10 ms until each is true, and starts commit(k) in a new thread
    every `every` s (k = 0, 1, ...) until applied() says one of them is
    in the surviving node's state, then waits for their answers. A request
    sent just after the kill may wait out a timeout on the dead leader;
    the fresh attempts show when the group commits again.
    Returns {"leader": s, "applied": s, "commit": s (the first attempt
    answered without error), "first": (s, error or None) of the attempt
    sent at the kill, "attempts": n, "errors": [...]}, times from the kill."""
    got = {"errors": []}
    lock = threading.Lock()
    seen = threading.Event()
    t0 = time.monotonic()
    kill()

    def poll():
        while time.monotonic() - t0 < limit and not ("leader" in got and "applied" in got):
            if "leader" not in got and new_leader():
                got["leader"] = time.monotonic() - t0
            if "applied" not in got and applied():
                got["applied"] = time.monotonic() - t0
                seen.set()
            time.sleep(0.01)
        seen.set()

    def attempt(k):
        err = None
        try:
            commit(k)
        except Exception as e:  # no leader yet, or the old one timed out
            err = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:100] if str(e) else "")
        t = time.monotonic() - t0
        with lock:
            if k == 0:
                got["first"] = (t, err)
            if err is None:
                got["commit"] = min(t, got.get("commit", t))
                seen.set()
            else:
                got["errors"].append("#%d %.2fs %s" % (k, t, err))

    threads = [threading.Thread(target=poll, daemon=True)]
    threads[0].start()
    k = 0
    while not seen.is_set():
        th = threading.Thread(target=attempt, args=(k,), daemon=True)
        th.start()
        threads.append(th)
        k += 1
        seen.wait(every)
    got["attempts"] = k
    for th in threads:
        th.join(max(1.0, limit + 15 - (time.monotonic() - t0)))
    if not all(w in got for w in ("leader", "applied", "commit")):
        raise SystemExit("bench_consensus: no new leader, commit or answer within %.0f s (%s)"
                         % (limit, got))
    return got


def first_str(got):
    t, err = got.get("first", (float("nan"), "not answered"))
    return "%.2f s, %s" % (t, "ok" if err is None else err)


def sibyl_failover_once(c, run):
    leader = wait_raft_formed(c)
    c.wait_normal(limit=60)
    survivors = [i for i in range(3) if i != leader]
    via = survivors[run % 2]
    cl, s = driver_session([HOSTS[via]], c.cql, pinned=True)
    try:
        s.execute("SELECT key FROM system.local")  # connected before the kill

        def new_leader():
            return any(raft_leader(c, i, timeout=0.3) not in (None, leader) for i in survivors)

        def applied():  # one of the tables, in the schema of the node asked
            try:
                doc = http_json("http://%s/api/v1/cql" % c.addr(via, c.http), {
                    "query": "SELECT table_name FROM system_schema.tables "
                             "WHERE keyspace_name = 'cb'"}, timeout=0.5)
            except (OSError, ValueError):
                return False
            return any(r and str(r[0]).startswith("fo%d_" % run) for r in doc.get("rows", []))

        def ddl(k):
            s.execute("CREATE TABLE cb.fo%d_%d (k int PRIMARY KEY, v int)" % (run, k),
                      timeout=10)

        got = measure_failover(lambda: c.kill(leader), new_leader, applied, ddl)
    finally:
        cl.shutdown()
    log("   run %d: killed node %d (the leader); a survivor names a new leader after %.3f s; "
        "a CREATE TABLE sent through node %d is in its schema after %.3f s, the first "
        "answered after %.3f s (%d attempts, one every 100 ms; the one sent at the kill: %s)"
        % (run + 1, leader + 1, got["leader"], via + 1, got["applied"], got["commit"],
           got["attempts"], first_str(got)))
    c.start(leader)
    wait_raft_formed(c)
    return got


def bench_failover(system, once, runs, commit_what, settings, figures, table):
    """runs x once(run) -> measure_failover's dict; the figure and rows."""
    log("-- %s leader failover: %d runs of SIGKILL the leader, restart it" % (system, runs))
    gots = []
    for run in range(runs):
        time.sleep(2)
        gots.append(once(run))
    leaders = [g["leader"] for g in gots]
    applied = [g["applied"] for g in gots]
    commits = [g["commit"] for g in gots]
    firsts = [g["first"][0] for g in gots if "first" in g]
    first_ok = sum(1 for g in gots if "first" in g and g["first"][1] is None)
    runs_s = lambda xs: "/".join("%.2f" % x for x in xs)  # noqa: E731
    figures.append(
        "consensus-%s-failover (%d runs; %s): leader SIGKILLed -> a survivor names a new leader "
        "%s; -> a %s sent through a survivor (a new attempt every 100 ms) committed and applied "
        "there %s, answered %s; the attempt sent at the kill answered after %s (%d of %d ok); "
        "runs %s / %s / %s s"
        % (system.lower(), len(gots), settings, spread(leaders), commit_what, spread(applied),
           spread(commits), spread(firsts), first_ok, len(firsts), runs_s(leaders),
           runs_s(applied), runs_s(commits)))
    log(figures[-1])
    table.append(("%s: new leader named" % system, spread(leaders)))
    table.append(("%s: %s committed + applied" % (system, commit_what), spread(applied)))
    table.append(("%s: %s answered" % (system, commit_what), spread(commits)))
    table.append(("%s: the %s sent at the kill answered" % (system, commit_what),
                  "%s (%d of %d ok)" % (spread(firsts), first_ok, len(firsts))))


# ------------------------------------------------------------------- etcd


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Etcd:
    """Three etcd members on 127.0.0.1 with free ports, Sibyl's timing."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "etcd")
        socks = [socket.socket() for _ in range(6)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        ports = [s.getsockname()[1] for s in socks]
        for s in socks:
            s.close()
        self.client = ports[:3]
        self.peer = ports[3:]
        self.procs = [None, None, None]
        self.initial = ",".join("e%d=http://127.0.0.1:%d" % (i, self.peer[i]) for i in range(3))

    def url(self, i):
        return "http://127.0.0.1:%d" % self.client[i]

    def start(self, i):
        data = os.path.join(self.dir, "e%d" % i)
        state = "existing" if os.path.isdir(data) else "new"
        os.makedirs(self.dir, exist_ok=True)
        logf = open(os.path.join(self.dir, "e%d.log" % i), "ab")
        cmd = [ETCD, "--name", "e%d" % i, "--data-dir", data,
               "--listen-client-urls", self.url(i), "--advertise-client-urls", self.url(i),
               "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer[i],
               "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer[i],
               "--initial-cluster", self.initial, "--initial-cluster-state", state,
               "--initial-cluster-token", "sibyl-bench",
               "--heartbeat-interval", "100", "--election-timeout", "1000",
               "--logger", "zap", "--log-level", "warn"]
        self.procs[i] = subprocess.Popen(cmd, stdout=logf, stderr=logf)
        logf.close()

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs[i]
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(sig)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
        self.procs[i] = None

    def stop(self):
        for i in range(3):
            self.kill(i, signal.SIGTERM)

    def post(self, i, path, body, timeout=2.0, conn=None):
        if conn is not None:  # a kept-alive connection of a client thread
            conn.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
            r = conn.getresponse()
            out = r.read()
            if r.status != 200:
                raise OSError("etcd %s: %d %s" % (path, r.status, out[:200]))
            return json.loads(out)
        return http_json(self.url(i) + path, body, timeout)

    def status(self, i, timeout=0.3):
        """(member id, leader id) as member i reports them, or None."""
        try:
            st = self.post(i, "/v3/maintenance/status", {}, timeout)
        except (OSError, ValueError):
            return None
        return st.get("header", {}).get("member_id"), st.get("leader")

    def leader(self, limit=60):
        """Index of the member all three agree leads, once they do."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for i, p in enumerate(self.procs):
                if p is not None and p.poll() is not None:
                    raise SystemExit("bench_consensus: etcd member %d exited:\n%s" % (
                        i, open(os.path.join(self.dir, "e%d.log" % i)).read()[-2000:]))
            sts = [self.status(i) for i in range(3)]
            if all(sts) and len({s[1] for s in sts}) == 1 and sts[0][1] not in (None, "0"):
                for i, s in enumerate(sts):
                    if s[0] == s[1]:
                        return i
            time.sleep(0.1)
        raise SystemExit("bench_consensus: etcd has no agreed leader within %d s" % limit)


def etcd_failover_once(e, run):
    leader = e.leader()
    old_id = e.status(leader)[0]
    survivors = [i for i in range(3) if i != leader]
    via = survivors[run % 2]

    def new_leader():
        for i in survivors:
            st = e.status(i)
            if st and st[1] not in (None, "0", old_id):
                return True
        return False

    def applied():  # one of the keys, read locally (serializable) from `via`
        try:
            r = e.post(via, "/v3/kv/range", {"key": b64("fo%d_" % run),
                                              "range_end": b64("fo%d`" % run),
                                              "serializable": True, "count_only": True}, 0.5)
        except (OSError, ValueError):
            return False
        return int(r.get("count", 0)) > 0

    def put(k):
        e.post(via, "/v3/kv/put", {"key": b64("fo%d_%d" % (run, k)), "value": b64("x")},
               timeout=10)

    got = measure_failover(lambda: e.kill(leader), new_leader, applied, put)
    log("   run %d: killed member %d (the leader); a survivor names a new leader after %.3f s; "
        "a put sent through member %d is readable there after %.3f s, the first acknowledged "
        "after %.3f s (%d attempts, one every 100 ms; the one sent at the kill: %s)"
        % (run + 1, leader, got["leader"], via, got["applied"], got["commit"], got["attempts"],
           first_str(got)))
    e.start(leader)
    e.leader()
    return got


def etcd_version():
    try:
        out = subprocess.run([ETCD, "--version"], capture_output=True, text=True, timeout=10)
        m = re.search(r"etcd Version: (\S+)", out.stdout)
        return m.group(1) if m else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def bench_etcd_load(e, args, figures, table):
    hot = ["hot%d" % h for h in range(args.hot_keys)]
    for k in hot:
        e.post(0, "/v3/kv/put", {"key": b64(k), "value": b64("0")})
    local = threading.local()

    def conn(t):
        # one kept-alive connection per thread, spread over the members
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection("127.0.0.1", e.client[t % 3], timeout=10)
        return local.conn

    def call(t, path, body):
        try:
            return e.post(0, path, body, conn=conn(t))
        except (OSError, http.client.HTTPException):
            local.conn.close()
            local.conn = None
            raise

    seen = {}

    def op_create(t, i):
        k = b64("t%d-%d" % (t, i))
        r = call(t, "/v3/kv/txn", {
            "compare": [{"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": k, "value": b64(str(i))}}]})
        return "applied" if r.get("succeeded") else "not_applied"

    def op_cas(t, i):
        k = hot[(t + i) % len(hot)]
        old = seen.get((t, k), 0)
        r = call(t, "/v3/kv/txn", {
            "compare": [{"key": b64(k), "target": "VALUE", "result": "EQUAL",
                         "value": b64(str(old))}],
            "success": [{"request_put": {"key": b64(k), "value": b64(str(old + 1))}}],
            "failure": [{"request_range": {"key": b64(k)}}]})
        if r.get("succeeded"):
            seen[(t, k)] = old + 1
            return "applied"
        kvs = r["responses"][0]["response_range"].get("kvs") or []
        seen[(t, k)] = int(base64.b64decode(kvs[0]["value"])) if kvs else 0
        return "not_applied"

    def op_put(t, i):
        call(t, "/v3/kv/put", {"key": b64("p%d-%d" % (t, i)), "value": b64(str(i))})
        return "ok"

    phases = (("txn-create", "txn put if create_revision = 0, distinct keys", op_create),
              ("txn-cas", "txn put if value = ?, %d hot keys" % len(hot), op_cas),
              ("put", "plain put, distinct keys", op_put))
    for name, what, op in phases:
        log("-- etcd %s: %d client threads for %d s" % (what, args.clients, args.seconds))
        # Cluster.cpu_s reads only .procs: the members' CPU the same way
        cpu0, t0 = Cluster.cpu_s(e), time.monotonic()
        counts, lats = run_clients(args.clients, args.seconds, op)
        secs = time.monotonic() - t0
        cores = (Cluster.cpu_s(e) - cpu0) / secs
        client_cores = counts.pop("client_cores")
        n = sum(counts.values())
        figures.append(
            "consensus-etcd-%s: %.0f ops/s (%s; 3 local members, %d client threads over the "
            "v3 HTTP/JSON gateway, one kept-alive connection each); p50 %.2f ms, p99 %.2f ms; "
            "client: %s; the 3 members used %.2f cores, the client %.2f"
            % (name, n / secs, what, args.clients, pct(lats, 50), pct(lats, 99),
               describe_counts(counts), cores, client_cores))
        log(figures[-1])
        table.append(("etcd " + what, "%.0f" % (n / secs), "%.2f" % pct(lats, 50),
                      "%.2f" % pct(lats, 99), describe_counts(counts)))


# ------------------------------------------------------------------- main


def print_table(table):
    load = [r for r in table if len(r) == 5]
    fo = [r for r in table if len(r) == 2]
    if load:
        w = max(len(r[0]) for r in load)
        log("\n%-*s  %8s  %8s  %8s  %s" % (w, "load", "ops/s", "p50 ms", "p99 ms", "outcomes"))
        for r in load:
            log("%-*s  %8s  %8s  %8s  %s" % (w, r[0], r[1], r[2], r[3], r[4]))
    if fo:
        w = max(len(r[0]) for r in fo)
        log("\n%-*s  %s" % (w, "failover (from SIGKILL of the leader)", "time"))
        for r in fo:
            log("%-*s  %s" % (w, r[0], r[1]))
    log("")


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sibyl", default=os.path.join(ROOT, "build/sibyl"))
    ap.add_argument("--seconds", type=int, default=int(env("BENCH_CONSENSUS_SECONDS", "10")))
    ap.add_argument("--clients", type=int, default=int(env("BENCH_CONSENSUS_CLIENTS", "16")))
    ap.add_argument("--hot-keys", type=int, default=int(env("BENCH_CONSENSUS_HOT_KEYS", "4")))
    ap.add_argument("--runs", type=int, default=int(env("BENCH_CONSENSUS_RUNS", "5")))
    ap.add_argument("--only", default=env("BENCH_CONSENSUS_ONLY", "lwt failover etcd"))
    ap.add_argument("--out", help="append the figure lines to this file")
    args = ap.parse_args()
    only = args.only.split()
    if not os.access(args.sibyl, os.X_OK):
        raise SystemExit("bench_consensus: %s is missing; run 'make bench'" % args.sibyl)
    if "etcd" in only and not os.access(ETCD, os.X_OK):
        raise SystemExit("bench_consensus: %s is missing; run 'scripts/deps.sh bench' as root"
                         % ETCD)

    tmp = tempfile.mkdtemp(prefix="sibyl-bench-consensus-")
    sibyl = os.path.join(tmp, "sibyl")  # a private copy: rebuilds change nothing
    shutil.copy2(args.sibyl, sibyl)
    figures, table = [], []
    c = e = None
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    try:
        log("== consensus benchmarks: 3 local nodes and the clients share this machine's %d "
            "CPUs" % os.cpu_count())
        if "lwt" in only or "failover" in only:
            c = Cluster(sibyl, tmp, "nodes", [])
            log("-- starting a 3-node Sibyl cluster (defaults)")
            c.start_all()
            log("   Raft leader: node %d" % (wait_raft_formed(c) + 1))
            if "lwt" in only:
                bench_lwt(c, args, figures, table)
            if "failover" in only:
                if "lwt" not in only:
                    cl, s = driver_session(HOSTS, c.cql)
                    s.execute("CREATE KEYSPACE IF NOT EXISTS cb WITH replication = "
                              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
                    cl.shutdown()
                bench_failover("Sibyl", lambda run: sibyl_failover_once(c, run), args.runs,
                               "CREATE TABLE", "Raft heartbeat 100 ms, election timeout 1000 ms",
                               figures, table)
            c.stop()
            c = None
        if "etcd" in only:
            e = Etcd(tmp)
            log("-- starting 3 etcd members (%s)" % etcd_version())
            for i in range(3):
                e.start(i)
            log("   etcd leader: member %d" % e.leader())
            bench_etcd_load(e, args, figures, table)
            bench_failover("etcd", lambda run: etcd_failover_once(e, run), args.runs, "put",
                           "etcd %s, heartbeat 100 ms, election timeout 1000 ms"
                           % etcd_version(), figures, table)
            e.stop()
            e = None
        print_table(table)
        for f in figures:
            log(f)
    finally:
        if c is not None:
            c.stop()
        if e is not None:
            e.stop()
        if args.out and figures:
            with open(args.out, "a") as f:
                f.write("".join(l + "\n" for l in figures))
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
