#!/usr/bin/env python3
"""bench_watch.py: kill -9 of the primary -> the Fly start request, with the
process watch (PRIMARY_PID_FILE), the connection watch (WATCH_CONNECTION)
and neither, side by side (CONTRACT §10, issue 13).

    python3 tests/bench/bench_watch.py [--runs N] [--scale S]

The primary is tests/integration/fakes/fake_primary.py as its own process
(writing its PID file), killed with SIGKILL at a random moment; the fake Fly
API records when it read the start request (time.time(), the same clock as
the kill). Intervals are the contract's defaults scaled like run.py's
time-to-standby row: CHECK_INTERVAL 60 s and FAST_INTERVAL 5 s times S
(default 0.01: 0.6 s and 50 ms), FAILURE_THRESHOLD 3. The target is
(FAILURE_THRESHOLD - 1) x FAST_INTERVAL + 50 ms. Between runs the primary
is started again and the daemon fails back. Figures, not pass/fail; not
part of make check.
"""
import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration", "fakes"))

from fodtest import Daemon, free_port, wait_until  # noqa: E402
from fake_fly import FakeFly  # noqa: E402

APP = "bench-standby"
TOKEN = "bench-token"
FAKE_PRIMARY = os.path.join(TOP, "tests", "integration", "fakes", "fake_primary.py")
THRESHOLD = 3


def log(msg):
    sys.stderr.write("bench_watch: %s\n" % msg)
    sys.stderr.flush()


def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def spawn_primary(port, pid_file):
    p = subprocess.Popen([sys.executable, FAKE_PRIMARY, "--port", str(port),
                          "--pid-file", pid_file, "--idle-timeout", "3600"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    json.loads(p.stdout.readline())
    p.stdout.close()
    return p


def fly_starts(fly):
    return [r for r in fly.requests("POST", r"/start$") if r["status"] == 200]


def run_mode(mode, runs, check_s, fast_s):
    port = free_port()
    fly = FakeFly(tokens=[TOKEN], start_delay=0.01, stop_delay=0.01, burst=10000).start()
    fly.add_app(APP)
    fly.add_machine(APP, "stopped", "iad")
    cfg = {
        "PROVIDER": "fly", "FLY_APP": APP, "FLY_API_HOSTNAME": fly.url,
        "LOCAL_HEALTH_URL": "http://127.0.0.1:%d/status" % port,
        "CHECK_INTERVAL": "%gms" % (check_s * 1000), "FAST_INTERVAL": "%gms" % (fast_s * 1000),
        "CHECK_TIMEOUT": "1s", "FAILURE_THRESHOLD": str(THRESHOLD), "RECOVERY_THRESHOLD": "1",
        "MIN_STANDBY_TIME": "0", "RECONCILE_INTERVAL": "1h", "AUTO_STOP": "0",
    }
    d = Daemon(cfg, env={"FLY_API_TOKEN": TOKEN}, args=["-v"])
    pid_file = os.path.join(d.dir, "primary.pid")
    if mode == "process":
        d.config["PRIMARY_PID_FILE"] = pid_file
    elif mode == "connection":
        d.config["WATCH_CONNECTION"] = "yes"
    d.write_config()
    prim = spawn_primary(port, pid_file)
    out = []
    try:
        d.start()
        for i in range(runs):
            wait_until(lambda: d.status()["state"] == "primary"
                       and d.status()["local"]["healthy"], 20, msg="primary")
            if mode == "process":
                wait_until(lambda: "watching the primary's process %d" % prim.pid
                           in d.log_text(), 5, msg="the process watched")
            elif mode == "connection":
                n_conn = i + 1
                wait_until(lambda: d.log_text().count("watch: connected to") >= n_conn, 5,
                           msg="the connection")
            time.sleep(random.uniform(0, check_s))
            n = len(fly_starts(fly))
            t_kill = time.time()
            prim.send_signal(signal.SIGKILL)
            prim.wait()
            wait_until(lambda: len(fly_starts(fly)) > n, 120, interval=0.002,
                       msg="a start request")
            out.append((fly_starts(fly)[n]["time"] - t_kill) * 1000)
            wait_until(lambda: d.status()["state"] == "standby", 20, msg="standby")
            prim = spawn_primary(port, pid_file)
    finally:
        if prim.poll() is None:
            prim.kill()
            prim.wait()
        d.cleanup()
        fly.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--scale", type=float, default=0.01,
                    help="multiplies CHECK_INTERVAL 60 s and FAST_INTERVAL 5 s")
    a = ap.parse_args()
    check_s, fast_s = 60 * a.scale, 5 * a.scale
    target = ((THRESHOLD - 1) * fast_s) * 1000 + 50
    res = {}
    for mode in ("process", "connection", "neither"):
        log("%s: %d runs" % (mode, a.runs))
        res[mode] = run_mode(mode, a.runs, check_s, fast_s)
    print("kill -9 -> Fly start request, CHECK_INTERVAL %gs, FAST_INTERVAL %gms, "
          "FAILURE_THRESHOLD %d, %d runs each; target (F-1) x FAST + 50 ms = %.0f ms"
          % (check_s, fast_s * 1000, THRESHOLD, a.runs, target))
    print()
    print("| watch | median ms | p90 ms | max ms | median / target | median / neither |")
    print("|---|---|---|---|---|---|")
    base = statistics.median(res["neither"])
    for mode, v in res.items():
        med = statistics.median(v)
        print("| %s | %.1f | %.1f | %.1f | %.2f | %.2f |"
              % (mode, med, pct(v, 0.9), max(v), med / target, med / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
