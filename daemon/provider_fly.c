/*
 * The fly provider: one attempt of list, activate or deactivate through the
 * Machines API. Every step is one HTTP request; its reply picks the next.
 *
 * activate:   list -> for each chosen machine: [stop, get, wait stopped if
 *             suspended] start -> for each: get, wait started (408 -> get
 *             again: stopped/failed ends the attempt, else wait again)
 *             The list is skipped when the last operation's listing (the
 *             engine lists at start-up, every RECONCILE_INTERVAL and at the
 *             start of every action) is recent and leaves nothing to decide:
 *             enough machines stopped, none running or in a passing state.
 *             Then the start request is the first one out, which is what
 *             the time to failover hangs on. A 404 on such a start (the
 *             machine was destroyed) lists and plans again at once; any
 *             other failure ends the attempt as before (a 412 is a retry)
 *             and the attempts after a failure always list first.
 * deactivate: list -> stop each started one -> for each: get, wait stopped
 *             with its instance_id (408 -> get again: started ends it)
 *
 * FLY_STANDBY_MODE=suspended (CONTRACT §11):
 * activate:   suspended machines are preferred and started as they are:
 *             the start resumes them (previous_state "suspended" = warm,
 *             kept in struct machine); none is ever stopped first.
 * deactivate: suspend each started one, wait suspended. A suspend refused
 *             with a 4xx that is no retry (400, 412, 422, ...) gets the
 *             machine again: still started -> stopped instead, and
 *             prov_status.notice says why; already suspending/suspended or
 *             stopping -> waited for. A suspended machine is never stopped.
 *             The warm-up (start, verify, suspend) is activate, the
 *             engine's FLY_HEALTH_URL check, then deactivate.
 *
 * FLY_LEASE=yes (CONTRACT §11): after planning, a lease (ttl FLY_LEASE_TTL_S)
 * is taken on each machine the action will start, stop or suspend, before
 * the first of those requests; its nonce goes with each of them
 * (fly-machine-lease-nonce), it is refreshed every third of its TTL beside
 * the action's own requests, and released (DELETE) when the action ends,
 * fails or is cancelled. The next action takes its leases only once those
 * releases are answered. Another holder's 409 ends the attempt as a retry
 * naming the holder (nothing was changed); so does a lease still held by a
 * daemon that was killed mid-action, until its TTL lapses (Fly's lock
 * delay: a nonce is never kept on disk). A 404/405 on the lease endpoint
 * (a Machines API without leases) is logged once and the action goes on
 * without them.
 *
 * Idempotent: only stopped, suspended or failed machines are started, and
 * only as many as FLY_MACHINE_COUNT minus those already running. From a
 * remembered listing, a machine started behind our back since that listing
 * answers 412, and the retry lists; only a *different* machine started
 * behind our back in that window (a manual `fly machine start`) can leave
 * one machine more running than FLY_MACHINE_COUNT, as it would have with
 * a listing a moment older.
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
#include "util.h"

void
fly_redact(const struct provider *p, char *s, size_t len)
{
	const char *needles[2];
	char *at;
	int i;

	if (p->token == NULL || *p->token == '\0')
		return;
	needles[0] = p->token;
	needles[1] = strncmp(p->token, "FlyV1 ", 6) == 0 ? p->token + 6 : NULL;
	for (i = 0; i < 2; i++) {
		if (needles[i] == NULL || strlen(needles[i]) < 4)
			continue;
		while ((at = strstr(s, needles[i])) != NULL) {
			size_t nl = strlen(needles[i]);
			char *rest = xstrdup(at + nl);

			*at = '\0';
			strlcat(s, "<redacted>", len);
			strlcat(s, rest, len);
			free(rest);
			if (strstr(s, needles[i]) == at)
				break;
		}
	}
}

/* --- leases: refresh and release beside the action ------------------------------- */

