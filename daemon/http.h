/*
 * The one libcurl-multi <-> libevent module (curl's multi-event.c pattern,
 * without globals or exits). Every HTTP call in the daemon goes through it;
 * nothing here ever blocks the loop. Completion callbacks run from the event
 * loop after libcurl has returned, never from inside a libcurl callback.
 */
#ifndef FOD_HTTP_H
#define FOD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct http;
struct http_req;

enum http_error {
	HTTP_OK = 0, /* a response arrived (any status) */
	HTTP_ERR_DNS, /* name did not resolve */
	HTTP_ERR_CONNECT, /* refused, unreachable, reset before a response */
	HTTP_ERR_TLS, /* handshake or certificate problem */
	HTTP_ERR_TIMEOUT, /* timeout_ms elapsed */
	HTTP_ERR_TOO_LARGE, /* body over max_body */
	HTTP_ERR_PROTOCOL, /* garbage instead of HTTP, reset mid-body */
	HTTP_ERR_OTHER,
};

const char *http_error_str(enum http_error); /* "dns", "connect", "tls", ... */

struct http_request_opts {
	const char *method; /* "GET" when NULL */
	const char *url;
	const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
	const char *body; /* request body, or NULL */
	size_t body_len;
	int64_t timeout_ms; /* whole request; 0 = 30 s */
	size_t max_body; /* 0 = 1 MiB */
	const char *ca_file; /* NULL = system store */
	bool insecure; /* skip TLS verification */
	/* Over max_body: stop reading and report the response with its first
	 * max_body bytes (truncated set) instead of HTTP_ERR_TOO_LARGE. */
	bool keep_partial;
	/* A new connection, closed afterwards: a health check then proves the
	 * service still accepts connections, not just that an old one lives. */
	bool fresh_connect;
	/* A TLS client certificate and its key (PEM files), or NULL. */
	const char *cert_file;
	const char *key_file;
};

struct http_response {
	enum http_error err;
	int status; /* HTTP status, 0 when err != HTTP_OK */
	const char *error; /* short human text when err != HTTP_OK; never
	                    * contains the URL (it may carry a token) */
	const char *body; /* NUL-terminated, may be "" */
	size_t body_len;
	int64_t retry_after_ms; /* Retry-After header in ms, -1 when absent */
	double total_ms; /* request duration */
	bool truncated; /* keep_partial cut the body at max_body */
};

typedef void http_done_cb(const struct http_response *resp, void *arg);

struct http *http_new(struct event_base *base);
/* Cancels every request in flight (their callbacks are not called). */
void http_free(struct http *);

/*
 * Starts a request. cb is called exactly once, later, from the event loop,
 * unless the request is cancelled first. Returns NULL only when the request
 * cannot even be set up (then cb is not called).
 */
struct http_req *http_request_start(
    struct http *, const struct http_request_opts *, http_done_cb *cb, void *arg);
/* Stops a request in flight; its callback will not be called. NULL is fine. */
void http_request_cancel(struct http_req *);

#endif
