/*
 * Hooks: FENCE_CMD, FAILBACK_CMD and the NOTIFY_CMD queue, each a job.
 * A hook sees the state change only through FAILOVER_* variables, never
 * through its command line, so event data (a force-activate reason, say)
 * cannot be injected into the shell.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "events.h"
#include "hooks.h"
#include "job.h"
#include "log.h"
#include "sync.h"
#include "util.h"

#define NOTIFY_QUEUE_MAX 64

struct hooks;

/* A FENCE_CMD or FAILBACK_CMD run; `h` first, so the job's arg finds it. */
struct hook_run {
	struct hooks *h;
	enum hook_kind kind;
	struct job *job;
	hook_done_cb *cb;
	void *arg;
};

struct hooks {
	struct event_base *base;
	struct events *events;
	const struct config *cfg;

	struct hook_run run[3]; /* [0] FENCE_CMD, [1] FAILBACK_CMD, [2] SELF_FENCE_CMD */
	bool quiet; /* a follower: no NOTIFY_CMD */

	/* NOTIFY_CMD: a FIFO of state changes, each as the environment its
	 * run gets; the head runs. */
	char **queue[NOTIFY_QUEUE_MAX];
	int qhead, qlen;
	struct job *notify_job;
	struct event *ev_notify; /* starts the queue's head after the pass */

	/* The last `state` event: what FENCE_CMD and FAILBACK_CMD are about. */
	char *state_event;
	char state_from[16], state_to[16], state_reason[256];
};

const char *
hook_name(enum hook_kind k)
{
	switch (k) {
	case HOOK_FENCE: return "fence";
	case HOOK_NOTIFY: return "notify";
	case HOOK_FAILBACK: return "failback";
	case HOOK_SELF_FENCE: return "self-fence";
	}
	return "?";
}

static const char *
hook_key(enum hook_kind k)
{
	switch (k) {
	case HOOK_FENCE: return "FENCE_CMD";
	case HOOK_NOTIFY: return "NOTIFY_CMD";
	case HOOK_FAILBACK: return "FAILBACK_CMD";
	case HOOK_SELF_FENCE: return "SELF_FENCE_CMD";
	}
	return "?";
}

static const char *
hook_cmd(const struct config *cfg, enum hook_kind k)
{
	switch (k) {
	case HOOK_FENCE: return cfg->fence_cmd;
	case HOOK_NOTIFY: return cfg->notify_cmd;
	case HOOK_FAILBACK: return cfg->failback_cmd;
	case HOOK_SELF_FENCE: return cfg->self_fence_cmd;
	}
	return NULL;
}

/* PATH, HOME, LANG, TZ and the FAILOVER_* variables of the change. */
static char **
hook_environ(const struct config *cfg, const struct hook_ctx *c)
{
	char **env = job_env_new(NULL);

	env = job_env_set(env, "FAILOVER_EVENT", c->event != NULL ? c->event : "");
	env = job_env_set(env, "FAILOVER_STATE", c->state != NULL ? c->state : "");
	env = job_env_set(env, "FAILOVER_FROM", c->from != NULL ? c->from : "");
	env = job_env_set(env, "FAILOVER_TO", c->to != NULL ? c->to : "");
	env = job_env_set(env, "FAILOVER_REASON", c->reason != NULL ? c->reason : "");
	env = job_env_set(env, "FAILOVER_INSTANCE", cfg->instance != NULL ? cfg->instance : "");
	return env;
}

/* A hook's output for an event: valid UTF-8 (sync.c's cleaner), the last
 * JOB_OUTPUT_MAX bytes, secrets redacted. */
static char *
output_clean(const struct config *cfg, const char *s, size_t len)
{
	char *clean = sync_output_clean(s, len, JOB_OUTPUT_MAX);
	char *red = config_redact(cfg, clean);

	free(clean);
	return red;
}

