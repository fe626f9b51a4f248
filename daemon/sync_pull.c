/*
 * The pull side of state sync (see sync.h): the wait for the standby's
 * marker, the fetch into staging, the apply to STATE_DIR with its backup,
 * and the pruning of old backups; with the pure helpers for stamps,
 * backups and markers. sync.c owns the run, its jobs and its result.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "job.h"
#include "log.h"
#include "sync.h"
#include "sync_int.h"
#include "timer.h"
#include "util.h"

static void sync_fetch_start(struct sync *);

/* --- pure helpers ------------------------------------------------------- */

char *
sync_stamp_fmt(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char sec[20];

	if (ms < 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(sec, sizeof(sec), "%Y%m%dT%H%M%S", &tm) == 0) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	snprintf(buf, len, "%s.%03dZ", sec, (int)(ms % 1000));
	return buf;
}

bool
sync_stamp_valid(const char *name)
{
	static const char pat[] = "DDDDDDDDTDDDDDD.DDDZ";
	size_t i;

	if (name == NULL || strlen(name) != sizeof(pat) - 1)
		return false;
	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'D' ? !isdigit((unsigned char)name[i]) : name[i] != pat[i])
			return false;
	}
	return true;
}

static int
name_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	bool sx = sync_stamp_valid(x), sy = sync_stamp_valid(y);

	if (sx != sy)
		return sx ? -1 : 1; /* stamps first */
	return strcmp(x, y);
}

int
sync_backup_select(char **names, int n, int keep)
{
	int stamps = 0;

	if (names == NULL || n <= 0)
		return 0;
	qsort(names, (size_t)n, sizeof(*names), name_cmp);
	while (stamps < n && sync_stamp_valid(names[stamps]))
		stamps++;
	if (keep < 0)
		keep = 0;
	return stamps > keep ? stamps - keep : 0;
}

int
sync_marker_parse(const char *text, int64_t *pushed_at)
{
	const char *line = text, *nl;

	/* rclone may log around it: the first line that is the marker. */
	while (line != NULL && *line != '\0') {
		json_object *o, *v;
		char *copy;
		size_t len;

		nl = strchr(line, '\n');
		len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		copy = xcalloc(1, len + 1);
		memcpy(copy, line, len);
		o = json_tokener_parse(copy);
		free(copy);
		if (o != NULL && json_object_is_type(o, json_type_object) &&
		    json_object_object_get_ex(o, "pushed_at", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    util_time_parse(json_object_get_string(v), pushed_at) == 0) {
			json_object_put(o);
			return 0;
		}
		json_object_put(o);
		line = nl != NULL ? nl + 1 : NULL;
	}
	return -1;
}

bool
sync_marker_fresh(int64_t pushed_at, int64_t marker_after)
{
	return pushed_at >= marker_after - SYNC_MARKER_SLACK_MS;
}

int64_t
sync_poll_interval_ms(int64_t sync_timeout_ms)
{
	int64_t iv = sync_timeout_ms / 10;

	if (iv > SYNC_POLL_INTERVAL_MS)
		iv = SYNC_POLL_INTERVAL_MS;
	if (iv < SYNC_POLL_INTERVAL_MIN_MS)
		iv = SYNC_POLL_INTERVAL_MIN_MS;
	return iv;
}

/* --- files ------------------------------------------------------------- */

static int
walk_remove(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) == -1 && errno != ENOENT)
		log_warn("removing old backup: %s", path);
	return 0;
}

