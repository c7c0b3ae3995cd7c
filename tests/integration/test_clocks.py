"""Skewed clocks (docs/clocks.md): write timestamps come from a hybrid
logical clock carried by every node-to-node frame, so a node a little
ahead cannot make a later write through another node lose; a node far
ahead is measured, warned about, and refuses to coordinate writes.

The skewed node runs the release binary under faketime (libfaketime does
not mix with ASan's preloaded runtime); the others run it too, so that
all three are alike. Skips if faketime is missing.
"""
import os
import re
import time

import pytest
import requests

from cluster import LocalCluster
from conftest import ROOT

RELEASE = os.path.join(ROOT, "build/sibyl")
FAST = ["--gossip-interval-ms", "200"]


def cql(node, query, cl="QUORUM", expect=200):
    r = requests.post(node.url + "/api/v1/cql", timeout=15,
                      json={"query": query, "consistency": cl})
    assert r.status_code == expect, "%s via node %d -> %d %s" % (query, node.i, r.status_code,
                                                                  r.text)
    return r.json()


def metric(node, name, peer=None):
    text = requests.get(node.url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        if peer and 'peer="%s"' % peer not in line:
            continue
        if peer is None and not re.match(name + r"(\{\})? ", line):
            continue
        return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def skew(node, offset):
    # The library preloaded into the node itself (not the faketime
    # wrapper, which would stand between the test and the node's PID).
    node.bin = RELEASE
    node.env = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": offset,
                "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@pytest.fixture
def cluster(tmp_path):
    if not os.path.exists(LIBFAKETIME):
        pytest.skip("libfaketime is not installed (Debian package faketime; scripts/deps.sh)")
    if not os.path.exists(RELEASE):
        pytest.skip("build/sibyl (release) is not built")
    c = LocalCluster(tmp_path, 3, extra=FAST)
    for n in c.nodes:
        n.bin = RELEASE
    skew(c.nodes[2], "+2s")
    with c:
        c.wait_normal()
        yield c


def test_node_two_seconds_ahead_cannot_win_over_later_writes(cluster):
    n1, n2, n3 = cluster.nodes
    # Within the hard limit (2.5 s): node 3 coordinates writes.
    peer3 = "%s:%d" % (n3.ip, n3.listen_port)
    off = wait_for(lambda: metric(n1, "sibyl_clock_offset_seconds", peer3), 10, "offset metric")
    assert 1.9 < off < 2.1, off
    cql(n1, "CREATE KEYSPACE s WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    cql(n1, "CREATE TABLE s.t (k int PRIMARY KEY, v text)")
    for k in range(20):
        cql(n3, "INSERT INTO s.t (k, v) VALUES (%d, 'old')" % k)
        cql(n1, "INSERT INTO s.t (k, v) VALUES (%d, 'new')" % k)
        cql(n3, "INSERT INTO s.t (k, v) VALUES (%d, 'old')" % (100 + k))
        cql(n3, "DELETE FROM s.t WHERE k = %d" % (100 + k))
        cql(n2, "INSERT INTO s.t (k, v) VALUES (%d, 'again')" % (100 + k))
    rows = dict(cql(n2, "SELECT k, v FROM s.t", "ALL")["rows"])
    assert [rows.get(k) for k in range(20)] == ["new"] * 20
    assert [rows.get(100 + k) for k in range(20)] == ["again"] * 20


def test_node_a_minute_ahead_is_flagged_and_refuses_writes(cluster):
    n1, n2, n3 = cluster.nodes
    cql(n1, "CREATE KEYSPACE m WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    cql(n1, "CREATE TABLE m.t (k int PRIMARY KEY, v text)")
    n3.stop()
    skew(n3, "+60s")
    n3.start()
    n3.wait_ready()
    peer3 = "%s:%d" % (n3.ip, n3.listen_port)
    off = wait_for(lambda: (metric(n1, "sibyl_clock_offset_seconds", peer3) or 0) > 59 and
                   metric(n1, "sibyl_clock_offset_seconds", peer3), 15,
                   "offset ~60 s: %s" % requests.get(n1.url + "/metrics").text[-3000:])
    assert 59 < off < 61, off
    wait_for(lambda: "peer clock offset over the limit" in n1.logs(), 10, "warning on node 1")
    wait_for(lambda: metric(n3, "sibyl_clock_writes_refused") == 1, 10, "node 3 refusing")
    assert "refusing to coordinate writes" in n3.logs()
    assert metric(n1, "sibyl_clock_writes_refused") == 0
    # Node 3 says why; nothing it was asked to write is acknowledged.
    r = cql(n3, "INSERT INTO m.t (k, v) VALUES (1, 'future')", expect=500)
    assert "clock" in r["error"]["message"] and "not coordinating writes" in r["error"]["message"]
    # The others go on, and their timestamps were not dragged a minute ahead.
    for k in range(10):
        cql(n1, "INSERT INTO m.t (k, v) VALUES (%d, 'a')" % k)
        cql(n2, "INSERT INTO m.t (k, v) VALUES (%d, 'b')" % k)
        cql(n1, "DELETE FROM m.t WHERE k = %d" % k)
        cql(n2, "INSERT INTO m.t (k, v) VALUES (%d, 'c')" % k)
    rows = dict(cql(n1, "SELECT k, v FROM m.t", "ALL")["rows"])
    assert [rows.get(k) for k in range(10)] == ["c"] * 10
    wt = cql(n1, "SELECT writetime(v) FROM m.t WHERE k = 0", "ALL")["rows"][0][0]
    assert abs(wt / 1e6 - time.time()) < 10, wt
    assert metric(n1, "sibyl_clock_remote_ignored_total") > 0
