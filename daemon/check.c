/*
 * Health checks (relayd's check_http.c and hce.c, in one file): a probe is
 * one HTTP GET judged against HEALTHY_STATUS and HEALTH_EXPECT; the checker
 * runs probes of LOCAL_HEALTH_URL on a timer that its owner re-arms from the
 * result callback, so checks never overlap and intervals run from the end
 * of one check to the start of the next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "check.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "timer.h"
#include "util.h"

struct check_probe {
	struct http_req *req;
	check_cb *cb;
	void *arg;
	bool calling;
	/* What the verdict needs, copied: a reload may free the config. */
	struct config cfg;
};

struct check_waiter {
	check_cb *cb;
	void *arg;
};

struct checker {
	struct event_base *base;
	struct http *http;
	const struct config *cfg;
	check_cb *cb;
	void *arg;
	struct event *timer;
	struct check_probe *probe; /* the check in flight */
	struct check_waiter *waiters; /* joined the check in flight */
	size_t nwaiters;
	int in_cb; /* depth of callbacks running */
	bool dying; /* checker_free from inside a callback */
};

void
check_judge(const struct http_response *resp, const struct config *cfg, struct check_result *r)
{
	memset(r, 0, sizeof(*r));
	r->latency_ms = resp->total_ms;
	r->time_ms = util_now_ms();

	switch (resp->err) {
	case HTTP_OK: break;
	case HTTP_ERR_DNS: snprintf(r->error, sizeof(r->error), "DNS: %s", resp->error); return;
	case HTTP_ERR_TLS: snprintf(r->error, sizeof(r->error), "TLS: %s", resp->error); return;
	default:
		snprintf(r->error, sizeof(r->error), "%s",
		    resp->error != NULL ? resp->error : http_error_str(resp->err));
		return;
	}
	r->status = resp->status;
	if (!config_status_healthy(cfg, resp->status)) {
		snprintf(r->error, sizeof(r->error), "HTTP %d", resp->status);
		return;
	}
	if (cfg->health_expect != NULL && *cfg->health_expect != '\0' &&
	    memmem(resp->body, resp->body_len, cfg->health_expect, strlen(cfg->health_expect)) ==
	        NULL) {
		snprintf(r->error, sizeof(r->error), "body does not contain \"%.64s%s\"",
		    cfg->health_expect, strlen(cfg->health_expect) > 64 ? "..." : "");
		return;
	}
	r->healthy = true;
}

/* --- probes -------------------------------------------------------------- */

static void
check_probe_free(struct check_probe *p)
{
	free(p->cfg.health_expect);
	free(p);
}

static void
check_probe_done(const struct http_response *resp, void *arg)
{
	struct check_probe *p = arg;
	struct check_result r;

	p->req = NULL;
	check_judge(resp, &p->cfg, &r);
	p->calling = true;
	p->cb(&r, p->arg);
	check_probe_free(p);
}

struct check_probe *
check_probe_start(
    struct http *h, const struct config *cfg, const char *url, check_cb *cb, void *arg)
{
	struct check_probe *p;
	struct http_request_opts o;

