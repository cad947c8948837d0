#!/usr/bin/python3
"""House rules that a machine can check (../STYLE.md, README "Layout").

1. No C file in src/ is longer than MAX_LINES.
2. The call graph between files has no cycle: from the built objects
   (src/*.o), which file uses a symbol which other file defines.
3. The delivery states are defined once: the letters of DeliveryState in
   src/worker.h are exactly those the CHECK on webhook.queue.status allows
   and those webhook._status names; the transition table in worker.h's
   header comment is the delivery_transitions array below it.
4. A capture trigger's name is spelled in one place: webhook._trigger_name.

Run from the repository root after a build; exits 1 and says why on a
breach.
"""
import collections
import glob
import os
import re
import subprocess
import sys

MAX_LINES = 800
failures = []


def fail(msg):
    failures.append(msg)


def check_lengths():
    for path in sorted(glob.glob("src/*.c") + glob.glob("src/*.h")):
        with open(path) as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            fail("%s has %d lines (at most %d)" % (path, n, MAX_LINES))


def check_call_graph():
    objs = sorted(glob.glob("src/*.o"))
    if not objs:
        fail("no src/*.o: build first (make)")
        return
    defined = {}
    used = collections.defaultdict(set)
    for obj in objs:
        out = subprocess.run(["nm", obj], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBRC":
                defined[parts[2]] = obj
            elif len(parts) == 2 and parts[0] == "U":
                used[obj].add(parts[1])
    graph = {o: set() for o in objs}
    why = {}
    for obj, syms in used.items():
        for sym in syms:
            to = defined.get(sym)
            if to and to != obj:
                graph[obj].add(to)
                why.setdefault((obj, to), sym)
    # depth-first search for a cycle
    state = {}
    stack = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                steps = ["%s -(%s)-> %s" % (a, why[(a, b)], b)
                         for a, b in zip(cycle, cycle[1:])]
                fail("call graph cycle: " + ", ".join(steps))
                return True
            if state.get(nxt) is None and visit(nxt):
                return True
        stack.pop()
        state[node] = 2
        return False

    for obj in objs:
        if state.get(obj) is None and visit(obj):
            break


def sql_script():
    scripts = sorted(glob.glob("webhook--*.sql"))
    full = [s for s in scripts if s.count("--") == 1]
    with open(full[-1]) as f:
        return f.read()


def check_states():
    with open("src/worker.h") as f:
        header = f.read()
    enum = re.search(r"typedef enum DeliveryState\s*\{(.*?)\}", header, re.S)
    letters = dict(re.findall(r"DELIVERY_(\w+)\s*=\s*'(\w)'", enum.group(1)))
    states = set(letters.values())
    sql = sql_script()
    check = re.search(r"status\s+\"char\"[^,]*CHECK \(status IN \(([^)]*)\)\)", sql)
    if not check:
        fail("webhook.queue.status has no CHECK (status IN (...))")
    elif set(re.findall(r"'(\w)'", check.group(1))) != states:
        fail("the CHECK on webhook.queue.status allows %s, worker.h has %s"
             % (sorted(re.findall(r"'(\w)'", check.group(1))), sorted(states)))
    named = re.search(r"FUNCTION webhook\._status\(.*?\$\$(.*?)\$\$", sql, re.S)
    if not named or set(re.findall(r"WHEN '(\w)'", named.group(1))) != states:
        fail("webhook._status does not name exactly the states of worker.h")

    # the comment's table: rows "from[, from] EVENT to"
    comment = header[:header.index("#ifndef")]
    rows = set()
    for m in re.finditer(r"^ \*\t ([a-z](?:, [a-z])*)\t+([A-Z_]+)\t+([a-z])\t", comment, re.M):
        for frm in m.group(1).split(", "):
            rows.add((frm, m.group(2), m.group(3)))
    name_of = {v: k for k, v in letters.items()}
    array = re.search(r"delivery_transitions\[\] = \{(.*?)\};", header, re.S).group(1)
    code = set()
    for frm, ev, to in re.findall(r"\{DELIVERY_(\w+), DELIVERY_(\w+), DELIVERY_(\w+)\}", array):
        code.add((letters[frm], ev, letters[to]))
    if not rows:
        fail("worker.h: no transition table found in the header comment")
    elif rows != code:
        fail("worker.h: the comment's transitions %s differ from delivery_transitions %s"
             % (sorted(rows - code), sorted(code - rows)))
    del name_of


def check_trigger_names():
    sql = sql_script()
    body = re.search(r"FUNCTION webhook\._trigger_name\(.*?\$\$(.*?)\$\$", sql, re.S)
    if not body:
        fail("no webhook._trigger_name in the SQL script")
        return
    rest = sql.replace(body.group(0), "")
    for spelled in ("'_row'", "'_truncate'"):
        if spelled in rest:
            fail("the SQL script spells a trigger name (%s) outside webhook._trigger_name"
                 % spelled)
    for path in glob.glob("src/*.c"):
        with open(path) as f:
            text = f.read()
        if "_row'" in text or "_truncate'" in text:
            fail("%s spells a trigger name; use webhook._trigger_name" % path)


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    check_lengths()
    check_call_graph()
    check_states()
    check_trigger_names()
    for msg in failures:
        print("house rule broken: " + msg)
    if not failures:
        print("house rules: files <= %d lines, no call cycle, one set of delivery "
              "states, one trigger name" % MAX_LINES)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
