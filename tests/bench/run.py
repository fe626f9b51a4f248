#!/usr/bin/env python3
"""run.py: failoverd's benchmarks, one command (see tests/bench/README).

    python3 tests/bench/run.py [--runs N] [--curl-checks N] [--quick] [--out FILE]

Runs against the built tree ($FOD_BUILDDIR, default the repo root): builds
loadgen and httpd with $CC into a temp dir, starts every process it needs
(failoverd, the integration tests' fakes, monit, curl loops), stops them
all, prints a table and writes it to tests/bench/RESULTS.md with the machine
it ran on. Figures, not pass/fail.
"""
import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration", "fakes"))

import fodtest  # noqa: E402
from fodtest import Daemon, wait_until  # noqa: E402
from fake_fly import FakeFly  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

APP = "bench-standby"
TOKEN = "bench-token"
NOPROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def pct(v, p):
    """The p-quantile (0..1) of v, nearest rank."""
    if not v:
        return float("nan")
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


class TimedPrimary(FakePrimary):
    """FakePrimary that also records when each response left (wall clock,
    after sendall), with its status: the moment a check's answer is out."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.sent = []

    def _send(self, sock, status, body, opts, extra=()):
        super()._send(sock, status, body, opts, extra)
        t = time.time()
        with self._lock:
            self.sent.append((t, status))


class Procs:
    """Every process and object the harness starts, stopped in reverse."""

    def __init__(self):
        self.items = []

    def add(self, what):
        self.items.append(what)
        return what

    def close(self):
        while self.items:
            x = self.items.pop()
            try:
                if isinstance(x, subprocess.Popen):
                    if x.poll() is None:
                        x.kill()
                    x.wait(5)
                elif isinstance(x, Daemon):
                    x.cleanup()
                else:
                    x.stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                log("cleanup: %r" % e)


# --- machine ------------------------------------------------------------------

def cmd_out(argv):
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (cp.stdout or cp.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine_info():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    os_name = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    pc = {}
    for lib in ("libevent", "libcurl", "json-c"):
        pc[lib] = cmd_out(["pkg-config", "--modversion", lib])
    return [
        ("CPU", cpu), ("cores", str(os.cpu_count())), ("memory", mem),
        ("OS", os_name), ("kernel", platform.release()),
        ("failoverd", cmd_out([fodtest.FAILOVERD, "-V"])),
        ("libevent / libcurl / json-c", "%s / %s / %s" % (pc["libevent"], pc["libcurl"],
                                                         pc["json-c"])),
        ("compiler", cmd_out([os.environ.get("CC", "cc"), "--version"])),
        ("python", platform.python_version()),
        ("curl", cmd_out(["curl", "--version"])),
        ("monit", cmd_out(["monit", "-V"])),
    ]


def build_tools(tmp):
    cc = os.environ.get("CC", "cc")
    out = {}
    for name in ("loadgen", "httpd"):
        exe = os.path.join(tmp, name)
        subprocess.run([cc, "-O2", "-std=gnu11", "-Wall", "-Wextra", "-o", exe,
                        os.path.join(HERE, name + ".c")], check=True)
        out[name] = exe
    return out


# --- /proc --------------------------------------------------------------------

CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_kib(pid, key):
    return int(proc_status(pid)[key].split()[0])


def proc_private_dirty_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    return -1


def proc_ctxsw(pid):
    st = proc_status(pid)
    return int(st["voluntary_ctxt_switches"]), int(st["nonvoluntary_ctxt_switches"])


# --- fixtures -----------------------------------------------------------------

def fly_daemon(procs, primary, fly, cfg):
    mid = fly.add_machine(APP, "stopped", "iad")
    config = {
        "LOCAL_HEALTH_URL": primary.url, "PROVIDER": "fly", "FLY_APP": APP,
        "FLY_API_HOSTNAME": fly.url, "CHECK_TIMEOUT": "1s", "FAILURE_THRESHOLD": "3",
        "RECOVERY_THRESHOLD": "1", "MIN_STANDBY_TIME": "0", "RECONCILE_INTERVAL": "1h",
        "AUTO_STOP": "0",
    }
    config.update(cfg)
    d = procs.add(Daemon(config, env={"FLY_API_TOKEN": TOKEN}))
    d.start()
    return d, mid


def wait_state(d, want, timeout=10.0):
    wait_until(lambda: d.status()["state"] == want and d.status()["local"]["healthy"]
               is (want == "primary"), timeout, interval=0.005,
               msg="state %s" % want)


def fly_starts(fly):
    return [r for r in fly.requests("POST", r"/start$") if r["status"] == 200]


# --- 1. reaction time ---------------------------------------------------------

def shm_files(shm):
    """STATE_FILE and STATUS_FILE on tmpfs (fsync costs nothing there), or {}."""
    if shm is None:
        return {}
    return {"STATE_FILE": os.path.join(shm, "state.json"),
            "STATUS_FILE": os.path.join(shm, "failoverd.status")}


def bench_reaction(runs, shm=None):
    """Primary answers 503 from a random moment; per failover: the moment
    the primary fake sent the 3rd 503 (the check that reaches the threshold)
    to the moment the fake Fly API recorded the start request (both
    time.time() in this process)."""
    procs = Procs()
    try:
        primary = procs.add(TimedPrimary(mode="up").start())
        fly = procs.add(FakeFly(tokens=[TOKEN], start_delay=0.01, stop_delay=0.01,
                                burst=10000).start())
        cfg = {"CHECK_INTERVAL": "100ms", "FAST_INTERVAL": "20ms"}
        cfg.update(shm_files(shm))
        d, _ = fly_daemon(procs, primary, fly, cfg)
        wait_state(d, "primary")
        to_start, to_first_api = [], []
        for _ in range(runs):
            time.sleep(random.uniform(0, 0.1))
            n_starts = len(fly_starts(fly))
            with primary._lock:
                mark = len(primary.sent)
            primary.set_mode("503")
            wait_until(lambda: len(fly_starts(fly)) > n_starts, 10, interval=0.002,
                       msg="a start request")
            start = fly_starts(fly)[n_starts]
            with primary._lock:
                fails = [t for t, s in primary.sent[mark:] if s == 503]
            third = fails[2]
            first_api = min(r["time"] for r in fly.requests() if r["time"] >= third)
            to_start.append((start["time"] - third) * 1000)
            to_first_api.append((first_api - third) * 1000)
            primary.set_mode("up")
            wait_state(d, "primary")
        return {"start_ms": to_start, "first_api_ms": to_first_api}
    finally:
        procs.close()


# --- 2. time to standby -------------------------------------------------------

def tts_runs(runs, primary, fly, ready, after_start):
    """runs kills at a random phase; returns kill -> start request (ms)."""
    out = []
    for _ in range(runs):
        ready()
        n = primary.request_count
        primary.wait_requests(n + 1, 5)
        time.sleep(random.uniform(0, 0.6))
        n_starts = len(fly_starts(fly))
        primary.set_mode("down")
        t_kill = time.time()
        wait_until(lambda: len(fly_starts(fly)) > n_starts, 15, interval=0.002,
                   msg="a start request")
        out.append((fly_starts(fly)[n_starts]["time"] - t_kill) * 1000)
        primary.set_mode("up")
        after_start()
    return out


def bench_time_to_standby(runs):
    res = {}
    procs = Procs()
    try:
        primary = procs.add(FakePrimary(mode="up").start())
        fly = procs.add(FakeFly(tokens=[TOKEN], start_delay=0.01, stop_delay=0.01,
                                burst=10000).start())
        d, _ = fly_daemon(procs, primary, fly, {"CHECK_INTERVAL": "0.6s",
                                                "FAST_INTERVAL": "0.05s"})
        res["failoverd"] = tts_runs(runs, primary, fly, lambda: wait_state(d, "primary", 15),
                                    lambda: None)
    finally:
        procs.close()
    procs = Procs()
    try:
        primary = procs.add(FakePrimary(mode="up").start())
        fly = procs.add(FakeFly(tokens=[TOKEN], start_delay=0.01, stop_delay=0.01,
                                burst=10000).start())
        mid = fly.add_machine(APP, "stopped", "iad")
        start_url = "%s/v1/apps/%s/machines/%s/start" % (fly.url, APP, mid)
        procs.add(subprocess.Popen(
            [sys.executable, os.path.join(HERE, "plainmon.py"), primary.url, start_url,
             TOKEN, "0.6", "3"], stdin=subprocess.DEVNULL))
        primary.wait_requests(1, 10)
        res["plain"] = tts_runs(runs, primary, fly, lambda: None,
                                lambda: fly.set_state(APP, mid, "stopped"))
    finally:
        procs.close()
    return res


# --- 3. footprint -------------------------------------------------------------

def httpd_count(url_base):
    with NOPROXY.open(url_base + "/_count", timeout=5) as r:
        return int(r.read())


def start_httpd(procs, tools, tmp, name):
    portfile = os.path.join(tmp, name + ".port")
    if os.path.exists(portfile):
        os.unlink(portfile)
    p = procs.add(subprocess.Popen([tools["httpd"], portfile], stdin=subprocess.DEVNULL))
    wait_until(lambda: os.path.exists(portfile) and open(portfile).read().strip(), 5)
    base = "http://127.0.0.1:%s" % open(portfile).read().strip()
    wait_until(lambda: httpd_count(base) == 0, 5)
    return base


def start_monit(procs, tmp, base):
    conf = os.path.join(tmp, "monitrc")
    port = base.rsplit(":", 1)[1]
    with open(conf, "w") as f:
        f.write("""set daemon 1
