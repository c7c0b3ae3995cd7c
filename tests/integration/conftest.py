"""Fixtures that start real `sibyl node` processes on loopback.

Each node gets a fresh data directory and a free port; tests talk to it
over HTTP exactly as users do. SIBYL_BIN selects the binary (the ASan
build by default when run from `make test`).
"""
import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("SIBYL_BIN", "build/asan/sibyl"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, data_dir, extra=()):
        self.data_dir = str(data_dir)
        self.port = free_port()
        self.cql_port = free_port()  # CQL native protocol, for drivers
        self.url = "http://127.0.0.1:%d" % self.port
        self.extra = list(extra)
        self.proc = None
        self.log_path = os.path.join(self.data_dir + ".log")

    def start(self, wait=True):
        env = dict(os.environ)
        # The node may be killed with SIGKILL or left with open client
        # connections at shutdown; leak reports would only be noise there.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "node", "--data", self.data_dir,
             "--http", "127.0.0.1:%d" % self.port,
             "--cql", "127.0.0.1:%d" % self.cql_port,
             "--listen", "127.0.0.1:%d" % free_port()] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("node exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("node did not become ready:\n" + self.logs())

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cql(self, query, consistency=None, expect=200):
        body = {"query": query}
        if consistency:
            body["consistency"] = consistency
        r = requests.post(self.url + "/api/v1/cql", json=body, timeout=30)
        assert r.status_code == expect, "%s -> %d %s" % (query, r.status_code, r.text)
        return r.json()

    def write(self, lines, bucket="sensors", precision="ns", expect=204, headers=None, data=None):
        r = requests.post(self.url + "/api/v2/write",
                          params={"bucket": bucket, "precision": precision},
                          data=data if data is not None else lines.encode(),
                          headers=headers or {}, timeout=30)
        assert r.status_code == expect, "%d %s" % (r.status_code, r.text)
        return r


def module_node(tmp_path_factory, name):
    """Generator for a module-scoped node fixture: one node serves a whole
    test module (keeps suites fast under ASan); it must stop cleanly."""
    n = Node(tmp_path_factory.mktemp(name) / "data").start()
    yield n
    rc = n.stop()
    assert rc == 0, "node exited with %s:\n%s" % (rc, n.logs())


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path / "data").start()
    yield n
    rc = n.stop()
    assert rc == 0, "node exited with %s:\n%s" % (rc, n.logs())


@pytest.fixture
def make_node(tmp_path):
    nodes = []

    def make(name="data", extra=()):
        n = Node(tmp_path / name, extra)
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.stop(signal.SIGKILL)
