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
#include "util.h"

#define FLY_REQUEST_TIMEOUT_MS 30000 /* at most; never beyond ACTIVATION_TIMEOUT */
#define FLY_REQUEST_TIMEOUT_MIN_MS 1000
#define FLY_WAIT_SLACK_MS 15000 /* request timeout beyond the wait's own */
/* A remembered listing is used for this long past RECONCILE_INTERVAL. */
#define FLY_KNOWN_SLACK_MS 60000
/* Machine leases: short, so a lease left by a killed daemon holds the next
 * action back only briefly; at most the etcd lease (ELECTION_TTL's 10 s
 * default) so a deposed leader's lease lapses before a new leader acts. */
#define FLY_LEASE_TTL_S 10
#define FLY_LEASE_REFRESH_MS (FLY_LEASE_TTL_S * 1000 / 3)
/* A lease left by a killed holder is waited out at most this long in one
 * retry (its expires_at, from the server's clock). */
#define FLY_LEASE_WAIT_MAX_MS 30000
#define FLY_RELEASE_TIMEOUT_MS 5000
#define FLY_NONCE_HEADER "fly-machine-lease-nonce"

enum fly_phase {
	PH_IDLE,
	PH_LIST,
	PH_LEASE, /* taking a lease on each machine to change */
	PH_ACT, /* starting (activate) or stopping (deactivate) */
	PH_WAIT, /* waiting for each target */
};

enum fly_step {
	ST_LIST,
	ST_START,
	ST_STOP,
	ST_GET,
	ST_WAIT,
	ST_SUSPEND,
	ST_LEASE,
	ST_LEASE_GET, /* whose is the lease that answered 409? */
};

struct fly_lease {
	char id[MACHINE_ID_LEN];
	char nonce[64]; /* "" until acquired */
	bool refreshing; /* a refresh is in flight */
};

/* A request beside the action's own: a lease refresh or release. */
struct fly_bg {
	struct provider *p;
	struct http_req *req;
	bool release;
	char id[MACHINE_ID_LEN];
	char nonce[64];
	struct fly_bg *next;
};

struct provider {
	struct event_base *base;
	struct http *http;
	char *base_url;
	char *app;
	char *token; /* trimmed; only to redact it from server texts */
	char *auth; /* "Authorization: …", or NULL when no token */
	int count;
	int64_t request_timeout_ms; /* effective, from the two below */
	int wait_s;
	int64_t activation_timeout_ms; /* ACTIVATION_TIMEOUT */
	int64_t tune_request_ms; /* provider_fly_tune's, 0 = from the config */
	int tune_wait_s;
	int64_t known_max_age_ms;
	bool suspend_mode; /* FLY_STANDBY_MODE=suspended */
	bool suspend_op; /* this operation suspends (a DEACTIVATE in suspend_mode) */
	bool lease_on; /* FLY_LEASE=yes */
	bool lease_warned; /* the missing lease endpoint was reported */
	char *lease_body; /* {"ttl":…,"description":"failoverd HOST[/INSTANCE]"} */
	char *lease_desc; /* that description: a lease with it is this monitor's */
	struct fly_bg *bg; /* refreshes and releases in flight */
	int nrelease; /* releases among them */
	struct event *ev_refresh;

	/* The machines as the last successful operation left them: an
	 * activation may start from here instead of listing first. */
	struct machine_list known;
	int64_t known_mono;
	bool from_known; /* this attempt planned from `known` */

	/* The operation in flight. */
	bool busy;
	enum prov_op op;
	prov_done_cb *done;
	prov_progress_cb *progress;
	void *arg;
	struct event *ev; /* zero-delay: begin, or finish a failed set-up */
	bool pending; /* ev finishes with pending_* instead of beginning */
	enum prov_result pending_res;
	char pending_error[256];

	struct http_req *req;
	enum fly_step step;
	char *url;
	char *hdr_auth;
	char *hdr_nonce;
	const char *headers[6];

	enum fly_phase phase;
	struct machine_list ml;
	int *targets; /* indexes into ml */
	int ntargets;
	int idx; /* current target */
	int sub; /* step within the target in PH_ACT / PH_WAIT */
	bool after_timeout; /* the last wait of this target got a 408 */
	int shortfall; /* activate: machines wanted but not startable */
	int transient; /* activate: machines in a passing state */
	bool *stopped_instead; /* per target: suspend refused, stopped */
	struct fly_lease *leases; /* the machines this action changes */
	int nleases;
	int lease_idx;
	bool lease_wait; /* PH_LEASE waits for the last action's releases */
	bool lease_missing; /* this action goes on without leases */
	char notice[256];
	char suspend_err[200]; /* why the current target's suspend was refused */
	char lease_err[200]; /* the 409 on the current lease */
	bool lease_regot; /* the current lease was asked for again once */
};

