"""Several failoverd monitors on a real etcd, for the partition tests
(CONTRACT §9, issue 12): an EtcdCluster (one member or three), monitors
m1..mN, each with

  - its own path to every etcd member (a TcpProxy each: cut() stops
    forwarding, as a partition does),
  - its own path to the primary (its own FakePrimary: set one "down" and
    only that monitor sees the primary fail; all down is a dead primary),
  - its own port on one shared FakeFly (the request log says who sent what),
  - a SELF_FENCE_CMD appending "NODE <unix time>" to one file,

and a LeaderWatch polling etcd's leader key every 20 ms for the terms
flycheck.py checks the Fly requests against. Every process is cleaned up
by close() (and fodtest/etcdfix at exit).
"""

import base64
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
from fodtest import Daemon, wait_until  # noqa: E402
from etcdfix import EtcdCluster, TcpProxy  # noqa: E402
from fake_fly import FakeFly  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402
import flycheck  # noqa: E402

APP = "cluster-app"
TOKEN = "fo1_ClusterTokenSekr3t"


class LeaderWatch:
    """Polls P/leader; terms = [(node, epoch, put_seen, gone_seen|None,
    held_until)]: held_until is when the last poll that saw the key began,
    so the key was surely held from put_seen until held_until."""

    def __init__(self, urls, key):
        self.urls = list(urls)
        self.key = base64.b64encode(key.encode()).decode()
        self.terms = []
        self.polled = 0.0  # time.time() when the last successful poll began
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _get(self):
        """The leader key from the first member that answers (a serializable
        read would not do: a member cut from its quorum answers old data)."""
        body = json.dumps({"key": self.key}).encode()
        for url in self.urls:
            rq = urllib.request.Request(url + "/v3/kv/range", data=body,
                                        headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(rq, timeout=0.3) as r:
                    kvs = json.loads(r.read()).get("kvs") or []
                break
            except Exception:  # noqa: BLE001 - the next member
                continue
        else:
            raise OSError("no etcd member answers")
        if not kvs:
            return None
        return (base64.b64decode(kvs[0]["value"]).decode(), int(kvs[0]["create_revision"]))

    def _run(self):
        cur = None
        while not self.stopping.is_set():
            began = time.time()
            try:
                now = self._get()
            except Exception:  # noqa: BLE001 - etcd down: nothing is known
                self.stopping.wait(0.02)
                continue
            t = time.time()
            if now != cur:
                with self.lock:
                    if cur is not None and self.terms and self.terms[-1][3] is None:
                        self.terms[-1] = self.terms[-1][:3] + (t,) + self.terms[-1][4:]
                    if now is not None:
                        self.terms.append((now[0], now[1], t, None, began))
                cur = now
            elif now is not None:
                # Term tuple [4]: when the last poll that still saw this key
                # began. The key was surely held from [2] until then.
                with self.lock:
                    self.terms[-1] = self.terms[-1][:4] + (began,)
            self.polled = began
            self.stopping.wait(0.02)

    def caught_up(self, t, timeout=5.0):
        """Waits until a poll that began after t has come back."""
        wait_until(lambda: self.polled > t, timeout, interval=0.02, msg="the leader watch")

    def snapshot(self, held=False):
        """The terms as (node, epoch, put_seen, gone_seen|None); with held,
        each with its held_until too (it moves with every poll)."""
        with self.lock:
            return [t if held else t[:4] for t in self.terms]

    def close(self):
        self.stopping.set()
        self.thread.join(2)


class Cluster:
    def __init__(self, names=("m1", "m2", "m3"), n_etcd=1, ttl=2, etcd_args=(), extra=None,
                 per_node=None, prefix="fodcluster."):
        self.names = list(names)
        self.ttl = ttl
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.fence_log = os.path.join(self.tmp, "self-fence.log")
        self.etcd = EtcdCluster(n_etcd, extra_args=list(etcd_args))
        self.etcd.wait_healthy()
        self.fly = FakeFly(tokens=[TOKEN], start_delay=0.05, stop_delay=0.05,
                           burst=100).start()
        self.fly.add_app(APP)
        self.mid = self.fly.add_machine(APP, "stopped", "iad")
        self.fly_url, self.node_of_port = {}, {}
        self.primary, self.proxies, self.ds = {}, {}, {}
        for n in self.names:
            self.fly_url[n] = self.fly.listen_more()
            self.node_of_port[int(self.fly_url[n].rsplit(":", 1)[1])] = n
            self.primary[n] = FakePrimary().start()
            self.proxies[n] = [TcpProxy(int(m.url.rsplit(":", 1)[1])) for m in self.etcd.members]
        self.extra = dict(extra or {})
        self.per_node = dict(per_node or {})
        self.watch = LeaderWatch([m.url for m in self.etcd.members],
                                 "/failoverd/%s/leader" % APP)
        self.watches = [self.watch]

    # --- monitors --------------------------------------------------------
    def config(self, n):
        c = {
            "COORDINATOR": "etcd",
            "ETCD_ENDPOINTS": ",".join(p.url for p in self.proxies[n]),
            "NODE_NAME": n,
            "ELECTION_TTL": str(self.ttl),
            "FLY_APP": APP,
            "FLY_API_HOSTNAME": self.fly_url[n],
            "LOCAL_HEALTH_URL": self.primary[n].url,
            "CHECK_INTERVAL": "200ms",
            "FAST_INTERVAL": "100ms",
            "CHECK_TIMEOUT": "500ms",
            "FAILURE_THRESHOLD": "2",
            "RECOVERY_THRESHOLD": "2",
            "MIN_STANDBY_TIME": "0",
            "STARTUP_GRACE": "0",
            "ACTIVATION_TIMEOUT": "60s",
            "RECONCILE_INTERVAL": "2s",
            "FLY_LEASE": "no",
            "SELF_FENCE_CMD": "echo %s $(date +%%s.%%N) >> %s" % (n, self.fence_log),
        }
        for k, v in list(self.extra.items()) + list(self.per_node.get(n, {}).items()):
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def start(self, n):
        tmpdir = os.path.join(self.tmp, n)
        os.makedirs(tmpdir, exist_ok=True)
        d = Daemon(self.config(n), env={"FLY_API_TOKEN": TOKEN}, tmpdir=tmpdir)
        d.start()
        self.ds[n] = d
        return d

    def start_all(self, first=None):
        """Starts every monitor; with first, that one alone first, until it
        leads."""
        if first is not None:
            self.start(first)
            wait_until(lambda: self.role(first) == "leader", 10, msg="%s leads" % first)
        for n in self.names:
            if n != first:
                self.start(n)
        self.wait_settled()
        return self

    def status(self, n):
        return self.ds[n].status()

    def role(self, n):
        d = self.ds.get(n)
        if d is None or not d.running():
            return None
        try:
            return d.status()["coordination"]["role"]
        except Exception:  # noqa: BLE001 - stopped (SIGSTOP) or busy
            return None

    def leader(self, among=None):
        for n in among or self.names:
            if self.role(n) == "leader":
                return n
        return None

    def wait_leader(self, timeout=10.0, among=None, not_=None):
        def pred():
            n = self.leader(among)
            return n if n is not None and n != not_ else None
        return wait_until(pred, timeout, interval=0.05, msg="a leader")

    def wait_settled(self, timeout=20.0, among=None):
        """One leader, the others follow, every monitor sees every view."""
        among = among or self.names
        wait_until(lambda: self.leader(among) is not None and all(
            self.role(n) in ("leader", "follower") for n in among) and all(
            len(self.status(n)["coordination"]["monitors"]) == len(among) for n in among),
            timeout, interval=0.05, msg="a settled pair")

    def kill(self, n):
        self.ds[n].kill9()

    def sigstop(self, n):
        self.ds[n].send_signal(signal.SIGSTOP)

    def sigcont(self, n):
        self.ds[n].send_signal(signal.SIGCONT)

    def cut(self, n):
        for p in self.proxies[n]:
            p.cut()

    def resume(self, n):
        for p in self.proxies[n]:
            p.resume()

    def primary_mode(self, mode, nodes=None):
        for n in nodes or self.names:
            self.primary[n].set_mode(mode)

    # --- what happened ---------------------------------------------------
    def writes(self, node=None):
        w = flycheck.fly_writes(self.fly.requests())
        return [r for r in w if node is None or self.node_of_port.get(r["port"]) == node]

    def starts(self):
        return self.fly.starts(self.mid)

    def fences(self):
        """[(node, unix time)] of SELF_FENCE_CMD runs."""
        try:
            with open(self.fence_log) as f:
                return [(x.split()[0], float(x.split()[1])) for x in f if x.strip()]
        except OSError:
            return []

    def check(self):
        w = self.writes()
        if w:
            for x in self.watches:
                x.caught_up(max(r["time"] for r in w))
        terms = []
        for w in self.watches:
            terms.extend(w.snapshot(held=True))
        return flycheck.check(self.fly.requests(), terms, self.node_of_port)

    def logs(self):
        return "\n".join("--- %s ---\n%s" % (n, d.log_tail(3000)) for n, d in self.ds.items())

    def close(self):
        for w in self.watches:
            w.close()
        for d in self.ds.values():
            try:
                d.send_signal(signal.SIGCONT)
            except Exception:  # noqa: BLE001 - gone already
                pass
            d.cleanup()
        for n in self.names:
            self.primary[n].stop()
            for p in self.proxies[n]:
                p.close()
        self.fly.stop()
        self.etcd.close()
        shutil.rmtree(self.tmp, True)
