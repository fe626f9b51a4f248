/*
 * Health checks: one HTTP probe judged against the configuration, and the
 * scheduler that runs them against LOCAL_HEALTH_URL. Checks never overlap;
 * the owner decides the next interval from the main callback. The rise/fall
 * counting lives in failover.c: this module only says healthy or not, why.
 */
#ifndef FOD_CHECK_H
#define FOD_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

struct event_base;
struct http;
struct config;
struct check_probe;
struct checker;

/*
 * Health bodies are read up to 64 KiB. With HEALTH_EXPECT set, a longer body
 * fails the check ("body over 64 KiB"); without it the rest is not read and
 * the status alone decides. Every probe uses a new connection.
 */
#define CHECK_MAX_BODY (64 * 1024)

struct check_result {
	bool healthy;
	int status; /* 0 if no response */
	double latency_ms;
	char error[256]; /* "" when healthy; never contains the URL */
	int64_t time_ms; /* wall clock (util_now_ms) at the end */
};

typedef void check_cb(const struct check_result *, void *arg);

/* {"healthy","status","latency_ms","error"}: the `check` event's and the
 * `check` command's shape (status null without a response, error null
 * when healthy). */
json_object *check_result_json(const struct check_result *);

/*
 * One probe of url with the config's CHECK_TIMEOUT, HEALTHY_STATUS,
 * HEALTH_EXPECT, HEALTH_CA_FILE and HEALTH_INSECURE (copied: the config may
 * be replaced while the probe runs). NULL if it cannot start. cb is called
 * exactly once, later, unless cancelled; the probe is gone after cb returns.
 */
struct check_probe *check_probe_start(
    struct http *h, const struct config *cfg, const char *url, check_cb *cb, void *arg);
/* NULL is fine; cb is not called. A no-op from inside the probe's own cb. */
void check_probe_cancel(struct check_probe *);

/* The scheduler for LOCAL_HEALTH_URL. cb is called once per completed check. */
struct checker *checker_new(
    struct event_base *, struct http *, const struct config *, check_cb *cb, void *arg);
/* Cancels an in-flight check (no callbacks, waiters included). Safe from cb. */
void checker_free(struct checker *);
/* After a reload; the pointer is the new config and is kept. */
void checker_set_config(struct checker *, const struct config *);
/*
 * (Re)arms the next automatic check delay_ms from now, replacing any armed
 * timer. Ignored while a check is in flight: the owner calls it again from cb.
 */
void checker_schedule(struct checker *, int64_t delay_ms);
/* Disarms: no automatic checks. An in-flight check still completes and calls cb. */
void checker_stop(struct checker *);
bool checker_in_flight(const struct checker *);
/*
 * The `check` command: runs a check now (replacing an armed timer), or joins
 * the one in flight. waiter_cb gets that result after the main cb has been
 * called for it. 0, or -1 if it cannot start.
 */
int checker_check_now(struct checker *, check_cb *waiter_cb, void *waiter_arg);

/* Turns an HTTP outcome into a check result (pure; exposed for tests). */
struct http_response;
void check_judge(const struct http_response *, const struct config *, struct check_result *);

#endif