static void fly_next(struct provider *);
static void fly_replan(struct provider *);
static void fly_lease_describe(struct provider *, const struct config *);

static void
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

static void fly_bg_done(const struct http_response *, void *);

static void
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
static void
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

static struct fly_lease *
fly_lease_of(struct provider *p, const char *id)
{
	int i;

	for (i = 0; i < p->nleases; i++)
		if (strcmp(p->leases[i].id, id) == 0)
			return &p->leases[i];
	return NULL;
}

static void
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

static void
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
static void
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

/* Forgets the plan of this attempt (the targets and where we are in it). */
static void
fly_plan_clear(struct provider *p)
{
	fly_leases_release(p);
	free(p->stopped_instead);
	p->stopped_instead = NULL;
	p->lease_wait = false;
	free(p->targets);
	p->targets = NULL;
	p->ntargets = p->idx = p->sub = 0;
	p->shortfall = p->transient = 0;
	p->after_timeout = false;
	p->from_known = false;
}

static void
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

static void __attribute__((format(printf, 4, 5)))
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

static void __attribute__((format(printf, 2, 3)))
fly_progress(struct provider *p, const char *fmt, ...)
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
static void
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

static struct machine *
fly_target(struct provider *p)
{
	return &p->ml.v[p->targets[p->idx]];
}

static const char *
fly_step_str(enum fly_step s)
{
	switch (s) {
	case ST_LIST: return "list machines";
	case ST_START: return "start machine";
	case ST_STOP: return "stop machine";
	case ST_GET: return "get machine";
	case ST_WAIT: return "wait for machine";
	case ST_SUSPEND: return "suspend machine";
	case ST_LEASE: return "lease machine";
	case ST_LEASE_GET: return "get the lease of machine";
	}
	return "?";
}

static enum fly_call
fly_step_call(enum fly_step s)
{
	switch (s) {
	case ST_LIST: return FLY_CALL_LIST;
	case ST_START: return FLY_CALL_START;
	case ST_STOP: return FLY_CALL_STOP;
	case ST_GET: return FLY_CALL_GET;
	case ST_WAIT: return FLY_CALL_WAIT;
	case ST_SUSPEND: return FLY_CALL_SUSPEND;
	case ST_LEASE: return FLY_CALL_LEASE;
	case ST_LEASE_GET: return FLY_CALL_GET;
	}
	return FLY_CALL_GET;
}

/* The text after the step's name: " of APP" or " ID". */
static void
fly_step_what(struct provider *p, char *buf, size_t len)
{
	if (p->step == ST_LIST)
		snprintf(buf, len, "list machines of %s", p->app);
	else if (p->step == ST_LEASE || p->step == ST_LEASE_GET)
		snprintf(buf, len, "%s %s", fly_step_str(p->step), p->leases[p->lease_idx].id);
	else
		snprintf(buf, len, "%s %s", fly_step_str(p->step), fly_target(p)->id);
}

static void fly_http_done(const struct http_response *, void *);

static void
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

static void
fly_list(struct provider *p)
{
	p->phase = PH_LIST;
	fly_issue(
	    p, ST_LIST, "GET", fly_url_list(p->base_url, p->app), NULL, p->request_timeout_ms);
}

static void
fly_get(struct provider *p)
{
	fly_issue(p, ST_GET, "GET", fly_url_machine(p->base_url, p->app, fly_target(p)->id, NULL),
	    NULL, p->request_timeout_ms);
}

static void
fly_start_machine(struct provider *p)
{
	struct machine *m = fly_target(p);

	fly_progress(p, "%s machine %s (%s)",
	    strcmp(m->state, "suspended") == 0 ? "resuming" : "starting", m->id, m->region);
	/* Machines_start defines no request body. */
	fly_issue(p, ST_START, "POST", fly_url_machine(p->base_url, p->app, m->id, "start"), NULL,
	    p->request_timeout_ms);
}

static void
fly_suspend_machine(struct provider *p)
{
	struct machine *m = fly_target(p);

	fly_progress(p, "suspending machine %s (%s)", m->id, m->region);
	/* Machines_suspend defines no request body. */
	fly_issue(p, ST_SUSPEND, "POST", fly_url_machine(p->base_url, p->app, m->id, "suspend"),
	    NULL, p->request_timeout_ms);
}

