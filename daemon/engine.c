/*
 * The engine: the only place where failover I/O is sequenced. Data flows
 * one way: a check result, a machine listing, a provider outcome, a command
 * or a timer becomes an input of the pure state machine (failover.c) and
 * marks the engine; once per loop pass engine_run() announces what changed
 * (announce.c), starts the action the machine asks for (action.c) and
 * re-arms the timers. This file owns that pass, the health-check intake,
 * the life cycle and the commands; listings and the standby watch are in
 * standby.c, the `selftest` command in selftest.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "control.h"
#include "coord.h"
#include "engine_int.h"
#include "events.h"
#include "daemon.h"
#include "hooks.h"
#include "leftovers.h"
#include "log.h"
#include "proto.h"
#include "notify.h"
#include "state.h"
#include "sync.h"
#include "timer.h"
#include "util.h"
#include "watch.h" /* watch */

static void
fo_params_from(struct fo_params *p, const struct config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->failure_threshold = cfg->failure_threshold;
	p->recovery_threshold = cfg->recovery_threshold;
	p->min_standby_ms = cfg->min_standby_time_ms;
	p->auto_stop_ms = cfg->auto_stop_ms;
	p->check_interval_ms = cfg->check_interval_ms;
	p->fast_interval_ms = cfg->fast_interval_ms;
	p->failback_manual = cfg->failback == FAILBACK_MANUAL;
	p->startup_grace_ms = cfg->startup_grace_ms;
	p->activation_timeout_ms = cfg->activation_timeout_ms;
	p->sync = sync_enabled(cfg);
	p->fence = cfg->fence_cmd != NULL;
	p->fence_required = cfg->fence_required;
	p->warm_standby = cfg->provider == PROVIDER_FLY && cfg->fly_standby_mode != NULL &&
	    strcmp(cfg->fly_standby_mode, "suspended") == 0;
	p->coordinated = cfg->coordinator != NULL && strcmp(cfg->coordinator, "etcd") == 0;
}

/* --- the loop's one decision point -------------------------------------------- */

static void
engine_run(struct engine *e)
{
	int64_t now = util_mono_ms(), delay, deadline;
	struct fo_action a;

	if (e->stopping)
		return;
	announce(e);
	if (e->run.running && !fo_action_current(&e->fo, e->run.act.id))
		action_cancel(e);
	if (fo_prepush_take(&e->fo))
		prepush_start(e);
	a = fo_pending_action(&e->fo, now);
	if (a.kind != FO_ACT_NONE && !e->run.running)
		action_start(e, &a); /* its outcome marks the engine again */
	announce(e);

	/* Checks: FAST_INTERVAL or CHECK_INTERVAL from the end of the last one,
	 * so re-arming here for another reason never pushes a check back. */
	delay = fo_next_check_delay(&e->fo);
	if (delay < 0)
		checker_stop(e->checker);
	else if (!checker_in_flight(e->checker)) {
		if (delay > 0 && e->check_end != 0)
			delay = e->check_end + delay - util_mono_ms();
		checker_schedule(e->checker, delay < 0 ? 0 : delay);
	}

	evtimer_del(e->ev_tick);
	deadline = fo_next_deadline(&e->fo, util_mono_ms());
	if (deadline >= 0) {
		e->tick_at = deadline;
		util_timer_in(e->ev_tick, deadline - util_mono_ms());
	}
	engine_coord_run(e);
	daemon_state_flush(e->d);
}

static void
run_cb(evutil_socket_t fd, short what, void *arg)
{
	engine_run(arg);
}

bool
engine_marked(const struct engine *e)
{
	return e != NULL && event_pending(e->ev_run, EV_TIMEOUT, NULL) != 0;
}

void
engine_mark(struct engine *e)
{
	/* A no-op while already marked: many inputs, one run. */
	event_active(e->ev_run, EV_TIMEOUT, 0);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	int64_t now = util_mono_ms();

	/* The timer was armed for tick_at; libevent's clock and ours may part by
	 * a millisecond, and a deadline seen as not yet due here would be seen
	 * as past by the next run, which arms nothing: a pause would never end. */
	fo_tick(&e->fo, now > e->tick_at ? now : e->tick_at);
	engine_mark(e);
}

