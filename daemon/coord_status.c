/*
 * What the coordination shows (contract §9): status.coordination, and the
 * selftest's checks of etcd (it answers, with the credentials) and of
 * NODE_NAME (no other live monitor holds it).
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "coord.h"
#include "coord_int.h"
#include "daemon.h"
#include "etcd.h"
#include "proto.h"
#include "util.h"

/* --- selftest ------------------------------------------------------------------------------ */

static void
selftest_done(const struct etcd_result *r, void *arg)
{
	struct coord *c = arg;
	coord_check_cb *cb = c->st_cb;
	void *cbarg = c->st_arg;
	const struct etcd_kv *mine = NULL;
	char names[256] = "", buf[512];

	c->st_call = NULL;
	c->st_cb = NULL;
	if (!r->ok) {
		bool auth = r->status == 401 || strstr(r->error, "authenticat") != NULL;

		snprintf(buf, sizeof(buf), "%s", r->error);
		cb(auth && c->d->cfg->etcd_user != NULL ? "etcd-auth" : "etcd", false, buf, cbarg);
		cb(NULL, false, NULL, cbarg);
		return;
	}
	for (size_t i = 0; i < r->range.nkvs; i++) {
		const struct etcd_kv *kv = &r->range.kvs[i];
		const char *name =
		    strrchr(kv->key, '/') != NULL ? strrchr(kv->key, '/') + 1 : kv->key;

		if (names[0] != '\0')
			strlcat(names, ", ", sizeof(names));
		strlcat(names, name, sizeof(names));
		if (strcmp(kv->key, c->k_me) == 0)
			mine = kv;
	}
	snprintf(buf, sizeof(buf), "etcd answers at %s (revision %lld); live monitors of %s: %s",
	    r->endpoint != NULL ? r->endpoint : "?", (long long)r->revision, c->prefix,
	    names[0] != '\0' ? names : "none");
	cb("etcd", true, buf, cbarg);
	if (c->d->cfg->etcd_user != NULL) {
		snprintf(buf, sizeof(buf), "authenticated as ETCD_USER %s", c->d->cfg->etcd_user);
		cb("etcd-auth", true, buf, cbarg);
	}
	if (mine != NULL && mine->lease != c->lease_id)
		snprintf(buf, sizeof(buf),
		    "NODE_NAME %s is held by another live monitor (etcd lease %llx): give each "
		    "monitor its own NODE_NAME",
		    c->node, (unsigned long long)mine->lease);
	else
		snprintf(buf, sizeof(buf), "NODE_NAME %s is %s", c->node,
		    mine != NULL ? "this monitor's" : "free (this monitor has not joined yet)");
	cb("node-name", mine == NULL || mine->lease == c->lease_id, buf, cbarg);
	cb(NULL, true, NULL, cbarg);
}

int
coord_selftest(struct coord *c, coord_check_cb *cb, void *arg)
{
	char key[300];

	if (c->st_call != NULL)
		return -1;
	snprintf(key, sizeof(key), "%smembers/", c->prefix);
	c->st_cb = cb;
	c->st_arg = arg;
	c->st_call = etcd_range(c->etcd, key, true, selftest_done, c);
	return c->st_call != NULL ? 0 : -1;
}

void
coord_selftest_cancel(struct coord *c)
{
	if (c == NULL)
		return;
	etcd_cancel(c->st_call);
	c->st_call = NULL;
	c->st_cb = NULL;
}

json_object *
coord_status_json(const struct coord *c)
{
	json_object *o, *a;
	int64_t left;

	if (c == NULL)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "coordinator", json_object_new_string("etcd"));
	json_object_object_add(o, "ok", json_object_new_boolean(c->ok));
	json_object_object_add(o, "node", json_object_new_string(c->node));
	json_object_object_add(o, "role", json_object_new_string(coord_role_str(c->role)));
	json_object_object_add(
	    o, "leader", c->leader[0] != '\0' ? json_object_new_string(c->leader) : NULL);
	json_object_object_add(o, "epoch", json_object_new_int64(c->leader_epoch));
	left =
	    c->lease_id != 0 && c->renew_sent != 0 ? c->renew_sent + c->ttl_ms - util_mono_ms() : 0;
	json_object_object_add(
	    o, "lease_ttl_s", json_object_new_double(left > 0 ? (double)(left / 100) / 10.0 : 0.0));
	a = json_object_new_array();
	for (int i = 0; i <= c->nviews; i++) {
		const struct coord_view *v = coord_view_at(c, i);
		json_object *m;

		if (v == NULL)
			continue;
		m = json_object_new_object();
		json_object_object_add(m, "node", json_object_new_string(v->node));
		json_object_object_add(
		    m, "healthy", v->known ? json_object_new_boolean(v->healthy) : NULL);
		json_object_object_add(m, "failures", json_object_new_int(v->failures));
		json_object_object_add(m, "successes", json_object_new_int(v->successes));
		json_object_object_add(m, "at", v->at != 0 ? json_time_or_null(v->at) : NULL);
		json_object_object_add(m, "state_dir", json_object_new_boolean(v->state_dir));
		json_object_array_add(a, m);
	}
	json_object_object_add(o, "monitors", a);
	a = json_object_new_array();
	for (int i = 0; i < c->nheld; i++)
		json_object_array_add(a, json_object_new_string(c->held[i]));
	json_object_object_add(o, "held_by", a);
	json_object_object_add(o, "error", c->ok ? NULL : json_object_new_string(c->error));
	return o;
}
