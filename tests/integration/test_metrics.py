#!/usr/bin/env python3
"""Metrics (contract §12) against the real daemon: METRICS_LISTEN's HTTP
endpoint (status, Content-Type, 404 elsewhere, values that follow a failover,
no secrets, a stalled client that blocks nothing), `promtool check metrics`
on what it serves, a real Prometheus server scraping it every second and
queried through its HTTP API, the `metrics` command and `failoverctl
metrics`, METRICS_LISTEN's configuration errors, and contrib/grafana's
dashboard naming only metrics the daemon serves.

PROVIDER=none (a dry run) and fakes/fake_primary.py: a failover is the
primary going down. promtool and prometheus are Debian's `prometheus`
package (contrib/setup.sh installs it); without them those two tests skip
and say so.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import Abort, free_port, wait_until  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

CONTENT_TYPE = "text/plain; version=0.0.4"
TG_TOKEN = "123456:SecretTelegramTokenValue_xyz"
URL_PASSWORD = "UrlPassw0rdSecret"

# Contract §12's families (failoverd_leader only with COORDINATOR=etcd, not built).
REQUIRED = ["failoverd_up", "failoverd_state", "failoverd_paused", "failoverd_degraded",
            "failoverd_checks_total", "failoverd_check_duration_seconds",
            "failoverd_failovers_total", "failoverd_failbacks_total",
            "failoverd_standby_active", "failoverd_standby_active_seconds_total",
            "failoverd_sync_last_success_timestamp_seconds", "failoverd_notify_pending",
            "failoverd_build_info"]
STATES = ["starting", "primary", "failing-over", "standby", "failing-back"]
DASHBOARD = os.path.join(fodtest.SRCDIR, "contrib", "grafana", "failoverd.json")


def http_get(port, path, method="GET", timeout=5.0):
    """(status, headers dict lower-cased, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        body = r.read().decode("utf-8")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def parse(text):
    """{'name{labels}': float} and {family: type} from an exposition."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
        elif line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples, types


class MetricsCase(fodtest.DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.primary = FakePrimary().start()
        self.addCleanup(self.primary.stop)
        self.port = free_port()

    def config(self, **kw):
        u = urllib.parse.urlsplit(self.primary.url)
        c = {
            "PROVIDER": "none",
            # A password in the health URL and a Telegram token: neither may
            # show up in the metrics.
            "LOCAL_HEALTH_URL": "http://user:%s@%s%s" % (URL_PASSWORD, u.netloc, u.path),
            "TELEGRAM_CHAT_ID": "42",
            "TELEGRAM_API_URL": "http://127.0.0.1:%d" % free_port(),
            "CHECK_INTERVAL": "300ms",
            "FAST_INTERVAL": "50ms",
            "CHECK_TIMEOUT": "500ms",
            "FAILURE_THRESHOLD": "2",
            "MIN_STANDBY_TIME": "0",
            "FAILBACK": "manual",
            "METRICS_LISTEN": "127.0.0.1:%d" % self.port,
        }
        c.update(kw)
        return c

    def daemon(self, **kw):
        return self.make_daemon(self.config(**kw), env={"TELEGRAM_BOT_TOKEN": TG_TOKEN})

    def start(self, **kw):
        d = self.start_daemon(self.config(**kw), env={"TELEGRAM_BOT_TOKEN": TG_TOKEN})
        self.wait_state(d, "primary")
        return d

    def alive(self, d):
        if not d.running():
            raise Abort("failoverd died:\n" + d.log_tail())
        return True

    def wait_state(self, d, state, timeout=10.0):
        def pred():
            self.alive(d)
            return d.status()["state"] == state
        try:
            wait_until(pred, timeout, interval=0.02, msg="state %s" % state)
        except AssertionError as e:
            raise AssertionError("%s\n--- daemon log ---\n%s" % (e, d.log_tail()))

    def scrape(self):
        status, headers, body = http_get(self.port, "/metrics")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("content-type"), CONTENT_TYPE)
        return body

    def fail_over(self, d):
        self.primary.set_mode("down")
        self.wait_state(d, "standby")

    def assertNoSecrets(self, text):
        for s in (TG_TOKEN, URL_PASSWORD, "user:", "123456"):
            self.assertNotIn(s, text)


class TestEndpoint(MetricsCase):

    def test_scrape_404_and_values_after_a_failover(self):
        d = self.start()
        body = self.scrape()
        samples, types = parse(body)
        for fam in REQUIRED:
            self.assertIn(fam, types, "no TYPE line for %s" % fam)
            self.assertIn("# HELP %s " % fam, body)
        self.assertEqual(types["failoverd_check_duration_seconds"], "histogram")
        self.assertEqual(types["failoverd_failovers_total"], "counter")
        self.assertEqual(types["failoverd_checks_total"], "counter")
        self.assertEqual(samples["failoverd_up"], 1)
        version = d.result("ping")["version"]
        self.assertEqual(samples['failoverd_build_info{version="%s"}' % version], 1)
        for st in STATES:
            self.assertEqual(samples['failoverd_state{state="%s"}' % st],
                             1 if st == "primary" else 0, st)
        self.assertEqual(samples["failoverd_failovers_total"], 0)
        self.assertEqual(samples["failoverd_standby_active"], 0)
        self.assertEqual(samples["failoverd_paused"], 0)
        self.assertEqual(samples["failoverd_degraded"], 0)
        self.assertGreaterEqual(samples['failoverd_checks_total{result="ok"}'], 1)
        self.assertIn('failoverd_sync_last_success_timestamp_seconds{direction="push"}', samples)
        self.assertIn("failoverd_notify_pending", samples)
        self.assertNoSecrets(body)

        # Other paths, and methods other than GET/HEAD.
        for path in ("/", "/metricsx", "/metrics/", "/status", "/../metrics"):
            status, headers, _ = http_get(self.port, path)
            self.assertEqual(status, 404, path)
        status, headers, body_q = http_get(self.port, "/metrics?name=x")
        self.assertEqual(status, 200)
        status, headers, body_h = http_get(self.port, "/metrics", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), CONTENT_TYPE)
        self.assertEqual(body_h, "")
        status, _, _ = http_get(self.port, "/metrics", method="POST")
        self.assertIn(status, (405, 501))

        # Pause shows; a failover moves the state, the counters and the histogram.
        d.result("pause")
        self.assertEqual(parse(self.scrape())[0]["failoverd_paused"], 1)
        d.result("resume")
        checks_before = parse(self.scrape())[0]["failoverd_check_duration_seconds_count"]
        self.fail_over(d)
        samples, _ = parse(self.scrape())
        for st in STATES:
            self.assertEqual(samples['failoverd_state{state="%s"}' % st],
                             1 if st == "standby" else 0, st)
        self.assertEqual(samples["failoverd_failovers_total"], 1)
        self.assertEqual(samples["failoverd_failbacks_total"], 0)
        self.assertEqual(samples["failoverd_standby_active"], 1)
        self.assertGreaterEqual(samples['failoverd_checks_total{result="failed"}'], 2)
        self.assertGreater(samples["failoverd_check_duration_seconds_count"], checks_before)
        self.assertEqual(samples["failoverd_check_duration_seconds_count"],
                         samples['failoverd_check_duration_seconds_bucket{le="+Inf"}'])
        st = d.status()
        self.assertEqual(samples['failoverd_checks_total{result="failed"}'] +
                         samples['failoverd_checks_total{result="ok"}'],
                         st["local"]["checks_total"])

        # And back: failbacks_total, standby_active_seconds_total counted.
        self.primary.set_mode("up")
        wait_until(lambda: self.alive(d) and d.status()["local"]["healthy"] is True, 10,
                   msg="the primary healthy again")
        d.result("force-deactivate", wait=True)
        self.wait_state(d, "primary")
        samples, _ = parse(self.scrape())
        self.assertEqual(samples["failoverd_failbacks_total"], 1)
        self.assertEqual(samples["failoverd_standby_active"], 0)
        self.assertEqual(samples["failoverd_standby_active_seconds_total"],
                         d.status()["standby"]["active_seconds_total"])

    def test_metrics_command_and_failoverctl(self):
        d = self.start()
        text = d.result("metrics")["text"]
        samples, types = parse(text)
        for fam in REQUIRED:
            self.assertIn(fam, types)
        self.assertEqual(samples["failoverd_up"], 1)
        self.assertNoSecrets(text)
        # The same exposition as /metrics (families and labels; values move).
        self.assertEqual(set(parse(self.scrape())[0]), set(samples))

        rc, out, err = d.ctl("metrics", check=0)
        self.assertIn("# TYPE failoverd_up gauge\nfailoverd_up 1\n", out)
        self.assertIn('failoverd_state{state="primary"} 1\n', out)
        rc, out, err = d.ctl("-j", "metrics", check=0)
        obj = json.loads(out)
        self.assertEqual(list(obj), ["text"])
        self.assertIn("failoverd_up 1\n", obj["text"])
        help_ = {c["cmd"]: c for c in d.result("help")["commands"]}
        self.assertEqual(help_["metrics"]["level"], "read")
        # A read command: anyone who can connect gets it.
        if fodtest.is_root():
            os.chmod(d.socket_path, 0o666)
            r = fodtest.run_as(d.socket_path, [{"cmd": "metrics"}])
            self.assertIs(r[0]["ok"], True, r)
            self.assertIn("failoverd_up 1", r[0]["result"]["text"])

    def test_metrics_command_without_listen(self):
        d = self.start(METRICS_LISTEN=None)
        text = d.result("metrics")["text"]
        self.assertIn("failoverd_up 1\n", text)
        self.assertIn('failoverd_state{state="primary"} 1\n', text)
        with self.assertRaises(OSError):
            http_get(self.port, "/metrics", timeout=2)

    def test_a_stalled_client_blocks_nothing(self):
        d = self.start()
        stalled = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
            stalled.append(s)
        self.addCleanup(lambda: [s.close() for s in stalled])
        t0 = time.monotonic()
        self.assertIn("failoverd_up 1", self.scrape())
        self.assertEqual(d.status()["state"], "primary")
        self.assertLess(time.monotonic() - t0, 2.0)
        # The checks go on meanwhile.
        n = self.primary.request_count
        self.assertTrue(self.primary.wait_requests(n + 2, timeout=5))
        # The daemon closes them after its timeout (10 s): bounded, not held.
        def closed():
            for s in stalled:
                s.settimeout(0.05)
                try:
                    if s.recv(1) != b"":
                        return False
                except socket.timeout:
                    return False
                except OSError:
                    pass
            return True
        wait_until(closed, 15, interval=0.2, msg="the daemon to close stalled connections")

    def test_one_scrape_per_connection(self):
        self.start()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertIn(b"Connection: close", head)
        self.assertIn(b"failoverd_up 1\n", body)


class TestConfig(MetricsCase):

    def test_bad_values(self):
        for value, want in (("metrics.example.com:9464", "IP address or localhost"),
                            ("127.0.0.1", "HOST:PORT"),
                            ("127.0.0.1:0", "PORT"),
                            ("::1:9464", "HOST:PORT"),
                            ("[::1]:99999", "PORT")):
            d = self.daemon(METRICS_LISTEN=value)
            rc, out, err = d.check_config()
            self.assertEqual(rc, 1, value)
            self.assertRegex(err, r"failoverd\.conf:\d+: METRICS_LISTEN: ", value)
            self.assertIn(want, err, value)
            self.assertIn(value, err)

    def test_n_prints_it(self):
        d = self.daemon(METRICS_LISTEN="localhost:9464")
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        self.assertIn("\nMETRICS_LISTEN=localhost:9464\n", out)
        d = self.daemon(METRICS_LISTEN=None)
        rc, out, err = d.check_config()
        self.assertIn("\nMETRICS_LISTEN=\n", out)

    def test_port_in_use_fails_the_start(self):
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        d = self.daemon(METRICS_LISTEN="127.0.0.1:%d" % port)
        rc, out, err = d.start(foreground=False)
        self.assertEqual(rc, 1, err)
        self.assertIn("METRICS_LISTEN 127.0.0.1:%d: cannot listen: Address already in use"
                      % port, err)
        self.assertFalse(os.path.exists(d.socket_path))

    def test_ipv6_and_localhost(self):
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        try:
            s = socket.socket(socket.AF_INET6)
            s.bind(("::1", 0))
            s.close()
        except OSError as e:
            self.skipTest("no ::1 here: %s" % e)
        d = self.start(METRICS_LISTEN="[::1]:%d" % self.port)
        c = http.client.HTTPConnection("::1", self.port, timeout=5)
        c.request("GET", "/metrics")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn(b"failoverd_up 1", r.read())
        c.close()
        d.stop()

    def test_reload_keeps_the_listener(self):
        d = self.start()
        other = free_port()
        d.config["METRICS_LISTEN"] = "127.0.0.1:%d" % other
        d.write_config()
        r = d.result("reload")
        self.assertIn("METRICS_LISTEN", r.get("restart_needed", []))
        self.assertIn("METRICS_LISTEN changed; it takes effect at the next restart",
                      d.log_text())
        self.assertIn("failoverd_up 1", self.scrape())
        with self.assertRaises(OSError):
            http_get(other, "/metrics", timeout=2)


def need(tool):
    path = shutil.which(tool)
    if path is None:
        raise unittest.SkipTest("SKIPPED: %s is not installed (Debian package prometheus; "
                                "contrib/setup.sh deps installs it)" % tool)
    return path


class TestPrometheus(MetricsCase):

    def test_promtool_check_metrics(self):
        promtool = need("promtool")
        d = self.start()
        texts = [self.scrape()]
        self.fail_over(d)
        texts.append(self.scrape())
        texts.append(d.result("metrics")["text"])
        for text in texts:
            cp = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                capture_output=True, timeout=30)
            self.assertEqual(cp.returncode, 0, "promtool check metrics: %s%s\n%s"
                             % (cp.stdout.decode(), cp.stderr.decode(), text))

    def test_prometheus_scrapes_it(self):
        prometheus = need("prometheus")
        d = self.start()
        tmp = tempfile.mkdtemp(prefix="fod-prom.")
        self.addCleanup(shutil.rmtree, tmp, True)
        pport = free_port()
        conf = os.path.join(tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: failoverd\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % self.port)
        log = open(os.path.join(tmp, "prometheus.log"), "wb")
        self.addCleanup(log.close)
        # Our own server: a temp TSDB and a loopback port; the package's
        # service (if any) is not involved.
        proc = subprocess.Popen(
            [prometheus, "--config.file=" + conf, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
             "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=tmp, start_new_session=True)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.addCleanup(stop)

        def prom_log():
            with open(os.path.join(tmp, "prometheus.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]

        def ready():
            if proc.poll() is not None:
                raise Abort("prometheus exited with %s:\n%s" % (proc.returncode, prom_log()))
            status, _, _ = http_get(pport, "/-/ready", timeout=2)
            return status == 200
        wait_until(ready, 60, interval=0.1, msg="prometheus to be ready")

        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?%s" % (
                pport, urllib.parse.urlencode({"query": q}))
            with urllib.request.urlopen(url, timeout=5) as r:
                obj = json.load(r)
            assert obj["status"] == "success", obj
            return [(s["metric"], float(s["value"][1])) for s in obj["data"]["result"]]

        def has(q, want):
            def pred():
                if proc.poll() is not None:
                    raise Abort("prometheus exited:\n" + prom_log())
                r = query(q)
                return r if r and r[0][1] == want else None
            try:
                return wait_until(pred, 30, interval=0.2, msg="%s == %s" % (q, want))
            except AssertionError as e:
                raise AssertionError("%s\n--- prometheus log ---\n%s" % (e, prom_log()))

        r = has("failoverd_up", 1)
        self.assertEqual(r[0][0]["job"], "failoverd")
        self.assertEqual(r[0][0]["instance"], "127.0.0.1:%d" % self.port)
        has('up{job="failoverd"}', 1)  # Prometheus' own view of the target
        has("failoverd_failovers_total", 0)
        self.fail_over(d)
        has("failoverd_failovers_total", 1)
        has('failoverd_state{state="standby"}', 1)
        has("failoverd_standby_active", 1)
        stop()
        self.assertEqual(proc.returncode, 0, prom_log())


class TestDashboard(unittest.TestCase):
    """contrib/grafana/failoverd.json: valid JSON, a Grafana dashboard whose
    every expression names only metrics the daemon serves."""

    def test_dashboard_names_served_metrics(self):
        with open(DASHBOARD) as f:
            dash = json.load(f)
        self.assertIsInstance(dash.get("panels"), list)
        self.assertTrue(dash.get("title"))
        d = fodtest.Daemon({"PROVIDER": "none", "CHECK_INTERVAL": "1h"})
        self.addCleanup(d.cleanup)
        d.start()
        _, types = parse(d.result("metrics")["text"])
        names = set()
        for fam, typ in types.items():
            names.add(fam)
            if typ == "histogram":
                names.update(fam + s for s in ("_bucket", "_sum", "_count"))
        exprs = []

        def walk(o):
            if isinstance(o, dict):
                for k, v in o.items():
                    if k in ("expr", "query") and isinstance(v, str):
                        exprs.append(v)
                    else:
                        walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(dash)
        self.assertGreaterEqual(len(exprs), 8)
        used = set()
        for e in exprs:
            for name in re.findall(r"\b(failoverd_[a-z_]+)\b", e):
                self.assertIn(name, names, "%s in %r is not served" % (name, e))
                used.add(name)
        for fam in ("failoverd_up", "failoverd_state", "failoverd_failovers_total",
                    "failoverd_check_duration_seconds_bucket"):
            self.assertIn(fam, used, "the dashboard does not show %s" % fam)


if __name__ == "__main__":
    fodtest.main()
