#!/usr/bin/env python3
"""bench_coord.py: several monitors on etcd (CONTRACT §9, issue 12).

    python3 tests/bench/bench_coord.py [--runs N] [--ttl S]

Two figures, median over N runs (default 20) at ELECTION_TTL 2 s, against a
real etcd (one member, loopback), three monitors (m1..m3) and the fake Fly
API and primary of the integration tests:

1. hand-over: the primary goes down; while the leader runs its
   activation's FENCE_CMD (a 5 s sleep while the bench's marker file
   exists; the marker is gone for the new leader), it is killed with
   SIGKILL. Measured: from the kill to the new leader's first Fly request
   (its listing, as at start-up) and to its start request. Bound by rule 8:
   a new leader within ELECTION_TTL + 2 s.
2. self-fence: the leader (each monitor reaches etcd through its own
   proxies and has a SELF_FENCE_CMD; tests/integration/clusterfix.py) is
   cut off from etcd: its proxies stop forwarding.
   Measured: from the cut to SELF_FENCE_CMD (its own timestamp). Rule 4:
   no later than ELECTION_TTL x 2/3 after the last successful renewal, so
   between TTL/3 and 2 TTL/3 after the cut with renewals every TTL/3.

Times are time.time() on both sides (the fake's record of a request, the
hook's `date`). Figures, not pass/fail; not part of make check.
"""
import argparse
import os
import signal
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration", "fakes"))

from fodtest import wait_until  # noqa: E402
from clusterfix import Cluster  # noqa: E402


def log(msg):
    sys.stderr.write("bench_coord: %s\n" % msg)
    sys.stderr.flush()


def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


class Pair(Cluster):
    """clusterfix's three monitors, with the bench's slow fence (while its
    marker exists) and followers that make no Fly request of their own."""

    def __init__(self, ttl):
        self.slow = os.path.join(tempfile.gettempdir(), "bench-coord-slow-%d" % os.getpid())
        super().__init__(ttl=ttl, prefix="bench-coord.", extra={
            "CHECK_INTERVAL": "300ms",
            "RECONCILE_INTERVAL": "1h",  # followers make no Fly request
            "FENCE_CMD": "if [ -e %s ]; then sleep 5; fi" % self.slow,
        })

    def settle(self):
        """Three monitors, one leads, the pair is primary."""
        for n in self.names:
            self.resume(n)
            if n in self.ds and not self.ds[n].running():
                self.ds.pop(n).cleanup()
            if n not in self.ds:
                self.start(n)
        self.wait_settled(timeout=20)
        for d in self.ds.values():
            wait_until(lambda: d.status()["state"] == "primary", 30, msg="primary")
        self.fly.clear_requests()
        return self.leader()


def handover(p, runs):
    first, start = [], []
    for i in range(runs):
        p.primary_mode("up")
        lead = p.settle()
        d = p.ds[lead]
        open(p.slow, "w").close()
        p.primary_mode("down")
        wait_until(lambda: d.status()["state"] == "failing-over", 10, msg="failing-over")
        t_kill = time.time()
        d.kill9()
        os.unlink(p.slow)
        wait_until(lambda: p.fly.starts(p.mid) >= 1, 20, msg="the new leader's start")
        reqs = [r for r in p.fly.requests() if r["time"] >= t_kill]
        first.append(reqs[0]["time"] - t_kill)
        start.append([r for r in reqs if r["path"].endswith("/start")][0]["time"] - t_kill)
        log("hand-over %d/%d: first request %.3fs, start %.3fs" % (i + 1, runs, first[-1],
                                                                  start[-1]))
        p.primary_mode("up")
        for n, x in p.ds.items():
            if x.running():
                wait_until(lambda: x.status()["state"] == "primary", 30, msg="failback")
    return first, start


def self_fence(p, runs):
    out = []
    for i in range(runs):
        p.primary_mode("up")
        lead = p.settle()
        n0 = len(p.fences())
        t_cut = time.time()
        p.cut(lead)
        wait_until(lambda: len(p.fences()) > n0, 10, msg="SELF_FENCE_CMD")
        node, t = p.fences()[n0]
        out.append(t - t_cut)
        log("self-fence %d/%d: %s %.3fs" % (i + 1, runs, node, out[-1]))
        p.resume(lead)
        wait_until(lambda: p.role(lead) in ("leader", "follower"), 15, msg="back")
    return out


def row(name, v, bound):
    return "| %s | %d | %.3f | %.3f | %.3f | %.3f | %s |" % (
        name, len(v), statistics.median(v), min(v), pct(v, 0.9), max(v), bound)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--ttl", type=int, default=2)
    a = ap.parse_args()
    p = Pair(a.ttl)
    try:
        first, start = handover(p, a.runs)
        fence = self_fence(p, a.runs)
    finally:
        p.close()
        if os.path.exists(p.slow):
            os.unlink(p.slow)
    print("ELECTION_TTL %d s, %d runs each, one etcd member on loopback, three monitors"
          % (a.ttl, a.runs))
    print()
    print("| figure | runs | median s | min s | p90 s | max s | bound |")
    print("|---|---|---|---|---|---|---|")
    print(row("leader SIGKILL during a failover -> new leader's first Fly request", first,
              "rule 8: TTL + 2 s = %d s" % (a.ttl + 2)))
    print(row("leader SIGKILL during a failover -> new leader's start request", start,
              "(listing, then start)"))
    print(row("primary host's monitor cut off from etcd -> SELF_FENCE_CMD", fence,
              "rule 4: %.2f-%.2f s" % (a.ttl / 3.0, a.ttl * 2 / 3.0)))


if __name__ == "__main__":
    main()
