#!/usr/bin/env python3
"""Crash tests: failoverd killed with SIGKILL at every step of a failover
(the push, the fence hook, the start request, the wait, the verification)
and of a failback (the stop request, the wait for it, the pull, the failback
hook), then started again. Each time it must end in the right state, start
or stop each machine at most once more, continue `seq` and the counters,
deliver every notification it had queued (Telegram is down for the whole
first run), keep STATE_DIR's files, and leave no process of the killed
run behind.

Steps are held open by the test: a wrapper around the real rclone and the
hooks wait while a flag file exists (and say they are waiting), the fake Fly
API hangs a request or delays a machine's transition.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402
from test_failover import APP  # noqa: E402
from test_failover_sync import RCLONE, SyncCase, script, tree, write  # noqa: E402

BOT = "55555:CrashTestBotToken"
CHAT = "4242"


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class CrashCase(SyncCase):

    def setUp(self):
        super().setUp()
        self.tg = FakeTelegram(tokens=[BOT], chats=[CHAT]).start()
        self.addCleanup(self.tg.stop)
        self.tg.set_down(True)
        self.pids = os.path.join(self.tmp, "child.pids")
        # The real rclone, held while the flag of its direction exists.
        self.rclone = script(os.path.join(self.tmp, "rclone"), """
echo $$ >> {pids}
dir=other
if [ "$1" = sync ]; then
  for a in "$@"; do
    case "$a" in
      {state}) dir=push;;
      testremote:*) [ $dir = other ] && dir=pull;;
    esac
  done
fi
if [ -e {tmp}/block-$dir ]; then
  touch {tmp}/in-$dir
  while [ -e {tmp}/block-$dir ]; do sleep 0.05; done
fi
exec {rclone} "$@"
""".format(pids=self.pids, state=self.state_dir, tmp=self.tmp, rclone=RCLONE))
        self.hook = {}
        for name in ("fence", "failback"):
            self.hook[name] = script(os.path.join(self.tmp, name), """
echo $$ >> {pids}
if [ -e {tmp}/block-{name} ]; then
  touch {tmp}/in-{name}
  while [ -e {tmp}/block-{name} ]; do sleep 0.05; done
