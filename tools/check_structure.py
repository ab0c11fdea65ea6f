#!/usr/bin/env python3
"""tools/check_structure.py -- the structure rules of src/, checked.

  1. Folders are layers.  A file may include headers of its own folder and of
     folders below it in LAYERS, never of a folder above (lower layers never
     call up).  src/mlops.c, the module entry point, sits on top.
  2. No cycle between files of one folder: the graph "a.c uses b.h" (a file's
     header standing for the file) has no cycle.
  3. No function is longer than MAX_LINES lines, from its name to its
     closing brace.
  4. Calls, read from the built objects with nm (run `make` first): no cycle
     between files (a.o calls b.o calls a.o), and no call from a folder to
     one above it.

Run by `make check-structure`; prints each breach and exits 1 if there is one.
"""
import os
import re
import subprocess
import sys

LAYERS = ["core", "model", "algorithms", "registry", "snapshot", "train",
          "drift", "scoring", "jobs"]
MAX_LINES = 150

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
problems = []


def project_includes(path):
    with open(path) as f:
        return re.findall(r'^#include "([a-z_]+/[a-z_]+\.h)"', f.read(), re.M)


def folder_of(rel):
    return rel.split("/")[0] if "/" in rel else None


files = []
for root, _, names in os.walk(SRC):
    for n in sorted(names):
        if n.endswith((".c", ".h")):
            files.append(os.path.relpath(os.path.join(root, n), SRC))

# 1. layering
for rel in files:
    mine = folder_of(rel)
    for inc in project_includes(os.path.join(SRC, rel)):
        theirs = folder_of(inc)
        if theirs not in LAYERS:
            continue                    # a PostgreSQL header such as lib/...
        if mine is None:
            continue                    # mlops.c may use everything
        if mine not in LAYERS:
            problems.append(f"{rel}: folder {mine} is not in LAYERS")
            continue
        if LAYERS.index(theirs) > LAYERS.index(mine):
            problems.append(f"{rel} includes {inc}: {mine} is below {theirs}")

# 2. cycles between the files of one folder (module = file name less suffix)
edges = {}
for rel in files:
    mod = os.path.splitext(rel)[0]
    for inc in project_includes(os.path.join(SRC, rel)):
        target = os.path.splitext(inc)[0]
        if target != mod and folder_of(inc) == folder_of(rel) and \
                os.path.exists(os.path.join(SRC, target + ".c")):
            edges.setdefault(mod, set()).add(target)

state = {}


def visit(node, stack):
    state[node] = 1
    for nxt in sorted(edges.get(node, ())):
        if state.get(nxt) == 1:
            cyc = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
            problems.append("include cycle: " + " -> ".join(cyc))
        elif nxt not in state:
            visit(nxt, stack + [nxt])
    state[node] = 2


for node in sorted(edges):
    if node not in state:
        visit(node, [node])

# 3. function length: a definition starts at a line "name(" in column 0
#    and ends at the next "}" in column 0
for rel in files:
    if not rel.endswith(".c"):
        continue
    with open(os.path.join(SRC, rel)) as f:
        lines = f.read().split("\n")
    start = name = None
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\(", line)
        if m and start is None:
            start, name = i, m.group(1)
        elif line.startswith("}") and start is not None:
            length = i - start + 1
            if length > MAX_LINES:
                problems.append(f"{rel}: {name} is {length} lines (at most {MAX_LINES})")
            start = None

# 4. the call graph, from the objects' defined and undefined symbols
def nm(obj, flags):
    out = subprocess.run(["nm", flags, obj], capture_output=True, text=True).stdout
    return [l.split()[-1] for l in out.splitlines() if l.strip()]


objs = [os.path.splitext(r)[0] for r in files if r.endswith(".c")]
if all(os.path.exists(os.path.join(SRC, o + ".o")) for o in objs):
    owner = {}
    for o in objs:
        for sym in nm(os.path.join(SRC, o + ".o"), "--defined-only"):
            owner[sym] = o
    calls = {}
    for o in objs:
        for sym in nm(os.path.join(SRC, o + ".o"), "--undefined-only"):
            if sym in owner and owner[sym] != o:
                calls.setdefault(o, set()).add(owner[sym])
                a, b = folder_of(o), folder_of(owner[sym])
                if a in LAYERS and b in LAYERS and LAYERS.index(b) > LAYERS.index(a):
                    problems.append(f"{o}.c calls {sym} of {owner[sym]}.c: {a} is below {b}")
    edges = calls
    state = {}
    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
else:
    print("check_structure: objects not built, call graph not checked (run make)")

for p in problems:
    print(p)
print(f"check_structure: {len(files)} files, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
