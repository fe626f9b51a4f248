/*
 * Several monitors, one actor (COORDINATOR=etcd, contract §9). This file
 * owns this monitor's membership in etcd: its lease and the belief in it
 * (rule 4, the self-fence), its view (rule 1), the poll of the pair's keys,
 * the election (rule 2), the pair's state and the fenced records of action
 * steps (rule 2), and the agreement of the live views (rule 3). The
 * messages between monitors (rule 5's push and pull, rule 6's commands)
 * are coord_msg.c's; status and selftest coord_status.c's. Keys and reasoning: the note at the end
 * of etcd.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "coord.h"
#include "coord_int.h"
#include "daemon.h"
#include "etcd.h"
#include "events.h"
#include "hooks.h"
#include "log.h"
#include "proto.h"
#include "timer.h"
#include "util.h"

const char *
coord_role_str(enum coord_role r)
{
	return r == COORD_LEADER ? "leader" : r == COORD_FOLLOWER ? "follower" : "none";
}

static void poll_now(struct coord *);
static void view_put(struct coord *);
static void publish_kick(struct coord *);

/* --- errors: etcd unreachable, a refusal (rule 7) ---------------------------------- */

void
coord_set_error(struct coord *c, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (c->ok) {
		/* Once per outage; status shows the latest reason. */
		log_warnx("coordination: %s", buf);
		daemon_error(c->d, "etcd", "%s", buf);
	} else if (strcmp(buf, c->error) != 0)
		log_debug("coordination: %s", buf);
	c->ok = false;
	strlcpy(c->error, buf, sizeof(c->error));
	daemon_status_changed(c->d);
}

static void
coord_set_ok(struct coord *c)
{
	if (c->ok)
		return;
	c->ok = true;
	c->error[0] = '\0';
	log_info("coordination: etcd answers (%s)", c->ok_detail);
	daemon_error_cleared(c->d, "etcd", "etcd answers again");
	daemon_status_changed(c->d);
}

/* --- roles -------------------------------------------------------------------------- */

static void
leader_event(struct coord *c)
{
	json_object *f = json_object_new_object();

	json_object_object_add(
	    f, "node", c->leader[0] != '\0' ? json_object_new_string(c->leader) : NULL);
	json_object_object_add(f, "epoch", json_object_new_int64(c->leader_epoch));
	json_object_object_add(f, "role", json_object_new_string(coord_role_str(c->role)));
	events_emit(c->d->events, "leader", f);
	daemon_status_changed(c->d);
}

/* The observed leader or our role changed: one `leader` event. */
static void
leader_seen(struct coord *c, const char *name, int64_t epoch, enum coord_role role)
{
	bool changed = strcmp(c->leader, name) != 0 || c->leader_epoch != epoch || c->role != role;

	if (!changed)
		return;
	strlcpy(c->leader, name, sizeof(c->leader));
	c->leader_epoch = epoch;
	c->role = role;
	if (name[0] != '\0')
		log_info("coordination: leader %s (epoch %lld), this monitor (%s) is %s", name,
		    (long long)epoch, c->node, coord_role_str(role));
	else
		log_info("coordination: no leader; this monitor (%s) is %s", c->node,
		    coord_role_str(role));
	leader_event(c);
}

/* This monitor stops leading (it may already have). */
void
coord_step_down(struct coord *c, const char *why)
{
	bool was = c->role == COORD_LEADER;
	enum coord_role to = c->joined && !c->isolated ? COORD_FOLLOWER : COORD_NONE;

	coord_msg_fail_all(c, why);
	if (was) {
		log_warnx("coordination: %s stops leading: %s", c->node, why);
		hooks_set_quiet(c->hooks, true);
		c->cbs.follow(c->cbs.arg, why);
		leader_seen(c, "", c->leader_epoch, to);
	} else if (c->role != to)
		leader_seen(c, c->leader, c->leader_epoch, to);
}

static void
become_leader(struct coord *c, int64_t epoch)
{
	c->epoch = epoch;
	c->publish_dirty = true;
	hooks_set_quiet(c->hooks, false);
	leader_seen(c, c->node, epoch, COORD_LEADER);
	c->cbs.lead(c->cbs.arg, &c->pair);
	publish_kick(c);
}

