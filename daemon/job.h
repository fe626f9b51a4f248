/*
 * Child processes that never block the event loop (hooks, rclone, the
 * command provider). Each job is spawned with posix_spawn in its own process
 * group, with every signal at its default, an empty signal mask, stdin from
 * /dev/null, stdout and stderr into one pipe and no other descriptor. Its
 * output is kept bounded (the last output_max bytes). A timeout sends TERM
 * to the whole group, then KILL after the grace period. Completion is
 * reported exactly once, from the event loop (never inside job_start), after
 * both the exit status and EOF on the pipe; once the child has exited, EOF is
 * awaited at most JOB_EOF_WAIT_MS, after which the group is killed. At
 * completion whatever is left in the group (background grandchildren) is
 * killed too, so a job leaves no process behind.
 *
 * Children are reaped by a SIGCHLD event shared by all jobs of an event
 * base (waitpid on each job's own pid with WNOHANG, so other children of the
 * daemon are never stolen). Only one event base at a time should run jobs:
 * libevent delivers a signal to one base only.
 */
#ifndef FOD_JOB_H
#define FOD_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct job;

#define JOB_OUTPUT_MAX 4096 /* default output_max */
#define JOB_KILL_GRACE_MS 2000 /* default kill_grace_ms */
#define JOB_EOF_WAIT_MS 1000 /* after the child exits, for EOF */

/* Read only during job_start: argv, command and env may be freed after. */
struct job_opts {
	/* Exactly one of: argv (argv[0] looked up in the daemon's PATH when it
	 * has no '/'), or command (run as /bin/sh -c command). */
	char *const *argv;
	const char *command;
	/* NULL-terminated "KEY=VALUE" array (see job_env_new); NULL = empty. */
	char *const *env;
	int64_t timeout_ms; /* 0 = none */
	int64_t kill_grace_ms; /* TERM -> KILL; 0 = JOB_KILL_GRACE_MS */
	size_t output_max; /* bytes of output kept (the last ones); 0 = JOB_OUTPUT_MAX */
	const char *name; /* for log lines, e.g. "FENCE_CMD"; may be NULL */
	/* Short-lived and harmless if a crash leaves it running (bounded by
	 * its own timeout): not reported to the spawn observer. */
	bool transient;
};

struct job_result {
	int exit_code; /* -1 if signalled or not spawned */
	int signal; /* the signal that ended it, else 0 */
	bool timed_out; /* the timeout fired (TERM, maybe KILL, was sent) */
	int64_t duration_ms; /* from the spawn to the child's exit */
	const char *output; /* last output_max bytes, NUL-terminated; valid only
	                     * during the callback; may contain NULs and
	                     * arbitrary bytes */
	size_t output_len;
	bool output_truncated; /* earlier output was dropped */
	int spawn_errno; /* != 0: the child never ran (exit_code -1) */
};

/* Called exactly once per job unless cancelled; the job is freed after it
 * returns (job_cancel on it inside the callback is a no-op). */
typedef void job_done_cb(struct job *, const struct job_result *, void *arg);

/*
 * Starts a job. Returns NULL only for invalid opts (errno EINVAL) or when
 * libevent fails (ENOMEM); a spawn failure (no such program, no more fds)
 * is reported through the callback with spawn_errno set.
 */
struct job *job_start(struct event_base *, const struct job_opts *, job_done_cb *, void *);
/* Kills the job's process group (KILL); the callback is not called. NULL ok. */
void job_cancel(struct job *);
pid_t job_pid(const struct job *); /* -1 if not running */
/* Jobs not yet completed or cancelled (all bases). */
int job_count(void);
/* Called after each successful spawn with the job's process group id (its
 * pid), e.g. to record it durably so a restart after a crash can kill what
 * the crashed run left behind. One observer per process; NULL to unset. */
typedef void job_spawn_observer(pid_t pgid, void *arg);
void job_set_spawn_observer(job_spawn_observer *cb, void *arg);
/* For daemon exit: KILLs every job's process group, forgets every job
 * without calling callbacks and releases the SIGCHLD events. Call before
 * event_base_free. */
void job_kill_all(void);

/*
 * The scrubbed environment of contract §3: PATH, HOME, LANG and TZ from the
 * daemon's environment (PATH defaults to a system path when unset), plus
 * extra ("KEY=VALUE", NULL-terminated; may be NULL), which win over the
 * inherited ones. Returns a new NULL-terminated array for job_env_free.
 */
char **job_env_new(const char *const *extra);
/* Sets KEY to value (replacing it), returns the (maybe moved) array.
 * value NULL removes KEY. */
char **job_env_set(char **env, const char *key, const char *value);
/* The same from one "KEY=VALUE" string (e.g. cfg->rclone_env[i]); a string
 * without '=' is ignored. */
char **job_env_setkv(char **env, const char *kv);
void job_env_free(char **env);
/* The value of KEY in env, or NULL. */
const char *job_env_get(char *const *env, const char *key);

/* "exited 3", "killed by SIGTERM", "timed out (killed by SIGKILL)",
 * "timed out (exited 0)", "could not start: No such file or directory". */
const char *job_result_str(const struct job_result *, char *buf, size_t len);

#endif
