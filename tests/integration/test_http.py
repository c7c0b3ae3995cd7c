"""The HTTP API end to end: health, CQL, line protocol, metrics, errors."""
import gzip
import os
import shutil
import subprocess
import tempfile

import pytest
import requests

from conftest import Node

SEED_SCHEMA = open(os.path.join(os.path.dirname(__file__), "seed001.cql")).read()


def test_health(node):
    r = requests.get(node.url + "/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_unknown_endpoint_and_method(node):
    r = requests.get(node.url + "/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = requests.get(node.url + "/api/v1/cql")
    assert r.status_code == 405
    assert "POST" in r.json()["error"]["message"]


def test_cql_round_trip(node):
    node.cql("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    node.cql("CREATE TABLE ks.t (k text, c int, v double, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC)")
    for i in range(5):
        node.cql("INSERT INTO ks.t (k, c, v) VALUES ('a', %d, %d.5)" % (i, i))
    res = node.cql("SELECT c, v FROM ks.t WHERE k = 'a'")
    assert res["columns"] == ["c", "v"]
    assert res["rows"] == [[4, 4.5], [3, 3.5], [2, 2.5], [1, 1.5], [0, 0.5]]
    res = node.cql("SELECT count(*), max(v) FROM ks.t WHERE k = 'a'")
    assert res["rows"] == [[5, 4.5]]


def test_cql_errors_name_position_and_reason(node):
    r = requests.post(node.url + "/api/v1/cql", json={"query": "SELEC * FROM x"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "Syntax error" or "syntax" in err["code"].lower()
    assert "line 1:0" in err["message"]
    r = requests.post(node.url + "/api/v1/cql", json={"query": "SELECT * FROM nosuch.t"})
    assert r.status_code == 400
    assert "nosuch" in r.json()["error"]["message"]
    node.cql("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
    r = requests.post(node.url + "/api/v1/cql", json={"query": "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "AlreadyExists"
    for bad in [b"not json", b"[1,2]", b'{"query": 5}', b'{"query": "SELECT 1", "consistency": "MOST"}']:
        r = requests.post(node.url + "/api/v1/cql", data=bad)
        assert r.status_code == 400, bad
        assert r.json()["error"]["message"]


def test_seed_schema_runs_verbatim_with_defaults(node):
    for stmt in [s for s in SEED_SCHEMA.split(";") if s.strip()]:
        # The seed's CREATE TABLE relies on a USE'd keyspace; HTTP is
        # stateless, so the request names it.
        r = requests.post(node.url + "/api/v1/cql",
                          json={"query": stmt, "keyspace": "sensor_data_schema"})
        assert r.status_code == 200, r.text
    node.cql("INSERT INTO sensor_data_schema.iot_sensor_metrics (location, device_type, iot_sensor_id, "
             "recorded_timestamp, temperature) VALUES ('lab', 'env', 123e4567-e89b-12d3-a456-426614174000, "
             "'2026-11-21 10:00:00+0000', 21.5)")
    res = node.cql("SELECT temperature, humidity, motion_detected, light_level, other_metrics "
                   "FROM sensor_data_schema.iot_sensor_metrics WHERE location = 'lab' AND device_type = 'env'")
    assert res["rows"] == [[21.5, -999.0, False, 0, {}]]


def test_line_protocol_write_and_query(node):
    node.write("weather,station=a,region=north temp=21.5,hum=40i,ok=true,note=\"fine\" 1700000000000\n"
               "weather,station=b,region=north temp=19.25 1700000001000\n", precision="ms")
    res = node.cql("SELECT station, time, temp, hum, ok, note FROM sensors.weather WHERE station = 'a' AND region = 'north'")
    assert res["rows"] == [["a", "2023-11-14T22:13:20.000Z", 21.5, 40, True, "fine"]]
    res = node.cql("SELECT count(*) FROM sensors.weather")
    assert res["rows"] == [[2]]


def test_line_protocol_gzip_and_telegraf_headers(node):
    body = gzip.compress(b"cpu,host=h1 usage_idle=99.5,usage_user=0.5 1700000000000000000\n")
    node.write(None, data=body, headers={"Content-Encoding": "gzip",
                                         "Authorization": "Token abc",
                                         "Content-Type": "text/plain; charset=utf-8",
                                         "User-Agent": "Telegraf/1.28"})
    res = node.cql("SELECT usage_idle FROM sensors.cpu WHERE host = 'h1'")
    assert res["rows"] == [[99.5]]


def test_line_protocol_bad_line_rejects_whole_request(node):
    r = node.write("m,t=a v=1 1\nm,t=a v= 2\nm,t=a v=3 3\n", expect=400)
    msg = r.json()["error"]["message"]
    assert "line 2" in msg
    r = requests.post(node.url + "/api/v1/cql", json={"query": "SELECT * FROM sensors.m"})
    # Nothing of the request was written: no keyspace or table was created.
    assert r.status_code == 400
    node.write("m,t=a v=1 1\n")
    r = node.write("m,t=a v=1 2\nm,t=a v=\"text\" 3\n", expect=400)
    assert "line 2" in r.json()["error"]["message"]
    assert node.cql("SELECT count(*) FROM sensors.m")["rows"] == [[1]]
    r = requests.post(node.url + "/api/v2/write", data=b"m v=1")
    assert r.status_code == 400 and "bucket" in r.json()["error"]["message"]
    r = requests.post(node.url + "/api/v2/write?bucket=sensors", data=b"\x1f\x8b garbage",
                      headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400


def _raw_exchange(sock, request):
    """Sends one HTTP/1.1 request and reads one response by its
    Content-Length; returns (status, headers dict, body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the response headers: %r" % data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    assert "content-length" in headers, "no Content-Length in %r" % head
    n = int(headers["content-length"])
    while len(body) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the body"
        body += chunk
    assert len(body) == n
    return status, headers, body


def test_error_answers_keep_the_connection(node):
    """A 4xx/5xx answer keeps an HTTP/1.1 keep-alive connection open (h2o
    2.2 closed it after any non-200 answer without Content-Length), so a
    client that gets a rejected batch or a 504 does not lose its connection."""
    import json
    import socket
    host, port = node.url[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        body = b"m,t=a f=1 1\nbroken line\n"
        st, hs, b = _raw_exchange(s, b"POST /api/v2/write?bucket=k HTTP/1.1\r\nHost: x\r\n"
                                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert st == 400
        assert hs.get("connection", "").lower() == "keep-alive"
        assert json.loads(b)["error"]["code"] == "invalid"
        st, hs, b = _raw_exchange(s, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        assert st == 404 and hs.get("connection", "").lower() == "keep-alive"
        st, hs, b = _raw_exchange(s, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert st == 200 and json.loads(b)["status"] == "ok"


def test_metrics_pass_promtool(node, tmp_path):
    node.write("m,t=a v=1 1\n")
    node.cql("SELECT * FROM sensors.m")
    text = requests.get(node.url + "/metrics").text
    assert 'sibyl_http_requests_total{endpoint="/api/v2/write",outcome="success"}' in text
    assert "sibyl_http_request_duration_seconds_bucket" in text
    assert "sibyl_commitlog_syncs_total" in text
    assert "process_resident_memory_bytes" in text
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert p.stdout.strip() == b"" and p.stderr.strip() == b"", p.stdout + p.stderr


def test_data_survives_restart(make_node):
    n = make_node("restart").start()
    n.write("m,t=a v=1 1\nm,t=a v=2 2\n", precision="ms")
    n.cql("CREATE TABLE sensors.x (k int PRIMARY KEY, v text) WITH default_time_to_live = 0")
    n.cql("INSERT INTO sensors.x (k, v) VALUES (1, 'one')")
    assert n.stop() == 0
    n.start()
    assert n.cql("SELECT count(*) FROM sensors.m")["rows"] == [[2]]
    assert n.cql("SELECT v FROM sensors.x WHERE k = 1")["rows"] == [["one"]]


def test_second_node_on_same_directory_refuses(make_node, tmp_path):
    a = make_node("shared").start()
    b = Node(tmp_path / "shared")
    p = subprocess.run([__import__("conftest").BIN, "node", "--data", b.data_dir,
                        "--http", "127.0.0.1:%d" % b.port], capture_output=True, timeout=30)
    assert p.returncode != 0
    assert b"in use by another sibyl process" in p.stderr
    assert str(a.proc.pid).encode() in p.stderr


def test_bad_flags_and_config(tmp_path):
    from conftest import BIN
    p = subprocess.run([BIN, "node", "--bogus"], capture_output=True)
    assert p.returncode == 2 and b"unknown option '--bogus'" in p.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data_directory: %s\ncommitlog_sync: sometimes\n" % (tmp_path / "d"))
    p = subprocess.run([BIN, "node", "--config", str(cfg)], capture_output=True)
    assert p.returncode == 2 and b"c.yaml:2" in p.stderr and b"commitlog_sync" in p.stderr
    cfg.write_text("http_address: [1, 2\n")
    p = subprocess.run([BIN, "node", "--config", str(cfg)], capture_output=True)
    assert p.returncode == 2 and b"c.yaml" in p.stderr


def test_config_file_and_flag_override(tmp_path):
    from conftest import BIN, free_port
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data_directory: %s\nhttp_address: 127.0.0.1:1\ncommitlog_sync: periodic\n"
                   "commitlog_sync_period_in_ms: 50\n" % (tmp_path / "d"))
    n = Node(tmp_path / "d")
    n.port = port
    n.url = "http://127.0.0.1:%d" % port
    n.extra = ["--config", str(cfg)]
    n.start()
    try:
        n.write("m,t=a v=1 1\n")
        assert n.cql("SELECT v FROM sensors.m")["rows"] == [[1.0]]
    finally:
        assert n.stop() == 0
    assert b"commitlog_sync=periodic" in open(n.log_path, "rb").read()
