#!/usr/bin/env python3
"""Storage faults (issue #6, contract §8): STATE_FILE's and STATUS_FILE's
directory full (a 64 KiB tmpfs) or read-only — reported in status and
events, the daemon keeps serving and checking, and writes again when space
returns; a truncated or garbage STATE_FILE at start is set aside byte for
byte and never trusted, while seq still rises across the restart.

The tmpfs tests need root and a kernel that lets us mount; they skip and say
why otherwise."""

import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

# Checks every 200 ms against a healthy primary: "keeps checking" is visible.
CHECKING = {"PROVIDER": "none", "CHECK_INTERVAL": "200ms", "FAST_INTERVAL": "200ms"}
QUIET = {"PROVIDER": "none", "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}


class Tmpfs:
    """A small tmpfs mounted on a fresh directory; fill() uses all its space."""

    def __init__(self, testcase, size="64k"):
        if os.geteuid() != 0:
            testcase.skipTest("mounting a tmpfs needs root")
        self.dir = tempfile.mkdtemp(prefix="fodtest-tmpfs.")
        os.chmod(self.dir, 0o755)
        cp = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                             "fodtest", self.dir], capture_output=True, text=True)
        if cp.returncode != 0:
            os.rmdir(self.dir)
            testcase.skipTest("cannot mount a tmpfs here: %s" % cp.stderr.strip())
        testcase.addCleanup(self.unmount)
        self.filler = os.path.join(self.dir, "filler")

    def path(self, name):
        return os.path.join(self.dir, name)

    def fill(self):
        """Writes until ENOSPC, then also takes any space left a byte at a time."""
        with open(self.filler, "ab", buffering=0) as f:
            for size in (4096, 1):
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError as e:
                    if e.errno != 28:  # ENOSPC
                        raise
        st = os.statvfs(self.dir)
        assert st.f_bavail == 0, "tmpfs not full"

    def free(self):
        os.unlink(self.filler)

    def remount(self, opt):
        subprocess.run(["mount", "-o", "remount,%s" % opt, self.dir], check=True)

    def unmount(self):
        subprocess.run(["umount", "-l", self.dir], capture_output=True)
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


