"""deploy/prometheus and deploy/grafana against a real Prometheus.

A 3-node cluster (cluster.py's LocalCluster, 127.0.0.1-3, random port
offset) takes writes from the sensor simulator; Debian's `prometheus`
scrapes it on a free loopback port with deploy/prometheus/prometheus.yml
(only the targets and the intervals changed: 1 s scrapes and rule
evaluation instead of 5 s) and the unchanged alert rules of
deploy/prometheus/alerts.yml, storing into its own temporary directory.

The tests then ask Prometheus' HTTP API: every node is up and every node
coordinates writes; every PromQL expression of the Grafana dashboard
evaluates; and after one node is killed, NodeDown goes pending and then
fires (its real `for: 30s`, so that test takes about 35 s).

The Grafana dashboard and provisioning files are also checked for
structure (Grafana itself is not in Debian).
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests
import yaml

from cluster import LocalCluster
from conftest import BIN, ROOT, free_port

DEPLOY = os.path.join(ROOT, "deploy")
PROM_YML = os.path.join(DEPLOY, "prometheus", "prometheus.yml")
ALERTS_YML = os.path.join(DEPLOY, "prometheus", "alerts.yml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "dashboards", "sibyl-dashboard.json")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

# Grafana's variables, as Grafana would expand them for "All nodes".
GRAFANA_VARS = {"$__rate_interval": "10s", "$__interval": "2s", "${instance}": ".*",
                "$instance": ".*"}


def dashboard_panels():
    with open(DASHBOARD) as f:
        d = json.load(f)
    return d, [p for p in d["panels"] if p["type"] != "row"]


def dashboard_exprs():
    _, panels = dashboard_panels()
    out = []
    for p in panels:
        for t in p["targets"]:
            expr = t["expr"]
            for k, v in GRAFANA_VARS.items():
                expr = expr.replace(k, v)
            out.append((p["title"], t["refId"], expr))
    return out


def metric_names(expr):
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr)) - {"ALERTS"}


# --- files alone ---------------------------------------------------------------

def test_prometheus_yml_scrapes_the_demo_cluster():
    with open(PROM_YML) as f:
        cfg = yaml.safe_load(f)
    assert cfg["rule_files"] == ["alerts.yml"]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == {"sibyl"}
    targets = [t for sc in jobs["sibyl"]["static_configs"] for t in sc["targets"]]
    assert targets == ["127.0.0.%d:8080" % i for i in (1, 2, 3)]
    assert cfg["global"]["scrape_interval"] == "5s"


def test_alert_rules_have_severity_and_annotations():
    with open(ALERTS_YML) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    assert names >= {"NodeDown", "HintsBacklogGrowing", "LoadImbalance",
                     "WriteLatencyP99High", "DiskFilling"}, names
    for r in rules:
        assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]
    # the integration test below relies on NodeDown firing within a bounded wait
    node_down = [r for r in rules if r["alert"] == "NodeDown"][0]
    assert node_down["for"] == "30s"


def test_grafana_dashboard_structure():
    d, panels = dashboard_panels()
    assert d["uid"] == "sibyl-cluster" and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert len(panels) >= 30
    for p in panels:
        where = "panel %r" % p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert p["targets"], where
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, where
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), where
        for t in p["targets"]:
            assert t["expr"].strip(), where
            assert t["datasource"] == p["datasource"], where
            assert t["expr"].count("(") == t["expr"].count(")"), where
    # panels overlap nowhere
    cells = set()
    for p in d["panels"]:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, "panel %r overlaps another" % p["title"]
                cells.add((x, y))
    # the built-in dashboard's subjects are all there
    used = set()
    for _, _, e in dashboard_exprs():
        used |= metric_names(e)
    for m in ("up", "sibyl_gossip_peer_up", "sibyl_storage_live_bytes",
              "sibyl_coordinator_requests_total",
              "sibyl_coordinator_request_duration_seconds_bucket",
              "sibyl_replica_requests_total", "sibyl_hints_stored_total",
              "sibyl_hints_pending", "sibyl_hints_replayed_total", "sibyl_hints_dropped_total",
              "sibyl_read_repairs_total", "sibyl_gossip_peer_phi", "sibyl_messages_sent_total",
              "sibyl_messages_received_total", "sibyl_messages_dropped_total",
              "sibyl_storage_disk_free_bytes", "sibyl_ingest_points_total",
              "sibyl_commitlog_sync_duration_seconds_bucket",
              "process_resident_memory_bytes", "process_cpu_seconds_total"):
        assert m in used, m
    exprs = " ".join(e for _, _, e in dashboard_exprs())
    for cut in ('op="write"', 'op=~"read|range"', "by (consistency, outcome", "0.99", "0.5"):
        assert cut in exprs, cut


def test_grafana_provisioning_files():
    with open(os.path.join(DEPLOY, "grafana", "provisioning", "datasources", "sibyl.yml")) as f:
        ds = yaml.safe_load(f)
    assert ds["apiVersion"] == 1
    (src,) = ds["datasources"]
    assert src["type"] == "prometheus" and src["url"] == "http://127.0.0.1:9090"
    with open(os.path.join(DEPLOY, "grafana", "provisioning", "dashboards", "sibyl.yml")) as f:
        prov = yaml.safe_load(f)
    (p,) = prov["providers"]
    assert p["type"] == "file" and p["options"]["path"].startswith("/")
    assert glob.glob(os.path.join(DEPLOY, "grafana", "dashboards", "*.json")) == [DASHBOARD]


# --- against a running Prometheus ------------------------------------------------

class Prometheus:
    def __init__(self, workdir, targets):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        with open(PROM_YML) as f:
            cfg = yaml.safe_load(f)
        cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        (job,) = cfg["scrape_configs"]
        job["static_configs"] = [{"targets": targets}]
        shutil.copy(ALERTS_YML, os.path.join(self.dir, "alerts.yml"))
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            yaml.safe_dump(cfg, f)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.proc = None

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited with %s:\n%s" %
                                   (self.proc.returncode, self.logs()))
            try:
                if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus did not become ready:\n" + self.logs())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def query(self, expr):
        """The instant result of expr; raises with Prometheus' error text."""
        r = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        if r.status_code != 200 or body.get("status") != "success":
            raise AssertionError("query %r failed: %s %s" % (expr, r.status_code, r.text))
        return body["data"]["result"]

    def wait_for(self, expr, check, what, timeout=60):
        deadline = time.time() + timeout
        res = None
        while time.time() < deadline:
            res = self.query(expr)
            if check(res):
                return res
            time.sleep(0.5)
        raise AssertionError("%s: not within %ds; %s = %s" % (what, timeout, expr, res))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail("prometheus is not installed; run scripts/deps.sh as root")
    base = tmp_path_factory.mktemp("prom")
    cluster = LocalCluster(base, 3, extra=["--gossip-interval-ms", "200"])
    sim = prom = None
    with cluster:
        try:
            cluster.wait_normal()
            targets = ["%s:%d" % (n.ip, n.http_port) for n in cluster.nodes]
            env = dict(os.environ)
            env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
            sim_log = open(str(base / "sim.log"), "ab")
            sim = subprocess.Popen(
                [BIN, "sim", "--target", ",".join(targets),
                 "--replication", '{"class": "SimpleStrategy", "replication_factor": 3}',
                 "--sensors", "20", "--rate", "100", "--flush-ms", "200",
                 "--duration", "300", "--status", "0", "--timeout-ms", "2000"],
                stdout=sim_log, stderr=subprocess.STDOUT, env=env)
            prom = Prometheus(base / "prometheus", targets).start()
            yield cluster, prom, targets
        finally:
            if sim and sim.poll() is None:
                sim.send_signal(signal.SIGTERM)
                try:
                    sim.wait(15)
                except subprocess.TimeoutExpired:
                    sim.kill()
                    sim.wait()
            if prom:
                prom.stop()


