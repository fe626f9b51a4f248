#!/usr/bin/env python3
"""daemon/http.c and daemon/check.c (through tests/tools/httpprobe) against
fakes/fake_primary.py in each of its modes."""

import email.utils
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fakes"))
from fake_primary import FakePrimary  # noqa: E402

BUILDDIR = os.path.abspath(
    os.environ.get("FOD_BUILDDIR") or os.path.join(HERE, "..", ".."))
PROBE = os.path.join(BUILDDIR, "tests", "tools", "httpprobe")
SECRET = "s3cr3tT0ken"


def run_probe(args, timeout=30, env=None, prefix=()):
    """Runs httpprobe; returns (results, summary, wall seconds, stderr)."""
    t0 = time.monotonic()
    p = subprocess.run(list(prefix) + [PROBE] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout,
                       env=env)
    wall = time.monotonic() - t0
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    if not lines or not lines[-1].get("summary"):
        raise AssertionError("httpprobe %s: rc %d, no summary: %s %s"
                             % (args, p.returncode, p.stdout, p.stderr))
    summary = lines[-1]
    summary["_rc"] = p.returncode
    summary["_out"] = p.stdout + p.stderr
    return lines[:-1], summary, wall, p.stderr


class ProbeCase(unittest.TestCase):
    def setUp(self):
        if not os.access(PROBE, os.X_OK):
            self.skipTest("%s not built (make check builds it)" % PROBE)
        self.fake = FakePrimary().start()
        self.addCleanup(self.fake.stop)

    def one(self, *args, url=None, timeout_ms=5000, **kw):
        res, summary, wall, _ = run_probe(["-t", str(timeout_ms)] + list(args)
                                          + [url or self.fake.url], **kw)
        self.assertEqual(summary["bad_calls"], 0, summary["_out"])
        self.assertEqual(summary["_rc"], 0, summary["_out"])
        self.assertEqual(len(res), 1, summary["_out"])
        res[0]["_wall"] = wall
        res[0]["_out"] = summary["_out"]
        return res[0]

    def check(self, *keys, url=None):
        kv = ["LOCAL_HEALTH_URL=%s" % (url or self.fake.url)] + list(keys)
        res, summary, wall, _ = run_probe(["-P"] + kv)
        self.assertEqual(summary["_rc"], 0, summary["_out"])
        self.assertEqual(len(res), 1, summary["_out"])
        self.assertEqual(res[0]["kind"], "probe")
        res[0]["_wall"] = wall
        self.assertNotIn(SECRET, summary["_out"])
        return res[0]


