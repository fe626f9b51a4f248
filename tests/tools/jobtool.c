/*
 * jobtool: runs jobs through daemon/job.c on an event loop and prints each
 * result as one JSON line, for the integration tests.
 *
 *   jobtool [-v] [-a] [-t TIMEOUT_MS] [-g GRACE_MS] [-o OUTPUT_MAX]
 *           [-e KEY=VALUE]... [-n COPIES] [-c CANCEL_MS] [-T] CMD...
 *
 * Each CMD is a /bin/sh -c command (or, with -a, all CMDs are one argv),
 * started COPIES times, all at once; -r CHAIN runs CHAIN more, each started
 * from the callback of a finishing one. The environment is job_env_new() with
 * the -e extras. Per job, when it completes: {"index","pid","exit_code",
 * "signal","timed_out","duration_ms","output","output_len","truncated",
 * "spawn_errno","calls","result"}. -c cancels every job still running after
 * CANCEL_MS and prints {"cancelled":N}. The last line is a summary:
 * {"summary":true,"jobs","completed","extra_calls","cancelled","max_gap_ms",
 * "ticks"}; with -T a 10 ms timer ticks all along and max_gap_ms is the
 * longest pause between two ticks (the loop must never block).
 * Exit 0 when every job completed (or was cancelled) exactly once.
 *
 *   jobtool -P list|activate|deactivate KEY=VALUE...
 *
 * runs one operation of the command provider (PROVIDER=command) with the
 * config keys given (as -D, over the environment: secrets such as
 * FLY_API_TOKEN can only come from there; no file) and prints
 * {"res","error","retry_after_ms","machines_null"}.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "job.h"
#include "log.h"
#include "provider.h"
#include "util.h"

struct tjob {
	struct run *run;
	struct job *job;
	int index;
	pid_t pid;
	int calls;
	bool cancelled;
};

struct run {
	struct event_base *base;
	struct tjob *jobs;
	int n, started, completed, extra_calls, cancelled;
	/* What each job runs. */
	char **argv;
	int ncmd;
	bool as_argv;
	char **env;
	long long timeout, grace, outmax;
	struct event *tick, *cancel;
	int64_t last_tick, max_gap;
	long ticks;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: jobtool -P list|activate|deactivate KEY=VALUE...\n"
	    "       jobtool [-v] [-a] [-t timeout_ms] [-g grace_ms] [-o output_max] "
	    "[-e KEY=VALUE]... [-n copies] [-c cancel_ms] [-r chain] [-T] cmd...\n");
	exit(2);
}

static bool
run_over(struct run *r)
{
	return r->completed + r->cancelled >= r->n;
}

static void on_done(struct job *, const struct job_result *, void *);

/* Starts job i; 0, or -1 after printing why. */
static int
start_one(struct run *r, int i)
{
	struct tjob *t = &r->jobs[i];
	struct job_opts o;

	memset(&o, 0, sizeof(o));
	if (r->as_argv)
		o.argv = r->argv;
	else
		o.command = r->argv[i % r->ncmd];
	o.env = r->env;
	o.timeout_ms = r->timeout;
	o.kill_grace_ms = r->grace;
	o.output_max = (size_t)r->outmax;
	o.name = "jobtool";
	t->run = r;
	t->index = i;
	r->started++;
	if ((t->job = job_start(r->base, &o, on_done, t)) == NULL) {
		fprintf(stderr, "jobtool: job_start: %s\n", strerror(errno));
		return -1;
	}
	t->pid = job_pid(t->job);
	if (t->calls != 0) {
		fprintf(stderr, "jobtool: completed synchronously inside job_start\n");
		return -1;
	}
	return 0;
}

