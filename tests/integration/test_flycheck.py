#!/usr/bin/env python3
"""The checker of issue 12 (flycheck.py) on crafted logs: each of its rules
fails on a log that breaks it and passes on good ones. No daemon needed."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flycheck  # noqa: E402

PORTS = {1001: "m1", 1002: "m2"}


def req(t, op, port, mid="abc", status=200):
    return {"method": "POST", "path": "/v1/apps/a/machines/%s/%s" % (mid, op), "time": t,
            "status": status, "port": port}


TERMS = [("m1", 10, 100.0, 110.0), ("m2", 20, 112.0, None)]


class FlyCheckTest(unittest.TestCase):

    def test_good_log_passes(self):
        log = [req(101, "start", 1001), req(105, "stop", 1001), req(113, "start", 1002),
               {"method": "GET", "path": "/v1/apps/a/machines", "time": 111, "port": 1001}]
        self.assertEqual(flycheck.check(log, TERMS, PORTS), [])

    def test_request_outside_any_term_fails(self):
        # m1 after its key is gone; m2 before its term (beyond the slack).
        for r in (req(110.2, "start", 1001), req(111.0, "start", 1002)):
            f = flycheck.check([r], TERMS, PORTS)
            self.assertEqual(len(f), 1, f)
            self.assertTrue(f[0].startswith("(c)"), f)

    def test_slack_only_before_a_put(self):
        self.assertEqual(flycheck.check([req(111.7, "start", 1002)], TERMS, PORTS), [])
        self.assertNotEqual(flycheck.check([req(110.01, "stop", 1001)], TERMS, PORTS), [])

    def test_overlapping_terms_fail(self):
        terms = [("m1", 10, 100.0, None), ("m2", 20, 105.0, None)]  # a broken fence
        log = [req(106, "start", 1002), req(107, "stop", 1001)]
        f = flycheck.check(log, terms, PORTS)
        self.assertTrue(any(x.startswith("(a)") for x in f), f)

    def test_second_start_in_one_failover_fails(self):
        log = [req(101, "start", 1001), req(102, "start", 1001)]
        f = flycheck.check(log, TERMS, PORTS)
        self.assertTrue(any(x.startswith("(b)") for x in f), f)
        # A refused start is no start; a stop between two starts is a new failover.
        log = [req(101, "start", 1001), req(102, "start", 1001, status=409),
               req(103, "stop", 1001), req(104, "start", 1001)]
        self.assertEqual(flycheck.check(log, TERMS, PORTS), [])
        # Other machines count apart.
        log = [req(101, "start", 1001, mid="x"), req(102, "start", 1001, mid="y")]
        self.assertEqual(flycheck.check(log, TERMS, PORTS), [])

    def test_unknown_sender_fails(self):
        f = flycheck.check([req(101, "start", 9999)], TERMS, PORTS)
        self.assertEqual(len(f), 1)

    def test_slack_does_not_let_two_senders_interleave(self):
        # The watcher saw m1's key go late (at 112.05) and m2's put at 112.1:
        # m2's request at 111.8 is inside the slack, but m1 sending after it
        # is two senders interleaving.
        terms = [("m1", 10, 100.0, 112.05), ("m2", 20, 112.1, None)]
        f = flycheck.check([req(111.8, "start", 1002), req(111.9, "stop", 1001)], terms, PORTS)
        self.assertEqual([x[:3] for x in f], ["(a)"], f)
        # The same two requests the other way round are a clean hand-over.
        self.assertEqual(flycheck.check([req(111.8, "stop", 1001), req(111.9, "start", 1002)],
                                        terms, PORTS), [])

    def test_suspend_ends_a_failover_and_a_refused_one_does_not(self):
        log = [req(101, "start", 1001), req(102, "suspend", 1001), req(103, "start", 1001)]
        self.assertEqual(flycheck.check(log, TERMS, PORTS), [])
        log = [req(101, "start", 1001), req(102, "suspend", 1001, status=412),
               req(103, "start", 1001)]
        f = flycheck.check(log, TERMS, PORTS)
        self.assertEqual([x[:3] for x in f], ["(b)"], f)

    def test_failures_name_the_request(self):
        f = flycheck.check([req(111.0, "stop", 1002, mid="d8e1")], TERMS, PORTS)
        self.assertEqual(len(f), 1, f)
        for word in ("stop", "d8e1", "m2", "111.000", "m1/10"):
            self.assertIn(word, f[0])

    def test_a_term_never_ends_before_it_began(self):
        # Requests at the edges of a term: the put (less the slack) and the
        # delete are inside; a hair beyond is not.
        self.assertEqual(flycheck.check([req(99.5, "start", 1001), req(110.0, "stop", 1001)],
                                        TERMS, PORTS), [])
        self.assertNotEqual(flycheck.check([req(99.49, "start", 1001)], TERMS, PORTS), [])

    def test_slack_never_reaches_into_a_held_key(self):
        # m1's key was seen until a poll that began at 111.95 (gone at
        # 112.0); m2's put was seen at 112.3. A start of m2 at 111.9 is
        # inside the slack but while m1 surely led: a failure.
        terms = [("m1", 10, 100.0, 112.0, 111.95), ("m2", 20, 112.3, None, 113.0)]
        f = flycheck.check([req(111.9, "start", 1002)], terms, PORTS)
        self.assertEqual(len(f), 1, f)
        self.assertTrue(f[0].startswith("(c)") and "surely held" in f[0], f)
        # Between the last sighting of m1's key and m2's put: allowed.
        self.assertEqual(flycheck.check([req(111.97, "start", 1002)], terms, PORTS), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
