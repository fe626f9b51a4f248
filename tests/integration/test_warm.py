#!/usr/bin/env python3
"""A warm standby and Fly machine leases (CONTRACT §11, issue 13 items 4, 6
and 7): FLY_STANDBY_MODE=suspended, FLY_LEASE, and requests exactly as the
Machines API's OpenAPI defines them, against fakes/fake_fly.py.

WarmProviderTest drives one provider operation at a time (tests/tools/
provtool); WarmDaemonTest runs the real failoverd through failovers and
failbacks. Every wait is a deadline-bounded condition.
"""

import json
import os
import re
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
from fake_fly import FakeFly  # noqa: E402
from fodtest import wait_until  # noqa: E402
from test_failover import FailoverCase  # noqa: E402
import test_fly  # noqa: E402  (its helpers, not its tests)
from test_fly import PROVTOOL  # noqa: E402

APP = "standby-app"
TOKEN = "fo1_Sekr3tTokenValue"
NONCE = "fly-machine-lease-nonce"


def hdr(r, name):
    """A request's header, by name in any case; None when absent."""
    for k, v in r["headers"].items():
        if k.lower() == name.lower():
            return v
    return None


def action_of(r):
    return r["method"] + " " + r["path"].rsplit("/", 1)[1]


class WarmProviderTest(unittest.TestCase):
    """One operation at a time, FLY_STANDBY_MODE=suspended unless said."""

    run_op = test_fly.FlyProviderTest.run_op
    assertRes = test_fly.FlyProviderTest.assertRes
    waits = test_fly.FlyProviderTest.waits

    def setUp(self):
        if not os.access(PROVTOOL, os.X_OK):
            self.skipTest("%s not built (make check builds it)" % PROVTOOL)
        self.fake = FakeFly(tokens=[TOKEN], start_delay=0.2, stop_delay=0.2).start()
        self.addCleanup(self.fake.stop)
        self.fake.add_app(APP)

    def warm(self, op, **keys):
        keys.setdefault("FLY_STANDBY_MODE", "suspended")
        return self.run_op(op, **keys)

    def mutations(self):
        return [r for r in self.fake.requests("POST")
                if re.search(r"/(start|stop|suspend)$", r["path"])]

    def assert_no_body(self, reqs):
        for r in reqs:
            self.assertEqual(r["body"], "", r)
            self.assertIsNone(hdr(r, "Content-Type"), r)

    # --- suspend and resume ---------------------------------------------------
    def test_activate_resumes_a_suspended_machine_warm(self):
        mid = self.fake.add_machine(APP, "suspended", "iad")
        stopped = self.fake.add_machine(APP, "stopped", "ord")
        res = self.warm("activate")
        self.assertRes(res, "ok")
        # the suspended one is preferred, and started as it is: no stop first
        self.assertEqual([action_of(r) for r in self.mutations()], ["POST start"])
        self.assertEqual(self.fake.starts(mid), 1)
        self.assertEqual(self.fake.starts(stopped), 0)
        self.assertTrue(self.fake.machine(APP, mid).resumed)
        self.assertEqual(self.fake.state(APP, mid), "started")
        got = {m["id"]: m["previous_state"] for m in res["machines"]}
        self.assertEqual(got[mid], "suspended")
        self.assertTrue(any("%s: previous_state suspended: warm" % mid in p
                            for p in res["progress"]), res["progress"])
        self.assertTrue(any("resuming machine %s" % mid in p for p in res["progress"]))
        self.assertEqual(self.fake.stops_of_suspended, [])
        self.assert_no_body(self.fake.requests("POST", r"/start$"))

    def test_cold_start_says_cold(self):
        mid = self.fake.add_machine(APP, "stopped")
        res = self.warm("activate")
        self.assertRes(res, "ok")
        self.assertEqual(res["machines"][0]["previous_state"], "stopped")
        self.assertTrue(any("%s: previous_state stopped: cold" % mid in p
                            for p in res["progress"]), res["progress"])

    def test_stopped_mode_still_stops_a_suspended_machine_first(self):
        # FLY_STANDBY_MODE=stopped (the default) keeps the cold path
        mid = self.fake.add_machine(APP, "suspended")
        res = self.run_op("activate")
        self.assertRes(res, "ok")
        self.assertEqual([action_of(r) for r in self.mutations()],
                         ["POST stop", "POST start"])
        self.assertFalse(self.fake.machine(APP, mid).resumed)

    def test_deactivate_suspends_and_waits_suspended(self):
        mid = self.fake.add_machine(APP, "started")
        left = self.fake.add_machine(APP, "suspended")
        res = self.warm("deactivate")
        self.assertRes(res, "ok")
        self.assertEqual([action_of(r) for r in self.mutations()], ["POST suspend"])
        self.assertEqual(self.fake.requests("POST", r"/suspend$")[0]["path"],
                         "/v1/apps/%s/machines/%s/suspend" % (APP, mid))
        self.assert_no_body(self.fake.requests("POST", r"/suspend$"))
        waits = self.waits()
        self.assertTrue(waits)
        for r in waits:
            self.assertEqual(r["query"]["state"], ["suspended"])
        self.assertEqual(self.fake.state(APP, mid), "suspended")
        self.assertTrue(self.fake.machine(APP, mid).snapshot)
        self.assertEqual(self.fake.state(APP, left), "suspended")
        self.assertEqual(self.fake.stops_of_suspended, [])
        self.assertEqual(res["notice"], "")
        self.assertEqual({m["id"]: m["state"] for m in res["machines"]}[mid], "suspended")

    def test_warm_up_is_activate_then_deactivate(self):
        # what the engine runs after start-up and failback: start, (verify,)
        # suspend; the next activation then resumes
        mid = self.fake.add_machine(APP, "stopped")
        self.assertRes(self.warm("activate"), "ok")
        self.assertRes(self.warm("deactivate"), "ok")
        self.assertEqual(self.fake.state(APP, mid), "suspended")
        self.assertTrue(self.fake.machine(APP, mid).snapshot)
        self.fake.clear_requests()
        res = self.warm("activate")
        self.assertRes(res, "ok")
        self.assertEqual(res["machines"][0]["previous_state"], "suspended")
        self.assertTrue(self.fake.machine(APP, mid).resumed)
        self.assertEqual(self.fake.stops_of_suspended, [])
        self.assertEqual([action_of(r) for r in self.mutations()], ["POST start"])

    def test_refused_suspend_stops_instead_with_a_notice(self):
        for status in (400, 412, 422):
            with self.subTest(status=status):
                mid = self.fake.add_machine(APP, "started")
                self.fake.machine(APP, mid).memory_mb = 4096
                self.fake.refuse_suspend(APP, mid, status=status)
                self.fake.clear_requests()
                res = self.warm("deactivate")
                self.assertRes(res, "ok")
                self.assertEqual([action_of(r) for r in self.mutations()],
                                 ["POST suspend", "POST stop"])
                self.assertEqual(self.fake.state(APP, mid), "stopped")
                self.assertIn("machine %s cannot be suspended (%d" % (mid, status),
                              res["notice"])
                self.assertIn("memory 4096 MB > 2048", res["notice"])
                self.assertIn("stopped instead", res["notice"])
                self.assertEqual(self.fake.stops_of_suspended, [])
                self.assertEqual(self.waits()[-1]["query"]["state"], ["stopped"])
                with self.fake.lock:
                    del self.fake.apps[APP][mid]

    def test_refused_suspend_of_a_suspending_machine_never_stops_it(self):
        mid = self.fake.add_machine(APP, "started")

        def another_client_suspends(action, _mid):
            # between the listing and our suspend, someone else's suspend
            # began: ours gets the fake's 412 (current state 'suspending')
            if action == "suspend":
                with self.fake.lock:
                    self.fake.apps[APP][_mid].begin("suspending", "suspended", 0.5,
                                                    time.time())
        self.fake.on_action = another_client_suspends
        res = self.warm("deactivate")
        self.assertRes(res, "ok")
        self.assertEqual(self.fake.requests("POST", r"/suspend$")[0]["status"], 412)
        self.assertEqual(self.fake.requests("POST", r"/stop$"), [])
        self.assertEqual(self.fake.state(APP, mid), "suspended")
        self.assertEqual(self.fake.stops_of_suspended, [])
        self.assertEqual(res["notice"], "")

    def test_refused_suspend_of_a_starting_machine_is_a_retry(self):
        mid = self.fake.add_machine(APP, "starting")
        self.fake.machine(APP, mid).pending = ("started", time.time() + 60)
        res = self.warm("deactivate")
        # the fake's 412 (current state 'starting'): not stopped, tried again
        self.assertRes(res, "retry")
        self.assertIn("is starting", res["error"])
        self.assertEqual(self.fake.requests("POST", r"/stop$"), [])
        self.assertEqual(self.fake.state(APP, mid), "starting")

    def test_suspend_faults_change_nothing(self):
        mid = self.fake.add_machine(APP, "started")
        for kind, want, text in (("garbage", "failed", "suspend not confirmed"),
                                 (503, "retry", "suspend machine %s: 503" % mid),
                                 (429, "retry", "429"),
                                 (401, "config", "check FLY_API_TOKEN"),
                                 ("hang", "retry", "timeout")):
            with self.subTest(kind=kind):
                self.fake.clear_requests()
                if kind == "garbage":
                    self.fake.fault(method="POST", path=r"/suspend$", garbage=True)
                elif kind == "hang":
                    self.fake.fault(method="POST", path=r"/suspend$", hang=True)
                else:
                    self.fake.fault(method="POST", path=r"/suspend$", status=kind)
                res = self.warm("deactivate", args=["-t", "700"] if kind == "hang" else [])
                self.assertRes(res, want)
                self.assertIn(text, res["error"])
                self.assertEqual(self.fake.state(APP, mid), "started")
                self.assertEqual(self.fake.requests("POST", r"/stop$"), [])
                self.assertEqual(res["notice"], "")
                # the lease taken for the action is released all the same
                self.assertEqual(len(self.fake.requests("DELETE", r"/lease$")), 1)
                self.fake.clear_faults()

    def test_start_from_a_listing_in_suspended_mode(self):
        mid = self.fake.add_machine(APP, "suspended")
        res = self.warm("activate", FLY_LEASE="no")
        self.assertRes(res, "ok")
        self.assertEqual(self.fake.requests("POST", r"/lease$"), [])
        self.assertIsNone(hdr(self.fake.requests("POST", r"/start$")[0], NONCE))
        self.assertEqual(self.fake.starts(mid), 1)

    # --- leases ----------------------------------------------------------------
    def test_lease_held_around_the_action_and_sent_on_each_change(self):
        a = self.fake.add_machine(APP, "stopped", "iad")
        b = self.fake.add_machine(APP, "stopped", "ord")
        res = self.warm("activate", FLY_MACHINE_COUNT="2")
        self.assertRes(res, "ok")
        seq = [(action_of(r), r["path"].split("/")[5]) for r in self.fake.requests()
               if r["method"] != "GET"]
        self.assertEqual(seq[:4], [("POST lease", a), ("POST lease", b),
                                   ("POST start", a), ("POST start", b)])
        # the releases go out together: in either order
        self.assertEqual(sorted(seq[4:]), sorted([("DELETE lease", a), ("DELETE lease", b)]))
        for r in self.fake.requests("POST", r"/lease$"):
            body = json.loads(r["body"])
            self.assertEqual(body["ttl"], 10)
            self.assertTrue(body["description"].startswith("failoverd "))
            self.assertEqual(hdr(r, "Content-Type"), "application/json")
            self.assertEqual(r["status"], 201)
        nonces = {}
        for r in self.fake.requests("POST", r"/start$"):
            nonces[r["path"].split("/")[5]] = hdr(r, NONCE)
        self.assertTrue(all(nonces.values()), nonces)
        self.assertNotEqual(nonces[a], nonces[b])
        dels = self.fake.requests("DELETE", r"/lease$")
        self.assert_no_body(dels)
        for r in dels:
            self.assertEqual(hdr(r, NONCE), nonces[r["path"].split("/")[5]])
            self.assertEqual(r["status"], 200)
        # nothing is left held
        self.assertIsNone(self.fake.machine(APP, a).lease_held(time.time()))
        self.assertIsNone(self.fake.machine(APP, b).lease_held(time.time()))
        # the nonce never reaches the output
        for n in nonces.values():
            self.assertNotIn(n, res["_out"])

    def test_lease_refreshed_while_the_action_runs(self):
        mid = self.fake.add_machine(APP, "stopped")
        self.fake.start_delay = 4.5  # the machine stays `starting` this long
        res = self.warm("activate")
        self.assertRes(res, "ok")
        leases = self.fake.requests("POST", r"/lease$")
        self.assertGreaterEqual(len(leases), 2, [action_of(r) for r in self.fake.requests()])
        nonce = hdr(self.fake.requests("POST", r"/start$")[0], NONCE)
        self.assertIsNone(hdr(leases[0], NONCE))
        for r in leases[1:]:
            self.assertEqual(hdr(r, NONCE), nonce)  # a refresh, same nonce
            self.assertEqual(r["status"], 201)
        self.assertEqual(self.fake.starts(mid), 1)

    def test_released_after_a_failed_action(self):
        mid = self.fake.add_machine(APP, "stopped")
        self.fake.fault(method="POST", path=r"/start$", status=500)
        res = self.warm("activate")
        self.assertRes(res, "retry")
        self.assertEqual(len(self.fake.requests("DELETE", r"/lease$")), 1)
        self.assertIsNone(self.fake.machine(APP, mid).lease_held(time.time()))

    def test_foreign_lease_is_a_retry_naming_the_holder(self):
        mid = self.fake.add_machine(APP, "stopped")
        self.fake.grant_lease(APP, mid, ttl=20)
        res = self.warm("activate")
        self.assertRes(res, "retry")
        self.assertIn("leased by someone-else@fly.io", res["error"])
        self.assertIn("409", res["error"])
        # timed to the lease's expiry (about 20 s), not the bare backoff
        self.assertGreater(res["retry_after_ms"], 15000)
        self.assertLessEqual(res["retry_after_ms"], 30000)
        self.assertEqual(self.fake.requests("POST", r"/start$"), [])
        self.assertEqual(self.fake.state(APP, mid), "stopped")
        self.assertTrue(any("leased by someone-else@fly.io" in p for p in res["progress"]))

    def test_lease_of_a_stopped_run_of_this_monitor_is_taken_over(self):
        mid = self.fake.add_machine(APP, "stopped")
        # a lease left by this monitor's killed run: its description
        first = self.warm("activate", FLY_MACHINE_COUNT="1")
        self.assertRes(first, "ok")
        desc = json.loads(self.fake.requests("POST", r"/lease$")[0]["body"])["description"]
        self.assertRes(self.warm("deactivate"), "ok")
        with self.fake.lock:
            m = self.fake.apps[APP][mid]
            nonce = self.fake._new_lease(m, 10, self.fake.lease_owner, desc, time.time())["nonce"]
        self.fake.clear_requests()
        res = self.warm("activate")
        self.assertRes(res, "ok")
        seq = [action_of(r) for r in self.fake.requests()]
        self.assertEqual(seq[:3], ["GET machines", "POST lease", "GET lease"])
        # taken over with its nonce, and renewed at once (a refresh beside the start)
        self.assertIn("POST start", seq)
        self.assertTrue([r for r in self.fake.requests("POST", r"/lease$")
                         if hdr(r, NONCE) == nonce and r["status"] == 201])
        self.assertEqual(self.fake.requests("POST", r"/lease$")[0]["status"], 409)
        self.assertEqual(hdr(self.fake.requests("POST", r"/start$")[0], NONCE), nonce)
        self.assertTrue(any("taking over the lease" in p for p in res["progress"]))
        self.assertIsNone(self.fake.machine(APP, mid).lease_held(time.time()))

    def test_missing_lease_endpoint_goes_on_without(self):
        for status in (404, 405):
            with self.subTest(status=status):
                mid = self.fake.add_machine(APP, "stopped")
                self.fake.lease_status = status
                self.fake.clear_requests()
                res = self.warm("activate")
                self.assertRes(res, "ok")
                self.assertEqual(self.fake.starts(mid), 1)
                self.assertIsNone(hdr(self.fake.requests("POST", r"/start$")[0], NONCE))
                self.assertTrue(any("no machine leases" in p for p in res["progress"]))
                self.assertIn("no lease endpoint", res["_out"])
                self.assertEqual(len(self.fake.requests(path=r"/lease$")), 1)
                self.fake.set_state(APP, mid, "destroyed")
                with self.fake.lock:
                    del self.fake.apps[APP][mid]

    def test_lease_faults_change_nothing(self):
        mid = self.fake.add_machine(APP, "stopped")
        for kind, want, text in (("garbage", "failed", "no lease taken"),
                                 (500, "retry", "lease machine %s: 500" % mid),
                                 (400, "failed", "lease machine %s: 400" % mid),
                                 (401, "config", "check FLY_API_TOKEN"),
                                 ("hang", "retry", "timeout"),
                                 ("nononce", "failed", "usable nonce")):
            with self.subTest(kind=kind):
                self.fake.clear_requests()
                if kind == "garbage":
                    self.fake.fault(method="POST", path=r"/lease$", garbage=True)
                elif kind == "hang":
                    self.fake.fault(method="POST", path=r"/lease$", hang=True)
                elif kind == "nononce":
                    self.fake.fault(method="POST", path=r"/lease$", status=201,
                                    body={"status": "success", "data": {"nonce": "a\r\nb"}})
                else:
                    self.fake.fault(method="POST", path=r"/lease$", status=kind)
                res = self.warm("activate", args=["-t", "700"] if kind == "hang" else [])
                self.assertRes(res, want)
                self.assertIn(text, res["error"])
                self.assertEqual(self.fake.requests("POST", r"/start$"), [])
                self.assertEqual(self.fake.state(APP, mid), "stopped")
                self.fake.clear_faults()

    def test_bodies_where_the_openapi_defines_none_are_rejected_by_the_fake(self):
        # the fake answers as an OpenAPI-validating proxy would: 400
        import urllib.request
        mid = self.fake.add_machine(APP, "stopped")
        base = "%s/v1/apps/%s/machines/%s/" % (self.fake.url, APP, mid)
        for method, action, body, ctype in (("POST", "start", b"{}", "application/json"),
                                            ("POST", "start", b"", "application/json"),
                                            ("POST", "suspend", b"{}", "application/json"),
                                            ("DELETE", "lease", b"{}", "application/json")):
            with self.subTest(action=action, body=body):
                req = urllib.request.Request(base + action, data=body, method=method, headers={
                    "Authorization": "Bearer " + TOKEN, "Content-Type": ctype})
                try:
                    urllib.request.urlopen(req, timeout=5)
                    self.fail("accepted")
                except urllib.error.HTTPError as e:
                    self.assertEqual(e.code, 400)
                    self.assertIn("defines no request body", json.loads(e.read())["error"])
        self.assertEqual(self.fake.state(APP, mid), "stopped")
        # and failoverd sends none: a whole activate/deactivate cycle passes it
        self.fake.clear_requests()
        self.assertRes(self.warm("activate"), "ok")
        self.assertRes(self.warm("deactivate"), "ok")
        self.assertEqual([r for r in self.fake.requests() if r["status"] == 400], [])


