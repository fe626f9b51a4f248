#!/usr/bin/env python3
"""failoverctl against a fake daemon.

The fake is a Unix-socket server thread in this file: it records every
request line and answers with scripted replies, so each test pins down
exactly what failoverctl sends, what it prints and how it exits, without
a real failoverd. Python 3 standard library only.

    FOD_BUILDDIR   where failoverctl is (default: the repo root)
"""

import json
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDDIR = os.path.abspath(
    os.environ.get("FOD_BUILDDIR") or os.path.join(HERE, "..", ".."))
FAILOVERCTL = os.path.join(BUILDDIR, "failoverctl")

RUN_TIMEOUT = 15  # seconds: an upper bound for any single failoverctl run

STATUS = {
    "version": "1.0.0", "pid": 4242, "uptime_s": 9000, "instance": "blue",
    "state": "standby", "state_since": "2026-11-28T04:00:00.000Z",
    "reason": "primary down: HTTP 503",
    "paused": True, "paused_until": None, "forced": True, "degraded": True,
    "errors": [{"time": "2026-11-28T04:01:00.000Z", "what": "fly-api",
                "error": "401 Unauthorized: check FLY_API_TOKEN"}],
    "local": {"url": "http://localhost:8100/status", "healthy": False,
              "consecutive_failures": 7, "consecutive_successes": 0,
              "last_check": "2026-11-28T06:00:00.000Z", "last_status": 503,
              "last_latency_ms": 12.5, "last_error": "HTTP 503 Service Unavailable",
              "checks_total": 100, "checks_failed": 9},
    "standby": {"provider": "fly", "app": "neolight-failover", "active": True,
                "active_since": "2026-11-28T04:00:30.000Z",
                "machines": [{"id": "e784079b449483", "state": "started",
                              "region": "iad"}],
                "healthy": True, "last_error": None,
                "active_seconds_total": 7200, "estimated_cost_usd": 0.0137},
    "sync": {"enabled": True,
             "last_push": {"time": "2026-11-28T03:59:00.000Z", "ok": True,
                           "duration_ms": 812},
             "last_pull": None},
    "notify": {"telegram": True, "pending": 2},
    "counters": {"failovers": 3, "failbacks": 2, "events": 77,
                 "last_failover": "2026-11-28T04:00:00.000Z",
                 "last_failback": None},
}

EVENTS = [
    {"seq": 10, "time": "2026-11-28T04:00:00.000Z", "type": "state",
     "from": "primary", "to": "failing-over", "reason": "3 failed checks"},
    {"seq": 11, "time": "2026-11-28T04:00:01.000Z", "type": "check",
     "healthy": False, "status": 503, "latency_ms": 4.5, "error": "HTTP 503",
     "failures": 3, "successes": 0},
    {"seq": 12, "time": "2026-11-28T04:00:02.000Z", "type": "standby",
     "action": "activate", "phase": "done", "detail": "1 machine started"},
    {"seq": 13, "time": "2026-11-28T04:00:03.000Z", "type": "sync",
     "direction": "push", "ok": False, "exit_code": 1, "signal": None,
     "timed_out": False, "duration_ms": 900, "error": "rclone failed",
     "output": "x"},
    {"seq": 14, "time": "2026-11-28T04:00:04.000Z", "type": "hook",
     "hook": "fence", "ok": True, "exit_code": 0, "signal": None,
     "timed_out": False, "duration_ms": 20, "output": ""},
    {"seq": 15, "time": "2026-11-28T04:00:05.000Z", "type": "notify",
     "channel": "telegram", "ok": True, "attempts": 2, "error": None},
    {"seq": 16, "time": "2026-11-28T04:00:06.000Z", "type": "control",
     "cmd": "pause", "ok": False, "uid": 1000, "pid": 77},
    {"seq": 17, "time": "2026-11-28T04:00:07.000Z", "type": "pause",
     "paused": True, "paused_until": "2026-11-28T05:00:07.000Z"},
    {"seq": 18, "time": "2026-11-28T04:00:08.000Z", "type": "drift",
     "detail": "machine e784 running while primary"},
    {"seq": 19, "time": "2026-11-28T04:00:09.000Z", "type": "error",
     "what": "fly-api", "error": "401 Unauthorized"},
    {"seq": 20, "time": "2026-11-28T04:00:10.000Z", "type": "daemon",
     "what": "reload", "ok": True, "error": None, "version": "1.0.0"},
    {"seq": 21, "time": "2026-11-28T04:00:11.000Z", "type": "brand-new",
     "colour": "teal"},
]


def line(obj):
    return (json.dumps(obj) + "\n").encode()


def ok(result, rid=1):
    return line({"ok": True, "id": rid, "result": result})


def err(code, message, rid=1):
    return line({"ok": False, "id": rid,
                 "error": {"code": code, "message": message}})


class FakeDaemon:
    """A Unix-socket server that records requests and plays a script.

    respond(request_dict, raw_line) returns what to send back: bytes, a
    list of byte chunks (sent as separate writes with a short gap, to split
    a reply), or None to send nothing and keep the connection open until
    the client goes away. After the reply the connection is closed unless
    keep_open is set."""

    def __init__(self, path, respond, keep_open=False):
        self.path = path
        self.respond = respond
        self.keep_open = keep_open
        self.requests = []
        self.raw = []
        self.errors = []
        self.lock = threading.Lock()
        self.stopping = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,),
                             daemon=True).start()

    def _read_line(self, conn):
        buf = b""
        conn.settimeout(RUN_TIMEOUT)
        while b"\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        return buf.split(b"\n", 1)[0]

    def _handle(self, conn):
        try:
            raw = self._read_line(conn)
            if raw is None:
                return
            req = json.loads(raw)
            with self.lock:
                self.raw.append(raw)
                self.requests.append(req)
            out = self.respond(req, raw)
            if out is None:
                # Never answer: wait for the client to give up.
                conn.settimeout(RUN_TIMEOUT)
                while not self.stopping and conn.recv(4096):
                    pass
                return
            if isinstance(out, bytes):
                out = [out]
            for i, chunk in enumerate(out):
                if i > 0:
                    time.sleep(0.02)  # make the split visible to the client
                conn.sendall(chunk)
            if self.keep_open:
                conn.settimeout(RUN_TIMEOUT)
                while not self.stopping and conn.recv(4096):
                    pass
        except (OSError, ValueError) as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=5)


