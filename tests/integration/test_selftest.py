#!/usr/bin/env python3
"""selftest (contract §5.2, failoverctl selftest): the outside world checked
without side effects, so a misconfiguration shows on day one."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fodtest import wait_until  # noqa: E402
from test_failover import APP, FailoverCase  # noqa: E402


class SelftestTest(FailoverCase):

    def selftest(self, d, *args):
        rc, out, err = d.ctl("-j", "selftest", *args)
        checks = {c["name"]: c for c in json.loads(out)["checks"]}
        return rc, checks, out + err

    def test_good_setup_passes_and_changes_nothing(self):
        d = self.start()
        before = d.status()
        rc, checks, out = self.selftest(d)
        self.assertEqual(rc, 0, out)
        self.assertTrue(checks["fly-api"]["ok"], checks)
        self.assertIn("1 startable", checks["fly-api"]["detail"])
        self.assertTrue(checks["primary"]["ok"], checks)
        # No side effects: no start, no stop, same state, no transition.
        self.assertEqual(self.starts(), 0)
        self.assertEqual(self.stops(), 0)
        self.assertEqual(d.status()["state"], before["state"])
        self.assertEqual(d.status()["counters"]["failovers"], 0)
        # The human form says the same.
        rc, out, err = d.ctl("selftest")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("fly-api", out)

    def test_bad_token_fails_without_showing_it(self):
        secret = "fm2_selftestsecretvalue0123456789"
        d = self.start(token=secret, wait_state=None)
        rc, checks, out = self.selftest(d)
        self.assertEqual(rc, 1, out)
        self.assertFalse(checks["fly-api"]["ok"])
        self.assertIn("401", checks["fly-api"]["detail"])
        self.assertNotIn("selftestsecretvalue", out)
        self.assertNotIn("selftestsecretvalue", d.log_text())

    def test_suspend_eligibility_in_suspended_mode(self):
        other = self.fly.add_machine(APP, "stopped", "ord")
        with self.fly.lock:
            m = self.fly.apps[APP][other]
            m.memory_mb = 4096
            m.swap_size_mb = 512
            m.schedule = "daily"
        d = self.start(FLY_STANDBY_MODE="suspended")

        def listed():
            # the start-up warm-up (start, verify, suspend) keeps the Fly
            # API busy for a moment: selftest says so, then lists
            rc, checks, out = self.selftest(d)
            return (rc, checks, out) if "fly-suspend" in checks else None
        rc, checks, out = wait_until(listed, 15, interval=0.2, msg="a selftest that lists")
        self.assertEqual(rc, 1, out)
        c = checks["fly-suspend"]
        self.assertFalse(c["ok"])
        self.assertIn("%s: can be suspended" % self.mid, c["detail"])
        self.assertIn("%s: cannot be suspended (memory 4096 MB > 2048; swap 512 MB; a "
                      "schedule)" % other, c["detail"])
        # selftest changes nothing: no start, stop or suspend of its own
        n = len(self.fly.requests("POST"))
        self.selftest(d)
        self.assertEqual(len(self.fly.requests("POST")), n)
        # all eligible: the check passes; stopped mode has no such check
        with self.fly.lock:
            del self.fly.apps[APP][other]
        rc, checks, out = wait_until(listed, 15, interval=0.2, msg="a selftest that lists")
        self.assertTrue(checks["fly-suspend"]["ok"], checks)
        d.stop()
        d = self.start()
        rc, checks, out = self.selftest(d)
        self.assertNotIn("fly-suspend", checks)

    def test_too_few_machines(self):
        d = self.start(FLY_MACHINE_COUNT="2")
        rc, checks, out = self.selftest(d)
        self.assertEqual(rc, 1, out)
        self.assertFalse(checks["fly-api"]["ok"])
        self.assertIn("FLY_MACHINE_COUNT is 2", checks["fly-api"]["detail"])

    def test_primary_down_and_hooks(self):
        d = self.start(FENCE_CMD="/nonexistent/fence --now", NOTIFY_CMD="true",
                       wait_state=None)
        self.primary.set_mode("down")
        rc, checks, out = self.selftest(d, "--telegram")
        self.assertEqual(rc, 1, out)
        self.assertFalse(checks["primary"]["ok"])
        self.assertIn("connection refused", checks["primary"]["detail"])
        self.assertFalse(checks["fence-cmd"]["ok"])
        self.assertIn("/nonexistent/fence", checks["fence-cmd"]["detail"])
        self.assertTrue(checks["notify-cmd"]["ok"], checks)
        self.assertIn("/true", checks["notify-cmd"]["detail"])
        # --telegram without a bot configured: says what is missing
        self.assertFalse(checks["telegram"]["ok"])
        self.assertIn("TELEGRAM_CHAT_ID", checks["telegram"]["detail"])

    def test_command_provider(self):
        d = self.start_daemon({"PROVIDER": "command", "ACTIVATE_CMD": "true --x",
                               "DEACTIVATE_CMD": "no-such-command-here stop",
                               "LOCAL_HEALTH_URL": self.primary.url,
                               "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"})
        rc, checks, out = self.selftest(d)
        self.assertEqual(rc, 1, out)
        self.assertTrue(checks["activate-cmd"]["ok"], checks)
        self.assertFalse(checks["deactivate-cmd"]["ok"], checks)
        self.assertIn("no-such-command-here", checks["deactivate-cmd"]["detail"])

    def sync_config(self, state):
        remote = os.path.join(os.path.dirname(state), "remote")
        os.makedirs(remote, exist_ok=True)
        return {"PROVIDER": "none", "STATE_DIR": state, "RCLONE_REMOTE": "st",
                "RCLONE_PATH": remote, "RCLONE_CONFIG": "/dev/null",
                "RCLONE_CONFIG_ST_TYPE": "local", "LOCAL_HEALTH_URL": self.primary.url,
                "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}

    def test_state_dir_probe(self):
        # Issue 14 item 8 (audit #9): STATE_DIR must take the pulled state.
        if shutil.which("rclone") is None:
            self.skipTest("rclone is not installed")
        tmp = tempfile.mkdtemp(prefix="fodself.")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        d = self.start_daemon(self.sync_config(state))
        rc, checks, out = self.selftest(d)
        self.assertEqual(rc, 0, out)
        self.assertTrue(checks["state-dir"]["ok"], checks)
        self.assertEqual(checks["state-dir"]["detail"], "STATE_DIR %s is writable" % state)
        self.assertEqual(os.listdir(state), [], "the probe file was left behind")
        self.assertTrue(checks["rclone"]["ok"], checks)

    def test_read_only_state_dir_fails(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which(
                "rclone") is None or subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "true"],
                capture_output=True).returncode != 0:
            self.skipTest("needs root, rclone and unshare --mount for a read-only STATE_DIR")
        tmp = tempfile.mkdtemp(prefix="fodself.")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        prefix = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                  'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"',
                  state]
        d = self.make_daemon(self.sync_config(state), prefix=prefix)
        d.start()
        rc, checks, out = self.selftest(d)
        self.assertEqual(rc, 1, out)
        self.assertFalse(checks["state-dir"]["ok"], checks)
        self.assertIn("STATE_DIR %s cannot be written (Read-only file system)" % state,
                      checks["state-dir"]["detail"])
        # rclone can list the remote all the same: that is not the question.
        self.assertTrue(checks["rclone"]["ok"], checks)


if __name__ == "__main__":
    unittest.main(verbosity=2)
