#!/usr/bin/env python3
"""A seeded random run against a real etcd (CONTRACT §9 rule 8, issue 12):
three monitors (clusterfix.py) through FOD_STEPS (default 200) steps, each
one of: SIGKILL a monitor or start it again, SIGSTOP one or SIGCONT it, cut
one from etcd or reconnect it, the primary down or up for every monitor,
or for one only. Steps come every 0.08-0.2 s, so leases expire, leaders
change and failovers begin and are cut short in the middle. At the end
every fault is undone, the pair must settle on one leader with the primary
serving, and the checker (flycheck.py) runs over every Fly request: no two
monitors in overlapping terms, no second start in one failover, no request
from a monitor that did not lead.

The seed is printed; FOD_SEED=N runs the same sequence again.
"""

import os
import random
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from etcdfix import have_etcd  # noqa: E402
from clusterfix import Cluster  # noqa: E402


class RandomRunTest(unittest.TestCase):

    def setUp(self):
        if not os.path.exists(fodtest.FAILOVERD):
            self.skipTest("failoverd is not built")
        if not have_etcd():
            self.skipTest("etcd is not installed")

    def test_random_faults(self):
        seed = int(os.environ.get("FOD_SEED") or random.SystemRandom().randrange(1 << 30))
        steps = int(os.environ.get("FOD_STEPS") or 200)
        sys.stderr.write("test_cluster_random: seed %d (FOD_SEED=%d to run it again), %d "
                         "steps\n" % (seed, seed, steps))
        rnd = random.Random(seed)
        c = Cluster(ttl=2, extra={"RECONCILE_INTERVAL": "1s"})
        self.addCleanup(c.close)
        c.start_all()
        dead, frozen, cut, down = set(), set(), set(), set()
        trace = []
        for i in range(steps):
            n = rnd.choice(c.names)
            kind = rnd.choice(["kill", "start", "stop", "cont", "cut", "resume", "primary",
                               "path", "path"])
            if kind == "kill" and n not in dead and len(dead) < 2:
                c.kill(n)
                dead.add(n)
                frozen.discard(n)
            elif kind == "start" and n in dead:
                c.resume(n)
                cut.discard(n)
                c.ds[n].restart()
                dead.discard(n)
            elif kind == "stop" and n not in dead and n not in frozen:
                c.sigstop(n)
                frozen.add(n)
            elif kind == "cont" and n in frozen:
                c.sigcont(n)
                frozen.discard(n)
            elif kind == "cut" and n not in cut:
                c.cut(n)
                cut.add(n)
            elif kind == "resume" and n in cut:
                c.resume(n)
                cut.discard(n)
            elif kind == "primary":
                mode = rnd.choice(["up", "down"])
                c.primary_mode(mode)
                down = set(c.names) if mode == "down" else set()
            elif kind == "path":
                mode = "up" if n in down else "down"
                c.primary_mode(mode, [n])
                (down.discard if mode == "up" else down.add)(n)
            else:
                kind = "none"
            trace.append("%d %s %s" % (i, kind, n))
            time.sleep(rnd.uniform(0.08, 0.2))  # the pace of the faults, not a wait
        # Undo every fault; the pair must settle with the primary serving.
        for n in c.names:
            if n in frozen:
                c.sigcont(n)
            c.resume(n)
        c.primary_mode("up")
        for n in sorted(dead):
            c.ds[n].restart()
        try:
            c.wait_settled(timeout=30)
            wait_until(lambda: all(c.status(n)["state"] == "primary" for n in c.names), 30,
                       msg="the primary serving everywhere")
        except AssertionError as e:
            raise AssertionError("seed %d: %s\n%s\n%s" % (seed, e, "\n".join(trace[-40:]),
                                                         c.logs()))
        fails = c.check()
        self.assertEqual(fails, [], "seed %d:\n  %s\nlast steps:\n%s" % (
            seed, "\n  ".join(fails), "\n".join(trace[-40:])))
        sys.stderr.write("test_cluster_random: seed %d: %d Fly writes, %d leader terms, "
                         "%d SELF_FENCE_CMD runs, checker passed\n"
                         % (seed, len(c.writes()), len(c.watch.snapshot()), len(c.fences())))


if __name__ == "__main__":
    fodtest.main()