/* --- the lease and the belief in it (rules 1 and 4) --------------------------------- */

/* Past held_until this monitor cannot prove it holds its lease. */
static void
isolate(struct coord *c)
{
	char buf[256];
	json_object *f;

	if (c->isolated)
		return;
	c->isolated = true;
	snprintf(buf, sizeof(buf), "%s (%.1fs without a renewal; ELECTION_TTL %llds)%s%s",
	    c->lease_id != 0 ? "cannot prove the etcd lease any more" : "no etcd lease",
	    (double)(util_mono_ms() - c->renew_sent) / 1000.0, (long long)(c->ttl_ms / 1000),
	    c->role == COORD_LEADER ? "; stops leading" : "",
	    c->d->cfg->self_fence_cmd != NULL && !c->self_fenced ? "; running SELF_FENCE_CMD" : "");
	log_warnx("coordination: %s", buf);
	f = json_object_new_object();
	json_object_object_add(f, "detail", json_object_new_string(buf));
	events_emit(c->d->events, "isolated", f);
	coord_step_down(c, "cannot prove the etcd lease");
	if (c->d->cfg->self_fence_cmd != NULL && !c->self_fenced) {
		c->self_fenced = true;
		if (hooks_run(c->hooks, HOOK_SELF_FENCE, NULL, NULL) == -1)
			log_warnx("coordination: cannot start SELF_FENCE_CMD");
	}
}

static void
fence_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coord *c = arg;
	int64_t now = util_mono_ms();

	if (c->lease_id == 0 && !c->had_lease)
		return;
	if (now >= c->held_until)
		isolate(c);
	else
		util_timer_in(c->ev_fence, c->held_until - now);
}

/* A renewal sent at `sent` came back: the lease lives until sent + TTL on
 * etcd's side; we believe it until sent + TTL x 2/3. */
static void
lease_proven(struct coord *c, int64_t sent)
{
	if (sent > c->renew_sent)
		c->renew_sent = sent;
	c->held_until = c->renew_sent + c->ttl_ms * 2 / 3;
	c->had_lease = true;
	util_timer_in(c->ev_fence, c->held_until - util_mono_ms());
	if (c->isolated) {
		c->isolated = false;
		c->self_fenced = false;
		log_info("coordination: the lease is proven again");
		if (c->joined && c->role == COORD_NONE)
			leader_seen(c, c->leader, c->leader_epoch, COORD_FOLLOWER);
	}
}

static void grant(struct coord *);

static void
lease_gone(struct coord *c, const char *why)
{
	log_warnx("coordination: lease %llx lost: %s", (unsigned long long)c->lease_id, why);
	c->lease_id = 0;
	c->joined = false;
	c->view_mod = 0;
	etcd_cancel(c->view_call);
	c->view_call = NULL;
	if (c->held_until > util_mono_ms())
		c->held_until = util_mono_ms(); /* nothing left to believe */
	isolate(c);
	coord_step_down(c, why);
	grant(c);
}

static void
grant_done(const struct etcd_result *r, void *arg)
{
	struct coord *c = arg;

	c->grant_call = NULL;
	if (!r->ok) {
		coord_set_error(c, "etcd: cannot grant a lease: %s", r->error);
		return; /* the keepalive timer tries again */
	}
	c->lease_id = r->lease_id;
	c->renew_sent = 0;
	log_info("coordination: lease %llx granted (TTL %llds)", (unsigned long long)r->lease_id,
	    (long long)r->ttl);
	lease_proven(c, r->sent_mono);
	c->view_dirty = true;
	view_put(c);
}

static void
grant(struct coord *c)
{
	if (c->grant_call != NULL || c->lease_id != 0)
		return;
	c->grant_call = etcd_lease_grant(c->etcd, c->ttl_ms / 1000, grant_done, c);
}

