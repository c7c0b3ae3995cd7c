"""The metadata Raft group on real processes (consensus/group.h).

Three nodes on 127.0.0.x: node 1 (the first seed) bootstraps the group,
the leader adds the other two and makes them voters; every node's
GET /api/v1/raft names the same leader and voters. The leader is killed
with SIGKILL: a new leader is elected within the election timeout (1 s)
plus one second; the killed node restarts from its store and follows the
new leader in the same term.
"""
import time

import requests

from cluster import LocalCluster


def raft(node):
    r = requests.get(node.url + "/api/v1/raft", timeout=2)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except requests.RequestException as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("%s: not within %.0f s (last: %r)" % (what, timeout, last))


def addr(node):
    return "%s:%d" % (node.ip, node.listen_port)


def wait_formed(c, timeout=30):
    """Every node's /api/v1/raft once they all name one leader and every
    node votes."""
    everyone = sorted(addr(n) for n in c.nodes)

    def formed():
        views = [raft(n) for n in c.nodes]
        leaders = {v["leader"] for v in views}
        if len(leaders) != 1 or None in leaders:
            return None
        if any(sorted(v["voters"]) != everyone for v in views):
            return None
        return views
    return wait_for(formed, timeout, "%d voters and one leader" % len(c.nodes))


def test_leader_elected_killed_and_replaced(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.wait_normal()
        views = wait_formed(c)
        roles = sorted(v["role"] for v in views)
        assert roles == ["follower", "follower", "leader"], views
        # /metrics says the same: one leader, everyone knows it
        leaders = 0
        for n in c.nodes:
            text = requests.get(n.url + "/metrics", timeout=5).text
            leaders += 'sibyl_raft_role{role="leader"} 1' in text
            assert "sibyl_raft_has_leader 1" in text
            assert "sibyl_raft_voters 3" in text
        assert leaders == 1
        leader_addr = views[0]["leader"]
        term = max(v["term"] for v in views)
        leader = next(n for n in c.nodes if addr(n) == leader_addr)
        others = [n for n in c.nodes if n is not leader]

        leader.kill()
        t0 = time.time()

        def replaced():
            for n in others:
                v = raft(n)
                if v["role"] == "leader" and v["term"] > term:
                    return v
            return None
        v = wait_for(replaced, 10, "a new leader after the old one was killed")
        took = time.time() - t0
        assert took < 1.0 + 1.0 + 0.5, "new leader after %.2f s" % took
        assert v["leader"] != leader_addr

        leader.start()
        leader.wait_ready()
        back = wait_for(lambda: (lambda x: x if x["role"] == "follower" and
                                 x["leader"] == v["leader"] else None)(raft(leader)),
                        20, "the restarted node following the new leader")
        assert back["term"] >= v["term"]
        assert back["commit_index"] >= views[0]["commit_index"]


def fault(node, action, peers):
    r = requests.post(node.url + "/api/v1/fault", timeout=5,
                      json={"action": action, "peers": peers})
    assert r.status_code == 200, r.text


def test_ddl_through_raft_and_the_minority(tmp_path):
    """DDL sent to a follower commits through the leader and every node gets
    the same table id; a node cut off from the other two refuses DDL at
    once with Unavailable naming the cause while a write at ONE still
    succeeds there (CP metadata, AP data); after the heal it has what the
    majority created and accepts DDL again."""
    from cassandra import ConsistencyLevel, Unavailable
    from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT, NoHostAvailable
    from cassandra.policies import WhiteListRoundRobinPolicy

    with LocalCluster(tmp_path, 3) as c:
        c.wait_normal()
        wait_for(lambda: all(raft(n)["leader"] and len(raft(n)["voters"]) == 3
                             for n in c.nodes), 30, "the group formed")
        leader_addr = raft(c.nodes[0])["leader"]
        follower = next(n for n in c.nodes if addr(n) != leader_addr)
        lone = next(n for n in c.nodes if n is not follower and addr(n) != leader_addr)

        def session(node):
            prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([node.ip]),
                                    consistency_level=ConsistencyLevel.ONE)
            # a node the driver never reached counts as up for its schema
            # agreement check, so with one cut off it would wait out the
            # request timeout: agreement is checked here, not by the driver
            cl = Cluster([node.ip], port=node.cql_port, max_schema_agreement_wait=0,
                         execution_profiles={EXEC_PROFILE_DEFAULT: prof})
            return cl, cl.connect()

        cl, s = session(follower)
        try:
            s.execute("CREATE KEYSPACE raftks WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
            s.execute("CREATE TABLE raftks.t (k int PRIMARY KEY, v text)")
            ids = set()
            for n in c.nodes:
                rows = wait_for(lambda: (lambda j: j["rows"] if j.get("rows") else None)(
                    requests.post(n.url + "/api/v1/cql", timeout=5, json={
                        "query": "SELECT id FROM system_schema.tables "
                                 "WHERE keyspace_name = 'raftks'"}).json()),
                    10, "the table on " + addr(n))
                ids.add(rows[0][0])
            assert len(ids) == 1, ids
        finally:
            cl.shutdown()

        # cut `lone` (not the leader) off from the two others
        others = [n for n in c.nodes if n is not lone]
        fault(lone, "cut", [addr(n) for n in others])
        for n in others:
            fault(n, "cut", [addr(lone)])
        wait_for(lambda: raft(lone)["leader"] is None, 10, "the cut-off node losing its leader")
        cl, s = session(lone)
        try:
            t0 = time.time()
            try:
                s.execute("CREATE TABLE raftks.minority (k int PRIMARY KEY)")
                raise AssertionError("DDL succeeded in a minority")
            except (Unavailable, NoHostAvailable) as e:
                # the driver retries Unavailable on the next host; with one
                # host allowed it reports NoHostAvailable holding it
                if isinstance(e, NoHostAvailable):
                    assert all(isinstance(x, Unavailable) for x in e.errors.values()), e.errors
                assert "no Raft leader" in str(e), str(e)
            assert time.time() - t0 < 3.0  # an election timeout (1 s) plus a second
            s.execute("INSERT INTO raftks.t (k, v) VALUES (1, 'written at ONE in the minority')")
        finally:
            cl.shutdown()

        # the driver waits for schema agreement among the nodes it sees up:
        # let the majority's failure detector mark the cut-off node down
        def lone_down(n):
            j = requests.get(n.url + "/api/v1/cluster", timeout=5).json()
            return any(m["listen"] == addr(lone) and m["state"] != "up" for m in j["nodes"])
        wait_for(lambda: all(lone_down(n) for n in others), 30, "the majority seeing it down")
        cl, s = session(follower)
        try:
            s.execute("CREATE TABLE raftks.majority (k int PRIMARY KEY)")
        finally:
            cl.shutdown()

        fault(lone, "heal", [addr(n) for n in others])
        for n in others:
            fault(n, "heal", [addr(lone)])

        def has_majority_table():
            j = requests.post(lone.url + "/api/v1/cql", timeout=5, json={
                "query": "SELECT table_name FROM system_schema.tables "
                         "WHERE keyspace_name = 'raftks'"}).json()
            return sorted(r[0] for r in j.get("rows", [])) == ["majority", "t"]
        wait_for(has_majority_table, 15, "the healed node getting the majority's table")
        cl, s = session(lone)
        try:
            s.execute("CREATE TABLE raftks.after_heal (k int PRIMARY KEY)")
        finally:
            cl.shutdown()


def test_fault_partition_and_heal_all_cli(tmp_path):
    """`sibyl fault partition A '|' B` cuts every node of one side from every
    node of the other (both ways), the minority side loses the Raft leader,
    and `sibyl fault heal --all` heals every member."""
    import subprocess
    from conftest import BIN

    with LocalCluster(tmp_path, 3) as c:
        c.wait_normal()
        wait_for(lambda: all(raft(n)["leader"] and len(raft(n)["voters"]) == 3
                             for n in c.nodes), 30, "the group formed")
        n1, n2, n3 = c.nodes
        http = "%s:%d" % (n1.ip, n1.http_port)
        r = subprocess.run([BIN, "fault", "--http", http, "partition",
                            "%s,%s" % (n1.ip, n2.ip), "|", addr(n3)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == "partition: %s %s | %s" % (addr(n1), addr(n2),
                                                                       addr(n3))
        blocked = {addr(n): requests.get(n.url + "/api/v1/fault", timeout=5).json()["blocked"]
                   for n in c.nodes}
        assert blocked == {addr(n1): [addr(n3)], addr(n2): [addr(n3)],
                           addr(n3): sorted([addr(n1), addr(n2)])}
        wait_for(lambda: raft(n3)["leader"] is None, 10, "the minority losing its leader")
        v = wait_for(lambda: (lambda x: x if x["leader"] in (addr(n1), addr(n2)) else None)(
            raft(n1)), 10, "a leader on the majority side")
        assert v["leader"] != addr(n3)
        r = subprocess.run([BIN, "fault", "--http", http, "partition", "10.9.9.9"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "10.9.9.9 is not a member" in r.stderr
        r = subprocess.run([BIN, "fault", "--http", http, "heal", "--all"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("no peers cut") == 3
        assert all(requests.get(n.url + "/api/v1/fault", timeout=5).json()["blocked"] == []
                   for n in c.nodes)
        wait_for(lambda: raft(n3)["leader"] == raft(n1)["leader"] is not None, 15,
                 "the healed node following the leader")


def test_ingestion_schema_through_raft(tmp_path):
    """Line protocol that needs a new keyspace, table or column sends those
    schema changes through the Raft group first: every node gets the same
    table ids; cut off from the majority, a node still takes points for
    existing tables but refuses points that need a new table (503, the
    Raft cause named)."""
    with LocalCluster(tmp_path, 3) as c:
        c.wait_normal()
        wait_for(lambda: all(raft(n)["leader"] and len(raft(n)["voters"]) == 3
                             for n in c.nodes), 30, "the group formed")
        leader_addr = raft(c.nodes[0])["leader"]
        followers = [n for n in c.nodes if addr(n) != leader_addr]

        def write(node, body):
            return requests.post(node.url + "/api/v2/write", timeout=15, data=body,
                                 params={"bucket": "lpraft", "precision": "s",
                                         "consistency": "ONE"})

        # three replicas, so that a cut-off node holds one of every row
        r = requests.post(followers[0].url + "/api/v1/cql", timeout=15, json={
            "query": "CREATE KEYSPACE lpraft WITH replication = "
                     "{'class': 'SimpleStrategy', 'replication_factor': 3}"})
        assert r.status_code == 200, r.text
        r = write(followers[0], "cpu,host=a usage=1.5 1700000000\nmem,host=a free=3i 1700000000")
        assert r.status_code == 204, r.text
        r = write(followers[1], "cpu,host=b usage=2.5,steal=0.5 1700000001")
        assert r.status_code == 204, r.text

        def tables(n):
            j = requests.post(n.url + "/api/v1/cql", timeout=5, json={
                "query": "SELECT table_name, id FROM system_schema.tables "
                         "WHERE keyspace_name = 'lpraft'"}).json()
            return sorted(tuple(x) for x in j.get("rows", []))
        want = wait_for(lambda: (lambda t: t if len(t) == 2 else None)(tables(c.nodes[0])), 10,
                        "the tables on node 1")
        for n in c.nodes[1:]:
            wait_for(lambda: tables(n) == want, 10, "the same tables and ids on " + addr(n))
        j = requests.post(c.nodes[0].url + "/api/v1/cql", timeout=5, json={
            "query": "SELECT column_name FROM system_schema.columns "
                     "WHERE keyspace_name = 'lpraft' AND table_name = 'cpu'"}).json()
        assert sorted(x[0] for x in j["rows"]) == ["host", "steal", "time", "usage"]

        lone = followers[1]
        others = [n for n in c.nodes if n is not lone]
        fault(lone, "cut", [addr(n) for n in others])
        wait_for(lambda: raft(lone)["leader"] is None, 10, "the cut-off node losing its leader")
        r = write(lone, "cpu,host=c usage=9 1700000002")
        assert r.status_code == 204, r.text
        t0 = time.time()
        r = write(lone, "disk,host=c used=1i 1700000002")
        assert r.status_code == 503, r.text
        assert "no Raft leader" in r.json()["error"]["message"], r.text
        assert time.time() - t0 < 4.0
        fault(lone, "heal", [])
        wait_for(lambda: raft(lone)["leader"] is not None, 15, "the healed node's leader")
        r = write(lone, "disk,host=c used=1i 1700000003")
        assert r.status_code == 204, r.text
