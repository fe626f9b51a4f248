/*
 * The action pipeline and state sync. An action the state machine offers
 * becomes a list of steps when it starts:
 *
 *   activate:   [fence] [wait for the push in flight, final push] provider [verify]
 *               [promote]
 *   deactivate: provider [pull] [FAILBACK_CMD]
 *   warm:       provider (start) [verify] suspend (FLY_STANDBY_MODE=suspended)
 *
 * action_next() runs them in order; each step's callback stores its outcome
 * and calls action_next() (on to the next step), action_fail() (the one
 * failure path: the machine's retry policy, the `standby retry` event) or
 * action_succeed(). Superseded actions are cancelled: every step's
 * operation is cancellable without a callback. The steps below read in the
 * order they run. Pushes outside actions (SYNC_INTERVAL, the pre-push, the
 * `sync` command) share the one sync module and end in engine_synced().
 */
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "coord.h"
#include "engine_int.h"
#include "daemon.h"
#include "fly_api.h"
#include "hooks.h"
#include "http.h"
#include "log.h"
#include "state.h"
#include "sync.h"
#include "timer.h"
#include "util.h"

static void action_next(struct engine *);

/* The `standby` event's action (contract §6: activate, deactivate,
 * restart); a warm-up starts the standby, so it is an activation. */
const char *
act_name(const struct fo_action *a)
{
	if (a->kind == FO_ACT_ACTIVATE)
		return a->restart ? "restart" : "activate";
	if (a->kind == FO_ACT_WARM)
		return "activate";
	return a->unhealthy ? "restart" : "deactivate";
}

static void
prov_progress(const char *detail, void *arg)
{
	log_info("standby: %s", detail);
}

/* --- the end of an attempt ---------------------------------------------------- */

static void
action_end(struct engine *e)
{
	e->run.running = false;
	evtimer_del(e->ev_verify);
	engine_mark(e);
}

/* what: the `standby done` event's detail; reason: the state change's. */
static void
action_succeed(struct engine *e, const char *what, const char *reason)
{
	const struct fo_action *a = &e->run.act;

	standby_event(e, act_name(a), "done", what);
	action_end(e);
	fo_action_done(&e->fo, util_mono_ms(), a->id, true, reason, 0);
	if (a->restart)
		daemon_error_cleared(e->d, "standby", "the standby runs again");
	if (a->kind == FO_ACT_DEACTIVATE || a->kind == FO_ACT_WARM)
		e->standby_healthy = -1; /* stopped or suspended: not serving */
}

/* A failed attempt comes back after retry_ms: say so. */
static void
action_retry(struct engine *e, const char *why, int64_t retry)
{
	const struct fo_action *a = &e->run.act;
	char detail[600], msg[640];

	snprintf(detail, sizeof(detail), "%s (attempt %d, retrying in %llds)", why, a->attempt,
	    (long long)((retry + 999) / 1000));
	log_warnx("standby %s failed: %s", act_name(a), detail);
	standby_event(e, act_name(a), "retry", detail);
	/* A waiting force-* learns that the attempt failed; retries go on. */
	snprintf(msg, sizeof(msg), "%s failed: %s (retrying)", act_name(a), why);
	waiters_finish(e, false, FO_STARTING, msg);
	action_end(e);
}

/* The one failure path: the machine decides when the action comes back. */
static void
action_fail(struct engine *e, enum fo_retry cls, int64_t hint_ms, const char *why)
{
	int64_t retry = 0;

	if (fo_action_failed(&e->fo, util_mono_ms(), e->run.act.id, cls, hint_ms, why, &retry) ==
	    FO_OUT_RETRY)
		action_retry(e, why, retry);
	else
		action_end(e);
}

/* --- starting an action ------------------------------------------------------------ */

