#!/usr/bin/env python3
"""PROVIDER=command cannot strand a failover (operator audit #4): an
ACTIVATE_CMD that returns while nothing serves (a server it left in the
background dies with its process group) is run again, with backoff, once
the verification of FLY_HEALTH_URL keeps failing; and force-deactivate
with force aborts the activation: DEACTIVATE_CMD and FAILBACK_CMD run, the
primary is the active side, ACTIVATE_CMD is not run again.

The real failoverd, real child processes, fakes/fake_primary.py for both
health endpoints. Waits are deadline-bounded conditions; the plain sleeps
prove that something does NOT happen within a window.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


class CommandProviderTest(fodtest.DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.primary = FakePrimary().start()
        self.addCleanup(self.primary.stop)
        self.standby = FakePrimary(mode="down").start()
        self.addCleanup(self.standby.stop)

    def start(self):
        d = self.make_daemon({})
        self.log = {k: d.path(k + ".log") for k in ("activate", "deactivate", "failback")}
        d.write_config({
            "PROVIDER": "command",
            # Returns at once, serving nothing: the audit's stranded case.
            "ACTIVATE_CMD": "date +%%s.%%N >> %s" % self.log["activate"],
            "DEACTIVATE_CMD": "echo stop >> %s" % self.log["deactivate"],
            "FAILBACK_CMD": "/bin/sh -c 'echo back >> %s'" % self.log["failback"],
            "FLY_HEALTH_URL": self.standby.url,
            "LOCAL_HEALTH_URL": self.primary.url,
            "CHECK_INTERVAL": "300ms",
            "FAST_INTERVAL": "50ms",
            "CHECK_TIMEOUT": "500ms",
            "MIN_STANDBY_TIME": "0",
        })
        d.start()
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="primary")
        return d

    def test_verification_failing_runs_activate_cmd_again(self):
        d = self.start()
        ev = d.events(types=["standby", "state"])
        self.addCleanup(ev.close)
        self.assertOk(d.request({"cmd": "force-activate", "reason": "drill"}))
        wait_until(lambda: len(lines(self.log["activate"])) >= 3, 20,
                   msg="ACTIVATE_CMD run three times")
        retry = ev.wait_for(lambda e: e["type"] == "standby" and e["phase"] == "retry", 5)
        self.assertIn("running ACTIVATE_CMD again", retry["detail"])
        self.assertIn(self.standby.url, retry["detail"])
        runs = [float(x) for x in lines(self.log["activate"])]
        # Backoff between the attempts: at least its 1 s base (with jitter)
        # beyond the ten probes.
        for a, b in zip(runs, runs[1:]):
            self.assertGreater(b - a, 0.5, runs)
        s = d.status()
        self.assertEqual(s["state"], "failing-over")
        self.assertIs(s["degraded"], True)
        # The standby comes up: the next verification succeeds.
        self.standby.set_mode("up")
        wait_until(lambda: d.status()["state"] == "standby", 20, msg="standby")
        self.assertIs(d.status()["degraded"], False)

    def test_force_deactivate_force_aborts_the_stranded_activation(self):
        d = self.start()
        ev = d.events(types=["standby", "state"])
        self.addCleanup(ev.close)
        self.assertOk(d.request({"cmd": "force-activate"}))
        wait_until(lambda: lines(self.log["activate"]), 5, msg="ACTIVATE_CMD")
        self.assertError(d.request({"cmd": "force-deactivate"}), "conflict")
        rc, out, err = d.ctl("force-deactivate", "-w", "-f", "-r", "give up")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("state: primary", out)
        s = d.status()
        self.assertEqual(s["state"], "primary")
        self.assertEqual(s["cause"]["what"], "force-deactivate")
        self.assertEqual(s["cause"]["reason"], "give up")
        self.assertIs(s["paused"], False)  # the primary is healthy
        self.assertEqual(lines(self.log["deactivate"]), ["stop"])
        self.assertEqual(lines(self.log["failback"]), ["back"])
        n = len(lines(self.log["activate"]))
        time.sleep(1.5)  # nothing runs ACTIVATE_CMD again
        self.assertEqual(len(lines(self.log["activate"])), n)
        self.assertEqual(d.status()["state"], "primary")


if __name__ == "__main__":
    fodtest.main()