static void
keepalive_done(const struct etcd_result *r, void *arg)
{
	struct coord *c = arg;
	int64_t every = c->ttl_ms / 3;

	c->keep_call = NULL;
	if (r->ok && r->lease_lost) {
		lease_gone(c, "etcd says it expired");
		util_timer_in(c->ev_keep, every);
		return;
	}
	if (!r->ok) {
		coord_set_error(c, "etcd: cannot renew the lease: %s", r->error);
		/* Again soon: one lost renewal must not cost the lease. */
		util_timer_in(c->ev_keep, every < 250 ? every : 250);
		return;
	}
	lease_proven(c, r->sent_mono);
	util_timer_in(c->ev_keep, every);
}

static void
keep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coord *c = arg;
	int64_t now = util_mono_ms(),
	        stale = 3 * c->d->cfg->check_interval_ms + c->d->cfg->check_timeout_ms;

	util_timer_in(c->ev_keep, c->ttl_ms / 3);
	if (c->lease_id == 0) {
		grant(c);
		return;
	}
	/* Rule 1: a monitor whose checking is stuck stops renewing. */
	if (fo_next_check_delay(c->fo) >= 0 && c->check_end != 0 && now - c->check_end > stale) {
		if (!c->stale_told)
			log_warnx("coordination: no check ended for %llds: not renewing the lease",
			    (long long)((now - c->check_end) / 1000));
		c->stale_told = true;
		return;
	}
	c->stale_told = false;
	if (c->keep_call == NULL)
		c->keep_call = etcd_lease_keepalive(c->etcd, c->lease_id, keepalive_done, c);
}

/* --- the view (rule 1) ------------------------------------------------------------------ */

static char *
view_json(const struct coord *c)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "node", json_object_new_string(c->node));
	json_object_object_add(o, "state_dir", json_object_new_boolean(c->state_dir));
	json_object_object_add(
	    o, "healthy", c->me.known ? json_object_new_boolean(c->me.healthy) : NULL);
	json_object_object_add(o, "failures", json_object_new_int(c->me.failures));
	json_object_object_add(o, "successes", json_object_new_int(c->me.successes));
	json_object_object_add(o, "at", json_object_new_int64(c->me.at));
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static void
view_done(const struct etcd_result *r, void *arg)
{
	struct coord *c = arg;
	const struct etcd_kv *kv;

	c->view_call = NULL;
	if (!r->ok && strstr(r->error, "lease not found") != NULL) {
		/* Revoked or expired: no need to wait for the next renewal. */
		lease_gone(c, "etcd no longer knows it");
		return;
	}
	if (!r->ok) {
		coord_set_error(c, "etcd: cannot put this monitor's view: %s", r->error);
		return; /* the next poll tries again */
	}
	if (r->succeeded) {
		c->view_mod = r->revision;
		if (!c->joined) {
			c->joined = true;
			c->dup = false;
			log_info("coordination: %s joined %s", c->node, c->prefix);
			if (c->role == COORD_NONE && !c->isolated)
				leader_seen(c, c->leader, c->leader_epoch, COORD_FOLLOWER);
		}
		if (c->view_dirty)
			view_put(c);
		return;
	}
	/* The compare failed: someone else's key, or ours from a resent put. */
	kv = r->nresponses > 0 && r->responses[0].range.nkvs > 0 ? &r->responses[0].range.kvs[0]
	                                                         : NULL;
	if (kv == NULL || kv->lease == c->lease_id) {
		c->view_mod = kv != NULL ? kv->mod_revision : 0;
		c->view_dirty = true;
		view_put(c);
		return;
	}
	c->joined = false;
	c->dup = true;
	coord_set_error(c,
	    "NODE_NAME %s is used by another live monitor of this pair (etcd lease %llx): "
	    "this monitor stays out until that one is gone; give each monitor its own NODE_NAME",
	    c->node, (unsigned long long)kv->lease);
}

static void
view_put(struct coord *c)
{
	struct etcd_txn *t;
	char *v;

	if (c->lease_id == 0 || c->view_call != NULL || !c->identity_ok)
		return;
	c->view_dirty = false;
	v = view_json(c);
	t = etcd_txn_new();
	etcd_txn_compare(t, c->k_me, ETCD_MOD, ETCD_EQUAL, c->view_mod, NULL, 0);
	etcd_txn_put(t, true, c->k_me, v, strlen(v), c->lease_id);
	etcd_txn_range(t, false, c->k_me, false);
	c->view_call = etcd_txn_run(c->etcd, t, view_done, c);
	etcd_txn_free(t);
	free(v);
}

