#!/usr/bin/env python3
"""A self-contained failoverd demo: no account anywhere.

Starts a simulated primary (a local HTTP health endpoint), a local stand-in
for the Fly Machines API with one stopped standby machine, and a simulated
standby health endpoint; runs the real failoverd against them and follows
`failoverctl events` while the primary fails and recovers; then prints
`failoverctl status` and stops everything it started.

Run from a built tree: `python3 contrib/demo.py` (or `contrib/setup.sh demo`).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("FOD_BUILDDIR", TOP)
sys.path.insert(0, os.path.join(TOP, "tests", "integration", "fakes"))

from fake_fly import FakeFly  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

APP = "demo-standby"
TOKEN = "demo-token"


def say(msg):
    print("\n\033[1m==> %s\033[0m" % msg, flush=True)


def wait_state(ctl, want, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(ctl + ["-j", "status"], capture_output=True, text=True)
        if out.returncode == 0 and ('"state":"%s"' % want) in out.stdout.replace(" ", ""):
            return True
        time.sleep(0.1)
    raise SystemExit("demo: failoverd did not reach %s within %ds" % (want, timeout))


def main():
    tmp = tempfile.mkdtemp(prefix="failoverd-demo.")
    procs = []
    primary = FakePrimary().start()
    standby_health = FakePrimary().start()
    fly = FakeFly(tokens=[TOKEN], start_delay=0.5, stop_delay=0.5).start()
    fly.add_machine(APP, "stopped", "iad")
    sock = os.path.join(tmp, "failoverd.sock")
    conf = os.path.join(tmp, "failoverd.conf")
    with open(conf, "w") as f:
        f.write("""# failoverd demo configuration
LOCAL_HEALTH_URL=http://127.0.0.1:%d/status
CHECK_INTERVAL=1s
FAST_INTERVAL=250ms
CHECK_TIMEOUT=1s
FAILURE_THRESHOLD=3
RECOVERY_THRESHOLD=3
MIN_STANDBY_TIME=3s
PROVIDER=fly
FLY_APP=%s
FLY_API_HOSTNAME=%s
FLY_HEALTH_URL=http://127.0.0.1:%d/health
SOCKET=%s
STATE_FILE=%s/state.json
STATUS_FILE=%s/failoverd.status
PID_FILE=%s/failoverd.pid
BACKUP_DIR=%s/backups
""" % (primary.port, APP, fly.url, standby_health.port, sock, tmp, tmp, tmp, tmp))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
           "LANG": "C.UTF-8", "FLY_API_TOKEN": TOKEN}
    ctl = [os.path.join(BUILD, "failoverctl"), "-s", sock]
    try:
        say("starting failoverd (PROVIDER=fly against a local stand-in for the Machines API)")
        d = subprocess.Popen([os.path.join(BUILD, "failoverd"), "-f", "-c", conf],
                             env=env, stderr=open(os.path.join(tmp, "failoverd.log"), "w"))
        procs.append(d)
        wait_state(ctl, "primary", 15)
        ev = subprocess.Popen(ctl + ["events", "-T", "state,standby,check,drift,error"])
        procs.append(ev)
        time.sleep(1.5)  # let a healthy check show up in the event stream
        say("the primary goes down (connections refused)")
        primary.set_mode("down")
        wait_state(ctl, "standby", 30)
        say("the standby serves: machine %s is %s" % (
            list(fly.apps[APP])[0], fly.state(APP, list(fly.apps[APP])[0])))
        say("the primary comes back")
        primary.set_mode("up")
        wait_state(ctl, "primary", 30)
        time.sleep(0.5)
        say("failoverctl status")
        ev.terminate()
        ev.wait(5)
        subprocess.run(ctl + ["status"])
        say("stopping failoverd")
        d.send_signal(signal.SIGTERM)
        rc = d.wait(10)
        print("failoverd exited with %d; Fly start requests: %d, stop requests: %d" % (
            rc, len(fly.requests("POST", "/start$")), len(fly.requests("POST", "/stop$"))))
        return 0 if rc == 0 else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        fly.stop()
        primary.stop()
        standby_health.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
