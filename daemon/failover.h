/*
 * The failover state machine (contract §2): pure, no I/O, no clock reads,
 * no globals. Every input carries `now`, a monotonic time in ms; every
 * time stored here (state_since, active_since, paused_until, deadlines) is
 * on that same clock. The engine converts to wall time for display.
 *
 * Data flows one way. Inputs only record facts (a check result, a machine
 * listing, an action's outcome) or administrative intent (force-*, pause);
 * then one function, fo_recompute(), decides the state from the counters
 * and the admin state and records what changed. The engine then:
 *
 *   1. drains the changes (fo_changes_take) into `state`, `pause`, `drift`
 *      events, one log line each, STATE_FILE and STATUS_FILE;
 *   2. asks fo_pending_action() what to run. At most one action is current.
 *      To run it: fo_action_begin(fo, now, act.id), start the provider
 *      operation (and the push/pull/hooks its flags ask for), and report
 *      the end with fo_action_done(fo, now, act.id, ok, detail, retry_ms).
 *      A report whose id is no longer current is ignored. If the current
 *      action changes while one runs (fo_action_current() turns false),
 *      the engine cancels the old operation: it was superseded.
 *      A failed attempt sets `degraded` and the same action comes back
 *      from fo_pending_action() after retry_ms (backoff with jitter is the
 *      engine's: util_backoff_ms(act.attempt, ...)).
 *   3. re-arms its timers from fo_next_check_delay() and
 *      fo_next_deadline(), and calls fo_tick() when the deadline passes.
 *
 * Operational state (counts, last check, machines seen) is kept apart from
 * administrative state (paused, forced, failback mode). Decisions:
 *
 * - primary: FAILURE_THRESHOLD consecutive failures -> failing-over,
 *   except within STARTUP_GRACE of fo_start while no check has yet been
 *   healthy: then the failover is held back (FO_CH_GRACE_HOLD once) until
 *   a healthy check (FO_CH_GRACE_END, no failover) or the grace's end
 *   (FO_CH_GRACE_END, then failing-over if the count is still met). A
 *   transition resumed from STATE_FILE at start-up is never held back.
 * - standby, not forced, FAILBACK=auto: RECOVERY_THRESHOLD consecutive
 *   successes and MIN_STANDBY_TIME since active_since -> failing-back
 *   (fo_tick at the end of MIN_STANDBY_TIME if the count is already met).
 *   FAILBACK=manual: failback_awaited turns on when the count is met
 *   (FO_CH_FAILBACK_AWAITED once) and only force-deactivate fails back.
 * - standby, forced: the failure threshold makes it a real failover
 *   (forced=false); otherwise after AUTO_STOP from active_since, if the last
 *   check (since the counts were last reset) was healthy -> failing-back.
 * - failing-over/-back run to completion (fo_action_done ok), then the
 *   counters are looked at again at once.
 * - paused: no automatic transition, no AUTO_STOP, no drift correction or
 *   standby restart. A running transition still finishes (and retries).
 *   Check results (the `check` command works while paused) are still
 *   counted, and still turn a forced activation into a real failover.
 *   force-* still work. A pause with an expiry ends in fo_tick, exactly like
 *   fo_resume: the consecutive counts are reset and a check is due now.
 * - drift (fo_machines): machines running while primary -> a DEACTIVATE
 *   with drift set (no push, no pull, no hook), offered only while the
 *   primary's last check was healthy and not paused; no machine running
 *   while standby -> an ACTIVATE with restart set (no push).
 *
 * Start-up (fo_start, then the first fo_check_result and fo_machines):
 *   machines running and STATE_FILE recording an activation (standby,
 *   failing-over) or unusable -> standby (then normal failback);
 *   running while STATE_FILE says primary, or no STATE_FILE yet -> primary
 *   with drift (stopped if the primary is healthy, no pull);
 *   running while STATE_FILE says failing-back -> failing-back (finished);
 *   nothing running and STATE_FILE says standby or failing-back ->
 *   failing-back to finish the failback (pull, FAILBACK_CMD);
 *   nothing running and failing-over recorded -> failing-over again if it
 *   was forced or the primary is unhealthy, else primary;
 *   nothing running otherwise -> primary.
 *   If no listing succeeds within FO_START_LIST_TIMEOUT_MS of fo_start,
 *   starting is left on STATE_FILE's word alone, with degraded set.
 *   `starting` otherwise waits for both the first check and a listing.
 */
#ifndef FOD_FAILOVER_H
#define FOD_FAILOVER_H

#include <stdbool.h>
#include <stdint.h>