/* --- waiters (force-* with wait) ------------------------------------------ */

/* A force-* result: the state, and the pause when there is one. */
static json_object *
force_result(struct engine *e)
{
	json_object *res = json_object_new_object();

	json_object_object_add(res, "state", json_object_new_string(fo_state_str(e->fo.state)));
	json_object_object_add(res, "paused", json_object_new_boolean(e->fo.paused));
	json_object_object_add(
	    res, "paused_until", e->fo.paused ? json_time_or_null(engine_pause_wall(e)) : NULL);
	return res;
}

void
waiters_finish(struct engine *e, bool only_target, enum fo_state reached, const char *fail)
{
	for (int i = 0; i < e->nwaiters;) {
		struct waiter *w = &e->waiters[i];
		if (fail == NULL && only_target && w->target != reached) {
			i++;
			continue;
		}
		if (fail != NULL) {
			if (only_target && w->target != reached) {
				i++;
				continue;
			}
			request_error(w->req, PROTO_FAILED, "%s", fail);
		} else
			request_reply(w->req, force_result(e));
		e->waiters[i] = e->waiters[--e->nwaiters];
	}
}

/* --- health checks ---------------------------------------------------------------- */

static void
check_done(const struct check_result *r, void *arg)
{
	struct engine *e = arg;
	struct daemon *d = e->d;
	json_object *f = check_result_json(r);
	bool was = e->checked && e->last.healthy;

	e->checked = true;
	e->check_end = util_mono_ms();
	e->last = *r;
	e->checks_total++;
	if (!r->healthy)
		e->checks_failed++;
	metrics_observe_check(&d->metrics, r->latency_ms / 1000.0);
	if (r->healthy)
		e->first_fail = 0;
	else if (e->first_fail == 0)
		e->first_fail = e->check_end;
	fo_check_result(&e->fo, util_mono_ms(), r->healthy, r->healthy ? NULL : r->error);
	coord_checked(
	    d->coord, r->healthy, e->fo.consecutive_failures, e->fo.consecutive_successes);
	if (r->healthy)
		notifier_heartbeat(e->notifier);

	if (!r->healthy && e->fo.consecutive_failures > d->cfg->failure_threshold)
		log_debug("primary %s: still failing (%s)", d->cfg->local_health_url, r->error);
	else if (!r->healthy && fo_grace_until(&e->fo, util_mono_ms()) != 0)
		log_warnx("primary %s: check failed (%s, %.0fms), %d/%d, not yet healthy since "
		          "start (STARTUP_GRACE)",
		    d->cfg->local_health_url, r->error, r->latency_ms, e->fo.consecutive_failures,
		    d->cfg->failure_threshold);
	else if (!r->healthy)
		log_info("primary %s: check failed (%s, %.0fms), %d/%d", d->cfg->local_health_url,
		    r->error, r->latency_ms, e->fo.consecutive_failures, d->cfg->failure_threshold);
	else if (!was)
		log_info("primary %s: check ok (HTTP %d, %.0fms), %d/%d", d->cfg->local_health_url,
		    r->status, r->latency_ms, e->fo.consecutive_successes,
		    d->cfg->recovery_threshold);
	else
		log_debug("primary %s: check ok (HTTP %d, %.1fms)", d->cfg->local_health_url,
		    r->status, r->latency_ms);

	json_object_object_add(f, "failures", json_object_new_int(e->fo.consecutive_failures));
	json_object_object_add(f, "successes", json_object_new_int(e->fo.consecutive_successes));
	events_emit(d->events, "check", f);
	engine_mark(e);
}

/* --- crash detection (issue 13, CONTRACT §10; watch.c) -------------------------- */
/* BEGIN watch block: creating, reconfiguring and freeing the watch are the
 * one-line calls marked "watch" in engine_new/engine_reconfigure/engine_free. */

static void
watch_check_fresh(const struct check_result *r, void *arg)
{
	(void)r;
	(void)arg;
}

