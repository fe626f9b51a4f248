#!/usr/bin/env python3
"""STARTUP_GRACE (contract §13, operator audit #1): no failover from a cold
start. A primary that is not up yet when failoverd starts (the boot race),
or a first configuration whose health URL is wrong, is reported but not
failed over until it was healthy once or STARTUP_GRACE has passed; a
failover interrupted by a restart still finishes.

The real failoverd against fakes/fake_fly.py, fakes/fake_primary.py and
fakes/fake_telegram.py. Every wait is a deadline-bounded condition; the
plain waits prove that something does NOT happen within a window.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402
from test_failover import FailoverCase  # noqa: E402

BOT = "77777:StartupGraceBotToken"
CHAT = "4242"


class StartupGraceTest(FailoverCase):

    def setUp(self):
        super().setUp()
        self.tg = FakeTelegram(tokens=[BOT], chats=[CHAT]).start()
        self.addCleanup(self.tg.stop)

    def config(self, **kw):
        c = super().config(**kw)
        c.setdefault("TELEGRAM_CHAT_ID", CHAT)
        c.setdefault("TELEGRAM_API_URL", self.tg.url)
        return c

    def start(self, token=None, wait_state="primary", **kw):
        d = self.start_daemon(self.config(**kw), env={
            "FLY_API_TOKEN": token or fodtest_token(), "TELEGRAM_BOT_TOKEN": BOT})
        if wait_state:
            self.wait_state(d, wait_state)
        return d

    def grace_messages(self):
        return [m for m in self.tg.messages() if "NOT HEALTHY SINCE START" in m["text"]]

    def test_boot_race_no_failover(self):
        """The primary comes up 8 s after the daemon (default STARTUP_GRACE):
        failures are reported (check events, one warning, an error event,
        status, one Telegram message) and nothing is failed over."""
        self.primary.set_mode("down")
        t0 = time.monotonic()
        d = self.start(FAST_INTERVAL="250ms", wait_state=None)
        ev = self.events(d, ["check", "state", "error", "standby"])
        st = self.wait_state(d, "primary")
        self.assertIsNotNone(st["startup_grace_until"])
        # The hold: an error event, a warning in the log, status, Telegram.
        held = self.wait_event(d, ev, lambda e: e["type"] == "error"
                               and e.get("what") == "startup-grace", what="the hold")
        self.assertIn("STARTUP_GRACE", held["error"])
        wait_until(lambda: len(self.grace_messages()) == 1, 10,
                   msg="one Telegram message about the hold")
        st = d.status()
        self.assertTrue(any(x["what"] == "startup-grace" and x.get("cleared") is None
                            for x in st["errors"]), st["errors"])
        until = st["startup_grace_until"]
        self.assertIsNotNone(until)
        # Bring the primary up 8 s after the daemon started.
        remaining = 8.0 - (time.monotonic() - t0)
        if remaining > 0:
            time.sleep(remaining)
        failures = d.status()["local"]["consecutive_failures"]
        self.assertGreaterEqual(failures, 6)
        self.primary.set_mode("up")
        self.wait_event(d, ev, lambda e: e["type"] == "check" and e["healthy"],
                        what="a healthy check")
        self.wait_event(d, ev, lambda e: e["type"] == "error"
                        and e.get("what") == "startup-grace" and e.get("cleared"),
                        what="the hold's end")
        st = d.status()
        self.assertEqual(st["state"], "primary")
        self.assertIsNone(st["startup_grace_until"])
        self.assertEqual(st["counters"]["failovers"], 0)
        self.assertEqual(self.starts(), 0)
        self.assertEqual([r for r in self.fly.requests("POST")], [])
        log = d.log_text()
        self.assertEqual(log.count("failover held back"), 1, log)
        self.assertIn("warning: startup-grace: failover held back", log)
        self.assertEqual(len(self.grace_messages()), 1)
        self.assertFalse(any("FAILOVER BEGUN" in m["text"] for m in self.tg.messages()))
        # The grace is over for good: the next outage fails over as usual.
        self.primary.set_mode("down")
        self.wait_state(d, "standby")
        self.assertEqual(self.starts(), 1)

    def test_wrong_url_held_until_grace_passes(self):
        """A wrong health URL at first start: no failover within
        STARTUP_GRACE; once it has passed, the failover goes ahead."""
        self.primary.set_mode("down")
        d = self.start(FAST_INTERVAL="100ms", STARTUP_GRACE="3s", wait_state=None)
        ev = self.events(d, ["state", "error"])
        t0 = time.monotonic()
        self.wait_event(d, ev, lambda e: e["type"] == "error"
                        and e.get("what") == "startup-grace", what="the hold")
        # Held for the rest of the grace (started < t0): look until 2.5 s.
        while time.monotonic() - t0 < 2.5:
            self.assertEqual(d.status()["state"], "primary")
            self.assertEqual(self.starts(), 0)
            time.sleep(0.1)
        e = self.wait_to(d, ev, "failing-over", timeout=5)
        self.assertIn("primary failed", e["reason"])
        self.wait_state(d, "standby")
        self.assertEqual(self.starts(), 1)
        self.assertIn("STARTUP_GRACE passed", d.log_text())

    def test_grace_zero_is_off(self):
        self.primary.set_mode("down")
        d = self.start(FAST_INTERVAL="50ms", STARTUP_GRACE="0", wait_state=None)
        self.wait_state(d, "standby")
        self.assertEqual(self.starts(), 1)
        self.assertNotIn("failover held back", d.log_text())
        self.assertIsNone(d.status()["startup_grace_until"])

    def test_interrupted_failover_finishes(self):
        """A failover in progress when the daemon is killed finishes after
        the restart, although the primary was never healthy since then."""
        self.primary.set_mode("down")
        d = self.start(STARTUP_GRACE="0", wait_state=None)
        # Hold the start request until the daemon is gone.
        self.fly.fault(method="POST", path=r".*/start$", hang=True)
        self.wait_state(d, "failing-over")
        wait_until(lambda: self.fly.requests("POST"), 10, msg="the start request")
        d.kill9()
        self.fly.clear_faults()
        d.config["STARTUP_GRACE"] = "120"
        d.write_config()
        d.start()
        self.wait_state(d, "standby", timeout=15)
        st = d.status()
        self.assertIsNotNone(st["startup_grace_until"])
        self.assertNotIn("failover held back", d.log_text())
        self.assertLessEqual(self.starts(), 1)
        self.assertEqual(self.fly.state(self.fly_app(), self.mid), "started")

    def test_restart_while_paused_leaves_starting(self):
        """A restart during a pause (force-deactivate -f's 10 minutes, say)
        still checks once to leave `starting`; then the pause holds."""
        d = self.start()
        d.result("pause", duration="1h")
        d.restart()
        st = self.wait_state(d, "primary", timeout=10)
        self.assertIs(st["paused"], True)
        self.assertIsNotNone(st["local"]["last_check"])
        n = st["local"]["checks_total"]
        time.sleep(1.0)  # paused: no further automatic check (FAST_INTERVAL 50 ms)
        self.assertEqual(d.status()["local"]["checks_total"], n)

    def fly_app(self):
        from test_failover import APP
        return APP


def fodtest_token():
    from test_failover import TOKEN
    return TOKEN


if __name__ == "__main__":
    fodtest.main()