static void
steps_build(struct engine *e, const struct fo_action *a)
{
	struct run *r = &e->run;
	struct coord *co = e->d->coord;
	/* COORDINATOR=etcd: the final push and the pull are asked of the
	 * monitor with STATE_DIR when this one has none (rule 5). */
	bool remote = co != NULL && e->sync == NULL && coord_remote_state_dir(co);

#define ADD(st) (r->steps[r->nsteps++] = (st))
#define RECORD()                                                                                   \
	do {                                                                                       \
		if (co != NULL && (r->nsteps == 0 || r->steps[r->nsteps - 1] != STEP_RECORD))      \
			ADD(STEP_RECORD);                                                          \
	} while (0)
	r->nsteps = r->next = 0;
	if (a->kind == FO_ACT_ACTIVATE) {
		RECORD(); /* the failover begins */
		if (!a->prepared && a->fence && hooks_configured(e->hooks, HOOK_FENCE))
			ADD(STEP_FENCE);
		if (!a->prepared && a->push && e->sync != NULL) {
			ADD(STEP_PUSH_WAIT);
			ADD(STEP_FINAL_PUSH);
		} else if (!a->prepared && !a->restart && remote)
			ADD(STEP_ASK_PUSH);
		RECORD();
		ADD(STEP_PROVIDER);
		if (e->d->cfg->fly_health_url != NULL)
			ADD(STEP_VERIFY);
		if (e->d->cfg->fly_promote_url != NULL)
			ADD(STEP_PROMOTE);
	} else if (a->kind == FO_ACT_WARM) {
		RECORD();
		ADD(STEP_PROVIDER);
		if (e->d->cfg->fly_health_url != NULL)
			ADD(STEP_VERIFY);
		RECORD();
		ADD(STEP_SUSPEND);
	} else {
		RECORD();
		ADD(STEP_PROVIDER);
		if (a->pull && e->sync != NULL)
			ADD(STEP_PULL);
		if (a->failback_hook && remote)
			ADD(STEP_ASK_PULL); /* the pull, its apply and FAILBACK_CMD there */
		else if (a->failback_hook)
			ADD(STEP_FAILBACK);
	}
#undef RECORD
#undef ADD
}

static bool
has_step(const struct run *r, enum step s)
{
	for (int i = 0; i < r->nsteps; i++)
		if (r->steps[i] == s)
			return true;
	return false;
}

/* The `standby begin` event's detail: what the action is about to do. */
static void
begin_detail(const struct run *r, char *buf, size_t len)
{
	const struct fo_action *a = &r->act;

	if (a->unhealthy)
		strlcpy(buf, "FLY_HEALTH_URL failing: stopping the standby to start it again", len);
	else if (a->kind == FO_ACT_WARM)
		snprintf(buf, len,
		    "warm-up: starting the standby's machines to suspend them warm (attempt %d)",
		    a->attempt);
	else
		snprintf(buf, len, "%s%s%s%s (attempt %d)",
		    has_step(r, STEP_FENCE) || has_step(r, STEP_FINAL_PUSH)
		        ? "fence and final push, then "
		        : "",
		    a->kind == FO_ACT_ACTIVATE ? "starting the standby's machines"
		                               : "stopping the standby's machines",
		    a->drift                     ? ": drift, no pull"
		        : has_step(r, STEP_PULL) ? ", then the pull"
		                                 : "",
		    a->resumed ? ", resumed after a restart" : "", a->attempt);
}

void
action_start(struct engine *e, const struct fo_action *a)
{
	struct run *r = &e->run;
	char detail[160];

	if (fo_action_begin(&e->fo, util_mono_ms(), a->id) == -1)
		return;
	memset(r, 0, sizeof(*r));
	r->act = *a;
	r->running = true;
	steps_build(e, a);
	if (a->restart)
		daemon_error(e->d, "standby",
		    "no standby machine is running while standby: starting one again");
	begin_detail(r, detail, sizeof(detail));
	standby_event(e, act_name(a), "begin", detail);
	action_next(e);
}

static void step_fence(struct engine *);
static void step_push_wait(struct engine *);
static void step_final_push(struct engine *);
static void step_provider(struct engine *);
static void step_verify(struct engine *);
static void step_promote(struct engine *);
static void step_pull(struct engine *);
static void step_failback(struct engine *);
static void step_record(struct engine *);
static void step_ask(struct engine *);

/* The last step succeeded: the `standby done` event's detail (how the
 * machines came up, when known) and the state change's reason. */
