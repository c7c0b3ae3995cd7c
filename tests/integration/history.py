"""Recording register histories for `sibyl lincheck` (docs/lincheck.md).

A nemesis test's client threads record each operation around the driver
call that performs it:

    h = History()
    op = h.invoke(process=3, key="k1", f="cas", frm=None, to=5)
    try:
        applied = session.execute(...).one().applied
    except (WriteTimeout, OperationTimedOut):
        h.info(op)            # may or may not have happened
    except Unavailable:
        h.fail(op)            # certainly did not happen
    else:
        h.ok(op, applied=applied)
    ...
    h.write(path)
    r = check(path)           # exit 0 linearizable, 1 not, 2 unknown or bad file

Times come from one monotonic clock in this process. An operation never
completed (its thread died, the test ended first) is written as "info".
"""
import json
import subprocess
import threading
import time

from conftest import BIN

_NOT_GIVEN = object()


class History:
    def __init__(self):
        self._lock = threading.Lock()
        self._ops = []

    def invoke(self, process, key, f, value=_NOT_GIVEN, frm=_NOT_GIVEN, to=_NOT_GIVEN):
        """Records the call of an operation; returns it for ok/fail/info.

        f is "read", "write" (value: what is written, None deletes) or
        "cas" (frm: the expected value, None for IF NOT EXISTS; to: the
        new value)."""
        op = {"process": process, "key": key, "f": f}
        if f == "write":
            op["value"] = value
        if f == "cas":
            op["from"] = frm
            op["to"] = to
        op["call"] = time.monotonic_ns()
        with self._lock:
            self._ops.append(op)
        return op

    def ok(self, op, value=_NOT_GIVEN, applied=None):
        """The answer came: value is what a read returned (None: no row),
        or for a cas that did not apply what the row held, if known."""
        op["return"] = time.monotonic_ns()
        if op["f"] == "cas":
            op["applied"] = bool(applied)
        if value is not _NOT_GIVEN and op["f"] != "write":
            op["value"] = value
        op["outcome"] = "ok"

    def fail(self, op):
        op["return"] = time.monotonic_ns()
        op["outcome"] = "fail"

    def info(self, op):
        op["outcome"] = "info"

    def write(self, path):
        with self._lock:
            ops = [dict(op) for op in self._ops]
        with open(path, "w") as f:
            for op in ops:
                op.setdefault("outcome", "info")
                f.write(json.dumps(op, separators=(",", ":")) + "\n")
        return len(ops)


def check(path, *args, timeout=120):
    """Runs `sibyl lincheck [args] path`; returns the CompletedProcess."""
    return subprocess.run([BIN, "lincheck"] + list(args) + [str(path)],
                          capture_output=True, text=True, timeout=timeout)
