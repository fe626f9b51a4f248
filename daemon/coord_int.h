/*
 * The coordination's own state, shared by coord.c (membership, election,
 * records, agreement), coord_status.c (status, selftest) and coord_msg.c (the pair's state on the
 * wire, the records waiting, and the messages between monitors) and nothing else.
 */
#ifndef FOD_COORD_INT_H
#define FOD_COORD_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "coord.h"
#include "etcd.h"
#include <json-c/json.h>

struct daemon;
struct hooks;

/* One monitor's view (P/members/NODE). */
struct coord_view {
	char node[COORD_NODE_LEN];
	bool known, healthy, state_dir;
	int failures, successes;
	int64_t at; /* wall ms of the check */
	int64_t lease;
};

/* A record, an ask or a forwarded command waiting (coord_msg.c). */
enum coord_op_kind { OP_RECORD, OP_ASK, OP_FORWARD };

struct coord_op {
	struct coord *c;
	enum coord_op_kind kind;
	struct coord_op *next;
	uint64_t gen; /* OP_RECORD: done once this publish generation is recorded */
	uint64_t id; /* OP_ASK, OP_FORWARD: the message's id */
	char target[COORD_NODE_LEN]; /* OP_ASK: who was asked */
	char key[400]; /* the request or command key to delete at the end */
	int64_t deadline; /* mono */
	coord_done_cb *cb;
	coord_cmd_cb *ccb;
	void *arg;
};

/* An op that ended, its callback to come from the loop (coord_msg.c). */
struct pending_done {
	struct pending_done *next;
	struct coord_op *op;
	bool ok;
	char why[256];
	json_object *reply;
	char acted_by[COORD_NODE_LEN];
};

struct coord {
	struct daemon *d;
	struct hooks *hooks;
	struct coord_cbs cbs;
	const struct fo *fo; /* the engine's machine, read for the holds */
	struct etcd *etcd;
	char node[COORD_NODE_LEN];
	char app[128]; /* the pair's identity: FLY_APP or "" */
	char prefix[256]; /* ETCD_PREFIX with one trailing '/' */
	char k_leader[300], k_state[300], k_pair[300], k_me[320];
	bool state_dir;
	int64_t ttl_ms, poll_ms;
	bool stopping;

	/* etcd answers (rule 7). */
	bool ok;
	char error[256];
	char ok_detail[128];

	/* The lease (rules 1, 4). */
	int64_t lease_id;
	int64_t renew_sent; /* mono: send time of the last renewal that came back */
	int64_t held_until; /* mono: believed until (renew_sent + TTL x 2/3) */
	bool had_lease; /* the belief is armed (from the start: rule 4) */
	bool isolated, self_fenced;
	struct etcd_call *grant_call, *keep_call;
	struct event *ev_keep, *ev_fence, *ev_poll;
	int64_t check_end; /* mono: the last check ended */
	bool stale_told;

	/* The view. */
	struct coord_view me;
	bool joined; /* the view is in etcd under this lease */
	bool dup; /* NODE_NAME held by another live lease */
	bool foreign, identity_ok; /* P/pair names this pair (FLY_APP) */
	int64_t view_mod;
	bool view_dirty;
	struct etcd_call *view_call, *pair_call;

	/* The poll and the election. */
	struct etcd_call *poll_call, *campaign_call;
	struct coord_view views[COORD_MAX_VIEWS]; /* live, as last polled */
	int nviews;
	bool views_known; /* the last poll succeeded: views is the live set */
	enum coord_role role;
	char leader[COORD_NODE_LEN]; /* "" = none seen */
	int64_t leader_epoch; /* the observed leader key's create revision */
	int64_t epoch; /* ours, while leading */

	/* The pair's state (P/state). */
	struct coord_pair pair;
	int64_t state_mod;
	char step[32];
	bool publish_dirty;
	uint64_t publish_gen, publish_gen_sent;
	struct etcd_call *publish_call;

	/* Agreement (rule 3). */
	bool agree_over, agree_back, agree_told;
	char held[COORD_MAX_VIEWS][COORD_NODE_LEN];
	int nheld;
	char held_text[256];

	/* selftest */
	struct etcd_call *st_call;
	coord_check_cb *st_cb;
	void *st_arg;

	/* coord_msg.c */
	struct coord_op *ops;
	struct pending_done *dones;
	struct event *ev_done;
	uint64_t seen_ids[64]; /* requests and commands already taken */
	int nseen;
};

/* coord.c */
void coord_set_error(struct coord *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void coord_step_down(struct coord *, const char *why);
bool coord_may_lead(const struct coord *);
void coord_campaign(struct coord *);
void coord_agreement(struct coord *);
void coord_record_kick(struct coord *);
/* The live views, this monitor's own as of its last check: the i-th for
 * i in 0..nviews, or NULL (a slot to skip). */
const struct coord_view *coord_view_at(const struct coord *, int i);

/* coord_msg.c */
void coord_msg_init(struct coord *);
void coord_msg_free(struct coord *);
/* The poll's result: answers, results, requests and commands. */
void coord_msg_poll(struct coord *, const struct etcd_result *, const struct etcd_kv *leader);
/* Every record up to generation gen is in etcd. */
void coord_msg_recorded(struct coord *, uint64_t gen);
/* Every record, ask and forward waiting fails with why. */
void coord_msg_fail_all(struct coord *, const char *why);
struct coord_op *coord_msg_record(struct coord *, uint64_t gen, coord_done_cb *, void *);
/* P/state's value, and parsing it into c->pair. */
char *coord_pair_json(struct coord *);
void coord_pair_parse(struct coord *, const struct etcd_kv *);
char *coord_pair_identity(const struct coord *);
void coord_ignore_result(const struct etcd_result *, void *);

#endif
