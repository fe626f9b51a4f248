/*
 * The engine's own state, shared by the files that make up the engine
 * (engine.c: loop, announcing, the action pipeline, listings, status;
 * selftest.c: the `selftest` command). Nothing outside them includes it.
 */
#ifndef FOD_ENGINE_INT_H
#define FOD_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "check.h"
#include "engine.h"
#include "failover.h"
#include "provider.h"

#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS (5 * 60 * 1000)
#define CONFIG_RETRY_MIN_MS (60 * 1000) /* "retried slowly" */
#define WAITERS_MAX 64
#define SHUTDOWN_FLUSH_MS 2000
/* PROVIDER=command: failed FLY_HEALTH_URL probes (FAST_INTERVAL apart) after
 * which ACTIVATE_CMD has failed and is run again, with backoff. */
#define VERIFY_PROBES_MAX 10

/* A force-* request waiting (with `wait`) for its transition to end. */
struct waiter {
	struct request *req;
	enum fo_state target; /* FO_STANDBY or FO_PRIMARY */
};

struct selftest;

/* What the one sync in flight is for. */
enum sync_use {
	SU_NONE,
	SU_PERIODIC, /* SYNC_INTERVAL push while primary */
	SU_PRE, /* pre-push from the first failed check */
	SU_FINAL, /* the activation's final push */
	SU_PULL, /* the failback's pull */
	SU_MANUAL, /* the `sync` command */
};

/* Where the current action is. */
enum act_step {
	STEP_NONE,
	STEP_FENCE, /* FENCE_CMD */
	STEP_PUSH, /* waiting for the pre-push, then the final push */
	STEP_PROVIDER, /* start or stop the machines */
	STEP_VERIFY, /* FLY_HEALTH_URL */
	STEP_PULL, /* the standby's marker, the pull, the apply */
	STEP_FAILBACK, /* FAILBACK_CMD */
};

struct engine {
	struct daemon *d;
	struct fo fo;
	struct selftest *selftest; /* the one in flight, or NULL */
	/* state_since on the wall clock, converted once per change so status
	 * does not jitter by a millisecond between two reads. */
	int64_t since_mono, since_wall;

	struct checker *checker;
	struct check_probe *probe; /* FLY_HEALTH_URL verification / watch */
	struct watch *watch; /* crash detection (watch.c) */

	const struct provider_ops *pops;
	struct provider *prov;
	bool prov_busy;
	bool prov_is_action; /* the provider runs the fsm's current action */

	/* Local health, as status shows it. */
	bool checked;
	int64_t check_end; /* mono, end of the last check */
	struct check_result last;
	uint64_t checks_total, checks_failed;

	/* Standby, as status shows it. */
	bool listed;
	struct machine_list machines;
	int standby_healthy; /* -1 unknown, 0, 1 */
	char standby_error[256];

	/* The action in flight. */
	struct fo_action act;
	bool act_running;
	int watch_failures;
	int verify_failures; /* of this attempt's verification */
	bool aborting; /* a force-deactivate aborted the activation */

	struct waiter waiters[WAITERS_MAX];
	int nwaiters;

	/* State sync, notifications, hooks. */
	struct sync *sync; /* NULL when sync is off */
	struct notifier *notifier;
	struct hooks *hooks;
	enum sync_use sync_use;
	int64_t push_started; /* mono, of the push in flight */
	struct request *sync_req; /* the `sync` command waiting */
	enum act_step step;
	bool prep_done; /* this transition's fence and final push are done */
	int64_t trans_start; /* mono, the transition's first attempt */
	int64_t first_fail; /* mono, the first failed check of the streak */
	int64_t detect_ms; /* first failed check -> failing-over */
	bool pull_alerted; /* this failback's pull failure was announced */
	bool auth_alerted; /* the provider's auth failure was announced */
	/* The last `state` event, for hooks. */
	char *state_json;
	char state_from[16], state_to[16], state_reason[FO_REASON_LEN];

	struct event *ev_tick; /* fo_tick at fo_next_deadline */
	struct event *ev_reconcile; /* RECONCILE_INTERVAL listings */
	struct event *ev_timeout; /* ACTIVATION_TIMEOUT of a transition */
	struct event *ev_verify; /* next FLY_HEALTH_URL probe */
	struct event *ev_watch; /* standby watch while standby */
	struct event *ev_run; /* deferred engine_run */
	struct event *ev_periodic; /* SYNC_INTERVAL pushes */
	int64_t force_pause_ms; /* the pause force-deactivate with force sets */
	/* status.cause: what started the current or last transition; the
	 * operator's reason and uid of the force-* command in progress. */
	json_object *cause;
	char sd_status[320]; /* the last STATUS= told to systemd */
	char op_reason[256];
	bool op_has_reason;
	long op_uid;
	bool in_run;
	bool stopping; /* engine_shutdown: no new action */
	bool flushing;
};

/* Runs the engine at the next loop pass (inputs from inside another
 * module's callback). */
void engine_kick(struct engine *);

/* selftest.c */
/* The listing a selftest waits for was cancelled by an action. */
void selftest_listing_lost(struct engine *);
/* Ends the selftest in flight (failed with why); its listing is cancelled. */
void selftest_free(struct selftest *, const char *why);

#endif