static void
fly_lease_machine(struct provider *p)
{
	fly_issue(p, ST_LEASE, "POST",
	    fly_url_machine(p->base_url, p->app, p->leases[p->lease_idx].id, "lease"),
	    p->lease_body, p->request_timeout_ms);
}

static void
fly_lease_get(struct provider *p)
{
	fly_issue(p, ST_LEASE_GET, "GET",
	    fly_url_machine(p->base_url, p->app, p->leases[p->lease_idx].id, "lease"), NULL,
	    p->request_timeout_ms);
}

static void
fly_stop_machine(struct provider *p)
{
	struct machine *m = fly_target(p);

	fly_progress(p, "stopping machine %s (%s)", m->id, m->region);
	fly_issue(p, ST_STOP, "POST", fly_url_machine(p->base_url, p->app, m->id, "stop"),
	    "{\"signal\":\"SIGTERM\"}", p->request_timeout_ms);
}

static void
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

static bool
fly_state_is(const struct machine *m, const char *s)
{
	return strcmp(m->state, s) == 0;
}

static bool
fly_state_startable(const struct machine *m)
{
	return fly_state_is(m, "stopped") || fly_state_is(m, "suspended") ||
	    fly_state_is(m, "failed");
}

/* Passing states that end by themselves; worth another attempt. */
static bool
fly_state_transient(const struct machine *m)
{
	static const char *const t[] = {"stopping", "suspending", "restarting", "creating",
	    "updating", "replacing", "launch_failed", NULL};
	int i;

	for (i = 0; t[i] != NULL; i++)
		if (fly_state_is(m, t[i]))
			return true;
	return false;
}

static void
fly_plan_activate(struct provider *p)
{
	static const char *const cold[] = {"stopped", "suspended", "failed", NULL};
	static const char *const warm[] = {"suspended", "stopped", "failed", NULL};
	const char *const *order = p->suspend_mode ? warm : cold;
	int running = machine_list_count_running(&p->ml), need, i, k;

	p->targets = xcalloc((size_t)p->ml.n + 1, sizeof(*p->targets));
	for (i = 0; i < p->ml.n; i++)
		if (fly_state_running(p->ml.v[i].state))
			p->targets[p->ntargets++] = i;
	need = p->count - running;
	/* Stopped machines boot clean and pull state; suspended ones are
	 * stopped first (a resume would skip the pull); failed ones last.
	 * In suspended mode the suspended ones come first and resume. */
	for (k = 0; order[k] != NULL && need > 0; k++)
		for (i = 0; i < p->ml.n && need > 0; i++)
			if (fly_state_is(&p->ml.v[i], order[k])) {
				p->targets[p->ntargets++] = i;
				need--;
			}
	p->shortfall = need > 0 ? need : 0;
	for (i = 0; i < p->ml.n; i++)
		if (fly_state_transient(&p->ml.v[i]))
			p->transient++;
	if (running >= p->count)
		fly_progress(p, "%d of %d machines already running", running, p->count);
}

static void
fly_plan_deactivate(struct provider *p)
{
	int i, suspended = 0;

	p->targets = xcalloc((size_t)p->ml.n + 1, sizeof(*p->targets));
	for (i = 0; i < p->ml.n; i++) {
		if (fly_state_running(p->ml.v[i].state) || fly_state_is(&p->ml.v[i], "stopping") ||
		    fly_state_is(&p->ml.v[i], "suspending"))
			p->targets[p->ntargets++] = i;
		else if (fly_state_is(&p->ml.v[i], "suspended"))
			suspended++;
	}
	/* A suspended machine serves nothing; stopping it would only throw
	 * its snapshot away. It is left alone. */
	if (suspended > 0)
		fly_progress(p, "leaving %d suspended machine(s) as they are", suspended);
}

static void
fly_finish_activate(struct provider *p)
{
	if (p->shortfall == 0) {
		fly_finish(p, PROV_OK, -1, NULL);
		return;
	}
	if (p->transient > 0) {
		fly_finish(p, PROV_RETRY, -1,
		    "app %s: %d machine(s) in a passing state, %d more needed to reach "
		    "FLY_MACHINE_COUNT %d",
		    p->app, p->transient, p->shortfall, p->count);
		return;
	}
	if (p->ml.n < p->count)
		fly_finish(p, PROV_CONFIG, -1,
		    "app %s has %d machine%s, FLY_MACHINE_COUNT is %d: deploy the standby with "
		    "`fly deploy` and leave a stopped machine",
		    p->app, p->ml.n, p->ml.n == 1 ? "" : "s", p->count);
	else
		fly_finish(p, PROV_CONFIG, -1,
		    "app %s: only %d of its %d machines can be started, FLY_MACHINE_COUNT is %d",
		    p->app, p->count - p->shortfall, p->ml.n, p->count);
}

