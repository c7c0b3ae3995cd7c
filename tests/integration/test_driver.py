"""The CQL native protocol with a real driver (Debian's python3-cassandra,
the DataStax Python driver) and with raw frames.

One node serves the whole module so that the suite stays fast under ASan;
every test uses its own tables.
"""
import datetime
import decimal
import ipaddress
import socket
import struct
import time
import uuid

import pytest
from cassandra import AlreadyExists, InvalidRequest
from cassandra.protocol import SyntaxException
from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import (UNSET_VALUE, BatchStatement, BatchType, SimpleStatement)
from cassandra.util import Date, Time

from conftest import module_node


@pytest.fixture(scope="module")
def cnode(tmp_path_factory):
    yield from module_node(tmp_path_factory, "driver")


@pytest.fixture(scope="module")
def cluster(cnode):
    # Default settings: no protocol_version, so the driver negotiates down.
    c = Cluster(["127.0.0.1"], port=cnode.cql_port)
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    s = cluster.connect()
    s.execute("CREATE KEYSPACE IF NOT EXISTS drv WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.set_keyspace("drv")
    return s


def test_connect_negotiates_v4_and_reads_system_local(cluster, session, cnode):
    assert cluster.protocol_version == 4
    row = session.execute("SELECT * FROM system.local WHERE key = 'local'").one()
    assert row.cluster_name == "Sibyl Cluster"
    assert row.partitioner == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert row.release_version == "4.0.11"
    assert row.native_protocol_version == "4"
    assert row.cql_version == "3.4.5"
    assert row.data_center == "datacenter1" and row.rack == "rack1"
    assert row.rpc_address == "127.0.0.1"
    assert isinstance(row.host_id, uuid.UUID)
    assert len(row.tokens) == 16  # num_tokens vnodes
    with open(cnode.data_dir + "/host_id") as f:
        assert uuid.UUID(f.read().strip()) == row.host_id
    assert list(session.execute("SELECT * FROM system.peers")) == []
    host = cluster.metadata.all_hosts()[0]
    assert host.host_id == row.host_id and host.datacenter == "datacenter1"


def test_schema_metadata_and_agreement(cluster, session):
    before = session.execute("SELECT schema_version FROM system.local").one().schema_version
    session.execute("CREATE TABLE meta (a int, b text, c timestamp, d bigint, s text static, "
                    "m map<text, double>, l list<int>, PRIMARY KEY ((a, b), c, d)) "
                    "WITH CLUSTERING ORDER BY (c DESC, d ASC) AND comment = 'hello'")
    after = session.execute("SELECT schema_version FROM system.local").one().schema_version
    assert after is not None and after != before
    assert cluster.control_connection.wait_for_schema_agreement()
    t = cluster.metadata.keyspaces["drv"].tables["meta"]
    assert [c.name for c in t.partition_key] == ["a", "b"]
    assert [c.name for c in t.clustering_key] == ["c", "d"]
    assert t.columns["c"].is_reversed and not t.columns["d"].is_reversed
    assert t.columns["s"].is_static
    assert t.columns["m"].cql_type == "map<text, double>"
    assert t.columns["l"].cql_type == "list<int>"
    assert t.columns["c"].cql_type == "timestamp"
    assert t.options["comment"] == "hello"
    assert not t.is_compact_storage
    ks = cluster.metadata.keyspaces["drv"]
    assert ks.replication_strategy.replication_factor == 1
    # Filtered system_schema reads, as the driver does after a change.
    rows = list(session.execute(
        "SELECT column_name, kind, position, clustering_order FROM system_schema.columns "
        "WHERE keyspace_name = 'drv' AND table_name = 'meta'"))
    got = {r.column_name: (r.kind, r.position, r.clustering_order) for r in rows}
    assert got == {"a": ("partition_key", 0, "none"), "b": ("partition_key", 1, "none"),
                   "c": ("clustering", 0, "desc"), "d": ("clustering", 1, "asc"),
                   "s": ("static", -1, "none"), "m": ("regular", -1, "none"),
                   "l": ("regular", -1, "none")}
    # Empty results still carry their columns.
    rs = session.execute("SELECT * FROM system_schema.views WHERE keyspace_name = 'drv'")
    assert list(rs) == [] and "view_name" in rs.column_names
    session.execute("DROP TABLE meta")
    assert "meta" not in cluster.metadata.keyspaces["drv"].tables


# Cassandra 4.0's system_schema tables and their keys; views also keeps
# two 3.x columns that Debian's gocql 1.3.2 selects (docs/cql-protocol.md).
SCHEMA_40 = {
    "keyspaces": (["keyspace_name"], [], 3),
    "tables": (["keyspace_name"], ["table_name"], 20),
    "columns": (["keyspace_name"], ["table_name", "column_name"], 8),
    "dropped_columns": (["keyspace_name"], ["table_name", "column_name"], 6),
    "types": (["keyspace_name"], ["type_name"], 4),
    "functions": (["keyspace_name"], ["function_name", "argument_types"], 8),
    "aggregates": (["keyspace_name"], ["aggregate_name", "argument_types"], 8),
    "triggers": (["keyspace_name"], ["table_name", "trigger_name"], 4),
    "indexes": (["keyspace_name"], ["table_name", "index_name"], 5),
    "views": (["keyspace_name"], ["view_name"], 23 + 2),
}


def test_system_schema_has_cassandra_40_tables_and_columns(session):
    rows = list(session.execute(
        "SELECT table_name, column_name, kind, position FROM system_schema.columns "
        "WHERE keyspace_name = 'system_schema'"))
    by_table = {}
    for r in rows:
        by_table.setdefault(r.table_name, []).append(r)
    assert sorted(by_table) == sorted(SCHEMA_40)
    for table, (pk, ck, ncols) in SCHEMA_40.items():
        cols = by_table[table]
        assert len(cols) == ncols, table
        keys = lambda kind: [c.column_name for c in sorted(cols, key=lambda c: c.position)
                             if c.kind == kind]
        assert keys("partition_key") == pk, table
        assert keys("clustering") == ck, table
    views = {c.column_name for c in by_table["views"]}
    for name in ("bloom_filter_fp_chance", "caching", "compaction", "compression", "cdc",
                 "additional_write_policy", "read_repair", "include_all_columns", "where_clause",
                 "dclocal_read_repair_chance", "read_repair_chance"):
        assert name in views
    # gocql's view query, verbatim in its columns: answers, with no rows.
    rs = session.execute(
        "SELECT view_name, base_table_id, base_table_name, bloom_filter_fp_chance, caching, "
        "comment, compaction, compression, crc_check_chance, dclocal_read_repair_chance, "
        "default_time_to_live, extensions, gc_grace_seconds, id, include_all_columns, "
        "max_index_interval, memtable_flush_period_in_ms, min_index_interval, "
        "read_repair_chance, speculative_retry FROM system_schema.views "
        "WHERE keyspace_name = 'drv'")
    assert list(rs) == []
    assert list(session.execute("SELECT * FROM system_schema.dropped_columns")) == []


ALL_TYPES = [
    ("t_text", "text", "héllo wörld"),
    ("t_ascii", "ascii", "plain"),
    ("t_int", "int", -123456),
    ("t_bigint", "bigint", 2**62 + 5),
    ("t_smallint", "smallint", -32000),
    ("t_tinyint", "tinyint", 100),
    ("t_float", "float", 1.5),
    ("t_double", "double", 3.141592653589793),
    ("t_boolean", "boolean", True),
    ("t_timestamp", "timestamp", datetime.datetime(2026, 11, 21, 15, 4, 5, 123000)),
    ("t_date", "date", Date(datetime.date(2026, 11, 21))),
    ("t_time", "time", Time(54245123456789)),
    ("t_uuid", "uuid", uuid.UUID("123e4567-e89b-42d3-a456-426614174000")),
    ("t_timeuuid", "timeuuid", uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3")),
    ("t_blob", "blob", b"\x00\xffbinary"),
    ("t_inet", "inet", "192.168.1.20"),
    ("t_inet6", "inet", "2001:db8::1"),
    ("t_decimal", "decimal", decimal.Decimal("-12345.6789")),
    ("t_varint", "varint", 2**100 + 7),
    ("t_list", "list<int>", [3, 1, 2]),
    ("t_set", "set<text>", {"x", "y"}),
    ("t_map", "map<text, double>", {"a": 1.5, "b": -2.0}),
    ("t_flist", "frozen<list<text>>", ["p", "q"]),
]


def test_every_type_round_trips(session):
    cols = ", ".join("%s %s" % (n, t) for n, t, _ in ALL_TYPES)
    session.execute("CREATE TABLE types (k int PRIMARY KEY, %s)" % cols)
    names = [n for n, _, _ in ALL_TYPES]
    values = [v for _, _, v in ALL_TYPES]
    marks = ", ".join(["?"] * (len(names) + 1))
    ins = "INSERT INTO types (k, %s) VALUES (%s)" % (", ".join(names), marks)
    # Prepared (binary binds) and simple (client-side literals).
    session.execute(session.prepare(ins), [1] + values)
    session.execute(ins.replace("?", "%s"), [2] + values)
    for k in (1, 2):
        row = session.execute("SELECT * FROM types WHERE k = %s", (k,)).one()
        for n, _, v in ALL_TYPES:
            got = getattr(row, n)
            if isinstance(v, set):
                got = set(got)
            assert got == v, "%s: %r != %r (k=%d)" % (n, got, v, k)
    # Nulls and empties.
    session.execute("INSERT INTO types (k, t_text, t_blob) VALUES (3, '', 0x)")
    row = session.execute("SELECT t_text, t_blob, t_int FROM types WHERE k = 3").one()
    assert row.t_text == "" and row.t_blob == b"" and row.t_int is None


def test_prepared_routing_and_unset(cluster, session):
    session.execute("CREATE TABLE routed (a int, b text, c int, v text, PRIMARY KEY ((a, b), c))")
    ins = session.prepare("INSERT INTO routed (c, b, v, a) VALUES (?, ?, ?, ?)")
    assert ins.routing_key_indexes == [3, 1]
    tm = cluster.metadata.token_map
    for a, b in [(1, "x"), (42, "hello"), (-7, "")]:
        bound = ins.bind((1, b, "v", a))
        session.execute(bound)
        driver_token = tm.token_class.from_key(bound.routing_key).value
        node_token = session.execute("SELECT token(a, b) AS t FROM routed WHERE a = %s AND b = %s",
                                     (a, b)).one().t
        assert driver_token == node_token
        assert len(tm.get_replicas("drv", tm.token_class.from_key(bound.routing_key))) == 1
    # unset leaves the column alone.
    session.execute(ins, (1, "x", UNSET_VALUE, 1))
    assert session.execute("SELECT v FROM routed WHERE a = 1 AND b = 'x' AND c = 1").one().v == "v"
    sel = session.prepare("SELECT v, c FROM routed WHERE a = ? AND b = ?")
    assert [c[2] for c in sel.result_metadata] == ["v", "c"]
    assert session.execute(sel, (42, "hello")).one() == ("v", 1)
    assert session.execute(sel, {"a": 42, "b": "hello"}).one().v == "v"


def test_batches(session):
    session.execute("CREATE TABLE bt (k int, c int, v text, PRIMARY KEY (k, c))")
    ins = session.prepare("INSERT INTO bt (k, c, v) VALUES (?, ?, ?)")
    b = BatchStatement()
    for i in range(5):
        b.add(ins, (1, i, "p%d" % i))
    b.add(SimpleStatement("INSERT INTO bt (k, c, v) VALUES (%s, %s, %s)"), (1, 99, "simple"))
    b.add("UPDATE bt SET v = 'lit' WHERE k = 2 AND c = 0")
    session.execute(b)
    assert session.execute("SELECT count(*) FROM bt WHERE k = 1").one()[0] == 6
    assert session.execute("SELECT v FROM bt WHERE k = 2 AND c = 0").one().v == "lit"
    u = BatchStatement(batch_type=BatchType.UNLOGGED)
    for i in range(3):
        u.add(ins, (3, i, "u"))
    session.execute(u)
    assert session.execute("SELECT count(*) FROM bt WHERE k = 3").one()[0] == 3
    bad = BatchStatement()
    bad.add(ins, (4, 0, "x"))
    bad.add("INSERT INTO nosuchtable (k) VALUES (1)")
    with pytest.raises(InvalidRequest):
        session.execute(bad)
    assert session.execute("SELECT * FROM bt WHERE k = 4").one() is None  # atomic


def test_paging_through_10k_rows(session):
    session.execute("CREATE TABLE pg (p int, c int, v text, PRIMARY KEY (p, c))")
    ins = session.prepare("INSERT INTO pg (p, c, v) VALUES (?, ?, ?)")
    total = 0
    for p in range(10):
        b = BatchStatement(batch_type=BatchType.UNLOGGED)
        for c in range(1050):
            b.add(ins, (p, c, "v"))
        session.execute(b)
        total += 1050
    rs = session.execute(SimpleStatement("SELECT p, c FROM pg", fetch_size=1000))
    assert rs.has_more_pages
    assert len(rs.current_rows) == 1000
    seen = [(r.p, r.c) for r in rs]
    assert len(seen) == total and len(set(seen)) == total
    # One partition, resumed by hand from the paging state.
    st = SimpleStatement("SELECT c FROM pg WHERE p = 3", fetch_size=400)
    first = session.execute(st)
    assert [r.c for r in first.current_rows] == list(range(400))
    second = session.execute(st, paging_state=first.paging_state)
    assert [r.c for r in second.current_rows] == list(range(400, 800))
    # Prepared SELECT pages too (skip_metadata on EXECUTE).
    sel = session.prepare("SELECT c FROM pg WHERE p = ?")
    sel.fetch_size = 300
    assert [r.c for r in session.execute(sel, (5,))] == list(range(1050))


def test_concurrent_requests_on_one_connection(session):
    session.execute("CREATE TABLE conc (k int PRIMARY KEY, v int)")
    ins = session.prepare("INSERT INTO conc (k, v) VALUES (?, ?)")
    res = execute_concurrent_with_args(session, ins, [(i, i * 2) for i in range(500)],
                                       concurrency=100)
    assert all(ok for ok, _ in res)
    sel = session.prepare("SELECT v FROM conc WHERE k = ?")
    res = execute_concurrent_with_args(session, sel, [(i,) for i in range(500)], concurrency=100)
    assert [r.one().v for _, r in res] == [i * 2 for i in range(500)]


def test_ttl_expires(session):
    session.execute("CREATE TABLE ttl (k int PRIMARY KEY, v text)")
    session.execute("INSERT INTO ttl (k, v) VALUES (1, 'short') USING TTL 1")
    session.execute("INSERT INTO ttl (k, v) VALUES (2, 'long') USING TTL 3600")
    assert session.execute("SELECT v FROM ttl WHERE k = 1").one().v == "short"
    time.sleep(2.1)
    assert session.execute("SELECT v FROM ttl WHERE k = 1").one() is None
    assert session.execute("SELECT v FROM ttl WHERE k = 2").one().v == "long"


def test_errors_are_driver_exceptions(session):
    with pytest.raises(SyntaxException):
        session.execute("SELEKT * FROM nothing")
    with pytest.raises(InvalidRequest) as e:
        session.execute("SELECT * FROM no_such_table")
    assert "no_such_table" in str(e.value)
    with pytest.raises(AlreadyExists) as e:
        session.execute("CREATE KEYSPACE drv WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    assert e.value.keyspace == "drv" and not e.value.table  # "" as Cassandra sends
    session.execute("CREATE TABLE dup (k int PRIMARY KEY)")
    with pytest.raises(AlreadyExists) as e:
        session.execute("CREATE TABLE dup (k int PRIMARY KEY)")
    assert e.value.keyspace == "drv" and e.value.table == "dup"
    with pytest.raises(InvalidRequest):
        session.prepare("SELECT nope FROM dup")
    with pytest.raises(InvalidRequest):
        session.execute("INSERT INTO dup (k) VALUES (%s)", ("not an int",))


# --------------------------------------------------------------- raw frames

OP_STARTUP, OP_OPTIONS, OP_QUERY, OP_ERROR, OP_READY, OP_SUPPORTED, OP_RESULT = 1, 5, 7, 0, 2, 6, 8


def frame(op, body=b"", stream=0, version=4, flags=0, length=None):
    return struct.pack(">BBhBi", version, flags, stream, op,
                       len(body) if length is None else length) + body


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def long_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def recv_frame(sock):
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf
    ver, flags, stream, op, n = struct.unpack(">BBhBi", read(9))
    return ver, stream, op, read(n)


def error_of(body):
    code, = struct.unpack(">i", body[:4])
    n, = struct.unpack(">H", body[4:6])
    return code, body[6:6 + n].decode()


def startup_body():
    return struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0")


def raw(cnode):
    s = socket.create_connection(("127.0.0.1", cnode.cql_port), timeout=10)
    return s


def query_body(q, values=None, names=None, timestamp=None, consistency=1):
    flags = 0
    tail = b""
    if values is not None:
        flags |= 0x01
        tail += struct.pack(">H", len(values))
        for i, v in enumerate(values):
            if names:
                tail += string(names[i])
            tail += struct.pack(">i", -2) if v is UNSET_VALUE else struct.pack(">i", len(v)) + v
        if names:
            flags |= 0x40
    if timestamp is not None:
        flags |= 0x20
        tail += struct.pack(">q", timestamp)
    return long_string(q) + struct.pack(">HB", consistency, flags) + tail


def test_raw_protocol_versions_and_handshake(cnode):
    for version in (5, 3, 0x42):
        s = raw(cnode)
        s.sendall(frame(OP_OPTIONS, version=version, stream=3))
        ver, stream, op, body = recv_frame(s)
        assert op == OP_ERROR and ver == 0x84 and stream == 3
        code, msg = error_of(body)
        assert code == 0x000A and "Invalid or unsupported protocol version" in msg
        assert s.recv(10) == b""  # closed
        s.close()
    s = raw(cnode)
    s.sendall(frame(OP_QUERY, query_body("SELECT * FROM system.local"), stream=1))
    _, stream, op, body = recv_frame(s)
    assert op == OP_ERROR and "expecting STARTUP or OPTIONS" in error_of(body)[1]
    s.sendall(frame(OP_OPTIONS, stream=2))
    _, stream, op, body = recv_frame(s)
    assert op == OP_SUPPORTED and stream == 2
    assert b"CQL_VERSION" in body and b"3.4.5" in body and b"COMPRESSION" in body
    s.sendall(frame(OP_STARTUP, startup_body(), stream=4))
    assert recv_frame(s)[2] == OP_READY
    s.close()


def test_raw_named_values_timestamps_and_streams(cnode, session):
    session.execute("CREATE TABLE rawt (k int PRIMARY KEY, v text, w text)")
    s = raw(cnode)
    s.sendall(frame(OP_STARTUP, startup_body()))
    assert recv_frame(s)[2] == OP_READY
    # Many requests in flight at once; each answer on its own stream.
    out = b""
    for i in range(1, 51):
        out += frame(OP_QUERY, query_body("INSERT INTO drv.rawt (v, k) VALUES (:v, :k)",
                                          [b"val%d" % i, struct.pack(">i", i)], ["v", "k"],
                                          timestamp=1000 + i), stream=i)
    s.sendall(out)
    streams = set()
    for _ in range(50):
        _, stream, op, body = recv_frame(s)
        assert op == OP_RESULT, error_of(body)
        streams.add(stream)
    assert streams == set(range(1, 51))
    row = session.execute("SELECT v, writetime(v) AS wt FROM rawt WHERE k = 7").one()
    assert row.v == "val7" and row.wt == 1007
    # Unset by name leaves w alone.
    s.sendall(frame(OP_QUERY, query_body("UPDATE drv.rawt SET w = :w WHERE k = :k",
                                         [UNSET_VALUE, struct.pack(">i", 7)], ["w", "k"])))
    assert recv_frame(s)[2] == OP_RESULT
    assert session.execute("SELECT w FROM rawt WHERE k = 7").one().w is None
    s.close()


def test_raw_bad_frames_never_crash(cnode, session):
    s = raw(cnode)
    s.sendall(frame(OP_STARTUP, startup_body()))
    assert recv_frame(s)[2] == OP_READY
    # Oversized: refused from the header alone (the body is never sent).
    s.sendall(frame(OP_QUERY, b"", stream=9, length=100 << 20))
    _, stream, op, body = recv_frame(s)
    assert op == OP_ERROR and stream == 9
    code, msg = error_of(body)
    assert code == 0x000A and "exceeds maximum allowed length" in msg
    s.close()
    # Malformed bodies: protocol errors, the connection carries on.
    s = raw(cnode)
    s.sendall(frame(OP_STARTUP, startup_body()))
    assert recv_frame(s)[2] == OP_READY
    for i, body in enumerate([b"\xff\xff\xff\xff", long_string("x")[:3], long_string("x"),
                              long_string("SELECT 1") + b"\x00\x01\x01\xff\xff",
                              long_string("x") + b"\x00\x01\x00garbage"]):
        s.sendall(frame(OP_QUERY, body, stream=20 + i))
        _, stream, op, resp = recv_frame(s)
        assert op == OP_ERROR and stream == 20 + i
        assert error_of(resp)[0] == 0x000A
    s.sendall(frame(0x33, b"abc", stream=30))
    _, stream, op, resp = recv_frame(s)
    assert op == OP_ERROR and "opcode" in error_of(resp)[1]
    s.sendall(frame(OP_QUERY, query_body("SELECT key FROM system.local"), stream=31))
    assert recv_frame(s)[2] == OP_RESULT
    s.close()
    # Disconnect with writes in flight: their callbacks must not touch the
    # freed connection (ASan would abort the node).
    session.execute("CREATE TABLE gone (k int PRIMARY KEY)")
    for _ in range(3):
        s = raw(cnode)
        s.sendall(frame(OP_STARTUP, startup_body()))
        assert recv_frame(s)[2] == OP_READY
        s.sendall(b"".join(frame(OP_QUERY, query_body("INSERT INTO drv.gone (k) VALUES (%d)" % i),
                                 stream=i) for i in range(1, 300)))
        s.close()
    time.sleep(0.3)
    assert cnode.proc.poll() is None
    assert session.execute("SELECT count(*) FROM gone").one()[0] >= 0


def snappy_literal(data):
    """Snappy block holding data as literals (valid, uncompressed)."""
    out = bytearray()
    n = len(data)
    while True:  # varint length
        out.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
        n >>= 7
        if not n:
            break
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def snappy_decode(b):
    n, shift, i = 0, 0, 0
    while True:
        n |= (b[i] & 0x7f) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            break
    out = bytearray()
    while i < len(b):
        tag = b[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            ln = (tag >> 2) + 1
            if ln > 60:
                extra = ln - 60
                ln = int.from_bytes(b[i:i + extra], "little") + 1
                i += extra
            out += b[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln = 4 + ((tag >> 2) & 7)
            off = ((tag >> 5) << 8) | b[i]
            i += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(b[i:i + 2], "little")
            i += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(b[i:i + 4], "little")
            i += 4
        for _ in range(ln):
            out.append(out[-off])
    assert len(out) == n
    return bytes(out)


def test_raw_snappy_compression(cnode, session):
    s = raw(cnode)
    body = struct.pack(">H", 2) + string("CQL_VERSION") + string("3.0.0") + \
        string("COMPRESSION") + string("snappy")
    s.sendall(frame(OP_STARTUP, body))
    assert recv_frame(s)[2] == OP_READY
    q = query_body("SELECT keyspace_name, table_name, column_name FROM system_schema.columns")
    s.sendall(frame(OP_QUERY, snappy_literal(q), stream=5, flags=0x01))
    s.settimeout(10)
    hdr = s.recv(9, socket.MSG_WAITALL)
    ver, flags, stream, op, n = struct.unpack(">BBhBi", hdr)
    payload = s.recv(n, socket.MSG_WAITALL)
    assert op == OP_RESULT and stream == 5 and flags & 0x01
    plain = snappy_decode(payload)
    assert struct.unpack(">i", plain[:4])[0] == 2  # Rows
    assert b"peers_v2" in plain and len(plain) > n  # really compressed
    s.close()


def test_driver_lz4_compression(cnode, session):
    # The driver negotiates lz4 at STARTUP when python3-lz4 is installed;
    # every frame from then on is compressed both ways.
    c = Cluster(["127.0.0.1"], port=cnode.cql_port, compression="lz4")
    try:
        s = c.connect("drv")
        s.execute("CREATE TABLE IF NOT EXISTS lz (k int PRIMARY KEY, v text)")
        big = "sensor " * 2000
        s.execute("INSERT INTO lz (k, v) VALUES (%s, %s)", (1, big))
        assert s.execute("SELECT v FROM lz WHERE k = 1").one().v == big
        conn = c.control_connection._connection
        assert conn.compressor is not None and conn.decompressor is not None
    finally:
        c.shutdown()