void
fly_reset(struct provider *p)
{
	if (p->req != NULL) {
		http_request_cancel(p->req);
		p->req = NULL;
	}
	if (p->ev != NULL)
		event_del(p->ev);
	free(p->url);
	p->url = NULL;
	free(p->hdr_auth);
	p->hdr_auth = NULL;
	free(p->hdr_nonce);
	p->hdr_nonce = NULL;
	fly_plan_clear(p);
	p->pending = false;
	p->phase = PH_IDLE;
	p->busy = false;
	p->done = NULL;
	p->progress = NULL;
	p->arg = NULL;
}

void __attribute__((format(printf, 4, 5)))
fly_finish(struct provider *p, enum prov_result res, int64_t retry_after_ms, const char *fmt, ...)
{
	struct prov_status st;
	struct machine_list ml;
	prov_done_cb *cb = p->done;
	void *arg = p->arg;
	va_list ap;

	memset(&st, 0, sizeof(st));
	st.res = res;
	st.retry_after_ms = retry_after_ms;
	strlcpy(st.notice, p->notice, sizeof(st.notice));
	fly_redact(p, st.notice, sizeof(st.notice));
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(st.error, sizeof(st.error), fmt, ap);
		va_end(ap);
		fly_redact(p, st.error, sizeof(st.error));
	}
	/* The callback may start another operation or destroy p. */
	ml = p->ml;
	p->ml.v = NULL;
	p->ml.n = 0;
	st.machines = &ml;
	/* Only a success says what the machines are now; after a failure the
	 * next attempt lists. */
	if (res == PROV_OK && p->phase != PH_IDLE) {
		machine_list_copy(&p->known, &ml);
		p->known_mono = util_mono_ms();
	} else
		machine_list_free(&p->known);
	fly_reset(p);
	if (res == PROV_OK)
		log_debug("fly: %s: ok", p->app);
	else
		log_debug("fly: %s: %s: %s", p->app, prov_result_str(res), st.error);
	if (cb != NULL)
		cb(&st, arg);
	machine_list_free(&ml);
}

void __attribute__((format(printf, 2, 3))) fly_progress(struct provider *p, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Logged once: by whoever listens, else here. */
	if (p->progress != NULL)
		p->progress(buf, p->arg);
	else
		log_debug("fly: %s: %s", p->app, buf);
}

/* Finishes from the event loop, never inside start(). */
void
fly_finish_later(struct provider *p, enum prov_result res, const char *msg)
{
	p->pending = true;
	p->pending_res = res;
	strlcpy(p->pending_error, msg, sizeof(p->pending_error));
	if (p->req != NULL) {
		http_request_cancel(p->req);
		p->req = NULL;
	}
	event_active(p->ev, EV_TIMEOUT, 0);
}

struct machine *
fly_target(struct provider *p)
{
	return &p->ml.v[p->targets[p->idx]];
}

