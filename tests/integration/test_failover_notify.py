#!/usr/bin/env python3
"""The owner hears about every move: Telegram messages from a real failoverd
during failovers, failbacks, forced actions, pause expiry and shutdown,
against fakes/fake_telegram.py (the Bot API, errors included); and the
HEARTBEAT_URL ping. Delivery itself (coalescing, 429, backoff, limits) is
tested module by module in test_notify.py; here it is the daemon's use of it:
the right messages at the right moments, never holding a failover up, and
none lost across a restart.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402
from test_failover import TOKEN, FailoverCase  # noqa: E402

BOT = "987654:TelegramSecretBotTokenValue"
CHAT = "-1001234567890"


class NotifyCase(FailoverCase):

    def setUp(self):
        super().setUp()
        self.tg = FakeTelegram(tokens=[BOT], chats=[CHAT]).start()
        self.addCleanup(self.tg.stop)

    def config(self, **kw):
        c = super().config(**kw)
        for k, v in {"TELEGRAM_BOT_TOKEN": BOT, "TELEGRAM_CHAT_ID": CHAT,
                     "TELEGRAM_API_URL": self.tg.url}.items():
            if k not in kw:
                c[k] = v
        return c

    def text(self):
        """Everything delivered to the chat, in order, as one string."""
        return "\n".join(m["text"] for m in self.tg.messages(CHAT))

    def wait_text(self, *needles, timeout=15):
        def pred():
            t = self.text()
            return all(n in t for n in needles) and t
        return wait_until(pred, timeout, msg="Telegram messages with %r; got %r"
                          % (needles, self.text()))

    def assert_in_order(self, text, needles):
        pos = [text.find(n) for n in needles]
        self.assertNotIn(-1, pos, (needles, text))
        self.assertEqual(pos, sorted(pos), (needles, text))

    def assert_no_secret(self, d):
        for where in (d.log_text(), json.dumps(d.status())):
            self.assertNotIn("TelegramSecretBotTokenValue", where)
            self.assertNotIn(TOKEN, where)


class NotifyTest(NotifyCase):

    def test_failover_and_failback_are_told(self):
        d = self.start()
        ev = self.events(d, ["state", "notify"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        self.primary.set_mode("up")
        self.wait_to(d, ev, "primary")
        t = self.wait_text("FAILOVER BEGUN", "STANDBY SERVING", "FAILBACK DONE")
        self.assert_in_order(t, ["FAILOVER BEGUN", "STANDBY SERVING", "FAILBACK DONE"])
        self.assertRegex(t, r"Detection took [0-9.]+s, activation [0-9.]+s")
        self.assertRegex(t, r"Outage [0-9.]+s; standby active [0-9.]+s, estimated cost \$")
        self.assertIn("standby-app", t)
        for m in self.tg.messages():
            self.assertEqual(str(m["chat_id"]), CHAT)
            self.assertLessEqual(len(m["text"]), 4096)
        # plain text: no parse_mode, ever
        for r in self.tg.requests():
            self.assertNotIn("parse_mode", r["params"])
        # at most one request a second
        times = [r["time"] for r in self.tg.requests()]
        for a, b in zip(times, times[1:]):
            self.assertGreaterEqual(b - a, 0.9, times)
        wait_until(lambda: d.status()["notify"]["pending"] == 0, 10, msg="nothing pending")
        self.assertIs(d.status()["notify"]["telegram"], True)
        self.assert_no_secret(d)

    def test_telegram_down_never_holds_a_failover_up(self):
        self.tg.set_down(True)
        d = self.start(FAILURE_THRESHOLD="1")
        ev = self.events(d, ["state", "notify"])
        t0 = time.time()
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        self.assertLess(time.time() - t0, 5)
        self.assertGreater(d.status()["notify"]["pending"], 0)
        self.wait_event(d, ev, lambda e: e["type"] == "notify" and e["channel"] == "telegram"
                        and e["ok"] is False, 10, "a failed delivery reported")
        self.tg.set_down(False)
        self.wait_text("FAILOVER BEGUN", "STANDBY SERVING", timeout=30)
        wait_until(lambda: d.status()["notify"]["pending"] == 0, 30, msg="nothing pending")

    def test_pending_messages_survive_a_restart(self):
        self.tg.set_down(True)
        d = self.start(FAILURE_THRESHOLD="1")
        ev = self.events(d, ["state"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        pending = d.status()["notify"]["pending"]
        self.assertGreater(pending, 0)
        t0 = time.time()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.time() - t0, 8, "the shutdown flush is bounded")
        with open(d.config["STATE_FILE"]) as f:
            saved = json.load(f)
        self.assertIn("FAILOVER BEGUN", json.dumps(saved))
        self.assertNotIn("TelegramSecretBotTokenValue", json.dumps(saved))
        self.assertEqual(self.tg.messages(), [])
        self.tg.set_down(False)
        d.start()
        self.wait_text("FAILOVER BEGUN", "STANDBY SERVING", "is stopping", timeout=30)
        self.assert_in_order(self.text(), ["FAILOVER BEGUN", "STANDBY SERVING", "is stopping"])

    def test_stopping_is_told(self):
        d = self.start()
        self.assertEqual(d.stop(), 0)
        self.wait_text("is stopping (state primary)", timeout=5)

    def test_forced_actions_and_pause_expiry_are_told(self):
        d = self.start()
        d.ctl("force-activate", "-w", "-r", "drill_with_under_scores", check=0)
        self.wait_text("FORCED: force-activate", "drill_with_under_scores")
        d.ctl("pause", "1s", check=0)
        self.wait_text("PAUSE EXPIRED", timeout=10)
        d.ctl("force-deactivate", "-w", check=0)
        self.wait_text("FORCED: force-deactivate")

    def test_rejected_token_is_reported_not_retried_in_a_storm(self):
        d = self.start(TELEGRAM_BOT_TOKEN="111:WrongTokenValueForTheFake")
        ev = self.events(d, ["notify"])
        d.ctl("force-activate", "-r", "x", check=0)
        e = self.wait_event(d, ev, lambda e: e["type"] == "notify" and not e["ok"], 10,
                            "a rejected delivery")
        self.assertIn("401", e["error"])
        self.assertNotIn("WrongTokenValue", json.dumps(e))
        n = len(self.tg.requests())
        time.sleep(2.0)  # proves no retry storm within two seconds
        self.assertLessEqual(len(self.tg.requests()), n + 1)
        self.assertGreater(d.status()["notify"]["pending"], 0)

    def test_selftest_sends_a_test_message(self):
        d = self.start()
        rc, out, err = d.ctl("-j", "selftest", "--telegram")
        checks = {c["name"]: c for c in json.loads(out)["checks"]}
        self.assertTrue(checks["telegram"]["ok"], checks)
        self.assertEqual(len(self.tg.messages(CHAT)), 1)
        self.assertIn("selftest", self.tg.messages(CHAT)[0]["text"])

    def test_selftest_reports_a_wrong_chat(self):
        d = self.start(TELEGRAM_CHAT_ID="777")
        rc, out, err = d.ctl("-j", "selftest", "--telegram")
        self.assertEqual(rc, 1)
        checks = {c["name"]: c for c in json.loads(out)["checks"]}
        self.assertFalse(checks["telegram"]["ok"])
        self.assertIn("chat not found", checks["telegram"]["detail"])


class HeartbeatTest(NotifyCase):

    def test_heartbeat_after_healthy_checks_only(self):
        hb = FakePrimary().start()
        self.addCleanup(hb.stop)
        d = self.start(HEARTBEAT_URL=hb.url)
        wait_until(lambda: hb.request_count >= 3, 10, msg="three heartbeats")
        self.primary.set_mode("down")
        ev = self.events(d, ["state", "notify"])
        self.wait_to(d, ev, "standby")
        n = hb.request_count
        time.sleep(1.0)  # proves no heartbeat while the primary fails
        self.assertEqual(hb.request_count, n)
        hb.set_mode("down")
        self.primary.set_mode("up")
        e = self.wait_event(d, ev, lambda e: e["type"] == "notify" and
                            e["channel"] == "heartbeat" and not e["ok"], 15,
                            "a failed heartbeat reported")
        self.assertTrue(e["error"])


if __name__ == "__main__":
    fodtest.main()
