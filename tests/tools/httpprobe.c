/*
 * httpprobe: drives daemon/http.c and daemon/check.c on a real event loop and
 * prints one JSON line per result, for the integration tests.
 *
 *   httpprobe [-v] [-t TIMEOUT_MS] [-m MAX_BODY] [-X METHOD] [-H HEADER]...
 *             [-d BODY] [-C CA_FILE] [-k] [-n ROUNDS] [-c CONCURRENT]
 *             [-x CANCEL] [-w CANCEL_MS] [-F FREE_MS] [-R] URL
 *
 * Raw requests: ROUNDS rounds (default 1), each of CONCURRENT requests
 * started at once (default 1); the next round starts from the callback that
 * ends the previous one. -x cancels the first CANCEL requests of the first
 * round right after starting them, or after CANCEL_MS with -w. -F frees the
 * whole struct http after FREE_MS with everything in flight. -R: the first
 * callback cancels every other request in flight and starts one more.
 * Per completed request: {"i","err","status","error","body_len","body"
 * (first 64 bytes),"retry_after_ms","total_ms"}.
 *
 *   httpprobe -P KEY=VALUE...          one check_probe of LOCAL_HEALTH_URL
 *   httpprobe -S N [-I INTERVAL_MS] [-J] KEY=VALUE...
 *
 * -S runs the checker for N checks, re-armed INTERVAL_MS (default 0) after
 * each from the main callback, as the engine does; -J also calls
 * checker_check_now twice at once at the start (the second joins the first).
 * The KEY=VALUE are config keys, read as the environment (no file). Lines:
 * {"kind":"check"|"waiter"|"probe","healthy","status","latency_ms","error",
 * "time_ms"}.
 *
 * The last line is always {"summary":true,"started","completed","cancelled",
 * "bad_calls","max_gap_ms"}: bad_calls counts callbacks that must not have
 * happened (cancelled, freed, or twice); a 10 ms timer measures max_gap_ms,
 * the longest the loop was blocked. Exit 0 unless bad_calls > 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "check.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define MAX_HEADERS 16

struct preq {
	struct probe *pr;
	struct http_req *req;
	int index;
	bool done, cancelled;
};

struct probe {
	struct event_base *base;
	struct http *http;
	struct http_request_opts opts;
	const char *headers[MAX_HEADERS + 1];
	struct preq *reqs;
	int nreqs, cap;
	int rounds, concurrent, round, round_left;
	int cancel, reentrant;
	long long cancel_ms, free_ms;
	int started, completed, cancelled, bad_calls;
	bool freed;

	/* checker mode */
	struct checker *checker;
	const struct config *cfg;
	int checks_left, waiters_left;
	long long interval_ms;

	struct event *tick, *later;
	int64_t last_tick, max_gap;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: httpprobe [-v] [-t timeout_ms] [-m max_body] [-X method] [-H header]... "
	    "[-d body] [-C ca_file] [-k] [-n rounds] [-c concurrent] [-x cancel] [-w cancel_ms] "
	    "[-F free_ms] [-R] url\n"
	    "       httpprobe -P KEY=VALUE...\n"
	    "       httpprobe -S checks [-I interval_ms] [-J] KEY=VALUE...\n");
	exit(2);
}

static void
print(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	int64_t now = util_mono_ms();

	if (p->last_tick != 0 && now - p->last_tick > p->max_gap)
		p->max_gap = now - p->last_tick;
	p->last_tick = now;
}

static bool
probe_over(struct probe *p)
{
	if (p->checker != NULL)
		return p->checks_left == 0 && p->waiters_left == 0;
	return p->freed || (p->round >= p->rounds && p->completed + p->cancelled >= p->started);
}

static void
probe_maybe_stop(struct probe *p)
{
	if (probe_over(p))
		event_base_loopbreak(p->base);
}

/* --- raw requests ---------------------------------------------------------------------- */

static void req_done(const struct http_response *, void *);

static void
req_start(struct probe *p)
{
	struct preq *q;

	if (p->nreqs == p->cap) {
		/* The array moves: callbacks get the index, not a pointer. */
		p->cap = p->cap ? p->cap * 2 : 16;
		p->reqs = xrealloc(p->reqs, p->cap * sizeof(*p->reqs));
	}
	q = &p->reqs[p->nreqs];
	memset(q, 0, sizeof(*q));
	q->pr = p;
	q->index = p->nreqs++;
	p->started++;
	q->req = http_request_start(p->http, &p->opts, req_done, (void *)(intptr_t)q->index);
	if (q->req == NULL) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "i", json_object_new_int(q->index));
		json_object_object_add(o, "start_failed", json_object_new_boolean(1));
		print(o);
		q->done = true;
		p->completed++;
	}
}

static void
req_cancel(struct probe *p, int i)
{
	struct preq *q = &p->reqs[i];

	if (q->done || q->cancelled)
		return;
	http_request_cancel(q->req);
	q->req = NULL;
	q->cancelled = true;
	p->cancelled++;
}

