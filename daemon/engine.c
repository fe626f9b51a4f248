/* Temporary engine: the daemon shell before health checks are wired in. */
#include "config.h"

#include <stdlib.h>

#include "control.h"
#include "engine.h"
#include "failoverd.h"
#include "state.h"
#include "status.h"
#include "util.h"

struct engine {
	struct daemon *d;
	int64_t state_since;
};

struct engine *
engine_new(struct daemon *d)
{
	struct engine *e = xcalloc(1, sizeof(*e));

	e->d = d;
	e->state_since = util_now_ms();
	return e;
}

void
engine_start(struct engine *e)
{
}

void
engine_free(struct engine *e)
{
	free(e);
}

void
engine_reconfigure(struct engine *e)
{
}

void
engine_pause_changed(struct engine *e)
{
}

const char *
engine_state_str(const struct engine *e)
{
	return "starting";
}

void
engine_status(struct engine *e, json_object *st)
{
	struct daemon *d = e->d;
	const struct config *cfg = d->cfg;
	json_object *local, *standby, *sync, *notify, *counters, *o;

	json_object_object_add(st, "state", json_object_new_string(engine_state_str(e)));
	json_object_object_add(st, "state_since", json_time_or_null(e->state_since));
	json_object_object_add(st, "reason", json_object_new_string("daemon started"));
	json_object_object_add(st, "forced", json_object_new_boolean(d->dstate->forced));
	json_object_object_add(st, "degraded", json_object_new_boolean(0));

	local = json_object_new_object();
	json_object_object_add(local, "url", json_object_new_string(cfg->local_health_url));
	json_object_object_add(local, "healthy", NULL);
	json_object_object_add(local, "consecutive_failures", json_object_new_int(0));
	json_object_object_add(local, "consecutive_successes", json_object_new_int(0));
	json_object_object_add(local, "last_check", NULL);
	json_object_object_add(local, "last_status", NULL);
	json_object_object_add(local, "last_latency_ms", NULL);
	json_object_object_add(local, "last_error", NULL);
	json_object_object_add(local, "checks_total", json_object_new_int(0));
	json_object_object_add(local, "checks_failed", json_object_new_int(0));
	json_object_object_add(st, "local", local);

	standby = json_object_new_object();
	json_object_object_add(standby, "provider",
	    json_object_new_string(config_provider_str(cfg->provider)));
	json_object_object_add(standby, "app",
	    cfg->fly_app != NULL ? json_object_new_string(cfg->fly_app) : NULL);
	json_object_object_add(standby, "active", json_object_new_boolean(0));
	json_object_object_add(standby, "active_since", NULL);
	json_object_object_add(standby, "machines", NULL);
	json_object_object_add(standby, "healthy", NULL);
	json_object_object_add(standby, "last_error", NULL);
	json_object_object_add(standby, "active_seconds_total",
	    json_object_new_int64(d->dstate->active_ms_total / 1000));
	json_object_object_add(standby, "estimated_cost_usd", json_object_new_double(0.0));
	json_object_object_add(st, "standby", standby);

	sync = json_object_new_object();
	json_object_object_add(sync, "enabled", json_object_new_boolean(cfg->state_dir != NULL));
	json_object_object_add(sync, "last_push", NULL);
	json_object_object_add(sync, "last_pull", NULL);
	json_object_object_add(st, "sync", sync);

	notify = json_object_new_object();
	json_object_object_add(notify, "telegram",
	    json_object_new_boolean(cfg->telegram_bot_token != NULL));
	json_object_object_add(notify, "pending",
	    json_object_new_int((int)json_object_array_length(d->dstate->pending)));
	json_object_object_add(st, "notify", notify);

	counters = json_object_new_object();
	json_object_object_add(counters, "failovers",
	    json_object_new_int64((int64_t)d->dstate->failovers));
	json_object_object_add(counters, "failbacks",
	    json_object_new_int64((int64_t)d->dstate->failbacks));
	json_object_object_add(counters, "events",
	    json_object_new_int64((int64_t)(d->events_base + 0)));
	json_object_object_add(counters, "last_failover", json_time_or_null(d->dstate->last_failover));
	json_object_object_add(counters, "last_failback", json_time_or_null(d->dstate->last_failback));
	json_object_object_add(st, "counters", counters);
	(void)o;
}

void
engine_cmd_check(struct engine *e, struct request *r)
{
	request_error(r, PROTO_UNAVAILABLE, "health checks are not wired in yet");
}

void
engine_cmd_force_activate(struct engine *e, struct request *r, const char *reason, bool wait)
{
	request_error(r, PROTO_UNAVAILABLE, "activation is not wired in yet");
}

void
engine_cmd_force_deactivate(struct engine *e, struct request *r, const char *reason, bool force,
    bool wait)
{
	request_error(r, PROTO_UNAVAILABLE, "deactivation is not wired in yet");
}

void
engine_cmd_selftest(struct engine *e, struct request *r, bool telegram)
{
	request_error(r, PROTO_UNAVAILABLE, "selftest is not built into this version yet");
}

void
engine_cmd_sync(struct engine *e, struct request *r, bool push, bool force)
{
	if (e->d->cfg->state_dir == NULL)
		request_error(r, PROTO_UNAVAILABLE, "sync is off: STATE_DIR is not set");
	else
		request_error(r, PROTO_UNAVAILABLE, "state sync is not built into this version yet");
}
