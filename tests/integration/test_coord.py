#!/usr/bin/env python3
"""COORDINATOR=etcd against a real etcd (CONTRACT §9): what a pair of
monitors shows and does beyond election and partitions (those are
test_cluster.py's): status `coordination` and the metrics, pair-wide
commands (rule 6: carried out by the leader, `acted_by`, `unavailable`
without one), selftest's etcd checks, a duplicate NODE_NAME and a prefix
of another pair refused, the final push and the pull asked of the monitor
with STATE_DIR (rule 5, with the real rclone on a local remote), and
NOTIFY_CMD and Telegram from the leader only. Every wait has a deadline.
"""

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from etcdfix import EtcdCluster, have_etcd  # noqa: E402
from fake_fly import FakeFly  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402

APP = "coord-app"
TOKEN = "fo1_CoordTokenSekr3t"
BOT = "987654:CoordTelegramSecretToken"
CHAT = "-100777"
RCLONE = shutil.which("rclone")


class CoordCase(fodtest.DaemonTestCase):
    """One etcd member, a fake Fly app with one stopped machine, one fake
    primary; monitor(name, **keys) starts a monitor of the pair."""

    def setUp(self):
        super().setUp()
        if not have_etcd():
            self.skipTest("etcd is not installed")
        self.etcd = EtcdCluster(1)
        self.addCleanup(self.etcd.close)
        self.etcd.wait_healthy()
        self.fly = FakeFly(tokens=[TOKEN], start_delay=0.1, stop_delay=0.1).start()
        self.addCleanup(self.fly.stop)
        self.fly.add_app(APP)
        self.mid = self.fly.add_machine(APP, "stopped", "iad")
        self.primary = FakePrimary().start()
        self.addCleanup(self.primary.stop)
        self.tmp = tempfile.mkdtemp(prefix="fodcoord.")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def config(self, name, **kw):
        c = {
            "COORDINATOR": "etcd",
            "ETCD_ENDPOINTS": self.etcd.endpoints,
            "NODE_NAME": name,
            "ELECTION_TTL": "2",
            "PROVIDER": "fly",
            "FLY_APP": APP,
            "FLY_API_HOSTNAME": self.fly.url,
            "LOCAL_HEALTH_URL": self.primary.url,
            "CHECK_INTERVAL": "300ms",
            "FAST_INTERVAL": "100ms",
            "CHECK_TIMEOUT": "500ms",
            "FAILURE_THRESHOLD": "2",
            "RECOVERY_THRESHOLD": "2",
            "MIN_STANDBY_TIME": "0",
            "STARTUP_GRACE": "0",
            "ACTIVATION_TIMEOUT": "30s",
        }
        for k, v in kw.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def monitor(self, name, **kw):
        return self.start_daemon(self.config(name, **kw), env={"FLY_API_TOKEN": TOKEN})

    def co(self, d):
        if not d.running():
            raise fodtest.Abort("failoverd died:\n" + d.log_tail())
        return d.status()["coordination"]

    def wait_role(self, d, role, timeout=10.0):
        try:
            return wait_until(lambda: self.co(d)["role"] == role and self.co(d),
                              timeout, interval=0.05, msg="role %s" % role)
        except AssertionError as e:
            raise AssertionError("%s\n--- log ---\n%s" % (e, d.log_tail()))

    def wait_state(self, d, state, timeout=10.0):
        try:
            return wait_until(lambda: d.status()["state"] == state, timeout, interval=0.05,
                              msg="state %s" % state)
        except AssertionError as e:
            raise AssertionError("%s\n--- log ---\n%s" % (e, d.log_tail()))

    def pair(self, n=2, first_kw=None, **kw):
        """n monitors m1..mn; m1 starts first and leads."""
        ds = [self.monitor("m1", **dict(kw, **(first_kw or {})))]
        self.wait_role(ds[0], "leader")
        for i in range(2, n + 1):
            ds.append(self.monitor("m%d" % i, **kw))
        for d in ds[1:]:
            self.wait_role(d, "follower")
        for d in ds:
            self.wait_state(d, "primary")
            wait_until(lambda: len(self.co(d)["monitors"]) == n, 5, msg="every view seen")
        return ds

    def starts(self):
        return self.fly.starts(self.mid)

    def fly_writes(self):
        return [r for r in self.fly.requests("POST")
                if r["path"].endswith(("/start", "/stop", "/suspend"))]


