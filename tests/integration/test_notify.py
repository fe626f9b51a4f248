#!/usr/bin/env python3
"""Telegram delivery and HEARTBEAT_URL (daemon/notify.c through
tests/tools/notifytool) against fakes/fake_telegram.py and fake_primary.py."""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fakes"))
from fake_primary import FakePrimary  # noqa: E402
from fake_telegram import FakeTelegram, utf16_len  # noqa: E402

BUILDDIR = os.path.abspath(
    os.environ.get("FOD_BUILDDIR") or os.path.join(HERE, "..", ".."))
NOTIFYTOOL = os.path.join(BUILDDIR, "tests", "tools", "notifytool")
TOKEN = "987654321:AAH-Sekr3tBotTokenValue_xyz"
SECRET = TOKEN.split(":")[1]
CHAT = "4242"
NOTE = re.compile(r"^(\d+) older notifications? (was|were) dropped")


class NotifyTest(unittest.TestCase):
    def setUp(self):
        if not os.access(NOTIFYTOOL, os.X_OK):
            self.skipTest("%s not built (make check builds it)" % NOTIFYTOOL)
        self.tg = FakeTelegram(tokens=[TOKEN], chats=[CHAT]).start()
        self.addCleanup(self.tg.stop)
        self.dir = tempfile.mkdtemp(prefix="fod-notify-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir]))
        self.state_file = os.path.join(self.dir, "state.json")
        self.outputs = []

    def run_tool(self, *args, messages=None, token=TOKEN, chat=CHAT, deadline=20000,
                 timeout=60, **keys):
        kv = {"TELEGRAM_API_URL": self.tg.url, "STATE_FILE": self.state_file}
        if token is not None:
            kv["TELEGRAM_BOT_TOKEN"] = token
        if chat is not None:
            kv["TELEGRAM_CHAT_ID"] = chat
        kv.update(keys)
        argv = [NOTIFYTOOL, "-v", "-T", str(deadline)] + list(args)
        if messages is not None:
            argv.append("-s")
        argv += ["%s=%s" % i for i in kv.items()]
        p = subprocess.run(argv, input=json.dumps(messages) if messages is not None else "",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout)
        self.assertEqual(p.returncode, 0, "notifytool failed: %s" % p.stderr)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stdout + p.stderr)
        res = json.loads(lines[0])
        res["_out"] = p.stdout + p.stderr
        self.outputs.append(res["_out"])
        # Never the token, whatever happened.
        self.assertNotIn(SECRET, res["_out"])
        if os.path.exists(self.state_file):
            with open(self.state_file) as f:
                self.assertNotIn(SECRET, f.read())
        self.assertLess(res["max_gap_ms"], 500, "the loop was blocked")
        return res

    def saved_pending(self):
        with open(self.state_file) as f:
            return [e["text"] for e in json.load(f)["pending"]]

    def sends(self):
        return self.tg.requests("sendMessage")

    def delivered_texts(self):
        return [m["text"] for m in self.tg.messages()]

    def tg_events(self, res, ok=None):
        return [e for e in res["events"] if e["type"] == "notify" and e["channel"] == "telegram"
                and (ok is None or e["ok"] == ok)]

    def assert_gaps(self, min_gap=0.95):
        times = [r["time"] for r in self.sends()]
        for a, b in zip(times, times[1:]):
            self.assertGreaterEqual(b - a, min_gap, "two requests %.3fs apart" % (b - a))

    # --- delivery -----------------------------------------------------------
    def test_messages_arrive_with_chat_and_text(self):
        res = self.run_tool("-m", "FAILOVER BEGUN: primary down", "-m", "ünïcödé ✓ 🚀")
        self.assertEqual(self.delivered_texts(),
                         ["FAILOVER BEGUN: primary down\n\nünïcödé ✓ 🚀"])
        self.assertEqual([m["chat_id"] for m in self.tg.messages()], [CHAT])
        req = self.sends()[0]
        self.assertEqual(req["method"], "POST")
        self.assertEqual(req["content_type"], "application/json")
        self.assertTrue(req["token_ok"])
        self.assertNotIn("parse_mode", req["params"])
        ev = self.tg_events(res)
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual((ev[0]["ok"], ev[0]["attempts"], ev[0]["error"], ev[0]["messages"]),
                         (True, 1, None, 2))
        self.assertEqual(res["status"]["pending"], 0)
        self.assertTrue(res["status"]["telegram"])
        self.assertIsNone(res["status"]["last_error"])
        self.assertEqual(self.saved_pending(), [])

    def test_burst_is_coalesced_and_never_more_than_one_a_second(self):
        msgs = [{"at": 1 + 100 * i, "text": "event %02d" % i} for i in range(30)]
        res = self.run_tool(messages=msgs)
        texts = self.delivered_texts()
        self.assertLess(len(texts), 10, texts)
        self.assertGreaterEqual(len(texts), 3, texts)
        # Every message, once, in order, joined by blank lines.
        parts = "\n\n".join(texts).split("\n\n")
        self.assertEqual(parts, ["event %02d" % i for i in range(30)])
        self.assert_gaps()
        self.assertEqual(sum(e["messages"] for e in self.tg_events(res, ok=True)), 30)
        self.assertEqual(res["status"]["pending"], 0)

    def test_4096_limit(self):
        long_one = "L" * 5000
        emoji = "🔥" * 2100  # 4200 UTF-16 units, 2100 characters
        msgs = ["A" * 3000, "B" * 3000, long_one, "é" * 4096, emoji, "tail"]
        self.run_tool(messages=msgs)
        texts = self.delivered_texts()
        for r in self.sends():
            self.assertEqual(r["status"], 200, r)
        for t in texts:
            self.assertLessEqual(utf16_len(t), 4096)
        parts = "\n\n".join(texts).split("\n\n")
        self.assertEqual(parts[0], "A" * 3000)
        self.assertEqual(parts[1], "B" * 3000)
        self.assertEqual(parts[2], "L" * 4095 + "…")
        self.assertEqual(parts[3], "é" * 4096)
        self.assertTrue(parts[4].endswith("…"))
        self.assertEqual(utf16_len(parts[4]), 4095)  # a pair never split
        self.assertEqual(parts[5], "tail")
        self.assert_gaps()

    # --- flood control ------------------------------------------------------
    def flood_case(self, how):
        if how == "flood":
            self.tg.flood(2)
        elif how == "old-style":
            self.tg.flood(2, old_style=True)
        else:
            self.tg.fault(status=429, retry_after=2, retry_after_in="header")
        res = self.run_tool("-m", "hello", "-m", "again")
        sends = self.sends()
        self.assertEqual([r["status"] for r in sends], [429, 200], sends)
        self.assertGreaterEqual(sends[1]["time"] - sends[0]["time"], 1.95)
        self.assertLess(sends[1]["time"] - sends[0]["time"], 3.5)
        self.assertEqual(self.delivered_texts(), ["hello\n\nagain"])
        bad, good = self.tg_events(res, ok=False), self.tg_events(res, ok=True)
        self.assertEqual(len(bad), 1)
        self.assertIn("429", bad[0]["error"])
        self.assertEqual(bad[0]["retry_in_ms"], 2000)
        self.assertEqual(bad[0]["status"], 429)
        self.assertEqual(good[0]["attempts"], 2)

    def test_429_retry_after_honoured(self):
        self.flood_case("flood")

    def test_429_retry_after_in_description_only(self):
        self.flood_case("old-style")

    def test_429_retry_after_header(self):
        self.flood_case("header")

    # --- rejection ------------------------------------------------------------
    def test_401_reported_and_kept_then_a_restart_with_the_right_token_delivers(self):
        bad = "987654321:AAH-WrongTokenValue_abcdefgh"
        res = self.run_tool("-m", "FAILOVER BEGUN", token=bad, deadline=2500)
        ev = self.tg_events(res)
        self.assertEqual(len(ev), 1, ev)  # slow retry: one try in 2.5 s
        self.assertFalse(ev[0]["ok"])
        self.assertEqual(ev[0]["error"], "Telegram rejected the bot token (401 Unauthorized): "
                         "check TELEGRAM_BOT_TOKEN")
        self.assertGreaterEqual(ev[0]["retry_in_ms"], 60000)
        self.assertEqual(len(self.sends()), 1)
        self.assertEqual(res["pending"], ["FAILOVER BEGUN"])
        self.assertEqual(res["status"]["last_error"], ev[0]["error"])
        self.assertEqual(self.saved_pending(), ["FAILOVER BEGUN"])
        self.assertNotIn(bad.split(":")[1], res["_out"])
        # A new process with the fixed token delivers what was kept.
        res = self.run_tool()
        self.assertEqual(self.delivered_texts(), ["FAILOVER BEGUN"])
        self.assertEqual(self.saved_pending(), [])

    def test_a_reload_with_a_fixed_token_delivers_at_once(self):
        bad = "987654321:AAH-WrongTokenValue_abcdefgh"
        t0 = time.time()
        res = self.run_tool("-m", "kept", "-r", "1500", "-R", "TELEGRAM_BOT_TOKEN=" + TOKEN,
                            token=bad, deadline=10000)
        self.assertEqual(self.delivered_texts(), ["kept"])
        self.assertLess(self.tg.messages()[0]["time"] - t0, 4.0)
        self.assertEqual([e["ok"] for e in self.tg_events(res)], [False, True])
        self.assertIsNone(res["status"]["last_error"])

    def test_400_chat_not_found_reported_and_kept(self):
        res = self.run_tool("-m", "to nowhere", chat="-1009999", deadline=2000)
        ev = self.tg_events(res)
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual(ev[0]["error"], "Telegram refused the message (400 Bad Request: chat "
                         "not found): check TELEGRAM_CHAT_ID")
        self.assertGreaterEqual(ev[0]["retry_in_ms"], 60000)
        self.assertEqual(res["pending"], ["to nowhere"])
        self.assertEqual(self.saved_pending(), ["to nowhere"])

    # --- outages --------------------------------------------------------------
    def test_down_for_a_while_then_up_everything_in_order(self):
        self.tg.set_down(True)
        timer = threading.Timer(2.5, self.tg.set_down, args=(False,))
        timer.start()
        self.addCleanup(timer.cancel)
        msgs = [{"at": 1 + 400 * i, "text": "step %d" % i} for i in range(8)]
        res = self.run_tool(messages=msgs)
        parts = "\n\n".join(self.delivered_texts()).split("\n\n")
        self.assertEqual(parts, ["step %d" % i for i in range(8)])
        bad = self.tg_events(res, ok=False)
        self.assertGreaterEqual(len(bad), 1)
        self.assertTrue(all(e["error"].startswith("cannot reach Telegram") for e in bad), bad)
        # attempts grow while down; the delivery says how many it took
        self.assertEqual([e["attempts"] for e in bad], list(range(1, len(bad) + 1)))
        self.assertEqual(self.tg_events(res, ok=True)[0]["attempts"], len(bad) + 1)
        self.assertEqual(res["status"]["pending"], 0)
        self.assert_gaps()

    def test_pending_survive_a_restart(self):
        self.tg.set_down(True)
        res = self.run_tool("-m", "one", "-m", "two", deadline=1500)
        self.assertTrue(res["deadline_hit"])
        self.assertEqual(res["pending"], ["one", "two"])
        self.assertEqual(self.saved_pending(), ["one", "two"])
        self.assertEqual(res["status"]["pending"], 2)
        self.tg.set_down(False)
        res = self.run_tool("-m", "three")
        self.assertEqual("\n\n".join(self.delivered_texts()), "one\n\ntwo\n\nthree")
        self.assertEqual(self.saved_pending(), [])

    def test_overflow_drops_the_oldest_with_a_note(self):
        self.tg.set_down(True)
        res = self.run_tool(messages=["m%03d" % i for i in range(150)], deadline=1000)
        self.assertEqual(len(res["pending"]), 100)
        m = NOTE.match(res["pending"][0])
        self.assertTrue(m, res["pending"][0])
        self.assertEqual(int(m.group(1)), 51)
        self.assertEqual(res["pending"][1:], ["m%03d" % i for i in range(51, 150)])
        self.assertEqual(len(self.saved_pending()), 100)
        self.tg.set_down(False)
        self.run_tool()
        parts = "\n\n".join(self.delivered_texts()).split("\n\n")
        self.assertTrue(NOTE.match(parts[0]), parts[0])
        self.assertEqual(parts[1:], ["m%03d" % i for i in range(51, 150)])
        self.assert_gaps()

    def garbage_case(self, **fault):
        self.tg.fault(**fault)
        res = self.run_tool("-m", "through it")
        self.assertEqual(self.delivered_texts(), ["through it"])
        errors = [e["error"] for e in self.tg_events(res, ok=False)]
        self.assertGreaterEqual(len(errors), 1)
        self.assertEqual(self.tg_events(res, ok=True)[0]["attempts"], len(errors) + 1)
        self.assert_gaps()
        return errors

    def test_garbage_reply_is_retried(self):
        errors = self.garbage_case(garbage=True)
        self.assertEqual(errors, ["Telegram answered HTTP 200 with something that is not a "
                                  "Bot API reply"])

    def test_html_502_page_is_retried(self):
        errors = self.garbage_case(status=502, html=True)
        self.assertEqual(errors, ["Telegram answered HTTP 502 (not a Bot API reply)"])

    def test_500_is_retried(self):
        errors = self.garbage_case(status=500)
        self.assertEqual(errors, ["Telegram answered HTTP 500: Internal Server Error"])

    def test_connection_closed_without_reply_is_retried(self):
        # curl silently re-sends once on a reused connection that died, so
        # close twice: at least one is seen.
        errors = self.garbage_case(close=True, count=2)
        self.assertLessEqual(len(errors), 2)
        for e in errors:
            self.assertTrue(e.startswith("cannot reach Telegram: "), e)

    def test_token_never_shown_even_when_echoed(self):
        # A reply that quotes the token (a proxy, a broken server) is redacted.
        self.tg.fault(status=400, body={"ok": False, "error_code": 400,
                                        "description": "Bad Request: bot %s unknown" % TOKEN})
        self.tg.fault(status=500, body="<html>/bot%s/sendMessage failed</html>" % TOKEN)
        res = self.run_tool("-m", "x", deadline=1500)
        ev = self.tg_events(res)
        self.assertTrue(ev)
        self.assertIn("<redacted>", ev[0]["error"])
        self.assertIn("<redacted>", res["status"]["last_error"])
        # run_tool checked stdout, stderr (the log) and STATE_FILE.

    # --- selftest and shutdown --------------------------------------------------
    def test_test_message(self):
        res = self.run_tool("-t", "failoverd selftest")
        self.assertEqual(res["test"], {"rc": 0, "ok": True, "detail": "delivered to chat 4242"})
        self.assertEqual(self.delivered_texts(), ["failoverd selftest"])
        self.assertFalse(os.path.exists(self.state_file) and self.saved_pending())
        self.assertFalse(res["cb_inside"])
        res = self.run_tool("-t", "again", token="987654321:AAH-WrongTokenValue_abcdefgh")
        self.assertFalse(res["test"]["ok"])
        self.assertIn("401", res["test"]["detail"])
        self.assertEqual(res["events"], [])  # a selftest is not a delivery
        res = self.run_tool("-t", "off", token=None, chat=None)
        self.assertEqual(res["test"]["rc"], -1)

    def test_flush_bounded_when_telegram_hangs(self):
        self.tg.fault(hang=True)
        res = self.run_tool("-m", "last words", "-F", "1000")
        self.assertEqual(res["flush"]["calls"], 1)
        self.assertGreaterEqual(res["flush"]["ms"], 900)
        self.assertLess(res["flush"]["ms"], 2500)
        self.assertEqual(self.saved_pending(), ["last words"])

    def test_flush_delivers_and_returns(self):
        res = self.run_tool("-m", "stopping", "-F", "5000")
        self.assertEqual(res["flush"]["calls"], 1)
        self.assertLess(res["flush"]["ms"], 2000)
        self.assertEqual(self.delivered_texts(), ["stopping"])
        self.assertEqual(self.saved_pending(), [])
        # Nothing pending: at once, inside the call.
        res = self.run_tool("-F", "5000")
        self.assertTrue(res["flush"]["rc_sync"])

    def test_telegram_off_is_a_no_op(self):
        res = self.run_tool("-m", "nobody hears", token=None, chat=None)
        self.assertFalse(res["status"]["telegram"])
        self.assertEqual(res["status"]["pending"], 0)
        self.assertEqual(self.sends(), [])

    # --- heartbeat --------------------------------------------------------------
    def hb_events(self, res):
        return [e for e in res["events"] if e["channel"] == "heartbeat"]

    def start_primary(self, mode="up"):
        fp = FakePrimary(mode=mode).start()
        self.addCleanup(fp.stop)
        return fp

    def test_heartbeat_pinged_no_event_when_fine(self):
        fp = self.start_primary("up")
        url = fp.url + "/ping/0f2d-secret-uuid"
        res = self.run_tool("-H", "5", "-I", "100", HEARTBEAT_URL=url, token=None, chat=None)
        self.assertTrue(fp.wait_requests(5, 5))
        self.assertEqual(res["heartbeats"], 5)
        self.assertEqual(self.hb_events(res), [])
        self.assertTrue(res["status"]["heartbeat"])
        self.assertIsNone(res["status"]["heartbeat_error"])

    def test_heartbeat_failures_reported_then_recovery(self):
        fp = self.start_primary("503")
        url = fp.url + "/ping/0f2d-secret-uuid"

        def recover():  # up again after three failed pings, however slow the start
            if fp.wait_requests(3, 15):
                fp.set_mode("up")
        t = threading.Thread(target=recover, daemon=True)
        t.start()
        res = self.run_tool("-H", "8", "-I", "250", HEARTBEAT_URL=url, token=None, chat=None)
        ev = self.hb_events(res)
        bad = [e for e in ev if not e["ok"]]
        self.assertGreaterEqual(len(bad), 2, ev)
        self.assertEqual([e["attempts"] for e in bad], list(range(1, len(bad) + 1)))
        self.assertEqual(bad[0]["error"], "HEARTBEAT_URL answered HTTP 503")
        self.assertEqual(ev[-1]["ok"], True)
        self.assertEqual(ev[-1]["attempts"], len(bad) + 1)
        self.assertEqual(len([e for e in ev if e["ok"]]), 1)  # one recovery event
        self.assertNotIn("secret-uuid", res["_out"])

    def test_heartbeat_down_and_hanging(self):
        fp = self.start_primary("down")
        res = self.run_tool("-H", "2", "-I", "100", HEARTBEAT_URL=fp.url + "/x", token=None,
                            chat=None)
        bad = self.hb_events(res)
        self.assertEqual(len(bad), 2, bad)
        self.assertTrue(bad[0]["error"].startswith("HEARTBEAT_URL: "), bad[0])
        self.assertEqual(res["status"]["heartbeat_error"], bad[-1]["error"])
        # A hanging endpoint: bounded by CHECK_TIMEOUT, later pings skipped.
        fp.set_mode("hang")
        t0 = time.time()
        res = self.run_tool("-H", "6", "-I", "200", HEARTBEAT_URL=fp.url + "/x",
                            CHECK_TIMEOUT="1500ms", token=None, chat=None)
        self.assertLess(time.time() - t0, 6)
        ev = self.hb_events(res)
        self.assertEqual(len(ev), 1, ev)  # one ping in flight, the others skipped
        self.assertIn("HEARTBEAT_URL", ev[0]["error"])
        self.assertLessEqual(fp.request_count, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
