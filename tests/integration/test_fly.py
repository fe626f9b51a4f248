#!/usr/bin/env python3
"""The fly provider (through tests/tools/provtool) against fakes/fake_fly.py."""

import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
from fake_fly import FakeFly  # noqa: E402
from fodtest import wait_until  # noqa: E402
from test_failover import FailoverCase  # noqa: E402

try:
    from fake_primary import FakePrimary  # noqa: E402
except ImportError:
    FakePrimary = None

BUILDDIR = os.path.abspath(
    os.environ.get("FOD_BUILDDIR") or os.path.join(HERE, "..", ".."))
PROVTOOL = os.path.join(BUILDDIR, "tests", "tools", "provtool")
TOKEN = "fo1_Sekr3tTokenValue"
APP = "standby-app"


class FlyProviderTest(unittest.TestCase):
    def setUp(self):
        if not os.access(PROVTOOL, os.X_OK):
            self.skipTest("%s not built (make check builds it)" % PROVTOOL)
        self.fake = FakeFly(tokens=[TOKEN], start_delay=0.2, stop_delay=0.2).start()
        self.addCleanup(self.fake.stop)
        self.fake.add_app(APP)

    def run_op(self, op, token=TOKEN, args=(), timeout=30, **keys):
        kv = {"PROVIDER": "fly", "FLY_APP": APP, "FLY_API_TOKEN": token}
        if "FLY_API_HOSTNAME" not in keys:
            kv["FLY_API_HOSTNAME"] = self.fake.url
        kv.update(keys)
        argv = [PROVTOOL, "-v"] + list(args) + [op] + ["%s=%s" % i for i in kv.items()]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout)
        self.assertEqual(p.returncode, 0, "provtool failed: %s" % p.stderr)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        res = json.loads(lines[0])
        res["_out"] = p.stdout + p.stderr
        return res

    def assertRes(self, res, want):
        self.assertEqual(res["res"], want, "%s: %s" % (res["error"], res["_out"][-2000:]))

    def waits(self):
        return self.fake.requests("GET", r"/wait$")

    def assert_waits_capped(self):
        for r in self.waits():
            self.assertLessEqual(int(r["query"]["timeout"][0]), 60)
            self.assertGreaterEqual(int(r["query"]["timeout"][0]), 1)

    # --- activate -----------------------------------------------------------
    def test_activate_starts_a_stopped_machine_once(self):
        mid = self.fake.add_machine(APP, "stopped", "iad")
        res = self.run_op("activate")
        self.assertRes(res, "ok")
        self.assertEqual(self.fake.starts(mid), 1)
        self.assertEqual(self.fake.state(APP, mid), "started")
        self.assertEqual([m["state"] for m in res["machines"]], ["started"])
        self.assertTrue(any("starting machine %s (iad)" % mid in p for p in res["progress"]))
        self.assertTrue(self.waits())
        self.assert_waits_capped()
        self.assertEqual(self.waits()[-1]["query"]["state"], ["started"])
        # Machines_start defines no request body: none, and no Content-Type
        starts = self.fake.requests("POST", r"/start$")
        self.assertEqual(len(starts), 1)
        for r in starts:
            self.assertEqual(r["body"], "")
            self.assertNotIn("content-type", {k.lower() for k in r["headers"]})
        # the lease (FLY_LEASE=yes by default): a JSON body with its type
        for r in self.fake.requests("POST", r"/lease$"):
            self.assertIsInstance(json.loads(r["body"]), dict)
            self.assertEqual(r["headers"].get("Content-Type"), "application/json")

    def test_activate_again_does_not_start_twice(self):
        mid = self.fake.add_machine(APP, "stopped")
        self.assertRes(self.run_op("activate"), "ok")
        self.fake.clear_requests()
        res = self.run_op("activate")
        self.assertRes(res, "ok")
        self.assertEqual(self.fake.requests("POST"), [])
        self.assertEqual(self.fake.state(APP, mid), "started")

    def test_activate_while_starting_only_waits(self):
        mid = self.fake.add_machine(APP, "starting")
        self.fake.machine(APP, mid).pending = ("started", time.time() + 0.5)
        res = self.run_op("activate")
        self.assertRes(res, "ok")
        self.assertEqual(self.fake.requests("POST"), [])
        self.assertEqual(self.fake.state(APP, mid), "started")
        # the instance id is sent when known
        w = self.waits()
        self.assertTrue(w)
        self.assertEqual(w[0]["query"]["instance_id"],
                         [self.fake.machine(APP, mid).instance_id])

    def test_suspended_machine_is_stopped_then_started(self):
        mid = self.fake.add_machine(APP, "suspended")
        inst = self.fake.machine(APP, mid).instance_id
        res = self.run_op("activate")
        self.assertRes(res, "ok")
        posts = [r["path"].rsplit("/", 1)[1] for r in self.fake.requests("POST")]
        # the lease first (FLY_LEASE=yes), then the cold path of stopped mode
        self.assertEqual(posts, ["lease", "stop", "start"])
        stopped_waits = [r for r in self.waits() if r["query"]["state"] == ["stopped"]]
        self.assertEqual(len(stopped_waits), 1)
        self.assertEqual(stopped_waits[0]["query"]["instance_id"], [inst])
        self.assertFalse(self.fake.machine(APP, mid).resumed)
        self.assertEqual(self.fake.state(APP, mid), "started")

    def test_two_machines_each_started_once(self):
        a = self.fake.add_machine(APP, "stopped", "iad")
        b = self.fake.add_machine(APP, "stopped", "ord")
        c = self.fake.add_machine(APP, "stopped", "ams")
        res = self.run_op("activate", FLY_MACHINE_COUNT="2")
        self.assertRes(res, "ok")
        self.assertEqual(self.fake.starts(a) + self.fake.starts(b) + self.fake.starts(c), 2)
        self.assertLessEqual(max(self.fake.starts(x) for x in (a, b, c)), 1)

    def test_too_few_machines_is_a_config_problem(self):
        mid = self.fake.add_machine(APP, "stopped")
        res = self.run_op("activate", FLY_MACHINE_COUNT="2")
        self.assertRes(res, "config")
        self.assertIn("has 1 machine", res["error"])
        self.assertIn("FLY_MACHINE_COUNT is 2", res["error"])
        self.assertIn("fly deploy", res["error"])
        # what could be started was: failing over to less beats not at all
        self.assertEqual(self.fake.starts(mid), 1)

    def test_no_machine_at_all(self):
        res = self.run_op("activate")
        self.assertRes(res, "config")
        self.assertIn("has 0 machines", res["error"])

    def test_machine_stopping_is_retried_not_config(self):
        mid = self.fake.add_machine(APP, "stopping")
        self.fake.machine(APP, mid).pending = ("stopped", time.time() + 60)
        res = self.run_op("activate")
        self.assertRes(res, "retry")
        self.assertEqual(self.fake.requests("POST"), [])

    def test_transient_errors_are_retry_with_retry_after(self):
        for status, body in ((412, {"error": "failed_precondition: unable to start machine "
                                    "from current state: 'stopping'"}),
                             (429, {"error": "rate limit exceeded"}),
                             (500, {"error": "internal"})):
            with self.subTest(status=status):
                mid = self.fake.add_machine(APP, "stopped")
                self.fake.fault(method="POST", path=r"/start$", status=status, body=body,
                                headers={"Retry-After": "2"})
                res = self.run_op("activate")
                self.assertRes(res, "retry")
                self.assertEqual(res["retry_after_ms"], 2000)
                self.assertIn("start machine %s: %d" % (mid, status), res["error"])
                if status == 412:
                    self.assertIn("412 failed_precondition: unable to start", res["error"])
                self.fake.set_state(APP, mid, "destroyed")
                del self.fake.apps[APP][mid]

    def test_retry_after_absent_is_minus_one(self):
        self.fake.add_machine(APP, "stopped")
        self.fake.fault(method="POST", path=r"/start$", status=503)
        res = self.run_op("activate")
        self.assertRes(res, "retry")
        self.assertEqual(res["retry_after_ms"], -1)

    def test_real_rate_limit_gives_retry(self):
        mid = self.fake.add_machine(APP, "stopped")
        self.fake.burst = 0
        res = self.run_op("activate")
        self.assertRes(res, "retry")
        self.assertIn("429", res["error"])
        self.assertEqual(self.fake.state(APP, mid), "stopped")

    def test_wait_408_is_reissued(self):
        mid = self.fake.add_machine(APP, "stopped")
        self.fake.start_delay = 0.5
        self.fake.fault(method="GET", path=r"/wait$", status=408, count=2, body={
            "error": "machine failed to reach desired state, started, currently starting"})
        res = self.run_op("activate")
        self.assertRes(res, "ok")
        self.assertGreaterEqual(len(self.waits()), 3)
        self.assertEqual(self.fake.starts(mid), 1)
        self.assert_waits_capped()

    def test_wait_408_then_machine_stopped_ends_with_retry(self):
        mid = self.fake.add_machine(APP, "stopped")
        # a start that answers 200 but does nothing: the machine stays stopped
        self.fake.fault(method="POST", path=r"/start$", status=200,
                        body={"previous_state": "stopped"})
        res = self.run_op("activate", args=["-w", "1"])
        self.assertRes(res, "retry")
        self.assertIn("%s is stopped" % mid, res["error"])
        self.assertTrue(any(r["status"] == 408 for r in self.waits()))
        self.assertEqual(self.waits()[0]["query"]["timeout"], ["1"])

    def test_wait_timeout_is_60(self):
        self.fake.add_machine(APP, "stopped")
        self.assertRes(self.run_op("activate"), "ok")
        self.assertEqual({r["query"]["timeout"][0] for r in self.waits()}, {"60"})

    # --- deactivate ---------------------------------------------------------
    def test_deactivate_stops_and_waits_with_instance_id(self):
        mid = self.fake.add_machine(APP, "started")
        inst = self.fake.machine(APP, mid).instance_id
        res = self.run_op("deactivate")
        self.assertRes(res, "ok")
        stops = self.fake.requests("POST", r"/stop$")
        self.assertEqual(len(stops), 1)
        self.assertEqual(json.loads(stops[0]["body"]), {"signal": "SIGTERM"})
        w = self.waits()
        self.assertTrue(w)
        for r in w:
            self.assertEqual(r["query"]["state"], ["stopped"])
            self.assertEqual(r["query"]["instance_id"], [inst])
        self.assertEqual(self.fake.state(APP, mid), "stopped")
        self.assertEqual([m["state"] for m in res["machines"]], ["stopped"])

    def test_deactivate_all_stopped_is_ok_at_once(self):
        self.fake.add_machine(APP, "stopped")
        s = self.fake.add_machine(APP, "suspended")
        res = self.run_op("deactivate")
        self.assertRes(res, "ok")
        self.assertEqual(self.fake.requests("POST"), [])
        self.assertEqual(self.waits(), [])
        self.assertEqual(self.fake.state(APP, s), "suspended")

    def test_deactivate_408_reissued(self):
        mid = self.fake.add_machine(APP, "started")
        self.fake.fault(method="GET", path=r"/wait$", status=408)
        res = self.run_op("deactivate")
        self.assertRes(res, "ok")
        self.assertGreaterEqual(len(self.waits()), 2)
        self.assertEqual(self.fake.state(APP, mid), "stopped")

    # --- errors -------------------------------------------------------------
    def test_bad_token_is_config_and_never_shown(self):
        self.fake.add_machine(APP, "stopped")
        bad = "fo1_WrongTokenNeverShown"
        res = self.run_op("activate", token=bad)
        self.assertRes(res, "config")
        self.assertIn("401 Unauthorized: check FLY_API_TOKEN", res["error"])
        self.assertNotIn(bad, res["_out"])
        self.assertNotIn("WrongToken", res["_out"])

    def test_token_not_in_output_on_success(self):
        self.fake.add_machine(APP, "stopped")
        res = self.run_op("activate")
        self.assertRes(res, "ok")
        self.assertNotIn(TOKEN, res["_out"])

    def test_auth_scheme(self):
        for token, scheme in (("plain-token", "Bearer"),
                              ("fm2_lJPEabc,fm2_second", "FlyV1"),
                              ("FlyV1 fm2_already", "FlyV1"),
                              ("fm1r_macaroon", "FlyV1")):
            with self.subTest(token=token):
                self.fake.tokens = [token.replace("FlyV1 ", "")]
                self.fake.clear_requests()
                res = self.run_op("list", token=token)
                self.assertRes(res, "ok")
                schemes = {r["auth_scheme"] for r in self.fake.requests()}
                self.assertEqual(schemes, {scheme})

    def test_unknown_app_is_config(self):
        res = self.run_op("list", FLY_APP="no-such-app")
        self.assertRes(res, "config")
        self.assertIn("404", res["error"])
        self.assertIn("FLY_APP", res["error"])

    def test_garbage_json_is_failed(self):
        self.fake.add_machine(APP, "stopped")
        self.fake.fault(method="GET", path=r"/machines$", garbage=True)
        res = self.run_op("activate")
        self.assertRes(res, "failed")
        self.assertIn("not JSON", res["error"])
        self.assertEqual(self.fake.requests("POST"), [])

    def test_hanging_api_times_out(self):
        self.fake.add_machine(APP, "stopped")
        self.fake.fault(method="GET", path=r"/machines$", hang=True)
        t0 = time.monotonic()
        res = self.run_op("activate", args=["-t", "500"])
        self.assertLess(time.monotonic() - t0, 10)
        self.assertRes(res, "retry")
        self.assertIn("timeout", res["error"])

    def test_connection_refused_is_retry(self):
        port = self.fake.port
        self.fake.stop()
        res = self.run_op("list", FLY_API_HOSTNAME="http://127.0.0.1:%d" % port)
        self.assertRes(res, "retry")

    def test_list(self):
        a = self.fake.add_machine(APP, "stopped", "iad")
        b = self.fake.add_machine(APP, "started", "ord")
        res = self.run_op("list")
        self.assertRes(res, "ok")
        got = {m["id"]: (m["state"], m["region"]) for m in res["machines"]}
        self.assertEqual(got, {a: ("stopped", "iad"), b: ("started", "ord")})
        self.assertEqual(self.fake.requests("POST"), [])


