#!/usr/bin/env python3
"""The fakes never print a traceback (operator audit #16): a client that
goes away in the middle of a request or a reply -- failoverd cancelling a
request, a demo stopped with ^C -- is normal for a fake server. Each fake is
hit by clients that reset the connection while the fake is still answering;
what the fakes print on stderr meanwhile must hold no traceback."""

import contextlib
import io
import os
import socket
import struct
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