void
fly_issue(struct provider *p, enum fly_step step, const char *method, char *url, const char *body,
    int64_t timeout_ms)
{
	struct http_request_opts o;
	const char *path;
	struct fly_lease *l = NULL;
	int h = 0;

	p->step = step;
	free(p->url);
	p->url = url;
	if (url == NULL) {
		fly_finish_later(p, PROV_CONFIG, "invalid FLY_APP or machine id");
		return;
	}
	if (p->auth == NULL) {
		fly_finish_later(p, PROV_CONFIG, "FLY_API_TOKEN is not set (or not usable)");
		return;
	}
	free(p->hdr_auth);
	p->hdr_auth = xstrdup(p->auth);
	p->headers[h++] = p->hdr_auth;
	p->headers[h++] = "Accept: application/json";
	/* Exactly the OpenAPI's operations: a body only where one is defined
	 * (stop, lease), and no Content-Type without one ("Content-Type:"
	 * keeps libcurl's form type off an empty POST). */
	if (body != NULL)
		p->headers[h++] = "Content-Type: application/json";
	else if (strcmp(method, "POST") == 0)
		p->headers[h++] = "Content-Type:";
	/* Every start, stop and suspend carries this action's lease. */
	free(p->hdr_nonce);
	p->hdr_nonce = NULL;
	if (step == ST_START || step == ST_STOP || step == ST_SUSPEND)
		l = fly_lease_of(p, fly_target(p)->id);
	if (l != NULL && l->nonce[0] != '\0') {
		p->hdr_nonce = xasprintf(FLY_NONCE_HEADER ": %s", l->nonce);
		p->headers[h++] = p->hdr_nonce;
	}
	p->headers[h] = NULL;

	memset(&o, 0, sizeof(o));
	o.method = method;
	o.url = url;
	o.headers = p->headers;
	o.body = body;
	o.body_len = body != NULL ? strlen(body) : 0;
	o.timeout_ms = timeout_ms;
	o.max_body = 4 * 1024 * 1024;

	/* The path only: the base URL is configuration, the token a header. */
	path = strstr(url, "/v1/");
	log_debug("fly: %s %s", method, path != NULL ? path : "?");
	if ((p->req = http_request_start(p->http, &o, fly_http_done, p)) == NULL)
		fly_finish_later(p, PROV_FAILED, "cannot set up an HTTP request");
}

void
fly_list(struct provider *p)
{
	p->phase = PH_LIST;
	fly_issue(
	    p, ST_LIST, "GET", fly_url_list(p->base_url, p->app), NULL, p->request_timeout_ms);
}

void
fly_get(struct provider *p)
{
	fly_issue(p, ST_GET, "GET", fly_url_machine(p->base_url, p->app, fly_target(p)->id, NULL),
	    NULL, p->request_timeout_ms);
}

void
fly_start_machine(struct provider *p)
{
	struct machine *m = fly_target(p);

	fly_progress(p, "%s machine %s (%s)",
	    strcmp(m->state, "suspended") == 0 ? "resuming" : "starting", m->id, m->region);
	/* Machines_start defines no request body. */
	fly_issue(p, ST_START, "POST", fly_url_machine(p->base_url, p->app, m->id, "start"), NULL,
	    p->request_timeout_ms);
}

void
fly_suspend_machine(struct provider *p)
{
	struct machine *m = fly_target(p);

	fly_progress(p, "suspending machine %s (%s)", m->id, m->region);
	/* Machines_suspend defines no request body. */
	fly_issue(p, ST_SUSPEND, "POST", fly_url_machine(p->base_url, p->app, m->id, "suspend"),
	    NULL, p->request_timeout_ms);
}

void
fly_lease_machine(struct provider *p)
{
	fly_issue(p, ST_LEASE, "POST",
	    fly_url_machine(p->base_url, p->app, p->leases[p->lease_idx].id, "lease"),
	    p->lease_body, p->request_timeout_ms);
}

void
fly_lease_get(struct provider *p)
{
	fly_issue(p, ST_LEASE_GET, "GET",
	    fly_url_machine(p->base_url, p->app, p->leases[p->lease_idx].id, "lease"), NULL,
	    p->request_timeout_ms);
}

void
fly_stop_machine(struct provider *p)
{
	struct machine *m = fly_target(p);

	fly_progress(p, "stopping machine %s (%s)", m->id, m->region);
	fly_issue(p, ST_STOP, "POST", fly_url_machine(p->base_url, p->app, m->id, "stop"),
	    "{\"signal\":\"SIGTERM\"}", p->request_timeout_ms);
}

