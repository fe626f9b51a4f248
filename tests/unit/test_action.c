/*
 * The action pipeline (daemon/action.c) without a network: the real state
 * machine (failover.c) and provider arbiter (provq.c), and fakes for the
 * provider, hooks, rclone and probes that record what was asked of them
 * and let the test finish each step, in any order, with any outcome.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "check.h"
#include "control.h"
#include "coord.h"
#include "engine_int.h"
#include "daemon.h"
#include "hooks.h"
#include "http.h"
#include "log.h"
#include "state.h"
#include "sync.h"
#include "util.h"

/* --- what the pipeline did, in order ------------------------------------------ */

static char trace[4096];

static void
say(const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(trace);

	if (n > 0 && n < sizeof(trace) - 1)
		trace[n++] = ' ';
	va_start(ap, fmt);
	vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
	va_end(ap);
}

/* --- fakes --------------------------------------------------------------------- */

/* COORDINATOR=etcd is not on here (d->coord is NULL): never called. */
bool
coord_may_act(const struct coord *c)
{
	(void)c;
	fail_msg("coord_may_act without a coordination");
	return false;
}
bool
coord_remote_state_dir(const struct coord *c)
{
	(void)c;
	return false;
}
struct coord_op *
coord_record(struct coord *c, const char *step, coord_done_cb *cb, void *arg)
{
	(void)c, (void)step, (void)cb, (void)arg;
	fail_msg("coord_record without a coordination");
	return NULL;
}
struct coord_op *
coord_ask(struct coord *c, const char *what, int64_t timeout_ms, coord_done_cb *cb, void *arg)
{
	(void)c, (void)what, (void)timeout_ms, (void)cb, (void)arg;
	fail_msg("coord_ask without a coordination");
	return NULL;
}
void
coord_op_cancel(struct coord_op *op)
{
	assert_null(op);
}
bool
engine_coord_sync(struct engine *e, struct request *r, bool push, bool force)
{
	(void)e, (void)r, (void)push, (void)force;
	fail_msg("a remote sync without a coordination");
	return false;
}
void
engine_coord_synced(struct engine *e, const struct sync_result *r)
{
	(void)e, (void)r;
	fail_msg("SU_ASK without a coordination");
}

static struct {
	bool fence, failback; /* configured */
	hook_done_cb *cb;
	void *arg;
	int cancelled;
} hk;

bool
hooks_configured(const struct hooks *h, enum hook_kind k)
{
	(void)h;
	return k == HOOK_FENCE ? hk.fence : k == HOOK_FAILBACK ? hk.failback : false;
}

int
hooks_run(struct hooks *h, enum hook_kind k, hook_done_cb *cb, void *arg)
{
	(void)h;
	say(k == HOOK_FENCE ? "fence" : "failback-cmd");
	hk.cb = cb;
	hk.arg = arg;
	return 0;
}

void
hooks_cancel(struct hooks *h, enum hook_kind k)
{
	(void)h;
	(void)k;
	hk.cb = NULL;
	hk.cancelled++;
}

static struct {
	bool busy;
	enum sync_dir dir;
	sync_done_cb *cb;
	void *arg;
} sy;

bool
sync_enabled(const struct config *cfg)
{
	return cfg->state_dir != NULL;
}

bool
sync_busy(const struct sync *s)
{
	(void)s;
	return sy.busy;
}

enum sync_dir
sync_running_dir(const struct sync *s)
{
	(void)s;
	return sy.dir;
}

int
sync_push(struct sync *s, int64_t timeout_ms, sync_done_cb *cb, void *arg)
{
	(void)s;
	(void)timeout_ms;
	if (sy.busy)
		return -1;
	say("push");
	sy.busy = true;
	sy.dir = SYNC_PUSH;
	sy.cb = cb;
	sy.arg = arg;
	return 0;
}

int
sync_pull(struct sync *s, int64_t after, sync_done_cb *cb, void *arg)
{
	(void)s;
	(void)after;
	if (sy.busy)
		return -1;
	say("pull");
	sy.busy = true;
	sy.dir = SYNC_PULL;
	sy.cb = cb;
	sy.arg = arg;
	return 0;
}

void
sync_cancel(struct sync *s)
{
	(void)s;
	sy.busy = false;
	sy.cb = NULL;
}

void
sync_free(struct sync *s)
{
	(void)s;
}

