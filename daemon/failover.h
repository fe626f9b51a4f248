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
 *      A failed attempt is reported with fo_action_failed(fo, now, id,
 *      class, hint, detail, &retry_ms): the machine's retry policy (one
 *      backoff with jitter, by class: normal, configuration error at least
 *      60 s, could-not-start 1 s, pull) sets `degraded` and offers the same
 *      action again after retry_ms, or, for a failback's pull past
 *      ACTIVATION_TIMEOUT, gives up: the failback is done, degraded
 *      (FO_OUT_GAVE_UP: the engine suspends pushes).
 *   3. re-arms its timers from fo_next_check_delay() and
 *      fo_next_deadline(), and calls fo_tick() when the deadline passes.
 *
 * Operational state (counts, last check, machines seen) is kept apart from
 * administrative state (paused, forced, failback mode). Decisions:
 *
 * - the first failed check while primary (outside STARTUP_GRACE and a
 *   pause, with sync on) asks for a pre-push of STATE_DIR
 *   (fo_prepush_take), so most of it is on the remote by the threshold.
 * - a transition not done ACTIVATION_TIMEOUT after it began turns
 *   `degraded` (FO_CH_TIMEOUT, once); retries go on.
 * - an activation's action carries what it runs first: FENCE_CMD (fence,
 *   fence_required: a failed fence fails the attempt) and the final push
 *   (push); once both are done (fo_action_prepared) later attempts skip
 *   them.
 * - warm standby (warm_standby): after start-up ends in primary and after
 *   each failback, a FO_ACT_WARM is offered while the primary is healthy,
 *   not paused and nothing else runs, until one succeeds; a listing during
 *   it is no drift. A transition supersedes it.
 * - the pause is the machine's, with its expiry: fo_pause(until), expiry
 *   in fo_tick; force-deactivate with force pauses for pause_ms.
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
 * - the standby watch (fo_standby_health): FAILURE_THRESHOLD failed probes
 *   of FLY_HEALTH_URL while standby -> FO_CH_STANDBY_UNHEALTHY and, unless
 *   paused, a DEACTIVATE with unhealthy set (stop only), after which none
 *   runs and the restart above follows; a healthy probe after the alert ->
 *   FO_CH_STANDBY_HEALTHY.
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
	/* ACTIVATION_TIMEOUT: a transition not done this long after it began
	 * turns `degraded` (FO_CH_TIMEOUT), and a failing pull gives up
	 * (fo_action_failed with FO_RETRY_PULL). 0 = never. */
	int64_t activation_timeout_ms;
	/* STATE_DIR is synced: an activation pushes first (after the fence), a
	 * failback pulls, and the first failed check asks for a pre-push. */
	bool sync;
	bool fence; /* FENCE_CMD is set: an activation runs it first */
	bool fence_required; /* FENCE_REQUIRED: a failed fence fails the attempt */
	/* FLY_STANDBY_MODE=suspended: after start-up and each failback, while
	 * the primary is healthy and not paused, the standby is warmed
	 * (FO_ACT_WARM) until a warm-up succeeds. */
	bool warm_standby;
	/* COORDINATOR=etcd (contract §9): the machine decides only while this
	 * monitor leads (fo_lead), mirrors the pair's state otherwise
	 * (fo_adopt), and fails over or back only with the agreement of every
	 * live monitor (fo_agreement). */
	bool coordinated;
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
	FO_ACT_WARM, /* FLY_STANDBY_MODE=suspended, while primary: start the
	              * standby, verify it, suspend it (a warm standby) */
};

const char *fo_act_str(enum fo_act); /* "none", "activate", "deactivate", "warm" */

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
	bool fence; /* activate: FENCE_CMD first */
	bool fence_required; /* ... and its failure fails the attempt */
	bool prepared; /* activate: fence and final push done (later attempts skip them) */
	bool unhealthy; /* deactivate outside a transition: stop an unhealthy
	                 * standby to start it again (a restart follows) */
};

/* How a failed attempt is retried: one backoff, by class. */
enum fo_retry {
	FO_RETRY_BACKOFF, /* exponential from 1 s to 5 min, with jitter */
	FO_RETRY_CONFIG, /* needs a person: the same, but never under 60 s */
	FO_RETRY_SOON, /* the step could not even start: 1 s */
	FO_RETRY_PULL, /* a failback's pull: backoff until ACTIVATION_TIMEOUT
	                * since the transition began, then give up */
};

#define FO_RETRY_BASE_MS 1000
#define FO_RETRY_CAP_MS (5 * 60 * 1000)
#define FO_RETRY_CONFIG_MIN_MS (60 * 1000)

/* The delay before attempt+1 after `attempt` failed; hint_ms (the peer's
 * Retry-After, or -1) is honoured when longer. Random jitter included. */
int64_t fo_retry_delay(enum fo_retry, int attempt, int64_t hint_ms);