void
fly_wait(struct provider *p, const char *state)
{
	struct machine *m = fly_target(p);

	if (strcmp(state, "stopped") == 0 && m->instance_id[0] == '\0') {
		fly_finish_later(p, PROV_FAILED, "machine has no instance_id to wait on");
		return;
	}
	fly_progress(p, "waiting for %s to be %s", m->id, state);
	fly_issue(p, ST_WAIT, "GET",
	    fly_url_wait(p->base_url, p->app, m->id, state, m->instance_id, p->wait_s), NULL,
	    (int64_t)p->wait_s * 1000 +
	        (p->request_timeout_ms < FLY_WAIT_SLACK_MS ? p->request_timeout_ms
	                                                   : FLY_WAIT_SLACK_MS));
}

/* Issues the next request, or finishes. */
void
fly_next(struct provider *p)
{
	struct machine *m;

	for (;;) {
		if (p->phase == PH_LIST) {
			if (p->op == PROV_OP_LIST) {
				fly_finish(p, PROV_OK, -1, NULL);
				return;
			}
			if (p->op == PROV_OP_ACTIVATE)
				fly_plan_activate(p);
			else
				fly_plan_deactivate(p);
			fly_planned(p);
		}
		if (p->phase == PH_LEASE) {
			if (p->lease_idx < p->nleases) {
				/* The last action's releases first, or our own
				 * lease would answer 409. */
				if (p->nrelease > 0) {
					p->lease_wait = true;
					return;
				}
				fly_lease_machine(p);
				return;
			}
			if (p->nleases > 0 && !event_pending(p->ev_refresh, EV_TIMEOUT, NULL)) {
				struct timeval tv = {FLY_LEASE_REFRESH_MS / 1000,
				    (FLY_LEASE_REFRESH_MS % 1000) * 1000};

				event_add(p->ev_refresh, &tv);
			}
			p->phase = PH_ACT;
			p->idx = p->sub = 0;
		}
		if (p->phase == PH_ACT && p->idx >= p->ntargets) {
			p->phase = PH_WAIT;
			p->idx = p->sub = 0;
			p->after_timeout = false;
		}
		if (p->phase == PH_WAIT && p->idx >= p->ntargets) {
			if (p->op == PROV_OP_ACTIVATE)
				fly_finish_activate(p);
			else
				fly_finish(p, PROV_OK, -1, NULL);
			return;
		}
		m = fly_target(p);
		if (p->phase == PH_ACT) {
			if (p->op == PROV_OP_ACTIVATE) {
				/* A suspended machine: sub 0 stop, 1 get, 2 wait
				 * stopped, 3 start. Others, and every one in
				 * suspended mode: sub 0 start (a resume). */
				if (p->sub == 0 && fly_state_is(m, "suspended") &&
				    !p->suspend_mode) {
					fly_stop_machine(p);
					return;
				}
				if (p->sub == 1) {
					fly_get(p);
					return;
				}
				if (p->sub == 2) {
					fly_wait(p, "stopped");
					return;
				}
				if (p->sub == 3 || (p->sub == 0 && fly_state_startable(m))) {
					fly_start_machine(p);
					return;
				}
			} else if (p->sub == 0 && fly_state_running(m->state)) {
				if (p->suspend_op)
					fly_suspend_machine(p);
				else
					fly_stop_machine(p);
				return;
			} else if (p->sub == 1) {
				/* The suspend was refused: look before stopping. */
				fly_get(p);
				return;
			} else if (p->sub == 2 && fly_state_is(m, "starting")) {
				/* Refused while it boots: suspend it once started. */
				fly_finish(p, PROV_RETRY, -1,
				    "machine %s is starting (%s): it is suspended once started",
				    m->id, p->suspend_err);
				return;
			} else if (p->sub == 2 && fly_state_is(m, "started")) {
				/* Only a started machine is stopped instead; one
				 * that is suspending or suspended never is. */
				char why[128];
				size_t n = strlen(p->notice);

				p->stopped_instead[p->idx] = true;
				if (fly_suspend_eligible(m, why, sizeof(why)))
					why[0] = '\0';
				snprintf(p->notice + n, sizeof(p->notice) - n,
				    "%smachine %s cannot be suspended (%s%s%s): stopped instead",
				    n > 0 ? "; " : "", m->id, p->suspend_err, why[0] ? "; " : "",
				    why);
				fly_progress(p,
				    "machine %s cannot be suspended (%s): stopping it instead",
				    m->id, p->suspend_err);
				fly_stop_machine(p);
				return;
			}
			p->idx++;
			p->sub = 0;
			continue;
		}
		/* PH_WAIT: sub 0 get, 1 wait */
		if (p->sub == 0) {
			fly_get(p);
			return;
		}
		fly_wait(p, p->op == PROV_OP_ACTIVATE ? "started" : fly_deact_want(p, m));
		return;
	}
}

