#!/usr/bin/env python3
"""Failover under faults: Fly API errors during activation, a bad token, a
primary that hangs forever, SIGKILL in the middle of an activation, and
drift found at start-up. The set-up is test_failover.py's FailoverCase.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from test_failover import APP, TOKEN, FailoverCase  # noqa: E402


class FlyErrorTest(FailoverCase):

    def test_412_429_500_on_start_retried_to_success(self):
        d = self.start(CHECK_INTERVAL="200ms")
        ev = self.events(d, ["state", "standby"])
        for status, body in ((412, {"error": "failed_precondition: unable to start machine "
                                    "from current state: 'stopping'"}),
                             (429, {"error": "rate limit exceeded"}),
                             (500, {"error": "internal server error"})):
            self.fly.fault(method="POST", path=r"/start$", status=status, body=body, count=1)
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", 20)
        retries = [e for e in ev.seen if e["type"] == "standby" and e["phase"] == "retry"]
        self.assertEqual(len(retries), 3, ev.seen)
        for e, code in zip(retries, ("412", "429", "500")):
            self.assertEqual(e["action"], "activate")
            self.assertIn(code, e["detail"])
        done = [e for e in ev.seen if e["type"] == "standby" and e["phase"] == "done"]
        self.assertEqual([e["action"] for e in done], ["activate"])
        posts = self.fly.requests("POST", r"/start$")
        self.assertEqual([r["status"] for r in posts], [412, 429, 500, 200])
        self.assertEqual(self.starts(), 1)
        # retried with backoff, not at once
        gaps = [b["time"] - a["time"] for a, b in zip(posts, posts[1:])]
        self.assertTrue(all(g >= 0.4 for g in gaps), gaps)
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        s = d.status()
        self.assertEqual(s["state"], "standby")
        self.assertIs(s["degraded"], False)
        self.assertEqual(s["counters"]["failovers"], 1)

    def test_401_reported_without_a_storm(self):
        bad = "fo1_WrongTokenS3cretValue"
        t0 = time.time()
        d = self.start(token=bad, wait_state=None)
        ev = d.events(types=["error"], backlog=50)
        self.addCleanup(ev.close)
        err = self.wait_event(d, ev, lambda e: e["type"] == "error", 5, "an error event")
        self.assertIn("401", err["error"])
        self.assertIn("FLY_API_TOKEN", err["error"])
        s = wait_until(lambda: (lambda s: s["errors"] and s)(d.status()), 3,
                       msg="status.errors")
        self.assertTrue(any("401" in x["error"] and "FLY_API_TOKEN" in x["error"]
                            for x in s["errors"]), s["errors"])
        time.sleep(3.0)  # count what the daemon does with a bad token
        n = len(self.fly.requests())
        elapsed = time.time() - t0
        self.assertLessEqual(n, 2 + elapsed, "a request storm on 401: %d requests in %.1fs"
                             % (n, elapsed))
        self.assertTrue(all(r["status"] == 401 for r in self.fly.requests()))
        # the token never leaks
        s = d.status()
        ev2 = d.events(backlog=1000, follow=False)
        self.addCleanup(ev2.close)
        every = ev2.read_until_closed(5)
        for where, text in (("status", json.dumps(s)), ("events", json.dumps(every)),
                            ("log", d.log_text())):
            self.assertNotIn(bad, text, "the token leaked into the " + where)
            self.assertNotIn(bad[4:], text, "part of the token leaked into the " + where)
        self.assertIn("401", d.log_text())


    def test_401_during_activation_retried_slowly(self):
        d = self.start()
        ev = self.events(d, ["state", "standby", "error"])
        self.fly.tokens = ["fo1_SomeOtherTokenNow"]  # the token was revoked
        self.primary.set_mode("down")
        self.wait_to(d, ev, "failing-over")
        err = self.wait_event(d, ev, lambda e: e["type"] == "error", 5, "an error event")
        self.assertIn("401", err["error"])
        retry = self.wait_event(d, ev, lambda e: e["type"] == "standby" and
                                e["phase"] == "retry", 5, "a standby retry event")
        self.assertEqual(retry["action"], "activate")
        n = len(self.fly.requests())
        time.sleep(3.0)  # a configuration problem is retried slowly
        self.assertLessEqual(len(self.fly.requests()) - n, 2,
                             [(r["method"], r["path"]) for r in self.fly.requests()])
        self.assertEqual(self.starts(), 0)
        s = d.status()
        self.assertEqual(s["state"], "failing-over")
        self.assertIs(s["degraded"], True)
        self.assertTrue(any("401" in x["error"] for x in s["errors"]), s["errors"])
        self.assertNotIn(TOKEN, json.dumps(s) + d.log_text())
        # A new token in place: the activation ends, and its problems are
        # marked cleared in status.errors (audit #11).
        self.fly.tokens = [TOKEN]
        self.wait_state(d, "standby", timeout=90)
        self.wait_event(d, ev, lambda e: e["type"] == "error" and e["what"] == "fly-api"
                        and e["cleared"], 5, "fly-api cleared")
        errs = [x for x in d.status()["errors"] if x["what"] == "fly-api"]
        self.assertTrue(errs)
        for x in errs:
            self.assertRegex(x["cleared"], fodtest.RFC3339_MS)


class HangTest(FailoverCase):

    def test_hanging_primary_status_stays_fast(self):
        d = self.start(CHECK_INTERVAL="1h", FAST_INTERVAL="1h", CHECK_TIMEOUT="1500ms")
        self.primary.set_mode("hang")
        checker = d.connect(timeout=10)
        self.addCleanup(checker.close)
        n = self.primary_hits()
        t0 = time.monotonic()
        checker.send_line({"cmd": "check"})
        self.assertTrue(self.primary.wait_requests(n + 1, 2), "the check did not arrive")
        worst = 0.0
        with d.connect() as c:
            for _ in range(20):
                t = time.monotonic()
                r = d.request({"cmd": "status"}, conn=c)
                worst = max(worst, time.monotonic() - t)
                self.assertOk(r)
                self.assertEqual(r["result"]["state"], "primary")
        self.assertLess(worst, 0.1, "status took %.0f ms during a hanging check" % (worst * 1000))
        self.assertLess(time.monotonic() - t0, 1.4, "the status requests were slow")
        r = checker.read_json(5)
        took = time.monotonic() - t0
        res = self.assertOk(r)
        self.assertIs(res["healthy"], False)
        self.assertIsNone(res["status"])
        self.assertRegex(res["error"], "(?i)time")
        self.assertGreaterEqual(took, 1.4)
        self.assertLess(took, 3.0)
        loc = d.status()["local"]
        self.assertEqual(loc["consecutive_failures"], 1)
        self.assertRegex(loc["last_error"], "(?i)time")


class RestartTest(FailoverCase):
    start_delay = 2.0  # the machine stays `starting` this long

    def test_sigkill_after_start_accepted_then_restart_finishes(self):
        d = self.start()
        self.primary.set_mode("down")
        wait_until(lambda: self.starts() == 1, 10, msg="the start request")
        self.assertEqual(self.fly.state(APP, self.mid), "starting")
        self.assertEqual(d.status()["state"], "failing-over")
        d.kill9()
        with open(d.state_file) as f:
            self.assertEqual(json.load(f)["side"], "failing-over")
        d.proc = None
        d.start()
        s = self.wait_state(d, "standby", 15)
        self.assertIs(s["standby"]["active"], True)
        # The restart finished the activation: standby only once the machine
        # is started and FLY_HEALTH_URL verified, not while it is `starting`.
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        self.assertIs(s["standby"]["healthy"], True, s["standby"])
        time.sleep(0.5)  # and nothing more afterwards
        self.assertEqual(self.starts(), 1, self.fly.requests("POST"))
        self.assertEqual(self.stops(), 0)
        self.assertEqual(d.status()["state"], "standby")


class RestartBeforeStartTest(FailoverCase):

    def test_sigkill_while_start_hangs_then_restart_starts_once(self):
        d = self.start()
        self.fly.fault(method="POST", path=r"/start$", hang=True, count=1)
        ev = self.events(d, ["state"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "failing-over")
        wait_until(lambda: self.fly.requests("POST", r"/start$"), 5,
                   msg="the start request (hanging)")
        d.kill9()
        self.assertEqual(self.fly.state(APP, self.mid), "stopped")
        d.proc = None
        d.start()
        s = self.wait_state(d, "standby", 15)
        self.assertIs(s["standby"]["active"], True)
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        time.sleep(0.5)  # and nothing more afterwards
        self.assertEqual(self.starts(), 1, self.fly.requests("POST"))
        self.assertEqual(d.status()["state"], "standby")


class StandbyWatchTest(FailoverCase):
    """While standby the standby is watched (contract §2): a machine that
    stops, or a failing FLY_HEALTH_URL, raises an alert and the machine is
    started again."""

    def go_standby(self):
        d = self.start(CHECK_INTERVAL="200ms", FAILBACK="manual")
        self.primary.set_mode("down")
        self.wait_state(d, "standby")
        self.assertEqual(self.starts(), 1)
        return d

    def test_machine_stopped_behind_our_back_is_started_again(self):
        d = self.go_standby()
        ev = self.events(d, ["standby", "error"])
        self.fly.set_state(APP, self.mid, "stopped")
        wait_until(lambda: self.starts() == 2, 10, msg="the machine started again")
        self.wait_event(d, ev, lambda e: e["type"] == "standby" and e["action"] == "restart"
                        and e["phase"] == "done", 10, "standby restart done")
        self.assertEqual(d.status()["state"], "standby")
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        self.wait_event(d, ev, lambda e: e["type"] == "error" and e["what"] == "standby"
                        and e["cleared"], 5, "the standby error cleared")

    def test_failing_standby_health_restarts_the_machine(self):
        d = self.go_standby()
        ev = self.events(d, ["standby", "error"])
        self.standby_health.set_mode("503")
        self.wait_event(d, ev, lambda e: e["type"] == "error"
                        and e["what"] == "standby-health", 10, "the standby-health alert")
        wait_until(lambda: self.stops() == 1, 10, msg="the unhealthy standby stopped")
        self.standby_health.set_mode("up")
        wait_until(lambda: self.starts() == 2, 10, msg="the machine started again")
        self.wait_event(d, ev, lambda e: e["type"] == "standby" and e["action"] == "restart"
                        and e["phase"] == "done", 10, "standby restart done")
        wait_until(lambda: d.status()["standby"]["healthy"] is True, 5, msg="healthy again")
        self.assertEqual(d.status()["state"], "standby")
        self.assertIn("standby-health", [e["what"] for e in d.status()["errors"]])
        self.wait_event(d, ev, lambda e: e["type"] == "error" and e["what"] == "standby-health"
                        and e["cleared"], 10, "standby-health cleared")
        for x in d.status()["errors"]:
            if x["what"] == "standby-health":
                self.assertIsNotNone(x["cleared"])

    def test_paused_standby_is_not_restarted(self):
        d = self.go_standby()
        d.result("pause")
        self.standby_health.set_mode("503")
        time.sleep(2)  # nothing may happen within this window
        self.assertEqual(self.stops(), 0)
        self.assertEqual(self.starts(), 1)


class DriftTest(FailoverCase):

    def check_drift(self, d, why):
        ev = d.events(types=["drift", "state", "standby", "sync"], backlog=100)
        self.addCleanup(ev.close)
        drift = self.wait_event(d, ev, lambda e: e["type"] == "drift", 5, "a drift event")
        self.assertIn(why, drift["detail"])
        wait_until(lambda: self.fly.state(APP, self.mid) == "stopped", 10,
                   msg="the drifted machine to be stopped")
        self.assertEqual(self.stops(), 1)
        self.assertEqual(self.starts(), 0)
        self.drain(ev)
        tos = [(e["from"], e["to"]) for e in ev.seen if e["type"] == "state"]
        self.assertEqual(tos, [("starting", "primary")])
        deact = [e for e in ev.seen if e["type"] == "standby"]
        self.assertTrue(deact and all(e["action"] == "deactivate" for e in deact), deact)
        self.assertEqual([e for e in ev.seen if e["type"] == "sync"], [], "no pull")
        s = d.status()
        self.assertEqual(s["state"], "primary")
        self.assertIs(s["standby"]["active"], False)
        self.assertEqual(s["counters"]["failbacks"], 0)

    def test_drift_with_state_file_primary(self):
        d = self.start()
        d.stop()
        with open(d.state_file) as f:
            self.assertEqual(json.load(f)["side"], "primary")
        self.fly.set_state(APP, self.mid, "started")
        d.proc = None
        d.start()
        self.check_drift(d, "STATE_FILE says primary")

    def test_drift_without_state_file(self):
        self.fly.set_state(APP, self.mid, "started")
        d = self.make_daemon(self.config(), env={"FLY_API_TOKEN": TOKEN})
        self.assertFalse(os.path.exists(d.state_file))
        d.start()
        self.check_drift(d, "no STATE_FILE")


if __name__ == "__main__":
    fodtest.main()
