#!/usr/bin/env python3
"""daemon/etcd.c (through tests/tools/etcdc) against a real etcd: one
member, a three-member cluster, and a proxy that cuts the path to etcd.
What coordination (CONTRACT §9) will build on: leases that live, renew and
expire; a leader key put-if-absent bound to a lease; a transaction fenced by
the leader key's create revision; endpoint failover; bounded timeouts."""

import http.server
import json
import os
import select
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from etcdfix import EtcdCluster, TcpProxy, have_etcd  # noqa: E402

BUILDDIR = os.path.abspath(
    os.environ.get("FOD_BUILDDIR") or os.path.join(HERE, "..", ".."))
ETCDC = os.path.join(BUILDDIR, "tests", "tools", "etcdc")


class Client:
    """One etcdc process: cmd() sends a command and returns its result."""

    def __init__(self, endpoints, timeout_ms=2000, extra=(), debug=False):
        # stderr to a file: a full pipe would block etcdc's debug log.
        self.errf = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([ETCDC, "-e", endpoints, "-t", str(timeout_ms)]
                                     + list(extra), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.errf,
                                     env=dict(os.environ, ETCDC_DEBUG="1") if debug
                                     else None)
        self.buf = b""
        self.stderr_text = ""

    def cmd(self, timeout=10.0, **kw):
        self.proc.stdin.write((json.dumps(kw) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("etcdc gave no answer to %r in %.1fs" % (kw, timeout))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    self.proc.wait()
                    self.errf.seek(0)
                    raise AssertionError("etcdc exited (%s): %s" % (
                        self.proc.returncode, self.errf.read().decode(errors="replace")))
                self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        res = json.loads(line)
        # The loop never stalls while etcd is slow or gone.
        assert res.get("max_gap_ms", 0) < 500, res
        return res

    def stderr_now(self):
        self.errf.seek(0)
        return self.errf.read().decode(errors="replace")

    def ok(self, **kw):
        r = self.cmd(**kw)
        assert r["ok"], r
        return r

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if not self.errf.closed:
            self.errf.seek(0)
            self.stderr_text = self.errf.read().decode(errors="replace")
            self.errf.close()
        self.proc.stdout.close()


def leader_txn(key, node, lease):
    """Put-if-absent of the leader key bound to a lease; the failure
    branch reads the holder."""
    return dict(op="txn", compare=[dict(key=key, target="create", n=0)],
                success=[{"put": dict(key=key, value=node, lease=lease)}],
                failure=[{"range": dict(key=key)}])


def fenced_txn(leader_key, rev, key, value):
    """A write that succeeds only while the leader key has create_revision
    rev: the fencing token of CONTRACT §9 rule 2."""
    return dict(op="txn", compare=[dict(key=leader_key, target="create", n=rev)],
                success=[{"put": dict(key=key, value=value)}])


@unittest.skipUnless(have_etcd(), "etcd is not installed (apt-get install etcd-server)")
class OneMember(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(1)
        cls.etcd.wait_healthy()
        cls.m = cls.etcd.members[0]

    @classmethod
    def tearDownClass(cls):
        cls.etcd.close()

    def setUp(self):
        self.clients = []
        self.prefix = "/failoverd/%s/" % self._testMethodName

    def tearDown(self):
        for c in self.clients:
            c.close()

    def client(self, endpoints=None, **kw):
        c = Client(endpoints or self.m.url, **kw)
        self.clients.append(c)
        return c

    def test_lease_grant_keepalive_revoke(self):
        c = self.client()
        g = c.ok(op="grant", ttl=5)
        self.assertGreater(g["id"], 0)
        self.assertEqual(g["ttl"], 5)
        k = c.ok(op="keepalive", id=g["id"])
        self.assertEqual(k["id"], g["id"])
        self.assertEqual(k["ttl"], 5)
        self.assertFalse(k["lost"])
        # The send time is known, and no later than the answer.
        self.assertGreaterEqual(k["sent_ms"], 0)
        self.assertLessEqual(k["sent_ms"], k["elapsed_ms"])
        c.ok(op="revoke", id=g["id"])
        # A keepalive on a revoked lease: 200 without TTL, reported lost.
        k = c.ok(op="keepalive", id=g["id"])
        self.assertTrue(k["lost"])
        self.assertEqual(k["ttl"], 0)
        # etcd's minimum is 2 s: shorter is refused before any request.
        self.assertEqual(c.cmd(op="grant", ttl=1)["error"], "cannot start")

    def test_lease_expires_without_keepalive(self):
        """A view bound to a lease (rule 1) lives while the lease does and
        vanishes ELECTION_TTL after the last renewal."""
        c = self.client()
        ttl = 2
        g = c.ok(op="grant", ttl=ttl)
        key = self.prefix + "members/n1"
        c.ok(op="put", key=key, value='{"healthy":true}', lease=g["id"])
        renewed = time.monotonic()
        k = c.ok(op="keepalive", id=g["id"])
        self.assertEqual(k["ttl"], ttl)
        r = c.ok(op="get", key=key)
        self.assertEqual(r["kvs"][0]["lease"], g["id"])
        self.assertEqual(r["kvs"][0]["value"], '{"healthy":true}')
        while True:
            r = c.ok(op="get", key=key)
            if not r["kvs"]:
                break
            self.assertLess(time.monotonic() - renewed, ttl + 2.0, "the key outlived its lease")
            time.sleep(0.05)
        gone = time.monotonic() - renewed
        # Never before the TTL (a lease lives at least TTL after a renewal).
        self.assertGreaterEqual(gone, ttl - 0.1)
        self.assertTrue(c.ok(op="keepalive", id=g["id"])["lost"])

    def test_leader_key_and_fencing(self):
        a, b = self.client(), self.client()
        leader = self.prefix + "leader"
        state = self.prefix + "state"
        la = a.ok(op="grant", ttl=10)["id"]
        lb = b.ok(op="grant", ttl=10)["id"]
        # a wins the put-if-absent.
        r = a.ok(**leader_txn(leader, "n1", la))
        self.assertTrue(r["succeeded"])
        self.assertEqual(r["responses"][0]["kind"], "put")
        # b loses, and the failure branch names the holder and its token.
        r = b.ok(**leader_txn(leader, "n2", lb))
        self.assertFalse(r["succeeded"])
        holder = r["responses"][0]["kvs"][0]
        self.assertEqual(holder["value"], "n1")
        self.assertEqual(holder["lease"], la)
        epoch1 = holder["create_revision"]
        self.assertGreater(epoch1, 0)
        # The leader's fenced write passes while its key stands.
        r = a.ok(**fenced_txn(leader, epoch1, state, "step1"))
        self.assertTrue(r["succeeded"])
        # A stale token never passes.
        self.assertFalse(a.ok(**fenced_txn(leader, epoch1 - 1, state, "x"))["succeeded"])
        # a's lease ends: its leader key goes with it, b takes over with a
        # higher create revision, and a's old token fails from then on.
        a.ok(op="revoke", id=la)
        r = b.ok(**leader_txn(leader, "n2", lb))
        self.assertTrue(r["succeeded"])
        epoch2 = b.ok(op="get", key=leader)["kvs"][0]["create_revision"]
        self.assertGreater(epoch2, epoch1)
        r = a.ok(**fenced_txn(leader, epoch1, state, "late"))
        self.assertFalse(r["succeeded"])
        self.assertEqual(r["responses"], [])
        self.assertEqual(b.ok(op="get", key=state)["kvs"][0]["value"], "step1")
        self.assertTrue(b.ok(**fenced_txn(leader, epoch2, state, "step2"))["succeeded"])
        # Compares on value, version and mod revision work too.
        kv = b.ok(op="get", key=state)["kvs"][0]
        r = b.ok(op="txn", compare=[dict(key=state, target="value", value="step2"),
                                    dict(key=state, target="version", n=kv["version"]),
                                    dict(key=state, target="mod", n=kv["mod_revision"])],
                 success=[{"delete": dict(key=state)}])
        self.assertTrue(r["succeeded"])
        self.assertEqual(r["responses"][0]["deleted"], 1)

    def test_prefix_range_and_delete(self):
        c = self.client()
        p = self.prefix + "members/"
        for n in ("a", "b", "c"):
            c.ok(op="put", key=p + n, value="v" + n)
        # Just past the prefix: not part of it.
        c.ok(op="put", key=self.prefix + "members0", value="out")
        r = c.ok(op="get", key=p, prefix=True)
        self.assertEqual([kv["key"] for kv in r["kvs"]], [p + "a", p + "b", p + "c"])
        self.assertEqual(r["count"], 3)
        self.assertEqual(c.ok(op="delete", key=p, prefix=True)["deleted"], 3)
        self.assertEqual(c.ok(op="get", key=p, prefix=True)["kvs"], [])
        self.assertEqual(c.ok(op="get", key=self.prefix + "members0")["kvs"][0]["value"], "out")
        # Binary-unsafe looking values survive base64 both ways.
        v = 'x"\\/+=\u00e9\n'
        c.ok(op="put", key=p + "z", value=v)
        self.assertEqual(c.ok(op="get", key=p + "z")["kvs"][0]["value"], v)

    def test_errors_are_reported(self):
        c = self.client()
        # A put bound to a lease that does not exist: etcd's 404.
        r = c.cmd(op="put", key=self.prefix + "k", value="v", lease=12345)
        self.assertFalse(r["ok"])
        self.assertEqual(r["status"], 404)
        self.assertIn("requested lease not found", r["error"])
        # Nothing listens: a connection error, at once.
        dead = Client("http://127.0.0.1:1")
        self.clients.append(dead)
        r = dead.cmd(op="get", key="k")
        self.assertFalse(r["ok"])
        self.assertIn("connect", r["error"])

    def test_cut_proxy_times_out(self):
        """A path to etcd that stops forwarding (a partition): each call
        fails within the configured timeout, the loop never blocks, and
        calls succeed again once the path is back."""
        with TcpProxy(self.m.client_port) as p:
            c = self.client(p.url, timeout_ms=600)
            g = c.ok(op="grant", ttl=5)
            c.ok(op="keepalive", id=g["id"])
            p.cut()
            t0 = time.monotonic()
            r = c.cmd(op="keepalive", id=g["id"])
            took = time.monotonic() - t0
            self.assertFalse(r["ok"], r)
            self.assertIn("timeout", r["error"])
            self.assertGreaterEqual(r["elapsed_ms"], 550)
            self.assertLess(took, 1.5)
            r = c.cmd(op="put", key=self.prefix + "k", value="v")
            self.assertFalse(r["ok"], r)
            p.resume()
            r = wait_ok(c, op="keepalive", id=g["id"])
            self.assertFalse(r["lost"])

    def test_concurrent_cancel_and_free(self):
        """Calls in flight together; a cancelled call never calls back,
        nor does any call of a client freed with them in flight."""
        c = self.client()
        r = c.ok(op="burst", n=20, cancel=0)
        self.assertEqual((r["completed"], r["ok_calls"], r["bad_calls"]), (20, 20, 0))
        r = c.ok(op="burst", n=20, cancel=7)
        self.assertEqual((r["completed"], r["ok_calls"], r["bad_calls"]), (13, 13, 0))
        r = c.ok(op="burst", n=20, cancel=3, free=True)
        self.assertEqual((r["completed"], r["bad_calls"]), (0, 0))
        # The new client works.
        c.ok(op="get", key="k")

    def test_garbage_replies(self):
        """Whatever answers in etcd's place, the client reports an error
        and lives on."""
        replies = [(200, b"not json"), (200, b'{"ID":"1","TTL":"5"} trailing'),
                   (200, b"[]"), (200, b'{"result":{"ID":"x"}}'), (500, b"<html>"),
                   (200, b'{"kvs":[{"key":"!!"}]}'), (200, b"")]
        srv = ReplyServer(replies)
        try:
            c = self.client(srv.url, timeout_ms=1000)
            for (status, body), op in zip(replies, ["grant", "grant", "grant", "keepalive",
                                                   "get", "get", "grant"]):
                kw = dict(op=op)
                kw.update({"grant": dict(ttl=5), "keepalive": dict(id=1),
                           "get": dict(key="k")}[op])
                r = c.cmd(**kw)
                self.assertFalse(r["ok"], (body, r))
                self.assertTrue(r["error"].startswith("etcd %s: %s: " % (r["op"], srv.url)),
                                r["error"])
            # Still alive, and a well-formed (empty) reply parses.
            self.assertEqual(c.ok(op="get", key="k")["kvs"], [])
        finally:
            srv.close()


def wait_ok(c, deadline=10.0, **kw):
    end = time.monotonic() + deadline
    while True:
        r = c.cmd(**kw)
        if r["ok"]:
            return r
        if time.monotonic() > end:
            raise AssertionError("no success in %.0fs: %r" % (deadline, r))
        time.sleep(0.05)


class ReplyServer:
    """Answers each POST with the next (status, body) of a list."""

    def __init__(self, replies):
        outer = self
        self.replies = list(replies)

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body = outer.replies.pop(0) if outer.replies else (200, b"{}")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@unittest.skipUnless(have_etcd(), "etcd is not installed (apt-get install etcd-server)")
class Auth(unittest.TestCase):
    """ETCD_USER + a password file: a token from /v3/auth/authenticate,
    renewed when etcd stops taking it; neither ever in an output."""

    PASSWORD = "pw-Secret-4711"

    def setUp(self):
        # Tokens expire after 1 s here, so a renewal happens in the test.
        self.etcd = EtcdCluster(1, extra_args=["--auth-token", "simple",
                                               "--auth-token-ttl", "1"])
        self.addCleanup(self.etcd.close)
        self.etcd.wait_healthy()
        url = self.etcd.members[0].url
        ctl = ["etcdctl", "--endpoints", url]
        for args in (["user", "add", "root", "--new-user-password=" + self.PASSWORD,
                      "--interactive=false"], ["auth", "enable"]):
            subprocess.run(ctl + args, check=True, capture_output=True, timeout=10,
                           env=dict(os.environ, ETCDCTL_API="3"))
        self.pwfile = os.path.join(self.etcd.dir, "password")
        with open(self.pwfile, "w") as f:
            f.write(self.PASSWORD + "\n")

    def test_token_and_renewal(self):
        url = self.etcd.members[0].url
        c = Client(url, extra=["-u", "root", "-p", self.pwfile], debug=True)
        self.addCleanup(c.close)
        outputs = []
        outputs.append(c.ok(op="put", key="/failoverd/auth/k", value="v"))
        outputs.append(c.ok(op="get", key="/failoverd/auth/k"))
        self.assertEqual(outputs[-1]["kvs"][0]["value"], "v")
        # A simple token lives for its TTL after its last use: left idle
        # past it, etcd refuses it; the client logs in again, and the call
        # still succeeds.
        deadline = time.monotonic() + 10
        while "token refused" not in c.stderr_now():
            self.assertLess(time.monotonic(), deadline, "the token never expired")
            time.sleep(1.5)
            outputs.append(c.ok(op="get", key="/failoverd/auth/k"))
        # Without credentials: refused, with etcd's reason.
        anon = Client(url)
        self.addCleanup(anon.close)
        r = anon.cmd(op="get", key="/failoverd/auth/k")
        self.assertFalse(r["ok"])
        self.assertIn("user name is empty", r["error"])
        # A wrong password: refused; the password is not in the message.
        bad = os.path.join(self.etcd.dir, "bad")
        with open(bad, "w") as f:
            f.write("wrong-" + self.PASSWORD)
        w = Client(url, extra=["-u", "root", "-p", bad], debug=True)
        self.addCleanup(w.close)
        r = w.cmd(op="get", key="/failoverd/auth/k")
        self.assertFalse(r["ok"])
        self.assertIn("authentication failed", r["error"])
        outputs.append(r)
        for cl in (c, w):
            cl.close()
        logs = c.stderr_text + w.stderr_text
        # It logged in, then again once the token had expired.
        self.assertEqual(c.stderr_text.count("authenticating as root"), 2, c.stderr_text)
        self.assertIn("token refused", c.stderr_text)
        self.assertNotIn(self.PASSWORD, json.dumps(outputs) + logs)
        self.assertNotIn("Authorization", json.dumps(outputs) + logs)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=30)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"),
         "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=fod-test-ca")
    # etcd's gateway talks to its own gRPC server with the server's
    # certificate, which with --client-cert-auth must allow clientAuth too.
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\n"
                                 "extendedKeyUsage=serverAuth,clientAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        with open(p(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p(name + ".key"),
             "-out", p(name + ".csr"), "-subj", "/CN=" + name)
        ossl("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"), "-CAkey",
             p("ca.key"), "-CAcreateserial", "-out", p(name + ".pem"), "-days", "2",
             "-extfile", p(name + ".ext"))
    return p


