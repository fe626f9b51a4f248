/*
 * The engine's own state, shared by the files that make up the engine and
 * nothing else: engine.c (the loop pass, inputs, life cycle, commands),
 * announce.c (what changed, told once), action.c (the action pipeline and
 * state sync), standby.c (listings, reconciliation, the standby watch),
 * selftest.c (the `selftest` command). status.c reads it through
 * engine_status() only.
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
#include "provq.h"

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
struct coord_op;
struct http_req;
struct sync_result;

/* What the one sync in flight is for. */
enum sync_use {
	SU_NONE,
	SU_PERIODIC, /* SYNC_INTERVAL push while primary */
	SU_PRE, /* pre-push from the first failed check */
	SU_FINAL, /* the activation's final push */
	SU_PULL, /* the failback's pull */
	SU_MANUAL, /* the `sync` command */
	SU_ASK, /* COORDINATOR=etcd: the leader asked this monitor (STATE_DIR) */
};

/* The steps of an action, in the order they run (action.c). */
enum step {
	STEP_FENCE, /* FENCE_CMD */
	STEP_PUSH_WAIT, /* the pre-push (or a periodic push) in flight ends */
	STEP_FINAL_PUSH, /* within what is left of SYNC_TIMEOUT */
	STEP_PROVIDER, /* start or stop the machines */
	STEP_VERIFY, /* FLY_HEALTH_URL */
	STEP_PROMOTE, /* FLY_PROMOTE_URL */
	STEP_PULL, /* the standby's marker, the pull, the apply */
	STEP_FAILBACK, /* FAILBACK_CMD */
	STEP_SUSPEND, /* warm-up: the provider's stop, which suspends */
	STEP_RECORD, /* COORDINATOR=etcd: the next step recorded, fenced (rule 2) */
	STEP_ASK_PUSH, /* ... the final push, by the monitor with STATE_DIR */
	STEP_ASK_PULL, /* ... the pull and FAILBACK_CMD, by that monitor */
	STEP_MAX,
};

/* The action in flight: the machine's fo_action and its step list. */
struct run {
	struct fo_action act;
	bool running;
	enum step steps[STEP_MAX];
	int nsteps, next;
	enum step cur;
	int verify_failures; /* of this attempt's verification */
	char warmth[48]; /* "warm", "cold", "1 warm, 1 cold": how the machines started */
	struct http_req *promote; /* FLY_PROMOTE_URL's POST in flight */
	int64_t push_wait_from; /* mono: the wait for the pushes began */
	struct coord_op *cop; /* STEP_RECORD, STEP_ASK_*: waiting for etcd */
};

struct engine {
	struct daemon *d;
	struct fo fo;
	struct selftest *selftest; /* the one in flight, or NULL */
	/* state_since and paused_until on the wall clock, converted once per
	 * change so status does not jitter by a millisecond between reads. */
	int64_t since_mono, since_wall, pause_mono, pause_wall;

	struct checker *checker;
	struct check_probe *probe; /* FLY_HEALTH_URL verification */
	struct check_probe *watch_probe; /* FLY_HEALTH_URL standby watch */
	struct watch *watch; /* crash detection (watch.c) */

	const struct provider_ops *pops;
	struct provider *prov;
	struct provq *provq;

	/* Local health, as status shows it. */
	bool checked;
	int64_t check_end; /* mono, end of the last check */
	struct check_result last;
	uint64_t checks_total, checks_failed;
	int64_t first_fail; /* mono, the first failed check of the streak */

	/* Standby, as status shows it. */
	bool listed;
	struct machine_list machines;
	int standby_healthy; /* -1 unknown, 0, 1 */
	char standby_error[256];

	struct run run;

	struct waiter waiters[WAITERS_MAX];
	int nwaiters;

	/* State sync, notifications, hooks. */
	struct sync *sync; /* NULL when sync is off */
	struct notifier *notifier;
	struct notify_listener *listener; /* Telegram's texts for the events */
	json_object *entered; /* the `state` event into failing-over (promotion) */
	struct hooks *hooks;
	enum sync_use sync_use;
	struct request *sync_req; /* the `sync` command waiting */

