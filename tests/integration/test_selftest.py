#!/usr/bin/env python3
"""selftest (contract §5.2, failoverctl selftest): the outside world checked
without side effects, so a misconfiguration shows on day one."""
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_failover import FailoverCase  # noqa: E402


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
