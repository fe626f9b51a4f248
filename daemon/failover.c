/*
 * The failover state machine: see failover.h. Inputs record facts and
 * intent; fo_recompute() alone changes the state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "failover.h"
#include "failover_int.h"
#include "util.h"

const char *
fo_state_str(enum fo_state s)
{
	switch (s) {
	case FO_STARTING: return "starting";
	case FO_PRIMARY: return "primary";
	case FO_FAILING_OVER: return "failing-over";
	case FO_STANDBY: return "standby";
	case FO_FAILING_BACK: return "failing-back";
	}
	return "unknown";
}

const char *
fo_act_str(enum fo_act a)
{
	switch (a) {
	case FO_ACT_NONE: return "none";
	case FO_ACT_ACTIVATE: return "activate";
	case FO_ACT_DEACTIVATE: return "deactivate";
	case FO_ACT_WARM: return "warm";
	}
	return "unknown";
}

const char *
fo_cause_str(enum fo_cause c)
{
	switch (c) {
	case FO_CAUSE_NONE: return NULL;
	case FO_CAUSE_THRESHOLD: return "threshold";
	case FO_CAUSE_RECOVERY: return "recovery";
	case FO_CAUSE_FORCE_ACTIVATE: return "force-activate";
	case FO_CAUSE_FORCE_DEACTIVATE: return "force-deactivate";
	case FO_CAUSE_AUTO_STOP: return "auto-stop";
	case FO_CAUSE_RESTART: return "restart";
	}
	return NULL;
}

enum fo_recorded
fo_recorded_from_str(const char *side, bool usable)
{
	if (!usable || side == NULL)
		return FO_REC_UNUSABLE;
	if (*side == '\0')
		return FO_REC_NONE;
	if (strcmp(side, "primary") == 0)
		return FO_REC_PRIMARY;
	if (strcmp(side, "failing-over") == 0)
		return FO_REC_FAILING_OVER;
	if (strcmp(side, "standby") == 0)
		return FO_REC_STANDBY;
	if (strcmp(side, "failing-back") == 0)
		return FO_REC_FAILING_BACK;
	return FO_REC_UNUSABLE;
}

void
fo_emit(struct fo *fo, enum fo_change_kind kind, enum fo_state from, const char *fmt, ...)
{
	struct fo_change *c;
	va_list ap;

	if (fo->nchanges == FO_MAX_CHANGES) {
		fo->changes_lost++;
		return;
	}
	c = &fo->changes[fo->nchanges++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->from = from;
	c->to = fo->state;
	c->forced = fo->forced;
	c->degraded = fo->degraded;
	c->paused = fo->paused;
	c->paused_until = fo->paused_until;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

int
fo_changes_take(struct fo *fo, struct fo_change *out, int max)
{
	int n = fo->nchanges < max ? fo->nchanges : max;

	if (n <= 0)
		return 0;
	memcpy(out, fo->changes, (size_t)n * sizeof(*out));
	memmove(fo->changes, fo->changes + n, (size_t)(fo->nchanges - n) * sizeof(*out));
	fo->nchanges -= n;
	return n;
}

void
fo_set_state(struct fo *fo, int64_t now, enum fo_state to, const char *reason)
{
	enum fo_state from = fo->state;

	fo->state = to;
	fo->state_since = now;
	snprintf(fo->reason, sizeof(fo->reason), "%s", reason);
	fo_emit(fo, FO_CH_STATE, from, "%s", reason);
	if (fo->nchanges > 0 && (to == FO_FAILING_OVER || to == FO_FAILING_BACK)) {
		struct fo_change *c = &fo->changes[fo->nchanges - 1];

		c->cause = fo->cause;
		snprintf(c->error, sizeof(c->error), "%s", fo->last_error);
		c->failures = fo->consecutive_failures;
		c->successes = fo->consecutive_successes;
	}
}

/* A transition begins: records what started it, then the state. */
static void
fo_begin(struct fo *fo, int64_t now, enum fo_state to, enum fo_cause cause, const char *reason)
{
	fo->cause = cause;
	fo->trans_start = now;
	fo->timed_out = false;
	fo_set_state(fo, now, to, reason);
}

void
fo_set_flags(struct fo *fo, bool forced, bool degraded, const char *reason)
{
	if (fo->forced == forced && fo->degraded == degraded)
		return;
	fo->forced = forced;
	fo->degraded = degraded;
	if (degraded)
		snprintf(fo->degraded_reason, sizeof(fo->degraded_reason), "%s", reason);
	else
		fo->degraded_reason[0] = '\0';
	fo_emit(fo, FO_CH_FLAGS, fo->state, "%s", reason);
}

