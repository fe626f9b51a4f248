#!/usr/bin/env python3
"""The fakes never print a traceback (operator audit #16): a client that
goes away in the middle of a request or a reply -- failoverd cancelling a
request, a demo stopped with ^C -- is normal for a fake server. Each fake is
hit by clients that reset the connection while the fake is still answering;
what the fakes print on stderr meanwhile must hold no traceback."""

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import struct
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
from fake_fly import FakeFly  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402


def reset_midway(port, request, wait=0.2):
    """Sends request, waits a little, then resets the connection (RST)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.sendall(request)
    time.sleep(wait)  # the fake is in the middle of its answer
    s.close()


class FakesTest(unittest.TestCase):

    def run_quietly(self, fn):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            fn()
        return err.getvalue()

    def test_fake_primary(self):
        fp = FakePrimary(mode="slowloris").start()
        self.addCleanup(fp.stop)

        def go():
            for _ in range(3):
                reset_midway(fp.port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n", 1.2)
            fp.set_mode("huge", size=8 << 20)
            reset_midway(fp.port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n", 0.1)
            wait_until(lambda: fp.request_count >= 4, 5, msg="the requests served")
            time.sleep(0.5)  # the handlers notice the reset
        out = self.run_quietly(go)
        self.assertNotIn("Traceback", out)

    def test_fake_fly(self):
        fly = FakeFly(tokens=["t"]).start()
        self.addCleanup(fly.stop)
        fly.add_app("a")
        fly.fault(path=r"/machines$", delay=0.5, count=3)

        def go():
            for _ in range(3):
                reset_midway(fly.port, b"GET /v1/apps/a/machines HTTP/1.1\r\nHost: x\r\n"
                             b"Authorization: Bearer t\r\n\r\n", 0.1)
            wait_until(lambda: len(fly.requests()) >= 3, 5, msg="the requests")
            time.sleep(0.8)  # the delayed replies meet the closed sockets
        out = self.run_quietly(go)
        self.assertNotIn("Traceback", out)

    def test_fake_telegram(self):
        tg = FakeTelegram().start()
        self.addCleanup(tg.stop)
        tg.fault(delay=0.5, count=3)
        body = b'{"chat_id":"4242","text":"x"}'

        def go():
            for _ in range(3):
                reset_midway(tg.port, b"POST /bot123456:test-token-AAAAAAAAAAAA/sendMessage "
                             b"HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body), 0.1)
            time.sleep(0.8)
        out = self.run_quietly(go)
        self.assertNotIn("Traceback", out)


class ProgramsStopQuietly(unittest.TestCase):
    """^C (SIGINT) or SIGTERM to a fake run as a program, and ^C to the demo
    (its whole process group, as a terminal sends it): no traceback."""

    def start_fake(self, name, *args):
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "fakes", name), "--port", "0"]
                             + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             env=dict(fodtest.BASE_ENV, PYTHONDONTWRITEBYTECODE="1"))

        def reap():
            if p.poll() is None:
                p.kill()
            p.communicate()
        self.addCleanup(reap)
        line = p.stdout.readline().decode()
        if not line:
            p.wait(10)
            self.fail("%s printed no port: %s" % (name, p.stderr.read()))
        first = json.loads(line)
        port = first["port"] if isinstance(first, dict) else int(first)
        # Serving: one request answered.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertRegex(s.recv(100), rb"^HTTP/1\.[01] \d{3} ")
        return p

    def stop(self, p, sig, codes):
        p.send_signal(sig)
        _, err = p.communicate(timeout=10)
        err = err.decode(errors="replace")
        self.assertNotIn("Traceback", err)
        self.assertIn(p.returncode, codes, err)

    def test_fakes_on_sigint_and_sigterm(self):
        for name in ("fake_primary.py", "fake_fly.py", "fake_telegram.py"):
            for sig, codes in ((signal.SIGINT, (0, 130)), (signal.SIGTERM, (143,))):
                with self.subTest(fake=name, sig=sig):
                    self.stop(self.start_fake(name), sig, codes)

    def test_demo_interrupted(self):
        if not os.path.exists(fodtest.FAILOVERD):
            self.skipTest("failoverd is not built")
        if shutil.which("rclone") is None:
            self.skipTest("rclone is not installed (the demo needs it)")
        tmp = tempfile.mkdtemp(prefix="fodfakes.")
        self.addCleanup(shutil.rmtree, tmp, True)
        out_path = os.path.join(tmp, "out")
        env = dict(os.environ, FOD_BUILDDIR=fodtest.BUILDDIR, PYTHONDONTWRITEBYTECODE="1")
        with open(out_path, "wb") as out:
            p = subprocess.Popen([sys.executable, os.path.join(fodtest.SRCDIR, "contrib",
                                                               "demo.py")],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env=env, start_new_session=True)
        self.addCleanup(lambda: p.poll() is None and os.killpg(p.pid, signal.SIGKILL))

        def text():
            with open(out_path, "rb") as f:
                return f.read().decode(errors="replace")
        # In the middle of the failover: a fake is serving, failoverd polling.
        wait_until(lambda: "the primary goes down" in text(), 30, msg="the demo's failover")
        os.killpg(p.pid, signal.SIGINT)
        rc = p.wait(30)
        out = text()
        self.assertNotIn("Traceback", out)
        self.assertEqual(rc, 130, out)
        self.assertIn("demo: interrupted", out)
        # Nothing of the demo is left (its temp dir is in every command line).
        wait_until(lambda: not [pid for pid in os.listdir("/proc") if pid.isdigit()
                                and b"failoverd-demo." in fodtest.process_cmdline(int(pid))],
                   10, msg="the demo's processes to be gone")


if __name__ == "__main__":
    unittest.main(verbosity=2)
