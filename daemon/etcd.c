/*
 * The etcd v3 JSON gateway client: calls in flight, the endpoint list with
 * failover on connection failure, and authentication tokens; the bodies and
 * the strict parsing of replies are etcd_wire.c's. It owns no policy: coordination (who leads, what
 * is fenced) is for its caller. See etcd.h for the gateway's quirks.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "etcd.h"
#include "etcd_int.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define ETCD_DEFAULT_TIMEOUT_MS 2000
#define ETCD_MAX_REPLY (4 * 1024 * 1024)

struct etcd_call {
	TAILQ_ENTRY(etcd_call) entry;
	struct etcd *etcd;
	enum etcd_op op;
	const char *path; /* "/v3/lease/grant" */
	char *body;
	int64_t expect_id; /* keepalive: the lease asked about */
	etcd_cb *cb;
	void *arg;
	struct http_req *req;
	int64_t deadline; /* monotonic ms */
	size_t ep; /* endpoint of the current attempt */
	size_t tried; /* endpoints that could not be reached, this call */
	bool authing; /* the current attempt is /v3/auth/authenticate */
	int reauths;
	int64_t sent_mono;
};
TAILQ_HEAD(etcd_calls, etcd_call);

struct etcd {
	struct event_base *base;
	struct http *http;
	char *endpoints[ETCD_MAX_ENDPOINTS];
	size_t nendpoints;
	size_t cur; /* the endpoint that answered last */
	int64_t timeout_ms;
	char *user, *password, *ca_file, *cert_file, *key_file;
	char *token; /* secret: never logged */
	struct etcd_calls calls;
};

static const char *const etcd_op_names[] = {
    [ETCD_OP_AUTH] = "authenticate",
    [ETCD_OP_GRANT] = "grant",
    [ETCD_OP_KEEPALIVE] = "keepalive",
    [ETCD_OP_REVOKE] = "revoke",
    [ETCD_OP_PUT] = "put",
    [ETCD_OP_RANGE] = "range",
    [ETCD_OP_DELETE] = "delete",
    [ETCD_OP_TXN] = "txn",
};

const char *
etcd_op_str(enum etcd_op op)
{
	if ((unsigned)op >= sizeof(etcd_op_names) / sizeof(etcd_op_names[0]))
		return "?";
	return etcd_op_names[op];
}

/* --- the client ----------------------------------------------------------- */

static int etcd_attempt(struct etcd_call *);

