/*
 * The fly provider's plans: from a listing, which machines an action
 * starts, stops or suspends and in which order (warm ones first in
 * suspended mode), what a deactivation waits for, the per-request
 * timeouts, and the step names that errors and progress show.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "fly_api.h"
#include "http.h"
#include "log.h"
#include "provider.h"
#include "provider_fly_int.h"
#include "timer.h"
#include "util.h"

const char *
fly_step_str(enum fly_step s)
{
	switch (s) {
	case ST_LIST: return "list machines";
	case ST_START: return "start machine";
	case ST_STOP: return "stop machine";
	case ST_GET: return "get machine";
	case ST_WAIT: return "wait for machine";
	case ST_SUSPEND: return "suspend machine";
	case ST_LEASE: return "lease machine";
	case ST_LEASE_GET: return "get the lease of machine";
	}
	return "?";
}

enum fly_call
fly_step_call(enum fly_step s)
{
	switch (s) {
	case ST_LIST: return FLY_CALL_LIST;
	case ST_START: return FLY_CALL_START;
	case ST_STOP: return FLY_CALL_STOP;
	case ST_GET: return FLY_CALL_GET;
	case ST_WAIT: return FLY_CALL_WAIT;
	case ST_SUSPEND: return FLY_CALL_SUSPEND;
	case ST_LEASE: return FLY_CALL_LEASE;
	case ST_LEASE_GET: return FLY_CALL_GET;
	}
	return FLY_CALL_GET;
}

/* The text after the step's name: " of APP" or " ID". */
void
fly_step_what(struct provider *p, char *buf, size_t len)
{
	if (p->step == ST_LIST)
		snprintf(buf, len, "list machines of %s", p->app);
	else if (p->step == ST_LEASE || p->step == ST_LEASE_GET)
		snprintf(buf, len, "%s %s", fly_step_str(p->step), p->leases[p->lease_idx].id);
	else
		snprintf(buf, len, "%s %s", fly_step_str(p->step), fly_target(p)->id);
}

bool
fly_state_is(const struct machine *m, const char *s)
{
	return strcmp(m->state, s) == 0;
}

bool
fly_state_startable(const struct machine *m)
{
	return fly_state_is(m, "stopped") || fly_state_is(m, "suspended") ||
	    fly_state_is(m, "failed");
}

/* Passing states that end by themselves; worth another attempt. */
bool
fly_state_transient(const struct machine *m)
{
	static const char *const t[] = {"stopping", "suspending", "restarting", "creating",
	    "updating", "replacing", "launch_failed", NULL};
	int i;

	for (i = 0; t[i] != NULL; i++)
		if (fly_state_is(m, t[i]))
			return true;
	return false;
}

/* Forgets the plan of this attempt (the targets and where we are in it). */
void
fly_plan_clear(struct provider *p)
{
	fly_leases_release(p);
	free(p->stopped_instead);
	p->stopped_instead = NULL;
	p->lease_wait = false;
	free(p->targets);
	p->targets = NULL;
	p->ntargets = p->idx = p->sub = 0;
	p->shortfall = p->transient = 0;
	p->after_timeout = false;
	p->from_known = false;
}

void
fly_plan_activate(struct provider *p)
{
	static const char *const cold[] = {"stopped", "suspended", "failed", NULL};
	static const char *const warm[] = {"suspended", "stopped", "failed", NULL};
	const char *const *order = p->suspend_mode ? warm : cold;
	int running = machine_list_count_running(&p->ml), need, i, k;

	p->targets = xcalloc((size_t)p->ml.n + 1, sizeof(*p->targets));
	for (i = 0; i < p->ml.n; i++)
		if (fly_state_running(p->ml.v[i].state))
			p->targets[p->ntargets++] = i;
	need = p->count - running;
	/* Stopped machines boot clean and pull state; suspended ones are
	 * stopped first (a resume would skip the pull); failed ones last.
	 * In suspended mode the suspended ones come first and resume. */
	for (k = 0; order[k] != NULL && need > 0; k++)
		for (i = 0; i < p->ml.n && need > 0; i++)
			if (fly_state_is(&p->ml.v[i], order[k])) {
				p->targets[p->ntargets++] = i;
				need--;
			}
	p->shortfall = need > 0 ? need : 0;
	for (i = 0; i < p->ml.n; i++)
		if (fly_state_transient(&p->ml.v[i]))
			p->transient++;
	if (running >= p->count)
		fly_progress(p, "%d of %d machines already running", running, p->count);
}

