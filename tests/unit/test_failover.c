/* The failover state machine (daemon/failover.c): every rule of contract §2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "failover.h"

#define SEC 1000
#define T0 1000000 /* start of every test, monotonic ms */

static struct fo_params
params(void)
{
	struct fo_params p = {
	    .failure_threshold = 3,
	    .recovery_threshold = 3,
	    .min_standby_ms = 300 * SEC,
	    .auto_stop_ms = 3600 * SEC,
	    .check_interval_ms = 60 * SEC,
	    .fast_interval_ms = 5 * SEC,
	    .failback_manual = false,
	    .sync = true, /* STATE_DIR set: activations push, failbacks pull */
	};
	return p;
}

/* Drains the changes; returns how many had `kind`, copying the last one. */
static int
drain(struct fo *fo, enum fo_change_kind kind, struct fo_change *last)
{
	struct fo_change c[FO_MAX_CHANGES];
	int i, n, hits = 0;

	n = fo_changes_take(fo, c, FO_MAX_CHANGES);
	for (i = 0; i < n; i++) {
		if (c[i].kind != kind)
			continue;
		hits++;
		if (last != NULL)
			*last = c[i];
	}
	return hits;
}

static void
checks(struct fo *fo, int64_t *now, int n, bool healthy)
{
	while (n-- > 0) {
		*now += SEC;
		fo_check_result(fo, *now, healthy, healthy ? NULL : "HTTP 503");
	}
}

/* Runs the pending action to its end; returns its description. */
static struct fo_action
run_action(struct fo *fo, int64_t now, bool ok)
{
	struct fo_action a = fo_pending_action(fo, now);

	assert_int_not_equal(a.kind, FO_ACT_NONE);
	assert_int_equal(fo_action_begin(fo, now, a.id), 0);
	assert_int_equal(fo_action_done(fo, now, a.id, ok, NULL, 2 * SEC), 0);
	return a;
}

static void
start_with(
    struct fo *fo, const struct fo_params *p, enum fo_recorded rec, bool running, bool healthy)
{
	struct fo_startup st = {.recorded = rec};

	fo_init(fo, p);
	fo_start(fo, T0, &st);
	fo_check_result(fo, T0, healthy, healthy ? NULL : "HTTP 503");
	fo_machines(fo, T0, true, running ? 1 : 0);
}

static void
start_primary(struct fo *fo, const struct fo_params *p)
{
	start_with(fo, p, FO_REC_PRIMARY, false, true);
	assert_int_equal(fo->state, FO_PRIMARY);
	drain(fo, FO_CH_STATE, NULL);
}

/* Primary -> failing-over -> standby through FAILURE_THRESHOLD failures. */
static void
to_standby(struct fo *fo, int64_t *now)
{
	checks(fo, now, fo->p.failure_threshold, false);
	assert_int_equal(fo->state, FO_FAILING_OVER);
	run_action(fo, *now, true);
	assert_int_equal(fo->state, FO_STANDBY);
	drain(fo, FO_CH_STATE, NULL);
}

static void
to_forced_standby(struct fo *fo, int64_t *now)
{
	assert_int_equal(fo_force_activate(fo, *now, "maintenance", NULL), FO_OK);
	run_action(fo, *now, true);
	assert_int_equal(fo->state, FO_STANDBY);
	assert_true(fo->forced);
	drain(fo, FO_CH_STATE, NULL);
}

/* ---- names ---- */

static void
test_state_str(void **s)
{
	(void)s;
	assert_string_equal(fo_state_str(FO_STARTING), "starting");
	assert_string_equal(fo_state_str(FO_PRIMARY), "primary");
	assert_string_equal(fo_state_str(FO_FAILING_OVER), "failing-over");
	assert_string_equal(fo_state_str(FO_STANDBY), "standby");
	assert_string_equal(fo_state_str(FO_FAILING_BACK), "failing-back");
	assert_string_equal(fo_act_str(FO_ACT_ACTIVATE), "activate");
	assert_string_equal(fo_act_str(FO_ACT_DEACTIVATE), "deactivate");
}

static void
test_recorded_from_str(void **s)
{
	(void)s;
	assert_int_equal(fo_recorded_from_str("", true), FO_REC_NONE);
	assert_int_equal(fo_recorded_from_str("primary", true), FO_REC_PRIMARY);
	assert_int_equal(fo_recorded_from_str("failing-over", true), FO_REC_FAILING_OVER);
	assert_int_equal(fo_recorded_from_str("standby", true), FO_REC_STANDBY);
	assert_int_equal(fo_recorded_from_str("failing-back", true), FO_REC_FAILING_BACK);
	assert_int_equal(fo_recorded_from_str("bogus", true), FO_REC_UNUSABLE);
	assert_int_equal(fo_recorded_from_str("primary", false), FO_REC_UNUSABLE);
	assert_int_equal(fo_recorded_from_str(NULL, true), FO_REC_UNUSABLE);
}

/* ---- failover ---- */

static void
test_init_is_starting(void **s)
{
	struct fo_params p = params();
	struct fo fo;

	(void)s;
	fo_init(&fo, &p);
	assert_int_equal(fo.state, FO_STARTING);
	assert_int_equal(fo_next_check_delay(&fo), 0);
	assert_int_equal(fo_pending_action(&fo, T0).kind, FO_ACT_NONE);
	/* Without fo_start, facts alone do not leave starting. */
	fo_check_result(&fo, T0, true, NULL);
	fo_machines(&fo, T0, true, 0);
	assert_int_equal(fo.state, FO_STARTING);
}

static void
test_failure_threshold_exact(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 2, false);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo.consecutive_failures, 2);
	assert_int_equal(drain(&fo, FO_CH_STATE, NULL), 0);
	checks(&fo, &now, 1, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_int_equal(c.from, FO_PRIMARY);
	assert_int_equal(c.to, FO_FAILING_OVER);
	assert_string_equal(c.reason, "primary failed 3 consecutive checks: HTTP 503");
	assert_string_equal(fo.reason, c.reason);
	assert_false(fo.forced);
	assert_int_equal(fo.state_since, now);
}

static void
test_failure_threshold_one(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.failure_threshold = 1;
	start_primary(&fo, &p);
	checks(&fo, &now, 1, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
}

static void
test_success_resets_failures(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 2, false);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo.consecutive_failures, 0);
	assert_int_equal(fo.consecutive_successes, 1);
	checks(&fo, &now, 2, false);
	assert_int_equal(fo.state, FO_PRIMARY);
	checks(&fo, &now, 1, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
}

static void
test_failover_action(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	drain(&fo, FO_CH_STATE, NULL);
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_ACTIVATE);
	assert_true(a.push);
	assert_false(a.pull);
	assert_false(a.forced);
	assert_false(a.restart);
	assert_int_equal(a.attempt, 1);
	assert_true(fo_action_current(&fo, a.id));
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	/* Claimed: offered no more, and cannot be claimed twice. */
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	assert_int_equal(fo_action_begin(&fo, now, a.id), -1);
	/* Checks during the transition do not move it. */
	checks(&fo, &now, 5, true);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	now += SEC;
	assert_int_equal(fo_action_done(&fo, now, a.id, true, NULL, 0), 0);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.active);
	assert_int_equal(fo.active_since, now);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_int_equal(c.from, FO_FAILING_OVER);
	assert_int_equal(c.to, FO_STANDBY);
	assert_true(c.reason[0] != '\0');
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	/* A late report of the same attempt is ignored. */
	assert_int_equal(fo_action_done(&fo, now, a.id, false, "late", 0), -1);
	assert_int_equal(fo.state, FO_STANDBY);
}

static void
test_action_stale_ids(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	a = fo_pending_action(&fo, now);
	assert_int_equal(fo_action_begin(&fo, now, a.id + 1), -1);
	/* Not begun: a report is refused. */
	assert_int_equal(fo_action_done(&fo, now, a.id, true, NULL, 0), -1);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_false(fo_action_current(&fo, 0));
}

static void
test_action_failure_degraded_then_cleared(void **s)
{
	struct fo_params p = params();
	struct fo_action a, b;
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	drain(&fo, FO_CH_STATE, NULL);
	a = fo_pending_action(&fo, now);
	fo_action_begin(&fo, now, a.id);
	assert_int_equal(fo_action_done(&fo, now, a.id, false, "401 Unauthorized", 4 * SEC), 0);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_true(fo.degraded);
	assert_int_equal(drain(&fo, FO_CH_FLAGS, &c), 1);
	assert_true(c.degraded);
	assert_non_null(strstr(c.reason, "401 Unauthorized"));
	assert_false(fo_action_current(&fo, a.id));
	/* Retried after the delay, not before. */
	assert_int_equal(fo_pending_action(&fo, now + 4 * SEC - 1).kind, FO_ACT_NONE);
	assert_int_equal(fo_next_deadline(&fo, now), now + 4 * SEC);
	b = fo_pending_action(&fo, now + 4 * SEC);
	assert_int_equal(b.kind, FO_ACT_ACTIVATE);
	assert_int_equal(b.attempt, 2);
	assert_true(b.push);
	assert_true(b.id != a.id);
	/* A second failure keeps degraded without a new flag change. */
	now += 4 * SEC;
	fo_action_begin(&fo, now, b.id);
	fo_action_done(&fo, now, b.id, false, "timeout", 8 * SEC);
	assert_true(fo.degraded);
	assert_int_equal(drain(&fo, FO_CH_FLAGS, NULL), 0);
	now += 8 * SEC;
	b = run_action(&fo, now, true);
	assert_int_equal(b.attempt, 3);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_false(fo.degraded);
	assert_int_equal(drain(&fo, FO_CH_FLAGS, &c), 1);
	assert_false(c.degraded);
}