/* A GET of the current target came back in PH_WAIT: wait, move on or end. */
void
fly_after_get(struct provider *p)
{
	struct machine *m = fly_target(p);
	bool act = p->op == PROV_OP_ACTIVATE;

	if (act && fly_state_is(m, "started")) {
		fly_progress(p, "machine %s is started", m->id);
		goto next;
	}
	if (!act && (fly_state_is(m, "stopped") || fly_state_is(m, "suspended"))) {
		fly_progress(p, "machine %s is %s", m->id, m->state);
		goto next;
	}
	if (p->after_timeout && act &&
	    (fly_state_is(m, "stopped") || fly_state_is(m, "failed") ||
	        fly_state_is(m, "suspended"))) {
		fly_finish(
		    p, PROV_RETRY, -1, "machine %s is %s instead of starting", m->id, m->state);
		return;
	}
	if (p->after_timeout && !act && fly_state_is(m, "started")) {
		fly_finish(p, PROV_RETRY, -1, "machine %s is started again instead of %s", m->id,
		    strcmp(fly_deact_want(p, m), "suspended") == 0 ? "suspending" : "stopping");
		return;
	}
	p->sub = 1;
	fly_next(p);
	return;
next:
	p->idx++;
	p->sub = 0;
	p->after_timeout = false;
	fly_next(p);
}

