#!/usr/bin/env python3
"""fake_telegram: a Telegram Bot API stand-in for failoverd's tests (stdlib only).

Follows /work/shared/notes/external-apis.md §2:
- /bot<TOKEN>/<method>, GET or POST, method names case-insensitive;
  parameters from the query string, application/x-www-form-urlencoded or
  application/json (a JSON body must be an object).
- Success: 200 {"ok":true,"result":...}. Errors: HTTP status == error_code,
  body {"ok":false,"error_code":N,"description":"..."}.
- An unknown token -> 401 "Unauthorized"; a path that is not
  /bot<token>/<method>, or an unknown method -> 404 "Not Found".
- sendMessage: chat_id (integer or string, compared as a string) and text
  are required. A missing chat_id -> 400 "Bad Request: chat_id is empty"; an
  unknown chat -> 400 "Bad Request: chat not found"; a text that is missing
  or only white space -> 400 "Bad Request: message text is empty"; over 4096
  characters -> 400 "Bad Request: message is too long". Characters are
  counted as UTF-16 code units (what Telegram's own offsets use; the
  stricter reading of "1-4096 characters").
  200 result: the Message {"message_id","from":{...,"is_bot":true},
  "chat":{"id","type"},"date","text"}.
- getMe: 200 {"ok":true,"result":{"id","is_bot":true,"first_name","username"}}.
- Flood control: fake.flood(seconds) -> every sendMessage before then gets
  429 {"description":"Too Many Requests: retry after N",
  "parameters":{"retry_after":N}}, N the whole seconds left (at least 1).
  `old_style=True` leaves out "parameters" (older replies did).

Faults (Python API; count=None = every matching request; path is a regex
searched in the path, method "*" matches all):
    fake.fault(status=500, count=2)           # {"ok":false,"error_code":500,...}
    fake.fault(status=502, html=True)         # an HTML error page (a proxy's)
    fake.fault(garbage=True)                  # 200 with a body that is not JSON
    fake.fault(close=True)                    # connection closed, no reply
    fake.fault(hang=True)                     # never answers (until stop)
    fake.fault(status=429, retry_after=2, retry_after_in="header")
        # "parameters" (default), "description" or "header" (Retry-After)
    fake.set_down(True) / set_down(False)     # listening socket closed:
                                              # connection refused; reopened
                                              # on the same port
Records: fake.requests() -> every request: {"method","path" (token shown
as <token>),"token_ok","content_type","params","time","status"};
fake.messages(chat_id=None) -> the delivered ones: {"chat_id","text","time",
"message_id"}.

Run as a script: `fake_telegram.py [--port N] [--token T] [--chat C]`;
prints the port on the first line.
"""

import argparse
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from quiet import QuietThreadingHTTPServer, run_main

TEXT_MAX = 4096
HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
            b"</body>\r\n</html>\r\n")


def utf16_len(s):
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


class Fault:
    def __init__(self, method="*", path=".*", status=None, body=None, headers=None,
                 count=1, hang=False, delay=0.0, garbage=False, html=False, close=False,
                 retry_after=None, retry_after_in="parameters", description=None):
        self.method = (method or "*").upper()
        self.path = re.compile(path or ".*")
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.count = count
        self.hang = hang
        self.delay = delay
        self.garbage = garbage
        self.html = html
        self.close = close
        self.retry_after = retry_after
        self.retry_after_in = retry_after_in
        self.description = description

    def matches(self, method, path):
        return ((self.method == "*" or self.method == method)
                and self.path.search(path) is not None
                and (self.count is None or self.count > 0))


