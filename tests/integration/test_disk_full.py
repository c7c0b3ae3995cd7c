"""A real node on a 64 MiB tmpfs that fills up (issue 20, item 1).

Writes until the file system is full: the node stays up, clients get the
disk-full error (HTTP 507, CQL WriteFailure naming the node and the path),
reads keep working, writes resume by themselves once a filler file is
deleted, and no acknowledged row is missing. Then a restart on a full disk
comes up read-only. Needs root to mount tmpfs; skips with a message when
mounting is not permitted.
"""
import os
import subprocess
import time

import pytest
import requests

from conftest import BIN, Node

MIB = 1 << 20
VALUE = "v" * 4000  # ~4 KB a row: the disk fills in a few hundred requests


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs (needs root): %s" % (r.stderr.strip() or r.returncode))
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave_bytes):
    """Writes a filler file so that about leave_bytes stay free."""
    filler = os.path.join(path, "filler")
    n = max(0, free_bytes(path) - leave_bytes)
    with open(filler, "ab") as f:
        chunk = b"\0" * MIB
        while n > 0:
            try:
                f.write(chunk[:min(n, MIB)])
                f.flush()
            except OSError:
                break
            n -= MIB
    return filler


def insert_batch(node, first, count):
    """One logged batch of count rows; returns the response."""
    stmts = ["INSERT INTO ks.t (id, v) VALUES (%d, '%s')" % (i, VALUE)
             for i in range(first, first + count)]
    q = "BEGIN UNLOGGED BATCH " + "; ".join(stmts) + "; APPLY BATCH"
    return requests.post(node.url + "/api/v1/cql", json={"query": q}, timeout=30)


def write_until_refused(node, acked, start, max_requests=2000, deadline_s=25):
    """Writes batches until one is refused with 507; returns that answer."""
    i = start
    t_end = time.time() + deadline_s
    for _ in range(max_requests):
        assert time.time() < t_end, "the disk never filled"
        r = insert_batch(node, i, 20)
        if r.status_code == 200:
            acked.update(range(i, i + 20))
            i += 20
            continue
        return r, i
    raise AssertionError("no write was refused")


def read_ids(node):
    res = node.cql("SELECT id FROM ks.t")
    return {row[0] for row in res["rows"]}


def health(node):
    r = requests.get(node.url + "/health", timeout=5)
    return r.status_code, r.json()


