/*
 * The engine: the only place where failover I/O is sequenced. Data flows
 * one way: a check result, a machine listing, a provider outcome, a command
 * or a timer becomes an input of the pure state machine (failover.c); then
 * engine_run() announces what changed, starts the action the machine asks
 * for, and re-arms the timers. Its state (struct engine) is in
 * engine_int.h, shared only with selftest.c (the `selftest` command).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "check.h"
#include "engine_int.h"
#include "control.h"
#include "engine.h"
#include "events.h"
#include "failover.h"
#include "failoverd.h"
#include "fly_api.h"
#include "hooks.h"
#include "http.h"
#include "leftovers.h"
#include "log.h"
#include "notify.h"
#include "provider.h"
#include "state.h"
#include "status.h"
#include "sync.h"
#include "timer.h"
#include "util.h"
#include "watch.h" /* watch */

static void engine_run(struct engine *);
static void engine_list(struct engine *);

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
}

/* Deferred run, for inputs that arrive inside another module's callback. */
static void
run_cb(evutil_socket_t fd, short what, void *arg)
{
	engine_run(arg);
}

void
engine_kick(struct engine *e)
{
	util_timer_in(e->ev_run, 0);
}

static void
standby_event(struct engine *e, const char *action, const char *phase, const char *detail)
{
	json_object *f = json_object_new_object();

	json_object_object_add(f, "action", json_object_new_string(action));
	json_object_object_add(f, "phase", json_object_new_string(phase));
	json_object_object_add(f, "detail", detail != NULL ? json_object_new_string(detail) : NULL);
	events_emit(e->d->events, "standby", f);
}

static const char *
act_name(const struct fo_action *a)
{
	if (a->kind == FO_ACT_ACTIVATE)
		return a->restart ? "restart" : "activate";
	return "deactivate";
}

/* --- waiters (force-* with wait) ------------------------------------------ */

/* A force-* result: the state, and the pause when there is one. */
static json_object *
force_result(struct engine *e)
{
	json_object *res = json_object_new_object();

	json_object_object_add(res, "state", json_object_new_string(fo_state_str(e->fo.state)));
	json_object_object_add(res, "paused", json_object_new_boolean(e->d->paused));
	json_object_object_add(
	    res, "paused_until", e->d->paused ? json_time_or_null(e->d->paused_until) : NULL);
	return res;
}

static void
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

/* --- notifications ------------------------------------------------------------ */