/* The check the watch joined was already in flight when the watch fired:
 * its answer may predate the crash. A healthy one is followed by a fresh
 * check; a failed one has counted already (a second at once would shorten
 * the (FAILURE_THRESHOLD - 1) x FAST_INTERVAL grace). */
static void
watch_check_joined(const struct check_result *r, void *arg)
{
	struct engine *e = arg;

	if (r->healthy && !e->stopping && !e->fo.paused)
		(void)checker_check_now(e->checker, watch_check_fresh, NULL);
}

/* A watch fired: the `watch` event, then a check at once. The pacing that
 * follows is the state machine's: a failed check in `primary` means
 * FAST_INTERVAL (fo_next_check_delay). */
static void
engine_watch_fired(void *arg, const char *what, long pid, const char *detail)
{
	struct engine *e = arg;
	json_object *f = json_object_new_object();
	bool joined = checker_in_flight(e->checker);

	json_object_object_add(f, "what", json_object_new_string(what));
	json_object_object_add(f, "pid", pid > 0 ? json_object_new_int64(pid) : NULL);
	json_object_object_add(f, "detail", json_object_new_string(detail));
	events_emit(e->d->events, "watch", f);
	if (e->stopping)
		return;
	if (e->fo.paused) {
		log_info("watch: paused: no automatic check");
		return;
	}
	if (checker_check_now(e->checker, joined ? watch_check_joined : watch_check_fresh, e) == -1)
		log_warnx("watch: cannot start a check");
}
/* END watch block */

/* --- life cycle ------------------------------------------------------------------------ */

static void
notify_save(void *arg)
{
	daemon_state_dirty(arg);
	daemon_status_changed(arg);
}

struct engine *
engine_new(struct daemon *d)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	struct fo_params p;

	e->d = d;
	e->standby_healthy = -1;
	fo_params_from(&p, d->cfg);
	fo_init(&e->fo, &p);
	e->pops = provider_ops_for(d->cfg->provider);
	e->prov = e->pops->create(d->base, d->http, d->cfg);
	if (e->prov == NULL)
		fatalx("cannot set up the %s provider", e->pops->name);
	e->provq = provq_new(e->pops, e->prov);
	e->checker = checker_new(d->base, d->http, d->cfg, check_done, e);
	if (e->checker == NULL)
		fatalx("cannot set up health checks");
	e->ev_tick = evtimer_new(d->base, tick_cb, e);
	e->ev_reconcile = evtimer_new(d->base, reconcile_cb, e);
	e->ev_verify = evtimer_new(d->base, verify_cb, e);
	e->ev_watch = evtimer_new(d->base, watch_cb, e);
	e->ev_run = event_new(d->base, -1, 0, run_cb, e);
	event_priority_set(e->ev_run, PRIO_ENGINE);
	e->ev_periodic = evtimer_new(d->base, periodic_cb, e);
	e->detect_ms = -1;
	leftovers_start(d); /* before anything is spawned */
	e->hooks = hooks_new(d->base, d->events, d->cfg);
	if (sync_enabled(d->cfg))
		e->sync = sync_new(d->base, d->events, d->cfg);
	e->notifier = notifier_new(d->base, d->http, d->events, d->cfg, d->dstate, notify_save, d);
	announce_listen(e);
	e->watch = watch_new(d, engine_watch_fired, e); /* watch */
	engine_coord_new(e); /* COORDINATOR=etcd */
	return e;
}

void
engine_start(struct engine *e)
{
	struct daemon *d = e->d;
	struct dstate *st = d->dstate;
	struct fo_startup su;
	int64_t now = util_mono_ms();

	memset(&su, 0, sizeof(su));
	su.recorded = fo_recorded_from_str(st->side, !d->state_unusable);
	su.forced = st->forced;
	su.active_known = st->active_since != 0;
	su.active_since = su.active_known ? util_wall_to_mono(st->active_since) : 0;
	if (st->paused && (st->paused_until == 0 || st->paused_until > util_now_ms())) {
		struct fo_change drop[FO_MAX_CHANGES];

		log_info("still paused from before the restart");
		fo_pause(
		    &e->fo, now, st->paused_until != 0 ? util_wall_to_mono(st->paused_until) : 0);
		fo_changes_take(&e->fo, drop, FO_MAX_CHANGES); /* not a new pause: no event */
		e->pause_mono = e->fo.paused_until; /* shown as recorded, to the ms */
		e->pause_wall = st->paused_until;
	}
	fo_start(&e->fo, now, &su);
	coord_start(d->coord);
	/* The first check and the first listing, at once. */
	checker_schedule(e->checker, 0);
	engine_list(e);
	util_timer_in(e->ev_reconcile, d->cfg->reconcile_interval_ms);
	periodic_arm(e);
	engine_mark(e);
}

