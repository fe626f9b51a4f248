#!/usr/bin/env python3
"""Failover and failback end to end: the real failoverd against
fakes/fake_fly.py (the Fly Machines API) and fakes/fake_primary.py (the
local primary's health endpoint), with sub-second intervals.

Every wait is a deadline-bounded condition; the only plain sleeps prove
that something does NOT happen within a window. Faults and crashes are in
test_failover_faults.py.
"""

import calendar
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import RFC3339_MS, Abort, wait_until  # noqa: E402
from fake_fly import FakeFly  # noqa: E402

try:
    from fake_primary import FakePrimary  # noqa: E402
except ImportError:  # being written alongside; skip rather than fail
    FakePrimary = None

APP = "standby-app"
TOKEN = "fo1_FailoverTestTok3nValue"


def ev_time(e):
    """An event's `time` (RFC 3339, ms) as seconds since the epoch."""
    t = e["time"]
    assert RFC3339_MS.match(t), t
    return calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) + int(t[20:23]) / 1000.0


class FailoverCase(fodtest.DaemonTestCase):
    """A fake Fly app with one stopped machine, a fake primary (up) and a
    fake standby health endpoint (up); start() runs failoverd against them."""

    start_delay = 0.2
    stop_delay = 0.2

    def setUp(self):
        super().setUp()
        if FakePrimary is None:
            self.skipTest("fakes/fake_primary.py is not there yet")
        self.fly = FakeFly(tokens=[TOKEN], start_delay=self.start_delay,
                           stop_delay=self.stop_delay).start()
        self.addCleanup(self.fly.stop)
        self.fly.add_app(APP)
        self.mid = self.fly.add_machine(APP, "stopped", "iad")
        self.primary = FakePrimary().start()
        self.addCleanup(self.primary.stop)
        self.standby_health = FakePrimary().start()
        self.addCleanup(self.standby_health.stop)

    def config(self, **kw):
        c = {
            "PROVIDER": "fly",
            "FLY_APP": APP,
            "FLY_API_HOSTNAME": self.fly.url,
            "FLY_HEALTH_URL": self.standby_health.url,
            "LOCAL_HEALTH_URL": self.primary.url,
            "CHECK_INTERVAL": "300ms",
            "FAST_INTERVAL": "50ms",
            "CHECK_TIMEOUT": "500ms",
            "MIN_STANDBY_TIME": "0",
            "ACTIVATION_TIMEOUT": "30s",
        }
        for k, v in kw.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def start(self, token=TOKEN, wait_state="primary", **kw):
        d = self.start_daemon(self.config(**kw), env={"FLY_API_TOKEN": token})
        if wait_state:
            self.wait_state(d, wait_state)
        return d

    # --- helpers ----------------------------------------------------------
    def events(self, d, types):
        ev = d.events(types=types)
        self.addCleanup(ev.close)
        return ev

    def alive(self, d):
        if not d.running():
            raise Abort("failoverd died:\n" + d.log_tail())
        return True

    def wait_state(self, d, state, timeout=10.0):
        def pred():
            self.alive(d)
            s = d.status()
            return s if s["state"] == state else None
        try:
            return wait_until(pred, timeout, interval=0.02, msg="state %s" % state)
        except AssertionError as e:
            raise AssertionError("%s\n--- daemon log ---\n%s" % (e, d.log_tail()))

    def wait_event(self, d, ev, pred, timeout=10.0, what="an event"):
        try:
            return ev.wait_for(pred, timeout)
        except AssertionError as e:
            raise AssertionError("waiting for %s: %s\n--- daemon log ---\n%s"
                                 % (what, e, d.log_tail()))

    def wait_to(self, d, ev, state, timeout=10.0):
        return self.wait_event(d, ev, lambda e: e["type"] == "state" and e["to"] == state,
                               timeout, "state -> %s" % state)

    def starts(self):
        return self.fly.starts(self.mid)

    def primary_hits(self):
        return self.primary.request_count

    def standby_health_hits(self):
        return self.standby_health.request_count

    def stops(self):
        return len([r for r in self.fly.requests("POST", "/machines/%s/stop$" % self.mid)
                    if r["status"] == 200])

    def drain(self, ev, quiet=0.1):
        """Reads what the daemon has sent (until quiet seconds pass without
        an event) into ev.seen."""
        while True:
            try:
                if ev.next(quiet) is None:
                    return
            except TimeoutError:
                return

    def state_tos(self, ev):
        self.drain(ev)
        return [e["to"] for e in ev.seen if e["type"] == "state"]

    def check(self, d):
        r = d.request({"cmd": "check"}, timeout=10)
        self.assertOk(r)
        return r["result"]


