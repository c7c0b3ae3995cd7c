"""Lightweight transactions with real processes and the real Python driver
(docs/lwt.md): three nodes on 127.0.0.1-3, a keyspace with RF 3.

- eight clients, each through its own coordinator, race INSERT ... IF NOT
  EXISTS on one key: exactly one sees [applied] = True, the others see the
  winner's row; every node then reads the winner;
- UPDATE ... IF v = x as compare-and-set, and the result columns as the
  driver sees them (ResultSet.was_applied, column_names);
- LOCAL_SERIAL serial consistency and SELECT at SERIAL;
- a node cut off from the others answers LWTs with Unavailable or
  WriteTimeout (write type CAS) while its writes at ONE succeed.
"""
import threading
import time

import pytest
import requests

from cassandra import ConsistencyLevel, Unavailable, WriteTimeout
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy, WriteType
from cassandra.query import SimpleStatement

from cluster import LocalCluster

FAST = ["--gossip-interval-ms", "200"]
CL = ConsistencyLevel
CLIENTS = 8


def session_pinned(c, node, keyspace=None):
    """A session whose every request goes to `node` as coordinator."""
    cl = Cluster([node.ip], port=c.cql_port,
                 load_balancing_policy=WhiteListRoundRobinPolicy([node.ip]))
    return cl, cl.connect(keyspace)


@pytest.fixture(scope="module")
def c3(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("lwt"), 3, extra=FAST) as c:
        c.wait_normal()
        cl = Cluster(["127.0.0.1"], port=c.cql_port)
        s = cl.connect()
        s.execute("CREATE KEYSPACE lwt WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE lwt.reg (k text PRIMARY KEY, owner text, v int)")
        assert cl.control_connection.wait_for_schema_agreement()
        cl.shutdown()
        yield c


def test_eight_clients_if_not_exists_exactly_one_applied(c3):
    sessions = [session_pinned(c3, c3.nodes[i % 3], "lwt") for i in range(CLIENTS)]
    try:
        start = threading.Barrier(CLIENTS)
        results = [None] * CLIENTS

        def client(i):
            s = sessions[i][1]
            start.wait()
            try:
                results[i] = s.execute(
                    "INSERT INTO reg (k, owner, v) VALUES ('race', 'client%d', %d) IF NOT EXISTS"
                    % (i, i))
            except Exception as e:  # kept to be reported below
                results[i] = e

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        errors = [r for r in results if isinstance(r, Exception) or r is None]
        assert not errors, errors
        applied = [i for i, r in enumerate(results) if r.was_applied]
        assert len(applied) == 1, [r.one() for r in results]
        winner = applied[0]
        assert results[winner].column_names == ["[applied]"]
        for i, r in enumerate(results):
            if i == winner:
                continue
            assert r.column_names == ["[applied]", "k", "owner", "v"]
            row = r.one()
            assert row[0] is False
            assert row.owner == "client%d" % winner and row.v == winner
        for n in c3.nodes:
            cl, s = session_pinned(c3, n, "lwt")
            try:
                row = s.execute(SimpleStatement("SELECT owner, v FROM reg WHERE k = 'race'",
                                                consistency_level=CL.SERIAL)).one()
                assert row.owner == "client%d" % winner
            finally:
                cl.shutdown()
    finally:
        for cl, _ in sessions:
            cl.shutdown()


def test_compare_and_set_and_result_columns(c3):
    cl, s = session_pinned(c3, c3.nodes[1], "lwt")
    try:
        r = s.execute("INSERT INTO reg (k, owner, v) VALUES ('cas', 'a', 1) IF NOT EXISTS")
        assert r.was_applied
        r = s.execute("UPDATE reg SET v = 2 WHERE k = 'cas' IF v = 1")
        assert r.was_applied and r.column_names == ["[applied]"]
        r = s.execute("UPDATE reg SET v = 3 WHERE k = 'cas' IF v = 1")
        assert not r.was_applied
        assert r.column_names == ["[applied]", "v"]
        assert r.one().v == 2
        # prepared, with LOCAL_SERIAL as the serial consistency
        ps = s.prepare("UPDATE reg SET v = ? WHERE k = ? IF v = ?")
        ps.serial_consistency_level = CL.LOCAL_SERIAL
        for old in range(2, 6):
            assert s.execute(ps, (old + 1, "cas", old)).was_applied
        assert not s.execute(ps, (100, "cas", 2)).was_applied
        r = s.execute("DELETE FROM reg WHERE k = 'cas' IF EXISTS")
        assert r.was_applied
        r = s.execute("DELETE FROM reg WHERE k = 'cas' IF EXISTS")
        assert not r.was_applied and r.column_names == ["[applied]"]
    finally:
        cl.shutdown()


def fault(node, body):
    r = requests.post(node.url + "/api/v1/fault", json=body, timeout=10)
    assert r.status_code == 200, r.text


def listen(n):
    return "%s:%d" % (n.ip, n.listen_port)


def lwt_metric(node, outcome):
    text = requests.get(node.url + "/metrics", timeout=10).text
    want = 'sibyl_lwt_total{outcome="%s"} ' % outcome
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(want))


def test_lwt_outcomes_on_metrics(c3):
    applied = sum(lwt_metric(n, "applied") for n in c3.nodes)
    not_applied = sum(lwt_metric(n, "not_applied") for n in c3.nodes)
    # the race above: one applied, seven not; CAS: more of both
    assert applied >= 1 + 1 + 4 and not_applied >= 7 + 1
    text = requests.get(c3.nodes[0].url + "/metrics", timeout=10).text
    assert "sibyl_lwt_contention_total " in text
    stats = [requests.get(n.url + "/api/v1/stats", timeout=10).json()["lwt"] for n in c3.nodes]
    assert sum(s["applied"] for s in stats) == applied
    assert sum(s["not_applied"] for s in stats) == not_applied


def test_minority_fails_lwt_while_one_writes_succeed(c3):
    n1, n2, n3 = c3.nodes
    fault(n3, {"action": "cut", "peers": [listen(n1), listen(n2)]})
    cl, s = session_pinned(c3, n3, "lwt")
    try:
        deadline = time.time() + 40
        seen = set()
        while time.time() < deadline and "unavailable" not in seen:
            try:
                s.execute("INSERT INTO reg (k, owner, v) VALUES ('m', 'x', 1) IF NOT EXISTS")
                raise AssertionError("an LWT succeeded in a minority")
            except WriteTimeout as e:
                assert e.write_type == WriteType.CAS, e
                seen.add("timeout")
            except (Unavailable, NoHostAvailable) as e:
                if isinstance(e, NoHostAvailable):
                    assert all(isinstance(x, Unavailable) for x in e.errors.values()), e.errors
                seen.add("unavailable")
            # the same node takes plain writes at ONE meanwhile
            s.execute(SimpleStatement("INSERT INTO reg (k, owner, v) VALUES ('ap', 'n3', 1)",
                                      consistency_level=CL.ONE))
        assert "unavailable" in seen, seen
    finally:
        cl.shutdown()
        fault(n3, {"action": "heal"})