static void
action_complete(struct engine *e)
{
	const struct run *r = &e->run;
	const char *what, *reason;
	char buf[200];

	switch (r->act.kind) {
	case FO_ACT_WARM:
		action_succeed(
		    e, "warm-up done: the standby is suspended, ready to resume", "standby warmed");
		return;
	case FO_ACT_DEACTIVATE: what = reason = "the standby's machines are stopped"; break;
	default:
		if (has_step(r, STEP_PROMOTE)) {
			what = "standby promoted at FLY_PROMOTE_URL";
			reason = "the standby is started, healthy and promoted at FLY_PROMOTE_URL";
		} else if (has_step(r, STEP_VERIFY)) {
			what = "standby healthy at FLY_HEALTH_URL";
			reason = "the standby is started and healthy at FLY_HEALTH_URL";
		} else
			what = reason = "the standby's machines are started";
		break;
	}
	snprintf(buf, sizeof(buf), "%s%s%s%s", what, r->warmth[0] ? " (" : "", r->warmth,
	    r->warmth[0] ? ")" : "");
	action_succeed(e, buf, reason);
}

static void
action_next(struct engine *e)
{
	struct run *r = &e->run;

	if (r->next == r->nsteps) {
		action_complete(e);
		return;
	}
	r->cur = r->steps[r->next++];
	/* The fence and the final push (those there are) are behind us: a
	 * retry skips them. */
	if (r->cur == STEP_PROVIDER && r->act.kind == FO_ACT_ACTIVATE)
		fo_action_prepared(&e->fo, r->act.id);
	switch (r->cur) {
	case STEP_FENCE: step_fence(e); break;
	case STEP_PUSH_WAIT: step_push_wait(e); break;
	case STEP_FINAL_PUSH: step_final_push(e); break;
	case STEP_PROVIDER: step_provider(e); break;
	case STEP_VERIFY: step_verify(e); break;
	case STEP_PROMOTE: step_promote(e); break;
	case STEP_PULL: step_pull(e); break;
	case STEP_FAILBACK: step_failback(e); break;
	case STEP_SUSPEND: step_provider(e); break;
	case STEP_RECORD: step_record(e); break;
	case STEP_ASK_PUSH:
	case STEP_ASK_PULL: step_ask(e); break;
	case STEP_MAX: break;
	}
}

void
action_cancel(struct engine *e)
{
	struct run *r = &e->run;

	if (!r->running)
		return;
	log_info("standby %s superseded: cancelled", act_name(&r->act));
	provq_cancel(e->provq, PQ_ACTION);
	provq_cancel(e->provq, PQ_RESTART);
	check_probe_cancel(e->probe);
	e->probe = NULL;
	http_request_cancel(r->promote);
	r->promote = NULL;
	evtimer_del(e->ev_verify);
	coord_op_cancel(r->cop);
	r->cop = NULL;
	if (r->cur == STEP_FENCE)
		hooks_cancel(e->hooks, HOOK_FENCE);
	else if (r->cur == STEP_FAILBACK)
		hooks_cancel(e->hooks, HOOK_FAILBACK);
	if (e->sync_use == SU_FINAL || e->sync_use == SU_PULL) {
		sync_cancel(e->sync);
		e->sync_use = SU_NONE;
	}
	r->running = false;
}

/* --- COORDINATOR=etcd: records and asks (contract §9 rules 2, 5) ------------------- */

static void
record_done(bool ok, const char *why, void *arg)
{
	struct engine *e = arg;
	char msg[320];

	e->run.cop = NULL;
	if (ok) {
		action_next(e);
		return;
	}
	snprintf(msg, sizeof(msg), "the step could not be recorded in etcd: %s", why);
	log_warnx("standby %s: %s", act_name(&e->run.act), msg);
	action_fail(e, FO_RETRY_SOON, -1, msg);
}

/* The step that follows, recorded first by a transaction fenced by this
 * monitor's epoch: only then is it taken. */
static void
step_record(struct engine *e)
{
	const struct run *r = &e->run;
	enum step nx = r->next < r->nsteps ? r->steps[r->next] : STEP_MAX;
	const char *what = nx == STEP_SUSPEND                       ? "suspend"
	    : nx == STEP_PROVIDER && r->act.kind == FO_ACT_ACTIVATE ? "start"
	    : nx == STEP_PROVIDER && r->act.kind == FO_ACT_WARM     ? "warm-start"
	    : nx == STEP_PROVIDER                                   ? "stop"
	                                                            : "begin failover";

	e->run.cop = coord_record(e->d->coord, what, record_done, e);
}

