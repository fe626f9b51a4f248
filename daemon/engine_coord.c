/*
 * The engine's side of COORDINATOR=etcd (contract §9): what it tells the
 * coordination (coord.c) and what it does when told. It owns the
 * callbacks: beginning and ceasing to lead (the state machine's fo_lead and
 * fo_follow), mirroring the pair's state while following (fo_adopt, and
 * the counters in STATE_FILE), the agreement of the live views
 * (fo_agreement), the pair's state the leader records at the end of each
 * run, commands forwarded by followers (run here as internal requests), and
 * the final push and pull the leader asks of this monitor when it has
 * STATE_DIR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "coord.h"
#include "daemon.h"
#include "engine_int.h"
#include "hooks.h"
#include "log.h"
#include "state.h"
#include "sync.h"
#include "util.h"

static void
fill_pair(struct engine *e, struct coord_pair *p)
{
	const struct dstate *st = e->d->dstate;

	memset(p, 0, sizeof(*p));
	p->fo.state = e->fo.state == FO_STARTING ? FO_PRIMARY : e->fo.state;
	p->fo.forced = e->fo.forced;
	p->fo.paused = e->fo.paused;
	p->fo.paused_until = e->fo.paused_until;
	p->paused_until_wall = engine_pause_wall(e);
	p->fo.active = e->fo.active;
	p->fo.active_since = e->fo.active_since;
	p->active_since_wall = e->fo.active ? util_mono_to_wall(e->fo.active_since) : 0;
	p->fo.cause = e->fo.cause;
	strlcpy(p->fo.reason, e->fo.reason, sizeof(p->fo.reason));
	p->failovers = st->failovers;
	p->failbacks = st->failbacks;
	p->last_failover = st->last_failover;
	p->last_failback = st->last_failback;
}

static void
cb_pair(void *arg, struct coord_pair *out)
{
	fill_pair(arg, out);
}

/* The pair's counters, as the leader recorded them, in this monitor's
 * STATE_FILE and status. */
static void
mirror_counters(struct engine *e, const struct coord_pair *p)
{
	struct dstate *st = e->d->dstate;

	st->failovers = p->failovers;
	st->failbacks = p->failbacks;
	st->last_failover = p->last_failover;
	st->last_failback = p->last_failback;
	daemon_state_dirty(e->d);
	daemon_status_changed(e->d);
}

static void
cb_adopt(void *arg, const struct coord_pair *p)
{
	struct engine *e = arg;

	fo_adopt(&e->fo, util_mono_ms(), &p->fo);
	announce(e);
	mirror_counters(e, p);
	engine_mark(e);
}

static void
cb_lead(void *arg, const struct coord_pair *p)
{
	struct engine *e = arg;
	int64_t now = util_mono_ms();

	if (p->known) {
		fo_adopt(&e->fo, now, &p->fo);
		announce(e);
		mirror_counters(e, p);
	}
	e->published[0] = '\0'; /* record the state at the end of the run */
	fo_lead(&e->fo, now);
	engine_list(e); /* as at start-up: which machines run (rule 2) */
	engine_mark(e);
}

static void
cb_follow(void *arg, const char *why)
{
	struct engine *e = arg;

	fo_follow(&e->fo, util_mono_ms());
	if (e->run.running) {
		log_warnx("standby %s stopped: %s", act_name(&e->run.act), why);
		action_cancel(e);
	}
	engine_mark(e);
}

static void
cb_agree(void *arg, bool over, bool back)
{
	struct engine *e = arg;

	fo_agreement(&e->fo, util_mono_ms(), over, back);
	engine_mark(e);
}

/* --- commands forwarded by followers --------------------------------------------------- */

struct fwd {
	struct engine *e;
	uint64_t id;
	char from[COORD_NODE_LEN];
};

static void
fwd_sink(json_object *reply, void *arg)
{
	struct fwd *f = arg;

	if (f->e->d->coord != NULL)
		coord_command_done(f->e->d->coord, f->id, f->from, json_object_get(reply));
	free(f);
}

static void
cb_command(void *arg, uint64_t id, const char *from, json_object *req)
{
	struct engine *e = arg;
	struct fwd *f = xcalloc(1, sizeof(*f));
	json_object *v;
	struct request *r;

	f->e = e;
	f->id = id;
	strlcpy(f->from, from, sizeof(f->from));
	r = request_internal(req, geteuid(), fwd_sink, f);
	log_info("coordination: a command from %s", from);
	e->d->dispatch(e->d, r,
	    json_object_object_get_ex(req, "cmd", &v) && json_object_is_type(v, json_type_string)
	        ? json_object_get_string(v)
	        : "",
	    true);
}

/* --- the leader's asks (rule 5), on the monitor with STATE_DIR -------------------------- */

static void
ask_failback_done(bool ok, const char *detail, void *arg)
{
	struct engine *e = arg;

	if (e->d->coord != NULL)
		coord_answer(e->d->coord, e->ask_id, ok, ok ? "" : detail);
	e->ask_id = 0;
}

