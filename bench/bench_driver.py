#!/usr/bin/python3
"""Driver-measured insert throughput: the DataStax Python driver, default
settings (only the contact point and port given), a prepared
`INSERT INTO bench.t (k, c, v) VALUES (?, ?, ?)` executed through
`execute_concurrent_with_args` with --concurrency requests in flight, for
--duration seconds after a --warmup. Every insert is a new row (the same
row numbering as bench_cql, from a separate range). The driver itself
(pure Python on one core) is usually the bottleneck, so this is the figure
an application sees, not the node's capacity; bench_cql measures that.

    bench_driver.py --target 127.0.0.1:9042 [--duration 10] [--warmup 2]
                    [--concurrency 256] [--node-pid PID]

Prints a human line and `RESULT ops=... seconds=... ops_per_s=...
node_cpu_s=... errors=...`; exit status 1 when any insert failed.
"""
import argparse
import os
import sys
import time

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

CHUNK = 2000  # rows handed to one execute_concurrent_with_args call


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, help="HOST:PORT of the native protocol")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--node-pid", type=int, default=0)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)

    cluster = Cluster([host], port=int(port))
    session = cluster.connect()
    session.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    session.execute("CREATE TABLE IF NOT EXISTS bench.t "
                    "(k bigint, c int, v double, PRIMARY KEY (k, c))")
    ins = session.prepare("INSERT INTO bench.t (k, c, v) VALUES (?, ?, ?)")

    next_row = 3 << 40  # clear of bench_cql's rows (seed 0)
    errors = 0
    first_error = None

    def run_until(deadline):
        nonlocal next_row, errors, first_error
        done = 0
        while time.monotonic() < deadline:
            rows = [(i // 8, i % 8, i / 2) for i in range(next_row, next_row + CHUNK)]
            next_row += CHUNK
            for ok, res in execute_concurrent_with_args(session, ins, rows,
                                                        concurrency=a.concurrency,
                                                        raise_on_first_error=False):
                if ok:
                    done += 1
                else:
                    errors += 1
                    first_error = first_error or res
        return done

    run_until(time.monotonic() + a.warmup)
    cpu0 = proc_cpu_s(a.node_pid) if a.node_pid else 0
    t0 = time.monotonic()
    ops = run_until(t0 + a.duration)
    secs = time.monotonic() - t0
    cpu1 = proc_cpu_s(a.node_pid) if a.node_pid else 0
    cluster.shutdown()

    rate = ops / secs
    print("driver: %d inserts in %.2f s = %.0f/s (Python driver, execute_concurrent_with_args, "
          "concurrency %d); node CPU %.2f s; %d errors"
          % (ops, secs, rate, a.concurrency, cpu1 - cpu0, errors))
    print("RESULT ops=%d seconds=%.3f ops_per_s=%.0f node_cpu_s=%.2f errors=%d"
          % (ops, secs, rate, cpu1 - cpu0, errors))
    if first_error is not None:
        print("bench_driver: first error: %r" % (first_error,), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
