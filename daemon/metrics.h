/*
 * Prometheus metrics (contract §12): the text exposition, rendered in memory
 * from the status object plus the few figures status does not carry (the
 * check duration histogram, the last successful sync of each direction), and
 * the METRICS_LISTEN HTTP endpoint (libevent's evhttp).
 *
 * The render and the address parser are pure (no event loop, no engine), so
 * they are unit-tested directly.
 */
#ifndef FOD_METRICS_H
#define FOD_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <json-c/json.h>

struct event_base;

/* Upper bounds of failoverd_check_duration_seconds, in seconds (+Inf apart). */
#define METRICS_NBUCKETS 12
extern const double metrics_buckets[METRICS_NBUCKETS];

/* What the engine feeds as things complete. */
struct metrics {
	uint64_t check_bucket[METRICS_NBUCKETS + 1]; /* per bucket, the last is +Inf */
	uint64_t check_count;
	double check_sum; /* seconds */
	int64_t sync_ok_ms[2]; /* wall ms of the last successful push [0] / pull [1]; 0 = none */
};

void metrics_observe_check(struct metrics *, double seconds);
void metrics_sync_ok(struct metrics *, bool push, int64_t wall_ms);

/* The exposition (text format 0.0.4) from a status object (§5.4) and m;
 * malloc'd, never NULL. Only numbers and fixed names are taken from status:
 * no URL, error text or other free text reaches the output. */
char *metrics_render(const struct metrics *m, json_object *status);

/* Appends s to buf as a label value, escaping \, " and newline. */
void metrics_label_escape(const char *s, char *buf, size_t len);

/* The HTTP endpoint: bound (before daemonizing, so the starting command sees
 * a failure), then started on the loop. */
struct metrics_server;
typedef char *metrics_text_cb(void *arg); /* malloc'd exposition */

struct metrics_server *metrics_server_bind(const char *listen, char *err, size_t errlen);
int metrics_server_start(
    struct metrics_server *, struct event_base *, metrics_text_cb *cb, void *arg);
void metrics_server_free(struct metrics_server *); /* NULL ok */

#endif