/* ---- failback ---- */

static void
test_recovery_failback(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	now += p.min_standby_ms;
	checks(&fo, &now, 2, true);
	assert_int_equal(fo.state, FO_STANDBY);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_string_equal(c.reason, "primary healthy for 3 consecutive checks");
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_DEACTIVATE);
	assert_true(a.pull);
	assert_true(a.failback_hook);
	assert_false(a.drift);
	assert_false(a.push);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_false(fo.active);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_int_equal(c.from, FO_FAILING_BACK);
	assert_int_equal(c.to, FO_PRIMARY);
}

static void
test_failure_resets_successes_in_standby(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	checks(&fo, &now, 2, true);
	checks(&fo, &now, 1, false);
	assert_int_equal(fo.consecutive_successes, 0);
	checks(&fo, &now, 2, true);
	assert_int_equal(fo.state, FO_STANDBY);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_min_standby_zero(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	assert_int_equal(fo_next_deadline(&fo, now), -1);
	checks(&fo, &now, 3, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_recovery_met_before_min_standby(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	int64_t now = T0, end;

	(void)s;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	end = fo.active_since + p.min_standby_ms;
	checks(&fo, &now, 5, true);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_int_equal(fo_next_deadline(&fo, now), end);
	fo_tick(&fo, end - 1);
	assert_int_equal(fo.state, FO_STANDBY);
	/* Failback starts at once when MIN_STANDBY_TIME ends. */
	fo_tick(&fo, end);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_int_equal(fo.state_since, end);
}

static void
test_min_standby_not_met_at_end(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0, end;

	(void)s;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	end = fo.active_since + p.min_standby_ms;
	checks(&fo, &now, 2, true);
	fo_tick(&fo, end);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_int_equal(fo_next_deadline(&fo, end), -1);
	now = end;
	checks(&fo, &now, 1, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_failback_then_failover_again(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	checks(&fo, &now, 3, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	drain(&fo, FO_CH_STATE, NULL);
	/* The primary fails again while the failback runs: it completes
	 * anyway, then the counters are looked at again. */
	checks(&fo, &now, 3, false);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 2);
	assert_int_equal(c.from, FO_PRIMARY);
	assert_int_equal(c.to, FO_FAILING_OVER);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_ACTIVATE);
}

static void
test_failover_then_failback_at_once(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	/* The primary recovers during the activation. */
	checks(&fo, &now, 3, true);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_manual_failback(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.failback_manual = true;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	checks(&fo, &now, 2, true);
	assert_false(fo.failback_awaited);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.failback_awaited);
	assert_int_equal(drain(&fo, FO_CH_FAILBACK_AWAITED, &c), 1);
	assert_non_null(strstr(c.reason, "force-deactivate"));
	/* Told once. */
	checks(&fo, &now, 10, true);
	fo_tick(&fo, now + 3600 * SEC);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_int_equal(drain(&fo, FO_CH_FAILBACK_AWAITED, NULL), 0);
	assert_int_equal(fo_next_deadline(&fo, now), -1);
	assert_int_equal(fo_force_deactivate(&fo, now, "ops", false, NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_false(fo.failback_awaited);
}

static void
test_manual_failback_awaited_rearms(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.failback_manual = true;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	checks(&fo, &now, 3, true);
	assert_int_equal(drain(&fo, FO_CH_FAILBACK_AWAITED, NULL), 1);
	checks(&fo, &now, 1, false);
	assert_false(fo.failback_awaited);
	checks(&fo, &now, 3, true);
	assert_int_equal(drain(&fo, FO_CH_FAILBACK_AWAITED, NULL), 1);
}

/* ---- force-activate / AUTO_STOP ---- */

static void
test_force_activate_from_primary(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	assert_int_equal(fo_force_activate(&fo, now, "maintenance", NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_true(fo.forced);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_string_equal(c.reason, "force-activate: maintenance");
	assert_true(c.forced);
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_ACTIVATE);
	assert_true(a.forced);
	assert_true(a.push);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.forced);
}

static void
test_force_activate_no_reason(void **s)
{
	struct fo_params p = params();
	struct fo fo;

	(void)s;
	start_primary(&fo, &p);
	assert_int_equal(fo_force_activate(&fo, T0, NULL, NULL), FO_OK);
	assert_string_equal(fo.reason, "force-activate");
}

static void
test_force_activate_noop_and_conflict(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	const char *why = NULL;
	int64_t now = T0;

	(void)s;
	fo_init(&fo, &p);
	assert_int_equal(fo_force_activate(&fo, now, NULL, &why), FO_CONFLICT);
	assert_non_null(why);

	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	assert_int_equal(fo_force_activate(&fo, now, NULL, &why), FO_NOOP);
	assert_false(fo.forced);
	run_action(&fo, now, true);
	assert_int_equal(fo_force_activate(&fo, now, NULL, &why), FO_NOOP);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_false(fo.forced);
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, true, NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	why = NULL;
	assert_int_equal(fo_force_activate(&fo, now, NULL, &why), FO_CONFLICT);
	assert_non_null(why);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_forced_blocks_recovery_failback(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	to_forced_standby(&fo, &now);
	checks(&fo, &now, 10, true);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_false(fo.failback_awaited);
}

static void
test_auto_stop(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	int64_t now = T0, end;

	(void)s;
	start_primary(&fo, &p);
	to_forced_standby(&fo, &now);
	end = fo.active_since + p.auto_stop_ms;
	checks(&fo, &now, 1, true);
	/* MIN_STANDBY_TIME is not a deadline of a forced activation. */
	assert_int_equal(fo_next_deadline(&fo, now), end);
	fo_tick(&fo, end - 1);
	assert_int_equal(fo.state, FO_STANDBY);
	fo_tick(&fo, end);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_string_equal(c.reason, "AUTO_STOP: forced activation undone after 1h");
	assert_int_equal(fo_pending_action(&fo, end).kind, FO_ACT_DEACTIVATE);
	run_action(&fo, end, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_false(fo.forced);
}

static void
test_auto_stop_zero_never(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.auto_stop_ms = 0;
	start_primary(&fo, &p);
	to_forced_standby(&fo, &now);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo_next_deadline(&fo, now), -1);
	fo_tick(&fo, now + 1000LL * 3600 * SEC);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.forced);
}

static void
test_auto_stop_waits_for_healthy_primary(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0, end;

	(void)s;
	start_primary(&fo, &p);
	to_forced_standby(&fo, &now);
	end = fo.active_since + p.auto_stop_ms;
	now = end - 10 * SEC;
	checks(&fo, &now, 1, false);
	fo_tick(&fo, end);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.forced);
	now = end;
	checks(&fo, &now, 1, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_forced_turns_real(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	int64_t now = T0, since;

	(void)s;
	start_primary(&fo, &p);
	to_forced_standby(&fo, &now);
	since = fo.active_since;
	checks(&fo, &now, 2, false);
	assert_true(fo.forced);
	checks(&fo, &now, 1, false);
	assert_false(fo.forced);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_int_equal(drain(&fo, FO_CH_FLAGS, &c), 1);
	assert_false(c.forced);
	assert_non_null(strstr(c.reason, "real failover"));
	/* No AUTO_STOP any more; normal failback rules from active_since. */
	fo_tick(&fo, since + p.auto_stop_ms);
	assert_int_equal(fo.state, FO_STANDBY);
	now = since + p.auto_stop_ms;
	checks(&fo, &now, 3, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

/* ---- force-deactivate ---- */

static void
test_force_deactivate_ignores_min_standby(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo_force_deactivate(&fo, now, "done testing", false, NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_false(fo.paused);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_string_equal(c.reason, "force-deactivate: done testing");
	assert_int_equal(drain(&fo, FO_CH_PAUSE, NULL), 0);
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_DEACTIVATE);
	assert_true(a.pull);
	assert_true(a.failback_hook);
}

static void
test_force_deactivate_noop_and_conflict(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	const char *why = NULL;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, false, &why), FO_NOOP);
	assert_int_equal(fo.state, FO_PRIMARY);
	checks(&fo, &now, 3, false);
	why = NULL;
	/* During failing-over only force may abort it (see
	 * test_force_deactivate_aborts_activation). */
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, false, &why), FO_CONFLICT);
	assert_non_null(why);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_false(fo.paused);
	run_action(&fo, now, true);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, false, NULL), FO_OK);
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, false, &why), FO_NOOP);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_force_deactivate_unhealthy_primary(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	const char *why = NULL;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, false, &why), FO_CONFLICT);
	assert_non_null(strstr(why, "not healthy"));
	assert_int_equal(fo.state, FO_STANDBY);
	assert_false(fo.paused);
	assert_int_equal(fo_force_deactivate(&fo, now, "trust me", true, NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_true(fo.paused);
	assert_int_equal(fo.paused_until, 0);
	assert_int_equal(drain(&fo, FO_CH_PAUSE, &c), 1);
	assert_true(c.paused);
	/* Back on the primary, the still-failing checks start nothing. */
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	checks(&fo, &now, 5, false);
	assert_int_equal(fo.state, FO_PRIMARY);
}

static void
test_force_deactivate_unknown_health(void **s)
{
	struct fo_params p = params();
	struct fo_startup st = {.recorded = FO_REC_STANDBY};
	struct fo fo;
	const char *why = NULL;

	(void)s;
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_tick(&fo, T0 + FO_START_LIST_TIMEOUT_MS);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_false(fo.last_healthy_known);
	assert_int_equal(fo_force_deactivate(&fo, T0 + 31 * SEC, NULL, false, &why), FO_CONFLICT);
	assert_non_null(strstr(why, "unknown"));
}

static void
test_force_deactivate_clears_pause_expiry(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	fo_pause(&fo, now, now + 600 * SEC);
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, true, NULL), FO_OK);
	assert_true(fo.paused);
	assert_int_equal(fo.paused_until, 0);
}

