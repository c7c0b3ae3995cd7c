"""Cross-site requests against a real node (docs/http-api.md, "Cross-origin
requests"; issue 20 item 5): a web page of another site must not be able
to drive a node on the user's machine.

Each refused request is one a browser would send without a preflight (a
form post, a text/plain fetch), and each is checked by reading back that
it ran nothing. Requests without an Origin (curl, drivers, Telegraf,
Prometheus) and the node's own pages keep working; an origin in
http.cors_allowed_origins is allowed and named in
Access-Control-Allow-Origin.
"""
import os

import pytest
import requests

from conftest import Node, module_node

EVIL = "http://evil.example"
KS_DDL = ("CREATE KEYSPACE %s WITH replication = "
          "{'class': 'SimpleStrategy', 'replication_factor': 1}")
ALLOWED = ("https://grafana.example", "http://127.0.0.1:3000")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    yield from module_node(tmp_path_factory, "xorigin")


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    """A node whose YAML config allows two more origins."""
    d = tmp_path_factory.mktemp("xorigin-listed")
    cfg = os.path.join(str(d), "sibyl.yaml")
    with open(cfg, "w") as f:
        f.write("log_level: info\nhttp:\n  cors_allowed_origins:\n"
                + "".join("    - %s\n" % o for o in ALLOWED))
    n = Node(d / "data", ["--config", cfg]).start()
    yield n
    assert n.stop() == 0, n.logs()


def keyspaces(n):
    r = requests.post(n.url + "/api/v1/cql",
                      json={"query": "SELECT keyspace_name FROM system_schema.keyspaces"}, timeout=30)
    assert r.status_code == 200, r.text
    return {row[0] for row in r.json()["rows"]}


def post_cql(n, query, headers, as_json=False):
    body = '{"query": "%s"}' % query.replace('"', '\\"')
    return requests.post(n.url + "/api/v1/cql", data=body, timeout=30,
                         headers=dict(headers, **({"Content-Type": "application/json"}
                                                  if as_json else {})))


def test_cross_origin_text_plain_post_runs_nothing(node):
    r = post_cql(node, KS_DDL % "pwned", {"Origin": EVIL, "Content-Type": "text/plain"})
    assert r.status_code == 403, r.text
    e = r.json()["error"]
    assert e["code"] == "forbidden"
    assert EVIL in e["message"] and "http.cors_allowed_origins" in e["message"]
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "pwned" not in keyspaces(node)

    # the other shapes a page can send without a preflight
    for headers in ({"Origin": EVIL, "Content-Type": "application/x-www-form-urlencoded"},
                    {"Origin": EVIL, "Content-Type": "multipart/form-data; boundary=x"},
                    {"Origin": EVIL},
                    {"Origin": "null", "Content-Type": "text/plain"},  # sandboxed frame, file:
                    {"Origin": "http://127.0.0.1:1", "Content-Type": "text/plain"}):  # another port
        r = post_cql(node, KS_DDL % "pwned", headers)
        assert r.status_code == 403, (headers, r.text)
    # even with a JSON type (which a browser would have preflighted first)
    r = post_cql(node, KS_DDL % "pwned", {"Origin": EVIL}, as_json=True)
    assert r.status_code == 403, r.text
    assert "pwned" not in keyspaces(node)


def test_form_without_origin_is_refused_by_its_type(node):
    """Old browsers post forms without an Origin: the form's type is never
    JSON, so the statement does not run either."""
    for ct in ("text/plain", "application/x-www-form-urlencoded"):
        r = post_cql(node, KS_DDL % "formks", {"Content-Type": ct})
        assert r.status_code == 415, r.text
        e = r.json()["error"]
        assert e["code"] == "unsupported_media_type"
        assert "Content-Type: application/json" in e["message"] and ct in e["message"]
    assert "formks" not in keyspaces(node)


def test_dns_rebinding_is_not_same_origin(node):
    """A name the attacker rebinds to 127.0.0.1 carries its own Host; only
    an address (or localhost) in both counts as the node itself."""
    site = "http://rebound.example:%d" % node.port
    r = post_cql(node, KS_DDL % "rebound", {"Origin": site, "Host": "rebound.example:%d" % node.port},
                 as_json=True)
    assert r.status_code == 403, r.text
    assert "rebound" not in keyspaces(node)