static void engine_notify(struct engine *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A Telegram message, prefixed with where it comes from. */
static void
engine_notify(struct engine *e, const char *fmt, ...)
{
	const struct config *cfg = e->d->cfg;
	char body[2048], host[64];
	char *text;
	va_list ap;

	if (!notify_telegram_enabled(cfg))
		return;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "?", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	text = xasprintf("failoverd%s%s on %s: %s", cfg->instance != NULL ? " " : "",
	    cfg->instance != NULL ? cfg->instance : "", host, body);
	notifier_send(e->notifier, text);
	free(text);
}

static const char *
dur_str(int64_t ms, char *buf, size_t len)
{
	if (ms < 0)
		ms = 0;
	if (ms < 10000)
		snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
	else if (ms < 3600000)
		snprintf(
		    buf, len, "%lldm %llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
	else
		snprintf(buf, len, "%lldh %lldm", (long long)(ms / 3600000),
		    (long long)(ms / 60000 % 60));
	return buf;
}

static const char *
standby_name(const struct engine *e)
{
	const struct config *cfg = e->d->cfg;

	if (cfg->fly_app != NULL)
		return cfg->fly_app;
	return cfg->provider == PROVIDER_COMMAND ? "(ACTIVATE_CMD)" : "(dry run)";
}

/* The hooks' view of the last state change. */
static void
hook_ctx(struct engine *e, struct hook_ctx *c)
{
	c->event = e->state_json != NULL ? e->state_json : "";
	c->state = fo_state_str(e->fo.state);
	c->from = e->state_from;
	c->to = e->state_to;
	c->reason = e->state_reason;
}

/* Keeps the `state` event just emitted, as JSON, for FAILOVER_EVENT. */
static void
keep_state_event(struct engine *e, const struct fo_change *ch)
{
	struct evfilter f;
	char types[1][EVENT_TYPE_LEN] = {"state"};
	struct evrec **v;
	int n;

	f.types = types;
	f.n = 1;
	free(e->state_json);
	e->state_json = NULL;
	n = events_backlog(e->d->events, &f, 1, &v);
	if (n == 1 && v[0]->len > 11 && strncmp(v[0]->line, "{\"event\":", 9) == 0)
		e->state_json = xasprintf("%.*s", (int)(v[0]->len - 11), v[0]->line + 9);
	for (int i = 0; i < n; i++)
		evrec_unref(v[i]);
	free(v);
	strlcpy(e->state_from, fo_state_str(ch->from), sizeof(e->state_from));
	strlcpy(e->state_to, fo_state_str(ch->to), sizeof(e->state_to));
	strlcpy(e->state_reason, ch->reason, sizeof(e->state_reason));
}

/* The standby's estimated cost for active_ms of activity: the machines of
 * the last activation, or FLY_MACHINE_COUNT when none is recorded. */
static double
standby_cost_usd(const struct engine *e, int64_t active_ms)
{
	const struct config *cfg = e->d->cfg;
	int nmach = (int)json_object_array_length(e->d->dstate->machines);

	if (nmach == 0)
		nmach = cfg->fly_machine_count;
	return (double)active_ms / 1000.0 * nmach * cfg->cost_per_second;
}

/* The owner hears about every move (Telegram). */
static void
announce_telegram(
    struct engine *e, const struct fo_change *ch, int64_t closed_active_ms, const char *recorded)
{
	struct dstate *st = e->d->dstate;
	char a[32], b[32];

	if (ch->from == FO_PRIMARY && ch->to == FO_FAILING_OVER)
		engine_notify(
		    e, "FAILOVER BEGUN. %s. Starting the standby %s.", ch->reason, standby_name(e));
	else if (ch->from == FO_FAILING_OVER && ch->to == FO_FAILING_BACK)
		engine_notify(e, "ACTIVATION ABORTED: %s. Stopping the standby %s.", ch->reason,
		    standby_name(e));
	else if (ch->from == FO_FAILING_BACK && ch->to == FO_PRIMARY && e->aborting)
		engine_notify(e,
		    "ACTIVATION ABORTED: the standby %s is stopped; the primary is the "
		    "active side.",
		    standby_name(e));
	else if (ch->from == FO_STARTING && ch->to == FO_STANDBY &&
	    strcmp(recorded, "failing-over") == 0)
		engine_notify(e,
		    "STANDBY SERVING: %s is active; failoverd restarted during the activation and "
		    "found it done.",
		    standby_name(e));
	else if (ch->from == FO_FAILING_OVER && ch->to == FO_STANDBY) {
		if (e->detect_ms >= 0)
			engine_notify(e,
			    "STANDBY SERVING: %s is active. Detection took %s, activation %s.",
			    standby_name(e), dur_str(e->detect_ms, a, sizeof(a)),
			    dur_str(util_mono_ms() - e->trans_start, b, sizeof(b)));
		else
			engine_notify(e, "STANDBY SERVING: %s is active (%s). Activation took %s.",
			    standby_name(e), e->fo.forced ? "forced" : "failover",
			    dur_str(util_mono_ms() - e->trans_start, b, sizeof(b)));
	} else if (ch->from == FO_FAILING_BACK && ch->to == FO_PRIMARY) {
		engine_notify(e,
		    "FAILBACK DONE: the primary serves again. Outage %s; standby active %s, "
		    "estimated cost $%.4f.",
		    dur_str(st->last_failover != 0 ? util_now_ms() - st->last_failover : 0, a,
		        sizeof(a)),
		    dur_str(closed_active_ms, b, sizeof(b)), standby_cost_usd(e, closed_active_ms));
	}
}

/* --- announcing changes ------------------------------------------------------ */

static void
record_side(struct engine *e)
{
	struct dstate *st = e->d->dstate;
	const char *side = fo_state_str(e->fo.state);

	if (e->fo.state != FO_STARTING)
		strlcpy(st->side, side, sizeof(st->side));
	st->forced = e->fo.forced;
	if (e->fo.active && st->active_since == 0)
		st->active_since = util_mono_to_wall(e->fo.active_since);
	else if (!e->fo.active && st->active_since != 0) {
		st->active_ms_total += util_now_ms() - st->active_since;
		st->active_since = 0;
	}
}

/* status.cause for a transition that begins (contract §13). */
static void
record_cause(struct engine *e, const struct fo_change *ch)
{
	json_object *c = json_object_new_object();

	json_object_object_add(c, "what", json_object_new_string(fo_cause_str(ch->cause)));
	json_object_object_add(c, "time", json_time_or_null(util_now_ms()));
	json_object_object_add(c, "detail", json_object_new_string(ch->reason));
	switch (ch->cause) {
	case FO_CAUSE_THRESHOLD:
		json_object_object_add(c, "error", json_object_new_string(ch->error));
		json_object_object_add(c, "failures", json_object_new_int(ch->failures));
		break;
	case FO_CAUSE_RECOVERY:
		json_object_object_add(c, "successes", json_object_new_int(ch->successes));
		break;
	case FO_CAUSE_FORCE_ACTIVATE:
	case FO_CAUSE_FORCE_DEACTIVATE:
		json_object_object_add(
		    c, "reason", e->op_has_reason ? json_object_new_string(e->op_reason) : NULL);
		json_object_object_add(c, "uid", json_object_new_int64(e->op_uid));
		break;
	default: break;
	}
	json_object_put(e->cause);
	e->cause = c;
}

static void
announce_state(struct engine *e, const struct fo_change *ch)
{
	struct daemon *d = e->d;
	struct dstate *st = d->dstate;
	json_object *f = json_object_new_object();
	int64_t total_before = st->active_ms_total;
	struct hook_ctx hc;
	char recorded[sizeof(st->side)];

	strlcpy(recorded, st->side, sizeof(recorded));

	/* A failover is what the person on call must see; other moves are
	 * notices (journalctl -p notice shows them all). */
	if (ch->to == FO_FAILING_OVER && ch->cause == FO_CAUSE_THRESHOLD)
		log_warnx(
		    "state %s -> %s: %s", fo_state_str(ch->from), fo_state_str(ch->to), ch->reason);
	else
		log_notice(
		    "state %s -> %s: %s", fo_state_str(ch->from), fo_state_str(ch->to), ch->reason);
	json_object_object_add(f, "from", json_object_new_string(fo_state_str(ch->from)));
	json_object_object_add(f, "to", json_object_new_string(fo_state_str(ch->to)));
	json_object_object_add(f, "reason", json_object_new_string(ch->reason));
	events_emit(d->events, "state", f);
	keep_state_event(e, ch);

	if (ch->from == FO_FAILING_OVER && ch->to == FO_FAILING_BACK)
		e->aborting = true;
	if ((ch->to == FO_FAILING_OVER || ch->to == FO_FAILING_BACK) && ch->cause != FO_CAUSE_NONE)
		record_cause(e, ch);
	if (ch->to == FO_FAILING_OVER || ch->to == FO_FAILING_BACK) {
		e->prep_done = false;
		e->pull_alerted = false;
		e->trans_start = util_mono_ms();
		e->detect_ms = ch->from == FO_PRIMARY && e->first_fail != 0 && !e->fo.forced
		    ? e->trans_start - e->first_fail
		    : -1;
	}
	if (ch->from == FO_PRIMARY && ch->to == FO_FAILING_OVER) {
		st->failovers++;
		st->last_failover = util_now_ms();
	} else if (ch->from == FO_STANDBY && ch->to == FO_FAILING_BACK) {
		st->failbacks++;
		st->last_failback = util_now_ms();
	}
	if (ch->to != FO_FAILING_OVER && ch->to != FO_FAILING_BACK)
		evtimer_del(e->ev_timeout);
	record_side(e);
	announce_telegram(e, ch, st->active_ms_total - total_before, recorded);
	if (ch->to == FO_PRIMARY || ch->to == FO_STANDBY) {
		/* A transition's problems end with it. */
		e->aborting = false;
		daemon_error_cleared(d, "activation", "%s", ch->reason);
		daemon_error_cleared(d, "deactivation", "%s", ch->reason);
		daemon_error_cleared(d, "fence", "%s", ch->reason);
	}
	if (ch->to == FO_PRIMARY)
		daemon_error_cleared(d, "standby", "the standby is stopped");
	daemon_state_save(d);
	hook_ctx(e, &hc);
	hooks_notify(e->hooks, &hc);

	/* Waiters: reaching their side succeeds; leaving a transition toward
	 * something else fails them. */
	if (ch->to == FO_STANDBY || ch->to == FO_PRIMARY) {
		waiters_finish(e, true, ch->to, NULL);
		waiters_finish(e, false, ch->to, "the transition was superseded");
	}
	if (ch->to == FO_STANDBY)
		util_timer_in(e->ev_watch, d->cfg->check_interval_ms);
	else
		evtimer_del(e->ev_watch);
}

/* systemd's STATUS=: the state, the pause and degraded, when they change. */
static void
sd_status(struct engine *e)
{
	struct daemon *d = e->d;
	char buf[sizeof(e->sd_status)], t[UTIL_TIME_LEN];

	snprintf(buf, sizeof(buf), "STATUS=%s%s%s%s%s%s", fo_state_str(e->fo.state),
	    d->paused ? ", paused until " : "",
	    d->paused
	        ? (d->paused_until != 0 ? util_time_fmt(d->paused_until, t, sizeof(t)) : "resume")
	        : "",
	    e->fo.degraded ? ", degraded" : "", e->fo.degraded ? ": " : "",
	    e->fo.degraded ? e->fo.degraded_reason : "");
	if (strcmp(buf, e->sd_status) == 0)
		return;
	strlcpy(e->sd_status, buf, sizeof(e->sd_status));
	daemon_sd_notify(d, buf);
}

static void
announce(struct engine *e)
{
	struct daemon *d = e->d;
	struct fo_change ch[FO_MAX_CHANGES];
	int n;

	while ((n = fo_changes_take(&e->fo, ch, FO_MAX_CHANGES)) > 0) {
		for (int i = 0; i < n; i++) {
			switch (ch[i].kind) {
			case FO_CH_STATE: announce_state(e, &ch[i]); break;
			case FO_CH_FLAGS:
				log_info("%s%s: %s", ch[i].forced ? "forced" : "not forced",
				    ch[i].degraded ? ", degraded" : "", ch[i].reason);
				record_side(e);
				/* A forced activation's state change follows in this
				 * pass and saves at once; nothing else is urgent. */
				daemon_state_dirty(d);
				break;
			case FO_CH_PAUSE:
				/* The machine paused or resumed by itself (force-deactivate
				 * with force): tell the daemon, which owns the pause. */
				/* Compare the machine's pause now, not the queued
				 * change's: a pause and a resume in quick succession
				 * leave two changes that the daemon already made,
				 * and echoing the first would pause again. */
				/* The machine pauses by itself only for force-deactivate
				 * with force, for a bounded time (the daemon's expiry). */
				if (e->fo.paused != d->paused) {
					if (e->fo.paused)
						daemon_pause(d, util_now_ms() + e->force_pause_ms);
					else
						daemon_resume(d);
				}
				break;
			case FO_CH_DRIFT: {
				json_object *f = json_object_new_object();
				log_warnx("drift: %s", ch[i].reason);
				json_object_object_add(
				    f, "detail", json_object_new_string(ch[i].reason));
				events_emit(d->events, "drift", f);
				break;
			}
			case FO_CH_GRACE_HOLD: {
				char t[32];
				int64_t until = fo_grace_until(&e->fo, util_mono_ms());

				/* daemon_error logs it, once, at warning. */
				daemon_error(d, "startup-grace", "%s", ch[i].reason);
				util_time_fmt(util_mono_to_wall(until), t, sizeof(t));
				engine_notify(e,
				    "PRIMARY NOT HEALTHY SINCE START: %s. No automatic failover before "
				    "%s (STARTUP_GRACE); check LOCAL_HEALTH_URL and the primary.",
				    e->fo.last_error, t);
				break;
			}
			case FO_CH_GRACE_END:
				daemon_error_cleared(d, "startup-grace", "%s", ch[i].reason);
				break;
			case FO_CH_FAILBACK_AWAITED:
				log_info(
				    "the primary is healthy again; FAILBACK=manual: waiting for "
				    "`failoverctl force-deactivate`");
				standby_event(e, "deactivate", "begin",
				    "primary healthy again; manual failback awaited");
				engine_notify(e,
				    "The primary is healthy again. FAILBACK=manual: the standby "
				    "%s keeps serving until `failoverctl force-deactivate`.",
				    standby_name(e));
				break;
			}
		}
	}
	sd_status(e);
	daemon_status_changed(d);
}

/* --- actions ------------------------------------------------------------------ */

static void action_done(struct engine *, bool ok, const char *detail, int64_t retry_ms);

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	char dur[32];

	if (e->fo.state != FO_FAILING_OVER && e->fo.state != FO_FAILING_BACK)
		return;
	util_duration_fmt(e->d->cfg->activation_timeout_ms, dur, sizeof(dur));
	daemon_error(e->d, e->fo.state == FO_FAILING_OVER ? "activation" : "deactivation",
	    "not done after ACTIVATION_TIMEOUT (%s); retries go on", dur);
	fo_set_degraded(&e->fo, util_mono_ms(), true, "ACTIVATION_TIMEOUT passed");
	engine_notify(e, "%s DEGRADED: not done after ACTIVATION_TIMEOUT (%s); retries go on.%s%s",
	    e->fo.state == FO_FAILING_OVER ? "ACTIVATION" : "FAILBACK", dur,
	    e->standby_error[0] ? " Last error: " : "", e->standby_error);
	engine_run(e);
}

static void verify_start(struct engine *);

static void
verify_done(const struct check_result *r, void *arg)
{
	struct engine *e = arg;

	e->probe = NULL;
	e->standby_healthy = r->healthy ? 1 : 0;
	strlcpy(e->standby_error, r->healthy ? "" : r->error, sizeof(e->standby_error));
	if (!e->act_running)
		return;
	if (r->healthy) {
		standby_event(e, act_name(&e->act), "done", "standby healthy at FLY_HEALTH_URL");
		action_done(e, true, "the standby is started and healthy at FLY_HEALTH_URL", 0);
		return;
	}
	e->verify_failures++;
	if (e->pops == &provider_command_ops && e->verify_failures >= VERIFY_PROBES_MAX) {
		/* ACTIVATE_CMD returned but nothing serves (a server it left in
		 * the background dies with its process group): run it again. */
		int64_t retry = util_backoff_ms(e->act.attempt - 1, RETRY_BASE_MS, RETRY_CAP_MS);
		char detail[512];

		snprintf(detail, sizeof(detail),
		    "standby not healthy at %s after %d probes (%s): running ACTIVATE_CMD again "
		    "in %llds (attempt %d)",
		    e->d->cfg->fly_health_url, e->verify_failures, r->error,
		    (long long)((retry + 999) / 1000), e->act.attempt + 1);
		log_warnx("%s", detail);
		standby_event(e, act_name(&e->act), "retry", detail);
		action_done(e, false, detail, retry);
		return;
	}
	log_info("standby not healthy yet at %s: %s", e->d->cfg->fly_health_url, r->error);
	util_timer_in(e->ev_verify, e->d->cfg->fast_interval_ms);
}

static void step_pull(struct engine *);
static void step_failback(struct engine *);
static void deactivate_finish(struct engine *);

static void
verify_cb(evutil_socket_t fd, short what, void *arg)
{
	verify_start(arg);
}

static void
verify_start(struct engine *e)
{
	const struct config *cfg = e->d->cfg;

	e->probe = check_probe_start(e->d->http, cfg, cfg->fly_health_url, verify_done, e);
	if (e->probe == NULL)
		util_timer_in(e->ev_verify, cfg->fast_interval_ms);
}

static void
prov_progress(const char *detail, void *arg)
{
	log_info("standby: %s", detail);
}

static void
machines_set(struct engine *e, const struct machine_list *ml)
{
	if (ml == NULL)
		return;
	machine_list_free(&e->machines);
	if (ml->n > 0) {
		e->machines.v = xcalloc((size_t)ml->n, sizeof(*ml->v));
		memcpy(e->machines.v, ml->v, (size_t)ml->n * sizeof(*ml->v));
		e->machines.n = ml->n;
	}
	e->listed = true;
}

static void
record_machines(struct engine *e)
{
	struct dstate *st = e->d->dstate;

	json_object_put(st->machines);
	st->machines = json_object_new_array();
	for (int i = 0; i < e->machines.n; i++) {
		const struct machine *m = &e->machines.v[i];
		json_object *o;
		if (!fly_state_running(m->state))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(m->id));
		json_object_object_add(o, "instance_id", json_object_new_string(m->instance_id));
		json_object_object_add(o, "region", json_object_new_string(m->region));
		json_object_array_add(st->machines, o);
	}
}