static void
ask_done(bool ok, const char *why, void *arg)
{
	struct engine *e = arg;
	char msg[320];

	e->run.cop = NULL;
	if (e->run.cur == STEP_ASK_PUSH) {
		if (!ok)
			log_warnx(
			    "the final push was not made (%s): the standby starts with what is "
			    "on the remote",
			    why);
		else if (why != NULL && why[0] != '\0')
			log_info("final push: %s", why);
		action_next(e);
		return;
	}
	if (ok) {
		action_next(e);
		return;
	}
	snprintf(msg, sizeof(msg), "the pull by the monitor with STATE_DIR failed: %s", why);
	action_fail(e, FO_RETRY_PULL, -1, msg);
}

static void
step_ask(struct engine *e)
{
	const struct config *cfg = e->d->cfg;
	bool push = e->run.cur == STEP_ASK_PUSH;

	e->run.cop = coord_ask(e->d->coord, push ? "push" : "pull",
	    push ? cfg->sync_timeout_ms : cfg->activation_timeout_ms + cfg->hook_timeout_ms,
	    ask_done, e);
}

/* --- activate: FENCE_CMD ------------------------------------------------------------ */

static void
fence_done(bool ok, const char *detail, void *arg)
{
	struct engine *e = arg;
	char msg[320];

	if (ok) {
		action_next(e);
		return;
	}
	if (!e->run.act.fence_required) {
		log_warnx("FENCE_CMD %s; FENCE_REQUIRED=no: the activation goes on", detail);
		action_next(e);
		return;
	}
	snprintf(msg, sizeof(msg), "FENCE_CMD %s; FENCE_REQUIRED=yes: not activating", detail);
	daemon_error(e->d, "fence", "%s (attempt %d)", msg, e->run.act.attempt);
	action_fail(e, FO_RETRY_BACKOFF, -1, msg);
}

static void
step_fence(struct engine *e)
{
	if (hooks_run(e->hooks, HOOK_FENCE, fence_done, e) == -1)
		action_next(e);
}

/* --- activate: the pushes ------------------------------------------------------------ */

/* A transition needs the sync module: what runs is cancelled (a `sync`
 * command waiting for it is told why). */
void
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

bool
push_start(struct engine *e, enum sync_use use, int64_t timeout_ms)
{
	if (e->sync == NULL || sync_busy(e->sync))
		return false;
	if (sync_push(e->sync, timeout_ms, engine_synced, e) == -1)
		return false;
	e->sync_use = use;
	daemon_status_changed(e->d);
	return true;
}

/* The pre-push (or a periodic one) in flight ends first: it was started
 * with SYNC_TIMEOUT, so it ends within the budget. */
static void
step_push_wait(struct engine *e)
{
	e->run.push_wait_from = util_mono_ms(); /* the wait begins now */
	if (e->d->dstate->pushes_suspended) {
		log_warnx("pushes are suspended since a pull failed: the standby starts with the "
		          "state already on the remote");
		e->run.next++; /* no final push */
		action_next(e);
		return;
	}
	if (sync_busy(e->sync) && sync_running_dir(e->sync) == SYNC_PUSH) {
		log_info("waiting for the push in flight, then the final push");
		return; /* engine_synced calls action_next */
	}
	sync_preempt(e, "a failover began");
	action_next(e);
}

/* Incremental after the pre-push, within what is left of SYNC_TIMEOUT since
 * the activation began waiting for it. */
static void
step_final_push(struct engine *e)
{
	int64_t budget = e->d->cfg->sync_timeout_ms;
	int64_t left = budget - (util_mono_ms() - e->run.push_wait_from);

	/* Not worth starting rclone for less than a second (or half a small
	 * SYNC_TIMEOUT): it would only be killed. */
	if (left < (budget / 2 < 1000 ? budget / 2 : 1000)) {
		log_warnx("the pre-push used up SYNC_TIMEOUT: starting the standby without a "
		          "final push");
		action_next(e);
		return;
	}
	if (!push_start(e, SU_FINAL, left))
		action_next(e);
}

static void
final_push_done(struct engine *e, const struct sync_result *r)
{
	if (!r->ok)
		log_warnx("the final push failed (%s): the standby starts with what is on the "
		          "remote",
		    r->error != NULL ? r->error : "?");
	action_next(e);
}

/* --- both: the provider --------------------------------------------------------------- */

/* How the machines of a start came up (contract §11): a start reply's
 * previous_state "suspended" is a resume, warm; anything else a boot. */