void
coord_checked(struct coord *c, bool healthy, int failures, int successes)
{
	if (c == NULL)
		return;
	c->check_end = util_mono_ms();
	c->me.known = true;
	c->me.healthy = healthy;
	c->me.failures = failures;
	c->me.successes = successes;
	c->me.at = util_now_ms();
	c->view_dirty = true;
	view_put(c);
	coord_agreement(c);
}

/* --- the poll: one range of the prefix (leader, state, views, messages) ------------- */

static bool
parse_view(const struct etcd_kv *kv, struct coord_view *v)
{
	json_object *o = json_tokener_parse(kv->value), *x;
	bool ok = o != NULL && json_object_is_type(o, json_type_object);

	memset(v, 0, sizeof(*v));
	if (ok && json_object_object_get_ex(o, "node", &x) &&
	    json_object_is_type(x, json_type_string))
		strlcpy(v->node, json_object_get_string(x), sizeof(v->node));
	else
		ok = false;
	if (ok && json_object_object_get_ex(o, "healthy", &x) && x != NULL) {
		v->known = true;
		v->healthy = json_object_get_boolean(x);
	}
	if (ok && json_object_object_get_ex(o, "failures", &x))
		v->failures = json_object_get_int(x);
	if (ok && json_object_object_get_ex(o, "successes", &x))
		v->successes = json_object_get_int(x);
	if (ok && json_object_object_get_ex(o, "at", &x))
		v->at = json_object_get_int64(x);
	if (ok && json_object_object_get_ex(o, "state_dir", &x))
		v->state_dir = json_object_get_boolean(x);
	v->lease = kv->lease;
	json_object_put(o);
	return ok;
}

static void
pair_done(const struct etcd_result *r, void *arg)
{
	struct coord *c = arg;

	(void)r; /* the next poll reads what is there */
	c->pair_call = NULL;
}

static void
identity_check(struct coord *c, const struct etcd_kv *kv)
{
	json_object *o, *x;
	const char *app = NULL;

	if (kv == NULL) {
		/* The first monitor of the pair names it (put if absent). */
		struct etcd_txn *t;
		char *v = coord_pair_identity(c);

		c->identity_ok = true;
		t = etcd_txn_new();
		etcd_txn_compare(t, c->k_pair, ETCD_CREATE, ETCD_EQUAL, 0, NULL, 0);
		etcd_txn_put(t, true, c->k_pair, v, strlen(v), 0);
		etcd_cancel(c->pair_call);
		c->pair_call = etcd_txn_run(c->etcd, t, pair_done, c);
		etcd_txn_free(t);
		free(v);
		return;
	}
	o = json_tokener_parse(kv->value);
	if (o != NULL && json_object_object_get_ex(o, "app", &x))
		app = json_object_get_string(x);
	if (app != NULL && strcmp(app, c->app) == 0) {
		c->identity_ok = true;
		c->foreign = false;
	} else {
		c->identity_ok = false;
		c->foreign = true;
		coord_set_error(c,
		    "ETCD_PREFIX %s belongs to another pair (FLY_APP \"%s\", this monitor's is "
		    "\"%s\"): this monitor stays out; give each pair its own ETCD_PREFIX",
		    c->prefix, app != NULL ? app : "?", c->app);
	}
	json_object_put(o);
}

