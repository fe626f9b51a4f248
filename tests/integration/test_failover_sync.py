#!/usr/bin/env python3
"""The whole failover flow with state sync and hooks: the real failoverd,
the real rclone on a `local` remote configured through RCLONE_CONFIG_*
settings, fakes/fake_fly.py for the Fly Machines API and fakes/fake_primary.py
for both health endpoints.

The fake Fly API's on_action callback looks at the remote at the moment a
start request arrives (so "the state was pushed before the standby was
started" is checked, not assumed) and plays the standby's entrypoint on a
stop request: its state goes to the remote, then the completion marker.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from test_failover import APP, TOKEN, FailoverCase  # noqa: E402

RCLONE = shutil.which("rclone")
MARKER = ".failoverd-standby-pushed"
ALLOWED_HOOK_ENV = {"PATH", "HOME", "LANG", "TZ", "FAILOVER_EVENT", "FAILOVER_STATE",
                    "FAILOVER_FROM", "FAILOVER_TO", "FAILOVER_REASON", "FAILOVER_INSTANCE",
                    "PWD", "SHLVL", "_"}  # the last three: set by /bin/sh itself


def tree(root):
    """{relative path: bytes} of every file under root (the marker too)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def script(path, text, shell="/bin/sh"):
    with open(path, "w") as f:
        f.write("#!%s\n" % shell + text)
    os.chmod(path, 0o755)
    return path


def rfc3339_now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int(t % 1 * 1000)


class SyncCase(FailoverCase):

    def setUp(self):
        super().setUp()
        if RCLONE is None:
            self.skipTest("rclone is not installed")
        self.tmp = tempfile.mkdtemp(prefix="fodsync.")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.state_dir = os.path.join(self.tmp, "state")
        self.remote = os.path.join(self.tmp, "remote")
        self.backups = os.path.join(self.tmp, "backups")
        self.hooklog = os.path.join(self.tmp, "hooks.log")
        write(os.path.join(self.state_dir, "positions.json"), b'{"BTC": 1.5}\n')
        write(os.path.join(self.state_dir, "db", "trades.db"), os.urandom(70000))
        write(os.path.join(self.state_dir, "old.log"), b"to be deleted by the standby\n")
        self.at_start = None  # the remote as the start request found it
        self.standby_state = None  # what the standby pushes when stopped
        self.fly.on_action = self.on_action

    def on_action(self, action, mid):
        if action == "start" and self.at_start is None:
            self.at_start = tree(self.remote) if os.path.isdir(self.remote) else {}
        if action == "stop" and self.standby_state is not None:
            # The standby's entrypoint on SIGTERM: final push, then the marker.
            shutil.rmtree(self.remote, ignore_errors=True)
            for rel, data in self.standby_state.items():
                write(os.path.join(self.remote, rel), data)
            write(os.path.join(self.remote, MARKER),
                  json.dumps({"pushed_at": rfc3339_now(), "machine": mid}))

    def config(self, **kw):
        c = super().config(**kw)
        base = {
            "STATE_DIR": self.state_dir,
            "RCLONE_REMOTE": "testremote",
            "RCLONE_PATH": self.remote,
            "RCLONE_CONFIG": "/dev/null",
            "RCLONE_CONFIG_TESTREMOTE_TYPE": "local",
            "BACKUP_DIR": self.backups,
            "SYNC_INTERVAL": "0",
            "SYNC_TIMEOUT": "20s",
            "HOOK_TIMEOUT": "10s",
        }
        for k, v in base.items():
            if k not in kw:
                c[k] = v
        return c

    def hook_lines(self):
        if not os.path.exists(self.hooklog):
            return []
        with open(self.hooklog) as f:
            return [line.rstrip("\n") for line in f]


