#!/usr/bin/env python3
"""fake_fly: a Fly Machines API stand-in for failoverd's tests (stdlib only).

Follows /work/shared/notes/external-apis.md §1:
- GET  /v1/apps/{app}/machines            -> 200, JSON array of Machine objects
- GET  /v1/apps/{app}/machines/{id}       -> 200, one Machine
- POST /v1/apps/{app}/machines/{id}/start -> 200 {"previous_state","migrated","new_host"};
  the machine is `starting` for start_delay seconds, then `started`, with a
  new instance_id at every start. Allowed from stopped, suspended (a resume:
  the machine's `resumed` flag is set) and failed. From any other state
  (created, starting, started, stopping, replacing, ...) it answers 412
  {"error":"failed_precondition: unable to start machine from current state:
  'STATE'"}: a double start is loud here (the real answer for a started
  machine is UNVERIFIED).
- POST .../stop    -> 200 {"ok":true}; `stopping` for stop_delay, then
  `stopped`. From stopped it is a no-op 200. A body that is not a JSON object
  gets 400 {"error":"json: cannot unmarshal ... main.stopRequest"}.
- POST .../suspend -> 200 {"ok":true}; `suspending` for suspend_delay, then
  `suspended` (the machine keeps a snapshot). Only from `started`, else 412
  {"error":"failed_precondition: unable to suspend machine from current
  state: 'STATE'"}. A machine with `refuse_suspend` set (fake.refuse_suspend(
  app, id, status=400, error=...)) answers that instead: what the real API
  says for an ineligible machine is UNVERIFIED (notes/wave2.md §1.1), the
  default is 400 {"error":"invalid_argument: machine cannot be suspended:
  ..."}; the machine is unchanged.
- Start from `suspended` resumes: previous_state "suspended", `resumed` set,
  the snapshot used up. A stop of a `suspended` machine discards its
  snapshot and is recorded in fake.stops_of_suspended (machine ids): tests
  assert that failoverd never does it in suspended mode.
- Requests exactly as the OpenAPI defines them (as a validating proxy
  would check them): start, suspend and the lease release (DELETE) define
  no request body, so a non-empty body or any Content-Type on them gets 400
  {"error":"request validation: OPERATION defines no request body"} and
  changes nothing. Stop and the lease acquire take an optional JSON body.
- Machine leases (notes/wave2.md §1.2): POST .../lease (body {"ttl","
  description"} or ?ttl=N) -> 201 {"status":"success","data":{"nonce",
  "expires_at","owner","description","version"}}; with the holder's
  fly-machine-lease-nonce header it is a refresh (same nonce, new expiry);
  while another lease is held -> 409 {"status":"error","message":"machine ID
  ID lease currently held by OWNER, expires at T","code":"invalid"}. GET ->
  200 with the same envelope, 404 when none is held. DELETE needs the
  header: 200 {"status":"success","data":{"ok":true}}; a wrong or missing
  nonce -> 400; no lease -> 404 {"error":"lease not found"}. A lease lapses
  after ttl × lease_scale seconds. While a lease is held, start, stop and
  suspend without its nonce get 409 {"error":"aborted: machine ID ID lease
  currently held by OWNER, expires at T"} and change nothing.
  fake.lease_status = 404 (or 405) makes every lease endpoint answer that
  (a Machines API without leases). fake.grant_lease(app, id, ttl) takes a
  lease as another holder (owner "someone-else@fly.io").
- GET  .../wait?state=S&timeout=T[&instance_id=I|&version=I]: T in 1..60
  (default 60; else 400 invalid_argument); state=stopped without
  instance_id/version -> 400; 200 {"ok":true} once the state is reached, 408
  {"error":"machine failed to reach desired state, S, currently X"} after T
  seconds (times wait_scale, so tests can make 60 s short).
- Start/stop/suspend: more than `burst` requests within one second for one
  machine and action -> 429 {"error":"rate limit exceeded"}.
- Authorization: "Bearer TOKEN" or "FlyV1 TOKEN" for a configured token,
  else 401 {"error":"..."}. Unknown app/machine -> 404 {"error":"app not
  found"} / {"error":"machine not found"}.

Faults (Python API or POST /_fake/fault with the same keys as JSON):
    fake.fault(method="POST", path=r"/start$", status=412, body={...},
               count=1, headers={"Retry-After": "2"})
    fake.fault(path=r"/wait", hang=True)        # never answers (until stop)
    fake.fault(path=r"/machines$", delay=0.5)   # answers late, normally
    fake.fault(path=r"/machines$", garbage=True)  # 200 with non-JSON
  count=None means every matching request. path is a regex searched in the
  path (without the query); method "*" matches all.

Machine config: fake.machine(app, id).memory_mb / .swap_size_mb / .schedule
show in config.guest.memory_mb, config.init.swap_size_mb, config.schedule.

Records: fake.requests() -> [{"method","path","query" (dict of lists),
"headers" (Authorization as "<scheme> <redacted>"), "auth_scheme", "body",
"time", "status"}]; fake.starts(machine_id) counts accepted starts.

Control endpoint (no auth, not recorded): POST /_fake/fault, POST
/_fake/clear_faults, GET /_fake/requests, POST /_fake/app {"name",
"machines":[{"state","region"}]}, POST /_fake/state {"app","id","state"}.

Run as a script: `fake_fly.py [--port N] [--token T] [--app NAME
--machines stopped,suspended]`; prints the port on the first line.
"""