static void
on_done(struct job *job, const struct job_result *res, void *arg)
{
	struct tjob *t = arg;
	struct run *r = t->run;
	struct json_object *o;
	char buf[128];

	if (++t->calls > 1 || t->cancelled) {
		r->extra_calls++;
		return;
	}
	t->job = NULL;
	r->completed++;
	job_cancel(job); /* documented as a no-op inside the callback */
	o = json_object_new_object();
	json_object_object_add(o, "index", json_object_new_int(t->index));
	json_object_object_add(o, "pid", json_object_new_int((int)t->pid));
	json_object_object_add(o, "exit_code", json_object_new_int(res->exit_code));
	json_object_object_add(o, "signal", json_object_new_int(res->signal));
	json_object_object_add(o, "timed_out", json_object_new_boolean(res->timed_out));
	json_object_object_add(o, "duration_ms", json_object_new_int64(res->duration_ms));
	json_object_object_add(
	    o, "output", json_object_new_string_len(res->output, (int)res->output_len));
	json_object_object_add(o, "output_len", json_object_new_int64((int64_t)res->output_len));
	json_object_object_add(o, "truncated", json_object_new_boolean(res->output_truncated));
	json_object_object_add(o, "spawn_errno", json_object_new_int(res->spawn_errno));
	json_object_object_add(
	    o, "nul_terminated", json_object_new_boolean(res->output[res->output_len] == '\0'));
	json_object_object_add(
	    o, "result", json_object_new_string(job_result_str(res, buf, sizeof(buf))));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
	/* -r: the next job starts from inside this callback. */
	if (r->started < r->n && start_one(r, r->started) == -1)
		exit(3);
	if (run_over(r))
		event_base_loopexit(r->base, NULL);
}

struct prun {
	struct event_base *base;
	bool done;
	int calls;
};

/* Not prov_result_str: provider.c would pull in every provider and http.c. */
static const char *
res_str(enum prov_result r)
{
	switch (r) {
	case PROV_OK: return "ok";
	case PROV_RETRY: return "retry";
	case PROV_CONFIG: return "config";
	case PROV_FAILED: return "failed";
	}
	return "unknown";
}

static void
on_prov_done(const struct prov_status *st, void *arg)
{
	struct prun *pr = arg;
	struct json_object *o;

	if (pr->calls++ > 0)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "res", json_object_new_string(res_str(st->res)));
	json_object_object_add(o, "error", json_object_new_string(st->error));
	json_object_object_add(o, "retry_after_ms", json_object_new_int64(st->retry_after_ms));
	json_object_object_add(o, "machines_null", json_object_new_boolean(st->machines == NULL));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
	pr->done = true;
}

