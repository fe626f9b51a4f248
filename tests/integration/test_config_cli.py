#!/usr/bin/env python3
"""Configuration from the command line's point of view, contract §3/§4:
secrets never shown, -D refusing them, *_FILE warnings, precedence, the file
grammar and FILE:LINE errors, all through `failoverd -n` and a running daemon."""

import json
import os
import signal
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


if __name__ == "__main__":
    fodtest.main()
