/*
 * etcdc: drives daemon/etcd.c on a real event loop for the integration
 * tests. Reads one JSON command per line on stdin, runs them one at a time,
 * prints one JSON result line per command on stdout.
 *
 *   etcdc -e ENDPOINTS [-t TIMEOUT_MS] [-u USER -p PASSWORD_FILE] [-C CA_FILE]
 *         [-c CERT_FILE -k KEY_FILE]
 *
 * Commands:
 *   {"op":"grant","ttl":N}            {"op":"keepalive","id":N}
 *   {"op":"revoke","id":N}            {"op":"put","key":K,"value":V,"lease":N}
 *   {"op":"get","key":K,"prefix":B}   {"op":"delete","key":K,"prefix":B}
 *   {"op":"txn","compare":[{"key":K,"target":"create|mod|version|value",
 *        "result":"=|!=|>|<","n":N,"value":V}...],
 *    "success":[{"put":{"key","value","lease"}}|{"delete":{"key","prefix"}}|
 *               {"range":{"key","prefix"}}...],"failure":[...]}
 *   {"op":"burst","n":N,"cancel":K,"free":B}: N gets of "k" at once, the
 *        first K cancelled at once; with free, the whole client freed
 *        (and made anew) with the rest in flight. After 300 ms (or once
 *        all are done): {"op":"burst","completed","ok_calls","bad_calls"}
 *        where bad_calls counts callbacks of cancelled or freed calls.
 *   {"op":"quit"}
 * Result: {"op","ok","error","status","endpoint","revision","id","ttl","lost",
 * "succeeded","kvs":[{"key","value","create_revision","mod_revision",
 * "version","lease"}],"responses":[{"kind","kvs","deleted"}],"deleted",
 * "elapsed_ms","sent_ms" (the send time, ms after the command was read),
 * "max_gap_ms" (the longest the loop went without running a 10 ms timer)}.
 * A command that cannot start gives {"ok":false,"error":"cannot start"}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "etcd.h"
#include "http.h"
#include "log.h"
#include "util.h"

struct drv {
	struct event_base *base;
	struct http *http;
	struct etcd *etcd;
	struct event *in, *tick;
	char buf[65536];
	size_t len;
	bool busy, eof;
	int64_t started, last_tick, max_gap;
	struct etcd_config cfg;
	/* burst */
	struct event *later;
	struct burst_call {
		struct drv *d;
		struct etcd_call *call;
		bool cancelled, done;
	} * bursts;
	int nburst, completed, bad_calls, ok_calls;
};

static void drv_next(struct drv *);

static const char *
jstr(struct json_object *o, const char *k, const char *def)
{
	struct json_object *v;

	if (o != NULL && json_object_object_get_ex(o, k, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return def;
}

static int64_t
jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (o != NULL && json_object_object_get_ex(o, k, &v))
		return json_object_get_int64(v);
	return 0;
}

static bool
jbool(struct json_object *o, const char *k)
{
	struct json_object *v;

	return o != NULL && json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static struct json_object *
kvs_json(const struct etcd_range *r)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < r->nkvs; i++) {
		struct json_object *k = json_object_new_object();

		json_object_object_add(k, "key", json_object_new_string(r->kvs[i].key));
		json_object_object_add(k, "value",
		    json_object_new_string_len(r->kvs[i].value, (int)r->kvs[i].value_len));
		json_object_object_add(
		    k, "create_revision", json_object_new_int64(r->kvs[i].create_revision));
		json_object_object_add(
		    k, "mod_revision", json_object_new_int64(r->kvs[i].mod_revision));
		json_object_object_add(k, "version", json_object_new_int64(r->kvs[i].version));
		json_object_object_add(k, "lease", json_object_new_int64(r->kvs[i].lease));
		json_object_array_add(a, k);
	}
	return a;
}

static void
emit(struct drv *d, struct json_object *o)
{
	json_object_object_add(o, "max_gap_ms", json_object_new_int64(d->max_gap));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
	d->max_gap = 0;
}