@unittest.skipUnless(have_etcd() and shutil.which("openssl"), "needs etcd and openssl")
class Tls(unittest.TestCase):
    """https endpoints: the server checked against ETCD_CA_FILE, this client
    known by its certificate (etcd --client-cert-auth)."""

    def test_client_certificate(self):
        certdir = tempfile.mkdtemp(prefix="fod-etcd-tls-")
        self.addCleanup(shutil.rmtree, certdir, True)
        p = make_certs(certdir)
        etcd = EtcdCluster(1, scheme="https", extra_args=[
            "--cert-file", p("server.pem"), "--key-file", p("server.key"),
            "--client-cert-auth", "--trusted-ca-file", p("ca.pem")], start=False)
        self.addCleanup(etcd.close)
        ctx = ssl.create_default_context(cafile=p("ca.pem"))
        ctx.load_cert_chain(p("client.pem"), p("client.key"))
        etcd.ssl_context = ctx
        etcd.members[0].start()
        etcd.wait_healthy()
        url = etcd.members[0].url
        self.assertTrue(url.startswith("https://"))
        c = Client(url, extra=["-C", p("ca.pem"), "-c", p("client.pem"), "-k", p("client.key")])
        self.addCleanup(c.close)
        c.ok(op="put", key="/failoverd/tls/k", value="v")
        self.assertEqual(c.ok(op="get", key="/failoverd/tls/k")["kvs"][0]["value"], "v")
        # Without the client certificate: refused.
        n = Client(url, extra=["-C", p("ca.pem")])
        self.addCleanup(n.close)
        r = n.cmd(op="get", key="/failoverd/tls/k")
        self.assertFalse(r["ok"], r)
        # Without the CA: the server is not trusted.
        u = Client(url, extra=["-c", p("client.pem"), "-k", p("client.key")])
        self.addCleanup(u.close)
        r = u.cmd(op="get", key="/failoverd/tls/k")
        self.assertFalse(r["ok"], r)
        self.assertIn("certificate verify failed", r["error"])


