/*
 * What sync.c and sync_pull.c share: the run, the sync object and the
 * steps of a run. Nothing else includes it.
 */
#ifndef FOD_SYNC_INT_H
#define FOD_SYNC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "job.h"
#include "sync.h"

#define SYNC_STAGING ".staging"
/* BACKUP_DIR/SYNC_PENDING names the backup of an apply that failed half-way;
 * the next apply (a retry) moves what it replaces there too. */
#define SYNC_PENDING ".pending-backup"
#define SYNC_CONTIMEOUT_MAX_MS 60000
#define SYNC_POLL_INTERVAL_MS 2000
#define SYNC_POLL_INTERVAL_MIN_MS 100
#define SYNC_POLL_MAX_MS 30000 /* one marker poll */
#define SYNC_MARKER_SLACK_MS 2000 /* clocks of two machines; whole seconds */
#define SYNC_PRUNE_FDS 16
#define SYNC_FLAGS_MAX 40 /* RCLONE_FLAGS words */

enum sync_phase {
	PH_IDLE,
	PH_PUSH,
	PH_MARKER_POLL, /* `rclone cat` of the marker runs */
	PH_MARKER_SLEEP, /* until the next poll */
	PH_FETCH, /* remote -> staging */
	PH_APPLY, /* staging -> STATE_DIR */
	PH_DONE, /* result known, the callback deferred to the loop */
};

struct sync_last {
	bool set;
	int64_t time_ms; /* when it ended (wall) */
	bool ok;
	int64_t duration_ms;
	char *error;
};

/* One push or pull: a snapshot of the settings, and how it went so far. */
struct sync_run {
	enum sync_dir dir;
	enum sync_phase phase;
	sync_done_cb *cb;
	void *arg;

	char *rclone;
	char *remote; /* REMOTE:PATH */
	char *marker; /* REMOTE:PATH/SYNC_MARKER */
	char *state_dir;
	char *backup_dir;
	char *staging;
	char **env;
	char **flags; /* RCLONE_FLAGS, split */
	int nflags;
	int64_t job_timeout_ms; /* each rclone run */
	int64_t sync_timeout_ms;
	int keep;

	int64_t t0; /* monotonic */
	int64_t marker_after; /* wall ms; 0 = no wait */
	int64_t marker_deadline; /* monotonic */
	bool marker_seen;
	int polls;
	bool applied;
	char *backup; /* BACKUP_DIR/<stamp> when a file went there */

	char out[SYNC_OUTPUT_MAX];
	size_t out_len;

	/* The result, once known. */
	bool ok;
	int exit_code;
	int signal;
	bool timed_out;
	char error[512];
};

/* A selftest's listing of the remote, beside whatever sync runs. */
struct sync_check {
	struct sync *s;
	struct sync_run *r;
	struct job *job;
	sync_check_cb *cb;
	void *arg;
	LIST_ENTRY(sync_check) entry;
};

struct sync {
	struct event_base *base;
	struct events *events;
	const struct config *cfg;
	struct sync_run *run; /* NULL when idle */
	struct job *job;
	struct event *timer; /* the marker's poll interval; the deferred result */
	struct event *deadline; /* the marker wait's end */
	bool starting; /* inside sync_push / sync_pull: results are deferred */
	struct sync_last last_push, last_pull;
	LIST_HEAD(, sync_check) checks;
};

/* argv: RCLONE CMD <timeouts> [--checksum] FLAGS... --exclude /MARKER
 * [extra...] ARGS... */
struct argv_b {
	char *v[SYNC_FLAGS_MAX + 24 + 1];
	char *own[8];
	int n, nown;
};

/* sync.c */
/* A new run, or NULL when one runs already. A run refused (sync off, a bad
 * path) comes back in PH_DONE, its result deferred to the loop. */
struct sync_run *sync_begin(struct sync *s, enum sync_dir dir, sync_done_cb *cb, void *arg);
/* The run's result is set: report it, from the loop. */
void sync_finish(struct sync *s);
/* Starts rclone with a's argv (and frees a's strings); on failure the run
 * fails and finishes. */
void sync_job_start(
    struct sync *s, struct argv_b *a, int64_t timeout_ms, job_done_cb *cb, const char *name);
void sync_run_fail(struct sync_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a job's result in r; true when rclone exited 0 in time. */
bool sync_run_job_result(struct sync_run *r, const struct job_result *res, const char *step);
void sync_run_output_add(struct sync_run *r, const char *p, size_t n);
void sync_argv_build(
    struct argv_b *a, const struct sync_run *r, const char *cmd, int64_t timeout_ms, bool checksum);
void sync_argv_add(struct argv_b *a, const char *s);
/* 1 when dir holds a file (at any depth), 0 when none, -1 with errno. */
int sync_dir_has_files(const char *dir);

/* sync_pull.c */
void sync_poll_start(struct sync *s);
void sync_poll_done(struct job *j, const struct job_result *res, void *arg);
void sync_deadline_cb(evutil_socket_t fd, short what, void *arg);

#endif
