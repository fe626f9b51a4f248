/*
 * The coordination's messages (contract §9): the pair's state as it is
 * written to and read from P/state, the records of action steps waiting
 * for etcd, rule 5's final push and pull asked of the monitor with
 * STATE_DIR, and rule 6's pair-wide commands forwarded by a follower to the
 * leader. Every message is a key under the pair's prefix, bound to its
 * writer's lease (gone with its writer), found by the one poll (coord.c):
 *   P/request/NODE/ID  leader -> NODE    {"id","what","from"}
 *   P/answer/ID        NODE -> leader    {"id","ok","why","node"}
 *   P/command/NODE/ID  follower -> leader {"id","from","req"}
 *   P/result/NODE/ID   leader -> follower {"id","acted_by","reply"}
 * Callbacks always come from the loop (ev_done), never from inside one of its calls.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "coord.h"
#include "coord_int.h"
#include "daemon.h"
#include "etcd.h"
#include "log.h"
#include "util.h"

#define FORWARD_TIMEOUT_MS 10000

void
coord_ignore_result(const struct etcd_result *r, void *arg)
{
	(void)r;
	(void)arg;
}

static uint64_t
new_id(void)
{
	uint64_t id = ((uint64_t)arc4random() << 32) | arc4random();

	return id != 0 ? id : 1;
}

static bool
seen(struct coord *c, uint64_t id)
{
	for (int i = 0; i < c->nseen; i++)
		if (c->seen_ids[i] == id)
			return true;
	if (c->nseen == (int)(sizeof(c->seen_ids) / sizeof(c->seen_ids[0]))) {
		memmove(c->seen_ids, c->seen_ids + 1, sizeof(c->seen_ids) - sizeof(c->seen_ids[0]));
		c->nseen--;
	}
	c->seen_ids[c->nseen++] = id;
	return false;
}

static char *
to_text(json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return s;
}

static int64_t
get_i64(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static bool
get_bool(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static const char *
get_str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
	    ? json_object_get_string(v)
	    : NULL;
}

static uint64_t
get_id(json_object *o)
{
	const char *s = get_str(o, "id");

	return s != NULL ? strtoull(s, NULL, 16) : 0;
}

/* --- the pair's state (P/state) ---------------------------------------------------------- */

char *
coord_pair_identity(const struct coord *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "app", json_object_new_string(c->app));
	return to_text(o);
}

char *
coord_pair_json(struct coord *c)
{
	struct coord_pair p;
	json_object *o = json_object_new_object(), *k = json_object_new_object();

	memset(&p, 0, sizeof(p));
	c->cbs.pair(c->cbs.arg, &p);
	json_object_object_add(o, "state", json_object_new_string(fo_state_str(p.fo.state)));
	json_object_object_add(o, "forced", json_object_new_boolean(p.fo.forced));
	json_object_object_add(o, "paused", json_object_new_boolean(p.fo.paused));
	json_object_object_add(o, "paused_until", json_object_new_int64(p.paused_until_wall));
	json_object_object_add(o, "active", json_object_new_boolean(p.fo.active));
	json_object_object_add(o, "active_since", json_object_new_int64(p.active_since_wall));
	json_object_object_add(o, "cause", json_object_new_int(p.fo.cause));
	json_object_object_add(o, "reason", json_object_new_string(p.fo.reason));
	json_object_object_add(k, "failovers", json_object_new_int64((int64_t)p.failovers));
	json_object_object_add(k, "failbacks", json_object_new_int64((int64_t)p.failbacks));
	json_object_object_add(k, "last_failover", json_object_new_int64(p.last_failover));
	json_object_object_add(k, "last_failback", json_object_new_int64(p.last_failback));
	json_object_object_add(o, "counters", k);
	json_object_object_add(o, "leader", json_object_new_string(c->node));
	json_object_object_add(o, "epoch", json_object_new_int64(c->epoch));
	json_object_object_add(o, "step", json_object_new_string(c->step));
	json_object_object_add(o, "at", json_object_new_int64(util_now_ms()));
	return to_text(o);
}

