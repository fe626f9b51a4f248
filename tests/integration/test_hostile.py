#!/usr/bin/env python3
"""Hostile and broken peers against a real failoverd (issue #6): 1000
clients at once, 100 event subscribers of which one never reads, 100 000
malformed lines of every kind, clients that send nothing, half a line then
close, a peer that pipelines without reading. After each round: `status`
answers in under 10 ms, no descriptor leaked, and a second identical round
leaves the resident size within 10 % of the first's.

All the client side runs in one thread on a selector (non-blocking sockets),
so the suite stays well under a minute on two cores."""

import json
import os
import random
import re
import resource
import selectors
import socket
import statistics
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402

QUIET = {"PROVIDER": "none", "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}
CODES = ("parse-error", "invalid-request", "unknown-command", "permission-denied",
         "invalid-argument", "conflict", "failed", "unavailable", "internal",
         "line-too-long")
N_CLIENTS = 1000
N_SUBSCRIBERS = 100
N_MALFORMED = 100000
# The bytes of events the reading subscribers must see: well over the 1 MiB
# a stuck subscriber may fall behind plus what the kernel buffers for it.
EVENT_BYTES = 2 * 1024 * 1024


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class Peer:
    """One non-blocking client on the selector: sends `out`, collects lines."""

    def __init__(self, path, out=b"", want=0, rcvbuf=None, read=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setblocking(False)
        # A full listen backlog makes a Unix connect fail with EAGAIN (it
        # never waits when non-blocking, and Python's timeout mode is
        # non-blocking): try again until the daemon has accepted enough.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.002)
        self.out = bytearray(out)
        self.want = want  # lines to wait for; "eof" = until the daemon closes
        self.read = read
        self.buf = bytearray()
        self.lines = []
        self.nlines = 0
        self.keep_lines = True
        self.eof = False
        self.bytes_in = 0

    def send_more(self, data):
        self.out += data

    def done(self):
        if self.want == "eof":
            return self.eof
        return self.nlines >= self.want or self.eof

    def on_read(self):
        try:
            chunk = self.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return
        self.bytes_in += len(chunk)
        self.buf += chunk
        n = self.buf.count(b"\n")
        if n:
            cut = self.buf.rfind(b"\n") + 1
            if self.keep_lines:
                self.lines.extend(bytes(self.buf[:cut]).split(b"\n")[:-1])
            self.nlines += n
            del self.buf[:cut]

    def on_write(self):
        try:
            n = self.sock.send(self.out[:1 << 16])
        except (BlockingIOError, InterruptedError):
            return
        except (BrokenPipeError, ConnectionResetError):
            self.out.clear()  # the daemon hung up: what it sent is still to read
            return
        del self.out[:n]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def pump(peers, until, timeout, what):
    """Runs the selector over peers until until() holds (or timeout)."""
    sel = selectors.DefaultSelector()
    mask = {}

    def want_mask(p):
        m = 0
        if p.read and not p.eof:
            m |= selectors.EVENT_READ
        if p.out and not p.eof:
            m |= selectors.EVENT_WRITE
        return m

    for p in peers:
        m = want_mask(p)
        mask[p] = m
        if m:
            sel.register(p.sock, m, p)
    deadline = time.monotonic() + timeout
    try:
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %.0fs: %s" % (timeout, what))
            for key, ev in sel.select(min(left, 0.5)):
                p = key.data
                if ev & selectors.EVENT_READ:
                    p.on_read()
                if ev & selectors.EVENT_WRITE:
                    p.on_write()
            for p in peers:
                m = want_mask(p)
                if m != mask[p]:
                    if mask[p] and m:
                        sel.modify(p.sock, m, p)
                    elif m:
                        sel.register(p.sock, m, p)
                    else:
                        sel.unregister(p.sock)
                    mask[p] = m
    finally:
        sel.close()


# --- the malformed corpus --------------------------------------------------
# Argument values by JSON type; each command argument lists the types it takes.
VALUES = {
    "string": ['"x"', '""', '"\\u00e9"'],
    "int": ["5", "0", "-1", "123456789012345678901234567890"],
    "float": ["1.5", "-0.25", "1e400", "-1e400"],
    "bool": ["true", "false"],
    "null": ["null"],
    "array": ["[]", "[1]", '["state"]', "[[]]"],
    "object": ["{}", '{"a":1}'],
}
# (command, argument) -> the values that are NOT valid, by the contract's
# types: every other JSON type, plus bad values of the right type.
BAD_ARGS = {
    ("events", "backlog"): [v for t in ("string", "float", "bool", "null", "array",
                                        "object") for v in VALUES[t]] + ["-1", "1e30",
                                                                         "123456789012345678901234567890"],
    ("events", "types"): [v for t in ("string", "int", "float", "bool", "object")
                          for v in VALUES[t]] + ["[1]", "[null]", "[[]]", '[""]', "[{}]"],
    ("events", "follow"): [v for t in ("string", "int", "float", "null", "array", "object")
                           for v in VALUES[t]],
    ("selftest", "telegram"): [v for t in ("string", "int", "float", "null", "array",
                                           "object") for v in VALUES[t]],
    ("force-activate", "reason"): [v for t in ("int", "float", "bool", "null", "array",
                                               "object") for v in VALUES[t]] + ['"%s"' % ("r" * 201)],
    ("force-activate", "wait"): [v for t in ("string", "int", "float", "null", "array",
                                             "object") for v in VALUES[t]],
    ("force-deactivate", "reason"): [v for t in ("int", "float", "bool", "null", "array",
                                                 "object") for v in VALUES[t]],
    ("force-deactivate", "force"): [v for t in ("string", "int", "float", "null", "array",
                                                "object") for v in VALUES[t]],
    ("force-deactivate", "wait"): [v for t in ("string", "int", "float", "null", "array",
                                               "object") for v in VALUES[t]],
    ("pause", "duration"): [v for t in ("bool", "array", "object") for v in VALUES[t]] + [
        "0", "-1", "-0.25", "1e400", "-1e400", "123456789012345678901234567890", "1e18",
        '"x"', '""', '"5x"', '"1m30s"', '"-5"', '"0"', '"1e5"', '"99999999999999999999s"',
        '" 5"'],
    ("sync", "direction"): [v for t in ("string", "int", "float", "bool", "null", "array",
                                        "object") for v in VALUES[t]] + ['"PUSH"', '"sideways"'],
    ("sync", "force"): [v for t in ("string", "int", "float", "null", "array", "object")
                        for v in VALUES[t]],
}
COMMANDS = ("ping", "help", "status", "events", "check", "selftest", "force-activate",
            "force-deactivate", "pause", "resume", "sync", "reload")


def malformed_corpus():
    """[(kind, line bytes, expected error code, expected id or None)], each
    kind a list of distinct lines; no line is over 65536 bytes."""
    kinds = {}
    kinds["invalid-json"] = [(l, "parse-error") for l in (
        b"not json", b"{", b"}", b"{{}}", b'{"cmd":"ping"', b"{'cmd':'ping'}",
        b'{"cmd":"ping"} x', b'{"cmd":"ping"}{"cmd":"ping"}', b"{cmd:ping}",
        b'{"cmd":"ping",}', b'{"cmd" "ping"}', b'{"cmd":"ping\\x"}', b'{"cmd":"\\u12"}',
        b'{"cmd":"ping","id":01}', b'{"cmd":"ping","id":1.}', b'{"cmd":"ping","id":.5}',
        b'{"cmd":"ping","id":+1}', b'{"cmd":"ping","id":NaN}', b'{"cmd":"ping","id":Infinity}',
        b'{"cmd":"ping","id":0x10}', b'{"cmd":"ping","id":1e}', b'{"cmd":"ping","id":-}',
        b'{"cmd":"ping","id":tru}', b'{"cmd":"ping","id":undefined}',
        b'{"cmd":"ping\t"}', b'{"cmd":"pi\x01ng"}', b'/* c */{"cmd":"ping"}', b"[1,]",
        b'"unterminated', b"\x1b[31m\x07", b"\xef\xbb\xbf{\"cmd\":\"ping\"}")]
    kinds["nul"] = [(l, "parse-error") for l in (
        b"\x00", b'{"cmd":"ping"}\x00', b'{"cmd":"ping"\x00}', b'{"cmd":"pi\x00ng"}',
        b'\x00{"cmd":"ping"}', b'{"cmd":"ping","id":"\x00"}')]
    kinds["invalid-utf8"] = [(b'{"cmd":"ping","id":"' + s + b'"}', "parse-error") for s in (
        b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\x80\xed\xb0\x80",  # surrogates (CESU)
        b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",  # overlong
        b"\xf4\x90\x80\x80", b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80",  # > U+10FFFF
        b"\x80", b"\xbf", b"\xff", b"\xfe", b"\xc3", b"\xe2\x82", b"\xc3\x28")] + [
        (b'{"cmd":"p\xffing"}', "parse-error"), (b'{"cmd":"ping","\xc0\x80":1}', "parse-error")]
    deep = [(b"[" * 65000, "parse-error"), (b"{" * 65000, "parse-error")]
    for n in (65, 100, 1000, 30000):
        deep.append((b"[" * n, "parse-error"))
        deep.append((b"[" * n + b"]" * n, "parse-error"))
        deep.append((b'{"cmd":"ping","id":' + b"[" * n + b"]" * n + b"}", "parse-error"))
    deep.append((b'{"a":' * 10000 + b"1" + b"}" * 10000, "parse-error"))
    deep.append((b'{"cmd":"ping","x":' + b'{"a":' * 5000, "parse-error"))
    kinds["deep-nesting"] = deep
    kinds["not-object"] = [(l, "invalid-request") for l in (
        b"[]", b"[1,2]", b'"ping"', b"42", b"-0", b"1e400", b"123456789012345678901234567890",
        b"null", b"true", b"false", b'[{"cmd":"ping"}]', b"[" * 60 + b"]" * 60)]
    kinds["missing-cmd"] = [(l, "invalid-request") for l in (
        b"{}", b'{"id":1}', b'{"CMD":"ping"}', b'{"command":"ping"}', b'{"cmd ":"ping"}',
        b'{"args":{"cmd":"ping"}}')]
    kinds["non-string-cmd"] = [(b'{"cmd":' + v.encode() + b'}', "invalid-request")
                               for t in ("int", "float", "bool", "null", "array", "object")
                               for v in VALUES[t]] + [(b'{"cmd":["ping"]}', "invalid-request")]
    kinds["unknown-command"] = [(json.dumps({"cmd": c}).encode(), "unknown-command") for c in (
        "", "PING", "ping ", " ping", "Status", "pause\n", "force_activate", "shutdown",
        "exec", "../status", "status\u00e9", "\u0000", "x" * 1000, "help;reload",
        "$(reboot)", "`id`")] + [(b'{"cmd":"ping\\ud800"}', "unknown-command")]
    wrong = []
    for (cmd, arg), bads in BAD_ARGS.items():
        for v in bads:
            extra = ',"direction":"push"' if cmd == "sync" and arg != "direction" else ""
            wrong.append((('{"cmd":"%s","%s":%s%s}' % (cmd, arg, v, extra)).encode(),
                          "invalid-argument"))
    kinds["wrong-type"] = wrong
    kinds["unknown-argument"] = [
        (('{"cmd":"%s","%s":1}' % (c, a)).encode(), "invalid-argument")
        for c in COMMANDS for a in ("x", "Reason", "duration " if c == "pause" else "duration",
                                    "until", "")]
    # Ids on the way: echoed with the error whatever they are.
    out = {}
    for kind, items in kinds.items():
        lst = []
        for i, (line, code) in enumerate(items):
            own = None
            if code != "parse-error":
                obj = json.loads(line)
                if isinstance(obj, dict):
                    own = obj.get("id")
            lst.append((line, code, own))
            if code not in ("parse-error",) and line.startswith(b"{") and line.endswith(b"}") \
                    and line != b"{}" and len(line) < 60000:
                ident = [7, "s", {"k": [1]}, -2.5][i % 4]
                lst.append((line[:-1] + b',"id":' + json.dumps(ident).encode() + b"}",
                            code, ident))
        out[kind] = lst
    return out


class HostileTest(fodtest.DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.nofile = raise_nofile(4 * N_CLIENTS)
        if self.nofile < N_CLIENTS + 200:
            self.skipTest("cannot raise RLIMIT_NOFILE to %d (have %d)"
                          % (N_CLIENTS + 200, self.nofile))
        self.d = self.start_daemon(QUIET)
        wait_until(lambda: self.d.status()["local"]["checks_total"] >= 1, 10,
                   msg="the first check")
        self.pid = self.d.pid

    def status_ms(self, n=15):
        """Median wall time of `status` on a fresh connection."""
        times = []
        for _ in range(n):
            with self.d.connect() as c:
                t0 = time.perf_counter()
                r = c.request({"cmd": "status"}, 5)
                times.append((time.perf_counter() - t0) * 1000)
            self.assertOk(r)
        return statistics.median(times)

    def settled_fds(self, baseline):
        """Waits for the daemon's descriptor count to come back to baseline
        (or below: the baseline may include a descriptor that was only in
        flight when it was taken, such as the harness's own ready check);
        returns the settled count."""
        try:
            return wait_until(lambda: fd_count(self.pid) <= baseline and fd_count(self.pid),
                              10, msg="the daemon's descriptors back to %d" % baseline)
        except AssertionError:
            fds = {}
            for fd in os.listdir("/proc/%d/fd" % self.pid):
                try:
                    fds[fd] = os.readlink("/proc/%d/fd/%s" % (self.pid, fd))
                except OSError:
                    pass
            raise AssertionError("descriptors leaked: %d now, %d before: %s"
                                 % (fd_count(self.pid), baseline, fds))

    # --- the pieces of a round ---------------------------------------------
    def many_clients(self):
        """N_CLIENTS connected at once, each asking something, all answered."""
        path = self.d.socket_path
        peers = []
        try:
            for i in range(N_CLIENTS):
                req = {"cmd": ("ping", "status", "help")[i % 3], "id": i}
                peers.append(Peer(path, json.dumps(req).encode() + b"\n", want=1))
            # All of them are open in the daemon at once.
            wait_until(lambda: fd_count(self.pid) >= N_CLIENTS, 10,
                       msg="the daemon to hold %d connections" % N_CLIENTS)
            pump(peers, lambda: all(p.done() for p in peers), 30, "1000 replies")
            for i, p in enumerate(peers):
                self.assertEqual(len(p.lines), 1, "client %d: %r" % (i, p.lines))
                r = json.loads(p.lines[0])
                self.assertIs(r.get("ok"), True, r)
                self.assertEqual(r.get("id"), i)
            # A second request on every one of them, still all open.
            for i, p in enumerate(peers):
                p.send_more(json.dumps({"cmd": "ping", "id": -i}).encode() + b"\n")
                p.want = 2
            pump(peers, lambda: all(p.done() for p in peers), 30, "1000 second replies")
            for i, p in enumerate(peers):
                self.assertEqual(json.loads(p.lines[1]).get("id"), -i)
        finally:
            for p in peers:
                p.close()

    def subscribers(self):
        """N_SUBSCRIBERS on `events`, one never reading: it gets exactly one
        overflow line and EOF; the others see every event, in order."""
        path = self.d.socket_path
        sub = json.dumps({"cmd": "events"}).encode() + b"\n"
        stuck = Peer(path, sub, rcvbuf=4096, read=False)
        readers = [Peer(path, sub) for _ in range(N_SUBSCRIBERS - 1)]
        admin = Peer(path)
        everyone = readers + [stuck, admin]
        try:
            # Subscribed: each reader has its reply line.
            for p in readers:
                p.want = 1
            pump(everyone, lambda: all(p.nlines >= 1 for p in readers) and not stuck.out,
                 20, "the subscriptions")
            # The stuck one's reply sits unread in its socket; it subscribed
            # at the same time as the others (before any generated event).
            first = json.loads(readers[0].lines[0])["result"]["last_seq"]
            for p in readers:
                r = json.loads(p.lines[0])
                self.assertIs(r["ok"], True, r)
            for p in readers[1:]:
                p.keep_lines = p is readers[1]  # keep two streams whole, count the rest
            # Paused (one request, answered), then `check`s: each a control
            # and a check event, and nothing moves while paused.
            admin.send_more(b'{"cmd":"pause"}\n')
            admin.want = 1
            pump(everyone, admin.done, 10, "the pause")
            sent = 0
            # Paced: a small batch, then wait for every reader to have seen at
            # least its events (2 per command), so the readers never fall
            # behind by more than a few KiB: only the stuck one may overflow.
            while readers[0].bytes_in < EVENT_BYTES:
                admin.send_more(b'{"cmd":"check"}\n' * 20)
                sent += 20
                admin.want = 1 + sent
                need = 1 + 2 * sent
                pump(everyone, lambda: admin.done() and
                     all(p.nlines >= need or p.eof for p in readers),
                     20, "the readers to see %d commands' events" % sent)
                self.assertEqual([i for i, p in enumerate(readers) if p.eof], [],
                                 "a reading subscriber was disconnected")
            for line in admin.lines:
                self.assertIs(json.loads(line)["ok"], True, line)
            self.assertEqual(len(admin.lines), 1 + sent)
            # The last event: the readers all get it too.
            last = self.last_seq()
            pump(everyone, lambda: all(p.nlines >= 1 + last - first for p in readers), 20,
                 "every reader to reach seq %d" % last)
            for p in readers:
                seqs = [int(x) for x in re.findall(rb'"seq":(\d+)', bytes(p.buf) + b"\n".join(
                    p.lines[1:]))] if p.keep_lines else None
                if seqs is not None:
                    self.assertEqual(seqs, list(range(first + 1, last + 1)),
                                     "a reader missed or reordered events")
                else:
                    self.assertEqual(p.nlines, 1 + last - first)
                self.assertFalse(p.eof)
            for line in readers[0].lines[1:]:
                e = json.loads(line)["event"]
                self.assertNotEqual(e["type"], "overflow")
            # The stuck one: the reply, events in order, one overflow line, EOF.
            stuck.read = True
            stuck.want = "eof"
            stuck.keep_lines = True
            pump([stuck], stuck.done, 20, "the stuck subscriber's EOF")
            lines = [json.loads(x) for x in stuck.lines]
            self.assertIs(lines[0]["ok"], True)
            kinds = [("overflow" if "event" in x and x["event"]["type"] == "overflow"
                      else "event" if "event" in x else "other") for x in lines[1:]]
            self.assertEqual(kinds.count("overflow"), 1, "overflow lines")
            self.assertEqual(kinds[-1], "overflow", "lines after the overflow")
            self.assertEqual(kinds.count("other"), 0)
            self.assertNotIn("seq", lines[-1]["event"])
            got = [x["event"]["seq"] for x in lines[1:-1]]
            self.assertEqual(got, list(range(first + 1, first + 1 + len(got))))
            self.assertLess(len(got), last - first, "the stuck subscriber got everything")
            self.assertFalse(stuck.buf, "a partial line at the end")
            return sent
        finally:
            for p in everyone:
                p.close()
            # Leave the daemon as it was: not paused.
            self.d.result("resume")

    def last_seq(self):
        with self.d.events(follow=False) as ev:
            return ev.reply["result"]["last_seq"]

    def malformed(self, corpus):
        """N_MALFORMED bad lines over 8 pipelining connections; every reply
        well-formed, with the right code and id; then over-long lines."""
        flat = [(k, l, c, i) for k, items in corpus.items() for (l, c, i) in items]
        deep = [x for x in flat if len(x[1]) > 1000]
        small = [x for x in flat if len(x[1]) <= 1000]
        # Mostly small lines; every deep one a few times (they cost 60 KiB each).
        lines = deep * 3
        rnd = random.Random(6)
        while len(lines) < N_MALFORMED:
            lines.append(small[rnd.randrange(len(small))])
        lines = lines[:N_MALFORMED]
        rnd.shuffle(lines)
        nconn = 8
        shares = [lines[i::nconn] for i in range(nconn)]
        path = self.d.socket_path
        peers = [Peer(path, b"".join(x[1] + b"\n" for x in share), want=len(share))
                 for share in shares]
        try:
            pump(peers, lambda: all(p.done() for p in peers), 60, "100000 error replies")
            seen, wrong = {}, {}
            for share, p in zip(shares, peers):
                self.assertFalse(p.eof, "the daemon closed a connection")
                self.assertEqual(len(p.lines), len(share))
                for (kind, line, code, ident), rep in zip(share, p.lines):
                    try:
                        r = json.loads(rep)
                    except ValueError:
                        raise AssertionError("%s line %r: a reply that is not JSON: %r"
                                             % (kind, line[:120], rep[:300]))
                    err = r.get("error")
                    ok = (r.get("ok") is False and isinstance(err, dict)
                          and err.get("code") == code and isinstance(err.get("message"), str)
                          and err["message"] and set(r) <= {"ok", "error", "id"})
                    if ident is None:
                        ok = ok and "id" not in r
                    else:
                        ok = ok and r.get("id") == ident
                    if not ok and len(wrong) < 30 and line not in wrong:
                        wrong[line] = "%s line %r: expected %s (id %r), got %r" % (
                            kind, line[:120], code, ident, rep[:300])
                    seen[kind] = seen.get(kind, 0) + 1
            self.assertEqual(list(wrong.values()), [], "wrong replies")
            self.assertEqual(set(seen), set(corpus), "a kind of line was never sent")
        finally:
            for p in peers:
                p.close()
        # Over-long lines: line-too-long, then the connection is closed.
        peers = []
        for size in (65537, 65600, 100000, 200000, 1 << 20):
            for tail in (b"\n", b""):
                body = b'{"cmd":"ping","id":"' + b"a" * size + b'"}'
                peers.append(Peer(path, body + tail, want="eof"))
        try:
            pump(peers, lambda: all(p.done() for p in peers), 20, "over-long lines")
            for p in peers:
                p.lines += [bytes(p.buf)] if p.buf else []
                self.assertEqual(len(p.lines), 1, p.lines[:3])
                r = json.loads(p.lines[0])
                self.assertEqual(r["error"]["code"], "line-too-long", r)
        finally:
            for p in peers:
                p.close()

    def silent_and_half(self):
        """Clients that send nothing and clients that send half a line and
        close; the daemon serves others meanwhile and frees them all."""
        path = self.d.socket_path
        silent = [Peer(path) for _ in range(200)]
        try:
            half = []
            for i in range(200):
                p = Peer(path, [b'{"cmd":"pi', b'{"cmd":"status","id":', b"\xff\xfe",
                                b'{"cmd":"pause"'][i % 4])
                half.append(p)
            pump(half, lambda: all(not p.out for p in half), 10, "half lines sent")
            for p in half:
                p.close()
            self.assertLess(self.status_ms(5), 10, "status slow with 200 silent clients")
            with self.d.connect() as c:
                self.assertOk(c.request({"cmd": "ping"}))
        finally:
            for p in silent:
                p.close()
        self.assertIs(self.d.status()["paused"], False, "half a pause line paused")

    def flood_without_reading(self):
        """A peer pipelining tiny bad lines and never reading: the daemon
        stops reading it instead of buffering ~50 times its input."""
        rss0 = rss_kb(self.pid)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.d.socket_path)
        s.setblocking(False)
        chunk = b"x\n" * 32768
        sent = 0
        deadline = time.monotonic() + 3
        stalled_since = None
        try:
            while time.monotonic() < deadline:
                try:
                    sent += s.send(chunk)
                    stalled_since = None
                except BlockingIOError:
                    if stalled_since is None:
                        stalled_since = time.monotonic()
                    elif time.monotonic() - stalled_since > 0.3:
                        break  # the daemon stopped reading us: as it should
                    time.sleep(0.01)
            grown = rss_kb(self.pid) - rss0
            self.assertLess(grown, 16 * 1024, "RSS grew %d KiB for %d unread bytes sent"
                            % (grown, sent))
            self.assertLess(sent, 8 << 20, "the daemon kept reading a peer that never reads")
            # Meanwhile, others are served at once.
            self.assertLess(self.status_ms(5), 10)
            # When it reads at last, it gets the replies in order.
            s.setblocking(True)
            s.settimeout(10)
            buf = b""
            while buf.count(b"\n") < 1000:
                buf += s.recv(1 << 16)
            first = json.loads(buf.split(b"\n", 1)[0])
            self.assertEqual(first["error"]["code"], "parse-error")
        finally:
            s.close()

    def round(self, corpus):
        t0 = time.monotonic()
        self.many_clients()
        t1 = time.monotonic()
        n = self.subscribers()
        t2 = time.monotonic()
        self.malformed(corpus)
        t3 = time.monotonic()
        self.silent_and_half()
        self.flood_without_reading()
        t4 = time.monotonic()
        sys.stderr.write("round: %d clients %.1fs, %d subscribers (%d commands) %.1fs, "
                         "%d malformed %.1fs, silent/half/flood %.1fs\n"
                         % (N_CLIENTS, t1 - t0, N_SUBSCRIBERS, n, t2 - t1, N_MALFORMED,
                            t3 - t2, t4 - t3))

    def test_hostile_peers_two_rounds(self):
        corpus = malformed_corpus()
        fds0 = fd_count(self.pid)
        state0 = self.d.status()
        self.round(corpus)
        fds1 = self.settled_fds(fds0)
        ms1 = self.status_ms()
        rss1 = rss_kb(self.pid)
        self.round(corpus)
        self.settled_fds(fds1)
        ms2 = self.status_ms()
        rss2 = rss_kb(self.pid)
        sys.stderr.write("status median %.2f ms / %.2f ms; fds %d; RSS %d KiB / %d KiB "
                         "(%+.1f %%)\n" % (ms1, ms2, fds0, rss1, rss2,
                                           100.0 * (rss2 - rss1) / rss1))
        self.assertLess(ms1, 10, "status median after round 1")
        self.assertLess(ms2, 10, "status median after round 2")
        if fodtest.sanitized():
            # ASan keeps freed memory in its quarantine (256 MiB by default),
            # so RSS grows from round to round with nothing leaked (+19 % was
            # seen): in that build, leaks are LeakSanitizer's to find at exit.
            sys.stderr.write("RSS growth not judged in an ASan build\n")
        else:
            self.assertLessEqual(rss2, rss1 * 1.10, "RSS grew from round 1 to round 2")
        # Nothing of it changed the daemon's state.
        s = self.d.status()
        for k in ("state", "state_since", "paused", "forced", "degraded"):
            self.assertEqual(s[k], state0[k], k)
        self.assertEqual(s["counters"]["failovers"], 0)
        self.assertTrue(self.d.running())
        self.assertEqual(self.d.stop(), 0)

    def test_pipelined_pause_resume_settles(self):
        """pause and resume in one write (or from two clients at the same
        moment): the daemon ends resumed and quiet, with one pause event
        each, instead of bouncing between the two forever."""
        with self.d.connect() as c:
            seq0 = self.last_seq()
            c.send_raw(b'{"cmd":"pause","id":1}\n{"cmd":"resume","id":2}\n')
            self.assertEqual([c.read_json()["id"], c.read_json()["id"]], [1, 2])
        time.sleep(0.5)  # let any echo of the two run; then it must be still
        seq1 = self.last_seq()
        time.sleep(0.5)
        seq2 = self.last_seq()
        with self.d.events(backlog=100, types=["pause"], follow=False) as ev:
            pauses = [e for e in ev.read_until_closed() if e["seq"] > seq0]
        self.assertEqual(seq2, seq1, "events keep coming after pause+resume: %d in 0.5 s"
                         % (seq2 - seq1))
        self.assertEqual([e["paused"] for e in pauses], [True, False])
        self.assertIs(self.d.status()["paused"], False)


if __name__ == "__main__":
    fodtest.main()