fi
""".format(pids=self.pids, tmp=self.tmp, name=name))

    def config(self, **kw):
        c = super().config(**kw)
        c.update({"RCLONE": self.rclone, "FENCE_CMD": self.hook["fence"],
                  "FAILBACK_CMD": self.hook["failback"], "FAILURE_THRESHOLD": "1",
                  "RECOVERY_THRESHOLD": "1", "TELEGRAM_BOT_TOKEN": BOT,
                  "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_URL": self.tg.url})
        c.update(kw)
        return c

    def block(self, step):
        write(os.path.join(self.tmp, "block-" + step), b"")

    def unblock(self):
        for n in os.listdir(self.tmp):
            if n.startswith("block-"):
                os.unlink(os.path.join(self.tmp, n))

    def wait_in(self, step, d):
        wait_until(lambda: self.alive(d) and os.path.exists(os.path.join(self.tmp, "in-" + step)),
                   20, msg="failoverd to reach the %s step" % step)

    def child_pids(self):
        if not os.path.exists(self.pids):
            return []
        with open(self.pids) as f:
            return [int(x) for x in f.read().split()]

    def last_seq(self, d):
        r = d.request({"cmd": "events", "backlog": 1, "follow": False})
        self.assertOk(r)
        return r["result"]["last_seq"]

    def crash_and_restart(self, d):
        """SIGKILL, then the same daemon again with every step let go."""
        seq = self.last_seq(d)
        before = d.status()
        pending = before["notify"]["pending"]
        killed_children = [p for p in self.child_pids() if alive(p)]
        d.kill9()
        d.proc = None
        d.start()
        # The killed run's children (still held at their step) are gone once
        # the new run is up: they must not race the new run's syncs.
        wait_until(lambda: not [p for p in killed_children if alive(p)], 5,
                   msg="the killed run's rclone/hooks gone: %r" % killed_children)
        self.unblock()
        self.fly.clear_faults()
        self.standby_health.set_mode("up")
        self.tg.set_down(False)
        self.assertGreater(self.last_seq(d), seq, "seq continues after the restart")
        return before, pending

    def check_notifications(self, d, needles):
        def delivered():
            text = "\n".join(m["text"] for m in self.tg.messages(CHAT))
            return all(n in text for n in needles) and text
        try:
            wait_until(delivered, 30, msg="queued notifications %r delivered" % (needles,))
        except AssertionError as e:
            raise AssertionError("%s; got %r" % (e, [m["text"] for m in self.tg.messages()]))
        wait_until(lambda: d.status()["notify"]["pending"] == 0, 30, msg="nothing pending")

    def stops(self):
        return len([r for r in self.fly.requests("POST", "/machines/%s/stop$" % self.mid)
                    if r["status"] == 200])


class CrashDuringFailoverTest(CrashCase):
    """Killed at each step of a failover; the restart finishes it."""

    def crash_at(self, step, **kw):
        original = tree(self.state_dir)
        d = self.start(**kw)
        if step in ("push", "fence"):
            self.block(step)
        elif step == "start":
            self.fly.fault(method="POST", path=r"/start$", hang=True, count=1)
        elif step == "verify":
            self.standby_health.set_mode("503")
        ev = self.events(d, ["state"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "failing-over")
        if step in ("push", "fence"):
            self.wait_in(step, d)
        elif step == "start":
            wait_until(lambda: self.fly.requests("POST", r"/start$"), 10,
                       msg="the (hanging) start request")
        elif step == "wait":
            wait_until(lambda: self.starts() == 1, 10, msg="the start accepted")
            self.assertEqual(self.fly.state(APP, self.mid), "starting")
        elif step == "verify":
            wait_until(lambda: self.standby_health_hits() > 0 and
                       self.fly.state(APP, self.mid) == "started", 15,
                       msg="the verification under way")
        self.assertEqual(d.status()["state"], "failing-over")
        self.crash_and_restart(d)
        s = self.wait_state(d, "standby", 30)
        time.sleep(0.3)  # nothing more afterwards
        self.assertEqual(self.starts(), 1, self.fly.requests("POST"))
        self.assertEqual(self.stops(), 0)
        self.assertEqual(self.fly.state(APP, self.mid), "started")
        self.assertEqual(s["counters"]["failovers"], 1)
        self.assertIs(s["standby"]["active"], True)
        self.check_notifications(d, ["FAILOVER BEGUN", "STANDBY SERVING"])
        # STATE_DIR lost nothing (the fence hook here writes nothing).
        self.assertEqual(tree(self.state_dir), original)
        return d

    def test_killed_during_the_push(self):
        self.crash_at("push")

    def test_killed_during_the_fence_hook(self):
        self.crash_at("fence")

    def test_killed_during_the_start_request(self):
        self.crash_at("start")

    def test_killed_during_the_wait(self):
        self.start_delay = 3.0
        self.fly.start_delay = 3.0
        self.crash_at("wait")

    def test_killed_during_the_verification(self):
        self.crash_at("verify")


class CrashDuringFailbackTest(CrashCase):
    """Killed at each step of a failback; the restart finishes it (pull and
    FAILBACK_CMD included)."""

    def crash_at(self, step):
        d = self.start(MIN_STANDBY_TIME="0")
        ev = self.events(d, ["state"])
        self.primary.set_mode("down")
        self.wait_to(d, ev, "standby", timeout=30)
        standby = tree(self.state_dir)
        standby["positions.json"] = b'{"from": "the standby"}\n'
        self.standby_state = standby
        if step in ("pull", "failback"):
            self.block(step)
        elif step == "stop":
            self.fly.fault(method="POST", path=r"/stop$", hang=True, count=1)
        elif step == "stop-wait":
            self.fly.stop_delay = 3.0
        self.primary.set_mode("up")
        self.wait_to(d, ev, "failing-back", timeout=30)
        if step in ("pull", "failback"):
            self.wait_in(step, d)
        elif step == "stop":
            wait_until(lambda: self.fly.requests("POST", r"/stop$"), 10,
                       msg="the (hanging) stop request")
        elif step == "stop-wait":
            wait_until(lambda: self.stops() == 1, 10, msg="the stop accepted")
            self.assertEqual(self.fly.state(APP, self.mid), "stopping")
        self.assertEqual(d.status()["state"], "failing-back")
        self.crash_and_restart(d)
        s = self.wait_state(d, "primary", 40)
        time.sleep(0.3)
        self.assertLessEqual(self.stops(), 2, self.fly.requests("POST"))
        self.assertEqual(self.starts(), 1)
        self.assertEqual(self.fly.state(APP, self.mid), "stopped")
        self.assertEqual(s["counters"]["failovers"], 1)
        self.assertEqual(s["counters"]["failbacks"], 1)
        # The standby's state was pulled and applied; FAILBACK_CMD ran.
        self.assertEqual(tree(self.state_dir), standby)
        self.assertIs(s["sync"]["last_pull"]["ok"], True)
        self.check_notifications(d, ["FAILOVER BEGUN", "STANDBY SERVING", "FAILBACK DONE"])
        return d

    def test_killed_during_the_stop_request(self):
        self.crash_at("stop")

    def test_killed_while_the_machine_stops(self):
        self.crash_at("stop-wait")

    def test_killed_during_the_pull(self):
        self.crash_at("pull")

    def test_killed_during_the_failback_hook(self):
        self.crash_at("failback")


if __name__ == "__main__":
    fodtest.main()