class SyncFlowTest(SyncCase):

    def test_state_goes_with_the_work_and_comes_back(self):
        log = self.hooklog
        envdir = os.path.join(self.tmp, "env")
        os.mkdir(envdir)
        fence = script(os.path.join(self.tmp, "fence"),
                       'echo "fence $FAILOVER_STATE" >> %s\n'
                       'echo fenced > %s/fenced\n' % (log, self.state_dir))
        notify = script(os.path.join(self.tmp, "notify"),
                        'echo "notify $FAILOVER_FROM>$FAILOVER_TO" >> %s\n'
                        'env > %s/notify.$$\n' % (log, envdir))
        failback = script(os.path.join(self.tmp, "failback"),
                          'echo "failback $FAILOVER_STATE $(cat %s/new.txt)" >> %s\n'
                          'env > %s/failback.$$\n' % (self.state_dir, log, envdir))
        original = tree(self.state_dir)
        d = self.start(FENCE_CMD=fence, NOTIFY_CMD=notify, FAILBACK_CMD=failback,
                       TELEGRAM_BOT_TOKEN="123456:SecretTelegramTokenValue",
                       TELEGRAM_CHAT_ID="42", TELEGRAM_API_URL="http://127.0.0.1:9")
        ev = self.events(d, ["state", "sync", "hook", "standby"])

        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", timeout=30)
        # Everything, and the fence's own file, was on the remote before the
        # start request: the fence ran before the final push.
        self.assertIsNotNone(self.at_start)
        want = dict(original)
        want["fenced"] = b"fenced\n"
        self.assertEqual(self.at_start, want)
        self.assertEqual(self.starts(), 1)
        self.drain(ev)
        kinds = [(e["type"], e.get("hook") or e.get("direction") or e.get("to"))
                 for e in ev.seen]
        i_fence = kinds.index(("hook", "fence"))
        pushes = [i for i, k in enumerate(kinds) if k == ("sync", "push")]
        self.assertTrue(pushes, kinds)
        self.assertGreater(pushes[-1], i_fence, kinds)
        self.assertLess(kinds.index(("state", "failing-over")), i_fence)
        for e in ev.seen:
            if e["type"] == "sync":
                self.assertIs(e["ok"], True, e)
                self.assertEqual(e["exit_code"], 0)
        s = d.status()
        self.assertIs(s["sync"]["enabled"], True)
        self.assertIs(s["sync"]["last_push"]["ok"], True)

        # The standby changes the state: one file changed, one deleted, one new.
        standby = dict(want)
        standby["positions.json"] = b'{"BTC": 0.5, "ETH": 3}\n'
        del standby["old.log"]
        standby["new.txt"] = b"from-the-standby"
        self.standby_state = standby
        before = tree(self.state_dir)

        self.primary.set_mode("up")
        self.wait_to(d, ev, "primary", timeout=30)
        self.assertEqual(tree(self.state_dir), standby)
        # Every file replaced or deleted is in BACKUP_DIR/<stamp>/, byte for byte.
        stamps = [n for n in os.listdir(self.backups) if not n.startswith(".")]
        self.assertEqual(len(stamps), 1, stamps)
        backup = tree(os.path.join(self.backups, stamps[0]))
        self.assertEqual(backup, {"positions.json": before["positions.json"],
                                  "old.log": before["old.log"]})
        self.drain(ev)
        kinds = [(e["type"], e.get("hook") or e.get("direction") or e.get("to"))
                 for e in ev.seen]
        i_pull = max(i for i, k in enumerate(kinds) if k == ("sync", "pull"))
        i_fb = kinds.index(("hook", "failback"))
        i_primary = max(i for i, k in enumerate(kinds) if k == ("state", "primary"))
        self.assertLess(i_pull, i_fb, kinds)
        self.assertLess(i_fb, i_primary, kinds)
        self.assertIs(d.status()["sync"]["last_pull"]["ok"], True)

        # Hooks: in order, with their variables, the pulled state in place
        # for FAILBACK_CMD; NOTIFY_CMD once per state change, in order.
        wait_until(lambda: len([x for x in self.hook_lines() if x.startswith("notify")]) == 5,
                   10, msg="five NOTIFY_CMD runs")
        lines = self.hook_lines()
        self.assertEqual([x for x in lines if x.startswith("notify")],
                         ["notify starting>primary", "notify primary>failing-over", "notify failing-over>standby",
                          "notify standby>failing-back", "notify failing-back>primary"])
        self.assertIn("fence failing-over", lines)
        self.assertIn("failback failing-back from-the-standby", lines)
        # No secret and nothing beyond the contract's variables in any hook.
        for name in os.listdir(envdir):
            with open(os.path.join(envdir, name)) as f:
                text = f.read()
            self.assertNotIn(TOKEN, text)
            self.assertNotIn("SecretTelegramTokenValue", text)
            keys = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}
            self.assertLessEqual(keys, ALLOWED_HOOK_ENV | {"FAILOVER_EVENT"}, name)
            self.assertIn("FAILOVER_EVENT", keys)
            event_line = [x for x in text.splitlines() if x.startswith("FAILOVER_EVENT=")][0]
            state_event = json.loads(event_line.split("=", 1)[1])
            self.assertEqual(state_event["type"], "state")

    def test_periodic_push_while_primary(self):
        d = self.start(SYNC_INTERVAL="300ms")
        wait_until(lambda: os.path.isfile(os.path.join(self.remote, "positions.json")), 15,
                   msg="the first periodic push")
        write(os.path.join(self.state_dir, "positions.json"), b'{"BTC": 2}\n')
        wait_until(lambda: tree(self.remote).get("positions.json") == b'{"BTC": 2}\n', 15,
                   msg="the change pushed by a later periodic push")
        s = d.status()
        self.assertIs(s["sync"]["last_push"]["ok"], True)
        # paused: no periodic push
        d.ctl("pause")
        time.sleep(0.2)  # a push that already began may finish
        write(os.path.join(self.state_dir, "positions.json"), b'{"BTC": 3}\n')
        time.sleep(1.2)  # proves a push does NOT happen within four intervals
        self.assertEqual(tree(self.remote).get("positions.json"), b'{"BTC": 2}\n')

    def test_pre_push_at_the_first_failed_check(self):
        d = self.start(FAST_INTERVAL="1s", FAILURE_THRESHOLD="3")
        ev = self.events(d, ["state", "sync", "check"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", timeout=30)
        self.drain(ev)
        seq = [(e["type"], e.get("direction") or e.get("to")) for e in ev.seen
               if e["type"] in ("sync", "state")]
        # a push finished before the threshold was reached
        self.assertEqual(seq[0], ("sync", "push"), seq)
        self.assertLess(seq.index(("sync", "push")), seq.index(("state", "failing-over")))

    def test_empty_state_dir_is_never_pushed(self):
        shutil.rmtree(self.state_dir)
        os.mkdir(self.state_dir)
        write(os.path.join(self.remote, "precious"), b"the standby's last state")
        d = self.start()
        ev = self.events(d, ["state", "sync"])
        r = d.request({"cmd": "sync", "direction": "push"}, timeout=30)
        self.assertError(r, "failed")
        self.assertIn("empty", r["error"]["message"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", timeout=30)
        self.assertEqual(tree(self.remote), {"precious": b"the standby's last state"})

    def test_sync_command(self):
        d = self.start()
        r = d.request({"cmd": "sync", "direction": "push"}, timeout=30)
        res = self.assertOk(r)
        self.assertEqual(res["direction"], "push")
        self.assertEqual(tree(self.remote), tree(self.state_dir))
        write(os.path.join(self.remote, "from-remote"), b"x")
        rc, out, err = d.ctl("sync", "pull", check=None)
        self.assertEqual(rc, 0, err)
        self.assertEqual(tree(self.state_dir).get("from-remote"), b"x")
        # no push while the standby is active, unless forced
        d.ctl("force-activate", "-w", check=0)
        r = d.request({"cmd": "sync", "direction": "push"}, timeout=30)
        self.assertError(r, "conflict")
        r = d.request({"cmd": "sync", "direction": "push", "force": True}, timeout=30)
        self.assertOk(r)


    def test_selftest_lists_the_remote(self):
        os.makedirs(self.remote)
        d = self.start()
        rc, out, err = d.ctl("-j", "selftest")
        checks = {c["name"]: c for c in json.loads(out)["checks"]}
        self.assertTrue(checks["rclone"]["ok"], checks)
        d.stop()
        d = self.start(RCLONE_REMOTE="nosuchremote")
        rc, out, err = d.ctl("-j", "selftest")
        self.assertEqual(rc, 1, out)
        checks = {c["name"]: c for c in json.loads(out)["checks"]}
        self.assertFalse(checks["rclone"]["ok"], checks)
        self.assertEqual(tree(self.remote), {}, "selftest changes nothing")


class SyncFaultTest(SyncCase):

    def fake_rclone(self, body):
        return script(os.path.join(self.tmp, "rclone"), body)

    def test_hanging_rclone_is_killed_and_the_failover_goes_on(self):
        rc = self.fake_rclone('echo "$$" >> %s/rclone.pids\nexec sleep 600\n' % self.tmp)
        d = self.start(RCLONE=rc, SYNC_TIMEOUT="1s", FAILURE_THRESHOLD="1")
        ev = self.events(d, ["state", "sync"])
        self.primary.set_mode("down")
        t0 = time.time()
        self.wait_to(d, ev, "standby", timeout=30)
        # the push was given SYNC_TIMEOUT, not more (plus the kill grace)
        self.assertLess(time.time() - t0, 8)
        self.assertEqual(self.starts(), 1)
        self.drain(ev)
        pushes = [e for e in ev.seen if e["type"] == "sync"]
        self.assertTrue(pushes)
        self.assertIs(pushes[-1]["ok"], False)
        self.assertIs(pushes[-1]["timed_out"], True)
        with open(os.path.join(self.tmp, "rclone.pids")) as f:
            for pid in f.read().split():
                self.assertFalse(os.path.exists("/proc/%s" % pid) and
                                 open("/proc/%s/stat" % pid).read().split()[2] != "Z",
                                 "rclone %s still runs" % pid)

    def test_failed_pull_suspends_pushes(self):
        flag = os.path.join(self.tmp, "fail-pull")
        # The real rclone, except that syncs from the remote fail (exit 5)
        # while the flag file exists.
        rc = self.fake_rclone(
            'if [ -e %s ] && [ "$1" = sync ]; then\n'
            '  for a in "$@"; do case "$a" in testremote:*) '
            'echo "temporary failure" >&2; exit 5;; esac; done\n'
            'fi\nexec %s "$@"\n' % (flag, RCLONE))
        d = self.start(RCLONE=rc, ACTIVATION_TIMEOUT="2s", SYNC_INTERVAL="300ms")
        ev = self.events(d, ["state", "sync", "error"])
        d.ctl("force-activate", "-w", check=0)
        self.standby_state = tree(self.state_dir)  # its final push and marker
        write(flag, b"")
        d.ctl("force-deactivate", "-w", check=None)
        self.wait_to(d, ev, "primary", timeout=30)
        s = d.status()
        self.assertIs(s["degraded"], True)
        self.assertIs(s["sync"]["pushes_suspended"], True)
        self.assertIs(s["sync"]["last_pull"]["ok"], False)
        rc, out, err = d.ctl("status", check=0)
        self.assertIn("PUSHES SUSPENDED", out)
        self.drain(ev)
        errors = [e for e in ev.seen if e["type"] == "error" and e["what"] == "sync"]
        self.assertTrue(errors, ev.seen)
        pulls = [e for e in ev.seen if e["type"] == "sync" and e["direction"] == "pull"]
        self.assertGreaterEqual(len(pulls), 2, "retried until ACTIVATION_TIMEOUT")
        self.assertEqual(pulls[-1]["exit_code"], 5)
        # Pushes stay off: the remote (the standby's newer state) is untouched.
        remote_before = tree(self.remote)
        write(os.path.join(self.state_dir, "positions.json"), b"older primary state")
        time.sleep(1.0)  # proves no periodic push happens within three intervals
        self.assertEqual(tree(self.remote), remote_before)
        r = d.request({"cmd": "sync", "direction": "push"}, timeout=30)
        self.assertError(r, "conflict")
        os.unlink(flag)
        r = d.request({"cmd": "sync", "direction": "pull"}, timeout=30)
        self.assertOk(r)
        self.assertIs(d.status()["sync"]["pushes_suspended"], False)

    def test_rclone_exit_codes_reported_by_meaning(self):
        for code, word in ((1, "uncategorised"), (3, "directory not found"),
                           (5, "temporary"), (7, "fatal")):
            rc = self.fake_rclone('echo "rclone says no" >&2\nexit %d\n' % code)
            d = self.start(RCLONE=rc)
            r = d.request({"cmd": "sync", "direction": "push"}, timeout=30)
            err = self.assertError(r, "failed")
            self.assertIn(word, err["message"].lower(), (code, err))
            d.stop()

    def test_missing_rclone(self):
        d = self.start(RCLONE="/nonexistent/rclone")
        r = d.request({"cmd": "sync", "direction": "push"}, timeout=30)
        err = self.assertError(r, "failed")
        self.assertIn("/nonexistent/rclone", err["message"])

    def test_fence_required(self):
        ok_flag = os.path.join(self.tmp, "fence-ok")
        fence = script(os.path.join(self.tmp, "fence"), '[ -e %s ]\n' % ok_flag)
        d = self.start(FENCE_CMD=fence, FENCE_REQUIRED="yes", FAILURE_THRESHOLD="1")
        ev = self.events(d, ["state", "hook", "standby"])
        self.primary.set_mode("down")
        self.wait_event(d, ev, lambda e: e["type"] == "hook" and not e["ok"], 15,
                        "a failed fence")
        self.wait_event(d, ev, lambda e: e["type"] == "standby" and e["phase"] == "retry", 15,
                        "a retry")
        self.assertEqual(self.starts(), 0)
        self.assertEqual(d.status()["state"], "failing-over")
        write(ok_flag, b"")
        self.wait_to(d, ev, "standby", timeout=30)
        self.assertEqual(self.starts(), 1)

    def test_failed_fence_not_required_goes_on(self):
        fence = script(os.path.join(self.tmp, "fence"), 'exit 3\n')
        d = self.start(FENCE_CMD=fence, FAILURE_THRESHOLD="1")
        ev = self.events(d, ["state", "hook"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", timeout=30)
        self.drain(ev)
        hooks = [e for e in ev.seen if e["type"] == "hook"]
        self.assertEqual(hooks[0]["hook"], "fence")
        self.assertEqual(hooks[0]["exit_code"], 3)
        self.assertIs(hooks[0]["ok"], False)

    def test_hanging_hook_and_its_grandchild_are_killed(self):
        tag = "fodhook%d" % os.getpid()
        fence = script(os.path.join(self.tmp, "fence"),
                       '(exec -a %s sleep 600) &\nexec -a %s sleep 600\n' % (tag, tag),
                       shell="/bin/bash")
        d = self.start(FENCE_CMD=fence, HOOK_TIMEOUT="500ms", FAILURE_THRESHOLD="1")
        ev = self.events(d, ["state", "hook"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", timeout=30)
        self.drain(ev)
        hook = [e for e in ev.seen if e["type"] == "hook"][0]
        self.assertIs(hook["timed_out"], True)
        self.assertIs(hook["ok"], False)
        wait_until(lambda: subprocess.run(["pgrep", "-f", tag],
                                          stdout=subprocess.DEVNULL).returncode == 1,
                   5, msg="no process of the hook left")


if __name__ == "__main__":
    fodtest.main()
