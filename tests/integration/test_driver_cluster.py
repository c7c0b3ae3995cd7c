"""The Python driver against a 3-node cluster on 127.0.0.1/.2/.3: it
discovers every node from one contact point through system.peers, routes
by the tokens there, sees a killed node go down and come back through
STATUS_CHANGE events, and waits for schema agreement after DDL.
"""
import time

import pytest
from cassandra.cluster import Cluster
from cassandra.policies import WhiteListRoundRobinPolicy

from cluster import ClusterNode, LocalCluster
from test_driver_events import connect, next_event, read_frame, read_string

INTERVAL = ["--gossip-interval-ms", "200"]


@pytest.fixture(scope="module")
def local3(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("c3"), 3, extra=INTERVAL) as c:
        c.wait_normal()
        yield c


@pytest.fixture(scope="module")
def driver(local3):
    c = Cluster(["127.0.0.1"], port=local3.cql_port)
    s = c.connect()
    yield c, s
    c.shutdown()


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return time.time()
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def test_driver_discovers_all_nodes_with_tokens(local3, driver):
    c, s = driver
    hosts = c.metadata.all_hosts()
    assert sorted(h.address for h in hosts) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert all(h.is_up for h in hosts)
    assert len({h.host_id for h in hosts}) == 3
    everything = set()
    for h in hosts:
        # system.local has the node's own vnode tokens, system.peers the others'
        local = s.execute("SELECT tokens, host_id, broadcast_address FROM system.local",
                          host=h).one()
        assert str(local.broadcast_address) == h.address
        assert local.host_id == h.host_id
        assert len(local.tokens) == 16
        everything |= set(local.tokens)
        peers = list(s.execute("SELECT peer, rpc_address, tokens, host_id, data_center, rack, "
                               "schema_version FROM system.peers", host=h))
        others = sorted(x.address for x in hosts if x.address != h.address)
        assert sorted(str(p.peer) for p in peers) == others
        assert sorted(str(p.rpc_address) for p in peers) == others
        assert all(len(p.tokens) == 16 for p in peers)
        assert all(p.data_center and p.rack and p.host_id for p in peers)
        v2 = list(s.execute("SELECT peer, native_address, native_port FROM system.peers_v2",
                            host=h))
        assert sorted(str(p.native_address) for p in v2) == others
        assert all(p.native_port == local3.cql_port for p in v2)
    assert len(everything) == 48
    # the driver's token map has every vnode
    tm = c.metadata.token_map
    assert tm is not None and len(tm.ring) == 48


def test_schema_agreement_after_ddl(local3, driver):
    c, s = driver
    s.execute("CREATE KEYSPACE dc_agree WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE dc_agree.t (k int PRIMARY KEY, v text)")
    assert c.control_connection.wait_for_schema_agreement()
    for h in c.metadata.all_hosts():
        versions = {r.schema_version
                    for r in s.execute("SELECT schema_version FROM system.peers", host=h)}
        local = s.execute("SELECT schema_version FROM system.local", host=h).one()
        assert versions == {local.schema_version}
    assert "t" in c.metadata.keyspaces["dc_agree"].tables


def test_dropped_keyspace_stays_dropped(local3, driver):
    """DROP KEYSPACE then CREATE KEYSPACE of the same name, each through
    one coordinator in turn: the create must find the name free. A peer
    still behind the drop in the Raft log used to push its schema (with
    the keyspace) to the node that had dropped it, which took it back
    ("Cannot add existing keyspace"; seen with the Node.js driver's
    checks in about one round in four)."""
    c, s = driver
    sessions = []
    try:
        for n in local3.nodes:
            cl = Cluster([n.ip], port=local3.cql_port,
                         load_balancing_policy=WhiteListRoundRobinPolicy([n.ip]))
            sessions.append((cl, cl.connect()))
        for i in range(12):
            sn = sessions[i % 3][1]
            sn.execute("DROP KEYSPACE IF EXISTS dc_again")
            sn.execute("CREATE KEYSPACE dc_again WITH replication = "
                       "{'class': 'SimpleStrategy', 'replication_factor': 3}")
            sn.execute("CREATE TABLE dc_again.t (k int PRIMARY KEY, v int)")
            sn.execute("INSERT INTO dc_again.t (k, v) VALUES (%s, %s)", (i, i))
        sessions[0][1].execute("DROP KEYSPACE dc_again")
        time.sleep(1)  # several gossip rounds: a resurrection would show by now
        for _, sn in sessions:
            rows = list(sn.execute("SELECT keyspace_name FROM system_schema.keyspaces "
                                   "WHERE keyspace_name = 'dc_again'"))
            assert rows == []
    finally:
        for cl, _ in sessions:
            cl.shutdown()