void
coord_pair_parse(struct coord *c, const struct etcd_kv *kv)
{
	json_object *o = json_tokener_parse(kv->value), *k;
	struct coord_pair p;
	const char *s;
	int st;

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		log_warnx("coordination: %s is not JSON: ignored", kv->key);
		return;
	}
	memset(&p, 0, sizeof(p));
	s = get_str(o, "state");
	for (st = FO_PRIMARY; st <= FO_FAILING_BACK; st++)
		if (s != NULL && strcmp(s, fo_state_str((enum fo_state)st)) == 0)
			break;
	if (st > FO_FAILING_BACK) {
		json_object_put(o);
		log_warnx("coordination: %s holds no known state: ignored", kv->key);
		return;
	}
	p.known = true;
	p.fo.state = (enum fo_state)st;
	p.fo.forced = get_bool(o, "forced");
	p.fo.paused = get_bool(o, "paused");
	p.paused_until_wall = get_i64(o, "paused_until");
	p.fo.paused_until = p.paused_until_wall != 0 ? util_wall_to_mono(p.paused_until_wall) : 0;
	p.fo.active = get_bool(o, "active");
	p.active_since_wall = get_i64(o, "active_since");
	p.fo.active_since = p.active_since_wall != 0 ? util_wall_to_mono(p.active_since_wall) : 0;
	p.fo.cause = (enum fo_cause)get_i64(o, "cause");
	if (p.fo.cause < FO_CAUSE_NONE || p.fo.cause > FO_CAUSE_RESTART)
		p.fo.cause = FO_CAUSE_NONE;
	strlcpy(p.fo.reason, (s = get_str(o, "reason")) != NULL ? s : "", sizeof(p.fo.reason));
	if (json_object_object_get_ex(o, "counters", &k)) {
		p.failovers = (uint64_t)get_i64(k, "failovers");
		p.failbacks = (uint64_t)get_i64(k, "failbacks");
		p.last_failover = get_i64(k, "last_failover");
		p.last_failback = get_i64(k, "last_failback");
	}
	strlcpy(p.leader, (s = get_str(o, "leader")) != NULL ? s : "", sizeof(p.leader));
	p.epoch = get_i64(o, "epoch");
	strlcpy(p.step, (s = get_str(o, "step")) != NULL ? s : "", sizeof(p.step));
	c->pair = p;
	json_object_put(o);
}

/* --- ops waiting ------------------------------------------------------------------------ */

static struct coord_op *
op_new(struct coord *c, enum coord_op_kind kind)
{
	struct coord_op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->kind = kind;
	op->next = c->ops;
	c->ops = op;
	return op;
}

