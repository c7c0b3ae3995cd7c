"""The node endpoints behind the live dashboard, on a 3-node cluster
(127.0.0.1-3): CORS, the event timeline (/api/v1/events), fault injection
(/api/v1/fault and `sibyl fault`), and the replica view (/api/v1/replicas,
/api/v1/local) showing replicas diverge while one is cut off and converge
after the heal.

The tests share one cluster and each leaves it healed and whole.
"""
import subprocess
import time

import pytest
import requests
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy

from cluster import LocalCluster
from conftest import BIN

FAST = ["--gossip-interval-ms", "200"]
KEY = {"device_type": "thermo", "location": "lab", "sensor_id": "s-1"}


@pytest.fixture(scope="module")
def c3(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("ne"), 3, extra=FAST) as c:
        c.wait_normal()
        n = c.nodes[0]
        n.cql("CREATE KEYSPACE sensors WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        n.cql("CREATE TABLE sensors.readings (device_type text, location text, sensor_id text, "
              "time timestamp, temperature double, humidity int, "
              "PRIMARY KEY ((device_type, location, sensor_id), time)) "
              "WITH CLUSTERING ORDER BY (time DESC)")
        for m in c.nodes:  # the schema reaches every node
            wait_until(lambda: requests.get(m.url + "/api/v1/cluster?keyspace=sensors"
                                            "&table=readings").status_code == 200,
                       30, "schema on node %d" % m.i)
        yield c


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def listen(n):
    return "%s:%d" % (n.ip, n.listen_port)


def events(n, since=0):
    r = requests.get(n.url + "/api/v1/events", params={"since": since}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def find_event(n, typ, peer=None, since=0):
    for e in events(n, since)["events"]:
        if e["type"] == typ and (peer is None or e["peer"] == peer):
            return e
    return None


def state_of(viewer, target):
    for m in viewer.view()["nodes"]:
        if m["listen"] == listen(target):
            return m["state"]
    return None


def fault(n, *args):
    return subprocess.run([BIN, "fault", "--http", "%s:%d" % (n.ip, n.http_port)] + list(args),
                          capture_output=True, text=True, timeout=30)


def local(n, **extra):
    params = dict(KEY, keyspace="sensors", table="readings")
    params.update(extra)
    return requests.get(n.url + "/api/v1/local", params=params, timeout=5)


def error_of(r):
    return r.json()["error"]["message"]


def test_cors_names_cluster_pages_only_and_preflight(c3):
    """The dashboard served by one node polls and drives every node: a
    member's HTTP address is a trusted origin on all of them. Any other
    origin gets no Access-Control-Allow-Origin, and never "*"."""
    n, page = c3.nodes[1], "http://%s:%d" % (c3.nodes[0].ip, c3.nodes[0].http_port)
    evil = "http://evil.example"
    for path in ("/health", "/api/v1/cluster", "/api/v1/events", "/no/such/thing"):
        r = requests.get(n.url + path, timeout=5)
        assert "Access-Control-Allow-Origin" not in r.headers, (path, r.headers)
        assert r.headers.get("Vary") == "Origin"
        r = requests.get(n.url + path, headers={"Origin": page}, timeout=5)
        assert r.headers.get("Access-Control-Allow-Origin") == page, (path, r.headers)
        r = requests.get(n.url + path, headers={"Origin": evil}, timeout=5)
        assert "Access-Control-Allow-Origin" not in r.headers, (path, r.headers)
    r = requests.post(n.url + "/api/v1/cql", json={"query": "SELECT"}, headers={"Origin": page},
                      timeout=5)
    assert r.status_code == 400
    assert r.headers.get("Access-Control-Allow-Origin") == page
    for path in ("/api/v1/cql", "/api/v1/fault", "/anything"):
        pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        r = requests.options(n.url + path, headers=dict(pre, Origin=page), timeout=5)
        assert r.status_code == 204
        assert r.headers["Access-Control-Allow-Origin"] == page
        assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
        assert r.headers["Access-Control-Allow-Headers"] == "Content-Type"
        assert r.headers["Access-Control-Max-Age"] == "600"
        assert r.content == b""
        r = requests.options(n.url + path, headers=dict(pre, Origin=evil), timeout=5)
        assert r.status_code == 403, r.text
        assert "Access-Control-Allow-Origin" not in r.headers
        assert "Access-Control-Allow-Methods" not in r.headers
        assert evil in error_of(r)


def test_cross_origin_fault_post_cuts_nothing(c3):
    """A page of another site posting {"action": "cut"} as text/plain (no
    preflight) must not cut the node off its cluster."""
    n = c3.nodes[2]
    r = requests.post(n.url + "/api/v1/fault", data='{"action": "cut"}',
                      headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
                      timeout=5)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    r = requests.get(n.url + "/api/v1/fault", timeout=5)
    assert r.status_code == 200 and r.json()["blocked"] == [], r.text
    # the same body as text/plain without an Origin (a script): 415, also nothing cut
    r = requests.post(n.url + "/api/v1/fault", data='{"action": "cut"}',
                      headers={"Content-Type": "text/plain"}, timeout=5)
    assert r.status_code == 415, r.text
    assert "application/json" in error_of(r)
    assert requests.get(n.url + "/api/v1/fault", timeout=5).json()["blocked"] == []


def test_events_membership_and_schema_and_since(c3):
    n = c3.nodes[0]
    doc = events(n)
    assert doc["node"] == listen(n)
    seqs = [e["seq"] for e in doc["events"]]
    assert seqs == sorted(seqs) and doc["next"] == seqs[-1]
    for e in doc["events"]:
        assert set(e) >= {"seq", "time_ms", "type", "peer", "message"}
        assert abs(e["time_ms"] / 1000 - time.time()) < 600
    # the other members came up, and the DDL of the fixture is there
    ups = {e["peer"] for e in doc["events"] if e["type"] == "node_up"}
    assert ups == {listen(c3.nodes[1]), listen(c3.nodes[2])}
    # schema changes are sampled every second
    msgs = wait_until(lambda: [e["message"] for e in events(n)["events"]
                               if e["type"] == "schema_change"], 5, "schema_change events")
    assert "keyspace sensors created" in msgs and "table sensors.readings created" in msgs
    doc = events(n)
    seqs = [e["seq"] for e in doc["events"]]
    # node 3 got the schema from a peer: it shows the change too
    assert wait_until(lambda: find_event(c3.nodes[2], "schema_change"), 10,
                      "schema_change on node 3")
    # since = the last seq seen: nothing new, then only the new ones
    assert events(n, doc["next"])["events"] == []
    assert [e["seq"] for e in events(n, seqs[-2])["events"]] == [seqs[-1]]
    # a since from an earlier run of the node (beyond next) gets everything
    assert len(events(n, doc["next"] + 1000)["events"]) == len(doc["events"])
    for bad in ("abc", "-1", "1.5", ""):
        r = requests.get(n.url + "/api/v1/events", params={"since": bad}, timeout=5)
        assert r.status_code == 400 and "since" in error_of(r)


def test_replicas_rf3_token_matches_cql(c3):
    n = c3.nodes[1]
    r = requests.get(n.url + "/api/v1/replicas",
                     params=dict(KEY, keyspace="sensors", table="readings"), timeout=5)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["keyspace"] == "sensors" and doc["table"] == "readings"
    assert sorted(x["listen"] for x in doc["replicas"]) == sorted(listen(m) for m in c3.nodes)
    assert all(x["up"] for x in doc["replicas"])
    assert sorted(x["http"] for x in doc["replicas"]) == sorted(
        "%s:%d" % (m.ip, m.http_port) for m in c3.nodes)
    # the token is the one the partitioner computes for that key
    n.cql("INSERT INTO sensors.readings (device_type, location, sensor_id, time, temperature) "
          "VALUES ('thermo', 'lab', 's-1', '2026-01-01T00:00:00Z', 1.0)")
    rows = n.cql("SELECT token(device_type, location, sensor_id) FROM sensors.readings "
                 "WHERE device_type = 'thermo' AND location = 'lab' AND sensor_id = 's-1' "
                 "LIMIT 1")["rows"]
    assert str(rows[0][0]) == doc["token"]
    # every node agrees on the replicas (and their ring order)
    for m in c3.nodes:
        other = requests.get(m.url + "/api/v1/replicas",
                             params=dict(KEY, keyspace="sensors", table="readings")).json()
        assert [x["listen"] for x in other["replicas"]] == [x["listen"] for x in doc["replicas"]]


def test_local_rows_newest_first_with_writetime(c3):
    n = c3.nodes[0]
    key = dict(KEY, sensor_id="s-local")
    for i, t in enumerate(["2026-11-21T10:00:00.123Z", "2026-11-21T10:00:01.456Z",
                           "2026-11-21T10:00:02.789Z"]):
        n.cql("INSERT INTO sensors.readings (device_type, location, sensor_id, time, "
              "temperature, humidity) VALUES ('thermo', 'lab', 's-local', '%s', %s, %d) "
              "USING TIMESTAMP %d" % (t, 20.5 + i, 40 + i, 1795278358123000 + i))
    r = requests.get(n.url + "/api/v1/local",
                     params=dict(key, keyspace="sensors", table="readings", limit=2), timeout=5)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["node"] == listen(n) and doc["replica"] is True
    assert doc["rows"] == [
        {"key": {"time": "2026-11-21T10:00:02.789Z"},
         "cells": {"humidity": {"value": 42, "writetime": 1795278358123002},
                   "temperature": {"value": 22.5, "writetime": 1795278358123002}},
         "row_writetime": 1795278358123002},
        {"key": {"time": "2026-11-21T10:00:01.456Z"},
         "cells": {"humidity": {"value": 41, "writetime": 1795278358123001},
                   "temperature": {"value": 21.5, "writetime": 1795278358123001}},
         "row_writetime": 1795278358123001},
    ]
    r = requests.get(n.url + "/api/v1/local",
                     params=dict(key, keyspace="sensors", table="readings"), timeout=5)
    assert len(r.json()["rows"]) == 3  # default limit 5
    # the writes at the default consistency reached every replica
    for m in c3.nodes:
        wait_until(lambda: len(requests.get(m.url + "/api/v1/local", params=dict(
            key, keyspace="sensors", table="readings")).json()["rows"]) == 3, 10,
            "3 rows on node %d" % m.i)


def test_bad_requests_say_what_and_where(c3):
    n = c3.nodes[0]
    base = dict(KEY, keyspace="sensors", table="readings")
    for path in ("/api/v1/replicas", "/api/v1/local"):
        p = dict(base)
        del p["sensor_id"]
        r = requests.get(n.url + path, params=p, timeout=5)
        assert r.status_code == 400
        assert "sensor_id: missing query parameter" in error_of(r)
        assert "device_type, location, sensor_id" in error_of(r)
        r = requests.get(n.url + path, params=dict(base, table="nope"), timeout=5)
        assert r.status_code == 404 and "table=nope" in error_of(r)
        r = requests.get(n.url + path, params=dict(base, keyspace="nope"), timeout=5)
        assert r.status_code == 404 and "keyspace=nope" in error_of(r)
        r = requests.get(n.url + path, params={"table": "readings"}, timeout=5)
        assert r.status_code == 400 and "keyspace" in error_of(r)
        r = requests.post(n.url + path, params=base, timeout=5)
        assert r.status_code == 405
    for bad in ("0", "101", "abc", "-3", ""):
        r = local(n, limit=bad)
        assert r.status_code == 400 and "limit=" in error_of(r) and "1 to 100" in error_of(r)
    r = requests.get(n.url + "/api/v1/local", params=dict(base, keyspace="system_schema",
                                                          table="keyspaces",
                                                          keyspace_name="x"), timeout=5)
    assert r.status_code in (200, 404)  # never a crash
    # fault: unknown peer, malformed bodies
    r = requests.post(n.url + "/api/v1/fault", json={"action": "cut", "peers": ["127.0.0.9"]})
    assert r.status_code == 400 and "127.0.0.9 is not a member" in error_of(r)
    assert listen(c3.nodes[1]) in error_of(r)  # lists the members
    r = requests.post(n.url + "/api/v1/fault", json={"action": "cut", "peers": [listen(n)]})
    assert r.status_code == 400 and "this node itself" in error_of(r)
    r = requests.post(n.url + "/api/v1/fault", data="{\"action\": ", timeout=5)
    assert r.status_code == 400 and "invalid JSON at line 1" in error_of(r)
    r = requests.post(n.url + "/api/v1/fault", json={"action": "explode"}, timeout=5)
    assert r.status_code == 400 and "explode" in error_of(r)
    r = requests.put(n.url + "/api/v1/fault", json={"action": "cut"}, timeout=5)
    assert r.status_code == 405
    assert requests.get(n.url + "/api/v1/fault").json()["blocked"] == []


def test_fault_cli_errors(c3):
    r = fault(c3.nodes[0], "cut", "10.9.9.9")
    assert r.returncode == 1 and "10.9.9.9 is not a member" in r.stderr
    r = subprocess.run([BIN, "fault", "--http", "127.0.0.1:1", "status"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "cannot reach the node at 127.0.0.1:1" in r.stderr
    r = subprocess.run([BIN, "fault", "explode"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown action 'explode'" in r.stderr
    r = subprocess.run([BIN, "fault", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "sibyl fault [--http HOST[:PORT]] cut [PEER...]" in r.stdout


def test_fault_cut_isolates_and_heal_restores(c3):
    n1, n2, n3 = c3.nodes
    since = {m.i: events(m)["next"] for m in c3.nodes}
    r = fault(n1, "cut")
    assert r.returncode == 0, r.stderr
    assert "cut from %s, %s" % (listen(n2), listen(n3)) in r.stdout
    assert requests.get(n1.url + "/api/v1/fault").json() == {
        "node": listen(n1), "blocked": [listen(n2), listen(n3)]}
    try:
        for m in (n2, n3):
            wait_until(lambda: state_of(m, n1) == "down", 30, "node %d to see node 1 down" % m.i)
            e = wait_until(lambda: find_event(m, "node_down", listen(n1), since[m.i]), 5,
                           "node_down event on node %d" % m.i)
            assert "is down" in e["message"]
        wait_until(lambda: state_of(n1, n2) == "down" and state_of(n1, n3) == "down", 30,
                   "node 1 to see the others down")
        cuts = [e for e in events(n1, since[1])["events"] if e["type"] == "fault"]
        assert {e["peer"] for e in cuts} == {listen(n2), listen(n3)}
        assert all("cut" in e["message"] for e in cuts)
        # status shows it; host-only names resolve
        r = fault(n1, "status")
        assert r.returncode == 0 and listen(n2) in r.stdout
        r = fault(n1, "heal", n2.ip)
        assert r.returncode == 0, r.stderr
        assert requests.get(n1.url + "/api/v1/fault").json()["blocked"] == [listen(n3)]
    finally:
        r = fault(n1, "heal")
    assert r.returncode == 0 and "no peers cut" in r.stdout
    for m in (n2, n3):
        wait_until(lambda: state_of(m, n1) == "up", 30, "node %d to see node 1 up" % m.i)
        wait_until(lambda: find_event(m, "node_up", listen(n1), since[m.i]), 5,
                   "node_up event on node %d" % m.i)
    heals = [e for e in events(n1, since[1])["events"]
             if e["type"] == "fault" and "healed" in e["message"]]
    assert {e["peer"] for e in heals} == {listen(n2), listen(n3)}
    c3.wait_normal(30)


def test_divergence_then_convergence_after_heal(c3):
    n1, n2, n3 = c3.nodes
    since1 = events(n1)["next"]
    key = dict(KEY, sensor_id="s-diverge")
    # node 3 is cut off from the others (from its own side: both ways)
    assert fault(n3, "cut").returncode == 0
    try:
        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]),
                                   consistency_level=ConsistencyLevel.ONE)
        cl = Cluster(["127.0.0.1"], port=c3.cql_port,
                     execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        s = cl.connect()
        try:
            s.execute("INSERT INTO sensors.readings (device_type, location, sensor_id, time, "
                      "temperature) VALUES ('thermo', 'lab', 's-diverge', "
                      "'2026-11-21T12:00:00Z', 30.5)")
        finally:
            cl.shutdown()
        p = dict(key, keyspace="sensors", table="readings")
        # the replicas that heard the write have it; the cut-off one does not
        for m in (n1, n2):
            rows = wait_until(lambda: requests.get(m.url + "/api/v1/local", params=p)
                              .json()["rows"], 10, "the row on node %d" % m.i)
            assert rows[0]["cells"]["temperature"]["value"] == 30.5
            assert rows[0]["key"] == {"time": "2026-11-21T12:00:00.000Z"}
        time.sleep(1)
        doc = requests.get(n3.url + "/api/v1/local", params=p).json()
        assert doc["replica"] is True and doc["rows"] == []
        # the coordinator kept a hint for node 3, and says so
        e = wait_until(lambda: find_event(n1, "hints_stored", listen(n3), since1), 20,
                       "hints_stored event for node 3 on node 1")
        assert e["count"] >= 1
    finally:
        assert fault(n3, "heal").returncode == 0
    # after the heal the hint is replayed: node 3 converges
    rows = wait_until(lambda: requests.get(n3.url + "/api/v1/local", params=p).json()["rows"],
                      60, "node 3 to receive the hinted row")
    assert rows[0]["cells"]["temperature"]["value"] == 30.5
    wt = requests.get(n1.url + "/api/v1/local", params=p).json()["rows"][0]
    assert rows[0]["cells"]["temperature"]["writetime"] == wt["cells"]["temperature"]["writetime"]
    wait_until(lambda: find_event(n1, "hints_replayed", listen(n3), since1), 10,
               "hints_replayed event on node 1")
    c3.wait_normal(30)


def test_kill_and_restart_give_down_hints_up_events(c3):
    n1, n2, n3 = c3.nodes
    since = {m.i: events(m)["next"] for m in c3.nodes}
    n2.kill()
    try:
        for m in (n1, n3):
            wait_until(lambda: find_event(m, "node_down", listen(n2), since[m.i]), 30,
                       "node_down for node 2 on node %d" % m.i)
        # writes while it is down become hints for it on the coordinator
        for i in range(5):
            n1.cql("INSERT INTO sensors.readings (device_type, location, sensor_id, time, "
                   "temperature) VALUES ('thermo', 'lab', 's-down', %d, %d.5)"
                   % (1795278358000 + i, i))
        e = wait_until(lambda: find_event(n1, "hints_stored", listen(n2), since[1]), 10,
                       "hints_stored for node 2 on node 1")
        assert e["count"] >= 1 and "hint" in e["message"]
    finally:
        n2.start()
        n2.wait_ready()
    for m in (n1, n3):
        wait_until(lambda: find_event(m, "node_up", listen(n2), since[m.i]), 30,
                   "node_up for node 2 on node %d" % m.i)
    assert find_event(n1, "node_restarted", listen(n2), since[1])
    # the restarted node's own ring starts again from 1
    assert events(n2)["events"][0]["seq"] == 1
    c3.wait_normal(30)


def test_distinct_partition_keys_through_the_cluster(c3):
    n = c3.nodes[2]
    r = requests.post(n.url + "/api/v1/cql", json={
        "query": "SELECT DISTINCT device_type, location, sensor_id FROM sensors.readings",
        "consistency": "ONE"}, timeout=30)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["columns"] == ["device_type", "location", "sensor_id"]
    got = sorted(tuple(x) for x in doc["rows"])
    assert len(got) == len(set(got))
    assert ("thermo", "lab", "s-1") in got and ("thermo", "lab", "s-local") in got