#define FO_REASON_LEN 256
#define FO_START_LIST_TIMEOUT_MS 30000
#define FO_MAX_CHANGES 16
#define FO_ERROR_LEN 160 /* leaves room for it inside a reason */

enum fo_state {
	FO_STARTING,
	FO_PRIMARY,
	FO_FAILING_OVER,
	FO_STANDBY,
	FO_FAILING_BACK,
};

/* "starting", "primary", "failing-over", "standby", "failing-back" */
const char *fo_state_str(enum fo_state);

/* What STATE_FILE recorded about the active side. */
enum fo_recorded {
	FO_REC_NONE, /* no STATE_FILE yet (first start) */
	FO_REC_PRIMARY,
	FO_REC_FAILING_OVER,
	FO_REC_STANDBY,
	FO_REC_FAILING_BACK,
	FO_REC_UNUSABLE, /* corrupt or unreadable */
};

/* dstate's `side` string ("" = never recorded); usable=false -> UNUSABLE.
 * An unknown word is UNUSABLE too. */
enum fo_recorded fo_recorded_from_str(const char *side, bool usable);

struct fo_params {
	int failure_threshold; /* >= 1 */
	int recovery_threshold; /* >= 1 */
	int64_t min_standby_ms; /* 0 = no minimum */
	int64_t auto_stop_ms; /* 0 = never */
	int64_t check_interval_ms;
	int64_t fast_interval_ms;
	bool failback_manual;
	/* STARTUP_GRACE: no automatic failover after fo_start until the
	 * primary was healthy once or this long has passed (0 = off). */
	int64_t startup_grace_ms;
};

struct fo_startup {
	enum fo_recorded recorded;
	bool forced; /* STATE_FILE's forced flag */
	bool active_known; /* STATE_FILE had an active_since */
	int64_t active_since; /* monotonic ms (may be < 0: before boot) */
};

enum fo_act {
	FO_ACT_NONE,
	FO_ACT_ACTIVATE, /* start the standby's machines */
	FO_ACT_DEACTIVATE, /* stop them */
};

const char *fo_act_str(enum fo_act); /* "none", "activate", "deactivate" */

struct fo_action {
	enum fo_act kind;
	uint64_t id; /* unique per attempt; 0 never used */
	int attempt; /* 1 for the first attempt of this action */
	bool push; /* activate: fence hook + final push first */
	bool pull; /* deactivate: pull state after the stop */
	bool failback_hook; /* deactivate: FAILBACK_CMD after the pull */
	bool drift; /* deactivate outside a transition: stop only */
	bool restart; /* activate outside a transition: standby watch */
	bool resumed; /* continues a transition interrupted by a restart */
	bool forced; /* activation asked for by force-activate */
	bool aborted; /* deactivate: stops an activation force-deactivate aborted */
};

/* What started a transition (failing-over or failing-back). */
enum fo_cause {
	FO_CAUSE_NONE,
	FO_CAUSE_THRESHOLD, /* FAILURE_THRESHOLD failed checks */
	FO_CAUSE_RECOVERY, /* RECOVERY_THRESHOLD good checks */
	FO_CAUSE_FORCE_ACTIVATE,
	FO_CAUSE_FORCE_DEACTIVATE,
	FO_CAUSE_AUTO_STOP,
	FO_CAUSE_RESTART, /* a transition interrupted by a restart, resumed */
};

/* "threshold", "recovery", "force-activate", "force-deactivate",
 * "auto-stop", "restart"; NULL for FO_CAUSE_NONE. */
const char *fo_cause_str(enum fo_cause);

enum fo_change_kind {
	FO_CH_STATE, /* from -> to, reason */
	FO_CH_FLAGS, /* forced and/or degraded changed; reason */
	FO_CH_PAUSE, /* paused / paused_until changed */
	FO_CH_DRIFT, /* reason is the drift event's detail */
	FO_CH_FAILBACK_AWAITED, /* FAILBACK=manual and the primary is back */
	FO_CH_GRACE_HOLD, /* the failure threshold is met within STARTUP_GRACE */
	FO_CH_GRACE_END, /* that hold is over: primary healthy, or grace passed */
};

struct fo_change {
	enum fo_change_kind kind;
	enum fo_state from, to; /* FO_CH_STATE; otherwise both = state */
	/* Flags after the change. */
	bool forced, degraded, paused;
	int64_t paused_until;
	char reason[FO_REASON_LEN];
	/* FO_CH_STATE into failing-over/-back: what started it, and the
	 * last check's error and the counts at that moment. */
	enum fo_cause cause;
	char error[FO_ERROR_LEN];
	int failures, successes;
};

/* Results of the administrative inputs. */
enum fo_result {
	FO_OK,
	FO_NOOP, /* toward the side already active: success */
	FO_CONFLICT, /* *why says why */
};