static void
shutdown_flushed(void *arg)
{
	struct engine *e = arg;

	if (!e->flushing)
		return;
	e->flushing = false;
	event_base_loopexit(e->d->base, NULL);
}

void
engine_shutdown(struct engine *e)
{
	struct event *timers[] = {
	    e->ev_tick, e->ev_reconcile, e->ev_verify, e->ev_watch, e->ev_run, e->ev_periodic};

	e->stopping = true;
	checker_stop(e->checker);
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		evtimer_del(timers[i]);
	/* A leader that stops revokes its lease: the others need not wait. */
	coord_free(e->d->coord);
	e->d->coord = NULL;
	e->run.cop = NULL; /* freed with the coordination */
	if (!notify_telegram_enabled(e->d->cfg))
		return;
	/* The daemon's `stop` event queued the last message. At most SHUTDOWN_FLUSH_MS for what is
	 * pending; the rest waits in STATE_FILE for the next start. */
	e->flushing = true;
	notifier_flush(e->notifier, SHUTDOWN_FLUSH_MS, shutdown_flushed, e);
	if (e->flushing)
		event_base_dispatch(e->d->base);
	e->flushing = false;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	coord_free(e->d->coord);
	e->d->coord = NULL;
	e->run.cop = NULL;
	for (int i = 0; i < e->nwaiters; i++)
		request_error(e->waiters[i].req, PROTO_FAILED, "failoverd is stopping");
	e->nwaiters = 0;
	if (e->selftest != NULL)
		selftest_free(e->selftest, "failoverd is stopping");
	if (e->sync_req != NULL)
		request_error(e->sync_req, PROTO_FAILED, "failoverd is stopping");
	e->sync_req = NULL;
	watch_free(e->watch); /* watch */
	sync_free(e->sync);
	hooks_free(e->hooks);
	announce_unlisten(e);
	notifier_free(e->notifier);
	json_object_put(e->cause);
	provq_free(e->provq);
	e->pops->destroy(e->prov);
	check_probe_cancel(e->probe);
	check_probe_cancel(e->watch_probe);
	checker_free(e->checker);
	event_free(e->ev_tick);
	event_free(e->ev_reconcile);
	event_free(e->ev_verify);
	event_free(e->ev_watch);
	event_free(e->ev_run);
	event_free(e->ev_periodic);
	machine_list_free(&e->machines);
	free(e);
}

void
engine_reconfigure(struct engine *e)
{
	struct fo_params p;

	fo_params_from(&p, e->d->cfg);
	fo_set_params(&e->fo, util_mono_ms(), &p);
	checker_set_config(e->checker, e->d->cfg);
	e->pops->reconfigure(e->prov, e->d->cfg);
	hooks_reconfigure(e->hooks, e->d->cfg);
	notifier_reconfigure(e->notifier, e->d->cfg);
	if (sync_enabled(e->d->cfg) && e->sync == NULL)
		e->sync = sync_new(e->d->base, e->d->events, e->d->cfg);
	else if (e->sync != NULL && !sync_enabled(e->d->cfg) && !sync_busy(e->sync)) {
		sync_free(e->sync);
		e->sync = NULL;
	} else if (e->sync != NULL)
		sync_reconfigure(e->sync, e->d->cfg);
	periodic_arm(e);
	watch_reconfigure(e->watch); /* watch */
	engine_mark(e);
}

/* --- the pause: the state machine owns it and its expiry --------------------------- */