static void
op_unlink(struct coord_op *op)
{
	struct coord_op **pp;

	for (pp = &op->c->ops; *pp != NULL; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
}

/* Ends an op: unlinked now, its callback from the loop. */
static void
op_finish(struct coord_op *op, bool ok, const char *why, json_object *reply, const char *acted_by)
{
	struct pending_done *pd = xcalloc(1, sizeof(*pd)), **pp;

	op_unlink(op);
	if (op->key[0] != '\0')
		(void)etcd_delete(op->c->etcd, op->key, false, coord_ignore_result, op->c);
	pd->op = op;
	pd->ok = ok;
	strlcpy(pd->why, why != NULL ? why : "", sizeof(pd->why));
	pd->reply = reply != NULL ? json_object_get(reply) : NULL;
	strlcpy(pd->acted_by, acted_by != NULL ? acted_by : "", sizeof(pd->acted_by));
	for (pp = &op->c->dones; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = pd;
	event_active(op->c->ev_done, EV_TIMEOUT, 0);
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coord *c = arg;

	while (c->dones != NULL) {
		struct pending_done *pd = c->dones;
		struct coord_op *op = pd->op;

		c->dones = pd->next;
		if (op->cb != NULL)
			op->cb(pd->ok, pd->why, op->arg);
		else if (op->ccb != NULL)
			op->ccb(pd->reply, pd->acted_by[0] != '\0' ? pd->acted_by : NULL,
			    pd->ok ? NULL : pd->why, op->arg);
		json_object_put(pd->reply);
		free(op);
		free(pd);
	}
}

void
coord_op_cancel(struct coord_op *op)
{
	struct pending_done **pp;

	if (op == NULL)
		return;
	for (pp = &op->c->dones; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->op == op) {
			struct pending_done *pd = *pp;

			*pp = pd->next;
			json_object_put(pd->reply);
			free(pd);
			free(op);
			return;
		}
	op_unlink(op);
	free(op);
}

void
coord_msg_init(struct coord *c)
{
	c->ev_done = event_new(c->d->base, -1, 0, done_cb, c);
}

void
coord_msg_free(struct coord *c)
{
	while (c->ops != NULL)
		coord_op_cancel(c->ops);
	while (c->dones != NULL) {
		struct pending_done *pd = c->dones;

		c->dones = pd->next;
		json_object_put(pd->reply);
		free(pd->op);
		free(pd);
	}
	event_free(c->ev_done);
}

void
coord_msg_fail_all(struct coord *c, const char *why)
{
	while (c->ops != NULL)
		op_finish(c->ops, false, why, NULL, NULL);
}

/* --- records (rule 2) --------------------------------------------------------------------- */

struct coord_op *
coord_msg_record(struct coord *c, uint64_t gen, coord_done_cb *cb, void *arg)
{
	struct coord_op *op = op_new(c, OP_RECORD);

	op->gen = gen;
	op->cb = cb;
	op->arg = arg;
	if (!coord_may_act(c))
		op_finish(op, false,
		    c->role == COORD_LEADER ? "cannot prove the etcd lease"
		                            : "this monitor does not lead",
		    NULL, NULL);
	else
		coord_record_kick(c);
	return op;
}

void
coord_msg_recorded(struct coord *c, uint64_t gen)
{
	struct coord_op *op, *next;

	for (op = c->ops; op != NULL; op = next) {
		next = op->next;
		if (op->kind == OP_RECORD && op->gen <= gen)
			op_finish(op, true, NULL, NULL, NULL);
	}
}

/* --- rule 5: push and pull asked of the monitor with STATE_DIR ------------------------ */

static const struct coord_view *
state_dir_view(const struct coord *c)
{
	for (int i = 0; i < c->nviews; i++)
		if (c->views[i].state_dir && strcmp(c->views[i].node, c->node) != 0)
			return &c->views[i];
	return NULL;
}

bool
coord_remote_state_dir(const struct coord *c)
{
	return c != NULL && state_dir_view(c) != NULL;
}

struct coord_op *
coord_ask(struct coord *c, const char *what, int64_t timeout_ms, coord_done_cb *cb, void *arg)
{
	const struct coord_view *v = state_dir_view(c);
	struct coord_op *op = op_new(c, OP_ASK);
	json_object *o;
	char *val;

	op->cb = cb;
	op->arg = arg;
	if (v == NULL) {
		op_finish(op, true, "no live monitor has STATE_DIR", NULL, NULL);
		return op;
	}
	op->id = new_id();
	op->deadline = util_mono_ms() + timeout_ms;
	strlcpy(op->target, v->node, sizeof(op->target));
	snprintf(op->key, sizeof(op->key), "%srequest/%s/%016" PRIx64, c->prefix, v->node, op->id);
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(op->key + strlen(op->key) - 16));
	json_object_object_add(o, "what", json_object_new_string(what));
	json_object_object_add(o, "from", json_object_new_string(c->node));
	val = to_text(o);
	(void)etcd_put(c->etcd, op->key, val, strlen(val), c->lease_id, coord_ignore_result, c);
	free(val);
	log_info("coordination: asked %s for the %s", v->node, what);
	return op;
}

void
coord_answer(struct coord *c, uint64_t id, bool ok, const char *why)
{
	json_object *o = json_object_new_object();
	char key[400], ids[17], *val;

	snprintf(ids, sizeof(ids), "%016" PRIx64, id);
	snprintf(key, sizeof(key), "%sanswer/%s", c->prefix, ids);
	json_object_object_add(o, "id", json_object_new_string(ids));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "why", json_object_new_string(why != NULL ? why : ""));
	json_object_object_add(o, "node", json_object_new_string(c->node));
	val = to_text(o);
	(void)etcd_put(c->etcd, key, val, strlen(val), c->lease_id, coord_ignore_result, c);
	free(val);
}

/* --- rule 6: pair-wide commands ------------------------------------------------------------ */

struct coord_op *
coord_forward(struct coord *c, json_object *req, coord_cmd_cb *cb, void *arg)
{
	struct coord_op *op;
	json_object *o;
	char *val;
	bool wait = get_bool(req, "wait");
	const char *cmd = get_str(req, "cmd");

	if (c->leader[0] == '\0' || c->role == COORD_LEADER || !c->ok || c->lease_id == 0)
		return NULL;
	op = op_new(c, OP_FORWARD);
	op->ccb = cb;
	op->arg = arg;
	op->id = new_id();
	strlcpy(op->target, c->leader, sizeof(op->target));
	/* force-* with wait and sync reply when done: no deadline but the
	 * leader's (a new leader ends the wait). */
	op->deadline = wait || (cmd != NULL && strcmp(cmd, "sync") == 0)
	    ? 0
	    : util_mono_ms() + FORWARD_TIMEOUT_MS;
	snprintf(op->key, sizeof(op->key), "%scommand/%s/%016" PRIx64, c->prefix, c->node, op->id);
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(op->key + strlen(op->key) - 16));
	json_object_object_add(o, "from", json_object_new_string(c->node));
	json_object_object_add(o, "req", json_object_get(req));
	val = to_text(o);
	(void)etcd_put(c->etcd, op->key, val, strlen(val), c->lease_id, coord_ignore_result, c);
	free(val);
	return op;
}