void
fly_http_done(const struct http_response *r, void *arg)
{
	struct provider *p = arg;
	char what[160], text[200], err[128];
	enum fly_verdict v;
	struct machine m;

	p->req = NULL;
	fly_step_what(p, what, sizeof(what));
	if (r->err != HTTP_OK) {
		fly_finish(p, PROV_RETRY, -1, "%s: %s%s%s", what, http_error_str(r->err),
		    r->error != NULL ? ": " : "", r->error != NULL ? r->error : "");
		return;
	}
	v = fly_classify(fly_step_call(p->step), r->status);
	if (v == FLY_V_REISSUE) {
		/* The wait ran out; look at the machine before waiting again. */
		fly_progress(p, "still waiting for %s (408)", fly_target(p)->id);
		p->after_timeout = true;
		p->sub = p->phase == PH_ACT ? 1 : 0;
		fly_next(p);
		return;
	}
	if (p->step == ST_LEASE && r->status == 404 && p->from_known) {
		/* From a remembered listing the machine may be gone: list and
		 * plan again; a 404 on a machine just listed is the endpoint. */
		fly_progress(p, "machine %s: 404 on lease: listing the machines again",
		    p->leases[p->lease_idx].id);
		fly_replan(p);
		return;
	}
	if (p->step == ST_LEASE && (r->status == 404 || r->status == 405)) {
		/* Another Machines API, without leases: say so once, go on. */
		fly_error_text(r->status, r->body, text, sizeof(text));
		fly_redact(p, text, sizeof(text));
		if (!p->lease_warned) {
			log_warnx("fly: FLY_LEASE: the Machines API has no lease endpoint (%s): "
			          "acting without machine leases",
			    text);
			fly_progress(p,
			    "no machine leases at this Machines API (%s): going on without", text);
			p->lease_warned = true;
		}
		p->lease_missing = true;
		fly_leases_release(p);
		fly_next(p);
		return;
	}
	if (p->step == ST_LEASE && r->status == 409) {
		/* Held already: whose is it? (GET shows it, nonce included.) */
		fly_error_text(r->status, r->body, p->lease_err, sizeof(p->lease_err));
		fly_redact(p, p->lease_err, sizeof(p->lease_err));
		fly_lease_get(p);
		return;
	}
	if (p->step == ST_LEASE_GET) {
		fly_lease_owner(p, r);
		return;
	}
	if (p->step == ST_SUSPEND && v == FLY_V_FAILED) {
		/* Refused for good (400, 412, 422, ...): Fly will not suspend
		 * this machine. Look at it, then stop it instead if it runs. */
		fly_error_text(r->status, r->body, p->suspend_err, sizeof(p->suspend_err));
		fly_redact(p, p->suspend_err, sizeof(p->suspend_err));
		p->sub = 1;
		fly_next(p);
		return;
	}
	if (v != FLY_V_OK && p->step == ST_START && p->from_known && r->status == 404) {
		/* Destroyed since the remembered listing: list and start
		 * another at once. A 412 (not startable now: stopping,
		 * replacing, or started behind our back) stays a retry with
		 * backoff, whose next attempt lists: at once would only meet
		 * the same passing state. */
		fly_progress(
		    p, "machine %s: 404 on start: listing the machines again", fly_target(p)->id);
		fly_replan(p);
		return;
	}
	if (v != FLY_V_OK) {
		fly_error_text(r->status, r->body, text, sizeof(text));
		if (p->step == ST_LIST && r->status == 404)
			fly_finish(
			    p, PROV_CONFIG, r->retry_after_ms, "%s: %s: check FLY_APP", what, text);
		else
			fly_finish(
			    p, fly_verdict_result(v), r->retry_after_ms, "%s: %s", what, text);
		return;
	}

	switch (p->step) {
	case ST_LIST:
		machine_list_free(&p->ml);
		if (fly_parse_machines(r->body, &p->ml, err, sizeof(err)) == -1) {
			fly_finish(p, PROV_FAILED, -1, "%s: %s", what, err);
			return;
		}
		break;
	case ST_GET:
		if (fly_parse_machine(r->body, &m, err, sizeof(err)) == -1) {
			fly_finish(p, PROV_FAILED, -1, "%s: %s", what, err);
			return;
		}
		if (strcmp(m.id, fly_target(p)->id) != 0) {
			fly_finish(p, PROV_FAILED, -1, "%s: reply is about machine %s", what, m.id);
			return;
		}
		/* What this action learnt stays: how the machine was started. */
		strlcpy(m.previous_state, fly_target(p)->previous_state, sizeof(m.previous_state));
		*fly_target(p) = m;
		if (p->phase == PH_WAIT) {
			fly_after_get(p);
			return;
		}
		p->sub++;
		break;
	case ST_START:
		/* A 200 whose body is not the documented object (a proxy's page,
		 * a truncated reply) does not confirm a start: fail the attempt.
		 * The next one lists first, so a start that did happen is seen
		 * there and never repeated. previous_state only tells the story. */
		if (fly_parse_start(r->body, text, 32, err, sizeof(err)) == -1) {
			fly_finish(p, PROV_FAILED, -1, "%s: HTTP 200 but %s: start not confirmed",
			    what, err);
			return;
		}
		{
			struct machine *t = fly_target(p);
			bool warm = strcmp(text, "suspended") == 0;

			strlcpy(t->previous_state, text[0] != '\0' ? text : "unknown",
			    sizeof(t->previous_state));
			fly_progress(p, "machine %s: previous_state %s: %s", t->id,
			    t->previous_state, warm ? "warm (resumed)" : "cold (booting)");
			strlcpy(t->state, "starting", sizeof(t->state));
		}
		p->idx++;
		p->sub = 0;
		break;
	case ST_SUSPEND:
		/* As for a start: a 200 that is not {"ok":true} confirms
		 * nothing; the next attempt lists and sees what happened. */
		if (fly_parse_ok(r->body, err, sizeof(err)) == -1) {
			fly_finish(p, PROV_FAILED, -1, "%s: HTTP %d but %s: suspend not confirmed",
			    what, r->status, err);
			return;
		}
		strlcpy(fly_target(p)->state, "suspending", sizeof(fly_target(p)->state));
		p->idx++;
		p->sub = 0;
		break;
	case ST_LEASE: {
		struct fly_lease *l = &p->leases[p->lease_idx];
		struct fly_lease_info li;

		if (fly_parse_lease(r->body, &li, err, sizeof(err)) == -1) {
			fly_finish(p, PROV_FAILED, -1, "%s: HTTP %d but %s: no lease taken", what,
			    r->status, err);
			return;
		}
		strlcpy(l->nonce, li.nonce, sizeof(l->nonce));
		explicit_bzero(&li, sizeof(li));
		log_debug("fly: machine %s leased for %ds", l->id, FLY_LEASE_TTL_S);
		p->lease_idx++;
		p->lease_regot = false;
		break;
	}
	case ST_LEASE_GET: break; /* handled above */
	case ST_STOP:
		if (fly_parse_ok(r->body, err, sizeof(err)) == -1)
			log_debug("fly: %s: %s", what, err);
		strlcpy(fly_target(p)->state, "stopping", sizeof(fly_target(p)->state));
		if (p->op == PROV_OP_ACTIVATE) {
			p->sub++;
		} else {
			p->idx++;
			p->sub = 0;
		}
		break;
	case ST_WAIT:
		if (fly_parse_ok(r->body, err, sizeof(err)) == -1)
			log_debug("fly: %s: %s", what, err);
		if (p->phase == PH_ACT) {
			/* a suspended machine reached stopped: now start it */
			strlcpy(fly_target(p)->state, "stopped", sizeof(fly_target(p)->state));
			p->sub++;
			break;
		}
		strlcpy(fly_target(p)->state,
		    p->op == PROV_OP_ACTIVATE ? "started" : fly_deact_want(p, fly_target(p)),
		    sizeof(fly_target(p)->state));
		fly_progress(p, "machine %s is %s", fly_target(p)->id, fly_target(p)->state);
		p->idx++;
		p->sub = 0;
		p->after_timeout = false;
		break;
	}
	fly_next(p);
}