/* The `hook` event (contract §6) and one log line; returns ok. */
static bool
hook_report(struct hooks *h, enum hook_kind k, const struct job_result *r)
{
	json_object *f = json_object_new_object();
	bool ok = r->exit_code == 0 && !r->timed_out;
	char what[160], *clean;

	job_result_str(r, what, sizeof(what));
	if (ok)
		log_info("%s %s in %lldms", hook_key(k), what, (long long)r->duration_ms);
	else
		log_warnx("%s failed: %s", hook_key(k), what);
	json_object_object_add(f, "hook", json_object_new_string(hook_name(k)));
	json_object_object_add(f, "ok", json_object_new_boolean(ok));
	json_object_object_add(
	    f, "exit_code", r->exit_code >= 0 ? json_object_new_int(r->exit_code) : NULL);
	json_object_object_add(f, "signal", json_object_new_int(r->signal));
	json_object_object_add(f, "timed_out", json_object_new_boolean(r->timed_out));
	json_object_object_add(f, "duration_ms", json_object_new_int64(r->duration_ms));
	/* Arbitrary bytes: keep valid UTF-8 only, or json-c emits invalid JSON. */
	clean = output_clean(h->cfg, r->output, r->output_len);
	json_object_object_add(f, "output", json_object_new_string(clean));
	free(clean);
	events_emit(h->events, "hook", f);
	return ok;
}

static struct job *
hook_spawn(struct hooks *h, enum hook_kind k, char *const *env, job_done_cb *cb, void *arg)
{
	struct job_opts o;

	memset(&o, 0, sizeof(o));
	o.command = hook_cmd(h->cfg, k);
	o.env = env;
	o.timeout_ms = h->cfg->hook_timeout_ms;
	o.name = hook_key(k);
	return job_start(h->base, &o, cb, arg);
}

/* --- FENCE_CMD / FAILBACK_CMD ----------------------------------------------- */

static void
run_done(struct job *j, const struct job_result *r, void *arg)
{
	struct hook_run *hr = arg;
	hook_done_cb *cb = hr->cb;
	void *cbarg = hr->arg;
	char detail[160];

	bool ok;

	(void)j;
	ok = hook_report(hr->h, hr->kind, r);
	hr->job = NULL;
	hr->cb = NULL;
	job_result_str(r, detail, sizeof(detail));
	if (cb != NULL)
		cb(ok, detail, cbarg);
}

static struct hook_run *
run_slot(struct hooks *h, enum hook_kind k)
{
	return k == HOOK_FENCE     ? &h->run[0]
	    : k == HOOK_FAILBACK   ? &h->run[1]
	    : k == HOOK_SELF_FENCE ? &h->run[2]
	                           : NULL;
}

static void
last_state(const struct hooks *h, struct hook_ctx *c)
{
	c->event = h->state_event;
	c->state = h->state_to;
	c->from = h->state_from;
	c->to = h->state_to;
	c->reason = h->state_reason;
}

int
hooks_run(struct hooks *h, enum hook_kind k, hook_done_cb *cb, void *arg)
{
	struct hook_run *hr = run_slot(h, k);
	struct hook_ctx c;
	char **env;

	if (hr == NULL || hr->job != NULL || hook_cmd(h->cfg, k) == NULL)
		return -1;
	last_state(h, &c);
	env = hook_environ(h->cfg, &c);
	hr->cb = cb;
	hr->arg = arg;
	hr->job = hook_spawn(h, k, env, run_done, hr);
	job_env_free(env);
	if (hr->job == NULL) {
		hr->cb = NULL;
		return -1;
	}
	return 0;
}

void
hooks_cancel(struct hooks *h, enum hook_kind k)
{
	struct hook_run *hr = run_slot(h, k);

	if (hr == NULL || hr->job == NULL)
		return;
	log_info("%s cancelled", hook_key(k));
	job_cancel(hr->job);
	hr->job = NULL;
	hr->cb = NULL;
}

bool
hooks_configured(const struct hooks *h, enum hook_kind k)
{
	return hook_cmd(h->cfg, k) != NULL;
}

/* --- NOTIFY_CMD -------------------------------------------------------------- */

static void notify_next(struct hooks *);

/* Drops the head of the queue (it ran, or cannot run). */
static void
queue_pop(struct hooks *h)
{
	job_env_free(h->queue[h->qhead]);
	h->queue[h->qhead] = NULL;
	h->qhead = (h->qhead + 1) % NOTIFY_QUEUE_MAX;
	h->qlen--;
}

