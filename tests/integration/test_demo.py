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


def demo_processes():
    """pids of anything still running from a demo's temp dir."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if b"failoverd-demo." in f.read():
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


class DemoClusterTest(unittest.TestCase):

    def test_demo_cluster(self):
        if not os.path.exists(fodtest.FAILOVERD):
            self.skipTest("failoverd is not built")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from etcdfix import have_etcd
        if not have_etcd():
            self.skipTest("etcd is not installed")
        env = dict(os.environ, FOD_BUILDDIR=fodtest.BUILDDIR)
        t0 = time.monotonic()
        cp = subprocess.run([sys.executable, DEMO_CLUSTER], capture_output=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=120)
        out = cp.stdout.decode("utf-8", "replace") + cp.stderr.decode("utf-8", "replace")
        self.assertEqual(cp.returncode, 0, out)
        self.assertLess(time.monotonic() - t0, 90)
        self.assertNotIn("Traceback", out)
        want = [r"is follower; leader \w+ \(epoch \d+\)",
                r"Killing the leader \((\w+)\) with SIGKILL",
                r"\w+ leads after [\d.]+ s",
                r"home ran SELF_FENCE_CMD [\d.]+ s after the cut",
                r"started the standby [\d.]+ s after the self-fence; Fly start requests: 1",
                r"monitors +\w+ is leader",
                r"no two monitors acted in overlapping terms; one start per failover",
                r"demo-cluster done: one actor at every moment"]
        pos = 0
        for w in want:
            m = re.compile(w).search(out, pos)
            self.assertIsNotNone(m, "%r not found after position %d in:\n%s" % (w, pos, out))
            pos = m.end()
        left = []
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if b"failoverd-demo-cluster." in f.read():
                        left.append(pid)
            except OSError:
                pass
        self.assertEqual(left, [], "the demo left processes behind")


if __name__ == "__main__":
    fodtest.main()
