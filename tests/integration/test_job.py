#!/usr/bin/env python3
"""daemon/job.c (through tests/tools/jobtool) and the command provider."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDDIR = os.path.abspath(
    os.environ.get("FOD_BUILDDIR") or os.path.join(HERE, "..", ".."))
JOBTOOL = os.path.join(BUILDDIR, "tests", "tools", "jobtool")
TOKEN = "fo1_Sekr3tTokenValue"
TG_TOKEN = "123456:TelegramSekr3t"
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent-home",
            "LANG": "C", "TZ": "UTC"}


def proc_gone(pid):
    """True when pid no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def readf(path):
    with open(path) as f:
        return f.read()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


class JobTest(unittest.TestCase):
    def setUp(self):
        if not os.access(JOBTOOL, os.X_OK):
            self.skipTest("%s not built (make check builds it)" % JOBTOOL)
        self.tmp = tempfile.mkdtemp(prefix="fodjob.")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pids = []
        self.addCleanup(self.kill_leftovers)

    def kill_leftovers(self):
        for pid in self.pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def run_tool(self, args, env=None, timeout=60, expect_rc=0, **kw):
        e = dict(BASE_ENV)
        e.update(env or {})
        t0 = time.monotonic()
        p = subprocess.run([JOBTOOL] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=e, timeout=timeout,
                           universal_newlines=True, errors="replace", **kw)
        elapsed = time.monotonic() - t0
        if expect_rc is not None:
            self.assertEqual(p.returncode, expect_rc, "jobtool: %s\n%s" % (p.stdout, p.stderr))
        lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        self.assertTrue(lines and lines[-1].get("summary"), p.stdout)
        summary = lines[-1]
        self.assertEqual(summary["extra_calls"], 0, "a callback ran twice")
        self.assertEqual(summary["left"], 0)
        done = [l for l in lines if "index" in l]
        return done, summary, elapsed, p

    def one(self, args, **kw):
        done, summary, elapsed, p = self.run_tool(args, **kw)
        self.assertEqual(len(done), 1, p.stdout)
        self.assertTrue(done[0]["nul_terminated"])
        return done[0], elapsed

    def read_pid(self, name):
        path = os.path.join(self.tmp, name)
        wait_for(lambda: os.path.exists(path) and readf(path).strip(), 5, path)
        pid = int(readf(path).strip())
        self.pids.append(pid)
        return pid

    # --- exit status ---------------------------------------------------------
    def test_exit_codes(self):
        done, summary, _, _ = self.run_tool(["exit 0", "exit 3", "echo hi; exit 255"])
        by = {d["index"]: d for d in done}
        self.assertEqual([by[i]["exit_code"] for i in range(3)], [0, 3, 255])
        self.assertEqual([by[i]["signal"] for i in range(3)], [0, 0, 0])
        self.assertEqual(by[2]["output"], "hi\n")
        self.assertEqual(by[1]["result"], "exited 3")
        self.assertFalse(any(d["timed_out"] for d in done))

    def test_signal(self):
        r, _ = self.one(["kill -KILL $$"])
        self.assertEqual(r["exit_code"], -1)
        self.assertEqual(r["signal"], 9)
        self.assertFalse(r["timed_out"])
        self.assertEqual(r["result"], "killed by SIGKILL")

    def test_sigpipe_is_default_in_the_child(self):
        # jobtool ignores SIGPIPE as the daemon does; the child must not
        # inherit that: a writer to a closed pipe dies of SIGPIPE (141).
        r, _ = self.one(["(yes; echo rc=$? >&2) | head -c 1 >/dev/null"])
        self.assertIn("rc=141", r["output"])

    def test_eof_before_exit_waits_for_the_exit(self):
        r, elapsed = self.one(["exec >/dev/null 2>&1; sleep 0.3; exit 5"])
        self.assertEqual(r["exit_code"], 5)
        self.assertGreaterEqual(r["duration_ms"], 280)

    def test_spawn_failure_is_reported_not_fatal(self):
        r, _ = self.one(["-a", "/nonexistent/program"])
        self.assertEqual(r["spawn_errno"], 2)
        self.assertEqual(r["exit_code"], -1)
        self.assertIn("could not start", r["result"])

    def test_argv_mode_uses_path(self):
        r, _ = self.one(["-a", "echo", "a  b", "c"])
        self.assertEqual(r["exit_code"], 0)
        self.assertEqual(r["output"], "a  b c\n")

    # --- timeouts and process groups --------------------------------------
    def test_timeout_term(self):
        r, elapsed = self.one(["-t", "300", "-g", "5000", "exec sleep 100"])
        self.assertTrue(r["timed_out"])
        self.assertEqual(r["signal"], 15)
        self.assertGreaterEqual(r["duration_ms"], 280)
        self.assertLess(elapsed, 4.0)

    def test_timeout_term_then_kill_whole_group(self):
        pidfile = os.path.join(self.tmp, "gc")
        script = "sleep 1000 >/dev/null 2>&1 & echo $! > %s; trap '' TERM; sleep 100" % pidfile
        r, elapsed = self.one(["-t", "300", "-g", "400", script])
        self.assertTrue(r["timed_out"])
        self.assertEqual(r["signal"], 9, r)
        # TERM at 300 ms was ignored; KILL came after the 400 ms grace.
        self.assertGreaterEqual(r["duration_ms"], 650)
        self.assertLess(elapsed, 5.0)
        gc = self.read_pid("gc")
        wait_for(lambda: proc_gone(gc), 5, "grandchild %d to die" % gc)

    def test_grandchild_holding_the_pipe_does_not_hang(self):
        pidfile = os.path.join(self.tmp, "gc")
        r, elapsed = self.one(["sleep 1000 & echo $! > %s; echo bye" % pidfile])
        self.assertEqual(r["exit_code"], 0)
        self.assertEqual(r["output"], "bye\n")
        self.assertLess(r["duration_ms"], 900)
        # At most 1 s of waiting for EOF after the child's exit, then done.
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3.5)
        gc = self.read_pid("gc")
        wait_for(lambda: proc_gone(gc), 5, "grandchild %d to die" % gc)

    def test_background_grandchild_left_behind_is_killed(self):
        pidfile = os.path.join(self.tmp, "gc")
        r, elapsed = self.one(["sleep 1000 >/dev/null 2>&1 & echo $! > %s" % pidfile])
        self.assertEqual(r["exit_code"], 0)
        self.assertLess(elapsed, 0.9, "no pipe held: no EOF wait")
        gc = self.read_pid("gc")
        wait_for(lambda: proc_gone(gc), 5, "grandchild %d to die" % gc)

    def test_cancel_kills_group_without_callback(self):
        pidfile = os.path.join(self.tmp, "gc")
        done, summary, elapsed, p = self.run_tool(
            ["-c", "300", "sleep 1000 & echo $! > %s; exec sleep 100" % pidfile])
        self.assertEqual(done, [])
        self.assertIn('{"cancelled":1}', p.stdout)
        self.assertEqual(summary["cancelled"], 1)
        self.assertLess(elapsed, 5.0)
        gc = self.read_pid("gc")
        wait_for(lambda: proc_gone(gc), 5, "grandchild %d to die" % gc)

    # --- output -------------------------------------------------------------
    def test_output_bounded_to_last_4k(self):
        r, _ = self.one(["head -c 10000000 /dev/zero | tr '\\0' a; printf END; echo ERR >&2"])
        self.assertEqual(r["exit_code"], 0)
        self.assertEqual(r["output_len"], 4096)
        self.assertTrue(r["truncated"])
        self.assertTrue(r["output"].endswith("aaaENDERR\n"), r["output"][-20:])
        self.assertEqual(r["output"].count("a"), 4096 - 7)

    def test_output_limit_option_and_exact_fit(self):
        r, _ = self.one(["-o", "10", "printf 0123456789"])
        self.assertEqual(r["output"], "0123456789")
        self.assertFalse(r["truncated"])
        r, _ = self.one(["-o", "10", "printf 0123456789; printf abc; printf DEFGHIJ"])
        self.assertEqual(r["output"], "abcDEFGHIJ")
        self.assertTrue(r["truncated"])

    # --- environment and descriptors --------------------------------------
    def test_environment_scrubbed(self):
        env = {"FLY_API_TOKEN": TOKEN, "TELEGRAM_BOT_TOKEN": TG_TOKEN,
               "RCLONE_CONFIG_X_TYPE": "local", "SECRET": "x", "LD_PRELOAD": ""}
        r, _ = self.one(["-e", "FOO=bar baz", "-e", "TZ=Europe/Paris", "-a", "env"], env=env)
        got = dict(l.split("=", 1) for l in r["output"].splitlines())
        self.assertEqual(set(got), {"PATH", "HOME", "LANG", "TZ", "FOO"})
        self.assertEqual(got["PATH"], BASE_ENV["PATH"])
        self.assertEqual(got["HOME"], BASE_ENV["HOME"])
        self.assertEqual(got["LANG"], "C")
        self.assertEqual(got["TZ"], "Europe/Paris", "extras win")
        self.assertEqual(got["FOO"], "bar baz")
        self.assertNotIn(TOKEN, r["output"])

    def test_path_defaults_when_unset(self):
        e = {k: v for k, v in BASE_ENV.items() if k != "PATH"}
        p = subprocess.run([JOBTOOL, "-a", "/usr/bin/env"], stdout=subprocess.PIPE,
                           env=e, universal_newlines=True, timeout=30)
        out = json.loads(p.stdout.splitlines()[0])["output"]
        self.assertIn("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", out)
        self.assertEqual(out.count("PATH="), 1)

    def test_no_descriptor_leaks_into_the_child(self):
        # jobtool gets an inheritable fd of its own: it must not reach the job.
        rfd, wfd = os.pipe()
        self.addCleanup(os.close, rfd)
        self.addCleanup(os.close, wfd)
        r, _ = self.one(["-a", "ls", "-l", "/proc/self/fd"], pass_fds=(wfd,))
        fds = {}
        for line in r["output"].splitlines()[1:]:
            parts = line.split()
            fds[int(parts[8])] = parts[10] if len(parts) > 10 else ""
        self.assertEqual(fds[0], "/dev/null")
        self.assertTrue(fds[1].startswith("pipe:"))
        self.assertEqual(fds[1], fds[2])
        extra = {fd: t for fd, t in fds.items() if fd > 2 and not t.startswith("/proc/")}
        self.assertEqual(extra, {}, r["output"])
        self.assertNotIn(wfd, [fd for fd in fds if fd > 3])

    # --- many at once, loop never blocked ------------------------------------
    def test_fifty_concurrent_jobs_complete_once(self):
        done, summary, elapsed, p = self.run_tool(
            ["-n", "50", "echo $$; sleep 0.2; exit $(( $$ % 7 ))"])
        self.assertEqual(len(done), 50)
        self.assertEqual(sorted(d["index"] for d in done), list(range(50)))
        self.assertEqual(summary["completed"], 50)
        pids = {d["pid"] for d in done}
        self.assertEqual(len(pids), 50)
        for d in done:
            self.assertEqual(d["output"], "%d\n" % d["pid"])
            self.assertEqual(d["exit_code"], d["pid"] % 7)
        # Concurrent, not one after another (50 x 0.2 s = 10 s).
        self.assertLess(elapsed, 8.0)

    def test_jobs_started_from_a_callback(self):
        # Each completion starts the next job from inside its callback (which
        # also calls job_cancel on itself: a no-op there).
        done, summary, _, _ = self.run_tool(["-n", "2", "-r", "6", "echo $$"])
        self.assertEqual(sorted(d["index"] for d in done), list(range(8)))
        self.assertEqual(len({d["pid"] for d in done}), 8)
        done, summary, _, _ = self.run_tool(["-r", "3", "-a", "/nonexistent"])
        self.assertEqual([d["spawn_errno"] for d in done], [2] * 4)

    def test_loop_keeps_ticking(self):
        pidfile = os.path.join(self.tmp, "gc")
        done, summary, elapsed, p = self.run_tool(
            ["-T", "-t", "1500", "-g", "300",
             "head -c 20000000 /dev/zero",
             "trap '' TERM; sleep 100",
             "sleep 1000 & echo $! > %s; echo x" % pidfile,
             "exit 1"])
        self.assertEqual(len(done), 4)
        self.assertGreater(summary["ticks"], 50)
        self.assertLess(summary["max_gap_ms"], 200, summary)

    # --- valgrind ----------------------------------------------------------
    def test_valgrind_clean(self):
        vg = shutil.which("valgrind")
        if vg is None:
            self.skipTest("valgrind not installed")
        with open(JOBTOOL, "rb") as f:
            if b"__asan_init" in f.read():
                self.skipTest("built with sanitizers, which valgrind cannot run")
        e = dict(BASE_ENV)
        p = subprocess.run(
            [vg, "-q", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
             "--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=99",
             "--track-fds=no", JOBTOOL, "-n", "3", "-r", "4", "-t", "500", "-g", "200", "-o", "100",
             "-e", "A=b", "head -c 100000 /dev/zero", "trap '' TERM; sleep 100",
             "sleep 10 & echo started", "exit 4"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=120,
            universal_newlines=True, errors="replace")
        self.assertEqual(p.returncode, 0, p.stderr[-4000:])
        p = subprocess.run(
            [vg, "-q", "--leak-check=full", "--error-exitcode=99", JOBTOOL, "-c", "200",
             "sleep 100", "exit 0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=120,
            universal_newlines=True, errors="replace")
        self.assertEqual(p.returncode, 0, p.stderr[-4000:])


class CommandProviderTest(unittest.TestCase):
    def setUp(self):
        if not os.access(JOBTOOL, os.X_OK):
            self.skipTest("%s not built (make check builds it)" % JOBTOOL)
        self.tmp = tempfile.mkdtemp(prefix="fodcmd.")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def op(self, op, keys, env=None, timeout=60):
        kv = {"PROVIDER": "command", "ACTIVATE_CMD": "true", "DEACTIVATE_CMD": "true"}
        kv.update(keys)
        e = dict(BASE_ENV)
        e.update(env or {})
        p = subprocess.run([JOBTOOL, "-P", op] + ["%s=%s" % i for i in kv.items()],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                           timeout=timeout, universal_newlines=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        res = json.loads(lines[0])
        res["_log"] = p.stderr
        return res

    def test_activate_ok_with_its_environment(self):
        envfile = os.path.join(self.tmp, "env")
        res = self.op("activate", {"ACTIVATE_CMD": "env > %s" % envfile, "FLY_APP": "sb"},
                      env={"FLY_API_TOKEN": TOKEN, "TELEGRAM_BOT_TOKEN": TG_TOKEN,
                           "TELEGRAM_CHAT_ID": "1", "OTHER": "x"})
        self.assertEqual(res["res"], "ok", res)
        self.assertTrue(res["machines_null"])
        got = dict(l.split("=", 1) for l in readf(envfile).splitlines())
        got.pop("PWD", None)  # the shell's own
        self.assertEqual(set(got), {"PATH", "HOME", "LANG", "TZ", "FLY_API_TOKEN",
                                    "FLY_APP", "FLY_API_HOSTNAME"})
        self.assertEqual(got["FLY_API_TOKEN"], TOKEN)
        self.assertEqual(got["FLY_APP"], "sb")
        self.assertEqual(got["FLY_API_HOSTNAME"], "https://api.machines.dev")
        self.assertNotIn(TG_TOKEN, readf(envfile))

    def test_deactivate_runs_deactivate_cmd(self):
        mark = os.path.join(self.tmp, "mark")
        res = self.op("deactivate", {"DEACTIVATE_CMD": "echo d > %s" % mark,
                                     "ACTIVATE_CMD": "exit 9"})
        self.assertEqual(res["res"], "ok", res)
        self.assertEqual(readf(mark), "d\n")

    def test_failure_names_key_exit_and_last_line_redacted(self):
        res = self.op("activate", {"ACTIVATE_CMD":
                                   "echo first; echo; echo \"token $FLY_API_TOKEN rejected\"; "
                                   "echo; exit 3"}, env={"FLY_API_TOKEN": TOKEN})
        self.assertEqual(res["res"], "failed")
        self.assertTrue(res["error"].startswith("ACTIVATE_CMD exited 3: token "), res["error"])
        self.assertIn("rejected", res["error"])
        self.assertNotIn(TOKEN, res["error"])
        self.assertNotIn(TOKEN, res["_log"])

    def test_failure_without_output(self):
        res = self.op("deactivate", {"DEACTIVATE_CMD": "kill -9 $$"})
        self.assertEqual(res["res"], "failed")
        self.assertEqual(res["error"], "DEACTIVATE_CMD killed by SIGKILL")

    def test_timeout_is_activation_timeout(self):
        t0 = time.monotonic()
        res = self.op("activate", {"ACTIVATE_CMD": "echo waiting; exec sleep 100",
                                   "ACTIVATION_TIMEOUT": "500ms"})
        self.assertEqual(res["res"], "failed")
        self.assertEqual(res["error"], "ACTIVATE_CMD timed out after 500ms: waiting")
        self.assertLess(time.monotonic() - t0, 5)

    def test_list_cannot_list(self):
        res = self.op("list", {"ACTIVATE_CMD": "exit 1"})
        self.assertEqual(res["res"], "ok")
        self.assertTrue(res["machines_null"])
        self.assertEqual(res["error"], "")


if __name__ == "__main__":
    unittest.main()
