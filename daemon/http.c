/*
 * libcurl multi driven by libevent: curl's multi-event.c and hiperfifo.c,
 * with the state in struct http instead of globals and errors returned as
 * data instead of exit().
 *
 * Re-entrancy: libcurl is only ever called from libevent callbacks or from
 * http_request_start/cancel/free, never from inside a libcurl callback.
 * Finished transfers are collected after curl_multi_socket_action has
 * returned and only then are user callbacks run, one at a time; a callback
 * may start or cancel other requests or free the whole struct http.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "http.h"
#include "log.h"
#include "timer.h"
#include "util.h"

#define HTTP_DEFAULT_TIMEOUT_MS (30 * 1000)
#define HTTP_MAX_CONNECT_MS (10 * 1000)
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)
/*
 * Finished easy handles kept for the next request (curl_easy_reset clears
 * every option; the handle keeps its buffers, so a check every few seconds
 * does not allocate and free libcurl's ~20 KiB of per-handle state each
 * time). Connections live in the multi handle, not here, so reuse never
 * means a reused connection: CURLOPT_FRESH_CONNECT still decides that.
 */
#define HTTP_POOL_MAX 4

enum req_state {
	REQ_ACTIVE, /* in the multi handle */
	REQ_DONE, /* finished, waiting for its callback */
	REQ_CALLING, /* its callback is running */
};

struct http_req {
	TAILQ_ENTRY(http_req) entry;
	struct http *http;
	enum req_state state;
	CURL *easy;
	struct curl_slist *headers;
	http_done_cb *cb;
	void *arg;

	char *body;
	size_t body_len, body_cap, max_body;
	bool too_large, keep_partial;
	int64_t retry_after_ms;
	int64_t timeout_ms, connect_ms;
	int64_t start_mono;
	char errbuf[CURL_ERROR_SIZE];
	char *url; /* to keep it out of error texts */

	struct http_response resp;
	char error[256];
};
TAILQ_HEAD(http_reqs, http_req);

/* One per socket libcurl asks us to watch. */
struct http_sock {
	LIST_ENTRY(http_sock) entry;
	struct http *http;
	curl_socket_t fd;
	struct event *ev;
	int what;
};

struct http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer; /* libcurl's timeout */
	struct http_reqs active;
	struct http_reqs done;
	LIST_HEAD(http_socks, http_sock) socks;
	CURL *pool[HTTP_POOL_MAX]; /* idle easy handles */
	int npool;
	int dispatching; /* depth of http_dispatch */
	bool dying; /* http_free called from a callback */
};

static bool http_global_done;

static const char *const http_error_names[] = {
    [HTTP_OK] = "ok",
    [HTTP_ERR_DNS] = "dns",
    [HTTP_ERR_CONNECT] = "connect",
    [HTTP_ERR_TLS] = "tls",
    [HTTP_ERR_TIMEOUT] = "timeout",
    [HTTP_ERR_TOO_LARGE] = "too-large",
    [HTTP_ERR_PROTOCOL] = "protocol",
    [HTTP_ERR_OTHER] = "other",
};

const char *
http_error_str(enum http_error e)
{
	if ((unsigned)e >= sizeof(http_error_names) / sizeof(http_error_names[0]))
		return "other";
	return http_error_names[e];
}

static void http_process(struct http *);
static void http_req_free(struct http_req *);

/* --- libcurl -> libevent ------------------------------------------------- */

static void
http_sock_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_sock *s = arg;
	struct http *h = s->http;
	int flags = 0, running;

	if (events & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	/* s may be freed inside this call (CURL_POLL_REMOVE). */
	curl_multi_socket_action(h->multi, fd, flags, &running);
	http_process(h);
}

static int
http_socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct http_sock *s = socketp;
	short kind;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			LIST_REMOVE(s, entry);
			if (s->ev != NULL)
				event_free(s->ev);
			free(s);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->http = h;
		s->fd = fd;
		LIST_INSERT_HEAD(&h->socks, s, entry);
		curl_multi_assign(h->multi, fd, s);
	} else if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	s->what = what;
	s->ev = event_new(h->base, fd, kind, http_sock_cb, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1) {
		/* -1 makes curl fail this transfer now instead of at its timeout. */
		log_warnx("http: cannot watch a socket");
		return -1;
	}
	return 0;
}

