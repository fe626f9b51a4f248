#!/usr/bin/env python3
"""`make install DESTDIR=...` from the build tree: the exact file list, the
installed programs' -V (the version from configure.ac), the installed man
pages lint-clean under `mandoc -Tlint`, and `make uninstall` leaving no file."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fodtest  # noqa: E402


def make_var(name):
    with open(os.path.join(fodtest.BUILDDIR, "Makefile")) as f:
        for line in f:
            m = re.match(r"^%s = (.*)$" % re.escape(name), line)
            if m:
                return m.group(1).strip()
    raise AssertionError("%s not in the Makefile" % name)


def make(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k != "MFLAGS"}
    return subprocess.run(["make", "-s", "-C", fodtest.BUILDDIR] + list(args), env=env,
                          capture_output=True, text=True, timeout=120)


def files_under(root):
    out = set()
    for dp, _, fs in os.walk(root):
        for f in fs:
            out.add(os.path.relpath(os.path.join(dp, f), root))
    return out


class InstallTest(unittest.TestCase):

    def setUp(self):
        if not os.path.exists(os.path.join(fodtest.BUILDDIR, "Makefile")):
            self.skipTest("not a configured build tree")
        self.dest = tempfile.mkdtemp(prefix="fodinstall.")
        self.addCleanup(shutil.rmtree, self.dest, True)

    def test_install_and_uninstall(self):
        cp = make("install", "DESTDIR=" + self.dest)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        p = make_var("prefix").lstrip("/")
        doc = "%s/share/doc/failoverd" % p
        want = {
            "%s/sbin/failoverd" % p, "%s/bin/failoverctl" % p,
            "%s/share/man/man8/failoverd.8" % p, "%s/share/man/man8/failoverctl.8" % p,
            "%s/share/man/man5/failoverd.conf.5" % p,
            "%s/share/bash-completion/completions/failoverctl" % p,
            doc + "/README.md",
            doc + "/examples/README.md", doc + "/examples/failoverd.conf.example",
            doc + "/examples/systemd/failoverd.service",
            doc + "/examples/systemd/failoverd@.service",
            doc + "/examples/init.d/failoverd",
            doc + "/examples/launchd/io.failoverd.failoverd.plist",
            doc + "/examples/logrotate/failoverd",
            doc + "/examples/grafana/failoverd.json",
            doc + "/examples/fly/fly.toml", doc + "/examples/fly/entrypoint.sh",
            doc + "/examples/fly/deploy.sh",
        }
        self.assertEqual(files_under(self.dest), want)
        version = make_var("PACKAGE_VERSION")
        for prog in ("sbin/failoverd", "bin/failoverctl"):
            path = os.path.join(self.dest, p, prog)
            self.assertTrue(os.access(path, os.X_OK), path)
            out = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(version, out.stdout)
        if shutil.which("mandoc"):
            for page in ("man8/failoverd.8", "man8/failoverctl.8", "man5/failoverd.conf.5"):
                path = os.path.join(self.dest, p, "share/man", page)
                lint = subprocess.run(["mandoc", "-Tlint", "-W", "warning", path],
                                      capture_output=True, text=True)
                self.assertEqual(lint.stdout + lint.stderr, "", page)
        cp = make("uninstall", "DESTDIR=" + self.dest)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertEqual(files_under(self.dest), set())


if __name__ == "__main__":
    fodtest.main()
