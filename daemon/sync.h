/*
 * State sync with rclone (contract §1, §3, §8): push STATE_DIR to
 * RCLONE_REMOTE:RCLONE_PATH, pull it back through a staging directory.
 * Every rclone run is a job (job.c): nothing here blocks the loop. One sync
 * runs at a time. The module emits the `sync` events itself and keeps
 * last_push / last_pull for status; the engine decides when to sync.
 *
 * push: `rclone sync --checksum STATE_DIR REMOTE:PATH` (+ --contimeout,
 *       --timeout, RCLONE_FLAGS, the marker excluded). Refused (an error
 *       result, rclone not run) when STATE_DIR is empty or missing.
 * pull: optionally waits (polling the remote) for the standby's marker
 *       SYNC_MARKER with a "pushed_at" newer than marker_after; then
 *       `rclone sync --checksum REMOTE:PATH STAGING` (STAGING =
 *       BACKUP_DIR/.staging, kept between pulls so they are incremental);
 *       only when that exited 0 and STAGING is not empty:
 *       `rclone sync --checksum STAGING STATE_DIR --backup-dir
 *       BACKUP_DIR/<UTC stamp>` (every replaced or deleted file moved
 *       there), then the oldest stamped backups beyond BACKUP_KEEP removed.
 */
#ifndef FOD_SYNC_H
#define FOD_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct event_base;
struct events;
struct config;
struct sync;

/* The marker the standby's entrypoint writes after its final push. */
#define SYNC_MARKER ".failoverd-standby-pushed"
/* rclone's output kept for the `sync` event (the last bytes). */
#define SYNC_OUTPUT_MAX 4096

enum sync_dir { SYNC_PUSH, SYNC_PULL };

struct sync_result {
	enum sync_dir dir;
	bool ok;
	int exit_code; /* rclone's (of the step that failed or the last), -1 if none */
	int signal;
	bool timed_out;
	int64_t duration_ms; /* the whole push or pull */
	const char *error; /* NULL when ok; a human reason ("rclone exit 5: temporary
	                    * error (retrying may help)", "STATE_DIR is empty: not
	                    * pushed", "cancelled", ...) */
	bool marker_seen; /* pull with a marker wait: the marker arrived in time */
	bool applied; /* pull: the staging was applied to STATE_DIR */
};

typedef void sync_done_cb(const struct sync_result *, void *arg);

/* True when cfg turns sync on (STATE_DIR set; config.c has validated the rest). */
bool sync_enabled(const struct config *);

struct sync *sync_new(struct event_base *, struct events *, const struct config *);
/* After a reload; a sync in flight goes on with the old settings. */
void sync_reconfigure(struct sync *, const struct config *);
/* Cancels what runs (no callback). NULL ok. */
void sync_free(struct sync *);

/*
 * Starts a push bounded by timeout_ms in all (0 = SYNC_TIMEOUT). Returns 0,
 * or -1 when a sync is already running (nothing started). cb is called
 * exactly once, later, from the loop, unless sync_cancel comes first.
 */
int sync_push(struct sync *, int64_t timeout_ms, sync_done_cb *cb, void *arg);
/*
 * Starts a pull. marker_after: wall ms; when > 0, first wait at most
 * SYNC_TIMEOUT for the marker to be newer than this (then pull anyway and
 * say so in the log and the event). Each rclone run is bounded by
 * SYNC_TIMEOUT. Returns 0 or -1 (busy).
 */
int sync_pull(struct sync *, int64_t marker_after, sync_done_cb *cb, void *arg);
bool sync_busy(const struct sync *);
/* The direction running (when busy). */
enum sync_dir sync_running_dir(const struct sync *);
/* Kills the running rclone (whole group); no callback; a `sync` event with
 * error "cancelled" is emitted. No-op when idle. */
void sync_cancel(struct sync *);

/* selftest: can rclone list the remote? (`rclone lsf --max-depth 1`,
 * bounded by SYNC_TIMEOUT; side-effect free.) cb gets ok and a detail
 * ("REMOTE:PATH lists N entries" or the error). Runs beside a sync.
 * Returns -1 when it cannot start (cb not called). */
typedef void sync_check_cb(bool ok, const char *detail, void *arg);
int sync_check_remote(struct sync *, sync_check_cb *cb, void *arg);

/* Fills status.sync: enabled, last_push, last_pull ({time, ok, duration_ms,
 * error}) and running (null or "push"/"pull"). */
void sync_status(const struct sync *, json_object *sync_obj);

/* rclone's exit code by meaning: "temporary error (retrying may help)",
 * "fatal error", "directory not found", ... ("unknown exit code" else). */
const char *sync_rclone_exit_str(int code);
/* The cause named in rclone's output ("read-only file system", "permission
 * denied", "no space left on device", ...), or NULL when none is known. */
const char *sync_rclone_cause(const char *out, size_t len);
/* True for exit codes a retry may cure (1, 5, 10, and a timeout). */
bool sync_rclone_exit_retryable(int code);
/* The same for a whole result: a timeout or a kill may pass; a refusal
 * (empty STATE_DIR), a missing rclone, an empty remote or a cancel is not
 * cured by retrying at once. */
bool sync_result_retryable(const struct sync_result *);

/* Pure helpers, exposed for the unit tests. */
/* A backup's name: "20261128T101500.123Z" (UTC, ms); buf >= 21 bytes. */
char *sync_stamp_fmt(int64_t ms, char *buf, size_t len);
/* True for exactly that form (only such directories are ever pruned). */
bool sync_stamp_valid(const char *name);
/* Sorts names (any order) so that the stamped backups to remove, oldest
 * first, lead, and returns how many there are: every stamp beyond the newest
 * keep. Names that are not stamps are never among them. */
int sync_backup_select(char **names, int n, int keep);
/* The last max bytes of s (len bytes, any content) as valid UTF-8 text:
 * control characters but \n and \t, and invalid sequences, become '?'. */
char *sync_output_clean(const char *s, size_t len, size_t max);
/* The marker's pushed_at from `rclone cat` output: 0 or -1. */
int sync_marker_parse(const char *text, int64_t *pushed_at);
/* pushed_at is recent enough for marker_after (2 s of clock slack; the
 * entrypoint writes whole seconds). */
bool sync_marker_fresh(int64_t pushed_at, int64_t marker_after);
/* Between two marker polls: SYNC_TIMEOUT/10, within [100 ms, 2 s]. */
int64_t sync_poll_interval_ms(int64_t sync_timeout_ms);

#endif