/* Only arms a libevent timer: calling back into libcurl here is not allowed. */
static int
http_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	util_timer_in(h->timer, timeout_ms);
	return 0;
}

static void
http_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http *h = arg;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_process(h);
}

/* --- request data -------------------------------------------------------- */

static size_t
http_write_fn(char *data, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n, cap;

	if (len > r->max_body - r->body_len) {
		r->too_large = true;
		if (r->keep_partial)
			len = r->max_body - r->body_len; /* keep what fits */
		else
			len = 0;
		if (len == 0)
			return 0; /* CURLE_WRITE_ERROR aborts the transfer */
	}
	if (r->body_len + len + 1 > r->body_cap) {
		cap = r->body_cap ? r->body_cap : 1024;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		if (cap > r->max_body + 1)
			cap = r->max_body + 1;
		r->body = xrealloc(r->body, cap);
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return r->too_large ? 0 : len;
}

/* Retry-After: delta-seconds or an HTTP date (in the past = 0); else -1. */
static int64_t
http_parse_retry_after(const char *v, size_t len)
{
	long long secs = 0;
	size_t i = 0;
	char date[64];
	time_t t;

	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	while (len > i && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	if (i == len)
		return -1;
	if (!isdigit((unsigned char)v[i])) {
		if (len - i >= sizeof(date))
			return -1;
		memcpy(date, v + i, len - i);
		date[len - i] = '\0';
		if ((t = curl_getdate(date, NULL)) == -1)
			return -1;
		t -= time(NULL);
		if (t > 86400LL * 365)
			return -1;
		return t > 0 ? (int64_t)t * 1000 : 0;
	}
	for (; i < len && isdigit((unsigned char)v[i]); i++) {
		secs = secs * 10 + (v[i] - '0');
		if (secs > 86400LL * 365)
			return -1;
	}
	while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
		i++;
	if (i != len)
		return -1;
	return secs * 1000;
}

static size_t
http_header_fn(char *data, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		r->retry_after_ms = -1; /* a new response (after 100 Continue) */
	else if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0)
		r->retry_after_ms =
		    http_parse_retry_after(data + sizeof(name) - 1, len - (sizeof(name) - 1));
	return len;
}

/* --- completion ---------------------------------------------------------- */

static bool
http_is_tls(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED: return true;
	default: return false;
	}
}

/* curl's detailed message, unless it could show the URL or its secrets. */
static const char *
http_detail(struct http_req *r, CURLcode rc)
{
	size_t n = strlen(r->errbuf);

	while (n > 0 && (r->errbuf[n - 1] == '\n' || r->errbuf[n - 1] == '.'))
		r->errbuf[--n] = '\0';
	if (n == 0 || strchr(r->errbuf, '/') != NULL || strchr(r->errbuf, '@') != NULL ||
	    strchr(r->errbuf, '?') != NULL || strstr(r->errbuf, r->url) != NULL)
		return curl_easy_strerror(rc);
	return r->errbuf;
}

/*
 * TLS failures in our own words: OpenSSL's texts are long and library
 * specific. Only the part after "SSL certificate problem: " is kept, which
 * names the problem ("self-signed certificate") and never the URL.
 */
static void
http_tls_message(struct http_req *r, CURLcode rc)
{
	static const char certp[] = "SSL certificate problem: ";
	const char *p;

	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		p = strstr(r->errbuf, certp);
		if (p != NULL && strchr(p, '/') == NULL && strchr(p, '@') == NULL)
			snprintf(r->error, sizeof(r->error), "certificate verify failed (%s)",
			    p + sizeof(certp) - 1);
		else if (strstr(r->errbuf, "subject name") != NULL ||
		    strstr(r->errbuf, "does not match") != NULL)
			snprintf(r->error, sizeof(r->error),
			    "certificate verify failed (name does not match)");
		else
			snprintf(r->error, sizeof(r->error), "certificate verify failed");
		break;
	case CURLE_SSL_CONNECT_ERROR:
		if (strstr(r->errbuf, "wrong version number") != NULL)
			snprintf(
			    r->error, sizeof(r->error), "handshake failed (not a TLS server?)");
		else if (strstr(r->errbuf, "alert") != NULL)
			snprintf(
			    r->error, sizeof(r->error), "handshake failed (alert from server)");
		else
			snprintf(r->error, sizeof(r->error), "handshake failed");
		break;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(r->error, sizeof(r->error), "cannot use the CA file");
		break;
	default: snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(rc)); break;
	}
	/* "certificate verify failed (self-signed certificate)": no newline. */
	r->error[strcspn(r->error, "\r\n")] = '\0';
}

