"""`sibyl cql`, the CQL shell, against a real node over the native protocol.

One node serves the whole module (each test uses its own keyspace); the
shell runs as users run it: with -e, -f, piped input, and interactively on
a pseudo-terminal.
"""
import os
import pty
import select
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("SIBYL_BIN", "build/asan/sibyl"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cql_node(tmp_path_factory):
    """A node with a known CQL port; yields "127.0.0.1:PORT"."""
    d = tmp_path_factory.mktemp("shell")
    port = free_port()
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    log = open(str(d / "node.log"), "wb")
    proc = subprocess.Popen(
        [BIN, "node", "--data", str(d / "data"),
         "--http", "127.0.0.1:%d" % free_port(),
         "--cql", "127.0.0.1:%d" % port,
         "--listen", "127.0.0.1:%d" % free_port()],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 30
    while True:
        assert proc.poll() is None, open(str(d / "node.log")).read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, "node did not open its CQL port"
            time.sleep(0.05)
    yield "127.0.0.1:%d" % port
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(30) == 0, open(str(d / "node.log")).read()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def shell(addr, *args, stdin=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN, "cql", addr] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=60, env=e)


def ok(addr, *args, **kw):
    r = shell(addr, *args, **kw)
    assert r.returncode == 0, "rc=%d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)
    assert r.stderr == "", r.stderr
    return r.stdout


KS = "CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};"


def test_execute_select_prints_cqlsh_table(cql_node):
    ok(cql_node, "-e", KS % "sh1" + """
        CREATE TABLE sh1.readings (sensor text, ts int, temp double, ok boolean, tags set<text>,
                                   PRIMARY KEY (sensor, ts));
        INSERT INTO sh1.readings (sensor, ts, temp, ok, tags) VALUES ('alpha', 1, 21.5, true, {'a', 'b'});
        INSERT INTO sh1.readings (sensor, ts, temp, ok) VALUES ('alpha', 2, -3, false);
        INSERT INTO sh1.readings (sensor, ts) VALUES ('beta-long-name', 7);""")
    out = ok(cql_node, "-e", "SELECT * FROM sh1.readings WHERE sensor IN ('alpha', 'beta-long-name')")
    assert out == (
        "\n"
        " sensor         | ts | ok    | tags       | temp\n"
        "----------------+----+-------+------------+------\n"
        "          alpha |  1 |  True | {'a', 'b'} | 21.5\n"
        "          alpha |  2 | False |       null |   -3\n"
        " beta-long-name |  7 |  null |       null | null\n"
        "\n"
        "(3 rows)\n")
    # An empty result still has its header.
    out = ok(cql_node, "-e", "SELECT sensor, ts FROM sh1.readings WHERE sensor = 'none';")
    assert out == "\n sensor | ts\n--------+----\n\n(0 rows)\n"


def test_file_reports_errors_with_position_and_continues(cql_node, tmp_path):
    script = tmp_path / "load.cql"
    script.write_text(KS % "sh2" + "\n"
                      "USE sh2;\n"
                      "CREATE TABLE t (k int PRIMARY KEY, v text);\n"
                      "INSERT INTO t (k, v)\n"
                      "  VALUES (1, 'one');\n"
                      "SELEC * FROM t;\n"
                      "INSERT INTO t (k, v) VALUES (2, 'two'); -- a comment\n"
                      "SELECT * FROM missing;\n"
                      "SELECT * FROM t;\n")
    r = shell(cql_node, "-f", str(script))
    assert r.returncode == 1
    assert ("%s:6:SyntaxException: line 1:0 no viable alternative at input 'SELEC'" % script) \
        in r.stderr
    assert "%s:8:InvalidRequest: " % script in r.stderr
    assert "missing" in r.stderr
    # cqlsh goes on after an error: the last SELECT ran and saw both rows.
    assert r.stdout.endswith("(2 rows)\n")
    assert " 2 | two\n" in r.stdout
    # -e fails the same way.
    r = shell(cql_node, "-e", "SELECT * FROM sh2.nope")
    assert r.returncode == 1
    assert r.stderr.startswith("InvalidRequest: ")
    assert r.stdout == ""


def test_describe_table_recreates_the_table(cql_node, tmp_path):
    ok(cql_node, "-e", KS % "sh3" + """
        CREATE TABLE sh3."Events" (site text, day int, ts timestamp, seq int, v double,
            m map<text, int>, note text static, "Mixed" int,
            PRIMARY KEY ((site, day), ts, seq))
            WITH CLUSTERING ORDER BY (ts DESC, seq ASC) AND comment = 'it''s'
             AND default_time_to_live = 60 AND gc_grace_seconds = 3600
             AND compaction = {'class': 'LeveledCompactionStrategy'};""")
    desc = ok(cql_node, "-e", 'DESCRIBE TABLE sh3."Events"')
    assert desc == (
        '\nCREATE TABLE sh3."Events" (\n'
        "    site text,\n"
        "    day int,\n"
        "    ts timestamp,\n"
        "    seq int,\n"
        '    "Mixed" int,\n'
        "    m map<text, int>,\n"
        "    note text static,\n"
        "    v double,\n"
        "    PRIMARY KEY ((site, day), ts, seq)\n"
        ") WITH CLUSTERING ORDER BY (ts DESC, seq ASC)\n"
        "    AND comment = 'it''s'\n"
        "    AND compaction = {'class': "
        "'org.apache.cassandra.db.compaction.LeveledCompactionStrategy'}\n"
        "    AND default_time_to_live = 60\n"
        "    AND gc_grace_seconds = 3600;\n\n")
    # The output is CQL: dropping the keyspace and running DESCRIBE
    # KEYSPACE's output recreates the same schema.
    ks = ok(cql_node, "-e", "DESCRIBE KEYSPACE sh3")
    assert ks.startswith("\nCREATE KEYSPACE sh3 WITH replication = {'class': 'SimpleStrategy', "
                         "'replication_factor': '1'} AND durable_writes = true;\n")
    f = tmp_path / "schema.cql"
    f.write_text(ks)
    ok(cql_node, "-e", "DROP KEYSPACE sh3")
    ok(cql_node, "-f", str(f))
    assert ok(cql_node, "-e", "DESCRIBE KEYSPACE sh3") == ks
    ok(cql_node, "-e", "INSERT INTO sh3.\"Events\" (site, day, ts, seq, v) VALUES ('x', 1, 0, 1, 2.5)")
    # Keyspaces and tables lists.
    assert "sh3" in ok(cql_node, "-e", "DESCRIBE KEYSPACES").split()
    assert ok(cql_node, "-k", "sh3", "-e", "DESC TABLES") == "\nEvents\n\n"
    r = shell(cql_node, "-e", "DESCRIBE TABLE sh3.nothing")
    assert r.returncode == 1
    assert "InvalidRequest: Table 'nothing' not found in keyspace 'sh3'" in r.stderr


def test_consistency_shows_and_sets(cql_node):
    out = ok(cql_node, "-e", "CONSISTENCY\nCONSISTENCY quorum\nCONSISTENCY;")
    assert out == ("Current consistency level is ONE.\n"
                   "Consistency level set to QUORUM.\n"
                   "Current consistency level is QUORUM.\n")
    # The level travels with the queries (a single node satisfies ALL).
    out = ok(cql_node, "-e", "CONSISTENCY ALL; SELECT key FROM system.local;")
    assert out.endswith("(1 rows)\n")
    r = shell(cql_node, "-e", "CONSISTENCY SOMETIMES")
    assert r.returncode == 1
    assert "Improper CONSISTENCY command: 'SOMETIMES' is not a consistency level" in r.stderr


def test_paging_fetches_every_page_when_not_a_tty(cql_node):
    stmts = [KS % "sh4", "CREATE TABLE sh4.t (p int, c int, v text, PRIMARY KEY (p, c));"]
    stmts += ["INSERT INTO sh4.t (p, c, v) VALUES (%d, %d, 'v%d');" % (i % 7, i, i)
              for i in range(250)]
    ok(cql_node, stdin="\n".join(stmts) + "\n")
    out = ok(cql_node, stdin="PAGING 100\nSELECT * FROM sh4.t;\n")
    assert out.startswith("Page size: 100\n")
    assert "---MORE---" not in out
    lines = out.splitlines()
    rows = [l for l in lines if l.startswith(" ") and "|" in l and not l.startswith(" p ")]
    assert len(rows) == 250
    assert sorted(int(l.split("|")[1]) for l in rows) == list(range(250))
    assert lines[-1] == "(250 rows)"
    # One table: a single header line for the three pages.
    assert sum(1 for l in lines if l.startswith("---")) == 1
    # Server warnings go to stderr, apart from the result.
    r = shell(cql_node, "-e", "PAGING OFF; SELECT count(*) FROM sh4.t;")
    assert r.returncode == 0
    assert r.stdout == "Disabled Query paging.\n\n count\n-------\n   250\n\n(1 rows)\n"
    assert r.stderr == "Warnings :\nAggregation query used without partition key\n\n"


def test_connection_refused_exits_2(tmp_path):
    port = free_port()
    r = shell("127.0.0.1:%d" % port, "-e", "SELECT * FROM system.local")
    assert r.returncode == 2
    assert r.stderr.strip() == \
        "Connection error: could not connect to 127.0.0.1:%d: Connection refused" % port
    r = shell("127.0.0.1:notaport")
    assert r.returncode == 2
    assert "bad address '127.0.0.1:notaport'" in r.stderr


class Pty:
    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, env)
        self.buf = b""

    def expect(self, text, timeout=15):
        want = text.encode()
        deadline = time.time() + timeout
        while want not in self.buf:
            left = deadline - time.time()
            assert left > 0, "did not see %r in:\n%s" % (text, self.buf.decode(errors="replace"))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                assert chunk, "shell exited; output:\n" + self.buf.decode(errors="replace")
                self.buf += chunk
        i = self.buf.index(want) + len(want)
        seen, self.buf = self.buf[:i], self.buf[i:]
        return seen.decode(errors="replace")

    def send(self, line):
        os.write(self.fd, line.encode() + b"\r")

    def wait(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:  # drain so the child never blocks on a full terminal
                r, _, _ = select.select([self.fd], [], [], 0.05)
                if r:
                    os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("shell did not exit")


def test_interactive_session_on_a_terminal(cql_node, tmp_path):
    ok(cql_node, "-e", KS % "sh5" + "CREATE TABLE sh5.t (k int PRIMARY KEY, v text);"
       + "".join("INSERT INTO sh5.t (k, v) VALUES (%d, 'x');" % i for i in range(250)))
    env = dict(os.environ, HOME=str(tmp_path), TERM="dumb")
    sh = Pty([BIN, "cql", cql_node], env)
    sh.expect("Use HELP for help.")
    sh.expect("cql> ")
    sh.send("USE sh5;")
    sh.expect("cql:sh5> ")
    # A statement over several lines: continuation prompts until the ';'.
    sh.send("SELECT k, v")
    sh.expect("   ... ")
    sh.send("FROM t WHERE k = 3")
    sh.expect("   ... ")
    sh.send(";")
    out = sh.expect("cql:sh5> ")
    assert " k | v\n" in out.replace("\r\n", "\n")
    assert "(1 rows)" in out
    # Ctrl-C drops the statement being typed, not the shell.
    sh.send("SELECT *")
    sh.expect("   ... ")
    # (libedit prints the prompt before it puts the terminal in raw mode;
    # a person cannot type within that window, a test can.)
    time.sleep(0.3)
    os.write(sh.fd, b"\x03")
    sh.expect("cql:sh5> ")
    # Errors are shown and the session goes on.
    sh.send("SELEC 1;")
    out = sh.expect("cql:sh5> ")
    assert "SyntaxException: line 1:0 no viable alternative at input 'SELEC'" in out
    # Long results page on a terminal.
    sh.send("PAGING 100")
    sh.expect("cql:sh5> ")
    sh.send("SELECT * FROM t;")
    sh.expect("---MORE---")
    sh.send("")
    sh.expect("---MORE---")
    sh.send("")
    out = sh.expect("cql:sh5> ")
    assert "(250 rows)" in out
    sh.send("EXIT")
    assert sh.wait() == 0
    hist = (tmp_path / ".sibyl_history").read_bytes()
    # libedit escapes blanks in its history file (\040).
    assert b"USE" in hist and b"sh5" in hist and b"FROM" in hist