/* Makes a new current action; one in flight is superseded. */
void
fo_act_set(struct fo *fo, enum fo_act kind)
{
	memset(&fo->act, 0, sizeof(fo->act));
	fo->act.kind = kind;
	fo->act.id = kind == FO_ACT_NONE ? 0 : ++fo->next_id;
	fo->act.attempt = 1;
	fo->act_running = false;
	fo->act_retry_at = 0;
}

void
fo_act_activate(struct fo *fo, bool resumed)
{
	fo_act_set(fo, FO_ACT_ACTIVATE);
	fo->act.push = fo->p.sync;
	fo->act.fence = fo->p.fence;
	fo->act.fence_required = fo->p.fence && fo->p.fence_required;
	fo->act.forced = fo->forced;
	fo->act.resumed = resumed;
}

void
fo_act_deactivate(struct fo *fo, bool resumed)
{
	fo_act_set(fo, FO_ACT_DEACTIVATE);
	fo->act.pull = fo->p.sync;
	fo->act.failback_hook = true;
	fo->act.resumed = resumed;
}

static bool
fo_primary_healthy(const struct fo *fo)
{
	return fo->last_healthy_known && fo->last_healthy;
}

static void
fo_reset_counts(struct fo *fo)
{
	fo->consecutive_failures = 0;
	fo->consecutive_successes = 0;
}

void
fo_init(struct fo *fo, const struct fo_params *p)
{
	memset(fo, 0, sizeof(*fo));
	fo->p = *p;
	fo->state = FO_STARTING;
	fo->want = FO_STARTING;
	fo->check_now = true;
	fo->follower = p->coordinated; /* until elected (fo_lead) */
	snprintf(fo->reason, sizeof(fo->reason), "daemon started");
}

void
fo_set_params(struct fo *fo, int64_t now, const struct fo_params *p)
{
	if (p->warm_standby && !fo->p.warm_standby)
		fo->warm_due = true; /* turned on by a reload */
	fo->p = *p;
	fo_recompute(fo, now);
}

void
fo_start(struct fo *fo, int64_t now, const struct fo_startup *st)
{
	fo->start = *st;
	fo->started = true;
	fo->start_at = now;
	fo->list_from = now;
	fo->state_since = now;
	fo->check_now = true;
}

int64_t
fo_grace_until(const struct fo *fo, int64_t now)
{
	int64_t end = fo->start_at + fo->p.startup_grace_ms;

	if (!fo->started || fo->seen_healthy || fo->p.startup_grace_ms <= 0 || now >= end)
		return 0;
	return end;
}

static void
fo_grace_end(struct fo *fo, const char *why)
{
	if (!fo->grace_held)
		return;
	fo->grace_held = false;
	fo_emit(fo, FO_CH_GRACE_END, fo->state, "%s", why);
}

void
fo_check_result(struct fo *fo, int64_t now, bool healthy, const char *error)
{
	if (healthy && fo->started) {
		fo->seen_healthy = true;
		fo_grace_end(fo, "the primary is healthy once: the grace is over");
	}
	fo->last_healthy_known = true;
	fo->last_healthy = healthy;
	fo->check_now = false;
	if (healthy) {
		fo->consecutive_successes++;
		fo->consecutive_failures = 0;
		fo->last_error[0] = '\0';
	} else {
		fo->consecutive_failures++;
		fo->consecutive_successes = 0;
		snprintf(fo->last_error, sizeof(fo->last_error), "%s",
		    error != NULL && *error != '\0' ? error : "check failed");
	}
	/* Not within STARTUP_GRACE before the primary was ever healthy: no
	 * failover may follow yet, and STATE_DIR may still be restoring. */
	if (!healthy && fo->state == FO_PRIMARY && fo->consecutive_failures == 1 && fo->p.sync &&
	    !fo->paused && fo_grace_until(fo, now) == 0)
		fo->prepush = true;
	else if (healthy || fo->state != FO_PRIMARY)
		fo->prepush = false;
	fo_recompute(fo, now);
}

bool
fo_prepush_take(struct fo *fo)
{
	bool p = fo->prepush;

	fo->prepush = false;
	return p;
}

void
fo_listing(struct fo *fo, int64_t now, const struct fo_listing *l)
{
	int n = l->running;

	if (l->ok && !l->known)
		n = fo->active ? 1 : 0; /* cannot list: our own record is the truth */
	else if (l->ok && fo->state == FO_STARTING && fo->start.recorded == FO_REC_FAILING_OVER)
		/* Killed mid-activation with machines still `starting`: the
		 * activation is not done until they are started and verified. */
		n = l->started;
	fo_machines(fo, now, l->ok, n);
}

