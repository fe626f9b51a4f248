#!/usr/bin/env python3
"""Crash detection (CONTRACT §10): the process watch (PRIMARY_PID_FILE) and
the connection watch (WATCH_CONNECTION), with the real failoverd, the fake
Fly API and fakes/fake_primary.py, here a separate process that writes its
PID file so it can be killed with SIGKILL.

CHECK_INTERVAL is 60 s throughout: a check that follows a crash within a
second can only come from a watch. Every wait is a deadline-bounded
condition; the plain sleeps prove that something does NOT happen.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import free_port, wait_until  # noqa: E402
from fake_fly import FakeFly  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

APP = "standby-app"
TOKEN = "fo1_FailoverTestTok3nValue"
FAKE_PRIMARY = os.path.join(HERE, "fakes", "fake_primary.py")
FAST = 1.0  # FAST_INTERVAL, s
THRESHOLD = 3


class PrimaryProcess:
    """fake_primary.py as its own process, writing pid_file once listening."""

    def __init__(self, pid_file, port=0, idle_timeout=10):
        self.proc = subprocess.Popen(
            [sys.executable, FAKE_PRIMARY, "--port", str(port), "--pid-file", pid_file,
             "--idle-timeout", str(idle_timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("fake_primary.py did not start")
        self.port = json.loads(line)["port"]
        self.pid = self.proc.pid

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def cleanup(self):
        if self.proc.poll() is None:
            self.kill9()
        self.proc.stdout.close()


class WatchCase(fodtest.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.fly = FakeFly(tokens=[TOKEN], start_delay=0.05, stop_delay=0.05).start()
        self.addCleanup(self.fly.stop)
        self.fly.add_app(APP)
        self.mid = self.fly.add_machine(APP, "stopped", "iad")
        self.standby_health = FakePrimary().start()
        self.addCleanup(self.standby_health.stop)

    def config(self, url, **kw):
        c = {
            "PROVIDER": "fly",
            "FLY_APP": APP,
            "FLY_API_HOSTNAME": self.fly.url,
            "FLY_HEALTH_URL": self.standby_health.url,
            "LOCAL_HEALTH_URL": url,
            "CHECK_INTERVAL": "60",
            "FAST_INTERVAL": "%gs" % FAST,
            "FAILURE_THRESHOLD": str(THRESHOLD),
            "CHECK_TIMEOUT": "500ms",
            "MIN_STANDBY_TIME": "0",
            "ACTIVATION_TIMEOUT": "30s",
        }
        c.update(kw)
        return c

    def start(self, url, **kw):
        d = self.start_daemon(self.config(url, **kw), env={"FLY_API_TOKEN": TOKEN})
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="state primary")
        return d

    def primary_process(self, pid_file, **kw):
        p = PrimaryProcess(pid_file, **kw)
        self.addCleanup(p.cleanup)
        return p

    def events(self, d, types):
        ev = d.events(types=types)
        self.addCleanup(ev.close)
        return ev

    def wait_log(self, d, text, timeout=5.0):
        try:
            wait_until(lambda: text in d.log_text(), timeout, msg="log: %s" % text)
        except AssertionError as e:
            raise AssertionError("%s\n--- daemon log ---\n%s" % (e, d.log_tail()))

    def start_requests(self):
        return [r for r in self.fly.requests("POST", "/machines/%s/start$" % self.mid)]

    def wait_ev(self, ev, pred, timeout):
        """The next new event matching pred (EventStream.wait_for would
        also return one seen before)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                e = ev.next(left) if left > 0 else None
            except TimeoutError:
                e = None
            if e is None:
                raise AssertionError("timed out after %.1fs; events seen: %s"
                                     % (timeout, json.dumps(ev.seen)[-2000:]))
            if pred(e):
                return e

    def collect(self, ev, seconds):
        out, end = [], time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            try:
                out.append(ev.next(timeout=left))
            except (AssertionError, TimeoutError):
                return out


