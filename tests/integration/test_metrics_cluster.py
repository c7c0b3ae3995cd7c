"""Observability of a 3-node cluster (docs/metrics.md): the coordinator's
and replicas' request metrics on /metrics and /api/v1/stats after real
driver traffic, histogram consistency, gossip peer state, hints while a
node is down, and the load each node gossips.

The driver is pinned to node 1 (white list), so node 1 coordinates every
request and its counters can be checked exactly.
"""
import math
import re
import time

import pytest
import requests
from cassandra import ConsistencyLevel, Unavailable
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

from cluster import LocalCluster

CL = ConsistencyLevel
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
          1, 2.5, 5, 10]


def scrape(node):
    """{(name, frozenset(labels)): value} of a node's /metrics."""
    r = requests.get(node.url + "/metrics", timeout=10)
    assert r.status_code == 200
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "unparsable exposition line: %r" % line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def series(samples, name):
    """[(labels dict, value)] of one family."""
    return [(dict(k[1]), v) for k, v in samples.items() if k[0] == name]


def stats(node):
    r = requests.get(node.url + "/api/v1/stats", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))


def check_histograms(samples, family):
    """Every series of a histogram family: buckets cumulative and complete,
    +Inf bucket = _count = the matching _total counter when there is one."""
    buckets = {}
    for labels, v in series(samples, family + "_bucket"):
        le = labels.pop("le")
        buckets.setdefault(frozenset(labels.items()), {})[le] = v
    assert buckets, "no series of " + family
    for key, by_le in buckets.items():
        les = sorted((float(le) if le != "+Inf" else math.inf) for le in by_le)
        assert les[:-1] == BOUNDS and les[-1] == math.inf, les
        counts = [by_le["+Inf" if le == math.inf else ("%g" % le)] for le in les]
        assert counts == sorted(counts), (key, counts)
        count = samples[(family + "_count", key)]
        assert counts[-1] == count
        assert samples[(family + "_sum", key)] >= 0
    return buckets


@pytest.fixture(scope="module")
def c3(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("m3"), 3,
                      extra=["--gossip-interval-ms", "200"]) as c:
        c.wait_normal()
        yield c


@pytest.fixture(scope="module")
def session(c3):
    pinned = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]))
    cl = Cluster(["127.0.0.1"], port=c3.cql_port, execution_profiles={EXEC_PROFILE_DEFAULT: pinned})
    s = cl.connect()
    s.execute("CREATE KEYSPACE m WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE m.kv (k int PRIMARY KEY, v text)")
    assert cl.control_connection.wait_for_schema_agreement()
    yield s
    cl.shutdown()


def st(q, cl):
    return SimpleStatement(q, consistency_level=cl)


def peer(c, i):
    return "127.0.0.%d:%d" % (i, 7000 + c.offset)


