/*
 * Crash detection (CONTRACT §10). This file owns both watches:
 *
 * - the process watch: PRIMARY_PID_FILE is read (a small local file: a
 *   plain read), its process opened as a pidfd (Linux >= 5.3) or watched
 *   with kqueue EVFILT_PROC (macOS), and that descriptor polled by the loop;
 * - the connection watch: one idle TCP connection to LOCAL_HEALTH_URL's host
 *   and port, resolved with evdns (never a blocking getaddrinfo), watched
 *   for EOF or an error.
 *
 * Either only calls the owner's callback, which runs a check; nothing here
 * counts as a failure.
 *
 * PID file rules (what is refused is reported once, as an `error` event
 * with what "pid-file", and retried once a second):
 * - the last path component must not be a symbolic link (O_NOFOLLOW): a link
 *   can point anywhere, e.g. at another service's PID file, and the watch
 *   would then follow the wrong process; directories on the way may be links;
 * - a regular file, not writable by others, at most 64 bytes, holding one
 *   decimal PID between 2 and 4194304 and nothing else but white space;
 *   PID 1 (init) and failoverd's own PID are refused;
 * - on Linux the process must not be younger than the file (start time
 *   from /proc later than the file's mtime + 2 s): a younger process reuses
 *   a PID that a stale file names, and is not the primary.
 *
 * PID reuse: once the pidfd is open it names that process for good, even
 * if the PID is reused later. The only window is between reading the file
 * and pidfd_open: so after opening, the start-time check is made (its
 * /proc reading is of the opened process as long as the pidfd is not yet
 * readable, which is checked after it) and the file is read again; a
 * different PID there means a restart raced the open, and it starts over.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif
#ifdef __APPLE__
#include <sys/event.h>
#endif

#include <curl/curl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "timer.h"
#include "util.h"
#include "watch.h"

#define WATCH_RETRY_MS 1000 /* PID file re-reads, reconnects: at most one a second */
#define PID_FILE_MAX 64
#define PID_YOUNGER_SLACK_S 2 /* /proc's btime has 1 s resolution */

struct watch {
	struct daemon *d;
	watch_fired_cb *cb;
	void *arg;

	/* The process watch. */
	char *pid_path; /* NULL: off */
	int pfd; /* pidfd (or kqueue), -1 when not attached */
	long pid; /* the process attached to */
	long exited; /* the last one that exited: its stale file is expected */
	struct event *ev_proc;
	struct event *ev_poll;
	char pid_problem[256]; /* reported, not yet cleared */

	/* The connection watch. */
	bool conn_on;
	char *url; /* LOCAL_HEALTH_URL the host and port came from */
	char host[256], port[8];
	int64_t timeout_ms; /* a connect attempt's limit: CHECK_TIMEOUT */
	struct evdns_base *dns;
	struct evdns_getaddrinfo_request *dreq;
	struct evutil_addrinfo *ai, *ai_next;
	int cfd;
	bool connected;
	bool conn_ever; /* connected once since the settings changed */
	struct event *ev_conn;
	struct event *ev_retry;
	int64_t last_attempt; /* mono */
	char conn_problem[256]; /* logged once */
};

/* --- PID files ----------------------------------------------------------------- */

int
watch_pid_parse(const char *text, long *pid, const char **why)
{
	const char *p = text;
	long v = 0;
	int digits = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '\0') {
		*why = "is empty";
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > WATCH_PID_MAX) {
			*why = "holds a number too large for a PID";
			return -1;
		}
		v = v * 10 + (*p - '0');
		digits++;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (digits == 0 || *p != '\0') {
		*why = "does not hold a PID (one decimal number)";
		return -1;
	}
	if (v > WATCH_PID_MAX) {
		*why = "holds a number too large for a PID";
		return -1;
	}
	if (v == 0) {
		*why = "holds PID 0";
		return -1;
	}
	if (v == 1) {
		*why = "holds PID 1 (init), which is never the primary";
		return -1;
	}
	*pid = v;
	return 0;
}