/* ---- pause ---- */

static void
test_pause_blocks_failover_counts_checks(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	fo_pause(&fo, now, 0);
	assert_int_equal(drain(&fo, FO_CH_PAUSE, &c), 1);
	assert_true(c.paused);
	assert_int_equal(c.paused_until, 0);
	assert_int_equal(fo_next_check_delay(&fo), -1);
	checks(&fo, &now, 5, false);
	assert_int_equal(fo.consecutive_failures, 5);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_resume(&fo, now), FO_OK);
	assert_false(fo.paused);
	assert_int_equal(fo.consecutive_failures, 0);
	assert_int_equal(fo_next_check_delay(&fo), 0);
	assert_int_equal(drain(&fo, FO_CH_PAUSE, &c), 1);
	assert_false(c.paused);
	checks(&fo, &now, 2, false);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_next_check_delay(&fo), p.fast_interval_ms);
	checks(&fo, &now, 1, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
}

static void
test_pause_lets_transition_finish(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	a = fo_pending_action(&fo, now);
	fo_action_begin(&fo, now, a.id);
	fo_pause(&fo, now, 0);
	fo_action_done(&fo, now, a.id, false, "boom", SEC);
	/* Retries go on while paused. */
	assert_int_equal(fo_pending_action(&fo, now + SEC).kind, FO_ACT_ACTIVATE);
	run_action(&fo, now + SEC, true);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.paused);
}

