"""Connection hygiene of the CQL port (docs/cql-protocol.md#connections):
sockets that never complete STARTUP are closed after the startup timeout,
connections beyond the total and per-address limits get an Overloaded
error frame before they are closed, /metrics counts both, and a driver
still connects afterwards.

Every socket opened here is closed in a finally block, and every wait is
bounded by a deadline.
"""
import resource
import selectors
import socket
import struct
import time

import pytest
from cassandra.cluster import Cluster, NoHostAvailable

from test_driver import OP_ERROR, OP_OPTIONS, OP_READY, OP_STARTUP, OP_SUPPORTED
from test_driver import error_of, frame, recv_frame, startup_body
from test_metrics_cluster import scrape, value

OVERLOADED = 0x1001
HALF_HEADER = bytes([4, 0, 0, 1])  # version, flags, half the stream id


def ensure_fds(n):
    """Raises this process's open-file limit to n, or skips the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return
    if hard != resource.RLIM_INFINITY and hard < n:
        pytest.skip("needs %d open files; the hard limit is %d" % (n, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def connect(node, source="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", node.cql_port))
    return s


def close_all(socks):
    for s in socks:
        s.close()


def read_until_closed(sock, deadline):
    """Everything the server sends until it closes; None if it has not
    closed by the deadline."""
    data = b""
    while time.time() < deadline:
        sock.settimeout(max(0.01, deadline - time.time()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    return None


def parse_error(data):
    """(version byte, stream, code, message) of one ERROR frame."""
    assert len(data) >= 9, data
    ver, _, stream, op, n = struct.unpack(">BBhBi", data[:9])
    assert op == OP_ERROR and len(data) == 9 + n, data
    code, msg = error_of(data[9:])
    return ver, stream, code, msg


def driver_query(node, **kw):
    cluster = Cluster(["127.0.0.1"], port=node.cql_port, connect_timeout=10, **kw)
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        assert row.release_version
    finally:
        cluster.shutdown()


def wait_metric(node, name, want, deadline_s=10, **labels):
    deadline = time.time() + deadline_s
    got = None
    while time.time() < deadline:
        got = value(scrape(node), name, **labels)
        if got == want:
            return
        time.sleep(0.1)
    assert got == want, "%s%s = %s, want %s" % (name, labels, got, want)


def test_half_open_sockets_are_closed_after_the_startup_timeout(make_node):
    """2,000 sockets that send half a frame header: 1,024 are admitted and
    closed by the startup timeout, the rest are refused (the first 256 at
    least with an error frame, then the node answers at most 256 refusals
    at once and closes the others at accept); then a new driver session
    connects and queries."""
    n_socks, timeout_s, cap = 2000, 2.0, 1024
    ensure_fds(n_socks + 512)
    node = make_node(extra=["--startup-timeout-ms", str(int(timeout_s * 1000))]).start()
    socks, opened_at = [], []
    try:
        for _ in range(n_socks):
            s = connect(node)
            s.sendall(HALF_HEADER)
            socks.append(s)
            opened_at.append(time.time())
        # While they hang, the node holds exactly its cap of them.
        samples = scrape(node)
        assert value(samples, "sibyl_cql_connections") == cap
        assert value(samples, "sibyl_cql_startup_timeouts_total") == 0
        # Wait for every socket to be closed by the server.
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        data = [b""] * n_socks
        closed_at = [None] * n_socks
        deadline = opened_at[-1] + timeout_s + 10
        left = n_socks
        while left and time.time() < deadline:
            for key, _ in sel.select(timeout=0.5):
                i = key.data
                try:
                    chunk = socks[i].recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    data[i] += chunk
                    continue
                closed_at[i] = time.time()
                sel.unregister(socks[i])
                left -= 1
        sel.close()
        assert left == 0, "%d sockets still open %.1f s after the startup timeout" % (
            left, time.time() - opened_at[-1] - timeout_s)
        lived = [closed_at[i] - opened_at[i] for i in range(n_socks)]
        timed_out = [i for i in range(n_socks) if not data[i] and lived[i] > timeout_s / 2]
        answered = [i for i in range(n_socks) if data[i]]
        assert len(timed_out) == cap
        assert len(answered) >= 256
        for i in timed_out:
            # closed by the timeout, not before it (the loop's clock may lag
            # the accept a little) and not long after it
            assert timeout_s - 0.25 <= lived[i] <= timeout_s + 8, lived[i]
        for i in answered:
            assert lived[i] < timeout_s  # refused at once, not timed out
            ver, stream, code, msg = parse_error(data[i])
            # half a header is no header: v4 on stream 0
            assert (ver, stream, code) == (0x84, 0, OVERLOADED)
            assert "native_transport_max_concurrent_connections is 1024" in msg
        samples = scrape(node)
        assert value(samples, "sibyl_cql_startup_timeouts_total") == cap
        assert value(samples, "sibyl_cql_connections_refused_total", limit="total") == n_socks - cap
        assert value(samples, "sibyl_cql_connections_refused_total", limit="per_ip") == 0
        assert value(samples, "sibyl_cql_connections") == 0
    finally:
        close_all(socks)
    driver_query(node)
    assert node.stop() == 0, node.logs()


def test_per_ip_limit_refuses_with_an_error_frame(make_node):
    """native_transport_max_concurrent_connections_per_ip counts by source
    address: the fourth connection from 127.0.0.2 is refused with an
    Overloaded error on its own version and stream, while 127.0.0.3 and
    the driver on 127.0.0.1 are unaffected."""
    node = make_node(extra=["--max-connections-per-ip", "3"]).start()
    socks = []
    try:
        for _ in range(3):
            s = connect(node, "127.0.0.2")
            socks.append(s)
            s.sendall(frame(OP_STARTUP, startup_body(), stream=1))
            assert recv_frame(s)[2] == OP_READY
        # A v4 OPTIONS on stream 5: the answer is on stream 5.
        s = connect(node, "127.0.0.2")
        socks.append(s)
        s.sendall(frame(OP_OPTIONS, stream=5))
        ver, stream, code, msg = parse_error(read_until_closed(s, time.time() + 5))
        assert (ver, stream, code) == (0x84, 5, OVERLOADED)
        assert msg == ("Too many connections from 127.0.0.2: "
                       "native_transport_max_concurrent_connections_per_ip is 3; "
                       "this connection is closed")
        # A v5 client gets the error on v5 (drivers then report it rather
        # than a framing problem).
        s = connect(node, "127.0.0.2")
        socks.append(s)
        s.sendall(frame(OP_OPTIONS, stream=9, version=5))
        ver, stream, code, _ = parse_error(read_until_closed(s, time.time() + 5))
        assert (ver, stream, code) == (0x85, 9, OVERLOADED)
        # A client that sends nothing hears on stream 0 in v4.
        s = connect(node, "127.0.0.2")
        socks.append(s)
        t0 = time.time()
        ver, stream, code, _ = parse_error(read_until_closed(s, t0 + 5))
        assert (ver, stream, code) == (0x84, 0, OVERLOADED)
        # Another address is admitted, and so is the driver on 127.0.0.1.
        s = connect(node, "127.0.0.3")
        socks.append(s)
        s.sendall(frame(OP_OPTIONS, stream=2))
        assert recv_frame(s)[1:3] == (2, OP_SUPPORTED)
        driver_query(node)
        # The admitted connections still work.
        s = socks[0]
        s.sendall(frame(OP_OPTIONS, stream=3))
        assert recv_frame(s)[1:3] == (3, OP_SUPPORTED)
        wait_metric(node, "sibyl_cql_connections_refused_total", 3, limit="per_ip")
        # Closing one frees its place (the release is asynchronous: retry).
        socks[0].close()
        deadline, admitted = time.time() + 5, False
        while not admitted and time.time() < deadline:
            s = connect(node, "127.0.0.2")
            try:
                s.sendall(frame(OP_OPTIONS, stream=4))
                admitted = recv_frame(s)[2] == OP_SUPPORTED
            except ConnectionError:
                time.sleep(0.1)
            finally:
                s.close()
        assert admitted
    finally:
        close_all(socks)
    assert node.stop() == 0, node.logs()


def test_total_limit_refusal_reaches_the_driver(make_node):
    """With the node at native_transport_max_concurrent_connections, a
    driver's connect fails with the node's message, not a bare reset; it
    connects again once a place is free."""
    node = make_node(extra=["--max-connections", "2"]).start()
    socks = []
    try:
        for _ in range(2):
            s = connect(node)
            socks.append(s)
            s.sendall(frame(OP_STARTUP, startup_body(), stream=1))
            assert recv_frame(s)[2] == OP_READY
        cluster = Cluster(["127.0.0.1"], port=node.cql_port, connect_timeout=10,
                          protocol_version=4)
        try:
            with pytest.raises(NoHostAvailable) as e:
                cluster.connect()
            assert "native_transport_max_concurrent_connections is 2" in str(e.value)
        finally:
            cluster.shutdown()
        samples = scrape(node)
        assert value(samples, "sibyl_cql_connections_refused_total", limit="total") >= 1
        assert value(samples, "sibyl_cql_connections") == 2
    finally:
        close_all(socks)
    wait_metric(node, "sibyl_cql_connections", 0)
    driver_query(node, protocol_version=4)  # no version probes: two connections
    assert node.stop() == 0, node.logs()