class StatusTest(CoordCase):

    def test_status_metrics_and_events(self):
        m1, m2 = self.pair(2, first_kw={"STATE_DIR": os.path.join(self.tmp, "state"),
                                        "RCLONE_REMOTE": "r", "RCLONE_CONFIG": "/dev/null",
                                        "RCLONE_CONFIG_R_TYPE": "local",
                                        "RCLONE_PATH": os.path.join(self.tmp, "remote"),
                                        "SYNC_INTERVAL": "0"})
        os.makedirs(os.path.join(self.tmp, "state"), exist_ok=True)
        c1, c2 = self.co(m1), self.co(m2)
        for c, node, role in ((c1, "m1", "leader"), (c2, "m2", "follower")):
            self.assertEqual(c["coordinator"], "etcd")
            self.assertTrue(c["ok"], c)
            self.assertIsNone(c["error"])
            self.assertEqual(c["node"], node)
            self.assertEqual(c["role"], role)
            self.assertEqual(c["leader"], "m1")
            self.assertEqual(c["held_by"], [])
            self.assertGreater(c["lease_ttl_s"], 0)
            self.assertLessEqual(c["lease_ttl_s"], 2.0)
        # The epoch is the leader key's create revision: one value everywhere.
        self.assertEqual(c1["epoch"], c2["epoch"])
        self.assertGreater(c1["epoch"], 0)
        views = wait_until(lambda: len(self.co(m2)["monitors"]) == 2 and self.co(m2)["monitors"],
                           5, msg="both views")
        byname = {v["node"]: v for v in views}
        self.assertEqual(set(byname), {"m1", "m2"})
        self.assertTrue(byname["m1"]["state_dir"])
        self.assertFalse(byname["m2"]["state_dir"])
        self.assertTrue(byname["m2"]["healthy"])
        self.assertIsNotNone(byname["m1"]["at"])
        # Metrics: one leader.
        for d, lead in ((m1, 1), (m2, 0)):
            text = d.request({"cmd": "metrics"})["result"]["text"]
            self.assertIn("failoverd_leader %d" % lead, text)
            self.assertIn("failoverd_coordination_ok 1", text)
        # failoverctl status shows it; events show leader changes.
        _, out, _ = m2.ctl("status", check=0)
        self.assertIn("m2 is follower; leader m1 (epoch %d); lease " % c2["epoch"], out)
        self.assertRegex(out, r"m1: healthy, failures 0, successes \d+, .*STATE_DIR")
        self.assertRegex(out, r"m2: healthy, failures 0, successes \d+")
        _, out, _ = m1.ctl("events", "-n", "20", "--no-follow", "-T", "leader", check=0)
        self.assertIn("leader m1 (epoch %d), this monitor: leader" % c1["epoch"], out)
        # A coordination of none shows null.
        d = self.start_daemon({"LOCAL_HEALTH_URL": self.primary.url})
        self.assertIsNone(d.status()["coordination"])
        self.assertNotIn("failoverd_leader", d.request({"cmd": "metrics"})["result"]["text"])


