"""A real etcd for the tests: one member or a three-member cluster on free
loopback ports in a temporary directory, health waits with a deadline,
kill/stop/continue/restart of a member, and a TCP proxy that a test can cut
(stop forwarding, as a partition does: nothing is closed or refused) and
resume. Every process and directory is cleaned up at exit, even when a test
fails or the interpreter exits on an exception.

    with EtcdCluster(3) as c:
        c.wait_healthy()
        c.members[0].kill()
        c.endpoints            # "http://127.0.0.1:P1,http://127.0.0.1:P2,..."
    with TcpProxy(port) as p:
        p.url; p.cut(); p.resume()
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

ETCD = shutil.which("etcd") or "/usr/bin/etcd"

_live = set()  # clusters and proxies not closed yet


def _cleanup_all():
    for x in list(_live):
        try:
            x.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_cleanup_all)


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies, even
    by SIGKILL, so that no etcd outlives a run (Linux prctl)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: atexit still cleans up
        pass


def have_etcd():
    return os.access(ETCD, os.X_OK)


def _free_ports(n):
    """n distinct free loopback ports (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class EtcdMember:
    def __init__(self, cluster, name, client_port, peer_port):
        self.cluster = cluster
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.url = "%s://127.0.0.1:%d" % (cluster.scheme, client_port)
        self.peer_url = "http://127.0.0.1:%d" % peer_port
        self.data_dir = os.path.join(cluster.dir, name)
        self.log_path = os.path.join(cluster.dir, name + ".log")
        self.proc = None
        self.stopped = False

    def argv(self):
        return [ETCD, "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", self.cluster.initial_cluster,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", self.cluster.token,
                # Fast elections: a lost member is replaced within a second.
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--log-level", "warn"] + self.cluster.extra_args

    def start(self):
        assert not self.running(), "%s already runs" % self.name
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        finally:
            log.close()
        self.stopped = False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL: the member dies at once, as with a host crash."""
        if self.running():
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.stopped = False

    def terminate(self):
        if self.running():
            if self.stopped:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.stopped = False

    def stop(self):
        """SIGSTOP: the member hangs; its connections stay open."""
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def restart(self):
        """Starts again from the same data directory."""
        self.terminate()
        self.start()

    def healthy(self, timeout=1.0):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=timeout,
                                        context=self.cluster.ssl_context) as r:
                return json.loads(r.read().decode()).get("health") == "true"
        except Exception:  # noqa: BLE001 - not (yet) healthy
            return False

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""


class EtcdCluster:
    """n members (1 or 3), started at construction unless start=False;
    extra_args go to every member's command line."""

    def __init__(self, n=1, start=True, extra_args=(), scheme="http"):
        self.extra_args = list(extra_args)
        self.scheme = scheme  # "https" with --cert-file etc. in extra_args
        self.ssl_context = None  # for health checks of an https cluster
        self.dir = tempfile.mkdtemp(prefix="fod-etcd-")
        self.token = "fod-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
        ports = _free_ports(2 * n)
        self.members = [EtcdMember(self, "m%d" % (i + 1), ports[2 * i], ports[2 * i + 1])
                        for i in range(n)]
        self.initial_cluster = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
        _live.add(self)
        if start:
            for m in self.members:
                m.start()

    @property
    def endpoints(self):
        return ",".join(m.url for m in self.members)

    def wait_healthy(self, timeout=20.0, members=None):
        """Waits until every member given (default: all running ones)
        answers /health with true; raises with the logs on the deadline."""
        members = members if members is not None else [m for m in self.members if m.running()]
        deadline = time.monotonic() + timeout
        pending = list(members)
        while pending:
            for m in list(pending):
                if not m.running():
                    raise AssertionError("etcd %s exited (%s):\n%s"
                                         % (m.name, m.proc.returncode, m.log_tail()))
                if m.healthy(timeout=0.5):
                    pending.remove(m)
            if pending and time.monotonic() >= deadline:
                raise AssertionError("etcd %s not healthy after %.0fs:\n%s"
                                     % (", ".join(m.name for m in pending), timeout,
                                        pending[0].log_tail()))
            if pending:
                time.sleep(0.05)

    def close(self):
        for m in self.members:
            try:
                m.terminate()
            except Exception:  # noqa: BLE001 - try the others, then SIGKILL
                if m.proc is not None:
                    m.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>. cut() stops
    forwarding in both directions without closing anything (new
    connections are accepted but go nowhere), as a network partition looks
    to both sides; resume() lets the held data through again."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.forwarding = threading.Event()
        self.forwarding.set()
        self.closed = False
        self.lock = threading.Lock()
        self.socks = []
        self.accepted = 0
        _live.add(self)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def cut(self):
        self.forwarding.clear()

    def resume(self):
        self.forwarding.set()

    def _track(self, s):
        with self.lock:
            if self.closed:
                s.close()
                return False
            self.socks.append(s)
            return True

    def _accept_loop(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self.accepted += 1
            if self._track(c):
                threading.Thread(target=self._connect, args=(c,), daemon=True).start()

    def _connect(self, c):
        # A cut holds new connections too: no upstream until resumed.
        while not self.forwarding.wait(0.1):
            if self.closed:
                return
        try:
            u = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            u.settimeout(None)
        except OSError:
            c.close()
            return
        if not self._track(u):
            c.close()
            return
        threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
        threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                while not self.forwarding.wait(0.1):
                    if self.closed:
                        return
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
        except OSError:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        with self.lock:
            self.closed = True
            socks, self.socks = self.socks, []
        self.forwarding.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
