#!/usr/bin/env python3
"""Several monitors, one actor: a self-contained demo of COORDINATOR=etcd.

Runs three etcd members from Debian's etcd-server on loopback ports, a
simulated primary, a local stand-in for the Fly Machines API with one
stopped standby machine, and three failoverd monitors: "home" on the
primary's host (its SELF_FENCE_CMD stops the primary there), "office" on a
second host and "vps" on a third. Each monitor reaches etcd and the primary
through its own path, so the demo can break one path without the others.
Then it
  1. shows who leads (`failoverctl status` of one monitor),
  2. kills the leader with SIGKILL: another monitor leads within
     ELECTION_TTL + 2 s,
  3. cuts the primary's host off the network: its monitor can no longer
     renew its etcd lease and runs SELF_FENCE_CMD, and only after that
     does the leader start the standby, once,
  4. reconnects the host: the primary serves again, the standby stops,
and checks every Fly request against the leader terms seen in etcd (no two
monitors acting in overlapping terms, one start per failover). Exits 0 when
all of that happened, 1 otherwise; stops everything it started.

Run from a built tree: `python3 contrib/demo_cluster.py` (or
`contrib/setup.sh demo-cluster`). Needs etcd (`apt-get install etcd-server`).
"""
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("FOD_BUILDDIR", TOP)
os.environ.setdefault("FOD_BUILDDIR", BUILD)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from etcdfix import have_etcd  # noqa: E402
from clusterfix import Cluster  # noqa: E402
from fodtest import wait_until  # noqa: E402

TTL = 3
FAILOVERCTL = os.path.join(BUILD, "failoverctl")


def say(msg):
    print("\n\033[1m==> %s\033[0m" % msg, flush=True)


def ctl(c, n, *args):
    out = subprocess.run([FAILOVERCTL, "-s", c.ds[n].socket_path] + list(args),
                         capture_output=True, text=True, timeout=15)
    return out.stdout + out.stderr


def roles(c):
    return ", ".join("%s %s" % (n, c.role(n) or "down") for n in c.names)


def main():
    if not have_etcd():
        raise SystemExit("demo-cluster: etcd is not installed (apt-get install etcd-server)")
    ok = True
    fence_marker = None
    say("Starting 3 etcd members, a primary, a stand-in Fly API and 3 monitors "
        "(ELECTION_TTL %ds)" % TTL)
    c = Cluster(names=("home", "office", "vps"), n_etcd=3, ttl=TTL, prefix="failoverd-demo-cluster.",
                extra={"CHECK_INTERVAL": "500ms", "FAST_INTERVAL": "200ms"},
                etcd_args=["--heartbeat-interval", "50", "--election-timeout", "500"])
    fence_marker = os.path.join(c.tmp, "primary-stopped")
    for n in ("office", "vps"):
        c.per_node[n] = {"SELF_FENCE_CMD": None}
    # On a real host: stop the primary (systemctl stop my-bot). Here: a marker
    # the demo sees, and the time, for the checker.
    c.per_node["home"] = {"SELF_FENCE_CMD": "touch %s; echo home $(date +%%s.%%N) >> %s"
                          % (fence_marker, c.fence_log)}
    try:
        c.start_all(first="office")
        print(roles(c))
        say("failoverctl status (on home):")
        print(ctl(c, "home", "status"))

        lead = c.leader()
        say("Killing the leader (%s) with SIGKILL" % lead)
        t_kill = time.time()
        c.kill(lead)
        others = [n for n in c.names if n != lead]
        new = c.wait_leader(timeout=TTL + 4, among=others)
        took = time.time() - t_kill
        print("%s leads after %.1f s (bound: ELECTION_TTL + 2 s = %d s)" % (new, took, TTL + 2))
        ok &= took <= TTL + 2
        say("Starting %s again: it joins as a follower" % lead)
        c.ds[lead].restart()
        c.wait_settled(timeout=20)
        print(roles(c))

        say("Cutting the primary's host (home) off the network: no etcd, and the "
            "primary unreachable from the other hosts")
        t_cut = time.time()
        c.cut("home")
        c.primary_mode("down", ["office", "vps"])
        wait_until(lambda: c.fences(), TTL + 2, msg="SELF_FENCE_CMD")
        t_fence = c.fences()[0][1]
        c.primary_mode("down", ["home"])  # what the self-fence did to the primary
        print("home ran SELF_FENCE_CMD %.1f s after the cut (it can prove its lease for at "
              "most ELECTION_TTL x 2/3 = %.1f s after its last renewal)"
              % (t_fence - t_cut, TTL * 2 / 3))
        leader = c.wait_leader(timeout=TTL + 4, among=["office", "vps"])
        wait_until(lambda: c.starts() >= 1 and all(
            c.status(n)["state"] == "standby" for n in ("office", "vps")), 20,
            msg="the failover")
        first = min(r["time"] for r in c.writes())
        print("%s started the standby %.1f s after the self-fence; Fly start requests: %d"
              % (leader, first - t_fence, c.starts()))
        ok &= t_fence < first and c.starts() == 1
        say("failoverctl status (on %s):" % leader)
        print(ctl(c, leader, "status"))

        say("Reconnecting home and starting the primary again")
        os.unlink(fence_marker)
        c.resume("home")
        c.primary_mode("up")
        wait_until(lambda: all(c.status(n)["state"] == "primary" for n in c.names), 30,
                   msg="the failback")
        c.wait_settled(timeout=20)
        print(roles(c))
        fails = c.check()
        say("Every Fly request checked against the leader terms in etcd")
        for r in c.writes():
            print("  %s %s by %s" % (r["path"].rsplit("/", 1)[-1], r["path"].split("/")[-2],
                                     c.node_of_port.get(r["port"])))
        print("  leader terms: " + ", ".join("%s (epoch %d)" % (t[0], t[1])
                                             for t in c.watch.snapshot()))
        if fails:
            print("  FAILED:\n  " + "\n  ".join(fails))
        else:
            print("  no two monitors acted in overlapping terms; one start per failover")
        ok &= not fails
    except (AssertionError, OSError, IndexError, KeyError) as e:
        print("demo-cluster: %s" % e)
        ok = False
    finally:
        c.close()
    say("demo-cluster %s" % ("done: one actor at every moment" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