/* Creates dir (and its missing parents, 0750) with mode. 0 or -1. */
static int
make_dir(const char *dir, mode_t mode)
{
	struct stat st;

	if (util_mkdir_parents(dir, 0750) == -1)
		return -1;
	if (mkdir(dir, mode) == -1 && errno != EEXIST)
		return -1;
	if (stat(dir, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* Keeps the newest keep stamped backups in dir. Returns how many went. */
static int
prune_backups(const char *dir, int keep)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	int n = 0, cap = 0, nrm, removed = 0;

	if ((d = opendir(dir)) == NULL) {
		log_warn("pruning backups: %s", dir);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		char *p;

		if (!sync_stamp_valid(de->d_name))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		/* A symlink or a file with a stamp's name is not ours. */
		if (lstat(p, &st) == -1 || !S_ISDIR(st.st_mode)) {
			free(p);
			continue;
		}
		free(p);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, sizeof(*names) * (size_t)cap);
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);

	nrm = sync_backup_select(names, n, keep);
	for (int i = 0; i < n; i++) {
		if (i < nrm) {
			char *p = xasprintf("%s/%s", dir, names[i]);

			nftw(p, walk_remove, SYNC_PRUNE_FDS, FTW_DEPTH | FTW_PHYS);
			if (access(p, F_OK) == 0)
				log_warnx("pruning backups: %s could not be removed entirely", p);
			else
				removed++;
			free(p);
		}
		free(names[i]);
	}
	free(names);
	return removed;
}

/* --- the marker wait, fetch and apply ---------------------------------- */

static void
sync_apply_done(struct job *j, const struct job_result *res, void *arg)
{
	struct sync *s = arg;
	struct sync_run *r = s->run;
	struct stat st;
	char *pending;
	int n;

	(void)j;
	s->job = NULL;
	sync_run_output_add(r, res->output, res->output_len);
	pending = xasprintf("%s/%s", r->backup_dir, SYNC_PENDING);
	if (!(r->ok = sync_run_job_result(r, res, "applying to STATE_DIR"))) {
		/* What rclone moved before it stopped is there: say where, and
		 * have the retry add to it rather than start another. */
		if (r->backup != NULL && lstat(r->backup, &st) == 0) {
			const char *name = strrchr(r->backup, '/') + 1;
			size_t l = strlen(r->error);
			snprintf(r->error + l, sizeof(r->error) - l,
			    " (replaced files so far in %s)", r->backup);
			if (util_write_atomic(pending, name, strlen(name), 0600) == -1)
				log_warn("sync: cannot write %s", pending);
		}
		free(pending);
		sync_finish(s);
		return;
	}
	if (unlink(pending) == -1 && errno != ENOENT)
		log_warn("sync: cannot remove %s", pending);
	free(pending);
	r->applied = true;
	/* rclone makes the backup directory only when it moved something. */
	if (r->backup != NULL && lstat(r->backup, &st) == -1) {
		free(r->backup);
		r->backup = NULL;
	}
	if ((n = prune_backups(r->backup_dir, r->keep)) > 0)
		log_info("sync: removed %d old backup%s from %s (BACKUP_KEEP=%d)", n,
		    n == 1 ? "" : "s", r->backup_dir, r->keep);
	sync_finish(s);
}

/* BACKUP_DIR/<stamp> that SYNC_PENDING names, when it is such a directory. */
static char *
pending_backup(const char *backup_dir)
{
	char *pending = xasprintf("%s/%s", backup_dir, SYNC_PENDING), *name, *dir = NULL;
	struct stat st;
	size_t len;

	if ((name = util_read_file(pending, 64, &len)) != NULL) {
		name[strcspn(name, "\r\n")] = '\0';
		if (sync_stamp_valid(name)) {
			dir = xasprintf("%s/%s", backup_dir, name);
			if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
				free(dir);
				dir = NULL;
			}
		}
	}
	free(name);
	free(pending);
	return dir;
}

static void
sync_apply_start(struct sync *s)
{
	struct sync_run *r = s->run;
	struct argv_b a;
	struct stat st;
	char stamp[32];
	int64_t ms = util_now_ms();
	int tries;

	r->phase = PH_APPLY;
	if (make_dir(r->state_dir, 0750) == -1) {
		sync_run_fail(r, "cannot create STATE_DIR %s: %s", r->state_dir, strerror(errno));
		sync_finish(s);
		return;
	}
	/* The backup of an earlier apply that failed half-way, if any: its
	 * retry goes on filling it. Else a new directory per apply, even
	 * within one millisecond. */
	if ((r->backup = pending_backup(r->backup_dir)) != NULL)
		tries = 1000;
	else
		tries = 0;
	for (; tries < 1000; tries++, ms++) {
		free(r->backup);
		r->backup =
		    xasprintf("%s/%s", r->backup_dir, sync_stamp_fmt(ms, stamp, sizeof(stamp)));
		if (lstat(r->backup, &st) == -1 && errno == ENOENT)
			break;
	}
	sync_argv_build(&a, r, "sync", r->job_timeout_ms, true);
	sync_argv_add(&a, "--exclude");
	sync_argv_add(&a, "/" SYNC_MARKER);
	sync_argv_add(&a, "--backup-dir");
	sync_argv_add(&a, r->backup);
	sync_argv_add(&a, r->staging);
	sync_argv_add(&a, r->state_dir);
	log_debug("sync pull: applying %s to %s (backup %s)", r->staging, r->state_dir, r->backup);
	sync_job_start(s, &a, r->job_timeout_ms, sync_apply_done, "rclone apply");
}

static void
sync_fetch_done(struct job *j, const struct job_result *res, void *arg)
{
	struct sync *s = arg;
	struct sync_run *r = s->run;
	int has;

	(void)j;
	s->job = NULL;
	sync_run_output_add(r, res->output, res->output_len);
	if (!(r->ok = sync_run_job_result(r, res, "pulling into staging"))) {
		sync_finish(s);
		return;
	}
	/* An empty remote applied would delete all of STATE_DIR. */
	if ((has = sync_dir_has_files(r->staging)) != 1) {
		if (has == 0)
			sync_run_fail(r, "the remote %s is empty: nothing applied", r->remote);
		else
			sync_run_fail(
			    r, "staging %s: %s: nothing applied", r->staging, strerror(errno));
		sync_finish(s);
		return;
	}
	sync_apply_start(s);
}

