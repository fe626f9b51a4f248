#!/usr/bin/env python3
"""`make install DESTDIR=...` from the build tree: the exact file list, the
installed programs' -V (the version from configure.ac), the installed man
pages lint-clean under `mandoc -Tlint` and naming the configured paths (also
for a --sysconfdir=/usr/local/etc build), the installed examples as they
must be (scripts executable, a README that says what happened, a logrotate
snippet `logrotate -d` accepts as is), and `make uninstall` leaving no file."""

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


def make_path(name):
    """A directory variable of the Makefile with ${...} expanded."""
    v = make_var(name)
    for _ in range(10):
        v2 = re.sub(r"\$\{(\w+)\}|\$\((\w+)\)", lambda m: make_var(m.group(1) or m.group(2)), v)
        if v2 == v:
            return v
        v = v2
    raise AssertionError("%s does not expand: %s" % (name, v))


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
            doc + "/examples/systemd/primary-failoverd-check.conf",
            doc + "/examples/init.d/failoverd",
            doc + "/examples/launchd/io.failoverd.failoverd.plist",
            doc + "/examples/logrotate/failoverd",
            doc + "/examples/grafana/failoverd.json",
            doc + "/examples/newsyslog/failoverd.conf",
            doc + "/examples/fly/fly.toml", doc + "/examples/fly/entrypoint.sh",
            doc + "/examples/fly/deploy.sh",
            doc + "/examples/etcd/README.md", doc + "/examples/etcd/etcd-host1.yml",
            doc + "/examples/etcd/etcd-host2.yml", doc + "/examples/etcd/etcd-host3.yml",
            doc + "/examples/etcd/failoverd-primary-host.conf",
            doc + "/examples/etcd/failoverd-second-host.conf",
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
        self.check_examples(os.path.join(self.dest, doc, "examples"))
        self.check_man_paths(os.path.join(self.dest, p, "share/man"), make_path("sysconfdir"),
                             make_path("runstatedir"), make_path("localstatedir"))
        cp = make("uninstall", "DESTDIR=" + self.dest)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertEqual(files_under(self.dest), set())

    def check_examples(self, ex):
        # Scripts installed executable (audit #14), the rest not.
        for rel in ("init.d/failoverd", "fly/entrypoint.sh", "fly/deploy.sh"):
            mode = os.stat(os.path.join(ex, rel)).st_mode & 0o777
            self.assertEqual(mode, 0o755, rel)
        for rel in ("systemd/failoverd.service", "logrotate/failoverd", "fly/fly.toml",
                    "newsyslog/failoverd.conf"):
            mode = os.stat(os.path.join(ex, rel)).st_mode & 0o777
            self.assertEqual(mode, 0o644, rel)
        with open(os.path.join(ex, "README.md")) as f:
            text = f.read()
        self.assertNotIn("None is installed", text)
        self.assertIn("share/doc/failoverd/examples", text)
        # The installed snippet, untouched, passes logrotate's dry run, with
        # or without a failoverd user on this host.
        if shutil.which("logrotate") is None:
            sys.stderr.write("SKIP logrotate -d: logrotate is not installed\n")
            return
        r = subprocess.run(["logrotate", "-d", "-s", os.path.join(self.dest, "lr.state"),
                            os.path.join(ex, "logrotate/failoverd")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("error", (r.stdout + r.stderr).lower())
        self.assertIn("/var/log/failoverd/*.log", r.stdout + r.stderr)

    def check_man_paths(self, man, sysconfdir, runstatedir, localstatedir):
        pages = {}
        for page in ("man8/failoverd.8", "man8/failoverctl.8", "man5/failoverd.conf.5"):
            with open(os.path.join(man, page)) as f:
                pages[page] = f.read()
            self.assertNotRegex(pages[page], r"@\w+@", page)
        conf5 = pages["man5/failoverd.conf.5"]
        self.assertIn(sysconfdir + "/failoverd.conf", conf5)
        self.assertIn(sysconfdir + "/failoverd/NAME.conf", conf5)
        self.assertIn(runstatedir + "/failoverd/failoverd.sock", conf5)
        self.assertIn(localstatedir + "/lib/failoverd/state.json", conf5)
        self.assertIn(sysconfdir + "/failoverd.conf", pages["man8/failoverd.8"])
        self.assertIn(runstatedir + "/failoverd/failoverd.sock", pages["man8/failoverctl.8"])
        if sysconfdir != "/etc":
            self.assertNotRegex(conf5, r"(?<![\w/])/etc/failoverd")
        return pages

    def test_man_pages_name_a_usr_local_build_paths(self):
        """A build configured for /usr/local (a Mac's, launchd's): its
        installed pages name /usr/local/etc/failoverd.conf, which is what
        that failoverd reads (audit #2). Built from `make distdir`, so the
        distribution has what the generation needs."""
        if shutil.which("mandoc") is None:
            sys.stderr.write("note: mandoc is not installed; the pages are not linted\n")
        src = os.path.join(self.dest, "src")
        cp = make("distdir", "distdir=" + src)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        build = os.path.join(self.dest, "build")
        os.mkdir(build)
        r = subprocess.run([os.path.join(src, "configure"), "-q", "--prefix=/usr/local",
                            "--sysconfdir=/usr/local/etc", "--localstatedir=/usr/local/var",
                            "--runstatedir=/usr/local/var/run"], cwd=build,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k != "MFLAGS"}
        inst = os.path.join(self.dest, "inst")
        r = subprocess.run(["make", "-s", "install-man", "DESTDIR=" + inst], cwd=build, env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        pages = self.check_man_paths(os.path.join(inst, "usr/local/share/man"), "/usr/local/etc",
                                     "/usr/local/var/run", "/usr/local/var")
        self.assertIn("/usr/local/etc/failoverd.conf", pages["man8/failoverd.8"])
        if shutil.which("mandoc"):
            for page in pages:
                lint = subprocess.run(["mandoc", "-Tlint", "-W", "warning",
                                       os.path.join(inst, "usr/local/share/man", page)],
                                      capture_output=True, text=True)
                self.assertEqual(lint.stdout + lint.stderr, "", page)


if __name__ == "__main__":
    fodtest.main()