class CommandTest(CoordCase):

    def test_pair_wide_commands_and_acted_by(self):
        m1, m2, m3 = self.pair(3)
        ev = m1.events(types=["control"])
        self.addCleanup(ev.close)
        r = self.assertOk(m2.request({"cmd": "pause"}))
        self.assertEqual(r["acted_by"], "m1")
        self.assertTrue(r["paused"])
        ev.wait_for(lambda e: e["type"] == "control" and e["cmd"] == "pause", 5)
        for d in (m1, m2, m3):  # the pause is the pair's
            wait_until(lambda: d.status()["paused"], 5, msg="paused on every monitor")
        r = self.assertOk(m3.request({"cmd": "resume"}))
        self.assertEqual(r["acted_by"], "m1")
        for d in (m1, m2, m3):
            wait_until(lambda: not d.status()["paused"], 5, msg="resumed everywhere")
        # force-activate with wait, given to a follower: one start, by the leader.
        r = self.assertOk(m3.request({"cmd": "force-activate", "wait": True,
                                      "reason": "test"}, timeout=20))
        self.assertEqual(r["acted_by"], "m1")
        self.assertEqual(r["state"], "standby")
        for d in (m1, m2, m3):
            self.wait_state(d, "standby")
            self.assertTrue(d.status()["forced"])
        self.assertEqual(self.starts(), 1)
        # A conflict from the leader comes back as the leader's error.
        err = self.assertError(m2.request({"cmd": "sync", "direction": "push"}), "unavailable")
        self.assertIn("m1", err["message"])
        r = self.assertOk(m2.request({"cmd": "force-deactivate", "wait": True}, timeout=20))
        self.assertEqual(r["acted_by"], "m1")
        for d in (m1, m2, m3):
            self.wait_state(d, "primary")
        # Counters are the pair's, on every monitor.
        for d in (m2, m3):
            wait_until(lambda: d.status()["counters"]["failovers"] == 1, 5, msg="counters")
        # failoverctl says who acted.
        _, out, _ = m3.ctl("pause", check=0)
        self.assertIn("paused until resume (by m1)", out)
        _, out, _ = m2.ctl("resume", check=0)
        self.assertIn("resumed: automatic checks and actions are on (by m1)", out)
        # The leader's own commands say so too.
        self.assertEqual(self.assertOk(m1.request({"cmd": "pause"}))["acted_by"], "m1")
        self.assertOk(m1.request({"cmd": "resume"}))
        # Read commands stay local: no acted_by.
        self.assertNotIn("acted_by", self.assertOk(m2.request({"cmd": "ping"})))

    def test_no_leader_unavailable(self):
        m1, m2 = self.pair(2)
        self.etcd.members[0].stop()  # SIGSTOP: etcd answers nobody
        self.addCleanup(self.etcd.members[0].cont)
        wait_until(lambda: not self.co(m2)["ok"], 5, msg="m2 sees etcd gone")
        err = self.assertError(m2.request({"cmd": "pause"}), "unavailable")
        self.assertIn("no leader", err["message"])
        self.assertFalse(m2.status()["paused"])
        # The primary fails meanwhile: the views are unknown, so there is no
        # agreement and the state stays (not a leader agreeing with itself).
        self.primary.set_mode("down")
        wait_until(lambda: m1.status()["local"]["consecutive_failures"] >= 4, 5,
                   msg="m1 sees the primary down")
        self.assertEqual(m1.status()["state"], "primary")
        # The leader stops leading (rule 4) and nobody acts (rule 7).
        self.wait_role(m1, "none", timeout=5)
        self.assertEqual(m1.status()["state"], "primary")
        self.assertEqual(self.fly_writes(), [])
        self.etcd.members[0].cont()
        wait_until(lambda: any(self.co(d)["role"] == "leader" for d in (m1, m2)), 10,
                   msg="a leader again")
        for d in (m1, m2):
            wait_until(lambda: self.co(d)["ok"], 5, msg="etcd answers again")


