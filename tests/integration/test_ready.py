"""Ready means ready: a restarted node answers /health 200 and opens its
CQL port only once it has heard from its live peers, so QUORUM writes it
coordinates right after that never fail for want of replicas that are in
fact up. With a peer dead it waits gossip_settle_timeout_in_ms, then
serves and names the peer it did not hear from.
"""
import time

import requests
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

from cluster import LocalCluster


def health(node):
    try:
        r = requests.get(node.url + "/health", timeout=1)
        return r.status_code, r.json()
    except requests.RequestException:
        return None, None


def wait_health_200(node, timeout=30):
    """Polls /health every 5 ms; returns the body of the first 200 and the
    statuses seen before it."""
    deadline = time.time() + timeout
    seen = set()
    while time.time() < deadline:
        if node.proc.poll() is not None:
            raise AssertionError("node %d exited:\n%s" % (node.i, node.logs()))
        code, body = health(node)
        if code == 200:
            return body, seen
        if code is not None:
            seen.add((code, body.get("status")))
        time.sleep(0.005)
    raise AssertionError("node %d never answered 200:\n%s" % (node.i, node.logs()))


def test_restarted_node_fails_no_quorum_write_after_health(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.wait_normal()
        n1, n3 = c.nodes[0], c.nodes[2]
        n1.cql("CREATE KEYSPACE r WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        n1.cql("CREATE TABLE r.t (k int PRIMARY KEY, v int)")
        failures, writes = [], 0
        for rnd in range(3):
            n3.kill()
            n3.start()
            body, before = wait_health_200(n3)
            assert body["status"] == "ok"
            assert "not_heard_at_start" not in body, body
            # Right after 200, 40 QUORUM writes coordinated by the
            # restarted node through HTTP, then through a driver that
            # only talks to it.
            for i in range(40):
                r = requests.post(n3.url + "/api/v1/cql", timeout=10, json={
                    "query": "INSERT INTO r.t (k, v) VALUES (%d, %d)" % (rnd * 1000 + i, i),
                    "consistency": "QUORUM"})
                writes += 1
                if r.status_code != 200:
                    failures.append((rnd, i, r.status_code, r.text))
            cl = Cluster([n3.ip], port=n3.cql_port,
                         load_balancing_policy=WhiteListRoundRobinPolicy([n3.ip]))
            try:
                s = cl.connect()
                q = SimpleStatement("INSERT INTO r.t (k, v) VALUES (%s, %s)",
                                    consistency_level=ConsistencyLevel.QUORUM)
                for i in range(40):
                    writes += 1
                    try:
                        s.execute(q, (rnd * 1000 + 500 + i, i))
                    except Exception as e:  # counted, reported below
                        failures.append((rnd, 500 + i, type(e).__name__, str(e)))
            finally:
                cl.shutdown()
        assert writes == 240
        assert failures == [], failures[:5]


def test_dead_peer_delays_ready_by_the_settle_timeout(tmp_path):
    with LocalCluster(tmp_path, 3, extra=["--settle-timeout-ms", "1500"]) as c:
        c.wait_normal()
        n1, n2, n3 = c.nodes
        n1.cql("CREATE KEYSPACE d WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        n1.cql("CREATE TABLE d.t (k int PRIMARY KEY, v int)")
        n2.kill()
        n3.kill()
        t0 = time.time()
        n3.start()
        body, before = wait_health_200(n3)
        waited = time.time() - t0
        # It waited for node 2 (dead) about 1.5 s, said so while starting
        # (503 "starting") and says so now.
        assert waited >= 1.4, waited
        assert (503, "starting") in before, before
        assert body["status"] == "ok"
        assert body.get("not_heard_at_start") == "%s:%d" % (n2.ip, n2.listen_port), body
        # Node 1 is up: QUORUM (2 of 3) works through the restarted node.
        for i in range(20):
            r = requests.post(n3.url + "/api/v1/cql", timeout=10, json={
                "query": "INSERT INTO d.t (k, v) VALUES (%d, 1)" % i, "consistency": "QUORUM"})
            assert r.status_code == 200, r.text
