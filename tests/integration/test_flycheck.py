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


if __name__ == "__main__":
    unittest.main(verbosity=2)
