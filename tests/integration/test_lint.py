#!/usr/bin/env python3
"""The code stays formatted and cppcheck-clean: clang-format (the repo's
.clang-format) over every C file, cppcheck over the daemon, the client and
common/. Both run on the source tree; each is skipped, with the reason, only
when the tool is not installed (contrib/setup.sh deps installs both)."""

import glob
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402

SRC = fodtest.SRCDIR


def c_files(*dirs):
    out = []
    for d in dirs:
        for ext in ("c", "h"):
            out += glob.glob(os.path.join(SRC, d, "**", "*." + ext), recursive=True)
    return sorted(out)


class LintTest(unittest.TestCase):

    def test_clang_format(self):
        tool = shutil.which("clang-format")
        if tool is None:
            self.skipTest("clang-format is not installed")
        files = c_files("daemon", "common", "client", "tests")
        self.assertGreater(len(files), 20)
        cp = subprocess.run([tool, "--dry-run", "--Werror", "--style=file"] + files,
                            cwd=SRC, capture_output=True, text=True, timeout=300)
        self.assertEqual(cp.returncode, 0, cp.stderr[-4000:])

    def test_cppcheck(self):
        tool = shutil.which("cppcheck")
        if tool is None:
            self.skipTest("cppcheck is not installed")
        queue = [q for q in ("/usr/include/bsd/sys/queue.h", "/usr/include/sys/queue.h")
                 if os.path.exists(q)]
        argv = [tool, "--quiet", "--error-exitcode=1",
                "--enable=warning,performance,portability", "--std=c11",
                "--inline-suppr", "-I", "common", "-I", "daemon", "-I", "client"]
        if queue:
            argv.append("--include=" + queue[0])
        cp = subprocess.run(argv + ["daemon", "common", "client"], cwd=SRC,
                            capture_output=True, text=True, timeout=600)
        self.assertEqual(cp.returncode, 0, cp.stdout[-4000:] + cp.stderr[-4000:])


if __name__ == "__main__":
    fodtest.main()