static void
round_start(struct probe *p)
{
	p->round++;
	p->round_left = p->concurrent;
	for (int i = 0; i < p->concurrent; i++)
		req_start(p);
}

static struct probe *the_probe; /* req_done's arg is an index into it */

static void
req_done(const struct http_response *resp, void *arg)
{
	struct probe *p = the_probe;
	int i = (int)(intptr_t)arg;
	struct preq *q = &p->reqs[i];
	json_object *o = json_object_new_object();
	char head[65];

	if (q->done || q->cancelled || p->freed) {
		p->bad_calls++;
		json_object_object_add(o, "bad_call", json_object_new_int(i));
		print(o);
		return;
	}
	q->done = true;
	q->req = NULL;
	p->completed++;
	snprintf(head, sizeof(head), "%.*s", (int)(resp->body_len < 64 ? resp->body_len : 64),
	    resp->body);
	json_object_object_add(o, "i", json_object_new_int(i));
	json_object_object_add(o, "err", json_object_new_string(http_error_str(resp->err)));
	json_object_object_add(o, "status", json_object_new_int(resp->status));
	json_object_object_add(
	    o, "error", resp->error != NULL ? json_object_new_string(resp->error) : NULL);
	json_object_object_add(o, "body_len", json_object_new_int64((int64_t)resp->body_len));
	json_object_object_add(o, "body", json_object_new_string(head));
	json_object_object_add(o, "retry_after_ms", json_object_new_int64(resp->retry_after_ms));
	json_object_object_add(o, "total_ms", json_object_new_double(resp->total_ms));
	print(o);

	if (p->reentrant) {
		p->reentrant = 0;
		for (int j = 0; j < p->nreqs; j++)
			if (j != i)
				req_cancel(p, j);
		req_start(p);
	}
	if (--p->round_left == 0 && p->round < p->rounds)
		round_start(p);
	probe_maybe_stop(p);
}

static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	if (p->free_ms > 0) {
		json_object *o = json_object_new_object();
		int n = 0;

		for (int i = 0; i < p->nreqs; i++)
			if (!p->reqs[i].done && !p->reqs[i].cancelled)
				n++;
		http_free(p->http);
		p->http = NULL;
		p->freed = true;
		json_object_object_add(o, "freed_in_flight", json_object_new_int(n));
		print(o);
	} else {
		for (int i = 0; i < p->cancel && i < p->nreqs; i++)
			req_cancel(p, i);
	}
	probe_maybe_stop(p);
}

/* --- checks ------------------------------------------------------------------------------ */

static void
result_print(const char *kind, const struct check_result *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "kind", json_object_new_string(kind));
	json_object_object_add(o, "healthy", json_object_new_boolean(r->healthy));
	json_object_object_add(o, "status", json_object_new_int(r->status));
	json_object_object_add(o, "latency_ms", json_object_new_double(r->latency_ms));
	json_object_object_add(o, "error", json_object_new_string(r->error));
	json_object_object_add(o, "time_ms", json_object_new_int64(r->time_ms));
	print(o);
}

static void
probe_done(const struct check_result *r, void *arg)
{
	struct probe *p = arg;

	result_print("probe", r);
	p->completed++;
	event_base_loopbreak(p->base);
}

static void
check_done(const struct check_result *r, void *arg)
{
	struct probe *p = arg;

	result_print("check", r);
	p->completed++;
	if (checker_in_flight(p->checker))
		p->bad_calls++; /* the owner must see the check as over */
	if (p->checks_left > 0 && --p->checks_left > 0)
		checker_schedule(p->checker, p->interval_ms);
	probe_maybe_stop(p);
}

static void
waiter_done(const struct check_result *r, void *arg)
{
	struct probe *p = arg;

	result_print("waiter", r);
	p->waiters_left--;
	probe_maybe_stop(p);
}

static struct config *
probe_config(char **kv)
{
	struct config_source src;
	struct config_errors errs = {NULL, 0};
	struct config *cfg;

	memset(&src, 0, sizeof(src));
	src.file = "/dev/null";
	src.environ = kv;
	if ((cfg = config_load(&src, &errs)) == NULL) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "httpprobe: %s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		exit(2);
	}
	return cfg;
}

