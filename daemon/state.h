/*
 * STATE_FILE: what must survive a restart (contract §8). Written atomically
 * when something durable changes. A corrupt file is set aside, never trusted.
 */
#ifndef FOD_STATE_H
#define FOD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define DSTATE_VERSION 1

struct dstate {
	char *path;

	uint64_t seq_floor; /* every seq of the next run is >= this */
	uint64_t events_total; /* events emitted over all runs */
	uint64_t failovers;
	uint64_t failbacks;
	int64_t last_failover; /* wall ms, 0 = never */
	int64_t last_failback;

	/* What the daemon last recorded about the active side: "primary",
	 * "failing-over", "standby", "failing-back" or "" (never recorded). */
	char side[16];
	bool forced;
	bool paused;
	int64_t paused_until; /* wall ms, 0 = until resume */
	int64_t active_since; /* wall ms, 0 = not active */
	int64_t active_ms_total; /* closed activations only */
	bool pushes_suspended; /* a failed pull: no automatic pushes */

	json_object *machines; /* last activation's machines (array) */
	json_object *pending; /* notifications not yet delivered (array) */
	/* Process groups of children that may still run: [{"pgid","start"}]
	 * (start: /proc starttime), so a restart after a crash kills them. */
	json_object *jobs;

	/* The last write's outcome, for status and events. */
	bool save_failed;
	char save_error[256];
};

enum dstate_load_result {
	DSTATE_LOADED,
	DSTATE_FRESH, /* no file: first start */
	DSTATE_CORRUPT, /* set aside (renamed); msg says where */
	DSTATE_UNREADABLE,
};

/* Always returns a usable dstate in *out; msg explains anything odd. */
enum dstate_load_result dstate_load(
    const char *path, struct dstate **out, char *msg, size_t msglen);
/* Parses a state document (for the loader and the fuzzer). 0 or -1. */
int dstate_parse(struct dstate *, const char *text, size_t len, char *msg, size_t msglen);
/* 0, or -1 with errno; the previous file stays intact on failure. */
int dstate_save(struct dstate *);
void dstate_free(struct dstate *);

#endif