class HttpRequestTest(ProbeCase):
    """The raw requests: classification, limits, headers."""

    def test_up(self):
        r = self.one()
        self.assertEqual((r["err"], r["status"], r["body"], r["error"]), ("ok", 200, "ok", None))
        self.assertEqual(r["retry_after_ms"], -1)
        self.assertGreater(r["total_ms"], 0)

    def test_refused_is_connect_and_fast(self):
        self.fake.set_mode("down")
        r = self.one(timeout_ms=10000)
        self.assertEqual((r["err"], r["status"], r["error"]), ("connect", 0, "connection refused"))
        self.assertLess(r["_wall"], 5)

    def test_status_is_not_an_error_here(self):
        self.fake.set_mode("503", retry_after="7")
        r = self.one()
        self.assertEqual((r["err"], r["status"], r["body"]), ("ok", 503, "unavailable"))
        self.assertEqual(r["retry_after_ms"], 7000)

    def test_retry_after_http_date(self):
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        self.fake.set_mode("503", retry_after=when)
        r = self.one()
        self.assertGreaterEqual(r["retry_after_ms"], 25000)
        self.assertLessEqual(r["retry_after_ms"], 31000)

    def test_retry_after_garbage_is_absent(self):
        self.fake.set_mode("503", retry_after="soon")
        self.assertEqual(self.one()["retry_after_ms"], -1)

    def test_redirect_not_followed(self):
        self.fake.set_mode("status", status=302, location="http://127.0.0.1:1/elsewhere")
        r = self.one()
        self.assertEqual((r["err"], r["status"]), ("ok", 302))
        self.assertEqual(self.fake.request_count, 1)

    def test_hanging_peer_times_out_on_time(self):
        self.fake.set_mode("hang")
        r = self.one(timeout_ms=1000)
        self.assertEqual((r["err"], r["status"], r["error"]), ("timeout", 0, "timeout after 1000ms"))
        self.assertGreaterEqual(r["total_ms"], 950)
        self.assertLess(r["total_ms"], 2500)
        self.assertGreaterEqual(r["_wall"], 0.95)
        self.assertLess(r["_wall"], 5)

    def test_slowloris_is_a_whole_request_timeout(self):
        self.fake.set_mode("slowloris", body="x" * 20)
        r = self.one(timeout_ms=1500)
        self.assertEqual(r["err"], "timeout")
        self.assertLess(r["total_ms"], 3000)

    def test_loop_never_blocks_while_waiting(self):
        self.fake.set_mode("hang")
        res, summary, _, _ = run_probe(["-t", "800", "-c", "3", self.fake.url])
        self.assertEqual([r["err"] for r in res], ["timeout"] * 3)
        self.assertLess(summary["max_gap_ms"], 500, summary)  # a blocked loop: ~800

    def test_garbage_is_protocol(self):
        self.fake.set_mode("garbage")
        r = self.one()
        self.assertEqual((r["err"], r["status"]), ("protocol", 0))
        self.assertEqual(r["error"], "not an HTTP response")

    def test_reset_before_response_is_connect(self):
        self.fake.set_mode("reset")
        r = self.one()
        self.assertEqual((r["err"], r["status"]), ("connect", 0), r)
        self.assertIn(r["error"], ("connection reset by peer",
                                   "connection closed before a response"))

    def test_body_over_limit(self):
        self.fake.set_mode("huge", size=200000)
        r = self.one("-m", "65536")
        self.assertEqual((r["err"], r["status"], r["error"]), ("too-large", 0, "body over 64 KiB"))
        r = self.one("-m", "200000")
        self.assertEqual((r["err"], r["body_len"]), ("ok", 200000))

    def test_tls_to_a_plain_server(self):
        r = self.one(url=self.fake.url.replace("http:", "https:"))
        self.assertEqual((r["err"], r["status"]), ("tls", 0))
        self.assertTrue(r["error"].startswith("handshake failed"), r["error"])

    def test_dns(self):
        r = self.one(url="http://no-such-host.invalid/status")
        self.assertEqual((r["err"], r["error"]), ("dns", "could not resolve host"))

    def test_only_http_and_https(self):
        r = self.one(url="ftp://127.0.0.1:%d/x" % self.fake.port)
        self.assertEqual(r["err"], "other")
        self.assertEqual(self.fake.request_count, 0)

    def test_never_through_a_proxy(self):
        env = dict(os.environ)
        for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ALL_PROXY",
                  "all_proxy"):
            env[k] = "http://127.0.0.1:1"
        env.pop("no_proxy", None)
        env.pop("NO_PROXY", None)
        r = self.one(env=env)
        self.assertEqual((r["err"], r["status"]), ("ok", 200))

    def test_post_with_headers(self):
        r = self.one("-X", "POST", "-H", "X-Test: 1", "-d", '{"a":1}')
        self.assertEqual((r["err"], r["status"]), ("ok", 200))

    def test_errors_never_show_the_url(self):
        url = "http://127.0.0.1:%d/bot%s/x?token=%s" % (self.fake.port, SECRET, SECRET)
        for mode in ("garbage", "reset", "hang", "down"):
            self.fake.set_mode(mode)
            r = self.one(url=url, timeout_ms=500)
            self.assertNotEqual(r["err"], "ok")
            self.assertNotIn(SECRET, r["_out"], mode)
            self.assertNotIn("127.0.0.1", r["error"], mode)
        self.fake.set_mode("up")
        r = self.one(url=url.replace("http:", "https:"))
        self.assertEqual(r["err"], "tls")
        self.assertNotIn(SECRET, r["_out"])