/* Reads the PID file: 0, or -1 with why (in buf). */
static int
pid_file_read(const char *path, long *pid, time_t *mtime, char *why, size_t len)
{
	char text[PID_FILE_MAX + 1];
	struct stat st;
	const char *perr;
	ssize_t n;
	int fd;

	/* O_NONBLOCK: a FIFO put in its place must not block the open. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		if (errno == ELOOP)
			snprintf(why, len, "is a symbolic link: refused (name the file itself)");
		else if (errno == ENOENT)
			snprintf(why, len, "does not exist (the primary is not running?)");
		else
			snprintf(why, len, "cannot be opened: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(why, len, "is not a regular file");
		close(fd);
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(why, len, "is writable by anyone: refused");
		close(fd);
		return -1;
	}
	if (st.st_size > PID_FILE_MAX) {
		snprintf(why, len, "is larger than %d bytes: not a PID file", PID_FILE_MAX);
		close(fd);
		return -1;
	}
	n = read(fd, text, PID_FILE_MAX);
	close(fd);
	if (n < 0) {
		snprintf(why, len, "cannot be read: %s", strerror(errno));
		return -1;
	}
	text[n] = '\0';
	if (strlen(text) != (size_t)n) {
		snprintf(why, len, "does not hold a PID (one decimal number)");
		return -1;
	}
	if (watch_pid_parse(text, pid, &perr) == -1) {
		snprintf(why, len, "%s", perr);
		return -1;
	}
	if (*pid == (long)getpid()) {
		snprintf(why, len, "holds failoverd's own PID");
		return -1;
	}
	*mtime = st.st_mtime;
	return 0;
}

#ifdef __linux__
/* The process's start on the wall clock (s), or -1 when unknown. */
static long long
proc_start_wall(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	long long btime = -1;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || hz <= 0)
		return -1;
	buf[n] = '\0';
	/* After "pid (comm) ": the comm may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* p + 1 is the space before field 3 (state); starttime is field 22. */
	p++;
	for (int field = 3; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, "%llu", &start) != 1)
		return -1;
	if ((f = fopen("/proc/stat", "re")) == NULL)
		return -1;
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (sscanf(buf, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	if (btime < 0)
		return -1;
	return btime + (long long)(start / (unsigned long long)hz);
}
#endif

/* A descriptor that becomes readable when pid exits; -1 with errno. */
static int
proc_open(long pid)
{
#if defined(__linux__) && defined(SYS_pidfd_open)
	return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#elif defined(__APPLE__)
	/* Untested here: a kqueue of its own, readable when NOTE_EXIT fires. */
	struct kevent kev;
	int kq = kqueue();

	if (kq == -1)
		return -1;
	(void)fcntl(kq, F_SETFD, FD_CLOEXEC);
	EV_SET(&kev, (uintptr_t)pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, NULL);
	if (kevent(kq, &kev, 1, NULL, 0, NULL) == -1) {
		int save = errno;

		close(kq);
		errno = save;
		return -1;
	}
	return kq;
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static bool
fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

static void
pid_report(struct watch *w, const char *why)
{
	if (strcmp(w->pid_problem, why) == 0)
		return; /* reported already */
	strlcpy(w->pid_problem, why, sizeof(w->pid_problem));
	daemon_error(w->d, "pid-file", "PRIMARY_PID_FILE %s %s; checking it again once a second",
	    w->pid_path, why);
}

static void
proc_detach(struct watch *w)
{
	if (w->ev_proc != NULL)
		event_free(w->ev_proc);
	w->ev_proc = NULL;
	if (w->pfd != -1)
		close(w->pfd);
	w->pfd = -1;
	w->pid = 0;
}

static void
proc_exit_cb(evutil_socket_t fd, short events, void *arg)
{
	struct watch *w = arg;
	char detail[160];
	long pid = w->pid;

	(void)fd;
	(void)events;
	snprintf(
	    detail, sizeof(detail), "the primary's process %ld (PRIMARY_PID_FILE) exited", pid);
	log_notice("watch: %s: checking now", detail);
	proc_detach(w);
	w->exited = pid;
	util_timer_in(w->ev_poll, WATCH_RETRY_MS);
	w->cb(w->arg, "exit", pid, detail);
}

/* One try at attaching; 0 when attached (or the process already gone and
 * reported as an exit), -1 when the file is to be read again later. */
static int
proc_attach(struct watch *w)
{
	char why[200];
	long pid, again;
	time_t mtime, mtime2;
	int fd;

	for (int tries = 0; tries < 3; tries++) {
		if (pid_file_read(w->pid_path, &pid, &mtime, why, sizeof(why)) == -1) {
			pid_report(w, why);
			return -1;
		}
		if ((fd = proc_open(pid)) == -1) {
			if (errno == ESRCH && pid == w->exited) {
				log_debug(
				    "watch: PRIMARY_PID_FILE still names %ld, which exited", pid);
				return -1;
			}
			if (errno == ENOSYS)
				snprintf(why, sizeof(why),
				    "cannot be watched: this system has no pidfd_open "
				    "(Linux 5.3 or later is needed)");
			else if (errno == ESRCH)
				snprintf(why, sizeof(why),
				    "names PID %ld, which is not running (a stale file)", pid);
			else
				snprintf(why, sizeof(why),
				    "names PID %ld, which cannot be watched: %s", pid,
				    strerror(errno));
			pid_report(w, why);
			return -1;
		}
#ifdef __linux__
		long long started = proc_start_wall(pid);

		if (started > (long long)mtime + PID_YOUNGER_SLACK_S && !fd_readable(fd)) {
			close(fd);
			snprintf(why, sizeof(why),
			    "names PID %ld, a process started after the file was written: "
			    "not the primary (a stale file whose PID was reused)",
			    pid);
			pid_report(w, why);
			return -1;
		}
#endif
		/* The file again: a restart between the read and the open? */
		if (pid_file_read(w->pid_path, &again, &mtime2, why, sizeof(why)) == 0 &&
		    again != pid) {
			close(fd);
			continue;
		}
		w->pfd = fd;
		w->pid = pid;
		w->ev_proc = event_new(event_get_base(w->ev_poll), fd, EV_READ, proc_exit_cb, w);
		if (w->ev_proc == NULL || event_add(w->ev_proc, NULL) == -1) {
			proc_detach(w);
			pid_report(w, "cannot be watched: no event");
			return -1;
		}
		if (w->pid_problem[0] != '\0')
			daemon_error_cleared(
			    w->d, "pid-file", "watching the primary's process %ld", pid);
		w->pid_problem[0] = '\0';
		log_info("watch: watching the primary's process %ld (%s)", pid, w->pid_path);
		return 0;
	}
	pid_report(w, "keeps changing: the primary restarts in a loop?");
	return -1;
}

static void
proc_poll_cb(evutil_socket_t fd, short events, void *arg)
{
	struct watch *w = arg;

	(void)fd;
	(void)events;
	if (w->pid_path == NULL || w->pfd != -1)
		return;
	if (proc_attach(w) == -1)
		util_timer_in(w->ev_poll, WATCH_RETRY_MS);
}

/* --- the connection ------------------------------------------------------------ */

static void conn_attempt(struct watch *);

static void conn_report(struct watch *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_report(struct watch *w, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, w->conn_problem) == 0)
		return; /* once, not once a second */
	strlcpy(w->conn_problem, msg, sizeof(w->conn_problem));
	log_warnx("watch: %s; trying again once a second", msg);
}

static void
conn_close(struct watch *w)
{
	if (w->ev_conn != NULL)
		event_free(w->ev_conn);
	w->ev_conn = NULL;
	if (w->cfd != -1)
		close(w->cfd);
	w->cfd = -1;
	w->connected = false;
}

static void
conn_retry(struct watch *w)
{
	int64_t wait = w->last_attempt + WATCH_RETRY_MS - util_mono_ms();

	if (w->ai != NULL)
		evutil_freeaddrinfo(w->ai);
	w->ai = w->ai_next = NULL;
	util_timer_in(w->ev_retry, wait < 0 ? 0 : wait);
}

static void
conn_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct watch *w = arg;
	char buf[512], detail[384];
	ssize_t n;

	(void)events;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0)
		return; /* the server said something unasked (e.g. a 408): ignored */
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n == 0)
		snprintf(detail, sizeof(detail),
		    "the connection to %s port %s was closed by the peer", w->host, w->port);
	else
		snprintf(detail, sizeof(detail), "the connection to %s port %s was reset (%s)",
		    w->host, w->port, strerror(errno));
	log_info("watch: %s: checking now", detail);
	conn_close(w);
	conn_retry(w);
	w->cb(w->arg, "closed", 0, detail);
}

