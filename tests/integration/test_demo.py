#!/usr/bin/env python3
"""The README's first quick-start command runs contrib/demo.py: this runs it
as a user would (from the built tree) and checks that it shows the whole
main job live, exits 0 within a minute and leaves no process behind."""

import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402

DEMO = os.path.join(fodtest.SRCDIR, "contrib", "demo.py")


def demo_processes(marker=b"failoverd-demo."):
    """pids of anything still running from a demo's temp dir."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


class DemoTest(unittest.TestCase):

    def test_demo_shows_the_main_job(self):
        if not os.path.exists(fodtest.FAILOVERD):
            self.skipTest("failoverd is not built")
        env = dict(os.environ, FOD_BUILDDIR=fodtest.BUILDDIR)
        t0 = time.monotonic()
        cp = subprocess.run([sys.executable, DEMO], capture_output=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=90)
        took = time.monotonic() - t0
        out = cp.stdout.decode("utf-8", "replace")
        err = cp.stderr.decode("utf-8", "replace")
        self.assertEqual(cp.returncode, 0, out + err)
        self.assertLess(took, 60, "the demo must end within a minute")
        # A fake server never prints a traceback (audit #16).
        self.assertNotIn("Traceback", out + err)
        # The live event stream, in this order.
        want = [r"check unhealthy .*failures=1",
                r"state primary -> failing-over",
                r"sync push ok",
                r"standby activate done: standby healthy at FLY_HEALTH_URL",
                r"state failing-over -> standby",
                r"check healthy HTTP 200",
                r"state standby -> failing-back",
                r"sync pull ok .*marker_seen=true.*applied=true",
                r"state failing-back -> primary"]
        pos = 0
        for w in want:
            m = re.compile(w).search(out, pos)
            self.assertIsNotNone(m, "%r not found after position %d in:\n%s" % (w, pos, out))
            pos = m.end()
        # The standby's state came back; what it replaced was kept.
        self.assertIn('STATE_DIR/positions.json: {"BTC": 0.5, "ETH": 3}', out)
        self.assertRegex(out, r"replaced file kept in backups/\d{8}T\d{6}\.\d{3}Z/positions.json")
        # Then failoverctl status, and a clean stop.
        self.assertRegex(out, r"state +primary for ")
        self.assertRegex(out, r"sync +last push .* ok")
        self.assertIn("failoverd exited with 0; Fly start requests: 1, stop requests: 1", out)
        self.assertEqual(demo_processes(), [], "the demo left processes behind")


DEMO_CLUSTER = os.path.join(fodtest.SRCDIR, "contrib", "demo_cluster.py")


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


class DemoClusterTest(unittest.TestCase):
    """contrib/setup.sh demo-cluster: three etcd members, three monitors; the
    election, the leader killed and replaced, the primary's host cut off
    (self-fence) and exactly one failover; exit 0, nothing left running."""

    def test_demo_cluster_shows_several_monitors(self):
        if not os.path.exists(fodtest.FAILOVERD):
            self.skipTest("failoverd is not built")
        sys.path.insert(0, HERE)
        from etcdfix import have_etcd
        if not have_etcd():
            self.skipTest("etcd is not installed")
        env = dict(os.environ, FOD_BUILDDIR=fodtest.BUILDDIR)
        t0 = time.monotonic()
        cp = subprocess.run([sys.executable, DEMO_CLUSTER], capture_output=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=120)
        took = time.monotonic() - t0
        out = cp.stdout.decode("utf-8", "replace")
        err = cp.stderr.decode("utf-8", "replace")
        self.assertEqual(cp.returncode, 0, out + err)
        self.assertLess(took, 90, "the demo must end within 90 s")
        self.assertNotIn("Traceback", out + err)
        # The narration, in this order.
        want = [r"pair +this monitor third-host is follower; leader second-host \(epoch \d+\)",
                r"monitor primary-host: healthy.*STATE_DIR",
                r"new leader: (primary-host|third-host), \d+\.\d s after the kill",
                r"\[primary-host\] \S+ isolated cannot prove the etcd lease",
                r"\[primary-host\] \S+ hook self-fence ok",
                r"SELF_FENCE_CMD ran \d+\.\d s after the cut",
                r"\[third-host\] \S+ state primary -> failing-over",
                r"\[third-host\] \S+ state failing-over -> standby",
                r"Fly start requests for machine \w+: 1; machine is started",
                r"pair +this monitor third-host is leader; leader third-host",
                r"Fly starts of the standby machine: 1"]
        pos = 0
        for w in want:
            m = re.compile(w).search(out, pos)
            self.assertIsNotNone(m, "%r not found after position %d in:\n%s" % (w, pos, out))
            pos = m.end()
        # No failover before the self-fence: the only state change on any
        # monitor is third-host's, after it.
        self.assertEqual(len(re.findall(r"state primary -> failing-over", out)), 1, out)
        # Nothing left running: the monitors and the primary (their paths are
        # in the demo's temp dir) and the etcd members (their pids printed).
        pids = [int(p) for p in re.search(r"\(pids ([\d ]+)\)", out).group(1).split()]
        self.assertEqual([p for p in pids if pid_alive(p)], [], "etcd left running")
        self.assertEqual([p for p in demo_processes(b"failoverd-demo-cluster.")
                          if pid_alive(p)], [], "the demo left processes behind")


if __name__ == "__main__":
    fodtest.main()