static void
warmth(struct engine *e, const struct machine_list *ml)
{
	int warm = 0, cold = 0;

	for (int i = 0; ml != NULL && i < ml->n; i++) {
		if (ml->v[i].previous_state[0] == '\0')
			continue;
		if (strcmp(ml->v[i].previous_state, "suspended") == 0)
			warm++;
		else
			cold++;
	}
	if (warm > 0 && cold > 0)
		snprintf(e->run.warmth, sizeof(e->run.warmth), "%d warm, %d cold", warm, cold);
	else
		strlcpy(e->run.warmth,
		    warm > 0       ? "warm"
		        : cold > 0 ? "cold"
		                   : "",
		    sizeof(e->run.warmth));
}

static void
prov_action_done(const struct prov_status *ps, void *arg)
{
	struct engine *e = arg;
	const struct fo_action *a = &e->run.act;
	enum fo_retry cls = FO_RETRY_BACKOFF;

	if (ps->machines != NULL)
		machines_set(e, ps->machines);
	else if (e->pops == &provider_command_ops)
		e->listed = true;
	if (ps->notice[0] != '\0')
		daemon_error(e->d, "standby-mode", "%s", ps->notice);
	if (ps->res == PROV_OK) {
		e->standby_error[0] = '\0';
		daemon_error_cleared(e->d, "fly-api", "the Fly Machines API answers again");
		if (e->run.cur == STEP_PROVIDER && a->kind != FO_ACT_DEACTIVATE)
			warmth(e, ps->machines);
		if (a->kind == FO_ACT_ACTIVATE)
			record_machines(e);
		else if (a->kind == FO_ACT_DEACTIVATE) {
			json_object_put(e->d->dstate->machines);
			e->d->dstate->machines = json_object_new_array();
		}
		daemon_state_dirty(e->d);
		action_next(e);
		return;
	}
	strlcpy(e->standby_error, ps->error, sizeof(e->standby_error));
	if (ps->res == PROV_CONFIG) {
		/* Needs a person: alert, and retry slowly, never in a tight loop. */
		cls = FO_RETRY_CONFIG;
		daemon_error(e->d, "fly-api", "%s", ps->error);
	}
	e->provider_retry = ps->res != PROV_CONFIG && a->attempt == 1 && !a->drift;
	action_fail(e, cls, ps->retry_after_ms, ps->error);
	e->provider_retry = false;
}

static void
step_provider(struct engine *e)
{
	const struct fo_action *a = &e->run.act;
	bool start =
	    a->kind == FO_ACT_ACTIVATE || (a->kind == FO_ACT_WARM && e->run.cur != STEP_SUSPEND);
	struct provq_req req = {
	    /* An unhealthy standby is stopped, never suspended: it restarts
	     * from a clean boot, not from the snapshot of its trouble. */
	    .op = start        ? PROV_OP_ACTIVATE
	        : a->unhealthy ? PROV_OP_STOP
	                       : PROV_OP_DEACTIVATE,
	    .done = prov_action_done,
	    .progress = prov_progress,
	    .arg = e,
	};

	/* The synchronous guard (rule 4): the record before this step
	 * succeeded, and the lease is still believed at this instant. */
	if (e->d->coord != NULL && !coord_may_act(e->d->coord)) {
		action_fail(e, FO_RETRY_SOON, -1, "this monitor cannot prove that it leads");
		return;
	}
	provq_submit(
	    e->provq, a->restart || a->unhealthy || a->drift ? PQ_RESTART : PQ_ACTION, &req);
}

/* --- activate: FLY_HEALTH_URL ----------------------------------------------------------- */

static void
verify_done(const struct check_result *r, void *arg)
{
	struct engine *e = arg;
	char why[512];

	e->probe = NULL;
	e->standby_healthy = r->healthy ? 1 : 0;
	strlcpy(e->standby_error, r->healthy ? "" : r->error, sizeof(e->standby_error));
	if (r->healthy) {
		action_next(e);
		return;
	}
	e->run.verify_failures++;
	if (e->pops == &provider_command_ops && e->run.verify_failures >= VERIFY_PROBES_MAX) {
		/* ACTIVATE_CMD returned but nothing serves (a server it left in
		 * the background dies with its process group): run it again. */
		snprintf(why, sizeof(why),
		    "standby not healthy at %s after %d probes (%s): running ACTIVATE_CMD again",
		    e->d->cfg->fly_health_url, e->run.verify_failures, r->error);
		action_fail(e, FO_RETRY_BACKOFF, -1, why);
		return;
	}
	log_info("standby not healthy yet at %s: %s", e->d->cfg->fly_health_url, r->error);
	util_timer_in(e->ev_verify, e->d->cfg->fast_interval_ms);
}

