/*
 * synctool: runs one state sync through daemon/sync.c on an event loop and
 * prints what came of it as one JSON line, for the integration tests.
 *
 *   synctool [-v] [-c FILE] [-D KEY=VALUE]... [-t TIMEOUT_MS]
 *            [-m MARKER_OFFSET_MS] [-C CANCEL_MS] push|pull|check [KEY=VALUE...]
 *
 * The config is FILE (default /dev/null), then the trailing KEY=VALUE read
 * as the environment would be (so secrets may be given; the real
 * environment is not read), then -D. push runs sync_push(TIMEOUT_MS, 0 =
 * SYNC_TIMEOUT); pull runs sync_pull with marker_after = now +
 * MARKER_OFFSET_MS when -m is given (else 0: no marker wait); check runs
 * sync_check_remote. -C cancels the sync after CANCEL_MS (sync_cancel), then
 * runs the loop 300 ms more so that a stray callback would be seen.
 *
 * Output: {"result":{dir,ok,exit_code,signal,timed_out,duration_ms,error,
 * marker_seen,applied,retryable} or null, "calls" (callbacks: 1 expected,
 * 0 after a cancel), "events":[{type,...fields}] (the `sync` events emitted),
 * "status" (sync_status after the end), "busy_after_start",
 * "second_start" (a second sync_push while busy: -1 expected),
 * "cb_inside_start" (must be false), "jobs_left", "max_gap_ms" (longest
 * pause between two 10 ms ticks: the loop must never block), "elapsed_ms"};
 * for check: {"check":{"ok","detail"},...}.
 * Exit 0 when it ran to the end, 2 on a usage or config error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "events_stub.h"
#include "events.h"
#include "job.h"
#include "log.h"
#include "sync.h"
#include "util.h"

struct run {
	struct event_base *base;
	json_object *out;
	int calls;
	bool in_start, cb_inside_start, done;
	int64_t last_tick, max_gap;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: synctool [-v] [-c file] [-D key=value]... [-t timeout_ms] "
	    "[-m marker_offset_ms] [-C cancel_ms] push|pull|check [KEY=VALUE...]\n");
	exit(2);
}

static void
on_done(const struct sync_result *res, void *arg)
{
	struct run *r = arg;
	json_object *o = json_object_new_object();

	r->calls++;
	if (r->in_start)
		r->cb_inside_start = true;
	json_object_object_add(
	    o, "dir", json_object_new_string(res->dir == SYNC_PUSH ? "push" : "pull"));
	json_object_object_add(o, "ok", json_object_new_boolean(res->ok));
	json_object_object_add(o, "exit_code", json_object_new_int(res->exit_code));
	json_object_object_add(o, "signal", json_object_new_int(res->signal));
	json_object_object_add(o, "timed_out", json_object_new_boolean(res->timed_out));
	json_object_object_add(o, "duration_ms", json_object_new_int64(res->duration_ms));
	json_object_object_add(o, "error", res->error ? json_object_new_string(res->error) : NULL);
	json_object_object_add(o, "marker_seen", json_object_new_boolean(res->marker_seen));
	json_object_object_add(o, "applied", json_object_new_boolean(res->applied));
	json_object_object_add(o, "retryable", json_object_new_boolean(sync_result_retryable(res)));
	json_object_object_add(r->out, "result", o);
	r->done = true;
	event_base_loopbreak(r->base);
}

static void
on_check(bool ok, const char *detail, void *arg)
{
	struct run *r = arg;
	json_object *o = json_object_new_object();

	r->calls++;
	if (r->in_start)
		r->cb_inside_start = true;
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	json_object_object_add(r->out, "check", o);
	r->done = true;
	event_base_loopbreak(r->base);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int64_t now = util_mono_ms();

	(void)fd;
	(void)what;
	if (r->last_tick > 0 && now - r->last_tick > r->max_gap)
		r->max_gap = now - r->last_tick;
	r->last_tick = now;
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	r->done = true;
	event_base_loopbreak(r->base);
}

int
main(int argc, char *argv[])
{
	struct config_source src;
	struct config_errors errs = {NULL, 0};
	struct config *cfg;
	struct events ev = {NULL, 0, 0};
	struct sync *s;
	struct run r;
	struct event *tick, *cancel_ev = NULL, *stop_ev;
	struct timeval tv10 = {0, 10000}, tv;
	char **defines = NULL;
	long long timeout_ms = 0, offset = 0, cancel_ms = -1;
	bool marker = false;
	int ndefines = 0, ch, i, rc;
	int64_t t0;
	const char *op;
	json_object *st;

	memset(&src, 0, sizeof(src));
	src.file = "/dev/null";
	while ((ch = getopt(argc, argv, "vc:D:t:m:C:")) != -1) {
		switch (ch) {
		case 'v': log_verbose(log_getverbose() + 1); break;
		case 'c': src.file = optarg; break;
		case 'D':
			defines = xrealloc(defines, sizeof(*defines) * (size_t)(ndefines + 1));
			defines[ndefines++] = optarg;
			break;
		case 't':
			if (util_int_parse(optarg, 0, 86400000, &timeout_ms) == -1)
				usage();
			break;
		case 'm':
			if (util_int_parse(optarg, -86400000, 86400000, &offset) == -1)
				usage();
			marker = true;
			break;
		case 'C':
			if (util_int_parse(optarg, 0, 86400000, &cancel_ms) == -1)
				usage();
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	op = argv[0];
	if (strcmp(op, "push") != 0 && strcmp(op, "pull") != 0 && strcmp(op, "check") != 0)
		usage();
	log_init("synctool", LOG_DEST_STDERR, NULL);
	signal(SIGPIPE, SIG_IGN);

	src.environ = argv + 1;
	src.defines = defines;
	src.ndefines = ndefines;
	if ((cfg = config_load(&src, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "synctool: %s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		return 2;
	}

	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	r.out = json_object_new_object();
	ev.list = json_object_new_array();
	ev.t0 = util_mono_ms();
	if (r.base == NULL || (s = sync_new(r.base, &ev, cfg)) == NULL) {
		fprintf(stderr, "synctool: set-up failed\n");
		return 2;
	}
	tick = event_new(r.base, -1, EV_PERSIST, on_tick, &r);
	evtimer_add(tick, &tv10);
	stop_ev = evtimer_new(r.base, on_stop, &r);

	t0 = util_mono_ms();
	r.in_start = true;
	if (strcmp(op, "push") == 0)
		rc = sync_push(s, timeout_ms, on_done, &r);
	else if (strcmp(op, "pull") == 0)
		rc = sync_pull(s, marker ? util_now_ms() + offset : 0, on_done, &r);
	else
		rc = sync_check_remote(s, on_check, &r);
	r.in_start = false;
	if (rc == -1) {
		fprintf(stderr, "synctool: %s did not start\n", op);
		return 2;
	}
	if (strcmp(op, "check") != 0) {
		json_object_object_add(
		    r.out, "busy_after_start", json_object_new_boolean(sync_busy(s)));
		json_object_object_add(r.out, "running_dir",
		    json_object_new_string(sync_running_dir(s) == SYNC_PUSH ? "push" : "pull"));
		json_object_object_add(
		    r.out, "second_start", json_object_new_int(sync_push(s, 0, on_done, &r)));
		st = json_object_new_object();
		sync_status(s, st);
		json_object_object_add(r.out, "status_running", st);
	}
	if (cancel_ms >= 0) {
		cancel_ev = evtimer_new(r.base, on_stop, &r);
		tv.tv_sec = cancel_ms / 1000;
		tv.tv_usec = (cancel_ms % 1000) * 1000;
		evtimer_add(cancel_ev, &tv);
	}
	while (!r.done)
		if (event_base_dispatch(r.base) != 0)
			break;
	if (cancel_ev != NULL && r.calls == 0) {
		/* on_stop ended the loop: cancel, then watch for a stray callback. */
		json_object_object_add(
		    r.out, "busy_before_cancel", json_object_new_boolean(sync_busy(s)));
		sync_cancel(s);
		json_object_object_add(
		    r.out, "busy_after_cancel", json_object_new_boolean(sync_busy(s)));
		r.done = false;
		tv.tv_sec = 0;
		tv.tv_usec = 300000;
		evtimer_add(stop_ev, &tv);
		while (!r.done)
			if (event_base_dispatch(r.base) != 0)
				break;
	}
	json_object_object_add(r.out, "elapsed_ms", json_object_new_int64(util_mono_ms() - t0));
	json_object_object_add(r.out, "calls", json_object_new_int(r.calls));
	json_object_object_add(
	    r.out, "cb_inside_start", json_object_new_boolean(r.cb_inside_start));
	json_object_object_add(r.out, "busy_at_end", json_object_new_boolean(sync_busy(s)));
	json_object_object_add(r.out, "jobs_left", json_object_new_int(job_count()));
	json_object_object_add(r.out, "max_gap_ms", json_object_new_int64(r.max_gap));
	st = json_object_new_object();
	sync_status(s, st);
	json_object_object_add(r.out, "status", st);
	json_object_object_add(r.out, "events", json_object_get(ev.list));
	printf("%s\n",
	    json_object_to_json_string_ext(
	        r.out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);

	sync_free(s);
	job_kill_all();
	event_free(tick);
	event_free(stop_ev);
	if (cancel_ev != NULL)
		event_free(cancel_ev);
	json_object_put(ev.list);
	json_object_put(r.out);
	config_free(cfg);
	free(defines);
	event_base_free(r.base);
	return 0;
}