static int
prov_main(int argc, char *argv[])
{
	extern char **environ;
	struct config_source src;
	struct config_errors errs = {NULL, 0};
	struct config *cfg;
	struct provider *prov;
	struct prun pr;
	enum prov_op op;
	int i;

	if (argc < 1)
		usage();
	if (strcmp(argv[0], "list") == 0)
		op = PROV_OP_LIST;
	else if (strcmp(argv[0], "activate") == 0)
		op = PROV_OP_ACTIVATE;
	else if (strcmp(argv[0], "deactivate") == 0)
		op = PROV_OP_DEACTIVATE;
	else
		usage();
	memset(&src, 0, sizeof(src));
	src.file = "/dev/null";
	src.defines = argv + 1;
	src.ndefines = argc - 1;
	src.environ = environ;
	if ((cfg = config_load(&src, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "jobtool: %s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		return 2;
	}
	memset(&pr, 0, sizeof(pr));
	if ((pr.base = event_base_new()) == NULL ||
	    (prov = provider_command_ops.create(pr.base, NULL, cfg)) == NULL) {
		fprintf(stderr, "jobtool: set-up failed\n");
		return 2;
	}
	if (provider_command_ops.start(prov, op, on_prov_done, NULL, &pr) == -1) {
		fprintf(stderr, "jobtool: start failed\n");
		return 2;
	}
	/* One operation at a time. */
	if (provider_command_ops.start(prov, op, on_prov_done, NULL, &pr) != -1) {
		fprintf(stderr, "jobtool: a second start was not refused\n");
		return 2;
	}
	if (pr.done) {
		fprintf(stderr, "jobtool: completed synchronously inside start()\n");
		return 3;
	}
	event_base_dispatch(pr.base);
	provider_command_ops.destroy(prov);
	job_kill_all();
	config_free(cfg);
	event_base_free(pr.base);
	return pr.done && pr.calls == 1 ? 0 : 1;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int64_t now = util_mono_ms();

	if (r->last_tick != 0 && now - r->last_tick > r->max_gap)
		r->max_gap = now - r->last_tick;
	r->last_tick = now;
	r->ticks++;
}

static void
on_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int i, n = 0;

	for (i = 0; i < r->n; i++) {
		if (r->jobs[i].job == NULL)
			continue;
		job_cancel(r->jobs[i].job);
		r->jobs[i].job = NULL;
		r->jobs[i].cancelled = true;
		n++;
	}
	r->cancelled += n;
	printf("{\"cancelled\":%d}\n", n);
	fflush(stdout);
	if (run_over(r))
		event_base_loopexit(r->base, NULL);
}

int
main(int argc, char *argv[])
{
	struct run r;
	char **extra = NULL;
	long long timeout = 0, grace = 0, outmax = 0, copies = 1, cancel_ms = -1, chain = 0;
	bool as_argv = false, tick = false, prov = false;
	int ch, i, nextra = 0, first;
	struct timeval tv;
	struct json_object *sum;

	while ((ch = getopt(argc, argv, "+vPat:g:o:e:n:c:r:T")) != -1) {
		switch (ch) {
		case 'P': prov = true; break;
		case 'v': log_verbose(log_getverbose() + 1); break;
		case 'a': as_argv = true; break;
		case 't':
			if (util_int_parse(optarg, 0, 86400000, &timeout) == -1)
				usage();
			break;
		case 'g':
			if (util_int_parse(optarg, 0, 86400000, &grace) == -1)
				usage();
			break;
		case 'o':
			if (util_int_parse(optarg, 0, 1 << 30, &outmax) == -1)
				usage();
			break;
		case 'e':
			extra = xrealloc(extra, (size_t)(nextra + 2) * sizeof(*extra));
			extra[nextra++] = optarg;
			extra[nextra] = NULL;
			break;
		case 'n':
			if (util_int_parse(optarg, 1, 10000, &copies) == -1)
				usage();
			break;
		case 'c':
			if (util_int_parse(optarg, 0, 86400000, &cancel_ms) == -1)
				usage();
			break;
		case 'r':
			if (util_int_parse(optarg, 0, 10000, &chain) == -1)
				usage();
			break;
		case 'T': tick = true; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	log_init("jobtool", LOG_DEST_STDERR, NULL);
	signal(SIGPIPE, SIG_IGN); /* as failoverd does: children must not inherit it */
	if (prov)
		return prov_main(argc, argv);

	memset(&r, 0, sizeof(r));
	if ((r.base = event_base_new()) == NULL) {
		fprintf(stderr, "jobtool: event_base_new failed\n");
		return 2;
	}
	r.argv = argv;
	r.ncmd = as_argv ? 1 : argc;
	r.as_argv = as_argv;
	r.timeout = timeout;
	r.grace = grace;
	r.outmax = outmax;
	first = r.ncmd * (int)copies;
	r.n = first + (int)chain;
	r.jobs = xcalloc((size_t)r.n, sizeof(*r.jobs));
	r.env = job_env_new((const char *const *)extra);

	if (tick) {
		r.tick = event_new(r.base, -1, EV_PERSIST, on_tick, &r);
		tv.tv_sec = 0;
		tv.tv_usec = 10000;
		event_add(r.tick, &tv);
		r.last_tick = util_mono_ms();
	}
	for (i = 0; i < first; i++)
		if (start_one(&r, i) == -1)
			return 3;
	if (cancel_ms >= 0) {
		r.cancel = evtimer_new(r.base, on_cancel, &r);
		tv.tv_sec = cancel_ms / 1000;
		tv.tv_usec = (cancel_ms % 1000) * 1000;
		evtimer_add(r.cancel, &tv);
	}

	if (!run_over(&r))
		event_base_dispatch(r.base);
	/* Cancelled jobs are reaped by now or soon: let the loop run dry. */
	if (r.tick != NULL)
		event_del(r.tick);
	if (r.cancel != NULL)
		event_del(r.cancel);
	event_base_dispatch(r.base);

	sum = json_object_new_object();
	json_object_object_add(sum, "summary", json_object_new_boolean(1));
	json_object_object_add(sum, "jobs", json_object_new_int(r.n));
	json_object_object_add(sum, "completed", json_object_new_int(r.completed));
	json_object_object_add(sum, "extra_calls", json_object_new_int(r.extra_calls));
	json_object_object_add(sum, "cancelled", json_object_new_int(r.cancelled));
	json_object_object_add(sum, "max_gap_ms", json_object_new_int64(r.max_gap));
	json_object_object_add(sum, "ticks", json_object_new_int64(r.ticks));
	json_object_object_add(sum, "left", json_object_new_int(job_count()));
	printf("%s\n", json_object_to_json_string_ext(sum, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(sum);

	i = run_over(&r) && r.extra_calls == 0 ? 0 : 1;
	job_env_free(r.env);
	free(extra);
	job_kill_all();
	if (r.tick != NULL)
		event_free(r.tick);
	if (r.cancel != NULL)
		event_free(r.cancel);
	free(r.jobs);
	event_base_free(r.base);
	return i;
}
