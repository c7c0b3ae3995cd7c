"""The cluster's failure stories with real processes and the real driver.

Nodes run on 127.0.0.1, .2, .3 (.4) with the same ports, as ccm does
(cluster.py). Gossip runs every 200 ms so that the failure detector
convicts a killed node within a few seconds.
"""
import time

import pytest
import requests
import signal

from cassandra import ConsistencyLevel, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

from cluster import LocalCluster

FAST = ["--gossip-interval-ms", "200"]
CL = ConsistencyLevel


def st(q, cl):
    return SimpleStatement(q, consistency_level=cl)


def wait_state(nodes, target, state, timeout=40):
    """Until every node in `nodes` sees `target` as `state` ("up"/"down")."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        seen = []
        for n in nodes:
            try:
                v = n.view()
            except requests.RequestException:
                seen.append(None)
                continue
            m = [x for x in v["nodes"] if x["address"] == target.ip]
            seen.append(m[0]["state"] if m else None)
        if all(s == state for s in seen):
            return
        time.sleep(0.1)
    raise AssertionError("%s not %s everywhere: %s" % (target.ip, state, seen))


def unavailable(fn):
    """Runs fn, which must fail with Unavailable, and returns the error.
    When no other host is left to try, the driver's default retry policy
    (retry Unavailable once on the next host) wraps it in NoHostAvailable."""
    with pytest.raises((Unavailable, NoHostAvailable)) as e:
        fn()
    err = e.value
    if isinstance(err, NoHostAvailable):
        inner = [x for x in err.errors.values() if isinstance(x, Unavailable)]
        assert inner, err.errors
        err = inner[0]
    return err


def http_cql(node, query, cl="ONE", expect=200):
    r = requests.post(node.url + "/api/v1/cql", json={"query": query, "consistency": cl},
                      timeout=30)
    assert r.status_code == expect, "%s at %s on node %d -> %d %s" % (
        query, cl, node.i, r.status_code, r.text)
    return r.json()


def session_on(c, node, keyspace=None):
    """A driver session with `node` as contact point and default settings
    (the driver routes to any live node of the contact point's dc)."""
    cl = Cluster([node.ip], port=c.cql_port)
    return cl, cl.connect(keyspace)


@pytest.fixture(scope="module")
def c3(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("c3"), 3, extra=FAST) as c:
        c.wait_normal()
        yield c


def test_driver_sees_three_nodes_and_replicates_to_all(c3):
    cl = Cluster(["127.0.0.1"], port=c3.cql_port)
    s = cl.connect()
    try:
        assert len(cl.metadata.all_hosts()) == 3
        s.execute("CREATE KEYSPACE rf3 WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE rf3.kv (k int PRIMARY KEY, v text)")
        assert cl.control_connection.wait_for_schema_agreement()
        for k in range(50):
            s.execute(st("INSERT INTO rf3.kv (k, v) VALUES (%d, 'a%d')" % (k, k), CL.ALL))
        # Every replica holds every row: each node answers alone at ONE
        # once the others are not needed... read at ALL through each node.
        for n in c3.nodes:
            rows = http_cql(n, "SELECT count(*) FROM rf3.kv", "ALL")["rows"]
            assert rows == [[50]]
    finally:
        cl.shutdown()


def test_one_node_down_quorum_goes_on_all_is_unavailable(c3):
    n1, n2, n3 = c3.nodes
    n3.kill()
    wait_state([n1, n2], n3, "down")
    cl, s = session_on(c3, n1, "rf3")
    try:
        for k in range(50, 100):
            s.execute(st("INSERT INTO kv (k, v) VALUES (%d, 'b%d')" % (k, k), CL.QUORUM))
        rows = s.execute(st("SELECT count(*) FROM kv", CL.QUORUM)).one()
        assert rows[0] == 100
        with pytest.raises(Unavailable) as e:
            s.execute(st("INSERT INTO kv (k, v) VALUES (1000, 'x')", CL.ALL))
        assert e.value.consistency == CL.ALL
        assert e.value.required_replicas == 3 and e.value.alive_replicas == 2
        with pytest.raises(Unavailable):
            s.execute(st("SELECT * FROM kv WHERE k = 1", CL.ALL))
    finally:
        cl.shutdown()
    # hints were stored for the dead replica by the coordinators
    pending = sum(m["hints_pending"] for n in (n1, n2) for m in n.view()["nodes"]
                  if m["address"] == n3.ip)
    assert pending >= 50


def test_two_nodes_down_one_still_works(c3):
    n1, n2, n3 = c3.nodes
    n2.kill()
    wait_state([n1], n2, "down")
    cl, s = session_on(c3, n1, "rf3")
    try:
        s.execute(st("INSERT INTO kv (k, v) VALUES (200, 'c')", CL.ONE))
        assert s.execute(st("SELECT v FROM kv WHERE k = 200", CL.ONE)).one().v == "c"
        err = unavailable(lambda: s.execute(st("SELECT v FROM kv WHERE k = 200", CL.QUORUM)))
        assert err.required_replicas == 2 and err.alive_replicas == 1
    finally:
        cl.shutdown()


def test_hints_bring_a_restarted_node_up_to_date(c3):
    n1, n2, n3 = c3.nodes
    n2.start()
    n3.start()
    n2.wait_ready()
    n3.wait_ready()
    c3.wait_normal()
    # Hint replay: n1 (and n2) hold hints for n3's missed writes.
    deadline = time.time() + 60
    while time.time() < deadline:
        pending = sum(m["hints_pending"] for n in c3.nodes for m in n.view()["nodes"])
        if pending == 0:
            break
        time.sleep(0.2)
    assert pending == 0, "hints still pending after 60 s"
    # Only n3 is left: what it holds alone must include every write it missed.
    n1.stop()
    n2.stop()
    rows = http_cql(n3, "SELECT k, v FROM rf3.kv", "ONE")["rows"]
    got = {k: v for k, v in rows}
    assert all(got.get(k) == "b%d" % k for k in range(50, 100)), sorted(got)[:10]
    assert got.get(200) == "c"
    n1.start()
    n2.start()
    n1.wait_ready()
    n2.wait_ready()
    c3.wait_normal()


def test_unresponsive_replica_gives_write_and_read_timeouts(c3):
    # A stopped (SIGSTOP) node is still believed up for a few seconds:
    # requests that need it time out instead of failing as Unavailable.
    n1, n2, n3 = c3.nodes
    # Only n1 coordinates: a request routed to the stopped node itself
    # would just time out in the client.
    cl = Cluster([n1.ip], port=c3.cql_port,
                 load_balancing_policy=WhiteListRoundRobinPolicy([n1.ip]))
    s = cl.connect("rf3")
    try:
        s.execute(st("INSERT INTO kv (k, v) VALUES (300, 't')", CL.ALL))
        n3.proc.send_signal(signal.SIGSTOP)
        try:
            # Both sent at once: one after the other, the read would start
            # when the write times out (2 s), and with 200 ms gossip the
            # stopped node may be convicted (phi > 8, ~18 intervals) before.
            wf = s.execute_async(st("INSERT INTO kv (k, v) VALUES (301, 't')", CL.ALL))
            rf = s.execute_async(st("SELECT v FROM kv WHERE k = 300", CL.ALL))
            with pytest.raises(WriteTimeout) as e:
                wf.result()
            assert e.value.consistency == CL.ALL
            assert e.value.required_responses == 3 and e.value.received_responses == 2
            assert e.value.write_type == 0  # WriteType.SIMPLE
            with pytest.raises(ReadTimeout) as e:
                rf.result()
            assert e.value.required_responses == 3 and e.value.received_responses == 2
            # QUORUM does not need the stopped node
            assert s.execute(st("SELECT v FROM kv WHERE k = 301", CL.QUORUM)).one().v == "t"
        finally:
            n3.proc.send_signal(signal.SIGCONT)
    finally:
        cl.shutdown()
    c3.wait_normal()


def test_quorum_read_repairs_a_stale_replica(tmp_path):
    # No hints (a 1 ms window): a node that missed writes stays stale until a
    # read repairs it.
    with LocalCluster(tmp_path, 3, extra=FAST + ["--max-hint-window-ms", "1"]) as c:
        c.wait_normal()
        n1, n2, n3 = c.nodes
        http_cql(n1, "CREATE KEYSPACE rr WITH replication = "
                     "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        http_cql(n1, "CREATE TABLE rr.kv (k int PRIMARY KEY, v text)")
        time.sleep(1)
        http_cql(n1, "INSERT INTO rr.kv (k, v) VALUES (1, 'old')", "ALL")
        n3.kill()
        wait_state([n1, n2], n3, "down")
        http_cql(n1, "INSERT INTO rr.kv (k, v) VALUES (1, 'new')", "QUORUM")
        n3.start()
        n3.wait_ready()
        c.wait_normal()
        assert sum(m["hints_pending"] for n in c.nodes for m in n.view()["nodes"]) == 0
        # n3 alone is stale
        n1.stop()
        n2.stop()
        assert http_cql(n3, "SELECT v FROM rr.kv WHERE k = 1", "ONE")["rows"] == [["old"]]
        n1.start()
        n2.start()
        n1.wait_ready()
        n2.wait_ready()
        c.wait_normal()
        # A QUORUM read through n3 sees the mismatch, answers the newest
        # and repairs n3 before answering.
        assert http_cql(n3, "SELECT v FROM rr.kv WHERE k = 1", "QUORUM")["rows"] == [["new"]]
        n1.stop()
        n2.stop()
        assert http_cql(n3, "SELECT v FROM rr.kv WHERE k = 1", "ONE")["rows"] == [["new"]]


def test_two_datacenters_local_quorum_survives_losing_the_other(tmp_path):
    c = LocalCluster(tmp_path, 4, extra=FAST)
    for n in c.nodes:
        n.extra += ["--dc", "dc1" if n.i <= 2 else "dc2", "--rack", "r%d" % n.i]
    with c:
        c.wait_normal()
        n1, n2, n3, n4 = c.nodes
        http_cql(n1, "CREATE KEYSPACE md WITH replication = "
                     "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 2}")
        http_cql(n1, "CREATE TABLE md.kv (k int PRIMARY KEY, v text)")
        time.sleep(1)
        http_cql(n1, "INSERT INTO md.kv (k, v) VALUES (1, 'both')", "EACH_QUORUM")
        n3.kill()
        n4.kill()
        wait_state([n1, n2], n3, "down")
        wait_state([n1, n2], n4, "down")
        cl, s = session_on(c, n1, "md")
        try:
            for k in range(2, 20):
                s.execute(st("INSERT INTO kv (k, v) VALUES (%d, 'x')" % k, CL.LOCAL_QUORUM))
            assert s.execute(st("SELECT count(*) FROM kv", CL.LOCAL_QUORUM)).one()[0] == 19
            assert s.execute(st("SELECT v FROM kv WHERE k = 1", CL.LOCAL_ONE)).one().v == "both"
            err = unavailable(lambda: s.execute(
                st("INSERT INTO kv (k, v) VALUES (99, 'y')", CL.EACH_QUORUM)))
            assert err.alive_replicas == 0 and err.required_replicas == 2
            err = unavailable(lambda: s.execute(
                st("INSERT INTO kv (k, v) VALUES (99, 'y')", CL.QUORUM)))
            assert err.required_replicas == 3 and err.alive_replicas == 2
        finally:
            cl.shutdown()
