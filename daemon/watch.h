/*
 * Crash detection (CONTRACT §10): the process watch (PRIMARY_PID_FILE, a
 * pidfd on Linux, kqueue EVFILT_PROC on macOS) and the connection watch
 * (WATCH_CONNECTION: one idle TCP connection to LOCAL_HEALTH_URL's host and
 * port). A watch only says "look now": the owner runs a check; failing over
 * still takes FAILURE_THRESHOLD failed checks.
 */
#ifndef FOD_WATCH_H
#define FOD_WATCH_H

struct daemon;
struct watch;

/*
 * Called when the watched process exits (what "exit", pid > 0) or the watch
 * connection is reset or closed (what "closed", pid 0). detail is a
 * sentence for the `watch` event and the log.
 */
typedef void watch_fired_cb(void *arg, const char *what, long pid, const char *detail);

/* Reads d->cfg now and at each watch_reconfigure; starts watching at the
 * next loop pass. Never NULL. */
struct watch *watch_new(struct daemon *, watch_fired_cb *cb, void *arg);
/* After a reload: a half whose settings changed starts over. */
void watch_reconfigure(struct watch *);
/* NULL is fine. No callback after it. */
void watch_free(struct watch *);

/*
 * Parses a PID file's text: decimal digits with optional surrounding white
 * space, 2 ≤ pid ≤ WATCH_PID_MAX. 0 and *pid, or -1 with why (static text).
 * Pure; exposed for tests.
 */
#define WATCH_PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT */
int watch_pid_parse(const char *text, long *pid, const char **why);

#endif