@unittest.skipUnless(have_etcd(), "etcd is not installed (apt-get install etcd-server)")
class ThreeMembers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(3)
        cls.etcd.wait_healthy()

    @classmethod
    def tearDownClass(cls):
        cls.etcd.close()

    def setUp(self):
        # Each test starts with all three members up (a test kills some).
        down = [m for m in self.etcd.members if not m.running()]
        for m in down:
            m.start()
        self.etcd.wait_healthy()

    def test_endpoint_failover(self):
        """The member in use is killed: the next call goes to the next
        endpoint at once; the lease and the leader key survive; a second
        kill loses quorum and calls fail within the timeout."""
        m1, m2, m3 = self.etcd.members
        c = Client(self.etcd.endpoints, timeout_ms=1500)
        try:
            g = c.ok(op="grant", ttl=10)
            r = c.ok(**leader_txn("/failoverd/3m/leader", "n1", g["id"]))
            self.assertTrue(r["succeeded"])
            self.assertEqual(r["endpoint"], m1.url)
            m1.kill()
            t0 = time.monotonic()
            r = wait_ok(c, op="keepalive", id=g["id"])
            self.assertLess(time.monotonic() - t0, 5.0)
            self.assertIn(r["endpoint"], (m2.url, m3.url))
            self.assertEqual(r["ttl"], 10)
            kv = c.ok(op="get", key="/failoverd/3m/leader")["kvs"][0]
            self.assertEqual(kv["value"], "n1")
            # The endpoint that answered is kept: no detour through m1.
            r = c.ok(op="get", key="/failoverd/3m/leader")
            self.assertLess(r["elapsed_ms"], 500)
            # One member left of three: no quorum, writes cannot succeed.
            survivor = m3 if r["endpoint"] == m2.url else m2
            other = m2 if survivor is m3 else m3
            other.kill()
            t0 = time.monotonic()
            r = c.cmd(op="put", key="/failoverd/3m/x", value="v")
            self.assertFalse(r["ok"], r)
            self.assertLess(time.monotonic() - t0, 3.0)
            # Back to two of three: writes work again.
            m1.start()
            self.etcd.wait_healthy(members=[m1, survivor])
            r = wait_ok(c, op="put", key="/failoverd/3m/x", value="v", deadline=15)
        finally:
            c.close()


    def test_hung_member_is_left(self):
        """The member in use hangs (SIGSTOP): the call times out within
        the timeout, and the next call goes to another member."""
        m1, m2, m3 = self.etcd.members
        c = Client(self.etcd.endpoints, timeout_ms=800)
        try:
            c.ok(op="put", key="/failoverd/3m/h", value="1")
            r = c.ok(op="get", key="/failoverd/3m/h")
            used = [m for m in self.etcd.members if m.url == r["endpoint"]][0]
            used.stop()
            try:
                r = c.cmd(op="get", key="/failoverd/3m/h")
                self.assertFalse(r["ok"], r)
                self.assertIn("timeout", r["error"])
                self.assertLess(r["elapsed_ms"], 1500)
                r = wait_ok(c, op="get", key="/failoverd/3m/h", deadline=5)
                self.assertNotEqual(r["endpoint"], used.url)
                self.assertEqual(r["kvs"][0]["value"], "1")
            finally:
                used.cont()
        finally:
            c.close()


