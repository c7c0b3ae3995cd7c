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


def test_leader_elected_killed_and_replaced(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.wait_normal()
        everyone = sorted(addr(n) for n in c.nodes)

        def formed():
            views = [raft(n) for n in c.nodes]
            leaders = {v["leader"] for v in views}
            if len(leaders) != 1 or None in leaders:
                return None
            if any(sorted(v["voters"]) != everyone for v in views):
                return None
            return views
        views = wait_for(formed, 30, "three voters and one leader")
        roles = sorted(v["role"] for v in views)
        assert roles == ["follower", "follower", "leader"], views
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