static void
poll_done(const struct etcd_result *r, void *arg)
{
	struct coord *c = arg;
	const struct etcd_kv *leader = NULL, *state = NULL, *pair = NULL;
	size_t plen = strlen(c->prefix);

	c->poll_call = NULL;
	if (!r->ok) {
		coord_set_error(c, "etcd: cannot read %s: %s", c->prefix, r->error);
		/* The views are unknown now: no agreement to anything (rule 3),
		 * not an agreement of this monitor with itself. */
		c->views_known = false;
		coord_agreement(c);
		return;
	}
	c->views_known = true;
	snprintf(c->ok_detail, sizeof(c->ok_detail), "%s", r->endpoint != NULL ? r->endpoint : "");
	c->nviews = 0;
	for (size_t i = 0; i < r->range.nkvs; i++) {
		const struct etcd_kv *kv = &r->range.kvs[i];
		const char *rest = kv->key + plen;

		if (strncmp(kv->key, c->prefix, plen) != 0)
			continue;
		if (strcmp(rest, "leader") == 0)
			leader = kv;
		else if (strcmp(rest, "state") == 0)
			state = kv;
		else if (strcmp(rest, "pair") == 0)
			pair = kv;
		else if (strncmp(rest, "members/", 8) == 0 && c->nviews < COORD_MAX_VIEWS &&
		    parse_view(kv, &c->views[c->nviews]))
			c->nviews++;
	}
	if (!c->dup && !(c->foreign && pair != NULL))
		coord_set_ok(c);
	identity_check(c, pair);
	if (c->identity_ok && c->lease_id != 0 && (c->view_dirty || !c->joined))
		view_put(c);
	if (state != NULL && state->mod_revision != c->state_mod) {
		c->state_mod = state->mod_revision;
		coord_pair_parse(c, state);
		if (c->role != COORD_LEADER && c->pair.known)
			c->cbs.adopt(c->cbs.arg, &c->pair);
	}
	coord_msg_poll(c, r, leader);

	if (leader == NULL) {
		if (c->role == COORD_LEADER)
			coord_step_down(c, "the leader key is gone");
		else
			leader_seen(c, "", c->leader_epoch, c->role);
		coord_campaign(c);
	} else if (leader->lease == c->lease_id && c->lease_id != 0 &&
	    strcmp(leader->value, c->node) == 0) {
		if (c->role != COORD_LEADER && c->campaign_call == NULL && coord_may_lead(c))
			become_leader(c, leader->create_revision);
	} else {
		if (c->role == COORD_LEADER)
			coord_step_down(c, "another monitor leads");
		leader_seen(c, leader->value, leader->create_revision,
		    c->joined && !c->isolated ? COORD_FOLLOWER : COORD_NONE);
	}
	coord_agreement(c);
	if (c->publish_dirty)
		publish_kick(c);
}

static void
poll_now(struct coord *c)
{
	if (c->poll_call == NULL)
		c->poll_call = etcd_range(c->etcd, c->prefix, true, poll_done, c);
}

static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coord *c = arg;

	util_timer_in(c->ev_poll, c->poll_ms);
	poll_now(c);
}

/* --- the election (rule 2) ----------------------------------------------------------- */

bool
coord_may_lead(const struct coord *c)
{
	return c->lease_id != 0 && c->joined && !c->isolated && !c->dup && !c->foreign &&
	    !c->stopping && util_mono_ms() < c->held_until;
}

static void
campaign_done(const struct etcd_result *r, void *arg)
{
	struct coord *c = arg;
	const struct etcd_kv *kv;

	c->campaign_call = NULL;
	if (!r->ok) {
		coord_set_error(c, "etcd: campaign failed: %s", r->error);
		return;
	}
	if (r->succeeded) {
		/* The put's revision is the key's create revision: the epoch. The
		 * pair's state was read in the same transaction. */
		if (r->nresponses > 1 && r->responses[1].range.nkvs > 0) {
			const struct etcd_kv *st = &r->responses[1].range.kvs[0];

			c->state_mod = st->mod_revision;
			coord_pair_parse(c, st);
		}
		if (coord_may_lead(c))
			become_leader(c, r->revision);
		return;
	}
	kv = r->nresponses > 0 && r->responses[0].range.nkvs > 0 ? &r->responses[0].range.kvs[0]
	                                                         : NULL;
	if (kv != NULL && kv->lease == c->lease_id && strcmp(kv->value, c->node) == 0) {
		if (coord_may_lead(c))
			become_leader(c, kv->create_revision); /* a resent campaign had won */
		return;
	}
	if (kv != NULL)
		leader_seen(c, kv->value, kv->create_revision, COORD_FOLLOWER);
}