/*
 * The machines this action will start, stop or suspend get a lease (with
 * FLY_LEASE=yes): those not running for an activation, the running ones
 * for a deactivation. Machines only waited for get none.
 */
static void
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

/* Planned: on to the leases, then the action. */
static void
fly_planned(struct provider *p)
{
	fly_plan_leases(p);
	p->phase = PH_LEASE;
	p->idx = p->sub = 0;
}

/* What a deactivation waits for on this target. */
static const char *
fly_deact_want(struct provider *p, const struct machine *m)
{
	if (!p->suspend_op || p->stopped_instead[p->idx] || fly_state_is(m, "stopping") ||
	    fly_state_is(m, "stopped"))
		return "stopped";
	return "suspended";
}

/* Issues the next request, or finishes. */
static void
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
static void
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

/*
 * The lease that answered 409, as GET shows it. This monitor's own (its
 * description; left by a run of it that was killed mid-action: a daemon
 * runs once per instance) is taken over with its nonce. Another holder's
 * ends the attempt as a retry naming it, timed to its expiry; one that
 * lapsed in between is asked for again, once.
 */
static void
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

static void
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

/*
 * The per-request timeouts. No single request outlives ACTIVATION_TIMEOUT
 * (nor 30 s): a request hung that long is given up and the attempt retried
 * ("retries go on"), instead of holding the failover for the full 30 s.
 * The /wait long-poll is bounded the same way; its 408 is re-issued at once.
 */
static void
fly_timeouts(struct provider *p)
{
	int64_t t = p->activation_timeout_ms;
	int w;

	if (t > FLY_REQUEST_TIMEOUT_MS || t <= 0)
		t = FLY_REQUEST_TIMEOUT_MS;
	if (t < FLY_REQUEST_TIMEOUT_MIN_MS)
		t = FLY_REQUEST_TIMEOUT_MIN_MS;
	p->request_timeout_ms = p->tune_request_ms > 0 ? p->tune_request_ms : t;
	if (p->tune_wait_s > 0)
		w = p->tune_wait_s;
	else if (p->activation_timeout_ms <= 0 ||
	    p->activation_timeout_ms >= (int64_t)FLY_WAIT_MAX_S * 1000)
		w = FLY_WAIT_MAX_S;
	else
		w = (int)((p->activation_timeout_ms + 999) / 1000);
	if (w < 1)
		w = 1;
	if (w > FLY_WAIT_MAX_S)
		w = FLY_WAIT_MAX_S;
	p->wait_s = w;
}

/* Forgets the plan and lists: a fresh start of this attempt. */
static void
fly_replan(struct provider *p)
{
	fly_plan_clear(p);
	machine_list_free(&p->ml);
	machine_list_free(&p->known);
	fly_list(p);
}

/*
 * An activation planned from the remembered listing, when that plan is
 * nothing but starting stopped machines; false (nothing changed) otherwise.
 */
static bool
fly_activate_from_known(struct provider *p)
{
	int64_t age = util_mono_ms() - p->known_mono;
	bool clean;
	int i;

	if (p->known.n == 0 || age < 0 || age > p->known_max_age_ms)
		return false;
	machine_list_copy(&p->ml, &p->known);
	fly_plan_activate(p);
	clean = p->ntargets > 0 && p->shortfall == 0 && p->transient == 0;
	/* Starts only: stopped machines, and suspended ones in suspended
	 * mode (their start is the resume). */
	for (i = 0; clean && i < p->ntargets; i++)
		clean = fly_state_is(&p->ml.v[p->targets[i]], "stopped") ||
		    (p->suspend_mode && fly_state_is(&p->ml.v[p->targets[i]], "suspended"));
	if (!clean) {
		fly_plan_clear(p);
		machine_list_free(&p->ml);
		return false;
	}
	p->from_known = true;
	log_debug("fly: %s: starting from the listing of %lldms ago", p->app, (long long)age);
	fly_planned(p);
	fly_next(p);
	return true;
}

static void
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

static void
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

/* "failoverd HOST[/INSTANCE]": whose lease it is, for `fly machine leases
 * view` and for this monitor to know its own after a restart. */
static void
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

static struct provider *
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

static void
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

static void
fly_reconfigure(struct provider *p, const struct config *cfg)
{
	fly_configure(p, cfg);
}

static int
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

static void
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
