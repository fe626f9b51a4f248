#!/usr/bin/env python3
"""daemon/sync.c through tests/tools/synctool: state sync with the real
rclone (Debian's) on a local remote configured only by RCLONE_CONFIG_*
settings, and tests/integration/fakes/fake_rclone.sh where rclone must
misbehave (exit codes, hangs, half-written pulls, grandchildren)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fodtest  # noqa: E402

SYNCTOOL = os.path.join(fodtest.BUILDDIR, "tests", "tools", "synctool")
FAKE = os.path.join(fodtest.SRCDIR, "tests", "integration", "fakes", "fake_rclone.sh")
MARKER = ".failoverd-standby-pushed"
STAMP = re.compile(r"^\d{8}T\d{6}\.\d{3}Z$")
FLY_TOKEN = "FlyV1 fm2_SyncTestSekr3tFlyToken"
TG_TOKEN = "123456:SyncTestSekr3tTelegramToken"
EVENT_KEYS = {"type", "direction", "ok", "exit_code", "signal", "timed_out",
              "duration_ms", "error", "output"}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def read(path):
    with open(path, "rb") as f:
        return f.read()


def tree(root):
    """{relative path: bytes} of every file under root (None if missing)."""
    if not os.path.isdir(root):
        return None
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, root)] = read(p)
    return out


def snapshot(root):
    """Contents, modes and mtimes: what 'byte-identical and untouched' means."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (
                st.st_mode, st.st_mtime_ns, None if name in dirs else read(p))
    return out


def marker_json(ms):
    # What contrib/fly/entrypoint.sh writes: whole seconds.
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000.0))
    return '{"pushed_at":"%s","machine":"e784079b449483"}\n' % stamp