void
coord_campaign(struct coord *c)
{
	struct etcd_txn *t;

	if (c->campaign_call != NULL || c->role == COORD_LEADER || !coord_may_lead(c))
		return;
	t = etcd_txn_new();
	etcd_txn_compare(t, c->k_leader, ETCD_CREATE, ETCD_EQUAL, 0, NULL, 0);
	etcd_txn_put(t, true, c->k_leader, c->node, strlen(c->node), c->lease_id);
	etcd_txn_range(t, true, c->k_state, false);
	etcd_txn_range(t, false, c->k_leader, false);
	c->campaign_call = etcd_txn_run(c->etcd, t, campaign_done, c);
	etcd_txn_free(t);
}

/* --- the pair's state and the fenced records (rule 2) -------------------------------- */

bool
coord_may_act(const struct coord *c)
{
	return c != NULL && c->role == COORD_LEADER && !c->isolated &&
	    util_mono_ms() < c->held_until;
}

static void
publish_done(const struct etcd_result *r, void *arg)
{
	struct coord *c = arg;

	c->publish_call = NULL;
	if (!r->ok) {
		/* Unproven, not refused: tried again at the next poll; the
		 * records waiting fail when the lease can no longer be believed. */
		coord_set_error(c, "etcd: cannot record the pair's state: %s", r->error);
		c->publish_dirty = true;
		return;
	}
	if (!r->succeeded) {
		daemon_error(c->d, "fencing",
		    "the pair's state was not recorded: this monitor's leader key (epoch %lld) is "
		    "gone; the action stops",
		    (long long)c->epoch);
		coord_step_down(c, "fenced: the leader key no longer holds this monitor's epoch");
		return;
	}
	c->state_mod = r->revision;
	coord_msg_recorded(c, c->publish_gen_sent);
	if (c->publish_dirty)
		publish_kick(c);
}

static void
publish_kick(struct coord *c)
{
	struct etcd_txn *t;
	char *v;

	if (c->role != COORD_LEADER || c->publish_call != NULL)
		return;
	if (!coord_may_act(c)) {
		coord_msg_fail_all(c, "cannot prove the etcd lease");
		return;
	}
	c->publish_dirty = false;
	c->publish_gen_sent = c->publish_gen;
	v = coord_pair_json(c);
	t = etcd_txn_new();
	etcd_txn_compare(t, c->k_leader, ETCD_CREATE, ETCD_EQUAL, c->epoch, NULL, 0);
	etcd_txn_put(t, true, c->k_state, v, strlen(v), 0);
	c->publish_call = etcd_txn_run(c->etcd, t, publish_done, c);
	etcd_txn_free(t);
	free(v);
}

void
coord_publish(struct coord *c)
{
	if (c == NULL || c->role != COORD_LEADER)
		return;
	c->publish_dirty = true;
	c->publish_gen++;
	publish_kick(c);
}

struct coord_op *
coord_record(struct coord *c, const char *step, coord_done_cb *cb, void *arg)
{
	strlcpy(c->step, step, sizeof(c->step));
	c->publish_dirty = true;
	c->publish_gen++;
	return coord_msg_record(c, c->publish_gen, cb, arg);
}

void
coord_record_kick(struct coord *c)
{
	publish_kick(c);
}

/* --- agreement (rule 3) ---------------------------------------------------------------- */

/* A view that agrees to a failover (over) or a failback (!over). */
static bool
view_meets(const struct coord *c, const struct coord_view *v, bool over)
{
	return over ? v->known && !v->healthy && v->failures >= c->d->cfg->failure_threshold
	            : v->known && v->healthy && v->successes >= c->d->cfg->recovery_threshold;
}

/* The live views, this monitor's own as of its last check: i-th, or NULL. */
const struct coord_view *
coord_view_at(const struct coord *c, int i)
{
	if (i < c->nviews)
		return strcmp(c->views[i].node, c->node) == 0 ? NULL : &c->views[i];
	return i == c->nviews && c->joined ? &c->me : NULL;
}