void
coord_command_done(struct coord *c, uint64_t id, const char *from, json_object *reply)
{
	json_object *o = json_object_new_object();
	char key[400], ids[17], *val;

	snprintf(ids, sizeof(ids), "%016" PRIx64, id);
	snprintf(key, sizeof(key), "%sresult/%s/%s", c->prefix, from, ids);
	json_object_object_add(o, "id", json_object_new_string(ids));
	json_object_object_add(o, "acted_by", json_object_new_string(c->node));
	json_object_object_add(o, "reply", reply);
	val = to_text(o);
	(void)etcd_put(c->etcd, key, val, strlen(val), c->lease_id, coord_ignore_result, c);
	free(val);
}

/* --- the poll's messages --------------------------------------------------------------------- */

static struct coord_op *
op_find(struct coord *c, enum coord_op_kind kind, uint64_t id)
{
	for (struct coord_op *op = c->ops; op != NULL; op = op->next)
		if (op->kind == kind && op->id == id)
			return op;
	return NULL;
}

static void
msg_one(struct coord *c, const struct etcd_kv *kv, const char *rest)
{
	size_t nlen = strlen(c->node);
	json_object *o = json_tokener_parse(kv->value);
	uint64_t id;
	struct coord_op *op;

	if (o == NULL || !json_object_is_type(o, json_type_object) || (id = get_id(o)) == 0) {
		json_object_put(o);
		return;
	}
	if (strncmp(rest, "request/", 8) == 0 && strncmp(rest + 8, c->node, nlen) == 0 &&
	    rest[8 + nlen] == '/') {
		const char *what = get_str(o, "what"), *from = get_str(o, "from");

		if (what != NULL && from != NULL && strcmp(from, c->leader) == 0 && !seen(c, id)) {
			log_info("coordination: the leader %s asks for the %s", from, what);
			c->cbs.ask(c->cbs.arg, id, what);
		}
	} else if (strncmp(rest, "answer/", 7) == 0) {
		if ((op = op_find(c, OP_ASK, id)) != NULL) {
			const char *why = get_str(o, "why");

			(void)etcd_delete(c->etcd, kv->key, false, coord_ignore_result, c);
			op_finish(op, get_bool(o, "ok"), why, NULL, get_str(o, "node"));
		}
	} else if (strncmp(rest, "command/", 8) == 0) {
		const char *from = get_str(o, "from");
		json_object *req;

		if (c->role == COORD_LEADER && from != NULL &&
		    json_object_object_get_ex(o, "req", &req) &&
		    json_object_is_type(req, json_type_object) && !seen(c, id))
			c->cbs.command(c->cbs.arg, id, from, req);
	} else if (strncmp(rest, "result/", 7) == 0 && strncmp(rest + 7, c->node, nlen) == 0 &&
	    rest[7 + nlen] == '/') {
		if ((op = op_find(c, OP_FORWARD, id)) != NULL) {
			json_object *reply = NULL;

			(void)json_object_object_get_ex(o, "reply", &reply);
			(void)etcd_delete(c->etcd, kv->key, false, coord_ignore_result, c);
			op_finish(op, true, NULL, reply, get_str(o, "acted_by"));
		}
	}
	json_object_put(o);
}

void
coord_msg_poll(struct coord *c, const struct etcd_result *r, const struct etcd_kv *leader)
{
	size_t plen = strlen(c->prefix);
	int64_t now = util_mono_ms();
	struct coord_op *op, *next;

	for (size_t i = 0; i < r->range.nkvs; i++)
		if (strncmp(r->range.kvs[i].key, c->prefix, plen) == 0)
			msg_one(c, &r->range.kvs[i], r->range.kvs[i].key + plen);
	for (op = c->ops; op != NULL; op = next) {
		bool live = false;
		char why[256];

		next = op->next;
		if (op->kind == OP_RECORD)
			continue;
		if (op->kind == OP_ASK) {
			for (int i = 0; i < c->nviews; i++)
				live |= strcmp(c->views[i].node, op->target) == 0;
			if (!live) {
				snprintf(why, sizeof(why), "%s, which has STATE_DIR, is gone",
				    op->target);
				op_finish(op, false, why, NULL, NULL);
				continue;
			}
		} else if (leader == NULL || strcmp(leader->value, op->target) != 0) {
			snprintf(why, sizeof(why), "the leader %s is gone before it answered",
			    op->target);
			op_finish(op, false, why, NULL, NULL);
			continue;
		}
		if (op->deadline != 0 && now >= op->deadline) {
			snprintf(why, sizeof(why), "%s did not answer in time", op->target);
			op_finish(op, false, why, NULL, NULL);
		}
	}
}