	/* Announcing (announce.c). */
	int64_t trans_start; /* mono, the transition's beginning */
	int64_t detect_ms; /* first failed check -> failing-over, or -1 */
	bool aborting; /* a force-deactivate aborted the activation */
	bool pull_alerted; /* this failback's pull failure was announced */
	/* For the Telegram texts (announce_ctx): STATE_FILE's side before the
	 * change, the active time a failback closed, whether force-* began the
	 * transition (and paused for how long), a pause that expired, and a
	 * failed attempt to tell once (the provider's first, each failback's
	 * first failed pull). */
	char recorded[16];
	int64_t closed_active_ms;
	bool forced_cause;
	int64_t force_pause_ms;
	bool pause_expired;
	bool provider_retry;
	const char *pull_error; /* while the first failed pull is told */
	/* status.cause: what started the current or last transition; the
	 * operator's reason and uid of the force-* command in progress. */
	json_object *cause;
	char sd_status[320]; /* the last STATUS= told to systemd */
	char op_reason[256];
	bool op_has_reason;
	long op_uid;

	struct event *ev_run; /* the one engine_run of this loop pass */
	struct event *ev_tick; /* fo_tick at fo_next_deadline */
	int64_t tick_at; /* mono: the deadline ev_tick is armed for */
	struct event *ev_reconcile; /* RECONCILE_INTERVAL listings */
	struct event *ev_verify; /* next FLY_HEALTH_URL probe */
	struct event *ev_watch; /* standby watch while standby */
	struct event *ev_periodic; /* SYNC_INTERVAL pushes */
	/* COORDINATOR=etcd (engine_coord.c): what the leader recorded last,
	 * and the ask of the leader this monitor (STATE_DIR) carries out. */
	char published[512];
	uint64_t ask_id;
	bool ask_pull, ask_hook; /* a pull; then FAILBACK_CMD (a failback's, not a `sync`) */
	bool stopping; /* engine_shutdown: no new action */
	bool flushing;
};

/* engine.c */
/* Marks the engine: one engine_run at the end of this loop pass, however
 * many inputs arrived in it. */
void engine_mark(struct engine *);
/* Wall time of the machine's paused_until (0 when none). */
int64_t engine_pause_wall(struct engine *);
void waiters_finish(struct engine *, bool only_target, enum fo_state reached, const char *fail);

/* announce.c */
/* Drains the machine's changes into events, logs, STATE_FILE, Telegram,
 * hooks and waiters; then STATUS= and STATUS_FILE. */
void announce(struct engine *);
void standby_event(struct engine *, const char *action, const char *phase, const char *detail);
const char *standby_name(const struct engine *);
double standby_cost_usd(const struct engine *, int64_t active_ms);
/* Telegram hears the events from here on, with announce.c's context, and
 * the engine keeps the state event that entered failing-over. */
void announce_listen(struct engine *);
void announce_unlisten(struct engine *);
/* The `pause` event, log line and STATE_FILE record of a FO_CH_PAUSE. */
void announce_pause(struct engine *, const struct fo_change *);

/* action.c */
const char *act_name(const struct fo_action *);
void action_start(struct engine *, const struct fo_action *);
/* The machine superseded the action in flight: stop what runs. */
void action_cancel(struct engine *);
void engine_synced(const struct sync_result *, void *);
void periodic_arm(struct engine *);
void periodic_cb(evutil_socket_t, short, void *); /* SYNC_INTERVAL */
void verify_cb(evutil_socket_t, short, void *); /* the next FLY_HEALTH_URL probe */
bool pushes_allowed(struct engine *);
/* The machine asked for a pre-push (fo_prepush_take). */
void prepush_start(struct engine *);

/* standby.c */
void engine_list(struct engine *);
void reconcile_cb(evutil_socket_t, short, void *);
void watch_cb(evutil_socket_t, short, void *);
void machines_set(struct engine *, const struct machine_list *);
void record_machines(struct engine *);
json_object *machines_json(const struct engine *);

/* engine_coord.c */
void engine_coord_new(struct engine *);
/* The end of a run: the leader records a changed pair state. */
void engine_coord_run(struct engine *);
/* The sync of an ask ended (SU_ASK). */
void engine_coord_synced(struct engine *, const struct sync_result *);
bool push_start(struct engine *, enum sync_use, int64_t timeout_ms);
/* The sync in flight gives way (a `sync` command waiting is told why). */
void sync_preempt(struct engine *, const char *why);
/* The `sync` command on a leader without STATE_DIR: asked of the monitor
 * with it. false when there is none (the caller says sync is off). */
bool engine_coord_sync(struct engine *, struct request *, bool push, bool force);
void pushes_resume(struct engine *);

/* selftest.c */
/* Ends the selftest in flight (failed with why); its listing is cancelled. */
void selftest_free(struct selftest *, const char *why);

#endif
