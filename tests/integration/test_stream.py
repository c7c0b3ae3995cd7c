"""Range streaming between two real nodes (docs/streaming.md): an RF=1
keyspace spreads rows over nodes 1 and 2; node 2 pulls node 1's rows
through POST /api/v1/streams (the admin command) and then holds, in its
own storage (GET /api/v1/local, no coordinator), every row node 1 owns,
with the same values, write times and TTLs, while deleted rows stay
deleted. GET /api/v1/streams and /metrics show the session."""
import time

import pytest
import requests

from cluster import LocalCluster

N = 200


def local(n, k):
    r = requests.get(n.url + "/api/v1/local",
                     params={"keyspace": "st", "table": "t", "k": str(k)}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def owner(c, k):
    r = requests.get(c.nodes[0].url + "/api/v1/replicas",
                     params={"keyspace": "st", "table": "t", "k": str(k)}, timeout=5)
    assert r.status_code == 200, r.text
    reps = r.json()["replicas"]
    assert len(reps) == 1
    return reps[0]["listen"]


def metric(n, name):
    for line in requests.get(n.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric " + name)


def wait_session(n, sid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        doc = requests.get(n.url + "/api/v1/streams", timeout=5).json()
        s = [x for x in doc["sessions"] if x["id"] == sid]
        assert len(s) == 1
        if s[0]["state"] != "running":
            return s[0], doc
        time.sleep(0.1)
    raise AssertionError("stream session %d still running" % sid)


@pytest.fixture(scope="module")
def c2(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("stream"), 2,
                      extra=["--gossip-interval-ms", "200"]) as c:
        c.wait_normal()
        yield c


def test_stream_copies_rows_with_ttl_and_tombstones(c2):
    a, b = c2.nodes
    a.cql("CREATE KEYSPACE st WITH replication = "
          "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    a.cql("CREATE TABLE st.t (k int PRIMARY KEY, v text)")
    for k in range(N):
        ttl = " USING TTL 86400" if k % 3 == 0 else ""
        a.cql("INSERT INTO st.t (k, v) VALUES (%d, 'value-%d')%s" % (k, k, ttl))
    for k in range(0, N, 7):
        a.cql("DELETE FROM st.t WHERE k = %d" % k)
    a_listen = "%s:%d" % (a.ip, a.listen_port)
    owned = [k for k in range(N) if owner(c2, k) == a_listen]
    assert 20 < len(owned) < N - 20, "vnodes should split %d keys between 2 nodes" % N
    live = [k for k in owned if k % 7]
    assert all(local(b, k)["rows"] == [] for k in owned)

    r = requests.post(b.url + "/api/v1/streams",
                      json={"from": a_listen, "keyspace": "st"}, timeout=10)
    assert r.status_code == 202, r.text
    s, doc = wait_session(b, r.json()["id"])
    assert s["state"] == "done", s
    assert s["peer"] == a_listen and s["parts_done"] == s["parts"]
    assert s["rows"] >= len(owned) and s["bytes"] > 0 and s["error"] == ""
    assert doc["totals"]["sessions_completed"] >= 1

    for k in live:
        want, got = local(a, k)["rows"], local(b, k)["rows"]
        assert len(want) == 1 and got == want, (k, want, got)
        if k % 3 == 0:
            assert got[0]["cells"]["v"]["ttl"] > 0
    for k in owned:
        if k % 7 == 0:
            assert local(b, k)["rows"] == [], k
    assert metric(b, "sibyl_stream_received_rows_total") >= len(owned)
    assert metric(a, "sibyl_stream_sent_rows_total") >= len(owned)
    assert metric(b, "sibyl_stream_sessions_completed_total") >= 1
    assert "session done" in b.logs()


def test_stream_one_range_only(c2):
    """A range (START, END] copies the keys whose tokens fall in it."""
    a, b = c2.nodes
    a.cql("CREATE TABLE st.r (k int PRIMARY KEY, v int)")
    tokens = {}
    for k in range(60):
        a.cql("INSERT INTO st.r (k, v) VALUES (%d, %d)" % (k, k))
        r = requests.get(a.url + "/api/v1/replicas",
                         params={"keyspace": "st", "table": "r", "k": str(k)}, timeout=5)
        tokens[k] = (int(r.json()["token"]), r.json()["replicas"][0]["listen"])
    a_listen = "%s:%d" % (a.ip, a.listen_port)
    mine = sorted(t for t, o in tokens.values() if o == a_listen)
    assert len(mine) >= 4
    lo, hi = mine[len(mine) // 4], mine[3 * len(mine) // 4]
    r = requests.post(b.url + "/api/v1/streams",
                      json={"from": a_listen, "keyspace": "st", "table": "r",
                            "ranges": [[str(lo), str(hi)]]}, timeout=10)
    assert r.status_code == 202, r.text
    s, _ = wait_session(b, r.json()["id"])
    assert s["state"] == "done", s
    assert s["ranges"] == [[str(lo), str(hi)]]
    for k, (t, o) in tokens.items():
        if o != a_listen:
            continue
        rows = requests.get(b.url + "/api/v1/local",
                            params={"keyspace": "st", "table": "r", "k": str(k)},
                            timeout=5).json()["rows"]
        assert (len(rows) == 1) == (lo < t <= hi), (k, t, lo, hi, rows)


def test_stream_request_errors(c2):
    b = c2.nodes[1]
    for body, words in [({"keyspace": "st"}, "from"),
                        ({"from": "127.0.0.1:1", "keyspace": "nope"}, "no keyspace"),
                        ({"from": "127.0.0.1:1", "ranges": [["5", "5"]]}, "START equals END"),
                        ({"from": "127.0.0.1:1", "ranges": [["x", "5"]]}, "ranges[0]"),
                        ({"from": "127.0.0.1:1", "bogus": 1}, "unknown field")]:
        r = requests.post(b.url + "/api/v1/streams", json=body, timeout=5)
        assert r.status_code == 400, (body, r.text)
        assert words in r.json()["error"]["message"], (body, r.text)


def test_cli_stream_follows_the_session(c2):
    """`sibyl stream` starts a session on the receiving node and prints
    its progress until it is done (exit 0); a refused request exits 1 with
    the node's message."""
    import subprocess
    from conftest import BIN
    a, b = c2.nodes
    a.cql("CREATE TABLE st.c (k int PRIMARY KEY, v int)")
    for k in range(40):
        a.cql("INSERT INTO st.c (k, v) VALUES (%d, %d)" % (k, k))
    a_listen = "%s:%d" % (a.ip, a.listen_port)
    http = "%s:%d" % (b.ip, b.http_port)
    p = subprocess.run([BIN, "stream", "--from", a_listen, "--keyspace", "st", "--table", "c",
                        "--range", "-9223372036854775808:0", "--range", "0:-9223372036854775808",
                        "--http", http, "--timeout-s", "60"],
                       capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "started on " + http in p.stdout
    last = p.stdout.strip().splitlines()[-1]
    assert ": done," in last and "from " + a_listen in last, p.stdout
    owned = 0
    for k in range(40):
        ra = requests.get(a.url + "/api/v1/local",
                          params={"keyspace": "st", "table": "c", "k": str(k)}, timeout=5).json()
        if ra["rows"]:
            owned += 1
            rb = requests.get(b.url + "/api/v1/local",
                              params={"keyspace": "st", "table": "c", "k": str(k)},
                              timeout=5).json()
            assert rb["rows"] == ra["rows"], k
    assert owned > 0
    p = subprocess.run([BIN, "stream", "--from", a_listen, "--keyspace", "nope", "--http", http],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "no keyspace" in p.stderr, p.stdout + p.stderr
    p = subprocess.run([BIN, "stream", "--http", http], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2