class HttpConcurrencyTest(ProbeCase):
    """Many at once, sequences, cancel and free, callbacks that cancel."""

    def test_many_concurrent_all_complete(self):
        self.fake.set_mode("slow", delay_ms=300)
        res, summary, wall, _ = run_probe(["-c", "40", self.fake.url])
        self.assertEqual(summary["_rc"], 0, summary["_out"])
        self.assertEqual(len(res), 40)
        self.assertEqual(sorted(r["i"] for r in res), list(range(40)))
        self.assertTrue(all(r["status"] == 200 for r in res), res)
        self.assertGreater(self.fake.max_concurrent, 1)
        self.assertLess(wall, 40 * 0.3)  # not one after the other

    def test_sequential_rounds(self):
        res, summary, _, _ = run_probe(["-n", "5", self.fake.url])
        self.assertEqual([r["i"] for r in res], [0, 1, 2, 3, 4])
        self.assertEqual(self.fake.request_count, 5)

    def test_connection_reuse(self):
        self.fake.set_mode("up", keep_alive=True)
        res, summary, _, _ = run_probe(["-n", "4", self.fake.url])
        self.assertEqual([r["status"] for r in res], [200] * 4)
        self.assertEqual(self.fake.request_count, 4)
        self.assertEqual(self.fake.connections, 1)

    def test_cancel_right_away(self):
        self.fake.set_mode("slow", delay_ms=300)
        res, summary, _, _ = run_probe(["-c", "5", "-x", "3", self.fake.url])
        self.assertEqual(summary["bad_calls"], 0, summary["_out"])
        self.assertEqual((summary["cancelled"], summary["completed"]), (3, 2))
        self.assertEqual(sorted(r["i"] for r in res), [3, 4])

    def test_cancel_in_flight_prevents_callbacks(self):
        self.fake.set_mode("hang")
        res, summary, wall, _ = run_probe(["-t", "10000", "-c", "4", "-x", "4", "-w", "500",
                                           self.fake.url])
        self.assertEqual(summary["bad_calls"], 0, summary["_out"])
        self.assertEqual(summary["cancelled"], 4)
        self.assertEqual(res, [])
        self.assertEqual(self.fake.request_count, 4)  # they were in flight
        self.assertLess(wall, 5)

    def test_free_with_requests_in_flight(self):
        self.fake.set_mode("hang")
        res, summary, wall, _ = run_probe(["-t", "10000", "-c", "3", "-F", "500", self.fake.url])
        self.assertEqual(summary["bad_calls"], 0, summary["_out"])
        self.assertEqual(res, [{"freed_in_flight": 3}])
        self.assertLess(wall, 5)

    def test_callback_cancels_others_and_starts_one(self):
        for mode in ("up", "slow"):
            self.fake.set_mode(mode, delay_ms=100)
            res, summary, _, _ = run_probe(["-c", "6", "-R", self.fake.url])
            self.assertEqual(summary["bad_calls"], 0, summary["_out"])
            self.assertEqual(summary["started"], 7)
            self.assertEqual(summary["completed"] + summary["cancelled"], 7)
            self.assertEqual(summary["completed"], 2, summary["_out"])
            self.assertEqual(res[-1]["i"], 6)