struct fo {
	/* All public-read; written only by the functions below. */
	struct fo_params p;
	enum fo_state state;
	int64_t state_since;
	char reason[FO_REASON_LEN]; /* of the last state change */
	enum fo_cause cause; /* of the current or last transition */

	/* Administrative state. */
	bool paused;
	int64_t paused_until; /* 0 = until resume */
	bool forced;

	/* Operational state. */
	bool degraded;
	char degraded_reason[FO_REASON_LEN];
	int consecutive_failures;
	int consecutive_successes;
	bool last_healthy_known;
	bool last_healthy;
	char last_error[FO_ERROR_LEN];
	bool check_now; /* a check is due at once (resume, start) */
	bool active; /* the standby is (or was last) serving */
	int64_t active_since;
	bool failback_awaited; /* FAILBACK=manual and the primary is back */

	/* Machines as last listed. */
	bool listed;
	int running;
	bool drift; /* running while primary: stop them */
	bool restart; /* none running while standby: start one */

	/* Start-up. */
	struct fo_startup start;
	bool started; /* fo_start was called */
	int64_t start_at;
	bool seen_healthy; /* a healthy check since fo_start */
	bool grace_held; /* a failover is being held back by STARTUP_GRACE */

	/* Pending admin intent, consumed by fo_recompute. */
	enum fo_state want; /* FO_STANDBY, FO_PRIMARY or FO_STARTING (none) */
	char want_reason[FO_REASON_LEN];
	bool want_pause;

	/* The current action. */
	struct fo_action act;
	bool act_running;
	int64_t act_retry_at;
	uint64_t next_id;

	struct fo_change changes[FO_MAX_CHANGES];
	int nchanges;
	int changes_lost;
};

void fo_init(struct fo *, const struct fo_params *);
/* New parameters after a reload; they apply at once. */
void fo_set_params(struct fo *, int64_t now, const struct fo_params *);
/* Begins `starting` with what STATE_FILE recorded. */
void fo_start(struct fo *, int64_t now, const struct fo_startup *);

/* A finished health check; error is the failure's text (may be NULL). */
void fo_check_result(struct fo *, int64_t now, bool healthy, const char *error);
/* A machine listing: ok=false when it failed; running = started machines. */
void fo_machines(struct fo *, int64_t now, bool ok, int running);

enum fo_result fo_force_activate(struct fo *, int64_t now, const char *reason, const char **why);
/* force: go ahead while the primary is not healthy, and pause (no expiry
 * here: the daemon bounds it); during failing-over, abort the activation
 * (a deactivation without pull, act.aborted). */
enum fo_result fo_force_deactivate(
    struct fo *, int64_t now, const char *reason, bool force, const char **why);
/* until: monotonic ms, 0 = until resume. A new pause replaces the expiry. */
void fo_pause(struct fo *, int64_t now, int64_t until);
/* FO_NOOP when not paused (counts untouched). */
enum fo_result fo_resume(struct fo *, int64_t now);
/* E.g. ACTIVATION_TIMEOUT passed, or a listing came back clean. */
void fo_set_degraded(struct fo *, int64_t now, bool degraded, const char *reason);
/* Timers: pause expiry, MIN_STANDBY_TIME, AUTO_STOP, retries, start-up. */
void fo_tick(struct fo *, int64_t now);

/* The action to start now (kind FO_ACT_NONE: nothing). */
struct fo_action fo_pending_action(const struct fo *, int64_t now);
/* Claims the pending action with this id. 0, or -1 if it is not pending. */
int fo_action_begin(struct fo *, int64_t now, uint64_t id);
/* True while id is the current action (not superseded or finished). */
bool fo_action_current(const struct fo *, uint64_t id);
/* The attempt ended. ok: the transition completes. Not ok: degraded, and
 * the action is offered again after retry_ms. 0, or -1 for a stale id. */
int fo_action_done(
    struct fo *, int64_t now, uint64_t id, bool ok, const char *detail, int64_t retry_ms);

/* The end of STARTUP_GRACE (monotonic ms) while it still applies: started,
 * the primary not yet seen healthy, and not yet passed; else 0. */
int64_t fo_grace_until(const struct fo *, int64_t now);

/* ms until the next automatic check: 0 = now, -1 = none (paused). */
int64_t fo_next_check_delay(const struct fo *);
/* The earliest future time fo_tick must run, or -1. */
int64_t fo_next_deadline(const struct fo *, int64_t now);

/* Moves up to max queued changes to out, oldest first; returns how many. */
int fo_changes_take(struct fo *, struct fo_change *out, int max);

#endif