static void
prov_action_done(const struct prov_status *ps, void *arg)
{
	struct engine *e = arg;
	const struct config *cfg = e->d->cfg;
	int64_t retry;

	e->prov_busy = false;
	e->prov_is_action = false;
	if (ps->machines != NULL)
		machines_set(e, ps->machines);
	else if (e->pops == &provider_command_ops)
		e->listed = true;
	if (!e->act_running)
		return;
	if (ps->res == PROV_OK) {
		e->standby_error[0] = '\0';
		e->auth_alerted = false;
		daemon_error_cleared(e->d, "fly-api", "the Fly Machines API answers again");
		if (e->act.kind == FO_ACT_ACTIVATE) {
			record_machines(e);
			daemon_state_dirty(e->d);
			if (cfg->fly_health_url != NULL) {
				standby_event(e, act_name(&e->act), "begin",
				    "machines started; verifying FLY_HEALTH_URL");
				e->step = STEP_VERIFY;
				e->verify_failures = 0;
				verify_start(e);
				return;
			}
		} else {
			json_object_put(e->d->dstate->machines);
			e->d->dstate->machines = json_object_new_array();
			daemon_state_dirty(e->d);
			if (e->act.pull && e->sync != NULL)
				step_pull(e);
			else if (e->act.failback_hook)
				step_failback(e);
			else
				deactivate_finish(e);
			return;
		}
		{
			const char *what = e->act.kind == FO_ACT_ACTIVATE
			    ? "the standby's machines are started"
			    : "the standby's machines are stopped";
			standby_event(e, act_name(&e->act), "done", what);
			action_done(e, true, what, 0);
		}
		return;
	}
	strlcpy(e->standby_error, ps->error, sizeof(e->standby_error));
	retry = util_backoff_ms(e->act.attempt - 1, RETRY_BASE_MS, RETRY_CAP_MS);
	if (ps->retry_after_ms > retry)
		retry = ps->retry_after_ms;
	if (ps->res == PROV_CONFIG) {
		/* Needs a person: alert, and retry slowly, never in a tight loop. */
		daemon_error(e->d, "fly-api", "%s", ps->error);
		if (!e->auth_alerted)
			engine_notify(e,
			    "STANDBY %s FAILED and needs a person: %s. Retrying every %llds.",
			    act_name(&e->act), ps->error, (long long)(CONFIG_RETRY_MIN_MS / 1000));
		e->auth_alerted = true;
		if (retry < CONFIG_RETRY_MIN_MS)
			retry = CONFIG_RETRY_MIN_MS;
	} else if (e->act.attempt == 1 && !e->act.drift)
		engine_notify(e, "Standby %s failed: %s. Retrying.", act_name(&e->act), ps->error);
	{
		char detail[320];
		snprintf(detail, sizeof(detail), "%s (attempt %d, retrying in %llds)", ps->error,
		    e->act.attempt, (long long)((retry + 999) / 1000));
		log_warnx("standby %s failed: %s", act_name(&e->act), detail);
		standby_event(e, act_name(&e->act), "retry", detail);
	}
	action_done(e, false, ps->error, retry);
}

