#!/usr/bin/env python3
"""The control protocol, contract §5: framing, replies, error codes, access,
the status object and events, over the real socket of a real failoverd."""

import json
import os
import random
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fodtest  # noqa: E402
from fodtest import RFC3339_MS, wait_until  # noqa: E402

# No automatic check after the first one: nothing moves during a test.
QUIET = {"PROVIDER": "none", "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}

COMMANDS = {
    "ping": "read", "help": "read", "status": "read", "events": "read",
    "check": "admin", "selftest": "admin", "force-activate": "admin",
    "force-deactivate": "admin", "pause": "admin", "resume": "admin",
    "sync": "admin", "reload": "admin", "metrics": "read",
}
ADMIN_REQUESTS = [
    {"cmd": "check"}, {"cmd": "selftest"},
    {"cmd": "force-activate", "reason": "t"},
    {"cmd": "force-deactivate", "reason": "t", "force": True},
    {"cmd": "pause"}, {"cmd": "resume"},
    {"cmd": "sync", "direction": "push", "force": True},
    {"cmd": "reload"},
]


class ControlTest(fodtest.DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(QUIET)

    def started(self):
        """Waits for the first check, so status is settled."""
        return wait_until(lambda: self.d.status()["state"] != "starting"
                          and self.d.status()["local"]["checks_total"] >= 1,
                          10, msg="the first check")

    def all_events(self):
        with self.d.events(backlog=100000, follow=False) as ev:
            return ev.read_until_closed()

    # --- commands ------------------------------------------------------------
    def test_ping(self):
        r = self.assertOk(self.d.request({"cmd": "ping"}))
        self.assertIsInstance(r["version"], str)
        self.assertTrue(r["version"])
        self.assertEqual(r["pid"], self.d.pid)
        self.assertEqual(r["protocol"], 1)
        self.assertEqual(r["version"], self.d.status()["version"])

    def test_help_lists_every_command(self):
        r = self.assertOk(self.d.request({"cmd": "help"}))
        cmds = {c["cmd"]: c for c in r["commands"]}
        for name, level in COMMANDS.items():
            self.assertIn(name, cmds, "help lacks %s" % name)
            self.assertEqual(cmds[name]["level"], level, name)
            self.assertIsInstance(cmds[name]["usage"], str, name)
            self.assertTrue(cmds[name]["usage"], name)
        for c in r["commands"]:
            self.assertIn(c["level"], ("read", "admin"), c)

    def test_status_has_every_key(self):
        self.started()
        s = self.assertOk(self.d.request({"cmd": "status"}))
        for k in ("version", "pid", "uptime_s", "instance", "state", "state_since",
                  "reason", "paused", "paused_until", "forced", "degraded", "errors",
                  "local", "standby", "sync", "notify", "counters"):
            self.assertIn(k, s)
        self.assertEqual(s["pid"], self.d.pid)
        self.assertIsNone(s["instance"])
        self.assertIn(s["state"], ("starting", "primary", "failing-over", "standby",
                                   "failing-back"))
        self.assertRegex(s["state_since"], RFC3339_MS)
        self.assertIsInstance(s["uptime_s"], (int, float))
        self.assertIs(s["paused"], False)
        self.assertIsNone(s["paused_until"])
        self.assertIs(s["forced"], False)
        self.assertIsInstance(s["degraded"], bool)
        self.assertIsInstance(s["errors"], list)
        for e in s["errors"]:
            self.assertEqual(set(("time", "what", "error")) - set(e), set(), e)
        loc = s["local"]
        for k in ("url", "healthy", "consecutive_failures", "consecutive_successes",
                  "last_check", "last_status", "last_latency_ms", "last_error",
                  "checks_total", "checks_failed"):
            self.assertIn(k, loc)
        self.assertEqual(loc["url"], self.d.config["LOCAL_HEALTH_URL"])
        # The harness's URL is a closed port: the first check failed.
        self.assertIs(loc["healthy"], False)
        self.assertEqual(loc["checks_total"], 1)
        self.assertEqual(loc["checks_failed"], 1)
        self.assertEqual(loc["consecutive_failures"], 1)
        self.assertEqual(loc["consecutive_successes"], 0)
        self.assertRegex(loc["last_check"], RFC3339_MS)
        self.assertIsInstance(loc["last_error"], str)
        sb = s["standby"]
        for k in ("provider", "app", "active", "active_since", "machines", "healthy",
                  "last_error", "active_seconds_total", "estimated_cost_usd"):
            self.assertIn(k, sb)
        self.assertEqual(sb["provider"], "none")
        self.assertIs(sb["active"], False)
        self.assertIsNone(sb["active_since"])
        self.assertTrue(sb["machines"] is None or isinstance(sb["machines"], list))
        sy = s["sync"]
        for k in ("enabled", "last_push", "last_pull"):
            self.assertIn(k, sy)
        self.assertIs(sy["enabled"], False)
        self.assertIsNone(sy["last_push"])
        self.assertIsNone(sy["last_pull"])
        self.assertEqual(s["notify"], {**s["notify"], "telegram": False, "pending": 0})
        c = s["counters"]
        for k in ("failovers", "failbacks", "events", "last_failover", "last_failback"):
            self.assertIn(k, c)
        self.assertEqual(c["failovers"], 0)
        self.assertEqual(c["failbacks"], 0)
        self.assertIsNone(c["last_failover"])
        self.assertIsNone(c["last_failback"])
        self.assertIsInstance(c["events"], int)

    def test_status_before_first_check(self):
        hole = fodtest.Blackhole()
        self.addCleanup(hole.close)
        d = self.start_daemon(dict(QUIET, LOCAL_HEALTH_URL=hole.url, CHECK_TIMEOUT="60"))
        s = d.status()
        self.assertEqual(s["state"], "starting")
        loc = s["local"]
        self.assertEqual(loc["url"], hole.url)
        for k in ("healthy", "last_check", "last_status", "last_latency_ms", "last_error"):
            self.assertIn(k, loc)
            self.assertIsNone(loc[k], k)
        for k in ("consecutive_failures", "consecutive_successes", "checks_total",
                  "checks_failed"):
            self.assertEqual(loc[k], 0, k)
        self.assertIsNone(s["standby"]["healthy"])
        self.assertEqual(s["counters"]["failovers"], 0)

    # --- id ------------------------------------------------------------------
    def test_id_echoed(self):
        for ident in (7, 0, -3.5, "abc", "", {"a": [1, 2, {"b": None}]}, [1, "x"], True):
            r = self.d.request({"cmd": "ping", "id": ident})
            self.assertOk(r)
            self.assertIn("id", r)
            self.assertEqual(r["id"], ident)
        r = self.d.request({"cmd": "no-such", "id": {"n": 1}})
        self.assertError(r, "unknown-command")
        self.assertEqual(r["id"], {"n": 1})
        r = self.d.request({"cmd": "pause", "id": "x", "duration": "bogus"})
        self.assertError(r, "invalid-argument")
        self.assertEqual(r["id"], "x")

    def test_id_absent_when_not_given(self):
        for req in ({"cmd": "ping"}, {"cmd": "nope"}, "garbage"):
            r = self.d.request(req)
            self.assertNotIn("id", r, r)

    # --- error codes ---------------------------------------------------------
    def test_parse_error(self):
        with self.d.connect() as c:
            for line in ("not json", "{", '{"cmd": "ping"', "{'cmd': 'ping'}",
                         '{"cmd": "ping"} trailing', "{cmd: ping}"):
                self.assertError(c.request(line), "parse-error", line)
            # The connection survives a parse error.
            self.assertOk(c.request({"cmd": "ping"}))

    def test_invalid_request(self):
        with self.d.connect() as c:
            for line in ('[1, 2]', '"ping"', '42', 'null', 'true', '{}',
                         '{"id": 1}', '{"cmd": 5}', '{"cmd": null}',
                         '{"cmd": ["ping"]}', '{"cmd": {"name": "ping"}}'):
                self.assertError(c.request(line), "invalid-request", line)
            r = c.request('{"id": 9, "cmd": 5}')
            self.assertError(r, "invalid-request")
            self.assertEqual(r.get("id"), 9)
            self.assertOk(c.request({"cmd": "ping"}))

    def test_unknown_command(self):
        for cmd in ("nope", "", "PING", "ping ", "status\u00e9"):
            self.assertError(self.d.request({"cmd": cmd}), "unknown-command", cmd)

    def test_unknown_command_before_invalid_argument(self):
        self.assertError(self.d.request({"cmd": "nope", "backlog": -1}),
                         "unknown-command")

    def test_invalid_argument(self):
        self.started()
        before = self.d.status()
        # The start-up transition (starting -> primary) is a state event of
        # its own; what bad requests must not add is another one.
        state_before = [e for e in self.all_events() if e["type"] in ("state", "pause")]
        bad = [
            {"cmd": "pause", "duration": "bogus"},
            {"cmd": "pause", "duration": "5x"},
            {"cmd": "pause", "duration": "-5"},
            {"cmd": "pause", "duration": -5},
            {"cmd": "pause", "duration": "1m30s"},
            {"cmd": "pause", "duration": True},
            {"cmd": "pause", "duration": [5]},
            {"cmd": "pause", "until": 5},
            {"cmd": "ping", "extra": 1},
            {"cmd": "status", "verbose": True},
            {"cmd": "resume", "duration": 5},
            {"cmd": "events", "backlog": -1},
            {"cmd": "events", "backlog": "3"},
            {"cmd": "events", "backlog": 1.5},
            {"cmd": "events", "types": "state"},
            {"cmd": "events", "types": [1]},
            {"cmd": "events", "follow": "yes"},
            {"cmd": "events", "filter": "x"},
            {"cmd": "force-activate", "reason": 5},
            {"cmd": "force-activate", "wait": "yes"},
            {"cmd": "force-activate", "bogus": 1},
            {"cmd": "force-deactivate", "force": "yes"},
            {"cmd": "sync", "direction": "sideways"},
            {"cmd": "sync", "direction": 1},
            {"cmd": "selftest", "telegram": "yes"},
        ]
        with self.d.connect() as c:
            for req in bad:
                r = c.request(req)
                self.assertError(r, "invalid-argument", "%r -> %r" % (req, r))
                # events with a bad argument is not a subscription: the
                # connection still takes requests.
            self.assertOk(c.request({"cmd": "ping"}))
        after = self.d.status()
        for k in ("state", "paused", "paused_until", "forced"):
            self.assertEqual(after[k], before[k], k)
        self.assertEqual(after["local"]["checks_total"], before["local"]["checks_total"])
        state_after = [e for e in self.all_events() if e["type"] in ("state", "pause")]
        self.assertEqual(state_after, state_before)

    def test_unavailable_sync_when_off(self):
        for req in ({"cmd": "sync", "direction": "push", "force": True},
                    {"cmd": "sync", "direction": "pull"}):
            self.assertError(self.d.request(req), "unavailable", req)

    # --- access --------------------------------------------------------------
    def read_peer_daemon(self, **extra):
        fodtest.require_root(self)
        return self.start_daemon(dict(QUIET, SOCKET_GROUP="nogroup", **extra))

    def test_socket_mode_and_group(self):
        fodtest.require_root(self)
        d = self.read_peer_daemon()
        st = os.stat(d.socket_path)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        self.assertEqual(st.st_gid, 65534)
        # Without SOCKET_GROUP a stranger cannot connect at all.
        st = os.stat(self.d.socket_path)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        with self.assertRaises(AssertionError) as cm:
            fodtest.run_as(self.d.socket_path, [{"cmd": "ping"}])
        self.assertIn("could not connect", str(cm.exception))

    def test_read_peer_denied_admin(self):
        d = self.read_peer_daemon()
        wait_until(lambda: d.status()["local"]["checks_total"] >= 1, 10)
        before = d.status()
        with d.events(follow=False) as ev0:
            seq0 = ev0.reply["result"]["last_seq"]
        reads = [{"cmd": "ping"}, {"cmd": "help"}, {"cmd": "status"}]
        replies = fodtest.run_as(d.socket_path, reads + ADMIN_REQUESTS)
        for req, r in zip(reads, replies):
            self.assertOk(r, "%r as nobody: %r" % (req, r))
        self.assertNotEqual(replies[0]["result"]["pid"], None)
        for req, r in zip(ADMIN_REQUESTS, replies[len(reads):]):
            self.assertError(r, "permission-denied", "%r as nobody: %r" % (req, r))
        # Permission is checked before the arguments.
        r = fodtest.run_as(d.socket_path, [{"cmd": "pause", "duration": "bogus"}])[0]
        self.assertError(r, "permission-denied")
        # events works for a reader.
        r = fodtest.run_as(d.socket_path, [{"cmd": "events", "follow": False}])[0]
        self.assertOk(r)
        self.assertIn("last_seq", r["result"])
        # Each denial is a control event with ok false; nothing else happened.
        with d.events(backlog=100000, follow=False) as ev:
            evs = [e for e in ev.read_until_closed() if e["seq"] > seq0]
        denied = [e for e in evs if e["type"] == "control"]
        self.assertEqual([e["cmd"] for e in denied],
                         [r["cmd"] for r in ADMIN_REQUESTS] + ["pause"], evs)
        for e in denied:
            self.assertIs(e["ok"], False, e)
            self.assertEqual(e["uid"], 65534, e)
            self.assertIsInstance(e["pid"], int, e)
        others = [e for e in evs if e["type"] in ("pause", "state", "sync", "standby",
                                                  "check", "daemon", "notify")]
        self.assertEqual(others, [], "a denied command changed something")
        after = d.status()
        for k in ("state", "paused", "paused_until", "forced", "state_since"):
            self.assertEqual(after[k], before[k], k)
        self.assertEqual(after["local"]["checks_total"], before["local"]["checks_total"])

    def test_admin_group_supplementary(self):
        d = self.read_peer_daemon(ADMIN_GROUP="users")
        r = fodtest.run_as(d.socket_path, [{"cmd": "pause"}, {"cmd": "resume"}],
                           uid=65534, gid=65534, groups=[65534, 100])
        self.assertOk(r[0])
        self.assertIs(r[0]["result"]["paused"], True)
        self.assertOk(r[1])
        # ... and as the primary group (socket reachable through a
        # supplementary nogroup).
        r = fodtest.run_as(d.socket_path, [{"cmd": "pause"}], uid=65534, gid=100,
                           groups=[65534])
        self.assertOk(r[0])
        self.assertIs(d.status()["paused"], True)
        # Without the group: denied.
        r = fodtest.run_as(d.socket_path, [{"cmd": "resume"}], uid=65534, gid=65534)
        self.assertError(r[0], "permission-denied")
        ctl = [e for e in self.events_of(d) if e["type"] == "control"]
        self.assertEqual([(e["cmd"], e["ok"]) for e in ctl],
                         [("pause", True), ("resume", True), ("pause", True),
                          ("resume", False)])

    def test_slow_subscriber_overflow(self):
        d = self.read_peer_daemon()
        slow = d.connect(rcvbuf=4096)
        self.addCleanup(slow.close)
        self.assertOk(slow.request({"cmd": "events"}))
        fast = d.events()
        self.addCleanup(fast.close)
        seen = []
        stop = threading.Event()

        def reader():
            try:
                while not stop.is_set():
                    try:
                        e = fast.next(0.2)
                    except TimeoutError:
                        continue
                    if e is None:
                        return
                    seen.append(e)
            except Exception as e:  # noqa: BLE001 - reported below
                seen.append({"reader-error": repr(e)})
        t = threading.Thread(target=reader)
        t.start()
        # Each denied admin command is a ~150-byte control event: 15000 of
        # them are more than 1 MiB for a subscriber that never reads.
        n = 15000
        t0 = time.monotonic()
        replies = fodtest.run_as(d.socket_path, [{"cmd": "resume"}], repeat=n, timeout=60)
        self.assertEqual(len(replies), n)
        self.assertEqual(replies[-1]["error"]["code"], "permission-denied")
        # The daemon stayed responsive throughout.
        self.assertOk(d.request({"cmd": "ping"}, timeout=2))
        wait_until(lambda: sum(1 for e in seen if e.get("type") == "control") >= n, 20,
                   msg="the reading subscriber to get every event")
        stop.set()
        t.join(5)
        self.assertEqual([e for e in seen if "reader-error" in e or e.get("type") == "overflow"],
                         [])
        self.assertLess(time.monotonic() - t0, 30)
        # The slow one: events in order, then one overflow line without seq, then EOF.
        last = None
        lines = 0
        while True:
            line = slow.read_line(10)
            if line is None:
                break
            lines += 1
            last = json.loads(line)
            if last["event"]["type"] == "overflow":
                self.assertNotIn("seq", last["event"])
                self.assertIsNone(slow.read_line(10), "lines after the overflow")
                break
        self.assertIsNotNone(last)
        self.assertEqual(last["event"]["type"], "overflow", "no overflow line")
        self.assertLess(lines, n, "the slow subscriber got everything")

    def events_of(self, d):
        with d.events(backlog=100000, follow=False) as ev:
            return ev.read_until_closed()

    # --- framing -------------------------------------------------------------
    def test_pipelined_in_one_write(self):
        with self.d.connect() as c:
            c.send_raw(b'{"cmd":"ping","id":1}\n{"cmd":"status","id":2}\n'
                       b'nonsense\n{"cmd":"nope","id":4}\n{"cmd":"help","id":5}\n')
            r = [c.read_json() for _ in range(5)]
        self.assertEqual([x.get("id") for x in r], [1, 2, None, 4, 5])
        self.assertIn("protocol", r[0]["result"])
        self.assertIn("state", r[1]["result"])
        self.assertEqual(r[2]["error"]["code"], "parse-error")
        self.assertEqual(r[3]["error"]["code"], "unknown-command")
        self.assertIn("commands", r[4]["result"])

    def test_many_requests_one_connection(self):
        n = 1000
        with self.d.connect() as c:
            c.send_raw("".join('{"cmd":"ping","id":%d}\n' % i for i in range(n)))
            for i in range(n):
                r = c.read_json(10)
                self.assertEqual(r.get("id"), i, "reply %d of %d pipelined pings: %r" % (i, n, r))
                self.assertIs(r["ok"], True, r)
            for i in range(50):  # and one at a time
                self.assertEqual(c.request({"cmd": "status", "id": i})["id"], i)

    def test_empty_lines_ignored(self):
        with self.d.connect() as c:
            c.send_raw(b'\n\n{"cmd":"ping","id":1}\n\n\n{"cmd":"ping","id":2}\n\n')
            self.assertEqual(c.read_json()["id"], 1)
            self.assertEqual(c.read_json()["id"], 2)
            # No reply was owed to the empty lines: the next one is id 3's.
            self.assertEqual(c.request({"cmd": "ping", "id": 3})["id"], 3)

    def test_line_of_65536_bytes_is_processed(self):
        head = b'{"cmd":"ping","id":"big"}'
        line = head + b" " * (65536 - len(head))
        self.assertEqual(len(line), 65536)
        with self.d.connect() as c:
            c.send_raw(line + b"\n")
            r = c.read_json()
            self.assertOk(r)
            self.assertEqual(r["id"], "big")
            self.assertOk(c.request({"cmd": "ping"}))

    def test_line_too_long(self):
        for size in (65537, 70000, 1 << 20):
            with self.d.connect() as c:
                head = b'{"cmd":"ping"}'
                try:
                    c.send_raw(head + b" " * (size - len(head)) + b"\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the daemon may close before reading it all
                r = c.read_json()
                self.assertError(r, "line-too-long", "size %d" % size)
                self.assertTrue(c.wait_closed(5), "connection not closed after line-too-long")
        # Without a newline at all: detected as soon as 65537 bytes arrived.
        with self.d.connect() as c:
            try:
                c.send_raw(b"x" * 65537)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.assertError(c.read_json(), "line-too-long")
            self.assertTrue(c.wait_closed(5))
        self.assertOk(self.d.request({"cmd": "ping"}))

    def test_binary_garbage(self):
        rnd = random.Random(1234)
        lines = [b"\x00", b'{"cmd":"ping"}\x00', b'{"cmd":"ping"\x00}',
                 b'{"cmd":"p\xffing"}', b'{"cmd":"ping","id":"\xc3\x28"}',
                 b"\xfe\xff\x00{", b"\x1b[31m\x07"]
        for _ in range(50):
            n = rnd.randint(1, 300)
            b = bytes(rnd.randrange(256) for _ in range(n)).replace(b"\n", b"").replace(b"\r", b"")
            lines.append(b"\x01" + b)
        with self.d.connect() as c:
            for ln in lines:
                c.send_raw(ln + b"\n")
                r = c.read_json()
                self.assertError(r, "parse-error", repr(ln))
            self.assertOk(c.request({"cmd": "ping"}))
        # Garbage in one write, then close without reading.
        with self.d.connect() as c:
            c.send_raw(b"\n".join(lines))
        self.assertOk(self.d.request({"cmd": "ping"}))
        self.assertTrue(self.d.running())

    def test_invalid_utf8_is_a_parse_error(self):
        # Not UTF-8 (RFC 3629) although well-formed-looking: a surrogate, a
        # code point over U+10FFFF, overlong forms, a lone continuation byte.
        bad = [b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xc0\xaf"',
               b'"\xe0\x80\xaf"', b'"\x80"', b'"\xff"']
        with self.d.connect() as c:
            for b in bad:
                c.send_raw(b'{"cmd":"ping","id":' + b + b'}\n')
                self.assertError(c.read_json(), "parse-error", repr(b))
                c.send_raw(b'{"cmd":"ping","x":' + b + b'}\n')
                self.assertError(c.read_json(), "parse-error", repr(b))
            self.assertOk(c.request({"cmd": "ping", "id": "\u00e9\u20ac\U0001f600"}))

    def test_request_split_across_writes(self):
        with self.d.connect() as c:
            c.send_raw(b'{"cmd":"pi')
            with self.assertRaises(TimeoutError, msg="a reply to half a line"):
                c.read_line(0.3)
            c.send_raw(b'ng","id":"split"}\n')
            r = c.read_json()
            self.assertOk(r)
            self.assertEqual(r["id"], "split")
            # One byte at a time.
            for b in b'{"cmd":"status","id":2}\n':
                c.send_raw(bytes([b]))
            r = c.read_json()
            self.assertOk(r)
            self.assertEqual(r["id"], 2)

    def test_half_line_then_close(self):
        for i in range(20):
            with self.d.connect() as c:
                c.send_raw(b'{"cmd":"pi')
        # Requests whose replies nobody reads.
        for i in range(20):
            with self.d.connect() as c:
                c.send_raw(b'{"cmd":"status"}\n' * 50)
        with self.d.connect() as c:
            c.send_raw(b'{"cmd":"sta')
            c.shutdown_write()
            self.assertTrue(c.wait_closed(5), "half line + EOF: connection kept open")
        self.assertOk(self.d.request({"cmd": "ping"}))
        self.assertTrue(self.d.running())

    def test_status_times_are_stable(self):
        # state_since is a fact, not recomputed from two clocks per read.
        self.started()
        with self.d.connect() as c:
            seen = {c.request({"cmd": "status"})["result"]["state_since"] for _ in range(300)}
        self.assertEqual(len(seen), 1, seen)

    def test_out_of_descriptors_backs_off_and_recovers(self):
        # A daemon with few descriptors: accept fails with EMFILE. It must
        # back off (not spin on the listening socket), keep serving the
        # connections it has, and take the waiting ones once some close.
        if os.environ.get("FOD_VALGRIND_DAEMON"):
            self.skipTest("valgrind keeps descriptors of its own and refuses a lower limit")
        d = self.start_daemon(QUIET, prefix=["prlimit", "--nofile=40:40", "--"])
        conns = []
        try:
            for i in range(60):  # the kernel queues what the daemon cannot accept
                conns.append(d.connect())
            accepted = [c for c in conns[:10]]
            for i, c in enumerate(accepted):
                self.assertOk(c.request({"cmd": "ping", "id": i}, 5))
            log = wait_until(lambda: "accept" in d.log_text() and d.log_text(), 5,
                             msg="the EMFILE warning in the log")
            self.assertIn("Too many open files", log)
            # Backing off, not spinning: little CPU while connections wait.
            def cpu():
                with open("/proc/%d/stat" % d.pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return int(fields[11]) + int(fields[12])
            before = cpu()
            time.sleep(1.0)  # a spinning accept loop would burn this whole second
            self.assertLess(cpu() - before, 30, "accept is spinning on EMFILE")
            # Free descriptors: every waiting client is answered.
            for c in conns[:40]:
                c.close()
            for i, c in enumerate(conns[40:]):
                c.send_line({"cmd": "ping", "id": i})
                self.assertOk(c.read_json(10))
        finally:
            for c in conns:
                c.close()
        self.assertOk(d.request({"cmd": "ping"}))

    def test_200_concurrent_clients(self):
        conns = []
        try:
            for i in range(200):
                conns.append(self.d.connect())
            for i, c in enumerate(conns):
                c.send_line({"cmd": "status" if i % 2 else "ping", "id": i})
            for i, c in enumerate(conns):
                r = c.read_json(10)
                self.assertOk(r)
                self.assertEqual(r["id"], i)
        finally:
            for c in conns:
                c.close()
        # And from 200 threads at once.
        errors = []

        def client(i):
            try:
                with self.d.connect(10) as c:
                    r = c.request({"cmd": "status", "id": i}, 10)
                    if r.get("ok") is not True or r.get("id") != i:
                        errors.append(r)
            except Exception as e:  # noqa: BLE001 - collected
                errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])

    def test_idle_connection_still_served(self):
        with self.d.connect() as c:
            # Idle for 2 s (the contract closes after 60 s, not sooner).
            self.assertFalse(c.wait_closed(2.0), "idle connection closed within 2 s")
            self.assertOk(c.request({"cmd": "ping"}))

    # --- pause ---------------------------------------------------------------
    def test_pause_resume_replies(self):
        r = self.assertOk(self.d.request({"cmd": "pause"}))
        self.assertEqual(r, {**r, "paused": True, "paused_until": None})
        t0 = time.time()
        r = self.assertOk(self.d.request({"cmd": "pause", "duration": 90}))
        self.assertIs(r["paused"], True)
        self.assertRegex(r["paused_until"], RFC3339_MS)
        self.assertAlmostEqual(parse_time(r["paused_until"]), t0 + 90, delta=5)
        r = self.assertOk(self.d.request({"cmd": "pause", "duration": "2m"}))
        self.assertAlmostEqual(parse_time(r["paused_until"]), t0 + 120, delta=5)
        r = self.assertOk(self.d.request({"cmd": "pause", "duration": "1.5m"}))
        self.assertAlmostEqual(parse_time(r["paused_until"]), t0 + 90, delta=5)
        s = self.d.status()
        self.assertIs(s["paused"], True)
        self.assertEqual(s["paused_until"], r["paused_until"])
        # A new pause replaces the expiry, here with none.
        r = self.assertOk(self.d.request({"cmd": "pause"}))
        self.assertIsNone(r["paused_until"])
        self.assertIsNone(self.d.status()["paused_until"])
        r = self.assertOk(self.d.request({"cmd": "resume"}))
        self.assertIs(r["paused"], False)
        s = self.d.status()
        self.assertIs(s["paused"], False)
        self.assertIsNone(s["paused_until"])

    # --- events --------------------------------------------------------------
    def test_events_last_seq(self):
        ev = self.d.events(follow=False)
        self.addCleanup(ev.close)
        self.assertIs(ev.reply["ok"], True)
        res = ev.reply["result"]
        self.assertIs(res["subscribed"], True)
        self.assertIsInstance(res["last_seq"], int)
        self.assertEqual(ev.read_until_closed(), [])
        self.d.result("pause")
        ev2 = self.d.events(follow=False, backlog=1)
        self.addCleanup(ev2.close)
        got = ev2.read_until_closed()
        self.assertEqual(len(got), 1)
        self.assertGreater(ev2.reply["result"]["last_seq"], res["last_seq"])
        self.assertEqual(got[0]["seq"], ev2.reply["result"]["last_seq"])

    def test_events_backlog_and_types(self):
        for i in range(3):
            self.d.result("pause", duration=100 + i)
            self.d.result("resume")
        with self.d.events(types=["pause"], backlog=4, follow=False) as ev:
            got = ev.read_until_closed()
        self.assertEqual([e["type"] for e in got], ["pause"] * 4)
        self.assertEqual([e["paused"] for e in got], [True, False, True, False])
        seqs = [e["seq"] for e in got]
        self.assertEqual(seqs, sorted(seqs))
        self.assertLessEqual(seqs[-1], ev.reply["result"]["last_seq"])
        with self.d.events(types=["pause", "control"], backlog=3, follow=False) as ev:
            got = ev.read_until_closed()
        self.assertEqual([(e["type"], e.get("cmd")) for e in got],
                         [("pause", None), ("control", "resume"), ("pause", None)])
        with self.d.events(backlog=3, follow=False) as ev:
            got = ev.read_until_closed()
        self.assertEqual(len(got), 3)
        self.assertEqual(got[-1]["seq"], ev.reply["result"]["last_seq"])
        # types [] means all.
        with self.d.events(types=[], backlog=3, follow=False) as ev:
            self.assertEqual([e["seq"] for e in ev.read_until_closed()],
                             [e["seq"] for e in got])
        # A backlog larger than the ring returns what there is.
        with self.d.events(types=["pause"], backlog=100000, follow=False) as ev:
            self.assertEqual(len(ev.read_until_closed()), 6)

    def test_events_seq_rises_by_one(self):
        for i in range(5):
            self.d.result("pause")
            self.d.result("resume")
        evs = self.all_events()
        self.assertGreaterEqual(len(evs), 20)
        seqs = [e["seq"] for e in evs]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        for e in evs:
            self.assertRegex(e["time"], RFC3339_MS)
            self.assertIsInstance(e["type"], str)

    def test_events_follow(self):
        ev = self.d.events(backlog=0)
        self.addCleanup(ev.close)
        last = ev.reply["result"]["last_seq"]
        self.d.result("pause", duration=60)
        c = ev.wait_for(lambda e: e["type"] == "control")
        self.assertEqual((c["cmd"], c["ok"], c["uid"]), ("pause", True, os.getuid()))
        self.assertIsInstance(c["pid"], int)
        p = ev.wait_for(lambda e: e["type"] == "pause")
        # A control event comes before the events it causes.
        self.assertLess(c["seq"], p["seq"])
        self.assertGreater(c["seq"], last)
        self.assertIs(p["paused"], True)
        self.assertRegex(p["paused_until"], RFC3339_MS)
        self.d.result("resume")
        p = ev.wait_for(lambda e: e["type"] == "pause" and e["paused"] is False)
        self.assertIsNone(p["paused_until"])
        seqs = [e["seq"] for e in ev.seen]
        self.assertEqual(seqs, list(range(last + 1, last + 1 + len(seqs))))

    def test_events_follow_types_filter(self):
        ev = self.d.events(types=["pause"])
        self.addCleanup(ev.close)
        self.d.result("pause")
        self.d.result("resume")
        self.d.result("pause", duration="1h")
        got = [ev.next() for _ in range(3)]
        self.assertEqual([e["type"] for e in got], ["pause"] * 3)
        self.assertEqual([e["paused"] for e in got], [True, False, True])
        self.assertIsNone(got[0]["paused_until"])
        self.assertRegex(got[2]["paused_until"], RFC3339_MS)

    def test_events_connection_carries_only_events(self):
        ev = self.d.events()
        self.addCleanup(ev.close)
        # A request on a subscribed connection gets no reply line: what
        # comes is event lines (or the daemon may hang up).
        ev.conn.send_line({"cmd": "ping", "id": "after-subscribe"})
        self.d.result("pause")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            line = ev.conn.read_line(max(0.01, deadline - time.monotonic()))
            if line is None:
                break
            obj = json.loads(line)
            self.assertNotIn("ok", obj, "a reply on an events connection: %r" % obj)
            self.assertIn("event", obj)
            if obj["event"]["type"] == "pause":
                break
        self.assertOk(self.d.request({"cmd": "ping"}))


def parse_time(s):
    import calendar
    base, ms = s[:-1].split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000


if __name__ == "__main__":
    fodtest.main()