static void
sync_finish(bool ok)
{
	struct sync_result r = {.dir = sy.dir, .ok = ok, .error = ok ? NULL : "rclone exit 1"};
	sync_done_cb *cb = sy.cb;

	assert_non_null(cb);
	sy.busy = false;
	sy.cb = NULL;
	cb(&r, sy.arg);
}

static struct {
	prov_done_cb *cb;
	void *arg;
	enum prov_op op;
	int cancelled;
} pv;

static struct provider *
fake_create(struct event_base *b, struct http *h, const struct config *c)
{
	(void)b;
	(void)h;
	(void)c;
	return NULL;
}

static int
fake_start(
    struct provider *p, enum prov_op op, prov_done_cb *cb, prov_progress_cb *progress, void *arg)
{
	(void)p;
	(void)progress;
	say(op == PROV_OP_ACTIVATE ? "start" : op == PROV_OP_DEACTIVATE ? "stop" : "list");
	pv.cb = cb;
	pv.arg = arg;
	pv.op = op;
	return 0;
}

static void
fake_cancel(struct provider *p)
{
	(void)p;
	pv.cb = NULL;
	pv.cancelled++;
}

static const struct provider_ops fake_ops = {
    .name = "fake", .create = fake_create, .start = fake_start, .cancel = fake_cancel};
const struct provider_ops provider_command_ops = {.name = "command"};

static void
prov_finish(enum prov_result res, const char *error)
{
	struct prov_status ps = {.res = res, .retry_after_ms = -1};
	prov_done_cb *cb = pv.cb;

	assert_non_null(cb);
	strlcpy(ps.error, error != NULL ? error : "", sizeof(ps.error));
	pv.cb = NULL;
	cb(&ps, pv.arg);
}

static struct {
	check_cb *cb;
	void *arg;
} pr;

struct check_probe *
check_probe_start(
    struct http *h, const struct config *cfg, const char *url, check_cb *cb, void *arg)
{
	(void)h;
	(void)cfg;
	(void)url;
	say("verify");
	pr.cb = cb;
	pr.arg = arg;
	return (struct check_probe *)&pr;
}

void
check_probe_cancel(struct check_probe *p)
{
	(void)p;
	pr.cb = NULL;
}

static void
probe_finish(bool healthy)
{
	struct check_result r = {.healthy = healthy, .status = healthy ? 200 : 503};
	check_cb *cb = pr.cb;

	assert_non_null(cb);
	strlcpy(r.error, healthy ? "" : "HTTP 503", sizeof(r.error));
	pr.cb = NULL;
	cb(&r, pr.arg);
}

static struct {
	http_done_cb *cb;
	void *arg;
	char body[512];
	int cancelled;
} hp;

struct http_req *
http_request_start(struct http *h, const struct http_request_opts *o, http_done_cb *cb, void *arg)
{
	(void)h;
	say("promote");
	assert_string_equal(o->method, "POST");
	strlcpy(hp.body, o->body, sizeof(hp.body));
	hp.cb = cb;
	hp.arg = arg;
	return (struct http_req *)&hp;
}

void
http_request_cancel(struct http_req *r)
{
	if (r != NULL) {
		hp.cb = NULL;
		hp.cancelled++;
	}
}

static void
promote_finish(int status)
{
	struct http_response resp = {.err = HTTP_OK, .status = status, .retry_after_ms = -1};
	http_done_cb *cb = hp.cb;

	assert_non_null(cb);
	hp.cb = NULL;
	cb(&resp, hp.arg);
}

static int errors_reported, marks;

void
daemon_error(struct daemon *d, const char *what, const char *fmt, ...)
{
	(void)d;
	(void)fmt;
	say("error:%s", what);
	errors_reported++;
}

void
daemon_error_cleared(struct daemon *d, const char *what, const char *fmt, ...)
{
	(void)d;
	(void)what;
	(void)fmt;
}

void
daemon_status_changed(struct daemon *d)
{
	(void)d;
}

void
daemon_state_dirty(struct daemon *d)
{
	(void)d;
}

void
standby_event(struct engine *e, const char *action, const char *phase, const char *detail)
{
	(void)e;
	(void)detail;
	if (strcmp(phase, "begin") != 0 ||
	    strcmp(detail,
	        "machines started; verifying "
	        "FLY_HEALTH_URL") != 0)
		say("%s/%s", action, phase);
}

void
waiters_finish(struct engine *e, bool only_target, enum fo_state reached, const char *fail)
{
	(void)e;
	(void)only_target;
	(void)reached;
	(void)fail;
}