static void
done(const struct etcd_result *r, void *arg)
{
	struct drv *d = arg;
	struct json_object *o = json_object_new_object();
	struct json_object *resps;
	size_t i;
	static const char *const kinds[] = {"put", "range", "delete"};

	json_object_object_add(o, "op", json_object_new_string(etcd_op_str(r->op)));
	json_object_object_add(o, "ok", json_object_new_boolean(r->ok));
	if (!r->ok)
		json_object_object_add(o, "error", json_object_new_string(r->error));
	json_object_object_add(o, "status", json_object_new_int(r->status));
	json_object_object_add(
	    o, "endpoint", r->endpoint != NULL ? json_object_new_string(r->endpoint) : NULL);
	json_object_object_add(o, "revision", json_object_new_int64(r->revision));
	json_object_object_add(o, "id", json_object_new_int64(r->lease_id));
	json_object_object_add(o, "ttl", json_object_new_int64(r->ttl));
	json_object_object_add(o, "lost", json_object_new_boolean(r->lease_lost));
	json_object_object_add(o, "succeeded", json_object_new_boolean(r->succeeded));
	json_object_object_add(o, "deleted", json_object_new_int64(r->deleted));
	json_object_object_add(o, "count", json_object_new_int64(r->range.count));
	json_object_object_add(o, "kvs", kvs_json(&r->range));
	resps = json_object_new_array();
	for (i = 0; i < r->nresponses; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(
		    e, "kind", json_object_new_string(kinds[r->responses[i].kind % 3]));
		json_object_object_add(e, "kvs", kvs_json(&r->responses[i].range));
		json_object_object_add(
		    e, "deleted", json_object_new_int64(r->responses[i].deleted));
		json_object_array_add(resps, e);
	}
	json_object_object_add(o, "responses", resps);
	json_object_object_add(o, "elapsed_ms", json_object_new_int64(util_mono_ms() - d->started));
	json_object_object_add(
	    o, "sent_ms", json_object_new_int64(r->sent_mono ? r->sent_mono - d->started : -1));
	emit(d, o);
	d->busy = false;
	drv_next(d);
}

static int
txn_ops(struct etcd_txn *t, bool success, struct json_object *arr)
{
	size_t i;

	for (i = 0; arr != NULL && i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *v;
		const char *val;

		if (json_object_object_get_ex(e, "put", &v)) {
			val = jstr(v, "value", "");
			etcd_txn_put(
			    t, success, jstr(v, "key", ""), val, strlen(val), jint(v, "lease"));
		} else if (json_object_object_get_ex(e, "delete", &v))
			etcd_txn_delete(t, success, jstr(v, "key", ""), jbool(v, "prefix"));
		else if (json_object_object_get_ex(e, "range", &v))
			etcd_txn_range(t, success, jstr(v, "key", ""), jbool(v, "prefix"));
		else
			return -1;
	}
	return 0;
}

static struct etcd_txn *
txn_build(struct json_object *cmd)
{
	struct etcd_txn *t = etcd_txn_new();
	struct json_object *arr, *s = NULL, *f = NULL;
	size_t i;

	if (json_object_object_get_ex(cmd, "compare", &arr)) {
		for (i = 0; i < json_object_array_length(arr); i++) {
			struct json_object *c = json_object_array_get_idx(arr, i);
			const char *tg = jstr(c, "target", "create"), *r = jstr(c, "result", "=");
			const char *val = jstr(c, "value", "");
			enum etcd_target target = ETCD_CREATE;
			enum etcd_cmp cmp = ETCD_EQUAL;

			if (strcmp(tg, "mod") == 0)
				target = ETCD_MOD;
			else if (strcmp(tg, "version") == 0)
				target = ETCD_VERSION;
			else if (strcmp(tg, "value") == 0)
				target = ETCD_VALUE;
			if (strcmp(r, "!=") == 0)
				cmp = ETCD_NOT_EQUAL;
			else if (strcmp(r, ">") == 0)
				cmp = ETCD_GREATER;
			else if (strcmp(r, "<") == 0)
				cmp = ETCD_LESS;
			etcd_txn_compare(
			    t, jstr(c, "key", ""), target, cmp, jint(c, "n"), val, strlen(val));
		}
	}
	json_object_object_get_ex(cmd, "success", &s);
	json_object_object_get_ex(cmd, "failure", &f);
	if (txn_ops(t, true, s) == -1 || txn_ops(t, false, f) == -1) {
		etcd_txn_free(t);
		return NULL;
	}
	return t;
}

