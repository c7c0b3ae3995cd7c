"""Topology changes through the Raft group (cluster/topology.h) on real
processes.

Three nodes start: node 1 (the first seed) takes its tokens through
gossip and the leader adopts them into the committed topology; nodes 2
and 3 join through the group. Then a 4th node joins the running cluster:
the group allocates its tokens, it is JOINING (UJ) in the committed
topology and in gossip, its bootstrap hook completes at once, and it
turns NORMAL (UN). Every node's GET /api/v1/raft shows the topology's
index advancing and four NORMAL nodes; `sibyl status` shows UN for all.
"""
import os
import subprocess

from cluster import ClusterNode, LocalCluster
from conftest import BIN
from test_raft import raft, wait_for

EXTRA = ["--gossip-interval-ms", "200"]


def topology(node):
    return raft(node)["topology"]


def test_fourth_node_joins_through_raft(tmp_path):
    with LocalCluster(tmp_path, 3, extra=EXTRA) as c:
        c.wait_normal()
        wait_for(lambda: all(topology(n)["normal"] == 3 for n in c.nodes), 30,
                 "three NORMAL nodes in every committed topology")
        before = topology(c.nodes[0])["index"]
        assert before > 0
        seeds = "127.0.0.1:%d" % (7000 + c.offset)
        n4 = ClusterNode(4, os.path.join(str(tmp_path), "node4"), c.offset, seeds, EXTRA)
        c.nodes.append(n4)  # stopped with the others on exit
        n4.start()
        n4.wait_ready(timeout=60)
        wait_for(lambda: all(topology(n)["normal"] == 4 and topology(n)["joining"] == 0
                             for n in c.nodes), 60,
                 "four NORMAL nodes in every committed topology")
        c.wait_normal()
        after = [topology(n)["index"] for n in c.nodes]
        assert all(i > before for i in after), (before, after)
        # JOINING, then NORMAL, applied in that order on an old node and on
        # the new one; the new node took its tokens as JOINING first (UJ).
        ep4 = "127.0.0.4:%d" % n4.listen_port
        for n in (c.nodes[0], n4):
            log = open(n.log_path, errors="replace").read()
            joining = log.find('change="%s joined as JOINING' % ep4)
            normal = log.find('change="%s is NORMAL"' % ep4)
            assert 0 <= joining < normal, n.logs()
        log4 = open(n4.log_path, errors="replace").read()
        assert 0 <= log4.find("joining the ring") < log4.find("joined the ring"), n4.logs()
        out = subprocess.run([BIN, "status", "--http", "127.0.0.1:%d" % c.nodes[0].http_port],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        rows = [line for line in out.stdout.splitlines() if line.startswith(("UN", "UJ", "DN"))]
        assert len(rows) == 4 and all(r.startswith("UN") for r in rows), out.stdout