void
fo_standby_health(struct fo *fo, int64_t now, bool healthy)
{
	if (fo->state != FO_STANDBY)
		return;
	if (healthy) {
		fo->standby_failures = 0;
		fo->standby_unhealthy = false;
		if (fo->standby_alerted) {
			fo->standby_alerted = false;
			fo_emit(fo, FO_CH_STANDBY_HEALTHY, fo->state,
			    "FLY_HEALTH_URL is healthy again");
		}
	} else if (++fo->standby_failures == fo->p.failure_threshold) {
		fo->standby_unhealthy = true;
		fo->standby_alerted = true;
		fo_emit(fo, FO_CH_STANDBY_UNHEALTHY, fo->state, "FLY_HEALTH_URL failing %d time%s",
		    fo->standby_failures, fo->standby_failures == 1 ? "" : "s");
	}
	fo_recompute(fo, now);
}

void
fo_machines(struct fo *fo, int64_t now, bool ok, int running)
{
	if (ok) {
		fo->listed = true;
		fo->running = running;
	}
	fo_recompute(fo, now);
}

enum fo_result
fo_force_activate(struct fo *fo, int64_t now, const char *reason, const char **why)
{
	const char *w = NULL;
	enum fo_result r = FO_OK;

	switch (fo->state) {
	case FO_STARTING:
		w = "the daemon is still starting";
		r = FO_CONFLICT;
		break;
	case FO_FAILING_BACK:
		w = "a failback is running";
		r = FO_CONFLICT;
		break;
	case FO_FAILING_OVER:
	case FO_STANDBY:
		w = "the standby is already active";
		r = FO_NOOP;
		break;
	case FO_PRIMARY:
		fo->want = FO_STANDBY;
		snprintf(fo->want_reason, sizeof(fo->want_reason), "force-activate%s%s",
		    reason != NULL && *reason ? ": " : "", reason != NULL ? reason : "");
		fo_recompute(fo, now);
		break;
	}
	if (why != NULL)
		*why = w;
	return r;
}

/* force-deactivate with force during failing-over: the activation is
 * superseded by a deactivation that stops whatever it started. No pull:
 * the standby was never verified serving, so the remote holds what this
 * side pushed. FAILBACK_CMD runs (it undoes the fence). Paused like any
 * forced failback onto a primary that is not healthy. */
static void
fo_abort_activation(struct fo *fo, int64_t now, const char *reason, int64_t pause_ms)
{
	char why[FO_REASON_LEN];

	if (!fo_primary_healthy(fo) && !fo->paused) {
		fo->paused = true;
		fo->paused_until = pause_ms > 0 ? now + pause_ms : 0;
		fo_emit(fo, FO_CH_PAUSE, fo->state, "paused by force-deactivate");
	}
	fo_set_flags(fo, false, fo->degraded, "activation aborted");
	fo_act_deactivate(fo, false);
	fo->act.pull = false;
	fo->act.aborted = true;
	fo->restart = false;
	snprintf(why, sizeof(why), "activation aborted%s%s",
	    reason != NULL && *reason ? ": " : " by force-deactivate",
	    reason != NULL ? reason : "");
	fo_begin(fo, now, FO_FAILING_BACK, FO_CAUSE_FORCE_DEACTIVATE, why);
}

enum fo_result
fo_force_deactivate(struct fo *fo, int64_t now, const char *reason, bool force, const char **why)
{
	return fo_force_deactivate_for(fo, now, reason, force, 0, why);
}

enum fo_result
fo_force_deactivate_for(
    struct fo *fo, int64_t now, const char *reason, bool force, int64_t pause_ms, const char **why)
{
	const char *w = NULL;
	enum fo_result r = FO_OK;

