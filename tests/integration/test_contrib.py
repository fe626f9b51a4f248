#!/usr/bin/env python3
"""contrib/: the SysV init script driven against the real daemon, the
systemd units, the launchd plist, the logrotate snippet, the bash
completion, the example configuration and the Fly standby's entrypoint and
deploy script (with rclone on a local remote and a fake flyctl)."""
import json
import os
import plistlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fodtest  # noqa: E402
from fodtest import wait_until  # noqa: E402

CONTRIB = os.path.join(fodtest.SRCDIR, "contrib")
INIT = os.path.join(CONTRIB, "init.d", "failoverd")
UNIT = os.path.join(CONTRIB, "systemd", "failoverd.service")
TEMPLATE = os.path.join(CONTRIB, "systemd", "failoverd@.service")
PLIST = os.path.join(CONTRIB, "launchd", "io.failoverd.failoverd.plist")
LOGROTATE = os.path.join(CONTRIB, "logrotate", "failoverd")
NEWSYSLOG = os.path.join(CONTRIB, "newsyslog", "failoverd.conf")
COMPLETION = os.path.join(CONTRIB, "bash-completion", "failoverctl")
EXAMPLE = os.path.join(CONTRIB, "failoverd.conf.example")
FLY_TOML = os.path.join(CONTRIB, "fly", "fly.toml")
ENTRYPOINT = os.path.join(CONTRIB, "fly", "entrypoint.sh")
DEPLOY = os.path.join(CONTRIB, "fly", "deploy.sh")
MARKER = ".failoverd-standby-pushed"

SH_FILES = [INIT, ENTRYPOINT, DEPLOY]


def shell_scripts():
    """Every shell script of the source tree (by its #! line): contrib/,
    tests/ and .ci/, whatever its name."""
    out = []
    for top in ("contrib", "tests", ".ci"):
        for dp, dns, fs in os.walk(os.path.join(fodtest.SRCDIR, top)):
            dns[:] = [d for d in dns if d not in ("corpus", "__pycache__")]
            for f in fs:
                path = os.path.join(dp, f)
                try:
                    with open(path, "rb") as fh:
                        first = fh.readline(100)
                except OSError:
                    continue
                m = re.match(rb"#!\s*(?:/usr/bin/env\s+)?/?(?:\S*/)?(sh|bash|dash)\b", first)
                if m:
                    out.append((path, m.group(1).decode()))
    return sorted(out)
COMMANDS = ["status", "check", "selftest", "force-activate", "force-deactivate",
            "pause", "resume", "events", "sync", "reload", "ping", "help", "metrics"]
EVENT_TYPES = ["state", "check", "standby", "sync", "hook", "notify", "control",
               "pause", "drift", "error", "daemon", "watch", "leader", "isolated", "quorum"]
TIMEOUT = 20  # every script run; the daemon itself answers in milliseconds


def run(argv, env=None, timeout=TIMEOUT, **kw):
    return subprocess.run(argv, env=env, timeout=timeout, capture_output=True,
                          text=True, **kw)