class ProcessWatchTest(WatchCase):
    def test_kill9_starts_the_standby_within_the_confirmation_time(self):
        pid_file = os.path.join(self.make_daemon().dir, "primary.pid")
        p = self.primary_process(pid_file)
        d = self.start("http://127.0.0.1:%d/status" % p.port, PRIMARY_PID_FILE=pid_file)
        self.wait_log(d, "watching the primary's process %d" % p.pid)
        ev = self.events(d, ["watch", "check"])
        t0 = time.time()
        p.kill9()
        e = self.wait_ev(ev, lambda e: e["type"] == "watch", 2)
        self.assertEqual(e["what"], "exit")
        self.assertEqual(e["pid"], p.pid)
        self.assertIn(str(p.pid), e["detail"])
        c = self.wait_ev(ev, lambda e: e["type"] == "check", 2)
        self.assertFalse(c["healthy"])
        limit = (THRESHOLD - 1) * FAST + 0.5
        wait_until(lambda: self.start_requests(), limit + 2, msg="a start request")
        latency = self.start_requests()[0]["time"] - t0
        print("\n  kill -9 -> Fly start request: %.3f s (limit %.1f s, CHECK_INTERVAL 60)"
              % (latency, limit), file=sys.stderr)
        self.assertLessEqual(latency, limit)
        # Not sooner than the confirmation rule allows: the watch is a trigger.
        self.assertGreaterEqual(latency, (THRESHOLD - 1) * FAST - 0.1)

    def test_supervisor_restart_within_the_grace_is_no_failover_and_is_watched(self):
        pid_file = os.path.join(self.make_daemon().dir, "primary.pid")
        p = self.primary_process(pid_file)
        url = "http://127.0.0.1:%d/status" % p.port
        d = self.start(url, PRIMARY_PID_FILE=pid_file)
        self.wait_log(d, "watching the primary's process %d" % p.pid)
        ev = self.events(d, ["watch", "check", "state"])
        p.kill9()
        self.wait_ev(ev, lambda e: e["type"] == "watch" and e["pid"] == p.pid, 2)
        # The supervisor starts a new process (new PID, same port) at once.
        p2 = self.primary_process(pid_file, port=p.port)
        self.assertNotEqual(p2.pid, p.pid)
        self.wait_log(d, "watching the primary's process %d" % p2.pid, 3)
        self.wait_ev(ev, lambda e: e["type"] == "check" and e["healthy"], FAST + 2)
        seen = self.collect(ev, THRESHOLD * FAST)
        self.assertEqual([e for e in seen if e["type"] == "state"], [])
        self.assertEqual(self.start_requests(), [])
        self.assertEqual(d.status()["state"], "primary")
        # The new process is watched: its crash is seen at once too.
        t0 = time.monotonic()
        p2.kill9()
        e = self.wait_ev(ev, lambda e: e["type"] == "watch", 2)
        self.assertEqual(e["pid"], p2.pid)
        self.assertLess(time.monotonic() - t0, 0.5)
        wait_until(lambda: self.start_requests(), (THRESHOLD - 1) * FAST + 2.5,
                   msg="a start request after the second crash")

    def test_bad_pid_files_are_refused_once_each_and_watched_when_fixed(self):
        primary = FakePrimary().start()
        self.addCleanup(primary.stop)
        tmp = self.make_daemon().dir
        pid_file = os.path.join(tmp, "primary.pid")
        d = self.start(primary.url, PRIMARY_PID_FILE=pid_file)
        # The backlog: the missing file is reported at start-up.
        ev = d.events(types=["error", "watch", "check"], backlog=100)
        self.addCleanup(ev.close)

        def write(text, mtime=None, mode=0o644):
            tmpf = pid_file + ".tmp"
            with open(tmpf, "w") as f:
                f.write(text)
            os.chmod(tmpf, mode)
            if mtime is not None:
                os.utime(tmpf, (mtime, mtime))
            os.replace(tmpf, pid_file)

        def expect(words):
            e = self.wait_ev(ev, lambda e: e["type"] == "error" and e["what"] == "pid-file"
                            and not e["cleared"], 3)
            self.assertIn(words, e["error"])
            self.assertIn(pid_file, e["error"])
            return e

        # Missing: reported once, though the file is read once a second.
        e = expect("does not exist")
        dead = subprocess.Popen(["true"])
        dead.wait()
        sleeper = subprocess.Popen(["sleep", "60"])
        self.addCleanup(sleeper.kill)
        elsewhere = os.path.join(tmp, "other.pid")
        with open(elsewhere, "w") as f:
            f.write("%d\n" % sleeper.pid)
        cases = [
            ("", None, 0o644, "is empty"),
            ("garbage\n", None, 0o644, "does not hold a PID"),
            ("99999999999999999999\n", None, 0o644, "too large"),
            ("1\n", None, 0o644, "PID 1 (init)"),
            ("12 34\n", None, 0o644, "does not hold a PID"),
            ("0\n", None, 0o644, "PID 0"),
            ("%d\n" % dead.pid, None, 0o644, "not running"),
            # A live process younger than the file: a reused PID, not the primary.
            ("%d\n" % sleeper.pid, time.time() - 3600, 0o644, "started after the file"),
            ("%d\n" % sleeper.pid, None, 0o666, "writable by anyone"),
            ("%d\n" % d.pid, None, 0o644, "failoverd's own PID"),
            ("x" * 100, None, 0o644, "larger than 64 bytes"),
        ]
        for text, mtime, mode, words in cases:
            write(text, mtime, mode)
            expect(words)
        # A symbolic link (to a good PID file): refused.
        os.remove(pid_file)
        os.symlink(elsewhere, pid_file)
        expect("symbolic link")
        # Reported once: nothing more while it stays the same.
        seen = self.collect(ev, 2.5)
        self.assertEqual([e for e in seen if e["type"] == "error"], [], seen)
        self.assertEqual([e for e in seen if e["type"] == "watch"], [])
        self.assertEqual(self.start_requests(), [])
        # Fixed: watched, and the problem is cleared.
        os.remove(pid_file)
        write("%d\n" % sleeper.pid)
        e = self.wait_ev(ev, lambda e: e["type"] == "error" and e["what"] == "pid-file", 3)
        self.assertTrue(e["cleared"])
        self.wait_log(d, "watching the primary's process %d" % sleeper.pid)
        sleeper.kill()
        sleeper.wait()
        e = self.wait_ev(ev, lambda e: e["type"] == "watch", 2)
        self.assertEqual((e["what"], e["pid"]), ("exit", sleeper.pid))
        c = self.wait_ev(ev, lambda e: e["type"] == "check", 2)
        self.assertTrue(c["healthy"])  # the primary (its endpoint) is fine: no failover
        # failoverctl prints it.
        rc, out, err = d.ctl("events", "-n", "5", "--no-follow", "-T", "watch")
        self.assertEqual(rc, 0, err)
        print(out.strip().splitlines()[-1], file=sys.stderr)
        self.assertRegex(out, r"watch exit: the primary's process %d \(PRIMARY_PID_FILE\) "
                         r"exited" % sleeper.pid)
        # The stale file of the process that just exited is expected, not an error.
        seen = self.collect(ev, 2.5)
        self.assertEqual([e for e in seen if e["type"] == "error"], [], seen)
        self.assertEqual(d.status()["state"], "primary")