static void
verify_probe(struct engine *e)
{
	const struct config *cfg = e->d->cfg;

	e->probe = check_probe_start(e->d->http, cfg, cfg->fly_health_url, verify_done, e);
	if (e->probe == NULL)
		util_timer_in(e->ev_verify, cfg->fast_interval_ms);
}

static void
step_verify(struct engine *e)
{
	char detail[160];

	snprintf(detail, sizeof(detail), "machines started%s%s%s; verifying FLY_HEALTH_URL",
	    e->run.warmth[0] ? " (" : "", e->run.warmth, e->run.warmth[0] ? ")" : "");
	standby_event(e, act_name(&e->run.act), "begin", detail);
	verify_probe(e);
}

void
verify_cb(evutil_socket_t fd, short what, void *arg)
{
	verify_probe(arg);
}

/* --- activate: FLY_PROMOTE_URL ---------------------------------------------------------- */

static void
promote_done(const struct http_response *resp, void *arg)
{
	struct engine *e = arg;
	char why[320];

	e->run.promote = NULL;
	if (resp->err == HTTP_OK && resp->status >= 200 && resp->status < 300) {
		log_info("FLY_PROMOTE_URL answered HTTP %d: the standby takes over", resp->status);
		action_next(e);
		return;
	}
	if (resp->err != HTTP_OK)
		snprintf(why, sizeof(why), "FLY_PROMOTE_URL: %s", resp->error);
	else
		snprintf(why, sizeof(why), "FLY_PROMOTE_URL answered HTTP %d", resp->status);
	action_fail(e, FO_RETRY_BACKOFF, resp->retry_after_ms, why);
}

/* POSTs the `state` event that entered failing-over, so a passive standby
 * loads the pushed state and takes over; done on a 2xx. */
