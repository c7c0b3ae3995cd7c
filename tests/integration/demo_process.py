"""`sibyl demo` as a child process for the tests, its output in a file.

    d = DemoProcess(tmp_path, ["--sensors", "20"], nodes=3)
    d.wait_for(r"Press Ctrl-C to stop")
    ... d.http_addr(2) ...
    d.finish()

Ports: node i on 127.0.0.i with the fixed ports shifted by a random offset
(cluster.py's pick_offset); the demo's control server on
127.0.0.1:8079+offset is checked free too.
"""
import os
import re
import socket
import subprocess
import time

import pytest

from cluster import pick_offset
from conftest import BIN

ENV = dict(os.environ)
ENV.setdefault("ASAN_OPTIONS", "detect_leaks=0")


def free_offset(nodes):
    for _ in range(20):
        k = pick_offset(nodes)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 8079 + k))
                return k
            except OSError:
                continue
    pytest.skip("no free port offset")


def alive(pid):
    """True while pid runs; a zombie counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


class DemoProcess:
    def __init__(self, tmp_path, args, nodes=1):
        self.offset = free_offset(nodes)
        self.ctl = "http://127.0.0.1:%d" % (8079 + self.offset)
        self.data = str(tmp_path / "demo")
        self.out_path = str(tmp_path / "demo.out")
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen(
            [BIN, "demo", "--nodes", str(nodes), "--data", self.data,
             "--port-offset", str(self.offset), "--status", "1"] + list(args),
            stdout=self.out, stderr=subprocess.STDOUT, env=ENV)

    def http_addr(self, i):
        return "127.0.0.%d:%d" % (i, 8080 + self.offset)

    def text(self):
        with open(self.out_path) as f:
            return f.read()

    def wait_for(self, pattern, timeout=90):
        """The first match of pattern in the output; fails when the demo
        exits or timeout seconds pass first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("no %r in demo output:\n%s" % (pattern, self.text()[-4000:]))

    def pids(self):
        return [int(p) for p in re.findall(r" pid (\d+)", self.text())]

    def finish(self, timeout=120):
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.out.close()
