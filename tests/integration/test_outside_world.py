#!/usr/bin/env python3
"""The outside world misbehaving, against the real failoverd end to end
(issue #6, "Outside world faults"): DNS that fails or never answers, TLS
failures, connection resets, oversized bodies, slowloris health endpoints,
a hanging or garbage-speaking Fly API during an activation, and the wall
clock stepping under the daemon.

The module-level behaviour (http.c, fly_api.c) is in test_http.py and
test_fly.py; here the whole daemon must keep its promises: failed checks
with clear errors in status and events, failover after exactly
FAILURE_THRESHOLD failures, retries, exactly one machine start, and a
control socket that answers `status` in under 100 ms throughout.

DNS: the daemon runs in its own mount namespace (unshare, root) whose
/etc/resolv.conf names a fake DNS server on a loopback address of this
test (NXDOMAIN for every name, or silence), so no query leaves the machine
and a resolver that never answers can be had on demand.

Clock: libfaketime (Debian's faketime, LD_PRELOAD) with
FAKETIME_TIMESTAMP_FILE re-read on every call and the monotonic clock left
alone steps the daemon's wall clock by an hour either way; the test itself
is not under faketime and measures with its own monotonic clock.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from test_failover import APP, TOKEN, FailoverCase, ev_time  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

STATUS_MAX_S = 0.1  # every `status` reply, whatever the outside world does
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


class StatusProbe:
    """Asks `status` over and over on one connection from a thread and keeps
    every reply's latency (the test's monotonic clock)."""

    def __init__(self, d, every=0.02):
        self.d = d
        self.every = every
        self.latencies = []
        self.errors = []
        self.states = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        try:
            with self.d.connect(timeout=5) as c:
                while not self._stop.is_set():
                    t = time.monotonic()
                    r = self.d.request({"cmd": "status"}, conn=c, timeout=5)
                    self.latencies.append(time.monotonic() - t)
                    if r.get("ok") is not True:
                        self.errors.append(r)
                    else:
                        self.states.append(r["result"]["state"])
                    self._stop.wait(self.every)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.errors.append(repr(e))

    def stop(self):
        self._stop.set()
        self._t.join(10)

    def check(self, tc, at_least=10):
        """Asserts every status answered, in time, and enough were asked."""
        self.stop()
        tc.assertEqual(self.errors, [], "status failed while the outside world misbehaved")
        tc.assertGreaterEqual(len(self.latencies), at_least, "too few status requests")
        worst = max(self.latencies)
        tc.assertLess(worst, STATUS_MAX_S, "a status reply took %.0f ms (%d replies)"
                      % (worst * 1000, len(self.latencies)))
        return worst


class FakeDNS:
    """A DNS server on udp LOOPBACK:53: `nxdomain` answers every query with
    NXDOMAIN at once, `silent` never answers. Counts the queries."""

    def __init__(self, mode="nxdomain"):
        self.mode = mode
        self.queries = 0
        self.sock = None
        for last in range(2, 250):
            addr = "127.0.53.%d" % last
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((addr, 53))
            except OSError:
                s.close()
                continue
            self.sock, self.addr = s, addr
            break
        if self.sock is None:
            raise OSError("no free 127.0.53.x:53 for the fake DNS server")
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 12:
                continue
            self.queries += 1
            if self.mode != "nxdomain":
                continue
            qd = data[12:]
            end = 0
            while end < len(qd) and qd[end] != 0:
                end += 1 + qd[end]
            question = qd[:end + 5]
            # ID, flags QR|RD|RA + RCODE 3 (NXDOMAIN), 1 question, no records
            hdr = data[:2] + bytes([0x81, 0x83]) + b"\x00\x01" + b"\x00\x00" * 3
            try:
                self.sock.sendto(hdr + question, peer)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._t.join(2)
        self.sock.close()


def can_unshare_mount():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def make_cert(tc, d, san="IP:127.0.0.1,DNS:localhost"):
    """A self-signed certificate (as test_http.py makes them): (cert, key)."""
    if shutil.which("openssl") is None:
        tc.skipTest("no openssl to make a certificate")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj",
                        "/CN=failoverd-test", "-addext", "subjectAltName=" + san],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        tc.skipTest("openssl req failed: %s" % p.stdout)
    return cert, key


class OutsideCase(FailoverCase):
    """FailoverCase plus the helpers every fault here needs."""

    def checks(self, ev, n, timeout=10.0, d=None):
        """Waits for n check events on ev; returns the first n."""
        self.wait_event(d or self.d, ev, lambda e: len([x for x in ev.seen
                                                        if x["type"] == "check"]) >= n,
                        timeout, "%d check events" % n)
        return [x for x in ev.seen if x["type"] == "check"][:n]

    def machine_starts(self):
        """Starts the fake Fly machine actually carried out (a request a
        fault answered instead does not start it)."""
        with self.fly.lock:
            return len([e for e in self.fly.apps[APP][self.mid].events
                        if e["type"] == "starting"])

    def fds(self, d):
        return len(os.listdir("/proc/%d/fd" % d.pid))

    def assertFdsBack(self, d, before):
        """The daemon's descriptors back to `before` (the closed status
        connections are noticed a moment later)."""
        wait_until(lambda: self.fds(d) <= before, 3,
                   msg="the daemon's descriptors back to %d" % before)


class DnsTest(OutsideCase):
    """LOCAL_HEALTH_URL's host does not resolve."""

    def setUp(self):
        super().setUp()
        if not can_unshare_mount():
            self.skipTest("needs root and unshare --mount for a private /etc/resolv.conf")
        self.tmp = tempfile.mkdtemp(prefix="fod-dns-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start_with_dns(self, mode, **kw):
        self.dns = FakeDNS(mode)
        self.addCleanup(self.dns.close)
        resolv = os.path.join(self.tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver %s\noptions timeout:2 attempts:1\n" % self.dns.addr)
        os.chmod(resolv, 0o644)
        prefix = ["unshare", "--mount", "--propagation", "private", "--",
                  "/bin/sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv]
        d = self.make_daemon(self.config(**kw), env={"FLY_API_TOKEN": TOKEN},
                             prefix=prefix)
        d.start()
        self.d = d
        return d

    def test_unresolvable_host_fails_over_after_exactly_threshold(self):
        # Unresolvable from the first check on: STARTUP_GRACE would hold the
        # failover back (test_startup.py proves that); this test is about DNS.
        d = self.start_with_dns("nxdomain", LOCAL_HEALTH_URL="http://no-such-host.invalid:8100/status",
                                CHECK_INTERVAL="300ms", FAST_INTERVAL="150ms",
                                FAILURE_THRESHOLD="3", STARTUP_GRACE="0")
        ev = d.events(types=["check", "state"], backlog=100)
        self.addCleanup(ev.close)
        with StatusProbe(d) as probe:
            self.wait_to(d, ev, "standby", 10)
            worst = probe.check(self)
        self.assertGreater(self.dns.queries, 0, "the daemon did not ask the fake DNS server")
        checks = [e for e in ev.seen if e["type"] == "check"]
        over = next(e for e in ev.seen if e["type"] == "state" and e["to"] == "failing-over")
        before = [e for e in checks if e["seq"] < over["seq"]]
        self.assertEqual([(e["healthy"], e["failures"]) for e in before],
                         [(False, 1), (False, 2), (False, 3)], before)
        for e in before:
            self.assertEqual(e["error"], "DNS: could not resolve host")
            self.assertIsNone(e["status"])
            self.assertLess(e["latency_ms"], 1000)
        s = d.status()
        self.assertEqual(s["local"]["last_error"], "DNS: could not resolve host")
        self.assertIs(s["local"]["healthy"], False)
        self.assertEqual(s["counters"]["failovers"], 1)
        self.assertEqual(self.starts(), 1)
        sys.stderr.write("dns nxdomain: worst status %.1f ms over %d replies\n"
                         % (worst * 1000, len(probe.latencies)))

    def test_dns_that_never_answers_blocks_nothing(self):
        # The resolver would wait 2 s; each check gives up after 500 ms.
        d = self.start_with_dns("silent", LOCAL_HEALTH_URL="http://no-such-host.invalid:8100/status",
                                CHECK_INTERVAL="100ms", FAST_INTERVAL="100ms",
                                CHECK_TIMEOUT="500ms", FAILURE_THRESHOLD="100")
        ev = d.events(types=["check"], backlog=100)
        self.addCleanup(ev.close)
        with StatusProbe(d) as probe:
            t0 = time.monotonic()
            checks = self.checks(ev, 4, 10)
            took = time.monotonic() - t0
            worst = probe.check(self)
        self.assertGreater(self.dns.queries, 0, "the daemon did not ask the fake DNS server")
        for e in checks:
            self.assertIs(e["healthy"], False)
            self.assertRegex(e["error"], "(?i)time")
            self.assertGreaterEqual(e["latency_ms"], 450, e)
            self.assertLess(e["latency_ms"], 900, e)
        # four checks of 500 ms with 100 ms pauses, not four resolver waits of 2 s
        self.assertLess(took, 4.5, checks)
        self.assertIs(d.status()["local"]["healthy"], False)
        sys.stderr.write("dns silent: worst status %.1f ms over %d replies\n"
                         % (worst * 1000, len(probe.latencies)))


class TlsTest(OutsideCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="fod-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def one_check(self, d, ev):
        r = self.check(d)
        e = self.wait_event(d, ev, lambda e: e["type"] == "check" and e not in self.seen,
                            5, "a check event")
        self.seen.append(e)
        return r, e

    def test_https_to_a_plain_server(self):
        self.seen = []
        d = self.d = self.start(CHECK_INTERVAL="1h", FAST_INTERVAL="1h",
                                LOCAL_HEALTH_URL=self.primary.url.replace("http:", "https:"))
        ev = self.events(d, ["check"])
        r, e = self.one_check(d, ev)
        self.assertIs(r["healthy"], False)
        self.assertTrue(r["error"].startswith("TLS: handshake failed"), r)
        self.assertEqual(e["error"], r["error"])
        self.assertIsNone(e["status"])
        self.assertEqual(d.status()["local"]["last_error"], r["error"])

    def test_self_signed_without_then_with_ca_file(self):
        self.seen = []
        cert, key = make_cert(self, self.tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls = FakePrimary(ssl_context=ctx).start()
        self.addCleanup(tls.stop)
        d = self.d = self.start(CHECK_INTERVAL="1h", FAST_INTERVAL="1h", LOCAL_HEALTH_URL=tls.url,
                                HEALTH_EXPECT="ok")
        ev = self.events(d, ["check"])
        r, e = self.one_check(d, ev)
        self.assertIs(r["healthy"], False)
        self.assertTrue(r["error"].startswith("TLS: certificate verify failed"), r)
        self.assertEqual(e["error"], r["error"])
        self.assertEqual(d.status()["local"]["last_error"], r["error"])
        # trust it: HEALTH_CA_FILE, then a reload
        d.config["HEALTH_CA_FILE"] = cert
        d.write_config()
        self.assertOk(d.request({"cmd": "reload"}))
        r, e = self.one_check(d, ev)
        self.assertEqual((r["healthy"], r["status"], r["error"]), (True, 200, None), r)
        self.assertIs(e["healthy"], True)
        s = d.status()
        self.assertIsNone(s["local"]["last_error"])
        self.assertEqual(s["state"], "primary")


class BrokenPeerTest(OutsideCase):
    """Resets and oversized bodies: failed checks with clear errors; the
    daemon unaffected (status fast, no descriptor left behind, healthy
    again once the peer is)."""

    def test_reset_before_a_response(self):
        d = self.d = self.start(CHECK_INTERVAL="100ms", FAST_INTERVAL="100ms",
                                FAILURE_THRESHOLD="1000")
        ev = self.events(d, ["check"])
        self.checks(ev, 2)
        fds = self.fds(d)
        self.primary.set_mode("reset")
        with StatusProbe(d) as probe:
            self.wait_event(d, ev, lambda e: len([x for x in ev.seen if not x["healthy"]]) >= 10,
                            10, "ten failed checks")
            probe.check(self)
        bad = [x for x in ev.seen if not x["healthy"]]
        for e in bad:
            self.assertIn(e["error"], ("connection reset by peer",
                                       "connection closed before a response"), e)
            self.assertIsNone(e["status"])
        self.assertEqual(d.status()["local"]["consecutive_failures"], len(bad))
        self.primary.set_mode("up")
        self.wait_event(d, ev, lambda e: e["healthy"] and e["successes"] >= 2, 5,
                        "healthy again")
        self.assertFdsBack(d, fds)
        self.assertEqual(d.status()["state"], "primary")

    def test_body_over_the_limit(self):
        d = self.d = self.start(CHECK_INTERVAL="1h", FAST_INTERVAL="1h", HEALTH_EXPECT="ok")
        ev = self.events(d, ["check"])
        self.primary.set_mode("huge", size=4 * 1024 * 1024)
        fds = self.fds(d)
        with StatusProbe(d) as probe:
            t0 = time.monotonic()
            r = self.check(d)
            took = time.monotonic() - t0
            self.check(d)
            probe.check(self, at_least=1)
        self.assertEqual((r["healthy"], r["status"], r["error"]),
                         (False, None, "body over 64 KiB"), r)
        # stopped reading at the limit, not after 4 MiB
        self.assertLess(took, 1.0)
        e = self.wait_event(d, ev, lambda e: e["type"] == "check", 2, "a check event")
        self.assertEqual(e["error"], "body over 64 KiB")
        self.assertEqual(d.status()["local"]["last_error"], "body over 64 KiB")
        self.assertEqual(d.status()["local"]["consecutive_failures"], 2)
        self.assertFdsBack(d, fds)
        self.primary.set_mode("up")
        self.assertIs(self.check(d)["healthy"], True)

    def test_big_body_without_health_expect_is_judged_by_status(self):
        # check.h: without HEALTH_EXPECT only the first 64 KiB are read and
        # the status decides, so a big status page is not an outage.
        d = self.d = self.start(CHECK_INTERVAL="1h", FAST_INTERVAL="1h")
        self.primary.set_mode("huge", size=4 * 1024 * 1024)
        r = self.check(d)
        self.assertEqual((r["healthy"], r["status"]), (True, 200), r)
        # and a big 503 page is not healthy
        self.primary.set_mode("status", status=503, body="x" * 200000)
        r = self.check(d)
        self.assertEqual((r["healthy"], r["status"], r["error"]), (False, 503, "HTTP 503"), r)


class SlowlorisHealthTest(OutsideCase):

    def test_each_check_ends_at_check_timeout_never_overlapping(self):
        d = self.d = self.start(CHECK_INTERVAL="100ms", FAST_INTERVAL="100ms",
                                CHECK_TIMEOUT="1s", FAILURE_THRESHOLD="1000")
        ev = self.events(d, ["check"])
        self.checks(ev, 1)
        self.primary.set_mode("slowloris", body="x" * 100)
        self.primary.reset_stats()
        with StatusProbe(d) as probe:
            self.wait_event(d, ev, lambda e: len([x for x in ev.seen if not x["healthy"]]) >= 3,
                            10, "three slowloris checks")
            worst = probe.check(self)
        bad = [x for x in ev.seen if not x["healthy"]][:3]
        for e in bad:
            self.assertRegex(e["error"], "(?i)time", e)
            self.assertGreaterEqual(e["latency_ms"], 950, e)
            self.assertLess(e["latency_ms"], 1300, e)
        # never two at once, each next one CHECK_TIMEOUT + FAST_INTERVAL later
        self.assertEqual(self.primary.max_concurrent, 1)
        a = self.primary.arrivals()
        gaps = [y - x for x, y in zip(a, a[1:])]
        self.assertTrue(all(1.05 <= g < 1.6 for g in gaps[:2]), gaps)
        sys.stderr.write("slowloris health: latencies %s ms, worst status %.1f ms\n"
                         % ([round(e["latency_ms"]) for e in bad], worst * 1000))


class FlyApiFaultTest(OutsideCase):
    """The Fly API hanging, answering late or speaking garbage while an
    activation runs."""

    def go(self, **kw):
        d = self.d = self.start(CHECK_INTERVAL="200ms", FAST_INTERVAL="50ms", **kw)
        return d, self.events(d, ["state", "standby", "error"])

    def retries(self, ev):
        self.drain(ev)
        return [e for e in ev.seen if e["type"] == "standby" and e["phase"] == "retry"]

    def test_hanging_start_then_slow_list(self):
        d, ev = self.go(ACTIVATION_TIMEOUT="2s")
        # the start request hangs; the list of the next attempt answers after
        # 3 s, past the 2 s a request may take; then the API behaves
        self.fly.fault(method="POST", path=r"/start$", hang=True, count=1)
        self.fly.fault(method="GET", path=r"/machines$", delay=3.0, count=1)
        with StatusProbe(d) as probe:
            self.primary.set_mode("down")
            over = self.wait_to(d, ev, "failing-over", 5)
            err = self.wait_event(d, ev, lambda e: e["type"] == "error"
                                  and e["what"] == "activation", 5, "the ACTIVATION_TIMEOUT error")
            self.assertIn("ACTIVATION_TIMEOUT", err["error"])
            self.assertGreaterEqual(ev_time(err) - ev_time(over), 1.9)
            self.assertIs(d.status()["degraded"], True)
            self.wait_to(d, ev, "standby", 20)
            worst = probe.check(self)
        retries = self.retries(ev)
        self.assertEqual(len(retries), 2, retries)
        self.assertIn("start machine %s: timeout" % self.mid, retries[0]["detail"])
        self.assertIn("list machines of %s: timeout" % APP, retries[1]["detail"])
        self.assertTrue(all(e["action"] == "activate" for e in retries))
        self.assertEqual(self.machine_starts(), 1)
        self.assertEqual(self.starts(), 1)
        s = d.status()
        self.assertEqual(s["state"], "standby")
        self.assertEqual(s["counters"]["failovers"], 1)
        self.assertIs(s["degraded"], False, "degraded after the activation succeeded")
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        sys.stderr.write("fly hang: worst status %.1f ms over %d replies\n"
                         % (worst * 1000, len(probe.latencies)))

    def test_slow_start_answer_within_the_timeout_is_one_start(self):
        d, ev = self.go(ACTIVATION_TIMEOUT="1s")
        self.fly.fault(method="POST", path=r"/start$", delay=0.8, count=1)
        with StatusProbe(d) as probe:
            self.primary.set_mode("down")
            self.wait_to(d, ev, "standby", 10)
            probe.check(self)
        self.assertEqual(self.retries(ev), [])
        self.assertEqual(self.machine_starts(), 1)

    def test_garbage_json_on_start_and_list(self):
        d, ev = self.go()
        self.fly.fault(method="POST", path=r"/start$", garbage=True, count=1)
        self.fly.fault(method="GET", path=r"/machines$", garbage=True, count=1)
        seen_errors = []

        def last_error():
            s = d.status()
            if s["standby"]["last_error"]:
                seen_errors.append(s["standby"]["last_error"])
            return s["state"] == "standby"
        with StatusProbe(d) as probe:
            self.primary.set_mode("down")
            wait_until(lambda: self.alive(d) and last_error(), 20, interval=0.02,
                       msg="standby after the garbage")
            probe.check(self)
        retries = self.retries(ev)
        self.assertEqual(len(retries), 2, retries)
        self.assertIn("start machine %s" % self.mid, retries[0]["detail"])
        self.assertIn("not JSON", retries[0]["detail"])
        self.assertIn("list machines of %s" % APP, retries[1]["detail"])
        self.assertIn("not JSON", retries[1]["detail"])
        self.assertTrue(any("not JSON" in x for x in seen_errors), seen_errors)
        self.assertEqual(self.machine_starts(), 1)
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        s = d.status()
        self.assertIsNone(s["standby"]["last_error"])
        self.assertEqual(s["counters"]["failovers"], 1)
        self.assertNotIn("<html>", json.dumps(s))


def faketime_ok():
    return os.path.exists(LIBFAKETIME)


class ClockStepTest(OutsideCase):
    """The daemon's wall clock jumps an hour forward and back; intervals,
    the failover and a pause run on the monotonic clock."""

    def setUp(self):
        super().setUp()
        if not faketime_ok():
            self.skipTest("libfaketime (Debian package faketime) is not installed")
        self.tmp = tempfile.mkdtemp(prefix="fod-clock-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.stamp = os.path.join(self.tmp, "faketime")
        self.step_to(0)

    def step_to(self, offset_s):
        tmp = self.stamp + ".new"
        with open(tmp, "w") as f:
            f.write("%+d\n" % offset_s)
        os.rename(tmp, self.stamp)

    def start_faked(self, **kw):
        env = {"FLY_API_TOKEN": TOKEN,
               "LD_PRELOAD": LIBFAKETIME,
               "FAKETIME_TIMESTAMP_FILE": self.stamp,
               "FAKETIME_NO_CACHE": "1",
               "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        if fodtest.sanitized():
            # ASan wants its runtime first in the library list; libfaketime
            # only wraps the clock calls, which ASan does not intercept.
            env["ASAN_OPTIONS"] = "verify_asan_link_order=0"
        d = self.d = self.start_daemon(self.config(**kw), env=env)
        self.wait_state(d, "primary")
        return d

    def test_wall_clock_steps_do_not_disturb_checks_or_failover(self):
        d = self.start_faked(CHECK_INTERVAL="300ms", FAST_INTERVAL="300ms",
                             FAILURE_THRESHOLD="4")
        c = d.connect(timeout=5)
        self.addCleanup(c.close)
        self.assertOk(c.request({"cmd": "events", "types": ["check", "state"]}))
        arrivals = []  # (our monotonic time, event)

        def read_for(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    line = c.read_line(max(0.01, end - time.monotonic()))
                except TimeoutError:
                    break
                if line is None:
                    raise AssertionError("event stream closed:\n" + d.log_tail())
                arrivals.append((time.monotonic(), json.loads(line)["event"]))

        read_for(1.0)
        self.step_to(3600)
        read_for(1.0)
        self.step_to(-3600)
        read_for(1.0)
        self.step_to(0)
        checks = [(t, e) for t, e in arrivals if e["type"] == "check"]
        self.assertGreaterEqual(len(checks), 8, checks)
        # the daemon did see the steps (its event times jumped)
        stamps = [ev_time(e) - t for t, e in checks]
        self.assertTrue(max(stamps) - min(stamps) > 7000, stamps)
        gaps = [b[0] - a[0] for a, b in zip(checks, checks[1:])]
        self.assertTrue(all(0.2 < g < 0.6 for g in gaps), gaps)

        # the failover: 4 failures at 300 ms, whatever the wall clock does
        arrivals.clear()
        self.primary.set_mode("down")
        t0 = time.monotonic()
        read_for(0.45)
        self.step_to(-3600)
        read_for(0.45)
        self.step_to(3600)
        end = time.monotonic() + 5
        while time.monotonic() < end and not any(e["type"] == "state" and e["to"] == "standby"
                                                 for _, e in arrivals):
            read_for(0.1)
        bad = [(t, e) for t, e in arrivals if e["type"] == "check" and not e["healthy"]]
        over = next((t, e) for t, e in arrivals if e["type"] == "state"
                    and e["to"] == "failing-over")
        self.assertEqual([e["failures"] for _, e in bad if e["seq"] < over[1]["seq"]],
                         [1, 2, 3, 4])
        # first failure within one interval, then three more 300 ms apart
        self.assertLess(over[0] - t0, 0.3 + 3 * 0.3 + 0.6, [(t - t0, e) for t, e in arrivals])
        self.assertGreater(over[0] - t0, 3 * 0.3 - 0.05)
        self.assertTrue(any(e["type"] == "state" and e["to"] == "standby" for _, e in arrivals))
        self.assertEqual(self.starts(), 1)

    def pause_2s_then_step(self, offset):
        """`pause 2s`, 0.3 s later the wall clock steps by offset; returns
        (the daemon, its pause events, our monotonic time of the pause)."""
        d = self.start_faked(CHECK_INTERVAL="1h", FAST_INTERVAL="1h")
        ev = self.events(d, ["pause"])
        t0 = time.monotonic()
        r = d.request({"cmd": "pause", "duration": "2s"})
        self.assertIs(self.assertOk(r)["paused"], True)
        time.sleep(0.3)
        self.step_to(offset)
        return d, ev, t0

    def pause_took(self, d, ev, t0):
        self.wait_event(d, ev, lambda e: e["paused"] is False, 4, "the pause to end")
        took = time.monotonic() - t0
        self.assertIs(d.status()["paused"], False)
        return took

    def test_pause_ends_after_2s_when_the_clock_jumps_forward(self):
        took = self.pause_took(*self.pause_2s_then_step(3600))
        # ends at its monotonic timer, not at once on the jump
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 2.6)


class ClockStepBackPauseTest(ClockStepTest):
    """`pause 2s`, then the wall clock steps an hour back."""

    # Only this class's own test, not ClockStepTest's again.
    test_wall_clock_steps_do_not_disturb_checks_or_failover = None
    test_pause_ends_after_2s_when_the_clock_jumps_forward = None

    def setUp(self):
        # Set-up failures here are errors, never the expected failure below.
        super().setUp()
        self.paused = self.pause_2s_then_step(-3600)

    # The pause's expiry is a monotonic deadline (failoverd.c), so a step
    # back of an hour does not stretch `pause 2s` by an hour.
    def test_pause_ends_after_2s_when_the_clock_jumps_back(self):
        took = self.pause_took(*self.paused)
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 2.6)


if __name__ == "__main__":
    fodtest.main()