class RefusalTest(CoordCase):

    def test_duplicate_node_name(self):
        m1 = self.monitor("m1")
        self.wait_role(m1, "leader")
        dup = self.monitor("m1")
        c = wait_until(lambda: (not self.co(dup)["ok"]) and self.co(dup), 5,
                       msg="the duplicate refused")
        self.assertIn("NODE_NAME m1 is used by another live monitor", c["error"])
        self.assertEqual(c["role"], "none")
        self.assertTrue(any(e["what"] == "etcd" and "NODE_NAME" in e["error"]
                            for e in dup.status()["errors"]))
        checks = {x["name"]: x for x in self.assertOk(
            dup.request({"cmd": "selftest"}, timeout=15))["checks"]}
        self.assertTrue(checks["etcd"]["ok"], checks)
        self.assertFalse(checks["node-name"]["ok"], checks)
        checks = {x["name"]: x for x in self.assertOk(
            m1.request({"cmd": "selftest"}, timeout=15))["checks"]}
        self.assertTrue(checks["etcd"]["ok"], checks)
        self.assertTrue(checks["node-name"]["ok"], checks)
        self.assertIn("m1", checks["etcd"]["detail"])
        # The first one is untouched and keeps leading.
        self.assertEqual(self.co(m1)["role"], "leader")
        self.assertTrue(dup.running())
        # When the first is gone, the second takes its place.
        m1.kill9()
        self.wait_role(dup, "leader", timeout=8)
        wait_until(lambda: self.co(dup)["ok"], 5, msg="no error once it joined")

    def test_prefix_of_another_pair(self):
        m1 = self.monitor("m1")
        self.wait_role(m1, "leader")
        other = self.monitor("x1", FLY_APP="another-app", ETCD_PREFIX="/failoverd/%s/" % APP)
        c = wait_until(lambda: (not self.co(other)["ok"]) and self.co(other), 5,
                       msg="the other pair refused")
        self.assertIn("belongs to another pair", c["error"])
        self.assertEqual(c["role"], "none")
        self.assertEqual(self.co(m1)["role"], "leader")
        self.assertNotIn("x1", [v["node"] for v in self.co(m1)["monitors"]])

    def test_etcd_garbage_and_errors(self):
        """An endpoint that answers garbage, 503 or nothing: the daemon runs
        on, says so, and nobody acts."""
        import http.server
        import threading

        mode = {"v": "garbage"}

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if mode["v"] == "hang":
                    time.sleep(3)
                    return
                code, body = (200, b"{not json") if mode["v"] == "garbage" else (
                    503, b'{"error":"etcdserver: no leader","code":14}')
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        d = self.monitor("g1", ETCD_ENDPOINTS="http://127.0.0.1:%d" % srv.server_port)
        for m in ("garbage", "503", "hang"):
            mode["v"] = m
            c = wait_until(lambda: (not self.co(d)["ok"]) and self.co(d), 8,
                           msg="etcd %s reported" % m)
            self.assertEqual(c["role"], "none")
            self.assertTrue(d.running())
        self.primary.set_mode("down")
        wait_until(lambda: d.status()["local"]["consecutive_failures"] >= 4, 5,
                   msg="checks go on")
        self.assertEqual(self.fly_writes(), [])
        self.assertNotEqual(d.status()["state"], "failing-over")


class BootCutOffTest(CoordCase):

    def test_boot_without_etcd_fences_itself(self):
        """Rule 4 from the start: a monitor that gets no lease within
        ELECTION_TTL x 2/3 of its start runs SELF_FENCE_CMD, once."""
        from etcdfix import TcpProxy
        port = int(self.etcd.members[0].url.rsplit(":", 1)[1])
        px = TcpProxy(port)
        self.addCleanup(px.close)
        px.cut()
        fenced = os.path.join(self.tmp, "fenced")
        t0 = time.monotonic()
        d = self.monitor("home", ETCD_ENDPOINTS=px.url,
                         SELF_FENCE_CMD="echo fenced >> %s" % fenced)
        ev = d.events(types=["isolated", "hook"], backlog=10)
        self.addCleanup(ev.close)
        e = ev.wait_for(lambda e: e["type"] == "isolated", 5)
        self.assertIn("no etcd lease", e["detail"])
        ev.wait_for(lambda e: e["type"] == "hook" and e["hook"] == "self-fence" and e["ok"], 5)
        self.assertLess(time.monotonic() - t0, 2.0 * 2 / 3 + 1.5)
        self.assertEqual(self.co(d)["role"], "none")
        # Connected again: it joins, and the command is not run again.
        px.resume()
        self.wait_role(d, "leader", timeout=10)
        with open(fenced) as f:
            self.assertEqual(f.read().split(), ["fenced"])