def test_requests_are_counted_by_op_consistency_and_outcome(c3, session):
    n1, n2, n3 = c3.nodes
    before = scrape(n1)
    w_q0 = value(before, "sibyl_coordinator_requests_total", op="write", consistency="QUORUM",
                 outcome="success") or 0
    for k in range(20):
        session.execute(st("INSERT INTO m.kv (k, v) VALUES (%d, 'q')" % k, CL.QUORUM))
    for k in range(20, 35):
        session.execute(st("INSERT INTO m.kv (k, v) VALUES (%d, 'o')" % k, CL.ONE))
    for k in range(10):
        assert session.execute(st("SELECT v FROM m.kv WHERE k = %d" % k, CL.QUORUM)).one()
        assert session.execute(st("SELECT v FROM m.kv WHERE k = %d" % (20 + k), CL.ONE)).one()
    assert session.execute(st("SELECT count(*) FROM m.kv", CL.ALL)).one()[0] == 35

    m = scrape(n1)
    w_q = value(m, "sibyl_coordinator_requests_total", op="write", consistency="QUORUM",
                outcome="success")
    assert w_q - w_q0 == 20
    assert value(m, "sibyl_coordinator_requests_total", op="write", consistency="ONE",
                 outcome="success") == 15
    assert value(m, "sibyl_coordinator_requests_total", op="read", consistency="QUORUM",
                 outcome="success") == 10
    assert value(m, "sibyl_coordinator_requests_total", op="read", consistency="ONE",
                 outcome="success") == 10
    assert value(m, "sibyl_coordinator_requests_total", op="range", consistency="ALL",
                 outcome="success") >= 1
    # Every series of the histogram matches its counter.
    hist = check_histograms(m, "sibyl_coordinator_request_duration_seconds")
    for key in hist:
        assert m[("sibyl_coordinator_requests_total", key)] == \
            m[("sibyl_coordinator_request_duration_seconds_count", key)]
    # Writes cross the network: none is faster than 100 us, all under 10 s.
    wq = dict(op="write", consistency="QUORUM", outcome="success")
    assert value(m, "sibyl_coordinator_request_duration_seconds_bucket", le="0.0001", **wq) == 0
    assert value(m, "sibyl_coordinator_request_duration_seconds_bucket", le="10", **wq) == w_q
    for op, cl in (("write", "QUORUM"), ("write", "ONE"), ("read", "QUORUM"), ("read", "ONE")):
        k = frozenset(dict(op=op, consistency=cl, outcome="success").items())
        print("%s %s: mean %.2f ms over %d" % (
            op, cl, 1000 * m[("sibyl_coordinator_request_duration_seconds_sum", k)] /
            m[("sibyl_coordinator_request_duration_seconds_count", k)],
            m[("sibyl_coordinator_request_duration_seconds_count", k)]))

    # Node 2 is a replica of every row (RF 3): each write reached it as a
    # mutation from node 1, and the QUORUM reads asked it for digests.
    m2 = scrape(n2)
    assert value(m2, "sibyl_replica_requests_total", op="mutation", outcome="success") >= 35
    assert value(m2, "sibyl_replica_requests_total", op="read", outcome="success") >= 10
    check_histograms(m2, "sibyl_replica_request_duration_seconds")
    assert value(m2, "sibyl_coordinator_requests_total", op="write", consistency="QUORUM",
                 outcome="success") is None  # node 2 coordinated nothing

    # Cluster, transport, storage and identity figures.
    for i in (2, 3):
        assert value(m, "sibyl_gossip_peer_up", peer=peer(c3, i)) == 1
        assert value(m, "sibyl_gossip_peer_phi", peer=peer(c3, i)) < 8
        assert value(m, "sibyl_messages_sent_total", peer=peer(c3, i)) > 0
        assert value(m, "sibyl_messages_received_total", peer=peer(c3, i)) > 0
        assert value(m, "sibyl_peer_blocked", peer=peer(c3, i)) == 0
    assert value(m, "sibyl_gossip_peer_up", peer=peer(c3, 1)) is None  # never itself
    assert value(m, "sibyl_gossip_rounds_total") > 0
    assert value(m, "sibyl_storage_disk_total_bytes") >= value(m, "sibyl_storage_disk_free_bytes") > 0
    assert value(m, "sibyl_node_info", node=peer(c3, 1), dc="datacenter1", rack="rack1",
                 version="0.1.0") == 1
    syncs = check_histograms(m, "sibyl_commitlog_sync_duration_seconds")
    assert m[("sibyl_commitlog_sync_duration_seconds_count", frozenset())] > 0
    assert len(syncs) == 1
    for name in ("sibyl_hints_stored_total", "sibyl_hints_replayed_total",
                 "sibyl_hints_pending_bytes", "sibyl_read_repairs_total",
                 "sibyl_digest_mismatches_total", "sibyl_gossip_marked_down_total",
                 "sibyl_gossip_marked_up_total"):
        assert value(m, name) is not None, name
    assert value(m, "sibyl_hints_dropped_total", reason="full") == 0