def test_killed_node_goes_down_and_comes_back(local3, driver):
    c, s = driver
    n3 = local3.nodes[2]

    def host3():
        return [h for h in c.metadata.all_hosts() if h.address == "127.0.0.3"][0]

    assert host3().is_up
    killed = time.time()
    n3.kill()
    t = wait_until(lambda: not host3().is_up, 30, "the driver to mark 127.0.0.3 down")
    print("driver saw the killed node down after %.1f s" % (t - killed))
    # still listed in system.peers: down is not gone
    h1 = [h for h in c.metadata.all_hosts() if h.address == "127.0.0.1"][0]
    peers = {str(r.peer) for r in s.execute("SELECT peer FROM system.peers", host=h1)}
    assert "127.0.0.3" in peers

    started = time.time()
    n3.start()
    n3.wait_ready()
    t = wait_until(lambda: host3().is_up, 60, "the driver to mark 127.0.0.3 up again")
    print("driver saw the restarted node up after %.1f s" % (t - started))
    assert len(c.metadata.all_hosts()) == 3
    local3.wait_normal()


def node_event(sock, timeout):
    """The next TOPOLOGY/STATUS event as (type, change, 'ip:port')."""
    sock.settimeout(timeout)
    body = next_event(sock)
    typ, off = read_string(body, 0)
    change, off = read_string(body, off)
    n = body[off]
    ip = ".".join(str(b) for b in body[off + 1:off + 1 + n])
    port = int.from_bytes(body[off + 1 + n:off + 5 + n], "big")
    assert off + 5 + n == len(body)
    return typ, change, "%s:%d" % (ip, port)


def wait_event(sock, want, timeout):
    """Reads events until want arrives (others, e.g. a late UP of an
    earlier test's node, are skipped); returns what was skipped."""
    deadline = time.time() + timeout
    skipped = []
    while True:
        left = deadline - time.time()
        assert left > 0, "no %r; got %r" % (want, skipped)
        ev = node_event(sock, left)
        if ev == want:
            return skipped
        skipped.append(ev)


def test_status_change_events_on_kill_and_restart(local3, driver):
    n1, n2 = local3.nodes[0], local3.nodes[1]
    sock = connect(n1, ["STATUS_CHANGE", "TOPOLOGY_CHANGE"])
    assert read_frame(sock)[2] == 0x02
    addr = "127.0.0.2:%d" % local3.cql_port
    killed = time.time()
    n2.kill()
    skipped = wait_event(sock, ("STATUS_CHANGE", "DOWN", addr), 30)
    assert all(ev[2] != addr for ev in skipped), skipped
    print("DOWN event %.1f s after the kill" % (time.time() - killed))
    started = time.time()
    n2.start()
    n2.wait_ready()
    skipped = wait_event(sock, ("STATUS_CHANGE", "UP", addr), 30)
    assert all(ev[2] != addr for ev in skipped), skipped
    print("UP event %.1f s after the restart" % (time.time() - started))
    sock.close()
    local3.wait_normal()


def test_new_node_event_and_driver_sees_fourth_node(local3, driver, tmp_path):
    c, s = driver
    sock = connect(local3.nodes[0], ["TOPOLOGY_CHANGE"])
    assert read_frame(sock)[2] == 0x02
    n4 = ClusterNode(4, tmp_path / "node4", local3.offset, local3.nodes[0].seeds, INTERVAL)
    try:
        n4.start()
        n4.wait_ready()
        wait_event(sock, ("TOPOLOGY_CHANGE", "NEW_NODE", "127.0.0.4:%d" % local3.cql_port), 30)
        wait_until(lambda: any(h.address == "127.0.0.4" and h.is_up
                               for h in c.metadata.all_hosts()), 30,
                   "the driver to add 127.0.0.4")
    finally:
        sock.close()
        n4.stop()
