#!/usr/bin/env python3
"""systemd Type=notify without libsystemd: READY, STATUS, RELOADING,
STOPPING and WATCHDOG datagrams on $NOTIFY_SOCKET (failoverd(8) SYSTEMD)."""
import os
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402

QUIET = {"PROVIDER": "none", "CHECK_INTERVAL": "1h", "FAST_INTERVAL": "1h"}


class Notify:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "fodtest-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.dir = tempfile.mkdtemp(prefix="fodnotify.")
            self.path = os.path.join(self.dir, "notify")
            self.sock.bind(self.path)
            self.env = self.path
        self.sock.settimeout(0.05)
        self.messages = []

    def poll(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.messages

    def seen(self, text):
        return any(text in m.split("\n") for m in self.poll())

    def count(self, text):
        return sum(1 for m in self.poll() if text in m.split("\n"))

    def close(self):
        self.sock.close()


class SdNotifyTest(fodtest.DaemonTestCase):
    def test_ready_status_reload_stopping(self):
        n = Notify()
        self.addCleanup(n.close)
        d = self.start_daemon(QUIET, env={"NOTIFY_SOCKET": n.env})
        wait_until(lambda: n.seen("READY=1"), 5, msg="READY=1")
        self.assertTrue(any(line.startswith("STATUS=") for m in n.messages
                            for line in m.split("\n")), n.messages)
        before = n.count("READY=1")
        d.send_signal(signal.SIGHUP)
        wait_until(lambda: n.seen("RELOADING=1"), 5, msg="RELOADING=1")
        # After a reload the service is ready again.
        wait_until(lambda: n.count("READY=1") > before, 5, msg="READY=1 after reload")
        self.assertEqual(d.stop(), 0)
        wait_until(lambda: n.seen("STOPPING=1"), 5, msg="STOPPING=1")

    def test_status_says_paused_and_degraded(self):
        """STATUS= follows the pause and degraded, not only the state."""
        n = Notify()
        self.addCleanup(n.close)
        d = self.start_daemon({"PROVIDER": "command", "ACTIVATE_CMD": "exit 3",
                               "DEACTIVATE_CMD": "true", "CHECK_INTERVAL": "1h",
                               "FAST_INTERVAL": "1h", "STARTUP_GRACE": "0"},
                              env={"NOTIFY_SOCKET": n.env})
        wait_until(lambda: n.seen("READY=1"), 5, msg="READY=1")

        def status_has(text):
            return any(line.startswith("STATUS=") and text in line
                       for m in n.poll() for line in m.split("\n"))
        wait_until(lambda: status_has("STATUS=primary"), 5, msg="STATUS=primary")
        d.result("pause", duration="1h")
        until = d.status()["paused_until"]
        wait_until(lambda: status_has("primary, paused until " + until), 5,
                   msg="STATUS= with the pause")
        n.messages.clear()
        d.result("resume")
        wait_until(lambda: any(line == "STATUS=primary" for m in n.poll()
                               for line in m.split("\n")), 5, msg="STATUS= without the pause")
        d.result("force-activate", reason="drill")
        wait_until(lambda: status_has("failing-over, degraded: activate failed"), 10,
                   msg="STATUS= with degraded")

    def test_abstract_socket_and_watchdog(self):
        n = Notify(abstract=True)
        self.addCleanup(n.close)
        d = self.start_daemon(QUIET, env={"NOTIFY_SOCKET": n.env,
                                          "WATCHDOG_USEC": "200000"})
        wait_until(lambda: n.seen("READY=1"), 5, msg="READY=1 on an abstract socket")
        # Every 100 ms (half of WATCHDOG_USEC): several within a second.
        wait_until(lambda: n.count("WATCHDOG=1") >= 4, 5, msg="WATCHDOG=1 pings")
        self.assertEqual(d.stop(), 0)

    def test_no_notify_socket_is_fine(self):
        d = self.start_daemon(QUIET)
        self.assertEqual(d.result("ping")["protocol"], 1)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
