"""`sibyl lincheck` on histories recorded by tests/integration/history.py.

Threads run compare-and-set clients against an in-process register: a
correct one (a lock around the value) must pass, one that serves reads from
a stale copy must fail with an explanation naming the key. This checks the
recorder, the file format and the command together, the way the LWT
nemesis tests use them.
"""
import random
import threading
import time

from history import History, check

THREADS = 8
OPS_PER_THREAD = 60


class Register:
    """A linearizable register per key; stale=True makes reads return a
    copy taken before the last write (a lost update a reader can see)."""

    def __init__(self, stale=False):
        self.lock = threading.Lock()
        self.values = {}
        self.previous = {}
        self.stale = stale

    def read(self, key):
        with self.lock:
            time.sleep(0.0002)
            return (self.previous if self.stale else self.values).get(key)

    def cas(self, key, frm, to):
        with self.lock:
            time.sleep(0.0002)
            if self.values.get(key) != frm:
                return False, self.values.get(key)
            self.previous[key] = self.values.get(key)
            self.values[key] = to
            return True, None


def run_clients(reg, h, seed):
    def client(p):
        rnd = random.Random(seed * 100 + p)
        for i in range(OPS_PER_THREAD):
            key = "k%d" % rnd.randrange(3)
            if rnd.random() < 0.5:
                op = h.invoke(p, key, "read")
                h.ok(op, value=reg.read(key))
            else:
                current = reg.read(key)
                new = p * 1000 + i  # unique values
                op = h.invoke(p, key, "cas", frm=current, to=new)
                if rnd.random() < 0.05:  # the client gives up, the server may not
                    reg.cas(key, current, new)
                    h.info(op)
                    continue
                applied, seen = reg.cas(key, current, new)
                h.ok(op, applied=applied, value=seen if not applied else None)

    threads = [threading.Thread(target=client, args=(p,)) for p in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)


def test_correct_register_passes(tmp_path):
    h = History()
    run_clients(Register(), h, seed=1)
    path = tmp_path / "history.jsonl"
    assert h.write(path) == THREADS * OPS_PER_THREAD
    r = check(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result: linearizable" in r.stdout
    assert "ops: %d (" % (THREADS * OPS_PER_THREAD) in r.stdout
    assert "keys: 3" in r.stdout


def test_stale_reads_fail_with_an_explanation(tmp_path):
    h = History()
    run_clients(Register(stale=True), h, seed=2)
    path = tmp_path / "history.jsonl"
    h.write(path)
    r = check(path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "result: NOT linearizable" in r.stdout
    assert "no legal order of its operations gets past the return of:" in r.stdout
    assert "read ->" in r.stdout or "cas(" in r.stdout


def test_bad_file_names_its_line(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"process":1,"key":"k","f":"read","value":null,"call":1,"return":2,'
                    '"outcome":"ok"}\n{"process":1,"key":"k","f":"read","call":3}\n')
    r = check(path)
    assert r.returncode == 2
    assert 'line 2: field "outcome": missing' in r.stderr
