/*
 * failoverctl's connection to the daemon: see ctl.h.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "output.h"
#include "proto.h"
#include "util.h"

/* Paths made here live as long as the program (see failoverctl.c). */
static char *volatile owned_status;

/* Connection. */

static int
ctl_poll(struct ctl *c, short events)
{
	struct pollfd pfd = {c->fd, events, 0};
	int64_t left;
	int rv;

	for (;;) {
		left = c->deadline < 0 ? -1 : c->deadline - util_mono_ms();
		if (c->deadline >= 0 && left < 0)
			left = 0;
		rv = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rv > 0)
			return 0;
		if (rv == 0 && left >= 0 && util_mono_ms() >= c->deadline)
			return -1; /* timed out */
		if (rv == -1 && errno != EINTR)
			die(EXIT_UNREACHABLE, "%s: poll: %s", c->path, strerror(errno));
	}
}

static void __attribute__((noreturn)) ctl_timeout(struct ctl *c)
{
	char span[32];

	die(EXIT_UNREACHABLE, "no reply from %s within %s (is failoverd stuck? see -t)", c->path,
	    output_span(c->timeout_ms, span, sizeof(span)));
}

static const char *
group_name(gid_t gid, char *buf, size_t len)
{
	struct group *gr = getgrgid(gid);

	if (gr != NULL)
		return gr->gr_name;
	snprintf(buf, len, "%ld", (long)gid);
	return buf;
}

/*
 * EACCES on connect: who we are and what would let us in. The first
 * directory on the way that this user may not pass is to blame, else the
 * socket itself (the daemon's SOCKET_GROUP).
 */
static void __attribute__((noreturn)) die_access(const char *path, int err)
{
	char *dir = xstrdup(path), *p, gbuf[32], groups[256] = "";
	gid_t list[64];
	struct stat st;
	int n = getgroups(64, list);

	for (int i = 0; i < n; i++) {
		if (i > 0)
			strlcat(groups, ",", sizeof(groups));
		strlcat(groups, group_name(list[i], gbuf, sizeof(gbuf)), sizeof(groups));
	}
	fflush(stdout);
	fprintf(stderr,
	    "failoverctl: cannot connect to %s: %s; failoverctl runs as uid %ld gid %ld (%s), "
	    "groups %s\n",
	    path, strerror(err), (long)geteuid(), (long)getegid(),
	    group_name(getegid(), gbuf, sizeof(gbuf)), n > 0 ? groups : "(none)");
	/* Each ancestor, from the top: the first one we cannot pass. */
	for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (access(dir, X_OK) == -1 && stat(dir, &st) == 0) {
			fprintf(stderr, "failoverctl: the directory %s (group %s, mode %04o) ", dir,
			    group_name(st.st_gid, gbuf, sizeof(gbuf)),
			    (unsigned)(st.st_mode & 07777));
			if (st.st_mode & 0010)
				fprintf(stderr,
				    "lets only its owner and group %s through: is this user in "
				    "group %s (the daemon's SOCKET_GROUP)?\n",
				    group_name(st.st_gid, gbuf, sizeof(gbuf)),
				    group_name(st.st_gid, gbuf, sizeof(gbuf)));
			else
				fprintf(stderr,
				    "lets no group through: failoverd gives a directory it creates "
				    "SOCKET_GROUP's group and mode 0750 but leaves an existing one as "
				    "it is (chgrp SOCKET_GROUP %s; chmod 0750 %s)\n",
				    dir, dir);
			free(dir);
			exit(EXIT_UNREACHABLE);
		}
		*p = '/';
	}
	free(dir);
	if (stat(path, &st) == 0)
		die(EXIT_UNREACHABLE,
		    "the socket %s is group %s, mode %04o: only root, the daemon's user and "
		    "members of group %s (the daemon's SOCKET_GROUP) may connect",
		    path, group_name(st.st_gid, gbuf, sizeof(gbuf)), (unsigned)(st.st_mode & 07777),
		    group_name(st.st_gid, gbuf, sizeof(gbuf)));
	die(EXIT_UNREACHABLE, "is this user in the daemon's SOCKET_GROUP?");
}

/*
 * STATUS_FILE for `status` without a daemon: -S, else the socket's path with
 * ".status" for ".sock" (the daemon's defaults, also for -i NAME) when -s or
 * -i chose the socket, else $FAILOVERD_STATUS_FILE, else the same rule for
 * the socket. NULL when none applies.
 */
