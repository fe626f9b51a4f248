#!/usr/bin/env python3
"""fake_primary: a primary service's health endpoint for failoverd's tests.

Speaks raw HTTP/1.1 over TCP (stdlib only, one thread per connection) so it
can also misbehave. Modes (any path; a response closes the connection unless
keep_alive):

  up          200, body "ok" (or `body`)
  down        the listening socket is closed: connections are refused
  503         503 "unavailable" (`status` picks another code, e.g. mode="status", status=404)
  status      `status` with body "status"
  slow        waits `delay_ms`, then 200 "ok"
  hang        reads the request and never answers (until the client closes or stop())
  wrong-body  200 with a body other than "ok" ("everything is fine" or `body`)
  garbage     non-HTTP bytes, then close
  reset       reads the request, then resets the connection (RST)
  huge        200 with a body of `size` bytes (default 1 MiB)
  slowloris   200 and headers at once, then the body one byte a second

`idle_timeout` (seconds, default 10) is how long a connection may stay idle
before its first (or next keep-alive) request: then the server closes it, as
real servers do (with `idle_reset=True` it resets it instead, RST).
reset_idle() resets every connection idle at that moment (a crash, as the
client sees it).

`retry_after` (a string) adds a Retry-After header to any response, `location`
a Location header; `keep_alive=True` serves several requests per connection
in modes up, 503, status and wrong-body. FakePrimary(ssl_context=ctx) serves HTTPS instead.

In-process:
    fp = FakePrimary(mode="up").start()
    fp.set_mode("503", retry_after="7"); fp.port; fp.url; fp.request_count
    fp.arrivals() (monotonic times of requests), fp.max_concurrent
    fp.wait_requests(n, timeout) -> bool; fp.stop()

As a script: `fake_primary.py [--port N] [--mode M] [--delay-ms MS]
[--idle-timeout S] [--pid-file PATH]` (the PID file is written once
listening, as a daemon does, so a separate process can be killed); prints
one JSON line {"port","control_port"} and serves until killed. The control
port (always up, even in mode down) takes POST /_mode with a JSON object of
set_mode's keyword arguments, and GET /_stats returns
{"mode","request_count","connections","max_concurrent","arrivals"}.
"""

import argparse
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

from quiet import QuietThreadingHTTPServer, QuietThreadingTCPServer, run_main

MODES = ("up", "down", "503", "status", "slow", "hang", "wrong-body", "garbage",
         "reset", "huge", "slowloris")