/* What became of a failed attempt. */
enum fo_outcome {
	FO_OUT_RETRY, /* the same action comes back after *retry_ms */
	FO_OUT_GAVE_UP, /* FO_RETRY_PULL past ACTIVATION_TIMEOUT: the failback
	                 * is done without the standby's state, degraded */
	FO_OUT_STALE, /* the action was no longer current: nothing changed */
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
	FO_CH_TIMEOUT, /* the transition is not done after ACTIVATION_TIMEOUT */
	FO_CH_STANDBY_UNHEALTHY, /* FLY_HEALTH_URL failed FAILURE_THRESHOLD times */
	FO_CH_STANDBY_HEALTHY, /* ... and is healthy again */
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

	/* The current transition (failing-over/-back). */
	int64_t trans_start;
	bool timed_out; /* ACTIVATION_TIMEOUT passed (FO_CH_TIMEOUT sent) */
	bool prepush; /* a pre-push is asked for (fo_prepush_take) */
	bool warm_due; /* the standby is to be warmed (warm_standby) */

	/* The standby watch (FLY_HEALTH_URL while standby). */
	int standby_failures;
	bool standby_unhealthy; /* reached the threshold: restart it */
	bool standby_alerted; /* FO_CH_STANDBY_UNHEALTHY sent, not yet HEALTHY */

	/* Pending admin intent, consumed by fo_recompute. */
	enum fo_state want; /* FO_STANDBY, FO_PRIMARY or FO_STARTING (none) */
	char want_reason[FO_REASON_LEN];
	bool want_pause;
	int64_t want_pause_ms; /* its length (0 = until resume) */

	/* The current action. */
	struct fo_action act;
	bool act_running;
	int64_t act_retry_at;
	uint64_t next_id;

	/* COORDINATOR=etcd: following (no decision, no action) and the
	 * agreement of every live monitor's view (rule 3). */
	bool follower;
	bool agree_over, agree_back;
	int64_t list_from; /* the start-up's listing wait began (fo_start, fo_lead) */

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
/* A listing with what the provider saw: `known` false when it cannot list
 * (PROVIDER=command: the machine's own record counts); running = started
 * or starting, started = started only. At start-up after an interrupted
 * activation only started machines count (starting ones are not verified). */
struct fo_listing {
	bool ok, known;
	int running, started;
};
void fo_listing(struct fo *, int64_t now, const struct fo_listing *);
/* The standby watch's probe of FLY_HEALTH_URL while standby. */
void fo_standby_health(struct fo *, int64_t now, bool healthy);
/* True once after the first failed check while primary (outside
 * STARTUP_GRACE and a pause, with sync on): push STATE_DIR now, so most of
 * it is on the remote by the time the threshold is reached. */
bool fo_prepush_take(struct fo *);

enum fo_result fo_force_activate(struct fo *, int64_t now, const char *reason, const char **why);
/* force: go ahead while the primary is not healthy, and pause (no expiry
 * here: the daemon bounds it); during failing-over, abort the activation
 * (a deactivation without pull, act.aborted). */
enum fo_result fo_force_deactivate(
    struct fo *, int64_t now, const char *reason, bool force, const char **why);
/* The same, and the pause that `force` sets ends after pause_ms (0 = at
 * resume). */
enum fo_result fo_force_deactivate_for(
    struct fo *, int64_t now, const char *reason, bool force, int64_t pause_ms, const char **why);
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
/* The current activation's fence and final push are done: a later attempt
 * skips them. */
void fo_action_prepared(struct fo *, uint64_t id);
/* An attempt failed: the retry policy (class, backoff, ACTIVATION_TIMEOUT
 * for pulls) decides; *retry_ms gets the delay before the next attempt. */
enum fo_outcome fo_action_failed(struct fo *, int64_t now, uint64_t id, enum fo_retry,
    int64_t hint_ms, const char *detail, int64_t *retry_ms);
/* Claims the pending action with this id. 0, or -1 if it is not pending. */
int fo_action_begin(struct fo *, int64_t now, uint64_t id);
/* True while id is the current action (not superseded or finished). */
bool fo_action_current(const struct fo *, uint64_t id);
/* The attempt ended. ok: the transition completes. Not ok: degraded, and
 * the action is offered again after retry_ms. 0, or -1 for a stale id. */
int fo_action_done(
    struct fo *, int64_t now, uint64_t id, bool ok, const char *detail, int64_t retry_ms);

/* COORDINATOR=etcd. The pair's state as the leader recorded it in etcd
 * (times on this machine's monotonic clock). */
struct fo_pair {
	enum fo_state state;
	bool forced, paused;
	int64_t paused_until; /* 0 = until resume */
	bool active;
	int64_t active_since;
	enum fo_cause cause;
	char reason[FO_REASON_LEN];
};
/* A follower takes the pair's state as its own (changes as usual: state,
 * flags, pause); it decides nothing and offers no action. */
void fo_adopt(struct fo *, int64_t now, const struct fo_pair *);
/* Stops deciding (the monitor no longer leads): the action in flight is
 * no longer current. */
void fo_follow(struct fo *, int64_t now);
/* Begins leading from the state adopted last (or, with none adopted yet,
 * from STATE_FILE's start-up): an interrupted transition is continued, as
 * after a restart, and machines are listed again before drift counts. */
void fo_lead(struct fo *, int64_t now);
/* Whether every live monitor's view agrees to a failover / failback. */
void fo_agreement(struct fo *, int64_t now, bool over, bool back);

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
