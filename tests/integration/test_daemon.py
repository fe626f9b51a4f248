#!/usr/bin/env python3
"""failoverd(8), contract §4: start-up, -n, daemonizing, a second instance,
stale sockets, signals, directories, persistence, STATUS_FILE, pause expiry."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fodtest  # noqa: E402
from fodtest import RFC3339_MS, wait_until  # noqa: E402

QUIET = {"PROVIDER": "none", "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}

# Contract §3's table, in its order.
TABLE_KEYS = """LOCAL_HEALTH_URL HEALTHY_STATUS HEALTH_EXPECT HEALTH_CA_FILE
HEALTH_INSECURE CHECK_INTERVAL FAST_INTERVAL CHECK_TIMEOUT FAILURE_THRESHOLD
RECOVERY_THRESHOLD MIN_STANDBY_TIME FAILBACK AUTO_STOP RECONCILE_INTERVAL
PROVIDER FLY_APP FLY_API_TOKEN FLY_API_TOKEN_FILE FLY_API_HOSTNAME
FLY_MACHINE_COUNT FLY_HEALTH_URL ACTIVATION_TIMEOUT ACTIVATE_CMD DEACTIVATE_CMD
STATE_DIR RCLONE_REMOTE RCLONE_PATH RCLONE RCLONE_CONFIG RCLONE_FLAGS
SYNC_INTERVAL SYNC_TIMEOUT BACKUP_DIR BACKUP_KEEP TELEGRAM_BOT_TOKEN
TELEGRAM_BOT_TOKEN_FILE TELEGRAM_CHAT_ID TELEGRAM_API_URL HEARTBEAT_URL
NOTIFY_CMD FENCE_CMD FENCE_REQUIRED FAILBACK_CMD HOOK_TIMEOUT SOCKET
SOCKET_GROUP ADMIN_GROUP STATE_FILE STATUS_FILE PID_FILE LOG_FILE
COST_PER_SECOND METRICS_LISTEN""".split()


def unquote(v):
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


def parse_n(out):
    """`failoverd -n` stdout -> ([(KEY, value)...], last line); lines
    starting with # (comments, as in the config file) are skipped."""
    lines = [ln for ln in out.rstrip("\n").split("\n") if not ln.startswith("#")]
    pairs = []
    for ln in lines[:-1]:
        k, sep, v = ln.partition("=")
        if not sep:
            raise AssertionError("not a KEY=value line in -n output: %r" % ln)
        pairs.append((k, unquote(v)))
    return pairs, lines[-1]


