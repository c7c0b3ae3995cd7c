"""The CAP lesson in `sibyl demo` (docs/cap.md), on a real 3-node demo:
the simulator's AP writer (plain writes at ONE) and CP writer
(compare-and-set LWTs on a register per node) run against every node;
POST /api/v1/demo/partition {"minority": [3]} cuts node 3 off from nodes
1 and 2. While the partition lasts node 3's AP writes keep succeeding and
its LWTs fail, nodes 1 and 2 go on with both, node 3 refuses DDL (no Raft
leader) and says so in `sibyl status`; after POST /api/v1/demo/heal both
writers succeed on every node again.
"""
import subprocess
import time

import pytest
import requests

from conftest import BIN
from test_demo_control import Demo, until


def cap(demo):
    return {n["i"]: n["cap"] for n in demo.doc()["nodes"]}


def grew(before, after, key, nodes):
    return all(after[i][key] > before[i][key] for i in nodes)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("capdemo"))
    try:
        d.wait_for(r"Press Ctrl-C to stop", timeout=180)
        yield d
    finally:
        d.stop()
    assert d.proc.returncode == 0, d.text()[-4000:]


def test_partition_ap_goes_on_cp_refused_on_the_minority_then_heal(demo):
    # both writers succeed everywhere before the partition
    c0 = until("every node's AP and CP writers succeeding",
               lambda: (lambda c: c if all(c[i]["ap_ok"] > 0 and c[i]["cp_ok"] > 2
                                           for i in (1, 2, 3)) else None)(cap(demo)),
               timeout=120)
    assert demo.doc()["partition"] is None

    r = demo.post("/api/v1/demo/partition", {"minority": [3]})
    assert r.status_code == 200, r.text
    assert r.json()["partition"] == {"minority": [3], "majority": [1, 2]}
    # the minority's LWTs start failing (a timeout, then Unavailable)
    p0 = until("node 3's LWTs failing", lambda: (lambda c: c if c[3]["cp_failed"] >
                                                 c0[3]["cp_failed"] else None)(cap(demo)),
               timeout=30)
    # from then on, over a few seconds: node 3's plain writes go on and its
    # LWTs do not succeed; the majority's writers both go on
    time.sleep(8)
    p1 = cap(demo)
    assert grew(p0, p1, "ap_ok", (1, 2, 3)), (p0, p1)
    assert grew(p0, p1, "cp_ok", (1, 2)), (p0, p1)
    assert p1[3]["cp_failed"] > p0[3]["cp_failed"], (p0, p1)
    assert p1[3]["cp_ok"] - p0[3]["cp_ok"] <= 1, (p0, p1)  # at most one in flight at the cut
    assert p1[3]["ap_failed"] == p0[3]["ap_failed"], (p0, p1)
    # the minority has no Raft leader: DDL is refused there, status says so
    r = requests.post(demo.http(3) + "/api/v1/cql", timeout=30,
                      json={"query": "CREATE TABLE sensors.cap_ddl (k int PRIMARY KEY)"})
    assert r.status_code >= 500 or r.status_code == 400, r.text
    assert "Raft leader" in r.text, r.text
    st = subprocess.run([BIN, "status", demo.http_addr(3)], capture_output=True, text=True,
                        timeout=60)
    assert "Raft: no leader known to" in st.stdout, st.stdout

    r = demo.post("/api/v1/demo/heal")
    assert r.status_code == 200, r.text
    assert r.json()["partition"] is None
    h0 = cap(demo)
    until("node 3's LWTs succeeding again after the heal",
          lambda: cap(demo)[3]["cp_ok"] > h0[3]["cp_ok"] + 2, timeout=60)
    h1 = cap(demo)
    assert grew(h0, h1, "ap_ok", (1, 2, 3)) and grew(h0, h1, "cp_ok", (1, 2, 3)), (h0, h1)


def test_partition_requests_are_checked(demo):
    for body, what in (({"minority": []}, "both sides"), ({"minority": [1, 2, 3]}, "both sides"),
                       ({"minority": [4]}, "not a node"), ({"minority": [2, 2]}, "twice"),
                       ({}, "minority"), ({"minority": [1], "x": 1}, "x")):
        r = demo.post("/api/v1/demo/partition", body)
        assert r.status_code == 400, (body, r.text)
        assert what in r.json()["error"]["message"], (body, r.text)
    r = requests.get(demo.ctl + "/api/v1/demo/partition", timeout=10)
    assert r.status_code == 405
    assert demo.doc()["partition"] is None