def test_no_origin_and_same_origin_are_accepted(node):
    # curl, drivers, tools: no Origin, JSON or no Content-Type at all
    r = post_cql(node, KS_DDL % "plain", {}, as_json=True)
    assert r.status_code == 200, r.text
    assert "Access-Control-Allow-Origin" not in r.headers
    r = requests.post(node.url + "/api/v1/cql", timeout=30,
                      data=b'{"query": "SELECT keyspace_name FROM system_schema.keyspaces"}')
    assert r.status_code == 200, r.text
    # the node's own dashboard, by address and as localhost
    for page, ks in ((node.url, "samepage"), ("http://localhost:%d" % node.port, "localpage")):
        headers = {"Origin": page}
        if "localhost" in page:
            headers["Host"] = "localhost:%d" % node.port
        r = post_cql(node, KS_DDL % ks, headers, as_json=True)
        assert r.status_code == 200, (page, r.text)
        assert r.headers["Access-Control-Allow-Origin"] == page
        assert r.headers["Vary"] == "Origin"
    assert {"plain", "samepage", "localpage"} <= keyspaces(node)


def test_write_endpoint_takes_line_protocol_but_checks_origin(node):
    line = "xo,site=a v=1 1700000000000\n"
    # InfluxDB clients send text/plain: accepted without an Origin
    r = requests.post(node.url + "/api/v2/write?bucket=xo&precision=ms", data=line,
                      headers={"Content-Type": "text/plain; charset=utf-8"}, timeout=30)
    assert r.status_code == 204, r.text
    r = requests.post(node.url + "/api/v2/write?bucket=xo&precision=ms",
                      data="xo,site=b v=2 1700000000000\n",
                      headers={"Content-Type": "text/plain", "Origin": EVIL}, timeout=30)
    assert r.status_code == 403, r.text
    r = requests.post(node.url + "/api/v2/write?bucket=xo&precision=ms",
                      data="xo,site=c v=3 1700000000000\n",
                      headers={"Content-Type": "text/plain", "Origin": node.url}, timeout=30)
    assert r.status_code == 204, r.text
    rows = node.cql("SELECT site, v FROM xo.xo")["rows"]
    assert sorted(rows) == [["a", 1], ["c", 3]]


def test_admin_and_fault_refuse_cross_origin(node):
    r = requests.post(node.url + "/api/v1/admin/compact", headers={"Origin": EVIL}, timeout=30)
    assert r.status_code == 403, r.text
    r = requests.post(node.url + "/api/v1/fault", data='{"action": "cut"}', timeout=30,
                      headers={"Origin": EVIL, "Content-Type": "text/plain"})
    assert r.status_code == 403, r.text
    assert requests.get(node.url + "/api/v1/fault", timeout=5).json()["blocked"] == []
    # without an Origin, as bench/ and curl -X POST send it
    r = requests.post(node.url + "/api/v1/admin/compact", timeout=120)
    assert r.status_code == 200, r.text


def test_no_wildcard_and_preflight(node):
    r = requests.get(node.url + "/health", headers={"Origin": EVIL}, timeout=5)
    assert r.status_code == 200  # reading is harmless; the browser hides it
    assert "Access-Control-Allow-Origin" not in r.headers
    r = requests.options(node.url + "/api/v1/cql", timeout=5,
                         headers={"Origin": EVIL, "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers
    r = requests.options(node.url + "/api/v1/cql", timeout=5,
                         headers={"Origin": node.url, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == node.url
    r = requests.options(node.url + "/api/v1/cql", timeout=5)  # curl -X OPTIONS
    assert r.status_code == 204 and "Access-Control-Allow-Origin" not in r.headers


def test_allowed_list_from_yaml(listed):
    for i, origin in enumerate(ALLOWED):
        r = requests.options(listed.url + "/api/v1/cql", timeout=5,
                             headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                      "Access-Control-Request-Headers": "content-type"})
        assert r.status_code == 204, r.text
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert r.headers["Vary"] == "Origin"
        r = post_cql(listed, KS_DDL % ("listed%d" % i), {"Origin": origin}, as_json=True)
        assert r.status_code == 200, r.text
        assert r.headers["Access-Control-Allow-Origin"] == origin
        r = requests.get(listed.url + "/api/v1/cluster", headers={"Origin": origin}, timeout=5)
        assert r.headers["Access-Control-Allow-Origin"] == origin
    # a listed origin still sends JSON; one not on the list is refused
    r = post_cql(listed, KS_DDL % "listedform", {"Origin": ALLOWED[0], "Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    for origin in ("http://grafana.example", "http://127.0.0.1:3001", EVIL):
        r = post_cql(listed, KS_DDL % "unlisted", {"Origin": origin}, as_json=True)
        assert r.status_code == 403, (origin, r.text)
    assert {"listed0", "listed1"} <= keyspaces(listed)
    assert not {"listedform", "unlisted"} & keyspaces(listed)


def test_bad_allowed_list_stops_the_node(tmp_path):
    n = Node(tmp_path / "data", ["--cors-allowed-origins", "*"])
    n.start(wait=False)
    try:
        rc = n.proc.wait(30)
    finally:
        if n.proc.poll() is None:
            n.proc.kill()
            n.proc.wait()
        n.log.close()
    assert rc != 0
    assert "'*' is not accepted" in n.logs()
