/*
 * The standby as seen from here: machine listings (at start-up, every
 * RECONCILE_INTERVAL, and each standby-watch round), what they record in
 * STATE_FILE and show in status, and the standby watch: while standby,
 * FLY_HEALTH_URL is probed every CHECK_INTERVAL and each result is an input
 * of the state machine, which decides when an unhealthy standby is
 * restarted (through the action pipeline, like every other provider step).
 */
#include <string.h>

#include "engine_int.h"
#include "daemon.h"
#include "fly_api.h"
#include "log.h"
#include "state.h"
#include "timer.h"
#include "util.h"

void
machines_set(struct engine *e, const struct machine_list *ml)
{
	if (ml == NULL)
		return;
	machine_list_copy(&e->machines, ml);
	e->listed = true;
}

void
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

json_object *
machines_json(const struct engine *e)
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
	struct fo_listing l = {.ok = ps->res == PROV_OK, .known = ps->machines != NULL};

	if (l.ok) {
		daemon_error_cleared(e->d, "fly-api", "the Fly Machines API answers again");
		if (ps->machines != NULL) {
			machines_set(e, ps->machines);
			l.running = machine_list_count_running(ps->machines);
			l.started = count_started(ps->machines);
		} else
			e->listed = true; /* PROVIDER=command cannot list */
	} else {
		strlcpy(e->standby_error, ps->error, sizeof(e->standby_error));
		if (ps->res == PROV_CONFIG) {
			daemon_error(e->d, "fly-api", "%s", ps->error);
		} else
			log_warnx("listing the standby's machines failed: %s", ps->error);
	}
	fo_listing(&e->fo, util_mono_ms(), &l);
	if (!l.ok && e->fo.state == FO_STARTING)
		util_timer_in(e->ev_reconcile, 2000); /* keep trying; 30 s ends `starting` */
	engine_mark(e);
}

void
engine_list(struct engine *e)
{
	struct provq_req req = {.op = PROV_OP_LIST, .done = list_done, .arg = e};

	if (!provq_pending(e->provq, PQ_LIST))
		provq_submit(e->provq, PQ_LIST, &req);
}

void
reconcile_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	if (e->fo.state != FO_STARTING)
		util_timer_in(e->ev_reconcile, e->d->cfg->reconcile_interval_ms);
	if (!e->run.running)
		engine_list(e);
}

static void
watch_done(const struct check_result *r, void *arg)
{
	struct engine *e = arg;

	e->watch_probe = NULL;
	if (e->fo.state != FO_STANDBY)
		return;
	e->standby_healthy = r->healthy ? 1 : 0;
	strlcpy(e->standby_error, r->healthy ? "" : r->error, sizeof(e->standby_error));
	fo_standby_health(&e->fo, util_mono_ms(), r->healthy);
	engine_mark(e);
}

void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;
	const struct config *cfg = e->d->cfg;

	if (e->fo.state != FO_STANDBY)
		return;
	util_timer_in(e->ev_watch, cfg->check_interval_ms);
	if (e->fo.paused || e->run.running)
		return;
	engine_list(e); /* a stopped machine shows as drift: started again */
	if (cfg->fly_health_url != NULL && e->watch_probe == NULL)
		e->watch_probe =
		    check_probe_start(e->d->http, cfg, cfg->fly_health_url, watch_done, e);
}
