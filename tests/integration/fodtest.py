"""fodtest: the shared harness for failoverd's integration tests.

Python 3 standard library only. Every integration test starts the real
failoverd and drives it over its real control socket (and through the real
failoverctl); this module does the plumbing so that each test says only
what it checks.

Where things are
    BUILDDIR   $FOD_BUILDDIR, default the repo root (two levels above this file)
    SRCDIR     $FOD_SRCDIR, default BUILDDIR
    FAILOVERD, FAILOVERCTL   the binaries in BUILDDIR
    $FOD_KEEP=1   keep each daemon's temp dir (its path is printed) for debugging
    $FOD_VALGRIND_DAEMON=DIR   run each foreground daemon under valgrind
                  memcheck (logs in DIR); an error or a definite leak makes
                  its exit status 99

A daemon
    d = Daemon({"PROVIDER": "none", "CHECK_INTERVAL": "1h"},
               defines={"FAST_INTERVAL": "1h"}, env={"FOO": "x"}, args=["-v"])
    d.start()              # failoverd -f -c FILE [-D K=V]... [args]
    d.wait_ready()         # until the socket answers ping (deadline loop)
    d.request({"cmd": "status"})         -> the parsed reply dict
    d.result("status")                   -> reply["result"], asserting ok
    d.status()                           -> the status object
    d.ctl("pause", "5s", check=0)        -> (rc, stdout, stderr) of failoverctl
    ev = d.events(types=["pause"], backlog=0)
    ev.wait_for(lambda e: e["type"] == "pause", timeout=5)
    d.stop()  -> exit code;  d.kill9();  d.restart();  d.log_text()
    d.cleanup()            # kills whatever is left, removes the temp dir

  Daemon is a context manager (cleanup on exit). In a unittest.TestCase use
  `self.addCleanup(d.cleanup)` or the DaemonTestCase mixin's
  `self.start_daemon(config)`, which does both start/wait_ready and cleanup;
  cleanup runs even when the test fails, and an atexit hook kills anything a
  crashed test left behind, so no process outlives the test run.

  The config file is written from a dict (values quoted safely; None means
  "write KEY=" i.e. the default); SOCKET, STATE_FILE, STATUS_FILE, PID_FILE
  and BACKUP_DIR always point into the daemon's private temp dir (0755 so
  other uids can traverse it) unless the dict gives them, and
  LOCAL_HEALTH_URL defaults to a closed local port. `extra_lines` appends raw
  lines (for grammar tests); `config_text` replaces the whole file.
  The daemon's environment is PATH, HOME (the temp dir), LANG and the given
  `env` only: the test runner's environment never leaks in.
  Its stderr goes to DIR/stderr.log; log_text() returns it and LOG_FILE's text.

Clients
    c = d.connect()        # Conn: send_line / send_raw / read_line(timeout)
    c.read_json(timeout); c.request(obj); c.wait_closed(timeout); c.close()
    run_as(socket, requests, uid=65534, gid=65534, groups=[])
        one-shot client as another uid (setpriv + python3 -c); returns replies
    require_root(testcase)   skips the test (with the reason) when not root

Misc
    wait_until(pred, timeout, interval=0.01, msg=...)  -> pred's truthy value,
        or AssertionError with msg and the last value on timeout; exceptions
        from pred count as "not yet", except Abort, which ends the wait
    free_port() -> a local TCP port with nothing listening (for a "down" URL)
    Blackhole() -> .url where a check hangs until CHECK_TIMEOUT; .close()
    RFC3339_MS  regex for the contract's times
"""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDDIR = os.path.abspath(
    os.environ.get("FOD_BUILDDIR") or os.path.join(HERE, "..", ".."))
SRCDIR = os.path.abspath(os.environ.get("FOD_SRCDIR") or BUILDDIR)
FAILOVERD = os.path.join(BUILDDIR, "failoverd")
FAILOVERCTL = os.path.join(BUILDDIR, "failoverctl")
KEEP = os.environ.get("FOD_KEEP") == "1"
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# The keys the harness points into the temp dir, and their file names.
PATH_KEYS = {
    "SOCKET": "failoverd.sock",
    "STATE_FILE": "state.json",
    "STATUS_FILE": "failoverd.status",
    "PID_FILE": "failoverd.pid",
    "BACKUP_DIR": "backups",
}

BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}

_live = set()  # Daemon objects not cleaned up yet


def _kill_leftovers():
    for d in list(_live):
        try:
            d.cleanup()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_kill_leftovers)


class Abort(AssertionError):
    """Raised by a wait_until predicate to stop waiting at once (e.g. the
    daemon died): wait_until lets it through instead of retrying."""


def wait_until(pred, timeout=5.0, interval=0.01, msg=None):
    """Calls pred() until it returns something truthy; returns that value.

    On timeout raises AssertionError naming msg and pred's last value (or
    the last exception it raised)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
            if last:
                return last
        except Abort:
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s; last: %r"
                                 % (timeout, msg or getattr(pred, "__name__", "a condition"),
                                    last))
        time.sleep(interval)


def free_port():
    """A local TCP port that nothing listens on (bound, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Blackhole:
    """A TCP listener whose connections the kernel completes but nobody
    answers: an HTTP check against .url hangs until CHECK_TIMEOUT."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "http://127.0.0.1:%d/status" % self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def quote_value(v):
    """A config VALUE per contract §3: literal, or wholly in ' or " quotes."""
    v = "" if v is None else str(v)
    if "\n" in v or "\r" in v:
        raise ValueError("config values cannot contain newlines: %r" % v)
    if v == "":
        return ""
    if "'" not in v:
        return "'" + v + "'"
    if '"' not in v:
        return '"' + v + '"'
    if v[0] not in "'\"" and v[-1] not in "'\"":
        return v
    raise ValueError("cannot quote %r" % v)


def sanitized():
    """True when failoverd is an ASan build (--enable-sanitizers)."""
    try:
        with open(FAILOVERD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def is_root():
    return os.geteuid() == 0


def require_root(testcase):
    if not is_root():
        testcase.skipTest("needs root to run a client as another uid (setpriv)")
    if shutil.which("setpriv") is None:
        testcase.skipTest("setpriv (util-linux) is not installed")


def process_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            # A zombie has exited; only its parent's wait is missing.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def process_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


class Conn:
    """One client connection to the control socket, line-oriented."""

    def __init__(self, path, timeout=5.0, rcvbuf=None):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self.buf = b""
        self.eof = False

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send_line(self, line):
        """Sends a line (a str/bytes, or an object to encode as JSON)."""
        if not isinstance(line, (str, bytes)):
            line = json.dumps(line)
        if isinstance(line, str):
            line = line.encode()
        if not line.endswith(b"\n"):
            line += b"\n"
        self.sock.sendall(line)

    def read_line(self, timeout=5.0):
        """The next line (str, without the newline), or None at EOF.

        Raises TimeoutError when nothing complete arrives in time."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                if self.buf:
                    rest, self.buf = self.buf, b""
                    return rest.decode("utf-8", "replace")
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no line from %s within %.1fs (have %r)"
                                   % (self.path, timeout, self.buf[:200]))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            raise AssertionError("the daemon sent a line that is not UTF-8: %r" % line[:500])

    def read_json(self, timeout=5.0):
        """The next line parsed as JSON; AssertionError at EOF."""
        line = self.read_line(timeout)
        if line is None:
            raise AssertionError("connection closed by the daemon, expected a reply")
        try:
            return json.loads(line)
        except ValueError:
            raise AssertionError("not JSON from the daemon: %r" % line[:500])

    def request(self, obj, timeout=5.0):
        self.send_line(obj)
        return self.read_json(timeout)

    def wait_closed(self, timeout=5.0):
        """True when the daemon closes the connection in time (lines before
        the close are discarded); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.read_line(max(0.0, deadline - time.monotonic())) is None:
                    return True
            except TimeoutError:
                return False

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EventStream:
    """An `events` subscription. .reply is the subscribe reply; .seen every
    event received so far (dicts, the inner `event` objects)."""

    def __init__(self, conn, reply):
        self.conn = conn
        self.reply = reply
        self.seen = []
        self.closed = False

    def next(self, timeout=5.0):
        """The next event, or None when the daemon closed the stream."""
        line = self.conn.read_line(timeout)
        if line is None:
            self.closed = True
            return None
        obj = json.loads(line)
        if "event" not in obj:
            raise AssertionError("not an event line: %r" % line[:500])
        self.seen.append(obj["event"])
        return obj["event"]

    def wait_for(self, pred, timeout=5.0):
        """Reads events until pred(event) holds; returns that event.

        AssertionError (listing what came) on timeout or close."""
        for e in self.seen:
            if pred(e):
                return e
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                e = self.next(max(0.0, left)) if left > 0 else None
            except TimeoutError:
                e = None
            if e is None:
                raise AssertionError("%s; events seen: %s" % (
                    "stream closed" if self.closed else "timed out after %.1fs" % timeout,
                    json.dumps(self.seen)[-2000:]))
            if pred(e):
                return e

    def read_until_closed(self, timeout=5.0):
        """Every event until the daemon closes the stream (follow false)."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            e = self.next(max(0.01, deadline - time.monotonic()))
            if e is None:
                return out
            out.append(e)

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Daemon:
    """One failoverd under test, in its own temp dir. See the module doc."""

    def __init__(self, config=None, defines=None, env=None, args=None,
                 extra_lines=None, config_text=None, tmpdir=None, prefix=None):
        # prefix: a command the daemon runs under, e.g. ["prlimit", "--nofile=64:64", "--"]
        self.prefix = list(prefix or [])
        self.dir = tmpdir or tempfile.mkdtemp(prefix="fodtest.")
        os.chmod(self.dir, 0o755)
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home, exist_ok=True)
        self.config = {}
        for k, v in PATH_KEYS.items():
            self.config[k] = os.path.join(self.dir, v)
        self.config["LOCAL_HEALTH_URL"] = "http://127.0.0.1:%d/status" % free_port()
        self.config.update(config or {})
        self.defines = dict(defines or {})
        self.env = dict(env or {})
        self.args = list(args or [])
        self.extra_lines = list(extra_lines or [])
        self.config_text = config_text
        self.conf_path = os.path.join(self.dir, "failoverd.conf")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.daemon_pid = None  # without -f: the forked daemon's pid
        self.exit_code = None
        self.start_result = None  # (rc, stdout, stderr) of a daemonized start
        self.write_config()
        _live.add(self)

    # --- files -----------------------------------------------------------
    @property
    def socket_path(self):
        return self.config["SOCKET"]

    @property
    def pid_file(self):
        return self.config["PID_FILE"]

    @property
    def state_file(self):
        return self.config["STATE_FILE"]

    @property
    def status_file(self):
        return self.config["STATUS_FILE"]

    def path(self, name):
        return os.path.join(self.dir, name)

    def config_file_text(self):
        if self.config_text is not None:
            return self.config_text
        lines = ["# written by fodtest"]
        for k, v in self.config.items():
            lines.append("%s=%s" % (k, quote_value(v)))
        lines.extend(self.extra_lines)
        return "\n".join(lines) + "\n"

    def write_config(self, config=None, text=None):
        """(Re)writes the config file, optionally updating keys or replacing
        the whole text (for reload tests)."""
        if config:
            self.config.update(config)
        if text is not None:
            self.config_text = text
        with open(self.conf_path, "w") as f:
            f.write(self.config_file_text())

    def read_json_file(self, path):
        with open(path) as f:
            return json.load(f)

    # --- the process -----------------------------------------------------
    def child_env(self, extra=None):
        env = dict(BASE_ENV)
        env["HOME"] = self.home
        env.update(self.env)
        env.update(extra or {})
        return env

    def argv(self, foreground=True, extra_args=None):
        argv = self.prefix + [FAILOVERD]
        vgdir = os.environ.get("FOD_VALGRIND_DAEMON")
        if foreground and vgdir:
            # memcheck the daemon: any error or definitely lost byte makes
            # its exit status 99, which stop() reports to the test.
            argv = ["valgrind", "-q", "--leak-check=full",
                    "--errors-for-leak-kinds=definite", "--error-exitcode=99",
                    "--log-file=%s/vg.%%p.log" % vgdir] + argv
        if foreground:
            argv.append("-f")
        argv += ["-c", self.conf_path]
        for k, v in self.defines.items():
            argv += ["-D", "%s=%s" % (k, v)]
        return argv + self.args + list(extra_args or [])

    def start(self, foreground=True, extra_args=None, wait=True, timeout=10.0):
        """Starts failoverd. Foreground (-f): a child process, stderr to a
        file; wait=True waits for the socket to answer. Daemonized: runs the
        starting command to completion and returns its (rc, out, err)."""
        if not os.path.exists(FAILOVERD):
            raise unittest.SkipTest("%s is not built" % FAILOVERD)
        self.exit_code = None
        if foreground:
            errf = open(self.stderr_path, "ab")
            try:
                self.proc = subprocess.Popen(
                    self.argv(True, extra_args), stdin=subprocess.DEVNULL,
                    stdout=errf, stderr=errf, env=self.child_env(), cwd="/",
                    close_fds=True, start_new_session=True)
            finally:
                errf.close()
            if wait:
                self.wait_ready(timeout)
            return self.proc
        cp = subprocess.run(self.argv(False, extra_args), stdin=subprocess.DEVNULL,
                            capture_output=True, env=self.child_env(), cwd="/",
                            timeout=timeout)
        self.start_result = (cp.returncode, cp.stdout.decode(errors="replace"),
                             cp.stderr.decode(errors="replace"))
        try:
            with open(self.pid_file) as f:
                self.daemon_pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            self.daemon_pid = None
        return self.start_result

    @property
    def pid(self):
        if self.proc is not None:
            return self.proc.pid
        return self.daemon_pid

    def running(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return self.daemon_pid is not None and process_alive(self.daemon_pid) and \
            self.dir.encode() in process_cmdline(self.daemon_pid)

    def wait_ready(self, timeout=10.0):
        """Waits until the socket answers ping; fails early if the daemon died."""
        def ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise Abort("failoverd exited with %s before it was ready:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                with Conn(self.socket_path, timeout=1.0) as c:
                    r = c.request({"cmd": "ping"}, timeout=1.0)
                    return r.get("ok") is True
            except (OSError, TimeoutError, AssertionError):
                return False
        try:
            wait_until(ready, timeout, interval=0.02, msg="the socket to answer ping")
        except Abort:
            raise
        except AssertionError as e:
            raise AssertionError("%s\n--- daemon log ---\n%s" % (e, self.log_tail()))

    def send_signal(self, sig):
        pid = self.pid
        if pid is None:
            raise AssertionError("no daemon process")
        os.kill(pid, sig)

    def wait_exit(self, timeout=10.0):
        """Waits for the daemon to exit; returns its exit code (None when it
        was daemonized: its status belongs to init)."""
        if self.proc is not None:
            try:
                self.exit_code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError("failoverd did not exit within %.1fs:\n%s"
                                     % (timeout, self.log_tail()))
            return self.exit_code
        wait_until(lambda: not self.running(), timeout, msg="the daemon to exit")
        return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig (TERM) and returns the exit code."""
        if not self.running():
            return self.proc.returncode if self.proc is not None else None
        self.send_signal(sig)
        return self.wait_exit(timeout)

    def kill9(self):
        if self.running():
            self.send_signal(signal.SIGKILL)
            self.wait_exit(5.0)

    def restart(self, timeout=10.0, **kw):
        """Stops (TERM) and starts again with the same dir, config and state."""
        self.stop()
        self.proc = None
        self.daemon_pid = None
        return self.start(timeout=timeout, **kw)

    def cleanup(self):
        """Kills whatever is still running and removes the temp dir."""
        _live.discard(self)
        vg_failed = None
        if os.environ.get("FOD_VALGRIND_DAEMON") and self.proc is not None \
                and self.proc.poll() is None:
            # Under valgrind a clean stop is what makes the leak check run.
            self.proc.send_signal(signal.SIGTERM)
            try:
                if self.proc.wait(30) == 99:
                    vg_failed = "valgrind reported errors in failoverd (pid %d); see %s" % (
                        self.proc.pid, os.environ["FOD_VALGRIND_DAEMON"])
            except subprocess.TimeoutExpired:
                pass
        san_failed = None
        if os.environ.get("ASAN_OPTIONS") and not os.environ.get("FOD_VALGRIND_DAEMON") \
                and self.proc is not None and self.proc.poll() is None:
            # Under the sanitizers a clean stop runs the shutdown paths too,
            # and what they report there fails the test.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            try:
                with open(self.stderr_path, errors="replace") as f:
                    text = f.read()
            except OSError:
                text = ""
            for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if mark in text:
                    i = text.index(mark)
                    san_failed = "sanitizer report from failoverd at its stop:\n" + \
                        text[max(0, i - 200):i + 3000]
                    break
        pids = []
        if self.proc is not None and self.proc.poll() is None:
            pids.append(self.proc.pid)
        if self.daemon_pid is not None and self.running():
            pids.append(self.daemon_pid)
        # A daemon started without -f that we never learnt about.
        try:
            with open(self.pid_file) as f:
                p = int(f.read().split()[0])
            if p not in pids and process_alive(p) and \
                    self.dir.encode() in process_cmdline(p):
                pids.append(p)
        except (OSError, ValueError, IndexError):
            pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for p in pids:
            try:
                wait_until(lambda: not process_alive(p), 5.0)
            except AssertionError:
                pass
        if KEEP:
            sys.stderr.write("fodtest: kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if vg_failed:
            raise AssertionError(vg_failed)
        if san_failed:
            raise AssertionError(san_failed)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # --- logs ------------------------------------------------------------
    def log_text(self):
        """The daemon's stderr, followed by LOG_FILE's text when set."""
        out = ""
        for p in (self.stderr_path, self.config.get("LOG_FILE")):
            if p and os.path.exists(p):
                with open(p, "rb") as f:
                    out += f.read().decode("utf-8", "replace")
        return out

    def log_tail(self, n=4000):
        return self.log_text()[-n:]

    # --- control ---------------------------------------------------------
    def connect(self, timeout=5.0, rcvbuf=None):
        return Conn(self.socket_path, timeout, rcvbuf)

    def request(self, obj_or_line, conn=None, timeout=5.0):
        """Sends one request (an object, or a raw line) and returns the
        parsed reply; on a new connection unless conn is given."""
        if conn is not None:
            conn.send_line(obj_or_line)
            return conn.read_json(timeout)
        with self.connect() as c:
            c.send_line(obj_or_line)
            return c.read_json(timeout)

    def result(self, cmd, **args):
        """Runs cmd and returns its result; AssertionError if not ok."""
        req = {"cmd": cmd}
        req.update(args)
        r = self.request(req)
        if r.get("ok") is not True:
            raise AssertionError("%s failed: %r" % (cmd, r))
        return r["result"]

    def status(self):
        return self.result("status")

    def status_file_json(self):
        return self.read_json_file(self.status_file)

    def events(self, types=None, backlog=0, follow=True, timeout=5.0):
        """Subscribes on a new connection; returns an EventStream."""
        req = {"cmd": "events", "backlog": backlog, "follow": follow}
        if types is not None:
            req["types"] = types
        c = self.connect()
        reply = c.request(req, timeout)
        if reply.get("ok") is not True:
            c.close()
            raise AssertionError("events failed: %r" % reply)
        return EventStream(c, reply)

    def ctl(self, *args, check=None, timeout=15.0, env=None, socket_arg=True):
        """Runs failoverctl [-s SOCKET] ARGS; returns (rc, stdout, stderr).
        check=N asserts the exit status is N."""
        if not os.path.exists(FAILOVERCTL):
            raise unittest.SkipTest("%s is not built" % FAILOVERCTL)
        argv = [FAILOVERCTL]
        if socket_arg:
            argv += ["-s", self.socket_path]
        argv += [str(a) for a in args]
        cp = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                            env=self.child_env(env), cwd="/", timeout=timeout)
        out = cp.stdout.decode("utf-8", "replace")
        err = cp.stderr.decode("utf-8", "replace")
        if check is not None and cp.returncode != check:
            raise AssertionError("failoverctl %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(argv[1:]), cp.returncode, check, out, err))
        return cp.returncode, out, err

    def check_config(self, extra_args=None, env=None, defines=None, timeout=10.0):
        """Runs `failoverd -n -c FILE [-D]... [extra]`; returns (rc, out, err)."""
        argv = [FAILOVERD, "-n", "-c", self.conf_path]
        for k, v in (self.defines if defines is None else defines).items():
            argv += ["-D", "%s=%s" % (k, v)]
        argv += list(extra_args or [])
        cp = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                            env=self.child_env(env), cwd="/", timeout=timeout)
        return (cp.returncode, cp.stdout.decode("utf-8", "replace"),
                cp.stderr.decode("utf-8", "replace"))


# The one-shot client run as another uid: argv[1] = socket, argv[2] = JSON
# list of request lines; prints a JSON list of replies (None where the
# daemon closed the connection or did not answer in time).
_CLIENT_CODE = r"""
import json, socket, sys
path, reqs = sys.argv[1], json.loads(sys.argv[2]) * int(sys.argv[3])
out = []
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
except OSError as e:
    print(json.dumps({"connect_error": str(e)}))
    sys.exit(0)
buf = b""
for r in reqs:
    s.sendall(r.encode() + b"\n")
    while b"\n" not in buf:
        try:
            c = s.recv(65536)
        except OSError:
            c = b""
        if not c:
            break
        buf += c
    if b"\n" not in buf:
        out.append(None)
        break
    line, buf = buf.split(b"\n", 1)
    out.append(json.loads(line))
print(json.dumps({"replies": out}))
"""


def run_as(socket_path, requests, uid=65534, gid=65534, groups=None, timeout=20.0,
           repeat=1):
    """Sends requests (objects or raw lines; the list `repeat` times) one
    after the other on one connection as uid:gid (supplementary groups
    `groups`, default none) and returns the list of replies. Needs root
    (see require_root)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in requests]
    argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid]
    if groups:
        argv.append("--groups=" + ",".join(str(g) for g in groups))
    else:
        argv.append("--clear-groups")
    argv += [sys.executable, "-c", _CLIENT_CODE, socket_path, json.dumps(lines),
             str(repeat)]
    cp = subprocess.run(argv, capture_output=True, cwd="/", timeout=timeout,
                        env=dict(BASE_ENV, HOME="/", PYTHONDONTWRITEBYTECODE="1"))
    if cp.returncode != 0:
        raise AssertionError("client as uid %d failed (%d): %s"
                             % (uid, cp.returncode, cp.stderr.decode(errors="replace")))
    res = json.loads(cp.stdout)
    if "connect_error" in res:
        raise AssertionError("uid %d could not connect to %s: %s"
                             % (uid, socket_path, res["connect_error"]))
    return res["replies"]


class DaemonTestCase(unittest.TestCase):
    """A TestCase with start_daemon(): a started, ready Daemon cleaned up
    after the test whatever happens. Skips when failoverd is not built."""

    def setUp(self):
        if not os.path.exists(FAILOVERD):
            self.skipTest("%s is not built" % FAILOVERD)

    def make_daemon(self, config=None, **kw):
        d = Daemon(config, **kw)
        self.addCleanup(d.cleanup)
        return d

    def start_daemon(self, config=None, timeout=10.0, **kw):
        d = self.make_daemon(config, **kw)
        d.start(timeout=timeout)
        return d

    def assertOk(self, reply, msg=None):
        self.assertIsInstance(reply, dict, msg)
        self.assertIs(reply.get("ok"), True, msg or "reply not ok: %r" % (reply,))
        self.assertIn("result", reply)
        return reply["result"]

    def assertError(self, reply, code, msg=None):
        self.assertIsInstance(reply, dict, msg)
        self.assertIs(reply.get("ok"), False, msg or "expected %s, got %r" % (code, reply))
        err = reply.get("error")
        self.assertIsInstance(err, dict, "error object missing: %r" % (reply,))
        self.assertEqual(err.get("code"), code, msg or "wrong error code in %r" % (reply,))
        self.assertIsInstance(err.get("message"), str)
        self.assertTrue(err["message"], "empty error message in %r" % (reply,))
        return err


def main():
    """unittest.main() that runs tests quietly unless -v; for test files."""
    unittest.main(verbosity=2)