const char *
status_file_path(const char *Sflag, bool socket_chosen, const char *sock)
{
	const char *env;
	size_t n = strlen(sock);

	if (Sflag != NULL)
		return Sflag;
	if (!socket_chosen && (env = getenv("FAILOVERD_STATUS_FILE")) != NULL && *env != '\0')
		return env;
	if (n < 5 || strcmp(sock + n - 5, ".sock") != 0)
		return NULL;
	return owned_status = xasprintf("%.*s.status", (int)(n - 5), sock);
}

/*
 * `status` when nothing answers on the socket: the last STATUS_FILE and how
 * old it is, like `systemctl status` of a dead unit; exits 3 either way.
 */
static void __attribute__((noreturn)) status_offline(struct ctl *c, int err)
{
	json_object *st = NULL, *v;
	const char *written = NULL, *stopped = NULL;
	int64_t written_ms = -1, stopped_ms = -1, now = util_now_ms();
	char *text = NULL, span[32];
	size_t len;
	FILE *note;

	if (c->status_file == NULL)
		die(EXIT_UNREACHABLE, "cannot connect to %s: %s (is failoverd running?)", c->path,
		    strerror(err));
	errno = 0;
	if ((text = util_read_file(c->status_file, 16 * 1024 * 1024, &len)) == NULL)
		die(EXIT_UNREACHABLE,
		    "cannot connect to %s: %s (is failoverd running?); no last status either: %s: "
		    "%s",
		    c->path, strerror(err), c->status_file,
		    errno != 0 ? strerror(errno) : "cannot read it");
	st = parse_object(text, len);
	free(text);
	if (st == NULL)
		die(EXIT_UNREACHABLE,
		    "cannot connect to %s: %s (is failoverd running?); %s is not a status object",
		    c->path, strerror(err), c->status_file);
	if (json_object_object_get_ex(st, "written_at", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    util_time_parse(json_object_get_string(v), &written_ms) == 0)
		written = json_object_get_string(v);
	if (json_object_object_get_ex(st, "stopped", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    util_time_parse(json_object_get_string(v), &stopped_ms) == 0)
		stopped = json_object_get_string(v);
	/* With -j, stdout is the JSON alone: the note goes to stderr. */
	note = c->json ? stderr : stdout;
	fprintf(note, "%sdaemon not running; ", c->json ? "failoverctl: " : "");
	if (written != NULL)
		fprintf(note, "last status written %s ago at %s\n",
		    output_span(now - written_ms, span, sizeof(span)), written);
	else
		fprintf(note, "last status (it has no written_at time)\n");
	if (stopped != NULL)
		fprintf(note, "%sit stopped cleanly at %s (%s ago)\n",
		    c->json ? "failoverctl: " : "", stopped,
		    output_span(now - stopped_ms, span, sizeof(span)));
	else
		fprintf(note, "%sit did not stop cleanly (killed or crashed?)\n",
		    c->json ? "failoverctl: " : "");
	fprintf(note, "%s(cannot connect to %s: %s; the status is from %s)\n",
	    c->json ? "failoverctl: " : "", c->path, strerror(err), c->status_file);
	if (!c->json)
		fputc('\n', note);
	if (c->json)
		output_json(stdout, st);
	else
		output_status(stdout, st, written != NULL ? written_ms : now);
	json_object_put(st);
	flush_stdout();
	exit(EXIT_UNREACHABLE);
}

void
ctl_connect(struct ctl *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int64_t left;
	struct timeval tv;
	int err;

	strlcpy(sun.sun_path, c->path, sizeof(sun.sun_path));
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die(EXIT_UNREACHABLE, "socket: %s", strerror(errno));
	/* A Unix connect waits while the listen queue is full: bound it. */
	if (c->deadline >= 0) {
		left = c->deadline - util_mono_ms();
		if (left < 1)
			left = 1;
		tv = util_ms_tv(left);
		(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	while (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		err = errno;
		if (err == EINTR)
			continue;
		if ((err == EAGAIN || err == EINPROGRESS) && c->deadline >= 0)
			ctl_timeout(c);
		if ((err == ENOENT || err == ECONNREFUSED) && strcmp(c->cmd, "status") == 0)
			status_offline(c, err);
		if (err == ENOENT || err == ECONNREFUSED)
			die(EXIT_UNREACHABLE, "cannot connect to %s: %s (is failoverd running?)",
			    c->path, strerror(err));
		if (err == EACCES)
			die_access(c->path, err);
		die(EXIT_UNREACHABLE, "cannot connect to %s: %s", c->path, strerror(err));
	}
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) == -1)
		die(EXIT_UNREACHABLE, "fcntl: %s", strerror(errno));
}

/* Sends all of line. 0, or -1 with errno when the daemon went away. */
int
ctl_send(struct ctl *c, const char *line, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if (ctl_poll(c, POLLOUT) == -1)
			ctl_timeout(c);
		n = send(c->fd, line, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		line += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The next non-empty line, NUL-terminated in place, valid until the next
 * call. 1 with a line, 0 at EOF; dies on timeout or error.
 */
int
ctl_read_line(struct ctl *c, char **linep, size_t *lenp)
{
	char *nl;
	ssize_t n;

	/* Drop what the previous call handed out. */
	if (c->consumed > 0) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->scanned = 0;
		c->consumed = 0;
	}
	for (;;) {
		while (c->len > c->scanned &&
		    (nl = memchr(c->buf + c->scanned, '\n', c->len - c->scanned)) != NULL) {
			size_t len = (size_t)(nl - c->buf);

			if (len > 0 && c->buf[len - 1] == '\r')
				len--;
			if (len == 0) { /* empty lines are ignored */
				size_t skip = (size_t)(nl - c->buf) + 1;

				memmove(c->buf, c->buf + skip, c->len - skip);
				c->len -= skip;
				c->scanned = 0;
				continue;
			}
			c->buf[len] = '\0';
			c->consumed = (size_t)(nl - c->buf) + 1;
			*linep = c->buf;
			*lenp = len;
			return 1;
		}
		c->scanned = c->len;
		if (c->len > MAX_REPLY_LINE)
			die(EXIT_FAILED, "%s: a line from failoverd is longer than %d bytes",
			    c->path, MAX_REPLY_LINE);
		if (c->cap - c->len < 65536) {
			c->cap = c->cap == 0 ? 131072 : c->cap * 2;
			c->buf = xrealloc(c->buf, c->cap);
		}
		if (ctl_poll(c, POLLIN) == -1)
			ctl_timeout(c);
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n == 0) {
			if (c->len > 0) {
				/* A last line without its newline still counts. */
				c->buf[c->len] = '\0';
				*linep = c->buf;
				*lenp = c->len;
				c->consumed = c->len;
				return 1;
			}
			return 0;
		}
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET)
				return 0;
			die(EXIT_UNREACHABLE, "%s: %s", c->path, strerror(errno));
		}
		c->len += (size_t)n;
	}
}