class StorageTest(fodtest.DaemonTestCase):

    def primary(self):
        fp = FakePrimary(mode="up").start()
        self.addCleanup(fp.stop)
        return fp

    def read_state(self, d):
        with open(d.state_file) as f:
            return json.load(f)

    def errors_of(self, d, what):
        return [e for e in d.status()["errors"] if e["what"] == what]

    def check_state_file_fault(self, how):
        fs = Tmpfs(self)
        fp = self.primary()
        d = self.start_daemon(dict(CHECKING, LOCAL_HEALTH_URL=fp.url,
                                   STATE_FILE=fs.path("state.json")))
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="primary")
        d.result("pause", duration="1h")
        d.result("resume")
        before = self.read_state(d)
        self.assertIs(before["paused"], False)
        ev = d.events(types=["error"])
        self.addCleanup(ev.close)
        if how == "full":
            fs.fill()
            expect = "No space left on device"
        else:
            fs.remount("ro")
            expect = "Read-only file system"

        # A change that must be saved: reported once, as an error event, in
        # status.errors and the log; the old file is intact.
        d.result("pause")
        e = ev.wait_for(lambda e: e["what"] == "state-file", 5)
        self.assertIs(e["cleared"], False)
        self.assertIn(d.state_file, e["error"])
        self.assertIn(expect, e["error"])
        errs = self.errors_of(d, "state-file")
        self.assertEqual(len(errs), 1, errs)
        self.assertEqual(errs[0]["error"], e["error"])
        self.assertIsNone(errs[0]["cleared"])
        self.assertIn(e["error"], d.log_text())
        self.assertEqual(self.read_state(d), before, "the old STATE_FILE was damaged")
        self.assertEqual(glob.glob(d.state_file + ".tmp*"), [], "a temp file was left")

        # It keeps serving and checking (resumed: automatic checks), and does
        # not report again per write.
        d.result("resume")
        checks = d.status()["local"]["checks_total"]
        wait_until(lambda: d.status()["local"]["checks_total"] >= checks + 5, 10,
                   msg="automatic checks to go on")
        r = d.result("check")
        self.assertIs(r["healthy"], True)
        d.result("pause", duration="2h")
        self.assertEqual(d.result("ping")["pid"], d.pid)
        s = d.status()
        self.assertIs(s["paused"], True)
        self.assertEqual(s["state"], "primary")
        self.assertEqual(len(self.errors_of(d, "state-file")), 1)
        self.assertEqual(self.read_state(d), before)
        self.assertEqual([x for x in ev.seen if x["what"] == "state-file"], [e])

        # Space returns: the next change is written, and it says so.
        if how == "full":
            fs.free()
        else:
            fs.remount("rw")
        d.result("pause", duration="3h")
        cleared = ev.wait_for(lambda x: x["what"] == "state-file" and x["cleared"], 5)
        self.assertIn(d.state_file, cleared["error"])
        after = self.read_state(d)
        self.assertIs(after["paused"], True)
        self.assertEqual(after["paused_until"], d.status()["paused_until"])
        errs = self.errors_of(d, "state-file")
        self.assertEqual(len(errs), 1)
        self.assertRegex(errs[0]["cleared"], fodtest.RFC3339_MS)
        self.assertIn("written again", d.log_text())
        rc, out, err = d.ctl("status", check=0)
        self.assertIn("(cleared %s)" % errs[0]["cleared"], out)
        # And the durable state survives a restart as written.
        d.restart()
        s = d.status()
        self.assertIs(s["paused"], True)
        self.assertEqual(s["paused_until"], after["paused_until"])

    def test_state_file_dir_full(self):
        self.check_state_file_fault("full")

    def test_state_file_dir_read_only(self):
        self.check_state_file_fault("ro")

    def test_state_file_written_again_without_a_change(self):
        # Nothing changes after space returns: the daemon tries again by itself.
        fs = Tmpfs(self)
        d = self.start_daemon(dict(QUIET, STATE_FILE=fs.path("state.json")))
        ev = d.events(types=["error"])
        self.addCleanup(ev.close)
        fs.fill()
        d.result("pause", duration="1h")
        ev.wait_for(lambda e: e["what"] == "state-file" and not e["cleared"], 5)
        fs.free()
        t0 = time.monotonic()
        ev.wait_for(lambda e: e["what"] == "state-file" and e["cleared"], 10)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertIs(self.read_state(d)["paused"], True)

    def test_status_file_dir_full(self):
        fs = Tmpfs(self)
        fp = self.primary()
        d = self.start_daemon(dict(CHECKING, LOCAL_HEALTH_URL=fp.url,
                                   STATUS_FILE=fs.path("failoverd.status")))
        wait_until(lambda: d.status_file_json()["state"] == "primary", 10,
                   msg="STATUS_FILE to show primary")
        ev = d.events(types=["error"])
        self.addCleanup(ev.close)
        fs.fill()
        d.result("pause")
        e = ev.wait_for(lambda e: e["what"] == "status-file", 5)
        self.assertIs(e["cleared"], False)
        self.assertIn(d.status_file, e["error"])
        self.assertIn("No space left on device", e["error"])
        self.assertEqual(len(self.errors_of(d, "status-file")), 1)
        self.assertIs(d.status_file_json()["paused"], False, "the old file was damaged")
        # Serving and checking go on; STATE_FILE (elsewhere) is still written.
        self.assertIs(self.read_state(d)["paused"], True)
        d.result("resume")
        checks = d.status()["local"]["checks_total"]
        wait_until(lambda: d.status()["local"]["checks_total"] >= checks + 5, 10,
                   msg="automatic checks to go on")
        self.assertIs(self.read_state(d)["paused"], False)
        self.assertEqual(len(self.errors_of(d, "status-file")), 1)
        d.result("pause")
        fs.free()
        ev.wait_for(lambda x: x["what"] == "status-file" and x["cleared"], 10)
        sf = wait_until(lambda: (lambda j: j["paused"] and j)(d.status_file_json()), 5,
                        msg="STATUS_FILE written again")
        self.assertRegex(sf["written_at"], fodtest.RFC3339_MS)
        wait_until(lambda: any(x["what"] == "status-file" and x["cleared"]
                               for x in d.status_file_json()["errors"]), 5,
                   msg="STATUS_FILE to show the fault cleared")
        self.assertEqual([x["what"] for x in ev.seen], ["status-file", "status-file"])

    # --- a corrupt STATE_FILE at start ---------------------------------------
    def run_and_corrupt(self, corrupt):
        """A daemon that paused and counted events, stopped; then STATE_FILE
        is replaced by corrupt(text) and the daemon started again."""
        d = self.start_daemon(QUIET)
        for _ in range(5):
            d.result("pause")
            d.result("resume")
        d.result("pause", duration="1h")
        with d.events(follow=False) as ev:
            last_seq = ev.reply["result"]["last_seq"]
        events_before = d.status()["counters"]["events"]
        self.assertEqual(d.stop(), 0)
        with open(d.state_file, "rb") as f:
            good = f.read()
        self.assertIn(b'"paused": true', good)
        bad = corrupt(good)
        with open(d.state_file, "wb") as f:
            f.write(bad)
        d.proc = None
        d.start()
        return d, bad, last_seq, events_before

    def check_set_aside(self, corrupt):
        d, bad, last_seq, events_before = self.run_and_corrupt(corrupt)
        aside = glob.glob(d.state_file + ".corrupt-*")
        self.assertEqual(len(aside), 1, os.listdir(d.dir))
        self.assertRegex(os.path.basename(aside[0]),
                         r"^state\.json\.corrupt-\d{8}T\d{6}(\.\d+)?Z?")
        with open(aside[0], "rb") as f:
            self.assertEqual(f.read(), bad, "the set-aside copy differs from the file")
        # Reported: status.errors, an error event, the log; all naming where.
        errs = [e for e in d.status()["errors"] if e["what"] == "state-file"]
        self.assertEqual(len(errs), 1, d.status()["errors"])
        self.assertIn(aside[0], errs[0]["error"])
        self.assertIn("corrupt", errs[0]["error"])
        self.assertIn(aside[0], d.log_text())
        with d.events(types=["error"], backlog=100, follow=False) as ev:
            evs = ev.read_until_closed()
        self.assertEqual([e["error"] for e in evs], [errs[0]["error"]])
        # Never trusted: no pause, counters from nothing ...
        s = d.status()
        self.assertIs(s["paused"], False, "a corrupt file's pause was trusted")
        self.assertIsNone(s["paused_until"])
        self.assertEqual(s["counters"]["failovers"], 0)
        self.assertLess(s["counters"]["events"], events_before)
        # ... but seq still rises over the last run's.
        with d.events(backlog=100000, follow=False) as ev:
            first = ev.read_until_closed()[0]["seq"]
        self.assertGreater(first, last_seq, "seq went back after a corrupt STATE_FILE")
        # A fresh, valid file replaces it, and the next start trusts that.
        wait_until(lambda: d.read_json_file(d.state_file)["version"] == 1, 5,
                   msg="a new STATE_FILE")
        d.result("pause", duration="2h")
        until = d.status()["paused_until"]
        d.restart()
        self.assertEqual(d.status()["paused_until"], until)
        self.assertEqual(len(glob.glob(d.state_file + ".corrupt-*")), 1)
        self.assertEqual([e for e in d.status()["errors"] if e["what"] == "state-file"], [])

    def test_truncated_state_file_set_aside(self):
        self.check_set_aside(lambda good: good[:len(good) // 2])

    def test_truncated_to_nothing(self):
        self.check_set_aside(lambda good: b"")

    def test_garbage_state_file_set_aside(self):
        self.check_set_aside(lambda good: bytes(range(256)) * 3 + b"\n\0\xff{")

    def test_valid_json_wrong_shape_set_aside(self):
        # Well-formed JSON saying something impossible is corrupt too.
        self.check_set_aside(lambda good: good.replace(b'"paused": true', b'"paused": "yes"'))


if __name__ == "__main__":
    fodtest.main()