def test_disk_full_single_node(tmpfs):
    data = tmpfs / "node"
    # An 8 MiB reserve: the node refuses writes while the tmpfs still has
    # room for memtable flushes.
    node = Node(data, ["--min-free-bytes", str(8 * MIB)]).start()
    filler = None
    try:
        node.cql("CREATE KEYSPACE ks WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        node.cql("CREATE TABLE ks.t (id int PRIMARY KEY, v text)")
        node.write("cpu,host=a usage=1 1000000000")  # the line-protocol table exists
        filler = fill(str(tmpfs), 20 * MIB)
        acked = set()
        r, nxt = write_until_refused(node, acked, 0)
        assert r.status_code == 507, r.text
        err = r.json()["error"]
        assert err["code"] == "WriteFailure"  # the CQL class, as every CQL error
        assert "disk full on" in err["message"] and str(data) in err["message"], err
        # The line-protocol endpoint answers 507 with the same cause.
        r = node.write("cpu,host=a usage=2 2000000000", expect=507)
        assert r.json()["error"]["code"] == "insufficient_storage", r.text
        assert "disk full on" in r.json()["error"]["message"], r.text
        assert len(acked) > 0
        # The node is up, says why it refuses writes, and serves reads.
        assert node.proc.poll() is None
        code, h = health(node)
        assert code == 200 and h["read_only"] is True and h["disk"]["state"] in ("low", "full"), h
        assert "disk full on" in h["disk"]["reason"], h
        # What the dashboard shows for the node (web/src/ring.ts).
        st = requests.get(node.url + "/api/v1/stats", timeout=5).json()["storage"]
        assert "disk full on" in st["refuses_writes"], st
        m = requests.get(node.url + "/metrics", timeout=5).text
        assert "sibyl_storage_writes_refused 1" in m
        assert acked <= read_ids(node)
        # The CQL native protocol answers WriteFailure with the same cause.
        from cassandra.cluster import Cluster
        from cassandra import WriteFailure
        cluster = Cluster(["127.0.0.1"], port=node.cql_port, connect_timeout=10)
        try:
            sess = cluster.connect()
            with pytest.raises(WriteFailure) as ei:
                sess.execute("INSERT INTO ks.t (id, v) VALUES (-1, 'x')")
            assert "disk full on" in str(ei.value)
            assert sess.execute("SELECT id FROM ks.t WHERE id = %d" % min(acked)).one() is not None
        finally:
            cluster.shutdown()
        # Space returns: writes resume without a restart.
        os.unlink(filler)
        filler = None
        deadline = time.time() + 10
        while True:
            r = insert_batch(node, nxt, 20)
            if r.status_code == 200:
                acked.update(range(nxt, nxt + 20))
                break
            assert r.status_code == 507, r.text
            assert time.time() < deadline, "writes did not resume: " + r.text
            time.sleep(0.2)
        code, h = health(node)
        assert code == 200 and h["read_only"] is False, h
        st = requests.get(node.url + "/api/v1/stats", timeout=5).json()["storage"]
        assert st["refuses_writes"] is None, st
        assert acked <= read_ids(node), "acknowledged rows missing"
        m = requests.get(node.url + "/metrics", timeout=5).text
        assert 'sibyl_storage_write_refusals_total{cause="low"}' in m
        assert "sibyl_storage_min_free_bytes 8388608" in m
        assert "sibyl_storage_writes_refused 0" in m
        assert node.stop() == 0, node.logs()

        # A start on a full disk: read-only, and it says so.
        filler = fill(str(tmpfs), 0)
        node.start()
        code, h = health(node)
        assert code == 200 and h["read_only"] is True, h
        assert "read-only" in node.logs()
        r = insert_batch(node, 10 ** 6, 1)
        assert r.status_code == 507, r.text
        st = subprocess.run([BIN, "status", "127.0.0.1:%d" % node.port], capture_output=True,
                            text=True, timeout=30)
        assert st.returncode == 0, st.stderr
        assert "Read-only: 127.0.0.1 refuses writes: disk full on" in st.stdout, st.stdout
        assert acked <= read_ids(node), "acknowledged rows missing after the restart"
    finally:
        if node.proc and node.proc.poll() is None:
            rc = node.stop()
            assert rc == 0, node.logs()
        if filler:
            os.unlink(filler)


def test_enospc_without_reserve(tmpfs):
    """No reserve: RocksDB itself runs out of space; the node must not
    abort, must answer 507 and must take writes again once space returns."""
    data = tmpfs / "node"
    node = Node(data, ["--min-free-bytes", "0"]).start()
    filler = None
    try:
        node.cql("CREATE KEYSPACE ks WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        node.cql("CREATE TABLE ks.t (id int PRIMARY KEY, v text)")
        filler = fill(str(tmpfs), 6 * MIB)
        acked = set()
        r, nxt = write_until_refused(node, acked, 0)
        assert r.status_code == 507, r.text
        assert "disk full on" in r.json()["error"]["message"]
        assert node.proc.poll() is None, node.logs()
        assert acked <= read_ids(node)
        os.unlink(filler)
        filler = None
        deadline = time.time() + 30
        while True:
            r = insert_batch(node, nxt, 20)
            if r.status_code == 200:
                acked.update(range(nxt, nxt + 20))
                break
            assert node.proc.poll() is None, node.logs()
            assert time.time() < deadline, "writes did not resume: " + r.text
            time.sleep(0.5)
        assert acked <= read_ids(node), "acknowledged rows missing"
    finally:
        if node.proc and node.proc.poll() is None:
            rc = node.stop()
            assert rc == 0, node.logs()
        if filler:
            os.unlink(filler)


def cql_at(node_url, query, consistency):
    return requests.post(node_url + "/api/v1/cql",
                         json={"query": query, "consistency": consistency}, timeout=30)


def test_one_full_replica_of_three(tmpfs, tmp_path):
    """Node 2 of 3 fills up: ALL writes fail at once naming it, QUORUM
    writes (coordinated anywhere, node 2 included) still succeed, reads
    work, and ALL writes succeed again once its space returns."""
    from cluster import LocalCluster
    c = LocalCluster(tmp_path, 3, extra=["--gossip-interval-ms", "200"])
    full = c.nodes[1]
    full.data_dir = str(tmpfs / "node2")
    full.log_path = str(tmp_path / "node2.log")
    full.extra += ["--min-free-bytes", str(8 * MIB)]
    filler = None
    with c:
        c.wait_normal()
        n1 = c.nodes[0]
        n1.cql("CREATE KEYSPACE ks WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        n1.cql("CREATE TABLE ks.t (id int PRIMARY KEY, v text)")
        filler = fill(str(tmpfs), 16 * MIB)
        acked = set()
        i = 0
        t_end = time.time() + 30
        while True:
            assert time.time() < t_end, "node 2's disk never filled"
            stmts = ["INSERT INTO ks.t (id, v) VALUES (%d, '%s')" % (k, VALUE)
                     for k in range(i, i + 20)]
            r = cql_at(n1.url, "BEGIN UNLOGGED BATCH " + "; ".join(stmts) + "; APPLY BATCH",
                       "ALL")
            if r.status_code == 200:
                acked.update(range(i, i + 20))
                i += 20
                continue
            break
        assert r.status_code == 507, r.text
        assert "disk full on %s:" % full.ip in r.json()["error"]["message"], r.text
        # QUORUM does not need node 2: through node 1 and through node 2.
        for k, coord in ((i, n1), (i + 1, full)):
            r = cql_at(coord.url, "INSERT INTO ks.t (id, v) VALUES (%d, 'q')" % k, "QUORUM")
            assert r.status_code == 200, r.text
            acked.add(k)
        res = requests.post(full.url + "/api/v1/cql",
                            json={"query": "SELECT id FROM ks.t", "consistency": "QUORUM"},
                            timeout=30).json()
        assert "rows" in res, res
        assert acked <= {row[0] for row in res["rows"]}, "acknowledged rows missing"
        assert full.proc.poll() is None
        os.unlink(filler)
        filler = None
        deadline = time.time() + 10
        while True:
            r = cql_at(n1.url, "INSERT INTO ks.t (id, v) VALUES (%d, 'all')" % (i + 2), "ALL")
            if r.status_code == 200:
                break
            assert time.time() < deadline, "ALL writes did not resume: " + r.text
            time.sleep(0.2)


def inject(node, error, writes=1):
    r = requests.post(node.url + "/api/v1/fault/disk", json={"error": error, "writes": writes},
                      timeout=5)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("policy", ["stop", "best_effort", "die", "ignore"])
def test_disk_failure_policy(tmp_path, policy):
    """An I/O error (injected inside the store, where RocksDB's would come
    from) under each disk_failure_policy, as Cassandra defines them."""
    node = Node(tmp_path / "data", ["--disk-failure-policy", policy]).start()
    try:
        node.cql("CREATE KEYSPACE ks WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        node.cql("CREATE TABLE ks.t (id int PRIMARY KEY, v text)")
        node.cql("INSERT INTO ks.t (id, v) VALUES (1, 'a')")
        inject(node, "eio")
        if policy == "die":
            try:
                insert_batch(node, 2, 1)
            except requests.RequestException:
                pass
            assert node.proc.wait(10) == 3, node.logs()
            assert "disk_failure_policy=die" in node.logs()
            node.proc = None
            return
        r = insert_batch(node, 2, 1)
        assert r.status_code == 500, r.text
        r = insert_batch(node, 3, 1)
        if policy == "ignore":
            assert r.status_code == 200, r.text  # only the one write failed
            assert read_ids(node) == {1, 3}
            code, h = health(node)
            assert code == 200 and h["read_only"] is False, h
            return
        assert r.status_code == 500, r.text
        assert "disk failure on" in r.json()["error"]["message"], r.text
        deadline = time.time() + 5
        while True:
            code, h = health(node)
            if policy == "best_effort" or h["status"] == "stopped":
                break
            assert time.time() < deadline, h
            time.sleep(0.1)
        assert h["read_only"] is True, h
        if policy == "best_effort":
            assert code == 200 and h["disk"]["state"] == "failed", h
            assert read_ids(node) == {1}
        else:
            # stop: the CQL port and gossip are closed, HTTP stays for inspection
            assert code == 503 and h["disk"]["state"] == "stopped", h
            import socket
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", node.cql_port), timeout=2).close()
    finally:
        if node.proc and node.proc.poll() is None:
            rc = node.stop()
            assert rc == 0, node.logs()
