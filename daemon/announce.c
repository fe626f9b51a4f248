/*
 * Announcing: the state machine's changes, drained once per loop pass, each
 * told once: a log line, an event, STATE_FILE, STATUS_FILE and systemd's
 * STATUS=, Telegram, NOTIFY_CMD, and the force-* requests waiting for a
 * side.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"
#include "events.h"
#include "coord.h"
#include "daemon.h"
#include "hooks.h"
#include "log.h"
#include "proto.h"
#include "notify.h"
#include "state.h"
#include "timer.h"
#include "util.h"

void
standby_event(struct engine *e, const char *action, const char *phase, const char *detail)
{
	json_object *f = json_object_new_object();

	json_object_object_add(f, "action", json_object_new_string(action));
	json_object_object_add(f, "phase", json_object_new_string(phase));
	json_object_object_add(f, "detail", detail != NULL ? json_object_new_string(detail) : NULL);
	events_emit(e->d->events, "standby", f);
}

const char *
standby_name(const struct engine *e)
{
	const struct config *cfg = e->d->cfg;

	if (cfg->fly_app != NULL)
		return cfg->fly_app;
	return cfg->provider == PROVIDER_COMMAND ? "(ACTIVATE_CMD)" : "(dry run)";
}

/* The standby's estimated cost for active_ms of activity: the machines of
 * the last activation, or FLY_MACHINE_COUNT when none is recorded. */
double
standby_cost_usd(const struct engine *e, int64_t active_ms)
{
	const struct config *cfg = e->d->cfg;
	int nmach = (int)json_object_array_length(e->d->dstate->machines);

	if (nmach == 0)
		nmach = cfg->fly_machine_count;
	return (double)active_ms / 1000.0 * nmach * cfg->cost_per_second;
}

/* What the Telegram texts need beyond the event (notify_text.c). */
static void
announce_ctx(struct notify_ctx *x, void *arg)
{
	struct engine *e = arg;
	struct dstate *st = e->d->dstate;
	int64_t grace = fo_grace_until(&e->fo, util_mono_ms());

	x->standby = standby_name(e);
	x->state = fo_state_str(e->fo.state);
	x->recorded = e->recorded;
	if (e->run.running) {
		x->action = act_name(&e->run.act);
		x->attempt = e->run.act.attempt;
		x->drift = e->run.act.drift;
	}
	x->provider_retry = e->provider_retry;
	x->pull_error = e->pull_error;
	x->aborting = e->aborting;
	x->forced = e->fo.forced;
	x->forced_cause = e->forced_cause;
	x->force_paused = e->force_pause_ms > 0;
	x->pause_ms = e->force_pause_ms;
	x->paused = e->fo.paused;
	x->pause_expired = e->pause_expired;
	x->detect_ms = e->detect_ms;
	x->transition_ms = util_mono_ms() - e->trans_start;
	x->outage_ms = st->last_failover != 0 ? util_now_ms() - st->last_failover : 0;
	x->active_ms = e->closed_active_ms;
	x->cost_usd = standby_cost_usd(e, e->closed_active_ms);
	x->last_error = e->fo.last_error;
	x->standby_error = e->standby_error;
	x->grace_until = grace != 0 ? util_mono_to_wall(grace) : 0;
	x->quiet = e->d->coord != NULL && coord_role(e->d->coord) != COORD_LEADER;
	x->config_retry_ms = FO_RETRY_CONFIG_MIN_MS;
}

/* The `state` event that entered failing-over: FLY_PROMOTE_URL's body. */
static void
keep_entered(const struct evrec *rec, json_object *ev, void *arg)
{
	struct engine *e = arg;
	json_object *to;

	if (json_object_object_get_ex(ev, "to", &to) &&
	    strcmp(json_object_get_string(to), "failing-over") == 0) {
		json_object_put(e->entered);
		e->entered = json_object_get(ev);
	}
}

static const char *const state_types[] = {"state", NULL};

void
announce_listen(struct engine *e)
{
	e->listener = notify_listen(e->notifier, e->d->events, announce_ctx, e);
	events_subscribe(e->d->events, state_types, keep_entered, e);
}

