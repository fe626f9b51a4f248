#!/usr/bin/env python3
"""STATE_FILE is written once per loop pass, and only as often as durable
facts change (issue 11 item 7): a dry-run failover and failback rename a
new STATE_FILE into place once per state change, not once per field; a
failback waiting for a late standby marker does not rewrite it per poll.

Renames are counted with inotify (IN_MOVED_TO on STATE_FILE's directory),
through ctypes: the real daemon, nothing stubbed.
"""

import ctypes
import ctypes.util
import os
import select
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_NONBLOCK = 0o4000


class Renames:
    """Counts files renamed into a directory, by name (inotify)."""

    def __init__(self, directory):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        # Both halves of each rename: the kernel folds consecutive identical
        # events, and two renames onto one name in a row would be one.
        if libc.inotify_add_watch(self.fd, directory.encode(),
                                  IN_MOVED_FROM | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self.names = []

    def poll(self):
        while select.select([self.fd], [], [], 0)[0]:
            buf = os.read(self.fd, 65536)
            i = 0
            while i < len(buf):
                _, mask, _, n = struct.unpack_from("iIII", buf, i)
                if mask & IN_MOVED_TO:
                    self.names.append(buf[i + 16:i + 16 + n].rstrip(b"\0").decode())
                i += 16 + n
        return self.names

    def count(self, name):
        return self.poll().count(name)

    def close(self):
        os.close(self.fd)


class StateSavesTest(fodtest.DaemonTestCase):

    def test_dry_run_failover_and_failback_write_once_per_state_change(self):
        fp = FakePrimary().start()
        self.addCleanup(fp.stop)
        d = self.start_daemon({"PROVIDER": "none", "LOCAL_HEALTH_URL": fp.url,
                               "CHECK_INTERVAL": "200ms", "FAST_INTERVAL": "50ms",
                               "MIN_STANDBY_TIME": "0", "RECOVERY_THRESHOLD": "2"})
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="primary")
        time.sleep(0.5)  # start-up's own writes are done
        name = os.path.basename(d.state_file)
        r = Renames(os.path.dirname(d.state_file))
        self.addCleanup(r.close)
        ev = d.events(types=["state"])
        self.addCleanup(ev.close)
        fp.set_mode("down")
        ev.wait_for(lambda e: e["to"] == "standby", 10)
        fp.set_mode("up")
        ev.wait_for(lambda e: e["to"] == "primary", 10)
        time.sleep(0.5)  # checks go on: they must not write
        changes = [e for e in ev.seen if e["type"] == "state"]
        self.assertEqual([e["to"] for e in changes],
                         ["failing-over", "standby", "failing-back", "primary"])
        self.assertEqual(r.count(name), len(changes), r.names)
        st = d.read_json_file(d.state_file)
        self.assertEqual(st["side"], "primary")
        self.assertEqual(st["counters"]["failovers"] if "counters" in st else st["failovers"], 1)


from test_failover_sync import SyncCase  # noqa: E402


class LateMarkerTest(SyncCase):

    def test_waiting_for_a_late_marker_does_not_rewrite_the_state_file(self):
        """The standby never writes its marker: the failback polls for it
        (rclone cat, every 200 ms) until SYNC_TIMEOUT; STATE_FILE is not
        rewritten per poll."""
        d = self.start(SYNC_TIMEOUT="4s")
        ev = self.events(d, ["state", "sync"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby")
        name = os.path.basename(d.state_file)
        r = Renames(os.path.dirname(d.state_file))
        self.addCleanup(r.close)
        self.primary.set_mode("up")
        self.wait_to(d, ev, "failing-back")
        # The stop, then the wait for the marker (no marker will come).
        wait_until(lambda: self.stops() == 1, 5, msg="the stop")
        time.sleep(0.6)
        before = r.count(name)
        time.sleep(2.0)  # about ten polls, all within SYNC_TIMEOUT
        self.assertEqual(d.status()["state"], "failing-back")
        self.assertEqual(r.count(name), before, "STATE_FILE rewritten while polling")
        self.wait_to(d, ev, "primary", timeout=20)
        pull = [e for e in ev.seen if e["type"] == "sync" and e["direction"] == "pull"]
        self.assertTrue(pull and pull[-1]["marker_waited"], pull)
        self.assertFalse(pull[-1]["marker_seen"])


if __name__ == "__main__":
    fodtest.main()
