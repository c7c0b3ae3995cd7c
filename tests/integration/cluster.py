"""A local cluster of real `sibyl node` processes in ccm's layout: node i
binds 127.0.0.i with the same ports on every node (node-to-node 7000,
CQL 9042, HTTP 8080, all shifted by a random offset so that a cluster
someone is running is never disturbed), seeded by node 1.

    with LocalCluster(tmp_path, 3, extra=["--gossip-interval-ms", "200"]) as c:
        c.wait_normal()
        c.nodes[2].kill()
"""
import os
import random
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import BIN


def ports_free(offset, n):
    for i in range(1, n + 1):
        for base in (7000, 9042, 8080):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.%d" % i, base + offset))
                except OSError:
                    return False
    return True


def pick_offset(n):
    for _ in range(50):
        k = random.randint(10000, 45000)
        if ports_free(k, n):
            return k
    pytest.skip("no free port offset")


class ClusterNode:
    def __init__(self, i, data_dir, offset, seeds, extra):
        self.i = i
        self.ip = "127.0.0.%d" % i
        self.data_dir = str(data_dir)
        self.cql_port = 9042 + offset
        self.http_port = 8080 + offset
        self.listen_port = 7000 + offset
        self.url = "http://%s:%d" % (self.ip, self.http_port)
        self.seeds = seeds
        self.extra = list(extra)
        self.proc = None
        self.log_path = self.data_dir + ".log"
        self.prefix = []  # e.g. ["faketime", "-f", "+60s"]
        self.bin = BIN
        self.env = {}

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        env.update(self.env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.prefix + [self.bin, "node", "--data", self.data_dir,
             "--listen", "%s:%d" % (self.ip, self.listen_port),
             "--cql", "%s:%d" % (self.ip, self.cql_port),
             "--http", "%s:%d" % (self.ip, self.http_port),
             "--seeds", self.seeds] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("node %d exited with %s:\n%s" %
                                   (self.i, self.proc.returncode, self.logs()))
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("node %d did not become ready:\n%s" % (self.i, self.logs()))

    def view(self):
        return requests.get(self.url + "/api/v1/cluster", timeout=5).json()

    def cql(self, query, expect=200):
        r = requests.post(self.url + "/api/v1/cql", json={"query": query}, timeout=30)
        assert r.status_code == expect, "%s -> %d %s" % (query, r.status_code, r.text)
        return r.json()

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
            self.log = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)


class LocalCluster:
    def __init__(self, tmp_path, n=3, extra=()):
        self.offset = pick_offset(n)
        seeds = "127.0.0.1:%d" % (7000 + self.offset)
        self.nodes = [ClusterNode(i, os.path.join(str(tmp_path), "node%d" % i), self.offset,
                                  seeds, extra) for i in range(1, n + 1)]
        self.cql_port = 9042 + self.offset

    def __enter__(self):
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_ready()
        return self

    def __exit__(self, *exc):
        for n in self.nodes:
            n.stop()

    def wait_normal(self, timeout=60):
        """Until every running node sees every node up and NORMAL."""
        deadline = time.time() + timeout
        want = len(self.nodes)
        while time.time() < deadline:
            ok = True
            for n in self.nodes:
                try:
                    v = n.view()
                except requests.RequestException:
                    ok = False
                    break
                good = [m for m in v["nodes"] if m["status"] == "NORMAL" and m["state"] == "up"]
                ok = ok and len(good) == want
            if ok:
                return
            time.sleep(0.2)
        raise AssertionError("cluster did not converge:\n" +
                             "\n".join("node %d: %s" % (n.i, n.logs()[-1500:]) for n in self.nodes))