void
engine_pause(struct engine *e, int64_t until_wall)
{
	fo_pause(&e->fo, util_mono_ms(), until_wall != 0 ? util_wall_to_mono(until_wall) : 0);
	/* The reply tells the wall time asked for, not a conversion of it. */
	e->pause_mono = e->fo.paused_until;
	e->pause_wall = until_wall;
	announce(e); /* the event and STATE_FILE before the reply */
	daemon_state_save(e->d);
	engine_mark(e);
}

void
engine_resume(struct engine *e)
{
	if (fo_resume(&e->fo, util_mono_ms()) == FO_NOOP) {
		struct fo_change ch = {.kind = FO_CH_PAUSE, .from = e->fo.state, .to = e->fo.state};

		strlcpy(ch.reason, "resumed (was not paused)", sizeof(ch.reason));
		announce_pause(e, &ch);
	}
	announce(e);
	daemon_state_save(e->d);
	engine_mark(e);
}

int64_t
engine_pause_wall(struct engine *e)
{
	if (!e->fo.paused || e->fo.paused_until == 0)
		return 0;
	if (e->pause_mono != e->fo.paused_until) {
		e->pause_mono = e->fo.paused_until;
		e->pause_wall = util_mono_to_wall(e->fo.paused_until);
	}
	return e->pause_wall;
}

bool
engine_paused(struct engine *e, int64_t *until_wall)
{
	if (until_wall != NULL)
		*until_wall = engine_pause_wall(e);
	return e->fo.paused;
}

const char *
engine_state_str(const struct engine *e)
{
	return fo_state_str(e->fo.state);
}

/* --- commands ---------------------------------------------------------------------------- */

static void
check_waiter(const struct check_result *r, void *arg)
{
	request_reply(arg, check_result_json(r));
}

void
engine_cmd_check(struct engine *e, struct request *r)
{
	if (checker_check_now(e->checker, check_waiter, r) == -1)
		request_error(r, PROTO_INTERNAL, "cannot start a check");
}

static void
force_reply(struct engine *e, struct request *r, enum fo_result res, const char *why, bool wait,
    enum fo_state target)
{
	engine_mark(e);
	if (res == FO_CONFLICT) {
		request_error(r, PROTO_CONFLICT, "%s", why != NULL ? why : "conflict");
		return;
	}
	if (wait && res == FO_OK && e->fo.state != target) {
		if (e->nwaiters == WAITERS_MAX) {
			request_error(r, PROTO_UNAVAILABLE, "too many waiting requests");
			return;
		}
		e->waiters[e->nwaiters].req = r;
		e->waiters[e->nwaiters].target = target;
		e->nwaiters++;
		return;
	}
	request_reply(r, force_result(e));
}

void
engine_cmd_force_activate(struct engine *e, struct request *r, const char *reason, bool wait)
{
	const char *why = NULL;
	char rs[256];
	enum fo_result res;

	snprintf(rs, sizeof(rs), "force-activate by uid %ld%s%s", (long)r->uid,
	    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	e->op_has_reason = reason != NULL;
	strlcpy(e->op_reason, reason != NULL ? reason : "", sizeof(e->op_reason));
	e->op_uid = (long)r->uid;
	res = fo_force_activate(&e->fo, util_mono_ms(), rs, &why);
	announce(e); /* the state event, with the operator's reason at hand */
	force_reply(e, r, res, why, wait, FO_STANDBY);
}

void
engine_cmd_force_deactivate(struct engine *e, struct request *r, const char *reason, bool force,
    bool wait, int64_t pause_ms)
{
	const char *why = NULL;
	char rs[256];
	enum fo_result res;
	bool was_paused = e->fo.paused;

	snprintf(rs, sizeof(rs), "force-deactivate by uid %ld%s%s", (long)r->uid,
	    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	e->op_has_reason = reason != NULL;
	strlcpy(e->op_reason, reason != NULL ? reason : "", sizeof(e->op_reason));
	e->op_uid = (long)r->uid;
	res = fo_force_deactivate_for(&e->fo, util_mono_ms(), rs, force, pause_ms, &why);
	e->force_pause_ms = res == FO_OK && e->fo.paused && !was_paused ? pause_ms : 0;
	announce(e);
	e->force_pause_ms = 0;
	force_reply(e, r, res, why, wait, FO_PRIMARY);
}
