"""Lightweight transactions stay linearizable under faults, with real
processes (docs/lwt.md "What is tested", issue 11): three nodes on
127.0.0.1-3, client threads with the Python driver doing compare-and-set
and SERIAL reads on a few registers, while a nemesis thread SIGKILLs and
restarts a node, SIGSTOPs and SIGCONTs another, and partitions the
cluster with `sibyl fault partition` / `sibyl fault heal --all`. Every
operation is recorded (history.py) and the history is checked with
`sibyl lincheck`, which must answer linearizable.

A register is the row k = 'r<i>' of lwtn.reg, its value the int v:
SELECT at SERIAL is a read, INSERT ... IF NOT EXISTS cas(absent -> new),
UPDATE ... IF v = x cas(x -> new), DELETE ... IF v = x cas(x -> absent);
every value written is unique. Unavailable is a failure (nothing was
done); every other error (WriteTimeout, the driver's timeout, a lost
connection) leaves the operation indeterminate.

The faults run for SIBYL_LWT_NEMESIS_SECONDS (default 20, about 30 s
in all); set it to 300 or more for a soak. The history file stays in
pytest's tmp directory (a failing one is also copied to
build/lwt-nemesis-TIME.jsonl) and a failure names it: rerun the checker
with `build/sibyl lincheck FILE`.
"""
import os
import random
import shutil
import signal
import subprocess
import threading
import time

from cassandra import ConsistencyLevel, OperationTimedOut, Unavailable
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.policies import ConstantReconnectionPolicy, RetryPolicy
from cassandra.query import SimpleStatement

from cluster import LocalCluster
from conftest import BIN, ROOT
from history import History, check

FAST = ["--gossip-interval-ms", "200"]
CL = ConsistencyLevel
KEYS = 3
CLIENTS = 6
NEMESIS_S = float(os.environ.get("SIBYL_LWT_NEMESIS_SECONDS", "20"))
HEALED_S = 4
REQUEST_TIMEOUT_S = 6


class NoRetry(RetryPolicy):
    """Every error reaches the client as it is: a retried statement would
    be two operations in the history."""

    def on_read_timeout(self, *args, **kwargs):
        return self.RETHROW, None

    def on_write_timeout(self, *args, **kwargs):
        return self.RETHROW, None

    def on_unavailable(self, *args, **kwargs):
        return self.RETHROW, None

    def on_request_error(self, *args, **kwargs):
        return self.RETHROW, None


def connect(c, hosts):
    profile = ExecutionProfile(retry_policy=NoRetry(), request_timeout=REQUEST_TIMEOUT_S)
    cl = Cluster(hosts, port=c.cql_port, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                 reconnection_policy=ConstantReconnectionPolicy(0.5),
                 connect_timeout=3, control_connection_timeout=3)
    return cl, cl.connect()


def all_unavailable(e):
    return isinstance(e, Unavailable) or (
        isinstance(e, NoHostAvailable) and e.errors and
        all(isinstance(x, Unavailable) for x in e.errors.values()))


