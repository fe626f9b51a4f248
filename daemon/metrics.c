/*
 * Prometheus metrics (contract §12), see metrics.h: the figures the engine
 * feeds (check durations, last good syncs), the text exposition rendered
 * from the status object, and the METRICS_LISTEN endpoint on evhttp.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* From a fast local endpoint to CHECK_TIMEOUT's default and beyond. */
const double metrics_buckets[METRICS_NBUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const char *const bucket_le[METRICS_NBUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30"};

/* Contract §2's states, in its order. */
static const char *const states[] = {
    "starting", "primary", "failing-over", "standby", "failing-back"};

#define HTTP_TIMEOUT_S 10
#define HTTP_MAX_HEADERS 8192
#define LISTEN_BACKLOG 16

void
metrics_observe_check(struct metrics *m, double seconds)
{
	int i;

	if (!(seconds >= 0)) /* NaN too */
		seconds = 0;
	for (i = 0; i < METRICS_NBUCKETS && seconds > metrics_buckets[i]; i++)
		;
	m->check_bucket[i]++;
	m->check_count++;
	m->check_sum += seconds;
}

void
metrics_sync_ok(struct metrics *m, bool push, int64_t wall_ms)
{
	m->sync_ok_ms[push ? 0 : 1] = wall_ms;
}

void
metrics_label_escape(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return;
	for (; *s != '\0'; s++) {
		const char *rep = NULL;
		char one[2] = {*s, '\0'};
		size_t rl;

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '"')
			rep = "\\\"";
		else if (*s == '\n')
			rep = "\\n";
		else
			rep = one;
		rl = strlen(rep);
		if (o + rl >= len)
			break; /* truncated, never half an escape */
		memcpy(buf + o, rep, rl);
		o += rl;
	}
	buf[o] = '\0';
}

/* status.a.b (b may be NULL), or NULL. */
static json_object *
jget(json_object *st, const char *a, const char *b)
{
	json_object *v = NULL;

	if (st == NULL || !json_object_object_get_ex(st, a, &v))
		return NULL;
	if (b != NULL && (v == NULL || !json_object_object_get_ex(v, b, &v)))
		return NULL;
	return v;
}

/* A number at st.a(.b), or NULL when absent or not a number. */
static json_object *
jnum(json_object *st, const char *a, const char *b)
{
	json_object *v = jget(st, a, b);

	return v != NULL &&
	        (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
	    ? v
	    : NULL;
}

static int64_t
jint(json_object *st, const char *a, const char *b)
{
	json_object *v = jnum(st, a, b);

	return v != NULL ? json_object_get_int64(v) : 0;
}

static double
jdouble(json_object *st, const char *a, const char *b)
{
	json_object *v = jnum(st, a, b);

	return v != NULL ? json_object_get_double(v) : 0;
}

static bool
jbool(json_object *st, const char *a, const char *b)
{
	json_object *v = jget(st, a, b);

	return v != NULL && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static void
head(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
gauge(FILE *fp, const char *name, const char *help, int64_t v)
{
	head(fp, name, "gauge", help);
	fprintf(fp, "%s %" PRId64 "\n", name, v);
}

static void
counter(FILE *fp, const char *name, const char *help, int64_t v)
{
	head(fp, name, "counter", help);
	fprintf(fp, "%s %" PRId64 "\n", name, v < 0 ? 0 : v);
}

char *
metrics_render(const struct metrics *m, json_object *st)
{
	char *out = NULL, lbl[256];
	size_t outlen = 0;
	FILE *fp = open_memstream(&out, &outlen);
	json_object *v;
	const char *state = "";
	int64_t total, failed;
	uint64_t cum = 0;

	if (fp == NULL)
		fatal("open_memstream");
	gauge(fp, "failoverd_up", "1 while failoverd runs and answers.", 1);

	head(fp, "failoverd_build_info", "gauge", "The running failoverd's version (always 1).");
	v = jget(st, "version", NULL);
	metrics_label_escape(v != NULL ? json_object_get_string(v) : "", lbl, sizeof(lbl));
	fprintf(fp, "failoverd_build_info{version=\"%s\"} 1\n", lbl);

	head(fp, "failoverd_state", "gauge",
	    "1 for the current state (starting, primary, failing-over, standby, failing-back), 0 "
	    "for the others.");
	if ((v = jget(st, "state", NULL)) != NULL && json_object_is_type(v, json_type_string))
		state = json_object_get_string(v);
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		fprintf(fp, "failoverd_state{state=\"%s\"} %d\n", states[i],
		    strcmp(state, states[i]) == 0);

	gauge(fp, "failoverd_paused", "1 while paused (no automatic checks or actions).",
	    jbool(st, "paused", NULL));
	gauge(fp, "failoverd_forced", "1 while the standby is active because of force-activate.",
	    jbool(st, "forced", NULL));
	gauge(fp, "failoverd_degraded",
	    "1 while the last activation, deactivation or pull failed and is retried or needs a "
	    "person.",
	    jbool(st, "degraded", NULL));
	if ((v = jget(st, "local", "healthy")) != NULL)
		gauge(fp, "failoverd_primary_healthy",
		    "The last check of the primary: 1 healthy, 0 not.", json_object_get_boolean(v));

	total = jint(st, "local", "checks_total");
	failed = jint(st, "local", "checks_failed");
	head(fp, "failoverd_checks_total", "counter",
	    "Checks of the primary since start, by result (ok, failed).");
	fprintf(fp, "failoverd_checks_total{result=\"ok\"} %" PRId64 "\n",
	    total > failed ? total - failed : 0);
	fprintf(
	    fp, "failoverd_checks_total{result=\"failed\"} %" PRId64 "\n", failed > 0 ? failed : 0);

	head(fp, "failoverd_check_duration_seconds", "histogram",
	    "How long checks of the primary took.");
	for (int i = 0; i <= METRICS_NBUCKETS; i++) {
		cum += m->check_bucket[i];
		fprintf(fp, "failoverd_check_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
		    i < METRICS_NBUCKETS ? bucket_le[i] : "+Inf", cum);
	}
	fprintf(fp, "failoverd_check_duration_seconds_sum %.9g\n", m->check_sum);
	fprintf(fp, "failoverd_check_duration_seconds_count %" PRIu64 "\n", m->check_count);

	counter(fp, "failoverd_failovers_total", "Failovers (activations of the standby), ever.",
	    jint(st, "counters", "failovers"));
	counter(fp, "failoverd_failbacks_total", "Failbacks (deactivations of the standby), ever.",
	    jint(st, "counters", "failbacks"));
	counter(
	    fp, "failoverd_events_total", "Events emitted, ever.", jint(st, "counters", "events"));
	gauge(fp, "failoverd_standby_active", "1 while the standby is active.",
	    jbool(st, "standby", "active"));
	counter(fp, "failoverd_standby_active_seconds_total",
	    "Seconds the standby has been active, ever.",
	    jint(st, "standby", "active_seconds_total"));
	head(fp, "failoverd_standby_estimated_cost_usd", "gauge",
	    "Estimated cost of the standby's active time so far (COST_PER_SECOND), USD.");
	fprintf(fp, "failoverd_standby_estimated_cost_usd %.9g\n",
	    jdouble(st, "standby", "estimated_cost_usd"));

	gauge(fp, "failoverd_sync_enabled", "1 when STATE_DIR sync is configured.",
	    jbool(st, "sync", "enabled"));
	head(fp, "failoverd_sync_last_success_timestamp_seconds", "gauge",
	    "When the last successful sync of each direction (push, pull) ended, Unix time; 0 = "
	    "none since start.");
	for (int i = 0; i < 2; i++)
		fprintf(fp,
		    "failoverd_sync_last_success_timestamp_seconds{direction=\"%s\"} %" PRId64
		    ".%03d\n",
		    i == 0 ? "push" : "pull", m->sync_ok_ms[i] / 1000,
		    (int)(m->sync_ok_ms[i] % 1000));

	gauge(fp, "failoverd_notify_pending", "Notifications waiting to be delivered.",
	    jint(st, "notify", "pending"));
	gauge(fp, "failoverd_uptime_seconds", "Seconds since this failoverd started.",
	    jint(st, "uptime_s", NULL));
	if ((v = jget(st, "coordination", "role")) != NULL &&
	    json_object_is_type(v, json_type_string)) {
		gauge(fp, "failoverd_leader",
		    "COORDINATOR=etcd: 1 while this monitor leads the pair, 0 otherwise.",
		    strcmp(json_object_get_string(v), "leader") == 0);
		gauge(fp, "failoverd_coordination_ok", "COORDINATOR=etcd: 1 while etcd answers.",
		    jbool(st, "coordination", "ok"));
	}

	if (fclose(fp) != 0 || out == NULL)
		fatal("cannot render the metrics");
	return out;
}

/* --- METRICS_LISTEN ------------------------------------------------------- */

struct metrics_server {
	int fd; /* until started; then the listener owns it */
	struct evhttp *http;
	metrics_text_cb *cb;
	void *arg;
};

struct metrics_server *
metrics_server_bind(const char *listen_on, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *why;
	struct metrics_server *ms;
	int fd, one = 1;

	if (config_listen_parse(listen_on, &ss, &sslen, &why) == -1) {
		snprintf(err, errlen, "METRICS_LISTEN %s: %s", listen_on, why);
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "METRICS_LISTEN %s: socket: %s", listen_on, strerror(errno));
		return NULL;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		snprintf(err, errlen, "METRICS_LISTEN %s: cannot listen: %s", listen_on,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	ms = xcalloc(1, sizeof(*ms));
	ms->fd = fd;
	return ms;
}

static void
serve(struct evhttp_request *req, void *arg)
{
	struct metrics_server *ms = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();
	char *text;

	/* One request per connection: a scrape holds nothing open. */
	evhttp_add_header(hdr, "Connection", "close");
	if (body == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_add_header(hdr, "Content-Type", "text/plain; charset=utf-8");
		evbuffer_add_printf(body, "not found: metrics are at /metrics\n");
		evhttp_send_reply(req, 404, "Not Found", body);
	} else {
		text = ms->cb(ms->arg);
		evhttp_add_header(hdr, "Content-Type", "text/plain; version=0.0.4");
		evbuffer_add(body, text, strlen(text));
		free(text);
		evhttp_send_reply(req, 200, "OK", body);
	}
	evbuffer_free(body);
}

int
metrics_server_start(
    struct metrics_server *ms, struct event_base *base, metrics_text_cb *cb, void *arg)
{
	struct evconnlistener *lis;

	ms->cb = cb;
	ms->arg = arg;
	if ((ms->http = evhttp_new(base)) == NULL)
		return -1;
	/* Bounded: an idle or slow connection is dropped after the timeout,
	 * requests are small GETs, and each connection carries one. */
	evhttp_set_timeout(ms->http, HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(ms->http, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(ms->http, 1024);
	evhttp_set_allowed_methods(ms->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(ms->http, serve, ms);
	lis = evconnlistener_new(
	    base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, ms->fd);
	if (lis == NULL)
		return -1;
	ms->fd = -1; /* the listener's now */
	if (evhttp_bind_listener(ms->http, lis) == NULL) {
		evconnlistener_free(lis);
		return -1;
	}
	return 0;
}

void
metrics_server_free(struct metrics_server *ms)
{
	if (ms == NULL)
		return;
	if (ms->http != NULL)
		evhttp_free(ms->http); /* and the listener, which closes the socket */
	if (ms->fd != -1)
		close(ms->fd);
	free(ms);
}
