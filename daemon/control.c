/*
 * The control socket (contract §5): the listening socket and its hygiene,
 * one connection object per client with one teardown path, line framing
 * and backpressure, peer credentials, replies, and `events` subscribers
 * (fed by the daemon's subscription to the event stream).
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "control.h"
#include "events.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

#define IDLE_TIMEOUT_S 60
#define OVERFLOW_BYTES (1024 * 1024)
/* Replies a peer has not read yet: over HIGH, its requests wait (reading
 * stops) until the kernel took all but LOW. A peer that pipelines and never
 * reads cannot make the daemon buffer without bound (a 2-byte bad line gets
 * a ~90-byte reply). */
#define REPLY_HIGH_BYTES (256 * 1024)
#define REPLY_LOW_BYTES (64 * 1024)
#define MAX_GROUPS 256

struct conn {
	struct control *ctl;
	struct bufferevent *bev;
	struct conn *next, *prev;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups;
	int ngroups;
	bool admin;
	struct request *pending; /* the request being handled */
	bool subscribed;
	bool closing; /* drain output, then close */
	bool processing; /* inside conn_process: no recursion */
	bool throttled; /* replies piled up unread: not reading */
	struct evfilter filter;
};

struct control {
	struct daemon *d;
	char *path;
	int fd;
	struct event *ev_accept;
	struct event *ev_backoff;
	struct conn *conns;
	int nconns;
	bool have_admin_gid;
	gid_t admin_gid;
	struct stat st; /* of the socket file we created, to unlink only ours */
};

static void conn_free(struct conn *);
static void conn_process(struct conn *);

static void
control_groups(struct control *ctl, char *err, size_t errlen)
{
	const struct config *cfg = ctl->d->cfg;
	struct group *gr;

	ctl->have_admin_gid = false;
	if (cfg->admin_group != NULL) {
		if ((gr = getgrnam(cfg->admin_group)) == NULL)
			snprintf(err, errlen, "ADMIN_GROUP: no group named %s", cfg->admin_group);
		else {
			ctl->admin_gid = gr->gr_gid;
			ctl->have_admin_gid = true;
		}
	}
	if (cfg->socket_group != NULL && ctl->fd != -1) {
		if ((gr = getgrnam(cfg->socket_group)) == NULL)
			snprintf(err, errlen, "SOCKET_GROUP: no group named %s", cfg->socket_group);
		else if (chown(ctl->path, (uid_t)-1, gr->gr_gid) == -1)
			snprintf(
			    err, errlen, "SOCKET_GROUP: chown %s: %s", ctl->path, strerror(errno));
	}
}

/* 1 when a live daemon answers on path, 0 when the file is stale, -1 error. */
static int
socket_in_use(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(
		    err, errlen, "%s exists and is not a socket: refusing to replace it", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen,
		    "another failoverd is already listening on %s: refusing to start", path);
		return 1;
	}
	return 0; /* ECONNREFUSED and the like: nobody is there */
}

int
control_mkdir(const struct config *cfg, char *err, size_t errlen)
{
	struct group *gr;
	gid_t gid = (gid_t)-1;

	if (cfg->socket_group != NULL) {
		if ((gr = getgrnam(cfg->socket_group)) == NULL) {
			snprintf(err, errlen, "SOCKET_GROUP: no group named %s", cfg->socket_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (util_mkdir_parents_group(cfg->socket_path, 0750, gid) == -1) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", cfg->socket_path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

struct control *
control_new(struct daemon *d, char *err, size_t errlen)
{
	struct control *ctl = xcalloc(1, sizeof(*ctl));
	struct sockaddr_un sun;
	mode_t old;
	int rc;

	err[0] = '\0';
	ctl->d = d;
	ctl->fd = -1;
	ctl->path = xstrdup(d->cfg->socket_path);
	if (strlen(ctl->path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "SOCKET: path too long: %s", ctl->path);
		goto fail;
	}
	if (util_mkdir_parents(ctl->path, 0750) == -1) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", ctl->path,
		    strerror(errno));
		goto fail;
	}
	rc = socket_in_use(ctl->path, err, errlen);
	if (rc != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", ctl->path, strerror(errno));
		goto fail;
	}
	/* Stale (or absent): remove and bind. */
	if (unlink(ctl->path) == -1 && errno != ENOENT) {
		snprintf(
		    err, errlen, "cannot remove stale socket %s: %s", ctl->path, strerror(errno));
		goto fail;
	}
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, ctl->path, sizeof(sun.sun_path));
	old = umask(0117);
	rc = bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		snprintf(err, errlen, "cannot bind %s: %s", ctl->path, strerror(errno));
		goto fail;
	}
	if (chmod(ctl->path, 0660) == -1 || listen(ctl->fd, 512) == -1 ||
	    lstat(ctl->path, &ctl->st) == -1) {
		snprintf(err, errlen, "cannot set up %s: %s", ctl->path, strerror(errno));
		unlink(ctl->path);
		goto fail;
	}
	control_groups(ctl, err, errlen);
	if (err[0] != '\0') {
		unlink(ctl->path);
		goto fail;
	}
	return ctl;
fail:
	if (ctl->fd != -1)
		close(ctl->fd);
	free(ctl->path);
	free(ctl);
	return NULL;
}