static void
http_size_fmt(size_t n, char *buf, size_t len)
{
	if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
		snprintf(buf, len, "%zu MiB", n / (1024 * 1024));
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(buf, len, "%zu KiB", n / 1024);
	else
		snprintf(buf, len, "%zu bytes", n);
}

static void
http_classify(struct http_req *r, CURLcode rc)
{
	struct http_response *resp = &r->resp;
	long status = 0, oserr = 0;
	char *ip = NULL;
	char size[32];

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_IP, &ip);

	if (rc == CURLE_OK) {
		resp->err = HTTP_OK;
		resp->status = (int)status;
		return;
	}
	resp->status = 0;
	if (r->too_large && r->keep_partial && status > 0) {
		resp->err = HTTP_OK;
		resp->status = (int)status;
		return;
	}
	if (r->too_large) {
		resp->err = HTTP_ERR_TOO_LARGE;
		http_size_fmt(r->max_body, size, sizeof(size));
		snprintf(r->error, sizeof(r->error), "body over %s", size);
		return;
	}
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		resp->err = HTTP_ERR_DNS;
		snprintf(r->error, sizeof(r->error), "could not resolve host");
		return;
	case CURLE_COULDNT_CONNECT:
		resp->err = HTTP_ERR_CONNECT;
		if (oserr == ECONNREFUSED || oserr == 0)
			snprintf(r->error, sizeof(r->error), "connection refused");
		else
			snprintf(
			    r->error, sizeof(r->error), "cannot connect: %s", strerror((int)oserr));
		return;
	case CURLE_OPERATION_TIMEDOUT:
		resp->err = HTTP_ERR_TIMEOUT;
		if (ip == NULL || *ip == '\0' ||
		    util_mono_ms() - r->start_mono < r->timeout_ms - 50)
			snprintf(r->error, sizeof(r->error), "connect timeout after %lldms",
			    (long long)r->connect_ms);
		else
			snprintf(r->error, sizeof(r->error), "timeout after %lldms",
			    (long long)r->timeout_ms);
		return;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (status == 0 && r->body_len == 0) {
			resp->err = HTTP_ERR_CONNECT;
			if (oserr == ECONNRESET || oserr == EPIPE)
				snprintf(r->error, sizeof(r->error), "connection reset by peer");
			else
				snprintf(r->error, sizeof(r->error), "%s", http_detail(r, rc));
			return;
		}
		resp->err = HTTP_ERR_PROTOCOL;
		snprintf(r->error, sizeof(r->error), "connection reset mid-response");
		return;
	case CURLE_GOT_NOTHING:
		/* Closed or reset before a single byte of response. */
		resp->err = HTTP_ERR_CONNECT;
		snprintf(r->error, sizeof(r->error), "%s",
		    oserr == ECONNRESET ? "connection reset by peer"
		                        : "connection closed before a response");
		return;
	case CURLE_WEIRD_SERVER_REPLY:
		resp->err = HTTP_ERR_PROTOCOL;
		snprintf(r->error, sizeof(r->error), "not an HTTP response");
		return;
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* Also what HTTP/0.9 (i.e. garbage) looks like once connected. */
		if (ip != NULL && *ip != '\0') {
			resp->err = HTTP_ERR_PROTOCOL;
			snprintf(r->error, sizeof(r->error), "not an HTTP response");
		} else {
			resp->err = HTTP_ERR_OTHER;
			snprintf(r->error, sizeof(r->error), "unsupported URL scheme");
		}
		return;
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING:
		resp->err = HTTP_ERR_PROTOCOL;
		snprintf(r->error, sizeof(r->error), "%s", http_detail(r, rc));
		return;
	case CURLE_URL_MALFORMAT:
		resp->err = HTTP_ERR_OTHER;
		snprintf(r->error, sizeof(r->error), "malformed URL");
		return;
	default: break;
	}
	if (http_is_tls(rc)) {
		resp->err = HTTP_ERR_TLS;
		http_tls_message(r, rc);
		return;
	}
	resp->err = HTTP_ERR_OTHER;
	snprintf(r->error, sizeof(r->error), "%s", http_detail(r, rc));
}