void
coord_agreement(struct coord *c)
{
	const struct fo *fo = c->fo;
	int n = 0, nover = 0, nback = 0;
	bool over, back, hold_over, hold_back;
	char held[256] = "", names[192] = "";
	const struct coord_view *v;

	for (int i = 0; i <= c->nviews; i++) {
		if ((v = coord_view_at(c, i)) == NULL)
			continue;
		n++;
		nover += view_meets(c, v, true);
		nback += view_meets(c, v, false);
	}
	over = c->views_known && n > 0 && nover == n;
	back = c->views_known && n > 0 && nback == n;
	/* Held back: a monitor has met the threshold while another still sees
	 * the primary the other way (not merely one that has not yet counted
	 * as far: checks are not in step). */
	hold_over = c->views_known && fo->state == FO_PRIMARY && nover > 0 && !over;
	hold_back = c->views_known && fo->state == FO_STANDBY && nback > 0 && !back;
	c->nheld = 0;
	for (int i = 0; (hold_over || hold_back) && i <= c->nviews; i++) {
		if ((v = coord_view_at(c, i)) == NULL || !v->known || v->healthy != hold_over ||
		    c->nheld >= COORD_MAX_VIEWS)
			continue;
		strlcpy(c->held[c->nheld++], v->node, COORD_NODE_LEN);
		if (names[0] != '\0')
			strlcat(names, ", ", sizeof(names));
		strlcat(names, v->node, sizeof(names));
	}
	if (c->nheld > 0)
		snprintf(held, sizeof(held), "%s held back: %s %s the primary %s",
		    hold_over ? "failover" : "failback", names, c->nheld == 1 ? "sees" : "see",
		    hold_over ? "healthy" : "failing");
	if (strcmp(held, c->held_text) != 0) {
		strlcpy(c->held_text, held, sizeof(c->held_text));
		if (held[0] != '\0') {
			json_object *f = json_object_new_object();

			log_info("coordination: %s", held);
			json_object_object_add(f, "detail", json_object_new_string(held));
			events_emit(c->d->events, "quorum", f);
		}
		daemon_status_changed(c->d);
	}
	if (over != c->agree_over || back != c->agree_back || !c->agree_told) {
		c->agree_over = over;
		c->agree_back = back;
		c->agree_told = true;
		c->cbs.agree(c->cbs.arg, over, back);
	}
}

/* --- life cycle ------------------------------------------------------------------------- */

struct coord *
coord_new(
    struct daemon *d, struct hooks *hooks, const struct coord_cbs *cbs, char *err, size_t errlen)
{
	const struct config *cfg = d->cfg;
	struct etcd_config ec;
	struct coord *c;
	char host[COORD_NODE_LEN];