	switch (fo->state) {
	case FO_STARTING:
		w = "the daemon is still starting";
		r = FO_CONFLICT;
		break;
	case FO_FAILING_OVER:
		if (!force) {
			w = "a failover is running (force aborts it)";
			r = FO_CONFLICT;
			break;
		}
		fo_abort_activation(fo, now, reason, pause_ms);
		break;
	case FO_PRIMARY:
	case FO_FAILING_BACK:
		w = "the primary is already active";
		r = FO_NOOP;
		break;
	case FO_STANDBY:
		if (!fo_primary_healthy(fo) && !force) {
			w = fo->last_healthy_known ? "the primary is not healthy (use force)"
			                           : "the primary's health is unknown (use force)";
			r = FO_CONFLICT;
			break;
		}
		/* Forced onto a sick primary: keep the daemon from failing
		 * straight over again until a person resumes. */
		fo->want_pause = !fo_primary_healthy(fo);
		fo->want_pause_ms = pause_ms;
		fo->want = FO_PRIMARY;
		snprintf(fo->want_reason, sizeof(fo->want_reason), "force-deactivate%s%s%s",
		    fo->want_pause ? " (forced)" : "", reason != NULL && *reason ? ": " : "",
		    reason != NULL ? reason : "");
		fo_recompute(fo, now);
		break;
	}
	if (why != NULL)
		*why = w;
	return r;
}

void
fo_pause(struct fo *fo, int64_t now, int64_t until)
{
	fo->paused = true;
	fo->paused_until = until;
	fo_emit(fo, FO_CH_PAUSE, fo->state, "paused");
	fo_recompute(fo, now);
}

void
fo_do_resume(struct fo *fo, const char *why)
{
	fo->paused = false;
	fo->paused_until = 0;
	fo_reset_counts(fo);
	fo->check_now = true;
	fo_emit(fo, FO_CH_PAUSE, fo->state, "%s", why);
}

enum fo_result
fo_resume(struct fo *fo, int64_t now)
{
	if (!fo->paused)
		return FO_NOOP;
	fo_do_resume(fo, "resumed");
	fo_recompute(fo, now);
	return FO_OK;
}

void
fo_set_degraded(struct fo *fo, int64_t now, bool degraded, const char *reason)
{
	fo_set_flags(fo, fo->forced, degraded, reason != NULL ? reason : "");
	fo_recompute(fo, now);
}

void
fo_tick(struct fo *fo, int64_t now)
{
	fo_recompute(fo, now);
}

struct fo_action
fo_pending_action(const struct fo *fo, int64_t now)
{
	struct fo_action none = {.kind = FO_ACT_NONE};

	if (fo->follower || fo->act.kind == FO_ACT_NONE || fo->act_running ||
	    now < fo->act_retry_at)
		return none;
	return fo->act;
}

int64_t
fo_retry_delay(enum fo_retry cls, int attempt, int64_t hint_ms)
{
	int64_t d;

	if (cls == FO_RETRY_SOON)
		return FO_RETRY_BASE_MS;
	d = util_backoff_ms(attempt > 0 ? attempt - 1 : 0, FO_RETRY_BASE_MS, FO_RETRY_CAP_MS);
	if (hint_ms > d)
		d = hint_ms;
	if (cls == FO_RETRY_CONFIG && d < FO_RETRY_CONFIG_MIN_MS)
		d = FO_RETRY_CONFIG_MIN_MS;
	return d;
}

void
fo_action_prepared(struct fo *fo, uint64_t id)
{
	if (fo_action_current(fo, id))
		fo->act.prepared = true;
}

enum fo_outcome
fo_action_failed(struct fo *fo, int64_t now, uint64_t id, enum fo_retry cls, int64_t hint_ms,
    const char *detail, int64_t *retry_ms)
{
	int64_t d = fo_retry_delay(cls, fo->act.attempt, hint_ms);

	if (retry_ms != NULL)
		*retry_ms = d;
	if (!fo_action_current(fo, id) || !fo->act_running)
		return FO_OUT_STALE;
	if (cls == FO_RETRY_PULL && fo->state == FO_FAILING_BACK &&
	    now - fo->trans_start >= fo->p.activation_timeout_ms) {
		/* Give up: the primary serves without the standby's state. */
		fo_action_done(fo, now, id, true, "the standby is stopped; the pull failed", 0);
		fo_set_flags(fo, fo->forced, true, "the pull failed: pushes suspended");
		fo_recompute(fo, now);
		return FO_OUT_GAVE_UP;
	}
	fo_action_done(fo, now, id, false, detail, d);
	return FO_OUT_RETRY;
}

int
fo_action_begin(struct fo *fo, int64_t now, uint64_t id)
{
	struct fo_action a = fo_pending_action(fo, now);

	if (a.kind == FO_ACT_NONE || a.id != id)
		return -1;
	fo->act_running = true;
	return 0;
}

bool
fo_action_current(const struct fo *fo, uint64_t id)
{
	return id != 0 && fo->act.kind != FO_ACT_NONE && fo->act.id == id;
}

int
fo_action_done(
    struct fo *fo, int64_t now, uint64_t id, bool ok, const char *detail, int64_t retry_ms)
{
	struct fo_action a = fo->act;

