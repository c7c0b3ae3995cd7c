#!/usr/bin/python3
"""Cluster benchmarks on a real local 3-node cluster (issue 4).

Starts three `sibyl node` processes ccm style, on 127.0.0.1, .2 and .3 with
the same three ports each (node-to-node, CQL, HTTP; picked free first),
seeded from 127.0.0.1, and measures:

  1. prepared single-row inserts through the native protocol (bench_cql,
     connections spread round-robin over the three nodes), keyspace RF 3,
     durable (group commit), at QUORUM and at ONE: writes/s, p50/p99;
  2. failure detection: SIGKILL one node, time until both others report it
     "down" in GET /api/v1/cluster (polled every 50 ms); restart it (same
     data dir and flags), time until both report it "up"; median of N runs,
     with the default gossip interval (1000 ms, phi 8) and with 200 ms;
  3. hint replay: kill one node, run `sibyl sim` (RF 3) against the two
     live nodes for 60 s, restart it; hints pending (sum of hints_pending on
     the live nodes) and the drain rate from the start of replay to zero,
     with the default --hints-per-second (1000) and with 10000.
     (The pending count is polled every 50 ms, so with few hints the rate is
     a lower bound; BENCH_SIM_BATCH=10 makes one hint per ~10 readings.)

The nodes and the load generator share this machine's CPUs (no pinning).
Prints progress, then one line per figure starting with "cluster-"; the
same lines go to --out when given. Knobs (environment):
  BENCH_SECONDS=15            insert run length (each consistency level)
  BENCH_CLUSTER_CONNECTIONS=6 native-protocol connections (2 per node)
  BENCH_CLUSTER_INFLIGHT=32   requests in flight per connection
  BENCH_FD_RUNS=3             kill/restart runs per gossip interval
  BENCH_HINT_SECONDS=60       downtime under the simulator's load
  BENCH_SIM_RATE=1000         simulator readings per second (whole fleet)
  BENCH_SIM_BATCH=500         simulator points per request (its default)
  BENCH_CLUSTER_ONLY="writes fd hints"  a subset
Every wait is bounded in time; only processes started here are signalled
(by pid); the data directories are removed at the end.
"""
import argparse
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
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


def log(msg):
    print(msg, flush=True)


def free_ports(n=3):
    """n port numbers free on all three loopback addresses."""
    for _ in range(50):
        socks = []
        try:
            probe = [socket.socket() for _ in range(n)]
            for s in probe:
                s.bind(("127.0.0.1", 0))
            ports = [s.getsockname()[1] for s in probe]
            socks += probe
            for h in HOSTS[1:]:
                for p in ports:
                    s = socket.socket()
                    socks.append(s)
                    s.bind((h, p))
            return ports
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise SystemExit("bench_cluster: no free ports on 127.0.0.1-3")