	if (cfg->coordinator == NULL || strcmp(cfg->coordinator, "etcd") != 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->hooks = hooks;
	c->cbs = *cbs;
	c->fo = cbs->fo;
	c->ttl_ms = cfg->election_ttl_ms;
	c->poll_ms = c->ttl_ms / 3 < 1000 ? c->ttl_ms / 3 : 1000;
	c->state_dir = cfg->state_dir != NULL;
	c->ok = true; /* until the first call says otherwise */
	c->me.state_dir = c->state_dir;
	if (cfg->node_name != NULL)
		strlcpy(c->node, cfg->node_name, sizeof(c->node));
	else {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		strlcpy(c->node, host, sizeof(c->node));
	}
	strlcpy(c->me.node, c->node, sizeof(c->me.node));
	strlcpy(c->app, cfg->fly_app != NULL ? cfg->fly_app : "", sizeof(c->app));
	if (cfg->etcd_prefix != NULL)
		strlcpy(c->prefix, cfg->etcd_prefix, sizeof(c->prefix));
	else
		snprintf(c->prefix, sizeof(c->prefix), "/failoverd/%s",
		    cfg->fly_app != NULL        ? cfg->fly_app
		        : cfg->instance != NULL ? cfg->instance
		                                : "default");
	while (strlen(c->prefix) > 1 && c->prefix[strlen(c->prefix) - 1] == '/')
		c->prefix[strlen(c->prefix) - 1] = '\0';
	strlcat(c->prefix, "/", sizeof(c->prefix));
	snprintf(c->k_leader, sizeof(c->k_leader), "%sleader", c->prefix);
	snprintf(c->k_state, sizeof(c->k_state), "%sstate", c->prefix);
	snprintf(c->k_pair, sizeof(c->k_pair), "%spair", c->prefix);
	snprintf(c->k_me, sizeof(c->k_me), "%smembers/%s", c->prefix, c->node);

	memset(&ec, 0, sizeof(ec));
	ec.endpoints = cfg->etcd_endpoints;
	/* A sixth of the TTL (at most 2 s): a renewal that fails leaves time
	 * for another (250 ms later) within the belief's TTL x 2/3. */
	ec.timeout_ms = c->ttl_ms / 6 < 2000 ? c->ttl_ms / 6 : 2000;
	ec.user = cfg->etcd_user;
	ec.password = cfg->etcd_password;
	ec.ca_file = cfg->etcd_ca_file;
	ec.cert_file = cfg->etcd_cert_file;
	ec.key_file = cfg->etcd_key_file;
	c->etcd = etcd_new(d->base, d->http, &ec, err, errlen);
	if (c->etcd == NULL) {
		free(c);
		return NULL;
	}
	c->ev_keep = evtimer_new(d->base, keep_cb, c);
	c->ev_poll = evtimer_new(d->base, poll_cb, c);
	c->ev_fence = evtimer_new(d->base, fence_cb, c);
	/* Before any input of the same pass: a lease past belief stops the
	 * leader before a provider timer can send anything. */
	event_priority_set(c->ev_fence, PRIO_ENGINE);
	coord_msg_init(c);
	hooks_set_quiet(hooks, true); /* until elected */
	return c;
}

void
coord_start(struct coord *c)
{
	if (c == NULL)
		return;
	log_info("coordination: %s in %s through %s (ELECTION_TTL %llds)", c->node, c->prefix,
	    c->d->cfg->etcd_endpoints, (long long)(c->ttl_ms / 1000));
	/* Rule 4 from the start: a monitor that gets no lease within
	 * ELECTION_TTL x 2/3 counts as cut off (a primary's host that boots
	 * without its network fences itself like one that loses it). */
	c->renew_sent = util_mono_ms();
	c->held_until = c->renew_sent + c->ttl_ms * 2 / 3;
	c->had_lease = true;
	util_timer_in(c->ev_fence, c->held_until - c->renew_sent);
	grant(c);
	poll_now(c);
	util_timer_in(c->ev_keep, c->ttl_ms / 3);
	util_timer_in(c->ev_poll, c->poll_ms);
}

static void
revoke_done(const struct etcd_result *r, void *arg)
{
	(void)r;
	*(bool *)arg = true;
}

void
coord_free(struct coord *c)
{
	if (c == NULL)
		return;
	c->stopping = true;
	coord_msg_free(c);
	etcd_cancel(c->grant_call);
	etcd_cancel(c->keep_call);
	etcd_cancel(c->view_call);
	etcd_cancel(c->poll_call);
	etcd_cancel(c->campaign_call);
	etcd_cancel(c->publish_call);
	etcd_cancel(c->pair_call);
	etcd_cancel(c->st_call);
	if (c->lease_id != 0) {
		/* The others need not wait for the lease to expire: revoke it,
		 * bounded by the etcd timeout (the loop runs only for this). */
		bool done = false;

		if (etcd_lease_revoke(c->etcd, c->lease_id, revoke_done, &done) != NULL)
			while (!done && event_base_loop(c->d->base, EVLOOP_ONCE) == 0)
				;
	}
	etcd_free(c->etcd);
	event_free(c->ev_keep);
	event_free(c->ev_poll);
	event_free(c->ev_fence);
	free(c);
}

enum coord_role
coord_role(const struct coord *c)
{
	return c != NULL ? c->role : COORD_NONE;
}

const char *
coord_node(const struct coord *c)
{
	return c->node;
}

const struct coord_pair *
coord_pair(const struct coord *c)
{
	return c != NULL ? &c->pair : NULL;
}