static void
http_finish(struct http_req *r, CURLcode rc)
{
	struct http_response *resp = &r->resp;

	memset(resp, 0, sizeof(*resp));
	http_classify(r, rc);
	resp->error = resp->err == HTTP_OK ? NULL : r->error;
	resp->body = r->body != NULL ? r->body : "";
	resp->body_len = r->body_len;
	resp->truncated = resp->err == HTTP_OK && r->too_large;
	resp->retry_after_ms = resp->err == HTTP_OK ? r->retry_after_ms : -1;
	resp->total_ms = (double)(util_mono_ms() - r->start_mono);
	/* A finer duration when curl has one. */
	{
		curl_off_t us = 0;

		if (curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK && us > 0)
			resp->total_ms = (double)us / 1000.0;
	}
}

/* Runs the callbacks of finished requests, one at a time. */
static void
http_dispatch(struct http *h)
{
	struct http_req *r;

	h->dispatching++;
	while (!h->dying && (r = TAILQ_FIRST(&h->done)) != NULL) {
		TAILQ_REMOVE(&h->done, r, entry);
		r->state = REQ_CALLING;
		r->cb(&r->resp, r->arg);
		http_req_free(r);
	}
	h->dispatching--;
	if (h->dying && h->dispatching == 0)
		http_free(h);
}

static void
http_process(struct http *h)
{
	struct http_req *r;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r == NULL || r->state != REQ_ACTIVE)
			continue;
		http_finish(r, msg->data.result);
		curl_multi_remove_handle(h->multi, r->easy);
		TAILQ_REMOVE(&h->active, r, entry);
		r->state = REQ_DONE;
		TAILQ_INSERT_TAIL(&h->done, r, entry);
	}
	if (h->dispatching == 0)
		http_dispatch(h);
}

/* --- public -------------------------------------------------------------- */

struct http *
http_new(struct event_base *base)
{
	struct http *h;

	if (base == NULL)
		return NULL;
	if (!http_global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_warnx("http: curl_global_init failed");
			return NULL;
		}
		http_global_done = true;
		if ((curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS) == 0)
			log_warnx("http: libcurl has no asynchronous resolver: "
			          "name lookups will block the loop");
	}
	h = xcalloc(1, sizeof(*h));
	h->base = base;
	TAILQ_INIT(&h->active);
	TAILQ_INIT(&h->done);
	LIST_INIT(&h->socks);
	if ((h->multi = curl_multi_init()) == NULL ||
	    (h->timer = evtimer_new(base, http_timer_cb, h)) == NULL) {
		if (h->multi != NULL)
			curl_multi_cleanup(h->multi);
		free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_socket_fn);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_fn);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

/* An easy handle with every option at its default. */
static CURL *
http_easy_get(struct http *h)
{
	CURL *e;

	if (h->npool == 0)
		return curl_easy_init();
	e = h->pool[--h->npool];
	curl_easy_reset(e);
	return e;
}

/* Only handles no longer in the multi come here. */
static void
http_easy_put(struct http *h, CURL *e)
{
	if (e == NULL)
		return;
	if (h != NULL && !h->dying && h->npool < HTTP_POOL_MAX)
		h->pool[h->npool++] = e;
	else
		curl_easy_cleanup(e);
}

static void
http_req_free(struct http_req *r)
{
	if (r == NULL)
		return;
	http_easy_put(r->http, r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->url);
	free(r);
}

void
http_free(struct http *h)
{
	struct http_req *r;
	struct http_sock *s;

	if (h == NULL)
		return;
	while ((r = TAILQ_FIRST(&h->active)) != NULL)
		http_request_cancel(r);
	while ((r = TAILQ_FIRST(&h->done)) != NULL)
		http_request_cancel(r);
	if (h->dispatching > 0) {
		/* Called from a callback: http_dispatch finishes the job. */
		h->dying = true;
		return;
	}
	curl_multi_cleanup(h->multi);
	while (h->npool > 0)
		curl_easy_cleanup(h->pool[--h->npool]);
	/* Cached connections curl closed without telling us, if any. */
	while ((s = LIST_FIRST(&h->socks)) != NULL) {
		LIST_REMOVE(s, entry);
		if (s->ev != NULL)
			event_free(s->ev);
		free(s);
	}
	event_free(h->timer);
	free(h);
}

