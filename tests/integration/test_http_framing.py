"""HTTP framing and size limits against a real node (docs/http-api.md#limits):
each malformed or oversized request gets its status code and a closed
connection, and the node keeps serving. Raw sockets, since client
libraries refuse to send most of these.

Repeated Content-Length or Transfer-Encoding fields, or both, are
refused by the node itself (h2o 2.2 would serve them); a request smuggled
behind one must never run.
"""
import socket
import time

import pytest

from conftest import module_node

BODY = b'{"query": "SELECT release_version FROM system.local"}'


@pytest.fixture(scope="module")
def hnode(tmp_path_factory):
    yield from module_node(tmp_path_factory, "httpframing")


def exchange(node, raw, wait=5.0):
    """Sends raw and reads until the server closes or `wait` passes.
    Returns (status or None, closed, response bytes)."""
    s = socket.create_connection(("127.0.0.1", node.port), timeout=wait)
    data, closed = b"", False
    try:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            closed = True  # the server answered and closed while we sent
        deadline = time.time() + wait
        while not closed and time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
            # a complete keep-alive answer: no need to wait out the deadline
            if b"Connection: keep-alive" in data and b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        if len(rest) >= int(line.split(b":")[1]):
                            deadline = 0
    finally:
        s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
    return status, closed, data


def post(path, headers, body):
    return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % path.encode() + headers +
            b"\r\n" + body)


def test_well_formed_request_keeps_the_connection(hnode):
    status, closed, data = exchange(
        hnode, post("/api/v1/cql", b"Content-Length: %d\r\n" % len(BODY), BODY))
    assert (status, closed) == (200, False), data
    assert b"4.0.11" in data


@pytest.mark.parametrize("name,raw,want", [
    ("content-length not a number",
     post("/api/v1/cql", b"Content-Length: 12abc\r\n", b""), 400),
    ("negative content-length", post("/api/v1/cql", b"Content-Length: -1\r\n", b""), 400),
    ("content-length list", post("/api/v1/cql", b"Content-Length: 53, 53\r\n", BODY), 400),
    ("unknown transfer-encoding",
     post("/api/v1/cql", b"Transfer-Encoding: gzip, chunked\r\n", b"35\r\n" + BODY + b"\r\n0\r\n\r\n"),
     400),
    ("chunk size not hex", post("/api/v1/cql", b"Transfer-Encoding: chunked\r\n", b"zz\r\n"), 400),
    ("chunk size over 64 bits",
     post("/api/v1/cql", b"Transfer-Encoding: chunked\r\n", b"f" * 20 + b"\r\nabc"), 400),
    ("request target over 8 KiB", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("request target of 100 KiB", b"GET /health?" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n", 414),
    ("header block over 32 KiB",
     b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + b"b" * 40000 + b"\r\n\r\n", 431),
    ("1 MiB request target (h2o's head limit)",
     b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("1 MiB header block (h2o's head limit)",
     b"GET /health HTTP/1.1\r\nX-A: " + b"a" * (1 << 20) + b"\r\n\r\n", 400),
    ("more than 100 header fields",
     b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 400),
    ("JSON body over 1 MiB",
     post("/api/v1/cql", b"Content-Length: 2000000\r\n", b" " * 2000000), 413),
    ("body announced over max_request_bytes",
     post("/api/v2/write?bucket=b", b"Content-Length: 100000000\r\n", b""), 413),
])
def test_bad_framing_gets_its_status_and_a_closed_connection(hnode, name, raw, want):
    status, closed, data = exchange(hnode, raw)
    assert status == want, (name, data[:300])
    assert closed, name
    if want in (414, 431) or name.startswith("JSON"):  # the node's answers name the limit
        assert b'"error"' in data and b"limit" in data, data[:300]


def test_line_protocol_keeps_its_larger_limit(hnode):
    """2 MB of line protocol passes the size check (the JSON limit is 1 MiB)."""
    lines = b"".join(b"m,host=h%d v=%di %d\n" % (i, i, 1_700_000_000_000_000_000 + i)
                     for i in range(60000))
    assert len(lines) > (1 << 20)
    status, closed, data = exchange(
        hnode, post("/api/v2/write?bucket=framing", b"Content-Length: %d\r\n" % len(lines), lines),
        wait=60)
    assert status == 204, data[:300]  # (h2o closes after a 204 without a length)


def test_node_still_serves_after_the_bad_requests(hnode):
    status, closed, _ = exchange(hnode, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, closed) == (200, False)


@pytest.mark.parametrize("name,headers,body", [
    ("conflicting Content-Length", b"Content-Length: %d\r\nContent-Length: 5\r\n" % len(BODY),
     BODY),
    ("conflicting Content-Length, the short one first",
     b"Content-Length: 5\r\ncontent-length: %d\r\n" % len(BODY), BODY),
    ("repeated equal Content-Length",
     b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(BODY), len(BODY)), BODY),
    ("Content-Length with Transfer-Encoding",
     b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
     b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)),
    ("Transfer-Encoding twice", b"Transfer-Encoding: chunked\r\nTRANSFER-ENCODING: chunked\r\n",
     b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)),
])
def test_ambiguous_framing_gets_400_and_runs_nothing(hnode, name, headers, body):
    """A request a proxy could frame differently is refused, and whatever
    follows it on the connection is never parsed as a request."""
    smuggled = post("/api/v1/cql", b"Content-Length: %d\r\n" % len(DROP), DROP)
    hnode.cql("CREATE KEYSPACE IF NOT EXISTS smuggle WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    status, closed, data = exchange(hnode, post("/api/v1/cql", headers, body) + smuggled)
    assert (status, closed) == (400, True), (name, data[:300])
    assert b"ambiguous body framing" in data
    assert data.count(b"HTTP/1.1 ") == 1  # one answer: the smuggled request never ran
    ks = hnode.cql("SELECT keyspace_name FROM system_schema.keyspaces")["rows"]
    assert ["smuggle"] in ks


DROP = b'{"query": "DROP KEYSPACE smuggle"}'
