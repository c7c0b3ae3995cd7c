"""`sibyl status`, `sibyl ring`, `sibyl demo` and GET /api/v1/cluster
against real processes.

Single-node tests use the usual node fixture (random ports). Demo tests
use 127.0.0.i with the fixed ports shifted by a random --port-offset, so
they never collide with a demo someone is running. The 3-node tests run
three demo nodes that form one cluster.
"""
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

from cluster import pick_offset
from conftest import BIN
from demo_process import ENV, DemoProcess, alive



def run(*args, timeout=60):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=ENV)


def http_addr(node):
    return "127.0.0.1:%d" % node.port


# --- the endpoint -----------------------------------------------------------

def test_cluster_endpoint_has_the_documented_shape(node):
    r = requests.get(node.url + "/api/v1/cluster", timeout=10)
    assert r.status_code == 200, r.text
    v = r.json()
    assert set(v) >= {"cluster_name", "local", "nodes", "ring"}
    assert len(v["nodes"]) >= 1
    me = [m for m in v["nodes"] if m["listen"] == v["local"]]
    assert len(me) == 1, v
    m = me[0]
    for k in ("address", "listen", "cql", "http", "host_id", "dc", "rack", "status", "state",
              "phi", "generation", "heartbeat", "load_bytes", "tokens", "ntokens", "owns",
              "schema_version", "hints_pending"):
        assert k in m, k
    assert m["address"] == "127.0.0.1"
    assert m["http"] == http_addr(node)
    assert m["cql"] == "127.0.0.1:%d" % node.cql_port
    assert m["status"] == "NORMAL" and m["state"] == "up"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        m["host_id"])
    assert all(isinstance(t, str) for t in m["tokens"])
    assert m["ntokens"] == len(m["tokens"])
    # one node owns everything
    assert abs(m["owns"] - 1.0) < 1e-6
    # ring entries, when present, are sorted by token
    toks = [int(e["token"]) for e in v["ring"]]
    assert toks == sorted(toks)


def test_cluster_endpoint_keyspace_errors(node):
    r = requests.get(node.url + "/api/v1/cluster", params={"keyspace": "nope"}, timeout=10)
    assert r.status_code == 404
    assert "nope" in r.json()["error"]["message"]
    r = requests.get(node.url + "/api/v1/cluster", params={"keyspace": "k" * 300}, timeout=10)
    assert r.status_code == 400
    assert "keyspace" in r.json()["error"]["message"]
    r = requests.post(node.url + "/api/v1/cluster", timeout=10)
    assert r.status_code == 405
    # &table= answers 404 until the node's schema has the table
    r = requests.get(node.url + "/api/v1/cluster", params={"table": "t"}, timeout=10)
    assert r.status_code == 400 and "table needs keyspace" in r.text
    node.cql("CREATE KEYSPACE kt WITH replication = "
             "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    r = requests.get(node.url + "/api/v1/cluster", params={"keyspace": "kt", "table": "t"},
                     timeout=10)
    assert r.status_code == 404 and "no such table" in r.json()["error"]["message"]
    node.cql("CREATE TABLE kt.t (k int PRIMARY KEY)")
    r = requests.get(node.url + "/api/v1/cluster", params={"keyspace": "kt", "table": "t"},
                     timeout=10)
    assert r.status_code == 200, r.text