static void
action_done(struct engine *e, bool ok, const char *detail, int64_t retry_ms)
{
	uint64_t id = e->act.id;

	e->act_running = false;
	e->step = STEP_NONE;
	evtimer_del(e->ev_verify);
	if (!ok) {
		/* A waiting force-* learns that the attempt failed; retries go on. */
		char msg[320];
		snprintf(msg, sizeof(msg), "%s failed: %s (retrying)", act_name(&e->act), detail);
		waiters_finish(e, false, FO_STARTING, msg);
	}
	fo_action_done(&e->fo, util_mono_ms(), id, ok, detail, retry_ms);
	if (ok && e->act.restart)
		daemon_error_cleared(e->d, "standby", "the standby runs again");
	if (ok && e->act.kind == FO_ACT_DEACTIVATE)
		e->standby_healthy = -1;
	engine_run(e);
}

static void
action_cancel(struct engine *e)
{
	if (!e->act_running)
		return;
	log_info("standby %s superseded: cancelled", act_name(&e->act));
	if (e->prov_busy && e->prov_is_action) {
		e->pops->cancel(e->prov);
		e->prov_busy = false;
		e->prov_is_action = false;
	}
	check_probe_cancel(e->probe);
	e->probe = NULL;
	evtimer_del(e->ev_verify);
	if (e->step == STEP_FENCE)
		hooks_cancel(e->hooks, HOOK_FENCE);
	else if (e->step == STEP_FAILBACK)
		hooks_cancel(e->hooks, HOOK_FAILBACK);
	if (e->sync_use == SU_FINAL || e->sync_use == SU_PULL) {
		sync_cancel(e->sync);
		e->sync_use = SU_NONE;
	}
	e->step = STEP_NONE;
	e->act_running = false;
}

/* Starts or stops the machines: the action's provider step. */
static void
step_provider(struct engine *e)
{
	/* action_start cancelled any listing, and none starts while an action
	 * runs: the provider is free. */
	e->step = STEP_PROVIDER;
	e->prov_busy = true;
	e->prov_is_action = true;
	if (e->pops->start(e->prov,
	        e->act.kind == FO_ACT_ACTIVATE ? PROV_OP_ACTIVATE : PROV_OP_DEACTIVATE,
	        prov_action_done, prov_progress, e) == -1) {
		e->prov_busy = false;
		e->prov_is_action = false;
		action_done(e, false, "provider busy", RETRY_BASE_MS);
	}
}

/* --- activation: fence, final push ------------------------------------------------- */

static void push_start(struct engine *, enum sync_use, int64_t timeout_ms);

/* A transition needs the sync module: what runs is cancelled (a `sync`
 * command waiting for it is told why). */
static void
sync_preempt(struct engine *e, const char *why)
{
	if (!sync_busy(e->sync))
		return;
	log_info("the running sync is cancelled: %s", why);
	sync_cancel(e->sync);
	if (e->sync_use == SU_MANUAL && e->sync_req != NULL) {
		request_error(e->sync_req, PROTO_FAILED, "cancelled: %s", why);
		e->sync_req = NULL;
	}
	e->sync_use = SU_NONE;
}

/* A pull succeeded, or a push was forced: pushes are allowed again. */
static void
pushes_resume(struct engine *e)
{
	struct dstate *st = e->d->dstate;

	if (!st->pushes_suspended)
		return;
	st->pushes_suspended = false;
	daemon_state_dirty(e->d);
	log_info("the remote is in step again: automatic pushes resume");
	daemon_error_cleared(e->d, "sync", "the remote is in step again: pushes resume");
}

static void
prep_finish(struct engine *e)
{
	e->prep_done = true;
	step_provider(e);
}

/* The final push: incremental after the pre-push, within what is left of
 * SYNC_TIMEOUT since the activation began waiting for it. */
static void
final_push(struct engine *e)
{
	int64_t budget = e->d->cfg->sync_timeout_ms;
	int64_t left = budget - (util_mono_ms() - e->push_started);

	/* Not worth starting rclone for less than a second (or half a small
	 * SYNC_TIMEOUT): it would only be killed. */
	if (left < (budget / 2 < 1000 ? budget / 2 : 1000)) {
		log_warnx("the pre-push used up SYNC_TIMEOUT: starting the standby without a "
		          "final push");
		prep_finish(e);
		return;
	}
	push_start(e, SU_FINAL, left);
	if (e->sync_use != SU_FINAL)
		prep_finish(e);
}

static void
step_push(struct engine *e)
{
	struct dstate *st = e->d->dstate;

	e->step = STEP_PUSH;
	if (e->sync == NULL) {
		prep_finish(e);
		return;
	}
	if (st->pushes_suspended) {
		log_warnx("pushes are suspended since a pull failed: the standby starts with the "
		          "state already on the remote");
		prep_finish(e);
		return;
	}
	e->push_started = util_mono_ms(); /* the wait begins now */
	if (sync_busy(e->sync) && sync_running_dir(e->sync) == SYNC_PUSH) {
		/* The pre-push (or a periodic one): its end starts the final push.
		 * It was started with SYNC_TIMEOUT, so it ends within the budget. */
		log_info("waiting for the push in flight, then the final push");
		return;
	}
	sync_preempt(e, "a failover began");
	final_push(e);
}