def test_stats_json_has_the_spec_shape_and_agrees_with_metrics(c3, session):
    n1 = c3.nodes[0]
    s = stats(n1)
    m = scrape(n1)  # no traffic in between: the two agree
    assert set(s) == {"node", "http", "dc", "rack", "time_ms", "uptime_seconds", "bounds",
                      "requests", "replica", "hints", "read_repairs", "digest_mismatches",
                      "gossip", "lwt", "peers", "storage", "ingest", "process"}
    assert s["node"] == peer(c3, 1)
    assert s["http"] == "127.0.0.1:%d" % n1.http_port
    assert (s["dc"], s["rack"]) == ("datacenter1", "rack1")
    assert abs(s["time_ms"] / 1000 - time.time()) < 60
    assert s["uptime_seconds"] > 0
    assert s["bounds"] == BOUNDS
    assert s["requests"], "the previous test's requests are missing"
    for r in s["requests"]:
        assert set(r) == {"op", "consistency", "outcome", "count", "sum_seconds", "buckets"}
        assert r["op"] in ("write", "read", "range", "truncate")
        assert r["outcome"] in ("success", "unavailable", "timeout", "failure")
        assert len(r["buckets"]) == len(BOUNDS) + 1
        assert r["buckets"] == sorted(r["buckets"]) and r["buckets"][-1] == r["count"]
        labels = dict(op=r["op"], consistency=r["consistency"], outcome=r["outcome"])
        assert value(m, "sibyl_coordinator_requests_total", **labels) == r["count"]
        assert abs(value(m, "sibyl_coordinator_request_duration_seconds_sum", **labels) -
                   r["sum_seconds"]) < 1e-3
        for b, c in zip(BOUNDS, r["buckets"]):
            assert value(m, "sibyl_coordinator_request_duration_seconds_bucket",
                         le="%g" % b, **labels) == c
    ops = {(r["op"], r["consistency"], r["outcome"]) for r in s["requests"]}
    assert ("write", "QUORUM", "success") in ops and ("write", "ONE", "success") in ops
    for r in stats(c3.nodes[1])["replica"]:
        assert set(r) == {"op", "outcome", "count", "sum_seconds", "buckets"}
        assert r["op"] in ("mutation", "read", "truncate")
        assert r["outcome"] in ("success", "failure")
    assert set(s["hints"]) == {"stored", "replayed", "dropped", "pending", "pending_bytes"}
    assert set(s["gossip"]) == {"rounds", "marked_down", "marked_up"}
    assert set(s["lwt"]) == {"applied", "not_applied", "unavailable", "timeout", "contention",
                             "repairs"}
    for outcome in ("applied", "not_applied", "unavailable", "timeout"):
        assert value(m, "sibyl_lwt_total", outcome=outcome) == s["lwt"][outcome]
    assert s["gossip"]["rounds"] > 0
    assert sorted(p["peer"] for p in s["peers"]) == [peer(c3, 2), peer(c3, 3)]
    for p in s["peers"]:
        assert set(p) == {"peer", "up", "phi", "sent", "received", "dropped", "queued",
                          "connected", "blocked", "hints_pending"}
        assert p["up"] is True and p["blocked"] is False and p["sent"] > 0
    assert set(s["storage"]) == {"live_bytes", "sstable_bytes", "memtable_bytes", "sstables",
                                 "compactions", "commitlog_syncs", "commitlog_sync_seconds",
                                 "disk_free_bytes", "disk_total_bytes", "disk_state",
                                 "min_free_bytes", "refuses_writes"}
    assert s["storage"]["commitlog_syncs"] > 0
    assert s["storage"]["disk_state"] == "ok" and s["storage"]["refuses_writes"] is None
    assert s["storage"]["min_free_bytes"] > 0
    assert s["storage"]["disk_total_bytes"] >= s["storage"]["disk_free_bytes"] > 0
    assert set(s["ingest"]) == {"requests", "points", "rejected_requests"}
    assert s["process"]["resident_bytes"] > 1 << 20 and s["process"]["cpu_seconds"] > 0
    r = requests.post(n1.url + "/api/v1/stats", timeout=5)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_peers_see_each_others_load(c3, session):
    """Each node gossips its real load: once the table exists every node
    holds bytes, and node 1 sees them for its peers (not 0)."""
    n1 = c3.nodes[0]

    def loads():
        nodes = n1.view()["nodes"]
        peers = [x["load_bytes"] for x in nodes if x["listen"] != peer(c3, 1)]
        return len(peers) == 2 and all(v > 0 for v in peers)
    wait_for(loads, 20, "node 1 to see its peers' load above 0")


def test_down_peer_unavailable_write_and_hints(c3, session):
    n1, n2, n3 = c3.nodes
    m0 = scrape(n1)
    stored0 = value(m0, "sibyl_hints_stored_total")
    n3.kill()
    t0 = time.time()
    wait_for(lambda: value(scrape(n1), "sibyl_gossip_peer_up", peer=peer(c3, 3)) == 0, 30,
             "peer_up of the killed node to drop to 0")
    print("peer_up went to 0 %.1f s after the kill" % (time.time() - t0))
    m = scrape(n1)
    assert value(m, "sibyl_gossip_peer_up", peer=peer(c3, 2)) == 1
    assert value(m, "sibyl_gossip_marked_down_total") >= 1
    assert value(m, "sibyl_gossip_peer_phi", peer=peer(c3, 3)) > 0

    with pytest.raises((Unavailable, NoHostAvailable)):
        session.execute(st("INSERT INTO m.kv (k, v) VALUES (1000, 'x')", CL.ALL))
    for k in range(100, 110):
        session.execute(st("INSERT INTO m.kv (k, v) VALUES (%d, 'h')" % k, CL.QUORUM))
    m = scrape(n1)
    assert value(m, "sibyl_coordinator_requests_total", op="write", consistency="ALL",
                 outcome="unavailable") >= 1
    assert value(m, "sibyl_hints_stored_total") >= stored0 + 10
    assert value(m, "sibyl_hints_pending", peer=peer(c3, 3)) >= 10
    assert value(m, "sibyl_hints_pending", peer=peer(c3, 2)) is None
    assert value(m, "sibyl_hints_pending_bytes") > 0
    s = stats(n1)
    down = [p for p in s["peers"] if p["peer"] == peer(c3, 3)][0]
    assert down["up"] is False and down["hints_pending"] >= 10
    assert s["hints"]["pending"] >= 10 and s["hints"]["stored"] >= 10
    assert s["gossip"]["marked_down"] >= 1
    assert any(r["op"] == "write" and r["consistency"] == "ALL" and
               r["outcome"] == "unavailable" for r in s["requests"])

    # Back up: the hints are replayed and counted.
    n3.start()
    n3.wait_ready()
    wait_for(lambda: value(scrape(n1), "sibyl_hints_replayed_total") >= 10, 60,
             "the hints to be replayed")
    m = scrape(n1)
    assert value(m, "sibyl_gossip_peer_up", peer=peer(c3, 3)) == 1
    assert value(m, "sibyl_gossip_marked_up_total") >= 1