void
engine_mark(struct engine *e)
{
	(void)e;
	marks++;
}

void
machines_set(struct engine *e, const struct machine_list *ml)
{
	(void)e;
	(void)ml;
}

void
record_machines(struct engine *e)
{
	(void)e;
}

void
request_error(struct request *r, enum proto_err code, const char *fmt, ...)
{
	(void)r;
	(void)code;
	(void)fmt;
}

void
request_reply(struct request *r, json_object *result)
{
	(void)r;
	json_object_put(result);
}

void
metrics_sync_ok(struct metrics *m, bool push, int64_t wall_ms)
{
	(void)m;
	(void)push;
	(void)wall_ms;
}

/* --- a small engine ------------------------------------------------------------- */

struct rig {
	struct event_base *base;
	struct config cfg;
	struct dstate st;
	struct daemon d;
	struct engine e;
};

static void
rig_init(struct rig *g, bool sync, bool fence, bool fence_required, bool verify)
{
	struct fo_params p = {
	    .failure_threshold = 3,
	    .recovery_threshold = 3,
	    .check_interval_ms = 60000,
	    .fast_interval_ms = 5000,
	    .activation_timeout_ms = 300000,
	    .sync = sync,
	    .fence = fence,
	    .fence_required = fence_required,
	};
	struct fo_startup su = {.recorded = FO_REC_PRIMARY};

	memset(g, 0, sizeof(*g));
	memset(&hk, 0, sizeof(hk));
	memset(&sy, 0, sizeof(sy));
	memset(&pv, 0, sizeof(pv));
	memset(&pr, 0, sizeof(pr));
	memset(&hp, 0, sizeof(hp));
	trace[0] = '\0';
	hk.fence = fence;
	hk.failback = true;
	g->base = event_base_new();
	g->cfg.state_dir = sync ? "/state" : NULL;
	g->cfg.fly_health_url = verify ? "http://standby/health" : NULL;
	g->cfg.sync_timeout_ms = 60000;
	g->cfg.fast_interval_ms = 5000;
	g->cfg.activation_timeout_ms = 300000;
	g->st.machines = json_object_new_array();
	g->d.base = g->base;
	g->d.cfg = &g->cfg;
	g->d.dstate = &g->st;
	g->e.d = &g->d;
	g->e.pops = &fake_ops;
	g->e.provq = provq_new(&fake_ops, NULL);
	g->e.sync = sync ? (struct sync *)&sy : NULL;
	g->e.ev_verify = evtimer_new(g->base, verify_cb, &g->e);
	g->e.ev_periodic = evtimer_new(g->base, periodic_cb, &g->e);
	g->e.standby_healthy = -1;
	fo_init(&g->e.fo, &p);
	fo_start(&g->e.fo, util_mono_ms(), &su);
	fo_check_result(&g->e.fo, util_mono_ms(), true, NULL);
	fo_machines(&g->e.fo, util_mono_ms(), true, 0);
}

static void
rig_free(struct rig *g)
{
	provq_free(g->e.provq);
	event_free(g->e.ev_verify);
	event_free(g->e.ev_periodic);
	json_object_put(g->st.machines);
	event_base_free(g->base);
}

/* The engine's run: start what the machine offers. The test does not
 * wait out the backoff of a retry. */
static bool
rig_run(struct rig *g)
{
	struct fo_action a;

	if (g->e.run.running && !fo_action_current(&g->e.fo, g->e.run.act.id))
		action_cancel(&g->e);
	g->e.fo.act_retry_at = 0;
	a = fo_pending_action(&g->e.fo, util_mono_ms());
	if (a.kind == FO_ACT_NONE || g->e.run.running)
		return false;
	action_start(&g->e, &a);
	return g->e.run.running || g->e.run.act.id == a.id;
}

static void
fail_over(struct rig *g)
{
	for (int i = 0; i < 3; i++)
		fo_check_result(&g->e.fo, util_mono_ms(), false, "HTTP 503");
	assert_int_equal(g->e.fo.state, FO_FAILING_OVER);
	assert_true(rig_run(g));
}

/* --- tests ------------------------------------------------------------------------ */