static void
sync_fetch_start(struct sync *s)
{
	struct sync_run *r = s->run;
	struct argv_b a;

	r->phase = PH_FETCH;
	if (make_dir(r->backup_dir, 0750) == -1) {
		sync_run_fail(r, "cannot create BACKUP_DIR %s: %s", r->backup_dir, strerror(errno));
		sync_finish(s);
		return;
	}
	if (make_dir(r->staging, 0700) == -1 || chmod(r->staging, 0700) == -1) {
		sync_run_fail(r, "cannot create %s: %s", r->staging, strerror(errno));
		sync_finish(s);
		return;
	}
	sync_argv_build(&a, r, "sync", r->job_timeout_ms, true);
	sync_argv_add(&a, "--exclude");
	sync_argv_add(&a, "/" SYNC_MARKER);
	sync_argv_add(&a, r->remote);
	sync_argv_add(&a, r->staging);
	log_debug("sync pull %s -> %s: starting", r->remote, r->staging);
	sync_job_start(s, &a, r->job_timeout_ms, sync_fetch_done, "rclone pull");
}

void
sync_poll_done(struct job *j, const struct job_result *res, void *arg)
{
	struct sync *s = arg;
	struct sync_run *r = s->run;
	int64_t at, iv, left;
	char when[UTIL_TIME_LEN];

	(void)j;
	s->job = NULL;
	if (res->exit_code == 0 && !res->timed_out && res->output != NULL &&
	    sync_marker_parse(res->output, &at) == 0) {
		if (sync_marker_fresh(at, r->marker_after)) {
			r->marker_seen = true;
			evtimer_del(s->deadline);
			log_info("sync pull: the standby's marker is there (pushed at %s), pulling",
			    util_time_fmt(at, when, sizeof(when)));
			sync_fetch_start(s);
			return;
		}
		log_debug("sync pull: the marker is older (pushed at %s) than the stop request",
		    util_time_fmt(at, when, sizeof(when)));
	} else {
		char js[128];
		log_debug("sync pull: no marker yet (rclone cat %s)",
		    job_result_str(res, js, sizeof(js)));
	}
	iv = sync_poll_interval_ms(r->sync_timeout_ms);
	left = r->marker_deadline - util_mono_ms();
	if (left <= 0)
		return; /* the deadline's event is due */
	r->phase = PH_MARKER_SLEEP;
	if (iv > left)
		iv = left;
	util_timer_in(s->timer, iv);
}

void
sync_poll_start(struct sync *s)
{
	struct sync_run *r = s->run;
	struct argv_b a;
	int64_t left = r->marker_deadline - util_mono_ms();

	if (left <= 0)
		return; /* the deadline's event is due */
	if (left > SYNC_POLL_MAX_MS)
		left = SYNC_POLL_MAX_MS;
	r->phase = PH_MARKER_POLL;
	r->polls++;
	sync_argv_build(&a, r, "cat", left, false);
	sync_argv_add(&a, r->marker);
	sync_job_start(s, &a, left, sync_poll_done, "rclone cat marker");
}

void
sync_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sync *s = arg;
	struct sync_run *r = s->run;
	char ds[32];

	(void)fd;
	(void)what;
	if (r == NULL || (r->phase != PH_MARKER_POLL && r->phase != PH_MARKER_SLEEP))
		return;
	job_cancel(s->job);
	s->job = NULL;
	evtimer_del(s->timer);
	log_warnx("sync pull: the standby's marker %s did not appear within %s "
	          "(SYNC_TIMEOUT); pulling anyway",
	    r->marker, util_duration_fmt(r->sync_timeout_ms, ds, sizeof(ds)));
	sync_fetch_start(s);
}

int
sync_pull(struct sync *s, int64_t marker_after, sync_done_cb *cb, void *arg)
{
	struct sync_run *r;

	if ((r = sync_begin(s, SYNC_PULL, cb, arg)) == NULL)
		return -1;
	if (r->phase == PH_DONE) {
		/* refused: the result waits for the loop */
	} else if (marker_after > 0) {
		r->marker_after = marker_after;
		r->marker_deadline = r->t0 + r->sync_timeout_ms;
		util_timer_in(s->deadline, r->sync_timeout_ms);
		sync_poll_start(s);
	} else {
		sync_fetch_start(s);
	}
	s->starting = false;
	return 0;
}
