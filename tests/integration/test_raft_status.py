"""The metadata Raft group as operators see it, on three real nodes:
`sibyl status` gives each node's role (one leader, two voters) and a last
line with the leader and the term, the event timeline
(GET /api/v1/events) records the election and the configuration
changes, and when the leader is cut off from the others, its status
says it knows no leader, it records that it lost leadership, and the
majority's new leader records its election.
"""
import re
import subprocess

import requests

from cluster import LocalCluster
from conftest import BIN
from test_raft import addr, fault, raft, wait_for, wait_formed


def status(node):
    r = subprocess.run([BIN, "status", "%s:%d" % (node.ip, node.http_port)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def raft_cells(out):
    """{address: Raft column} from the status table."""
    cells = {}
    for line in out.splitlines():
        if re.match(r"^[UD][NJLM?]\s", line):
            f = line.split()
            cells[f[1]] = f[-1]
    return cells


def events(node, kind=None):
    r = requests.get(node.url + "/api/v1/events", timeout=5)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if kind is None or e["type"] == kind]


def test_status_and_events_show_the_raft_group(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.wait_normal()
        views = wait_formed(c)
        leader_addr = views[0]["leader"]
        term = views[0]["term"]
        leader = next(n for n in c.nodes if addr(n) == leader_addr)
        others = [n for n in c.nodes if n is not leader]

        # every node's status names the same leader, once, and two voters
        for n in c.nodes:
            out = status(n)
            head = next(l for l in out.splitlines() if l.startswith("--"))
            assert re.match(r"^--\s+Address\s+Load\s+Tokens\s+Owns\s+Host ID\s+Rack\s+Raft$",
                            head), head
            cells = raft_cells(out)
            assert cells == {x.ip: ("leader" if x is leader else "voter") for x in c.nodes}, out
            assert ("Raft: leader %s, term %d, 3 voters, 0 learners" % (leader_addr, term)
                    in out.splitlines()), out
        # the cluster view carries the same facts
        v = requests.get(leader.url + "/api/v1/cluster", timeout=5).json()
        assert v["raft"]["leader"] == leader_addr and v["raft"]["term"] == term
        assert sorted(m["raft"] for m in v["nodes"]) == ["leader", "voter", "voter"]

        # the timeline: the leader's election, and each other node promoted once
        elected = events(leader, "raft_elected")
        assert len(elected) == 1, elected
        assert elected[0]["message"] == "%s elected Raft leader (term %d)" % (leader_addr, term)
        promoted = [e["peer"] for n in c.nodes for e in events(n, "raft_promoted")]
        assert sorted(promoted) == sorted(addr(n) for n in others), promoted
        assert all(events(n, "raft_elected") == [] for n in others)

        # cut the leader off: it steps down and says so; the majority elects
        fault(leader, "cut", [addr(n) for n in others])
        for n in others:
            fault(n, "cut", [leader_addr])
        wait_for(lambda: events(leader, "raft_stepped_down"), 10,
                 "the cut-off leader recording that it lost leadership")
        new = wait_for(lambda: next((n for n in others if raft(n)["role"] == "leader"), None),
                       10, "a leader on the majority side")
        wait_for(lambda: raft(leader)["leader"] is None, 10, "the minority knowing no leader")
        out = status(leader)
        assert re.search(r"^Raft: no leader known to %s \(term \d+\): a majority of the voters "
                         r"is not reachable" % re.escape(leader_addr), out, re.M), out
        assert "leader" not in raft_cells(out).values(), out
        new_elected = wait_for(lambda: events(new, "raft_elected"), 5,
                               "the new leader's election on its timeline")
        assert len(new_elected) == 1
        new_term = raft(new)["term"]
        assert "(term %d)" % new_term in new_elected[0]["message"]
        out = status(new)
        assert raft_cells(out)[new.ip] == "leader", out
        assert "Raft: leader %s, term %d" % (addr(new), new_term) in out

        fault(leader, "heal", [addr(n) for n in others])
        for n in others:
            fault(n, "heal", [leader_addr])
        wait_for(lambda: raft(leader)["leader"] == addr(new), 15,
                 "the healed node following the new leader")
        assert len(events(leader, "raft_stepped_down")) == 1