	if (!fo_action_current(fo, id) || !fo->act_running)
		return -1;
	if (detail == NULL)
		detail = "";
	if (!ok) {
		char msg[FO_REASON_LEN];

		snprintf(msg, sizeof(msg), "%s failed (attempt %d)%s%s", fo_act_str(a.kind),
		    a.attempt, *detail ? ": " : "", detail);
		fo->act.id = ++fo->next_id;
		fo->act.attempt++;
		fo->act_running = false;
		fo->act_retry_at = now + (retry_ms > 0 ? retry_ms : 0);
		fo_set_flags(fo, fo->forced, true, msg);
		fo_recompute(fo, now);
		return 0;
	}

	fo_act_set(fo, FO_ACT_NONE);
	/* The machines changed: the last listing no longer says how many run. */
	fo->listed = false;
	if (fo->state == FO_FAILING_OVER && a.kind == FO_ACT_ACTIVATE) {
		if (!fo->active) {
			fo->active = true;
			fo->active_since = now;
		}
		fo->restart = false;
		fo_set_flags(fo, fo->forced, false, "activation done");
		fo_set_state(fo, now, FO_STANDBY,
		    *detail ? detail : (fo->forced ? "forced activation done" : "activation done"));
	} else if (fo->state == FO_FAILING_BACK && a.kind == FO_ACT_DEACTIVATE) {
		fo->active = false;
		fo->warm_due = fo->p.warm_standby;
		fo->drift = false;
		fo->failback_awaited = false;
		fo_set_flags(fo, false, false, "failback done");
		fo_set_state(fo, now, FO_PRIMARY, *detail ? detail : "failback done");
	} else {
		/* A correction outside a transition (drift stop, restart). */
		if (a.drift)
			fo->drift = false;
		if (a.restart)
			fo->restart = false;
		if (a.kind == FO_ACT_WARM)
			fo->warm_due = false;
		if (a.unhealthy) {
			/* Stopped: nothing runs now, so the restart follows. */
			fo->standby_unhealthy = false;
			fo->standby_failures = 0;
			fo->listed = true;
			fo->running = 0;
		}
		fo_set_flags(fo, fo->forced, false,
		    a.drift                     ? "drift corrected"
		        : a.unhealthy           ? "unhealthy standby stopped"
		        : a.kind == FO_ACT_WARM ? "standby warmed"
		                                : "standby restarted");
	}
	fo_recompute(fo, now);
	return 0;
}

/* Starting: decides where to begin once the facts are in (see failover.h). */
static void
fo_recompute_start(struct fo *fo, int64_t now)
{
	const struct fo_startup *st = &fo->start;
	bool listed = fo->listed, running = fo->listed && fo->running > 0;
	bool healthy = fo_primary_healthy(fo);
	const char *word = "";
	char why[FO_REASON_LEN];

	if (listed && !fo->last_healthy_known)
		return;
	if (!listed) {
		if (now - fo->list_from < FO_START_LIST_TIMEOUT_MS)
			return;
		word = "machine listing failing, on STATE_FILE's word: ";
		fo_set_flags(fo, fo->forced, true, "machine listing failed at start-up");
	}

	switch (st->recorded) {
	case FO_REC_STANDBY:
	case FO_REC_FAILING_OVER:
	case FO_REC_UNUSABLE:
		if (running || (!listed && st->recorded == FO_REC_STANDBY)) {
			fo->active = true;
			fo->active_since = st->active_known ? st->active_since : now;
			if (st->recorded != FO_REC_UNUSABLE && st->forced)
				fo_set_flags(fo, true, fo->degraded, "forced activation restored");
			snprintf(why, sizeof(why), "%s%s", word,
			    st->recorded == FO_REC_UNUSABLE
			        ? "standby machines running, STATE_FILE unusable"
			        : "standby machines running, activation recorded");
			fo_set_state(fo, now, FO_STANDBY, why);
			break;
		}
		if (st->recorded == FO_REC_STANDBY) {
			fo->active = st->active_known;
			fo->active_since = st->active_since;
			fo_act_deactivate(fo, true);
			fo_begin(fo, now, FO_FAILING_BACK, FO_CAUSE_RESTART,
			    "STATE_FILE says standby and nothing runs: finishing the failback");
			break;
		}
		if (st->recorded == FO_REC_FAILING_OVER && (st->forced || !healthy)) {
			if (st->forced)
				fo_set_flags(fo, true, fo->degraded, "forced activation restored");
			fo_act_activate(fo, true);
			snprintf(why, sizeof(why),
			    "%sresuming the activation interrupted by a restart", word);
			fo_begin(fo, now, FO_FAILING_OVER, FO_CAUSE_RESTART, why);
			break;
		}
		snprintf(why, sizeof(why), "%s%s", word,
		    st->recorded != FO_REC_UNUSABLE
		        ? "activation interrupted by a restart, primary healthy"
		        : listed ? "no standby machine running, STATE_FILE unusable"
		                 : "STATE_FILE unusable, assuming primary");
		fo_set_state(fo, now, FO_PRIMARY, why);
		fo->warm_due = fo->p.warm_standby;
		break;
	case FO_REC_FAILING_BACK:
		fo->active = st->active_known;
		fo->active_since = st->active_since;
		fo_act_deactivate(fo, true);
		snprintf(
		    why, sizeof(why), "%sfinishing the failback interrupted by a restart", word);
		fo_begin(fo, now, FO_FAILING_BACK, FO_CAUSE_RESTART, why);
		break;
	case FO_REC_NONE:
	case FO_REC_PRIMARY:
		snprintf(why, sizeof(why), "%s%s", word,
		    st->recorded == FO_REC_NONE ? "first start" : "primary recorded");
		fo_set_state(fo, now, FO_PRIMARY, why);
		fo->warm_due = fo->p.warm_standby;
		if (running) {
			fo->drift = true;
			fo_emit(fo, FO_CH_DRIFT, fo->state,
			    "%d standby machine(s) running while %s", fo->running,
			    st->recorded == FO_REC_NONE ? "no STATE_FILE exists"
			                                : "STATE_FILE says primary");
		}
		break;
	}
}