def unit_keys(path):
    """{section: {key: [values]}} of a systemd unit file."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = out.setdefault(line.strip("[]"), {})
                continue
            k, _, v = line.partition("=")
            section.setdefault(k.strip(), []).append(v.strip())
    return out


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Zombies of the group count as gone.
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.getpgid(int(p)) == pgid and fodtest.process_alive(int(p)):
                    return True
            except OSError:
                pass
    return False


class TestSyntax(unittest.TestCase):
    def test_shell_files_parse(self):
        for path in SH_FILES:
            with self.subTest(path=path):
                r = run(["sh", "-n", path])
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(path) as f:
                    self.assertEqual(f.readline().strip(), "#!/bin/sh")
                self.assertTrue(os.access(path, os.X_OK), path + " is not executable")
        r = run(["bash", "-n", COMPLETION])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_shellcheck(self):
        if shutil.which("shellcheck") is None:
            self.skipTest("shellcheck is not installed: the shell scripts are NOT checked")
        scripts = shell_scripts()
        names = [os.path.relpath(p, fodtest.SRCDIR) for p, _ in scripts]
        for want in ("contrib/init.d/failoverd", "contrib/setup.sh", "tests/fuzz/run.sh",
                     "tests/integration/fakes/fake_rclone.sh"):
            self.assertIn(want, names)
        for path, shell in scripts:
            with self.subTest(path=path):
                r = run(["shellcheck", "-s", "sh" if shell == "dash" else shell, path])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = run(["shellcheck", "-s", "bash", COMPLETION])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_init_script_lsb_header(self):
        with open(INIT) as f:
            text = f.read()
        m = re.search(r"### BEGIN INIT INFO\n(.*?)### END INIT INFO", text, re.S)
        self.assertIsNotNone(m, "no LSB header")
        for key in ["Provides", "Required-Start", "Required-Stop",
                    "Default-Start", "Default-Stop", "Short-Description"]:
            self.assertRegex(m.group(1), r"# %s:\s+\S" % key)

    def test_plist(self):
        ET.parse(PLIST)  # well-formed XML
        with open(PLIST, "rb") as f:
            p = plistlib.load(f)
        self.assertEqual(p["Label"], "io.failoverd.failoverd")
        args = p["ProgramArguments"]
        self.assertTrue(args[0].endswith("/failoverd"))
        self.assertIn("-f", args, "launchd needs the daemon in the foreground")
        self.assertTrue(p["RunAtLoad"])
        self.assertEqual(p["KeepAlive"], {"SuccessfulExit": False})

    def test_fly_toml(self):
        with open(FLY_TOML, "rb") as f:
            t = tomllib.load(f)
        svc = t["http_service"]
        self.assertIs(svc["auto_start_machines"], False)
        self.assertEqual(svc["auto_stop_machines"], "off")
        self.assertEqual(svc["min_machines_running"], 0)
        self.assertEqual(t["app"], "neolight-failover")
        m = re.fullmatch(r"(\d+)s", t["kill_timeout"])
        self.assertIsNotNone(m)
        # The service's stop and a whole push must fit (Fly's default is 5 s).
        self.assertGreaterEqual(int(m.group(1)), 120)
        self.assertLessEqual(int(m.group(1)), 300)
        self.assertIn(t["kill_signal"], ("SIGTERM", "SIGINT"))

    def test_logrotate_parses(self):
        if shutil.which("logrotate") is None:
            self.skipTest("logrotate is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "lr.conf")
            with open(LOGROTATE) as f:
                text = f.read()
            self.assertIn("USR1", text)
            # No user is named: a failoverd user need not exist (audit #14).
            self.assertNotRegex(text, r"(?m)^[ \t]*(su|create)[ \t]+\S")
            log = os.path.join(tmp, "log")
            os.mkdir(log)
            with open(os.path.join(log, "web.log"), "w") as f:
                f.write("x\n")
            text = text.replace("/var/log/failoverd", log)
            with open(conf, "w") as f:
                f.write(text)
            r = run(["logrotate", "-d", "-s", os.path.join(tmp, "state"), conf])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("error", r.stdout + r.stderr)
            self.assertIn("web.log", r.stdout + r.stderr)

    def test_newsyslog(self):
        """newsyslog.conf(5): logfilename [owner:group] mode count size when
        flags [pid_file] [sig_num]; signal 30 is SIGUSR1 on macOS."""
        with open(NEWSYSLOG) as f:
            rows = [ln.split() for ln in f if ln.strip() and not ln.startswith("#")]
        self.assertEqual(len(rows), 1, rows)
        name, owner, mode, count, size, when, flags, pidfile, sig = rows[0]
        self.assertEqual(name, "/usr/local/var/log/failoverd/failoverd.log")
        self.assertRegex(owner, r"^\w+:\w+$")
        self.assertRegex(mode, r"^[0-7]{3}$")
        self.assertTrue(count.isdigit() and size.isdigit())
        self.assertRegex(when, r"^(\*|\d+|[@$]\S+)$")
        self.assertRegex(flags, r"^[JZXBNCGpU]+$")
        self.assertNotIn("N", flags, "N would send no signal")
        # The default PID_FILE of a /usr/local build, as the plist's paths.
        self.assertEqual(pidfile, "/usr/local/var/run/failoverd/failoverd.pid")
        self.assertEqual(sig, "30")
        with open(PLIST) as f:
            self.assertIn("newsyslog", f.read())


class TestSystemd(unittest.TestCase):
    def check_common(self, u):
        s = u["Service"]
        self.assertEqual(s["Type"], ["notify"])
        self.assertRegex(s["WatchdogSec"][0], r"^\d+s?$")
        # Validate first (failoverd -n), then signal: a broken file fails
        # "systemctl reload" (audit #3).
        self.assertEqual(len(s["ExecReload"]), 2, s["ExecReload"])
        self.assertRegex(s["ExecReload"][0],
                         r"^/bin/sh -c 'exec /usr/sbin/failoverd -n( -i \"\$\$1\")? >/dev/null'")
        self.assertEqual(s["ExecReload"][1], "/bin/kill -HUP $MAINPID")
        self.assertEqual(s["LogsDirectory"], ["failoverd"])
        self.assertEqual(s["User"], ["failoverd"])
        self.assertEqual(s["RuntimeDirectory"], ["failoverd"])
        # Shared by every instance: systemd must not remove it at a stop.
        self.assertEqual(s["RuntimeDirectoryPreserve"], ["yes"])
        self.assertEqual(s["StateDirectory"], ["failoverd"])
        for k, v in [("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                     ("ProtectHome", "read-only"), ("NoNewPrivileges", "yes")]:
            self.assertEqual(s[k], [v], k)
        self.assertIn("WantedBy", u["Install"])
        with open(UNIT) as f:
            text = f.read()
        self.assertRegex(text, r"#ReadWritePaths=")
        self.assertRegex(text, r"(?s)NoNewPrivileges.*sudo|sudo.*NoNewPrivileges")

    def test_service_keys(self):
        u = unit_keys(UNIT)
        self.check_common(u)
        self.assertEqual(u["Service"]["ExecStart"], ["/usr/sbin/failoverd -f"])

    def test_template_keys(self):
        u = unit_keys(TEMPLATE)
        self.check_common(u)
        self.assertEqual(u["Service"]["ExecStart"], ["/usr/sbin/failoverd -f -i %i"])

    def exec_reload_check(self, unit, instance, env):
        """Runs the unit's first ExecReload as systemd would ($$ -> $, %i ->
        the instance) with the built daemon; returns the CompletedProcess."""
        cmd = unit_keys(unit)["Service"]["ExecReload"][0]
        cmd = cmd.replace("$$", "$").replace("%i", instance)
        cmd = cmd.replace("/usr/sbin/failoverd", fodtest.FAILOVERD)
        argv = [a.strip("'") for a in re.findall(r"'[^']*'|\S+", cmd)]
        return run(argv, env=dict(fodtest.BASE_ENV, **env))

    def test_exec_reload_validates(self):
        for unit, inst in ((UNIT, ""), (TEMPLATE, "web")):
            with self.subTest(unit=unit):
                r = self.exec_reload_check(unit, inst, {"FAILURE_THRESHOLD": "many"})
                self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("FAILURE_THRESHOLD", r.stderr)
                self.assertEqual(r.stdout, "", "the settings table is not for the journal")
        if not os.path.exists("/etc/failoverd.conf"):
            r = self.exec_reload_check(UNIT, "", {})
            self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)

    def test_systemd_analyze_verify(self):
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            names = []
            for src, name in [(UNIT, "failoverd.service"),
                              (TEMPLATE, "failoverd@.service")]:
                with open(src) as f:
                    text = f.read()
                # verify wants an existing executable.
                text = text.replace("/usr/sbin/failoverd", fodtest.FAILOVERD)
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(text)
                names.append(name)
            os.symlink("failoverd@.service", os.path.join(tmp, "failoverd@web.service"))
            r = run(["systemd-analyze", "verify", "--man=no",
                     "./failoverd.service", "./failoverd@web.service"], cwd=tmp)
            if r.returncode != 0 and "Failed to" in r.stderr and "unit" not in r.stderr:
                self.skipTest("systemd-analyze cannot run here: " + r.stderr)
            self.assertEqual(r.returncode, 0, r.stderr)
            # verify exits 0 on many warnings: any line naming a unit is one.
            bad = [ln for ln in r.stderr.splitlines() if "failoverd" in ln]
            self.assertEqual(bad, [])


class TestExampleConfig(unittest.TestCase):
    def effective(self, env):
        e = dict(fodtest.BASE_ENV, **env)
        r = run([fodtest.FAILOVERD, "-n", "-c", EXAMPLE], env=e)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[-1], "configuration OK")
        return dict(ln.split("=", 1) for ln in r.stdout.splitlines() if "=" in ln)

    def test_passes_with_token_from_environment(self):
        # An empty FLY_API_TOKEN_FILE in the environment resets the file's.
        conf = self.effective({"FLY_API_TOKEN": "fm2_secret", "FLY_API_TOKEN_FILE": ""})
        self.assertEqual(conf["FLY_API_TOKEN"], "<redacted>")
        want = {"FLY_APP": "neolight-failover", "CHECK_INTERVAL": "1m",
                "FAILURE_THRESHOLD": "3", "RCLONE_REMOTE": "neo_remote",
                "RCLONE_PATH": "NeoLight", "PROVIDER": "fly",
                "LOCAL_HEALTH_URL": "http://localhost:8100/status",
                "FLY_HEALTH_URL": "https://neolight-failover.fly.dev/health"}
        for k, v in want.items():
            self.assertEqual(conf[k], v, k)

    def test_passes_with_token_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            tok = os.path.join(tmp, "fly-token")
            with open(tok, "w") as f:
                f.write("fm2_secret\n")
            os.chmod(tok, 0o600)
            conf = self.effective({"FLY_API_TOKEN_FILE": tok})
            self.assertEqual(conf["FLY_API_TOKEN_FILE"], tok)
            with open(EXAMPLE) as f:
                self.assertIn("FLY_API_TOKEN_FILE=/etc/failoverd/fly-token\n", f.read())

    def test_every_key_is_present(self):
        conf = self.effective({"FLY_API_TOKEN": "x", "FLY_API_TOKEN_FILE": ""})
        with open(EXAMPLE) as f:
            present = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", f.read(), re.M))
        missing = sorted(set(conf) - present)
        self.assertEqual(missing, [])
        self.assertIn("TELEGRAM_BOT_TOKEN", present)

    def test_coordination_part_is_current(self):
        with open(EXAMPLE) as f:
            text = f.read()
        self.assertNotIn("NOT YET", text.upper())
        self.assertNotIn("refuses to start", text)


class TestEtcdExamples(unittest.TestCase):
    """contrib/etcd/: the two monitors' configurations pass failoverd -n as
    one pair (same app, endpoints and prefix; different names; STATE_DIR and
    SELF_FENCE_CMD only on the primary's host), and the three etcd members'
    files name one cluster."""

    ETCD = os.path.join(CONTRIB, "etcd")

    def effective(self, name, tmp):
        e = dict(fodtest.BASE_ENV, FLY_API_TOKEN="fm2_secret", FLY_API_TOKEN_FILE="")
        if tmp is not None:
            e["STATE_DIR"] = tmp  # the file's path does not exist on this host
        r = run([fodtest.FAILOVERD, "-n", "-c", os.path.join(self.ETCD, name)], env=e)
        self.assertEqual(r.returncode, 0, name + ": " + r.stderr)
        self.assertEqual(r.stdout.splitlines()[-1], "configuration OK")
        return dict(ln.split("=", 1) for ln in r.stdout.splitlines() if "=" in ln)

    def test_monitors_are_one_pair(self):
        with tempfile.TemporaryDirectory() as tmp:
            a = self.effective("failoverd-primary-host.conf", tmp)
            b = self.effective("failoverd-second-host.conf", None)
        for k in ("COORDINATOR", "FLY_APP", "ETCD_ENDPOINTS", "ETCD_PREFIX", "ELECTION_TTL"):
            self.assertEqual(a[k], b[k], k)
        self.assertEqual(a["COORDINATOR"], "etcd")
        self.assertNotEqual(a["NODE_NAME"], b["NODE_NAME"])
        self.assertNotEqual(a["SELF_FENCE_CMD"], "")
        self.assertEqual(b["SELF_FENCE_CMD"], "")
        with open(os.path.join(self.ETCD, "failoverd-second-host.conf")) as f:
            self.assertNotRegex(f.read(), r"(?m)^STATE_DIR=")
        self.assertEqual(len(a["ETCD_ENDPOINTS"].split(",")), 3)

    def test_etcd_members_are_one_cluster(self):
        clusters, names, tokens = set(), [], set()
        for i in (1, 2, 3):
            with open(os.path.join(self.ETCD, "etcd-host%d.yml" % i)) as f:
                kv = dict(m.groups() for m in
                          re.finditer(r"(?m)^([a-z-]+): (.*)$", f.read()))
            clusters.add(kv["initial-cluster"])
            tokens.add(kv["initial-cluster-token"])
            names.append(kv["name"])
            self.assertIn(kv["name"] + "=" + kv["initial-advertise-peer-urls"],
                          kv["initial-cluster"])
        self.assertEqual(len(clusters), 1)
        self.assertEqual(len(tokens), 1)
        self.assertEqual(sorted(names), ["host1", "host2", "host3"])


class TestBashCompletion(unittest.TestCase):
    def complete(self, *words):
        """The completions bash offers for the words (the last is the
        word being completed)."""
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
                  'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _failoverctl; '
                  'printf "%s\\n" "${COMPREPLY[@]}"; complete -p failoverctl >&2')
        r = run(["bash", "--norc", "--noprofile", "-c", script, "bash", COMPLETION,
                 "failoverctl"] + list(words))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("_failoverctl", r.stderr)  # registered for failoverctl
        return [w for w in r.stdout.splitlines() if w]

    def test_commands(self):
        self.assertEqual(sorted(self.complete("")), sorted(COMMANDS))
        self.assertEqual(sorted(self.complete("-j", "-t", "5", "")), sorted(COMMANDS))
        self.assertEqual(self.complete("force-d"), ["force-deactivate"])

    def test_help_lists_the_same_commands(self):
        r = run([fodtest.FAILOVERCTL, "-h"])
        for c in COMMANDS:
            self.assertRegex(r.stdout + r.stderr, r"\b%s\b" % re.escape(c))

    def test_options(self):
        self.assertEqual(sorted(self.complete("-")),
                         sorted(["-s", "-S", "-i", "-j", "-t", "-h", "-V"]))
        self.assertEqual(self.complete("help", "--p"), ["--protocol"])
        self.assertEqual(self.complete("-S", "/x", "help", ""), ["--protocol"])
        self.assertEqual(sorted(self.complete("force-deactivate", "-")), ["-f", "-r", "-w"])
        self.assertEqual(sorted(self.complete("force-activate", "")), ["-r", "-w"])
        self.assertEqual(self.complete("selftest", "--t"), ["--telegram"])
        self.assertEqual(sorted(self.complete("sync", "")), ["pull", "push"])
        self.assertEqual(self.complete("sync", "push", ""), ["-f"])
        self.assertEqual(sorted(self.complete("events", "-")), ["--no-follow", "-T", "-n"])
        self.assertEqual(self.complete("events", "-n", ""), [])

    def test_event_types(self):
        self.assertEqual(sorted(self.complete("events", "-T", "")), sorted(EVENT_TYPES))
        # The same list failoverctl (and the daemon) accept: its usage error lists them.
        r = run([fodtest.FAILOVERCTL, "events", "-T", "nosuchtype"])
        self.assertEqual(r.returncode, 2)
        listed = r.stderr.split("(the types: ")[1].split(")")[0].split(", ")
        self.assertEqual(sorted(listed), sorted(EVENT_TYPES))
        self.assertEqual(sorted(self.complete("events", "-T", "state,st")),
                         ["state,standby", "state,state"])

    def test_socket_completes_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "x.sock")
            open(path, "w").close()
            self.assertEqual(self.complete("-s", os.path.join(tmp, "x")), [path])


class TestInitScript(unittest.TestCase):
    """contrib/init.d/failoverd against the built daemon, in a temp dir."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fodinit.")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.kill_leftover)
        p = lambda name: os.path.join(self.tmp, name)  # noqa: E731
        self.sock, self.pidfile = p("failoverd.sock"), p("failoverd.pid")
        self.conf, self.log = p("failoverd.conf"), p("failoverd.log")
        self.write_config()
        self.defaults = p("default")
        with open(self.defaults, "w") as f:
            f.write("DAEMON=%s\nDAEMON_ARGS='-c %s'\nSTOP_TIMEOUT=10\n"
                    % (fodtest.FAILOVERD, self.conf))
        self.env = dict(fodtest.BASE_ENV, HOME=self.tmp, FAILOVERD_DEFAULTS=self.defaults)

    def write_config(self, extra=""):
        p = lambda name: os.path.join(self.tmp, name)  # noqa: E731
        with open(self.conf, "w") as f:
            f.write("PROVIDER=none\nCHECK_INTERVAL=1h\nFAST_INTERVAL=1h\n"
                    "LOCAL_HEALTH_URL=http://127.0.0.1:%d/status\n"
                    "SOCKET=%s\nSTATE_FILE=%s\nSTATUS_FILE=%s\nPID_FILE=%s\n"
                    "BACKUP_DIR=%s\nLOG_FILE=%s\n%s"
                    % (fodtest.free_port(), self.sock, p("state.json"),
                       p("failoverd.status"), self.pidfile, p("backups"),
                       self.log, extra))

    def kill_leftover(self):
        pid = self.read_pid()
        if pid and fodtest.process_alive(pid):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not fodtest.process_alive(pid), 5, msg="the leftover daemon to die")

    def read_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None

    def script(self, *args, env=None):
        return run([INIT] + list(args), env=env or self.env)

    def ok(self, *args):
        r = self.script(*args)
        self.assertEqual(r.returncode, 0, "%s: %s%s" % (args, r.stdout, r.stderr))
        return r

    def ping(self):
        with fodtest.Conn(self.sock) as c:
            reply = c.request({"cmd": "ping"})
        self.assertTrue(reply["ok"], reply)
        return reply["result"]

    def daemons(self):
        """Live failoverd processes running our configuration."""
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit() and self.conf.encode() in fodtest.process_cmdline(int(p)) \
                    and fodtest.process_alive(int(p)):
                out.append(int(p))
        return out

    def start(self):
        r = self.ok("start")
        pid = self.read_pid()
        self.assertIn("started (pid %d)" % pid, r.stdout)
        self.assertTrue(fodtest.process_alive(pid))
        self.assertEqual(self.ping()["pid"], pid)
        return pid

    def test_start_status_stop(self):
        pid = self.start()
        r = self.ok("status")
        self.assertIn("running (pid %d)" % pid, r.stdout)

        # A second start starts nothing.
        r = self.ok("start")
        self.assertIn("already running (pid %d)" % pid, r.stdout)
        self.assertEqual(self.daemons(), [pid])
        self.assertEqual(self.read_pid(), pid)

        r = self.ok("stop")
        self.assertIn("stopped", r.stdout)
        self.assertFalse(fodtest.process_alive(pid))
        self.assertFalse(os.path.exists(self.sock), "the socket outlived the daemon")
        r = self.script("status")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("not running", r.stdout)

        # Stopping a stopped service succeeds (LSB).
        r = self.ok("stop")
        self.assertIn("not running", r.stdout)

    def test_pid_file_from_the_configuration(self):
        # Without PIDFILE in the defaults, the script asks "failoverd -n".
        pid = self.start()
        with open(self.defaults, "a") as f:
            f.write("PIDFILE=%s\n" % os.path.join(self.tmp, "elsewhere.pid"))
        r = self.script("status")
        self.assertEqual(r.returncode, 3, r.stdout)
        env = dict(self.env, FAILOVERD_DEFAULTS=os.devnull, DAEMON=fodtest.FAILOVERD,
                   DAEMON_ARGS="-c " + self.conf)
        r = self.script("status", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("pid %d" % pid, r.stdout)

    def test_reused_pid_is_not_the_daemon(self):
        """After a crash the pid in PID_FILE may belong to another process: the
        daemon's lock on PID_FILE is gone, so the script does not trust it
        (audit #15)."""
        if shutil.which("flock") is None:
            self.skipTest("flock (util-linux) is not installed: only the pid is checked")
        pid = self.start()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not fodtest.process_alive(pid), 5, msg="the daemon to die")
        other = subprocess.Popen(["sleep", "300"])
        self.addCleanup(other.wait)
        self.addCleanup(other.kill)
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % other.pid)
        r = self.script("status")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        r = self.ok("stop")
        self.assertIn("not running", r.stdout)
        self.assertIsNone(other.poll(), "stop signalled the process that reused the pid")
        # start is not fooled either: a new daemon, holding the lock.
        new = self.start()
        self.assertNotEqual(new, other.pid)
        self.assertIn("running (pid %d)" % new, self.ok("status").stdout)
        self.ok("stop")
        self.assertIsNone(other.poll())

    def test_stale_pid_file(self):
        with open(self.pidfile, "w") as f:
            f.write("999999999\n")
        r = self.script("status")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.start()  # and a start is not fooled by it

    def test_reload(self):
        pid = self.start()
        with fodtest.Conn(self.sock) as c:
            reply = c.request({"cmd": "events", "types": ["daemon"]})
            self.assertTrue(reply["ok"], reply)
            r = self.ok("reload")
            self.assertIn("reloading", r.stdout)
            ev = fodtest.EventStream(c, reply).wait_for(
                lambda e: e.get("what") == "reload", timeout=10)
        self.assertTrue(ev["ok"], ev)
        self.assertTrue(fodtest.process_alive(pid))
        self.assertEqual(self.ping()["pid"], pid)
        self.ok("force-reload")
        self.assertEqual(self.ping()["pid"], pid)

    def test_reload_broken_config_keeps_the_daemon(self):
        pid = self.start()
        self.write_config("NO_SUCH_KEY=1\n")
        r = self.script("reload")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("NO_SUCH_KEY", r.stderr)
        r = self.script("restart")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(self.ping()["pid"], pid, "a broken restart stopped the daemon")
        # status and stop still find the daemon (the pid file comes from the
        # file's PID_FILE line when "failoverd -n" fails).
        self.assertIn("pid %d" % pid, self.ok("status").stdout)
        self.ok("stop")
        self.assertFalse(fodtest.process_alive(pid))

    def test_reload_when_stopped(self):
        r = self.script("reload")
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)

    def test_restart(self):
        pid = self.start()
        r = self.ok("restart")
        new = self.read_pid()
        self.assertNotEqual(new, pid)
        self.assertFalse(fodtest.process_alive(pid))
        self.assertEqual(self.ping()["pid"], new)
        self.assertIn("started (pid %d)" % new, r.stdout)
        self.assertEqual(self.daemons(), [new])
        self.ok("stop")
        # restart of a stopped service starts it.
        self.ok("restart")
        self.assertEqual(self.ping()["pid"], self.read_pid())
        self.ok("try-restart")
        self.ok("stop")
        self.ok("try-restart")
        self.assertEqual(self.script("status").returncode, 3)

    def test_broken_config(self):
        self.write_config("CHECK_INTERVAL=soon\n")
        r = self.script("start")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"failoverd\.conf:\d+: CHECK_INTERVAL")
        self.assertEqual(self.daemons(), [])
        self.assertEqual(self.script("status").returncode, 3)

    def test_usage(self):
        r = self.script("bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)

    def test_logrotate_reopens_the_log(self):
        if shutil.which("logrotate") is None:
            self.skipTest("logrotate is not installed")
        pid = self.start()
        wait_until(lambda: os.path.getsize(self.log) > 0, 5, msg="the daemon to log")
        with open(LOGROTATE) as f:
            text = f.read()
        # As shipped, but for the paths: no user to replace.
        text = (text.replace("/var/log/failoverd/*.log", self.log)
                .replace("/run/failoverd", self.tmp))
        conf = os.path.join(self.tmp, "logrotate.conf")
        with open(conf, "w") as f:
            f.write(text)
        r = run(["logrotate", "-f", "-s", os.path.join(self.tmp, "lr.state"), conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(self.log + ".1"))
        self.ok("reload")  # something to log
        wait_until(lambda: os.path.getsize(self.log) > 0, 5,
                   msg="the daemon to write to the new LOG_FILE after SIGUSR1")
        self.assertEqual(self.ping()["pid"], pid)


class TestEntrypoint(unittest.TestCase):
    """contrib/fly/entrypoint.sh with real rclone on a local remote."""

    def setUp(self):
        if shutil.which("rclone") is None:
            self.skipTest("rclone is not installed")
        self.tmp = tempfile.mkdtemp(prefix="fodentry.")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.remote = os.path.join(self.tmp, "remote", "NeoLight")
        self.state = os.path.join(self.tmp, "state")
        os.makedirs(self.remote)
        self.service = os.path.join(self.tmp, "service.sh")
        self.ready = os.path.join(self.tmp, "service.ready")
        with open(self.service, "w") as f:
            # A service that reads its state, writes some, and on TERM adds a
            # last file before it exits (unless told to ignore TERM).
            f.write('#!/bin/sh\n'
                    'if [ "${IGNORE_TERM:-}" = 1 ]; then trap "" TERM;\n'
                    'elif [ "${WIPE_ON_TERM:-}" = 1 ]; then\n'
                    'trap \'rm -rf "$STATE_DIR"/* "$STATE_DIR"/.[!.]*; exit 0\' TERM; else\n'
                    'trap \'echo final > "$STATE_DIR/final.txt"; exit 0\' TERM; fi\n'
                    'cat "$STATE_DIR/a.txt" > "$STATE_DIR/seen.txt" 2>/dev/null\n'
                    '[ "${EXIT_AT_ONCE:-}" = 1 ] && exit 4\n'
                    'echo up > "$READY"\n'
                    'while :; do sleep 0.05; done\n')
        os.chmod(self.service, 0o755)
        self.env = dict(fodtest.BASE_ENV, HOME=self.tmp, STATE_DIR=self.state,
                        RCLONE_REMOTE="neo", RCLONE_PATH=self.remote,
                        RCLONE_CONFIG=os.devnull, RCLONE_CONFIG_NEO_TYPE="local",
                        READY=self.ready, FLY_MACHINE_ID="e784079b449483",
                        PULL_TRIES="1")

    def spawn(self, **env):
        out = open(os.path.join(self.tmp, "entrypoint.log"), "w+")
        self.addCleanup(out.close)
        p = subprocess.Popen([ENTRYPOINT, self.service], env=dict(self.env, **env),
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(self.reap, p)
        p.logfile = out
        return p

    def reap(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
        elif group_alive(p.pid):
            os.killpg(p.pid, signal.SIGKILL)

    def output(self, p):
        p.logfile.seek(0)
        return p.logfile.read()

    def finish(self, p, timeout=TIMEOUT):
        rc = p.wait(timeout)
        wait_until(lambda: not group_alive(p.pid), 5, msg="no process of the entrypoint left")
        return rc

    def marker(self):
        with open(os.path.join(self.remote, MARKER)) as f:
            return json.loads(f.read())

    def test_pull_run_push_marker(self):
        with open(os.path.join(self.remote, "a.txt"), "w") as f:
            f.write("from the primary\n")
        with open(os.path.join(self.remote, "gone.txt"), "w") as f:
            f.write("deleted on the standby\n")
        with open(os.path.join(self.remote, MARKER), "w") as f:
            f.write('{"pushed_at":"2020-01-01T00:00:00Z","machine":"old"}\n')
        p = self.spawn()
        wait_until(lambda: os.path.exists(self.ready), 10, msg="the service to start")
        # Pulled before the service started, and the old marker is gone.
        with open(os.path.join(self.state, "seen.txt")) as f:
            self.assertEqual(f.read(), "from the primary\n")
        self.assertFalse(os.path.exists(os.path.join(self.remote, MARKER)))
        self.assertFalse(os.path.exists(os.path.join(self.state, MARKER)))
        os.remove(os.path.join(self.state, "gone.txt"))
        before = time.time()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(self.finish(p), 0, self.output(p))
        # Pushed: the service's last file is on the remote, the deleted one not.
        with open(os.path.join(self.remote, "final.txt")) as f:
            self.assertEqual(f.read(), "final\n")
        self.assertFalse(os.path.exists(os.path.join(self.remote, "gone.txt")))
        m = self.marker()
        self.assertEqual(m["machine"], "e784079b449483")
        self.assertRegex(m["pushed_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        stamp = time.mktime(time.strptime(m["pushed_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        self.assertGreaterEqual(stamp, int(before) - 1)

    def test_sigint_too(self):
        with open(os.path.join(self.remote, "a.txt"), "w") as f:
            f.write("x\n")
        p = self.spawn()
        wait_until(lambda: os.path.exists(self.ready), 10, msg="the service to start")
        p.send_signal(signal.SIGINT)
        self.assertEqual(self.finish(p), 0, self.output(p))
        self.assertTrue(os.path.exists(os.path.join(self.remote, "final.txt")))
        self.marker()

    def test_stubborn_service_is_killed_then_pushed(self):
        with open(os.path.join(self.remote, "a.txt"), "w") as f:
            f.write("x\n")
        p = self.spawn(IGNORE_TERM="1", SERVICE_STOP_TIMEOUT="1")
        wait_until(lambda: os.path.exists(self.ready), 10, msg="the service to start")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(self.finish(p), 0, self.output(p))
        self.assertIn("killing it", self.output(p))
        self.assertTrue(os.path.exists(os.path.join(self.remote, "seen.txt")))
        self.marker()

    def test_service_exit_is_pushed_and_reported(self):
        with open(os.path.join(self.remote, "a.txt"), "w") as f:
            f.write("x\n")
        p = self.spawn(EXIT_AT_ONCE="1")
        self.assertEqual(self.finish(p), 4, self.output(p))
        self.assertIn("exited by itself", self.output(p))
        self.assertTrue(os.path.exists(os.path.join(self.remote, "seen.txt")))
        self.marker()

    def test_failed_pull_starts_nothing(self):
        p = self.spawn(RCLONE_PATH=os.path.join(self.tmp, "no", "such", "dir"))
        self.assertEqual(self.finish(p), 1, self.output(p))
        self.assertIn("not starting the service", self.output(p))
        self.assertFalse(os.path.exists(self.ready))

    def test_empty_state_is_never_pushed(self):
        with open(os.path.join(self.remote, "keep.txt"), "w") as f:
            f.write("precious\n")
        p = self.spawn(WIPE_ON_TERM="1")
        wait_until(lambda: os.path.exists(self.ready), 10, msg="the service to start")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(self.finish(p), 1, self.output(p))
        self.assertEqual(os.listdir(self.state), [])
        self.assertIn("is empty; not pushing", self.output(p))
        self.assertTrue(os.path.exists(os.path.join(self.remote, "keep.txt")))
        self.assertFalse(os.path.exists(os.path.join(self.remote, MARKER)))

    def test_passive_pulls_only_when_promoted(self):
        """PASSIVE=yes: nothing is pulled at boot; `entrypoint.sh --pull`
        (the service's promotion) pulls and marks the machine promoted, and
        only then does the stop push."""
        with open(os.path.join(self.remote, "a.txt"), "w") as f:
            f.write("from the primary\n")
        flag = os.path.join(self.tmp, "promoted")
        p = self.spawn(PASSIVE="yes", PROMOTED_FLAG=flag)
        wait_until(lambda: os.path.exists(self.ready), 10, msg="the service to start")
        self.assertFalse(os.path.exists(os.path.join(self.state, "a.txt")), "pulled at boot")
        self.assertIn("passive: nothing pulled", self.output(p))
        r = run([ENTRYPOINT, "--pull"], env=dict(self.env, PASSIVE="yes", PROMOTED_FLAG=flag))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.state, "a.txt")) as f:
            self.assertEqual(f.read(), "from the primary\n")
        self.assertTrue(os.path.exists(flag))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(self.finish(p), 0, self.output(p))
        with open(os.path.join(self.remote, "final.txt")) as f:
            self.assertEqual(f.read(), "final\n")
        self.marker()

    def test_passive_never_promoted_pushes_nothing(self):
        with open(os.path.join(self.remote, "keep.txt"), "w") as f:
            f.write("newest\n")
        flag = os.path.join(self.tmp, "promoted")
        with open(flag, "w"):
            pass  # a flag left by an earlier boot does not count
        p = self.spawn(PASSIVE="yes", PROMOTED_FLAG=flag)
        wait_until(lambda: os.path.exists(self.ready), 10, msg="the service to start")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(self.finish(p), 0, self.output(p))
        self.assertIn("never promoted: nothing pushed", self.output(p))
        self.assertFalse(os.path.exists(os.path.join(self.remote, "final.txt")))
        with open(os.path.join(self.remote, "keep.txt")) as f:
            self.assertEqual(f.read(), "newest\n")
        self.marker()  # failoverd's failback still sees the marker

    def test_passive_setting_checked(self):
        r = run([ENTRYPOINT, self.service], env=dict(self.env, PASSIVE="maybe"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("PASSIVE must be yes or no", r.stderr)

    def test_missing_settings(self):
        for key in ("STATE_DIR", "RCLONE_REMOTE", "RCLONE_PATH"):
            with self.subTest(key=key):
                env = dict(self.env)
                del env[key]
                r = run([ENTRYPOINT, self.service], env=env)
                self.assertEqual(r.returncode, 1)
                self.assertIn(key, r.stderr)
                self.assertFalse(os.path.exists(self.ready))


FAKE_FLY = r'''#!/usr/bin/env python3
"""A fake flyctl: machines in $FAKE_FLY_STATE, every call logged."""
import json, os, sys
path = os.environ["FAKE_FLY_STATE"]
with open(path + ".log", "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
with open(path) as f:
    ms = json.load(f)
a = sys.argv[1:]
def opt(name):
    return a[a.index(name) + 1] if name in a else None
if a[0] == "deploy":
    assert opt("--app") == "neolight-failover", a
    # A deploy updates every machine; a new app gets a started one.
    if not ms:
        ms.append({"id": "new1", "state": "started", "created_at": "2026-11-28T05:00:00Z"})
elif a[:2] == ["machine", "list"]:
    assert "--json" in a
    print(json.dumps(ms))
elif a[:2] == ["machine", "stop"]:
    for m in ms:
        if m["id"] == a[-1]:
            m["state"] = "stopped"
elif a[:2] == ["machine", "destroy"]:
    assert "--force" in a
    ms = [m for m in ms if m["id"] != a[-1]]
else:
    sys.exit("fake fly: unexpected " + " ".join(a))
with open(path, "w") as f:
    json.dump(ms, f)
'''


class TestDeploy(unittest.TestCase):
    """contrib/fly/deploy.sh against a fake flyctl."""

    def setUp(self):
        if shutil.which("jq") is None:
            self.skipTest("jq is not installed")
        self.tmp = tempfile.mkdtemp(prefix="foddeploy.")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        fly = os.path.join(bindir, "fly")
        with open(fly, "w") as f:
            f.write(FAKE_FLY)
        os.chmod(fly, 0o755)
        self.state = os.path.join(self.tmp, "machines.json")
        shutil.copy(FLY_TOML, os.path.join(self.tmp, "fly.toml"))
        self.env = dict(fodtest.BASE_ENV, HOME=self.tmp, FAKE_FLY_STATE=self.state,
                        PATH=bindir + ":" + fodtest.BASE_ENV["PATH"])

    def deploy(self, machines, *args):
        with open(self.state, "w") as f:
            json.dump(machines, f)
        r = run([DEPLOY] + list(args), env=self.env, cwd=self.tmp)
        with open(self.state) as f:
            after = json.load(f)
        with open(self.state + ".log") as f:
            calls = f.read().splitlines()
        return r, after, calls

    def test_leaves_one_stopped_machine(self):
        ms = [{"id": "m1", "state": "started", "created_at": "2026-01-01T00:00:00Z"},
              {"id": "m2", "state": "suspended", "created_at": "2026-01-02T00:00:00Z"},
              {"id": "m3", "state": "stopped", "created_at": "2026-01-03T00:00:00Z"}]
        r, after, calls = self.deploy(ms, "-y")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(after, [dict(ms[2])])
        self.assertIn("deploy --config fly.toml --app neolight-failover --ha=false", calls)
        self.assertFalse([c for c in calls if "scale" in c], calls)
        self.assertNotIn("warning", r.stderr)

    def test_suspended_machine_is_stopped(self):
        ms = [{"id": "s1", "state": "suspended", "created_at": "2026-01-01T00:00:00Z"}]
        r, after, calls = self.deploy(ms)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(after[0]["state"], "stopped")
        self.assertIn("machine stop --app neolight-failover s1", calls)

    def test_new_app(self):
        r, after, calls = self.deploy([], "-a", "neolight-failover")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([m["state"] for m in after], ["stopped"])

    def test_extra_machines_need_consent(self):
        ms = [{"id": "m1", "state": "stopped", "created_at": "2026-01-01T00:00:00Z"},
              {"id": "m2", "state": "stopped", "created_at": "2026-01-02T00:00:00Z"}]
        with open(self.state, "w") as f:
            json.dump(ms, f)
        r = run([DEPLOY], env=self.env, cwd=self.tmp, input="n\n")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        with open(self.state) as f:
            self.assertEqual(len(json.load(f)), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
