#!/usr/bin/env python3
"""journald-native logging (operator audit #10): with standard error being
the journal's stream (JOURNAL_STREAM names its device and inode, as systemd
sets it), every line carries a <N> priority prefix and no time stamp of its
own; state changes are notices and a failover a warning; a line repeated
word for word is written once and its repeats counted.

The real failoverd; its stderr is a file whose device and inode the test
puts in JOURNAL_STREAM, exactly what systemd does for a unit's stderr.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fakes"))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402
from fake_primary import FakePrimary  # noqa: E402

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT")


class JournalTest(fodtest.DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.primary = FakePrimary().start()
        self.addCleanup(self.primary.stop)
        self.standby = FakePrimary(mode="down").start()
        self.addCleanup(self.standby.stop)

    def daemon(self, journal=True, **cfg):
        c = {"PROVIDER": "command", "ACTIVATE_CMD": "true", "DEACTIVATE_CMD": "true",
             "FLY_HEALTH_URL": self.standby.url, "LOCAL_HEALTH_URL": self.primary.url,
             "CHECK_INTERVAL": "200ms", "FAST_INTERVAL": "50ms", "CHECK_TIMEOUT": "500ms",
             "STARTUP_GRACE": "0", "MIN_STANDBY_TIME": "0"}
        c.update(cfg)
        d = self.make_daemon(c)
        open(d.stderr_path, "wb").close()
        st = os.stat(d.stderr_path)
        d.env["JOURNAL_STREAM"] = ("%d:%d" % (st.st_dev, st.st_ino)) if journal else "1:1"
        d.start()
        return d

    def lines(self, d):
        return [x for x in d.log_text().splitlines() if x]

    def test_priority_prefixes_and_no_time_stamp(self):
        d = self.daemon()
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="primary")
        self.primary.set_mode("down")
        wait_until(lambda: d.status()["state"] in ("failing-over", "standby"), 10,
                   msg="failover")
        d.stop()
        lines = self.lines(d)
        for x in lines:
            self.assertRegex(x, r"^<[0-7]>", x)
            self.assertNotRegex(x[3:], STAMP, x)
        self.assertTrue(any(re.match(r"^<6>failoverd .* starting", x) for x in lines), lines)
        self.assertIn("<5>state starting -> primary: first start", lines)
        self.assertTrue(any(x.startswith("<4>state primary -> failing-over: primary failed 3 "
                                         "consecutive checks") for x in lines), lines)

    def test_not_the_journal_keeps_time_stamps(self):
        d = self.daemon(journal=False)
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="primary")
        d.stop()
        lines = self.lines(d)
        self.assertTrue(lines)
        for x in lines:
            self.assertRegex(x, STAMP, x)
        self.assertTrue(any("failoverd: notice: state starting -> primary" in x for x in lines),
                        lines)

    def test_repeated_lines_are_counted(self):
        """`standby not healthy yet` every FAST_INTERVAL: one line, then the
        count."""
        d = self.daemon()
        wait_until(lambda: d.status()["state"] == "primary", 10, msg="primary")
        self.assertOk(d.request({"cmd": "force-activate"}))
        # Ten failed probes end the first attempt (test_command_provider).
        wait_until(lambda: "running ACTIVATE_CMD again" in d.log_text(), 15,
                   msg="the first attempt's end")
        d.stop()
        lines = self.lines(d)
        yet = [x for x in lines if "standby not healthy yet" in x]
        rep = [x for x in lines if "last message repeated" in x]
        self.assertEqual(len(yet), 1, lines)
        self.assertTrue(rep, lines)
        m = re.search(r"last message repeated (\d+) times", rep[0])
        self.assertIsNotNone(m, rep)
        self.assertEqual(int(m.group(1)), 8)  # probes 2..9; the 10th ends it
        # The count comes right after the line it counts.
        i = lines.index(yet[0])
        self.assertIn("last message repeated", lines[i + 1])


if __name__ == "__main__":
    fodtest.main()