void
announce_unlisten(struct engine *e)
{
	events_unsubscribe(e->d->events, keep_entered, e);
	notify_listener_free(e->listener);
	e->listener = NULL;
	json_object_put(e->entered);
	e->entered = NULL;
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

	/* What the subscribers need is in place before the event. */
	strlcpy(e->recorded, st->side, sizeof(e->recorded));
	if (ch->from == FO_FAILING_OVER && ch->to == FO_FAILING_BACK)
		e->aborting = true;
	if ((ch->to == FO_FAILING_OVER || ch->to == FO_FAILING_BACK) && ch->cause != FO_CAUSE_NONE)
		record_cause(e, ch);
	if (ch->to == FO_FAILING_OVER || ch->to == FO_FAILING_BACK) {
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
	record_side(e);
	e->closed_active_ms = st->active_ms_total - total_before;
	e->forced_cause =
	    ch->cause == FO_CAUSE_FORCE_ACTIVATE || ch->cause == FO_CAUSE_FORCE_DEACTIVATE;

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
	events_emit(d->events, "state", f); /* Telegram and NOTIFY_CMD subscribe */
	e->forced_cause = false;
	e->force_pause_ms = 0;
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

void
announce_pause(struct engine *e, const struct fo_change *ch)
{
	struct daemon *d = e->d;
	json_object *f = json_object_new_object();
	int64_t until = 0;
	char t[UTIL_TIME_LEN];

	/* As the change recorded it: a pause and a resume in one pass are
	 * two events, in order. */
	if (ch->paused && ch->paused_until != 0)
		until = ch->paused_until == e->fo.paused_until
		    ? engine_pause_wall(e)
		    : util_mono_to_wall(ch->paused_until);
	if (ch->paused)
		log_info("paused %s%s", until != 0 ? "until " : "until resume",
		    until != 0 ? util_time_fmt(until, t, sizeof(t)) : "");
	else
		log_info("%s", ch->reason);
	d->dstate->paused = ch->paused;
	d->dstate->paused_until = until;
	daemon_state_dirty(d);
	json_object_object_add(f, "paused", json_object_new_boolean(ch->paused));
	json_object_object_add(f, "paused_until", json_time_or_null(until));
	e->pause_expired = !ch->paused && strcmp(ch->reason, "pause expired") == 0;
	events_emit(d->events, "pause", f);
	e->pause_expired = false;
}

/* systemd's STATUS=: the state, the pause and degraded, when they change. */
static void
sd_status(struct engine *e)
{
	struct daemon *d = e->d;
	char buf[sizeof(e->sd_status)], t[UTIL_TIME_LEN];

	snprintf(buf, sizeof(buf), "STATUS=%s%s%s%s%s%s", fo_state_str(e->fo.state),
	    e->fo.paused ? ", paused until " : "",
	    e->fo.paused
	        ? (e->fo.paused_until != 0 ? util_time_fmt(engine_pause_wall(e), t, sizeof(t))
	                                   : "resume")
	        : "",
	    e->fo.degraded ? ", degraded" : "", e->fo.degraded ? ": " : "",
	    e->fo.degraded ? e->fo.degraded_reason : "");
	if (strcmp(buf, e->sd_status) == 0)
		return;
	strlcpy(e->sd_status, buf, sizeof(e->sd_status));
	daemon_sd_notify(d, buf);
}

void
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
			case FO_CH_PAUSE: announce_pause(e, &ch[i]); break;
			case FO_CH_DRIFT: {
				json_object *f = json_object_new_object();
				log_warnx("drift: %s", ch[i].reason);
				json_object_object_add(
				    f, "detail", json_object_new_string(ch[i].reason));
				events_emit(d->events, "drift", f);
				break;
			}
			case FO_CH_GRACE_HOLD:
				/* daemon_error logs it, once, at warning. */
				daemon_error(d, "startup-grace", "%s", ch[i].reason);
				break;
			case FO_CH_GRACE_END:
				daemon_error_cleared(d, "startup-grace", "%s", ch[i].reason);
				break;
			case FO_CH_TIMEOUT:
				daemon_error(d,
				    e->fo.state == FO_FAILING_OVER ? "activation" : "deactivation",
				    "%s", ch[i].reason);
				break;
			case FO_CH_STANDBY_UNHEALTHY:
				daemon_error(d, "standby-health", "%s: %s; %s", ch[i].reason,
				    e->standby_error,
				    e->fo.paused ? "paused, so it is not restarted"
				                 : "restarting it");
				break;
			case FO_CH_STANDBY_HEALTHY:
				daemon_error_cleared(d, "standby-health", "%s", ch[i].reason);
				break;
			case FO_CH_FAILBACK_AWAITED:
				log_info(
				    "the primary is healthy again; FAILBACK=manual: waiting for "
				    "`failoverctl force-deactivate`");
				standby_event(e, "deactivate", "begin",
				    "primary healthy again; manual failback awaited");
				break;
			}
		}
	}
	sd_status(e);
	daemon_status_changed(d);
}