void
fly_plan_deactivate(struct provider *p)
{
	int i, suspended = 0;

	p->targets = xcalloc((size_t)p->ml.n + 1, sizeof(*p->targets));
	for (i = 0; i < p->ml.n; i++) {
		if (fly_state_running(p->ml.v[i].state) || fly_state_is(&p->ml.v[i], "stopping") ||
		    fly_state_is(&p->ml.v[i], "suspending"))
			p->targets[p->ntargets++] = i;
		else if (fly_state_is(&p->ml.v[i], "suspended"))
			suspended++;
	}
	/* A suspended machine serves nothing; stopping it would only throw
	 * its snapshot away. It is left alone. */
	if (suspended > 0)
		fly_progress(p, "leaving %d suspended machine(s) as they are", suspended);
}

void
fly_finish_activate(struct provider *p)
{
	if (p->shortfall == 0) {
		fly_finish(p, PROV_OK, -1, NULL);
		return;
	}
	if (p->transient > 0) {
		fly_finish(p, PROV_RETRY, -1,
		    "app %s: %d machine(s) in a passing state, %d more needed to reach "
		    "FLY_MACHINE_COUNT %d",
		    p->app, p->transient, p->shortfall, p->count);
		return;
	}
	if (p->ml.n < p->count)
		fly_finish(p, PROV_CONFIG, -1,
		    "app %s has %d machine%s, FLY_MACHINE_COUNT is %d: deploy the standby with "
		    "`fly deploy` and leave a stopped machine",
		    p->app, p->ml.n, p->ml.n == 1 ? "" : "s", p->count);
	else
		fly_finish(p, PROV_CONFIG, -1,
		    "app %s: only %d of its %d machines can be started, FLY_MACHINE_COUNT is %d",
		    p->app, p->count - p->shortfall, p->ml.n, p->count);
}

/* Planned: on to the leases, then the action. */
void
fly_planned(struct provider *p)
{
	fly_plan_leases(p);
	p->phase = PH_LEASE;
	p->idx = p->sub = 0;
}

/* What a deactivation waits for on this target. */
const char *
fly_deact_want(struct provider *p, const struct machine *m)
{
	if (!p->suspend_op || p->stopped_instead[p->idx] || fly_state_is(m, "stopping") ||
	    fly_state_is(m, "stopped"))
		return "stopped";
	return "suspended";
}

/* Forgets the plan and lists: a fresh start of this attempt. */
void
fly_replan(struct provider *p)
{
	fly_plan_clear(p);
	machine_list_free(&p->ml);
	machine_list_free(&p->known);
	fly_list(p);
}

/*
 * An activation planned from the remembered listing, when that plan is
 * nothing but starting stopped machines; false (nothing changed) otherwise.
 */
bool
fly_activate_from_known(struct provider *p)
{
	int64_t age = util_mono_ms() - p->known_mono;
	bool clean;
	int i;

	if (p->known.n == 0 || age < 0 || age > p->known_max_age_ms)
		return false;
	machine_list_copy(&p->ml, &p->known);
	fly_plan_activate(p);
	clean = p->ntargets > 0 && p->shortfall == 0 && p->transient == 0;
	/* Starts only: stopped machines, and suspended ones in suspended
	 * mode (their start is the resume). */
	for (i = 0; clean && i < p->ntargets; i++)
		clean = fly_state_is(&p->ml.v[p->targets[i]], "stopped") ||
		    (p->suspend_mode && fly_state_is(&p->ml.v[p->targets[i]], "suspended"));
	if (!clean) {
		fly_plan_clear(p);
		machine_list_free(&p->ml);
		return false;
	}
	p->from_known = true;
	log_debug("fly: %s: starting from the listing of %lldms ago", p->app, (long long)age);
	fly_planned(p);
	fly_next(p);
	return true;
}

/*
 * The per-request timeouts. No single request outlives ACTIVATION_TIMEOUT
 * (nor 30 s): a request hung that long is given up and the attempt retried
 * ("retries go on"), instead of holding the failover for the full 30 s.
 * The /wait long-poll is bounded the same way; its 408 is re-issued at once.
 */
void
fly_timeouts(struct provider *p)
{
	int64_t t = p->activation_timeout_ms;
	int w;

	if (t > FLY_REQUEST_TIMEOUT_MS || t <= 0)
		t = FLY_REQUEST_TIMEOUT_MS;
	if (t < FLY_REQUEST_TIMEOUT_MIN_MS)
		t = FLY_REQUEST_TIMEOUT_MIN_MS;
	p->request_timeout_ms = p->tune_request_ms > 0 ? p->tune_request_ms : t;
	if (p->tune_wait_s > 0)
		w = p->tune_wait_s;
	else if (p->activation_timeout_ms <= 0 ||
	    p->activation_timeout_ms >= (int64_t)FLY_WAIT_MAX_S * 1000)
		w = FLY_WAIT_MAX_S;
	else
		w = (int)((p->activation_timeout_ms + 999) / 1000);
	if (w < 1)
		w = 1;
	if (w > FLY_WAIT_MAX_S)
		w = FLY_WAIT_MAX_S;
	p->wait_s = w;
}