class RecordingPrimary(FakePrimary or object):
    """FakePrimary that keeps the head of every request it reads."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.heads = []

    def _read_request(self, sock):
        data = super()._read_request(sock)
        if data is not None:
            with self._lock:
                self.heads.append(data)
        return data


class FlyInDaemonTest(FailoverCase):
    """The fly provider inside the daemon, where a listing is remembered
    between operations: the start request goes out first."""

    def fly_calls(self):
        """(method, path, status) of the Fly API requests, in order."""
        return [(r["method"], r["path"], r["status"]) for r in self.fly.requests()]

    def fail_primary(self, d):
        ev = self.events(d, ["state", "standby"])
        self.fly.clear_requests()
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", 20)
        self.drain(ev)
        return ev

    def test_start_goes_out_with_no_list_first(self):
        d = self.start()
        # the start-up listing is what the activation starts from
        wait_until(lambda: self.fly.requests("GET", r"/machines$"), 5, msg="a listing")
        self.fail_primary(d)
        calls = self.fly_calls()
        m = "/v1/apps/%s/machines/%s" % (APP, self.mid)
        # the machine's lease (FLY_LEASE=yes), then at once its start
        self.assertEqual(calls[:2], [("POST", m + "/lease", 201), ("POST", m + "/start", 200)],
                         calls)
        # the lease is released after the action
        self.assertEqual(calls[-1], ("DELETE", m + "/lease", 200), calls)
        self.assertEqual(self.starts(), 1)
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        # no listing before the machine was started and waited for
        self.assertNotIn(("GET", "/v1/apps/%s/machines" % APP, 200), calls[:3], calls)

    def test_destroyed_machine_falls_back_to_list_then_start(self):
        d = self.start()
        wait_until(lambda: self.fly.requests("GET", r"/machines$"), 5, msg="a listing")
        # destroyed and replaced behind the daemon's back (e.g. `fly deploy`)
        with self.fly.lock:
            del self.fly.apps[APP][self.mid]
        new = self.fly.add_machine(APP, "stopped", "ord")
        ev = self.fail_primary(d)
        calls = self.fly_calls()
        m = "/v1/apps/%s/machines" % APP
        # the lease is the first request on the gone machine: its 404 lists again
        self.assertEqual(calls[:4], [("POST", "%s/%s/lease" % (m, self.mid), 404),
                                     ("GET", m, 200),
                                     ("POST", "%s/%s/lease" % (m, new), 201),
                                     ("POST", "%s/%s/start" % (m, new), 200)], calls)
        self.assertEqual(self.fly.starts(new), 1)
        self.assertEqual(self.fly.state(APP, new), "started")
        # one attempt: no retry, no backoff
        phases = [e["phase"] for e in ev.seen if e["type"] == "standby"]
        self.assertNotIn("retry", phases, ev.seen)
        self.assertEqual(d.status()["standby"]["machines"][0]["id"], new)

    def test_machine_started_behind_our_back_is_not_started_twice(self):
        d = self.start()
        wait_until(lambda: self.fly.requests("GET", r"/machines$"), 5, msg="a listing")
        self.fly.set_state(APP, self.mid, "started")
        ev = self.fail_primary(d)
        calls = self.fly_calls()
        m = "/v1/apps/%s/machines" % APP
        # the remembered listing says stopped: the start gets 412, the lease
        # is released, the retry lists
        self.assertEqual(calls[0], ("POST", "%s/%s/lease" % (m, self.mid), 201), calls)
        self.assertEqual(calls[1], ("POST", "%s/%s/start" % (m, self.mid), 412), calls)
        self.assertEqual(calls[2], ("DELETE", "%s/%s/lease" % (m, self.mid), 200), calls)
        self.assertEqual(calls[3], ("GET", m, 200), calls)
        self.assertEqual(self.starts(), 0)
        self.assertEqual(len(self.fly.requests("POST", r"/start$")), 1, calls)
        retries = [e for e in ev.seen if e["type"] == "standby" and e["phase"] == "retry"]
        self.assertEqual(len(retries), 1, ev.seen)
        self.assertIn("412", retries[0]["detail"])

    def test_health_checks_carry_nothing_of_the_api_requests(self):
        # http.c reuses finished libcurl handles: a check after a POST with a
        # token, a body and JSON headers must still be a bare GET on a new
        # connection.
        if FakePrimary is None:
            self.skipTest("fakes/fake_primary.py is not there yet")
        self.primary.stop()
        self.primary = RecordingPrimary().start()
        self.addCleanup(self.primary.stop)
        d = self.start(FAILBACK="manual")
        self.primary.set_mode("503", keep_alive=True)
        self.fail_primary_503(d)
        n = len(self.primary.heads)
        wait_until(lambda: len(self.primary.heads) >= n + 3, 5, msg="checks while standby")
        self.assertTrue(self.fly.requests("POST", r"/start$"))
        with self.primary._lock:
            heads = list(self.primary.heads)
            conns = self.primary.connections
        self.assertEqual(conns, len(heads))  # a new connection every time
        for h in heads:
            self.assertTrue(h.startswith(b"GET /"), h)
            low = h.lower()
            for bad in (b"authorization", b"content-type", b"content-length",
                        b"application/json", b"fo1_"):
                self.assertNotIn(bad, low, h)

    def fail_primary_503(self, d):
        ev = self.events(d, ["state"])
        self.wait_to(d, ev, "standby", 20)


class NoneProviderTest(unittest.TestCase):
    def run_op(self, op):
        if not os.access(PROVTOOL, os.X_OK):
            self.skipTest("provtool not built")
        p = subprocess.run([PROVTOOL, op, "PROVIDER=none"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_dry_run(self):
        res = self.run_op("activate")
        self.assertEqual(res["res"], "ok")
        self.assertEqual(res["machines"][0]["id"], "dry-run")
        self.assertEqual(res["machines"][0]["state"], "started")
        res = self.run_op("list")
        self.assertEqual(res["machines"][0]["state"], "stopped")


if __name__ == "__main__":
    unittest.main(verbosity=2)