void
fly_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct provider *p = arg;

	if (!p->busy)
		return;
	if (p->pending) {
		fly_finish(p, p->pending_res, -1, "%s", p->pending_error);
		return;
	}
	if (p->op == PROV_OP_ACTIVATE && fly_activate_from_known(p))
		return;
	fly_list(p);
}

void
fly_configure(struct provider *p, const struct config *cfg)
{
	const char *t = cfg->fly_api_token != NULL ? cfg->fly_api_token : "";
	size_t n;

	free(p->base_url);
	free(p->app);
	free(p->auth);
	free(p->token);
	p->base_url = xstrdup(cfg->fly_api_hostname != NULL && *cfg->fly_api_hostname != '\0'
	        ? cfg->fly_api_hostname
	        : FLY_DEFAULT_BASE);
	p->app = xstrdup(cfg->fly_app != NULL ? cfg->fly_app : "");
	p->auth = fly_auth_header(t);
	while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
		t++;
	p->token = xstrdup(t);
	n = strlen(p->token);
	while (n > 0 &&
	    (p->token[n - 1] == ' ' || p->token[n - 1] == '\t' || p->token[n - 1] == '\n' ||
	        p->token[n - 1] == '\r'))
		p->token[--n] = '\0';
	p->count = cfg->fly_machine_count > 0 ? cfg->fly_machine_count : 1;
	p->known_max_age_ms = cfg->reconcile_interval_ms + FLY_KNOWN_SLACK_MS;
	p->activation_timeout_ms = cfg->activation_timeout_ms;
	p->suspend_mode =
	    cfg->fly_standby_mode != NULL && strcmp(cfg->fly_standby_mode, "suspended") == 0;
	p->lease_on = cfg->fly_lease;
	fly_lease_describe(p, cfg);
	fly_timeouts(p);
	/* Another app or API: what was listed says nothing about it. */
	machine_list_free(&p->known);
}