static void
fence_done(bool ok, const char *detail, void *arg)
{
	struct engine *e = arg;
	const struct config *cfg = e->d->cfg;

	if (!e->act_running || e->step != STEP_FENCE)
		return;
	if (!ok && cfg->fence_required) {
		int64_t retry = util_backoff_ms(e->act.attempt - 1, RETRY_BASE_MS, RETRY_CAP_MS);
		char msg[320];
		snprintf(
		    msg, sizeof(msg), "FENCE_CMD %s; FENCE_REQUIRED=yes: not activating", detail);
		daemon_error(e->d, "fence", "%s (attempt %d)", msg, e->act.attempt);
		if (e->act.attempt == 1)
			engine_notify(e, "ACTIVATION HELD: %s. Retrying.", msg);
		standby_event(e, act_name(&e->act), "retry", msg);
		action_done(e, false, msg, retry);
		return;
	}
	if (!ok)
		log_warnx("FENCE_CMD %s; FENCE_REQUIRED=no: the activation goes on", detail);
	step_push(e);
}

static void
step_fence(struct engine *e)
{
	struct hook_ctx hc;

	e->step = STEP_FENCE;
	hook_ctx(e, &hc);
	if (!hooks_configured(e->hooks, HOOK_FENCE) ||
	    hooks_run(e->hooks, HOOK_FENCE, &hc, fence_done, e) == -1)
		step_push(e);
}

/* --- failback: pull, FAILBACK_CMD -------------------------------------------------- */

static void
deactivate_finish(struct engine *e)
{
	standby_event(e, act_name(&e->act), "done", "the standby's machines are stopped");
	action_done(e, true, "the standby's machines are stopped", 0);
}

static void
failback_done(bool ok, const char *detail, void *arg)
{
	struct engine *e = arg;

	if (!e->act_running || e->step != STEP_FAILBACK)
		return;
	if (!ok) {
		log_warnx("FAILBACK_CMD %s: the failback goes on", detail);
		engine_notify(e, "FAILBACK_CMD %s; the primary serves anyway.", detail);
	}
	deactivate_finish(e);
}

static void
step_failback(struct engine *e)
{
	struct hook_ctx hc;

	e->step = STEP_FAILBACK;
	hook_ctx(e, &hc);
	if (!hooks_configured(e->hooks, HOOK_FAILBACK) ||
	    hooks_run(e->hooks, HOOK_FAILBACK, &hc, failback_done, e) == -1)
		deactivate_finish(e);
}

static void engine_synced(const struct sync_result *, void *);

static void
step_pull(struct engine *e)
{
	struct dstate *st = e->d->dstate;
	/* First attempt: wait for the standby's final push, which it makes
	 * after the stop request; later attempts pull at once. */
	int64_t after = e->act.attempt == 1 ? st->last_failback : 0;

	e->step = STEP_PULL;
	sync_preempt(e, "a failback began");
	if (sync_pull(e->sync, after, engine_synced, e) == -1) {
		action_done(e, false, "the pull could not start", RETRY_BASE_MS);
		return;
	}
	e->sync_use = SU_PULL;
	daemon_status_changed(e->d);
}

/* A failback pull ended. */
static void
pull_done(struct engine *e, const struct sync_result *r)
{
	struct dstate *st = e->d->dstate;
	const struct config *cfg = e->d->cfg;
	char dur[32], msg[512];

	if (r->ok) {
		pushes_resume(e);
		if (e->act.failback_hook)
			step_failback(e);
		else
			deactivate_finish(e);
		return;
	}
	if (util_mono_ms() - e->trans_start < cfg->activation_timeout_ms) {
		int64_t retry = util_backoff_ms(e->act.attempt - 1, RETRY_BASE_MS, RETRY_CAP_MS);
		snprintf(msg, sizeof(msg), "the pull failed: %s (attempt %d, retrying in %llds)",
		    r->error != NULL ? r->error : "?", e->act.attempt,
		    (long long)((retry + 999) / 1000));
		log_warnx("%s", msg);
		if (!e->pull_alerted)
			engine_notify(e, "PULL FAILED: %s. The standby is stopped; retrying.",
			    r->error != NULL ? r->error : "?");
		e->pull_alerted = true;
		standby_event(e, act_name(&e->act), "retry", msg);
		action_done(e, false, msg, retry);
		return;
	}
	/* Give up: the primary serves without the standby's state, and pushes
	 * stop, so the primary's older state never overwrites the newer one. */
	util_duration_fmt(cfg->activation_timeout_ms, dur, sizeof(dur));
	snprintf(msg, sizeof(msg),
	    "the pull has failed for ACTIVATION_TIMEOUT (%s): %s; back to primary without the "
	    "standby's state, FAILBACK_CMD skipped, pushes suspended until a pull succeeds or "
	    "`failoverctl sync push -f`",
	    dur, r->error != NULL ? r->error : "?");
	st->pushes_suspended = true;
	daemon_state_dirty(e->d);
	daemon_error(e->d, "sync", "%s", msg);
	engine_notify(e, "PULL FAILED, needs a person: %s.", msg);
	standby_event(e, act_name(&e->act), "done", msg);
	action_done(e, true, "the standby is stopped; the pull failed", 0);
	fo_set_degraded(&e->fo, util_mono_ms(), true, "the pull failed: pushes suspended");
	engine_run(e);
}

/* --- pushes and the `sync` command ---------------------------------------------------- */

static void periodic_arm(struct engine *);

static void
push_start(struct engine *e, enum sync_use use, int64_t timeout_ms)
{
	if (e->sync == NULL || sync_busy(e->sync))
		return;
	if (sync_push(e->sync, timeout_ms, engine_synced, e) == 0) {
		e->sync_use = use;
		daemon_status_changed(e->d);
	}
}

static void
sync_reply(struct engine *e, const struct sync_result *r)
{
	struct request *req = e->sync_req;
	json_object *res;

	e->sync_req = NULL;
	if (req == NULL)
		return;
	if (!r->ok) {
		request_error(req, PROTO_FAILED, "%s", r->error != NULL ? r->error : "failed");
		return;
	}
	res = json_object_new_object();
	json_object_object_add(
	    res, "direction", json_object_new_string(r->dir == SYNC_PUSH ? "push" : "pull"));
	json_object_object_add(res, "ok", json_object_new_boolean(1));
	json_object_object_add(res, "duration_ms", json_object_new_int64(r->duration_ms));
	request_reply(req, res);
}

static void
engine_synced(const struct sync_result *r, void *arg)
{
	struct engine *e = arg;
	enum sync_use use = e->sync_use;

	e->sync_use = SU_NONE;
	if (r->ok)
		metrics_sync_ok(&e->d->metrics, r->dir == SYNC_PUSH, util_now_ms());
	if (use == SU_MANUAL) {
		/* A manual pull, or a forced push, ends a suspension. */
		if (r->ok)
			pushes_resume(e);
		sync_reply(e, r);
	}
	if (use == SU_PULL) {
		if (e->act_running && e->step == STEP_PULL)
			pull_done(e, r);
		return;
	}
	if (e->act_running && e->step == STEP_PUSH) {
		if (use == SU_FINAL) {
			if (!r->ok)
				log_warnx(
				    "the final push failed (%s): the standby starts with what "
				    "is on the remote",
				    r->error != NULL ? r->error : "?");
			prep_finish(e);
		} else
			final_push(e); /* the push we waited for ended */
		return;
	}
	periodic_arm(e);
	daemon_status_changed(e->d);
	/* A reload turned sync off while this one ran. */
	if (!sync_enabled(e->d->cfg) && e->sync != NULL && !sync_busy(e->sync)) {
		sync_free(e->sync);
		e->sync = NULL;
	}
}