def test_every_node_up_and_writing(stack):
    cluster, prom, targets = stack
    res = prom.wait_for('up{job="sibyl"}',
                        lambda r: len(r) == 3 and all(s["value"][1] == "1" for s in r),
                        "every node scraped and up", timeout=30)
    assert sorted(s["metric"]["instance"] for s in res) == sorted(targets)
    # the simulator writes round-robin through every node: each one coordinates
    rate = ('sum by (instance) (rate(sibyl_coordinator_requests_total'
            '{job="sibyl", op="write", outcome="success"}[10s]))')
    prom.wait_for(rate, lambda r: len(r) == 3 and all(float(s["value"][1]) > 0 for s in r),
                  "write rate above zero on every node", timeout=60)
    # gossip: every node sees both others up
    prom.wait_for('sibyl_gossip_peer_up{job="sibyl"} == 1', lambda r: len(r) == 6,
                  "every peer up in every node's gossip", timeout=30)
    # every alert rule loaded and evaluates against the real metrics
    with open(ALERTS_YML) as f:
        want = {r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]}
    deadline = time.time() + 20
    while True:
        groups = requests.get(prom.url + "/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if all(r.get("lastEvaluation", "").startswith("20") for r in rules) or \
                time.time() > deadline:
            break
        time.sleep(0.5)
    assert {r["name"] for r in rules} == want
    for r in rules:
        assert r["health"] == "ok" and not r.get("lastError"), r
    # the ingestion the simulator did is visible too
    pts = prom.query('sum(rate(sibyl_ingest_points_total{job="sibyl"}[10s]))')
    assert pts and float(pts[0]["value"][1]) > 0


def test_every_dashboard_query_evaluates(stack):
    cluster, prom, targets = stack
    prom.wait_for('sum(rate(sibyl_coordinator_requests_total{job="sibyl", op="write"}[10s])) > 0',
                  lambda r: len(r) == 1, "writes flowing", timeout=60)
    empty = []
    for title, ref, expr in dashboard_exprs():
        res = prom.query(expr)  # raises on any PromQL error
        if not res:
            empty.append((title, ref))
    # Series that exist only after an event (no hints, no drops, no reads,
    # no read repairs, no blocked peer yet) may answer nothing; every panel
    # about the steady state must show data.
    must_have_data = {"Nodes up", "Nodes down", "Node state (scrape)",
                      "Peer state as each node's gossip sees it", "Nodes",
                      "Live data per node (load)", "Share of cluster data per node",
                      "Writes/s by consistency and outcome",
                      "Write latency p50 / p99 by consistency and outcome",
                      "Replica requests/s by operation and outcome",
                      "Failure detector phi per peer", "Messages sent per peer",
                      "Messages received per peer", "Commit-log syncs per second",
                      "Disk free on the data directory", "Points ingested per second",
                      "Resident memory", "CPU (cores)", "Hints pending bytes",
                      "Gossip rounds and peers marked down / up"}
    titles = {p["title"] for p in dashboard_panels()[1]}
    assert must_have_data <= titles, must_have_data - titles
    bad = [e for e in empty if e[0] in must_have_data]
    assert not bad, "dashboard panels without data: %s" % bad
    # every metric the dashboard names is one the nodes export (a typo
    # would leave a panel silently empty)
    known = set(requests.get(prom.url + "/api/v1/label/__name__/values", timeout=10)
                .json()["data"])
    lazy = {"sibyl_hints_pending", "sibyl_cql_statements_total"}
    missing = set()
    for _, _, e in dashboard_exprs():
        missing |= metric_names(e) - known - lazy
    assert not missing, "dashboard uses metrics no node exports: %s" % sorted(missing)


def test_killed_node_fires_node_down(stack):
    cluster, prom, targets = stack
    prom.wait_for('up{job="sibyl"} == 1', lambda r: len(r) == 3, "all up first", timeout=30)
    assert prom.query('ALERTS{alertname="NodeDown"}') == []
    victim = cluster.nodes[2]
    victim.kill()
    killed = time.time()
    host = victim.ip
    alert = 'ALERTS{alertname="NodeDown"}'
    seen_pending = False
    firing = None
    deadline = killed + 90
    while time.time() < deadline:
        res = prom.query(alert)
        hosts = {s["metric"]["host"] for s in res}
        assert hosts <= {host}, "NodeDown for a live node: %s" % res
        states = {s["metric"]["alertstate"] for s in res}
        if "pending" in states:
            seen_pending = True
        if "firing" in states:
            firing = [s for s in res if s["metric"]["alertstate"] == "firing"][0]
            break
        time.sleep(0.5)
    took = time.time() - killed
    assert firing, "NodeDown did not fire within 90 s:\n" + prom.logs()
    assert seen_pending, "NodeDown fired without a pending phase (for: ignored?)"
    assert took >= 25, "NodeDown fired after %.1f s, before its for: 30s" % took
    assert firing["metric"]["severity"] == "critical"
    # both halves of the rule see it: Prometheus' scrape and the peers' gossip
    down = prom.query('up{job="sibyl", instance="%s:%d"}' % (victim.ip, victim.http_port))
    assert down and down[0]["value"][1] == "0"
    seen = prom.query('sibyl_gossip_peer_up{job="sibyl", peer="%s:%d"}'
                      % (victim.ip, victim.listen_port))
    assert len(seen) == 2 and all(s["value"][1] == "0" for s in seen), seen
    # the dashboard's alert panels show it
    exprs = {title: e for title, _, e in dashboard_exprs()}
    assert float(prom.query(exprs["Alerts firing"])[0]["value"][1]) >= 1
    assert float(prom.query(exprs["Nodes down"])[0]["value"][1]) == 1
    print("NodeDown fired %.1f s after the kill" % took)
