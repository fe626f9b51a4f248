#!/usr/bin/env python3
"""A self-contained demo of several monitors (COORDINATOR=etcd): no account
anywhere, everything on loopback.

Starts three etcd members, a simulated primary (a separate process, so that a
command can stop it), a local stand-in for the Fly Machines API with one
stopped standby machine and a simulated standby health endpoint, and three
failoverd monitors of one pair:

  primary-host  "on the primary's host": STATE_DIR (synced with the real
                rclone to a `local` remote) and a SELF_FENCE_CMD that stops
                the primary; it reaches etcd through TCP proxies the demo can
                cut, as a network partition would
  second-host, third-host  elsewhere

Then it narrates: the election; the leader killed (SIGKILL) and another
taking over; the primary's host cut off from etcd: it fences itself (the
primary stops) and the others fail over exactly once (one start of the
machine). It prints a summary, exits 0 when all of that happened (non-zero
and why when not) and stops everything it started.

Run from a built tree: `python3 contrib/demo_cluster.py` (or
`contrib/setup.sh demo-cluster`). Needs etcd (Debian: etcd-server) and rclone.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("FOD_BUILDDIR", TOP)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration", "fakes"))

from etcdfix import EtcdCluster, TcpProxy, have_etcd  # noqa: E402
from fake_fly import FakeFly  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

APP = "demo-cluster-standby"
TOKEN = "demo-token"
TTL = 4  # ELECTION_TTL: self-fence 2.67 s after the last renewal, takeover <= 6 s


class DemoFailed(Exception):
    pass


def say(msg):
    print("\n\033[1m==> %s\033[0m" % msg, flush=True)


def wait_for(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise DemoFailed("%s did not happen within %.0f s" % (what, timeout))


class Monitor:
    def __init__(self, tmp, name, conf, env):
        self.name = name
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "failoverd.sock")
        self.conf = os.path.join(self.dir, "failoverd.conf")
        keys = dict(conf, SOCKET=self.sock, NODE_NAME=name,
                    STATE_FILE=os.path.join(self.dir, "state.json"),
                    STATUS_FILE=os.path.join(self.dir, "failoverd.status"),
                    PID_FILE=os.path.join(self.dir, "failoverd.pid"),
                    BACKUP_DIR=os.path.join(self.dir, "backups"))
        with open(self.conf, "w") as f:
            f.write("# failoverd demo-cluster: monitor %s\n" % name)
            for k, v in keys.items():
                f.write("%s=%s\n" % (k, v))
        self.env = env
        self.proc = None
        self.events = None

    def start(self):
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "failoverd"), "-f", "-c", self.conf], env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "failoverd.log"), "a"))

    def ctl(self, *args):
        return subprocess.run([os.path.join(BUILD, "failoverctl"), "-s", self.sock] +
                              list(args), capture_output=True, text=True, timeout=15)

    def status(self):
        if self.proc is None or self.proc.poll() is not None:
            return None
        r = self.ctl("-j", "status")
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def co(self):
        st = self.status()
        return st.get("coordination") if st else None

    def follow_events(self, types):
        """failoverctl events of this monitor, each line printed with its name."""
        self.events = subprocess.Popen(
            [os.path.join(BUILD, "failoverctl"), "-s", self.sock, "events", "-T", types],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        def pump(p=self.events):
            for ln in p.stdout:
                print("  [%s] %s" % (self.name, ln.rstrip()), flush=True)
        threading.Thread(target=pump, daemon=True).start()

    def stop(self):
        for p in (self.events, self.proc):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def start_primary(tmp):
    """The fake primary as its own process: SELF_FENCE_CMD stops it by PID."""
    pid_file = os.path.join(tmp, "primary.pid")
    p = subprocess.Popen([sys.executable, os.path.join(TOP, "tests", "integration", "fakes",
                                                      "fake_primary.py"),
                          "--pid-file", pid_file, "--idle-timeout", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if not line:
        raise DemoFailed("the fake primary did not start")
    return p, json.loads(line)["port"], pid_file


def leader_of(monitors):
    """The leader every live monitor agrees on, or None."""
    seen = set()
    for m in monitors:
        co = m.co()
        if co is None:
            return None
        seen.add(co["leader"])
    return seen.pop() if len(seen) == 1 and None not in seen else None


def main():
    for tool, pkg in (("rclone", "rclone"),):
        if shutil.which(tool) is None:
            raise SystemExit("demo-cluster: %s is not installed (contrib/setup.sh deps)" % pkg)
    if not have_etcd():
        raise SystemExit("demo-cluster: etcd is not installed (apt-get install etcd-server)")
    tmp = tempfile.mkdtemp(prefix="failoverd-demo-cluster.")
    things = []  # objects with close() / stop(), stopped in reverse order
    monitors = {}
    primary = None
    summary = []
    try:
        say("three etcd members on loopback (one per 'host')")
        etcd = EtcdCluster(3, extra_args=["--heartbeat-interval", "50",
                                          "--election-timeout", "500"])
        things.append(etcd)
        etcd.wait_healthy()
        print("etcd endpoints: %s (pids %s)" % (
            etcd.endpoints, " ".join(str(m.proc.pid) for m in etcd.members)))
        # The primary's host reaches etcd through proxies the demo can cut.
        proxies = [TcpProxy(m.client_port) for m in etcd.members]
        things.extend(proxies)

        primary, primary_port, primary_pid = start_primary(tmp)
        standby_health = FakePrimary().start()
        things.append(standby_health)
        fly = FakeFly(tokens=[TOKEN], start_delay=0.3, stop_delay=0.3).start()
        things.append(fly)
        fly.add_app(APP)
        mid = fly.add_machine(APP, "stopped", "iad")

        state_dir = os.path.join(tmp, "state")
        os.makedirs(state_dir)
        with open(os.path.join(state_dir, "positions.json"), "w") as f:
            f.write('{"BTC": 1.5}\n')
        fenced = os.path.join(tmp, "self-fenced")
        common = {
            "COORDINATOR": "etcd",
            "ETCD_ENDPOINTS": etcd.endpoints,
            "ELECTION_TTL": str(TTL),
            "LOCAL_HEALTH_URL": "http://127.0.0.1:%d/status" % primary_port,
            "CHECK_INTERVAL": "500ms",
            "FAST_INTERVAL": "250ms",
            "CHECK_TIMEOUT": "500ms",
            "FAILURE_THRESHOLD": "3",
            "RECOVERY_THRESHOLD": "3",
            "STARTUP_GRACE": "0",
            "PROVIDER": "fly",
            "FLY_APP": APP,
            "FLY_API_HOSTNAME": fly.url,
            "FLY_HEALTH_URL": "http://127.0.0.1:%d/health" % standby_health.port,
            "ACTIVATION_TIMEOUT": "30s",
        }
        primary_host = dict(
            common,
            ETCD_ENDPOINTS=",".join(p.url for p in proxies),
            STATE_DIR=state_dir, RCLONE_REMOTE="drive", RCLONE_PATH=os.path.join(tmp, "drive"),
            RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_DRIVE_TYPE="local", SYNC_INTERVAL="0",
            SYNC_TIMEOUT="10s",
            SELF_FENCE_CMD="echo SELF_FENCE_CMD: stopping the primary on this host; "
                           "touch %s; kill $(cat %s)" % (fenced, primary_pid))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "LANG": "C.UTF-8", "FLY_API_TOKEN": TOKEN}
        for name, conf in (("second-host", common), ("primary-host", primary_host),
                           ("third-host", common)):
            monitors[name] = Monitor(tmp, name, conf, env)
        ms = list(monitors.values())

        say("the election: second-host starts first and leads; primary-host and "
            "third-host join as followers")
        t0 = time.monotonic()
        monitors["second-host"].start()
        wait_for("second-host leading", lambda: (monitors["second-host"].co() or {})
                 .get("role") == "leader", 15)
        summary.append("first leader elected in %.1f s" % (time.monotonic() - t0))
        for m in ms:
            if m.proc is None:
                m.start()
        wait_for("every monitor in the pair, one leader, every view seen",
                 lambda: leader_of(ms) == "second-host" and all(
                     len(m.co()["monitors"]) == 3 and m.status()["state"] == "primary"
                     for m in ms), 20)
        for m in ms:
            m.follow_events("leader,isolated,quorum,hook,state,standby,error")
        print(monitors["third-host"].ctl("status").stdout, end="")

        say("the leader (second-host) is killed (SIGKILL): its lease ends within "
            "ELECTION_TTL=%d s and another monitor takes over" % TTL)
        killed = monitors["second-host"]
        t0 = time.monotonic()
        killed.proc.kill()
        killed.proc.wait()
        rest = [monitors["primary-host"], monitors["third-host"]]
        names = [m.name for m in rest]
        new = wait_for("a new leader", lambda: leader_of(rest) in names and leader_of(rest),
                       TTL + 10)
        took = time.monotonic() - t0
        print("new leader: %s, %.1f s after the kill (bound: ELECTION_TTL + 2 s = %d s)"
              % (new, took, TTL + 2))
        summary.append("leader killed -> %s leads after %.1f s" % (new, took))
        if took > TTL + 2:
            raise DemoFailed("the takeover took %.1f s, more than ELECTION_TTL + 2 s" % took)
        wait_for("the dead monitor's view gone",
                 lambda: all(len(m.co()["monitors"]) == 2 for m in rest), TTL + 5)

        say("the primary's host is cut off from etcd (its proxies stop forwarding): "
            "it cannot renew its lease and fences itself")
        starts_before = fly.starts(mid)
        t0 = time.monotonic()
        for p in proxies:
            p.cut()
        wait_for("SELF_FENCE_CMD on primary-host", lambda: os.path.exists(fenced), TTL + 5)
        fence_s = time.monotonic() - t0
        print("SELF_FENCE_CMD ran %.1f s after the cut (rule 4: ELECTION_TTL x 2/3 = "
              "%.1f s after the last renewal)" % (fence_s, TTL * 2 / 3))
        summary.append("cut off -> self-fence after %.1f s" % fence_s)
        wait_for("the primary stopped", lambda: primary.poll() is not None, 10)

        say("third-host sees the primary down and primary-host's view gone: "
            "it fails over, once")
        third = monitors["third-host"]
        wait_for("third-host in standby",
                 lambda: (third.status() or {}).get("state") == "standby", 60)
        fo_s = time.monotonic() - t0
        summary.append("cut off -> standby serving after %.1f s" % fo_s)
        time.sleep(1.0)  # a second look: no further start arrives
        starts = fly.starts(mid) - starts_before
        print("Fly start requests for machine %s: %d; machine is %s"
              % (mid, starts, fly.state(APP, mid)))
        summary.append("Fly starts of the standby machine: %d" % starts)
        if starts != 1:
            raise DemoFailed("expected exactly one start of the machine, got %d" % starts)
        co = third.co()
        if co["role"] != "leader":
            raise DemoFailed("third-host is %s, not the leader" % co["role"])

        say("failoverctl status (third-host)")
        print(third.ctl("status").stdout, end="")

        say("summary")
        for s in summary:
            print("  " + s)
        return 0
    except DemoFailed as e:
        print("\ndemo-cluster: FAILED: %s" % e, flush=True)
        for m in monitors.values():
            log = os.path.join(m.dir, "failoverd.log")
            if os.path.exists(log):
                with open(log) as f:
                    tail = f.read()[-1500:]
                print("--- %s log (tail) ---\n%s" % (m.name, tail))
        return 1
    finally:
        say("stopping everything the demo started")
        for m in monitors.values():
            m.stop()
        if primary is not None and primary.poll() is None:
            primary.kill()
        if primary is not None:
            primary.wait()
        for t in reversed(things):
            try:
                (t.close if hasattr(t, "close") else t.stop)()
            except Exception:  # noqa: BLE001 - stop the rest anyway
                pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    # ^C ends the demo (what it started is stopped in main's finally) with
    # one line, never a traceback.
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        try:
            sys.stderr.write("\ndemo-cluster: interrupted\n")
        except OSError:
            pass
        sys.exit(130)