static void
burst_done(const struct etcd_result *r, void *arg)
{
	struct burst_call *b = arg;
	struct drv *d = b->d;

	if (b->cancelled || b->done)
		d->bad_calls++;
	b->done = true;
	b->call = NULL;
	d->completed++;
	if (r->ok)
		d->ok_calls++;
}

static void
burst_report(evutil_socket_t fd, short what, void *arg)
{
	struct drv *d = arg;
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "op", json_object_new_string("burst"));
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	json_object_object_add(o, "completed", json_object_new_int(d->completed));
	json_object_object_add(o, "ok_calls", json_object_new_int(d->ok_calls));
	json_object_object_add(o, "bad_calls", json_object_new_int(d->bad_calls));
	emit(d, o);
	free(d->bursts);
	d->bursts = NULL;
	d->busy = false;
	drv_next(d);
}

static void
burst(struct drv *d, int n, int cancel, bool do_free)
{
	struct timeval tv = {0, 300000};
	char err[256];
	int i;

	if (n < 0 || n > 1000)
		n = 0;
	d->bursts = xcalloc((size_t)n + 1, sizeof(*d->bursts));
	d->nburst = n;
	d->completed = d->ok_calls = d->bad_calls = 0;
	for (i = 0; i < n; i++) {
		d->bursts[i].d = d;
		d->bursts[i].call = etcd_range(d->etcd, "k", false, burst_done, &d->bursts[i]);
		if (d->bursts[i].call == NULL)
			d->bad_calls++;
	}
	for (i = 0; i < cancel && i < n; i++) {
		etcd_cancel(d->bursts[i].call);
		d->bursts[i].cancelled = true;
	}
	if (do_free) {
		etcd_free(d->etcd);
		for (i = 0; i < n; i++)
			d->bursts[i].cancelled = true;
		if ((d->etcd = etcd_new(d->base, d->http, &d->cfg, err, sizeof(err))) == NULL)
			abort();
	}
	event_add(d->later, &tv);
}

static void
run(struct drv *d, const char *line)
{
	struct json_object *cmd = json_tokener_parse(line), *o;
	struct etcd_call *c = NULL;
	struct etcd_txn *t;
	const char *op = jstr(cmd, "op", ""), *val;

	d->started = util_mono_ms();
	d->busy = true;
	if (strcmp(op, "grant") == 0)
		c = etcd_lease_grant(d->etcd, jint(cmd, "ttl"), done, d);
	else if (strcmp(op, "keepalive") == 0)
		c = etcd_lease_keepalive(d->etcd, jint(cmd, "id"), done, d);
	else if (strcmp(op, "revoke") == 0)
		c = etcd_lease_revoke(d->etcd, jint(cmd, "id"), done, d);
	else if (strcmp(op, "put") == 0) {
		val = jstr(cmd, "value", "");
		c = etcd_put(
		    d->etcd, jstr(cmd, "key", ""), val, strlen(val), jint(cmd, "lease"), done, d);
	} else if (strcmp(op, "get") == 0)
		c = etcd_range(d->etcd, jstr(cmd, "key", ""), jbool(cmd, "prefix"), done, d);
	else if (strcmp(op, "delete") == 0)
		c = etcd_delete(d->etcd, jstr(cmd, "key", ""), jbool(cmd, "prefix"), done, d);
	else if (strcmp(op, "txn") == 0 && (t = txn_build(cmd)) != NULL) {
		c = etcd_txn_run(d->etcd, t, done, d);
		etcd_txn_free(t);
	} else if (strcmp(op, "burst") == 0) {
		burst(d, (int)jint(cmd, "n"), (int)jint(cmd, "cancel"), jbool(cmd, "free"));
		json_object_put(cmd);
		return;
	} else if (strcmp(op, "quit") == 0) {
		d->eof = true;
		d->busy = false;
		event_base_loopexit(d->base, NULL);
		json_object_put(cmd);
		return;
	}
	if (c == NULL) {
		o = json_object_new_object();
		json_object_object_add(o, "op", json_object_new_string(op)); /* op is cmd's */
		json_object_object_add(o, "ok", json_object_new_boolean(false));
		json_object_object_add(o, "error", json_object_new_string("cannot start"));
		emit(d, o);
		d->busy = false;
	}
	json_object_put(cmd);
}

