#!/usr/bin/env python3
"""failoverctl against the real daemon, issue 14 (operator audit #6, #7,
#12, #13): unknown event types refused on both sides, permission-denied is
exit 4 and names who was seen, `status` with no daemon shows the last
STATUS_FILE (exit 3), and SOCKET_GROUP lets its members reach the socket
outside systemd (the directories the daemon creates get the group)."""

import grp
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402
from fodtest import FAILOVERCTL, wait_until  # noqa: E402

QUIET = {"PROVIDER": "none", "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}
EVENT_TYPES = ["state", "check", "standby", "sync", "hook", "notify", "control", "pause",
               "drift", "error", "daemon"]


def ctl_as(uid, gid, groups, *args, env=None):
    """failoverctl ARGS as uid:gid with the supplementary groups (needs root)."""
    argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid]
    argv.append("--groups=" + ",".join(map(str, groups)) if groups else "--clear-groups")
    cp = subprocess.run(argv + [FAILOVERCTL] + list(args), capture_output=True, cwd="/",
                        env=dict(fodtest.BASE_ENV, **(env or {})), timeout=20)
    return cp.returncode, cp.stdout.decode(errors="replace"), cp.stderr.decode(errors="replace")


class OperatorCliTest(fodtest.DaemonTestCase):

    def test_unknown_event_type(self):
        d = self.start_daemon(QUIET)
        r = d.request({"cmd": "events", "types": ["state", "stat"], "follow": False})
        self.assertError(r, "invalid-argument")
        self.assertIn('unknown event type "stat"', r["error"]["message"])
        self.assertIn(", ".join(EVENT_TYPES), r["error"]["message"])
        for types in ([], EVENT_TYPES, ["daemon"]):
            with self.subTest(types=types):
                self.assertOk(d.request({"cmd": "events", "types": types, "follow": False}))
        rc, out, err = d.ctl("events", "-T", "stat,chek", check=2)
        self.assertIn('unknown event type "stat"', err)
        d.ctl("events", "--no-follow", "-T", ",".join(EVENT_TYPES), check=0)
        # The help table the CLI prints with --protocol; plain help is the CLI's.
        rc, out, err = d.ctl("help", "--protocol", check=0)
        self.assertRegex(out, r"(?m)^force-activate +admin +force-activate \[reason")
        rc, out, err = d.ctl("help", check=0)
        self.assertIn("usage: failoverctl", out)
        d.ctl("pause", "0", check=2)
        self.assertFalse(d.status()["paused"])

    def test_permission_denied_exits_4(self):
        fodtest.require_root(self)
        d = self.start_daemon(dict(QUIET, SOCKET_GROUP="nogroup"))
        nogroup = grp.getgrnam("nogroup").gr_gid
        for cmd in (["check"], ["pause", "5m"], ["reload"], ["-j", "check"]):
            with self.subTest(cmd=cmd):
                rc, out, err = ctl_as(65534, nogroup, [], "-s", d.socket_path, *cmd)
                self.assertEqual(rc, 4, (out, err))
                text = err if "-j" not in cmd else json.loads(out)["message"]
                self.assertIn("uid 65534 gid %d" % nogroup, text)
                self.assertIn("admin is root or a member of ADMIN_GROUP (not set)", text)
        self.assertFalse(d.status()["paused"])
        # Reads work for it; check's 1 is "unhealthy" (the primary is a closed port).
        rc, out, err = ctl_as(65534, nogroup, [], "-s", d.socket_path, "status")
        self.assertEqual(rc, 0, err)
        d.ctl("check", check=1)
        # With ADMIN_GROUP set, the message names it.
        d.write_config({"ADMIN_GROUP": "users"})
        d.ctl("reload", check=0)
        rc, out, err = ctl_as(65534, nogroup, [], "-s", d.socket_path, "check")
        self.assertEqual(rc, 4, err)
        self.assertIn("admin is root or a member of ADMIN_GROUP users", err)

    def wait_status_file(self, d, state):
        def ok():
            st = d.status_file_json()
            return st if st.get("state") == state else None
        return wait_until(ok, 10, msg="STATUS_FILE with state %s" % state)

    def test_status_after_kill9(self):
        d = self.start_daemon(QUIET)
        pid = d.pid
        self.wait_status_file(d, "primary")
        d.kill9()
        rc, out, err = d.ctl("status", check=3)
        self.assertRegex(out, r"^daemon not running; last status written \S+( \S+)? ago at "
                              r"\d{4}-\d\d-\d\dT")
        self.assertIn("it did not stop cleanly", out)
        self.assertIn(d.status_file, out)
        self.assertRegex(out, r"(?m)^state +primary")
        self.assertRegex(out, r"(?m)^daemon +failoverd .*, pid %d" % pid)
        rc, out, err = d.ctl("-j", "status", check=3)
        self.assertEqual(json.loads(out)["pid"], pid)
        self.assertIn("daemon not running", err)
        # -S names the file explicitly.
        rc, out, err = d.ctl("-S", d.status_file, "status", check=3)
        self.assertRegex(out, r"(?m)^state +primary")

    def test_status_after_clean_stop(self):
        d = self.start_daemon(QUIET)
        self.wait_status_file(d, "primary")
        self.assertEqual(d.stop(), 0)
        rc, out, err = d.ctl("status", check=3)
        self.assertIn("daemon not running; last status written", out)
        self.assertRegex(out, r"(?m)^state +primary")
        # Whether the daemon marks a clean stop is its business; failoverctl
        # must say what the file says.
        st = d.status_file_json()
        if "stopped" in st:
            self.assertIn("it stopped cleanly at %s" % st["stopped"], out)
        else:
            self.assertIn("it did not stop cleanly", out)

    def test_status_file_of_an_instance(self):
        """-i NAME's STATUS_FILE is the daemon's default for NAME, in RUNSTATEDIR
        (a tmpfs over it in a private mount namespace)."""
        fodtest.require_root(self)
        if shutil.which("unshare") is None or subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "true"],
                capture_output=True).returncode != 0:
            self.skipTest("no private mount namespaces here")
        usage = subprocess.run([FAILOVERCTL, "-h"], capture_output=True, text=True).stdout
        rundir = re.search(r"socket (\S+)/NAME\.sock", usage).group(1)
        st = {"state": "standby", "pid": 31337, "written_at": "2026-11-28T06:00:05.000Z",
              "stopped": "2026-11-28T06:00:05.000Z"}
        script = ('mount -t tmpfs tmpfs "$1" && mkdir -p "$1/failoverd" && '
                  'printf %s "$2" > "$1/failoverd/web.status" && shift 2 && exec "$@"')
        cp = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             script, "sh", os.path.dirname(rundir), json.dumps(st),
                             FAILOVERCTL, "-i", "web", "status"],
                            capture_output=True, text=True, timeout=20)
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("it stopped cleanly at 2026-11-28T06:00:05.000Z", cp.stdout)
        self.assertIn("the status is from %s/web.status" % rundir, cp.stdout)
        self.assertRegex(cp.stdout, r"(?m)^state +standby")

    def group_users(self):
        try:
            return grp.getgrnam("users").gr_gid
        except KeyError:
            self.skipTest("no group named users")

    def test_socket_group_directory(self):
        fodtest.require_root(self)
        users = self.group_users()
        d = self.make_daemon(QUIET)
        run = d.path("run")
        sub = os.path.join(run, "fo")
        d.write_config({"SOCKET_GROUP": "users",
                        "SOCKET": os.path.join(sub, "fo.sock"),
                        "PID_FILE": os.path.join(sub, "fo.pid"),
                        "STATUS_FILE": os.path.join(sub, "fo.status")})
        d.start()
        for path in (run, sub):
            st = os.stat(path)
            self.assertEqual(st.st_gid, users, path)
            self.assertEqual(st.st_mode & 0o7777, 0o750, path)
        self.wait_status_file(d, "primary")
        # A member of SOCKET_GROUP reaches the socket and reads STATUS_FILE.
        rc, out, err = ctl_as(65534, 65534, [users], "-s", d.socket_path, "status")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^state +primary")
        cp = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                             "--groups=%d" % users, "cat", d.status_file], capture_output=True)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        # Anyone else is told who it is and which group would let it in.
        rc, out, err = ctl_as(65534, 65534, [], "-s", d.socket_path, "status")
        self.assertEqual(rc, 3, err)
        self.assertIn("uid 65534 gid 65534", err)
        self.assertIn("the directory %s (group users, mode 0750)" % run, err)
        self.assertIn("is this user in group users", err)
        self.assertNotIn("daemon not running", out + err)

    def test_socket_group_leaves_existing_directory(self):
        fodtest.require_root(self)
        users = self.group_users()
        d = self.make_daemon(QUIET)
        sub = d.path("mine")
        os.mkdir(sub, 0o700)
        d.write_config({"SOCKET_GROUP": "users",
                        "SOCKET": os.path.join(sub, "fo.sock")})
        d.start()
        st = os.stat(sub)
        self.assertEqual((st.st_gid, st.st_mode & 0o7777), (0, 0o700))
        self.assertEqual(os.stat(d.socket_path).st_gid, users)
        rc, out, err = ctl_as(65534, 65534, [users], "-s", d.socket_path, "status")
        self.assertEqual(rc, 3, err)
        self.assertIn("the directory %s (group root, mode 0700) lets no group through" % sub,
                      err)
        self.assertIn("chgrp SOCKET_GROUP %s; chmod 0750 %s" % (sub, sub), err)
        os.chmod(sub, 0o755)
        rc, out, err = ctl_as(65534, 65534, [], "-s", d.socket_path, "status")
        self.assertEqual(rc, 3, err)
        self.assertIn("the socket %s is group users, mode 0660" % d.socket_path, err)
        rc, out, err = ctl_as(65534, 65534, [users], "-s", d.socket_path, "status")
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