import argparse
import json
import random
import re
import string
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from quiet import QuietThreadingHTTPServer, run_main

STATE_START_ALLOWED = ("stopped", "suspended", "failed")
ACTIONS = ("start", "stop", "suspend")
# OpenAPI operations that define no request body (Machines_start,
# Machines_suspend, Machines_release_lease).
NO_BODY = {("POST", "start"): "Machines_start", ("POST", "suspend"): "Machines_suspend",
           ("DELETE", "lease"): "Machines_release_lease"}
NONCE_HEADER = "fly-machine-lease-nonce"


def _hexid(n=14):
    return "".join(random.choice("0123456789abcdef") for _ in range(n))


def _instance_id():
    return "01" + "".join(random.choice(string.ascii_uppercase + string.digits)
                          for _ in range(24))


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Machine:
    def __init__(self, app, state="stopped", region="iad", mid=None):
        self.app = app
        self.id = mid or _hexid()
        self.name = "standby-" + self.id[:6]
        self.state = state
        self.region = region
        self.instance_id = _instance_id()
        self.created = time.time()
        self.updated = self.created
        self.events = []
        self.resumed = False
        self.snapshot = state == "suspended"
        self.refuse = None  # (status, error) answered to suspend
        self.memory_mb = 256
        self.swap_size_mb = None
        self.schedule = None
        # {"nonce","owner","expires","description","version"} or None
        self.lease = None
        # A transition in progress: (final_state, at_time).
        self.pending = None

    def lease_held(self, now):
        if self.lease is not None and now >= self.lease["expires"]:
            self.lease = None
        return self.lease

    def tick(self, now):
        if self.pending and now >= self.pending[1]:
            self.state = self.pending[0]
            if self.state == "suspended":
                self.snapshot = True
            self.pending = None
            self.updated = now
            self.events.append({"type": self.state, "status": self.state,
                                "source": "flyd", "timestamp": int(now * 1000)})

    def begin(self, transient, final, delay, now):
        self.state = transient
        self.updated = now
        self.events.append({"type": transient, "status": transient,
                            "source": "user", "timestamp": int(now * 1000)})
        self.pending = (final, now + delay)
        if delay <= 0:
            self.tick(now)

    def to_json(self):
        cfg = {
            "image": "registry.fly.io/%s:deployment-1" % self.app,
            "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": self.memory_mb},
            "metadata": {"fly_process_group": "app",
                         "fly_platform_version": "v2"},
        }
        if self.swap_size_mb is not None:
            cfg["init"] = {"swap_size_mb": self.swap_size_mb}
        if self.schedule is not None:
            cfg["schedule"] = self.schedule
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "region": self.region,
            "instance_id": self.instance_id,
            "private_ip": "fdaa:0:1:a7b:1::2",
            "image_ref": {"registry": "registry.fly.io", "repository": self.app,
                          "tag": "deployment-1"},
            "config": cfg,
            "checks": [],
            "events": list(reversed(self.events[-10:])),
            "created_at": _iso(self.created),
            "updated_at": _iso(self.updated),
        }


