/*
 * Several monitors, one actor (COORDINATOR=etcd, contract §9): this
 * monitor's lease and view in etcd, the election, the pair's state, the
 * agreement of the live views, the self-fence, and the fenced record that
 * comes before every action step. Built on etcd.c; see the design note at
 * the end of etcd.h for the keys and the reasoning behind rules 1-8.
 *
 * The engine stays the only place that acts. It tells this module about
 * every check (coord_checked) and every change of the pair's state
 * (coord_publish); this module tells the engine, through the callbacks,
 * when this monitor begins or stops leading, what the pair's state is
 * while it follows, and whether the live views agree to a failover or a
 * failback. Before each action step the engine asks coord_record() and
 * goes on only when it succeeds; coord_may_act() is the synchronous check
 * that guards every request to the provider.
 */
#ifndef FOD_COORD_H
#define FOD_COORD_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "failover.h"

struct daemon;
struct hooks;
struct coord;
struct coord_op;

#define COORD_NODE_LEN 64
#define COORD_MAX_VIEWS 16

enum coord_role { COORD_NONE, COORD_FOLLOWER, COORD_LEADER };
const char *coord_role_str(enum coord_role); /* "none", "follower", "leader" */

/* The pair's state as recorded in etcd by its leader (P/state). */
struct coord_pair {
	bool known; /* a leader has recorded it once */
	struct fo_pair fo; /* times on this machine's monotonic clock */
	int64_t paused_until_wall, active_since_wall; /* as recorded */
	uint64_t failovers, failbacks;
	int64_t last_failover, last_failback; /* wall ms, 0 = never */
	char leader[COORD_NODE_LEN];
	int64_t epoch;
	char step[32];
};

/* What the engine is told. */
struct coord_cbs {
	/* This monitor now leads (epoch = its fencing token); pair is what
	 * etcd recorded last (pair->known false: nothing yet). */
	void (*lead)(void *arg, const struct coord_pair *pair);
	/* It no longer leads (lost the lease, a fenced record failed, or
	 * etcd cannot be reached): stop acting at once. */
	void (*follow)(void *arg, const char *why);
	/* While following: the pair's state changed in etcd. */
	void (*adopt)(void *arg, const struct coord_pair *pair);
	/* The live views' agreement to fail over / fail back changed. */
	void (*agree)(void *arg, bool over, bool back);
	/* The engine's pair state, for P/state (coord_publish). */
	void (*pair)(void *arg, struct coord_pair *out);
	/* A pair-wide command given to a follower, to run here (the leader):
	 * cmd and its arguments; reply with coord_command_done(id, ...). */
	void (*command)(void *arg, uint64_t id, const char *from, json_object *req);
	/* Asked by the leader (this monitor has STATE_DIR): "push" or "pull"
	 * (the pull, its apply and FAILBACK_CMD); answer with coord_answer. */
	void (*ask)(void *arg, uint64_t id, const char *what);
	void *arg;
	const struct fo *fo; /* the engine's machine, read for the holds */
};

/* NULL unless COORDINATOR=etcd (then err says why it cannot start). */
struct coord *coord_new(
    struct daemon *, struct hooks *, const struct coord_cbs *, char *err, size_t errlen);
void coord_start(struct coord *);
/* Revokes the lease (best effort, bounded) so the others need not wait
 * for it to expire; then frees. NULL is fine. */
void coord_free(struct coord *);

/* This monitor's check ended: its view is put again. */
void coord_checked(struct coord *, bool healthy, int failures, int successes);
/* The leader's pair state changed: it is recorded (fenced) soon. */
void coord_publish(struct coord *);

/* The synchronous guard: this monitor leads and believes it holds its
 * lease (rule 4) at this instant. */
bool coord_may_act(const struct coord *);
enum coord_role coord_role(const struct coord *);
const char *coord_node(const struct coord *);

/* The fenced record of an action step (rule 2): P/state with `step`, by
 * a transaction that succeeds only while this monitor's leader key holds
 * its epoch. cb(ok, why): !ok = the action must stop (this monitor has
 * turned follower already). */
typedef void coord_done_cb(bool ok, const char *why, void *arg);
struct coord_op *coord_record(struct coord *, const char *step, coord_done_cb *, void *);
void coord_op_cancel(struct coord_op *);

/* Rule 5: the final push or the failback's pull asked of the monitor with
 * STATE_DIR. cb(ok, why) at its answer, at timeout_ms, or at once when no
 * live monitor has STATE_DIR (ok true, why says so). */
struct coord_op *coord_ask(
    struct coord *, const char *what, int64_t timeout_ms, coord_done_cb *, void *);
/* This monitor (with STATE_DIR) answers request id. */
void coord_answer(struct coord *, uint64_t id, bool ok, const char *why);
/* Whether a live monitor other than this one has STATE_DIR. */
bool coord_remote_state_dir(const struct coord *);

/* Rule 6, on a follower: forwards a pair-wide command (the request's
 * JSON) to the leader; cb gets the leader's reply object (result or error)
 * and who acted, or NULL with why when there is no leader. */
typedef void coord_cmd_cb(json_object *reply, const char *acted_by, const char *why, void *arg);
struct coord_op *coord_forward(struct coord *, json_object *req, coord_cmd_cb *, void *);
/* On the leader: the reply ({"ok":..} object, owned here) to command id. */
void coord_command_done(struct coord *, uint64_t id, const char *from, json_object *reply);

/* selftest (contract §9): etcd answers (with the credentials when
 * ETCD_USER is set) and NODE_NAME is not held by another live monitor.
 * cb once per check (name "etcd", "etcd-auth", "node-name"), then once
 * with name NULL. One at a time; cancel with coord_selftest_cancel. */
typedef void coord_check_cb(const char *name, bool ok, const char *detail, void *arg);
int coord_selftest(struct coord *, coord_check_cb *, void *);
void coord_selftest_cancel(struct coord *);

/* status.coordination; the pair's counters for status.counters. */
json_object *coord_status_json(const struct coord *);
const struct coord_pair *coord_pair(const struct coord *);

#endif
