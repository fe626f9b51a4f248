#!/usr/bin/env python3
"""A self-contained failoverd demo: no account anywhere.

Starts a simulated primary (a local HTTP health endpoint), a local stand-in
for the Fly Machines API with one stopped standby machine, and a simulated
standby health endpoint; the primary's state directory is synced with the
real rclone to a `local` remote (a directory standing in for Google Drive).
Runs the real failoverd against them and follows `failoverctl events` while
the primary fails (state pushed, standby started and verified) and recovers
(standby stopped, the standby's state pulled back); then prints
`failoverctl status` and stops everything it started.

Run from a built tree: `python3 contrib/demo.py` (or `contrib/setup.sh demo`).
"""
import json
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


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    if shutil.which("rclone") is None:
        raise SystemExit("demo: rclone is not installed (contrib/setup.sh deps installs it)")
    tmp = tempfile.mkdtemp(prefix="failoverd-demo.")
    procs = []
    state_dir = os.path.join(tmp, "state")
    remote = os.path.join(tmp, "drive")
    write(os.path.join(state_dir, "positions.json"), '{"BTC": 1.5}\n')
    write(os.path.join(state_dir, "journal", "2026-11-28.log"), "buy BTC 1.5\n")
    primary = FakePrimary().start()
    standby_health = FakePrimary().start()
    fly = FakeFly(tokens=[TOKEN], start_delay=0.5, stop_delay=0.5).start()
    mid = fly.add_machine(APP, "stopped", "iad")

    def standby_entrypoint(action, machine):
        # What contrib/fly/entrypoint.sh does when Fly stops the standby: its
        # final push (here: the standby traded while it served), then the
        # completion marker failoverd waits for before it pulls.
        if action != "stop":
            return
        write(os.path.join(remote, "positions.json"), '{"BTC": 0.5, "ETH": 3}\n')
        write(os.path.join(remote, "journal", "2026-11-28.log"),
              "buy BTC 1.5\nsell BTC 1.0 (on the standby)\nbuy ETH 3 (on the standby)\n")
        t = time.time()
        write(os.path.join(remote, ".failoverd-standby-pushed"), json.dumps({
            "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) +
            ".%03dZ" % int(t % 1 * 1000), "machine": machine}))

    fly.on_action = standby_entrypoint
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
STATE_DIR=%s
RCLONE_REMOTE=drive
RCLONE_PATH=%s
RCLONE_CONFIG=/dev/null
RCLONE_CONFIG_DRIVE_TYPE=local
SYNC_INTERVAL=0
SYNC_TIMEOUT=20s
NOTIFY_CMD=echo "NOTIFY_CMD: $FAILOVER_FROM -> $FAILOVER_TO" >> %s/notify.log
""" % (primary.port, APP, fly.url, standby_health.port, sock, tmp, tmp, tmp, tmp,
       state_dir, remote, tmp))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
           "LANG": "C.UTF-8", "FLY_API_TOKEN": TOKEN}
    ctl = [os.path.join(BUILD, "failoverctl"), "-s", sock]
    try:
        say("starting failoverd (PROVIDER=fly against a local stand-in for the Machines API)")
        d = subprocess.Popen([os.path.join(BUILD, "failoverd"), "-f", "-c", conf],
                             env=env, stderr=open(os.path.join(tmp, "failoverd.log"), "w"))
        procs.append(d)
        wait_state(ctl, "primary", 15)
        ev = subprocess.Popen(ctl + ["events", "-T", "state,standby,check,sync,hook,drift,error"])
        procs.append(ev)
        time.sleep(1.5)  # let a healthy check show up in the event stream
        say("the primary goes down (connections refused)")
        primary.set_mode("down")
        wait_state(ctl, "standby", 30)
        say("the standby serves: machine %s is %s; the remote holds %s" % (
            mid, fly.state(APP, mid), ", ".join(sorted(
                os.path.relpath(os.path.join(dp, f), remote)
                for dp, _, fs in os.walk(remote) for f in fs))))
        say("the primary comes back")
        primary.set_mode("up")
        wait_state(ctl, "primary", 30)
        time.sleep(0.5)
        say("the standby's state is back on the primary")
        with open(os.path.join(state_dir, "positions.json")) as f:
            print("STATE_DIR/positions.json: " + f.read().strip())
        for dp, _, fs in os.walk(os.path.join(tmp, "backups")):
            for f in fs:
                if ".staging" not in dp:
                    print("replaced file kept in " + os.path.relpath(os.path.join(dp, f), tmp))
        if os.path.exists(os.path.join(tmp, "notify.log")):
            with open(os.path.join(tmp, "notify.log")) as f:
                print(f.read().rstrip())
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
    # ^C ends the demo (what it started is stopped in main's finally) with
    # one line, never a traceback; so does a second ^C during that clean-up.
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        try:
            sys.stderr.write("\ndemo: interrupted\n")
        except OSError:
            pass
        sys.exit(130)