@unittest.skipUnless(os.access(FAILOVERCTL, os.X_OK),
                     "failoverctl is not built in " + BUILDDIR)
class ClientTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fodctl-")
        self.addCleanup(self._rmdir)
        self.sock = os.path.join(self.dir, "fake.sock")

    def _rmdir(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def fake(self, respond, path=None, keep_open=False):
        f = FakeDaemon(path or self.sock, respond, keep_open=keep_open)
        self.addCleanup(f.close)
        return f

    def ctl(self, *args, env=None, sock=True):
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        e.update(env or {})
        argv = [FAILOVERCTL] + (["-s", self.sock] if sock else []) + list(args)
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           env=e, timeout=RUN_TIMEOUT)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def assertExit(self, want, res):
        rc, out, errout = res
        self.assertEqual(rc, want, "exit %d, want %d\nstdout: %s\nstderr: %s"
                         % (rc, want, out, errout))
        return res

    # -- requests ---------------------------------------------------------

    def test_request_json_for_every_command(self):
        cases = [
            (["status"], {"cmd": "status"}),
            (["check"], {"cmd": "check"}),
            (["selftest"], {"cmd": "selftest"}),
            (["selftest", "--telegram"], {"cmd": "selftest", "telegram": True}),
            (["force-activate"], {"cmd": "force-activate"}),
            (["force-activate", "-w", "-r", "maintenance window"],
             {"cmd": "force-activate", "wait": True, "reason": "maintenance window"}),
            (["force-deactivate"], {"cmd": "force-deactivate"}),
            (["force-deactivate", "-w", "-f", "-r", "back"],
             {"cmd": "force-deactivate", "wait": True, "force": True, "reason": "back"}),
            (["force-deactivate", "-r", "x\"y\\z"],
             {"cmd": "force-deactivate", "reason": "x\"y\\z"}),
            (["pause"], {"cmd": "pause"}),
            (["pause", "5m"], {"cmd": "pause", "duration": "5m"}),
            (["pause", "1.5"], {"cmd": "pause", "duration": "1.5"}),
            (["pause", "250ms"], {"cmd": "pause", "duration": "250ms"}),
            (["resume"], {"cmd": "resume"}),
            (["sync", "push"], {"cmd": "sync", "direction": "push"}),
            (["sync", "pull", "-f"], {"cmd": "sync", "direction": "pull", "force": True}),
            (["sync", "-f", "push"], {"cmd": "sync", "direction": "push", "force": True}),
            (["reload"], {"cmd": "reload"}),
            (["ping"], {"cmd": "ping"}),
            (["help", "--protocol"], {"cmd": "help"}),
        ]
        f = self.fake(lambda req, raw: ok({}))
        for argv, want in cases:
            with self.subTest(argv=argv):
                n = len(f.requests)
                self.ctl(*argv)
                self.assertEqual(len(f.requests), n + 1, "no request for %r" % argv)
                got = dict(f.requests[-1])
                self.assertEqual(got.pop("id", None), 1)
                self.assertEqual(got, want)
                raw = f.raw[-1]
                self.assertNotIn(b"\n", raw)
                self.assertTrue(raw.startswith(b"{") and raw.endswith(b"}"), raw)

    def test_request_json_for_events(self):
        cases = [
            (["events", "--no-follow"],
             {"cmd": "events", "backlog": 0, "follow": False}),
            (["events", "-n", "5", "-T", "state,check", "--no-follow"],
             {"cmd": "events", "backlog": 5, "types": ["state", "check"],
              "follow": False}),
            (["events", "-T", "state", "-T", "sync", "--no-follow"],
             {"cmd": "events", "backlog": 0, "types": ["state", "sync"],
              "follow": False}),
            (["events"], {"cmd": "events", "backlog": 0, "follow": True}),
        ]
        f = self.fake(lambda req, raw: ok({"subscribed": True, "last_seq": 3}))
        for argv, want in cases:
            with self.subTest(argv=argv):
                n = len(f.requests)
                self.ctl(*argv)
                self.assertEqual(len(f.requests), n + 1)
                got = dict(f.requests[-1])
                self.assertEqual(got.pop("id", None), 1)
                self.assertEqual(got, want)

    # -- output -----------------------------------------------------------

    def test_json_output_is_one_line_per_reply(self):
        self.fake(lambda req, raw: ok(STATUS if req["cmd"] == "status" else
                                      {"version": "1.0.0", "pid": 9, "protocol": 1}))
        for cmd, want in (("status", STATUS),
                          ("ping", {"version": "1.0.0", "pid": 9, "protocol": 1})):
            with self.subTest(cmd=cmd):
                rc, out, _ = self.assertExit(0, self.ctl("-j", cmd))
                self.assertTrue(out.endswith("\n"))
                self.assertEqual(out.count("\n"), 1, out)
                self.assertEqual(json.loads(out), want)

    def test_json_error_reply(self):
        self.fake(lambda req, raw: err("conflict", "failing back right now"))
        rc, out, _ = self.assertExit(1, self.ctl("-j", "force-activate"))
        self.assertEqual(out.count("\n"), 1, out)
        self.assertEqual(json.loads(out),
                         {"code": "conflict", "message": "failing back right now"})

    def test_error_reply_human(self):
        self.fake(lambda req, raw: err("conflict", "failing back right now"))
        rc, out, errout = self.assertExit(1, self.ctl("force-activate"))
        self.assertIn("failoverctl: conflict: failing back right now", errout)

    def test_permission_denied_exits_4(self):
        # 4 only for permission-denied, so check's 1 means "unhealthy" alone.
        self.fake(lambda req, raw: err("permission-denied", "pause needs admin access"))
        rc, out, errout = self.assertExit(4, self.ctl("pause"))
        self.assertIn("failoverctl: permission-denied: pause needs admin access", errout)
        rc, out, errout = self.assertExit(4, self.ctl("check"))
        rc, out, errout = self.assertExit(4, self.ctl("-j", "check"))
        self.assertEqual(json.loads(out)["code"], "permission-denied")

    def test_status_human(self):
        self.fake(lambda req, raw: ok(STATUS))
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        for fact in ("standby", "paused", "forced", "degraded",
                     "primary down: HTTP 503", "unhealthy", "503",
                     "HTTP 503 Service Unavailable", "neolight-failover",
                     "e784079b449483", "started", "iad", "fly",
                     "2026-11-28T03:59:00.000Z", "401 Unauthorized: check FLY_API_TOKEN"):
            self.assertIn(fact, out)
        self.assertRegex(out, r"\b1[23](\.\d)? ?ms")  # the last latency
        self.assertRegex(out, r"until\b.*\bresume")  # paused without an expiry
        # "for 2h 13m"-style: how long the state has lasted, in words.
        self.assertRegex(out, r"standby.* for \d+[dhms]")

    def test_status_human_paused_until(self):
        st = dict(STATUS, paused_until="2099-01-01T00:00:00.000Z")
        self.fake(lambda req, raw: ok(st))
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        self.assertIn("2099-01-01T00:00:00.000Z", out)

    def test_status_never_crashes_on_odd_values(self):
        odd = [
            {},
            {"state": 5, "state_since": [], "paused": "yes", "forced": None,
             "local": "x", "standby": 7, "sync": [], "errors": {}, "counters": "c",
             "notify": 1.5, "pid": "p", "uptime_s": -1},
            {"state": "primary", "local": {"healthy": "maybe", "last_status": "x",
                                          "last_latency_ms": "fast",
                                          "consecutive_failures": None},
             "standby": {"machines": [None, 5, {"id": 3, "state": []}],
                         "active": 1, "estimated_cost_usd": "a lot"},
             "sync": {"enabled": True, "last_push": "yesterday", "last_pull": 5},
             "errors": [None, "x", {"time": 1}],
             "state_since": "not a time"},
            {"state": "primary\x1b[2J", "reason": "\x07bell"},
        ]
        for st in odd:
            with self.subTest(status=st):
                f = self.fake(lambda req, raw, st=st: ok(st),
                              path=os.path.join(self.dir, "odd.sock"))
                rc, out, errout = self.ctl("-s", f.path, "status", sock=False)
                self.assertEqual(rc, 0, errout)
                self.assertNotIn("\x1b", out)
                self.assertNotIn("\x07", out)
                f.close()
                os.unlink(f.path)
        # A result that is not an object at all.
        self.fake(lambda req, raw: line({"ok": True, "id": 1, "result": [1, 2]}))
        rc, _, errout = self.ctl("status")
        self.assertIn(rc, (0, 1), errout)

    def test_check(self):
        healthy = {"healthy": True, "status": 200, "latency_ms": 3.25, "error": None}
        sick = {"healthy": False, "status": 503, "latency_ms": 8.0,
                "error": "HTTP 503 Service Unavailable"}
        reply = [healthy]
        self.fake(lambda req, raw: ok(reply[0]))
        rc, out, _ = self.assertExit(0, self.ctl("check"))
        self.assertIn("healthy", out)
        self.assertIn("200", out)
        reply[0] = sick
        rc, out, _ = self.assertExit(1, self.ctl("check"))
        self.assertIn("unhealthy", out)
        self.assertIn("503", out)
        self.assertIn("HTTP 503 Service Unavailable", out)
        rc, out, _ = self.assertExit(1, self.ctl("-j", "check"))
        self.assertEqual(json.loads(out), sick)

    def test_selftest(self):
        checks = [{"checks": [{"name": "fly-token", "ok": True, "detail": "2 machines"},
                              {"name": "rclone", "ok": True, "detail": "listed"}]}]
        self.fake(lambda req, raw: ok(checks[0]))
        rc, out, _ = self.assertExit(0, self.ctl("selftest"))
        self.assertIn("fly-token", out)
        self.assertIn("2 machines", out)
        checks[0] = {"checks": [{"name": "fly-token", "ok": True, "detail": "ok"},
                                {"name": "rclone", "ok": False,
                                 "detail": "directory not found"}]}
        rc, out, _ = self.assertExit(1, self.ctl("selftest"))
        self.assertIn("directory not found", out)
        self.assertExit(1, self.ctl("-j", "selftest"))

    def test_ping_help_pause(self):
        def respond(req, raw):
            if req["cmd"] == "ping":
                return ok({"version": "1.2.3", "pid": 4321, "protocol": 1})
            if req["cmd"] == "help":
                return ok({"commands": [
                    {"cmd": "ping", "level": "read", "usage": "ping"},
                    {"cmd": "force-activate", "level": "admin",
                     "usage": "force-activate [reason: string] [wait: bool]"}]})
            if req["cmd"] == "pause":
                if "duration" in req:
                    return ok({"paused": True,
                               "paused_until": "2099-01-01T00:00:00.000Z"})
                return ok({"paused": True, "paused_until": None})
            if req["cmd"] == "resume":
                return ok({"paused": False})
            return ok({"state": "standby"})
        self.fake(respond)
        rc, out, _ = self.assertExit(0, self.ctl("ping"))
        for fact in ("1.2.3", "4321", "1"):
            self.assertIn(fact, out)
        rc, out, _ = self.assertExit(0, self.ctl("help", "--protocol"))
        self.assertIn("force-activate [reason: string] [wait: bool]", out)
        self.assertIn("admin", out)
        rc, out, _ = self.assertExit(0, self.ctl("pause", "5m"))
        self.assertIn("2099-01-01T00:00:00.000Z", out)
        rc, out, _ = self.assertExit(0, self.ctl("pause"))
        self.assertIn("resume", out)
        self.assertExit(0, self.ctl("resume"))
        rc, out, _ = self.assertExit(0, self.ctl("force-activate", "-w"))
        self.assertIn("standby", out)

    # -- issue 14: CLI corrections, reload, status without a daemon --------

    def test_unknown_event_type_lists_the_types(self):
        f = self.fake(lambda req, raw: ok({"subscribed": True, "last_seq": 0}))
        rc, out, errout = self.assertExit(2, self.ctl("events", "-T", "stat,chek"))
        self.assertIn('unknown event type "stat"', errout)
        for t in ("state", "check", "standby", "sync", "hook", "notify", "control",
                  "pause", "drift", "error", "daemon"):
            self.assertIn(t, errout.split("(the types:")[1])
        self.assertEqual(f.requests, [])
        # Every listed type is accepted (and sent as is).
        types = errout.split("(the types: ")[1].split(")")[0]
        self.assertExit(0, self.ctl("events", "--no-follow", "-T", types.replace(" ", "")))
        self.assertEqual(f.requests[-1]["types"], types.split(", "))

    def test_help_is_the_cli_help(self):
        # No daemon needed: the socket does not exist.
        rc, out, errout = self.assertExit(0, self.ctl("help"))
        self.assertIn("usage: failoverctl", out)
        self.assertIn("4 the daemon answered permission-denied", out)
        self.assertIn("help [--protocol]", out)
        self.assertEqual(errout, "")
        rc, out2, _ = self.assertExit(0, self.ctl("-h"))
        self.assertEqual(out, out2)

    def test_pause_zero_is_a_usage_error(self):
        f = self.fake(lambda req, raw: ok({"paused": True, "paused_until": None}))
        rc, out, errout = self.assertExit(2, self.ctl("pause", "0"))
        self.assertIn('pause: bad DURATION "0"', errout)
        self.assertIn("until resume", errout)
        self.assertExit(0, self.ctl("pause", "1ms"))
        self.assertEqual([r.get("duration") for r in f.requests], ["1ms"])

    def test_reload_restart_needed_exits_1(self):
        answers = {"reply": {"reloaded": True, "restart_needed": ["PROVIDER", "SOCKET"]}}
        self.fake(lambda req, raw: ok(answers["reply"]))
        rc, out, errout = self.assertExit(1, self.ctl("reload"))
        self.assertIn("reloaded, but these keys need a restart: PROVIDER, SOCKET", out)
        rc, out, errout = self.assertExit(1, self.ctl("-j", "reload"))
        self.assertEqual(json.loads(out), answers["reply"])
        answers["reply"] = {"reloaded": True, "restart_needed": []}
        rc, out, errout = self.assertExit(0, self.ctl("reload"))
        self.assertEqual(out, "reloaded\n")
        self.assertExit(0, self.ctl("-j", "reload"))
        answers["reply"] = {"reloaded": True}  # a daemon from before restart_needed
        rc, out, errout = self.assertExit(0, self.ctl("reload"))
        self.assertEqual(out, "reloaded\n")
        answers["reply"] = {"reloaded": True, "restart_needed": "PROVIDER"}  # odd: not a list
        self.assertExit(0, self.ctl("reload"))

    def test_status_new_fields(self):
        st = dict(STATUS)
        st.update({
            "cause": {"what": "force-activate", "reason": "maintenance window", "uid": 1000},
            "config_file": "/etc/failoverd/blue.conf",
            "startup_grace_until": "2099-01-01T00:00:00.000Z",
            "restart_needed": ["PROVIDER", "STATE_FILE"],
        })
        st["errors"] = [dict(STATUS["errors"][0], cleared="2026-11-28T04:05:00.000Z")]
        self.fake(lambda req, raw: ok(st))
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        self.assertRegex(out, r"(?m)^cause +force-activate by uid 1000: maintenance window$")
        self.assertRegex(out, r"(?m)^config +/etc/failoverd/blue\.conf$")
        self.assertRegex(out, r"(?m)^grace +no automatic failover until "
                              r"2099-01-01T00:00:00\.000Z")
        self.assertRegex(out, r"(?m)^restart .*PROVIDER, STATE_FILE$")
        self.assertIn("cleared 2026-11-28T04:05:00.000Z", out)
        # A threshold cause with an error and a key no client knows yet.
        st["cause"] = {"what": "threshold", "error": "connection refused", "failures": 3}
        st["config_file"] = None
        st["startup_grace_until"] = None
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        self.assertRegex(out, r"(?m)^cause +threshold: connection refused failures=3$")
        self.assertRegex(out, r"(?m)^config +none read: built-in defaults$")
        self.assertNotIn("grace", out)
        st["cause"] = {"what": "force-deactivate", "reason": "back", "error": "e", "uid": "x"}
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        self.assertRegex(out, r"(?m)^cause +force-deactivate: back error=e uid=x$")
        # Odd shapes never break the output.
        for cause in (None, "a string", 7, [], {}, {"what": 5, "uid": "x"}):
            with self.subTest(cause=cause):
                st["cause"] = cause
                rc, out, _ = self.assertExit(0, self.ctl("status"))
                self.assertIn("daemon    failoverd 1.0.0", out)
        # Absent (an older daemon): no line for any of them.
        for k in ("cause", "config_file", "startup_grace_until", "restart_needed"):
            st.pop(k)
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        for label in ("cause", "config", "grace", "restart"):
            self.assertNotRegex(out, r"(?m)^%s " % label)

    def test_status_one_check(self):
        st = json.loads(json.dumps(STATUS))
        st["local"].update(checks_total=1, checks_failed=1)
        self.fake(lambda req, raw: ok(st))
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        self.assertIn("; 1 check, 1 failed", out)

    def test_status_local_time_with_tz(self):
        self.fake(lambda req, raw: ok(STATUS))
        # A POSIX TZ needs no tzdata: 3 hours ahead of UTC, called XYZ.
        rc, out, _ = self.assertExit(0, self.ctl("status", env={"TZ": "XYZ-3"}))
        self.assertIn("since 2026-11-28T04:00:00.000Z, 2026-11-28 07:00:00 XYZ)", out)
        self.assertIn("2026-11-28T06:00:00.000Z (2026-11-28 09:00:00 XYZ, ", out)
        self.assertIn("2026-11-28T04:01:00.000Z (2026-11-28 07:01:00 XYZ) fly-api", out)
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        self.assertNotIn("XYZ", out)
        self.assertNotIn("07:00:00", out)

    def write_status_file(self, path, **extra):
        st = dict(STATUS, written_at="2026-11-28T06:00:05.000Z")
        st.update(extra)
        with open(path, "w") as f:
            json.dump(st, f)
        return st

    def test_status_without_daemon_shows_status_file(self):
        # The socket's path with .status for .sock: the daemon's defaults.
        st = self.write_status_file(os.path.join(self.dir, "fake.status"))
        rc, out, errout = self.assertExit(3, self.ctl("status"))
        self.assertRegex(out, r"^daemon not running; last status written \S+( \S+)? ago at "
                              r"2026-11-28T06:00:05\.000Z\n")
        self.assertIn("did not stop cleanly", out)
        self.assertIn("cannot connect to %s" % self.sock, out)
        self.assertIn(os.path.join(self.dir, "fake.status"), out)
        self.assertIn("neolight-failover", out)  # the summary follows
        self.assertRegex(out, r"(?m)^state +standby for 2h 0m ")  # as of written_at
        # -j: stdout is the status object alone, the note on stderr.
        rc, out, errout = self.assertExit(3, self.ctl("-j", "status"))
        self.assertEqual(json.loads(out), st)
        self.assertIn("failoverctl: daemon not running; last status written", errout)
        # Stopped cleanly.
        self.write_status_file(os.path.join(self.dir, "fake.status"),
                               stopped="2026-11-28T06:00:05.000Z")
        rc, out, errout = self.assertExit(3, self.ctl("status"))
        self.assertIn("it stopped cleanly at 2026-11-28T06:00:05.000Z", out)
        self.assertNotIn("did not stop cleanly", out)
        # Only status falls back; other commands just cannot connect.
        rc, out, errout = self.assertExit(3, self.ctl("ping"))
        self.assertEqual(out, "")
        # A refused socket (a daemon that died) is the same.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock)
        s.close()
        rc, out, errout = self.assertExit(3, self.ctl("status"))
        self.assertIn("Connection refused", out)
        self.assertIn("stopped cleanly", out)

    def test_status_file_choice(self):
        other = os.path.join(self.dir, "other.json")
        self.write_status_file(other, state="failing-back")
        self.write_status_file(os.path.join(self.dir, "fake.status"), state="primary")
        envf = os.path.join(self.dir, "env.json")
        self.write_status_file(envf, state="failing-over")
        # -S wins over everything.
        rc, out, _ = self.assertExit(3, self.ctl("-S", other, "status",
                                                 env={"FAILOVERD_STATUS_FILE": envf}))
        self.assertRegex(out, r"(?m)^state +failing-back")
        # -s chose the socket: the file beside it, not $FAILOVERD_STATUS_FILE.
        rc, out, _ = self.assertExit(3, self.ctl("status", env={"FAILOVERD_STATUS_FILE": envf}))
        self.assertRegex(out, r"(?m)^state +primary")
        # $FAILOVERD_SOCKET: $FAILOVERD_STATUS_FILE first, then the file beside it.
        env = {"FAILOVERD_SOCKET": self.sock}
        rc, out, _ = self.assertExit(3, self.ctl("status", sock=False,
                                                 env=dict(env, FAILOVERD_STATUS_FILE=envf)))
        self.assertRegex(out, r"(?m)^state +failing-over")
        rc, out, _ = self.assertExit(3, self.ctl("status", sock=False, env=env))
        self.assertRegex(out, r"(?m)^state +primary")
        # No file, an empty one, garbage: exit 3 with the reason.
        for text in (None, "", "not json", "[1]"):
            with self.subTest(text=text):
                if text is None:
                    os.unlink(other)
                else:
                    with open(other, "w") as f:
                        f.write(text)
                rc, out, errout = self.assertExit(3, self.ctl("-S", other, "status"))
                self.assertEqual(out, "")
                self.assertIn("cannot connect to %s" % self.sock, errout)
                self.assertIn(other, errout)
        # A socket path not ending in .sock has no STATUS_FILE of its own.
        rc, out, errout = self.assertExit(3, self.ctl("-s", os.path.join(self.dir, "x"),
                                                      "status", sock=False))
        self.assertEqual(out, "")
        self.assertIn("(is failoverd running?)", errout)

    # -- exit statuses ----------------------------------------------------

    def test_usage_errors_exit_2_and_send_nothing(self):
        f = self.fake(lambda req, raw: ok({}))
        bad = [
            [], ["frobnicate"], ["pause", "5x"], ["pause", "-1"], ["pause", "1", "2"],
            ["events", "-n", "-1"], ["events", "-n", "lots"], ["events", "-T", ""],
            ["events", "-T", "state,"], ["sync"], ["sync", "sideways"],
            ["sync", "push", "pull"], ["status", "extra"], ["force-activate", "-r"],
            ["force-activate", "-x"], ["force-activate", "oops"],
            ["selftest", "--telegraph"], ["-t", "soon", "ping"], ["-Z", "ping"],
            ["pause", "0"], ["pause", "0s"], ["pause", "0ms"], ["events", "-T", "stat"],
            ["events", "-T", "state,chek"], ["events", "-T", "state", "-T", "STATE"],
            ["help", "extra"], ["help", "--protocl"],
        ]
        for argv in bad:
            with self.subTest(argv=argv):
                rc, out, errout = self.assertExit(2, self.ctl(*argv))
                self.assertIn("failoverctl", errout)
        for argv in (["-i", "../etc", "ping"], ["-i", ".hidden", "ping"],
                     ["-i", "a" * 65, "ping"], ["-i", "", "ping"]):
            with self.subTest(argv=argv):
                self.assertExit(2, self.ctl(*argv, sock=False))
        self.assertEqual(f.requests, [])

    def test_help_and_version(self):
        rc, out, _ = self.assertExit(0, self.ctl("-h", sock=False))
        self.assertIn("usage: failoverctl", out)
        for word in ("force-deactivate", "events", "sync", "-t SECONDS", "Exit status"):
            self.assertIn(word, out)
        rc, out, _ = self.assertExit(0, self.ctl("-V", sock=False))
        self.assertRegex(out, r"^failoverctl \d+\.\d+\S*\n$")

    def test_missing_socket_exit_3(self):
        rc, out, errout = self.assertExit(3, self.ctl("status"))
        self.assertIn("failoverctl: cannot connect to %s: No such file or directory "
                      "(is failoverd running?)" % self.sock, errout)

    def test_refused_socket_exit_3(self):
        # A socket file nobody listens on (a daemon that died).
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock)
        s.close()
        rc, out, errout = self.assertExit(3, self.ctl("ping"))
        self.assertIn(self.sock, errout)

    def test_no_answer_times_out_exit_3(self):
        self.fake(lambda req, raw: None)
        start = time.monotonic()
        rc, out, errout = self.assertExit(3, self.ctl("-t", "1", "status"))
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 5, "-t 1 took %.1fs" % elapsed)
        self.assertIn(self.sock, errout)

    def test_full_listen_queue_times_out_exit_3(self):
        # A daemon that no longer accepts: connect itself would wait.
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(self.sock)
        srv.listen(0)
        fillers = []
        for _ in range(8):  # fill the queue until a connect would block
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            self.addCleanup(c.close)
            try:
                c.connect(self.sock)
            except (BlockingIOError, InterruptedError):
                break
            fillers.append(c)
        start = time.monotonic()
        rc, out, errout = self.assertExit(3, self.ctl("-t", "1", "ping"))
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn(self.sock, errout)

    def test_short_timeout_with_fractional_seconds(self):
        self.fake(lambda req, raw: None)
        start = time.monotonic()
        self.assertExit(3, self.ctl("-t", "0.3", "ping"))
        self.assertLess(time.monotonic() - start, 3)

    def test_closed_without_reply_exit_3(self):
        self.fake(lambda req, raw: b"")
        rc, out, errout = self.assertExit(3, self.ctl("status"))
        self.assertIn(self.sock, errout)

    def test_default_timeout_and_unbounded_commands(self):
        # Against a daemon that never answers: plain commands give up after
        # the default 10 s; -w, sync and events wait for as long as it takes.
        self.fake(lambda req, raw: None)
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        start = time.monotonic()
        procs = {}
        for argv in (["status"], ["force-activate", "-w"], ["force-deactivate", "-w"],
                     ["sync", "push"], ["events"]):
            procs[" ".join(argv)] = subprocess.Popen(
                [FAILOVERCTL, "-s", self.sock] + argv, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE if argv == ["status"] else subprocess.DEVNULL,
                env=e)
        for p in procs.values():
            self.addCleanup(p.wait, RUN_TIMEOUT)
            self.addCleanup(p.kill)
        status = procs.pop("status")
        _, errout = status.communicate(timeout=RUN_TIMEOUT)
        elapsed = time.monotonic() - start
        self.assertEqual(status.returncode, 3)
        self.assertIn("no reply from " + self.sock, errout.decode())
        self.assertGreaterEqual(elapsed, 9.5)
        self.assertLess(elapsed, 14)
        for name, p in procs.items():
            self.assertIsNone(p.poll(), "%s gave up after %.1fs" % (name, elapsed))

    def test_explicit_timeout_bounds_wait(self):
        self.fake(lambda req, raw: None)
        start = time.monotonic()
        self.assertExit(3, self.ctl("-t", "0.5", "force-activate", "-w"))
        self.assertExit(3, self.ctl("-t", "0.5", "events"))
        self.assertLess(time.monotonic() - start, 5)

    # -- socket selection -------------------------------------------------

    def test_socket_precedence(self):
        env_sock = os.path.join(self.dir, "env.sock")
        fs = self.fake(lambda req, raw: ok({"version": "s", "pid": 1, "protocol": 1}))
        fe = self.fake(lambda req, raw: ok({"version": "e", "pid": 2, "protocol": 1}),
                       path=env_sock)
        env = {"FAILOVERD_SOCKET": env_sock}
        name = "fodctl-test-%d" % os.getpid()

        # -s beats -i and the environment.
        self.assertExit(0, self.ctl("-i", name, "ping", env=env))
        self.assertEqual((len(fs.requests), len(fe.requests)), (1, 0))
        # The environment when neither -s nor -i is given.
        rc, out, _ = self.assertExit(0, self.ctl("-j", "ping", env=env, sock=False))
        self.assertEqual(json.loads(out)["version"], "e")
        self.assertEqual((len(fs.requests), len(fe.requests)), (1, 1))
        # -i beats the environment: its own socket, which does not exist.
        rc, out, errout = self.assertExit(
            3, self.ctl("-i", name, "ping", env=env, sock=False))
        self.assertIn("/failoverd/%s.sock" % name, errout)
        self.assertEqual((len(fs.requests), len(fe.requests)), (1, 1))
        # An empty $FAILOVERD_SOCKET is no socket: the default applies.
        rc, out, errout = self.ctl("ping", env={"FAILOVERD_SOCKET": ""}, sock=False)
        if rc == 3:
            self.assertIn("/failoverd/failoverd.sock", errout)

    def test_default_socket(self):
        rc, out, errout = self.ctl("ping", sock=False)
        if rc != 3:
            self.skipTest("a daemon answers on the default socket")
        self.assertIn("/failoverd/failoverd.sock", errout)

    # -- framing ----------------------------------------------------------

    def test_reply_split_across_writes(self):
        whole = ok(STATUS)
        chunks = [whole[:1], whole[1:40], whole[40:41], whole[41:-1], whole[-1:]]
        self.fake(lambda req, raw: chunks)
        rc, out, _ = self.assertExit(0, self.ctl("-j", "status"))
        self.assertEqual(json.loads(out), STATUS)

    def test_empty_lines_before_reply_are_ignored(self):
        self.fake(lambda req, raw: [b"\n", b"\r\n", ok({"version": "1", "pid": 1,
                                                         "protocol": 1})])
        rc, out, _ = self.assertExit(0, self.ctl("-j", "ping"))
        self.assertEqual(json.loads(out)["pid"], 1)

    def test_huge_reply_line(self):
        big = dict(STATUS, reason="r" * (3 * 1024 * 1024))
        self.fake(lambda req, raw: ok(big))
        rc, out, _ = self.assertExit(0, self.ctl("-j", "status"))
        self.assertEqual(out.count("\n"), 1)
        self.assertEqual(len(json.loads(out)["reason"]), 3 * 1024 * 1024)
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        self.assertIn("standby", out)

    def test_garbage_reply_is_an_error(self):
        self.fake(lambda req, raw: b"this is not json\n")
        rc, out, errout = self.ctl("status")
        self.assertIn(rc, (1, 3), errout)
        self.assertTrue(errout.startswith("failoverctl: "), errout)

    def test_reply_with_another_id_is_refused(self):
        self.fake(lambda req, raw: line({"ok": True, "id": 2, "result": {}}))
        rc, out, errout = self.ctl("-j", "ping")
        self.assertIn(rc, (1, 3), errout)
        self.assertEqual(out, "")

    def test_last_reply_line_without_newline(self):
        self.fake(lambda req, raw: ok({"version": "1", "pid": 7, "protocol": 1})[:-1])
        rc, out, _ = self.assertExit(0, self.ctl("-j", "ping"))
        self.assertEqual(json.loads(out)["pid"], 7)

    # -- events -----------------------------------------------------------

    def events_fake(self, events, overflow=False):
        def respond(req, raw):
            out = [ok({"subscribed": True, "last_seq": 21})]
            out += [line({"event": e}) for e in events]
            if overflow:
                out.append(line({"event": {"type": "overflow"}}))
            return out
        return self.fake(respond)

    def test_events_human(self):
        self.events_fake(EVENTS)
        rc, out, _ = self.assertExit(0, self.ctl("events", "-n", "12", "--no-follow"))
        lines = out.splitlines()
        self.assertEqual(len(lines), len(EVENTS), out)
        self.assertEqual(lines[0], "2026-11-28T04:00:00.000Z state primary -> "
                                   "failing-over (3 failed checks)")
        for ln, ev in zip(lines, EVENTS):
            self.assertTrue(ln.startswith(ev["time"] + " " + ev["type"]), ln)
        self.assertIn("503", lines[1])
        self.assertIn("activate", lines[2])
        self.assertIn("rclone failed", lines[3])
        self.assertIn("fence", lines[4])
        self.assertIn("telegram", lines[5])
        self.assertIn("pause", lines[6])
        self.assertIn("2026-11-28T05:00:07.000Z", lines[7])
        self.assertIn("machine e784 running while primary", lines[8])
        self.assertIn("401 Unauthorized", lines[9])
        self.assertIn("reload", lines[10])
        self.assertIn("teal", lines[11])  # a type this client does not know

    # -- contract §9: several monitors (COORDINATOR=etcd) ------------------

    COORD = {"coordinator": "etcd", "ok": True, "node": "m2", "role": "follower",
             "leader": "m1", "epoch": 4711, "lease_ttl_s": 6.2,
             "monitors": [
                 {"node": "m1", "healthy": False, "failures": 4, "successes": 0,
                  "at": "2026-11-28T06:00:01.000Z", "state_dir": False},
                 {"node": "m2", "healthy": True, "failures": 0, "successes": 9,
                  "at": "2026-11-28T06:00:02.000Z", "state_dir": True},
                 {"node": "m3", "healthy": None, "failures": 0, "successes": 0,
                  "at": None, "state_dir": False}],
             "held_by": ["m2"], "error": None}

    def test_status_coordination(self):
        self.fake(lambda req, raw: ok(dict(STATUS, coordination=self.COORD)))
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        lines = out.splitlines()
        pair = [i for i, ln in enumerate(lines) if ln.startswith("monitors ")]
        self.assertEqual(len(pair), 1, out)
        i = pair[0]
        self.assertRegex(lines[i], r"^monitors +m2 is follower; leader m1 \(epoch 4711\); "
                                   r"lease 6\.2s left$")
        self.assertRegex(lines[i + 1], r"^ +held back by m2$")
        mons = [ln.strip() for ln in lines[i + 2:i + 5]]
        self.assertRegex(mons[0], r"^m1: unhealthy, failures 4, successes 0, "
                                  r"2026-11-28T06:00:01\.000Z")
        self.assertNotIn("STATE_DIR", mons[0])
        self.assertRegex(mons[1], r"^m2: healthy, failures 0, successes 9, "
                                  r"2026-11-28T06:00:02\.000Z .*, STATE_DIR$")
        self.assertEqual(mons[2], "m3: not checked yet, failures 0, successes 0")
        # -j prints the object as the daemon sent it.
        rc, out, _ = self.assertExit(0, self.ctl("-j", "status"))
        self.assertEqual(json.loads(out)["coordination"], self.COORD)

    def test_status_coordination_not_ok(self):
        co = dict(self.COORD, ok=False, role="none", leader=None, epoch=0,
                  lease_ttl_s=0.0, monitors=[], held_by=[],
                  error="etcd unreachable: http://10.0.0.9:2379: connection refused")
        self.fake(lambda req, raw: ok(dict(STATUS, coordination=co)))
        rc, out, _ = self.assertExit(0, self.ctl("status"))
        pair = [ln for ln in out.splitlines() if ln.startswith("monitors ")]
        self.assertEqual(len(pair), 1, out)
        self.assertIn("m2 is none; leader none;", pair[0])
        self.assertIn("; etcd: etcd unreachable: http://10.0.0.9:2379: connection refused",
                      pair[0])
        self.assertNotIn("epoch", pair[0])
        self.assertNotIn("held back", out)

    def test_status_coordination_odd_values(self):
        # A garbled coordination object (wrong types everywhere) is shown as
        # far as it makes sense, never a crash.
        for co in ("etcd", 7, [], {"role": 3, "leader": [], "epoch": "x",
                                   "lease_ttl_s": "y", "ok": "yes",
                                   "monitors": [1, "m1", None, {"node": 5, "at": 6}],
                                   "held_by": [None, 3], "error": {}},
                   {"monitors": "m1", "held_by": "m2", "node": "a\x1b[31mb"}):
            path = os.path.join(self.dir, "odd.sock")
            f = self.fake(lambda req, raw, co=co: ok(dict(STATUS, coordination=co)),
                          path=path)
            rc, out, _ = self.assertExit(0, self.ctl("-s", path, "status", sock=False))
            self.assertIn("standby", out)
            self.assertNotIn("\x1b", out)  # the terminal escape was cleaned
            f.close()
            if os.path.exists(path):
                os.unlink(path)

    def test_status_without_coordination_has_no_pair_line(self):
        for st in (STATUS, dict(STATUS, coordination=None)):
            self.fake(lambda req, raw, st=st: ok(st),
                      path=os.path.join(self.dir, "n%d.sock" % id(st)))
            rc, out, _ = self.assertExit(
                0, self.ctl("-s", os.path.join(self.dir, "n%d.sock" % id(st)),
                            "status", sock=False))
            self.assertNotIn("monitors ", out)
            self.assertNotIn("leader", out)

    def test_events_coordination(self):
        evs = [
            {"seq": 30, "time": "2026-11-28T06:00:00.000Z", "type": "leader",
             "node": "m1", "epoch": 4711, "role": "follower"},
            {"seq": 31, "time": "2026-11-28T06:00:01.000Z", "type": "leader",
             "node": None, "epoch": 4711, "role": "none"},
            {"seq": 32, "time": "2026-11-28T06:00:02.000Z", "type": "isolated",
             "detail": "no lease renewal for 4.0 s: fencing"},
            {"seq": 33, "time": "2026-11-28T06:00:03.000Z", "type": "hook",
             "hook": "self-fence", "ok": True, "exit_code": 0, "signal": None,
             "timed_out": False, "duration_ms": 15, "output": ""},
            {"seq": 34, "time": "2026-11-28T06:00:04.000Z", "type": "quorum",
             "detail": "failover held back: m2 sees the primary healthy"},
            {"seq": 35, "time": "2026-11-28T06:00:05.000Z", "type": "error",
             "what": "etcd", "error": "etcd unreachable"},
            {"seq": 36, "time": "2026-11-28T06:00:06.000Z", "type": "error",
             "what": "fencing", "error": "the leader key is gone: action stopped"},
        ]
        self.events_fake(evs)
        rc, out, _ = self.assertExit(0, self.ctl("events", "-n", "7", "--no-follow"))
        lines = out.splitlines()
        self.assertEqual(lines, [
            "2026-11-28T06:00:00.000Z leader m1 (epoch 4711), this monitor: follower",
            "2026-11-28T06:00:01.000Z leader none, this monitor: none",
            "2026-11-28T06:00:02.000Z isolated no lease renewal for 4.0 s: fencing",
            lines[3],
            "2026-11-28T06:00:04.000Z quorum failover held back: m2 sees the primary "
            "healthy",
            "2026-11-28T06:00:05.000Z error etcd: etcd unreachable",
            "2026-11-28T06:00:06.000Z error fencing: the leader key is gone: action "
            "stopped",
        ])
        self.assertRegex(lines[3], r"^2026-11-28T06:00:03\.000Z hook self-fence ok\b")

    def test_acted_by(self):
        def respond(req, raw):
            if req["cmd"] == "pause":
                return ok({"paused": True, "paused_until": None, "acted_by": "m1"})
            if req["cmd"] == "resume":
                return ok({"paused": False, "acted_by": "m1"})
            if req["cmd"] == "sync":
                return ok({"ok": True, "duration_ms": 5, "acted_by": "m1"})
            return ok({"state": "active", "acted_by": "m1"})
        self.fake(respond)
        rc, out, _ = self.assertExit(0, self.ctl("pause"))
        self.assertEqual(out, "paused until resume (by m1)\n")
        rc, out, _ = self.assertExit(0, self.ctl("resume"))
        self.assertEqual(out, "resumed: automatic checks and actions are on (by m1)\n")
        rc, out, _ = self.assertExit(0, self.ctl("sync", "push"))
        self.assertEqual(out, "push done in 5 ms (by m1)\n")
        rc, out, _ = self.assertExit(0, self.ctl("force-activate"))
        self.assertIn("acted_by: m1", out)
        rc, out, _ = self.assertExit(0, self.ctl("-j", "pause"))
        self.assertEqual(json.loads(out)["acted_by"], "m1")

    def test_events_json(self):
        self.events_fake(EVENTS[:3])
        rc, out, _ = self.assertExit(0, self.ctl("-j", "events", "-n", "3", "--no-follow"))
        got = [json.loads(ln) for ln in out.splitlines()]
        self.assertEqual(got, EVENTS[:3])

    def test_events_overflow(self):
        self.events_fake(EVENTS[:2], overflow=True)
        rc, out, errout = self.assertExit(1, self.ctl("events"))
        self.assertEqual(len(out.splitlines()), 2, out)
        self.assertIn("overflow", errout)

    def test_events_error_reply(self):
        self.fake(lambda req, raw: err("invalid-argument", "unknown event type \"state\""))
        rc, out, errout = self.assertExit(1, self.ctl("events", "-T", "state"))
        self.assertIn("invalid-argument", errout)

    def test_events_spread_out(self):
        # Events arrive in separate writes after the reply; all are shown.
        def respond(req, raw):
            return [ok({"subscribed": True, "last_seq": 0}), b"", b""] + \
                [line({"event": e}) for e in EVENTS[:2]]
        self.fake(respond)
        rc, out, _ = self.ctl("events")
        self.assertEqual(len(out.splitlines()), 2, out)

    def read_line(self, pipe, timeout=RUN_TIMEOUT):
        """One line from a child's stdout, waiting at most timeout."""
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "no full line in time; got %r" % buf)
            r, _, _ = select.select([pipe], [], [], left)
            if r:
                b = os.read(pipe.fileno(), 1)
                self.assertNotEqual(b, b"", "EOF after %r" % buf)
                buf += b
        return buf.decode()

    def test_events_are_shown_as_they_come(self):
        # Each event line is flushed at once, also into a pipe
        # (failoverctl events | grep ...): the second event is only sent
        # after the first one has been read.
        go = threading.Event()

        def respond(req, raw):
            def chunks():
                yield ok({"subscribed": True, "last_seq": 0})
                yield line({"event": EVENTS[0]})
                go.wait(RUN_TIMEOUT)
                yield line({"event": EVENTS[1]})
            return chunks()
        f = self.fake(respond, keep_open=True)
        for args in ([], ["-j"]):
            with self.subTest(args=args):
                go.clear()
                p = subprocess.Popen([FAILOVERCTL, "-s", self.sock] + args + ["events"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
                self.addCleanup(p.stdout.close)
                self.addCleanup(p.wait, RUN_TIMEOUT)
                self.addCleanup(p.kill)
                first = self.read_line(p.stdout)
                if args:
                    self.assertEqual(json.loads(first), EVENTS[0])
                else:
                    self.assertIn("state primary -> failing-over", first)
                go.set()
                second = self.read_line(p.stdout)
                self.assertIn("503", second)
                self.assertIsNone(p.poll())
                p.kill()
        self.assertEqual(len(f.requests), 2)

    def test_events_into_a_closed_pipe(self):
        # failoverctl events | head -1: the reader goes away; failoverctl
        # ends (not by SIGPIPE, not hanging).
        many = [dict(EVENTS[0], seq=i) for i in range(20000)]
        self.events_fake(many)
        p = subprocess.Popen([FAILOVERCTL, "-s", self.sock, "events", "-n", "20000"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(p.wait, RUN_TIMEOUT)
        self.addCleanup(p.kill)
        self.assertIn("state", self.read_line(p.stdout))
        p.stdout.close()
        rc = p.wait(timeout=RUN_TIMEOUT)
        self.assertGreaterEqual(rc, 0, "killed by signal %d" % -rc)

    def test_events_skips_lines_that_are_not_events(self):
        def respond(req, raw):
            return [ok({"subscribed": True, "last_seq": 0}),
                    b"not json\n", line({"ok": True}),
                    line({"event": EVENTS[0]})]
        self.fake(respond)
        rc, out, errout = self.assertExit(0, self.ctl("-j", "events", "--no-follow"))
        self.assertEqual([json.loads(ln) for ln in out.splitlines()], [EVENTS[0]])


if __name__ == "__main__":
    unittest.main(verbosity=2)
