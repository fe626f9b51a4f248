/*
 * Hooks (contract §3, §6): FENCE_CMD before the final push, FAILBACK_CMD
 * after the pulled state is applied, NOTIFY_CMD after every state change
 * (queued: one at a time, in order). Each runs as a job (job.c): /bin/sh -c
 * in its own process group, HOOK_TIMEOUT escalating TERM -> KILL to the
 * whole group, an environment of PATH, HOME, LANG, TZ and the FAILOVER_*
 * variables only (never a secret). Each outcome is a `hook` event. The
 * FAILOVER_* variables describe the last `state` event, which this module
 * hears as a subscriber of the event stream.
 */
#ifndef FOD_HOOKS_H
#define FOD_HOOKS_H

#include <stdbool.h>

struct event_base;
struct events;
struct config;
struct hooks;

/* HOOK_SELF_FENCE: SELF_FENCE_CMD, run by coord.c (contract §9 rule 4). */
enum hook_kind { HOOK_FENCE, HOOK_NOTIFY, HOOK_FAILBACK, HOOK_SELF_FENCE };

/* The state change a hook is about (FAILOVER_* variables). */
struct hook_ctx {
	const char *event; /* the `state` event's JSON (FAILOVER_EVENT) */
	const char *state; /* the state now (FAILOVER_STATE) */
	const char *from, *to, *reason;
};

/* ok: exit 0 in time; detail: job_result_str's text ("exited 3", ...). */
typedef void hook_done_cb(bool ok, const char *detail, void *arg);

const char *hook_name(enum hook_kind); /* "fence", "notify", "failback", "self-fence" */

struct hooks *hooks_new(struct event_base *, struct events *, const struct config *);
void hooks_reconfigure(struct hooks *, const struct config *);
/* Kills whatever runs (no callbacks); NULL ok. */
void hooks_free(struct hooks *);

/* True when that hook's command is configured. */
bool hooks_configured(const struct hooks *, enum hook_kind);
/*
 * FENCE_CMD or FAILBACK_CMD: starts it; cb is called once, later, from the
 * loop. Returns 0, or -1 when it is not configured or already running (cb
 * not called).
 */
int hooks_run(struct hooks *, enum hook_kind, hook_done_cb *, void *);
/* Stops a FENCE_CMD/FAILBACK_CMD run (KILL to its group); no callback. */
void hooks_cancel(struct hooks *, enum hook_kind);
/* NOTIFY_CMD for a state change: queued, run one at a time, in order.
 * hooks_new subscribes to `state` events and calls it for each. */
void hooks_notify(struct hooks *, const struct hook_ctx *);
/* COORDINATOR=etcd: NOTIFY_CMD runs on the leader only; a follower's
 * mirrored state changes are not told (quiet). */
void hooks_set_quiet(struct hooks *, bool quiet);
/* NOTIFY_CMD runs waiting or running. */
int hooks_notify_queued(const struct hooks *);

#endif