class Cluster:
    def __init__(self, sibyl, tmp, name, flags):
        self.sibyl = sibyl
        self.dir = os.path.join(tmp, name)
        self.flags = list(flags)
        self.listen, self.cql, self.http = free_ports()
        self.procs = [None, None, None]

    def addr(self, i, port):
        return "%s:%d" % (HOSTS[i], port)

    def start(self, i):
        data = os.path.join(self.dir, "n%d" % (i + 1))
        os.makedirs(data, exist_ok=True)
        logf = open(os.path.join(self.dir, "n%d.log" % (i + 1)), "ab")
        cmd = [self.sibyl, "node", "--data", data,
               "--listen", self.addr(i, self.listen), "--cql", self.addr(i, self.cql),
               "--http", self.addr(i, self.http), "--seeds", self.addr(0, self.listen)]
        self.procs[i] = subprocess.Popen(cmd + self.flags, stdout=logf, stderr=logf)
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

    def check_alive(self):
        for i, p in enumerate(self.procs):
            if p is not None and p.poll() is not None:
                tail = open(os.path.join(self.dir, "n%d.log" % (i + 1)), "rb").read()[-2000:]
                sys.stderr.write(tail.decode(errors="replace"))
                raise SystemExit("bench_cluster: node %d exited (status %s)" % (i + 1, p.returncode))

    def view(self, i, timeout=1.0):
        """{address: node dict} of node i's /api/v1/cluster, or None."""
        url = "http://%s/api/v1/cluster" % self.addr(i, self.http)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                doc = json.load(r)
        except (OSError, ValueError):
            return None
        return {n.get("address"): n for n in doc.get("nodes", [])}

    def wait_normal(self, which=(0, 1, 2), limit=60):
        """Until every node in `which` sees all three NORMAL and up."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.check_alive()
            ok = True
            for i in which:
                v = self.view(i)
                if not v or any(
                        (h not in v) or v[h].get("status") != "NORMAL" or v[h].get("state") != "up"
                        for h in HOSTS):
                    ok = False
                    break
            if ok:
                return time.monotonic()
            time.sleep(0.1)
        raise SystemExit("bench_cluster: the cluster did not reach 3 NORMAL/up nodes in %d s" % limit)

    def start_all(self):
        for i in range(3):
            self.start(i)
            if i == 0:
                time.sleep(0.3)  # the seed first
        self.wait_normal()

    def targets(self, port):
        return ",".join(self.addr(i, port) for i in range(3))

    def cpu_s(self):
        tot = 0.0
        for p in self.procs:
            if p is None:
                continue
            try:
                f = open("/proc/%d/stat" % p.pid).read()
            except OSError:
                continue
            fields = f[f.rindex(")") + 2:].split()
            tot += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return tot


def result(line, key):
    m = re.search(r"\b%s=(\S+)" % key, line)
    return m.group(1) if m else "?"


# ------------------------------------------------------------------ writes


def bench_writes(c, args, figures):
    for cl, seed in (("QUORUM", 1), ("ONE", 2)):
        log("-- cluster inserts at %s: %d connections x %d in flight over 3 nodes for %d s"
            % (cl, args.connections, args.inflight, args.seconds))
        cpu0, t0 = c.cpu_s(), time.monotonic()
        cmd = [args.bench_cql, "--targets", c.targets(c.cql), "--replication-factor", "3",
               "--consistency", cl, "--mode", "insert", "--connections", str(args.connections),
               "--inflight", str(args.inflight), "--duration", str(args.seconds),
               "--warmup", "2", "--seed", str(seed)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 timeout=args.seconds + 120)
        except subprocess.TimeoutExpired:
            raise SystemExit("bench_cluster: bench_cql did not finish")
        cores = (c.cpu_s() - cpu0) / max(time.monotonic() - t0, 1e-9)
        sys.stderr.write(out.stderr)
        lines = out.stdout.splitlines()
        for l in lines:
            if not l.startswith("RESULT"):
                log(l)
        r = next((l for l in lines if l.startswith("RESULT")), None)
        if r is None:
            raise SystemExit("bench_cluster: bench_cql failed (status %d)" % out.returncode)
        figures.append(
            "cluster-writes-%s: %s prepared inserts/s on 3 local nodes (RF 3, %s, durable group "
            "commit, %d connections spread over the nodes, %d in flight each); p50 %s ms, p99 %s ms; "
            "%s errors; the 3 nodes used %.2f cores; nodes and generator share %d CPUs"
            % (cl.lower(), result(r, "ops_per_s"), cl, args.connections, args.inflight,
               result(r, "p50_ms"), result(r, "p99_ms"), result(r, "errors"), cores,
               os.cpu_count()))
        log(figures[-1])
        c.check_alive()


# ----------------------------------------------------------- failure detection


def poll_state(c, victim, observers, want, limit):
    """Seconds (from now) until every observer reports victim's state as
    `want`; polled every 50 ms; None after `limit` s."""
    t0 = time.monotonic()
    seen = {}
    while time.monotonic() - t0 < limit:
        for i in observers:
            if i in seen:
                continue
            v = c.view(i, timeout=0.5)
            if v and HOSTS[victim] in v and v[HOSTS[victim]].get("state") == want:
                seen[i] = time.monotonic() - t0
        if len(seen) == len(observers):
            return max(seen.values())
        time.sleep(0.05)
    return None


def bench_fd(sibyl, tmp, args, figures, interval, c=None):
    own = c is None
    if own:
        flags = ["--gossip-interval-ms", str(interval)]
        c = Cluster(sibyl, tmp, "fd%d" % interval, flags)
        log("-- starting a 3-node cluster with --gossip-interval-ms %d" % interval)
        c.start_all()
    log("-- failure detection, gossip interval %d ms, phi 8: %d kill/restart runs of node 3"
        % (interval, args.fd_runs))
    victim, observers = 2, (0, 1)
    downs, ups = [], []
    try:
        for run in range(args.fd_runs):
            time.sleep(3)  # let the detector collect intervals again
            c.kill(victim)
            d = poll_state(c, victim, observers, "down", 120)
            if d is None:
                raise SystemExit("bench_cluster: node 3 not reported down within 120 s")
            c.start(victim)
            u = poll_state(c, victim, observers, "up", 120)
            if u is None:
                raise SystemExit("bench_cluster: node 3 not reported up within 120 s")
            log("   run %d: down after %.2f s, up after %.2f s" % (run + 1, d, u))
            downs.append(d)
            ups.append(u)
            c.wait_normal(limit=60)
    finally:
        if own:
            c.stop()
            shutil.rmtree(c.dir, ignore_errors=True)
    figures.append(
        "cluster-fd-%dms: killed node reported down by both others after %.2f s, restarted node "
        "reported up after %.2f s (median of %d; runs down %s s, up %s s; gossip %d ms, phi 8, "
        "polled every 50 ms)"
        % (interval, statistics.median(downs), statistics.median(ups), len(downs),
           "/".join("%.2f" % x for x in downs), "/".join("%.2f" % x for x in ups), interval))
    log(figures[-1])


# ---------------------------------------------------------------- hints


def pending(c, victim, observers):
    tot = 0
    for i in observers:
        v = c.view(i, timeout=1.0)
        if not v or HOSTS[victim] not in v:
            return None
        tot += int(v[HOSTS[victim]].get("hints_pending") or 0)
    return tot


def run_sim(c, args, nodes, seconds, tag):
    targets = ",".join(c.addr(i, c.http) for i in nodes)
    cmd = [c.sibyl, "sim", "--target", targets, "--replication",
           '{"class": "SimpleStrategy", "replication_factor": 3}',
           "--rate", str(args.sim_rate), "--batch", str(args.sim_batch),
           "--duration", str(seconds), "--status", "0"]
    logf = open(os.path.join(c.dir, "sim-%s.log" % tag), "wb")
    try:
        p = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise SystemExit("bench_cluster: sim did not finish")
    finally:
        logf.close()
    if p.returncode != 0:
        sys.stderr.write(open(os.path.join(c.dir, "sim-%s.log" % tag)).read()[-2000:])
        raise SystemExit("bench_cluster: sim failed (status %d)" % p.returncode)


def bench_hints(sibyl, tmp, args, figures, hps, c=None):
    own = c is None
    if own:
        flags = ["--hints-per-second", str(hps)]
        c = Cluster(sibyl, tmp, "hints%d" % hps, flags)
        log("-- starting a 3-node cluster with --hints-per-second %d" % hps)
        c.start_all()
    victim, observers = 2, (0, 1)
    try:
        log("-- hints (replay rate %d/s): sim for 3 s on all nodes (creates the RF 3 keyspace)"
            % hps)
        run_sim(c, args, (0, 1, 2), 3, "warm%d" % hps)
        before = pending(c, victim, observers) or 0
        c.kill(victim)
        d = poll_state(c, victim, observers, "down", 120)
        log("   node 3 killed (down after %.2f s); sim at %d readings/s for %d s on nodes 1-2"
            % (d or -1, args.sim_rate, args.hint_seconds))
        run_sim(c, args, observers, args.hint_seconds, "down%d" % hps)
        h0 = pending(c, victim, observers)
        log("   hints pending for node 3: %s (was %d before the kill)" % (h0, before))
        c.start(victim)
        t_restart = time.monotonic()
        t_start = t_end = None
        last = h0
        samples = []
        while time.monotonic() - t_restart < 600:
            p = pending(c, victim, observers)
            now = time.monotonic()
            if p is not None:
                samples.append((now - t_restart, p))
                if t_start is None and last is not None and p < last:
                    t_start = now
                    h_start = last
                last = p
                if p == 0:
                    t_end = now
                    break
            time.sleep(0.05)
        if t_end is None:
            raise SystemExit("bench_cluster: hints not drained within 600 s (%s left)" % last)
        if t_start is None:  # drained between two polls
            t_start, h_start = t_end - 0.05, h0
        secs = max(t_end - t_start, 0.1)
        rate = h_start / secs if h_start else 0
        figures.append(
            "cluster-hints-%d: %s hints pending after %d s of downtime under sim load (%d "
            "readings/s in requests of up to %d points = %d readings, RF 3, 2 live nodes); "
            "drained in %.1f s from the start of replay = %.0f hints/s = %.0f readings/s "
            "(restart to zero: %.1f s; --hints-per-second %d)"
            % (hps, h0, args.hint_seconds, args.sim_rate, args.sim_batch,
               args.sim_rate * args.hint_seconds, secs, rate,
               args.sim_rate * args.hint_seconds / secs, t_end - t_restart, hps))
        log(figures[-1])
        c.wait_normal(limit=60)
    finally:
        if own:
            c.stop()
            shutil.rmtree(c.dir, ignore_errors=True)


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sibyl", default=os.path.join(ROOT, "build/sibyl"))
    ap.add_argument("--bench-cql", default=os.path.join(ROOT, "build/bench/bench_cql"))
    ap.add_argument("--seconds", type=int, default=int(env("BENCH_SECONDS", "15")))
    ap.add_argument("--connections", type=int,
                    default=int(env("BENCH_CLUSTER_CONNECTIONS", "6")))
    ap.add_argument("--inflight", type=int, default=int(env("BENCH_CLUSTER_INFLIGHT", "32")))
    ap.add_argument("--fd-runs", type=int, default=int(env("BENCH_FD_RUNS", "3")))
    ap.add_argument("--hint-seconds", type=int, default=int(env("BENCH_HINT_SECONDS", "60")))
    ap.add_argument("--sim-rate", type=int, default=int(env("BENCH_SIM_RATE", "1000")))
    ap.add_argument("--sim-batch", type=int, default=int(env("BENCH_SIM_BATCH", "500")))
    ap.add_argument("--only", default=env("BENCH_CLUSTER_ONLY", "writes fd hints"))
    ap.add_argument("--out", help="append the figure lines to this file")
    args = ap.parse_args()
    only = args.only.split()
    for f in (args.sibyl, args.bench_cql):
        if not os.access(f, os.X_OK):
            raise SystemExit("bench_cluster: %s is missing; run 'make bench'" % f)

    tmp = tempfile.mkdtemp(prefix="sibyl-bench-cluster-")
    # A private copy, so a rebuild of build/sibyl during the run changes nothing.
    sibyl = os.path.join(tmp, "sibyl")
    shutil.copy2(args.sibyl, sibyl)
    figures = []
    main_c = None
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    try:
        log("== cluster benchmarks: 3 local nodes (127.0.0.1-3) and the load generator share "
            "this machine's %d CPUs" % os.cpu_count())
        main_c = Cluster(sibyl, tmp, "main", [])
        log("-- starting a 3-node cluster (defaults: gossip 1000 ms, phi 8, group commit)")
        t = time.monotonic()
        main_c.start_all()
        log("   all three NORMAL/up after %.1f s" % (time.monotonic() - t))
        if "writes" in only:
            bench_writes(main_c, args, figures)
        if "fd" in only:
            bench_fd(sibyl, tmp, args, figures, 1000, main_c)
        if "hints" in only:
            bench_hints(sibyl, tmp, args, figures, 1000, main_c)
        main_c.stop()
        shutil.rmtree(main_c.dir, ignore_errors=True)
        main_c = None
        if "fd" in only:
            bench_fd(sibyl, tmp, args, figures, 200)
        if "hints" in only:
            bench_hints(sibyl, tmp, args, figures, 10000)
    finally:
        if main_c is not None:
            main_c.stop()
        if args.out and figures:
            with open(args.out, "a") as f:
                f.write("".join(l + "\n" for l in figures))
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
