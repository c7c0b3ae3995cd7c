"""EVENT pushes of the CQL native protocol on one node: REGISTER with raw
frames, SCHEMA_CHANGE events for DDL from the node's own CQL and from its
HTTP API, and a real driver whose metadata follows DDL it did not run.
(Topology and status events need several nodes: test_driver_cluster.py.)
"""
import socket
import struct
import time

import pytest
from cassandra.cluster import Cluster

from conftest import module_node


@pytest.fixture(scope="module")
def enode(tmp_path_factory):
    yield from module_node(tmp_path_factory, "events")


def frame(opcode, body, stream=1):
    return struct.pack(">BBhBI", 4, 0, stream, opcode, len(body)) + body


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def read_frame(sock):
    hdr = b""
    while len(hdr) < 9:
        chunk = sock.recv(9 - len(hdr))
        assert chunk, "connection closed"
        hdr += chunk
    version, flags, stream, opcode, length = struct.unpack(">BBhBI", hdr)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, "connection closed"
        body += chunk
    return version, stream, opcode, body


def read_string(body, off):
    (n,) = struct.unpack_from(">H", body, off)
    return body[off + 2:off + 2 + n].decode(), off + 2 + n


def connect(node, events):
    s = socket.create_connection((getattr(node, "ip", "127.0.0.1"), node.cql_port), timeout=10)
    s.sendall(frame(0x01, struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0")))
    assert read_frame(s)[2] == 0x02  # READY
    body = struct.pack(">H", len(events)) + b"".join(string(e) for e in events)
    s.sendall(frame(0x0B, body, stream=2))
    return s


def next_event(sock):
    while True:
        version, stream, opcode, body = read_frame(sock)
        if opcode == 0x0C:
            assert version == 0x84 and stream == -1
            return body


def test_register_unknown_event_type(enode):
    s = connect(enode, ["NO_SUCH_EVENT"])
    _, stream, opcode, body = read_frame(s)
    assert (stream, opcode) == (2, 0x00)
    (code,) = struct.unpack_from(">i", body, 0)
    assert code == 0x000A  # protocol error
    msg, _ = read_string(body, 4)
    assert "NO_SUCH_EVENT" in msg
    s.close()


def test_schema_change_event_for_http_and_cql_ddl(enode):
    s = connect(enode, ["SCHEMA_CHANGE"])
    assert read_frame(s)[1:3] == (2, 0x02)  # REGISTER -> READY
    other = connect(enode, ["STATUS_CHANGE"])  # not registered for schema
    assert read_frame(other)[1:3] == (2, 0x02)

    enode.cql("CREATE KEYSPACE ev1 WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    body = next_event(s)
    typ, off = read_string(body, 0)
    change, off = read_string(body, off)
    target, off = read_string(body, off)
    ks, off = read_string(body, off)
    assert (typ, change, target, ks, off) == ("SCHEMA_CHANGE", "CREATED", "KEYSPACE", "ev1",
                                              len(body))

    # DDL over the native protocol on a third connection.
    q = connect(enode, [])
    assert read_frame(q)[2] == 0x02
    stmt = b"CREATE TABLE ev1.t (k int PRIMARY KEY, v text)"
    q.sendall(frame(0x07, struct.pack(">I", len(stmt)) + stmt + struct.pack(">HB", 1, 0),
                    stream=3))
    assert read_frame(q)[2] == 0x08  # RESULT Schema_change
    body = next_event(s)
    fields, off = [], 0
    for _ in range(5):
        v, off = read_string(body, off)
        fields.append(v)
    assert fields == ["SCHEMA_CHANGE", "CREATED", "TABLE", "ev1", "t"]

    enode.cql("DROP TABLE ev1.t")
    body = next_event(s)
    assert b"DROPPED" in body and body.endswith(string("t"))

    # The STATUS_CHANGE-only connection got nothing.
    other.settimeout(0.5)
    with pytest.raises(socket.timeout):
        other.recv(1)
    for c in (s, other, q):
        c.close()


def test_driver_metadata_follows_foreign_ddl(enode):
    c = Cluster(["127.0.0.1"], port=enode.cql_port)
    c.connect()
    try:
        enode.cql("CREATE KEYSPACE ev2 WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        enode.cql("CREATE TABLE ev2.readings (sensor text, ts timestamp, v double, "
                  "PRIMARY KEY (sensor, ts))")
        deadline = time.time() + 20
        while time.time() < deadline:
            ks = c.metadata.keyspaces.get("ev2")
            if ks is not None and "readings" in ks.tables:
                break
            time.sleep(0.1)
        assert "readings" in c.metadata.keyspaces["ev2"].tables
        assert set(c.metadata.keyspaces["ev2"].tables["readings"].columns) == {"sensor", "ts", "v"}
    finally:
        c.shutdown()