static void
conn_up(struct watch *w)
{
	event_free(w->ev_conn);
	w->ev_conn =
	    event_new(event_get_base(w->ev_retry), w->cfd, EV_READ | EV_PERSIST, conn_read_cb, w);
	if (w->ev_conn == NULL || event_add(w->ev_conn, NULL) == -1) {
		conn_close(w);
		conn_report(w, "cannot watch the connection to %s port %s", w->host, w->port);
		conn_retry(w);
		return;
	}
	w->connected = true;
	if (w->conn_problem[0] != '\0' || !w->conn_ever)
		log_info("watch: connected to %s port %s%s", w->host, w->port,
		    w->conn_ever ? " again" : "");
	else
		log_debug("watch: connected to %s port %s", w->host, w->port);
	w->conn_problem[0] = '\0';
	w->conn_ever = true;
	evutil_freeaddrinfo(w->ai);
	w->ai = w->ai_next = NULL;
}

static void conn_try(struct watch *);

/* This address failed: the next one, or a retry later. */
static void
conn_failed(struct watch *w, int err)
{
	conn_close(w);
	if (w->ai_next != NULL) {
		conn_try(w);
		return;
	}
	conn_report(w, "cannot connect to %s port %s: %s", w->host, w->port,
	    err == ETIMEDOUT ? "timed out" : strerror(err));
	conn_retry(w);
}

