"""Crash durability: SIGKILL during a write stream loses no acknowledged write.

In group-commit mode (the default) a write is acknowledged only after the
commit log is fsynced. Several writer threads stream line-protocol points
and CQL INSERTs; at a random moment the node is killed with SIGKILL; after
a restart every acknowledged write must be readable. Repeated 20 times on
the same data directory, so recovery also runs over earlier recoveries.
"""
import random
import threading
import time

import requests

ROUNDS = 20
WRITERS = 4


def writer(node, wid, stop, acked, round_no):
    s = requests.Session()
    seq = 0
    while not stop.is_set() and seq < 100000:
        seq += 1
        key = round_no * 1000000 + seq
        try:
            if wid % 2 == 0:
                body = "crash,writer=w%d seq=%di %d" % (wid, key, key)
                r = s.post(node.url + "/api/v2/write",
                           params={"bucket": "durability", "precision": "ms"},
                           data=body, timeout=5)
                ok = r.status_code == 204
            else:
                r = s.post(node.url + "/api/v1/cql", timeout=5, json={
                    "query": "INSERT INTO durability.kv (writer, seq, v) VALUES (%d, %d, 'x%d')"
                             % (wid, key, key)})
                ok = r.status_code == 200
        except requests.RequestException:
            return
        if ok:
            acked.append(key)


def read_lp(node, wid):
    res = node.cql("SELECT seq FROM durability.crash WHERE writer = 'w%d'" % wid)
    return {row[0] for row in res["rows"]}


def read_cql(node, wid):
    res = node.cql("SELECT seq FROM durability.kv WHERE writer = %d" % wid)
    return {row[0] for row in res["rows"]}


def test_sigkill_loses_no_acknowledged_write(make_node):
    rng = random.Random(20261121)
    node = make_node("crash").start()
    node.cql("CREATE KEYSPACE durability WITH replication = "
             "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    node.cql("CREATE TABLE durability.kv (writer int, seq bigint, v text, "
             "PRIMARY KEY (writer, seq))")
    acked = {w: [] for w in range(WRITERS)}
    total_acked = 0
    for round_no in range(1, ROUNDS + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(node, w, stop, acked[w], round_no))
                   for w in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 1.0))
        node.kill()
        stop.set()
        for t in threads:
            t.join(10)
            assert not t.is_alive()
        node.start()
        for w in range(WRITERS):
            found = read_lp(node, w) if w % 2 == 0 else read_cql(node, w)
            missing = set(acked[w]) - found
            assert not missing, "round %d writer %d lost %d acknowledged writes, e.g. %s" % (
                round_no, w, len(missing), sorted(missing)[:5])
    total_acked = sum(len(v) for v in acked.values())
    # The test is only meaningful if writes were acknowledged in most rounds.
    assert total_acked > ROUNDS * 10, total_acked
    print("crash test: %d rounds, %d acknowledged writes, none lost" % (ROUNDS, total_acked))