class SyncTest(unittest.TestCase):
    def setUp(self):
        if not os.access(SYNCTOOL, os.X_OK):
            self.skipTest("%s not built (make check builds it)" % SYNCTOOL)
        if shutil.which("rclone") is None:
            self.skipTest("rclone is not installed")
        self.tmp = tempfile.mkdtemp(prefix="fodsync.")
        if not os.environ.get("FOD_KEEP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.state = os.path.join(self.tmp, "state")
        self.remote = os.path.join(self.tmp, "remote")
        self.backup = os.path.join(self.tmp, "backups")
        self.dump = os.path.join(self.tmp, "dump")
        os.makedirs(self.dump)
        self.pids = []
        self.addCleanup(self.kill_leftovers)

    def kill_leftovers(self):
        for pid in self.pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def config(self, **over):
        cfg = {
            "STATE_DIR": self.state,
            "RCLONE_REMOTE": "testremote",
            "RCLONE_PATH": self.remote,
            "BACKUP_DIR": self.backup,
            "RCLONE_CONFIG": "/dev/null",
            "RCLONE_CONFIG_TESTREMOTE_TYPE": "local",
            "SYNC_TIMEOUT": "20",
        }
        cfg.update(over)
        return cfg

    def run_tool(self, op, args=(), env=None, timeout=60, prefix=(), **over):
        """synctool -c FILE op: the parsed output, checked for what every run
        must show (one callback, never inside start, no job left, no
        blocked loop, busy while running, the event's fields)."""
        path = os.path.join(self.tmp, "sync.conf")
        with open(path, "w") as f:
            for k, v in self.config(**over).items():
                if v is not None:
                    f.write("%s=%s\n" % (k, fodtest.quote_value(v)))
        e = dict(fodtest.BASE_ENV)
        e.update(env or {})
        t0 = time.monotonic()
        p = subprocess.run(list(prefix) + [SYNCTOOL, "-c", path] + list(args) + [op],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                           timeout=timeout, universal_newlines=True, errors="replace")
        self.elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, "synctool: %s\n%s" % (p.stdout, p.stderr))
        out = json.loads(p.stdout)
        out["stderr"] = p.stderr
        self.assertFalse(out["cb_inside_start"], "callback inside sync_push/pull")
        self.assertFalse(out["busy_at_end"])
        self.assertEqual(out["jobs_left"], 0, "a job was left running")
        self.assertLess(out["max_gap_ms"], 500, "the loop blocked")
        if op == "check":
            return out
        self.assertTrue(out["busy_after_start"])
        self.assertEqual(out["running_dir"], op)
        self.assertEqual(out["status_running"]["running"], op)
        self.assertEqual(out["second_start"], -1, "a second sync started beside the first")
        cancelled = "-C" in args and out["calls"] == 0
        self.assertEqual(out["calls"], 0 if cancelled else 1, out)
        self.assertEqual(len(out["events"]), 1, out["events"])
        ev = out["events"][0]
        self.assertTrue(EVENT_KEYS <= set(ev), ev)
        self.assertEqual(ev["type"], "sync")
        self.assertEqual(ev["direction"], op)
        self.assertIsInstance(ev["output"], str)
        self.assertLessEqual(len(ev["output"].encode()), 4096)
        last = out["status"]["last_" + op]
        self.assertIsNotNone(last)
        self.assertRegex(last["time"], fodtest.RFC3339_MS)
        self.assertEqual(last["ok"], ev["ok"])
        self.assertEqual(last["error"], ev["error"])
        self.assertIsNone(out["status"]["running"])
        self.assertTrue(out["status"]["enabled"])
        if not cancelled:
            r = out["result"]
            for k in ("ok", "exit_code", "signal", "timed_out", "duration_ms", "error"):
                self.assertEqual(r[k], ev[k], k)
            self.assertEqual(last["duration_ms"], r["duration_ms"])
            # One log line per outcome.
            self.assertEqual(len(re.findall(r"sync %s .*: (ok in|failed in)" % op,
                                            out["stderr"])), 1, out["stderr"])
        return out

    def fake(self, **kw):
        """Config keys that run fake_rclone.sh with RCLONE_FAKE_<K>=<v>."""
        over = {"RCLONE": FAKE, "RCLONE_FAKE_DUMP": self.dump}
        for k, v in kw.items():
            over["RCLONE_FAKE_" + k.upper()] = str(v)
        return over

    def dumps(self, kind=None):
        """[(argv, env)] of the fake's runs, of one kind if given. A run is
        counted once its kind file, written last, is there: a run killed
        while it wrote its dump (a timed-out marker poll) never got going."""
        out = []
        for kname in sorted(os.listdir(self.dump)):
            if not kname.startswith("kind."):
                continue
            pid = kname.split(".", 1)[1]
            name = "argv." + pid
            k = read(os.path.join(self.dump, kname)).decode().strip()
            if kind is not None and k != kind:
                continue
            argv = read(os.path.join(self.dump, name)).split(b"\0")[:-1]
            env = read(os.path.join(self.dump, "env." + pid)).split(b"\0")[:-1]
            out.append(([a.decode() for a in argv],
                        dict(x.decode().split("=", 1) for x in env)))
        return out

    def read_pid(self, path):
        fodtest.wait_until(lambda: os.path.exists(path) and read(path).strip(), 5,
                           msg="pid file " + path)
        pid = int(read(path).strip())
        self.pids.append(pid)
        return pid

    def populate_state(self):
        write(os.path.join(self.state, "db.sqlite"), bytes(range(256)) * 40)
        write(os.path.join(self.state, "config.json"), '{"v": 1}\n')
        write(os.path.join(self.state, "sub", "deeper", "c.txt"), "deep\n")
        write(os.path.join(self.state, "sub", "b.txt"), "bee\n")
        write(os.path.join(self.state, "name with spaces"), "sp\n")

    def stamps(self):
        if not os.path.isdir(self.backup):
            return []
        return sorted(n for n in os.listdir(self.backup) if STAMP.match(n))

    # --- push ----------------------------------------------------------------
    def test_push_copies_nested_and_deletes_remote_extras(self):
        self.populate_state()
        write(os.path.join(self.remote, "stale.txt"), "old\n")
        write(os.path.join(self.remote, "olddir", "x"), "old\n")
        write(os.path.join(self.remote, "config.json"), '{"v": 0}\n')
        write(os.path.join(self.remote, MARKER), marker_json(0))
        out = self.run_tool("push")
        self.assertTrue(out["result"]["ok"], out)
        self.assertIsNone(out["result"]["error"])
        self.assertEqual(out["result"]["exit_code"], 0)
        rem = tree(self.remote)
        # The marker is excluded: neither pushed nor deleted.
        self.assertEqual(rem.pop(MARKER), marker_json(0).encode())
        self.assertEqual(rem, tree(self.state))
        self.assertFalse(os.path.exists(os.path.join(self.remote, "olddir")))
        self.assertIn("sync push %s -> testremote:%s: ok in" % (self.state, self.remote),
                      out["stderr"])

    def test_repush_is_incremental_and_by_checksum(self):
        self.populate_state()
        flags = {"RCLONE_FLAGS": "-v   --retries 1"}  # several spaces: split on them
        self.assertTrue(self.run_tool("push", **flags)["result"]["ok"])
        # Same size, same mtime, other bytes: only --checksum sees it.
        p = os.path.join(self.state, "sub", "b.txt")
        st = os.stat(p)
        write(p, "BEE\n")
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        out = self.run_tool("push", **flags)
        self.assertTrue(out["result"]["ok"])
        copied = re.findall(r"INFO\s*: (.*?): Copied", out["events"][0]["output"])
        self.assertEqual(copied, ["sub/b.txt"], out["events"][0]["output"])
        self.assertEqual(read(os.path.join(self.remote, "sub", "b.txt")), b"BEE\n")
        out = self.run_tool("push", **flags)
        self.assertNotIn("Copied", out["events"][0]["output"])
        self.assertEqual(tree(self.remote), tree(self.state))

    def test_empty_or_missing_state_dir_is_not_pushed(self):
        write(os.path.join(self.remote, "precious"), "keep me\n")
        before = snapshot(self.remote)
        os.makedirs(os.path.join(self.state, "only", "empty", "dirs"))
        # A marker alone is not state either: it is never pushed.
        write(os.path.join(self.state, MARKER), "{}")
        out = self.run_tool("push", **self.fake())
        r = out["result"]
        self.assertFalse(r["ok"])
        self.assertEqual(r["error"], "STATE_DIR is empty: not pushed")
        self.assertEqual(r["exit_code"], -1)
        self.assertFalse(r["retryable"])
        self.assertEqual(self.dumps(), [], "rclone ran")
        shutil.rmtree(self.state)
        out = self.run_tool("push", **self.fake())
        self.assertIn("does not exist: not pushed", out["result"]["error"])
        self.assertEqual(self.dumps(), [], "rclone ran")
        # A STATE_DIR that is a symlink to an empty directory is empty too.
        os.makedirs(os.path.join(self.tmp, "empty-target"))
        os.symlink(os.path.join(self.tmp, "empty-target"), self.state)
        out = self.run_tool("push", **self.fake())
        self.assertEqual(out["result"]["error"], "STATE_DIR is empty: not pushed")
        self.assertEqual(self.dumps(), [], "rclone ran")
        self.assertEqual(snapshot(self.remote), before)
        self.assertIn("sync push %s -> testremote:%s: failed in" % (self.state, self.remote),
                      out["stderr"])

    def test_push_timeout_argument_bounds_the_run(self):
        self.populate_state()
        out = self.run_tool("push", args=["-t", "700"], **self.fake(hang=1))
        r = out["result"]
        self.assertTrue(r["timed_out"])
        self.assertGreaterEqual(r["duration_ms"], 650)
        self.assertLess(r["duration_ms"], 3000)
        (argv, _), = self.dumps("push")
        self.assertEqual(argv[argv.index("--timeout") + 1], "700ms")
        self.assertEqual(argv[argv.index("--contimeout") + 1], "700ms")

    # --- pull ----------------------------------------------------------------
    def test_pull_applies_and_backs_up_replaced_and_deleted_files(self):
        self.populate_state()
        write(os.path.join(self.state, "gone.txt"), "deleted by the pull\n")
        write(os.path.join(self.state, "gonedir", "deep", "g.bin"), b"\x00\xffdeep")
        old = tree(self.state)
        # The standby's state: db changed, config same, gone* deleted, new files.
        write(os.path.join(self.remote, "db.sqlite"), bytes(range(255, -1, -1)) * 41)
        write(os.path.join(self.remote, "config.json"), '{"v": 1}\n')
        write(os.path.join(self.remote, "sub", "deeper", "c.txt"), "deep\n")
        write(os.path.join(self.remote, "sub", "b.txt"), "bee v2\n")
        write(os.path.join(self.remote, "name with spaces"), "sp\n")
        write(os.path.join(self.remote, "new.txt"), "new\n")
        write(os.path.join(self.remote, "newdir", "n.txt"), "nested new\n")
        write(os.path.join(self.remote, MARKER), marker_json(0))
        out = self.run_tool("pull")
        r = out["result"]
        self.assertTrue(r["ok"], out)
        self.assertTrue(r["applied"])
        ev = out["events"][0]
        self.assertTrue(ev["applied"])
        self.assertFalse(ev["marker_waited"])
        rem = tree(self.remote)
        del rem[MARKER]
        self.assertEqual(tree(self.state), rem)
        stamps = self.stamps()
        self.assertEqual(len(stamps), 1, os.listdir(self.backup))
        bdir = os.path.join(self.backup, stamps[0])
        self.assertEqual(ev["backup"], bdir)
        # Every replaced and deleted file, byte for byte; nothing else.
        want = {k: old[k] for k in ("db.sqlite", "sub/b.txt", "gone.txt",
                                    "gonedir/deep/g.bin")}
        self.assertEqual(tree(bdir), want)
        # The staging stays for the next, incremental pull: 0700.
        self.assertEqual(os.stat(os.path.join(self.backup, ".staging")).st_mode & 0o777, 0o700)
        self.assertIn("replaced files in " + bdir, out["stderr"])

        # The next pull with nothing new changes nothing and backs up nothing.
        before = snapshot(self.state)
        out = self.run_tool("pull")
        self.assertTrue(out["result"]["ok"])
        self.assertIsNone(out["events"][0]["backup"])
        self.assertEqual(snapshot(self.state), before)
        self.assertEqual(self.stamps(), stamps)

    def test_pull_creates_a_missing_state_dir(self):
        write(os.path.join(self.remote, "a"), "a\n")
        out = self.run_tool("pull")
        self.assertTrue(out["result"]["ok"], out)
        self.assertEqual(tree(self.state), {"a": b"a\n"})
        self.assertEqual(os.stat(self.state).st_mode & 0o777, 0o750)

    def test_pull_timed_out_half_way_leaves_state_dir_untouched(self):
        self.populate_state()
        write(os.path.join(self.remote, "db.sqlite"), b"remote db")
        write(os.path.join(self.remote, "config.json"), "remote config\n")
        self.run_tool("pull")  # a staging with files in it
        write(os.path.join(self.state, "local-only"), "mine\n")
        before = snapshot(self.state)
        stamps = self.stamps()
        out = self.run_tool("pull", SYNC_TIMEOUT="1.5",
                            **self.fake(when="pull", partial=1, hang=1))
        r = out["result"]
        self.assertFalse(r["ok"])
        self.assertTrue(r["timed_out"])
        self.assertEqual(r["signal"], 15)
        self.assertFalse(r["applied"])
        self.assertTrue(r["retryable"])
        self.assertRegex(r["error"], r"^pulling into staging: rclone timed out after 1500ms "
                                     r"\(killed by SIGTERM\)$")
        self.assertGreaterEqual(r["duration_ms"], 1450)
        self.assertIn("fake rclone: wrote part of", out["events"][0]["output"])
        # The staging got the half-written files; STATE_DIR nothing.
        self.assertEqual(read(os.path.join(self.backup, ".staging", "zz-partial.bin")),
                         b"PARTIAL-GARBAGE")
        self.assertEqual(snapshot(self.state), before)
        self.assertEqual(self.stamps(), stamps)
        self.assertEqual(self.dumps("apply"), [], "a half pull was applied")
        # The next complete pull repairs the staging and applies only the remote's.
        out = self.run_tool("pull")
        self.assertTrue(out["result"]["ok"])
        self.assertEqual(tree(self.state), tree(self.remote))

    def test_pull_cancelled_half_way_kills_the_group_and_leaves_state_dir(self):
        self.populate_state()
        write(os.path.join(self.remote, "db.sqlite"), b"remote db")
        before = snapshot(self.state)
        gc_file = os.path.join(self.tmp, "gc")
        pid_file = os.path.join(self.tmp, "pid")
        out = self.run_tool("pull", args=["-C", "800"],
                            **self.fake(when="pull", partial=1, hang=1,
                                        grandchild=gc_file, pidfile=pid_file))
        self.assertEqual(out["calls"], 0, "a callback after sync_cancel")
        self.assertTrue(out["busy_before_cancel"])
        self.assertFalse(out["busy_after_cancel"])
        ev = out["events"][0]
        self.assertFalse(ev["ok"])
        self.assertEqual(ev["error"], "cancelled")
        self.assertEqual(ev["signal"], 9)
        self.assertFalse(ev["applied"])
        self.assertEqual(out["status"]["last_pull"]["error"], "cancelled")
        self.assertEqual(snapshot(self.state), before)
        self.assertEqual(self.stamps(), [])
        for pid in (self.read_pid(pid_file), self.read_pid(gc_file)):
            fodtest.wait_until(lambda: not fodtest.process_alive(pid), 5,
                               msg="process %d of the cancelled pull to die" % pid)

    def test_empty_or_missing_remote_is_not_applied(self):
        self.populate_state()
        before = snapshot(self.state)
        os.makedirs(os.path.join(self.remote, "emptydir"))
        write(os.path.join(self.remote, MARKER), marker_json(0))  # not state
        out = self.run_tool("pull")
        r = out["result"]
        self.assertFalse(r["ok"])
        self.assertEqual(r["exit_code"], 0)
        self.assertFalse(r["applied"])
        self.assertFalse(r["retryable"])
        self.assertEqual(r["error"], "the remote testremote:%s is empty: nothing applied"
                         % self.remote)
        self.assertEqual(snapshot(self.state), before)
        shutil.rmtree(self.remote)
        out = self.run_tool("pull")
        r = out["result"]
        self.assertFalse(r["ok"])
        self.assertEqual(r["exit_code"], 3)
        self.assertEqual(r["error"], "pulling into staging: rclone exit 3: directory not found")
        self.assertIn("directory not found", out["events"][0]["output"])
        self.assertEqual(snapshot(self.state), before)
        self.assertEqual(self.stamps(), [])

    def test_backup_keep_prunes_only_old_stamped_directories(self):
        write(os.path.join(self.state, "f"), "v0\n")
        old = ["20200101T000000.000Z", "20210101T000000.000Z", "20220101T000000.000Z"]
        for n in old:
            write(os.path.join(self.backup, n, "sub", "x"), n)
        keep = {
            "notes/readme": "not a backup",
            "20200101T000000Z/x": "an older stamp form: not ours",
            "20200101T000000.000Z.old/x": "not a stamp",
        }
        for k, v in keep.items():
            write(os.path.join(self.backup, k), v)
        write(os.path.join(self.tmp, "outside", "precious"), "outside\n")
        os.symlink(os.path.join(self.tmp, "outside"),
                   os.path.join(self.backup, "20190101T000000.000Z"))
        write(os.path.join(self.backup, "20180101T000000.000Z"), "a file, not a dir")
        logs = ""
        for i in (1, 2):
            write(os.path.join(self.remote, "f"), "v%d\n" % i)
            out = self.run_tool("pull", BACKUP_KEEP="2")
            self.assertTrue(out["result"]["ok"], out)
            self.assertIsNotNone(out["events"][0]["backup"])
            logs += out["stderr"]
        stamps = self.stamps()
        self.assertEqual(len(stamps), 4)  # the symlink and the file are not ours
        dirs = [s for s in stamps if os.path.isdir(os.path.join(self.backup, s))
                and not os.path.islink(os.path.join(self.backup, s))]
        self.assertEqual(len(dirs), 2)
        self.assertTrue(all(d > old[-1] for d in dirs), dirs)
        self.assertEqual([read(os.path.join(self.backup, d, "f")) for d in dirs],
                         [b"v0\n", b"v1\n"])
        for k, v in keep.items():
            self.assertEqual(read(os.path.join(self.backup, k)), v.encode())
        self.assertTrue(os.path.islink(os.path.join(self.backup, "20190101T000000.000Z")))
        self.assertEqual(read(os.path.join(self.tmp, "outside", "precious")), b"outside\n")
        self.assertTrue(os.path.isfile(os.path.join(self.backup, "20180101T000000.000Z")))
        self.assertTrue(os.path.isdir(os.path.join(self.backup, ".staging")))
        self.assertIn("removed 2 old backups", logs)
        self.assertIn("removed 1 old backup ", logs)

    # --- rclone failing --------------------------------------------------------
    def test_missing_rclone_binary(self):
        self.populate_state()
        for op in ("push", "pull"):
            out = self.run_tool(op, RCLONE="/nonexistent/rclone")
            r = out["result"]
            self.assertFalse(r["ok"])
            self.assertEqual(r["exit_code"], -1)
            self.assertFalse(r["retryable"])
            self.assertIn("could not start /nonexistent/rclone: No such file or directory",
                          r["error"])

    def test_exit_codes_reported_by_meaning(self):
        self.populate_state()
        meaning = {1: ("uncategorised error", True), 3: ("directory not found", False),
                   5: ("temporary error (retrying may help)", True), 7: ("fatal error", False)}
        for code, (text, retry) in meaning.items():
            for op in ("push", "pull"):
                with self.subTest(code=code, op=op):
                    out = self.run_tool(op, **self.fake(exit=code))
                    r = out["result"]
                    self.assertFalse(r["ok"])
                    self.assertEqual(r["exit_code"], code)
                    self.assertEqual(r["signal"], 0)
                    self.assertFalse(r["timed_out"])
                    self.assertTrue(r["error"].endswith("rclone exit %d: %s" % (code, text)),
                                    r["error"])
                    self.assertEqual(r["retryable"], retry)
                    self.assertIn("failing with exit %d" % code, out["events"][0]["output"])
                    self.assertIn(text, out["stderr"])
        self.assertEqual(self.dumps("apply"), [])

    def test_cause_from_rclone_output(self):
        # Issue 14 item 8 (audit #9): not "uncategorised error".
        self.populate_state()
        for code, say, want in (
                (1, "ERROR : f: Failed to copy: open /x: Read-only file system",
                 "rclone exit 1: read-only file system"),
                (1, "Failed to sync: mkdir /x: permission denied",
                 "rclone exit 1: permission denied"),
                (7, "write /x: no space left on device",
                 "rclone exit 7: fatal error: no space left on device"),
                (1, "something nobody has seen", "rclone exit 1: uncategorised error")):
            with self.subTest(code=code, say=say):
                out = self.run_tool("push", **self.fake(exit=code, say=say))
                self.assertEqual(out["result"]["error"], want)
                self.assertIn(want, out["stderr"])

    def test_read_only_state_dir_retries_fill_one_backup(self):
        # Audit #9: STATE_DIR read-only (the unit's ProtectSystem=strict):
        # the cause is named, and retries of the failed pull reuse one
        # BACKUP_DIR/<stamp> instead of one per attempt.
        if os.geteuid() != 0 or shutil.which("unshare") is None or subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "true"],
                capture_output=True).returncode != 0:
            self.skipTest("needs root and unshare --mount for a read-only STATE_DIR")
        self.populate_state()
        old = tree(self.state)
        write(os.path.join(self.remote, "db.sqlite"), b"the standby's db")
        write(os.path.join(self.remote, "config.json"), '{"v": 2}\n')
        ro = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
              'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"',
              self.state]
        for attempt in range(3):
            out = self.run_tool("pull", prefix=ro, RCLONE_FLAGS="--retries 1")
            r = out["result"]
            self.assertFalse(r["ok"])
            self.assertFalse(r["applied"])
            self.assertTrue(r["error"].startswith(
                "applying to STATE_DIR: rclone exit 1: read-only file system"), r["error"])
            self.assertEqual(len(self.stamps()), 1, (attempt, os.listdir(self.backup)))
        self.assertEqual(tree(self.state), old)
        bdir = os.path.join(self.backup, self.stamps()[0])
        self.assertIn("(replaced files so far in %s)" % bdir, r["error"])
        self.assertEqual(read(os.path.join(self.backup, ".pending-backup")).decode().strip(),
                         self.stamps()[0])
        # Writable again: the retry succeeds into the same backup.
        out = self.run_tool("pull")
        self.assertTrue(out["result"]["ok"], out)
        self.assertEqual(out["events"][0]["backup"], bdir)
        self.assertEqual(self.stamps(), [os.path.basename(bdir)])
        self.assertFalse(os.path.exists(os.path.join(self.backup, ".pending-backup")))
        self.assertEqual(read(os.path.join(self.state, "db.sqlite")), b"the standby's db")
        self.assertEqual(read(os.path.join(bdir, "db.sqlite")), old["db.sqlite"])
        self.assertEqual(read(os.path.join(bdir, "config.json")), old["config.json"])
        # The next pull after a success starts a new backup.
        write(os.path.join(self.remote, "db.sqlite"), b"v3")
        out = self.run_tool("pull")
        self.assertTrue(out["result"]["ok"], out)
        self.assertEqual(len(self.stamps()), 2)
        self.assertNotEqual(out["events"][0]["backup"], bdir)

    def test_failing_apply_is_reported_as_such(self):
        self.populate_state()
        write(os.path.join(self.remote, "db.sqlite"), b"remote db")
        before = snapshot(self.state)
        out = self.run_tool("pull", **self.fake(when="apply", exit=7))
        r = out["result"]
        self.assertFalse(r["ok"])
        self.assertFalse(r["applied"])
        self.assertEqual(r["exit_code"], 7)
        self.assertEqual(r["error"], "applying to STATE_DIR: rclone exit 7: fatal error")
        self.assertEqual(len(self.dumps("pull")), 1)
        self.assertEqual(snapshot(self.state), before)
        # The staging is complete: the retry applies it.
        out = self.run_tool("pull")
        self.assertTrue(out["result"]["ok"])
        self.assertEqual(read(os.path.join(self.state, "db.sqlite")), b"remote db")

    def test_hanging_rclone_killed_at_sync_timeout_with_its_grandchild(self):
        self.populate_state()
        gc_file = os.path.join(self.tmp, "gc")
        out = self.run_tool("push", SYNC_TIMEOUT="1", **self.fake(grandchild=gc_file, hang=1))
        r = out["result"]
        self.assertFalse(r["ok"])
        self.assertTrue(r["timed_out"])
        self.assertEqual(r["signal"], 15)
        self.assertEqual(r["error"], "rclone timed out after 1s (killed by SIGTERM)")
        self.assertGreaterEqual(r["duration_ms"], 950)
        self.assertLess(self.elapsed, 5)
        gc = self.read_pid(gc_file)
        fodtest.wait_until(lambda: not fodtest.process_alive(gc), 5,
                           msg="grandchild %d to die" % gc)

    # --- the standby's marker --------------------------------------------------
    def test_marker_newer_pulls_at_once(self):
        write(os.path.join(self.remote, "a"), "a\n")
        write(os.path.join(self.remote, MARKER), marker_json(time.time() * 1000))
        out = self.run_tool("pull", args=["-m", "0"], SYNC_TIMEOUT="10")
        r = out["result"]
        self.assertTrue(r["ok"], out)
        self.assertTrue(r["marker_seen"])
        self.assertLess(r["duration_ms"], 5000)
        ev = out["events"][0]
        self.assertTrue(ev["marker_waited"])
        self.assertTrue(ev["marker_seen"])
        self.assertEqual(tree(self.state), {"a": b"a\n"})  # the marker is not state

    def test_marker_stale_waits_sync_timeout_then_pulls_and_says_so(self):
        write(os.path.join(self.remote, "a"), "a\n")
        write(os.path.join(self.remote, MARKER), marker_json(time.time() * 1000 - 3600e3))
        out = self.run_tool("pull", args=["-m", "0"], SYNC_TIMEOUT="2",
                            **self.fake(when="none"))
        r = out["result"]
        self.assertTrue(r["ok"], out)
        self.assertFalse(r["marker_seen"])
        self.assertGreaterEqual(r["duration_ms"], 2000)
        self.assertLess(r["duration_ms"], 6000)
        ev = out["events"][0]
        self.assertTrue(ev["marker_waited"])
        self.assertFalse(ev["marker_seen"])
        self.assertIn("pulled anyway", ev["detail"])
        self.assertIn("did not appear within 2s (SYNC_TIMEOUT); pulling anyway", out["stderr"])
        self.assertIn("without the standby's marker", out["stderr"])
        self.assertEqual(tree(self.state), {"a": b"a\n"})
        # Polled again and again (every 200 ms with SYNC_TIMEOUT=2s), each bounded.
        cats = self.dumps("cat")
        self.assertGreaterEqual(len(cats), 4)
        for argv, _ in cats:
            self.assertEqual(argv[-1], "testremote:%s/%s" % (self.remote, MARKER))
            self.assertRegex(argv[argv.index("--timeout") + 1], r"^\d+ms$")

    def test_marker_arriving_during_the_wait_ends_it(self):
        write(os.path.join(self.remote, "a"), "a\n")
        t = threading.Timer(1.0, lambda: write(os.path.join(self.remote, MARKER),
                                               marker_json(time.time() * 1000)))
        t.start()
        self.addCleanup(t.cancel)
        out = self.run_tool("pull", args=["-m", "0"], SYNC_TIMEOUT="8")
        r = out["result"]
        self.assertTrue(r["ok"], out)
        self.assertTrue(r["marker_seen"])
        self.assertGreaterEqual(r["duration_ms"], 1000)
        self.assertLess(r["duration_ms"], 6000)

    # --- the environment and the command line ----------------------------------
    def test_rclone_gets_only_the_contract_environment_and_no_secret(self):
        self.populate_state()
        over = dict(self.fake(when="none"))
        over.update({
            "TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_CHAT_ID": "-1001234567890",
            "FLY_API_TOKEN": FLY_TOKEN, "FLY_APP": "sync-test-app",
            "RCLONE_FLAGS": "--retries 1  --low-level-retries=2",
            "SYNC_TIMEOUT": "2m",
        })
        env = {"HOME": self.tmp, "TZ": "UTC", "FLY_API_TOKEN_LEAK": FLY_TOKEN,
               "SOME_OTHER_VAR": "x"}
        self.assertTrue(self.run_tool("push", env=env, **over)["result"]["ok"])
        self.assertTrue(self.run_tool("pull", env=env, **over)["result"]["ok"])
        self.assertTrue(self.run_tool("check", env=env, **over)["check"]["ok"])
        runs = self.dumps()
        kinds = sorted(k for k in (os.listdir(self.dump)) if k.startswith("kind."))
        self.assertEqual(sorted(read(os.path.join(self.dump, k)).decode().strip()
                                for k in kinds), ["apply", "lsf", "pull", "push"])
        for argv, renv in runs:
            extra = {k for k in renv if not k.startswith("RCLONE_")}
            self.assertLessEqual(extra, {"PATH", "HOME", "LANG", "TZ"}, renv)
            self.assertEqual(renv["HOME"], self.tmp)
            self.assertEqual(renv["TZ"], "UTC")
            self.assertEqual(renv["RCLONE_CONFIG"], "/dev/null")
            self.assertEqual(renv["RCLONE_CONFIG_TESTREMOTE_TYPE"], "local")
            blob = "\0".join(argv) + "\0".join("%s=%s" % kv for kv in renv.items())
            for secret in (FLY_TOKEN, "fm2_SyncTestSekr3tFlyToken", TG_TOKEN,
                           "SyncTestSekr3tTelegramToken"):
                self.assertNotIn(secret, blob)
            self.assertEqual(argv[argv.index("--contimeout") + 1], "60000ms")
            self.assertEqual(argv[argv.index("--timeout") + 1], "120000ms")
            self.assertIn("--retries", argv)
            self.assertEqual(argv[argv.index("--retries") + 1], "1")
            self.assertIn("--low-level-retries=2", argv)
            self.assertNotIn("", argv)
        by_kind = {}
        for argv, _ in runs:
            # argv as the fake got it: the command first
            by_kind[argv[0] if argv[0] != "sync" else
                    ("apply" if "--backup-dir" in argv else
                     "pull" if argv[-1].startswith("/") else "push")] = argv
        for k in ("push", "pull", "apply"):
            argv = by_kind[k]
            self.assertIn("--checksum", argv)
            self.assertEqual(argv[argv.index("--exclude") + 1], "/" + MARKER)
        remote = "testremote:" + self.remote
        staging = os.path.join(self.backup, ".staging")
        self.assertEqual(by_kind["push"][-2:], [self.state, remote])
        self.assertEqual(by_kind["pull"][-2:], [remote, staging])
        self.assertEqual(by_kind["apply"][-2:], [staging, self.state])
        self.assertRegex(by_kind["apply"][by_kind["apply"].index("--backup-dir") + 1],
                         "^" + re.escape(self.backup) + r"/\d{8}T\d{6}\.\d{3}Z$")
        self.assertEqual(by_kind["lsf"][-1], remote)

    def test_short_sync_timeout_caps_contimeout_at_itself(self):
        self.populate_state()
        self.run_tool("push", SYNC_TIMEOUT="5s", **self.fake(when="none"))
        (argv, _), = self.dumps("push")
        self.assertEqual(argv[argv.index("--contimeout") + 1], "5000ms")
        self.assertEqual(argv[argv.index("--timeout") + 1], "5000ms")

    def test_secrets_in_rclone_output_are_redacted(self):
        self.populate_state()
        # rclone echoes a bad flag back: here one that holds a secret value.
        out = self.run_tool("push", RCLONE_FLAGS="--no-such-flag-hunter2hunter2",
                            RCLONE_CONFIG_TESTREMOTE_PASS="hunter2hunter2")
        self.assertFalse(out["result"]["ok"])
        self.assertIn("no-such-flag-<redacted>", out["events"][0]["output"])
        self.assertNotIn("hunter2hunter2", json.dumps(out["events"]))
        self.assertNotIn("hunter2hunter2", out["stderr"])

    # --- selftest's listing ------------------------------------------------------
    def test_check_remote(self):
        write(os.path.join(self.remote, "a"), "a")
        write(os.path.join(self.remote, "d", "b"), "b")
        out = self.run_tool("check")
        self.assertEqual(out["check"], {"ok": True, "detail": "testremote:%s lists 2 entries"
                                        % self.remote})
        self.assertEqual(out["calls"], 1)
        shutil.rmtree(self.remote)
        out = self.run_tool("check")
        self.assertTrue(out["check"]["ok"])
        self.assertIn("does not exist yet", out["check"]["detail"])
        out = self.run_tool("check", RCLONE_REMOTE="nosuchremote")
        self.assertFalse(out["check"]["ok"])
        self.assertIn("rclone exit 1: uncategorised error", out["check"]["detail"])
        self.assertEqual(out["events"], [], "the listing is no sync")


if __name__ == "__main__":
    unittest.main(verbosity=2)