static bool
pushes_allowed(struct engine *e)
{
	return e->sync != NULL && !e->d->paused && !e->d->dstate->pushes_suspended &&
	    !sync_busy(e->sync);
}

static void
periodic_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	if (e->fo.state == FO_PRIMARY && !e->act_running && pushes_allowed(e))
		push_start(e, SU_PERIODIC, 0);
	if (e->sync_use != SU_PERIODIC)
		periodic_arm(e);
}

static void
periodic_arm(struct engine *e)
{
	evtimer_del(e->ev_periodic);
	if (e->sync != NULL && e->d->cfg->sync_interval_ms > 0)
		util_timer_in(e->ev_periodic, e->d->cfg->sync_interval_ms);
}

static void
action_start(struct engine *e, const struct fo_action *a)
{
	const struct config *cfg = e->d->cfg;
	int64_t now = util_mono_ms();
	char detail[160];

	if (e->prov_busy) {
		/* A listing may be in flight: the action wins. */
		e->pops->cancel(e->prov);
		e->prov_busy = false;
		selftest_listing_lost(e);
	}
	if (fo_action_begin(&e->fo, now, a->id) == -1)
		return;
	e->act = *a;
	e->act_running = true;
	/* ACTIVATION_TIMEOUT runs from the transition's first attempt. */
	if (a->attempt == 1 && !a->restart && !a->drift)
		util_timer_in(e->ev_timeout, cfg->activation_timeout_ms);
	snprintf(detail, sizeof(detail), "%s%s%s%s (attempt %d)",
	    a->kind == FO_ACT_ACTIVATE && a->push && !e->prep_done &&
	            (e->sync != NULL || hooks_configured(e->hooks, HOOK_FENCE))
	        ? "fence and final push, then "
	        : "",
	    a->kind == FO_ACT_ACTIVATE ? "starting the standby's machines"
	                               : "stopping the standby's machines",
	    a->drift                                                         ? ": drift, no pull"
	        : a->kind == FO_ACT_DEACTIVATE && a->pull && e->sync != NULL ? ", then the pull"
	                                                                     : "",
	    a->resumed ? ", resumed after a restart" : "", a->attempt);
	if (a->restart) {
		daemon_error(e->d, "standby",
		    "no standby machine is running while standby: starting one again");
		if (a->attempt == 1)
			engine_notify(e,
			    "THE STANDBY STOPPED: no machine of %s is running while it "
			    "should serve; starting it again.",
			    standby_name(e));
	}
	standby_event(e, act_name(a), "begin", detail);
	if (a->kind == FO_ACT_ACTIVATE && a->push && !e->prep_done)
		step_fence(e);
	else
		step_provider(e);
}

/* --- the loop's one decision point -------------------------------------------- */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	fo_tick(&e->fo, util_mono_ms());
	engine_run(e);
}

static void
engine_run(struct engine *e)
{
	int64_t now, delay, deadline;
	struct fo_action a;

	if (e->in_run || e->stopping)
		return; /* the outer run picks the change up */
	e->in_run = true;
	for (int guard = 0; guard < 8; guard++) {
		now = util_mono_ms();
		announce(e);
		if (e->act_running && !fo_action_current(&e->fo, e->act.id))
			action_cancel(e);
		a = fo_pending_action(&e->fo, now);
		if (a.kind == FO_ACT_NONE || e->act_running)
			break;
		action_start(e, &a);
	}
	announce(e);

	/* Checks: FAST_INTERVAL or CHECK_INTERVAL from the end of the last one. */
	/* Intervals run from the end of one check to the start of the next,
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
	if (deadline >= 0)
		util_timer_in(e->ev_tick, deadline - util_mono_ms());
	e->in_run = false;
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
	/* The first failed check starts a pushing the state, so most of it is on
	 * the remote by the time the threshold is reached. */
	/* Not within STARTUP_GRACE before the primary was ever healthy: no
	 * failover may follow yet, and its STATE_DIR may still be restoring. */
	if (!r->healthy && e->fo.state == FO_PRIMARY && e->fo.consecutive_failures == 1 &&
	    fo_grace_until(&e->fo, util_mono_ms()) == 0 && pushes_allowed(e)) {
		log_info("first failed check: pre-push of STATE_DIR");
		push_start(e, SU_PRE, 0);
	}
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
	engine_run(e);
}

/* --- machine listings: start-up, reconciliation, the standby watch ---------------- */

static int
count_started(const struct machine_list *ml)
{
	int n = 0;

	for (int i = 0; i < ml->n; i++)
		if (strcmp(ml->v[i].state, "started") == 0)
			n++;
	return n;
}

static void
list_done(const struct prov_status *ps, void *arg)
{
	struct engine *e = arg;
	int running = 0;
	bool ok = ps->res == PROV_OK;

	e->prov_busy = false;
	if (ok) {
		e->auth_alerted = false;
		daemon_error_cleared(e->d, "fly-api", "the Fly Machines API answers again");
		if (ps->machines != NULL) {
			machines_set(e, ps->machines);
			running = machine_list_count_running(ps->machines);
			/* Killed mid-activation with machines still `starting`: the
			 * activation is not done until they are started and verified,
			 * so count only started ones and let it resume. */
			if (e->fo.state == FO_STARTING &&
			    strcmp(e->d->dstate->side, "failing-over") == 0)
				running = count_started(ps->machines);
		} else {
			/* PROVIDER=command cannot list: take our own record as the truth. */
			e->listed = true;
			running = e->fo.active ? 1 : 0;
		}
	} else {
		strlcpy(e->standby_error, ps->error, sizeof(e->standby_error));
		if (ps->res == PROV_CONFIG) {
			daemon_error(e->d, "fly-api", "%s", ps->error);
			if (!e->auth_alerted)
				engine_notify(e, "THE FLY API REJECTS failoverd: %s", ps->error);
			e->auth_alerted = true;
		} else
			log_warnx("listing the standby's machines failed: %s", ps->error);
	}
	fo_machines(&e->fo, util_mono_ms(), ok, running);
	if (!ok && e->fo.state == FO_STARTING)
		util_timer_in(e->ev_reconcile, 2000); /* keep trying; 30 s ends `starting` */
	engine_run(e);
}

static void
engine_list(struct engine *e)
{
	if (e->prov_busy)
		return;
	e->prov_busy = true;
	e->prov_is_action = false;
	if (e->pops->start(e->prov, PROV_OP_LIST, list_done, NULL, e) == -1)
		e->prov_busy = false;
}

static void
reconcile_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	if (e->fo.state != FO_STARTING)
		util_timer_in(e->ev_reconcile, e->d->cfg->reconcile_interval_ms);
	if (!e->act_running)
		engine_list(e);
}

/* An unhealthy standby is stopped; the machine then sees no machine running
 * while standby and starts it again (a `standby` restart action). */
static void
restart_stopped(const struct prov_status *ps, void *arg)
{
	struct engine *e = arg;

	e->prov_busy = false;
	e->watch_failures = 0;
	if (ps->machines != NULL)
		machines_set(e, ps->machines);
	if (ps->res != PROV_OK) {
		log_warnx("stopping the unhealthy standby failed: %s", ps->error);
		standby_event(e, "restart", "retry", ps->error);
		return;
	}
	if (ps->machines != NULL) {
		engine_list(e);
		return;
	}
	/* PROVIDER=command cannot list: it is stopped, say so. */
	fo_machines(&e->fo, util_mono_ms(), true, 0);
	engine_run(e);
}