void
engine_coord_synced(struct engine *e, const struct sync_result *r)
{
	struct coord *co = e->d->coord;
	char why[256];

	snprintf(why, sizeof(why), "%s", r->ok ? "" : r->error != NULL ? r->error : "failed");
	if (r->ok && e->ask_pull)
		pushes_resume(e);
	if (r->ok && e->ask_hook && hooks_configured(e->hooks, HOOK_FAILBACK) &&
	    hooks_run(e->hooks, HOOK_FAILBACK, ask_failback_done, e) == 0)
		return; /* answered when FAILBACK_CMD ends */
	if (co != NULL)
		coord_answer(co, e->ask_id, r->ok, why);
	e->ask_id = 0;
	periodic_arm(e);
	daemon_status_changed(e->d);
}

static void
cb_ask(void *arg, uint64_t id, const char *what)
{
	struct engine *e = arg;
	/* "push", "pull" (a failback's: then FAILBACK_CMD), "sync-push",
	 * "sync-pull" (the `sync` command given to the pair). */
	bool manual = strncmp(what, "sync-", 5) == 0;
	bool pull = strcmp(what + (manual ? 5 : 0), "pull") == 0;

	if (e->sync == NULL || (!pull && strcmp(what + (manual ? 5 : 0), "push") != 0)) {
		coord_answer(e->d->coord, id, false,
		    e->sync == NULL ? "this monitor has no STATE_DIR" : "unknown request");
		return;
	}
	sync_preempt(e, "the leader asked for a sync"); /* its ask comes first */
	e->ask_id = id;
	e->ask_pull = pull;
	e->ask_hook = pull && !manual;
	/* A failback's pull waits for the standby's final push, as a local one
	 * does. */
	if (pull ? sync_pull(e->sync, manual ? 0 : e->d->dstate->last_failback, engine_synced, e) ==
	            -1
	         : !push_start(e, SU_ASK, e->d->cfg->sync_timeout_ms)) {
		coord_answer(e->d->coord, id, false, "the sync could not start");
		e->ask_id = 0;
		return;
	}
	e->sync_use = SU_ASK;
	log_info("coordination: the leader's %s runs here", what);
}

/* --- the `sync` command on a leader without STATE_DIR ------------------------------------- */

struct sync_ask {
	struct request *req;
	bool push;
};

static void
sync_ask_done(bool ok, const char *why, void *arg)
{
	struct sync_ask *sa = arg;
	json_object *res;

	if (!ok)
		request_error(sa->req, PROTO_FAILED, "%s", why != NULL ? why : "failed");
	else {
		res = json_object_new_object();
		json_object_object_add(
		    res, "direction", json_object_new_string(sa->push ? "push" : "pull"));
		json_object_object_add(res, "ok", json_object_new_boolean(1));
		request_reply(sa->req, res);
	}
	free(sa);
}

bool
engine_coord_sync(struct engine *e, struct request *r, bool push, bool force)
{
	struct sync_ask *sa;

	(void)force; /* checked by the caller, as for a local sync */
	if (e->d->coord == NULL || !coord_remote_state_dir(e->d->coord))
		return false;
	sa = xcalloc(1, sizeof(*sa));
	sa->req = r;
	sa->push = push;
	if (coord_ask(e->d->coord, push ? "sync-push" : "sync-pull", e->d->cfg->sync_timeout_ms * 2,
	        sync_ask_done, sa) == NULL) {
		free(sa);
		request_error(r, PROTO_INTERNAL, "cannot ask the monitor with STATE_DIR");
	}
	return true;
}

/* --- life cycle --------------------------------------------------------------------------- */

void
engine_coord_new(struct engine *e)
{
	struct coord_cbs cbs = {
	    .lead = cb_lead,
	    .follow = cb_follow,
	    .adopt = cb_adopt,
	    .agree = cb_agree,
	    .pair = cb_pair,
	    .command = cb_command,
	    .ask = cb_ask,
	    .arg = e,
	    .fo = &e->fo,
	};
	char err[256] = "";

	e->d->coord = coord_new(e->d, e->hooks, &cbs, err, sizeof(err));
	if (e->d->coord == NULL && err[0] != '\0')
		fatalx("coordination: %s", err);
}

/* The end of a run: the leader records a changed pair state (rule 2); the
 * monitor's view carries its latest verdict. */
void
engine_coord_run(struct engine *e)
{
	struct coord_pair p;
	char buf[sizeof(e->published)];

	/* Nothing before the start-up has decided where the pair stands. */
	if (e->d->coord == NULL || coord_role(e->d->coord) != COORD_LEADER ||
	    e->fo.state == FO_STARTING)
		return;
	fill_pair(e, &p);
	snprintf(buf, sizeof(buf), "%d/%d/%d/%lld/%d/%lld/%llu/%llu", (int)p.fo.state, p.fo.forced,
	    p.fo.paused, (long long)p.paused_until_wall, p.fo.active,
	    (long long)p.active_since_wall, (unsigned long long)p.failovers,
	    (unsigned long long)p.failbacks);
	if (strcmp(buf, e->published) == 0)
		return;
	strlcpy(e->published, buf, sizeof(e->published));
	coord_publish(e->d->coord);
}