def standby_backlog(d):
    with d.events(backlog=500, types=["standby"], follow=False) as ev:
        return ev.read_until_closed()


def warmed(d):
    return [e for e in standby_backlog(d)
            if e["phase"] == "done" and e["detail"].startswith("warm-up done")]


def wait_warmed(d, n=1, timeout=15):
    wait_until(lambda: len(warmed(d)) >= n, timeout, msg="the standby's warm-up")


class WarmDaemonTest(FailoverCase):
    """The real daemon, FLY_STANDBY_MODE=suspended, a suspended standby."""

    def setUp(self):
        super().setUp()
        self.fly.set_state(APP, self.mid, "suspended")
        with self.fly.lock:
            self.fly.apps[APP][self.mid].snapshot = True

    def warm_start(self, **kw):
        kw.setdefault("FLY_STANDBY_MODE", "suspended")
        kw.setdefault("MIN_STANDBY_TIME", "0")
        d = self.start(**kw)
        if kw["FLY_STANDBY_MODE"] == "suspended":
            # After start-up the standby is warmed (contract §11): start,
            # verify, suspend. The tests below begin once it is done.
            wait_warmed(d)
        return d

    def posts(self):
        return [(action_of(r), r["status"]) for r in self.fly.requests()
                if r["method"] != "GET"]

    def assert_leased_around(self, seq, change):
        """seq (method+action) has a lease POST before `change` and its
        release after."""
        self.assertIn("POST lease", seq)
        self.assertIn(change, seq)
        self.assertIn("DELETE lease", seq)
        self.assertLess(seq.index("POST lease"), seq.index(change))
        self.assertLess(seq.index(change), seq.index("DELETE lease"))

    def test_failover_resumes_and_failback_suspends(self):
        d = self.warm_start()
        ev = self.events(d, ["state", "standby"])
        self.fly.clear_requests()
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        self.assertTrue(self.fly.machine(APP, self.mid).resumed)
        starts = self.fly.requests("POST", r"/start$")
        self.assertEqual(len(starts), 1)
        self.assertEqual(starts[0]["body"], "")
        self.assertIsNone(hdr(starts[0], "Content-Type"))
        self.assertTrue(hdr(starts[0], NONCE))
        wait_until(lambda: self.fly.requests("DELETE", r"/lease$"), 5, msg="the release")
        self.assert_leased_around([action_of(r) for r in self.fly.requests()
                                   if r["method"] != "GET"], "POST start")
        self.assertIn("previous_state suspended: warm", d.log_text())

        self.fly.clear_requests()
        self.primary.set_mode("up")
        self.wait_to(d, ev, "primary")
        # After the failback the standby is warmed again (contract §11):
        # its start and suspend follow the failback's suspend.
        wait_warmed(d, 2)
        self.assertEqual(self.fly.state(APP, self.mid), "suspended")
        self.assertTrue(self.fly.machine(APP, self.mid).snapshot)
        wait_until(lambda: all(r["status"] is not None for r in self.fly.lease_requests()),
                   5, msg="every lease request answered")
        seq = [action_of(r) for r in self.fly.requests() if r["method"] != "GET"]
        self.assert_leased_around(seq, "POST suspend")
        self.assertNotIn("POST stop", seq)
        self.assertEqual(self.fly.stops_of_suspended, [])
        starts = [i for i, a in enumerate(seq) if a == "POST start"]
        self.assertEqual(len(starts), 1, seq)  # the warm-up's, not the failback's
        self.assertGreater(starts[0], seq.index("POST suspend"))
        phases = [(e["action"], e["phase"]) for e in ev.seen if e["type"] == "standby"]
        self.assertNotIn(("deactivate", "retry"), phases)
        for r in self.fly.lease_requests():
            self.assertIn(r["status"], (200, 201))
        # nothing held afterwards, once the warm-up's release is answered
        wait_until(lambda: self.fly.machine(APP, self.mid).lease_held(time.time()) is None,
                   5, msg="no lease held")

    def test_refused_suspend_falls_back_to_stop(self):
        d = self.warm_start()
        ev = self.events(d, ["state"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        self.fly.refuse_suspend(APP, self.mid)
        self.fly.clear_requests()
        self.primary.set_mode("up")
        self.wait_to(d, ev, "primary")
        self.assertEqual(self.fly.state(APP, self.mid), "stopped")
        seq = [action_of(r) for r in self.fly.requests() if r["method"] != "GET"]
        # (the warm-up after the failback may follow: start, suspend, stop)
        self.assertEqual([s for s in seq if "lease" not in s][:2], ["POST suspend", "POST stop"])
        self.assertEqual(self.fly.stops_of_suspended, [])
        wait_until(lambda: "cannot be suspended" in d.log_text(), 5, msg="the reason logged")

    def test_foreign_lease_retries_and_starts_once(self):
        d = self.warm_start()
        ev = self.events(d, ["state", "standby"])
        self.fly.grant_lease(APP, self.mid, ttl=3)
        self.fly.clear_requests()
        self.primary.set_mode("down")
        retry = self.wait_event(d, ev, lambda e: e["type"] == "standby" and
                                e["phase"] == "retry", 10, "a retry")
        self.assertIn("someone-else@fly.io", retry["detail"])
        self.assertEqual(self.fly.requests("POST", r"/start$"), [])
        self.wait_to(d, ev, "standby", 15)
        self.assertEqual(self.fly.starts(self.mid), 1)
        self.assertEqual(len(self.fly.requests("POST", r"/start$")), 1)
        self.assertTrue(self.fly.machine(APP, self.mid).resumed)
        self.assertTrue([r for r in self.fly.lease_requests() if r["status"] == 409])

    def test_missing_lease_endpoint_reported_once(self):
        self.fly.lease_status = 404
        d = self.warm_start()
        ev = self.events(d, ["state"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        self.primary.set_mode("up")
        self.wait_to(d, ev, "primary")
        self.assertEqual(self.fly.state(APP, self.mid), "suspended")
        self.assertEqual(d.log_text().count("no lease endpoint"), 1, d.log_tail())
        self.assertGreaterEqual(len(self.fly.lease_requests()), 2)
        for r in self.fly.requests("POST"):
            self.assertIsNone(hdr(r, NONCE))

    def test_sigkill_between_lease_and_start_recovers(self):
        d = self.warm_start()
        self.fly.fault(method="POST", path=r"/start$", hang=True, count=1)
        self.fly.clear_requests()  # the warm-up's start is not this one
        ev = self.events(d, ["state"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "failing-over")
        wait_until(lambda: self.fly.requests("POST", r"/start$"), 5,
                   msg="the start request (hanging)")
        # leased, start not carried out
        self.assertIsNotNone(self.fly.machine(APP, self.mid).lease_held(time.time()))
        d.kill9()
        self.assertEqual(self.fly.state(APP, self.mid), "suspended")
        self.fly.clear_requests()
        d.proc = None
        t0 = time.monotonic()
        d.start()
        s = self.wait_state(d, "standby", 15)
        # this monitor's own lease is taken over at once, not waited out
        self.assertLess(time.monotonic() - t0, 8)
        self.assertIs(s["standby"]["active"], True)
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        self.assertTrue(self.fly.machine(APP, self.mid).resumed)
        self.assertEqual(self.fly.starts(self.mid), 1)
        seq = [action_of(r) for r in self.fly.requests()]
        self.assertIn("GET lease", seq)
        self.assertIn("taking over the lease", d.log_text())

    def test_suspend_errors_retry_then_suspend(self):
        d = self.warm_start()
        ev = self.events(d, ["state", "standby"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        self.fly.fault(method="POST", path=r"/suspend$", status=503, count=1)
        self.fly.clear_requests()
        self.primary.set_mode("up")
        self.wait_to(d, ev, "primary", 15)
        retries = [e for e in ev.seen if e["type"] == "standby" and e["phase"] == "retry"]
        self.assertTrue(any("suspend machine %s: 503" % self.mid in e["detail"]
                            for e in retries), ev.seen)
        self.assertEqual(self.fly.state(APP, self.mid), "suspended")
        self.assertEqual(self.fly.requests("POST", r"/stop$"), [])


class PromoteServer:
    """FLY_PROMOTE_URL's fake: answers POSTs with the statuses given in turn
    (the last one repeats) and keeps each request's body."""

    def __init__(self, statuses):
        import http.server
        outer = self
        self.statuses = list(statuses)
        self.bodies = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append((self.headers.get("Content-Type"),
                                     self.rfile.read(n).decode()))
                st = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(st)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/promote" % self.srv.server_address[1]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class WarmEngineTest(FailoverCase):
    """What the engine does with FLY_STANDBY_MODE=suspended and
    FLY_PROMOTE_URL (contract §11): the warm-up after start-up and after each
    failback, warm or cold in the standby events, a refused suspend as an
    error event, and the promotion."""

    def test_warm_up_after_start_up(self):
        d = self.start(FLY_STANDBY_MODE="suspended")
        wait_warmed(d)
        seq = [action_of(r) for r in self.fly.requests() if r["method"] != "GET"
               and "lease" not in action_of(r)]
        self.assertEqual(seq, ["POST start", "POST suspend"])
        self.assertEqual(self.fly.state(APP, self.mid), "suspended")
        self.assertTrue(self.fly.machine(APP, self.mid).snapshot)
        st = d.status()
        self.assertEqual(st["state"], "primary")
        self.assertIs(st["standby"]["active"], False)
        self.assertEqual(st["counters"]["failovers"], 0)
        with d.events(backlog=500, types=["drift"], follow=False) as ev:
            self.assertEqual(ev.read_until_closed(), [], "the warm-up is no drift")
        # Once: no second warm-up while nothing changes.
        time.sleep(1.0)
        self.assertEqual(len(warmed(d)), 1)
        self.assertEqual(len(self.fly.requests("POST", r"/start$")), 1)

    def test_no_warm_up_in_stopped_mode(self):
        d = self.start()
        time.sleep(1.0)  # nothing may be started within this window
        self.assertEqual(self.fly.requests("POST", r"/start$"), [])
        self.assertEqual(warmed(d), [])

    def test_warm_then_cold_words_and_warm_up_after_failback(self):
        d = self.start(FLY_STANDBY_MODE="suspended")
        wait_warmed(d)
        ev = self.events(d, ["state", "standby"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        done = [e for e in ev.seen if e["type"] == "standby" and e["phase"] == "done"]
        self.assertIn("(warm)", done[-1]["detail"])
        self.fly.clear_requests()
        self.primary.set_mode("up")
        self.wait_to(d, ev, "primary")
        wait_warmed(d, 2)
        seq = [action_of(r) for r in self.fly.requests() if r["method"] != "GET"
               and "lease" not in action_of(r)]
        self.assertEqual(seq, ["POST suspend", "POST start", "POST suspend"])
        self.assertEqual(self.fly.stops_of_suspended, [])
        # A machine that was stopped boots cold.
        self.fly.set_state(APP, self.mid, "stopped")
        with self.fly.lock:
            self.fly.apps[APP][self.mid].snapshot = False
        ev2 = self.events(d, ["state", "standby"])
        self.primary.set_mode("down")
        self.wait_to(d, ev2, "standby")
        done = [e for e in ev2.seen if e["type"] == "standby" and e["phase"] == "done"]
        self.assertIn("(cold)", done[-1]["detail"])

    def test_refused_suspend_is_an_error_event(self):
        self.fly.refuse_suspend(APP, self.mid)
        d = self.start(FLY_STANDBY_MODE="suspended")
        ev = self.events(d, ["error"])
        err = self.wait_event(d, ev, lambda e: e["type"] == "error" and
                              e["what"] == "standby-mode", 15, "the suspend's error event")
        self.assertIn("cannot be suspended", err["error"])
        wait_until(lambda: self.fly.state(APP, self.mid) == "stopped", 10,
                   msg="stopped instead")
        self.assertEqual(self.fly.stops_of_suspended, [])

    def test_unhealthy_standby_is_stopped_not_suspended(self):
        d = self.start(FLY_STANDBY_MODE="suspended", FAILBACK="manual",
                       CHECK_INTERVAL="200ms")
        wait_warmed(d)
        ev = self.events(d, ["state", "standby"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        self.fly.clear_requests()
        self.standby_health.set_mode("503")
        wait_until(lambda: self.fly.requests("POST", r"/stop$"), 15,
                   msg="the unhealthy standby stopped")
        self.standby_health.set_mode("up")
        wait_until(lambda: self.fly.requests("POST", r"/start$"), 15,
                   msg="started again")
        seq = [action_of(r) for r in self.fly.requests() if r["method"] != "GET"
               and "lease" not in action_of(r)]
        self.assertEqual(seq[:2], ["POST stop", "POST start"])
        self.assertNotIn("POST suspend", seq)
        self.assertEqual(d.status()["state"], "standby")

    def test_promotion_retried_until_2xx(self):
        ps = PromoteServer([503, 503, 200])
        self.addCleanup(ps.stop)
        d = self.start(FLY_PROMOTE_URL=ps.url)
        ev = self.events(d, ["state", "standby"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", 30)
        self.assertEqual(len(ps.bodies), 3)
        ctype, body = ps.bodies[-1]
        self.assertEqual(ctype, "application/json")
        entered = json.loads(body)
        self.assertEqual(entered["type"], "state")
        self.assertEqual(entered["to"], "failing-over")
        self.assertEqual(entered["from"], "primary")
        retries = [e for e in ev.seen if e["type"] == "standby" and e["phase"] == "retry"]
        self.assertEqual(len(retries), 2)
        self.assertIn("FLY_PROMOTE_URL answered HTTP 503", retries[0]["detail"])
        done = [e for e in ev.seen if e["type"] == "standby" and e["phase"] == "done"]
        self.assertIn("promoted", done[-1]["detail"])
        self.assertEqual(self.fly.starts(self.mid), 1, "the retries start nothing twice")

    def test_promotion_endpoint_faults_are_retries(self):
        """A promote endpoint that hangs (past CHECK_TIMEOUT), resets or
        answers garbage fails the attempt, which is retried; nothing is
        started twice, and it is done once the endpoint answers 2xx."""
        from fake_primary import FakePrimary
        fp = FakePrimary(mode="hang").start()
        self.addCleanup(fp.stop)
        d = self.start(FLY_PROMOTE_URL=fp.url)
        ev = self.events(d, ["state", "standby"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "failing-over")
        for mode in ("hang", "garbage", "reset"):
            fp.set_mode(mode)
            last = ev.seen[-1]["seq"]
            self.wait_event(d, ev, lambda e: e["type"] == "standby" and e["phase"] == "retry"
                            and "FLY_PROMOTE_URL" in e["detail"] and e["seq"] > last, 15,
                            "a retry after %s" % mode)
            self.assertEqual(d.status()["state"], "failing-over")
        fp.set_mode("up")
        self.wait_to(d, ev, "standby", 30)
        self.assertEqual(self.fly.starts(self.mid), 1)

    def test_promotion_refused_keeps_failing_over(self):
        ps = PromoteServer([500])
        self.addCleanup(ps.stop)
        d = self.start(FLY_PROMOTE_URL=ps.url)
        ev = self.events(d, ["state", "standby"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "failing-over")
        wait_until(lambda: len(ps.bodies) >= 2, 10, msg="a retried promotion")
        self.assertEqual(d.status()["state"], "failing-over")
        self.assertTrue(d.status()["degraded"])


class FakeFlyLeaseTest(unittest.TestCase):
    """The fake itself, as notes/wave2.md §1.1-1.2 describe the API."""

    def setUp(self):
        self.fake = FakeFly(tokens=[TOKEN], start_delay=0.05, stop_delay=0.05,
                            lease_scale=0.05, burst=100).start()
        self.addCleanup(self.fake.stop)
        self.fake.add_app(APP)
        self.mid = self.fake.add_machine(APP, "stopped")

    def call(self, method, action, body=None, nonce=None, query=""):
        import urllib.error
        import urllib.request
        url = "%s/v1/apps/%s/machines/%s/%s%s" % (self.fake.url, APP, self.mid, action, query)
        h = {"Authorization": "Bearer " + TOKEN}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if nonce:
            h[NONCE] = nonce
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def test_lease_lifecycle_and_enforcement(self):
        st, b = self.call("POST", "lease", {"ttl": 100, "description": "t"})
        self.assertEqual(st, 201)
        self.assertEqual(b["status"], "success")
        nonce = b["data"]["nonce"]
        self.assertTrue(nonce)
        # another holder: 409 naming the owner; the same nonce refreshes
        st, b = self.call("POST", "lease", {"ttl": 100})
        self.assertEqual(st, 409)
        self.assertIn("lease currently held by failoverd@example.com", b["message"])
        st, b = self.call("POST", "lease", {"ttl": 100}, nonce=nonce)
        self.assertEqual((st, b["data"]["nonce"]), (201, nonce))
        st, b = self.call("GET", "lease")
        self.assertEqual((st, b["data"]["nonce"], b["data"]["description"]), (200, nonce, "t"))
        # writes need the nonce while it is held
        st, b = self.call("POST", "start")
        self.assertEqual(st, 409)
        self.assertIn("aborted: machine ID %s lease currently held" % self.mid, b["error"])
        self.assertEqual(self.fake.state(APP, self.mid), "stopped")
        st, b = self.call("POST", "start", nonce=nonce)
        self.assertEqual((st, b["previous_state"]), (200, "stopped"))
        # release: the nonce is required, then the lease is gone
        self.assertEqual(self.call("DELETE", "lease")[0], 400)
        self.assertEqual(self.call("DELETE", "lease", nonce="wrong")[0], 400)
        st, b = self.call("DELETE", "lease", nonce=nonce)
        self.assertEqual((st, b["data"]["ok"]), (200, True))
        self.assertEqual(self.call("GET", "lease")[0], 404)
        self.assertEqual(self.call("DELETE", "lease", nonce=nonce)[0], 404)

    def test_lease_lapses_after_its_ttl(self):
        st, b = self.call("POST", "lease", query="?ttl=10")  # fly-go's query form
        self.assertEqual(st, 201)
        self.assertEqual(self.call("POST", "lease", {"ttl": 10})[0], 409)
        # 10 s x lease_scale 0.05 = 0.5 s
        wait_until(lambda: self.call("GET", "lease")[0] == 404, 3, interval=0.05,
                   msg="the lease to lapse")
        self.assertEqual(self.call("POST", "start")[0], 200)
        for bad in ({"ttl": 0}, {"ttl": "x"}, [1]):
            self.assertEqual(self.call("POST", "lease", bad)[0], 400)

    def test_missing_lease_endpoints(self):
        for status in (404, 405):
            self.fake.lease_status = status
            for method in ("POST", "GET", "DELETE"):
                self.assertEqual(self.call(method, "lease", nonce="n")[0], status)

    def test_suspend_resume_and_the_snapshot(self):
        self.assertEqual(self.call("POST", "suspend")[0], 412)  # stopped: not started
        self.call("POST", "start")
        wait_until(lambda: self.fake.state(APP, self.mid) == "started", 3)
        st, b = self.call("POST", "suspend")
        self.assertEqual((st, b), (200, {"ok": True}))
        self.assertEqual(self.fake.state(APP, self.mid), "suspending")
        st, _ = self.call("GET", "wait", query="?state=suspended&timeout=5")
        self.assertEqual(st, 200)
        self.assertTrue(self.fake.machine(APP, self.mid).snapshot)
        st, b = self.call("POST", "start")
        self.assertEqual((st, b["previous_state"]), (200, "suspended"))
        self.assertTrue(self.fake.machine(APP, self.mid).resumed)
        self.assertFalse(self.fake.machine(APP, self.mid).snapshot)
        # a stop of a suspended machine is recorded: its snapshot is gone
        wait_until(lambda: self.fake.state(APP, self.mid) == "started", 3)
        self.call("POST", "suspend")
        wait_until(lambda: self.fake.state(APP, self.mid) == "suspended", 3)
        self.assertEqual(self.call("POST", "stop", {})[0], 200)
        self.assertEqual(self.fake.stops_of_suspended, [self.mid])
        self.assertFalse(self.fake.machine(APP, self.mid).snapshot)
        # the refusal switch
        wait_until(lambda: self.fake.state(APP, self.mid) == "stopped", 3)
        self.call("POST", "start")
        wait_until(lambda: self.fake.state(APP, self.mid) == "started", 3)
        self.fake.refuse_suspend(APP, self.mid)
        st, b = self.call("POST", "suspend")
        self.assertEqual(st, 400)
        self.assertIn("cannot be suspended", b["error"])
        self.assertEqual(self.fake.state(APP, self.mid), "started")


if __name__ == "__main__":
    unittest.main(verbosity=2)