class ConfigKeys(unittest.TestCase):
    """COORDINATOR=etcd needs ETCD_ENDPOINTS; -n shows the keys."""

    def test_keys(self):
        daemon = os.path.join(BUILDDIR, "failoverd")
        p = subprocess.run([daemon, "-n", "-c", "/dev/null", "-D", "COORDINATOR=etcd"],
                           capture_output=True, timeout=20, universal_newlines=True)
        self.assertNotEqual(p.returncode, 0, p)
        self.assertIn("COORDINATOR=etcd needs ETCD_ENDPOINTS", p.stderr)
        p = subprocess.run([daemon, "-n", "-c", "/dev/null", "-D", "COORDINATOR=etcd",
                            "-D", "ETCD_ENDPOINTS=http://127.0.0.1:1"],
                           capture_output=True, timeout=20, universal_newlines=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("COORDINATOR=etcd", p.stdout.splitlines())
        # The other keys are accepted with COORDINATOR=none, and -n shows them.
        p = subprocess.run([daemon, "-n", "-c", "/dev/null", "-D", "NODE_NAME=mon1",
                            "-D", "ETCD_ENDPOINTS=http://127.0.0.1:1", "-D", "ELECTION_TTL=4"],
                           capture_output=True, timeout=20, universal_newlines=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        for line in ("COORDINATOR=none", "NODE_NAME=mon1", "ELECTION_TTL=4s"):
            self.assertIn(line, p.stdout.splitlines())


if __name__ == "__main__":
    unittest.main()