class _Server(QuietThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def shutdown_request(self, request):
        # reset_idle(): close with SO_LINGER 0 and no FIN first, so the
        # client sees a reset (RST), not an orderly close.
        if self.fake.take_reset(request):
            request.close()
        else:
            super().shutdown_request(request)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.fake._serve(self.request)


class FakePrimary:
    def __init__(self, mode="up", host="127.0.0.1", port=0, ssl_context=None, **opts):
        self.host = host
        self.ssl_context = ssl_context
        self.port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._arrivals = []
        self.connections = 0
        self.concurrent = 0
        self.max_concurrent = 0
        self.idle_closed = 0
        self._idle_socks = set()
        self._reset_socks = set()
        self._mode = "up"
        self._opts = {}
        self._pending = (mode, opts)

    # --- control ---------------------------------------------------------
    def start(self):
        mode, opts = self._pending
        self._listen()
        self.set_mode(mode, **opts)
        return self

    def stop(self):
        self._stopping.set()
        self._unlisten()

    @property
    def url(self):
        scheme = "https" if self.ssl_context is not None else "http"
        return "%s://%s:%d/status" % (scheme, self.host, self.port)

    @property
    def mode(self):
        return self._mode

    def set_mode(self, mode, **opts):
        """mode as in the module doc; opts: body, status, delay_ms, size, retry_after."""
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        with self._lock:
            self._mode = mode
            self._opts = dict(opts)
        if mode == "down":
            self._unlisten()
        elif self._server is None and not self._stopping.is_set():
            self._listen()

    @property
    def request_count(self):
        with self._lock:
            return len(self._arrivals)

    def arrivals(self):
        with self._lock:
            return list(self._arrivals)

    def reset_stats(self):
        with self._lock:
            self._arrivals = []
            self.connections = 0
            self.max_concurrent = self.concurrent

    def wait_requests(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.request_count >= n:
                return True
            time.sleep(0.01)
        return self.request_count >= n

    def stats(self):
        with self._lock:
            return {"mode": self._mode, "request_count": len(self._arrivals),
                    "connections": self.connections,
                    "max_concurrent": self.max_concurrent,
                    "idle_closed": self.idle_closed,
                    "arrivals": list(self._arrivals)}

    # --- listening -------------------------------------------------------
    def _listen(self):
        srv = _Server((self.host, self.port), _Handler)
        srv.fake = self
        self.port = srv.server_address[1]
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True)
        t.start()
        self._server, self._thread = srv, t

    def _unlisten(self):
        srv, self._server = self._server, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()

    # --- one connection --------------------------------------------------
    def reset_idle(self):
        """Resets (RST) every connection that waits for a request now."""
        with self._lock:
            socks = list(self._idle_socks)
        for sock in socks:
            with self._lock:
                self._reset_socks.add(id(sock))
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # Wakes the thread reading it (nothing is sent); its close
                # then sends the RST.
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        return len(socks)

    def take_reset(self, sock):
        with self._lock:
            if id(sock) in self._reset_socks:
                self._reset_socks.discard(id(sock))
                return True
            return False

    def _read_request(self, sock):
        data = b""
        with self._lock:
            timeout = self._opts.get("idle_timeout", 10)
            idle_reset = self._opts.get("idle_reset", False)
            self._idle_socks.add(sock)
        sock.settimeout(timeout)
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                try:
                    chunk = sock.recv(4096)
                except socket.timeout:
                    if data:
                        return None
                    with self._lock:
                        self.idle_closed += 1
                    if idle_reset:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                    return None
                if not chunk:
                    return None
                data += chunk
                if not data[:1].isalpha():
                    # A TLS ClientHello (https:// to this plain server): answer
                    # as plain HTTP servers do, which the client sees as a
                    # TLS error.
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                    return None
        except OSError:
            return None
        finally:
            with self._lock:
                self._idle_socks.discard(sock)
        return data

    def _serve(self, sock):
        with self._lock:
            self.connections += 1
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        tls = None
        try:
            if self.ssl_context is not None:
                sock.settimeout(10)
                sock = tls = self.ssl_context.wrap_socket(sock, server_side=True)
            while True:
                req = self._read_request(sock)
                if req is None:
                    return
                with self._lock:
                    self._arrivals.append(time.monotonic())
                    mode, opts = self._mode, dict(self._opts)
                self._respond(sock, mode, opts)
                if not (opts.get("keep_alive") and mode in ("up", "503", "status",
                                                            "wrong-body")):
                    return
        except OSError:  # ssl.SSLError too: a client that refused our certificate
            pass
        finally:
            if tls is not None:
                tls.close()
            with self._lock:
                self.concurrent -= 1

    def _send(self, sock, status, body, opts, extra=()):
        reason = {200: "OK", 503: "Service Unavailable"}.get(status, "Status")
        head = ["HTTP/1.1 %d %s" % (status, reason),
                "Content-Type: text/plain",
                "Content-Length: %d" % len(body),
                "Connection: %s" % ("keep-alive" if opts.get("keep_alive") else "close")]
        if opts.get("retry_after") is not None:
            head.append("Retry-After: %s" % opts["retry_after"])
        if opts.get("location") is not None:
            head.append("Location: %s" % opts["location"])
        head.extend(extra)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _idle(self, sock, seconds):
        """Waits up to seconds; False when the peer closed or we stop."""
        deadline = time.monotonic() + seconds
        sock.settimeout(0.05)
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            try:
                if sock.recv(1024) == b"":
                    return False
            except socket.timeout:
                pass
        return False

    def _respond(self, sock, mode, opts):
        body = opts.get("body")
        if mode in ("up", "down"):
            self._send(sock, 200, (body or "ok").encode(), opts)
        elif mode == "503":
            self._send(sock, opts.get("status", 503), (body or "unavailable").encode(), opts)
        elif mode == "status":
            self._send(sock, opts.get("status", 500), (body or "status").encode(), opts)
        elif mode == "slow":
            if self._idle(sock, opts.get("delay_ms", 1000) / 1000.0):
                self._send(sock, 200, (body or "ok").encode(), opts)
        elif mode == "hang":
            self._idle(sock, 3600)
        elif mode == "wrong-body":
            self._send(sock, 200, (body or "everything is fine").encode(), opts)
        elif mode == "garbage":
            sock.sendall(b"\x00\x01garbage\xff\xfe not http at all\r\n\r\n")
        elif mode == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "huge":
            size = opts.get("size", 1024 * 1024)
            head = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n" % size)
            sock.sendall(head.encode())
            chunk = b"ok" * 32768
            left = size
            while left > 0:
                n = min(left, len(chunk))
                sock.sendall(chunk[:n])
                left -= n
        elif mode == "slowloris":
            text = (body or "ok, but slowly").encode()
            head = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                    % len(text))
            sock.sendall(head.encode())
            for i in range(len(text)):
                sock.sendall(text[i:i + 1])
                if not self._idle(sock, 1.0):
                    return


def _control_server(fake, port):
    class Control(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _reply(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_stats":
                self._reply(200, fake.stats())
            elif self.path == "/_reset_idle":
                self._reply(200, {"reset": fake.reset_idle()})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                args = json.loads(self.rfile.read(n) or b"{}")
                mode = args.pop("mode")
                if self.path == "/_mode":
                    fake.set_mode(mode, **args)
                    return self._reply(200, {"ok": True, "mode": mode})
                self._reply(404, {"error": "not found"})
            except (ValueError, KeyError, TypeError) as e:
                self._reply(400, {"error": str(e)})

    srv = QuietThreadingHTTPServer(("127.0.0.1", port), Control)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--mode", default="up", choices=MODES)
    ap.add_argument("--delay-ms", type=int, default=1000)
    ap.add_argument("--idle-timeout", type=float, default=10)
    ap.add_argument("--pid-file")
    a = ap.parse_args()
    fake = FakePrimary(mode=a.mode, port=a.port, delay_ms=a.delay_ms,
                       idle_timeout=a.idle_timeout).start()
    if a.pid_file:
        tmp = a.pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, a.pid_file)
    ctl = _control_server(fake, a.control_port)
    print(json.dumps({"port": fake.port, "control_port": ctl.server_address[1]}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    fake.stop()


if __name__ == "__main__":
    sys.exit(run_main(main))