void
control_reconfigure(struct control *ctl)
{
	char err[256] = "";

	control_groups(ctl, err, sizeof(err));
	if (err[0] != '\0')
		log_warnx("%s", err);
}

int
control_connections(const struct control *ctl)
{
	return ctl->nconns;
}

static void
conn_peer(struct conn *c, int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct control *ctl = c->ctl;

	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
		c->uid = uc.uid;
		c->gid = uc.gid;
		c->pid = uc.pid;
	}
#ifdef SO_PEERGROUPS
	{
		gid_t buf[MAX_GROUPS];
		socklen_t glen = sizeof(buf);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buf, &glen) == 0 && glen > 0) {
			c->ngroups = (int)(glen / sizeof(gid_t));
			c->groups = xcalloc((size_t)c->ngroups, sizeof(gid_t));
			memcpy(c->groups, buf, (size_t)c->ngroups * sizeof(gid_t));
		}
	}
#endif
	c->admin = c->uid == 0 || c->uid == geteuid();
	if (!c->admin && ctl->have_admin_gid) {
		if (c->gid == ctl->admin_gid)
			c->admin = true;
		for (int i = 0; i < c->ngroups && !c->admin; i++)
			if (c->groups[i] == ctl->admin_gid)
				c->admin = true;
	}
}

static void
conn_close_later(struct conn *c)
{
	/* Drain what is queued, read nothing more. */
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void
conn_send(struct conn *c, char *line)
{
	bufferevent_write(c->bev, line, strlen(line));
	free(line);
}

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	/* A subscriber's connection carries only events: input is discarded. */
	if (c->subscribed) {
		struct evbuffer *in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	conn_process(c);
}

static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	size_t out = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->closing) {
		if (out == 0)
			conn_free(c);
		return;
	}
	/* Down to the low watermark: take the requests that waited. */
	if (!c->subscribed && c->pending == NULL && c->throttled) {
		c->throttled = false;
		bufferevent_enable(bev, EV_READ);
		conn_process(c);
	}
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		if (c->subscribed || c->pending != NULL) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		log_debug("control: closing idle connection (uid %ld)", (long)c->uid);
		conn_free(c);
		return;
	}
	/* EOF, error, or a write timeout: the peer is gone or stuck. */
	conn_free(c);
}

static void
conn_free(struct conn *c)
{
	struct control *ctl;

	if (c == NULL)
		return;
	ctl = c->ctl;
	if (c->pending != NULL)
		c->pending->conn = NULL; /* the handler still replies; into nothing */
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ctl->nconns--;
	bufferevent_free(c->bev);
	free(c->filter.types);
	free(c->groups);
	free(c);
}

