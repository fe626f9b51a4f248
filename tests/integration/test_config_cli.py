#!/usr/bin/env python3
"""Configuration from the command line's point of view, contract §3/§4:
secrets never shown, -D refusing them, *_FILE warnings, precedence, the file
grammar and FILE:LINE errors, all through `failoverd -n` and a running daemon."""

import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402

FLY_SECRET = "fm2_fodSECRETfly_9b1e4c27d3"
TG_SECRET = "123456789:AAfodSECRETtg_77c0d1e5"
# Parts of them that must not leak either (e.g. a token cut at a comma).
SECRET_PARTS = [FLY_SECRET, TG_SECRET, "fodSECRETfly", "fodSECRETtg"]

QUIET = {"PROVIDER": "none", "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}


def unquote(v):
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


def n_values(out):
    vals = {}
    lines = [ln for ln in out.rstrip("\n").split("\n") if not ln.startswith("#")]
    assert lines[-1] == "configuration OK", lines[-1]
    for ln in lines[:-1]:
        k, _, v = ln.partition("=")
        vals[k] = unquote(v)
    return vals


class ConfigCliTest(fodtest.DaemonTestCase):

    def assertNoSecret(self, text, where):
        for s in SECRET_PARTS:
            self.assertNotIn(s, text, "a secret appears in %s" % where)

    def secret_daemon(self, how):
        """A daemon whose Fly and Telegram tokens come from `how`: env, file
        (the config file) or token files (*_FILE)."""
        closed = "http://127.0.0.1:%d" % fodtest.free_port()
        cfg = dict(QUIET, FLY_APP="fodtest-app", FLY_API_HOSTNAME=closed,
                   TELEGRAM_CHAT_ID="42", TELEGRAM_API_URL=closed)
        env = {}
        d = self.make_daemon(cfg, args=["-v", "-v"])
        if how == "env":
            env = {"FLY_API_TOKEN": FLY_SECRET, "TELEGRAM_BOT_TOKEN": TG_SECRET}
        elif how == "file":
            d.write_config({"FLY_API_TOKEN": FLY_SECRET, "TELEGRAM_BOT_TOKEN": TG_SECRET})
        else:
            for key, val in (("FLY_API_TOKEN_FILE", FLY_SECRET),
                             ("TELEGRAM_BOT_TOKEN_FILE", TG_SECRET)):
                p = d.path(key.lower())
                fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
                os.write(fd, (val + "\n").encode())
                os.close(fd)
                d.config[key] = p
            d.write_config()
        d.env.update(env)
        d.write_config({"LOG_FILE": d.path("failoverd.log")})
        return d

    def check_secrets_absent(self, how):
        d = self.secret_daemon(how)
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        self.assertNoSecret(out + err, "-n output")
        vals = n_values(out)
        self.assertEqual(vals["FLY_API_TOKEN"], "<redacted>")
        self.assertEqual(vals["TELEGRAM_BOT_TOKEN"], "<redacted>")

        d.start()
        cmdline = fodtest.process_cmdline(d.pid).decode(errors="replace")
        self.assertNoSecret(cmdline, "/proc/PID/cmdline")
        ev = d.events(backlog=0)
        self.addCleanup(ev.close)
        # Exercise what might print a token: checks, a self-test that talks
        # to the (closed) Fly and Telegram URLs, reloads, pauses.
        replies = [d.request({"cmd": "check"}),
                   d.request({"cmd": "selftest", "telegram": True}, timeout=30),
                   d.request({"cmd": "reload"}),
                   d.request({"cmd": "pause", "duration": "1h"}),
                   d.request({"cmd": "status"}),
                   d.request({"cmd": "help"})]
        d.send_signal(signal.SIGHUP)
        ev.wait_for(lambda e: e["type"] == "daemon" and e.get("what") == "reload" and
                    e["seq"] > ev.reply["result"]["last_seq"])
        self.assertNoSecret(json.dumps(replies), "replies")
        if os.path.exists(fodtest.FAILOVERCTL):
            rc, out, err = d.ctl("status")
            self.assertNoSecret(out + err, "failoverctl status")
            rc, out, err = d.ctl("-j", "status")
            self.assertNoSecret(out + err, "failoverctl -j status")
        with d.events(backlog=100000, follow=False) as all_ev:
            evs = all_ev.read_until_closed()
        self.assertNoSecret(json.dumps(evs), "events")
        wait_until(lambda: os.path.exists(d.status_file), 5, msg="STATUS_FILE")
        with open(d.status_file) as f:
            self.assertNoSecret(f.read(), "STATUS_FILE")
        self.assertEqual(d.stop(), 0)
        with open(d.state_file) as f:
            self.assertNoSecret(f.read(), "STATE_FILE")
        self.assertNoSecret(d.log_text(), "the log and stderr")
        self.assertTrue(d.log_text(), "nothing was logged at all")

    def test_secrets_absent_env(self):
        self.check_secrets_absent("env")

    def test_secrets_absent_config_file(self):
        self.check_secrets_absent("file")

    def test_secrets_absent_token_files(self):
        self.check_secrets_absent("token-files")

    def test_define_refuses_secrets(self):
        d = self.make_daemon(QUIET)
        for key in ("FLY_API_TOKEN", "TELEGRAM_BOT_TOKEN"):
            secret = FLY_SECRET if key == "FLY_API_TOKEN" else TG_SECRET
            rc, out, err = d.check_config(defines={key: secret})
            self.assertEqual(rc, 1, "-D %s accepted" % key)
            self.assertIn(key, err)
            self.assertNoSecret(out + err, "the -D refusal")
            d.defines = {key: secret}
            d.start(wait=False)
            self.assertEqual(d.wait_exit(10), 1)
            self.assertNoSecret(d.log_text(), "the -D refusal at start")
            self.assertFalse(os.path.exists(d.socket_path))
            d.defines = {}
            d.proc = None

    def test_readable_token_file_warned(self):
        d = self.make_daemon(QUIET)
        p = d.path("fly-token")
        with open(p, "w") as f:
            f.write(FLY_SECRET + "\n")
        d.write_config({"FLY_API_TOKEN_FILE": p})
        os.chmod(p, 0o600)
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        self.assertNotIn(p, err, "a private token file was warned about")
        os.chmod(p, 0o644)
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        self.assertTrue(p in err or "FLY_API_TOKEN_FILE" in err,
                        "no warning about a world-readable token file: %r" % err)
        self.assertNoSecret(out + err, "-n output")
        d.start()
        wait_until(lambda: p in d.log_text() or "FLY_API_TOKEN_FILE" in d.log_text(), 5,
                   msg="the warning in the daemon's log")

    def test_missing_token_file_is_an_error(self):
        d = self.make_daemon(dict(QUIET, TELEGRAM_BOT_TOKEN_FILE="/nonexistent/fodtest-token"))
        rc, out, err = d.check_config()
        self.assertEqual(rc, 1)
        self.assertIn("TELEGRAM_BOT_TOKEN_FILE", err)

    def test_precedence_file_env_define(self):
        d = self.make_daemon(dict(QUIET, HEALTH_EXPECT="from-file", FAILURE_THRESHOLD="4"))
        env = {"HEALTH_EXPECT": "from-env", "FAILURE_THRESHOLD": "5"}
        defs = {"HEALTH_EXPECT": "from-define", "FAILURE_THRESHOLD": "6"}

        def n(env=None, defines=None):
            rc, out, err = d.check_config(env=env, defines=defines or {})
            self.assertEqual(rc, 0, err)
            v = n_values(out)
            return v["HEALTH_EXPECT"], v["FAILURE_THRESHOLD"]
        self.assertEqual(n(), ("from-file", "4"))
        self.assertEqual(n(env=env), ("from-env", "5"))
        self.assertEqual(n(env=env, defines=defs), ("from-define", "6"))
        self.assertEqual(n(defines=defs), ("from-define", "6"))
        d.config.pop("HEALTH_EXPECT")
        d.config.pop("FAILURE_THRESHOLD")
        d.write_config()
        self.assertEqual(n()[1], "3")
        self.assertEqual(n(env=env), ("from-env", "5"))

    def test_file_grammar(self):
        d = self.make_daemon(QUIET, extra_lines=[
            "",
            "   ",
            "# a comment",
            "export FAILURE_THRESHOLD=8",
            "HEALTH_EXPECT=\"ok # not a comment\"",
            "NOTIFY_CMD='echo \"it s\" $HOME'",
            "FENCE_CMD=echo ${HOME}",
            "FAILBACK=",
            "HEALTHY_STATUS=200,204,300-399",
        ])
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        v = n_values(out)
        self.assertEqual(v["FAILURE_THRESHOLD"], "8")
        self.assertEqual(v["HEALTH_EXPECT"], "ok # not a comment")
        self.assertEqual(v["NOTIFY_CMD"], 'echo "it s" $HOME')
        self.assertEqual(v["FENCE_CMD"], "echo ${HOME}")
        self.assertEqual(v["FAILBACK"], "auto")
        self.assertEqual(v["HEALTHY_STATUS"], "200,204,300-399")

    def test_unknown_key_file_line(self):
        d = self.make_daemon(QUIET, extra_lines=["", "FAILOVER_THRESHOLD=3"])
        n = d.config_file_text().rstrip("\n").count("\n") + 1
        rc, out, err = d.check_config()
        self.assertEqual(rc, 1)
        self.assertIn("%s:%d" % (d.conf_path, n), err)
        self.assertIn("FAILOVER_THRESHOLD", err)
        d.start(wait=False)
        self.assertEqual(d.wait_exit(10), 1)
        self.assertIn("%s:%d" % (d.conf_path, n), d.log_text())

    def test_bad_values_rejected(self):
        bad = {"CHECK_INTERVAL": "1m30s", "FAST_INTERVAL": "-1", "CHECK_TIMEOUT": "0",
               "FAILURE_THRESHOLD": "0", "FAILBACK": "sometimes", "PROVIDER": "aws",
               "HEALTHY_STATUS": "200-", "HEALTH_INSECURE": "maybe",
               "LOCAL_HEALTH_URL": "ftp://x/", "STATE_DIR": "relative/dir",
               "COST_PER_SECOND": "cheap"}
        for key, val in bad.items():
            d = self.make_daemon(dict(QUIET, **{key: val}))
            rc, out, err = d.check_config()
            self.assertEqual(rc, 1, "%s=%s accepted: %s" % (key, val, out))
            self.assertIn(d.conf_path + ":", err, key)
            self.assertIn(key, err)

    def test_durations_accepted(self):
        for val in ("250ms", "5s", "1.5m", "1h", "0.2", "60"):
            d = self.make_daemon(dict(QUIET, CHECK_TIMEOUT=val))
            rc, out, err = d.check_config()
            self.assertEqual(rc, 0, "CHECK_TIMEOUT=%s: %s" % (val, err))


class ConfigFileTest(fodtest.DaemonTestCase):
    """Issue 14 items 2, 3, 8 and 13 (audit #2, #3, #8, #9, #16): which file
    was read, honest reloads, and -n catching what would fail later."""

    def test_n_names_the_file_it_read(self):
        d = self.make_daemon(QUIET)
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines()[0], "# configuration file: " + d.conf_path)
        # A relative -c is shown (and read again on reload) as absolute.
        cp = subprocess.run([fodtest.FAILOVERD, "-n", "-c", "failoverd.conf"], cwd=d.dir,
                            capture_output=True, env=d.child_env(), timeout=10)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.decode().splitlines()[0],
                         "# configuration file: " + d.conf_path)

    def test_n_and_start_without_a_file_say_so(self):
        if os.path.exists("/etc/failoverd.conf"):
            self.skipTest("/etc/failoverd.conf exists on this machine")
        d = self.make_daemon(QUIET)
        # Everything from the environment, no -c: the default file is missing.
        env = {k: v for k, v in d.config.items()}
        cp = subprocess.run([fodtest.FAILOVERD, "-n"], capture_output=True,
                            env=d.child_env(env), timeout=10, cwd="/")
        out, err = cp.stdout.decode(), cp.stderr.decode()
        self.assertEqual(cp.returncode, 0, err)
        self.assertEqual(out.splitlines()[0], "# no configuration file: built-in defaults")
        self.assertEqual(out.splitlines()[-1], "configuration OK")
        self.assertIn("failoverd: warning: no configuration file (/etc/failoverd.conf does "
                      "not exist)", err)
        d.env.update(env)
        d.argv = lambda foreground=True, extra_args=None: [fodtest.FAILOVERD, "-f"]
        d.start()
        st = d.status()
        self.assertIn("config_file", st)
        self.assertIsNone(st["config_file"])
        wait_until(lambda: "no configuration file (/etc/failoverd.conf does not exist)"
                   in d.log_text(), 5, msg="the start-up warning")
        self.assertRegex(d.log_text(), r"warning: no configuration file .*PROVIDER=none: "
                                       r"a dry run")

    def test_missing_instance_file_is_an_error(self):
        name = "fodtest-typo-%d" % os.getpid()
        if os.path.exists("/etc/failoverd/%s.conf" % name):
            self.skipTest("a config for %s exists" % name)
        d = self.make_daemon(QUIET)
        for argv in (["-n", "-i", name], ["-f", "-i", name]):
            cp = subprocess.run([fodtest.FAILOVERD] + argv, capture_output=True, timeout=10,
                                env=d.child_env(dict(d.config)), cwd="/")
            self.assertEqual(cp.returncode, 1, argv)
            self.assertIn("/etc/failoverd/%s.conf: no such configuration file for instance %s"
                          % (name, name), cp.stderr.decode())
            self.assertEqual(cp.stdout, b"")
        self.assertFalse(os.path.exists(d.socket_path))

    def test_status_names_the_file(self):
        d = self.start_daemon(QUIET)
        st = d.status()
        self.assertEqual(st["config_file"], d.conf_path)
        self.assertEqual(st["restart_needed"], [])
        wait_until(lambda: os.path.exists(d.status_file), 5, msg="STATUS_FILE")
        self.assertEqual(d.status_file_json()["config_file"], d.conf_path)

    def test_n_warnings_are_formatted_like_errors(self):
        d = self.make_daemon(QUIET)
        p = d.path("fly-token")
        with open(p, "w") as f:
            f.write(FLY_SECRET + "\n")
        os.chmod(p, 0o644)
        d.write_config({"FLY_API_TOKEN_FILE": p})
        line = next(i for i, ln in enumerate(d.config_file_text().splitlines(), 1)
                    if ln.startswith("FLY_API_TOKEN_FILE="))
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        want = ("failoverd: warning: %s:%d: FLY_API_TOKEN_FILE: %s is readable by other users"
                % (d.conf_path, line, p))
        self.assertIn(want, err.splitlines()[0])
        # No time stamp, no log prefix: the same shape as the errors.
        self.assertNotRegex(err, r"\d{4}-\d\d-\d\dT")

    def test_bom_and_one_error_for_a_bad_remote(self):
        d = self.make_daemon(QUIET)
        with open(d.conf_path, "rb") as f:
            text = f.read()
        with open(d.conf_path, "wb") as f:
            f.write(b"\xef\xbb\xbf" + text)
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        d.start()
        d.stop()
        state = d.path("state")
        os.makedirs(state)
        d.write_config({"STATE_DIR": state, "RCLONE_REMOTE": "gdrive:",
                        "RCLONE_PATH": "failoverd"})
        rc, out, err = d.check_config()
        self.assertEqual(rc, 1)
        lines = err.splitlines()
        self.assertEqual(len(lines), 2, err)
        self.assertIn("RCLONE_REMOTE: give the remote's name without ':'", lines[0])
        self.assertEqual(lines[1], "failoverd: configuration has 1 error")

    def test_n_checks_what_would_fail_later(self):
        d = self.make_daemon(QUIET)
        afile = d.path("afile")
        with open(afile, "w") as f:
            f.write("x")
        state = d.path("no-state-dir")
        bad = {"LOG_FILE": os.path.join(afile, "logs", "failoverd.log"),
               "STATE_DIR": state, "RCLONE_REMOTE": "r", "RCLONE_PATH": "p",
               "RCLONE": "/usr/bin/rclonee",
               "NOTIFY_CMD": d.path("notify.sh") + " --now",
               "FENCE_CMD": "no-such-fence-command-fodtest",
               "FAILBACK_CMD": "bin/failback"}
        d.write_config(bad)
        text = d.config_file_text().splitlines()

        def at(key):
            return "%s:%d: %s: " % (d.conf_path, next(
                i for i, ln in enumerate(text, 1) if ln.startswith(key + "=")), key)
        rc, out, err = d.check_config()
        self.assertEqual(rc, 1, out)
        for key, what in (("LOG_FILE", "cannot be created"),
                          ("STATE_DIR", state + ": No such file or directory"),
                          ("RCLONE", "/usr/bin/rclonee is not an executable file"),
                          ("NOTIFY_CMD", d.path("notify.sh") + " is not an executable"),
                          ("FENCE_CMD", "no-such-fence-command-fodtest is not an executable"),
                          ("FAILBACK_CMD", "the command is a relative path")):
            self.assertIn(at(key) + what if key != "LOG_FILE" else at(key), err, key)
        self.assertIn("configuration has 6 errors", err)
        # The start refuses the relative command too; the rest is -n's.
        d.start(wait=False)
        self.assertEqual(d.wait_exit(10), 1)
        self.assertIn("FAILBACK_CMD: the command is a relative path", d.log_text())

        # Made right, a LOG_FILE whose directory is missing passes -n, and
        # the daemon creates the directory (CONTRACT §4).
        os.makedirs(state)
        with open(d.path("notify.sh"), "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(d.path("notify.sh"), 0o755)
        log = d.path("logs/deeper/failoverd.log")
        d.write_config({"LOG_FILE": log, "RCLONE": "rclone", "FENCE_CMD": "true",
                        "FAILBACK_CMD": "/bin/true"})
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(d.path("logs")), "-n created something")
        d.proc = None
        d.start()
        wait_until(lambda: os.path.exists(log) and os.path.getsize(log) > 0, 5,
                   msg="the log file in its new directory")
        self.assertEqual(os.stat(d.path("logs/deeper")).st_mode & 0o777, 0o750)

    def test_one_check_is_singular(self):
        # Audit #16: "1 checks".
        d = self.start_daemon(QUIET)
        wait_until(lambda: d.status()["local"]["checks_total"] == 1, 10,
                   msg="the first check")
        rc, out, err = d.ctl("status", check=0)
        self.assertRegex(out, r"; 1 check, 1 failed\n")
        self.assertNotIn("1 checks", out)

    # --- reload -----------------------------------------------------------------
    def test_reload_lists_the_keys_that_need_a_restart(self):
        d = self.start_daemon(QUIET)
        base = d.config_file_text()
        act = d.path("act.sh")
        with open(act, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(act, 0o755)
        r = d.result("reload")
        self.assertEqual(r, {"reloaded": True, "restart_needed": []})
        # Later lines win: the running SOCKET stays d.socket_path.
        changed = {"PROVIDER": "command", "ACTIVATE_CMD": act, "DEACTIVATE_CMD": act,
                   "SOCKET": d.path("new.sock"), "PID_FILE": d.path("new.pid"),
                   "STATE_FILE": d.path("new-state.json"), "FAILURE_THRESHOLD": "7"}

        def write(keys):
            d.write_config(text=base + "".join("%s=%s\n" % (k, changed[k]) for k in keys))
        write(changed)
        r = d.result("reload")
        self.assertTrue(r["reloaded"])
        self.assertEqual(sorted(r["restart_needed"]),
                         ["PID_FILE", "PROVIDER", "SOCKET", "STATE_FILE"])
        st = d.status()
        self.assertEqual(sorted(st["restart_needed"]), sorted(r["restart_needed"]))
        # The running values are kept: still a dry run on the old socket.
        self.assertEqual(st["standby"]["provider"], "none")
        self.assertFalse(os.path.exists(d.path("new.sock")))
        self.assertIn("a restart is needed for SOCKET, PID_FILE, STATE_FILE, PROVIDER",
                      d.log_text())
        wait_until(lambda: sorted(d.status_file_json().get("restart_needed", [])) ==
                   sorted(r["restart_needed"]), 5, msg="restart_needed in STATUS_FILE")
        # SIGHUP does the same: one key set back, the list follows.
        write(["PROVIDER", "ACTIVATE_CMD", "DEACTIVATE_CMD", "STATE_FILE"])
        with d.events(types=["daemon"]) as ev:
            d.send_signal(signal.SIGHUP)
            e = ev.wait_for(lambda e: e.get("what") == "reload")
        self.assertTrue(e["ok"], e)
        self.assertEqual(sorted(e["restart_needed"]), ["PROVIDER", "STATE_FILE"])
        self.assertEqual(sorted(d.status()["restart_needed"]), ["PROVIDER", "STATE_FILE"])
        # All set back: nothing pending.
        write(["FAILURE_THRESHOLD"])
        self.assertEqual(d.result("reload")["restart_needed"], [])
        self.assertEqual(d.status()["restart_needed"], [])

    def test_failed_reload_is_in_status_errors_until_a_good_one(self):
        d = self.start_daemon(QUIET)
        good = d.config_file_text()
        d.write_config(text=good + "CHECK_INTERVAL=soon\n")
        reply = d.request({"cmd": "reload"})
        self.assertError(reply, "failed")
        errs = [e for e in d.status()["errors"] if e["what"] == "reload"]
        self.assertEqual(len(errs), 1, d.status()["errors"])
        self.assertIn("CHECK_INTERVAL", errs[0]["error"])
        self.assertIsNone(errs[0]["cleared"])
        # SIGHUP fails the same way: a second entry.
        d.send_signal(signal.SIGHUP)
        wait_until(lambda: len([e for e in d.status()["errors"] if e["what"] == "reload"])
                   == 2, 5, msg="the SIGHUP's failure in status.errors")
        d.write_config(text=good)
        self.assertTrue(d.result("reload")["reloaded"])
        errs = [e for e in d.status()["errors"] if e["what"] == "reload"]
        self.assertEqual(len(errs), 2)
        for e in errs:
            self.assertRegex(e["cleared"] or "", fodtest.RFC3339_MS)

    def test_relative_c_still_reloads_after_daemonizing(self):
        d = self.make_daemon(QUIET)
        argv = [fodtest.FAILOVERD, "-c", "failoverd.conf"]
        cp = subprocess.run(argv, cwd=d.dir, capture_output=True, env=d.child_env(),
                            timeout=10)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        with open(d.pid_file) as f:
            d.daemon_pid = int(f.read().split()[0])
        # Its command line names no temp dir (-c is relative), so the
        # harness cannot tell it is ours: stop it here, whatever happens.
        self.addCleanup(self.kill_pid, d.daemon_pid)
        d.wait_ready()
        self.assertEqual(d.status()["config_file"], d.conf_path)
        d.write_config({"FAILURE_THRESHOLD": "9"})
        self.assertEqual(d.result("reload"), {"reloaded": True, "restart_needed": []})
        with d.events(types=["daemon"]) as ev:
            d.send_signal(signal.SIGHUP)
            e = ev.wait_for(lambda e: e.get("what") == "reload")
        self.assertTrue(e["ok"], e)
        self.assertEqual([e for e in d.status()["errors"] if e["what"] == "reload"], [])

    @staticmethod
    def kill_pid(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not fodtest.process_alive(pid):
            return
        try:
            wait_until(lambda: not fodtest.process_alive(pid), 10, msg="the daemon to stop")
        except AssertionError:
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    fodtest.main()