static void
step_promote(struct engine *e)
{
	const struct config *cfg = e->d->cfg;
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	json_object *body =
	    e->entered != NULL ? json_object_get(e->entered) : json_object_new_object();
	const char *s = json_object_to_json_string_ext(
	    body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	struct http_request_opts o = {
	    .method = "POST",
	    .url = cfg->fly_promote_url,
	    .headers = headers,
	    .body = s,
	    .body_len = strlen(s),
	    .timeout_ms = cfg->check_timeout_ms,
	    .max_body = 4096,
	    .ca_file = cfg->health_ca_file,
	    .insecure = cfg->health_insecure,
	    .keep_partial = true,
	};

	standby_event(
	    e, act_name(&e->run.act), "begin", "promoting the standby at FLY_PROMOTE_URL");
	e->run.promote = http_request_start(e->d->http, &o, promote_done, e);
	json_object_put(body);
	if (e->run.promote == NULL)
		action_fail(e, FO_RETRY_SOON, -1, "FLY_PROMOTE_URL: the request could not start");
}

/* --- deactivate: the pull ---------------------------------------------------------------- */

static void
step_pull(struct engine *e)
{
	struct dstate *st = e->d->dstate;
	/* First attempt: wait for the standby's final push, which it makes
	 * after the stop request; later attempts pull at once. */
	int64_t after = e->run.act.attempt == 1 ? st->last_failback : 0;

	sync_preempt(e, "a failback began");
	if (sync_pull(e->sync, after, engine_synced, e) == -1) {
		action_fail(e, FO_RETRY_SOON, -1, "the pull could not start");
		return;
	}
	e->sync_use = SU_PULL;
	daemon_status_changed(e->d);
}

/* A pull succeeded, or a push was forced: pushes are allowed again. */
void
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
pull_done(struct engine *e, const struct sync_result *r)
{
	const struct config *cfg = e->d->cfg;
	const char *err = r->error != NULL ? r->error : "?";
	char dur[32], msg[512];
	int64_t retry;
	uint64_t id = e->run.act.id;

	if (r->ok) {
		pushes_resume(e);
		action_next(e);
		return;
	}
	snprintf(msg, sizeof(msg), "the pull failed: %s", err);
	switch (fo_action_failed(&e->fo, util_mono_ms(), id, FO_RETRY_PULL, -1, msg, &retry)) {
	case FO_OUT_RETRY:
		/* Told once per failback, with rclone's error. */
		e->pull_error = e->pull_alerted ? NULL : err;
		e->pull_alerted = true;
		action_retry(e, msg, retry);
		e->pull_error = NULL;
		return;
	case FO_OUT_GAVE_UP:
		/* The primary serves without the standby's state, and pushes stop,
		 * so its older state never overwrites the newer one. */
		util_duration_fmt(cfg->activation_timeout_ms, dur, sizeof(dur));
		snprintf(msg, sizeof(msg),
		    "the pull has failed for ACTIVATION_TIMEOUT (%s): %s; back to primary without "
		    "the standby's state, FAILBACK_CMD skipped, pushes suspended until a pull "
		    "succeeds or `failoverctl sync push -f`",
		    dur, err);
		e->d->dstate->pushes_suspended = true;
		daemon_state_dirty(e->d);
		daemon_error(e->d, "sync", "%s", msg);
		standby_event(e, act_name(&e->run.act), "done", msg);
		break;
	case FO_OUT_STALE: break;
	}
	action_end(e);
}

/* --- deactivate: FAILBACK_CMD ------------------------------------------------------------- */

static void
failback_done(bool ok, const char *detail, void *arg)
{
	struct engine *e = arg;

	if (!ok)
		log_warnx("FAILBACK_CMD %s: the failback goes on", detail);
	action_next(e);
}

static void
step_failback(struct engine *e)
{
	if (!hooks_configured(e->hooks, HOOK_FAILBACK) ||
	    hooks_run(e->hooks, HOOK_FAILBACK, failback_done, e) == -1)
		action_next(e);
}

/* --- pushes outside actions, and the `sync` command ------------------------------------ */

bool
pushes_allowed(struct engine *e)
{
	return e->sync != NULL && !e->fo.paused && !e->d->dstate->pushes_suspended &&
	    !sync_busy(e->sync);
}

void
prepush_start(struct engine *e)
{
	if (!pushes_allowed(e))
		return;
	log_info("first failed check: pre-push of STATE_DIR");
	push_start(e, SU_PRE, 0);
}

void
periodic_cb(evutil_socket_t fd, short what, void *arg)
{
	struct engine *e = arg;

	if (e->fo.state == FO_PRIMARY && !e->run.running && pushes_allowed(e))
		push_start(e, SU_PERIODIC, 0);
	if (e->sync_use != SU_PERIODIC)
		periodic_arm(e);
}

void
periodic_arm(struct engine *e)
{
	evtimer_del(e->ev_periodic);
	if (e->sync != NULL && e->d->cfg->sync_interval_ms > 0)
		util_timer_in(e->ev_periodic, e->d->cfg->sync_interval_ms);
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

void
engine_synced(const struct sync_result *r, void *arg)
{
	struct engine *e = arg;
	enum sync_use use = e->sync_use;
	bool waiting = e->run.running && e->run.cur == STEP_PUSH_WAIT;

	e->sync_use = SU_NONE;
	if (r->ok)
		metrics_sync_ok(&e->d->metrics, r->dir == SYNC_PUSH, util_now_ms());
	switch (use) {
	case SU_PULL: pull_done(e, r); return;
	case SU_ASK: engine_coord_synced(e, r); return;
	case SU_FINAL: final_push_done(e, r); return;
	case SU_MANUAL:
		/* A manual pull, or a forced push, ends a suspension. */
		if (r->ok)
			pushes_resume(e);
		sync_reply(e, r);
		break;
	default: break;
	}
	if (waiting) {
		action_next(e); /* the push we waited for ended */
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

void
engine_cmd_sync(struct engine *e, struct request *r, bool push, bool force)
{
	struct dstate *st = e->d->dstate;
	bool remote = e->sync == NULL && e->d->coord != NULL && coord_remote_state_dir(e->d->coord);

	if (e->sync == NULL && !remote) {
		request_error(r, PROTO_UNAVAILABLE, "sync is off: STATE_DIR is not set");
		return;
	}
	if (!remote && (e->sync_req != NULL || sync_busy(e->sync))) {
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
	if (remote) { /* COORDINATOR=etcd: where STATE_DIR is */
		(void)engine_coord_sync(e, r, push, force);
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