class Fault:
    def __init__(self, method="*", path=".*", status=None, body=None,
                 headers=None, count=1, hang=False, delay=0.0, garbage=False):
        self.method = (method or "*").upper()
        self.path = re.compile(path or ".*")
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.count = count
        self.hang = hang
        self.delay = delay
        self.garbage = garbage

    def matches(self, method, path):
        return ((self.method == "*" or self.method == method)
                and self.path.search(path) is not None
                and (self.count is None or self.count > 0))


class FakeFly:
    def __init__(self, tokens=("test-token",), start_delay=0.2, stop_delay=0.2,
                 burst=3, wait_scale=1.0, host="127.0.0.1", port=0,
                 suspend_delay=None, lease_scale=1.0):
        self.tokens = list(tokens) if not isinstance(tokens, str) else [tokens]
        self.start_delay = start_delay
        self.stop_delay = stop_delay
        self.burst = burst
        self.wait_scale = wait_scale
        self.suspend_delay = stop_delay if suspend_delay is None else suspend_delay
        self.lease_scale = lease_scale
        self._more = []  # listen_more()'s servers
        self.lease_status = None  # 404/405: no lease endpoints
        self.lease_owner = "failoverd@example.com"  # the token's owner
        self.stops_of_suspended = []  # ids of suspended machines stopped
        self.host = host
        self._port = port
        self.lock = threading.RLock()
        self.apps = {}
        self.faults = []
        self._requests = []
        self._actions = {}  # (machine id, action) -> [times]
        self._stopping = threading.Event()
        self.server = None
        self.thread = None

    # --- set-up -----------------------------------------------------------
    # on_action(action, machine_id): called for each start/stop/suspend request
    # (before it is answered, outside the lock); None = nothing.
    on_action = None

    def add_app(self, name):
        with self.lock:
            self.apps.setdefault(name, {})
        return name

    def add_machine(self, app, state="stopped", region="iad", mid=None):
        with self.lock:
            m = Machine(app, state, region, mid)
            self.apps.setdefault(app, {})[m.id] = m
            return m.id

    def machine(self, app, mid):
        with self.lock:
            m = self.apps[app][mid]
            m.tick(time.time())
            return m

    def state(self, app, mid):
        return self.machine(app, mid).state

    def set_state(self, app, mid, state):
        with self.lock:
            m = self.apps[app][mid]
            m.pending = None
            m.state = state
            m.updated = time.time()

    def refuse_suspend(self, app, mid, status=400, error=None):
        with self.lock:
            self.apps[app][mid].refuse = (status, error or (
                "invalid_argument: machine cannot be suspended: it is not eligible "
                "(memory over 2048 MB, swap, a schedule or a GPU)"))

    def grant_lease(self, app, mid, ttl=30, owner="someone-else@fly.io"):
        """Another holder takes a lease; returns its nonce."""
        with self.lock:
            m = self.apps[app][mid]
            return self._new_lease(m, ttl, owner, "", time.time())["nonce"]

    def _new_lease(self, m, ttl, owner, desc, now):
        m.lease = {"nonce": _hexid(12), "owner": owner, "description": desc,
                   "expires": now + ttl * self.lease_scale, "version": _instance_id()}
        return m.lease

    def lease_requests(self, mid=None):
        return self.requests(path=r"/machines/%s/lease$" % (mid or "[^/]+"))

    def fault(self, **kw):
        f = Fault(**kw)
        with self.lock:
            self.faults.append(f)
        return f

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def requests(self, method=None, path=None):
        with self.lock:
            out = list(self._requests)
        if method:
            out = [r for r in out if r["method"] == method.upper()]
        if path:
            rx = re.compile(path)
            out = [r for r in out if rx.search(r["path"])]
        return out

    def clear_requests(self):
        with self.lock:
            self._requests = []

    def starts(self, mid):
        """Accepted (200) start requests for machine mid."""
        return len([r for r in self.requests("POST", "/machines/%s/start$" % mid)
                    if r["status"] == 200])

    # --- life -------------------------------------------------------------
    def start(self):
        fake = self

        class Handler(_Handler):
            pass
        Handler.fake = fake
        self.server = QuietThreadingHTTPServer((self.host, self._port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def listen_more(self):
        """One more listening port on the same fake (the same machines and
        request log); each request's record says which port it came to, so
        a test that gives each client its own port knows who sent what.
        Returns the URL."""
        class Handler(_Handler):
            pass
        Handler.fake = self
        srv = QuietThreadingHTTPServer((self.host, 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self._more.append(srv)
        return "http://%s:%d" % (self.host, srv.server_address[1])

    def stop(self):
        self._stopping.set()
        for srv in self._more:
            srv.shutdown()
            srv.server_close()
        self._more = []
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def port(self):
        return self.server.server_address[1]

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

    def _rate_limited(self, mid, action, now):
        with self.lock:
            times = [t for t in self._actions.get((mid, action), []) if now - t < 1.0]
            times.append(now)
            self._actions[(mid, action)] = times
            return len(times) > self.burst

    def handle(self, method, path, query, body, headers=None):
        """Returns (status, json-able body, extra headers)."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        now = time.time()
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "v1" or parts[1] != "apps" or parts[3] != "machines":
            return 404, {"error": "not found"}, {}
        app = parts[2]
        with self.lock:
            machines = self.apps.get(app)
            if machines is None:
                return 404, {"error": "app not found"}, {}
            for m in machines.values():
                m.tick(now)
            if len(parts) == 4:
                if method != "GET":
                    return 405, {"error": "method not allowed"}, {}
                return 200, [m.to_json() for m in machines.values()], {}
            m = machines.get(parts[4])
            if m is None:
                return 404, {"error": "machine not found"}, {}
            if len(parts) == 5:
                if method != "GET":
                    return 405, {"error": "method not allowed"}, {}
                return 200, m.to_json(), {}
            action = parts[5]
            if len(parts) != 6:
                return 404, {"error": "not found"}, {}
        if action == "wait":
            if method != "GET":
                return 405, {"error": "method not allowed"}, {}
            return self._wait(m, query)
        op = NO_BODY.get((method, action))
        if op is not None and (body or "content-type" in headers):
            return 400, {"error": "request validation: %s defines no request body "
                         "(got %s)" % (op, "a body" if body else "a Content-Type")}, {}
        if action == "lease":
            return self._lease(m, method, query, body, headers, now)
        if action not in ACTIONS:
            return 404, {"error": "not found"}, {}
        if method != "POST":
            return 405, {"error": "method not allowed"}, {}
        if self._rate_limited(m.id, action, now):
            return 429, {"error": "rate limit exceeded"}, {}
        with self.lock:
            held = m.lease_held(now)
            if held is not None and headers.get(NONCE_HEADER) != held["nonce"]:
                return 409, {"error": "aborted: machine ID %s lease currently held by %s, "
                             "expires at %s" % (m.id, held["owner"],
                                                _iso(held["expires"]))}, {}
        hook = self.on_action
        if hook is not None:
            # A test's view of the world at the moment the request arrives
            # (e.g. what is on the sync remote); also how a test plays the
            # standby's entrypoint (its final push on stop).
            hook(action, m.id)
        with self.lock:
            m.tick(now)
            if action == "start":
                if m.state not in STATE_START_ALLOWED:
                    return 412, {"error": "failed_precondition: unable to start machine "
                                 "from current state: '%s'" % m.state}, {}
                prev = m.state
                m.resumed = prev == "suspended"
                m.snapshot = False
                if not m.resumed:
                    m.instance_id = _instance_id()
                m.begin("starting", "started", self.start_delay, now)
                return 200, {"previous_state": prev, "migrated": False, "new_host": ""}, {}
            if action == "stop":
                if body:
                    try:
                        req = json.loads(body)
                    except ValueError:
                        return 400, {"error": "invalid character in stop request body"}, {}
                    if req is not None and not isinstance(req, dict):
                        kind = {list: "array", str: "string", bool: "bool"}.get(
                            type(req), "number")
                        return 400, {"error": "json: cannot unmarshal %s into Go value of "
                                     "type main.stopRequest" % kind}, {}
                if m.state in ("stopped", "stopping"):
                    return 200, {"ok": True}, {}
                if m.state in ("suspended", "suspending"):
                    # the snapshot is thrown away (machines-resource docs)
                    self.stops_of_suspended.append(m.id)
                    m.snapshot = False
                m.begin("stopping", "stopped", self.stop_delay, now)
                return 200, {"ok": True}, {}
            # suspend
            if m.refuse is not None:
                return m.refuse[0], {"error": m.refuse[1]}, {}
            if m.state != "started":
                return 412, {"error": "failed_precondition: unable to suspend machine "
                             "from current state: '%s'" % m.state}, {}
            m.begin("suspending", "suspended", self.suspend_delay, now)
            return 200, {"ok": True}, {}

    def _lease_env(self, m, lease):
        return {"status": "success", "data": {
            "nonce": lease["nonce"], "expires_at": int(lease["expires"]),
            "owner": lease["owner"], "description": lease["description"],
            "version": lease["version"]}}

    def _lease(self, m, method, query, body, headers, now):
        if self.lease_status is not None:
            return self.lease_status, {"error": "not found" if self.lease_status == 404
                                       else "method not allowed"}, {}
        nonce = headers.get(NONCE_HEADER)
        with self.lock:
            held = m.lease_held(now)
            if method == "GET":
                if held is None:
                    return 404, {"error": "lease not found"}, {}
                return 200, self._lease_env(m, held), {}
            if method == "DELETE":
                if not nonce:
                    return 400, {"error": "fly-machine-lease-nonce header is required"}, {}
                if held is None:
                    return 404, {"error": "lease not found"}, {}
                if nonce != held["nonce"]:
                    return 400, {"error": "invalid nonce"}, {}
                m.lease = None
                return 200, {"status": "success", "data": {"ok": True}}, {}
            if method != "POST":
                return 405, {"error": "method not allowed"}, {}
            ttl, desc = 500, ""
            if body:
                try:
                    req = json.loads(body)
                except ValueError:
                    return 400, {"error": "invalid character in lease request body"}, {}
                if not isinstance(req, dict):
                    return 400, {"error": "json: cannot unmarshal into Go value of type "
                                 "api.CreateLeaseRequest"}, {}
                ttl = req.get("ttl", ttl)
                desc = req.get("description", desc)
            if "ttl" in query:
                try:
                    ttl = int(query["ttl"][-1])
                except ValueError:
                    return 400, {"error": "invalid ttl"}, {}
            if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
                return 400, {"error": "invalid ttl"}, {}
            if held is not None:
                if nonce != held["nonce"]:
                    return 409, {"status": "error", "code": "invalid",
                                 "message": "machine ID %s lease currently held by %s, "
                                 "expires at %s" % (m.id, held["owner"],
                                                    _iso(held["expires"]))}, {}
                held["expires"] = now + ttl * self.lease_scale
                return 201, self._lease_env(m, held), {}
            # no lease (or the nonce names one that is gone): a new one
            return 201, self._lease_env(m, self._new_lease(
                m, ttl, self.lease_owner, desc, now)), {}

    def _wait(self, m, query):
        state = query.get("state", ["started"])[-1]
        if state not in ("started", "stopped", "suspended", "destroyed"):
            return 400, {"error": "invalid_argument: invalid state %r" % state}, {}
        try:
            timeout = int(query.get("timeout", ["60"])[-1])
        except ValueError:
            return 400, {"error": "invalid_argument: bad timeout"}, {}
        if timeout < 1 or timeout > 60:
            return 400, {"error": "invalid_argument: wait timeout must be in the range "
                         "[1s, 1m0s]"}, {}
        inst = query.get("instance_id", query.get("version", [""]))[-1]
        if state == "stopped" and not inst:
            return 400, {"error": "instance_id is required when waiting for stopped"}, {}
        deadline = time.time() + timeout * self.wait_scale
        while True:
            with self.lock:
                m.tick(time.time())
                cur = m.state
            if cur == state:
                return 200, {"ok": True}, {}
            if time.time() >= deadline or self._stopping.is_set():
                return 408, {"error": "machine failed to reach desired state, %s, "
                             "currently %s" % (state, cur)}, {}
            time.sleep(0.01)

    def record(self, rec):
        with self.lock:
            self._requests.append(rec)


class _Handler(BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, obj, headers=None, raw=None):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if raw is None else "text/html")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        return status

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n > 0 else ""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _auth(self):
        """(scheme, ok)"""
        h = self.headers.get("Authorization")
        if not h or " " not in h:
            return None, False
        scheme, _, rest = h.partition(" ")
        if scheme not in ("Bearer", "FlyV1"):
            return scheme, False
        return scheme, rest in self.fake.tokens

    def _dispatch(self, method):
        fake = self.fake
        u = urllib.parse.urlsplit(self.path)
        path, query = u.path, urllib.parse.parse_qs(u.query)
        body = self._body()
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        scheme, ok = self._auth()
        headers = {}
        for k, v in self.headers.items():
            headers[k] = ("%s <redacted>" % scheme) if k.lower() == "authorization" else v
        rec = {"method": method, "path": path, "query": query, "headers": headers,
               "auth_scheme": scheme, "body": body, "time": time.time(), "status": None,
               "port": self.server.server_address[1]}
        fake.record(rec)
        f = fake._take_fault(method, path)
        if f is not None:
            if f.hang:
                fake._stopping.wait()
                rec["status"] = 0
                self.close_connection = True
                return
            if f.delay:
                time.sleep(f.delay)
            if f.garbage:
                rec["status"] = self._reply(200, None, raw=b"<html>this is not json")
                return
            if f.status is not None:
                b = f.body if f.body is not None else {"error": "injected %d" % f.status}
                if isinstance(b, (bytes, str)):
                    raw = b.encode() if isinstance(b, str) else b
                    rec["status"] = self._reply(f.status, None, f.headers, raw=raw)
                else:
                    rec["status"] = self._reply(f.status, b, f.headers)
                return
        if not ok:
            rec["status"] = self._reply(401, {"error": "You must be authenticated to view "
                                              "this."})
            return
        status, obj, hdrs = fake.handle(method, path, query, body, dict(self.headers.items()))
        rec["status"] = self._reply(status, obj, hdrs)

    def _control(self, method, path, body):
        fake = self.fake
        try:
            args = json.loads(body) if body else {}
        except ValueError:
            return self._reply(400, {"error": "bad json"})
        if path == "/_fake/requests" and method == "GET":
            return self._reply(200, fake.requests())
        if method != "POST":
            return self._reply(405, {"error": "method not allowed"})
        if path == "/_fake/fault":
            fake.fault(**args)
            return self._reply(200, {"ok": True})
        if path == "/_fake/clear_faults":
            fake.clear_faults()
            return self._reply(200, {"ok": True})
        if path == "/_fake/app":
            fake.add_app(args["name"])
            ids = [fake.add_machine(args["name"], m.get("state", "stopped"),
                                    m.get("region", "iad")) for m in args.get("machines", [])]
            return self._reply(200, {"ids": ids})
        if path == "/_fake/state":
            fake.set_state(args["app"], args["id"], args["state"])
            return self._reply(200, {"ok": True})
        return self._reply(404, {"error": "unknown control path"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", action="append")
    ap.add_argument("--app")
    ap.add_argument("--machines", default="stopped", help="comma-separated states")
    ap.add_argument("--start-delay", type=float, default=0.2)
    a = ap.parse_args()
    fake = FakeFly(tokens=a.token or ["test-token"], start_delay=a.start_delay,
                   stop_delay=a.start_delay, port=a.port).start()
    if a.app:
        for st in a.machines.split(","):
            if st:
                fake.add_machine(a.app, st)
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
