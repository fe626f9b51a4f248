/*
 * State sync with rclone: see sync.h. One run (a push, or a pull with its
 * marker wait, fetch and apply) at a time, each rclone a job. Everything a
 * run needs is copied from the config when it starts, so a reload in the
 * middle changes nothing of it.
 *
 * This file owns the run (its settings, rclone jobs, result, the `sync`
 * event), the push, the object and the selftest's listing; sync_pull.c the
 * marker wait, fetch, apply and backups; sync_int.h is what they share.
 */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "events.h"
#include "job.h"
#include "log.h"
#include "sync.h"
#include "sync_int.h"
#include "timer.h"
#include "util.h"

/* --- pure helpers ------------------------------------------------------- */

const char *
sync_rclone_exit_str(int code)
{
	static const char *const meaning[] = {
	    "success",
	    "uncategorised error",
	    "syntax or usage error",
	    "directory not found",
	    "file not found",
	    "temporary error (retrying may help)",
	    "less serious, no-retry error",
	    "fatal error",
	    "transfer limit (--max-transfer) reached",
	    "no files transferred",
	    "duration limit (--max-duration) reached",
	};

	if (code >= 0 && code < (int)(sizeof(meaning) / sizeof(meaning[0])))
		return meaning[code];
	return "unknown exit code";
}

const char *
sync_rclone_cause(const char *out, size_t len)
{
	/* The first that occurs wins: the likelier root cause first. */
	static const char *const causes[] = {
	    "read-only file system",
	    "no space left on device",
	    "disk quota exceeded",
	    "permission denied",
	    "directory not found",
	    "no such file or directory",
	    "too many open files",
	    "connection refused",
	    "no such host",
	    "i/o timeout",
	    "certificate",
	};
	const char *found = NULL;
	char *low;

	if (out == NULL || len == 0)
		return NULL;
	low = xcalloc(1, len + 1);
	for (size_t i = 0; i < len; i++)
		low[i] = out[i] == '\0' ? ' ' : (char)tolower((unsigned char)out[i]);
	for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]) && found == NULL; i++)
		if (strstr(low, causes[i]) != NULL)
			found = causes[i];
	free(low);
	if (found != NULL && strcmp(found, "certificate") == 0)
		found = "TLS certificate problem";
	return found;
}

bool
sync_rclone_exit_retryable(int code)
{
	/* -1: no exit code, i.e. killed (a timeout among them). */
	return code == 1 || code == 5 || code == 10 || code == -1;
}

bool
sync_result_retryable(const struct sync_result *r)
{
	if (r == NULL || r->ok)
		return false;
	if (r->timed_out || r->signal != 0)
		return true;
	if (r->exit_code < 0)
		return false; /* refused, not started, cancelled */
	if (r->exit_code == 0)
		return false; /* an empty remote */
	return sync_rclone_exit_retryable(r->exit_code);
}

char *
sync_output_clean(const char *s, size_t len, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	char *out;

	if (s == NULL)
		return xstrdup("");
	/* The last max bytes, starting at a character boundary. */
	if (len > max) {
		i = len - max;
		while (i < len && (p[i] & 0xC0) == 0x80)
			i++;
	}
	out = xcalloc(1, len - i + 1);
	util_clean(
	    out, len - i + 1, s + i, len - i, UTIL_CLEAN_UTF8 | UTIL_CLEAN_NL | UTIL_CLEAN_TAB);
	return out;
}

/* --- files ------------------------------------------------------------- */

/* nftw has no argument for its callback; the loop is single-threaded. */
static bool walk_found;

static int
walk_find_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	if (type == FTW_D || type == FTW_DP)
		return 0;
	if (type == FTW_DNR || type == FTW_NS)
		return 0; /* unreadable: not counted as content */
	/* The marker at the top is never synced. */
	if (ftw->level == 1 && strcmp(path + ftw->base, SYNC_MARKER) == 0)
		return 0;
	walk_found = true;
	return 1;
}

