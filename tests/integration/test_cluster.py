#!/usr/bin/env python3
"""Partition safety against a real etcd (CONTRACT §9 rule 8, issue 12):
three monitors (clusterfix.py) under monitor SIGKILL, SIGSTOP/SIGCONT of
the leader, a primary unreachable from one monitor only, the primary's host
cut off from etcd, and etcd member kills. After every test the checker
(flycheck.py) runs over the fake Fly API's request log and the leader
terms seen in etcd: no two monitors' Fly requests in overlapping terms, no
second start in one failover, no request from a monitor that did not lead.
Every wait has a deadline.
"""

import os
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from etcdfix import have_etcd  # noqa: E402
from clusterfix import Cluster  # noqa: E402


class ClusterCase(unittest.TestCase):
    cluster_kw = {}

    def setUp(self):
        if not os.path.exists(fodtest.FAILOVERD):
            self.skipTest("failoverd is not built")
        if not have_etcd():
            self.skipTest("etcd is not installed")
        self.c = None

    def up(self, first=None, **kw):
        kw = dict(self.cluster_kw, **kw)
        self.c = Cluster(**kw)
        self.addCleanup(self.c.close)
        self.addCleanup(self.checked)
        return self.c.start_all(first)

    def checked(self):
        """The checker, after every test (cleanups run last-in first-out:
        before the cluster is closed)."""
        if self.c is None:
            return
        fails = self.c.check()
        if fails:
            self.fail("flycheck:\n  " + "\n  ".join(fails) + "\n" + self.c.logs())

    def wait_state(self, n, state, timeout=15.0):
        try:
            wait_until(lambda: self.c.status(n)["state"] == state, timeout, interval=0.05,
                       msg="%s in %s" % (n, state))
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.c.logs()))


class HandOverTest(ClusterCase):

    def test_sigkill_leader_mid_failover(self):
        """The leader dies while its activation runs its fence: a new leader
        within ELECTION_TTL + 2 s finishes the failover, one start."""
        slow = os.path.join(tempfile.gettempdir(), "fodcluster-slow-%d" % os.getpid())
        open(slow, "w").close()
        self.addCleanup(lambda: os.path.exists(slow) and os.unlink(slow))
        c = self.up(extra={"FENCE_CMD": "if [ -e %s ]; then sleep 10; fi" % slow})
        lead = c.leader()
        c.primary_mode("down")
        wait_until(lambda: c.status(lead)["state"] == "failing-over", 10, msg="failing-over")
        t_kill = time.time()
        c.kill(lead)
        os.unlink(slow)
        others = [n for n in c.names if n != lead]
        new = c.wait_leader(timeout=c.ttl + 2, among=others)
        c.watch.caught_up(time.time())
        terms = [t for t in c.watch.snapshot() if t[0] == new and t[2] >= t_kill - 0.1]
        self.assertTrue(terms, c.watch.snapshot())
        self.assertLessEqual(terms[0][2] - t_kill, c.ttl + 2.0)
        for n in others:
            self.wait_state(n, "standby")
        self.assertEqual(c.starts(), 1)
        self.assertEqual([r for r in c.writes(lead)], [])

    def test_sigkill_leader_then_failover(self):
        c = self.up()
        lead = c.leader()
        t_kill = time.time()
        c.kill(lead)
        new = c.wait_leader(timeout=c.ttl + 2, not_=lead)
        self.assertLess(time.time() - t_kill, c.ttl + 2.0)
        c.primary_mode("down")
        self.wait_state(new, "standby")
        c.primary_mode("up")
        self.wait_state(new, "primary")
        self.assertEqual(c.starts(), 1)

    def test_sigstop_leader_resumes_without_acting(self):
        c = self.up()
        old = c.leader()
        c.sigstop(old)
        others = [n for n in c.names if n != old]
        new = c.wait_leader(timeout=c.ttl + 3, among=others)
        c.primary_mode("down", others)  # the primary fails; the frozen one sees nothing
        self.wait_state(new, "standby")
        starts = c.starts()
        t_cont = time.time()
        c.sigcont(old)
        wait_until(lambda: c.role(old) in ("follower", "none"), 5, msg="the old leader steps down")
        log = c.ds[old].log_text()
        self.assertIn("cannot prove the etcd lease", log)
        wait_until(lambda: c.role(old) == "follower", 10, msg="it follows again")
        self.assertEqual([r for r in c.writes(old) if r["time"] >= t_cont], [])
        self.assertEqual(c.starts(), starts)
        self.assertEqual(c.leader(), new)


