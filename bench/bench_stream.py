#!/usr/bin/python3
"""Range streaming benchmark (docs/streaming.md) on two real local nodes.

Starts `sibyl node` on 127.0.0.1 and 127.0.0.2 (same three ports each,
picked free first), creates an RF=1 keyspace with a table of ~1 KB rows
(k bigint PRIMARY KEY, v blob), loads BENCH_STREAM_ROWS rows through the
Python driver (prepared inserts, 64 in flight), then has node 2 pull every
row node 1 holds (POST /api/v1/streams, the whole ring) and measures, from
the POST to the session's end as GET /api/v1/streams reports it:

  1. unthrottled: MB/s and rows/s of the session (bytes are raw key and
     value bytes as stored);
  2. throttled: node 2 restarted with --stream-throughput-mb-per-sec
     BENCH_STREAM_THROTTLE (default 20) and the same stream again (rows
     already present merge in place): the achieved MB/s, which must not
     exceed the limit by more than one chunk's worth.

Prints progress, then one line per figure starting with "stream-"; the
same lines go to --out when given. Knobs (environment):
  BENCH_STREAM_ROWS=100000   rows written (about 1 KB each)
  BENCH_STREAM_THROTTLE=20   MB/s for the throttled run
Every wait is bounded in time; only processes started here are signalled
(by pid); the data directories are removed at the end.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import free_ports  # noqa: E402 (ports free on 127.0.0.1-3)

HOSTS = ["127.0.0.1", "127.0.0.2"]


def log(msg):
    print(msg, flush=True)


def http(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


class Nodes:
    def __init__(self, sibyl, tmp):
        self.sibyl, self.tmp = sibyl, tmp
        self.listen, self.cql, self.http = free_ports()
        self.procs = [None, None]

    def url(self, i):
        return "http://%s:%d" % (HOSTS[i], self.http)

    def start(self, i, extra=()):
        data = os.path.join(self.tmp, "n%d" % (i + 1))
        os.makedirs(data, exist_ok=True)
        logf = open(os.path.join(self.tmp, "n%d.log" % (i + 1)), "ab")
        a = lambda port: "%s:%d" % (HOSTS[i], port)
        self.procs[i] = subprocess.Popen(
            [self.sibyl, "node", "--data", data, "--listen", a(self.listen), "--cql", a(self.cql),
             "--http", a(self.http), "--seeds", "%s:%d" % (HOSTS[0], self.listen),
             "--gossip-interval-ms", "200"] + list(extra), stdout=logf, stderr=logf)
        logf.close()

    def stop(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.procs[i] = None

    def wait_ready(self, i, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.procs[i].poll() is not None:
                raise SystemExit("bench_stream: node %d exited" % (i + 1))
            try:
                with urllib.request.urlopen(self.url(i) + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("bench_stream: node %d not ready in %d s" % (i + 1, limit))

    def wait_both_up(self, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                doc = http("GET", self.url(0) + "/api/v1/cluster", timeout=2)
                nodes = doc.get("nodes", [])
                if len(nodes) == 2 and all(n.get("status") == "NORMAL" and n.get("state") == "up"
                                           for n in nodes):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("bench_stream: the two nodes did not see each other in %d s" % limit)


def load(nodes, rows):
    from cassandra.cluster import Cluster
    from cassandra.concurrent import execute_concurrent_with_args
    c = Cluster([HOSTS[0]], port=nodes.cql)
    s = c.connect()
    s.execute("CREATE KEYSPACE IF NOT EXISTS bs WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE IF NOT EXISTS bs.t (k bigint PRIMARY KEY, v blob)")
    ins = s.prepare("INSERT INTO bs.t (k, v) VALUES (?, ?)")
    blob = os.urandom(1000)
    t0 = time.monotonic()
    for lo in range(0, rows, 10000):
        args = [(k, blob) for k in range(lo, min(rows, lo + 10000))]
        for ok, res in execute_concurrent_with_args(s, ins, args, concurrency=64):
            if not ok:
                raise SystemExit("bench_stream: insert failed: %s" % res)
    log("   loaded %d rows in %.1f s" % (rows, time.monotonic() - t0))
    c.shutdown()


def stream(nodes, limit=1800):
    src = "%s:%d" % (HOSTS[0], nodes.listen)
    t0 = time.monotonic()
    sid = http("POST", nodes.url(1) + "/api/v1/streams", {"from": src, "keyspace": "bs"})["id"]
    deadline = t0 + limit
    while time.monotonic() < deadline:
        doc = http("GET", nodes.url(1) + "/api/v1/streams")
        s = [x for x in doc["sessions"] if x["id"] == sid][0]
        if s["state"] != "running":
            took = time.monotonic() - t0
            if s["state"] != "done":
                raise SystemExit("bench_stream: session failed: %s" % s["error"])
            return s, took
        time.sleep(0.02)
    raise SystemExit("bench_stream: session still running after %d s" % limit)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sibyl", default="build/sibyl")
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = int(os.environ.get("BENCH_STREAM_ROWS", "100000"))
    throttle = int(os.environ.get("BENCH_STREAM_THROTTLE", "20"))
    tmp = tempfile.mkdtemp(prefix="sibyl-bench-stream-")
    nodes = Nodes(a.sibyl, tmp)
    lines = []
    try:
        for i in (0, 1):
            nodes.start(i)
        for i in (0, 1):
            nodes.wait_ready(i)
        nodes.wait_both_up()
        load(nodes, rows)
        s, took = stream(nodes)
        mb = s["bytes"] / 1048576.0
        lines.append("stream-unthrottled: %.1f MB/s, %.0f rows/s (%d rows, %.1f MB of node 1's "
                     "data pulled by node 2 in %.2f s, window 4 x 256 KiB chunks, release build)"
                     % (mb / took, s["rows"] / took, s["rows"], mb, took))
        log("   " + lines[-1])
        nodes.stop(1)
        nodes.start(1, ["--stream-throughput-mb-per-sec", str(throttle)])
        nodes.wait_ready(1)
        s, took = stream(nodes)
        mb = s["bytes"] / 1048576.0
        lines.append("stream-throttled: %.1f MB/s achieved with stream_throughput_mb_per_sec %d "
                     "(%.1f MB in %.2f s)" % (mb / took, throttle, mb, took))
        log("   " + lines[-1])
    finally:
        nodes.stop(1)
        nodes.stop(0)
        shutil.rmtree(tmp, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
