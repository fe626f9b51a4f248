"""Servers for the fakes that never print a traceback.

socketserver's handle_error prints a traceback for every exception a
handler raises; a client that goes away mid-reply (failoverd cancelling a
request, a demo stopped with ^C) is a normal event for a fake, not an
error. Connection errors are ignored; anything else is one line on stderr.
"""

import errno
import socket
import socketserver
import sys
from http.server import ThreadingHTTPServer

GONE = (errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED, errno.ENOTCONN,
        errno.ESHUTDOWN, errno.EBADF)


def client_gone(exc):
    """True for the ways a client that went away shows up."""
    return (isinstance(exc, (ConnectionError, socket.timeout, TimeoutError))
            or (isinstance(exc, OSError) and exc.errno in GONE))


class QuietMixin:
    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if client_gone(exc):
            return
        try:
            sys.stderr.write("%s: %s: %s\n" % (type(self).__name__,
                                               type(exc).__name__, exc))
        except Exception:  # stderr itself may be gone at exit
            pass


class QuietThreadingHTTPServer(QuietMixin, ThreadingHTTPServer):
    daemon_threads = True


class QuietThreadingTCPServer(QuietMixin, socketserver.ThreadingTCPServer):
    pass


def run_main(main):
    """Runs a fake's main() as a program: ^C (SIGINT) and SIGTERM end it
    with 130 and 143 and no traceback, wherever they arrive (also while the
    fake stops); a closed stdout is not worth a traceback either."""
    import signal

    def stop(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    try:
        return main()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
