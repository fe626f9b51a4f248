/*
 * Status: the object `status` returns and STATUS_FILE holds (contract
 * §5.4), built from the daemon's context and the engine's state (read
 * only), and STATUS_FILE's atomic write.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"
#include "engine_int.h"
#include "proto.h"
#include "events.h"
#include "hooks.h"
#include "notify.h"
#include "sync.h"
#include "daemon.h"
#include "state.h"
#include "status.h"
#include "util.h"

static json_object *
errors_json(const struct error_ring *er)
{
	json_object *arr = json_object_new_array();

	/* Oldest first. */
	for (int i = 0; i < er->n; i++) {
		int slot = (er->next - er->n + i + ERRORS_MAX) % ERRORS_MAX;
		json_object *e = json_object_new_object();
		json_object_object_add(e, "time", json_time_or_null(er->v[slot].time));
		json_object_object_add(e, "what", json_object_new_string(er->v[slot].what));
		json_object_object_add(e, "error", json_object_new_string(er->v[slot].error));
		json_object_object_add(e, "cleared", json_time_or_null(er->v[slot].cleared));
		json_object_array_add(arr, e);
	}
	return arr;
}

/* --- the engine's part ----------------------------------------------------------- */

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

json_object *
status_build(struct daemon *d)
{
	json_object *st = json_object_new_object();
	int64_t until;
	bool paused = engine_paused(d->engine, &until);

	json_object_object_add(st, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(st, "pid", json_object_new_int64((int64_t)getpid()));
	json_object_object_add(
	    st, "uptime_s", json_object_new_int64((util_mono_ms() - d->started_mono) / 1000));
	json_object_object_add(st, "instance",
	    d->cfg->instance != NULL ? json_object_new_string(d->cfg->instance) : NULL);
	json_object_object_add(st, "paused", json_object_new_boolean(paused));
	json_object_object_add(st, "paused_until", paused ? json_time_or_null(until) : NULL);
	json_object_object_add(st, "errors", errors_json(&d->errors));
	json_object_object_add(
	    st, "config_file", d->cfg->file != NULL ? json_object_new_string(d->cfg->file) : NULL);
	json_object_object_add(st, "restart_needed", daemon_restart_needed_json(d));
	/* state, state_since, reason, forced, degraded, local, standby, sync,
	 * notify, counters. */
	engine_status(d->engine, st);
	json_object_object_add(st, "coordination", coord_status_json(d->coord));
	return st;
}

int
status_write(struct daemon *d)
{
	json_object *st = status_build(d);
	const char *s;
	int rc;

	json_object_object_add(st, "written_at", json_time_or_null(util_now_ms()));
	if (d->stopped_at != 0)
		json_object_object_add(st, "stopped", json_time_or_null(d->stopped_at));
	s = json_object_to_json_string_ext(
	    st, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = util_write_atomic(d->cfg->status_file, s, strlen(s), 0644);
	json_object_put(st);
	return rc;
}

char *
status_metrics_text(struct daemon *d)
{
	json_object *st = status_build(d);
	char *text = metrics_render(&d->metrics, st);

	json_object_put(st);
	return text;
}
