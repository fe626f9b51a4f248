#!/usr/bin/env python3
"""The source tree keeps the shape issue 11 gave it (item 8):

- no daemon/*.c over MAX_LINES lines;
- every daemon/*.c starts with a comment (what the file owns);
- no include cycle among daemon/ modules (x.c, x.h and x_int.h are module
  x; an edge is a file of one module including a daemon/ header of another);
- nothing in common/ includes a header of daemon/ or client/.

Each test lists every violation, not just the first. Run by hand with
--report for the figures of a closing note: lines per daemon file, the
include graph, and the longest functions in daemon/*.c."""

import glob
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402

SRC = fodtest.SRCDIR
MAX_LINES = 1000
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def files(d, *exts):
    out = []
    for ext in exts:
        out += glob.glob(os.path.join(SRC, d, "*." + ext))
    return sorted(out)


def line_count(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return sum(1 for _ in f)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def module(name):
    """daemon/x.c, x.h and x_int.h -> "x"."""
    base = os.path.splitext(os.path.basename(name))[0]
    return base[:-4] if base.endswith("_int") else base


def include_graph():
    """{file name: [daemon headers it includes]} for daemon/*.c and *.h."""
    headers = {os.path.basename(h) for h in files("daemon", "h")}
    graph = {}
    for path in files("daemon", "c", "h"):
        inc = [h for h in INCLUDE.findall(read(path)) if h in headers]
        graph[os.path.basename(path)] = inc
    return graph


def module_graph(graph):
    edges = {}
    for f, incs in graph.items():
        m = module(f)
        edges.setdefault(m, set())
        for h in incs:
            if module(h) != m:
                edges[m].add(module(h))
                edges.setdefault(module(h), set())
    return edges


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan), each
    with one cycle through it, as lists of module names."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    result = []
    for comp in out:
        result.append((comp, shortest_cycle(edges, comp)))
    return result


def shortest_cycle(edges, comp):
    """A shortest cycle from comp[0] back to itself, inside comp."""
    start, inside = comp[0], set(comp)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v]):
            if w not in inside:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def functions(path):
    """(length in lines, name, first line) of each function definition: the
    name at the start of a line, its body from a "{" alone on a line to the
    next "}" alone on a line (the repo's clang-format style)."""
    lines = read(path).split("\n")
    out = []
    name = None
    start = 0
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z_]\w*)\(", line)
        if m and not line.rstrip().endswith(";"):
            name, start = m.group(1), i
        elif line == "{" and name is not None:
            for j in range(i + 1, len(lines)):
                if lines[j] == "}":
                    out.append((j - start + 1, name, start + 1))
                    break
            name = None
        elif line.endswith(";") and not line.startswith((" ", "\t")):
            name = None
    return out


def too_long():
    return ["%s: %d lines (limit %d)" % (os.path.relpath(p, SRC), n, MAX_LINES)
            for p in files("daemon", "c") for n in [line_count(p)] if n > MAX_LINES]


def no_head_comment():
    return ["%s: does not start with a /* comment saying what it owns"
            % os.path.relpath(p, SRC)
            for p in files("daemon", "c") if not read(p).startswith("/*")]


def include_cycles():
    """One message per cycle: a shortest cycle, then every include inside
    the cycle's modules (the edges one could cut)."""
    graph = include_graph()
    edges = module_graph(graph)
    out = []

    def via(a, b):
        return sorted("%s includes %s" % (f, h) for f, incs in graph.items()
                      if module(f) == a for h in incs if module(h) == b)

    for comp, cyc in cycles(edges):
        inside = ["    %s -> %s: %s" % (a, b, ", ".join(via(a, b)))
                  for a in comp for b in sorted(edges[a]) if b in comp]
        out.append("include cycle among %s (e.g. %s); the includes inside it:\n%s"
                   % (", ".join(comp), " -> ".join(cyc), "\n".join(inside)))
    return out


def common_includes():
    theirs = {os.path.basename(h) for d in ("daemon", "client") for h in files(d, "h")}
    ours = {os.path.basename(h) for h in files("common", "h")}
    out = []
    for p in files("common", "c", "h"):
        for h in INCLUDE.findall(read(p)):
            if h in theirs and h not in ours:
                out.append("%s includes %s, a header of daemon/ or client/"
                           % (os.path.relpath(p, SRC), h))
    return out


class LayoutTest(unittest.TestCase):

    def setUp(self):
        self.assertGreater(len(files("daemon", "c")), 10, "no daemon sources under " + SRC)

    def check(self, found):
        if found:
            self.fail("%d violation(s):\n%s" % (len(found), "\n".join(found)))

    def test_daemon_files_not_too_long(self):
        self.check(too_long())

    def test_daemon_files_say_what_they_own(self):
        self.check(no_head_comment())

    def test_no_include_cycle(self):
        self.check(include_cycles())

    def test_common_includes_nothing_of_daemon_or_client(self):
        self.check(common_includes())

    def test_checks_can_fail(self):
        """The scanners find what they look for (on made-up input)."""
        self.assertEqual(module("engine_int.h"), "engine")
        self.assertEqual(module("sync_pull.c"), "sync_pull")
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
        self.assertEqual(cycles(edges), [(["a", "b", "c"], ["a", "b", "c", "a"])])
        self.assertEqual(cycles({"a": {"b"}, "b": set()}), [])
        fs = [f for f in functions(os.path.join(SRC, "common", "util.c"))
              if f[1] == "util_clean"]
        self.assertEqual(len(fs), 1)
        self.assertGreater(fs[0][0], 20)


def report():
    print("Lines per daemon file")
    total = 0
    for p in files("daemon", "c", "h"):
        n = line_count(p)
        total += n
        mark = "  (over %d)" % MAX_LINES if p.endswith(".c") and n > MAX_LINES else ""
        print("  %6d  %s%s" % (n, os.path.relpath(p, SRC), mark))
    print("  %6d  total" % total)
    print()
    print("Include graph (daemon headers each daemon file includes)")
    graph = include_graph()
    for f in sorted(graph):
        print("  %-20s %s" % (f, " ".join(graph[f]) if graph[f] else "-"))
    print()
    print("Module graph (x.c, x.h, x_int.h = x)")
    edges = module_graph(graph)
    for m in sorted(edges):
        print("  %-20s -> %s" % (m, " ".join(sorted(edges[m])) if edges[m] else "-"))
    print()
    print("Ten longest functions in daemon/*.c")
    fns = []
    for p in files("daemon", "c"):
        fns += [(n, name, "%s:%d" % (os.path.relpath(p, SRC), line))
                for n, name, line in functions(p)]
    for n, name, where in sorted(fns, key=lambda x: (-x[0], x[2]))[:10]:
        print("  %5d  %-32s %s" % (n, name, where))
    print()
    found = too_long() + no_head_comment() + include_cycles() + common_includes()
    print("Violations: %s" % ("none" if not found else len(found)))
    for v in found:
        print("  " + v)
    return 1 if found else 0


if __name__ == "__main__":
    if "--report" in sys.argv[1:]:
        sys.exit(report())
    fodtest.main()
