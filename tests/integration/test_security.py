#!/usr/bin/env python3
"""Security (issue #6, contract §3, §5.3, §6, §8): a read-level peer cannot
change anything; the socket and the daemon's files get their modes whatever
the umask; tokens never reach the log, status, STATUS_FILE, events, `-n`
output, argv or a child's environment beyond what the contract gives it;
`-D` refuses secrets; token files others can read are warned about; event
data (a force-activate reason) cannot inject commands into hooks."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402

QUIET = {"PROVIDER": "none", "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}
FLY_SECRET = "fm2_secFLYsecret_4f1d9a7c2b"
TG_SECRET = "987654321:AAsecTGsecret_0c3e5a71"
SECRETS = [FLY_SECRET, TG_SECRET, "secFLYsecret", "secTGsecret"]
CHAT = "4242"
# Child environments, contract §3: these and nothing else.
BASE_NAMES = {"PATH", "HOME", "LANG", "TZ"}
PROVIDER_NAMES = BASE_NAMES | {"FLY_API_TOKEN", "FLY_APP", "FLY_API_HOSTNAME"}
# A reason full of shell syntax; each $(...)/`...`/; would create a marker file.
REASON_TEMPLATE = ("drill $(touch {d}/1) `touch {d}/2`; touch {d}/3 |touch {d}/4\n"
                   "touch {d}/5 && 'q' \"dq\" $HOME ${{PATH}} %s > {d}/6 \\")
UMASK0 = ["sh", "-c", 'umask 000; exec "$@"', "sh"]


def environ_of(path):
    """A /proc/PID/environ dump as a dict (values may contain newlines)."""
    with open(path, "rb") as f:
        raw = f.read()
    out = {}
    for item in raw.split(b"\0"):
        if item:
            k, _, v = item.partition(b"=")
            out[k.decode()] = v.decode(errors="replace")
    return out


class SecurityTest(fodtest.DaemonTestCase):

    def assertNoSecret(self, text, where):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for s in SECRETS:
            self.assertNotIn(s, text, "a secret appears in %s" % where)

    # --- a read-level peer -------------------------------------------------------
    def test_read_peer_cannot_change_anything(self):
        fodtest.require_root(self)
        fp = FakePrimary(mode="up").start()
        self.addCleanup(fp.stop)
        d = self.make_daemon(dict(QUIET, SOCKET_GROUP="nogroup", LOCAL_HEALTH_URL=fp.url,
                                  PROVIDER="command", FLY_APP="sb"))
        marks = {k: d.path("ran-" + k.lower()) for k in
                 ("ACTIVATE_CMD", "DEACTIVATE_CMD", "NOTIFY_CMD", "FENCE_CMD",
                  "FAILBACK_CMD")}
        d.write_config({k: "touch %s" % p for k, p in marks.items()})
        d.start()
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="primary")
        # NOTIFY_CMD ran for starting -> primary; from here on nothing may run.
        wait_until(lambda: os.path.exists(marks["NOTIFY_CMD"]), 10, msg="the first NOTIFY_CMD")
        # ...and its `hook` event is out (the command's file appears before
        # the daemon has reaped it and emitted the event).
        with d.events(types=["hook"], backlog=10) as hev:
            hev.wait_for(lambda e: e["hook"] == "notify", 10)
        os.unlink(marks["NOTIFY_CMD"])
        help_ = d.result("help")["commands"]
        admin = [c["cmd"] for c in help_ if c["level"] == "admin"]
        self.assertGreaterEqual(set(admin), {"check", "selftest", "force-activate",
                                             "force-deactivate", "pause", "resume", "sync",
                                             "reload"})
        # Every admin command, with arguments that would make it act, and
        # with bad ones (permission comes first).
        full_args = {"selftest": {"telegram": True},
                     "force-activate": {"reason": "r", "wait": True},
                     "force-deactivate": {"reason": "r", "force": True, "wait": True},
                     "pause": {"duration": "1h"},
                     "sync": {"direction": "pull", "force": True}}
        reqs = []
        for cmd in admin:
            reqs.append(dict({"cmd": cmd, "id": cmd}, **full_args.get(cmd, {})))
            reqs.append({"cmd": cmd, "id": cmd + "-bad", "bogus": [1]})
        before = d.status()
        with open(d.state_file, "rb") as f:
            state_before = json.load(f)
        with d.events(follow=False) as ev:
            seq0 = ev.reply["result"]["last_seq"]
        replies = fodtest.run_as(d.socket_path, reqs)
        self.assertEqual(len(replies), len(reqs))
        for req, r in zip(reqs, replies):
            self.assertError(r, "permission-denied", "%r as uid 65534: %r" % (req, r))
            self.assertEqual(r["id"], req["id"])
            self.assertNotIn("result", r)
        # Reads still work for it, and it cannot read STATE_FILE itself.
        r = fodtest.run_as(d.socket_path, [{"cmd": "status"}, {"cmd": "ping"}])
        self.assertOk(r[0])
        self.assertOk(r[1])
        cp = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "cat", d.state_file], capture_output=True)
        self.assertNotEqual(cp.returncode, 0, "uid 65534 can read STATE_FILE")
        # A control event with ok false for each, nothing else.
        with d.events(backlog=100000, follow=False) as ev:
            evs = [e for e in ev.read_until_closed() if e["seq"] > seq0]
        ctl = [e for e in evs if e["type"] == "control"]
        self.assertEqual([e["cmd"] for e in ctl], [r["cmd"] for r in reqs])
        for e in ctl:
            self.assertIs(e["ok"], False, e)
            self.assertEqual(e["uid"], 65534, e)
        self.assertEqual([e for e in evs if e["type"] != "control"], [],
                         "a denied command caused something")
        after = d.status()
        for k in ("state", "state_since", "reason", "paused", "paused_until", "forced",
                  "degraded"):
            self.assertEqual(after[k], before[k], k)
        self.assertEqual(after["local"]["checks_total"], before["local"]["checks_total"])
        self.assertEqual(after["standby"]["active"], False)
        with open(d.state_file, "rb") as f:
            state_after = json.load(f)
        for k in set(state_before) | set(state_after):
            if k not in ("seq_floor", "events_total"):
                self.assertEqual(state_after.get(k), state_before.get(k), k)
        self.assertEqual([k for k, p in marks.items() if os.path.exists(p)], [],
                         "a command ran for a read-level peer")

    # --- modes ---------------------------------------------------------------------
    def test_modes_under_umask_000(self):
        d = self.make_daemon(QUIET, prefix=UMASK0)
        base = d.dir
        paths = {"SOCKET": "run/fod.sock", "STATE_FILE": "lib/state.json",
                 "STATUS_FILE": "st/fod.status", "PID_FILE": "pid/fod.pid",
                 "LOG_FILE": "log/fod.log"}
        os.makedirs(os.path.join(base, "log"))
        # A STATE_FILE someone left world-writable is replaced by a private one.
        os.makedirs(os.path.join(base, "lib"))
        old = os.path.join(base, "lib/state.json")
        with open(old, "w") as f:
            f.write('{"version": 1}')
        os.chmod(old, 0o666)
        d.write_config({k: os.path.join(base, v) for k, v in paths.items()})
        d.start()
        d.result("pause")  # a state save and a status write
        wait_until(lambda: os.path.exists(d.status_file) and d.status_file_json()["paused"],
                   5, msg="STATUS_FILE")
        want = {"SOCKET": 0o660, "STATE_FILE": 0o600, "STATUS_FILE": 0o644,
                "PID_FILE": 0o644, "LOG_FILE": 0o640}
        for key, mode in want.items():
            p = os.path.join(base, paths[key])
            st = os.lstat(p)
            self.assertEqual(stat.S_IMODE(st.st_mode), mode, "%s %s is %o, want %o"
                             % (key, p, stat.S_IMODE(st.st_mode), mode))
            self.assertEqual(st.st_uid, os.geteuid(), key)
        self.assertTrue(stat.S_ISSOCK(os.lstat(d.socket_path).st_mode))
        for sub in ("run", "st", "pid"):  # created by the daemon
            mode = stat.S_IMODE(os.stat(os.path.join(base, sub)).st_mode)
            self.assertEqual(mode, 0o750, "%s/ is %o" % (sub, mode))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(base, "lib")).st_mode) & 0o002, 0)
        # No temp file lingers next to STATE_FILE/STATUS_FILE.
        for sub in ("lib", "st"):
            self.assertEqual([n for n in os.listdir(os.path.join(base, sub)) if ".tmp" in n],
                             [])

    # --- secrets ---------------------------------------------------------------------
    def secret_daemon(self):
        fp = FakePrimary(mode="up").start()
        self.addCleanup(fp.stop)
        tg = FakeTelegram(tokens=[TG_SECRET], chats=[CHAT]).start()
        self.addCleanup(tg.stop)
        d = self.make_daemon(args=["-v", "-v"])
        dd = d.dir
        d.write_config(dict(
            QUIET, LOCAL_HEALTH_URL=fp.url, PROVIDER="command", FLY_APP="sb-app",
            FLY_API_TOKEN=FLY_SECRET, TELEGRAM_BOT_TOKEN=TG_SECRET, TELEGRAM_CHAT_ID=CHAT,
            TELEGRAM_API_URL=tg.url,
            LOG_FILE=d.path("failoverd.log"),
            # $$ is the `sh -c` the daemon started: its environ is exactly
            # what the daemon passed. The echo puts the token in the output.
            ACTIVATE_CMD="cat /proc/$$/environ > %s/act.environ; echo token $FLY_API_TOKEN; "
                         "echo tg $TELEGRAM_BOT_TOKEN" % dd,
            DEACTIVATE_CMD="cat /proc/$$/environ > %s/deact.environ" % dd,
            # A hook that prints the tokens it found elsewhere: its output is
            # in the hook event and the log, redacted.
            FENCE_CMD="cat /proc/$$/environ > %s/fence.environ; cat %s/leak" % (dd, dd),
            NOTIFY_CMD="cat /proc/$$/environ > %s/notify.environ.$FAILOVER_TO; "
                       "printf %%s \"$FAILOVER_REASON\" > %s/reason.$FAILOVER_TO" % (dd, dd)))
        with open(d.path("leak"), "w") as f:
            f.write("fly=%s tg=%s\n" % (FLY_SECRET, TG_SECRET))
        return d, tg

    def test_secrets_never_leak(self):
        d, tg = self.secret_daemon()
        rc, out, err = d.check_config()
        self.assertEqual(rc, 0, err)
        self.assertNoSecret(out + err, "-n output")
        self.assertIn("FLY_API_TOKEN=<redacted>", out.replace("'", ""))
        self.assertIn("TELEGRAM_BOT_TOKEN=<redacted>", out.replace("'", ""))
        d.start()
        self.assertNoSecret(fodtest.process_cmdline(d.pid), "the daemon's /proc/PID/cmdline")
        self.assertNoSecret(environ_of("/proc/%d/environ" % d.pid),
                            "the daemon's /proc/PID/environ")
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="primary")
        marks = tempfile.mkdtemp(prefix="m")  # short: the reason has 200 bytes
        self.addCleanup(shutil.rmtree, marks, True)
        reason = REASON_TEMPLATE.format(d=marks)
        self.assertLessEqual(len(reason.encode()), 200)
        r = d.request({"cmd": "force-activate", "reason": reason, "wait": True}, timeout=30)
        self.assertOk(r)
        self.assertEqual(r["result"]["state"], "standby")
        tg_texts = lambda: [m["text"] for m in tg.messages()]  # noqa: E731
        wait_until(lambda: os.path.exists(d.path("notify.environ.standby")), 10,
                   msg="NOTIFY_CMD for standby")
        # Telegram: one bad reply (garbage), so the error path runs too.
        tg.fault(garbage=True, count=1)
        r = d.request({"cmd": "force-deactivate", "reason": reason, "wait": True},
                      timeout=30)
        self.assertOk(r)
        wait_until(lambda: os.path.exists(d.path("notify.environ.primary")), 10,
                   msg="NOTIFY_CMD for primary")
        wait_until(lambda: len(tg_texts()) >= 2, 20, msg="Telegram messages")
        d.request({"cmd": "selftest", "telegram": True}, timeout=30)
        d.request({"cmd": "reload"})

        # ACTIVATE_CMD: the contract's names only; FLY_API_TOKEN is its due,
        # the Telegram token is not.
        env = environ_of(d.path("act.environ"))
        self.assertEqual(set(env) - PROVIDER_NAMES, set(), env.keys())
        self.assertEqual(env["FLY_API_TOKEN"], FLY_SECRET)
        self.assertEqual(env["FLY_APP"], "sb-app")
        for name in ("act.environ", "deact.environ"):
            with open(d.path(name), "rb") as f:
                self.assertNotIn(TG_SECRET.encode(), f.read(), name)
        self.assertEqual(set(environ_of(d.path("deact.environ"))) - PROVIDER_NAMES, set())
        # Hooks: no token at all, only PATH/HOME/LANG/TZ and FAILOVER_*.
        for name in ("fence.environ", "notify.environ.standby", "notify.environ.primary"):
            env = environ_of(d.path(name))
            extra = {k for k in env if k not in BASE_NAMES and not k.startswith("FAILOVER_")}
            self.assertEqual(extra, set(), "%s has %s" % (name, extra))
            self.assertNoSecret(json.dumps(env), name)

        # The reason reached the hook as data, byte for byte; nothing ran.
        with open(d.path("reason.failing-over"), "rb") as f:
            got = f.read().decode()
        self.assertIn(reason, got)
        env = environ_of(d.path("notify.environ.failing-over"))
        ev = json.loads(env["FAILOVER_EVENT"])
        self.assertIn(reason, ev["reason"])
        self.assertEqual(os.listdir(marks), [], "the reason was executed by a shell")

        # Nowhere a token: replies, events, status, STATUS_FILE, log (-v -v),
        # Telegram's texts, failoverctl's output.
        with d.events(backlog=100000, follow=False) as all_ev:
            evs = all_ev.read_until_closed()
        self.assertNoSecret(json.dumps(evs), "events")
        self.assertTrue(any(e["type"] == "standby" for e in evs))
        self.assertNoSecret(json.dumps(d.status()), "status")
        wait_until(lambda: os.path.exists(d.status_file), 5, msg="STATUS_FILE")
        with open(d.status_file) as f:
            self.assertNoSecret(f.read(), "STATUS_FILE")
        self.assertNoSecret("\n".join(tg_texts()), "the Telegram messages")
        if os.path.exists(fodtest.FAILOVERCTL):
            for args in (("status",), ("-j", "status"), ("events", "-n", "1000", "--no-follow")):
                rc, out, err = d.ctl(*args)
                self.assertNoSecret(out + err, "failoverctl " + " ".join(args))
        self.assertEqual(d.stop(), 0)
        log = d.log_text()
        self.assertIn("debug", log.lower(), "-v -v did not log debug detail")
        self.assertNoSecret(log, "the log at -v -v")
        # The reason's newline did not start a log line of its own.
        self.assertIn("/4\\ntouch %s/5" % marks, log)
        for ln in log.splitlines():
            self.assertFalse(ln.startswith("touch "), "a forged log line: %r" % ln)
        fence = [e for e in evs if e["type"] == "hook" and e["hook"] == "fence"]
        self.assertEqual(len(fence), 1, evs)
        self.assertIn("<redacted>", fence[0]["output"], "the fence hook's output: %r" % fence)

    def test_define_refuses_secrets(self):
        d = self.make_daemon(QUIET)
        for key in ("FLY_API_TOKEN", "TELEGRAM_BOT_TOKEN"):
            for val in (FLY_SECRET, ""):
                rc, out, err = d.check_config(defines={key: val})
                self.assertEqual(rc, 1, "-D %s=%s accepted" % (key, val))
                self.assertIn("-D " + key, err)
                self.assertNoSecret(out + err, "the refusal")
        # Not refused: the *_FILE keys (a path is not a secret).
        p = d.path("tok")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, FLY_SECRET.encode() + b"\n")
        os.close(fd)
        rc, out, err = d.check_config(defines={"FLY_API_TOKEN_FILE": p})
        self.assertEqual(rc, 0, err)
        self.assertNoSecret(out + err, "-n with FLY_API_TOKEN_FILE")

    def test_token_files_readable_by_others_warned(self):
        d = self.make_daemon(QUIET)
        for key, secret in (("FLY_API_TOKEN_FILE", FLY_SECRET),
                            ("TELEGRAM_BOT_TOKEN_FILE", TG_SECRET)):
            p = d.path(key.lower())
            with open(p, "w") as f:
                f.write(secret + "\n")
            for mode, warned in ((0o600, False), (0o400, False), (0o604, True),
                                 (0o644, True)):
                os.chmod(p, mode)
                defs = {key: p}
                if key.startswith("TELEGRAM"):
                    defs["TELEGRAM_CHAT_ID"] = CHAT
                rc, out, err = d.check_config(defines=defs)
                self.assertEqual(rc, 0, err)
                self.assertNoSecret(out + err, "-n")
                said = [ln for ln in err.splitlines() if p in ln and "readable" in ln]
                self.assertEqual(bool(said), warned, "%s mode %o: %r" % (key, mode, err))


if __name__ == "__main__":
    fodtest.main()
