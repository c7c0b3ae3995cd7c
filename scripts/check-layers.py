#!/usr/bin/env python3
"""Checks that includes between folders of src/ run one way only.

Each folder has a layer; a file may include headers of its own folder and
of folders on lower layers, never of its own layer's other folders or of
higher ones. Prints every include that breaks the order and exits 1 if
there is one. The order is the README's "Layout" table.
"""
import os
import re
import sys

LAYERS = [
    ["util"],
    ["storage"],
    ["cql", "ingest", "net"],
    ["cluster"],
    ["consensus", "stream"],
    ["coord"],
    ["cqlproto"],
    ["metrics"],
    ["http"],
    ["node"],
    ["cli", "sim", "dsim"],
    ["demo"],
    ["main"],
]
RANK = {f: i for i, fs in enumerate(LAYERS) for f in fs}
INCLUDE = re.compile(r'\s*#\s*include\s+"([^"]+)"')


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    bad = []
    for dirpath, _, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        folder = "main" if rel == "." else rel.split(os.sep)[0]
        if folder not in RANK:
            bad.append(f"src/{rel}: folder has no layer in scripts/check-layers.py")
            continue
        for name in sorted(files):
            if not name.endswith((".c", ".h", ".y", ".re")):
                continue
            path = os.path.join(dirpath, name)
            with open(path, errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m or "/" not in m.group(1):
                        continue
                    target = m.group(1).split("/")[0]
                    if target == folder or target not in RANK:
                        continue
                    if RANK[target] >= RANK[folder]:
                        bad.append(f"src/{os.path.relpath(path, root)}:{lineno}: {folder}/ "
                                   f"(layer {RANK[folder]}) includes {m.group(1)} "
                                   f"(layer {RANK[target]})")
    for b in bad:
        print(b)
    print(f"layers: {len(bad)} include(s) against the order" if bad else "layers: ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