class FailoverTest(FailoverCase):

    def test_full_failover_and_failback(self):
        d = self.start()
        ev = self.events(d, ["state", "standby"])
        s = d.status()
        self.assertEqual(s["standby"]["machines"],
                         [{"id": self.mid, "state": "stopped", "region": "iad"}])
        self.assertIs(s["standby"]["active"], False)
        self.assertEqual(s["counters"]["failovers"], 0)

        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        s = d.status()
        self.assertEqual(s["state"], "standby")
        self.assertIs(s["standby"]["active"], True)
        self.assertRegex(s["standby"]["active_since"], RFC3339_MS)
        self.assertIs(s["forced"], False)
        self.assertEqual(s["counters"]["failovers"], 1)
        self.assertRegex(s["counters"]["last_failover"], RFC3339_MS)
        self.assertIs(s["local"]["healthy"], False)
        self.assertGreaterEqual(s["local"]["checks_failed"], 3)
        self.assertIsInstance(s["local"]["last_error"], str)
        self.assertTrue(s["local"]["last_error"])
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        # the standby's health was verified at FLY_HEALTH_URL
        self.assertGreater(self.standby_health_hits(), 0)
        wait_until(lambda: d.status()["standby"]["machines"] ==
                   [{"id": self.mid, "state": "started", "region": "iad"}], 5,
                   msg="status to list the machine as started")

        self.primary.set_mode("up")
        self.wait_to(d, ev, "primary")
        s = d.status()
        self.assertEqual(s["state"], "primary")
        self.assertEqual(self.state_tos(ev),
                         ["failing-over", "standby", "failing-back", "primary"])
        self.assertEqual(self.starts(), 1, self.fly.requests("POST"))
        self.assertEqual(self.stops(), 1, self.fly.requests("POST"))
        self.assertEqual(self.fly.state(APP, self.mid), "stopped")

        phases = [(e["action"], e["phase"]) for e in ev.seen if e["type"] == "standby"]
        for want in (("activate", "begin"), ("activate", "done"),
                     ("deactivate", "begin"), ("deactivate", "done")):
            self.assertIn(want, phases)
        self.assertLess(phases.index(("activate", "done")), phases.index(("deactivate", "begin")))

        local = s["local"]
        self.assertEqual(local["url"], self.primary.url)
        self.assertIs(local["healthy"], True)
        self.assertEqual(local["last_status"], 200)
        self.assertIsNone(local["last_error"])
        self.assertRegex(local["last_check"], RFC3339_MS)
        self.assertIsInstance(local["last_latency_ms"], (int, float))
        self.assertGreaterEqual(local["consecutive_successes"], 3)
        self.assertEqual(local["consecutive_failures"], 0)
        self.assertGreater(local["checks_total"], local["checks_failed"])
        sb = s["standby"]
        self.assertEqual(sb["provider"], "fly")
        self.assertEqual(sb["app"], APP)
        self.assertIs(sb["active"], False)
        self.assertIsNone(sb["active_since"])
        self.assertIsInstance(sb["active_seconds_total"], int)
        self.assertGreaterEqual(sb["active_seconds_total"], 0)
        self.assertIsInstance(sb["estimated_cost_usd"], (int, float))
        self.assertGreaterEqual(sb["estimated_cost_usd"], 0)
        wait_until(lambda: d.status()["standby"]["machines"] ==
                   [{"id": self.mid, "state": "stopped", "region": "iad"}], 5,
                   msg="status to list the machine as stopped")
        c = s["counters"]
        self.assertEqual((c["failovers"], c["failbacks"]), (1, 1))
        self.assertRegex(c["last_failback"], RFC3339_MS)
        self.assertGreaterEqual(c["last_failback"], c["last_failover"])
        self.assertIs(s["degraded"], False)

    def test_thresholds_exact(self):
        d = self.start(CHECK_INTERVAL="1h", FAST_INTERVAL="1h")
        ev = self.events(d, ["check", "state"])
        seen = []  # check events already matched

        def checked(failures, successes, healthy):
            r = self.check(d)
            self.assertIs(r["healthy"], healthy)
            e = self.wait_event(d, ev, lambda e: e["type"] == "check" and e not in seen,
                                5, "a check event")
            seen.append(e)
            self.assertEqual((e["failures"], e["successes"], e["healthy"]),
                             (failures, successes, healthy))
            loc = d.status()["local"]
            self.assertEqual((loc["consecutive_failures"], loc["consecutive_successes"]),
                             (failures, successes))

        self.primary.set_mode("down")
        checked(1, 0, False)
        checked(2, 0, False)
        self.primary.set_mode("up")
        checked(0, 1, True)
        self.primary.set_mode("down")
        checked(1, 0, False)
        checked(2, 0, False)
        time.sleep(0.3)  # nothing may happen on two failures
        self.assertEqual(d.status()["state"], "primary")
        self.assertEqual(self.fly.requests("POST"), [])
        self.assertEqual(self.state_tos(ev), [])

        checked(3, 0, False)
        self.wait_to(d, ev, "failing-over", 5)
        self.wait_to(d, ev, "standby", 10)
        self.assertEqual(self.starts(), 1)

    def test_fast_interval_after_first_failure(self):
        d = self.start(CHECK_INTERVAL="600ms", FAST_INTERVAL="100ms", FAILURE_THRESHOLD="8")
        ev = self.events(d, ["check"])
        self.wait_event(d, ev, lambda e: len(ev.seen) >= 3, 5, "three checks")
        self.assertTrue(all(e["healthy"] for e in ev.seen[:3]), ev.seen)
        self.primary.set_mode("down")
        self.wait_event(d, ev, lambda e: sum(1 for x in ev.seen if not x["healthy"]) >= 5,
                        10, "five failed checks")
        checks = list(ev.seen)
        times = [ev_time(e) for e in checks]
        first_bad = next(i for i, e in enumerate(checks) if not e["healthy"])
        # While healthy: CHECK_INTERVAL (600 ms) from the end of one to the next.
        for a, b in zip(times[:first_bad - 1], times[1:first_bad]):
            self.assertGreater(b - a, 0.45, checks)
            self.assertLess(b - a, 1.2, checks)
        # After the first failure: FAST_INTERVAL (100 ms).
        bad_times = times[first_bad:first_bad + 5]
        for a, b in zip(bad_times, bad_times[1:]):
            self.assertGreater(b - a, 0.07, checks)
            self.assertLess(b - a, 0.4, checks)

    def test_min_standby_time(self):
        d = self.start(MIN_STANDBY_TIME="3s", CHECK_INTERVAL="200ms")
        ev = self.events(d, ["state"])
        self.primary.set_mode("down")
        up = self.wait_to(d, ev, "standby")
        self.primary.set_mode("up")
        # healthy long enough for RECOVERY_THRESHOLD, yet within MIN_STANDBY_TIME
        wait_until(lambda: d.status()["local"]["consecutive_successes"] >= 3, 3,
                   msg="three good checks")
        left = ev_time(up) + 2.7 - time.time()
        if left > 0:
            time.sleep(left)  # prove nothing happens before MIN_STANDBY_TIME
        self.assertEqual(d.status()["state"], "standby", self.state_tos(ev))
        self.assertEqual(self.stops(), 0)
        back = self.wait_to(d, ev, "failing-back", 5)
        self.assertGreaterEqual(ev_time(back) - ev_time(up), 2.95)
        self.assertLess(ev_time(back) - ev_time(up), 4.0)
        self.wait_to(d, ev, "primary", 10)
        self.assertEqual(self.stops(), 1)

    def test_failback_manual(self):
        d = self.start(FAILBACK="manual", CHECK_INTERVAL="100ms")
        ev = self.events(d, ["state", "standby"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        self.primary.set_mode("up")
        wait_until(lambda: d.status()["local"]["consecutive_successes"] >= 3, 3,
                   msg="three good checks")
        time.sleep(1.0)  # prove no failback happens by itself
        self.assertEqual(d.status()["state"], "standby", self.state_tos(ev))
        self.assertEqual(self.stops(), 0)
        r = d.request({"cmd": "force-deactivate", "reason": "back home", "wait": True},
                      timeout=15)
        self.assertEqual(self.assertOk(r)["state"], "primary")
        self.assertEqual(self.stops(), 1)
        back = self.wait_to(d, ev, "failing-back", 2)
        self.assertIn("back home", back["reason"])
        self.assertEqual(self.state_tos(ev),
                         ["failing-over", "standby", "failing-back", "primary"])
        self.assertIs(d.status()["paused"], False)


class ForceTest(FailoverCase):

    def test_force_activate_wait_noop_and_back(self):
        d = self.start()
        ev = self.events(d, ["state", "control"])
        r = d.request({"cmd": "force-activate", "reason": "drill", "wait": True}, timeout=15)
        self.assertEqual(self.assertOk(r)["state"], "standby")
        s = d.status()
        self.assertEqual(s["state"], "standby")
        self.assertIs(s["forced"], True)
        self.assertEqual(self.starts(), 1)
        ctl = self.wait_event(d, ev, lambda e: e["type"] == "control", 2, "a control event")
        self.assertEqual((ctl["cmd"], ctl["ok"]), ("force-activate", True))
        over = self.wait_to(d, ev, "failing-over", 2)
        self.assertLess(ctl["seq"], over["seq"], "control comes before what it causes")
        self.assertIn("drill", over["reason"])

        # toward the side already active: a no-op success
        r = d.request({"cmd": "force-activate"})
        self.assertEqual(self.assertOk(r)["state"], "standby")
        time.sleep(0.3)
        self.assertEqual(self.starts(), 1)
        self.assertEqual(self.state_tos(ev), ["failing-over", "standby"])

        # back with a healthy primary, without force
        r = d.request({"cmd": "force-deactivate", "wait": True}, timeout=15)
        self.assertEqual(self.assertOk(r)["state"], "primary")
        s = d.status()
        self.assertIs(s["forced"], False)
        self.assertIs(s["paused"], False)
        self.assertEqual(self.stops(), 1)
        r = d.request({"cmd": "force-deactivate"})
        self.assertEqual(self.assertOk(r)["state"], "primary")

        # without wait: replies at once, the activation goes on
        r = d.request({"cmd": "force-activate", "reason": "again"})
        self.assertIn(self.assertOk(r)["state"], ("failing-over", "standby"))
        self.wait_state(d, "standby")
        self.assertEqual(self.starts(), 2)
        self.assertIs(d.status()["forced"], True)

    def test_force_the_other_way_during_a_transition_is_a_conflict(self):
        d = self.start()
        self.fly.fault(method="POST", path=r"/start$", delay=1.0)
        r = d.request({"cmd": "force-activate"})
        self.assertEqual(self.assertOk(r)["state"], "failing-over")
        self.assertError(d.request({"cmd": "force-deactivate"}), "conflict")
        self.assertOk(d.request({"cmd": "force-activate"}))  # same way: a no-op
        self.wait_state(d, "standby")
        self.fly.fault(method="POST", path=r"/stop$", delay=1.0)
        r = d.request({"cmd": "force-deactivate"})
        self.assertEqual(self.assertOk(r)["state"], "failing-back")
        self.assertError(d.request({"cmd": "force-activate"}), "conflict")
        self.assertOk(d.request({"cmd": "force-deactivate"}))  # same way: a no-op
        self.wait_state(d, "primary")
        self.assertEqual((self.starts(), self.stops()), (1, 1))

    def test_auto_stop_undoes_forced_activation(self):
        d = self.start(AUTO_STOP="1s", CHECK_INTERVAL="100ms")
        ev = self.events(d, ["state"])
        r = d.request({"cmd": "force-activate", "wait": True}, timeout=15)
        self.assertEqual(self.assertOk(r)["state"], "standby")
        up = self.wait_to(d, ev, "standby", 1)
        back = self.wait_to(d, ev, "failing-back", 5)
        self.assertIn("AUTO_STOP", back["reason"])
        self.assertGreaterEqual(ev_time(back) - ev_time(up), 0.95)
        self.wait_to(d, ev, "primary", 10)
        s = d.status()
        self.assertIs(s["forced"], False)
        self.assertEqual((self.starts(), self.stops()), (1, 1))

    def test_primary_failing_while_forced_makes_a_real_failover(self):
        d = self.start(AUTO_STOP="1s", CHECK_INTERVAL="100ms")
        r = d.request({"cmd": "force-activate", "wait": True}, timeout=15)
        self.assertEqual(self.assertOk(r)["state"], "standby")
        self.assertIs(d.status()["forced"], True)
        self.primary.set_mode("down")
        wait_until(lambda: d.status()["forced"] is False, 3, msg="forced to turn false")
        time.sleep(1.2)  # past AUTO_STOP: a real failover is not undone
        s = d.status()
        self.assertEqual(s["state"], "standby")
        self.assertEqual((self.starts(), self.stops()), (1, 0))

    def test_force_deactivate_conflict_then_force_pauses(self):
        d = self.start()
        ev = self.events(d, ["state", "pause", "control"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        r = d.request({"cmd": "force-deactivate"})
        self.assertError(r, "conflict")
        self.assertEqual(d.status()["state"], "standby")
        self.assertEqual(self.stops(), 0)

        t0 = time.time()
        r = d.request({"cmd": "force-deactivate", "force": True, "reason": "maintenance",
                       "wait": True}, timeout=15)
        res = self.assertOk(r)
        self.assertEqual(res["state"], "primary")
        # A bounded pause (10 minutes by default), said in the reply.
        self.assertIs(res["paused"], True)
        until = ev_time({"time": res["paused_until"]})
        self.assertAlmostEqual(until - t0, 600, delta=20)
        s = d.status()
        self.assertIs(s["paused"], True)
        self.assertEqual(s["paused_until"], res["paused_until"])
        p = self.wait_event(d, ev, lambda e: e["type"] == "pause", 2, "a pause event")
        self.assertIs(p["paused"], True)
        self.assertEqual(p["paused_until"], res["paused_until"])
        self.assertEqual(self.stops(), 1)
        time.sleep(1.0)  # paused on a sick primary: no failover again
        self.assertEqual(d.status()["state"], "primary")
        self.assertEqual(self.starts(), 1)

    def test_force_deactivate_force_pause_expires(self):
        """`pause` sets the bound; when it expires, the still-sick primary
        is failed over again as usual."""
        d = self.start()
        ev = self.events(d, ["state", "pause"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        r = d.request({"cmd": "force-deactivate", "force": True, "pause": "1.5s",
                       "wait": True}, timeout=15)
        res = self.assertOk(r)
        self.assertEqual(res["state"], "primary")
        self.assertIsNotNone(res["paused_until"])
        end = self.wait_event(d, ev, lambda e: e["type"] == "pause" and not e["paused"], 10,
                              "the pause's end")
        self.wait_event(d, ev, lambda e: e["seq"] > end["seq"] and e["type"] == "state"
                        and e["to"] == "standby", 10, "a failover after the pause")
        self.assertEqual(self.starts(), 2)
        for bad in (0, -1, "0", "soon", True):
            self.assertError(d.request({"cmd": "force-deactivate", "force": True,
                                        "pause": bad}), "invalid-argument")

    def test_force_deactivate_force_aborts_an_activation(self):
        """force-deactivate with force during failing-over: the activation
        is abandoned, whatever it started is stopped, the primary is the
        active side again (no pull), and the cause says who did it."""
        d = self.start()
        ev = self.events(d, ["state", "standby"])
        self.fly.fault(method="POST", path=r"/start$", delay=1.0)
        r = d.request({"cmd": "force-activate", "reason": "drill"})
        self.assertEqual(self.assertOk(r)["state"], "failing-over")
        wait_until(lambda: self.fly.requests("POST", r"/start$"), 5, msg="the start request")
        r = d.request({"cmd": "force-deactivate", "force": True, "reason": "abort",
                       "wait": True}, timeout=15)
        self.assertEqual(self.assertOk(r)["state"], "primary")
        self.assertIs(r["result"]["paused"], False)  # the primary is healthy
        e = self.wait_event(d, ev, lambda e: e["type"] == "state" and e["to"] == "failing-back",
                            5, "failing-back")
        self.assertEqual(e["from"], "failing-over")
        self.assertRegex(e["reason"],
                         r"^activation aborted: force-deactivate by uid \d+: abort$")
        # The delayed start went through on the API's side: it is stopped.
        wait_until(lambda: self.fly.state(APP, self.mid) == "stopped", 10,
                   msg="the machine stopped")
        s = d.status()
        self.assertEqual(s["state"], "primary")
        self.assertIs(s["standby"]["active"], False)
        self.assertIs(s["forced"], False)
        self.assertEqual(s["cause"]["what"], "force-deactivate")
        self.assertEqual(s["counters"]["failbacks"], 0)
        time.sleep(0.5)
        self.assertEqual(d.status()["state"], "primary")
        # One start request (abandoned by the daemon mid-flight), no other.
        self.assertEqual(len(self.fly.requests("POST", r"/start$")), 1)

    def test_status_cause(self):
        """status.cause says what started the current or last transition:
        the threshold with the last check error, or the operator's
        command with its reason and uid."""
        d = self.start()
        self.assertIsNone(d.status()["cause"])
        self.primary.set_mode("down")
        self.wait_state(d, "standby")
        c = d.status()["cause"]
        self.assertEqual(c["what"], "threshold")
        self.assertEqual(c["failures"], 3)
        self.assertIn("connection refused", c["error"])
        self.assertIn("primary failed 3 consecutive checks", c["detail"])
        self.assertRegex(c["time"], fodtest.RFC3339_MS)
        self.primary.set_mode("up")
        self.wait_state(d, "primary")
        c = d.status()["cause"]
        self.assertEqual((c["what"], c["successes"]), ("recovery", 3))
        r = d.request({"cmd": "force-activate", "reason": "disk swap", "wait": True},
                      timeout=15)
        self.assertOk(r)
        c = d.status()["cause"]
        self.assertEqual((c["what"], c["reason"], c["uid"]),
                         ("force-activate", "disk swap", os.getuid()))
        r = d.request({"cmd": "force-deactivate", "wait": True}, timeout=15)
        self.assertOk(r)
        c = d.status()["cause"]
        self.assertEqual((c["what"], c["reason"], c["uid"]),
                         ("force-deactivate", None, os.getuid()))

    def test_force_deactivate_cli_pause(self):
        """failoverctl force-deactivate -f -p DURATION, and the reply says
        until when."""
        d = self.start()
        self.primary.set_mode("down")
        self.wait_state(d, "standby")
        for bad in ("0", "soon", "-5s"):
            rc, out, err = d.ctl("force-deactivate", "-f", "-p", bad)
            self.assertEqual(rc, 2, (bad, out, err))
        self.assertEqual(d.status()["state"], "standby")
        t0 = time.time()
        rc, out, err = d.ctl("force-deactivate", "-w", "-f", "-p", "45m", "-r", "drill")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("state: primary", out)
        self.assertIn("paused: true", out)
        until = d.status()["paused_until"]
        self.assertIn("paused_until: " + until, out)
        self.assertAlmostEqual(ev_time({"time": until}) - t0, 45 * 60, delta=20)


class PauseTest(FailoverCase):

    def test_pause_stops_checks_and_actions(self):
        d = self.start(CHECK_INTERVAL="100ms", FAST_INTERVAL="100ms")
        ev = self.events(d, ["state", "check", "pause"])
        r = d.request({"cmd": "pause"})
        self.assertEqual(self.assertOk(r), {"paused": True, "paused_until": None})
        self.primary.set_mode("503")  # answers (and is counted), unhealthy
        # a check in flight when pausing may still end
        time.sleep(0.2)
        n = self.primary_hits()
        time.sleep(1.0)  # prove: no automatic check while paused (else ~10)
        self.assertEqual(self.primary_hits(), n)
        # `check` works while paused, is counted, and starts nothing
        for i in range(1, 4):
            self.assertIs(self.check(d)["healthy"], False)
        self.assertEqual(d.status()["local"]["consecutive_failures"], 3)
        self.assertEqual(self.primary_hits(), n + 3)
        time.sleep(0.5)
        self.assertEqual(d.status()["state"], "primary")
        self.assertEqual(self.fly.requests("POST"), [])
        self.assertEqual(self.state_tos(ev), [])

        r = d.request({"cmd": "resume"})
        self.assertEqual(self.assertOk(r), {"paused": False})
        self.wait_to(d, ev, "standby")
        # resume reset the counts: the first check after it says failures 1
        after = [e for e in ev.seen if e["type"] in ("check", "pause")]
        i = max(j for j, e in enumerate(after) if e["type"] == "pause")
        self.assertEqual(after[i + 1]["type"], "check")
        self.assertEqual(after[i + 1]["failures"], 1)
        self.assertEqual(self.starts(), 1)

    def test_resume_checks_at_once(self):
        d = self.start(CHECK_INTERVAL="1h", FAST_INTERVAL="1h")
        self.assertOk(d.request({"cmd": "pause"}))
        n = self.primary_hits()
        t0 = time.monotonic()
        self.assertOk(d.request({"cmd": "resume"}))
        wait_until(lambda: self.primary_hits() > n, 2, msg="a check right after resume")
        self.assertLess(time.monotonic() - t0, 1.0)


if __name__ == "__main__":
    fodtest.main()