	if (h == NULL || cfg == NULL || url == NULL || cb == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->cb = cb;
	p->arg = arg;
	memcpy(p->cfg.healthy_status, cfg->healthy_status, sizeof(p->cfg.healthy_status));
	p->cfg.n_healthy_status = cfg->n_healthy_status;
	if (cfg->health_expect != NULL)
		p->cfg.health_expect = xstrdup(cfg->health_expect);

	memset(&o, 0, sizeof(o));
	o.method = "GET";
	o.url = url;
	o.timeout_ms = cfg->check_timeout_ms;
	o.max_body = CHECK_MAX_BODY;
	/* Without HEALTH_EXPECT the body does not matter: a big page is read
	 * up to the limit and judged by its status. With it, a body over the
	 * limit is an error rather than a search in part of it. */
	o.fresh_connect = true;
	o.keep_partial = p->cfg.health_expect == NULL || *p->cfg.health_expect == '\0';
	o.ca_file = cfg->health_ca_file;
	o.insecure = cfg->health_insecure;
	if ((p->req = http_request_start(h, &o, check_probe_done, p)) == NULL) {
		check_probe_free(p);
		return NULL;
	}
	return p;
}

void
check_probe_cancel(struct check_probe *p)
{
	if (p == NULL || p->calling)
		return; /* from its own callback: freed when that returns */
	http_request_cancel(p->req);
	check_probe_free(p);
}

/* --- the scheduler ------------------------------------------------------- */

static void checker_run(struct checker *);

static void
checker_release(struct checker *c)
{
	event_free(c->timer);
	free(c->waiters);
	free(c);
}

static void
checker_deliver(struct checker *c, const struct check_result *r)
{
	struct check_waiter *w = c->waiters;
	size_t n = c->nwaiters;

	/* The callbacks may start the next check, which gets its own waiters. */
	c->waiters = NULL;
	c->nwaiters = 0;
	c->in_cb++;
	c->cb(r, c->arg);
	for (size_t i = 0; i < n && !c->dying; i++)
		w[i].cb(r, w[i].arg);
	c->in_cb--;
	free(w);
	if (c->dying && c->in_cb == 0)
		checker_release(c);
}

static void
checker_done(const struct check_result *r, void *arg)
{
	struct checker *c = arg;

	c->probe = NULL;
	checker_deliver(c, r);
}

/* Starts a probe; -1 when it cannot. */
static int
checker_start(struct checker *c)
{
	c->probe = check_probe_start(c->http, c->cfg, c->cfg->local_health_url, checker_done, c);
	if (c->probe == NULL)
		return -1;
	evtimer_del(c->timer);
	return 0;
}

static void
checker_run(struct checker *c)
{
	struct check_result r;

	if (c->probe != NULL)
		return;
	if (checker_start(c) == 0)
		return;
	/* Counted as a failed check, so the owner still sees a result. */
	memset(&r, 0, sizeof(r));
	snprintf(r.error, sizeof(r.error), "cannot start a check");
	r.time_ms = util_now_ms();
	log_warnx("check: cannot start a check");
	checker_deliver(c, &r);
}

static void
checker_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	checker_run(arg);
}

struct checker *
checker_new(
    struct event_base *base, struct http *h, const struct config *cfg, check_cb *cb, void *arg)
{
	struct checker *c;

	if (base == NULL || h == NULL || cfg == NULL || cb == NULL)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->http = h;
	c->cfg = cfg;
	c->cb = cb;
	c->arg = arg;
	if ((c->timer = evtimer_new(base, checker_timer_cb, c)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
checker_free(struct checker *c)
{
	if (c == NULL || c->dying)
		return;
	check_probe_cancel(c->probe);
	c->probe = NULL;
	evtimer_del(c->timer);
	if (c->in_cb > 0) {
		c->dying = true;
		return;
	}
	checker_release(c);
}

void
checker_set_config(struct checker *c, const struct config *cfg)
{
	if (c != NULL && cfg != NULL)
		c->cfg = cfg;
}

void
checker_schedule(struct checker *c, int64_t delay_ms)
{
	if (c == NULL || c->dying || c->probe != NULL)
		return;
	util_timer_in(c->timer, delay_ms);
}

void
checker_stop(struct checker *c)
{
	if (c != NULL)
		evtimer_del(c->timer);
}

bool
checker_in_flight(const struct checker *c)
{
	return c != NULL && c->probe != NULL;
}

int
checker_check_now(struct checker *c, check_cb *waiter_cb, void *waiter_arg)
{
	if (c == NULL || c->dying || waiter_cb == NULL)
		return -1;
	if (c->probe == NULL && checker_start(c) == -1)
		return -1;
	c->waiters = xrealloc(c->waiters, (c->nwaiters + 1) * sizeof(*c->waiters));
	c->waiters[c->nwaiters].cb = waiter_cb;
	c->waiters[c->nwaiters].arg = waiter_arg;
	c->nwaiters++;
	return 0;
}

json_object *
check_result_json(const struct check_result *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "healthy", json_object_new_boolean(r->healthy));
	json_object_object_add(o, "status", r->status > 0 ? json_object_new_int(r->status) : NULL);
	json_object_object_add(o, "latency_ms", json_object_new_double(r->latency_ms));
	json_object_object_add(o, "error", r->healthy ? NULL : json_object_new_string(r->error));
	return o;
}
