"""End-to-end tests of `sibyl sim` against a real node."""
import os
import signal
import subprocess
import time

from conftest import BIN

T0 = 1732147200000  # 2024-11-21T00:00:00Z


def run_sim(node, *args, timeout=60):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return subprocess.run(
        [BIN, "sim", "--target", "127.0.0.1:%d" % node.port] + list(args),
        capture_output=True, text=True, timeout=timeout, env=env)


def rows(node, query):
    res = node.cql(query)
    return res["columns"], res["rows"]


def test_backfill_writes_every_reading_with_generator_values(node):
    r = run_sim(node, "--fast", "--duration", "30", "--sensors", "10", "--rate", "10",
                "--start", str(T0), "--seed", "5", "--status", "0", "--batch", "40")
    assert r.returncode == 0, r.stderr
    assert "sent=300 points" in r.stderr
    cols, data = rows(node, "SELECT * FROM sensors.readings")
    assert len(data) == 300
    for name in ("location", "device_type", "sensor_id", "time", "temperature", "humidity",
                 "pressure", "light", "gas"):
        assert name in cols
    # the node holds exactly what the generator printed
    out = subprocess.run([BIN, "sim", "--stdout", "--fast", "--duration", "30", "--sensors",
                          "10", "--rate", "10", "--start", str(T0), "--seed", "5",
                          "--status", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 300
    first = lines[0]  # readings,location=..,device_type=..,sensor_id=s000 temperature=..,...
    tags, fields, ts = first.split(" ")
    sensor = tags.split("sensor_id=")[1]
    temp = float(fields.split("temperature=")[1].split(",")[0])
    ci = {c: i for i, c in enumerate(cols)}
    match = [row for row in data if row[ci["sensor_id"]] == sensor and row[ci["temperature"]] is not None
             and abs(row[ci["temperature"]] - temp) < 1e-9]
    assert match, "reading %s not found" % first


def test_rejected_batches_show_the_node_error_and_give_up(node):
    # make `temperature` an integer column, so the simulator's floats are refused
    node.write("readings,device_type=env,location=lab-1,sensor_id=s000 temperature=1i %d" % T0,
               precision="ms")
    r = run_sim(node, "--fast", "--duration", "100", "--sensors", "10", "--rate", "10",
                "--start", str(T0), "--batch", "10", "--status", "0")
    assert r.returncode == 1, r.stderr
    assert "node rejected a batch of 10 points: HTTP 400" in r.stderr
    assert '"error"' in r.stderr and "temperature" in r.stderr
    assert "giving up after 10 rejected batches" in r.stderr


def test_bad_options_are_named():
    r = subprocess.run([BIN, "sim", "--rate", "fast"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "--rate" in r.stderr
    r = subprocess.run([BIN, "sim", "--target", "nohostport"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2
    assert "HOST:PORT" in r.stderr


def test_node_restart_loses_nothing_and_sigint_is_clean(make_node):
    node = make_node().start()
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    sim = subprocess.Popen(
        [BIN, "sim", "--target", "127.0.0.1:%d" % node.port, "--sensors", "10", "--rate", "20",
         "--batch", "10", "--flush-ms", "200", "--status", "1", "--late", "0"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(2)
        node.stop()
        time.sleep(2)  # the simulator keeps generating and retries
        node.start()
        time.sleep(2)
        sim.send_signal(signal.SIGINT)
        _, err = sim.communicate(timeout=30)
    finally:
        if sim.poll() is None:
            sim.kill()
    assert sim.returncode == 0, err
    assert "node DOWN" in err or "retrying" in err
    assert "done:" in err
    sent = int(err.split("done: sent=")[1].split(" ")[0])
    assert sent >= 100  # about 6 s at 20/s
    _, data = rows(node, "SELECT * FROM sensors.readings")
    assert len(data) == sent  # every acknowledged reading is there, none twice
    node.stop()


def test_reads_consistency_and_control_poll(node):
    """--consistency goes with every write, --reads counts its reads, and
    --control levels replace ours; an unusable control answer changes
    nothing."""
    import http.server
    import json
    import threading

    levels = {"write_consistency": "ALL", "read_consistency": "ONE"}
    polls = []

    class Ctl(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            polls.append(self.path)
            body = json.dumps(levels).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ctl)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        def flip():
            time.sleep(2.5)
            levels["write_consistency"] = "NONSENSE"  # ignored
            levels["read_consistency"] = "quorum"
        threading.Thread(target=flip, daemon=True).start()
        r = run_sim(node, "--sensors", "5", "--rate", "20", "--duration", "5", "--late", "0",
                    "--flush-ms", "200", "--status", "1", "--consistency", "ONE",
                    "--reads", "5", "--read-consistency", "TWO",
                    "--control", "http://127.0.0.1:%d/" % srv.server_address[1])
    finally:
        srv.shutdown()
    assert r.returncode == 0, r.stderr
    assert "writing to http://127.0.0.1:%d/api/v2/write?bucket=sensors&precision=ms&" \
           "consistency=ONE" % node.port in r.stderr
    assert "sim: write consistency is now ALL (was ONE)" in r.stderr
    assert "sim: read consistency is now ONE (was TWO)" in r.stderr
    assert "sim: read consistency is now QUORUM (was ONE)" in r.stderr
    assert "NONSENSE" not in r.stderr
    assert len(polls) >= 3 and all(p == "/api/v1/demo" for p in polls)
    final = r.stderr.split("sim: done: ")[1]
    assert "sent=100 points" in final
    assert "writes_failed=0" in final and "reads_failed=0" in final, final
    reads = int(final.split("reads_ok=")[1].split(" ")[0])
    assert reads >= 10, final  # about 4 s of reads at 5/s
    assert "consistency=ALL/QUORUM" in final


def test_read_and_control_option_errors():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    for args, needle in ((["--consistency", "MOST"], "--consistency: 'MOST'"),
                         (["--read-consistency", "x"], "--read-consistency: 'x'"),
                         (["--reads", "-1"], "--reads"),
                         (["--control", "ftp://h"], "--control")):
        r = subprocess.run([BIN, "sim"] + args, capture_output=True, text=True, timeout=30,
                           env=env)
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr)


class StatusLog:
    """Collects the simulator's status lines (stderr) with the time each came."""

    def __init__(self, proc):
        import threading
        self.proc = proc
        self.lines = []  # (monotonic time, line)
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._pump, daemon=True)
        self.t.start()

    def _pump(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def counters(self):
        """The counters of the latest status line: {"sent": .., "writes_ok": .., ...}."""
        with self.lock:
            lines = [l for _, l in self.lines if " sent=" in l and "writes_ok=" in l]
        if not lines:
            return None
        last = lines[-1]
        out = {"sent": int(last.split(" sent=")[1].split(" ")[0])}
        for k in ("writes_ok", "writes_failed", "reads_ok", "reads_failed"):
            out[k] = int(last.split(" %s=" % k)[1].split(" ")[0])
        return out

    def text(self):
        with self.lock:
            return "\n".join(l for _, l in self.lines)


def test_writes_keep_flowing_while_reads_time_out(tmp_path, tmp_path_factory):
    """Node 2 of three is SIGSTOPped: for the failure detector it stays up
    for a while, so every read at ALL waits for the coordinator's read
    timeout (5 s) or for the client's. Writes at ONE through the other
    nodes must go on at about their normal rate meanwhile: reads run on
    their own thread and connections, and the stopped target is skipped."""
    from cluster import LocalCluster
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    with LocalCluster(tmp_path, 3) as c:
        c.wait_normal()
        targets = ",".join("%s:%d" % (n.ip, n.http_port) for n in c.nodes)
        sim = subprocess.Popen(
            [BIN, "sim", "--target", targets, "--replication",
             '{"class": "SimpleStrategy", "replication_factor": 3}', "--sensors", "20",
             "--rate", "40", "--flush-ms", "500", "--status", "1", "--late", "0",
             "--consistency", "ONE", "--reads", "4", "--read-consistency", "ALL",
             "--timeout-ms", "6000"],
            stderr=subprocess.PIPE, text=True, env=env)
        log = StatusLog(sim)
        stopped = None
        try:
            # writes flowing to every node, and reads succeeding at ALL
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                k = log.counters()
                if k and k["writes_ok"] >= 10 and k["reads_ok"] >= 4:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the simulator did not get going:\n" + log.text())
            a = log.counters()
            t_a = time.monotonic()
            time.sleep(4)
            b = log.counters()
            normal = (b["writes_ok"] - a["writes_ok"]) / (time.monotonic() - t_a)
            assert normal >= 1.0, log.text()  # a batch every 500 ms: about 2/s

            stopped = c.nodes[1].proc.pid
            os.kill(stopped, signal.SIGSTOP)
            # a batch on its way to node 2 may wait for --timeout-ms (6 s, more
            # than the nodes' 5 s read timeout, so the reads get their 504)
            time.sleep(7)
            a = log.counters()
            t_a = time.monotonic()
            time.sleep(8)  # node 2 still counts as up for the others (phi: ~18 s)
            b = log.counters()
            elapsed = time.monotonic() - t_a
            during = (b["writes_ok"] - a["writes_ok"]) / elapsed
            points = (b["sent"] - a["sent"]) / elapsed
            print("writes_ok/s: %.2f normal, %.2f with node 2 stopped; points/s %.1f; "
                  "reads ok %d failed %d meanwhile" %
                  (normal, during, points, b["reads_ok"] - a["reads_ok"],
                   b["reads_failed"] - a["reads_failed"]))
            # the reads were timing out all along ...
            assert b["reads_failed"] > a["reads_failed"], log.text()
            assert b["reads_ok"] == a["reads_ok"], log.text()
            # ... and the writes did not wait for them
            assert during >= 0.6 * normal, (normal, during, log.text())
            assert points >= 0.6 * 40, (points, log.text())
        finally:
            if stopped:
                os.kill(stopped, signal.SIGCONT)
            if sim.poll() is None:
                sim.send_signal(signal.SIGINT)
            try:
                sim.wait(30)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
        log.t.join(5)
        assert sim.returncode == 0, log.text()
        assert "sim: done:" in log.text()