static void
fo_recompute_primary(struct fo *fo, int64_t now)
{
	if (fo->want == FO_STANDBY) {
		fo->want = FO_STARTING;
		fo->drift = false;
		fo_grace_end(fo, "force-activate");
		fo_set_flags(fo, true, fo->degraded, fo->want_reason);
		fo_act_activate(fo, false);
		fo_begin(fo, now, FO_FAILING_OVER, FO_CAUSE_FORCE_ACTIVATE, fo->want_reason);
		return;
	}
	if (!fo->paused && fo->consecutive_failures >= fo->p.failure_threshold &&
	    fo_grace_until(fo, now) != 0) {
		if (!fo->grace_held) {
			char buf[32];
			/* Whole seconds, rounded up: "110s", "2m". */
			int64_t left = (fo_grace_until(fo, now) - now + 999) / 1000 * 1000;

			fo->grace_held = true;
			fo_emit(fo, FO_CH_GRACE_HOLD, fo->state,
			    "failover held back: primary not healthy since start (%d consecutive "
			    "failed check%s: %s); no automatic failover for %s (STARTUP_GRACE) "
			    "unless it recovers",
			    fo->consecutive_failures, fo->consecutive_failures == 1 ? "" : "s",
			    fo->last_error, util_duration_fmt(left, buf, sizeof(buf)));
		}
	} else if (!fo->paused && fo->consecutive_failures >= fo->p.failure_threshold &&
	    (!fo->p.coordinated || fo->agree_over)) {
		char why[FO_REASON_LEN];

		fo_grace_end(
		    fo, "STARTUP_GRACE passed and the primary was never healthy: failing over");
		fo->drift = false;
		snprintf(why, sizeof(why), "primary failed %d consecutive check%s: %s",
		    fo->consecutive_failures, fo->consecutive_failures == 1 ? "" : "s",
		    fo->last_error);
		fo_act_activate(fo, false);
		fo_begin(fo, now, FO_FAILING_OVER, FO_CAUSE_THRESHOLD, why);
		return;
	}

	if (fo->act.kind == FO_ACT_WARM) {
		/* Started on purpose, to be suspended: not drift. */
	} else if (fo->listed && fo->running > 0 && !fo->drift) {
		fo->drift = true;
		fo_emit(fo, FO_CH_DRIFT, fo->state, "%d standby machine(s) running while primary",
		    fo->running);
	} else if (fo->listed && fo->running == 0)
		fo->drift = false;
	/* Stop drifted machines only while the primary is known good. */
	if (fo->drift && !fo->paused && fo_primary_healthy(fo)) {
		if (fo->act.kind == FO_ACT_NONE) {
			fo_act_set(fo, FO_ACT_DEACTIVATE);
			fo->act.drift = true;
		}
	} else if (fo->act.kind != FO_ACT_NONE && fo->act.drift && !fo->act_running)
		fo_act_set(fo, FO_ACT_NONE);

	/* Warm the standby while the primary is known good and nothing else
	 * needs the machines. */
	if (fo->warm_due && fo->p.warm_standby && !fo->paused && fo_primary_healthy(fo) &&
	    !fo->drift) {
		if (fo->act.kind == FO_ACT_NONE)
			fo_act_set(fo, FO_ACT_WARM);
	} else if (fo->act.kind == FO_ACT_WARM && !fo->act_running)
		fo_act_set(fo, FO_ACT_NONE);
}