static void
standby_restart(struct engine *e)
{
	if (e->d->paused || e->act_running || e->prov_busy)
		return; /* paused: alert only; busy: the next watch round */
	standby_event(e, "restart", "begin",
	    "FLY_HEALTH_URL failing: stopping the standby to start it again");
	e->prov_busy = true;
	e->prov_is_action = false;
	if (e->pops->start(e->prov, PROV_OP_DEACTIVATE, restart_stopped, prov_progress, e) == -1)
		e->prov_busy = false;
}

static void
watch_done(const struct check_result *r, void *arg)
{
	struct engine *e = arg;

	e->probe = NULL;
	if (e->fo.state != FO_STANDBY)
		return;
	e->standby_healthy = r->healthy ? 1 : 0;
	if (r->healthy) {
		e->watch_failures = 0;
		e->standby_error[0] = '\0';
		daemon_error_cleared(e->d, "standby-health", "FLY_HEALTH_URL is healthy again");
	} else {
		strlcpy(e->standby_error, r->error, sizeof(e->standby_error));
		if (++e->watch_failures == e->d->cfg->failure_threshold) {
			daemon_error(e->d, "standby-health",
			    "FLY_HEALTH_URL failing %d time%s: %s; restarting the standby",
			    e->watch_failures, e->watch_failures == 1 ? "" : "s", r->error);
			engine_notify(e,
			    "THE STANDBY IS UNHEALTHY: FLY_HEALTH_URL failed %d time%s (%s)%s.",
			    e->watch_failures, e->watch_failures == 1 ? "" : "s", r->error,
			    e->d->paused ? "; paused, so it is not restarted" : "; restarting it");
		}
		/* Every round from the threshold on, in case the provider was busy. */
		if (e->watch_failures >= e->d->cfg->failure_threshold)
			standby_restart(e);
	}
	daemon_status_changed(e->d);
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	const struct config *cfg = e->d->cfg;

	if (e->fo.state != FO_STANDBY)
		return;
	util_timer_in(e->ev_watch, cfg->check_interval_ms);
	if (e->d->paused || e->act_running)
		return;
	engine_list(e); /* a stopped machine shows as drift: started again */
	if (cfg->fly_health_url != NULL && e->probe == NULL)
		e->probe = check_probe_start(e->d->http, cfg, cfg->fly_health_url, watch_done, e);
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
	e->force_pause_ms = FORCE_PAUSE_DEFAULT_MS;
	fo_params_from(&p, d->cfg);
	fo_init(&e->fo, &p);
	e->pops = provider_ops_for(d->cfg->provider);
	e->prov = e->pops->create(d->base, d->http, d->cfg);
	if (e->prov == NULL)
		fatalx("cannot set up the %s provider", e->pops->name);
	e->checker = checker_new(d->base, d->http, d->cfg, check_done, e);
	if (e->checker == NULL)
		fatalx("cannot set up health checks");
	e->ev_tick = evtimer_new(d->base, tick_cb, e);
	e->ev_reconcile = evtimer_new(d->base, reconcile_cb, e);
	e->ev_timeout = evtimer_new(d->base, timeout_cb, e);
	e->ev_verify = evtimer_new(d->base, verify_cb, e);
	e->ev_watch = evtimer_new(d->base, watch_cb, e);
	e->ev_run = evtimer_new(d->base, run_cb, e);
	e->ev_periodic = evtimer_new(d->base, periodic_cb, e);
	e->detect_ms = -1;
	leftovers_start(d); /* before anything is spawned */
	e->hooks = hooks_new(d->base, d->events, d->cfg);
	if (sync_enabled(d->cfg))
		e->sync = sync_new(d->base, d->events, d->cfg);
	e->notifier = notifier_new(d->base, d->http, d->events, d->cfg, d->dstate, notify_save, d);
	e->watch = watch_new(d, engine_watch_fired, e); /* watch */
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
	if (d->paused)
		fo_pause(&e->fo, now, 0);
	fo_start(&e->fo, now, &su);
	/* The first check and the first listing, at once. */
	checker_schedule(e->checker, 0);
	engine_list(e);
	util_timer_in(e->ev_reconcile, d->cfg->reconcile_interval_ms);
	periodic_arm(e);
	engine_run(e);
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
	struct event *timers[] = {e->ev_tick, e->ev_reconcile, e->ev_timeout, e->ev_verify,
	    e->ev_watch, e->ev_run, e->ev_periodic};

	e->stopping = true;
	checker_stop(e->checker);
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		evtimer_del(timers[i]);
	if (!notify_telegram_enabled(e->d->cfg))
		return;
	engine_notify(e, "failoverd is stopping (state %s%s). The standby is left as it is.",
	    fo_state_str(e->fo.state), e->d->paused ? ", paused" : "");
	/* At most SHUTDOWN_FLUSH_MS for what is pending; the rest waits in
	 * STATE_FILE for the next start. */
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
	notifier_free(e->notifier);
	free(e->state_json);
	json_object_put(e->cause);
	if (e->prov_busy)
		e->pops->cancel(e->prov);
	e->pops->destroy(e->prov);
	check_probe_cancel(e->probe);
	checker_free(e->checker);
	event_free(e->ev_tick);
	event_free(e->ev_reconcile);
	event_free(e->ev_timeout);
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
	engine_run(e);
}

void
engine_pause_changed(struct engine *e)
{
	struct daemon *d = e->d;
	int64_t now = util_mono_ms();

	if (!d->paused && d->pause_expired)
		engine_notify(e, "PAUSE EXPIRED: automatic checks and failover are back on.");
	/* The daemon owns the pause and its expiry; the machine is told. */
	if (d->paused && !e->fo.paused)
		fo_pause(&e->fo, now, 0);
	else if (!d->paused && e->fo.paused)
		fo_resume(&e->fo, now);
	engine_kick(e);
}

const char *
engine_state_str(const struct engine *e)
{
	return fo_state_str(e->fo.state);
}

/* --- status ------------------------------------------------------------------------------ */

static json_object *
machines_json(struct engine *e)
{
	json_object *arr;

	if (!e->listed)
		return NULL;
	arr = json_object_new_array();
	for (int i = 0; i < e->machines.n; i++) {
		json_object *m = json_object_new_object();
		json_object_object_add(m, "id", json_object_new_string(e->machines.v[i].id));
		json_object_object_add(m, "state", json_object_new_string(e->machines.v[i].state));
		json_object_object_add(
		    m, "region", json_object_new_string(e->machines.v[i].region));
		json_object_array_add(arr, m);
	}
	return arr;
}

static int64_t
state_since_wall(struct engine *e)
{
	if (e->since_wall == 0 || e->since_mono != e->fo.state_since) {
		e->since_mono = e->fo.state_since;
		e->since_wall = util_mono_to_wall(e->fo.state_since);
	}
	return e->since_wall;
}