static void
test_activate_all_steps_in_order(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, true, true, true, true);
	fail_over(&g);
	assert_string_equal(trace, "activate/begin fence");
	hk.cb(true, "exited 0", hk.arg);
	assert_string_equal(trace, "activate/begin fence push"); /* nothing in flight: final */
	sync_finish(true);
	assert_string_equal(trace, "activate/begin fence push start");
	prov_finish(PROV_OK, NULL);
	assert_string_equal(trace, "activate/begin fence push start verify");
	probe_finish(true);
	assert_string_equal(trace, "activate/begin fence push start verify activate/done");
	assert_int_equal(g.e.fo.state, FO_STANDBY);
	assert_false(g.e.run.running);
	rig_free(&g);
}

static void
test_activate_minimal(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, false, false, false, false);
	fail_over(&g);
	assert_string_equal(trace, "activate/begin start");
	prov_finish(PROV_OK, NULL);
	assert_string_equal(trace, "activate/begin start activate/done");
	assert_int_equal(g.e.fo.state, FO_STANDBY);
	rig_free(&g);
}

static void
test_activate_waits_for_prepush(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, true, false, false, false);
	assert_int_equal(sync_push((struct sync *)&sy, 0, engine_synced, &g.e), 0); /* pre-push */
	g.e.sync_use = SU_PRE;
	trace[0] = '\0';
	fail_over(&g);
	assert_string_equal(trace, "activate/begin"); /* waits for it */
	sync_finish(true);
	assert_string_equal(trace, "activate/begin push"); /* then the final push */
	sync_finish(false); /* a failed final push does not stop the activation */
	assert_string_equal(trace, "activate/begin push start");
	prov_finish(PROV_OK, NULL);
	assert_int_equal(g.e.fo.state, FO_STANDBY);
	rig_free(&g);
}

static void
test_fence_required_failure_retries_from_the_fence(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, true, true, true, false);
	fail_over(&g);
	hk.cb(false, "exited 1", hk.arg);
	assert_string_equal(trace, "activate/begin fence error:fence activate/retry");
	assert_false(g.e.run.running);
	assert_true(g.e.fo.degraded);
	trace[0] = '\0';
	assert_true(rig_run(&g)); /* attempt 2 fences again */
	assert_string_equal(trace, "activate/begin fence");
	assert_int_equal(g.e.run.act.attempt, 2);
	rig_free(&g);
}

static void
test_fence_not_required_goes_on(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, false, true, false, false);
	fail_over(&g);
	hk.cb(false, "exited 1", hk.arg);
	assert_string_equal(trace, "activate/begin fence start");
	rig_free(&g);
}

static void
test_provider_failure_retry_skips_prepared_steps(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, true, true, true, false);
	fail_over(&g);
	hk.cb(true, "exited 0", hk.arg);
	sync_finish(true);
	prov_finish(PROV_RETRY, "HTTP 503");
	assert_string_equal(trace, "activate/begin fence push start activate/retry");
	trace[0] = '\0';
	assert_true(rig_run(&g));
	assert_string_equal(trace, "activate/begin start"); /* no second fence or push */
	prov_finish(PROV_OK, NULL);
	assert_int_equal(g.e.fo.state, FO_STANDBY);
	rig_free(&g);
}

static void
test_fence_without_sync_runs_once_per_transition(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, false, true, true, false);
	fail_over(&g);
	hk.cb(true, "exited 0", hk.arg);
	prov_finish(PROV_RETRY, "HTTP 503");
	assert_string_equal(trace, "activate/begin fence start activate/retry");
	trace[0] = '\0';
	assert_true(rig_run(&g));
	assert_string_equal(trace, "activate/begin start"); /* fenced already */
	rig_free(&g);
}

static void
test_config_error_retries_slowly(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, false, false, false, false);
	fail_over(&g);
	prov_finish(PROV_CONFIG, "HTTP 401");
	assert_string_equal(trace, "activate/begin start error:fly-api activate/retry");
	assert_true(g.e.fo.act_retry_at - util_mono_ms() >= FO_RETRY_CONFIG_MIN_MS - 1000);
	rig_free(&g);
}

static void
test_verify_retries_until_healthy(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, false, false, false, true);
	fail_over(&g);
	prov_finish(PROV_OK, NULL);
	probe_finish(false);
	assert_true(evtimer_pending(g.e.ev_verify, NULL)); /* the next probe is armed */
	verify_cb(-1, 0, &g.e);
	probe_finish(true);
	assert_string_equal(trace, "activate/begin start verify verify activate/done");
	rig_free(&g);
}