static void
test_pause_blocks_failback(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	fo_pause(&fo, now, 0);
	checks(&fo, &now, 5, true);
	assert_int_equal(fo.state, FO_STANDBY);
	fo_resume(&fo, now);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_int_equal(fo.consecutive_successes, 0);
	checks(&fo, &now, 3, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_pause_blocks_auto_stop(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0, end;

	(void)s;
	start_primary(&fo, &p);
	to_forced_standby(&fo, &now);
	end = fo.active_since + p.auto_stop_ms;
	checks(&fo, &now, 1, true);
	fo_pause(&fo, now, 0);
	assert_int_equal(fo_next_deadline(&fo, now), -1);
	fo_tick(&fo, end);
	assert_int_equal(fo.state, FO_STANDBY);
	/* After resume the expired AUTO_STOP waits for a fresh healthy check. */
	now = end + SEC;
	fo_resume(&fo, now);
	assert_int_equal(fo.state, FO_STANDBY);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_pause_expiry(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	fo_pause(&fo, now, now + 60 * SEC);
	assert_int_equal(fo.paused_until, now + 60 * SEC);
	drain(&fo, FO_CH_PAUSE, NULL);
	assert_int_equal(fo_next_deadline(&fo, now), now + 60 * SEC);
	checks(&fo, &now, 2, false);
	fo_tick(&fo, T0 + 60 * SEC - 1);
	assert_true(fo.paused);
	fo_tick(&fo, T0 + 60 * SEC);
	assert_false(fo.paused);
	assert_int_equal(fo.paused_until, 0);
	assert_int_equal(fo.consecutive_failures, 0);
	assert_int_equal(fo_next_check_delay(&fo), 0);
	assert_int_equal(drain(&fo, FO_CH_PAUSE, &c), 1);
	assert_false(c.paused);
	assert_string_equal(c.reason, "pause expired");
}

static void
test_pause_replaces_expiry(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	fo_pause(&fo, now, now + 60 * SEC);
	fo_pause(&fo, now, now + 10 * SEC);
	assert_int_equal(fo_next_deadline(&fo, now), now + 10 * SEC);
	fo_pause(&fo, now, 0);
	assert_int_equal(fo_next_deadline(&fo, now), -1);
	fo_tick(&fo, now + 60 * SEC);
	assert_true(fo.paused);
	assert_int_equal(drain(&fo, FO_CH_PAUSE, NULL), 3);
}

static void
test_resume_when_not_paused(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 2, false);
	assert_int_equal(fo_resume(&fo, now), FO_NOOP);
	assert_int_equal(fo.consecutive_failures, 2);
	assert_int_equal(drain(&fo, FO_CH_PAUSE, NULL), 0);
}

static void
test_force_while_paused(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	fo_pause(&fo, now, 0);
	assert_int_equal(fo_force_activate(&fo, now, NULL, NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	run_action(&fo, now, true);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, false, NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

/* ---- intervals, deadlines, flags, params ---- */

static void
test_check_interval_choice(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	fo_init(&fo, &p);
	assert_int_equal(fo_next_check_delay(&fo), 0);
	start_primary(&fo, &p);
	assert_int_equal(fo_next_check_delay(&fo), p.check_interval_ms);
	checks(&fo, &now, 1, false);
	assert_int_equal(fo_next_check_delay(&fo), p.fast_interval_ms);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo_next_check_delay(&fo), p.check_interval_ms);
	checks(&fo, &now, 3, false);
	/* Failing over: a failing primary agrees with the target side. */
	assert_int_equal(fo_next_check_delay(&fo), p.check_interval_ms);
	run_action(&fo, now, true);
	assert_int_equal(fo_next_check_delay(&fo), p.check_interval_ms);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo_next_check_delay(&fo), p.fast_interval_ms);
	checks(&fo, &now, 1, false);
	assert_int_equal(fo_next_check_delay(&fo), p.check_interval_ms);
}

static void
test_next_deadline_none(void **s)
{
	struct fo_params p = params();
	struct fo fo;

	(void)s;
	start_primary(&fo, &p);
	assert_int_equal(fo_next_deadline(&fo, T0), -1);
}

static void
test_set_degraded(void **s)
{
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;

	(void)s;
	start_primary(&fo, &p);
	fo_set_degraded(&fo, T0, true, "activation exceeded ACTIVATION_TIMEOUT");
	assert_true(fo.degraded);
	assert_string_equal(fo.degraded_reason, "activation exceeded ACTIVATION_TIMEOUT");
	assert_int_equal(drain(&fo, FO_CH_FLAGS, &c), 1);
	assert_true(c.degraded);
	fo_set_degraded(&fo, T0, true, "again");
	assert_int_equal(drain(&fo, FO_CH_FLAGS, NULL), 0);
	fo_set_degraded(&fo, T0, false, "listing ok");
	assert_false(fo.degraded);
	assert_int_equal(drain(&fo, FO_CH_FLAGS, NULL), 1);
}

static void
test_set_params_applies_at_once(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 2, false);
	p.failure_threshold = 2;
	fo_set_params(&fo, now, &p);
	assert_int_equal(fo.state, FO_FAILING_OVER);
}

static void
test_changes_take_partial(void **s)
{
	struct fo_params p = params();
	struct fo_change c[2];
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	fo_pause(&fo, now, 0);
	fo_resume(&fo, now);
	fo_set_degraded(&fo, now, true, "x");
	assert_int_equal(fo_changes_take(&fo, c, 2), 2);
	assert_int_equal(c[0].kind, FO_CH_PAUSE);
	assert_true(c[0].paused);
	assert_int_equal(c[1].kind, FO_CH_PAUSE);
	assert_false(c[1].paused);
	assert_int_equal(fo_changes_take(&fo, c, 2), 1);
	assert_int_equal(c[0].kind, FO_CH_FLAGS);
	assert_int_equal(fo_changes_take(&fo, c, 2), 0);
}

/* ---- start-up ---- */

static void
test_start_waits_for_check_and_listing(void **s)
{
	struct fo_params p = params();
	struct fo_startup st = {.recorded = FO_REC_PRIMARY};
	struct fo_change c;
	struct fo fo;

	(void)s;
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_check_result(&fo, T0 + 10, true, NULL);
	assert_int_equal(fo.state, FO_STARTING);
	assert_int_equal(fo_next_deadline(&fo, T0 + 10), T0 + FO_START_LIST_TIMEOUT_MS);
	fo_machines(&fo, T0 + 20, true, 0);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_int_equal(c.from, FO_STARTING);
	assert_string_equal(c.reason, "primary recorded");
	assert_false(fo.degraded);
	assert_int_equal(fo_pending_action(&fo, T0 + 20).kind, FO_ACT_NONE);

	/* The other order. */
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_machines(&fo, T0 + 10, true, 0);
	assert_int_equal(fo.state, FO_STARTING);
	fo_check_result(&fo, T0 + 20, false, "refused");
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo.consecutive_failures, 1);
}

static void
test_start_first_start(void **s)
{
	struct fo_params p = params();
	struct fo fo;

	(void)s;
	start_with(&fo, &p, FO_REC_NONE, false, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_string_equal(fo.reason, "first start");
}

static void
test_start_standby_running(void **s)
{
	struct fo_params p = params();
	struct fo_startup st = {.recorded = FO_REC_STANDBY,
	    .forced = true,
	    .active_known = true,
	    .active_since = T0 - 3000 * SEC};
	struct fo fo;

	(void)s;
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_check_result(&fo, T0, true, NULL);
	fo_machines(&fo, T0, true, 2);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.forced);
	assert_false(fo.degraded);
	assert_int_equal(fo.active_since, T0 - 3000 * SEC);
	assert_int_equal(fo_pending_action(&fo, T0).kind, FO_ACT_NONE);
	/* AUTO_STOP counts from the recorded active_since. */
	assert_int_equal(fo_next_deadline(&fo, T0), T0 + 600 * SEC);
}

static void
test_start_failing_over_running(void **s)
{
	struct fo_params p = params();
	struct fo fo;

	(void)s;
	start_with(&fo, &p, FO_REC_FAILING_OVER, true, false);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_int_equal(fo.active_since, T0);
	assert_false(fo.forced);
}

static void
test_start_unusable_running(void **s)
{
	struct fo_params p = params();
	struct fo_startup st = {.recorded = FO_REC_UNUSABLE, .forced = true};
	struct fo fo;

	(void)s;
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_check_result(&fo, T0, true, NULL);
	fo_machines(&fo, T0, true, 1);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_false(fo.forced);
	assert_int_equal(fo.active_since, T0);
	assert_non_null(strstr(fo.reason, "unusable"));
	/* Then normal failback. */
	int64_t now = T0 + p.min_standby_ms;
	checks(&fo, &now, 3, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_start_unusable_nothing(void **s)
{
	struct fo_params p = params();
	struct fo fo;

	(void)s;
	start_with(&fo, &p, FO_REC_UNUSABLE, false, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_pending_action(&fo, T0).kind, FO_ACT_NONE);
}

static void
test_start_drift_healthy(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo_change c;
	struct fo fo;

	(void)s;
	start_with(&fo, &p, FO_REC_PRIMARY, true, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(drain(&fo, FO_CH_DRIFT, &c), 1);
	assert_non_null(strstr(c.reason, "STATE_FILE says primary"));
	a = fo_pending_action(&fo, T0);
	assert_int_equal(a.kind, FO_ACT_DEACTIVATE);
	assert_true(a.drift);
	assert_false(a.pull);
	assert_false(a.failback_hook);
	run_action(&fo, T0, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_false(fo.drift);
	assert_int_equal(fo_pending_action(&fo, T0).kind, FO_ACT_NONE);
	assert_int_equal(drain(&fo, FO_CH_STATE, NULL), 0);
}

static void
test_start_drift_first_start(void **s)
{
	struct fo_params p = params();
	struct fo fo;

	(void)s;
	start_with(&fo, &p, FO_REC_NONE, true, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_true(fo_pending_action(&fo, T0).drift);
}

static void
test_start_drift_unhealthy(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_with(&fo, &p, FO_REC_PRIMARY, true, false);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_true(fo.drift);
	/* Not stopped while the primary is not healthy. */
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	checks(&fo, &now, 2, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_ACTIVATE);
	assert_false(fo.drift);
}

static void
test_start_drift_paused(void **s)
{
	struct fo_params p = params();
	struct fo_startup st = {.recorded = FO_REC_PRIMARY};
	struct fo fo;

	(void)s;
	fo_init(&fo, &p);
	fo_pause(&fo, T0, 0);
	fo_start(&fo, T0, &st);
	fo_check_result(&fo, T0, true, NULL);
	fo_machines(&fo, T0, true, 1);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_pending_action(&fo, T0).kind, FO_ACT_NONE);
	fo_resume(&fo, T0 + SEC);
	/* Resume reset nothing about the last check's health. */
	assert_int_equal(fo_pending_action(&fo, T0 + SEC).kind, FO_ACT_DEACTIVATE);
}

static void
test_start_standby_nothing_finishes_failback(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo fo;

	(void)s;
	start_with(&fo, &p, FO_REC_STANDBY, false, false);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_non_null(strstr(fo.reason, "finishing the failback"));
	a = fo_pending_action(&fo, T0);
	assert_int_equal(a.kind, FO_ACT_DEACTIVATE);
	assert_true(a.pull);
	assert_true(a.failback_hook);
	assert_true(a.resumed);
	run_action(&fo, T0, true);
	assert_int_equal(fo.state, FO_PRIMARY);
}

static void
test_start_failing_back(void **s)
{
	struct fo_params p = params();
	struct fo fo;

	(void)s;
	start_with(&fo, &p, FO_REC_FAILING_BACK, true, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_true(fo_pending_action(&fo, T0).pull);
	start_with(&fo, &p, FO_REC_FAILING_BACK, false, false);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

static void
test_start_failing_over_nothing(void **s)
{
	struct fo_params p = params();
	struct fo_startup st = {.recorded = FO_REC_FAILING_OVER, .forced = true};
	struct fo_action a;
	struct fo fo;

	(void)s;
	start_with(&fo, &p, FO_REC_FAILING_OVER, false, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	start_with(&fo, &p, FO_REC_FAILING_OVER, false, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	a = fo_pending_action(&fo, T0);
	assert_true(a.push);
	assert_true(a.resumed);
	assert_false(a.forced);

	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_check_result(&fo, T0, true, NULL);
	fo_machines(&fo, T0, true, 0);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_true(fo.forced);
	assert_true(fo_pending_action(&fo, T0).forced);
}

static void
test_start_listing_timeout(void **s)
{
	static const struct {
		enum fo_recorded rec;
		enum fo_state want;
	} cases[] = {
	    {FO_REC_PRIMARY, FO_PRIMARY}, {FO_REC_NONE, FO_PRIMARY}, {FO_REC_UNUSABLE, FO_PRIMARY},
	    {FO_REC_STANDBY, FO_STANDBY}, {FO_REC_FAILING_BACK, FO_FAILING_BACK},
	    {FO_REC_FAILING_OVER, FO_PRIMARY}, /* healthy, not forced */
	};
	struct fo_params p = params();
	struct fo_change c;
	struct fo fo;
	size_t i;

	(void)s;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fo_startup st = {.recorded = cases[i].rec};

		fo_init(&fo, &p);
		fo_start(&fo, T0, &st);
		fo_check_result(&fo, T0, true, NULL);
		fo_machines(&fo, T0 + 5 * SEC, false, 0);
		fo_tick(&fo, T0 + FO_START_LIST_TIMEOUT_MS - 1);
		assert_int_equal(fo.state, FO_STARTING);
		assert_false(fo.degraded);
		fo_machines(&fo, T0 + FO_START_LIST_TIMEOUT_MS, false, 0);
		assert_int_equal(fo.state, cases[i].want);
		assert_true(fo.degraded);
		assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
		assert_non_null(strstr(c.reason, "STATE_FILE's word"));
		assert_true(c.degraded);
	}
}

static void
test_start_listing_timeout_by_tick(void **s)
{
	struct fo_params p = params();
	struct fo_startup st = {.recorded = FO_REC_STANDBY};
	struct fo fo;

	(void)s;
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_check_result(&fo, T0, false, NULL);
	assert_int_equal(fo_next_deadline(&fo, T0), T0 + FO_START_LIST_TIMEOUT_MS);
	fo_tick(&fo, T0 + FO_START_LIST_TIMEOUT_MS);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.degraded);
	/* A later successful transition clears degraded. */
	assert_int_equal(fo_force_deactivate(&fo, T0 + 31 * SEC, NULL, true, NULL), FO_OK);
	run_action(&fo, T0 + 31 * SEC, true);
	assert_false(fo.degraded);
}

/* ---- drift and the standby watch at run time ---- */

static void
test_runtime_drift_primary(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo fo;

	(void)s;
	start_primary(&fo, &p);
	fo_machines(&fo, T0, true, 1);
	assert_int_equal(drain(&fo, FO_CH_DRIFT, NULL), 1);
	a = fo_pending_action(&fo, T0);
	assert_true(a.drift);
	/* Seen again: one drift event, same action. */
	fo_machines(&fo, T0 + SEC, true, 1);
	assert_int_equal(drain(&fo, FO_CH_DRIFT, NULL), 0);
	assert_int_equal(fo_pending_action(&fo, T0).id, a.id);
	/* Failing drift stop: degraded, retried; success clears it. */
	fo_action_begin(&fo, T0, a.id);
	fo_action_done(&fo, T0, a.id, false, "503", SEC);
	assert_true(fo.degraded);
	run_action(&fo, T0 + SEC, true);
	assert_false(fo.degraded);
	assert_false(fo.drift);
	/* Gone by itself before being stopped: the action is dropped. */
	fo_machines(&fo, T0 + 2 * SEC, true, 1);
	assert_int_not_equal(fo_pending_action(&fo, T0).kind, FO_ACT_NONE);
	fo_machines(&fo, T0 + 3 * SEC, true, 0);
	assert_int_equal(fo_pending_action(&fo, T0).kind, FO_ACT_NONE);
}

static void
test_drift_superseded_by_failover(void **s)
{
	struct fo_params p = params();
	struct fo_action a, b;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	fo_machines(&fo, now, true, 1);
	a = fo_pending_action(&fo, now);
	fo_action_begin(&fo, now, a.id);
	assert_true(fo_action_current(&fo, a.id));
	checks(&fo, &now, 3, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_false(fo_action_current(&fo, a.id));
	assert_int_equal(fo_action_done(&fo, now, a.id, true, NULL, 0), -1);
	b = fo_pending_action(&fo, now);
	assert_int_equal(b.kind, FO_ACT_ACTIVATE);
}

static void
test_standby_watch_restart(void **s)
{
	struct fo_params p = params();
	struct fo_action a;
	struct fo_change c;
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	/* The listing from start-up (0 running) is stale after activation. */
	to_standby(&fo, &now);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	fo_machines(&fo, now, true, 0);
	assert_int_equal(drain(&fo, FO_CH_DRIFT, &c), 1);
	assert_int_equal(c.to, FO_STANDBY);
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_ACTIVATE);
	assert_true(a.restart);
	assert_false(a.push);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_int_equal(drain(&fo, FO_CH_STATE, NULL), 0);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	/* Paused: not restarted. */
	fo_pause(&fo, now, 0);
	fo_machines(&fo, now, true, 0);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
}

/* force-deactivate with force during failing-over aborts the activation:
 * a deactivation that stops what was started, no pull, FAILBACK_CMD, and a
 * pause since the primary is not healthy. Without force: conflict. */
static void
test_force_deactivate_aborts_activation(void **s)
{
	struct fo fo;
	struct fo_params p = params();
	struct fo_change c;
	struct fo_action a, d;
	int64_t now = T0;
	const char *why = NULL;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	a = fo_pending_action(&fo, now);
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	drain(&fo, FO_CH_STATE, NULL);
	assert_int_equal(fo_force_deactivate(&fo, now, "wrong call", false, &why), FO_CONFLICT);
	assert_non_null(strstr(why, "force"));
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_true(fo_action_current(&fo, a.id));

	assert_int_equal(fo_force_deactivate(&fo, now, "wrong call", true, &why), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_int_equal(fo.cause, FO_CAUSE_FORCE_DEACTIVATE);
	assert_false(fo_action_current(&fo, a.id)); /* superseded: the engine cancels it */
	assert_true(fo.paused);
	d = fo_pending_action(&fo, now);
	assert_int_equal(d.kind, FO_ACT_DEACTIVATE);
	assert_false(d.pull);
	assert_true(d.failback_hook);
	assert_true(d.aborted);
	/* The late outcome of the superseded activation is ignored. */
	assert_int_equal(fo_action_done(&fo, now, a.id, true, NULL, 0), -1);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_int_equal(c.from, FO_FAILING_OVER);
	assert_string_equal(c.reason, "activation aborted: wrong call");
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_false(fo.active);
	assert_false(fo.degraded);
	/* Paused on a sick primary: no failover straight away. */
	checks(&fo, &now, 5, false);
	assert_int_equal(fo.state, FO_PRIMARY);
}

/* With a healthy primary the abort does not pause. */
static void
test_force_deactivate_abort_healthy_no_pause(void **s)
{
	struct fo fo;
	struct fo_params p = params();
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	assert_int_equal(fo_force_activate(&fo, now, "drill", NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_int_equal(fo_force_deactivate(&fo, now, NULL, true, NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_false(fo.paused);
	assert_false(fo.forced);
}

/* A restart during a pause still checks once, to leave `starting`; then
 * the pause holds checks and actions as usual. */
static void
test_start_paused_checks_once(void **s)
{
	struct fo fo;
	struct fo_params p = params();
	struct fo_startup st = {.recorded = FO_REC_PRIMARY};

	(void)s;
	fo_init(&fo, &p);
	fo_pause(&fo, T0, 0);
	fo_start(&fo, T0, &st);
	assert_int_equal(fo_next_check_delay(&fo), 0);
	fo_machines(&fo, T0, true, 0);
	assert_int_equal(fo.state, FO_STARTING);
	fo_check_result(&fo, T0 + 10, false, "HTTP 503");
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_next_check_delay(&fo), -1);
	assert_int_equal(fo_pending_action(&fo, T0 + 10).kind, FO_ACT_NONE);
}

/* "1 check", not "1 checks" (audit #16). */
static void
test_reason_singular(void **s)
{
	struct fo fo;
	struct fo_params p = params();
	struct fo_change c;
	int64_t now = T0;

	(void)s;
	p.failure_threshold = 1;
	p.recovery_threshold = 1;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	checks(&fo, &now, 1, false);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_string_equal(c.reason, "primary failed 1 consecutive check: HTTP 503");
	run_action(&fo, now, true);
	drain(&fo, FO_CH_STATE, NULL);
	checks(&fo, &now, 1, true);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_string_equal(c.reason, "primary healthy for 1 consecutive check");
}

/* ---- STARTUP_GRACE (contract §13) ---- */

static struct fo_params
grace_params(void)
{
	struct fo_params p = params();

	p.startup_grace_ms = 120 * SEC;
	return p;
}

/* Never healthy since start: the threshold is held back, once, until the
 * grace's end; then the failover starts if the count is still met. */
static void
test_grace_holds_failover(void **s)
{
	struct fo fo;
	struct fo_params p = grace_params();
	struct fo_change c;
	int64_t now = T0;

	(void)s;
	start_with(&fo, &p, FO_REC_NONE, false, false);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_grace_until(&fo, now), T0 + 120 * SEC);
	drain(&fo, FO_CH_STATE, NULL);
	checks(&fo, &now, 10, false);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_true(fo.grace_held);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	assert_int_equal(drain(&fo, FO_CH_GRACE_HOLD, &c), 1);
	assert_string_equal(c.reason,
	    "failover held back: primary not healthy since start (3 consecutive failed checks: "
	    "HTTP 503); no automatic failover for 118s (STARTUP_GRACE) unless it recovers");
	/* More failures: no second hold. */
	checks(&fo, &now, 5, false);
	assert_int_equal(drain(&fo, FO_CH_GRACE_HOLD, NULL), 0);
	assert_int_equal(fo_next_deadline(&fo, now), T0 + 120 * SEC);
	/* One ms before the end: still held. */
	fo_tick(&fo, T0 + 120 * SEC - 1);
	assert_int_equal(fo.state, FO_PRIMARY);
	fo_tick(&fo, T0 + 120 * SEC);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_false(fo.grace_held);
	assert_int_equal(fo_grace_until(&fo, T0 + 120 * SEC), 0);
	{
		struct fo_change ch[FO_MAX_CHANGES];
		int n = fo_changes_take(&fo, ch, FO_MAX_CHANGES);

		/* The hold's end is announced before the failover. */
		assert_int_equal(n, 2);
		assert_int_equal(ch[0].kind, FO_CH_GRACE_END);
		assert_int_equal(ch[1].kind, FO_CH_STATE);
		assert_int_equal(ch[1].to, FO_FAILING_OVER);
	}
	assert_int_equal(fo_pending_action(&fo, T0 + 120 * SEC).kind, FO_ACT_ACTIVATE);
}

/* A healthy check ends the grace for good: no failover, and the next
 * streak fails over at the threshold as usual. */
static void
test_grace_ends_on_healthy(void **s)
{
	struct fo fo;
	struct fo_params p = grace_params();
	int64_t now = T0;

	(void)s;
	start_with(&fo, &p, FO_REC_NONE, false, false);
	drain(&fo, FO_CH_STATE, NULL);
	checks(&fo, &now, 3, false);
	assert_true(fo.grace_held);
	drain(&fo, FO_CH_GRACE_HOLD, NULL);
	checks(&fo, &now, 1, true);
	assert_false(fo.grace_held);
	assert_int_equal(drain(&fo, FO_CH_GRACE_END, NULL), 1);
	assert_int_equal(fo_grace_until(&fo, now), 0);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_next_deadline(&fo, now), -1);
	/* Still well within 120 s of the start. */
	checks(&fo, &now, 3, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_int_equal(drain(&fo, FO_CH_GRACE_HOLD, NULL), 0);
}

/* Healthy at the first check: the grace never holds anything. */
static void
test_grace_healthy_first(void **s)
{
	struct fo fo;
	struct fo_params p = grace_params();
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	assert_int_equal(fo_grace_until(&fo, now), 0);
	checks(&fo, &now, 3, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_int_equal(drain(&fo, FO_CH_GRACE_HOLD, NULL), 0);
}

/* The grace passed before the threshold was met: a plain failover. */
static void
test_grace_passed_before_threshold(void **s)
{
	struct fo fo;
	struct fo_params p = grace_params();
	int64_t now = T0;

	(void)s;
	start_with(&fo, &p, FO_REC_NONE, false, false);
	drain(&fo, FO_CH_STATE, NULL);
	now = T0 + 200 * SEC;
	assert_int_equal(fo_grace_until(&fo, now), 0);
	checks(&fo, &now, 2, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_int_equal(drain(&fo, FO_CH_GRACE_HOLD, NULL), 0);
}

/* STARTUP_GRACE=0 is off. */
static void
test_grace_zero_off(void **s)
{
	struct fo fo;
	struct fo_params p = params();
	int64_t now = T0;

	(void)s;
	start_with(&fo, &p, FO_REC_NONE, false, false);
	assert_int_equal(fo_grace_until(&fo, now), 0);
	checks(&fo, &now, 2, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
}

/* An activation interrupted by a restart still finishes, grace or not;
 * and a standby found serving stays the standby. */
static void
test_grace_resumed_transition_finishes(void **s)
{
	struct fo fo;
	struct fo_params p = grace_params();

	(void)s;
	start_with(&fo, &p, FO_REC_FAILING_OVER, false, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_true(fo_pending_action(&fo, T0).resumed);
	start_with(&fo, &p, FO_REC_STANDBY, true, false);
	assert_int_equal(fo.state, FO_STANDBY);
}

/* The operator can still act within the grace; the hold is dropped. */
static void
test_grace_force_activate(void **s)
{
	struct fo fo;
	struct fo_params p = grace_params();
	int64_t now = T0;

	(void)s;
	start_with(&fo, &p, FO_REC_NONE, false, false);
	checks(&fo, &now, 3, false);
	assert_true(fo.grace_held);
	assert_int_equal(fo_force_activate(&fo, now, "by hand", NULL), FO_OK);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_false(fo.grace_held);
}

/* A pause over the grace's end: nothing starts until resume and a new
 * streak, which is then a plain failover. */
static void
test_grace_paused(void **s)
{
	struct fo fo;
	struct fo_params p = grace_params();
	int64_t now = T0;

	(void)s;
	start_with(&fo, &p, FO_REC_NONE, false, false);
	checks(&fo, &now, 3, false);
	fo_pause(&fo, now, 0);
	fo_tick(&fo, T0 + 130 * SEC);
	assert_int_equal(fo.state, FO_PRIMARY);
	now = T0 + 130 * SEC;
	assert_int_equal(fo_resume(&fo, now), FO_OK);
	assert_int_equal(fo.state, FO_PRIMARY);
	checks(&fo, &now, 3, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
}

/* ---- policy the engine used to decide (issue 11) ---- */

static void
test_prepush_first_failed_check(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	assert_false(fo_prepush_take(&fo));
	checks(&fo, &now, 1, false);
	assert_true(fo_prepush_take(&fo));
	assert_false(fo_prepush_take(&fo)); /* once */
	checks(&fo, &now, 1, false);
	assert_false(fo_prepush_take(&fo)); /* only the first of a streak */
	checks(&fo, &now, 1, true);
	checks(&fo, &now, 1, false);
	assert_true(fo_prepush_take(&fo)); /* a new streak */
}

static void
test_prepush_not_without_sync_paused_or_grace(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;
	struct fo_startup st = {.recorded = FO_REC_PRIMARY};

	(void)s;
	p.sync = false;
	start_primary(&fo, &p);
	checks(&fo, &now, 1, false);
	assert_false(fo_prepush_take(&fo));

	p = params();
	start_primary(&fo, &p);
	fo_pause(&fo, now, 0);
	checks(&fo, &now, 1, false);
	assert_false(fo_prepush_take(&fo));

	/* Within STARTUP_GRACE, before the primary was ever healthy. */
	p.startup_grace_ms = 120 * SEC;
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_machines(&fo, T0, true, 0);
	now = T0;
	checks(&fo, &now, 1, false);
	assert_false(fo_prepush_take(&fo));
}

static void
test_activation_timeout_degrades_once(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	struct fo_change c;
	int64_t now = T0;
	struct fo_action a;

	(void)s;
	p.activation_timeout_ms = 300 * SEC;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_int_equal(fo_next_deadline(&fo, now), now + 300 * SEC);
	a = fo_pending_action(&fo, now);
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	drain(&fo, FO_CH_STATE, NULL);
	fo_tick(&fo, now + 299 * SEC);
	assert_false(fo.degraded);
	fo_tick(&fo, now + 300 * SEC);
	assert_true(fo.degraded);
	assert_string_equal(fo.degraded_reason, "ACTIVATION_TIMEOUT passed");
	assert_int_equal(drain(&fo, FO_CH_TIMEOUT, &c), 1);
	assert_non_null(strstr(c.reason, "retries go on"));
	fo_tick(&fo, now + 400 * SEC);
	assert_int_equal(drain(&fo, FO_CH_TIMEOUT, NULL), 0); /* once per transition */
	assert_int_equal(fo_action_done(&fo, now + 401 * SEC, a.id, true, NULL, 0), 0);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_false(fo.degraded);
	fo_tick(&fo, now + 900 * SEC);
	assert_int_equal(drain(&fo, FO_CH_TIMEOUT, NULL), 0);
}

static void
test_retry_classes(void **s)
{
	(void)s;
	for (int i = 0; i < 50; i++) {
		int64_t d = fo_retry_delay(FO_RETRY_BACKOFF, 1, -1);
		assert_true(d >= FO_RETRY_BASE_MS / 2 && d <= FO_RETRY_BASE_MS);
		d = fo_retry_delay(FO_RETRY_BACKOFF, 30, -1);
		assert_true(d >= FO_RETRY_CAP_MS / 2 && d <= FO_RETRY_CAP_MS);
		assert_true(fo_retry_delay(FO_RETRY_CONFIG, 1, -1) >= FO_RETRY_CONFIG_MIN_MS);
		assert_int_equal(fo_retry_delay(FO_RETRY_SOON, 9, -1), FO_RETRY_BASE_MS);
		assert_int_equal(fo_retry_delay(FO_RETRY_BACKOFF, 1, 42 * SEC), 42 * SEC);
	}
}

static void
test_failed_pull_retries_then_gives_up(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0, retry = 0;
	struct fo_action a;

	(void)s;
	p.activation_timeout_ms = 60 * SEC;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	checks(&fo, &now, 3, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	a = fo_pending_action(&fo, now);
	assert_true(a.pull);
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	assert_int_equal(
	    fo_action_failed(&fo, now + 10 * SEC, a.id, FO_RETRY_PULL, -1, "rclone exit 1", &retry),
	    FO_OUT_RETRY);
	assert_true(retry > 0);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	assert_true(fo.degraded);
	/* A stale id changes nothing. */
	assert_int_equal(fo_action_failed(&fo, now + 11 * SEC, a.id, FO_RETRY_PULL, -1, "x", NULL),
	    FO_OUT_STALE);
	a = fo_pending_action(&fo, now + 10 * SEC + retry);
	assert_int_equal(a.attempt, 2);
	assert_int_equal(fo_action_begin(&fo, now + 10 * SEC + retry, a.id), 0);
	assert_int_equal(
	    fo_action_failed(&fo, now + 61 * SEC, a.id, FO_RETRY_PULL, -1, "rclone exit 1", NULL),
	    FO_OUT_GAVE_UP);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_true(fo.degraded);
	assert_string_equal(fo.degraded_reason, "the pull failed: pushes suspended");
	assert_int_equal(fo_pending_action(&fo, now + 62 * SEC).kind, FO_ACT_NONE);
}

static void
test_config_retry_is_slow(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0, retry = 0;
	struct fo_action a;

	(void)s;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	a = fo_pending_action(&fo, now);
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	assert_int_equal(fo_action_failed(&fo, now, a.id, FO_RETRY_CONFIG, -1, "HTTP 401", &retry),
	    FO_OUT_RETRY);
	assert_true(retry >= FO_RETRY_CONFIG_MIN_MS);
	assert_int_equal(fo_pending_action(&fo, now + retry - 1).kind, FO_ACT_NONE);
	assert_int_equal(fo_pending_action(&fo, now + retry).kind, FO_ACT_ACTIVATE);
}

static void
test_fence_flags_and_prepared(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;
	struct fo_action a;

	(void)s;
	p.fence = true;
	p.fence_required = true;
	start_primary(&fo, &p);
	checks(&fo, &now, 3, false);
	a = fo_pending_action(&fo, now);
	assert_true(a.fence && a.fence_required && a.push && !a.prepared);
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	/* The fence failed: the next attempt fences again. */
	assert_int_equal(
	    fo_action_failed(&fo, now, a.id, FO_RETRY_BACKOFF, -1, "fence", NULL), FO_OUT_RETRY);
	a = fo_pending_action(&fo, now + 10 * SEC);
	assert_false(a.prepared);
	assert_int_equal(fo_action_begin(&fo, now + 10 * SEC, a.id), 0);
	/* Fenced and pushed, then the provider failed: the retry skips both. */
	fo_action_prepared(&fo, a.id);
	assert_int_equal(
	    fo_action_failed(&fo, now + 10 * SEC, a.id, FO_RETRY_BACKOFF, -1, "HTTP 503", NULL),
	    FO_OUT_RETRY);
	a = fo_pending_action(&fo, now + 20 * SEC);
	assert_true(a.prepared);
	assert_int_equal(a.attempt, 3);

	p.fence_required = false;
	start_primary(&fo, &p);
	now = T0;
	checks(&fo, &now, 3, false);
	a = fo_pending_action(&fo, now);
	assert_true(a.fence);
	assert_false(a.fence_required);
	p.fence = false;
	start_primary(&fo, &p);
	now = T0;
	checks(&fo, &now, 3, false);
	assert_false(fo_pending_action(&fo, now).fence);
}

static void
test_standby_health_restart(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	struct fo_change c;
	int64_t now = T0;
	struct fo_action a;

	(void)s;
	p.failback_manual = true;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	fo_standby_health(&fo, now, false);
	fo_standby_health(&fo, now, false);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	fo_standby_health(&fo, now, false);
	assert_int_equal(drain(&fo, FO_CH_STANDBY_UNHEALTHY, &c), 1);
	assert_non_null(strstr(c.reason, "failing 3 times"));
	/* The restart: first a stop of the unhealthy standby... */
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_DEACTIVATE);
	assert_true(a.unhealthy);
	assert_false(a.pull || a.failback_hook);
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	assert_int_equal(fo_action_done(&fo, now, a.id, true, NULL, 0), 0);
	assert_int_equal(fo.state, FO_STANDBY);
	/* ...then a start, with a drift event saying nothing runs. */
	assert_int_equal(drain(&fo, FO_CH_DRIFT, NULL), 1);
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_ACTIVATE);
	assert_true(a.restart);
	assert_false(a.push);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_STANDBY);
	fo_standby_health(&fo, now, true);
	assert_int_equal(drain(&fo, FO_CH_STANDBY_HEALTHY, NULL), 1); /* the alert ends */
	fo_standby_health(&fo, now, true);
	assert_int_equal(drain(&fo, FO_CH_STANDBY_HEALTHY, NULL), 0); /* once */
	fo_standby_health(&fo, now, false);
	fo_standby_health(&fo, now, false);
	fo_standby_health(&fo, now, false);
	fo_standby_health(&fo, now, true);
	assert_int_equal(drain(&fo, FO_CH_STANDBY_HEALTHY, NULL), 1);
}

static void
test_standby_health_paused_no_restart(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.failback_manual = true;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	fo_pause(&fo, now, 0);
	for (int i = 0; i < 5; i++)
		fo_standby_health(&fo, now, false);
	assert_int_equal(drain(&fo, FO_CH_STANDBY_UNHEALTHY, NULL), 1); /* alert only */
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	fo_resume(&fo, now);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_DEACTIVATE);
}

static void
test_listing_counts_started_after_interrupted_activation(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	struct fo_startup st = {.recorded = FO_REC_FAILING_OVER};
	struct fo_listing l = {.ok = true, .known = true, .running = 1, .started = 0};

	(void)s;
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_check_result(&fo, T0, false, "HTTP 503");
	fo_listing(&fo, T0, &l);
	/* A machine still `starting` is not a finished activation. */
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_true(fo_pending_action(&fo, T0).resumed);

	st.recorded = FO_REC_STANDBY;
	fo_init(&fo, &p);
	fo_start(&fo, T0, &st);
	fo_check_result(&fo, T0, false, "HTTP 503");
	fo_listing(&fo, T0, &l);
	assert_int_equal(fo.state, FO_STANDBY); /* elsewhere starting ones count */
}

static void
test_listing_unknown_uses_own_record(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;
	struct fo_listing l = {.ok = true, .known = false};

	(void)s;
	start_primary(&fo, &p);
	fo_listing(&fo, now, &l);
	assert_false(fo.drift);
	to_standby(&fo, &now);
	fo_listing(&fo, now, &l);
	assert_false(fo.restart); /* active: one counts as running */
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
}

static void
test_force_deactivate_pause_expires(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	struct fo_change c;
	int64_t now = T0;

	(void)s;
	start_primary(&fo, &p);
	to_standby(&fo, &now);
	checks(&fo, &now, 1, false);
	assert_int_equal(fo_force_deactivate_for(&fo, now, "ops", true, 600 * SEC, NULL), FO_OK);
	assert_true(fo.paused);
	assert_int_equal(fo.paused_until, now + 600 * SEC);
	assert_int_equal(drain(&fo, FO_CH_PAUSE, &c), 1);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_next_deadline(&fo, now), now + 600 * SEC);
	fo_tick(&fo, now + 600 * SEC);
	assert_false(fo.paused);
	assert_int_equal(drain(&fo, FO_CH_PAUSE, &c), 1);
	assert_string_equal(c.reason, "pause expired");
	assert_int_equal(fo_next_check_delay(&fo), 0);
}

static void
test_warm_after_start_and_failback(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;
	struct fo_action a;

	(void)s;
	p.warm_standby = true;
	p.min_standby_ms = 0;
	start_primary(&fo, &p);
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_WARM);
	assert_string_equal(fo_act_str(a.kind), "warm");
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	/* Started on purpose: a listing during the warm-up is no drift. */
	fo_machines(&fo, now, true, 1);
	assert_false(fo.drift);
	assert_int_equal(drain(&fo, FO_CH_DRIFT, NULL), 0);
	assert_int_equal(fo_action_done(&fo, now, a.id, true, NULL, 0), 0);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE); /* once */
	assert_int_equal(fo.state, FO_PRIMARY);
	/* A failover, then a failback: warmed again. */
	to_standby(&fo, &now);
	checks(&fo, &now, 3, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_WARM);
}

static void
test_warm_failure_retries_and_failover_supersedes(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;
	struct fo_action a;

	(void)s;
	p.warm_standby = true;
	start_primary(&fo, &p);
	a = fo_pending_action(&fo, now);
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	assert_int_equal(
	    fo_action_failed(&fo, now, a.id, FO_RETRY_BACKOFF, -1, "HTTP 503", NULL), FO_OUT_RETRY);
	a = fo_pending_action(&fo, now + 10 * SEC);
	assert_int_equal(a.kind, FO_ACT_WARM);
	assert_int_equal(a.attempt, 2);
	assert_int_equal(fo_action_begin(&fo, now + 10 * SEC, a.id), 0);
	/* The primary fails meanwhile: the failover supersedes the warm-up. */
	checks(&fo, &now, 3, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	assert_false(fo_action_current(&fo, a.id));
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_ACTIVATE);
}

static void
test_warm_waits_for_health_and_resume(void **s)
{
	struct fo_params p = params();
	struct fo fo;
	int64_t now = T0;

	(void)s;
	p.warm_standby = true;
	start_with(&fo, &p, FO_REC_PRIMARY, false, false); /* primary not healthy */
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	fo_pause(&fo, now, 0);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE); /* paused */
	fo_resume(&fo, now);
	checks(&fo, &now, 1, true);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_WARM);
	p.warm_standby = false;
	start_primary(&fo, &p);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE); /* mode stopped */
	p.warm_standby = true;
	fo_set_params(&fo, now, &p); /* turned on by a reload */
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_WARM);
}

/* --- COORDINATOR=etcd (contract §9): follow, adopt, lead, agree --------------------- */

static struct fo_params
coord_params(void)
{
	struct fo_params p = params();

	p.coordinated = true;
	p.min_standby_ms = 0;
	return p;
}

/* A follower decides nothing and offers no action, whatever its checks. */
static void
test_coord_follower_decides_nothing(void **state)
{
	struct fo_params p = coord_params();
	struct fo fo;
	struct fo_startup st = {.recorded = FO_REC_PRIMARY};
	int64_t now = T0;

	(void)state;
	fo_init(&fo, &p);
	assert_true(fo.follower);
	fo_start(&fo, now, &st);
	fo_check_result(&fo, now, true, NULL);
	fo_machines(&fo, now, true, 1); /* would be drift for a leader */
	assert_int_equal(fo.state, FO_STARTING);
	checks(&fo, &now, 5, false);
	fo_agreement(&fo, now, true, false);
	fo_tick(&fo, now + 3600 * SEC);
	assert_int_equal(fo.state, FO_STARTING);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	assert_int_equal(fo.consecutive_failures, 5); /* counted, for its view */
}

/* fo_adopt mirrors the pair's state, flags and pause, with changes. */
static void
test_coord_adopt_mirrors(void **state)
{
	struct fo_params p = coord_params();
	struct fo fo;
	struct fo_change c;
	struct fo_pair pr = {.state = FO_PRIMARY};
	int64_t now = T0;

	(void)state;
	fo_init(&fo, &p);
	strcpy(pr.reason, "first start");
	fo_adopt(&fo, now, &pr);
	assert_int_equal(fo.state, FO_PRIMARY);
	assert_int_equal(drain(&fo, FO_CH_STATE, &c), 1);
	assert_string_equal(c.reason, "first start");
	pr.state = FO_STANDBY;
	pr.forced = true;
	pr.paused = true;
	pr.paused_until = now + 60 * SEC;
	pr.active = true;
	pr.active_since = now - SEC;
	fo_adopt(&fo, now, &pr);
	assert_int_equal(fo.state, FO_STANDBY);
	assert_true(fo.forced && fo.paused && fo.active);
	assert_int_equal(fo.paused_until, now + 60 * SEC);
	assert_int_equal(fo.active_since, now - SEC);
	fo_adopt(&fo, now, &pr); /* the same again: no change */
	assert_int_equal(fo.nchanges, 3); /* state, flags, pause once */
	/* A pause that expires is the leader's to end, not the follower's. */
	fo_tick(&fo, now + 61 * SEC);
	assert_true(fo.paused);
}

/* The failover waits for every live view; so does the failback. */
static void
test_coord_agreement_gates(void **state)
{
	struct fo_params p = coord_params();
	struct fo fo;
	int64_t now = T0;

	(void)state;
	start_with(&fo, &p, FO_REC_PRIMARY, false, true);
	assert_int_equal(fo.state, FO_STARTING); /* a follower: not yet decided */
	fo_lead(&fo, now); /* nothing adopted: STATE_FILE's start-up decides */
	assert_false(fo.follower);
	assert_int_equal(fo.state, FO_STARTING); /* after a listing of its own */
	fo_machines(&fo, now, true, 0);
	assert_int_equal(fo.state, FO_PRIMARY);
	checks(&fo, &now, 5, false);
	assert_int_equal(fo.state, FO_PRIMARY); /* held back: no agreement */
	fo_agreement(&fo, now, true, false);
	assert_int_equal(fo.state, FO_FAILING_OVER);
	run_action(&fo, now, true);
	assert_int_equal(fo.state, FO_STANDBY);
	checks(&fo, &now, 5, true);
	assert_int_equal(fo.state, FO_STANDBY); /* the failback waits too */
	fo_agreement(&fo, now, false, true);
	assert_int_equal(fo.state, FO_FAILING_BACK);
}

/* A new leader continues an interrupted failover with a resumed activation,
 * and one that loses its lease offers nothing more. */
static void
test_coord_lead_continues_and_follow_stops(void **state)
{
	struct fo_params p = coord_params();
	struct fo fo;
	struct fo_pair pr = {.state = FO_FAILING_OVER};
	struct fo_action a;
	int64_t now = T0;

	(void)state;
	fo_init(&fo, &p);
	strcpy(pr.reason, "primary failed 3 consecutive checks");
	fo_adopt(&fo, now, &pr);
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	fo_lead(&fo, now);
	a = fo_pending_action(&fo, now);
	assert_int_equal(a.kind, FO_ACT_ACTIVATE);
	assert_true(a.resumed);
	assert_false(fo.listed); /* machines are listed again before drift counts */
	assert_int_equal(fo_action_begin(&fo, now, a.id), 0);
	fo_follow(&fo, now);
	assert_false(fo_action_current(&fo, a.id));
	assert_int_equal(fo_pending_action(&fo, now).kind, FO_ACT_NONE);
	assert_int_equal(fo_action_done(&fo, now, a.id, true, NULL, 0), -1);
	assert_int_equal(fo.state, FO_FAILING_OVER); /* the next leader finishes it */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_str),
	    cmocka_unit_test(test_recorded_from_str),
	    cmocka_unit_test(test_init_is_starting),
	    cmocka_unit_test(test_failure_threshold_exact),
	    cmocka_unit_test(test_failure_threshold_one),
	    cmocka_unit_test(test_success_resets_failures),
	    cmocka_unit_test(test_failover_action),
	    cmocka_unit_test(test_action_stale_ids),
	    cmocka_unit_test(test_action_failure_degraded_then_cleared),
	    cmocka_unit_test(test_recovery_failback),
	    cmocka_unit_test(test_failure_resets_successes_in_standby),
	    cmocka_unit_test(test_min_standby_zero),
	    cmocka_unit_test(test_recovery_met_before_min_standby),
	    cmocka_unit_test(test_min_standby_not_met_at_end),
	    cmocka_unit_test(test_failback_then_failover_again),
	    cmocka_unit_test(test_failover_then_failback_at_once),
	    cmocka_unit_test(test_manual_failback),
	    cmocka_unit_test(test_manual_failback_awaited_rearms),
	    cmocka_unit_test(test_force_activate_from_primary),
	    cmocka_unit_test(test_force_activate_no_reason),
	    cmocka_unit_test(test_force_activate_noop_and_conflict),
	    cmocka_unit_test(test_forced_blocks_recovery_failback),
	    cmocka_unit_test(test_auto_stop),
	    cmocka_unit_test(test_auto_stop_zero_never),
	    cmocka_unit_test(test_auto_stop_waits_for_healthy_primary),
	    cmocka_unit_test(test_forced_turns_real),
	    cmocka_unit_test(test_force_deactivate_ignores_min_standby),
	    cmocka_unit_test(test_force_deactivate_noop_and_conflict),
	    cmocka_unit_test(test_force_deactivate_unhealthy_primary),
	    cmocka_unit_test(test_force_deactivate_unknown_health),
	    cmocka_unit_test(test_force_deactivate_clears_pause_expiry),
	    cmocka_unit_test(test_pause_blocks_failover_counts_checks),
	    cmocka_unit_test(test_pause_lets_transition_finish),
	    cmocka_unit_test(test_pause_blocks_failback),
	    cmocka_unit_test(test_pause_blocks_auto_stop),
	    cmocka_unit_test(test_pause_expiry),
	    cmocka_unit_test(test_pause_replaces_expiry),
	    cmocka_unit_test(test_resume_when_not_paused),
	    cmocka_unit_test(test_force_while_paused),
	    cmocka_unit_test(test_check_interval_choice),
	    cmocka_unit_test(test_next_deadline_none),
	    cmocka_unit_test(test_set_degraded),
	    cmocka_unit_test(test_set_params_applies_at_once),
	    cmocka_unit_test(test_changes_take_partial),
	    cmocka_unit_test(test_start_waits_for_check_and_listing),
	    cmocka_unit_test(test_start_first_start),
	    cmocka_unit_test(test_start_standby_running),
	    cmocka_unit_test(test_start_failing_over_running),
	    cmocka_unit_test(test_start_unusable_running),
	    cmocka_unit_test(test_start_unusable_nothing),
	    cmocka_unit_test(test_start_drift_healthy),
	    cmocka_unit_test(test_start_drift_first_start),
	    cmocka_unit_test(test_start_drift_unhealthy),
	    cmocka_unit_test(test_start_drift_paused),
	    cmocka_unit_test(test_start_standby_nothing_finishes_failback),
	    cmocka_unit_test(test_start_failing_back),
	    cmocka_unit_test(test_start_failing_over_nothing),
	    cmocka_unit_test(test_start_listing_timeout),
	    cmocka_unit_test(test_start_listing_timeout_by_tick),
	    cmocka_unit_test(test_runtime_drift_primary),
	    cmocka_unit_test(test_drift_superseded_by_failover),
	    cmocka_unit_test(test_standby_watch_restart),
	    cmocka_unit_test(test_force_deactivate_aborts_activation),
	    cmocka_unit_test(test_force_deactivate_abort_healthy_no_pause),
	    cmocka_unit_test(test_reason_singular),
	    cmocka_unit_test(test_start_paused_checks_once),
	    cmocka_unit_test(test_grace_holds_failover),
	    cmocka_unit_test(test_grace_ends_on_healthy),
	    cmocka_unit_test(test_grace_healthy_first),
	    cmocka_unit_test(test_grace_passed_before_threshold),
	    cmocka_unit_test(test_grace_zero_off),
	    cmocka_unit_test(test_grace_resumed_transition_finishes),
	    cmocka_unit_test(test_grace_force_activate),
	    cmocka_unit_test(test_grace_paused),
	    cmocka_unit_test(test_prepush_first_failed_check),
	    cmocka_unit_test(test_prepush_not_without_sync_paused_or_grace),
	    cmocka_unit_test(test_activation_timeout_degrades_once),
	    cmocka_unit_test(test_retry_classes),
	    cmocka_unit_test(test_failed_pull_retries_then_gives_up),
	    cmocka_unit_test(test_config_retry_is_slow),
	    cmocka_unit_test(test_fence_flags_and_prepared),
	    cmocka_unit_test(test_standby_health_restart),
	    cmocka_unit_test(test_standby_health_paused_no_restart),
	    cmocka_unit_test(test_listing_counts_started_after_interrupted_activation),
	    cmocka_unit_test(test_listing_unknown_uses_own_record),
	    cmocka_unit_test(test_force_deactivate_pause_expires),
	    cmocka_unit_test(test_warm_after_start_and_failback),
	    cmocka_unit_test(test_warm_failure_retries_and_failover_supersedes),
	    cmocka_unit_test(test_warm_waits_for_health_and_resume),
	    cmocka_unit_test(test_coord_follower_decides_nothing),
	    cmocka_unit_test(test_coord_adopt_mirrors),
	    cmocka_unit_test(test_coord_agreement_gates),
	    cmocka_unit_test(test_coord_lead_continues_and_follow_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