static void
conn_line(struct conn *c, const char *line, size_t len)
{
	struct request *r;
	json_object *req, *id;
	const char *cmd;
	char msg[256];
	enum proto_err e;

	e = proto_parse_request(line, len, &req, &cmd, &id, msg, sizeof(msg));
	if (e != PROTO_OK) {
		conn_send(c, proto_reply_err(id, e, msg));
		json_object_put(id);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->conn = c;
	r->ctl = c->ctl;
	r->req = req;
	r->id = id;
	r->uid = c->uid;
	r->gid = c->gid;
	r->pid = c->pid;
	c->pending = r;
	c->ctl->d->dispatch(c->ctl->d, r, cmd, c->admin);
}

static void
conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (c->processing)
		return;
	c->processing = true;
	while (!c->closing && c->pending == NULL && !c->subscribed) {
		struct evbuffer_ptr p;
		size_t eol_len, have = evbuffer_get_length(in);
		char *line;

		if (have == 0)
			break;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > REPLY_HIGH_BYTES) {
			c->throttled = true;
			break;
		}
		p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if ((p.pos == -1 && have > PROTO_MAX_LINE) ||
		    (p.pos != -1 && (size_t)p.pos > PROTO_MAX_LINE)) {
			conn_send(c,
			    proto_reply_err(
			        NULL, PROTO_LINE_TOO_LONG, "request line over 65536 bytes"));
			c->processing = false;
			conn_close_later(c);
			return;
		}
		if (p.pos == -1)
			break;
		line = xcalloc(1, (size_t)p.pos + 1);
		evbuffer_remove(in, line, (size_t)p.pos);
		evbuffer_drain(in, eol_len);
		{
			size_t len = (size_t)p.pos;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			/* Empty lines (and lone white space) are ignored. */
			size_t i = 0;
			while (i < len && (line[i] == ' ' || line[i] == '\t'))
				i++;
			if (i < len)
				conn_line(c, line, len);
		}
		free(line);
	}
	c->processing = false;
	/* While a request runs, stop reading: replies come in order, and a
	 * pipelining peer cannot make us buffer without bound. */
	if (c->pending != NULL || c->throttled)
		bufferevent_disable(c->bev, EV_READ);
}

static void control_accept(evutil_socket_t fd, short what, void *arg);

static void
control_backoff_done(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;

	event_add(ctl->ev_accept, NULL);
}

static void
control_accept(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;
	struct timeval idle = {IDLE_TIMEOUT_S, 0}, wr = {IDLE_TIMEOUT_S, 0};

	for (int i = 0; i < 64; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: back off instead of spinning. */
				struct timeval tv = {1, 0};
				log_warn("control: accept");
				event_del(ctl->ev_accept);
				evtimer_add(ctl->ev_backoff, &tv);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("control: accept");
			return;
		}
		c = xcalloc(1, sizeof(*c));
		c->ctl = ctl;
		c->bev = bufferevent_socket_new(ctl->d->base, cfd, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL) {
			close(cfd);
			free(c);
			continue;
		}
		conn_peer(c, cfd);
		bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
		bufferevent_setwatermark(c->bev, EV_READ, 0, 4 * PROTO_MAX_LINE);
		bufferevent_setwatermark(c->bev, EV_WRITE, REPLY_LOW_BYTES, 0);
		bufferevent_set_timeouts(c->bev, &idle, &wr);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		c->next = ctl->conns;
		if (ctl->conns != NULL)
			ctl->conns->prev = c;
		ctl->conns = c;
		ctl->nconns++;
	}
}

void
control_start(struct control *ctl)
{
	ctl->ev_accept =
	    event_new(ctl->d->base, ctl->fd, EV_READ | EV_PERSIST, control_accept, ctl);
	ctl->ev_backoff = evtimer_new(ctl->d->base, control_backoff_done, ctl);
	event_add(ctl->ev_accept, NULL);
}

void
control_flush(struct control *ctl)
{
	if (ctl == NULL)
		return;
	/* What the socket takes now, without waiting: a subscriber that reads
	 * has room for the last lines; one that does not loses them. The
	 * bufferevent keeps its output's front frozen for itself; it is not
	 * used again after this. */
	for (struct conn *c = ctl->conns; c != NULL; c = c->next) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		evutil_socket_t fd = bufferevent_getfd(c->bev);

		evbuffer_unfreeze(out, 1);
		while (fd != -1 && evbuffer_get_length(out) > 0)
			if (evbuffer_write(out, fd) <= 0)
				break;
	}
}

void
control_free(struct control *ctl)
{
	struct stat st;

	if (ctl == NULL)
		return;
	while (ctl->conns != NULL)
		conn_free(ctl->conns);
	if (ctl->ev_accept != NULL)
		event_free(ctl->ev_accept);
	if (ctl->ev_backoff != NULL)
		event_free(ctl->ev_backoff);
	if (ctl->fd != -1)
		close(ctl->fd);
	/* Remove the socket only if it is still the one we made. */
	if (lstat(ctl->path, &st) == 0 && st.st_ino == ctl->st.st_ino &&
	    st.st_dev == ctl->st.st_dev)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}

static void
request_done(struct request *r)
{
	struct conn *c = r->conn;

	json_object_put(r->req);
	json_object_put(r->id);
	free(r);
	if (c == NULL)
		return;
	c->pending = NULL;
	if (c->closing || c->subscribed)
		return;
	bufferevent_enable(c->bev, EV_READ);
	/* Pipelined lines may already be buffered: handle them now. */
	conn_process(c);
}

