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

#include <event2/event.h>

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

enum fly_phase {
	PH_IDLE,
	PH_LIST,
	PH_ACT, /* starting (activate) or stopping (deactivate) */
	PH_WAIT, /* waiting for each target */
};

enum fly_step {
	ST_LIST,
	ST_START,
	ST_STOP,
	ST_GET,
	ST_WAIT,
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
	const char *headers[4];

	enum fly_phase phase;
	struct machine_list ml;
	int *targets; /* indexes into ml */
	int ntargets;
	int idx; /* current target */
	int sub; /* step within the target in PH_ACT / PH_WAIT */
	bool after_timeout; /* the last wait of this target got a 408 */
	int shortfall; /* activate: machines wanted but not startable */
	int transient; /* activate: machines in a passing state */
};

static void fly_next(struct provider *);
static void fly_replan(struct provider *);

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

/* Forgets the plan of this attempt (the targets and where we are in it). */
static void
fly_plan_clear(struct provider *p)
{
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
	}
	return FLY_CALL_GET;
}

/* The text after the step's name: " of APP" or " ID". */
static void
fly_step_what(struct provider *p, char *buf, size_t len)
{
	if (p->step == ST_LIST)
		snprintf(buf, len, "list machines of %s", p->app);
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
	if (body != NULL)
		p->headers[h++] = "Content-Type: application/json";
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

	fly_progress(p, "starting machine %s (%s)", m->id, m->region);
	fly_issue(p, ST_START, "POST", fly_url_machine(p->base_url, p->app, m->id, "start"), "{}",
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
	static const char *const order[] = {"stopped", "suspended", "failed", NULL};
	int running = machine_list_count_running(&p->ml), need, i, k;

	p->targets = xcalloc((size_t)p->ml.n + 1, sizeof(*p->targets));
	for (i = 0; i < p->ml.n; i++)
		if (fly_state_running(p->ml.v[i].state))
			p->targets[p->ntargets++] = i;
	need = p->count - running;
	/* Stopped machines boot clean and pull state; suspended ones are
	 * stopped first (a resume would skip the pull); failed ones last. */
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
		if (fly_state_running(p->ml.v[i].state) || fly_state_is(&p->ml.v[i], "stopping"))
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
				 * stopped, 3 start. Others: sub 0 start. */
				if (p->sub == 0 && fly_state_is(m, "suspended")) {
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
		fly_wait(p, p->op == PROV_OP_ACTIVATE ? "started" : "stopped");
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
		fly_finish(
		    p, PROV_RETRY, -1, "machine %s is started again instead of stopping", m->id);
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
		strlcpy(fly_target(p)->state, "starting", sizeof(fly_target(p)->state));
		p->idx++;
		p->sub = 0;
		break;
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
		strlcpy(fly_target(p)->state, p->op == PROV_OP_ACTIVATE ? "started" : "stopped",
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
	for (i = 0; clean && i < p->ntargets; i++)
		clean = fly_state_is(&p->ml.v[p->targets[i]], "stopped");
	if (!clean) {
		fly_plan_clear(p);
		machine_list_free(&p->ml);
		return false;
	}
	p->from_known = true;
	log_debug("fly: %s: starting from the listing of %lldms ago", p->app, (long long)age);
	p->phase = PH_ACT;
	p->idx = p->sub = 0;
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
	fly_timeouts(p);
	/* Another app or API: what was listed says nothing about it. */
	machine_list_free(&p->known);
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
	fly_configure(p, cfg);
	return p;
}

static void
fly_destroy(struct provider *p)
{
	if (p == NULL)
		return;
	fly_reset(p);
	machine_list_free(&p->ml);
	machine_list_free(&p->known);
	event_free(p->ev);
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
	p->done = cb;
	p->progress = progress;
	p->arg = arg;
	p->phase = PH_IDLE;
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

const struct provider_ops provider_fly_ops = {
    .name = "fly",
    .create = fly_create,
    .destroy = fly_destroy,
    .reconfigure = fly_reconfigure,
    .start = fly_start,
    .cancel = fly_cancel,
};