void
engine_status(struct engine *e, json_object *st)
{
	struct daemon *d = e->d;
	const struct config *cfg = d->cfg;
	struct dstate *ds = d->dstate;
	json_object *local, *standby, *sync, *notify, *counters;
	int64_t active_ms = ds->active_ms_total, grace;

	json_object_object_add(st, "state", json_object_new_string(fo_state_str(e->fo.state)));
	json_object_object_add(st, "state_since", json_time_or_null(state_since_wall(e)));
	json_object_object_add(st, "reason", json_object_new_string(e->fo.reason));
	json_object_object_add(st, "forced", json_object_new_boolean(e->fo.forced));
	json_object_object_add(st, "degraded", json_object_new_boolean(e->fo.degraded));
	json_object_object_add(st, "cause", e->cause != NULL ? json_object_get(e->cause) : NULL);
	grace = fo_grace_until(&e->fo, util_mono_ms());
	json_object_object_add(st, "startup_grace_until",
	    grace != 0 ? json_time_or_null(util_mono_to_wall(grace)) : NULL);

	local = json_object_new_object();
	json_object_object_add(local, "url", json_object_new_string(cfg->local_health_url));
	json_object_object_add(
	    local, "healthy", e->checked ? json_object_new_boolean(e->last.healthy) : NULL);
	json_object_object_add(
	    local, "consecutive_failures", json_object_new_int(e->fo.consecutive_failures));
	json_object_object_add(
	    local, "consecutive_successes", json_object_new_int(e->fo.consecutive_successes));
	json_object_object_add(
	    local, "last_check", e->checked ? json_time_or_null(e->last.time_ms) : NULL);
	json_object_object_add(local, "last_status",
	    e->checked && e->last.status > 0 ? json_object_new_int(e->last.status) : NULL);
	json_object_object_add(local, "last_latency_ms",
	    e->checked ? json_object_new_double(e->last.latency_ms) : NULL);
	json_object_object_add(local, "last_error",
	    e->checked && !e->last.healthy ? json_object_new_string(e->last.error) : NULL);
	json_object_object_add(
	    local, "checks_total", json_object_new_int64((int64_t)e->checks_total));
	json_object_object_add(
	    local, "checks_failed", json_object_new_int64((int64_t)e->checks_failed));
	json_object_object_add(st, "local", local);

	if (ds->active_since != 0)
		active_ms += util_now_ms() - ds->active_since;
	standby = json_object_new_object();
	json_object_object_add(
	    standby, "provider", json_object_new_string(config_provider_str(cfg->provider)));
	json_object_object_add(
	    standby, "app", cfg->fly_app != NULL ? json_object_new_string(cfg->fly_app) : NULL);
	json_object_object_add(standby, "active", json_object_new_boolean(e->fo.active));
	json_object_object_add(
	    standby, "active_since", e->fo.active ? json_time_or_null(ds->active_since) : NULL);
	json_object_object_add(standby, "machines", machines_json(e));
	json_object_object_add(standby, "healthy",
	    e->standby_healthy < 0 ? NULL : json_object_new_boolean(e->standby_healthy));
	json_object_object_add(standby, "last_error",
	    e->standby_error[0] ? json_object_new_string(e->standby_error) : NULL);
	json_object_object_add(
	    standby, "active_seconds_total", json_object_new_int64(active_ms / 1000));
	json_object_object_add(
	    standby, "estimated_cost_usd", json_object_new_double(standby_cost_usd(e, active_ms)));
	json_object_object_add(st, "standby", standby);

	sync = json_object_new_object();
	if (e->sync != NULL)
		sync_status(e->sync, sync);
	else {
		json_object_object_add(sync, "enabled", json_object_new_boolean(0));
		json_object_object_add(sync, "last_push", NULL);
		json_object_object_add(sync, "last_pull", NULL);
	}
	json_object_object_add(
	    sync, "pushes_suspended", json_object_new_boolean(ds->pushes_suspended));
	json_object_object_add(st, "sync", sync);

	notify = json_object_new_object();
	notifier_status(e->notifier, notify);
	json_object_object_add(
	    notify, "hooks_queued", json_object_new_int(hooks_notify_queued(e->hooks)));
	json_object_object_add(st, "notify", notify);

	counters = json_object_new_object();
	json_object_object_add(
	    counters, "failovers", json_object_new_int64((int64_t)ds->failovers));
	json_object_object_add(
	    counters, "failbacks", json_object_new_int64((int64_t)ds->failbacks));
	json_object_object_add(counters, "events",
	    json_object_new_int64((int64_t)(d->events_base + events_count(d->events))));
	json_object_object_add(counters, "last_failover", json_time_or_null(ds->last_failover));
	json_object_object_add(counters, "last_failback", json_time_or_null(ds->last_failback));
	json_object_object_add(st, "counters", counters);
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
	if (res == FO_CONFLICT) {
		request_error(r, PROTO_CONFLICT, "%s", why != NULL ? why : "conflict");
		engine_run(e);
		return;
	}
	engine_run(e);
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
	if (res == FO_OK)
		engine_notify(e, "FORCED: %s.", rs);
	force_reply(e, r, res, why, wait, FO_STANDBY);
}

void
engine_cmd_force_deactivate(struct engine *e, struct request *r, const char *reason, bool force,
    bool wait, int64_t pause_ms)
{
	const char *why = NULL;
	char rs[256], dur[32];
	enum fo_result res;
	bool was_paused = e->fo.paused;

	snprintf(rs, sizeof(rs), "force-deactivate by uid %ld%s%s", (long)r->uid,
	    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	e->force_pause_ms = pause_ms;
	e->op_has_reason = reason != NULL;
	strlcpy(e->op_reason, reason != NULL ? reason : "", sizeof(e->op_reason));
	e->op_uid = (long)r->uid;
	res = fo_force_deactivate(&e->fo, util_mono_ms(), rs, force, &why);
	if (res == FO_OK && e->fo.paused && !was_paused)
		engine_notify(e,
		    "FORCED: %s (with force onto a primary that is not healthy: paused for %s).",
		    rs, util_duration_fmt(pause_ms, dur, sizeof(dur)));
	else if (res == FO_OK)
		engine_notify(e, "FORCED: %s.", rs);
	force_reply(e, r, res, why, wait, FO_PRIMARY);
}

void
engine_cmd_sync(struct engine *e, struct request *r, bool push, bool force)
{
	struct dstate *st = e->d->dstate;

	if (e->sync == NULL) {
		request_error(r, PROTO_UNAVAILABLE, "sync is off: STATE_DIR is not set");
		return;
	}
	if (e->sync_req != NULL || sync_busy(e->sync)) {
		request_error(r, PROTO_CONFLICT, "a %s is running: try again when it ends",
		    sync_busy(e->sync) && sync_running_dir(e->sync) == SYNC_PULL ? "pull" : "push");
		return;
	}
	if (e->fo.state == FO_FAILING_OVER || e->fo.state == FO_FAILING_BACK ||
	    e->fo.state == FO_STARTING) {
		request_error(r, PROTO_CONFLICT, "the state is %s: try again when it is settled",
		    fo_state_str(e->fo.state));
		return;
	}
	if (push && !force && e->fo.state != FO_PRIMARY) {
		request_error(r, PROTO_CONFLICT,
		    "the standby is active: the remote holds its newer state; `force` overwrites it");
		return;
	}
	if (push && !force && st->pushes_suspended) {
		request_error(r, PROTO_CONFLICT,
		    "pushes are suspended since a pull failed: pull first, or push with `force` "
		    "to overwrite the remote");
		return;
	}
	if ((push ? sync_push(e->sync, 0, engine_synced, e)
	          : sync_pull(e->sync, 0, engine_synced, e)) == -1) {
		request_error(r, PROTO_CONFLICT, "a sync is running: try again when it ends");
		return;
	}
	e->sync_use = SU_MANUAL;
	e->sync_req = r;
}