class StateDirTest(CoordCase):
    """Rule 5: the leader without STATE_DIR asks the monitor with it for the
    final push and, at failback, for the pull and FAILBACK_CMD."""

    def setUp(self):
        super().setUp()
        if RCLONE is None:
            self.skipTest("rclone is not installed")
        self.state_dir = os.path.join(self.tmp, "state")
        self.remote = os.path.join(self.tmp, "remote")
        os.makedirs(self.state_dir)
        with open(os.path.join(self.state_dir, "positions.json"), "w") as f:
            f.write('{"BTC": 1}\n')
        self.hooklog = os.path.join(self.tmp, "failback.log")
        self.at_start = None
        self.fly.on_action = self.on_action

    def on_action(self, action, mid):
        if action == "start" and self.at_start is None:
            self.at_start = os.path.exists(os.path.join(self.remote, "positions.json"))

    def test_push_and_pull_by_the_state_dir_monitor(self):
        leader = self.monitor("lead")
        self.wait_role(leader, "leader")
        sd = self.monitor("home", STATE_DIR=self.state_dir, RCLONE_REMOTE="r",
                          RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_R_TYPE="local",
                          RCLONE_PATH=self.remote, SYNC_INTERVAL="0", SYNC_TIMEOUT="20s",
                          BACKUP_DIR=os.path.join(self.tmp, "backups"),
                          FAILBACK_CMD="echo failback-ran >> %s" % self.hooklog)
        self.wait_role(sd, "follower")
        wait_until(lambda: len(self.co(leader)["monitors"]) == 2, 5, msg="two views")
        ev = sd.events(types=["sync", "hook"])
        self.addCleanup(ev.close)
        # `sync` given to the pair runs where STATE_DIR is.
        for d in (leader, sd):
            r = self.assertOk(d.request({"cmd": "sync", "direction": "push"}, timeout=30))
            self.assertEqual((r["direction"], r["acted_by"]), ("push", "lead"))
            ev.wait_for(lambda e: e["type"] == "sync" and e["direction"] == "push" and e["ok"],
                        10)
        shutil.rmtree(self.remote)
        self.primary.set_mode("down")
        self.wait_state(leader, "standby", timeout=20)
        e = ev.wait_for(lambda e: e["type"] == "sync" and e["direction"] == "push" and e["ok"],
                        10)
        self.assertTrue(e["ok"])
        self.assertTrue(self.at_start, "the push reached the remote before the start")
        self.assertEqual(self.starts(), 1)
        self.assertIn("asked home for the push", leader.log_text())
        self.primary.set_mode("up")
        self.wait_state(leader, "primary", timeout=30)
        ev.wait_for(lambda e: e["type"] == "sync" and e["direction"] == "pull", 10)
        ev.wait_for(lambda e: e["type"] == "hook" and e["hook"] == "failback", 10)
        with open(self.hooklog) as f:
            self.assertEqual(f.read().split(), ["failback-ran"])
        self.assertIn("asked home for the pull", leader.log_text())


class LeaderOnlyTest(CoordCase):

    def test_notify_cmd_and_telegram_from_the_leader_only(self):
        tg = FakeTelegram(tokens=[BOT], chats=[CHAT]).start()
        self.addCleanup(tg.stop)
        log = os.path.join(self.tmp, "notify.log")
        kw = {"TELEGRAM_BOT_TOKEN": BOT, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_URL": tg.url}
        ds = []
        for name in ("m1", "m2", "m3"):
            ds.append(self.monitor(name, NOTIFY_CMD="echo %s $FAILOVER_TO >> %s" % (name, log),
                                   **kw))
            if name == "m1":
                self.wait_role(ds[0], "leader")
        for d in ds:
            self.wait_state(d, "primary")
        tg.clear()
        open(log, "w").close()
        self.primary.set_mode("down")
        for d in ds:
            self.wait_state(d, "standby", timeout=20)

        def told():
            return [m["text"] for m in tg.messages(CHAT)]
        wait_until(lambda: any("STANDBY SERVING" in t for t in told()), 10,
                   msg="the leader's Telegram")
        def read():
            with open(log) as f:
                return f.read()
        wait_until(lambda: "m1 standby" in read(), 10, msg="NOTIFY_CMD")
        lines = read().split("\n")
        self.assertTrue(all(x.startswith("m1 ") for x in lines if x), lines)
        texts = told()
        # One message per move, not one per monitor.
        self.assertEqual(len([t for t in texts if "FAILOVER BEGUN" in t]), 1, texts)
        self.assertEqual(len([t for t in texts if "STANDBY SERVING" in t]), 1, texts)


if __name__ == "__main__":
    fodtest.main()