struct provider *
fly_create(struct event_base *base, struct http *http, const struct config *cfg)
{
	struct provider *p = xcalloc(1, sizeof(*p));

	p->base = base;
	p->http = http;
	if ((p->ev = event_new(base, -1, 0, fly_ev_cb, p)) == NULL) {
		free(p);
		return NULL;
	}
	if ((p->ev_refresh = evtimer_new(base, fly_refresh_cb, p)) == NULL) {
		event_free(p->ev);
		free(p);
		return NULL;
	}
	fly_configure(p, cfg);
	return p;
}

void
fly_destroy(struct provider *p)
{
	if (p == NULL)
		return;
	fly_reset(p);
	/* Going away: what is in flight is dropped; leases lapse by TTL. */
	while (p->bg != NULL) {
		struct fly_bg *b = p->bg;

		http_request_cancel(b->req);
		fly_bg_unlink(p, b);
		free(b);
	}
	machine_list_free(&p->ml);
	machine_list_free(&p->known);
	event_free(p->ev);
	event_free(p->ev_refresh);
	free(p->lease_desc);
	free(p->lease_body);
	free(p->base_url);
	free(p->app);
	if (p->auth != NULL)
		explicit_bzero(p->auth, strlen(p->auth));
	free(p->auth);
	if (p->token != NULL)
		explicit_bzero(p->token, strlen(p->token));
	free(p->token);
	free(p);
}

void
fly_reconfigure(struct provider *p, const struct config *cfg)
{
	fly_configure(p, cfg);
}

int
fly_start(
    struct provider *p, enum prov_op op, prov_done_cb *cb, prov_progress_cb *progress, void *arg)
{
	if (p->busy)
		return -1;
	p->busy = true;
	p->op = op;
	p->suspend_op = p->suspend_mode && op == PROV_OP_DEACTIVATE;
	p->done = cb;
	p->progress = progress;
	p->arg = arg;
	p->phase = PH_IDLE;
	p->lease_missing = false;
	p->notice[0] = '\0';
	p->suspend_err[0] = '\0';
	machine_list_free(&p->ml);
	if (!fly_name_valid(p->app))
		fly_finish_later(p, PROV_CONFIG, "FLY_APP is not a valid app name");
	else if (p->auth == NULL)
		fly_finish_later(p, PROV_CONFIG, "FLY_API_TOKEN is not set (or not usable)");
	else
		event_active(p->ev, EV_TIMEOUT, 0);
	return 0;
}

void
fly_cancel(struct provider *p)
{
	if (p == NULL || !p->busy)
		return;
	fly_reset(p);
	machine_list_free(&p->ml);
}

void
provider_fly_tune(struct provider *p, int64_t request_timeout_ms, int wait_timeout_s)
{
	p->tune_request_ms = request_timeout_ms > 0 ? request_timeout_ms : 0;
	p->tune_wait_s =
	    wait_timeout_s > 0 && wait_timeout_s <= FLY_WAIT_MAX_S ? wait_timeout_s : 0;
	fly_timeouts(p);
}

bool
provider_fly_idle(const struct provider *p)
{
	return p->bg == NULL;
}

const struct provider_ops provider_fly_ops = {
    .name = "fly",
    .create = fly_create,
    .destroy = fly_destroy,
    .reconfigure = fly_reconfigure,
    .start = fly_start,
    .cancel = fly_cancel,
};