class DaemonTest(fodtest.DaemonTestCase):

    # --- start-up ------------------------------------------------------------
    def test_starts_with_only_paths_in_dry_run(self):
        d = self.start_daemon({})  # the harness's paths and a down URL only
        s = d.status()
        self.assertEqual(s["standby"]["provider"], "none")
        self.assertEqual(s["pid"], d.pid)
        s = wait_until(lambda: (lambda s: s["state"] != "starting" and s)(d.status()),
                       15, msg="state to leave starting")
        self.assertIn(s["state"], ("primary", "failing-over", "standby"))
        rc, out, err = d.ctl("status", check=0)
        self.assertTrue(out.strip())
        rc, out, err = d.ctl("-j", "status", check=0)
        self.assertEqual(json.loads(out.strip().split("\n")[0])["pid"], d.pid)

    def test_version_and_usage(self):
        d = self.make_daemon({})
        cp = subprocess.run([fodtest.FAILOVERD, "-V"], capture_output=True, timeout=10,
                            env=d.child_env())
        self.assertEqual(cp.returncode, 0)
        self.assertIn("1.0.0", (cp.stdout + cp.stderr).decode())
        cp = subprocess.run([fodtest.FAILOVERD, "-h"], capture_output=True, timeout=10,
                            env=d.child_env())
        self.assertIn("-c", (cp.stdout + cp.stderr).decode())
        cp = subprocess.run([fodtest.FAILOVERD, "-Q"], capture_output=True, timeout=10,
                            env=d.child_env())
        self.assertNotEqual(cp.returncode, 0)

    # --- -n ------------------------------------------------------------------
    def test_n_prints_settings_in_table_order(self):
        d = self.make_daemon({"PROVIDER": "none", "FAILURE_THRESHOLD": "7",
                              "HEALTH_EXPECT": "all good", "RCLONE_DRIVE_SCOPE": "drive"})
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        pairs, last = parse_n(out)
        self.assertEqual(last, "configuration OK")
        keys = [k for k, v in pairs if k in TABLE_KEYS]
        self.assertEqual(keys, TABLE_KEYS, "-n keys not the table's keys in order")
        vals = dict(pairs)
        self.assertEqual(vals["PROVIDER"], "none")
        self.assertEqual(vals["FAILURE_THRESHOLD"], "7")
        self.assertEqual(vals["HEALTH_EXPECT"], "all good")
        self.assertEqual(vals["LOCAL_HEALTH_URL"], d.config["LOCAL_HEALTH_URL"])
        for k in ("SOCKET", "STATE_FILE", "STATUS_FILE", "PID_FILE"):
            self.assertEqual(vals[k], d.config[k], k)
        self.assertEqual(vals["FAILBACK"], "auto")
        self.assertEqual(vals["HEALTHY_STATUS"], "200-299")
        self.assertEqual(vals["FLY_API_HOSTNAME"], "https://api.machines.dev")
        self.assertEqual(vals["TELEGRAM_API_URL"], "https://api.telegram.org")
        self.assertEqual(vals["RCLONE"], "rclone")
        self.assertEqual(vals["FLY_MACHINE_COUNT"], "1")
        self.assertEqual(vals["BACKUP_KEEP"], "10")
        # -n starts nothing.
        self.assertFalse(os.path.exists(d.socket_path))
        self.assertFalse(os.path.exists(d.pid_file))

    def test_n_reports_every_error(self):
        d = self.make_daemon(config_text="\n".join([
            "# errors on lines 3, 5, 6 and 7",
            "PROVIDER=none",
            "NO_SUCH_KEY=1",
            "CHECK_INTERVAL=60",
            "FAST_INTERVAL=soon",
            "FAILURE_THRESHOLD=-2",
            "this line has no equals sign",
            "SOCKET=%s" % os.path.join("/tmp", "unused-fodtest.sock"),
        ]) + "\n")
        rc, out, err = d.check_config()
        self.assertEqual(rc, 1, out + err)
        self.assertNotIn("configuration OK", out + err)
        for line in (3, 5, 6, 7):
            self.assertIn("%s:%d" % (d.conf_path, line), err, "line %d not reported" % line)
        for line in (1, 2, 4, 8):
            self.assertNotIn("%s:%d:" % (d.conf_path, line), err)

    def test_n_environment_and_define_errors_name_the_key(self):
        d = self.make_daemon(QUIET)
        rc, out, err = d.check_config(env={"FAILURE_THRESHOLD": "many"})
        self.assertEqual(rc, 1)
        self.assertIn("FAILURE_THRESHOLD", err)
        rc, out, err = d.check_config(defines={"CHECK_TIMEOUT": "1m30s"})
        self.assertEqual(rc, 1)
        self.assertIn("CHECK_TIMEOUT", err)
        rc, out, err = d.check_config(defines={"NO_SUCH_KEY": "1"})
        self.assertEqual(rc, 1)
        self.assertIn("NO_SUCH_KEY", err)

    def test_missing_c_file_is_an_error(self):
        d = self.make_daemon(QUIET)
        missing = d.path("nope.conf")
        for argv in ([fodtest.FAILOVERD, "-n", "-c", missing],
                     [fodtest.FAILOVERD, "-f", "-c", missing]):
            cp = subprocess.run(argv, capture_output=True, timeout=10, env=d.child_env())
            self.assertEqual(cp.returncode, 1, argv)
            self.assertIn(missing, cp.stderr.decode())

    def test_n_instance_derives_paths(self):
        name = "fodtest%d" % os.getpid()
        if os.path.exists("/etc/failoverd/%s.conf" % name):
            self.skipTest("a config for %s exists" % name)
        d = self.make_daemon(QUIET)
        # Its file must exist (CONTRACT §13): a typo in NAME is no dry run.
        cp = subprocess.run([fodtest.FAILOVERD, "-n", "-i", name], capture_output=True,
                            timeout=10, env=d.child_env())
        self.assertEqual(cp.returncode, 1, cp.stderr.decode())
        self.assertIn("/etc/failoverd/%s.conf: no such configuration file for instance %s"
                      % (name, name), cp.stderr.decode())
        # With -c the instance still derives every default path.
        cp = subprocess.run([fodtest.FAILOVERD, "-n", "-i", name, "-c", "/dev/null"],
                            capture_output=True, timeout=10, env=d.child_env())
        self.assertEqual(cp.returncode, 0, cp.stderr.decode())
        vals = dict(parse_n(cp.stdout.decode())[0])
        self.assertEqual(vals["SOCKET"], "/run/failoverd/%s.sock" % name)
        self.assertEqual(vals["STATE_FILE"], "/var/lib/failoverd/%s.json" % name)
        self.assertEqual(vals["STATUS_FILE"], "/run/failoverd/%s.status" % name)
        self.assertEqual(vals["PID_FILE"], "/run/failoverd/%s.pid" % name)
        self.assertEqual(vals["BACKUP_DIR"].rstrip("/"), "/var/lib/failoverd/backups/%s" % name)

    # --- a second instance, stale and live sockets ---------------------------
    def failed_start(self, d):
        d.start(wait=False)
        rc = d.wait_exit(10)
        return rc, d.log_text()

    def test_second_instance_same_pid_file(self):
        d1 = self.start_daemon(QUIET)
        d2 = self.make_daemon(dict(QUIET, PID_FILE=d1.pid_file))
        rc, log = self.failed_start(d2)
        self.assertEqual(rc, 1, log)
        self.assertTrue(d1.pid_file in log or "PID_FILE" in log,
                        "the conflict is not named: %r" % log)
        self.assertFalse(os.path.exists(d2.socket_path), "the loser bound its socket")
        self.assertEqual(d1.result("ping")["pid"], d1.pid)
        with open(d1.pid_file) as f:
            self.assertEqual(int(f.read().split()[0]), d1.pid)

    def test_second_instance_same_socket(self):
        d1 = self.start_daemon(QUIET)
        d2 = self.make_daemon(dict(QUIET, SOCKET=d1.socket_path))
        rc, log = self.failed_start(d2)
        self.assertEqual(rc, 1, log)
        self.assertTrue(d1.socket_path in log or "SOCKET" in log,
                        "the conflict is not named: %r" % log)
        self.assertTrue(os.path.exists(d1.socket_path))
        self.assertEqual(d1.result("ping")["pid"], d1.pid)
        d2.start(foreground=False)
        self.assertEqual(d2.start_result[0], 1, d2.start_result)
        self.assertEqual(d1.result("ping")["pid"], d1.pid)

    def test_stale_socket_replaced(self):
        d = self.make_daemon(QUIET)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(d.socket_path)
        s.close()  # the file stays, nobody listens
        self.assertTrue(os.path.exists(d.socket_path))
        d.start()
        self.assertEqual(d.result("ping")["pid"], d.pid)

    def test_live_listener_not_stolen(self):
        d = self.make_daemon(QUIET)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(d.socket_path)
        s.listen(8)
        self.addCleanup(s.close)
        rc, log = self.failed_start(d)
        self.assertEqual(rc, 1, log)
        # The listener still owns the path.
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(d.socket_path)
        c.close()

    # --- signals -------------------------------------------------------------
    def test_sighup_broken_config_kept_then_good_applied(self):
        d = self.start_daemon(QUIET)
        ev = d.events(types=["daemon"])
        self.addCleanup(ev.close)
        good_url = d.config["LOCAL_HEALTH_URL"]
        d.write_config(text=d.config_file_text() + "BROKEN_KEY_XYZ=1\nFAILURE_THRESHOLD=zero\n")
        d.send_signal(signal.SIGHUP)
        e = ev.wait_for(lambda e: e.get("what") == "reload")
        self.assertIs(e["ok"], False, e)
        self.assertIsInstance(e["error"], str)
        self.assertTrue(e["error"])
        wait_until(lambda: "BROKEN_KEY_XYZ" in d.log_text(), 5,
                   msg="the log to say why the reload failed")
        self.assertTrue(d.running())
        self.assertEqual(d.status()["local"]["url"], good_url)
        # The reload command says so too.
        r = d.request({"cmd": "reload", "id": 1})
        self.assertError(r, "failed")
        self.assertTrue("BROKEN_KEY_XYZ" in r["error"]["message"]
                        or "FAILURE_THRESHOLD" in r["error"]["message"], r)
        first = e["seq"]
        e = ev.wait_for(lambda e: e.get("what") == "reload" and e["seq"] > first)
        self.assertIs(e["ok"], False)
        # A good file is applied.
        new_url = "http://127.0.0.1:%d/health" % fodtest.free_port()
        d.config_text = None
        d.write_config({"LOCAL_HEALTH_URL": new_url})
        d.send_signal(signal.SIGHUP)
        e = ev.wait_for(lambda e: e.get("what") == "reload" and e.get("ok") is True)
        self.assertEqual(d.status()["local"]["url"], new_url)
        d.write_config({"LOCAL_HEALTH_URL": good_url})
        self.assertOk(d.request({"cmd": "reload"}))
        self.assertEqual(d.status()["local"]["url"], good_url)

    def test_sigterm_and_sigint_exit_0_remove_socket(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            d = self.start_daemon(QUIET)
            d.result("pause", duration="1h")
            self.assertEqual(d.stop(sig), 0, d.log_tail())
            self.assertFalse(os.path.exists(d.socket_path), "socket left after %s" % sig)

    def test_stop_event_reaches_subscribers_and_status_file_says_stopped(self):
        """A clean stop: every subscriber reads the `daemon stop` event
        before the stream closes, and STATUS_FILE says when it stopped."""
        d = self.start_daemon(QUIET)
        wait_until(lambda: d.status_file_json(), 5, msg="STATUS_FILE")
        self.assertNotIn("stopped", d.status_file_json())
        subs = [d.events(types=["daemon"]) for _ in range(3)]
        t0 = time.time()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log_tail())
        for ev in subs:
            got = ev.read_until_closed(5)
            self.assertEqual([(e["type"], e["what"]) for e in got], [("daemon", "stop")])
            ev.close()
        sf = d.status_file_json()
        self.assertRegex(sf["stopped"], RFC3339_MS)
        stopped = time.mktime(time.strptime(sf["stopped"][:19], "%Y-%m-%dT%H:%M:%S"))
        self.assertLess(abs(stopped - time.timezone - t0), 5)

    def test_sigusr1_reopens_log_file(self):
        d = self.make_daemon(QUIET, args=["-v"])
        log = d.path("failoverd.log")
        d.write_config({"LOG_FILE": log})
        d.start()
        wait_until(lambda: os.path.getsize(log) > 0, 5, msg="a first log line")
        os.rename(log, log + ".1")
        d.send_signal(signal.SIGUSR1)
        wait_until(lambda: os.path.exists(log), 5, msg="the log file to be reopened")
        with open(log + ".1", "rb") as f:
            old = f.read()

        def more_lines():
            d.result("pause")
            d.result("resume")
            d.request({"cmd": "reload"})
            return os.path.getsize(log) > 0
        wait_until(more_lines, 5, interval=0.2, msg="new lines in the new log file")
        with open(log + ".1", "rb") as f:
            self.assertEqual(f.read(), old, "lines still went to the renamed file")

    # --- daemonized ----------------------------------------------------------
    def test_daemonized_start(self):
        d = self.make_daemon(QUIET)
        rc, out, err = d.start(foreground=False)
        self.assertEqual(rc, 0, err)
        # Bound before the starting command returned: no waiting here.
        with d.connect() as c:
            r = c.request({"cmd": "ping"})
        self.assertOk(r)
        with open(d.pid_file) as f:
            pid = int(f.read().split()[0])
        self.assertEqual(r["result"]["pid"], pid)
        self.assertTrue(fodtest.process_alive(pid))
        self.assertEqual(d.stop(), None)
        self.assertFalse(os.path.exists(d.socket_path))

    def test_daemonized_start_returns_only_when_ready(self):
        # The starting command returns after PID_FILE is written and the
        # socket serves (init scripts read PID_FILE at once). Many rounds, as
        # the race it rules out needs a busy machine to show.
        for _ in range(20):
            d = self.make_daemon(QUIET)
            rc, out, err = d.start(foreground=False, wait=False)
            self.assertEqual(rc, 0, err)
            with open(d.pid_file) as f:
                pid = int(f.read().split()[0])
            self.assertTrue(fodtest.process_alive(pid))
            with d.connect() as c:
                self.assertOk(c.request({"cmd": "ping"}))
            d.stop()
            self.assertFalse(os.path.exists(d.socket_path))
            d.cleanup()

    def test_daemonized_broken_config_fails_the_start(self):
        d = self.make_daemon(dict(QUIET, CHECK_TIMEOUT="forever"))
        rc, out, err = d.start(foreground=False)
        self.assertEqual(rc, 1)
        self.assertIn(d.conf_path + ":", err)
        self.assertIn("CHECK_TIMEOUT", err)
        self.assertFalse(os.path.exists(d.socket_path))
        self.assertFalse(d.running())

    def test_missing_parent_dirs_created(self):
        d = self.make_daemon(QUIET)
        base = d.dir
        paths = {"SOCKET": "run/a/b/fod.sock", "STATE_FILE": "lib/c/state.json",
                 "PID_FILE": "pid/d/fod.pid", "STATUS_FILE": "st/e/fod.status"}
        d.write_config({k: os.path.join(base, v) for k, v in paths.items()})
        d.start()
        d.result("pause", duration="1h")  # something durable
        for key, rel in paths.items():
            parent = os.path.dirname(os.path.join(base, rel))
            wait_until(lambda: os.path.isdir(parent), 5, msg="%s's parent" % key)
            mode = os.stat(parent).st_mode & 0o777
            self.assertEqual(mode, 0o750, "%s: %s is %o" % (key, parent, mode))
        wait_until(lambda: os.path.exists(d.state_file), 5, msg="STATE_FILE written")

    # --- persistence ---------------------------------------------------------
    def seq_and_counters(self, d):
        with d.events(follow=False) as ev:
            return ev.reply["result"]["last_seq"], d.status()["counters"]

    def check_survives(self, how):
        d = self.start_daemon(QUIET)
        for i in range(3):
            d.result("pause")
            d.result("resume")
        d.result("pause", duration="1h")
        until = d.status()["paused_until"]
        seq, counters = self.seq_and_counters(d)
        if how == "kill9":
            d.kill9()
            d.proc = None
            d.start()
        else:
            d.restart()
        with d.events(backlog=100000, follow=False) as ev:
            evs = ev.read_until_closed()
        self.assertTrue(evs, "no events after the restart")
        self.assertGreater(evs[0]["seq"], seq, "seq went back after %s" % how)
        c2 = d.status()["counters"]
        self.assertGreaterEqual(c2["events"], counters["events"], "events counter reset")
        self.assertEqual(c2["failovers"], counters["failovers"])
        s = d.status()
        self.assertIs(s["paused"], True, "a timed pause did not survive %s" % how)
        self.assertEqual(s["paused_until"], until)

    def test_seq_and_counters_survive_restart(self):
        self.check_survives("term")

    def test_seq_survives_kill9(self):
        self.check_survives("kill9")

    def test_unusable_state_file_is_reported_not_fatal(self):
        d = self.make_daemon(QUIET)
        with open(d.state_file, "w") as f:
            f.write("{not json")
        d.start()
        s = d.status()
        self.assertTrue(s["errors"] or "state" in d.log_text().lower(),
                        "a corrupt STATE_FILE was not reported")

    # --- STATUS_FILE and pause expiry ----------------------------------------
    def test_status_file_follows_changes(self):
        d = self.start_daemon(QUIET)
        sf = wait_until(lambda: d.status_file_json(), 5, msg="STATUS_FILE")
        self.assertRegex(sf["written_at"], RFC3339_MS)
        self.assertEqual(sf["pid"], d.pid)
        for k in ("state", "local", "standby", "sync", "notify", "counters", "paused"):
            self.assertIn(k, sf)
        self.assertEqual(os.stat(d.status_file).st_mode & 0o002, 0, "world-writable")
        d.result("pause")
        t0 = time.monotonic()
        sf = wait_until(lambda: (lambda j: j["paused"] and j)(d.status_file_json()), 3,
                        msg="STATUS_FILE to show paused")
        self.assertLess(time.monotonic() - t0, 2.5)
        d.result("resume")
        wait_until(lambda: d.status_file_json()["paused"] is False, 3,
                   msg="STATUS_FILE to show resumed")

    def test_pause_with_duration_expires(self):
        d = self.start_daemon(QUIET)
        ev = d.events(types=["pause"])
        self.addCleanup(ev.close)
        t0 = time.monotonic()
        r = d.result("pause", duration=1)
        self.assertIs(r["paused"], True)
        self.assertRegex(r["paused_until"], RFC3339_MS)
        e = ev.wait_for(lambda e: e["paused"] is False, 5)
        self.assertIsNone(e["paused_until"])
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        s = d.status()
        self.assertIs(s["paused"], False)
        self.assertIsNone(s["paused_until"])
        # A string duration too.
        d.result("pause", duration="300ms")
        wait_until(lambda: d.status()["paused"] is False, 5, msg="the 300ms pause to end")


if __name__ == "__main__":
    fodtest.main()