/* A JSON object of any size (replies may exceed PROTO_MAX_LINE); NULL if not. */
json_object *
parse_object(const char *line, size_t len)
{
	json_tokener *tok;
	json_object *obj;

	if (len <= PROTO_MAX_LINE)
		return proto_parse_object(line, len);
	if (memchr(line, '\0', len) != NULL || len > INT_MAX)
		return NULL;
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	if (obj != NULL &&
	    (json_tokener_get_error(tok) != json_tokener_success || tok->char_offset < (int)len ||
	        !json_object_is_type(obj, json_type_object))) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

void
flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno == EPIPE)
			exit(EXIT_FAILED);
		die(EXIT_FAILED, "stdout: %s", strerror(errno));
	}
}

/* After a successful events reply: event lines until EOF. */
int
ctl_events(struct ctl *c, bool follow)
{
	json_object *line_obj, *ev;
	const char *type;
	size_t len;
	char *line, *text;

	c->deadline = -1;
	while (ctl_read_line(c, &line, &len) == 1) {
		if ((line_obj = parse_object(line, len)) == NULL ||
		    !json_object_object_get_ex(line_obj, "event", &ev) ||
		    !json_object_is_type(ev, json_type_object)) {
			fprintf(stderr, "failoverctl: %s: ignoring a line that is not an event\n",
			    c->path);
			json_object_put(line_obj);
			continue;
		}
		if (c->json)
			output_json(stdout, ev);
		type = json_object_get_string(json_object_object_get(ev, "type"));
		if (type != NULL && strcmp(type, "overflow") == 0) {
			json_object_put(line_obj);
			die(EXIT_FAILED,
			    "events: fell more than 1 MiB behind; failoverd dropped this subscriber "
			    "(overflow). Events were lost; subscribe again (-n BACKLOG to catch up)");
		}
		if (!c->json) {
			if ((text = output_event_line(ev)) == NULL)
				die(EXIT_FAILED, "out of memory");
			printf("%s\n", text);
			free(text);
		}
		json_object_put(line_obj);
		flush_stdout();
	}
	if (follow)
		die(EXIT_UNREACHABLE, "%s: failoverd closed the connection", c->path);
	return 0;
}