class AgreementTest(ClusterCase):

    def test_one_monitor_cut_from_the_primary(self):
        c = self.up()
        lead = c.leader()
        lone = [n for n in c.names if n != lead][0]
        ev = c.ds[lead].events(types=["quorum"])
        self.addCleanup(ev.close)
        c.primary_mode("down", [lone])
        e = ev.wait_for(lambda e: e["type"] == "quorum", 10)
        self.assertIn("failover held back", e["detail"])
        holders = sorted(n for n in c.names if n != lone)
        for n in holders:
            self.assertIn(n, e["detail"])
        co = c.status(lead)["coordination"]
        self.assertEqual(sorted(co["held_by"]), holders)
        _, out, _ = c.ds[lead].ctl("status", check=0)
        self.assertIn("held back by %s" % ", ".join(co["held_by"]), out)
        _, out, _ = c.ds[lead].ctl("events", "-n", "5", "--no-follow", "-T", "quorum", check=0)
        self.assertIn("quorum failover held back: ", out)
        # Long past the threshold, still no failover, and the event is not
        # repeated per check.
        wait_until(lambda: c.status(lead)["coordination"]["monitors"] and any(
            v["node"] == lone and v["failures"] >= 10
            for v in c.status(lead)["coordination"]["monitors"]), 10, msg="10 failures")
        for n in c.names:
            self.assertEqual(c.status(n)["state"], "primary")
        self.assertEqual(c.writes(), [])
        try:
            while ev.next(0.3) is not None:  # what has come meanwhile
                pass
        except TimeoutError:
            pass
        self.assertEqual(len([x for x in ev.seen if x["type"] == "quorum"]), 1, ev.seen)
        # Healed: nothing happens. All see it down: one failover.
        c.primary_mode("up", [lone])
        c.primary_mode("down")
        self.wait_state(lead, "standby")
        self.assertEqual(c.starts(), 1)


class SelfFenceTest(ClusterCase):

    def test_primary_host_cut_off(self):
        """The primary's host (its monitor m1 leads, with SELF_FENCE_CMD)
        loses its network: it fences itself before its lease expires; the
        others fail over after that, never before."""
        c = self.up(first="m1",
                    per_node={"m2": {"SELF_FENCE_CMD": None}, "m3": {"SELF_FENCE_CMD": None}})
        t_cut = time.time()
        c.cut("m1")
        c.primary_mode("down", ["m2", "m3"])
        wait_until(lambda: c.fences(), c.ttl, msg="SELF_FENCE_CMD")
        node, t_fence = c.fences()[0]
        self.assertEqual(node, "m1")
        self.assertLessEqual(t_fence - t_cut, c.ttl * 2 / 3 + 0.3)
        wait_until(lambda: c.starts() >= 1, 15, msg="the failover")
        first = min(r["time"] for r in c.writes())
        self.assertLess(t_fence, first)
        # The lease expires at least TTL/3 after the fence began.
        self.assertGreaterEqual(first - t_fence, c.ttl / 3 - 0.2)
        self.assertEqual(c.writes("m1"), [])
        self.assertEqual(c.starts(), 1)
        self.assertEqual([n for n, _ in c.fences()], ["m1"])


class EtcdMemberTest(ClusterCase):
    # etcd's own election after a member dies takes about a second: the
    # monitors' belief window (TTL x 2/3) must ride it out.
    cluster_kw = {"n_etcd": 3, "ttl": 4,
                  "etcd_args": ["--heartbeat-interval", "50", "--election-timeout", "500"]}

    def test_member_kills(self):
        c = self.up(per_node={"m2": {"SELF_FENCE_CMD": None}, "m3": {"SELF_FENCE_CMD": None}})
        lead = c.leader()
        terms = c.watch.snapshot()
        # One of three: nothing changes, for a whole TTL and more.
        c.etcd.members[0].kill()
        t0 = time.time()
        wait_until(lambda: time.time() - t0 > c.ttl + 1 and c.leader() == lead, c.ttl + 5,
                   msg="the same leader after a TTL")
        self.assertEqual(c.watch.snapshot(), terms)  # no new term, none ended
        self.assertEqual(c.fences(), [], c.logs())
        for n in c.names:
            self.assertEqual(c.status(n)["coordination"]["leader"], lead)
        # Two of three: no quorum. Nobody acts; SELF_FENCE_CMD by rule 4 only.
        t_loss = time.time()
        c.etcd.members[1].kill()
        c.primary_mode("down")
        wait_until(lambda: all(c.role(n) == "none" for n in c.names), c.ttl + 2,
                   msg="nobody leads")
        wait_until(lambda: c.fences(), c.ttl, msg="m1's SELF_FENCE_CMD")
        self.assertEqual([n for n, _ in c.fences()], ["m1"])
        # Rule 4 counts from the last renewal that came back. A member that
        # led etcd's raft renews leases alone until it sees it lost its
        # quorum (about an election timeout, 1 s, or two), so that renewal
        # may come after the second kill.
        self.assertLessEqual(c.fences()[0][1] - t_loss, c.ttl * 2 / 3 + 2.5)
        wait_until(lambda: all(c.status(n)["local"]["consecutive_failures"] >= 5
                               for n in c.names), 5, msg="checks go on")
        self.assertEqual(c.writes(), [])
        for n in c.names:
            self.assertFalse(c.status(n)["coordination"]["ok"])
        # etcd returns: a leader again, and the failover the views agree on.
        c.etcd.members[0].start()
        c.etcd.members[1].start()
        c.wait_leader(timeout=20)
        wait_until(lambda: all(c.status(n)["state"] == "standby" for n in c.names), 20,
                   msg="the failover after etcd returned")
        self.assertEqual(c.starts(), 1)
        self.assertEqual(len(c.fences()), 1)


if __name__ == "__main__":
    fodtest.main()