class ConnectionWatchTest(WatchCase):
    def test_idle_timeout_close_is_one_extra_check_and_no_failover(self):
        primary = FakePrimary(idle_timeout=1.5).start()
        self.addCleanup(primary.stop)
        d = self.start(primary.url, WATCH_CONNECTION="yes")
        self.wait_log(d, "watch: connected to 127.0.0.1 port %d" % primary.port)
        ev = self.events(d, ["watch", "check", "state"])
        seen = self.collect(ev, 5.0)
        watches = [e for e in seen if e["type"] == "watch"]
        checks = [e for e in seen if e["type"] == "check"]
        self.assertGreaterEqual(len(watches), 2, seen)
        for w in watches:
            self.assertEqual(w["what"], "closed")
            self.assertIsNone(w["pid"])
            self.assertIn("closed by the peer", w["detail"])
        # Exactly one check per close (CHECK_INTERVAL is 60 s), all healthy.
        self.assertLessEqual(abs(len(checks) - len(watches)), 1, seen)
        order = [e["type"] for e in seen if e["type"] in ("watch", "check")]
        for i, t in enumerate(order):
            if t == "watch" and i + 1 < len(order):
                self.assertEqual(order[i + 1], "check", order)
        self.assertTrue(all(c["healthy"] for c in checks), checks)
        self.assertEqual([e for e in seen if e["type"] == "state"], [])
        self.assertEqual(self.start_requests(), [])

    def test_reset_checks_at_once_then_fast(self):
        primary = FakePrimary(idle_timeout=60).start()
        self.addCleanup(primary.stop)
        # A host name: resolved without blocking (evdns), as for a remote primary.
        url = "http://localhost:%d/status" % primary.port
        d = self.start(url, WATCH_CONNECTION="yes")
        self.wait_log(d, "watch: connected to localhost port %d" % primary.port)
        ev = self.events(d, ["watch", "check"])
        primary.set_mode("503", idle_timeout=60)
        t0 = time.monotonic()
        self.assertGreaterEqual(primary.reset_idle(), 1)
        e = self.wait_ev(ev, lambda e: e["type"] == "watch", 2)
        self.assertEqual(e["what"], "closed")
        self.assertIn("reset", e["detail"])
        c1 = self.wait_ev(ev, lambda e: e["type"] == "check", 2)
        t1 = time.monotonic()
        self.assertFalse(c1["healthy"])
        self.assertLess(t1 - t0, 0.5)
        self.wait_ev(ev, lambda e: e["type"] == "check", FAST + 1.5)
        t2 = time.monotonic()
        # FAST_INTERVAL pacing (not 60 s) from the failed check on.
        self.assertGreater(t2 - t1, FAST * 0.8)
        self.assertLess(t2 - t1, FAST + 1.0)

    def test_a_check_in_flight_at_the_close_is_followed_by_a_fresh_one(self):
        # Its answer may predate the crash: a healthy one must not end it.
        primary = FakePrimary(idle_timeout=60).start()
        self.addCleanup(primary.stop)
        d = self.start(primary.url, WATCH_CONNECTION="yes")
        self.wait_log(d, "watch: connected to 127.0.0.1 port %d" % primary.port)
        primary.set_mode("slow", delay_ms=300, idle_timeout=60)  # < CHECK_TIMEOUT
        ev = self.events(d, ["watch", "check"])
        n = primary.request_count
        c = d.connect()
        self.addCleanup(c.close)
        c.send_line({"cmd": "check"})
        self.assertTrue(primary.wait_requests(n + 1, 2))
        self.assertGreaterEqual(primary.reset_idle(), 1)
        self.wait_ev(ev, lambda e: e["type"] == "watch", 2)
        first = self.wait_ev(ev, lambda e: e["type"] == "check", 2)
        self.assertTrue(first["healthy"])
        second = self.wait_ev(ev, lambda e: e["type"] == "check", 2)
        self.assertTrue(second["healthy"])
        self.assertEqual(primary.request_count, n + 2)
        self.assertEqual(self.collect(ev, 1.0), [])  # and no more (CHECK_INTERVAL 60)

    def test_reconnects_at_most_once_a_second(self):
        # A server that accepts and closes at once: each connection is a close.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        accepts = []
        stop = threading.Event()

        def serve():
            srv.settimeout(0.05)
            while not stop.is_set():
                try:
                    c, _ = srv.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                accepts.append(time.monotonic())
                c.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(srv.close)
        self.addCleanup(stop.set)
        d = self.start_daemon({"PROVIDER": "none", "CHECK_INTERVAL": "60",
                               "FAST_INTERVAL": "60", "CHECK_TIMEOUT": "200ms",
                               "LOCAL_HEALTH_URL": "http://127.0.0.1:%d/" % port,
                               "WATCH_CONNECTION": "yes"})
        wait_until(lambda: len(accepts) >= 3, 5, msg="reconnects")
        n0, t0 = len(accepts), time.monotonic()
        time.sleep(4.0)
        n = len(accepts) - n0
        elapsed = time.monotonic() - t0
        # Health checks connect too (one per watch close); the watch's own
        # connections are at most one a second.
        self.assertLessEqual(n, 2 * (elapsed + 1), accepts)
        self.assertGreaterEqual(n, 2)
        # A refused port: reconnect attempts once a second, logged once.
        stop.set()
        t.join(5)
        srv.close()
        self.wait_log(d, "cannot connect to 127.0.0.1 port %d" % port, 4)
        time.sleep(2.5)
        self.assertEqual(d.log_text().count("cannot connect to 127.0.0.1 port %d" % port), 1,
                         d.log_text())
        self.assertTrue(d.running())

    def test_refused_port_attempts_once_a_second(self):
        port = free_port()
        d = self.start_daemon({"PROVIDER": "none", "CHECK_INTERVAL": "60",
                               "LOCAL_HEALTH_URL": "http://127.0.0.1:%d/" % port,
                               "WATCH_CONNECTION": "yes"})
        wait_until(lambda: "cannot connect to 127.0.0.1 port %d" % port in d.log_text(), 4,
                   msg="the refusal logged")
        # The attempts themselves, counted with strace when it can attach.
        if shutil.which("strace"):
            st = subprocess.run(["timeout", "-s", "INT", "3.5", "strace", "-f", "-e",
                                 "trace=connect", "-p", str(d.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if "attach" not in st.stderr or "Operation not permitted" not in st.stderr:
                tries = [ln for ln in st.stderr.splitlines()
                         if "connect(" in ln and "sin_port=htons(%d)" % port in ln]
                self.assertGreaterEqual(len(tries), 2, st.stderr)
                self.assertLessEqual(len(tries), 4, st.stderr)  # 3.5 s: at most one a second
        # Listening now: connected within about a second, no faster loop before.
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen(4)
        self.addCleanup(srv.close)
        t0 = time.monotonic()
        srv.settimeout(3)
        c, _ = srv.accept()
        self.addCleanup(c.close)
        self.assertLess(time.monotonic() - t0, 1.5)
        self.wait_log(d, "watch: connected to 127.0.0.1 port %d" % port, 2)


class ConnectionTargetTest(WatchCase):
    def test_https_default_port_and_ipv6_literal(self):
        # https without a port: plain TCP to 443 (no TLS is needed to see a close).
        d = self.start_daemon({"PROVIDER": "none", "CHECK_INTERVAL": "60",
                               "LOCAL_HEALTH_URL": "https://127.0.0.1/status",
                               "WATCH_CONNECTION": "yes"})
        wait_until(lambda: re.search(r"watch: (cannot connect to|connected to) 127\.0\.0\.1 "
                                     r"port 443\b", d.log_text()), 4, msg="port 443")
        if not socket.has_ipv6:
            return
        srv = socket.socket(socket.AF_INET6)
        try:
            srv.bind(("::1", 0))
        except OSError:
            srv.close()
            return  # no IPv6 loopback here
        self.addCleanup(srv.close)
        srv.listen(4)
        port = srv.getsockname()[1]
        d.write_config({"LOCAL_HEALTH_URL": "http://[::1]:%d/status" % port})
        d.result("reload")
        srv.settimeout(3)
        c, _ = srv.accept()
        self.addCleanup(c.close)
        self.wait_log(d, "watch: connected to ::1 port %d" % port)


class ReloadTest(WatchCase):
    def test_reload_turns_the_watches_on_and_off(self):
        primary = FakePrimary(idle_timeout=60).start()
        self.addCleanup(primary.stop)
        d = self.start(primary.url)
        sleeper = subprocess.Popen(["sleep", "60"])
        self.addCleanup(sleeper.kill)
        pid_file = os.path.join(d.dir, "sleeper.pid")
        with open(pid_file, "w") as f:
            f.write("%d\n" % sleeper.pid)
        d.write_config({"PRIMARY_PID_FILE": pid_file, "WATCH_CONNECTION": "yes"})
        r = d.result("reload")
        self.assertEqual(r["restart_needed"], [])
        self.wait_log(d, "watching the primary's process %d" % sleeper.pid)
        self.wait_log(d, "watch: connected to 127.0.0.1 port %d" % primary.port)
        # Off again: neither the exit nor a reset is seen any more.
        d.write_config({"PRIMARY_PID_FILE": "", "WATCH_CONNECTION": "no"})
        # The watch connection, until the reload.
        wait_until(lambda: primary.concurrent == 1, 3, msg="the watch connection")
        d.result("reload")
        wait_until(lambda: primary.concurrent == 0, 3, msg="the watch connection closed")
        ev = self.events(d, ["watch", "check"])
        sleeper.kill()
        sleeper.wait()
        seen = self.collect(ev, 1.5)
        self.assertEqual(seen, [])
        self.assertEqual(primary.concurrent, 0)  # no reconnect either


class DropInTest(WatchCase):
    DROPIN = os.path.join(fodtest.SRCDIR, "contrib", "systemd",
                          "primary-failoverd-check.conf")

    def test_the_dropins_command_runs_a_check(self):
        with open(self.DROPIN) as f:
            lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
        self.assertEqual(lines[0], "[Service]")
        self.assertEqual(len(lines), 2, lines)
        key, _, value = lines[1].partition("=")
        self.assertEqual(key, "ExecStopPost")
        # "-": its exit status never fails the primary's unit; "+": as root.
        self.assertTrue(value.startswith("-+/usr/bin/failoverctl "), value)
        argv = value[2:].split()
        self.assertEqual(argv[1:], ["-t", "2", "check"])
        primary = FakePrimary().start()
        self.addCleanup(primary.stop)
        d = self.start(primary.url)
        ev = self.events(d, ["check", "control"])
        rc, out, err = d.ctl(*argv[1:])
        self.assertEqual(rc, 0, err)
        c = self.wait_ev(ev, lambda e: e["type"] == "control", 2)
        self.assertEqual((c["cmd"], c["ok"]), ("check", True))
        self.wait_ev(ev, lambda e: e["type"] == "check" and e["healthy"], 2)
        # Just after the primary stopped: exit 1 (unhealthy), which "-" ignores.
        primary.set_mode("down")
        rc, out, err = d.ctl(*argv[1:])
        self.assertEqual(rc, 1, out + err)


if __name__ == "__main__":
    fodtest.main()