static void
notify_done(struct job *j, const struct job_result *r, void *arg)
{
	struct hooks *h = arg;

	(void)j;
	h->notify_job = NULL;
	(void)hook_report(h, HOOK_NOTIFY, r);
	queue_pop(h);
	notify_next(h);
}

static void
notify_next(struct hooks *h)
{
	while (h->qlen > 0 && h->notify_job == NULL) {
		if (h->cfg->notify_cmd != NULL)
			h->notify_job =
			    hook_spawn(h, HOOK_NOTIFY, h->queue[h->qhead], notify_done, h);
		if (h->notify_job != NULL)
			return;
		/* Unset by a reload, or libevent out of memory: skip it. */
		queue_pop(h);
	}
}

static void
notify_kick(evutil_socket_t fd, short what, void *arg)
{
	notify_next(arg);
}

/* A `state` event: kept for FENCE_CMD/FAILBACK_CMD, and NOTIFY_CMD queued.
 * It starts after this loop pass, when STATE_FILE has recorded the change. */
static void
hooks_on_state(const struct evrec *rec, json_object *ev, void *arg)
{
	struct hooks *h = arg;
	json_object *v;
	struct hook_ctx c;

	free(h->state_event);
	h->state_event = xstrdup(json_object_to_json_string_ext(
	    ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	strlcpy(h->state_from,
	    json_object_object_get_ex(ev, "from", &v) ? json_object_get_string(v) : "",
	    sizeof(h->state_from));
	strlcpy(h->state_to,
	    json_object_object_get_ex(ev, "to", &v) ? json_object_get_string(v) : "",
	    sizeof(h->state_to));
	strlcpy(h->state_reason,
	    json_object_object_get_ex(ev, "reason", &v) ? json_object_get_string(v) : "",
	    sizeof(h->state_reason));
	last_state(h, &c);
	if (!h->quiet)
		hooks_notify(h, &c);
}

void
hooks_set_quiet(struct hooks *h, bool quiet)
{
	h->quiet = quiet;
}

void
hooks_notify(struct hooks *h, const struct hook_ctx *c)
{
	struct timeval now = {0, 0};

	if (h->cfg->notify_cmd == NULL)
		return;
	if (h->qlen == NOTIFY_QUEUE_MAX) {
		/* Runs are bounded by HOOK_TIMEOUT; this needs a hook that hangs
		 * through 64 state changes. The newest change matters most. */
		int last = (h->qhead + h->qlen - 1) % NOTIFY_QUEUE_MAX;
		log_warnx("NOTIFY_CMD is %d state changes behind: one skipped", h->qlen);
		job_env_free(h->queue[last]);
		h->queue[last] = NULL;
		h->qlen--;
	}
	h->queue[(h->qhead + h->qlen) % NOTIFY_QUEUE_MAX] = hook_environ(h->cfg, c);
	h->qlen++;
	evtimer_add(h->ev_notify, &now);
}

int
hooks_notify_queued(const struct hooks *h)
{
	return h->qlen;
}

/* --- life cycle ----------------------------------------------------------------- */

static const char *const state_types[] = {"state", NULL};

struct hooks *
hooks_new(struct event_base *base, struct events *events, const struct config *cfg)
{
	struct hooks *h = xcalloc(1, sizeof(*h));

	h->base = base;
	h->events = events;
	h->cfg = cfg;
	h->run[0].h = h;
	h->run[0].kind = HOOK_FENCE;
	h->run[1].h = h;
	h->run[1].kind = HOOK_FAILBACK;
	h->run[2].h = h;
	h->run[2].kind = HOOK_SELF_FENCE;
	h->ev_notify = evtimer_new(base, notify_kick, h);
	events_subscribe(events, state_types, hooks_on_state, h);
	return h;
}

void
hooks_reconfigure(struct hooks *h, const struct config *cfg)
{
	h->cfg = cfg;
}

void
hooks_free(struct hooks *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < 3; i++)
		job_cancel(h->run[i].job);
	job_cancel(h->notify_job);
	while (h->qlen > 0)
		queue_pop(h);
	events_unsubscribe(h->events, hooks_on_state, h);
	event_free(h->ev_notify);
	free(h->state_event);
	free(h);
}
