"""Runs one of the check programs of tests/drivers/ (gocql, the Node.js
driver) against a running node or cluster and asserts on what it printed:
one line per check, "ok NAME (N ms)" or "FAIL NAME: why", then
"N passed, M failed".

The programs are built by make (`make drivers`: `go build` against
Debian's gocql, `npm ci` for the Node.js driver); build() runs that
target so that running pytest by hand after a change rebuilds them.
"""
import os
import re
import subprocess

from cluster import LocalCluster
from conftest import ROOT, Node

# The checks both programs run, in order (tests/drivers/README.md).
CHECKS = [
    "connect_and_discover_peers",
    "create_keyspace_table_schema_agreement",
    "METADATA",  # keyspace_metadata (gocql) or metadata_get_table (Node.js)
    "prepared_every_type",
    "paging_5500_rows",
    "batches",
    "consistency_one_quorum_all",
    "error_syntax",
    "error_unavailable",
    "lwt_insert_update_serial",
    "token_aware_routing",
]

LINE = re.compile(r"^(ok|FAIL) ([a-z0-9_]+)(?: \((\d+) ms\)|: (.*))$")


def build(target):
    r = subprocess.run(["make", "-s", target], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, "make %s failed:\n%s%s" % (target, r.stdout, r.stderr)


def run(cmd, metadata_check, nodes, timeout=180, cwd=None):
    """Runs cmd; asserts every check ran, in order, and passed. Returns
    {name: milliseconds}."""
    r = subprocess.run(cmd, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ))
    out = r.stdout
    print(out)
    results, order = {}, []
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            order.append(m.group(2))
            results[m.group(2)] = (m.group(1), int(m.group(3)) if m.group(3) else m.group(4))
    want = [metadata_check if c == "METADATA" else c for c in CHECKS]
    failed = {n: why for n, (status, why) in results.items() if status == "FAIL"}
    assert not failed, "%d nodes: checks failed: %r\n%s%s" % (nodes, failed, out, r.stderr)
    assert order == want, "checks run: %r\n%s%s" % (order, out, r.stderr)
    assert out.splitlines()[-1] == "%d passed, 0 failed" % len(want), out + r.stderr
    assert r.returncode == 0, "exit %d\n%s%s" % (r.returncode, out, r.stderr)
    return {n: ms for n, (_, ms) in results.items()}


def against_one_node(argv, metadata_check, tmp_path, cwd=None):
    """argv(port, nodes) is the program's command line."""
    n = Node(tmp_path / "data").start()
    try:
        run(argv(n.cql_port, 1), metadata_check, 1, cwd=cwd)
    finally:
        rc = n.stop()
    assert rc == 0, "node exited with %s:\n%s" % (rc, n.logs())


def against_three_nodes(argv, metadata_check, tmp_path, cwd=None):
    with LocalCluster(tmp_path, 3, extra=["--gossip-interval-ms", "200"]) as c:
        c.wait_normal()
        ms = run(argv(c.cql_port, 3), metadata_check, 3, cwd=cwd)
        print("checks took %d ms" % sum(ms.values()))
        for n in c.nodes:
            assert n.proc.poll() is None, "node %d exited:\n%s" % (n.i, n.logs())
