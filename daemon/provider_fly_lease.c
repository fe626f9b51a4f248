/*
 * The fly provider's machine leases (FLY_LEASE, CONTRACT §11): which
 * machines an action leases, the refresh and release requests that run
 * beside the action's own, and a 409's holder looked up (this monitor's
 * own lease, left by a killed run, is taken over).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "fly_api.h"
#include "http.h"
#include "log.h"
#include "provider.h"
#include "provider_fly_int.h"
#include "timer.h"
#include "util.h"

void
fly_bg_unlink(struct provider *p, struct fly_bg *b)
{
	struct fly_bg **pp;

	for (pp = &p->bg; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	if (b->release)
		p->nrelease--;
}

/* POST …/lease with the nonce (a refresh) or DELETE it (a release). */
void
fly_bg_start(struct provider *p, const char *id, const char *nonce, bool release)
{
	struct http_request_opts o;
	const char *headers[5];
	char *url, *hnonce;
	struct fly_bg *b;

	if (p->auth == NULL || (url = fly_url_machine(p->base_url, p->app, id, "lease")) == NULL)
		return;
	hnonce = xasprintf(FLY_NONCE_HEADER ": %s", nonce);
	headers[0] = p->auth;
	headers[1] = "Accept: application/json";
	headers[2] = hnonce;
	headers[3] = release ? NULL : "Content-Type: application/json";
	headers[4] = NULL;
	memset(&o, 0, sizeof(o));
	o.method = release ? "DELETE" : "POST";
	o.url = url;
	o.headers = headers;
	o.body = release ? NULL : p->lease_body;
	o.body_len = release ? 0 : strlen(p->lease_body);
	o.timeout_ms = release
	    ? FLY_RELEASE_TIMEOUT_MS
	    : (p->request_timeout_ms < FLY_LEASE_REFRESH_MS ? p->request_timeout_ms
	                                                    : FLY_LEASE_REFRESH_MS);
	o.max_body = 64 * 1024;
	b = xcalloc(1, sizeof(*b));
	b->p = p;
	b->release = release;
	strlcpy(b->id, id, sizeof(b->id));
	strlcpy(b->nonce, nonce, sizeof(b->nonce));
	log_debug("fly: %s /v1/apps/%s/machines/%s/lease", o.method, p->app, id);
	b->req = http_request_start(p->http, &o, fly_bg_done, b);
	free(url);
	explicit_bzero(hnonce, strlen(hnonce));
	free(hnonce);
	if (b->req == NULL) {
		free(b);
		return;
	}
	b->next = p->bg;
	p->bg = b;
	if (release)
		p->nrelease++;
}

struct fly_lease *
fly_lease_of(struct provider *p, const char *id)
{
	int i;

	for (i = 0; i < p->nleases; i++)
		if (strcmp(p->leases[i].id, id) == 0)
			return &p->leases[i];
	return NULL;
}

void
fly_bg_done(const struct http_response *r, void *arg)
{
	struct fly_bg *b = arg;
	struct provider *p = b->p;
	struct fly_lease *l;
	struct fly_lease_info li;
	char err[128], text[200];
	bool release;

	fly_bg_unlink(p, b);
	l = b->release || !p->busy ? NULL : fly_lease_of(p, b->id);
	/* Only a refresh of the lease held now (not of an earlier action's). */
	if (l != NULL && strcmp(l->nonce, b->nonce) != 0)
		l = NULL;
	if (l != NULL)
		l->refreshing = false;
	if (r->err != HTTP_OK)
		log_debug("fly: %s lease of %s: %s", b->release ? "release" : "refresh", b->id,
		    http_error_str(r->err));
	else if (r->status < 200 || r->status >= 300) {
		fly_error_text(r->status, r->body, text, sizeof(text));
		fly_redact(p, text, sizeof(text));
		/* An expired lease is gone already: nothing to release. */
		if (b->release && r->status == 404)
			log_debug("fly: release lease of %s: %s", b->id, text);
		else
			log_warnx("fly: %s the lease of machine %s: %s",
			    b->release ? "cannot release" : "cannot refresh", b->id, text);
	} else if (!b->release && l != NULL) {
		if (fly_parse_lease(r->body, &li, err, sizeof(err)) == -1)
			log_warnx("fly: refresh lease of %s: %s", b->id, err);
		else if (strcmp(li.nonce, l->nonce) != 0) {
			/* Ours had lapsed and a new one was made: use that. */
			log_warnx("fly: the lease of machine %s lapsed and was taken again", b->id);
			strlcpy(l->nonce, li.nonce, sizeof(l->nonce));
		}
		explicit_bzero(&li, sizeof(li));
	}
	release = b->release;
	explicit_bzero(b->nonce, sizeof(b->nonce));
	free(b);
	if (release && p->nrelease == 0 && p->busy && p->lease_wait) {
		p->lease_wait = false;
		fly_next(p);
	}
}

void
fly_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
	struct provider *p = arg;
	struct timeval tv = {FLY_LEASE_REFRESH_MS / 1000, (FLY_LEASE_REFRESH_MS % 1000) * 1000};
	int i;

	if (!p->busy)
		return;
	for (i = 0; i < p->nleases; i++)
		if (p->leases[i].nonce[0] != '\0' && !p->leases[i].refreshing) {
			p->leases[i].refreshing = true;
			fly_bg_start(p, p->leases[i].id, p->leases[i].nonce, false);
		}
	event_add(p->ev_refresh, &tv);
}

