"""The demo's control server (docs/cluster-cli.md, "Demo control") against a
real `sibyl demo --nodes 3`: stop and start nodes, change the simulator's
consistency levels, and the errors of bad requests.

One demo serves the whole module (three ASan nodes take a while to start);
the scenario test leaves it as it found it. Ports: 127.0.0.i with the fixed
ports shifted by a random offset (cluster.py's pick_offset), the control
server on 127.0.0.1:8079+offset.
"""
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import BIN
from demo_process import ENV, DemoProcess, alive, free_offset

class Demo(DemoProcess):
    def __init__(self, tmp_path):
        super().__init__(tmp_path, ["--sensors", "20", "--rate", "40", "--reads", "4",
                                    "--phi-threshold", "8"], nodes=3)

    def http(self, i):
        return "http://" + self.http_addr(i)

    def doc(self):
        r = requests.get(self.ctl + "/api/v1/demo", timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/json"
        assert "Access-Control-Allow-Origin" not in r.headers  # no Origin, no CORS
        assert r.headers["Vary"] == "Origin"
        return r.json()

    def post(self, path, body=None, **kw):
        return requests.post(self.ctl + path, json=body, timeout=60, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("democtl"))
    try:
        d.wait_for(r"Press Ctrl-C to stop", timeout=180)
        d.wait_for(r"sim: [1-9]\d* points sent", timeout=60)
        yield d
    finally:
        d.stop()
    assert d.proc.returncode == 0, d.text()[-4000:]
    assert "demo: stopped" in d.text()


def until(what, fn, timeout=60, step=0.5):
    """Polls fn() until it returns something true; returns it."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except requests.RequestException as e:
            last = e
        time.sleep(step)
    raise AssertionError("%s: not within %d s (last: %r)" % (what, timeout, last))


def cmdline(pid):
    """The node's command line. Right after a (re)start the child may not
    have exec'd yet and still carries the demo's own: wait for `node`."""
    deadline = time.time() + 10
    while True:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            args = f.read().decode().split("\0")
        if len(args) > 1 and args[1] == "node" or time.time() > deadline:
            return args
        time.sleep(0.05)


def member_state(demo, viewer, i):
    v = requests.get(demo.http(viewer) + "/api/v1/cluster", timeout=5).json()
    for m in v["nodes"]:
        if m["address"] == "127.0.0.%d" % i:
            return m["state"]
    return None


def test_banner_and_document(demo):
    text = demo.text()
    assert "dashboard: http://127.0.0.1:%d/" % (8080 + demo.offset) in text
    assert "control: %s/api/v1/demo" % demo.ctl in text
    d = demo.doc()
    assert [n["i"] for n in d["nodes"]] == [1, 2, 3]
    for n in d["nodes"]:
        i = n["i"]
        assert n["running"] is True and n["state"] == "running"
        assert alive(n["pid"])
        assert n["listen"] == "127.0.0.%d:%d" % (i, 7000 + demo.offset)
        assert n["http"] == "127.0.0.%d:%d" % (i, 8080 + demo.offset)
        assert n["cql"] == "127.0.0.%d:%d" % (i, 9042 + demo.offset)
        assert n["dc"] == "dc1" and n["rack"] == "rack%d" % i
        # the demo's faster failure detection, and the passed-through threshold
        args = cmdline(n["pid"])
        assert args[args.index("--gossip-interval-ms") + 1] == "500", args
        assert args[args.index("--phi-threshold") + 1] == "8", args
    assert "Nodes gossip every 500 ms: a stopped node is marked down after about 9 s." in text
    assert d["write_consistency"] == "QUORUM" and d["read_consistency"] == "QUORUM"
    assert d["keyspace"] == "sensors" and d["table"] == "readings"
    assert d["sim"]["running"] is True
    for k in ("sent", "writes_ok", "writes_failed", "reads_ok", "reads_failed"):
        assert isinstance(d["sim"][k], int), k
    # the simulator reads as well as writes
    until("reads succeed", lambda: demo.doc()["sim"]["reads_ok"] > 0, timeout=30)
    assert until("writes succeed", lambda: demo.doc()["sim"]["writes_ok"] > 0, timeout=30)


def test_nodes_report_the_control_server(demo):
    for i in (1, 2, 3):
        h = requests.get(demo.http(i) + "/health", timeout=10).json()
        assert h["demo_control"] == demo.ctl


def test_stop_consistency_and_start(demo):
    before = demo.doc()
    pid2 = before["nodes"][1]["pid"]

    # SIGKILL (the default): the process is gone when the answer comes
    r = demo.post("/api/v1/demo/nodes/2/stop")
    assert r.status_code == 200, r.text
    n2 = r.json()["nodes"][1]
    assert n2["running"] is False and n2["state"] == "stopped" and n2["pid"] is None
    assert not alive(pid2)
    assert all(n["running"] for n in r.json()["nodes"] if n["i"] != 2)
    # a second stop is a conflict
    r = demo.post("/api/v1/demo/nodes/2/stop")
    assert r.status_code == 409 and "not running" in r.json()["error"]["message"]

    # the other nodes see it down (failure detector), and the summary says so
    t_stop = time.time()
    for viewer in (1, 3):
        until("node%d sees node2 down" % viewer,
              lambda: member_state(demo, viewer, 2) == "down", timeout=90, step=0.2)
    detected = time.time() - t_stop
    print("node2 marked down by nodes 1 and 3 %.1f s after SIGKILL" % detected)
    # gossip every 500 ms: phi 8 after ~9.2 s of silence (1000 ms: ~18.4 s)
    assert detected < 16, detected
    demo.wait_for(r"stopped: node2", timeout=30)

    # ALL cannot be met with a replica down: writes fail, nothing is acknowledged
    r = demo.post("/api/v1/demo/consistency", {"write": "ALL", "read": "ALL"})
    assert r.status_code == 200, r.text
    assert r.json()["write_consistency"] == "ALL" and r.json()["read_consistency"] == "ALL"
    failed0 = demo.doc()["sim"]["writes_failed"]
    until("writes fail at ALL", lambda: demo.doc()["sim"]["writes_failed"] >= failed0 + 2,
          timeout=60)
    ok_all = demo.doc()["sim"]["writes_ok"]
    rf0 = demo.doc()["sim"]["reads_failed"]
    time.sleep(4)
    s = demo.doc()["sim"]
    assert s["writes_ok"] == ok_all, s
    assert s["reads_failed"] > rf0, s

    # ONE needs one replica: writes and reads go through again
    r = demo.post("/api/v1/demo/consistency", {"write": "ONE", "read": "ONE"})
    assert r.status_code == 200, r.text
    until("writes succeed at ONE", lambda: demo.doc()["sim"]["writes_ok"] >= ok_all + 3,
          timeout=60)
    ro = demo.doc()["sim"]["reads_ok"]
    until("reads succeed at ONE", lambda: demo.doc()["sim"]["reads_ok"] > ro, timeout=30)
    assert "sim: write consistency is now ALL" in demo.text()
    assert "sim: write consistency is now ONE" in demo.text()

    # start: the same node comes back and the others see it up
    r = demo.post("/api/v1/demo/nodes/2/start")
    assert r.status_code == 200, r.text
    n2 = r.json()["nodes"][1]
    assert n2["running"] is True and n2["state"] == "running"
    assert alive(n2["pid"]) and n2["pid"] != pid2
    args = cmdline(n2["pid"])  # a restart gets the same options
    assert args[args.index("--gossip-interval-ms") + 1] == "500", args
    r = demo.post("/api/v1/demo/nodes/2/start")
    assert r.status_code == 409
    assert "node2 is already running" in r.json()["error"]["message"]
    for viewer in (1, 3):
        until("node%d sees node2 up" % viewer,
              lambda: member_state(demo, viewer, 2) == "up", timeout=90)
    until("node2 answers", lambda: requests.get(demo.http(2) + "/health", timeout=5).json()
          ["demo_control"] == demo.ctl, timeout=30)

    # a clean stop (SIGTERM) and start of node 3
    pid3 = demo.doc()["nodes"][2]["pid"]
    r = demo.post("/api/v1/demo/nodes/3/stop", {"signal": "TERM"})
    assert r.status_code == 200, r.text
    assert r.json()["nodes"][2]["running"] is False
    assert not alive(pid3)
    assert "node3 (127.0.0.3:%d) stopped with SIGTERM" % (8080 + demo.offset) in demo.text()
    r = demo.post("/api/v1/demo/nodes/3/start", {})
    assert r.status_code == 200 and r.json()["nodes"][2]["running"] is True
    until("node3 answers", lambda: requests.get(demo.http(3) + "/health", timeout=5).ok)

    r = demo.post("/api/v1/demo/consistency", {"write": "QUORUM", "read": "QUORUM"})
    assert r.status_code == 200


def error_of(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    assert "Access-Control-Allow-Origin" not in r.headers
    e = r.json()["error"]
    assert e["code"] and e["message"]
    return e["message"]


def test_bad_requests(demo):
    c = demo.ctl
    m = error_of(requests.post(c + "/api/v1/demo/consistency", data="{\"write\": ",
                               headers={"Content-Type": "application/json"}, timeout=10), 400)
    assert "invalid JSON at line 1" in m
    m = error_of(demo.post("/api/v1/demo/consistency", {"write": "MOSTLY"}), 400)
    assert "'MOSTLY' is not a consistency level" in m
    m = error_of(demo.post("/api/v1/demo/consistency", {"read": "ANY"}), 400)
    assert "ANY is not allowed for reads" in m
    m = error_of(demo.post("/api/v1/demo/consistency", {"writes": "ONE"}), 400)
    assert 'unknown key "writes"' in m
    m = error_of(demo.post("/api/v1/demo/consistency", {}), 400)
    assert '"write" and/or "read"' in m
    m = error_of(demo.post("/api/v1/demo/nodes/x/stop"), 400)
    assert "node index 'x' is not a number" in m
    m = error_of(demo.post("/api/v1/demo/nodes/9/stop"), 404)
    assert "no node 9: the demo runs nodes 1..3" in m
    m = error_of(demo.post("/api/v1/demo/nodes/1/stop", {"signal": "HUP"}), 400)
    assert '"signal" must be' in m
    m = error_of(demo.post("/api/v1/demo/nodes/1/reboot"), 404)
    assert "reboot" in m
    m = error_of(requests.delete(c + "/api/v1/demo", timeout=10), 405)
    assert "not DELETE" in m
    m = error_of(requests.get(c + "/api/v1/demo/nodes/1/stop", timeout=10), 405)
    assert "POST" in m
    m = error_of(requests.get(c + "/nope", timeout=10), 404)
    assert "no such endpoint" in m
    # nothing of that changed the demo
    d = demo.doc()
    assert all(n["running"] for n in d["nodes"])
    assert d["write_consistency"] == "QUORUM"

    # CORS preflight from the dashboard (any demo node's page)
    for i in (1, 3):
        page = demo.http(i)
        r = requests.options(c + "/api/v1/demo/consistency", timeout=10,
                             headers={"Origin": page, "Access-Control-Request-Method": "POST"})
        assert r.status_code == 204
        assert r.headers["Access-Control-Allow-Origin"] == page
        assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
        assert r.headers["Access-Control-Allow-Headers"] == "Content-Type"
        assert r.headers["Access-Control-Max-Age"] == "600"
    r = requests.options(c + "/api/v1/demo/consistency", timeout=10,
                         headers={"Origin": "http://evil.example",
                                  "Access-Control-Request-Method": "POST"})
    assert r.status_code == 403
    assert "Access-Control-Allow-Origin" not in r.headers

    # raw garbage and an oversized body on a socket
    host, port = "127.0.0.1", 8079 + demo.offset
    for raw, want in ((b"HELLO\r\n\r\n", b"400"),
                      (b"GET /api/v1/demo HTTP/1.1\r\nbad header\r\n\r\n", b"line 2"),
                      (b"POST /api/v1/demo/consistency HTTP/1.1\r\nContent-Length: 100000\r\n\r\n",
                       b"413")):
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(raw)
            got = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        assert want in got, got
        assert b"Connection: close" in got
    # a client that sends half a request and goes quiet is answered 408 in bounded time
    t0 = time.time()
    with socket.create_connection((host, port), timeout=20) as s:
        s.sendall(b"GET /api/v1/demo HTTP/1.1\r\n")
        got = s.recv(4096)
    assert b"408" in got and time.time() - t0 < 15
    # and the server still answers
    assert demo.doc()["nodes"][0]["running"]


def test_cross_origin_posts_change_nothing(demo):
    """A page of another site cannot stop nodes or change the simulator's
    consistency; the dashboard (a node's page) can."""
    before = demo.doc()
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    r = requests.post(demo.ctl + "/api/v1/demo/nodes/2/stop", data="{}", headers=evil, timeout=30)
    e = error_of(r, 403)
    assert "http://evil.example" in e
    r = requests.post(demo.ctl + "/api/v1/demo/consistency", data='{"write": "ONE"}',
                      headers=evil, timeout=30)
    error_of(r, 403)
    # another port of the same machine is another site too
    r = requests.post(demo.ctl + "/api/v1/demo/consistency", json={"write": "ONE"},
                      headers={"Origin": "http://127.0.0.1:1"}, timeout=30)
    error_of(r, 403)
    # a script's text/plain (no Origin) is refused by its type
    r = requests.post(demo.ctl + "/api/v1/demo/consistency", data='{"write": "ONE"}',
                      headers={"Content-Type": "text/plain"}, timeout=30)
    assert "application/json" in error_of(r, 415)
    after = demo.doc()
    assert after["write_consistency"] == before["write_consistency"]
    assert [n["pid"] for n in after["nodes"]] == [n["pid"] for n in before["nodes"]]
    assert all(n["running"] for n in after["nodes"])
    assert alive(after["nodes"][1]["pid"])

    # the dashboard served by node 2 changes the consistency (and back)
    page = demo.http(2)
    was = before["write_consistency"]
    for level in ("ONE", was):
        r = requests.post(demo.ctl + "/api/v1/demo/consistency", json={"write": level},
                          headers={"Origin": page}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["Access-Control-Allow-Origin"] == page
        assert r.json()["write_consistency"] == level


def test_a_taken_control_port_stops_the_demo_before_it_starts(tmp_path):
    offset = free_offset(3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 8079 + offset))
        s.listen()
        r = subprocess.run([BIN, "demo", "--nodes", "1", "--data", str(tmp_path / "d"),
                            "--port-offset", str(offset), "--seconds", "5"],
                           capture_output=True, text=True, timeout=60, env=ENV)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cannot listen on 127.0.0.1:%d" % (8079 + offset) in r.stderr
    assert "--control" in r.stderr
    # nothing was started
    assert not (tmp_path / "d" / "node1").exists()


def test_bad_demo_options():
    for args, needle in ((["--consistency", "MOST"], "--consistency: 'MOST'"),
                         (["--read-consistency", "x"], "--read-consistency: 'x'"),
                         (["--reads", "-2"], "--reads"),
                         (["--control", "nocolon"], "--control"),
                         (["--gossip-interval-ms", "5"], "--gossip-interval-ms: '5'"),
                         (["--phi-threshold", "0"], "--phi-threshold: '0'")):
        r = subprocess.run([BIN, "demo"] + args, capture_output=True, text=True, timeout=30,
                           env=ENV)
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr)


def test_help_lists_the_failure_detector_options():
    r = subprocess.run([BIN, "demo", "--help"], capture_output=True, text=True, timeout=30,
                       env=ENV)
    assert r.returncode == 0
    assert "--gossip-interval-ms MS" in r.stdout and "default 500" in r.stdout
    assert "--phi-threshold X" in r.stdout