static void
to_standby(struct rig *g)
{
	fail_over(g);
	if (hk.cb != NULL && g->e.run.cur == STEP_FENCE)
		hk.cb(true, "exited 0", hk.arg);
	if (sy.cb != NULL)
		sync_finish(true);
	prov_finish(PROV_OK, NULL);
	if (pr.cb != NULL)
		probe_finish(true);
	assert_int_equal(g->e.fo.state, FO_STANDBY);
	trace[0] = '\0';
}

static void
fail_back(struct rig *g)
{
	const char *why = NULL;

	assert_int_equal(fo_force_deactivate(&g->e.fo, util_mono_ms(), "test", true, &why), FO_OK);
	assert_int_equal(g->e.fo.state, FO_FAILING_BACK);
	assert_true(rig_run(g));
}

static void
test_deactivate_steps_in_order(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, true, false, false, false);
	to_standby(&g);
	fail_back(&g);
	assert_string_equal(trace, "deactivate/begin stop");
	prov_finish(PROV_OK, NULL);
	assert_string_equal(trace, "deactivate/begin stop pull");
	sync_finish(true);
	assert_string_equal(trace, "deactivate/begin stop pull failback-cmd");
	hk.cb(false, "exited 2", hk.arg); /* FAILBACK_CMD's failure does not stop it */
	assert_string_equal(trace, "deactivate/begin stop pull failback-cmd deactivate/done");
	assert_int_equal(g.e.fo.state, FO_PRIMARY);
	rig_free(&g);
}

static void
test_pull_failure_retries_then_gives_up(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, true, false, false, false);
	to_standby(&g);
	fail_back(&g);
	prov_finish(PROV_OK, NULL);
	sync_finish(false);
	assert_string_equal(trace, "deactivate/begin stop pull deactivate/retry");
	assert_int_equal(g.e.fo.state, FO_FAILING_BACK);
	assert_false(g.st.pushes_suspended);
	/* Past ACTIVATION_TIMEOUT the failback is done without the state. */
	g.e.fo.trans_start -= 301000;
	trace[0] = '\0';
	assert_true(rig_run(&g));
	prov_finish(PROV_OK, NULL);
	sync_finish(false);
	assert_string_equal(trace, "deactivate/begin stop pull error:sync deactivate/done");
	assert_int_equal(g.e.fo.state, FO_PRIMARY);
	assert_true(g.st.pushes_suspended);
	assert_true(g.e.fo.degraded);
	assert_null(hk.cb); /* FAILBACK_CMD skipped */
	rig_free(&g);
}

static void
test_superseded_action_is_cancelled(void **s)
{
	struct rig g;
	const char *why = NULL;

	(void)s;
	rig_init(&g, true, true, true, false);
	fail_over(&g);
	hk.cb(true, "exited 0", hk.arg);
	sync_finish(true);
	/* The start request is in flight: force-deactivate -f aborts. */
	assert_non_null(pv.cb);
	assert_int_equal(fo_force_deactivate(&g.e.fo, util_mono_ms(), "abort", true, &why), FO_OK);
	trace[0] = '\0';
	assert_true(rig_run(&g));
	assert_int_equal(pv.cancelled, 1);
	assert_string_equal(trace, "deactivate/begin stop"); /* no pull: aborted */
	prov_finish(PROV_OK, NULL);
	assert_string_equal(trace, "deactivate/begin stop failback-cmd");
	rig_free(&g);
}

static void
test_restart_and_drift_steps(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, true, true, true, true);
	to_standby(&g);
	fo_machines(&g.e.fo, util_mono_ms(), true, 0); /* none runs while standby */
	assert_true(rig_run(&g));
	assert_string_equal(trace, "error:standby restart/begin start"); /* no fence, no push */
	prov_finish(PROV_OK, NULL);
	probe_finish(true);
	assert_string_equal(trace, "error:standby restart/begin start verify restart/done");
	rig_free(&g);

	rig_init(&g, true, true, true, false);
	fo_machines(&g.e.fo, util_mono_ms(), true, 1); /* one runs while primary */
	assert_true(rig_run(&g));
	assert_string_equal(trace, "deactivate/begin stop"); /* no pull, no hook */
	prov_finish(PROV_OK, NULL);
	assert_string_equal(trace, "deactivate/begin stop deactivate/done");
	rig_free(&g);
}