struct etcd *
etcd_new(struct event_base *base, struct http *http, const struct etcd_config *cfg, char *err,
    size_t errlen)
{
	struct etcd *e;
	char *eps[ETCD_MAX_ENDPOINTS];
	int n, i;

	if (cfg == NULL || http == NULL) {
		snprintf(err, errlen, "no etcd configuration");
		return NULL;
	}
	if ((n = etcd_endpoints_parse(cfg->endpoints, eps, ETCD_MAX_ENDPOINTS, err, errlen)) < 0)
		return NULL;
	if ((cfg->user != NULL) != (cfg->password != NULL) ||
	    (cfg->cert_file != NULL) != (cfg->key_file != NULL)) {
		for (i = 0; i < n; i++)
			free(eps[i]);
		snprintf(err, errlen, "%s",
		    (cfg->user != NULL) != (cfg->password != NULL)
		        ? "an etcd user needs a password, and a password a user"
		        : "a TLS client certificate needs its key, and a key its certificate");
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->base = base;
	e->http = http;
	for (i = 0; i < n; i++)
		e->endpoints[i] = eps[i];
	e->nendpoints = (size_t)n;
	e->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
	e->user = cfg->user != NULL ? xstrdup(cfg->user) : NULL;
	e->password = cfg->password != NULL ? xstrdup(cfg->password) : NULL;
	e->ca_file = cfg->ca_file != NULL ? xstrdup(cfg->ca_file) : NULL;
	e->cert_file = cfg->cert_file != NULL ? xstrdup(cfg->cert_file) : NULL;
	e->key_file = cfg->key_file != NULL ? xstrdup(cfg->key_file) : NULL;
	TAILQ_INIT(&e->calls);
	return e;
}

static void
secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void
etcd_call_free(struct etcd_call *c)
{
	free(c->body);
	free(c);
}

void
etcd_cancel(struct etcd_call *c)
{
	if (c == NULL)
		return;
	http_request_cancel(c->req);
	TAILQ_REMOVE(&c->etcd->calls, c, entry);
	etcd_call_free(c);
}

void
etcd_free(struct etcd *e)
{
	size_t i;

	if (e == NULL)
		return;
	while (!TAILQ_EMPTY(&e->calls))
		etcd_cancel(TAILQ_FIRST(&e->calls));
	for (i = 0; i < e->nendpoints; i++)
		free(e->endpoints[i]);
	free(e->user);
	secret_free(e->password);
	secret_free(e->token);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	free(e);
}

/* Ends a call: off the list first, so that its callback may free anything. */
static void
etcd_finish(struct etcd_call *c, struct etcd_result *res)
{
	TAILQ_REMOVE(&c->etcd->calls, c, entry);
	res->op = c->op;
	res->sent_mono = c->sent_mono;
	c->cb(res, c->arg);
	etcd_result_clear(res);
	etcd_call_free(c);
}

static void etcd_fail(struct etcd_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
etcd_fail(struct etcd_call *c, const char *fmt, ...)
{
	struct etcd_result res;
	va_list ap;

	memset(&res, 0, sizeof(res));
	va_start(ap, fmt);
	vsnprintf(res.error, sizeof(res.error), fmt, ap);
	va_end(ap);
	res.endpoint = c->etcd->endpoints[c->ep];
	etcd_finish(c, &res);
}

static void
etcd_retry(struct etcd_call *c)
{
	if (etcd_attempt(c) == -1)
		etcd_fail(c, "etcd %s: cannot start a request", etcd_op_str(c->op));
}

/* A token refused: 401, or 3.4's 500 "invalid auth token" and kin. */
static bool
etcd_auth_refused(const struct etcd_result *res)
{
	return res->status == 401 || strstr(res->error, "invalid auth token") != NULL ||
	    strstr(res->error, "user name is empty") != NULL;
}

static void
etcd_http_done(const struct http_response *resp, void *arg)
{
	struct etcd_call *c = arg;
	struct etcd *e = c->etcd;
	const char *ep = e->endpoints[c->ep];
	struct etcd_result res;

	c->req = NULL;
	if (resp->err != HTTP_OK) {
		bool unreachable = resp->err == HTTP_ERR_CONNECT || resp->err == HTTP_ERR_DNS;

		if (unreachable && ++c->tried < e->nendpoints && c->deadline - util_mono_ms() > 0) {
			log_debug("etcd %s: %s: %s; trying the next endpoint", etcd_op_str(c->op),
			    ep, resp->error);
			c->ep = (c->ep + 1) % e->nendpoints;
			etcd_retry(c);
			return;
		}
		/* A member that hangs (stopped, cut off) is not asked first
		 * again: the next call starts at the next endpoint. This call is
		 * not resent, since the request may have been applied. */
		if (resp->err == HTTP_ERR_TIMEOUT)
			e->cur = (c->ep + 1) % e->nendpoints;
		if (unreachable && e->nendpoints > 1)
			etcd_fail(c, "etcd %s: no endpoint reachable (last %s: %s)",
			    etcd_op_str(c->op), ep, resp->error);
		else
			etcd_fail(c, "etcd %s: %s: %s", etcd_op_str(c->op), ep, resp->error);
		return;
	}
	/* The member that answered is asked first next time, unless it
	 * answered 5xx (no leader, request timed out: a member without
	 * quorum), then the next one is. */
	e->cur = resp->status >= 500 ? (c->ep + 1) % e->nendpoints : c->ep;
	memset(&res, 0, sizeof(res));
	res.endpoint = ep;
	if (c->authing) {
		if (etcd_parse_reply(
		        ETCD_OP_AUTH, resp->status, resp->body, resp->body_len, &res) == -1) {
			char msg[sizeof(res.error)];

			snprintf(msg, sizeof(msg), "%s", res.error);
			etcd_result_clear(&res);
			etcd_fail(c, "etcd %s: %s: authentication failed: %s", etcd_op_str(c->op),
			    ep, msg);
			return;
		}
		secret_free(e->token);
		e->token = res.token;
		res.token = NULL;
		etcd_result_clear(&res);
		c->authing = false;
		etcd_retry(c);
		return;
	}
	if (etcd_parse_reply(c->op, resp->status, resp->body, resp->body_len, &res) == -1) {
		char msg[sizeof(res.error)], *full;

		if (e->user != NULL && c->reauths == 0 && etcd_auth_refused(&res)) {
			/* The token expired (simple tokens: --auth-token-ttl, 300 s
			 * by default, after their last use). */
			log_debug("etcd %s: %s: token refused (%s); authenticating again",
			    etcd_op_str(c->op), ep, res.error);
			etcd_result_clear(&res);
			secret_free(e->token);
			e->token = NULL;
			c->reauths++;
			etcd_retry(c);
			return;
		}
		snprintf(msg, sizeof(msg), "%s", res.error);
		full = xasprintf("etcd %s: %s: %s", etcd_op_str(c->op), ep, msg);
		snprintf(res.error, sizeof(res.error), "%s", full);
		free(full);
		res.endpoint = ep;
		etcd_finish(c, &res);
		return;
	}
	if (c->op == ETCD_OP_KEEPALIVE && !res.lease_lost && res.lease_id != c->expect_id) {
		etcd_result_clear(&res);
		etcd_fail(c, "etcd keepalive: %s: the reply names another lease", ep);
		return;
	}
	res.endpoint = ep;
	etcd_finish(c, &res);
}

/*
 * Sends the current attempt (authentication first when a token is due).
 * -1 when the request cannot be started; a spent deadline ends the call.
 */
static int
etcd_attempt(struct etcd_call *c)
{
	struct etcd *e = c->etcd;
	struct http_request_opts o;
	const char *headers[3];
	char *url, *authhdr = NULL, *authbody = NULL;
	int64_t left = c->deadline - util_mono_ms();

	if (left <= 0) {
		etcd_fail(c, "etcd %s: timed out after %lld ms", etcd_op_str(c->op),
		    (long long)e->timeout_ms);
		return 0;
	}
	if (e->user != NULL && e->token == NULL)
		c->authing = true;
	memset(&o, 0, sizeof(o));
	headers[0] = "Content-Type: application/json";
	headers[1] = NULL;
	headers[2] = NULL;
	if (c->authing) {
		struct json_object *b = json_object_new_object();

		log_debug("etcd: authenticating as %s at %s", e->user, e->endpoints[c->ep]);
		json_object_object_add(b, "name", json_object_new_string(e->user));
		json_object_object_add(b, "password", json_object_new_string(e->password));
		authbody = etcd_json_take(b);
		url = xasprintf("%s/v3/auth/authenticate", e->endpoints[c->ep]);
		o.body = authbody;
	} else {
		if (e->token != NULL) {
			authhdr = xasprintf("Authorization: %s", e->token);
			headers[1] = authhdr;
		}
		url = xasprintf("%s%s", e->endpoints[c->ep], c->path);
		o.body = c->body;
	}
	o.method = "POST";
	o.url = url;
	o.headers = headers;
	o.body_len = strlen(o.body);
	o.timeout_ms = left;
	o.max_body = ETCD_MAX_REPLY;
	o.ca_file = e->ca_file;
	o.cert_file = e->cert_file;
	o.key_file = e->key_file;
	if (!c->authing)
		c->sent_mono = util_mono_ms();
	c->req = http_request_start(e->http, &o, etcd_http_done, c);
	free(url);
	secret_free(authhdr);
	secret_free(authbody);
	return c->req != NULL ? 0 : -1;
}

static struct etcd_call *
etcd_start(struct etcd *e, enum etcd_op op, const char *path, char *body, etcd_cb *cb, void *arg)
{
	struct etcd_call *c;

	if (e == NULL || cb == NULL) {
		free(body);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->etcd = e;
	c->op = op;
	c->path = path;
	c->body = body;
	c->cb = cb;
	c->arg = arg;
	c->ep = e->cur;
	c->deadline = util_mono_ms() + e->timeout_ms;
	TAILQ_INSERT_TAIL(&e->calls, c, entry);
	if (etcd_attempt(c) == -1) {
		/* Nothing started: no callback, as for a bad argument. */
		TAILQ_REMOVE(&e->calls, c, entry);
		etcd_call_free(c);
		return NULL;
	}
	return c;
}

struct etcd_call *
etcd_lease_grant(struct etcd *e, int64_t ttl_s, etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (ttl_s < ETCD_MIN_TTL)
		return NULL;
	o = json_object_new_object();
	etcd_jset_i64(o, "TTL", ttl_s);
	return etcd_start(e, ETCD_OP_GRANT, "/v3/lease/grant", etcd_json_take(o), cb, arg);
}

struct etcd_call *
etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_cb *cb, void *arg)
{
	struct json_object *o;
	struct etcd_call *c;

	if (id <= 0)
		return NULL;
	o = json_object_new_object();
	etcd_jset_i64(o, "ID", id);
	c = etcd_start(e, ETCD_OP_KEEPALIVE, "/v3/lease/keepalive", etcd_json_take(o), cb, arg);
	if (c != NULL)
		c->expect_id = id;
	return c;
}

struct etcd_call *
etcd_lease_revoke(struct etcd *e, int64_t id, etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (id <= 0)
		return NULL;
	o = json_object_new_object();
	etcd_jset_i64(o, "ID", id);
	return etcd_start(e, ETCD_OP_REVOKE, "/v3/lease/revoke", etcd_json_take(o), cb, arg);
}

struct etcd_call *
etcd_put(struct etcd *e, const char *key, const void *value, size_t vlen, int64_t lease,
    etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (key == NULL || *key == '\0' || lease < 0)
		return NULL;
	o = json_object_new_object();
	etcd_jset_b64(o, "key", key, strlen(key));
	etcd_jset_b64(o, "value", value != NULL ? value : "", value != NULL ? vlen : 0);
	if (lease != 0)
		etcd_jset_i64(o, "lease", lease);
	return etcd_start(e, ETCD_OP_PUT, "/v3/kv/put", etcd_json_take(o), cb, arg);
}

struct etcd_call *
etcd_range(struct etcd *e, const char *key, bool prefix, etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (key == NULL || (*key == '\0' && !prefix))
		return NULL;
	o = json_object_new_object();
	etcd_jset_key(o, key, prefix);
	return etcd_start(e, ETCD_OP_RANGE, "/v3/kv/range", etcd_json_take(o), cb, arg);
}

struct etcd_call *
etcd_delete(struct etcd *e, const char *key, bool prefix, etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (key == NULL || (*key == '\0' && !prefix))
		return NULL;
	o = json_object_new_object();
	etcd_jset_key(o, key, prefix);
	return etcd_start(e, ETCD_OP_DELETE, "/v3/kv/deleterange", etcd_json_take(o), cb, arg);
}

struct etcd_call *
etcd_txn_run(struct etcd *e, const struct etcd_txn *t, etcd_cb *cb, void *arg)
{
	if (t == NULL)
		return NULL;
	return etcd_start(e, ETCD_OP_TXN, "/v3/kv/txn", etcd_txn_body(t), cb, arg);
}