class CheckProbeTest(ProbeCase):
    """check_probe: the verdict and its words."""

    def test_healthy(self):
        r = self.check("HEALTH_EXPECT=ok")
        self.assertEqual((r["healthy"], r["status"], r["error"]), (True, 200, ""))
        self.assertGreater(r["latency_ms"], 0)
        self.assertLess(abs(r["time_ms"] / 1000.0 - time.time()), 60)

    def test_status(self):
        self.fake.set_mode("503")
        r = self.check()
        self.assertEqual((r["healthy"], r["status"], r["error"]), (False, 503, "HTTP 503"))
        r = self.check("HEALTHY_STATUS=200,500-503")
        self.assertEqual((r["healthy"], r["status"]), (True, 503))

    def test_wrong_body(self):
        self.fake.set_mode("wrong-body")
        r = self.check("HEALTH_EXPECT=ok")
        self.assertEqual((r["healthy"], r["status"]), (False, 200))
        self.assertEqual(r["error"], 'body does not contain "ok"')
        self.assertTrue(self.check()["healthy"])

    def test_refused(self):
        self.fake.set_mode("down")
        r = self.check()
        self.assertEqual((r["healthy"], r["status"], r["error"]), (False, 0, "connection refused"))

    def test_timeout(self):
        self.fake.set_mode("hang")
        r = self.check("CHECK_TIMEOUT=1s")
        self.assertEqual((r["healthy"], r["error"]), (False, "timeout after 1000ms"))
        self.assertGreaterEqual(r["latency_ms"], 950)
        self.assertLess(r["_wall"], 5)

    def test_tls_and_dns(self):
        r = self.check(url=self.fake.url.replace("http:", "https:"))
        self.assertFalse(r["healthy"])
        self.assertTrue(r["error"].startswith("TLS: "), r["error"])
        r = self.check(url="http://no-such-host.invalid/")
        self.assertEqual(r["error"], "DNS: could not resolve host")

    def test_big_body(self):
        self.fake.set_mode("huge", size=300000)
        r = self.check()
        self.assertEqual((r["healthy"], r["status"]), (True, 200))  # no HEALTH_EXPECT
        r = self.check("HEALTH_EXPECT=ok")
        self.assertEqual((r["healthy"], r["error"]), (False, "body over 64 KiB"))

    def test_secret_url_stays_out(self):
        self.fake.set_mode("garbage")
        url = "http://127.0.0.1:%d/x?key=%s" % (self.fake.port, SECRET)
        r = self.check(url=url)  # check() asserts SECRET is nowhere in the output
        self.assertFalse(r["healthy"])


class CheckTlsTest(unittest.TestCase):
    """A real HTTPS primary with a self-signed certificate."""

    def setUp(self):
        if not os.access(PROBE, os.X_OK):
            self.skipTest("%s not built" % PROBE)
        if shutil.which("openssl") is None:
            self.skipTest("no openssl to make a certificate")
        self.dir = tempfile.mkdtemp(prefix="fod-http-")
        self.addCleanup(shutil.rmtree, self.dir)

    def serve(self, san):
        """An HTTPS fake whose certificate names san; returns the cert path."""
        cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "2", "-subj",
                            "/CN=failoverd-test", "-addext", "subjectAltName=" + san],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.skipTest("openssl req failed: %s" % p.stdout)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.fake = FakePrimary(ssl_context=ctx).start()
        self.addCleanup(self.fake.stop)
        return cert

    def probe(self, *keys):
        res, summary, _, _ = run_probe(["-P", "LOCAL_HEALTH_URL=" + self.fake.url] + list(keys))
        self.assertEqual(len(res), 1, summary["_out"])
        return res[0]

    def test_untrusted_then_trusted(self):
        cert = self.serve("IP:127.0.0.1,DNS:localhost")
        r = self.probe()
        self.assertEqual((r["healthy"], r["status"]), (False, 0))
        self.assertTrue(r["error"].startswith("TLS: certificate verify failed"), r["error"])
        r = self.probe("HEALTH_CA_FILE=" + cert, "HEALTH_EXPECT=ok")
        self.assertEqual((r["healthy"], r["status"]), (True, 200), r)
        self.assertEqual(self.probe("HEALTH_INSECURE=yes")["healthy"], True)

    def test_name_mismatch(self):
        cert = self.serve("DNS:primary.example.com")
        r = self.probe("HEALTH_CA_FILE=" + cert)
        self.assertFalse(r["healthy"])
        self.assertEqual(r["error"], "TLS: certificate verify failed (name does not match)")
        self.assertTrue(self.probe("HEALTH_INSECURE=yes")["healthy"])

    def test_bad_ca_file(self):
        self.serve("IP:127.0.0.1")
        bad = os.path.join(self.dir, "bad.pem")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        r = self.probe("HEALTH_CA_FILE=" + bad)
        self.assertFalse(r["healthy"])
        self.assertTrue(r["error"].startswith("TLS: "), r["error"])