bool
request_peer_alive(const struct request *r)
{
	return r->conn != NULL;
}

struct request *
request_internal(json_object *req, uid_t uid, request_sink_cb *sink, void *arg)
{
	struct request *r = xcalloc(1, sizeof(*r));

	r->req = json_object_get(req);
	r->uid = uid;
	r->gid = (gid_t)-1;
	r->pid = 0;
	r->sink = sink;
	r->sink_arg = arg;
	r->forwarded = true;
	return r;
}

void
request_reply(struct request *r, json_object *result)
{
	if (r->acted_by[0] != '\0' && json_object_is_type(result, json_type_object))
		json_object_object_add(result, "acted_by", json_object_new_string(r->acted_by));
	if (r->sink != NULL) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ok", json_object_new_boolean(1));
		json_object_object_add(o, "result", json_object_get(result));
		r->sink(o, r->sink_arg);
		json_object_put(o);
	}
	if (r->conn != NULL)
		conn_send(r->conn, proto_reply_ok(r->id, result));
	json_object_put(result);
	request_done(r);
}

void
request_error(struct request *r, enum proto_err code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->sink != NULL) {
		json_object *o = json_object_new_object(), *e = json_object_new_object();

		json_object_object_add(e, "code", json_object_new_string(proto_err_str(code)));
		json_object_object_add(e, "message", json_object_new_string(msg));
		json_object_object_add(o, "ok", json_object_new_boolean(0));
		json_object_object_add(o, "error", e);
		r->sink(o, r->sink_arg);
		json_object_put(o);
	}
	if (r->conn != NULL)
		conn_send(r->conn, proto_reply_err(r->id, code, msg));
	request_done(r);
}

static void
evrec_unref_cb(const void *data, size_t len, void *arg)
{
	evrec_unref(arg);
}

static void
conn_send_event(struct conn *c, struct evrec *rec)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (c->closing)
		return;
	if (evbuffer_get_length(out) > OVERFLOW_BYTES) {
		static const char overflow[] = "{\"event\":{\"type\":\"overflow\"}}\n";
		log_warnx("control: event subscriber (uid %ld, pid %ld) fell over 1 MiB "
		          "behind: dropped",
		    (long)c->uid, (long)c->pid);
		evbuffer_add(out, overflow, sizeof(overflow) - 1);
		conn_close_later(c);
		return;
	}
	evrec_ref(rec);
	if (evbuffer_add_reference(out, rec->line, rec->len, evrec_unref_cb, rec) == -1)
		evrec_unref(rec);
}

void
control_broadcast(struct control *ctl, struct evrec *rec)
{
	struct conn *c, *next;

	for (c = ctl->conns; c != NULL; c = next) {
		next = c->next; /* conn_send_event may close c */
		if (c->subscribed && evfilter_match(&c->filter, rec))
			conn_send_event(c, rec);
	}
}

void
request_subscribe(struct request *r, const struct evfilter *f, int backlog, bool follow)
{
	struct conn *c = r->conn;
	struct control *ctl = r->ctl;
	json_object *res;
	struct evrec **v;
	int n;

	if (c == NULL) {
		request_done(r);
		return;
	}
	c->filter.n = f->n;
	if (f->n > 0) {
		c->filter.types = xcalloc((size_t)f->n, EVENT_TYPE_LEN);
		memcpy(c->filter.types, f->types, (size_t)f->n * EVENT_TYPE_LEN);
	}
	res = json_object_new_object();
	json_object_object_add(res, "subscribed", json_object_new_boolean(1));
	json_object_object_add(
	    res, "last_seq", json_object_new_int64((int64_t)events_last_seq(ctl->d->events)));
	conn_send(c, proto_reply_ok(r->id, res));
	json_object_put(res);
	n = events_backlog(ctl->d->events, f, backlog, &v);
	/* No more requests on this connection: it carries events now. */
	c->pending = NULL;
	json_object_put(r->req);
	json_object_put(r->id);
	free(r);
	c->subscribed = true; /* before sending, so the overflow rule applies */
	for (int i = 0; i < n; i++) {
		conn_send_event(c, v[i]);
		evrec_unref(v[i]);
	}
	free(v);
	if (c->closing)
		return;
	if (!follow) {
		c->subscribed = false;
		conn_close_later(c);
		return;
	}
	bufferevent_enable(c->bev, EV_READ); /* to notice EOF */
}