class Client(threading.Thread):
    """Reads and compare-and-sets random registers until told to stop."""

    def __init__(self, pid, session, h, stop, rng):
        super().__init__(daemon=True)
        self.pid, self.s, self.h, self.stop, self.rng = pid, session, h, stop, rng
        self.known = {}  # key -> (value or None for absent); missing: unknown
        self.seq = 0
        self.applied = 0
        self.errors = {}

    def op(self):
        k = self.rng.randrange(KEYS)
        key = "r%d" % k
        dice = self.rng.randrange(100)
        if key not in self.known or dice < 30:
            o = self.h.invoke(self.pid, key, "read")
            st = SimpleStatement("SELECT v FROM lwtn.reg WHERE k = %s", consistency_level=CL.SERIAL)
            rows = self.execute(o, st, (key,))
            if rows is not None:
                row = rows.one()
                value = row.v if row else None
                self.h.ok(o, value=value)
                self.known[key] = value
            return
        self.seq += 1
        new = (self.pid + 1) * 1000000 + self.seq
        expect = self.known[key]
        if dice >= 90:  # a stale guess: some value a client may have written
            expect = self.rng.randrange(1, CLIENTS + 1) * 1000000 + self.rng.randrange(1, self.seq + 1)
        if expect is None or dice < 35:
            o = self.h.invoke(self.pid, key, "cas", frm=None, to=new)
            q, args = "INSERT INTO lwtn.reg (k, v) VALUES (%s, %s) IF NOT EXISTS", (key, new)
        elif dice < 45:
            o = self.h.invoke(self.pid, key, "cas", frm=expect, to=None)
            q, args = "DELETE FROM lwtn.reg WHERE k = %s IF v = %s", (key, expect)
            new = None
        else:
            o = self.h.invoke(self.pid, key, "cas", frm=expect, to=new)
            q, args = "UPDATE lwtn.reg SET v = %s WHERE k = %s IF v = %s", (new, key, expect)
        st = SimpleStatement(q, consistency_level=CL.QUORUM, serial_consistency_level=CL.SERIAL)
        rows = self.execute(o, st, args)
        if rows is None:
            return
        if rows.was_applied:
            self.h.ok(o, applied=True)
            self.known[key] = new
            self.applied += 1
            return
        row = rows.one()
        # not applied: the current value, or [applied] alone when no row
        value = row.v if "v" in rows.column_names else None
        self.h.ok(o, value=value, applied=False)
        self.known[key] = value

    def execute(self, o, st, args):
        """The rows, or None once the operation is recorded as failed or
        indeterminate."""
        try:
            return self.s.execute(st, args)
        except Exception as e:  # every outcome is recorded, none hidden
            name = type(e).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            if all_unavailable(e):
                self.h.fail(o)
            else:
                self.h.info(o)
            self.known.pop(o["key"], None)  # read it before writing it again
            # A node cut off from its peers answers at once: pause, so
            # that a fault does not turn into thousands of failed reads.
            time.sleep(0.1 if isinstance(e, (NoHostAvailable, OperationTimedOut)) else 0.05)
            return None

    def start_until(self, deadline):
        self.deadline = deadline
        self.start()

    def run(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            self.op()


class Nemesis(threading.Thread):
    """One fault at a time: SIGKILL and restart, SIGSTOP and SIGCONT, or a
    partition, each held for 1-3 s with a short pause between them."""

    def __init__(self, c, rng, stop, deadline):
        super().__init__(daemon=True)
        self.c, self.rng, self.stop, self.deadline = c, rng, stop, deadline
        self.done = {"kill": 0, "pause": 0, "partition": 0}
        self.error = None

    def fault(self, node, *args):
        r = subprocess.run([BIN, "fault", "--http", "%s:%d" % (node.ip, node.http_port)] +
                           list(args), capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, "sibyl fault %s: %s %s" % (args, r.stdout, r.stderr)

    def hold(self):
        self.stop.wait(self.rng.uniform(1.0, 3.0))

    def one(self, kind):
        nodes = self.c.nodes
        victim = self.rng.choice(nodes)
        if kind == "kill":
            victim.kill()
            self.hold()
            victim.start()
            victim.wait_ready(60)
        elif kind == "pause":
            victim.proc.send_signal(signal.SIGSTOP)
            try:
                self.hold()
            finally:
                victim.proc.send_signal(signal.SIGCONT)
        else:
            asker = next(n for n in nodes if n is not victim)
            self.fault(asker, "partition", victim.ip, "|")
            try:
                self.hold()
            finally:
                self.fault(asker, "heal", "--all")
        self.done[kind] += 1

    def run(self):
        kinds = ["kill", "pause", "partition"]
        try:
            for i in range(1000):
                if self.stop.is_set() or time.monotonic() >= self.deadline:
                    break
                # every kind early on, then at random
                self.one(kinds[i] if i < len(kinds) else self.rng.choice(kinds))
                self.stop.wait(self.rng.uniform(0.3, 1.5))
        except Exception as e:  # reported by the test
            self.error = e


def final_reads(c, h):
    """Every register read at SERIAL through every node, recorded too."""
    for n in c.nodes:
        cl, s = connect(c, [n.ip])
        try:
            for k in range(KEYS):
                key = "r%d" % k
                o = h.invoke(100 + n.i, key, "read")
                st = SimpleStatement("SELECT v FROM lwtn.reg WHERE k = %s",
                                     consistency_level=CL.SERIAL)
                for attempt in range(10):
                    try:
                        row = s.execute(st, (key,)).one()
                        h.ok(o, value=row.v if row else None)
                        break
                    except Exception:
                        if attempt == 9:
                            raise
                        h.info(o)
                        time.sleep(0.5)
                        o = h.invoke(100 + n.i, key, "read")
        finally:
            cl.shutdown()


def test_lwt_register_history_is_linearizable_under_nemesis(tmp_path):
    rng = random.Random(int(os.environ.get("SIBYL_LWT_NEMESIS_SEED", "0")) or None)
    with LocalCluster(tmp_path, 3, extra=FAST) as c:
        c.wait_normal()
        cl, s = connect(c, [n.ip for n in c.nodes])
        s.execute("CREATE KEYSPACE lwtn WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE lwtn.reg (k text PRIMARY KEY, v int)")
        assert cl.control_connection.wait_for_schema_agreement()
        h = History()
        stop = threading.Event()
        t0 = time.monotonic()
        clients = [Client(i, s, h, stop, random.Random(rng.random())) for i in range(CLIENTS)]
        for t in clients:
            t.start_until(t0 + NEMESIS_S + HEALED_S + 30)
        nemesis = Nemesis(c, random.Random(rng.random()), stop, t0 + NEMESIS_S)
        nemesis.start()
        try:
            nemesis.join(NEMESIS_S + 120)
            assert not nemesis.is_alive(), "the nemesis did not finish"
            assert nemesis.error is None, nemesis.error
            # healed (the nemesis undoes each fault before the next): the
            # clients must make progress again
            c.wait_normal()
            applied_before = sum(t.applied for t in clients)
            time.sleep(HEALED_S)
            applied_after = sum(t.applied for t in clients) - applied_before
        finally:
            stop.set()
            for t in clients:
                t.join(REQUEST_TIMEOUT_S + 10)
        assert not any(t.is_alive() for t in clients), "a client did not stop"
        final_reads(c, h)
        cl.shutdown()

    path = tmp_path / "lwt-nemesis-history.jsonl"
    n = h.write(path)
    r = check(path)
    errors = {}
    for t in clients:
        for k, v in t.errors.items():
            errors[k] = errors.get(k, 0) + v
    summary = "%d ops, faults %s, client errors %s, history %s (check it: %s lincheck %s)" % (
        n, nemesis.done, errors, path, BIN, path)
    print(summary)
    print(r.stdout)
    if r.returncode != 0:
        # pytest prunes old tmp directories: keep the evidence in build/
        keep = os.path.join(ROOT, "build", "lwt-nemesis-%d.jsonl" % int(time.time()))
        shutil.copyfile(str(path), keep)
        summary += "; kept as %s" % keep
    assert r.returncode == 0, "%s\n%s%s" % (summary, r.stdout, r.stderr)
    assert "result: linearizable" in r.stdout, r.stdout
    # not vacuous: faults happened, compare-and-sets applied, also after the heal
    assert all(v >= 1 for v in nemesis.done.values()), summary
    assert sum(t.applied for t in clients) >= 20, summary
    assert applied_after >= 1, summary