static void
conn_connect_cb(evutil_socket_t fd, short events, void *arg)
{
	struct watch *w = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (events & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0)
		conn_failed(w, err);
	else
		conn_up(w);
}

static void
conn_keepalive(int fd)
{
	int on = 1;

	/* A remote host that dies sends no FIN: TCP keepalive ends the
	 * connection within about a minute, which then triggers a check. */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
#ifdef TCP_KEEPIDLE
	int idle = 30, intvl = 10, cnt = 3;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
#endif
}

static void
conn_try(struct watch *w)
{
	struct evutil_addrinfo *a = w->ai_next;
	struct timeval tv = util_ms_tv(w->timeout_ms);

	w->ai_next = a->ai_next;
	w->cfd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
	if (w->cfd == -1) {
		conn_failed(w, errno);
		return;
	}
	if (evutil_make_socket_nonblocking(w->cfd) == -1 ||
	    evutil_make_socket_closeonexec(w->cfd) == -1) {
		conn_failed(w, errno);
		return;
	}
	conn_keepalive(w->cfd);
	if (connect(w->cfd, a->ai_addr, a->ai_addrlen) == -1 && errno != EINPROGRESS) {
		conn_failed(w, errno);
		return;
	}
	w->ev_conn = event_new(event_get_base(w->ev_retry), w->cfd, EV_WRITE, conn_connect_cb, w);
	if (w->ev_conn == NULL || event_add(w->ev_conn, &tv) == -1)
		conn_failed(w, ENOMEM);
}

static void
conn_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct watch *w = arg;

	if (result == EVUTIL_EAI_CANCEL)
		return; /* watch_free or a new URL: w may be going */
	w->dreq = NULL;
	if (result != 0 || ai == NULL) {
		conn_report(w, "cannot resolve %s: %s", w->host, evutil_gai_strerror(result));
		conn_retry(w);
		return;
	}
	w->ai = w->ai_next = ai;
	conn_try(w);
}