class FakeTelegram:
    def __init__(self, tokens=("123456:test-token-AAAAAAAAAAAA",), chats=("4242",),
                 host="127.0.0.1", port=0):
        self.tokens = [tokens] if isinstance(tokens, str) else list(tokens)
        self.chats = [str(c) for c in ([chats] if isinstance(chats, (str, int)) else chats)]
        self.host = host
        self._port = port
        self.lock = threading.RLock()
        self.faults = []
        self._requests = []
        self._messages = []
        self._next_id = 1
        self._flood_until = 0.0
        self._flood_old_style = False
        self._stopping = threading.Event()
        self.server = None
        self.thread = None

    # --- set-up -----------------------------------------------------------
    def fault(self, **kw):
        f = Fault(**kw)
        with self.lock:
            self.faults.append(f)
        return f

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def flood(self, seconds, old_style=False):
        with self.lock:
            self._flood_until = time.time() + seconds
            self._flood_old_style = old_style

    def requests(self, method=None):
        with self.lock:
            out = list(self._requests)
        if method:
            out = [r for r in out if r["api_method"].lower() == method.lower()]
        return out

    def messages(self, chat_id=None):
        with self.lock:
            out = list(self._messages)
        if chat_id is not None:
            out = [m for m in out if m["chat_id"] == str(chat_id)]
        return out

    def clear(self):
        with self.lock:
            self._requests = []
            self._messages = []

    # --- life -------------------------------------------------------------
    def _serve(self):
        fake = self

        class Handler(_Handler):
            pass
        Handler.fake = fake
        self.server = QuietThreadingHTTPServer((self.host, self._port), Handler)
        self.server.daemon_threads = True
        self._port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def start(self):
        self._serve()
        return self

    def stop(self):
        self._stopping.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def set_down(self, down):
        """Down: nothing listens on the port (connection refused)."""
        if down and self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        elif not down and self.server is None:
            self._serve()

    @property
    def port(self):
        return self._port

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- the API ----------------------------------------------------------
    def _take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f.matches(method, path):
                    if f.count is not None:
                        f.count -= 1
                    return f
        return None

    @staticmethod
    def error(code, description, parameters=None):
        b = {"ok": False, "error_code": code, "description": description}
        if parameters:
            b["parameters"] = parameters
        return code, b, {}

    def handle(self, token, api_method, params):
        """Returns (status, json-able body, extra headers)."""
        if token not in self.tokens:
            return self.error(401, "Unauthorized")
        m = api_method.lower()
        if m == "getme":
            return 200, {"ok": True, "result": {
                "id": int(token.split(":")[0]) if token.split(":")[0].isdigit() else 1,
                "is_bot": True, "first_name": "failoverd test", "username": "fod_test_bot"}}, {}
        if m != "sendmessage":
            return self.error(404, "Not Found")
        with self.lock:
            left = self._flood_until - time.time()
            if left > 0:
                n = max(1, int(left + 0.999))
                if self._flood_old_style:
                    return self.error(429, "Too Many Requests: retry after %d" % n)
                return self.error(429, "Too Many Requests: retry after %d" % n,
                                  {"retry_after": n})
        chat = params.get("chat_id")
        if chat is None or str(chat) == "":
            return self.error(400, "Bad Request: chat_id is empty")
        chat = str(chat)
        if chat not in self.chats:
            return self.error(400, "Bad Request: chat not found")
        text = params.get("text")
        if not isinstance(text, str) or text.strip() == "":
            return self.error(400, "Bad Request: message text is empty")
        if utf16_len(text) > TEXT_MAX:
            return self.error(400, "Bad Request: message is too long")
        with self.lock:
            mid = self._next_id
            self._next_id += 1
            now = time.time()
            self._messages.append({"chat_id": chat, "text": text, "time": now,
                                   "message_id": mid})
        result = {
            "message_id": mid,
            "from": {"id": 123456, "is_bot": True, "first_name": "failoverd test",
                     "username": "fod_test_bot"},
            "chat": {"id": int(chat) if re.fullmatch(r"-?\d+", chat) else 0,
                     "type": "private" if not chat.startswith("-") else "supergroup"},
            "date": int(now),
            "text": text,
        }
        return 200, {"ok": True, "result": result}, {}

    def record(self, rec):
        with self.lock:
            self._requests.append(rec)


class _Handler(BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, obj, headers=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        return status

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _params(self, query, body):
        """Query, then the body (which wins); None when the body is bad."""
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not body:
            return params
        if ctype == "application/json":
            try:
                obj = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return None
            if not isinstance(obj, dict):
                return None
            params.update(obj)
        elif ctype == "application/x-www-form-urlencoded":
            try:
                form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                return None
            params.update({k: v[-1] for k, v in form.items()})
        return params

    def _dispatch(self, method):
        fake = self.fake
        u = urllib.parse.urlsplit(self.path)
        body = self._body()
        mt = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", u.path)
        token = urllib.parse.unquote(mt.group(1)) if mt else None
        api_method = mt.group(2) if mt else ""
        shown = re.sub(r"^/bot[^/]*", "/bot<token>", u.path)
        params = self._params(u.query, body)
        rec = {"method": method, "path": shown, "api_method": api_method,
               "token_ok": token in fake.tokens,
               "content_type": self.headers.get("Content-Type"),
               "params": params, "time": time.time(), "status": None}
        fake.record(rec)
        f = fake._take_fault(method, shown)
        if f is not None:
            if f.hang:
                fake._stopping.wait()
                rec["status"] = 0
                self.close_connection = True
                return
            if f.close:
                rec["status"] = 0
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if f.delay:
                time.sleep(f.delay)
            if f.garbage:
                rec["status"] = self._reply(200, None, raw=b"this is not json {",
                                            ctype="text/plain")
                return
            if f.html:
                rec["status"] = self._reply(f.status or 502, None, raw=HTML_502,
                                            ctype="text/html")
                return
            if f.status is not None:
                if f.body is not None:
                    b = f.body
                else:
                    desc = f.description or {
                        429: "Too Many Requests", 500: "Internal Server Error",
                        502: "Bad Gateway", 503: "Service Unavailable"}.get(
                            f.status, "Error %d" % f.status)
                    b = {"ok": False, "error_code": f.status, "description": desc}
                hdrs = dict(f.headers)
                if f.retry_after is not None:
                    if f.retry_after_in == "parameters":
                        b["description"] = "Too Many Requests: retry after %d" % f.retry_after
                        b["parameters"] = {"retry_after": f.retry_after}
                    elif f.retry_after_in == "description":
                        b["description"] = "Too Many Requests: retry after %d" % f.retry_after
                    else:
                        hdrs["Retry-After"] = str(f.retry_after)
                raw = (b.encode() if isinstance(b, str) else b) if isinstance(
                    b, (bytes, str)) else None
                rec["status"] = self._reply(f.status, b, hdrs, raw=raw)
                return
        if mt is None:
            rec["status"] = self._reply(*fake.error(404, "Not Found")[:2])
            return
        if params is None:
            rec["status"] = self._reply(
                *fake.error(400, "Bad Request: can't parse request body")[:2])
            return
        status, obj, hdrs = fake.handle(token, api_method, params)
        rec["status"] = self._reply(status, obj, hdrs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", action="append")
    ap.add_argument("--chat", action="append")
    a = ap.parse_args()
    fake = FakeTelegram(tokens=a.token or ["123456:test-token-AAAAAAAAAAAA"],
                        chats=a.chat or ["4242"], port=a.port).start()
    print(fake.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    sys.exit(run_main(main))