static void
fo_recompute_standby(struct fo *fo, int64_t now)
{
	const struct fo_params *p = &fo->p;
	char why[FO_REASON_LEN];
	bool met = fo->consecutive_successes >= p->recovery_threshold;
	bool min_done = now - fo->active_since >= p->min_standby_ms;

	if (fo->want == FO_PRIMARY) {
		fo->want = FO_STARTING;
		int64_t until = fo->want_pause_ms > 0 ? now + fo->want_pause_ms : 0;

		/* A pause already running keeps going, for at least this long. */
		if (fo->want_pause && !fo->paused) {
			fo->paused = true;
			fo->paused_until = until;
			fo_emit(fo, FO_CH_PAUSE, fo->state, "paused by force-deactivate");
		} else if (fo->want_pause && fo->paused_until != 0 &&
		    (until == 0 || until > fo->paused_until)) {
			fo->paused_until = until;
			fo_emit(fo, FO_CH_PAUSE, fo->state, "paused by force-deactivate");
		}
		fo->want_pause = false;
		fo->restart = false;
		fo_act_deactivate(fo, false);
		fo_begin(fo, now, FO_FAILING_BACK, FO_CAUSE_FORCE_DEACTIVATE, fo->want_reason);
		return;
	}

	if (fo->forced && fo->consecutive_failures >= p->failure_threshold) {
		snprintf(why, sizeof(why),
		    "primary failed %d consecutive check%s while forced: a real failover now: %s",
		    fo->consecutive_failures, fo->consecutive_failures == 1 ? "" : "s",
		    fo->last_error);
		fo_set_flags(fo, false, fo->degraded, why);
	}

	if (p->failback_manual && !fo->forced && met) {
		if (!fo->failback_awaited) {
			fo->failback_awaited = true;
			fo_emit(fo, FO_CH_FAILBACK_AWAITED, fo->state,
			    "primary healthy for %d consecutive check%s; FAILBACK=manual: "
			    "run force-deactivate to fail back",
			    fo->consecutive_successes, fo->consecutive_successes == 1 ? "" : "s");
		}
	} else
		fo->failback_awaited = false;

	if (!fo->paused) {
		if (!fo->forced && !p->failback_manual && met && min_done &&
		    (!p->coordinated || fo->agree_back)) {
			snprintf(why, sizeof(why), "primary healthy for %d consecutive check%s",
			    fo->consecutive_successes, fo->consecutive_successes == 1 ? "" : "s");
			fo->restart = false;
			fo_act_deactivate(fo, false);
			fo_begin(fo, now, FO_FAILING_BACK, FO_CAUSE_RECOVERY, why);
			return;
		}
		if (fo->forced && p->auto_stop_ms > 0 &&
		    now - fo->active_since >= p->auto_stop_ms && fo->consecutive_successes > 0) {
			char buf[32];

			snprintf(why, sizeof(why), "AUTO_STOP: forced activation undone after %s",
			    util_duration_fmt(p->auto_stop_ms, buf, sizeof(buf)));
			fo->restart = false;
			fo_act_deactivate(fo, false);
			fo_begin(fo, now, FO_FAILING_BACK, FO_CAUSE_AUTO_STOP, why);
			return;
		}
	}

	if (fo->listed && fo->running == 0 && !fo->restart) {
		fo->restart = true;
		fo_emit(fo, FO_CH_DRIFT, fo->state, "no standby machine running while standby");
	} else if (fo->listed && fo->running > 0)
		fo->restart = false;
	if (fo->restart && !fo->paused) {
		if (fo->act.kind == FO_ACT_NONE || (fo->act.unhealthy && !fo->act_running)) {
			fo_act_set(fo, FO_ACT_ACTIVATE);
			fo->act.restart = true;
		}
	} else if (fo->standby_unhealthy && !fo->paused) {
		/* An unhealthy standby is stopped; the restart above follows. */
		if (fo->act.kind == FO_ACT_NONE) {
			fo_act_set(fo, FO_ACT_DEACTIVATE);
			fo->act.unhealthy = true;
		}
	} else if (fo->act.kind != FO_ACT_NONE && (fo->act.restart || fo->act.unhealthy) &&
	    !fo->act_running)
		fo_act_set(fo, FO_ACT_NONE);
}