set logfile %(t)s/monit.log
set pidfile %(t)s/monit.pid
set idfile %(t)s/monit.id
set statefile %(t)s/monit.state
check host bench with address 127.0.0.1
    if failed port %(p)s protocol http request "/status" with timeout 1 seconds then alert
""" % {"t": tmp, "p": port})
    os.chmod(conf, 0o600)
    return procs.add(subprocess.Popen(["monit", "-I", "-c", conf], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def strace_sample(pid, seconds):
    """Syscall counts of pid over seconds (strace -c), or None."""
    if shutil.which("strace") is None:
        return None
    p = subprocess.Popen(["strace", "-c", "-p", str(pid)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10)
    calls = {}
    for line in err.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls


def bench_footprint(tools, tmp, checks, curl_checks, monit_seconds):
    res = {}
    procs = Procs()
    try:
        base_d = start_httpd(procs, tools, tmp, "httpd-d")
        base_m = start_httpd(procs, tools, tmp, "httpd-m")
        have_monit = shutil.which("monit") is not None
        if have_monit:
            monit = start_monit(procs, tmp, base_m)
            monit_t0 = time.monotonic()
            # Its first check is at start-up: measure from the next one.
            wait_until(lambda: httpd_count(base_m) >= 1, 10, msg="monit's first check")
            m_cpu0, m_n0 = proc_cpu_s(monit.pid), httpd_count(base_m)
            m_cs0 = proc_ctxsw(monit.pid)
            monit_t0 = time.monotonic()

        # failoverd: 5 ms between checks, fresh connection each (its design).
        d = procs.add(Daemon({"PROVIDER": "none", "LOCAL_HEALTH_URL": base_d + "/status",
                              "CHECK_INTERVAL": "5ms", "FAST_INTERVAL": "5ms",
                              "CHECK_TIMEOUT": "1s"}))
        d.start()
        wait_until(lambda: d.status()["local"]["checks_total"] >= 20, 10)
        n0, cpu0, cs0 = httpd_count(base_d), proc_cpu_s(d.pid), proc_ctxsw(d.pid)
        t0 = time.monotonic()
        polls = 0
        while httpd_count(base_d) - n0 < checks:
            time.sleep(1.0)
            polls += 1
        n1, cpu1, cs1 = httpd_count(base_d), proc_cpu_s(d.pid), proc_ctxsw(d.pid)
        t1 = time.monotonic()
        n = n1 - n0
        res["failoverd"] = {
            "checks": n, "seconds": t1 - t0, "cpu_s": cpu1 - cpu0,
            "cpu_us_per_check": (cpu1 - cpu0) / n * 1e6,
            "vcsw_per_check": (cs1[0] - cs0[0]) / n, "ivcsw_per_check": (cs1[1] - cs0[1]) / n,
            "hwm_kib": proc_kib(d.pid, "VmHWM"), "rss_kib": proc_kib(d.pid, "VmRSS"),
            "private_dirty_kib": proc_private_dirty_kib(d.pid),
            "interval_ms": (t1 - t0) / n * 1000,
        }
        sc0 = httpd_count(base_d)
        calls = strace_sample(d.pid, 2.0)
        sc = httpd_count(base_d) - sc0
        if calls is not None and sc > 0:
            res["failoverd"]["strace_checks"] = sc
            res["failoverd"]["epoll_wait_per_check"] = calls.get("epoll_wait", 0) / sc
            res["failoverd"]["syscalls_per_check"] = sum(calls.values()) / sc
        d.cleanup()

        # Wake-ups with nothing due: a check every 3 s, watched for 2.5 s
        # right after one (the status requests used to find that moment are
        # done before the window).
        d = procs.add(Daemon({"PROVIDER": "none", "LOCAL_HEALTH_URL": base_d + "/status",
                              "CHECK_INTERVAL": "3s", "FAST_INTERVAL": "3s"}))
        d.start()
        c = httpd_count(base_d)
        wait_until(lambda: httpd_count(base_d) > c, 10, interval=0.002)
        time.sleep(0.1)
        w0 = proc_ctxsw(d.pid)
        time.sleep(2.5)
        w1 = proc_ctxsw(d.pid)
        res["idle_wakeups"] = (w1[0] - w0[0]) + (w1[1] - w0[1])
        res["idle_window_s"] = 2.5
        d.cleanup()

        if have_monit:
            left = monit_seconds - (time.monotonic() - monit_t0)
            if left > 0:
                time.sleep(left)
            m_cpu1, m_n1 = proc_cpu_s(monit.pid), httpd_count(base_m)
            m_cs1 = proc_ctxsw(monit.pid)
            mn = max(1, m_n1 - m_n0)
            res["monit"] = {
                "checks": m_n1 - m_n0, "seconds": time.monotonic() - monit_t0,
                "cpu_s": m_cpu1 - m_cpu0, "cpu_us_per_check": (m_cpu1 - m_cpu0) / mn * 1e6,
                "vcsw_per_check": (m_cs1[0] - m_cs0[0]) / mn,
                "hwm_kib": proc_kib(monit.pid, "VmHWM"), "rss_kib": proc_kib(monit.pid, "VmRSS"),
                "private_dirty_kib": proc_private_dirty_kib(monit.pid),
            }

        # The shell loop: curl once per check, 5 ms sleep between.
        c0 = httpd_count(base_d)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        subprocess.run(["/bin/sh", "-c", 'i=0; while [ $i -lt %d ]; do '
                        'curl -s -o /dev/null -m 1 "$1"; sleep 0.005; i=$((i+1)); done'
                        % curl_checks, "sh", base_d + "/status"], check=True,
                       env={"PATH": fodtest.BASE_ENV["PATH"]})
        t1 = time.monotonic()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        n = httpd_count(base_d) - c0
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        res["shell"] = {
            "checks": n, "seconds": t1 - t0, "cpu_s": cpu,
            "cpu_us_per_check": cpu / max(1, n) * 1e6,
            "vcsw_per_check": (ru1.ru_nvcsw - ru0.ru_nvcsw) / max(1, n),
            "hwm_kib": ru1.ru_maxrss,  # the largest single child (curl)
        }
        return res
    finally:
        procs.close()


# --- 4 and 5. control socket --------------------------------------------------

def loadgen(tools, sock, clients, seconds, idle=0):
    cp = subprocess.run([tools["loadgen"], "-j", "-s", sock, "-c", str(clients), "-d",
                         str(seconds), "-I", str(idle)], capture_output=True, text=True,
                        timeout=seconds + 60)
    if cp.returncode != 0:
        log("loadgen: %s" % cp.stderr.strip())
    return json.loads(cp.stdout)


def fanout(tools, sock, rounds):
    cp = subprocess.run([tools["loadgen"], "-j", "-s", sock, "-F", "1000", "-r", str(rounds)],
                        capture_output=True, text=True, timeout=120)
    if cp.returncode != 0:
        log("loadgen fan-out: %s" % cp.stderr.strip())
    return json.loads(cp.stdout)


def bench_control(tools, seconds, fanout_rounds, shm):
    res = {"normal": [], "stressed": []}
    procs = Procs()
    try:
        # Fan-out once more with STATE_FILE on tmpfs: pause saves it.
        d = procs.add(Daemon(dict({"PROVIDER": "none", "CHECK_INTERVAL": "1h"},
                                  **shm_files(shm))))
        d.start()
        res["fanout_shm"] = fanout(tools, d.socket_path, fanout_rounds)
    finally:
        procs.close()
    procs = Procs()
    try:
        primary = procs.add(FakePrimary(mode="up").start())
        fly = procs.add(FakeFly(tokens=[TOKEN], burst=10000).start())
        d, _ = fly_daemon(procs, primary, fly, {"CHECK_INTERVAL": "1s", "FAST_INTERVAL": "1s"})
        wait_state(d, "primary")
        for c in (1, 10, 100):
            res["normal"].append(loadgen(tools, d.socket_path, c, seconds))
        res["fanout"] = fanout(tools, d.socket_path, fanout_rounds)
        res["status_bytes"] = len(json.dumps(d.status()))
    finally:
        procs.close()
    # The same while the check hangs, every Fly call takes 3 s and 1000 idle
    # clients are connected.
    procs = Procs()
    try:
        primary = procs.add(FakePrimary(mode="up").start())
        fly = procs.add(FakeFly(tokens=[TOKEN], burst=10000).start())
        d, _ = fly_daemon(procs, primary, fly, {"CHECK_INTERVAL": "100ms",
                                                "FAST_INTERVAL": "100ms",
                                                "CHECK_TIMEOUT": "1h",
                                                "RECONCILE_INTERVAL": "1s"})
        wait_state(d, "primary")
        fly.fault(path=".*", delay=3.0, count=None)
        primary.set_mode("hang")
        n = primary.request_count
        primary.wait_requests(n + 1, 5)
        for c in (1, 10, 100):
            res["stressed"].append(loadgen(tools, d.socket_path, c, seconds, idle=1000))
        st = d.status()
        res["stressed_check_inflight"] = primary.mode == "hang" and \
            primary.request_count == n + 1
        res["stressed_checks_total"] = st["local"]["checks_total"]
    finally:
        procs.close()
    return res


# --- report -------------------------------------------------------------------

def f1(x):
    return "%.1f" % x


def f2(x):
    return "%.2f" % x


def f3(x):
    return "%.3f" % x


def loadavg():
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    # Other busy processes (a shared machine): those over 20 % CPU.
    try:
        ps = subprocess.run(["ps", "-eo", "pcpu=,comm=", "--sort=-pcpu"], capture_output=True,
                            text=True, timeout=10).stdout.splitlines()
        busy = ["%s %s%%" % (ln.split(None, 1)[1], ln.split()[0]) for ln in ps[:5]
                if ln.strip() and float(ln.split()[0]) > 20 and "ps" != ln.split()[1]]
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        busy = []
    return load + (" (busy: %s)" % ", ".join(busy) if busy else "")


def report(info, r, args, elapsed, loads):
    L = []
    L.append("# failoverd benchmarks\n")
    L.append("Written by `python3 tests/bench/run.py` on %s (%.0f s wall). "
             "Figures, not pass/fail; method in tests/bench/README.\n"
             % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), elapsed))
    L.append("## Machine\n")
    L.append("| | |\n|---|---|")
    for k, v in info:
        L.append("| %s | %s |" % (k, v))
    L.append("| load average (1/5/15 min) | %s at the start, %s at the end |" % loads)
    L.append("\nThe load average includes whatever else ran on the machine meanwhile (CPU "
             "times below are per process; latencies are not immune to it).\n")

    if "reaction" in r:
        n = len(r["reaction"]["start_ms"])
        L.append("## 1. Reaction time (%d failovers each, sync off)\n" % n)
        L.append("From the primary fake sending the 3rd failing answer (503) to the fake "
                 "Fly API recording the request. STATE_FILE on disk: in the harness's temp "
                 "dir (ext4 here), where the daemon fsyncs it (file and directory) on the "
                 "transition before its first API call; on tmpfs: the same run with "
                 "STATE_FILE and STATUS_FILE in /dev/shm.\n")
        L.append("| STATE_FILE | to | median ms | p99 ms | max ms | target |\n"
                 "|---|---|---|---|---|---|")
        for key, where in (("reaction", "disk"), ("reaction_shm", "tmpfs")):
            x = r.get(key)
            if x is None:
                continue
            L.append("| %s | first Fly API request | %s | %s | %s | |" % (
                where, f3(pct(x["first_api_ms"], .5)), f3(pct(x["first_api_ms"], .99)),
                f3(max(x["first_api_ms"]))))
            L.append("| %s | start request | %s | %s | %s | median < 2 |" % (
                where, f3(pct(x["start_ms"], .5)), f3(pct(x["start_ms"], .99)),
                f3(max(x["start_ms"]))))
        L.append("")

    if "tts" in r:
        x = r["tts"]
        mf, mp = statistics.median(x["failoverd"]), statistics.median(x["plain"])
        L.append("## 2. Time to standby (%d + %d runs)\n" % (len(x["failoverd"]), len(x["plain"])))
        L.append("Primary killed (listening socket closed) at a random phase of the check "
                 "cycle; until the start request reaches the fake Fly API. CHECK_INTERVAL "
                 "0.6 s, FAST_INTERVAL 0.05 s, FAILURE_THRESHOLD 3.\n")
        L.append("| monitor | median ms | p99 ms | min ms | max ms |\n|---|---|---|---|---|")
        for k, name in (("failoverd", "failoverd"), ("plain", "plain loop (plainmon.py)")):
            v = x[k]
            L.append("| %s | %s | %s | %s | %s |" % (name, f1(statistics.median(v)),
                                                     f1(pct(v, .99)), f1(min(v)), f1(max(v))))
        L.append("\n**Ratio of medians failoverd / plain loop: %.3f** (target ≤ 0.3)\n"
                 % (mf / mp))

    if "footprint" in r:
        x = r["footprint"]
        fd = x["failoverd"]
        L.append("## 3. Footprint per check\n")
        L.append("HTTP GET of a local C responder (tests/bench/httpd.c). failoverd: %d checks "
                 "at CHECK_INTERVAL=5ms (one every %.2f ms measured); shell loop: %d curl runs "
                 "with `sleep 0.005`; monit: `set daemon 1`, one HTTP check, %.0f s.\n"
                 % (fd["checks"], fd["interval_ms"], x["shell"]["checks"],
                    x.get("monit", {}).get("seconds", 0)))
        L.append("| monitor | checks | CPU µs/check | voluntary ctx sw/check | peak RSS KiB "
                 "| private dirty KiB |\n|---|---|---|---|---|---|")
        rows = [("failoverd", fd), ("shell loop + curl", x["shell"])]
        if "monit" in x:
            rows.append(("monit", x["monit"]))
        for name, v in rows:
            L.append("| %s | %d | %s | %s | %d | %s |" % (
                name, v["checks"], f1(v["cpu_us_per_check"]), f2(v["vcsw_per_check"]),
                v["hwm_kib"], v.get("private_dirty_kib", "n/a (many short processes)")))
        L.append("")
        L.append("- CPU per check, shell loop / failoverd: **%.0f×** (target ≥ 100×)"
                 % (x["shell"]["cpu_us_per_check"] / fd["cpu_us_per_check"]))
        if "monit" in x:
            L.append("- CPU per check, monit / failoverd: **%.0f×** (target ≥ 20×)"
                     % (x["monit"]["cpu_us_per_check"] / fd["cpu_us_per_check"]))
            L.append("- peak RSS failoverd %d KiB vs monit %d KiB; failoverd private dirty "
                     "%d KiB (target < 2048)" % (fd["hwm_kib"], x["monit"]["hwm_kib"],
                                                fd["private_dirty_kib"]))
        if "epoll_wait_per_check" in fd:
            L.append("- strace -c over %d checks: %.2f epoll_wait and %.1f syscalls per check"
                     % (fd["strace_checks"], fd["epoll_wait_per_check"],
                        fd["syscalls_per_check"]))
        L.append("- wake-ups with no check due (CHECK_INTERVAL 3 s, %.1f s window right after "
                 "a check): **%d** context switches" % (x["idle_window_s"], x["idle_wakeups"]))
        L.append("- the harness polled the responder's counter, not the daemon, once a second "
                 "while counting, so no control requests were mixed into failoverd's figures")
        L.append("")

    if "control" in r:
        x = r["control"]
        L.append("## 4. Control socket: `status` requests\n")
        L.append("tests/bench/loadgen.c, %.0f s per row, one request outstanding per client; "
                 "status reply %d bytes. *Stressed*: the health check hangs (a request in "
                 "flight, CHECK_TIMEOUT 1h), every Fly API call takes 3 s (reconcile every "
                 "1 s) and 1000 idle clients are connected.\n"
                 % (args.control_seconds, x["status_bytes"]))
        L.append("| clients | condition | req/s | p50 ms | p99 ms | max ms | errors |\n"
                 "|---|---|---|---|---|---|---|")
        for cond in ("normal", "stressed"):
            for row in x[cond]:
                L.append("| %d | %s | %.0f | %s | %s | %s | %d |" % (
                    row["clients"], cond, row["rps"], f3(row["p50_ms"]), f3(row["p99_ms"]),
                    f3(row["max_ms"]), row["errors"]))
        L.append("\nTargets: ≥ 20 000 req/s with 10 clients; p99 < 2 ms; no change under the "
                 "hung check.\n")
        fo = x["fanout"]
        L.append("## 5. Event fan-out\n")
        L.append("%d subscribers to `pause` events; pause/resume sent %d times on another "
                 "connection; time from sending the command until every subscriber has read "
                 "its event line.\n" % (fo["subscribers"], fo["rounds"]))
        L.append("| STATE_FILE | | median ms | max ms | per round ms |\n|---|---|---|---|---|")
        for key, where in (("fanout", "disk"), ("fanout_shm", "tmpfs")):
            fo = x.get(key)
            if fo is None:
                continue
            L.append("| %s | first subscriber | %s | %s | |" % (
                where, f2(statistics.median(fo["first_ms"])), f2(max(fo["first_ms"]))))
            L.append("| %s | all %d | %s | %s | %s |" % (
                where, fo["subscribers"], f2(statistics.median(fo["all_ms"])),
                f2(max(fo["all_ms"])), ", ".join(f2(v) for v in fo["all_ms"])))
        L.append("\nTarget: all under 20 ms. `pause` saves STATE_FILE (fsync of file and "
                 "directory) after queueing the event and before the loop writes it out; the "
                 "tmpfs rows have the same fan-out without that disk cost.\n")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50, help="failovers for 1 and 2 (50)")
    ap.add_argument("--checks", type=int, default=10000, help="failoverd checks for 3")
    ap.add_argument("--curl-checks", type=int, default=2000, help="curl runs for 3 (2000)")
    ap.add_argument("--monit-seconds", type=float, default=60)
    ap.add_argument("--control-seconds", type=float, default=2)
    ap.add_argument("--quick", action="store_true", help="small counts, to try the harness")
    ap.add_argument("--only", default="1,2,3,4", help="which parts (4 includes 5)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    if args.quick:
        args.runs, args.checks, args.curl_checks = 5, 1000, 100
        args.monit_seconds, args.control_seconds = 10, 1
    if not os.path.exists(fodtest.FAILOVERD):
        sys.exit("bench: %s is not built (run make first)" % fodtest.FAILOVERD)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    only = set(args.only.split(","))
    t_start = time.monotonic()
    load0 = loadavg()
    tmp = tempfile.mkdtemp(prefix="fodbench.")
    shm = tempfile.mkdtemp(prefix="fodbench.", dir="/dev/shm") \
        if os.path.isdir("/dev/shm") else None
    r = {}
    try:
        tools = build_tools(tmp)
        if "1" in only:
            log("1. reaction time, %d failovers, STATE_FILE on disk" % args.runs)
            r["reaction"] = bench_reaction(args.runs)
            if shm is not None:
                log("1. reaction time, %d failovers, STATE_FILE on tmpfs" % args.runs)
                r["reaction_shm"] = bench_reaction(args.runs, shm)
        if "2" in only:
            log("2. time to standby, %d runs each" % args.runs)
            r["tts"] = bench_time_to_standby(args.runs)
        if "3" in only:
            log("3. footprint: %d failoverd checks, %d curl runs, monit %.0f s"
                % (args.checks, args.curl_checks, args.monit_seconds))
            r["footprint"] = bench_footprint(tools, tmp, args.checks, args.curl_checks,
                                             args.monit_seconds)
        if "4" in only:
            log("4/5. control socket and fan-out")
            r["control"] = bench_control(tools, args.control_seconds, 10, shm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)
    text = report(machine_info(), r, args, time.monotonic() - t_start, (load0, loadavg()))
    print(text)
    if args.out != "-":
        with open(args.out, "w") as f:
            f.write(text)
        log("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