static void
conn_attempt(struct watch *w)
{
	struct evutil_addrinfo hints;

	if (!w->conn_on || w->cfd != -1 || w->dreq != NULL)
		return;
	w->last_attempt = util_mono_ms();
	if (w->dns == NULL)
		w->dns = evdns_base_new(event_get_base(w->ev_retry),
		    EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (w->dns == NULL) {
		conn_report(w, "cannot set up name resolution (no /etc/resolv.conf?)");
		conn_retry(w);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* May call conn_resolved before it returns (literal addresses, /etc/hosts). */
	w->dreq = evdns_getaddrinfo(w->dns, w->host, w->port, &hints, conn_resolved, w);
}

static void
conn_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	conn_attempt(arg);
}

static void
conn_stop(struct watch *w)
{
	if (w->dreq != NULL)
		evdns_getaddrinfo_cancel(w->dreq);
	w->dreq = NULL;
	conn_close(w);
	if (w->ai != NULL)
		evutil_freeaddrinfo(w->ai);
	w->ai = w->ai_next = NULL;
	evtimer_del(w->ev_retry);
	w->conn_problem[0] = '\0';
	w->conn_ever = false;
}

/* Host and port of url (http or https; the port the scheme implies when
 * none is given). -1 when it cannot be parsed. */
static int
url_host_port(const char *url, char *host, size_t hlen, char *port, size_t plen)
{
	CURLU *u = curl_url();
	char *h = NULL, *p = NULL;
	int rc = -1;

	if (u == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		size_t n = strlen(h);

		/* An IPv6 literal comes bracketed. */
		if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
			h[n - 1] = '\0';
			memmove(h, h + 1, n - 1);
		}
		if (strlcpy(host, h, hlen) < hlen && strlcpy(port, p, plen) < plen)
			rc = 0;
	}
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

/* --- life cycle ------------------------------------------------------------------ */

static void
watch_apply(struct watch *w, bool first)
{
	const struct config *cfg = w->d->cfg;
	bool pid_same = (w->pid_path == NULL && cfg->primary_pid_file == NULL) ||
	    (w->pid_path != NULL && cfg->primary_pid_file != NULL &&
	        strcmp(w->pid_path, cfg->primary_pid_file) == 0);
	bool conn_same = w->conn_on == cfg->watch_connection &&
	    (!w->conn_on || strcmp(w->url, cfg->local_health_url) == 0);

	w->timeout_ms = cfg->check_timeout_ms;
	if (first || !pid_same) {
		proc_detach(w);
		evtimer_del(w->ev_poll);
		if (w->pid_problem[0] != '\0')
			daemon_error_cleared(w->d, "pid-file", "PRIMARY_PID_FILE changed");
		w->pid_problem[0] = '\0';
		w->exited = 0;
		free(w->pid_path);
		w->pid_path = cfg->primary_pid_file != NULL ? xstrdup(cfg->primary_pid_file) : NULL;
		if (w->pid_path != NULL)
			util_timer_in(w->ev_poll, 0);
	}
	if (first || !conn_same) {
		conn_stop(w);
		free(w->url);
		w->url = NULL;
		w->conn_on = false;
		if (cfg->watch_connection &&
		    url_host_port(cfg->local_health_url, w->host, sizeof(w->host), w->port,
		        sizeof(w->port)) == 0) {
			w->conn_on = true;
			w->url = xstrdup(cfg->local_health_url);
			util_timer_in(w->ev_retry, 0);
		} else if (cfg->watch_connection)
			log_warnx(
			    "watch: no host and port in LOCAL_HEALTH_URL: no connection watch");
	}
}

struct watch *
watch_new(struct daemon *d, watch_fired_cb *cb, void *arg)
{
	struct watch *w = xcalloc(1, sizeof(*w));

	w->d = d;
	w->cb = cb;
	w->arg = arg;
	w->pfd = -1;
	w->cfd = -1;
	w->ev_poll = evtimer_new(d->base, proc_poll_cb, w);
	w->ev_retry = evtimer_new(d->base, conn_retry_cb, w);
	if (w->ev_poll == NULL || w->ev_retry == NULL)
		fatalx("cannot set up the watches");
	watch_apply(w, true);
	return w;
}

void
watch_reconfigure(struct watch *w)
{
	if (w != NULL)
		watch_apply(w, false);
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	proc_detach(w);
	conn_stop(w);
	if (w->dns != NULL)
		evdns_base_free(w->dns, 0);
	event_free(w->ev_poll);
	event_free(w->ev_retry);
	free(w->pid_path);
	free(w->url);
	free(w);
}