/* The one place the state changes: from counters, machines and admin state. */
void
fo_recompute(struct fo *fo, int64_t now)
{
	int guard;

	if (fo->follower)
		return; /* the leader decides; fo_adopt mirrors it */
	if (fo->paused && fo->paused_until != 0 && now >= fo->paused_until)
		fo_do_resume(fo, "pause expired");

	/* A finished step may make the next one due at once; a transition
	 * itself always waits for its action, so this ends quickly. */
	for (guard = 0; guard < 4; guard++) {
		enum fo_state before = fo->state;

		switch (fo->state) {
		case FO_STARTING:
			if (fo->started)
				fo_recompute_start(fo, now);
			break;
		case FO_PRIMARY: fo_recompute_primary(fo, now); break;
		case FO_STANDBY: fo_recompute_standby(fo, now); break;
		case FO_FAILING_OVER:
		case FO_FAILING_BACK: break;
		}
		if (fo->state == before)
			break;
	}
	if (fo->state != FO_STANDBY) {
		fo->failback_awaited = false;
		fo->standby_failures = 0;
		fo->standby_unhealthy = false;
		fo->standby_alerted = false;
	}
	if (fo->state != FO_PRIMARY)
		fo->prepush = false;
	if (fo->state != FO_PRIMARY && fo->state != FO_STANDBY)
		fo->want = FO_STARTING;
	if ((fo->state == FO_FAILING_OVER || fo->state == FO_FAILING_BACK) && !fo->timed_out &&
	    fo->p.activation_timeout_ms > 0 &&
	    now >= fo->trans_start + fo->p.activation_timeout_ms) {
		char buf[32];

		fo->timed_out = true;
		fo_set_flags(fo, fo->forced, true, "ACTIVATION_TIMEOUT passed");
		fo_emit(fo, FO_CH_TIMEOUT, fo->state,
		    "not done after ACTIVATION_TIMEOUT (%s); retries go on",
		    util_duration_fmt(fo->p.activation_timeout_ms, buf, sizeof(buf)));
	}
}

int64_t
fo_next_check_delay(const struct fo *fo)
{
	bool disagree;

	/* Paused: no automatic check, except the first after a start, which
	 * the start-up needs to leave `starting` (a restart during a pause,
	 * e.g. force-deactivate -f's, would otherwise stay there). */
	if (fo->paused && !(fo->state == FO_STARTING && !fo->last_healthy_known))
		return -1;
	if (fo->check_now)
		return 0;
	switch (fo->state) {
	case FO_PRIMARY:
	case FO_FAILING_BACK: disagree = !fo->last_healthy_known || !fo->last_healthy; break;
	case FO_STANDBY:
	case FO_FAILING_OVER: disagree = !fo->last_healthy_known || fo->last_healthy; break;
	default: disagree = true; break;
	}
	return disagree ? fo->p.fast_interval_ms : fo->p.check_interval_ms;
}

static void
fo_deadline_min(int64_t *best, int64_t t, int64_t now)
{
	if (t > now && (*best < 0 || t < *best))
		*best = t;
}

int64_t
fo_next_deadline(const struct fo *fo, int64_t now)
{
	int64_t best = -1;

	if (fo->paused && fo->paused_until != 0)
		fo_deadline_min(&best, fo->paused_until, now);
	if (fo->state == FO_STARTING && !fo->listed)
		fo_deadline_min(&best, fo->list_from + FO_START_LIST_TIMEOUT_MS, now);
	if (fo->grace_held)
		fo_deadline_min(&best, fo_grace_until(fo, now), now);
	if (fo->act.kind != FO_ACT_NONE && !fo->act_running)
		fo_deadline_min(&best, fo->act_retry_at, now);
	if ((fo->state == FO_FAILING_OVER || fo->state == FO_FAILING_BACK) && !fo->timed_out &&
	    fo->p.activation_timeout_ms > 0)
		fo_deadline_min(&best, fo->trans_start + fo->p.activation_timeout_ms, now);
	if (fo->state == FO_STANDBY && !fo->paused) {
		if (!fo->forced && !fo->p.failback_manual)
			fo_deadline_min(&best, fo->active_since + fo->p.min_standby_ms, now);
		if (fo->forced && fo->p.auto_stop_ms > 0)
			fo_deadline_min(&best, fo->active_since + fo->p.auto_stop_ms, now);
	}
	return best;
}