static void
test_listing_gives_way_to_an_action(void **s)
{
	struct rig g;
	struct provq_req list = {.op = PROV_OP_LIST, .done = NULL, .arg = NULL};
	int lost = 0;

	(void)s;
	(void)lost;
	rig_init(&g, false, false, false, false);
	provq_submit(g.e.provq, PQ_LIST, &list);
	assert_true(provq_pending(g.e.provq, PQ_LIST));
	fail_over(&g);
	assert_int_equal(pv.cancelled, 1); /* the listing was cancelled */
	assert_string_equal(trace, "list activate/begin start");
	assert_int_equal(pv.op, PROV_OP_ACTIVATE);
	rig_free(&g);
}

static void
test_warm_up_steps(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, true, true, true, true);
	g.e.fo.p.warm_standby = true;
	g.e.fo.warm_due = true;
	fo_tick(&g.e.fo, util_mono_ms());
	assert_true(rig_run(&g));
	/* No fence, no push: start, verify, then the stop (which suspends). */
	assert_string_equal(trace, "activate/begin start");
	assert_int_equal(pv.op, PROV_OP_ACTIVATE);
	prov_finish(PROV_OK, NULL);
	probe_finish(true);
	assert_string_equal(trace, "activate/begin start verify stop");
	assert_int_equal(pv.op, PROV_OP_DEACTIVATE);
	prov_finish(PROV_OK, NULL);
	assert_string_equal(trace, "activate/begin start verify stop activate/done");
	assert_false(g.e.fo.warm_due);
	assert_int_equal(g.e.fo.state, FO_PRIMARY);
	assert_int_equal(json_object_array_length(g.st.machines), 0); /* not an activation */
	rig_free(&g);
}

static void
test_promote_after_verify(void **s)
{
	struct rig g;

	(void)s;
	rig_init(&g, false, false, false, true);
	g.cfg.fly_promote_url = "http://standby/promote";
	g.e.entered = json_object_new_object();
	json_object_object_add(g.e.entered, "to", json_object_new_string("failing-over"));
	fail_over(&g);
	prov_finish(PROV_OK, NULL);
	probe_finish(true);
	assert_string_equal(trace, "activate/begin start verify activate/begin promote");
	assert_non_null(strstr(hp.body, "\"to\":\"failing-over\""));
	promote_finish(503); /* a refusal fails the attempt */
	assert_string_equal(
	    trace, "activate/begin start verify activate/begin promote activate/retry");
	assert_int_equal(g.e.fo.state, FO_FAILING_OVER);
	trace[0] = '\0';
	assert_true(rig_run(&g));
	prov_finish(PROV_OK, NULL);
	probe_finish(true);
	promote_finish(204);
	assert_string_equal(
	    trace, "activate/begin start verify activate/begin promote activate/done");
	assert_int_equal(g.e.fo.state, FO_STANDBY);
	json_object_put(g.e.entered);
	rig_free(&g);
}

static void
test_promote_cancelled_with_the_action(void **s)
{
	struct rig g;
	const char *why = NULL;

	(void)s;
	rig_init(&g, false, false, false, false);
	g.cfg.fly_promote_url = "http://standby/promote";
	fail_over(&g);
	prov_finish(PROV_OK, NULL);
	assert_non_null(hp.cb);
	assert_int_equal(fo_force_deactivate(&g.e.fo, util_mono_ms(), "abort", true, &why), FO_OK);
	assert_true(rig_run(&g));
	assert_int_equal(hp.cancelled, 1);
	assert_null(hp.cb);
	rig_free(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_activate_all_steps_in_order),
	    cmocka_unit_test(test_activate_minimal),
	    cmocka_unit_test(test_activate_waits_for_prepush),
	    cmocka_unit_test(test_fence_required_failure_retries_from_the_fence),
	    cmocka_unit_test(test_fence_not_required_goes_on),
	    cmocka_unit_test(test_provider_failure_retry_skips_prepared_steps),
	    cmocka_unit_test(test_fence_without_sync_runs_once_per_transition),
	    cmocka_unit_test(test_config_error_retries_slowly),
	    cmocka_unit_test(test_verify_retries_until_healthy),
	    cmocka_unit_test(test_deactivate_steps_in_order),
	    cmocka_unit_test(test_pull_failure_retries_then_gives_up),
	    cmocka_unit_test(test_superseded_action_is_cancelled),
	    cmocka_unit_test(test_restart_and_drift_steps),
	    cmocka_unit_test(test_listing_gives_way_to_an_action),
	    cmocka_unit_test(test_warm_up_steps),
	    cmocka_unit_test(test_promote_after_verify),
	    cmocka_unit_test(test_promote_cancelled_with_the_action),
	};

	log_init("test_action", LOG_DEST_STDERR, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