int
main(int argc, char *argv[])
{
	struct probe p;
	struct config *cfg = NULL;
	struct check_probe *cp = NULL;
	struct timeval tv;
	json_object *o;
	long long v, checks = 0;
	int ch, nh = 0, mode_probe = 0, join = 0;

	memset(&p, 0, sizeof(p));
	the_probe = &p;
	p.rounds = p.concurrent = 1;
	while ((ch = getopt(argc, argv, "vt:m:X:H:d:C:kn:c:x:w:F:RPS:I:J")) != -1) {
		switch (ch) {
		case 'v': log_verbose(log_getverbose() + 1); break;
		case 't':
			if (util_int_parse(optarg, 0, 3600000, &v) == -1)
				usage();
			p.opts.timeout_ms = v;
			break;
		case 'm':
			if (util_int_parse(optarg, 0, 1LL << 30, &v) == -1)
				usage();
			p.opts.max_body = (size_t)v;
			break;
		case 'X': p.opts.method = optarg; break;
		case 'H':
			if (nh == MAX_HEADERS)
				usage();
			p.headers[nh++] = optarg;
			p.opts.headers = p.headers;
			break;
		case 'd':
			p.opts.body = optarg;
			p.opts.body_len = strlen(optarg);
			break;
		case 'C': p.opts.ca_file = optarg; break;
		case 'k': p.opts.insecure = true; break;
		case 'n':
			if (util_int_parse(optarg, 1, 100000, &v) == -1)
				usage();
			p.rounds = (int)v;
			break;
		case 'c':
			if (util_int_parse(optarg, 1, 10000, &v) == -1)
				usage();
			p.concurrent = (int)v;
			break;
		case 'x':
			if (util_int_parse(optarg, 0, 10000, &v) == -1)
				usage();
			p.cancel = (int)v;
			break;
		case 'w':
			if (util_int_parse(optarg, 1, 3600000, &p.cancel_ms) == -1)
				usage();
			break;
		case 'F':
			if (util_int_parse(optarg, 1, 3600000, &p.free_ms) == -1)
				usage();
			break;
		case 'R': p.reentrant = 1; break;
		case 'P': mode_probe = 1; break;
		case 'S':
			if (util_int_parse(optarg, 1, 100000, &checks) == -1)
				usage();
			break;
		case 'I':
			if (util_int_parse(optarg, 0, 3600000, &p.interval_ms) == -1)
				usage();
			break;
		case 'J': join = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (mode_probe && checks > 0))
		usage();
	log_init("httpprobe", LOG_DEST_STDERR, NULL);

	if ((p.base = event_base_new()) == NULL || (p.http = http_new(p.base)) == NULL) {
		fprintf(stderr, "httpprobe: cannot set up the event loop or http\n");
		return 2;
	}
	p.tick = event_new(p.base, -1, EV_PERSIST, tick_cb, &p);
	tv.tv_sec = 0;
	tv.tv_usec = 10 * 1000;
	event_add(p.tick, &tv);

	if (mode_probe) {
		cfg = probe_config(argv);
		p.started = 1;
		cp = check_probe_start(p.http, cfg, cfg->local_health_url, probe_done, &p);
		if (cp == NULL) {
			fprintf(stderr, "httpprobe: check_probe_start failed\n");
			return 2;
		}
	} else if (checks > 0) {
		cfg = probe_config(argv);
		p.checks_left = (int)checks;
		p.checker = checker_new(p.base, p.http, cfg, check_done, &p);
		if (p.checker == NULL) {
			fprintf(stderr, "httpprobe: checker_new failed\n");
			return 2;
		}
		checker_schedule(p.checker, 0);
		if (join) {
			p.waiters_left = 2;
			if (checker_check_now(p.checker, waiter_done, &p) == -1 ||
			    checker_check_now(p.checker, waiter_done, &p) == -1) {
				fprintf(stderr, "httpprobe: checker_check_now failed\n");
				return 2;
			}
			if (!checker_in_flight(p.checker))
				p.bad_calls++;
		}
	} else {
		if (argc != 1)
			usage();
		p.opts.url = argv[0];
		round_start(&p);
		if (p.free_ms > 0 || (p.cancel > 0 && p.cancel_ms > 0)) {
			p.later = evtimer_new(p.base, later_cb, &p);
			tv.tv_sec = (p.free_ms ? p.free_ms : p.cancel_ms) / 1000;
			tv.tv_usec = (p.free_ms ? p.free_ms : p.cancel_ms) % 1000 * 1000;
			evtimer_add(p.later, &tv);
		} else if (p.cancel > 0)
			later_cb(-1, 0, &p);
	}

	if (!probe_over(&p))
		event_base_dispatch(p.base);

	o = json_object_new_object();
	json_object_object_add(o, "summary", json_object_new_boolean(1));
	json_object_object_add(o, "started", json_object_new_int(p.started));
	json_object_object_add(o, "completed", json_object_new_int(p.completed));
	json_object_object_add(o, "cancelled", json_object_new_int(p.cancelled));
	json_object_object_add(o, "bad_calls", json_object_new_int(p.bad_calls));
	json_object_object_add(o, "max_gap_ms", json_object_new_int64(p.max_gap));
	print(o);

	/* Everything freed, in flight or not: valgrind checks http_free's word. */
	checker_free(p.checker);
	http_free(p.http);
	if (p.later != NULL)
		event_free(p.later);
	event_free(p.tick);
	event_base_free(p.base);
	config_free(cfg);
	free(p.reqs);
	log_close();
	return p.bad_calls > 0 ? 1 : 0;
}