/* Releases every lease this action holds (in the background) and forgets them. */
void
fly_leases_release(struct provider *p)
{
	int i;

	event_del(p->ev_refresh);
	/* A refresh still in flight has nothing more to do for us. */
	for (struct fly_bg *b = p->bg, *next; b != NULL; b = next) {
		next = b->next;
		if (!b->release) {
			http_request_cancel(b->req);
			fly_bg_unlink(p, b);
			explicit_bzero(b->nonce, sizeof(b->nonce));
			free(b);
		}
	}
	for (i = 0; i < p->nleases; i++)
		if (p->leases[i].nonce[0] != '\0') {
			fly_bg_start(p, p->leases[i].id, p->leases[i].nonce, true);
			explicit_bzero(p->leases[i].nonce, sizeof(p->leases[i].nonce));
		}
	free(p->leases);
	p->leases = NULL;
	p->nleases = p->lease_idx = 0;
}

/*
 * The machines this action will start, stop or suspend get a lease (with
 * FLY_LEASE=yes): those not running for an activation, the running ones
 * for a deactivation. Machines only waited for get none.
 */
void
fly_plan_leases(struct provider *p)
{
	int i;

	p->stopped_instead = xcalloc((size_t)p->ntargets + 1, sizeof(*p->stopped_instead));
	if (!p->lease_on || p->lease_missing)
		return;
	p->leases = xcalloc((size_t)p->ntargets + 1, sizeof(*p->leases));
	for (i = 0; i < p->ntargets; i++) {
		const struct machine *m = &p->ml.v[p->targets[i]];
		bool change = p->op == PROV_OP_ACTIVATE ? !fly_state_running(m->state)
		                                        : fly_state_running(m->state);

		if (change)
			strlcpy(p->leases[p->nleases++].id, m->id, sizeof(p->leases[0].id));
	}
	p->lease_idx = 0;
}

/*
 * The lease that answered 409, as GET shows it. This monitor's own (its
 * description; left by a run of it that was killed mid-action: a daemon
 * runs once per instance) is taken over with its nonce. Another holder's
 * ends the attempt as a retry naming it, timed to its expiry; one that
 * lapsed in between is asked for again, once.
 */
void
fly_lease_owner(struct provider *p, const struct http_response *r)
{
	struct fly_lease *l = &p->leases[p->lease_idx];
	struct fly_lease_info li;
	int64_t retry = r->retry_after_ms, left;
	char err[128];

	if (r->err == HTTP_OK && r->status == 404 && !p->lease_regot) {
		p->lease_regot = true;
		fly_lease_machine(p);
		return;
	}
	if (r->err == HTTP_OK && r->status == 200 &&
	    fly_parse_lease(r->body, &li, err, sizeof(err)) == 0) {
		if (strcmp(li.description, p->lease_desc) == 0) {
			fly_progress(p,
			    "machine %s: taking over the lease this monitor held before "
			    "it restarted",
			    l->id);
			strlcpy(l->nonce, li.nonce, sizeof(l->nonce));
			explicit_bzero(&li, sizeof(li));
			/* Its TTL runs from the old run's last refresh: renew now. */
			l->refreshing = true;
			fly_bg_start(p, l->id, l->nonce, false);
			p->lease_idx++;
			p->lease_regot = false;
			fly_next(p);
			return;
		}
		left = li.expires_at > 0 ? (li.expires_at - (int64_t)time(NULL)) * 1000 + 500 : -1;
		if (left > FLY_LEASE_WAIT_MAX_MS)
			left = FLY_LEASE_WAIT_MAX_MS;
		if (left > retry)
			retry = left;
		fly_progress(p, "machine %s is leased by %s (%s)", l->id,
		    li.owner[0] != '\0' ? li.owner : "another holder",
		    li.description[0] != '\0' ? li.description : "no description");
		fly_finish(p, PROV_RETRY, retry,
		    "machine %s is leased by %s (%s%s%s): not changing it until the lease is "
		    "released or lapses",
		    l->id, li.owner[0] != '\0' ? li.owner : "another holder", p->lease_err,
		    li.description[0] != '\0' ? ", " : "", li.description);
		explicit_bzero(&li, sizeof(li));
		return;
	}
	fly_progress(p, "machine %s is leased by another holder: %s", l->id, p->lease_err);
	fly_finish(p, PROV_RETRY, retry,
	    "machine %s is leased by another holder (%s): not changing it until the lease is "
	    "released or lapses",
	    l->id, p->lease_err);
}

/* "failoverd HOST[/INSTANCE]": whose lease it is, for `fly machine leases
 * view` and for this monitor to know its own after a restart. */
void
fly_lease_describe(struct provider *p, const struct config *cfg)
{
	struct json_object *o = json_object_new_object();
	char host[256];

	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "unknown-host", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	free(p->lease_desc);
	free(p->lease_body);
	p->lease_desc = xasprintf("failoverd %s%s%s", host, cfg->instance != NULL ? "/" : "",
	    cfg->instance != NULL ? cfg->instance : "");
	json_object_object_add(o, "ttl", json_object_new_int(FLY_LEASE_TTL_S));
	json_object_object_add(o, "description", json_object_new_string(p->lease_desc));
	p->lease_body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}
