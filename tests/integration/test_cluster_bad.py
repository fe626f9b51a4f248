#!/usr/bin/env python3
"""Bad input from etcd with a pair on a real etcd (issue 12, "How it is
proven": a lease that vanishes; etcd answering 500, slowly, then again),
which test_coord.py (a lone monitor before a fake: garbage, 503, no answer)
and test_cluster.py (partitions) leave out. Three monitors (clusterfix.py);
the checker (flycheck.py) runs after every test. Every wait has a deadline.
"""

import base64
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from etcdfix import have_etcd  # noqa: E402
from clusterfix import Cluster  # noqa: E402
from test_cluster import ClusterCase  # noqa: E402

P = "/failoverd/cluster-app/"


def etcd_post(url, path, body):
    rq = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(rq, timeout=5) as r:
        return json.loads(r.read())


def leader_kv(url):
    kvs = etcd_post(url, "/v3/kv/range",
                    {"key": base64.b64encode((P + "leader").encode()).decode()}).get("kvs")
    return kvs[0] if kvs else None


class BadEtcd:
    """An HTTP front of one real etcd member that forwards (mode "pass"),
    answers 500 ("500"), or forwards after `delay` seconds ("slow")."""

    def __init__(self, target):
        self.target, self.mode, self.delay, self.seen = target, "pass", 1.5, 0
        front = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                front.seen += 1
                mode = front.mode
                if mode == "500":
                    code, out = 500, b'{"error":"etcdserver: internal","code":13}'
                else:
                    if mode == "slow":
                        time.sleep(front.delay)
                    rq = urllib.request.Request(front.target + self.path, data=body,
                                                headers={"Content-Type": "application/json"})
                    try:
                        with urllib.request.urlopen(rq, timeout=5) as r:
                            code, out = r.status, r.read()
                    except urllib.error.HTTPError as e:
                        code, out = e.code, e.read()
                    except OSError:
                        code, out = 502, b'{"error":"front: etcd unreachable"}'
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass  # the daemon gave up on a slow answer

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.srv.server_port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class BadEtcdTest(ClusterCase):

    def test_lease_that_vanishes(self):
        """The leader's lease is revoked behind its back (an operator, or
        etcd losing it): its key and view go at once, it steps down, a
        leader is elected again in a new term within ELECTION_TTL + 2 s,
        every view comes back, and a failover after it starts the machine
        once. A SELF_FENCE_CMD, if any, is the revoked monitor's, once."""
        c = self.up()
        url = c.etcd.members[0].url
        old = c.leader()
        kv = leader_kv(url)
        self.assertEqual(base64.b64decode(kv["value"]).decode(), old)
        old_epoch = int(kv["create_revision"])
        ev = c.ds[old].events(types=["leader"])
        self.addCleanup(ev.close)
        t0 = time.time()
        etcd_post(url, "/v3/lease/revoke", {"ID": kv["lease"]})
        e = ev.wait_for(lambda e: e.get("role") != "leader", c.ttl + 2)
        self.assertNotEqual(e.get("role"), "leader", e)
        new = c.wait_leader(timeout=c.ttl + 2)
        kv2 = wait_until(lambda: leader_kv(url), c.ttl + 2, msg="a leader key again")
        self.assertGreater(int(kv2["create_revision"]), old_epoch)
        self.assertLessEqual(time.time() - t0, c.ttl + 2 + 1)
        wait_until(lambda: c.status(new)["coordination"]["epoch"] ==
                   int(kv2["create_revision"]), 5, msg="status shows the new epoch")
        c.wait_settled(timeout=c.ttl * 2 + 5)
        self.assertEqual(c.writes(), [])
        fences = [n for n, _ in c.fences()]
        self.assertLessEqual(len(fences), 1, fences)
        self.assertTrue(set(fences) <= {old}, fences)
        # The pair works on: one failover, from the new leader only.
        lead = c.leader()
        c.primary_mode("down")
        self.wait_state(lead, "standby")
        self.assertEqual(c.starts(), 1)
        self.assertEqual({c.node_of_port[r["port"]] for r in c.writes()}, {lead})

    def test_lease_vanishes_mid_failover(self):
        """The leader's lease is revoked while its activation runs a slow
        fence: whoever leads next (the same monitor in a new term, or
        another) finishes the failover with one start, and the revoked
        term's action sends nothing once its fence returns."""
        tmp = tempfile.mkdtemp(prefix="fodbad.")
        self.addCleanup(shutil.rmtree, tmp, True)
        slow, done = os.path.join(tmp, "slow"), os.path.join(tmp, "done")
        open(slow, "w").close()
        c = self.up(extra={"FENCE_CMD": "if [ -e %s ]; then sleep 3; touch %s; fi"
                           % (slow, done)})
        url = c.etcd.members[0].url
        lead = c.leader()
        c.primary_mode("down")
        wait_until(lambda: c.status(lead)["state"] == "failing-over", 10, msg="failing-over")
        kv = leader_kv(url)
        old_epoch = int(kv["create_revision"])
        etcd_post(url, "/v3/lease/revoke", {"ID": kv["lease"]})
        os.unlink(slow)  # the next leader's fence returns at once
        new = c.wait_leader(timeout=c.ttl + 2)
        wait_until(lambda: c.status(new)["coordination"]["epoch"] > old_epoch, c.ttl + 2,
                   msg="a new term")
        for n in c.names:
            self.wait_state(n, "standby")
        # The revoked term's fence returns (or was ended): a second past it,
        # still one start.
        t_end = time.time() + 3.5
        wait_until(lambda: time.time() > t_end and (os.path.exists(done) or
                                                    c.status(lead)["state"] == "standby"),
                   6, msg="the old fence over")
        self.assertEqual(c.starts(), 1, c.logs())
        self.assertTrue(all(c.status(n)["state"] == "standby" for n in c.names))

    def test_etcd_500_then_slow_then_well(self):
        """m3 reaches etcd through a front that answers 500, then answers
        later than any etcd call may take, then forwards: m3 runs on, says
        what is wrong (coordination.ok false, an error), is in no election
        and sends no Fly request while the pair (m1, m2) fails over; once
        etcd answers, m3 joins as a follower."""
        # The front needs etcd's address before m3's config is built: make
        # the cluster, point m3 at the front, then start the monitors.
        c = Cluster(per_node={"m3": {"SELF_FENCE_CMD": None}})
        self.c = c
        self.addCleanup(c.close)
        self.addCleanup(self.checked)
        f = BadEtcd(c.etcd.members[0].url)
        self.addCleanup(f.close)
        f.mode = "500"
        c.per_node["m3"]["ETCD_ENDPOINTS"] = f.url
        c.start("m1")
        c.start("m2")
        c.start("m3")
        c.wait_settled(among=["m1", "m2"])
        ev = c.ds["m3"].events(types=["error"], backlog=50)
        self.addCleanup(ev.close)
        e = ev.wait_for(lambda e: e.get("what") == "etcd", 5)
        self.assertIn("HTTP 500", e.get("error", ""), e)
        co = wait_until(lambda: (not c.status("m3")["coordination"]["ok"]) and
                        c.status("m3")["coordination"], 5, msg="m3 says etcd fails")
        self.assertEqual(co["role"], "none")
        self.assertTrue(co["error"])
        # Slow: every answer comes after the daemon stopped waiting.
        f.mode = "slow"
        seen = f.seen
        wait_until(lambda: f.seen >= seen + 3, 10, msg="m3 keeps asking")
        co = c.status("m3")["coordination"]
        self.assertFalse(co["ok"], co)
        self.assertEqual(co["role"], "none")
        self.assertTrue(c.ds["m3"].running())
        # The pair fails over without m3 (its view is not there to hold it
        # back) and m3 sends nothing.
        for n in ("m1", "m2"):
            self.assertNotIn("m3", [v["node"] for v in
                                    c.status(n)["coordination"]["monitors"]])
        lead = c.leader(["m1", "m2"])
        c.primary_mode("down")
        self.wait_state(lead, "standby")
        self.assertEqual(c.starts(), 1)
        self.assertEqual(c.writes("m3"), [])
        self.assertEqual(c.role("m3"), "none")
        # etcd answers again: m3 joins and follows the failover.
        f.mode = "pass"
        c.wait_settled(timeout=c.ttl * 3 + 5)
        self.assertIn(c.leader(), ("m1", "m2"))
        wait_until(lambda: c.status("m3")["coordination"]["ok"], 5, msg="m3 ok again")
        self.wait_state("m3", "standby")
        self.assertEqual(c.starts(), 1)
        self.assertEqual(c.writes("m3"), [])


if __name__ == "__main__":
    fodtest.main()