class CheckerTest(ProbeCase):
    """The scheduler: never overlapping, intervals from the end, joining."""

    def run_checker(self, *args):
        kv = ["LOCAL_HEALTH_URL=" + self.fake.url, "CHECK_TIMEOUT=5s"]
        res, summary, wall, _ = run_probe(list(args) + kv)
        self.assertEqual(summary["bad_calls"], 0, summary["_out"])
        self.assertEqual(summary["_rc"], 0, summary["_out"])
        return res

    def gaps(self):
        a = self.fake.arrivals()
        return [b - x for x, b in zip(a, a[1:])]

    def test_interval_and_no_overlap(self):
        res = self.run_checker("-S", "4", "-I", "300")
        self.assertEqual([r["kind"] for r in res], ["check"] * 4)
        self.assertTrue(all(r["healthy"] for r in res))
        self.assertEqual(self.fake.request_count, 4)
        self.assertEqual(self.fake.max_concurrent, 1)
        for g in self.gaps():
            self.assertGreaterEqual(g, 0.28)
            self.assertLess(g, 2.0)

    def test_interval_runs_from_the_end_of_a_check(self):
        self.fake.set_mode("slow", delay_ms=400)
        res = self.run_checker("-S", "3", "-I", "200")
        self.assertEqual(len(res), 3)
        self.assertEqual(self.fake.max_concurrent, 1)
        for g in self.gaps():
            self.assertGreaterEqual(g, 0.58)  # 400 ms answer + 200 ms pause

    def test_check_now_joins_the_one_in_flight(self):
        self.fake.set_mode("slow", delay_ms=300)
        res = self.run_checker("-S", "1", "-J")
        kinds = [r["kind"] for r in res]
        self.assertEqual(kinds, ["check", "waiter", "waiter"])  # main cb first
        self.assertEqual(len({r["time_ms"] for r in res}), 1)  # one result
        self.assertEqual(self.fake.request_count, 1)

    def test_each_check_on_a_new_connection(self):
        self.fake.set_mode("up", keep_alive=True)
        self.run_checker("-S", "3", "-I", "50")
        self.assertEqual((self.fake.request_count, self.fake.connections), (3, 3))

    def test_failed_checks_keep_coming(self):
        self.fake.set_mode("down")
        res = self.run_checker("-S", "3", "-I", "50")
        self.assertEqual([r["error"] for r in res], ["connection refused"] * 3)


@unittest.skipUnless(shutil.which("valgrind") and os.environ.get("FOD_VALGRIND", "1") != "0",
                     "valgrind not installed (or FOD_VALGRIND=0)")
class ValgrindTest(ProbeCase):
    """No leaks and no bad accesses in the paths that free things early."""

    VG = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
          "--error-exitcode=99"]

    def setUp(self):
        super().setUp()
        with open(PROBE, "rb") as f:
            if b"__asan_init" in f.read():
                self.skipTest("built with sanitizers, which valgrind cannot run")

    def vg(self, *args):
        res, summary, _, err = run_probe(list(args), prefix=self.VG, timeout=120)
        self.assertNotEqual(summary["_rc"], 99, err)
        self.assertEqual(summary["bad_calls"], 0, summary["_out"])
        return res, summary

    def test_paths(self):
        self.fake.set_mode("slow", delay_ms=100)
        self.vg("-c", "6", "-R", self.fake.url)
        self.vg("-c", "4", "-x", "2", self.fake.url)
        self.fake.set_mode("hang")
        self.vg("-t", "5000", "-c", "3", "-F", "500", self.fake.url)
        self.vg("-t", "5000", "-c", "3", "-x", "3", "-w", "500", self.fake.url)
        self.vg("-t", "300", self.fake.url)
        self.fake.set_mode("huge", size=200000)
        self.vg("-m", "65536", self.fake.url)
        self.fake.set_mode("up", keep_alive=True)  # a cached connection at http_free
        self.vg("-n", "3", self.fake.url)
        self.vg("-P", "LOCAL_HEALTH_URL=" + self.fake.url, "HEALTH_EXPECT=ok")
        self.vg("-S", "2", "-J", "LOCAL_HEALTH_URL=" + self.fake.url)
        self.vg("-t", "3000", self.fake.url.replace("http:", "https:"))


if __name__ == "__main__":
    unittest.main()