/* 1 when dir holds a file (at any depth), 0 when none, -1 with errno. */
int
sync_dir_has_files(const char *dir)
{
	struct stat st;
	char *root;
	int rc;

	if (stat(dir, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	walk_found = false;
	/* "DIR/.": a STATE_DIR that is a symlink is walked, not counted. */
	root = xasprintf("%s/.", dir);
	rc = nftw(root, walk_find_file, SYNC_PRUNE_FDS, FTW_PHYS);
	free(root);
	if (walk_found)
		return 1;
	return rc == -1 ? -1 : 0;
}

/* --- runs --------------------------------------------------------------- */

bool
sync_enabled(const struct config *cfg)
{
	return cfg != NULL && cfg->state_dir != NULL && cfg->state_dir[0] != '\0';
}

static void
run_free(struct sync_run *r)
{
	if (r == NULL)
		return;
	free(r->rclone);
	free(r->remote);
	free(r->marker);
	free(r->state_dir);
	free(r->backup_dir);
	free(r->staging);
	job_env_free(r->env);
	for (int i = 0; i < r->nflags; i++)
		free(r->flags[i]);
	free(r->flags);
	free(r->backup);
	free(r);
}

static bool
path_is_root(const char *p)
{
	return p == NULL || p[0] == '\0' || strspn(p, "/") == strlen(p);
}

/* The snapshot of cfg a run uses; *why set (and NULL returned) when sync
 * cannot run with it. */
static struct sync_run *
run_new(const struct config *cfg, enum sync_dir dir, const char **why)
{
	struct sync_run *r = xcalloc(1, sizeof(*r));
	size_t plen;
	char *path;

	r->dir = dir;
	r->exit_code = -1;
	r->t0 = util_mono_ms();
	*why = NULL;
	if (!sync_enabled(cfg)) {
		*why = "sync is off (STATE_DIR is not set)";
		return r;
	}
	if (cfg->rclone_remote == NULL || cfg->rclone_remote[0] == '\0') {
		*why = "RCLONE_REMOTE is not set";
		return r;
	}
	/* config.c refuses these too; a wrong path here would wipe a remote. */
	if (path_is_root(cfg->rclone_path)) {
		*why = "RCLONE_PATH must not be empty or /";
		return r;
	}
	if (path_is_root(cfg->state_dir) || cfg->state_dir[0] != '/') {
		*why = "STATE_DIR must be an absolute directory, not /";
		return r;
	}
	if (path_is_root(cfg->backup_dir) || cfg->backup_dir[0] != '/') {
		*why = "BACKUP_DIR must be an absolute directory, not /";
		return r;
	}

	path = xstrdup(cfg->rclone_path);
	plen = strlen(path);
	while (plen > 1 && path[plen - 1] == '/')
		path[--plen] = '\0';
	r->rclone = xstrdup(cfg->rclone != NULL && cfg->rclone[0] != '\0' ? cfg->rclone : "rclone");
	r->remote = xasprintf("%s:%s", cfg->rclone_remote, path);
	r->marker = xasprintf("%s/%s", r->remote, SYNC_MARKER);
	free(path);
	r->state_dir = xstrdup(cfg->state_dir);
	r->backup_dir = xstrdup(cfg->backup_dir);
	r->staging = xasprintf("%s/%s", cfg->backup_dir, SYNC_STAGING);
	r->sync_timeout_ms = cfg->sync_timeout_ms > 0 ? cfg->sync_timeout_ms : 120000;
	r->job_timeout_ms = r->sync_timeout_ms;
	r->keep = cfg->backup_keep;

	/* Contract §3: PATH, HOME, LANG, TZ and the RCLONE_* settings. */
	r->env = job_env_new(NULL);
	for (int i = 0; i < cfg->n_rclone_env; i++)
		r->env = job_env_setkv(r->env, cfg->rclone_env[i]);
	if (cfg->rclone_config != NULL)
		r->env = job_env_set(r->env, "RCLONE_CONFIG", cfg->rclone_config);

	if (cfg->rclone_flags != NULL) {
		char *copy = xstrdup(cfg->rclone_flags), *save = NULL, *tok;

		for (tok = strtok_r(copy, " \t", &save); tok != NULL;
		     tok = strtok_r(NULL, " \t", &save)) {
			r->flags = xrealloc(r->flags, sizeof(*r->flags) * (size_t)(r->nflags + 1));
			r->flags[r->nflags++] = xstrdup(tok);
		}
		free(copy);
		if (r->nflags > SYNC_FLAGS_MAX)
			*why = "RCLONE_FLAGS has too many flags";
	}
	return r;
}

void
sync_argv_add(struct argv_b *a, const char *s)
{
	if (a->n < (int)(sizeof(a->v) / sizeof(a->v[0])) - 1)
		a->v[a->n++] = (char *)s;
}

static void
argv_own(struct argv_b *a, char *s)
{
	if (a->nown < (int)(sizeof(a->own) / sizeof(a->own[0]))) {
		a->own[a->nown++] = s;
		sync_argv_add(a, s);
	} else {
		free(s);
	}
}

static void
argv_free(struct argv_b *a)
{
	for (int i = 0; i < a->nown; i++)
		free(a->own[i]);
}

void
sync_argv_build(
    struct argv_b *a, const struct sync_run *r, const char *cmd, int64_t timeout_ms, bool checksum)
{
	int64_t ct = timeout_ms < SYNC_CONTIMEOUT_MAX_MS ? timeout_ms : SYNC_CONTIMEOUT_MAX_MS;

	memset(a, 0, sizeof(*a));
	sync_argv_add(a, r->rclone);
	sync_argv_add(a, cmd);
	sync_argv_add(a, "--contimeout");
	argv_own(a, xasprintf("%lldms", (long long)ct));
	sync_argv_add(a, "--timeout");
	argv_own(a, xasprintf("%lldms", (long long)timeout_ms));
	if (checksum)
		sync_argv_add(a, "--checksum");
	/* The user's after ours: rclone takes the last of a repeated flag. */
	for (int i = 0; i < r->nflags; i++)
		sync_argv_add(a, r->flags[i]);
}

void
sync_run_output_add(struct sync_run *r, const char *p, size_t n)
{
	if (p == NULL || n == 0)
		return;
	if (n >= sizeof(r->out)) {
		memcpy(r->out, p + n - sizeof(r->out), sizeof(r->out));
		r->out_len = sizeof(r->out);
		return;
	}
	if (r->out_len + n > sizeof(r->out)) {
		size_t drop = r->out_len + n - sizeof(r->out);

		memmove(r->out, r->out + drop, r->out_len - drop);
		r->out_len -= drop;
	}
	memcpy(r->out + r->out_len, p, n);
	r->out_len += n;
}

void
sync_run_fail(struct sync_run *r, const char *fmt, ...)
{
	va_list ap;

	r->ok = false;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

/* Records a job's result in r; true when rclone exited 0 in time. */
bool
sync_run_job_result(struct sync_run *r, const struct job_result *res, const char *step)
{
	char dur[32], js[128];
	const char *pre = step != NULL ? step : "", *sep = step != NULL ? ": " : "";

	r->exit_code = res->exit_code;
	r->signal = res->signal;
	r->timed_out = res->timed_out;
	if (res->spawn_errno != 0) {
		sync_run_fail(r, "%s%scould not start %s: %s", pre, sep, r->rclone,
		    strerror(res->spawn_errno));
		return false;
	}
	if (res->timed_out) {
		/* "killed by SIGTERM", "exited 0": what the timeout's TERM did. */
		struct job_result how = *res;

		how.timed_out = false;
		sync_run_fail(r, "%s%srclone timed out after %s (%s)", pre, sep,
		    util_duration_fmt(r->job_timeout_ms, dur, sizeof(dur)),
		    job_result_str(&how, js, sizeof(js)));
		return false;
	}
	if (res->signal != 0) {
		sync_run_fail(r, "%s%srclone %s", pre, sep, job_result_str(res, js, sizeof(js)));
		return false;
	}
	if (res->exit_code == 126 || res->exit_code == 127) {
		/* rclone never exits so; this is the exec failing in the child (a
		 * posix_spawn without CLONE_VFORK, e.g. under valgrind, reports it
		 * like a shell would). */
		sync_run_fail(r, "%s%scould not start %s: %s", pre, sep, r->rclone,
		    res->exit_code == 127 ? "not found" : "not executable");
		return false;
	}
	if (res->exit_code != 0) {
		/* The cause from rclone's output: "uncategorised error" (exit 1)
		 * tells the person on call nothing. */
		const char *meaning = sync_rclone_exit_str(res->exit_code);
		const char *cause = sync_rclone_cause(res->output, res->output_len);

		if (cause == NULL || strcmp(cause, meaning) == 0)
			sync_run_fail(
			    r, "%s%srclone exit %d: %s", pre, sep, res->exit_code, meaning);
		else if (res->exit_code == 1)
			sync_run_fail(r, "%s%srclone exit 1: %s", pre, sep, cause);
		else
			sync_run_fail(r, "%s%srclone exit %d: %s: %s", pre, sep, res->exit_code,
			    meaning, cause);
		return false;
	}
	return true;
}

void
sync_job_start(
    struct sync *s, struct argv_b *a, int64_t timeout_ms, job_done_cb *cb, const char *name)
{
	struct sync_run *r = s->run;
	struct job_opts o;

	memset(&o, 0, sizeof(o));
	o.argv = a->v;
	o.env = r->env;
	o.timeout_ms = timeout_ms;
	o.output_max = SYNC_OUTPUT_MAX;
	o.name = name;
	/* A marker poll (rclone cat, a few hundred ms, bounded) is not recorded
	 * in STATE_FILE for the next start to kill: a failback waiting for a
	 * late marker would rewrite the file at every poll. */
	o.transient = cb == sync_poll_done;
	s->job = job_start(s->base, &o, cb, s);
	argv_free(a);
	if (s->job == NULL) {
		sync_run_fail(r, "could not start %s: %s", r->rclone, strerror(errno));
		sync_finish(s);
	}
}

/* --- completion -------------------------------------------------------- */

static void
last_set(struct sync_last *l, const struct sync_run *r, int64_t dur)
{
	l->set = true;
	l->time_ms = util_now_ms();
	l->ok = r->ok;
	l->duration_ms = dur;
	free(l->error);
	l->error = r->ok ? NULL : xstrdup(r->error);
}

static const char *
dir_str(enum sync_dir d)
{
	return d == SYNC_PUSH ? "push" : "pull";
}

/* The `sync` event and the log line; updates last_*. */
static void
sync_report(struct sync *s, struct sync_run *r, int64_t dur)
{
	json_object *f = json_object_new_object();
	char *clean, *out, ds[32];

	clean = sync_output_clean(r->out, r->out_len, SYNC_OUTPUT_MAX);
	out = config_redact(s->cfg, clean);
	free(clean);
	json_object_object_add(f, "direction", json_object_new_string(dir_str(r->dir)));
	json_object_object_add(f, "ok", json_object_new_boolean(r->ok));
	json_object_object_add(f, "exit_code", json_object_new_int(r->exit_code));
	json_object_object_add(f, "signal", json_object_new_int(r->signal));
	json_object_object_add(f, "timed_out", json_object_new_boolean(r->timed_out));
	json_object_object_add(f, "duration_ms", json_object_new_int64(dur));
	json_object_object_add(f, "error", r->ok ? NULL : json_object_new_string(r->error));
	json_object_object_add(f, "output", json_object_new_string(out != NULL ? out : ""));
	if (r->dir == SYNC_PULL) {
		json_object_object_add(
		    f, "marker_waited", json_object_new_boolean(r->marker_after > 0));
		json_object_object_add(f, "marker_seen",
		    r->marker_after > 0 ? json_object_new_boolean(r->marker_seen) : NULL);
		json_object_object_add(f, "detail",
		    r->marker_after <= 0 ? NULL
		        : r->marker_seen
		        ? json_object_new_string("the standby's marker was seen")
		        : json_object_new_string("the standby's marker did not appear within "
		                                 "SYNC_TIMEOUT: pulled anyway"));
		json_object_object_add(f, "applied", json_object_new_boolean(r->applied));
		json_object_object_add(
		    f, "backup", r->backup ? json_object_new_string(r->backup) : NULL);
	}
	free(out);
	if (s->events != NULL)
		events_emit(s->events, "sync", f);
	else
		json_object_put(f);

	util_duration_fmt(dur, ds, sizeof(ds));
	if (r->ok && r->dir == SYNC_PUSH)
		log_info("sync push %s -> %s: ok in %s", r->state_dir, r->remote, ds);
	else if (r->ok)
		log_info("sync pull %s -> %s: ok in %s%s%s%s", r->remote, r->state_dir, ds,
		    r->backup ? ", replaced files in " : "", r->backup ? r->backup : "",
		    r->marker_after > 0 && !r->marker_seen ? " (without the standby's marker)"
		                                           : "");
	else if (r->dir == SYNC_PUSH)
		log_warnx("sync push %s -> %s: failed in %s: %s", r->state_dir ? r->state_dir : "-",
		    r->remote ? r->remote : "-", ds, r->error);
	else
		log_warnx("sync pull %s -> %s: failed in %s: %s", r->remote ? r->remote : "-",
		    r->state_dir ? r->state_dir : "-", ds, r->error);
	last_set(r->dir == SYNC_PUSH ? &s->last_push : &s->last_pull, r, dur);
}

static void
sync_stop_timers(struct sync *s)
{
	if (s->timer != NULL)
		evtimer_del(s->timer);
	if (s->deadline != NULL)
		evtimer_del(s->deadline);
}

static void
sync_complete(struct sync *s)
{
	struct sync_run *r = s->run;
	struct sync_result res;
	char err[sizeof(r->error)];
	sync_done_cb *cb = r->cb;
	void *arg = r->arg;
	int64_t dur = util_mono_ms() - r->t0;

	sync_stop_timers(s);
	sync_report(s, r, dur);
	memset(&res, 0, sizeof(res));
	res.dir = r->dir;
	res.ok = r->ok;
	res.exit_code = r->exit_code;
	res.signal = r->signal;
	res.timed_out = r->timed_out;
	res.duration_ms = dur;
	strlcpy(err, r->error, sizeof(err));
	res.error = r->ok ? NULL : err;
	res.marker_seen = r->marker_seen;
	res.applied = r->applied;
	s->run = NULL;
	run_free(r);
	/* Idle before the callback: it may start the next sync, or free s. */
	if (cb != NULL)
		cb(&res, arg);
}

/* The run's result is set: report it, from the loop (never inside
 * sync_push or sync_pull). */
void
sync_finish(struct sync *s)
{
	struct timeval tv = {0, 0};

	s->job = NULL;
	s->run->phase = PH_DONE;
	if (!s->starting) {
		sync_complete(s);
		return;
	}
	evtimer_del(s->timer);
	evtimer_add(s->timer, &tv);
}

/* --- push -------------------------------------------------------------- */

static void
sync_push_done(struct job *j, const struct job_result *res, void *arg)
{
	struct sync *s = arg;
	struct sync_run *r = s->run;

	(void)j;
	s->job = NULL;
	sync_run_output_add(r, res->output, res->output_len);
	r->ok = sync_run_job_result(r, res, NULL);
	sync_finish(s);
}

/* A new run, or NULL when one runs already. A run refused (sync off, a bad
 * path) comes back in PH_DONE, its result deferred to the loop. */
struct sync_run *
sync_begin(struct sync *s, enum sync_dir dir, sync_done_cb *cb, void *arg)
{
	struct sync_run *r;
	const char *why;

	if (s == NULL || s->run != NULL)
		return NULL;
	s->starting = true;
	r = s->run = run_new(s->cfg, dir, &why);
	r->cb = cb;
	r->arg = arg;
	r->phase = dir == SYNC_PUSH ? PH_PUSH : PH_FETCH;
	if (why != NULL) {
		sync_run_fail(r, "%s", why);
		sync_finish(s);
	}
	return r;
}

int
sync_push(struct sync *s, int64_t timeout_ms, sync_done_cb *cb, void *arg)
{
	struct sync_run *r;
	struct argv_b a;
	int has;

	if ((r = sync_begin(s, SYNC_PUSH, cb, arg)) == NULL)
		return -1;
	if (r->phase == PH_DONE)
		goto out;
	if (timeout_ms > 0)
		r->job_timeout_ms = timeout_ms;
	/* An empty STATE_DIR pushed would wipe the remote's state. */
	if ((has = sync_dir_has_files(r->state_dir)) != 1) {
		if (has == 0)
			sync_run_fail(r, "STATE_DIR is empty: not pushed");
		else if (errno == ENOENT)
			sync_run_fail(r, "STATE_DIR %s does not exist: not pushed", r->state_dir);
		else
			sync_run_fail(
			    r, "STATE_DIR %s: %s: not pushed", r->state_dir, strerror(errno));
		sync_finish(s);
		goto out;
	}
	sync_argv_build(&a, r, "sync", r->job_timeout_ms, true);
	sync_argv_add(&a, "--exclude");
	sync_argv_add(&a, "/" SYNC_MARKER);
	sync_argv_add(&a, r->state_dir);
	sync_argv_add(&a, r->remote);
	log_debug("sync push %s -> %s: starting", r->state_dir, r->remote);
	sync_job_start(s, &a, r->job_timeout_ms, sync_push_done, "rclone push");
out:
	s->starting = false;
	return 0;
}

static void
sync_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sync *s = arg;

	(void)fd;
	(void)what;
	if (s->run == NULL)
		return;
	if (s->run->phase == PH_DONE)
		sync_complete(s);
	else if (s->run->phase == PH_MARKER_SLEEP)
		sync_poll_start(s);
}

/* --- the object -------------------------------------------------------- */

struct sync *
sync_new(struct event_base *base, struct events *events, const struct config *cfg)
{
	struct sync *s;

	if (base == NULL)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->events = events;
	s->cfg = cfg;
	LIST_INIT(&s->checks);
	if ((s->timer = evtimer_new(base, sync_timer_cb, s)) == NULL ||
	    (s->deadline = evtimer_new(base, sync_deadline_cb, s)) == NULL) {
		sync_free(s);
		return NULL;
	}
	return s;
}

void
sync_reconfigure(struct sync *s, const struct config *cfg)
{
	if (s != NULL)
		s->cfg = cfg;
}

void
sync_free(struct sync *s)
{
	if (s == NULL)
		return;
	job_cancel(s->job);
	while (!LIST_EMPTY(&s->checks)) {
		struct sync_check *c = LIST_FIRST(&s->checks);

		LIST_REMOVE(c, entry);
		job_cancel(c->job);
		run_free(c->r);
		free(c);
	}
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->deadline != NULL)
		event_free(s->deadline);
	run_free(s->run);
	free(s->last_push.error);
	free(s->last_pull.error);
	free(s);
}

bool
sync_busy(const struct sync *s)
{
	return s != NULL && s->run != NULL;
}

enum sync_dir
sync_running_dir(const struct sync *s)
{
	return s != NULL && s->run != NULL ? s->run->dir : SYNC_PUSH;
}

void
sync_cancel(struct sync *s)
{
	struct sync_run *r;
	bool killed;

	if (s == NULL || (r = s->run) == NULL)
		return;
	killed = s->job != NULL;
	job_cancel(s->job);
	s->job = NULL;
	sync_stop_timers(s);
	r->ok = false;
	r->exit_code = -1;
	r->signal = killed ? SIGKILL : 0;
	r->timed_out = false;
	strlcpy(r->error, "cancelled", sizeof(r->error));
	if (killed)
		sync_run_output_add(r, "\n[failoverd: rclone killed: cancelled]\n", 39);
	sync_report(s, r, util_mono_ms() - r->t0);
	s->run = NULL;
	run_free(r);
}

/* --- selftest -------------------------------------------------------- */

/* A line of rclone's own logging ("2026/11/28 14:05:12 NOTICE: ..."). */
static bool
rclone_log_line(const char *l, size_t len)
{
	return len >= 20 && isdigit((unsigned char)l[0]) && l[4] == '/' && l[7] == '/' &&
	    l[10] == ' ' && l[13] == ':' && l[16] == ':' && l[19] == ' ';
}

static void
sync_check_done(struct job *j, const struct job_result *res, void *arg)
{
	struct sync_check *c = arg;
	struct sync_run *r = c->r;
	char detail[600];
	bool ok;
	int n = 0;

	(void)j;
	c->job = NULL;
	LIST_REMOVE(c, entry);
	if (res->spawn_errno == 0 && !res->timed_out && res->signal == 0 && res->exit_code == 3) {
		ok = true;
		snprintf(detail, sizeof(detail), "%s is reachable; the path does not exist yet",
		    r->remote);
	} else if ((ok = sync_run_job_result(r, res, NULL))) {
		const char *p = res->output;

		while (p != NULL && *p != '\0') {
			const char *nl = strchr(p, '\n');
			size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

			if (len > 0 && !rclone_log_line(p, len))
				n++;
			p = nl != NULL ? nl + 1 : NULL;
		}
		snprintf(detail, sizeof(detail), "%s lists %s%d entr%s", r->remote,
		    res->output_truncated ? "at least " : "", n, n == 1 ? "y" : "ies");
	} else {
		char *clean = sync_output_clean(res->output, res->output_len, 200);
		char *red = config_redact(c->s->cfg, clean);
		size_t l;

		snprintf(detail, sizeof(detail), "%s: %s", r->remote, r->error);
		l = strlen(detail);
		/* The last line rclone wrote says why (e.g. "directory not found"). */
		if (red != NULL && red[0] != '\0') {
			char *end = red + strlen(red), *start;

			while (end > red && (end[-1] == '\n' || end[-1] == ' '))
				*--end = '\0';
			start = strrchr(red, '\n');
			start = start != NULL ? start + 1 : red;
			if (*start != '\0')
				snprintf(detail + l, sizeof(detail) - l, " (%s)", start);
		}
		free(clean);
		free(red);
	}
	c->cb(ok, detail, c->arg);
	run_free(r);
	free(c);
}

int
sync_check_remote(struct sync *s, sync_check_cb *cb, void *arg)
{
	struct sync_check *c;
	struct job_opts o;
	struct argv_b a;
	const char *why;

	if (s == NULL || cb == NULL)
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->cb = cb;
	c->arg = arg;
	c->r = run_new(s->cfg, SYNC_PUSH, &why);
	if (why != NULL) {
		run_free(c->r);
		free(c);
		return -1;
	}
	sync_argv_build(&a, c->r, "lsf", c->r->sync_timeout_ms, false);
	sync_argv_add(&a, "--max-depth");
	sync_argv_add(&a, "1");
	sync_argv_add(&a, c->r->remote);
	memset(&o, 0, sizeof(o));
	o.argv = a.v;
	o.env = c->r->env;
	o.timeout_ms = c->r->sync_timeout_ms;
	o.output_max = SYNC_OUTPUT_MAX;
	o.name = "rclone lsf (selftest)";
	c->job = job_start(s->base, &o, sync_check_done, c);
	argv_free(&a);
	if (c->job == NULL) {
		run_free(c->r);
		free(c);
		return -1;
	}
	LIST_INSERT_HEAD(&s->checks, c, entry);
	return 0;
}

static json_object *
last_json(const struct sync_last *l)
{
	json_object *o;
	char when[UTIL_TIME_LEN];

	if (!l->set)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(
	    o, "time", json_object_new_string(util_time_fmt(l->time_ms, when, sizeof(when))));
	json_object_object_add(o, "ok", json_object_new_boolean(l->ok));
	json_object_object_add(o, "duration_ms", json_object_new_int64(l->duration_ms));
	json_object_object_add(
	    o, "error", l->error != NULL ? json_object_new_string(l->error) : NULL);
	return o;
}

void
sync_status(const struct sync *s, json_object *o)
{
	if (o == NULL)
		return;
	json_object_object_add(
	    o, "enabled", json_object_new_boolean(s != NULL && sync_enabled(s->cfg)));
	json_object_object_add(o, "last_push", s != NULL ? last_json(&s->last_push) : NULL);
	json_object_object_add(o, "last_pull", s != NULL ? last_json(&s->last_pull) : NULL);
	json_object_object_add(o, "running",
	    s != NULL && s->run != NULL ? json_object_new_string(dir_str(s->run->dir)) : NULL);
}