struct http_req *
http_request_start(struct http *h, const struct http_request_opts *o, http_done_cb *cb, void *arg)
{
	struct http_req *r;
	CURL *e;
	const char *method;
	int64_t timeout;
	const char *const *hp;
	struct curl_slist *l;
	CURLcode rc = CURLE_OK;

	if (h == NULL || h->dying || o == NULL || o->url == NULL || cb == NULL)
		return NULL;
	if ((e = http_easy_get(h)) == NULL)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->http = h;
	r->easy = e;
	r->cb = cb;
	r->arg = arg;
	r->url = xstrdup(o->url);
	r->retry_after_ms = -1;
	r->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
	r->keep_partial = o->keep_partial;
	timeout = o->timeout_ms > 0 ? o->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	r->timeout_ms = timeout;
	r->connect_ms = timeout < HTTP_MAX_CONNECT_MS ? timeout : HTTP_MAX_CONNECT_MS;
	method = o->method != NULL ? o->method : "GET";

	for (hp = o->headers; hp != NULL && *hp != NULL; hp++) {
		if ((l = curl_slist_append(r->headers, *hp)) == NULL)
			goto fail;
		r->headers = l;
	}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(e, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, o->url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* A transfer ended while its name is still being resolved (a check's
	 * timeout, a cancel) would otherwise join the resolver thread, i.e.
	 * block the loop until getaddrinfo gives up (seconds with a DNS server
	 * that never answers). With this the thread is left to finish alone. */
	SET(CURLOPT_QUICK_EXIT, 1L);
#endif
	SET(CURLOPT_NOPROXY, "*");
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	if (o->fresh_connect) {
		SET(CURLOPT_FRESH_CONNECT, 1L);
		SET(CURLOPT_FORBID_REUSE, 1L);
	}
	SET(CURLOPT_TIMEOUT_MS, (long)timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)r->connect_ms);
	SET(CURLOPT_WRITEFUNCTION, http_write_fn);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, http_header_fn);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_USERAGENT, "failoverd/" PACKAGE_VERSION);
	SET(CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	if (o->ca_file != NULL && *o->ca_file != '\0')
		SET(CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file != NULL && *o->cert_file != '\0')
		SET(CURLOPT_SSLCERT, o->cert_file);
	if (o->key_file != NULL && *o->key_file != '\0')
		SET(CURLOPT_SSLKEY, o->key_file);
	if (r->headers != NULL)
		SET(CURLOPT_HTTPHEADER, r->headers);
	if (o->body != NULL) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
		SET(CURLOPT_COPYPOSTFIELDS, o->body);
	}
	if (strcmp(method, "GET") == 0)
		SET(CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0 && o->body == NULL) {
		SET(CURLOPT_POSTFIELDSIZE, 0L);
		SET(CURLOPT_POSTFIELDS, "");
	} else if (strcmp(method, "POST") != 0)
		SET(CURLOPT_CUSTOMREQUEST, method);
#undef SET
	if (rc != CURLE_OK) {
		log_warnx("http: cannot set up a request: %s", curl_easy_strerror(rc));
		goto fail;
	}

	r->start_mono = util_mono_ms();
	r->state = REQ_ACTIVE;
	TAILQ_INSERT_TAIL(&h->active, r, entry);
	/* Only arms the timer (timeout 0): the transfer starts from the loop. */
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		TAILQ_REMOVE(&h->active, r, entry);
		goto fail;
	}
	return r;
fail:
	http_req_free(r);
	return NULL;
}

void
http_request_cancel(struct http_req *r)
{
	struct http *h;

	if (r == NULL)
		return;
	h = r->http;
	switch (r->state) {
	case REQ_ACTIVE:
		TAILQ_REMOVE(&h->active, r, entry);
		curl_multi_remove_handle(h->multi, r->easy);
		break;
	case REQ_DONE: TAILQ_REMOVE(&h->done, r, entry); break;
	case REQ_CALLING: return; /* freed when its callback returns */
	}
	http_req_free(r);
}
