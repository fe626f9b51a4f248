/*
 * The standby's provider: fly (Machines API), command (ACTIVATE_CMD /
 * DEACTIVATE_CMD) or none (dry run). A provider performs ONE attempt of one
 * idempotent operation and reports how it ended; the engine owns policy
 * (retries with backoff, ACTIVATION_TIMEOUT -> degraded, events, alerts).
 * Every operation is idempotent: running it again after a crash or a failed
 * attempt never starts a machine twice.
 */
#ifndef FOD_PROVIDER_H
#define FOD_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct event_base;
struct http;
struct config;
struct provider;

#define MACHINE_ID_LEN 64

struct machine {
	char id[MACHINE_ID_LEN];
	char state[32]; /* Fly's state string: started, stopped, suspended, ... */
	char region[16];
	char instance_id[MACHINE_ID_LEN];
	/* From config (0/false when the reply did not say): what decides
	 * whether Fly can suspend the machine (fly_suspend_eligible). */
	int memory_mb; /* config.guest.memory_mb */
	int swap_size_mb; /* config.init.swap_size_mb */
	bool schedule; /* config.schedule is set */
	/* This action's start reply: "suspended" means it resumed (warm),
	 * anything else (stopped, failed, ...) a cold boot; "" = not started
	 * by this action. */
	char previous_state[32];
};

struct machine_list {
	struct machine *v;
	int n;
};

enum prov_result {
	PROV_OK,
	PROV_RETRY, /* transient: 408 after the wait loop, 412, 429, 5xx,
	             * connection errors; retry_after_ms may say when */
	PROV_CONFIG, /* needs a person: 401/403, no stopped machine to start,
	              * unknown app (404); retried slowly */
	PROV_FAILED, /* other failure (bad reply, command exit != 0); retried */
};

const char *prov_result_str(enum prov_result);

struct prov_status {
	enum prov_result res;
	int64_t retry_after_ms; /* -1 when the peer did not say */
	char error[256]; /* human text, never a secret */
	/* Machines as last seen by this operation (may be empty; valid only
	 * during the callback). For list: the whole app. */
	const struct machine_list *machines;
	/* Something done differently from what was asked, for the engine to
	 * report as an `error` event even on PROV_OK, e.g. "machine X cannot
	 * be suspended (400 …): stopped instead"; "" when none. Never a
	 * secret. */
	char notice[256];
};

/* Called exactly once per operation, from the event loop, unless cancelled. */
typedef void prov_done_cb(const struct prov_status *st, void *arg);
/* Progress inside one attempt, e.g. "machine X started, waiting"; may be NULL. */
typedef void prov_progress_cb(const char *detail, void *arg);

enum prov_op {
	PROV_OP_LIST, /* list the machines */
	PROV_OP_ACTIVATE, /* make FLY_MACHINE_COUNT machines started and wait
	                   * until they are (suspended ones are stopped first;
	                   * with FLY_STANDBY_MODE=suspended they are resumed
	                   * by the start and preferred: warm) */
	PROV_OP_DEACTIVATE, /* stop every started machine, wait until stopped;
	                     * with FLY_STANDBY_MODE=suspended: suspend them and
	                     * wait until suspended (a machine Fly will not
	                     * suspend is stopped; prov_status.notice says why).
	                     * The warm-up is ACTIVATE, verify, DEACTIVATE. */
	PROV_OP_STOP, /* DEACTIVATE that always stops, never suspends (an
	               * unhealthy standby is restarted from a clean boot;
	               * a suspended machine is left as it is) */
};

struct provider_ops {
	const char *name; /* "fly", "command", "none" */
	struct provider *(*create)(struct event_base *, struct http *, const struct config *);
	void (*destroy)(struct provider *);
	/* Takes a new config after a reload (same PROVIDER). */
	void (*reconfigure)(struct provider *, const struct config *);
	/* Starts an operation; one at a time per provider. 0, or -1 if busy. */
	int (*start)(
	    struct provider *, enum prov_op, prov_done_cb *, prov_progress_cb *, void *arg);
	/* Abandons the operation in flight (its callback is not called). */
	void (*cancel)(struct provider *);
};

extern const struct provider_ops provider_fly_ops;
extern const struct provider_ops provider_command_ops;
extern const struct provider_ops provider_none_ops;

const struct provider_ops *provider_ops_for(int provider_kind);

/* Frees the entries (not the struct, which is usually embedded); n = 0. */
void machine_list_free(struct machine_list *);
/* dst gets its own copy of src's entries (dst's old ones are freed). */
void machine_list_copy(struct machine_list *dst, const struct machine_list *src);
int machine_list_count_running(const struct machine_list *); /* started or starting */
/* A machine state that counts as running: started, starting. */
static inline bool
machine_state_running(const char *state)
{
	return state != NULL && (strcmp(state, "started") == 0 || strcmp(state, "starting") == 0);
}

/*
 * Fly provider knobs for tests (provtool): the per-request timeout (0 = from
 * the config: 30 s, and at most ACTIVATION_TIMEOUT) and the /wait timeout in
 * seconds (clamped to [1, 60]; 0 = 60, and at most ACTIVATION_TIMEOUT).
 */
void provider_fly_tune(struct provider *, int64_t request_timeout_ms, int wait_timeout_s);
/* No lease refresh or release of a finished operation is in flight. */
bool provider_fly_idle(const struct provider *);

#endif