def test_cluster_endpoint_effective_ownership_for_a_keyspace(node):
    node.cql("CREATE KEYSPACE ks1 WITH replication = "
             "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    r = requests.get(node.url + "/api/v1/cluster", params={"keyspace": "ks1"}, timeout=10)
    assert r.status_code == 200, r.text
    v = r.json()
    # one node holds a replica of everything, whatever the replication factor
    assert abs(sum(m["owns"] for m in v["nodes"]) - 1.0) < 1e-6


# --- sibyl status / ring ---------------------------------------------------------

def status_rows(out):
    return [l for l in out.splitlines() if re.match(r"^[UD][NJLM?]\s", l)]


def test_status_prints_one_up_normal_node(node):
    r = run("status", http_addr(node))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Datacenter: ")
    assert lines[1] == "=" * len(lines[0])
    assert lines[2] == "Status=Up/Down"
    assert lines[3] == "|/ State=Normal/Leaving/Joining/Moving"
    head = lines[4]
    assert re.match(r"^--\s+Address\s+Load\s+Tokens\s+Owns\s+Host ID\s+Rack\s+Raft$", head), head
    rows = status_rows(r.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row.startswith("UN  127.0.0.1 ")
    assert "100.0%" in row
    host_id = requests.get(node.url + "/api/v1/cluster").json()["nodes"][0]["host_id"]
    assert host_id in row
    # columns are aligned: every cell starts where its heading does
    assert row.index(host_id) == head.index("Host ID")
    assert re.search(r"\d+(\.\d\d (KiB|MiB|GiB))? ?(bytes)?", row)


def test_status_flags_and_keyspace(node):
    node.cql("CREATE KEYSPACE ks2 WITH replication = "
             "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    r = run("status", "--http", http_addr(node), "--keyspace", "ks2")
    assert r.returncode == 0, r.stderr
    assert "Owns (effective)" in r.stdout
    assert len(status_rows(r.stdout)) == 1
    r = run("status", http_addr(node), "--keyspace", "missing_ks")
    assert r.returncode == 1
    assert "no such keyspace" in r.stderr and "missing_ks" in r.stderr
    r = run("status", http_addr(node), "--json")
    assert r.returncode == 0
    assert '"nodes"' in r.stdout


def test_status_unreachable_node_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run("status", "127.0.0.1:%d" % port)
    assert r.returncode == 1
    assert "cannot reach the node at 127.0.0.1:%d" % port in r.stderr
    assert "refused" in r.stderr
    r = run("ring", "127.0.0.1:%d" % port)
    assert r.returncode == 1 and "cannot reach" in r.stderr


def test_status_bad_usage():
    r = run("status", "--bogus")
    assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr
    r = run("status", "a:1", "b:2")
    assert r.returncode == 2 and "unexpected argument 'b:2'" in r.stderr
    r = run("status", "--keyspace")
    assert r.returncode == 2 and "--keyspace needs a value" in r.stderr
    r = run("status", "not a host:x")
    assert r.returncode == 1 and "port" in r.stderr


def test_ring_single_node(node):
    r = run("ring", http_addr(node))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Datacenter: ")
    v = requests.get(node.url + "/api/v1/cluster").json()
    ntok = len(v["ring"])
    lines = [l for l in r.stdout.splitlines() if l.startswith("127.0.0.1 ")]
    assert len(lines) == ntok
    if ntok:
        assert re.search(r"\bUp\s+Normal\b", lines[0])


# --- sibyl demo ----------------------------------------------------------------------

class Demo(DemoProcess):
    def __init__(self, tmp_path, *args, nodes=1):
        super().__init__(tmp_path, list(args), nodes=nodes)

    def http(self, i):
        return self.http_addr(i)


def sent_points(text):
    m = re.search(r"sim: done: sent=(\d+) points", text)
    assert m, text[-3000:]
    return int(m.group(1))


def test_demo_one_node_runs_for_its_seconds_and_writes(tmp_path):
    d = Demo(tmp_path, "--seconds", "8", "--sensors", "20", "--rate", "50", nodes=1)
    d.wait_for(r"Cluster status: .* status 127\.0\.0\.1:%d" % (8080 + d.offset))
    d.wait_for(r"sim: \d+ points sent")
    # the data is really in the node while the demo runs
    deadline = time.time() + 30
    count = 0
    while time.time() < deadline and count == 0:
        try:
            r = requests.post("http://%s/api/v1/cql" % d.http(1),
                              json={"query": "SELECT count(*) FROM sensors.readings"}, timeout=5)
            if r.status_code == 200:
                count = r.json()["rows"][0][0]
        except requests.RequestException:
            pass
        time.sleep(0.5)
    assert count > 0
    pids = d.pids()
    assert len(pids) == 1
    rc = d.finish()
    text = d.text()
    assert rc == 0, text
    assert sent_points(text) > 0
    assert "errors=0" in text
    assert "demo: stopped" in text
    assert os.path.isdir(os.path.join(d.data, "node1"))
    assert os.path.exists(os.path.join(d.data, "node1.log"))
    time.sleep(0.2)
    assert not any(alive(p) for p in pids)
    # status lines came every second
    assert len(re.findall(r"^\[\s*\d+s\] 127\.0\.0\.1 UN", text, re.M)) >= 3


def test_demo_stops_cleanly_on_sigint(tmp_path):
    d = Demo(tmp_path, nodes=1)
    d.wait_for(r"Press Ctrl-C to stop")
    pids = d.pids()
    d.proc.send_signal(signal.SIGINT)
    rc = d.finish(60)
    assert rc == 0, d.text()
    assert "demo: stopped" in d.text()
    assert not any(alive(p) for p in pids)


def test_demo_children_do_not_outlive_a_killed_demo(tmp_path):
    d = Demo(tmp_path, nodes=1)
    d.wait_for(r"Press Ctrl-C to stop")
    pids = d.pids()
    assert pids
    d.proc.kill()
    d.finish(10)
    deadline = time.time() + 30
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)
    # the simulator went too: nothing with our data dir is left running
    left = subprocess.run(["pgrep", "-f", d.data], capture_output=True, text=True)
    assert left.stdout.strip() == ""


def test_demo_bad_usage(tmp_path):
    r = run("demo", "--nodes", "0")
    assert r.returncode == 2 and "--nodes" in r.stderr
    r = run("demo", "--nodes", "2", "--dcs", "3")
    assert r.returncode == 2 and "--dcs 3" in r.stderr
    r = run("demo", "--frobnicate", "1")
    assert r.returncode == 2 and "unknown option" in r.stderr


def test_demo_reports_a_node_that_cannot_start(tmp_path):
    # the HTTP port of node 1 is taken: the node fails and the demo says so
    offset = pick_offset(1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 8080 + offset))
        s.listen()
        r = subprocess.run([BIN, "demo", "--nodes", "1", "--data", str(tmp_path / "d"),
                            "--port-offset", str(offset), "--seconds", "5"],
                           capture_output=True, text=True, timeout=90, env=ENV)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "node1" in r.stderr and "failed to start" in r.stderr


# --- three nodes (needs node-to-node clustering) ------------------------------------------

def test_demo_three_nodes_status_ring_and_data(tmp_path):
    d = Demo(tmp_path, "--seconds", "25", "--sensors", "30", "--rate", "60", nodes=3)
    d.wait_for(r"Press Ctrl-C to stop|Stopping after", timeout=180)
    d.wait_for(r"sim: [1-9]\d* points sent", timeout=60)

    r = run("status", d.http(2))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Datacenter: dc1\n")
    rows = status_rows(r.stdout)
    assert len(rows) == 3, r.stdout
    assert all(row.startswith("UN  127.0.0.") for row in rows), r.stdout
    owns = [float(x) for x in re.findall(r"([\d.]+)%", r.stdout)]
    assert abs(sum(owns) - 100.0) < 1.0, r.stdout

    r = run("status", d.http(1), "--keyspace", "sensors")
    assert r.returncode == 0, r.stderr
    assert "Owns (effective)" in r.stdout
    owns = [float(x) for x in re.findall(r"([\d.]+)%", r.stdout)]
    # replication factor 3 on 3 nodes: each holds everything
    assert all(abs(o - 100.0) < 0.5 for o in owns), r.stdout

    r = run("ring", d.http(3))
    assert r.returncode == 0, r.stderr
    toks = [l for l in r.stdout.splitlines() if l.startswith("127.0.0.")]
    assert len(toks) == 48, r.stdout
    values = [int(l.split()[-1]) for l in toks]
    assert values == sorted(values)

    # data written through all nodes is readable from any one at QUORUM
    q = requests.post("http://%s/api/v1/cql" % d.http(3),
                      json={"query": "SELECT count(*) FROM sensors.readings",
                            "consistency": "QUORUM"}, timeout=30)
    assert q.status_code == 200, q.text
    assert q.json()["rows"][0][0] > 0, q.text

    pids = d.pids()
    assert len(pids) == 3
    rc = d.finish(180)
    assert rc == 0, d.text()
    # every write was acknowledged by the cluster
    assert sent_points(d.text()) > 0
    assert "errors=0" in d.text(), d.text()[-3000:]
    assert not any(alive(p) for p in pids)