/* Runs buffered lines while no call is in flight. */
static void
drv_next(struct drv *d)
{
	char *nl, line[sizeof(d->buf)];
	size_t n;

	while (!d->busy && (nl = memchr(d->buf, '\n', d->len)) != NULL) {
		n = (size_t)(nl - d->buf);
		memcpy(line, d->buf, n);
		line[n] = '\0';
		memmove(d->buf, nl + 1, d->len - n - 1);
		d->len -= n + 1;
		if (n > 0)
			run(d, line);
	}
	if (!d->busy && d->eof)
		event_base_loopexit(d->base, NULL);
}

static void
on_input(evutil_socket_t fd, short what, void *arg)
{
	struct drv *d = arg;
	ssize_t n;

	if (d->len == sizeof(d->buf)) {
		fprintf(stderr, "etcdc: line too long\n");
		exit(2);
	}
	n = read(fd, d->buf + d->len, sizeof(d->buf) - d->len);
	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return;
		d->eof = true;
		if (event_pending(d->in, EV_READ, NULL))
			event_del(d->in);
	} else
		d->len += (size_t)n;
	drv_next(d);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct drv *d = arg;
	int64_t now = util_mono_ms();

	if (d->last_tick != 0 && now - d->last_tick > d->max_gap)
		d->max_gap = now - d->last_tick;
	d->last_tick = now;
}

int
main(int argc, char **argv)
{
	struct drv d;
	struct etcd_config cfg;
	struct timeval tv = {0, 10000};
	char err[256], *pw = NULL;
	const char *pwfile = NULL;
	int ch;

	memset(&d, 0, sizeof(d));
	memset(&cfg, 0, sizeof(cfg));
	log_init("etcdc", LOG_DEST_STDERR, NULL);
	if (getenv("ETCDC_DEBUG") != NULL)
		log_verbose(2);
	while ((ch = getopt(argc, argv, "e:t:u:p:C:c:k:")) != -1) {
		switch (ch) {
		case 'e': cfg.endpoints = optarg; break;
		case 't': cfg.timeout_ms = atoll(optarg); break;
		case 'u': cfg.user = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'C': cfg.ca_file = optarg; break;
		case 'c': cfg.cert_file = optarg; break;
		case 'k': cfg.key_file = optarg; break;
		default:
			fprintf(stderr, "usage: etcdc -e ENDPOINTS [-t MS] [-u USER -p FILE]\n");
			return 2;
		}
	}
	if (pwfile != NULL) {
		size_t len;

		if ((pw = util_read_file(pwfile, 4096, &len)) == NULL) {
			perror(pwfile);
			return 2;
		}
		pw[strcspn(pw, "\r\n")] = '\0';
		cfg.password = pw;
	}
	d.base = event_base_new();
	d.http = http_new(d.base);
	if ((d.etcd = etcd_new(d.base, d.http, &cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "etcdc: %s\n", err);
		return 2;
	}
	d.in = event_new(d.base, 0, EV_READ | EV_PERSIST, on_input, &d);
	d.tick = event_new(d.base, -1, EV_PERSIST, on_tick, &d);
	d.later = evtimer_new(d.base, burst_report, &d);
	d.cfg = cfg;
	event_add(d.tick, &tv);
	if (event_add(d.in, NULL) == -1) {
		/* A regular file cannot be polled: it is all there, read it now. */
		while (!d.eof)
			on_input(0, EV_READ, &d);
	}
	event_base_dispatch(d.base);
	etcd_free(d.etcd);
	http_free(d.http);
	event_free(d.in);
	event_free(d.tick);
	event_free(d.later);
	event_base_free(d.base);
	free(pw);
	return 0;
}
