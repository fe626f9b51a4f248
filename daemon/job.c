/*
 * Child processes without blocking: posix_spawn (libcurl's resolver threads
 * make fork-then-work unsafe), a pipe read through libevent, a SIGCHLD event
 * that reaps the jobs' own pids, timers for the timeout, the kill grace and
 * the wait for EOF. A job completes through a zero-delay event, so that
 * callbacks never run while the reaper walks its list.
 */
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "job.h"
#include "log.h"
#include "timer.h"
#include "util.h"

extern char **environ;

#define JOB_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define JOB_READ_CHUNK 16384
#define JOB_READS_PER_EVENT 16 /* then yield to the loop */

struct reaper;

struct job {
	TAILQ_ENTRY(job) entry;
	struct reaper *r;
	char *name;
	pid_t pid; /* also the process group; -1 if never spawned */
	int fd; /* read end of the output pipe; -1 after EOF */
	bool exited;
	bool cancelled; /* waiting only to be reaped */
	bool in_cb;
	bool done_queued;
	int status;
	int spawn_errno;
	bool timed_out;
	int64_t start_ms, exit_ms, grace_ms;
	struct event *ev_read, *ev_timeout, *ev_kill, *ev_eof, *ev_done;
	char *ring; /* the last cap bytes of output */
	size_t cap, pos; /* pos: where the next byte goes */
	uint64_t total; /* bytes ever read */
	job_done_cb *cb;
	void *arg;
};

/* One SIGCHLD event per event base, alive while the base has jobs. */
struct reaper {
	struct event_base *base;
	struct event *ev;
	TAILQ_HEAD(, job) jobs;
	LIST_ENTRY(reaper) entry;
};

static LIST_HEAD(, reaper) reapers = LIST_HEAD_INITIALIZER(reapers);
static int njobs;

static job_spawn_observer *spawn_observer;
static void *spawn_observer_arg;

void
job_set_spawn_observer(job_spawn_observer *cb, void *arg)
{
	spawn_observer = cb;
	spawn_observer_arg = arg;
}

static void job_check(struct job *);
static void job_free(struct job *);

static const char *
job_name(const struct job *j)
{
	return j->name != NULL ? j->name : "job";
}

static void
job_killpg(struct job *j, int sig)
{
	if (j->pid > 0 && kill(-j->pid, sig) == -1 && errno != ESRCH)
		log_warn("%s: kill(-%d, %d)", job_name(j), (int)j->pid, sig);
}

/* Reaps j if it has exited; true if it now has an exit status. */
static bool
job_reap(struct job *j)
{
	pid_t r;
	int st;

	if (j->exited || j->pid <= 0)
		return j->exited;
	do
		r = waitpid(j->pid, &st, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		return false;
	if (r == -1) {
		/* ECHILD: reaped elsewhere (SIGCHLD ignored?). No status to tell. */
		log_warn("%s: waitpid %d", job_name(j), (int)j->pid);
		st = -1;
	}
	j->exited = true;
	j->status = st;
	j->exit_ms = util_mono_ms();
	return true;
}

static void reaper_release(struct event_base *);

static void
reaper_release_cb(evutil_socket_t fd, short what, void *arg)
{
	reaper_release(arg);
}

static void
reaper_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct timeval zero = {0, 0};
	struct reaper *r = arg;
	struct job *j, *next;

	for (j = TAILQ_FIRST(&r->jobs); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (j->exited || !job_reap(j))
			continue;
		if (j->cancelled) {
			/* Leftovers of the group: the leader is gone, kill the rest. */
			job_killpg(j, SIGKILL);
			TAILQ_REMOVE(&r->jobs, j, entry);
			job_free(j);
		} else
			job_check(j);
	}
	/* Not freed inside its own callback: later, if still empty. */
	if (TAILQ_EMPTY(&r->jobs))
		event_base_once(r->base, -1, EV_TIMEOUT, reaper_release_cb, r->base, &zero);
}

static struct reaper *
reaper_find(struct event_base *base)
{
	struct reaper *r;

	LIST_FOREACH(r, &reapers, entry)
	if (r->base == base)
		return r;
	return NULL;
}

static struct reaper *
reaper_get(struct event_base *base)
{
	struct reaper *r;

	if ((r = reaper_find(base)) != NULL)
		return r;
	r = xcalloc(1, sizeof(*r));
	r->base = base;
	TAILQ_INIT(&r->jobs);
	if ((r->ev = evsignal_new(base, SIGCHLD, reaper_sigchld_cb, r)) == NULL ||
	    evsignal_add(r->ev, NULL) == -1) {
		log_warnx("job: cannot watch SIGCHLD");
		if (r->ev != NULL)
			event_free(r->ev);
		free(r);
		return NULL;
	}
	LIST_INSERT_HEAD(&reapers, r, entry);
	return r;
}

/* Drops the SIGCHLD event when the base has no job left: a persistent
 * signal event would otherwise keep event_base_dispatch from returning. */
static void
reaper_release(struct event_base *base)
{
	struct reaper *r = reaper_find(base);

	if (r == NULL || !TAILQ_EMPTY(&r->jobs))
		return;
	LIST_REMOVE(r, entry);
	event_free(r->ev);
	free(r);
}

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	if (j->ev_read != NULL)
		event_free(j->ev_read);
	if (j->ev_timeout != NULL)
		event_free(j->ev_timeout);
	if (j->ev_kill != NULL)
		event_free(j->ev_kill);
	if (j->ev_eof != NULL)
		event_free(j->ev_eof);
	if (j->ev_done != NULL)
		event_free(j->ev_done);
	if (j->fd != -1)
		close(j->fd);
	free(j->ring);
	free(j->name);
	free(j);
}

/* Frees everything but what reaping needs (pid, list entry). */
static void
job_strip(struct job *j)
{
	struct event **evs[] = {&j->ev_read, &j->ev_timeout, &j->ev_kill, &j->ev_eof, &j->ev_done};
	size_t i;

	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (*evs[i] != NULL)
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	if (j->fd != -1)
		close(j->fd);
	j->fd = -1;
	free(j->ring);
	j->ring = NULL;
}

static void
job_append(struct job *j, const char *p, size_t n)
{
	size_t k;

	j->total += n;
	if (n >= j->cap) {
		memcpy(j->ring, p + n - j->cap, j->cap);
		j->pos = 0;
		return;
	}
	k = j->cap - j->pos < n ? j->cap - j->pos : n;
	memcpy(j->ring + j->pos, p, k);
	memcpy(j->ring, p + k, n - k);
	j->pos = (j->pos + n) % j->cap;
}

/* The kept output in order, NUL-terminated. */
static char *
job_output(const struct job *j, size_t *lenp)
{
	char *out;

	if (j->total <= j->cap) {
		*lenp = (size_t)j->total;
		out = xcalloc(1, *lenp + 1);
		memcpy(out, j->ring, *lenp);
		return out;
	}
	*lenp = j->cap;
	out = xcalloc(1, j->cap + 1);
	memcpy(out, j->ring + j->pos, j->cap - j->pos);
	memcpy(out + (j->cap - j->pos), j->ring, j->pos);
	return out;
}

static void
job_close_pipe(struct job *j)
{
	if (j->ev_read != NULL)
		event_free(j->ev_read);
	j->ev_read = NULL;
	if (j->fd != -1)
		close(j->fd);
	j->fd = -1;
}

/* Reads what is there; true at EOF (or an error, which ends reading too). */
static bool
job_drain(struct job *j)
{
	char buf[JOB_READ_CHUNK];
	ssize_t n;
	int i;

	for (i = 0; i < JOB_READS_PER_EVENT; i++) {
		n = read(j->fd, buf, sizeof(buf));
		if (n > 0) {
			job_append(j, buf, (size_t)n);
			continue;
		}
		if (n == 0)
			return true;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return false;
		log_warn("%s: read", job_name(j));
		return true;
	}
	return false;
}

static void
job_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	if (!job_drain(j))
		return;
	job_close_pipe(j);
	job_reap(j); /* EOF usually means the child is gone: save a round trip */
	job_check(j);
}

static void
job_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	log_warnx("%s: timed out, sending TERM to process group %d", job_name(j), (int)j->pid);
	j->timed_out = true;
	job_killpg(j, SIGTERM);
	util_timer_in(j->ev_kill, j->grace_ms);
}

static void
job_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	log_warnx("%s: still running, sending KILL to process group %d", job_name(j), (int)j->pid);
	job_killpg(j, SIGKILL);
}

static void
job_eof_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	/* The child is gone but something it left holds the pipe open. */
	log_debug("%s: no EOF %dms after exit, killing process group %d", job_name(j),
	    JOB_EOF_WAIT_MS, (int)j->pid);
	job_killpg(j, SIGKILL);
	if (j->fd != -1)
		(void)job_drain(j);
	job_close_pipe(j);
	job_check(j);
}

static void
job_done_cb_ev(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct event_base *base = j->r->base;
	struct job_result res;
	char *out;

	/* Whatever the job left in its group goes with it. */
	job_killpg(j, SIGKILL);
	TAILQ_REMOVE(&j->r->jobs, j, entry);
	j->r = NULL;
	njobs--;

	memset(&res, 0, sizeof(res));
	res.exit_code = -1;
	if (j->pid > 0 && j->status != -1) {
		if (WIFEXITED(j->status))
			res.exit_code = WEXITSTATUS(j->status);
		else if (WIFSIGNALED(j->status))
			res.signal = WTERMSIG(j->status);
	}
	res.timed_out = j->timed_out;
	res.spawn_errno = j->spawn_errno;
	res.duration_ms = j->pid > 0 ? j->exit_ms - j->start_ms : 0;
	out = job_output(j, &res.output_len);
	res.output = out;
	res.output_truncated = j->total > j->cap;
	log_debug("%s: pid %d done: exit %d, signal %d%s, %lldms, %zu bytes of output", job_name(j),
	    (int)j->pid, res.exit_code, res.signal, res.timed_out ? ", timed out" : "",
	    (long long)res.duration_ms, res.output_len);

	j->in_cb = true;
	if (j->cb != NULL)
		j->cb(j, &res, j->arg);
	free(out);
	job_free(j);
	reaper_release(base);
}

/* Completes the job once it has both exited and hit EOF. */
static void
job_check(struct job *j)
{
	struct timeval tv = {JOB_EOF_WAIT_MS / 1000, (JOB_EOF_WAIT_MS % 1000) * 1000};

	if (!j->exited || j->done_queued)
		return;
	if (j->ev_timeout != NULL)
		evtimer_del(j->ev_timeout);
	if (j->ev_kill != NULL)
		evtimer_del(j->ev_kill);
	if (j->fd != -1) {
		if (!evtimer_pending(j->ev_eof, NULL))
			evtimer_add(j->ev_eof, &tv);
		return;
	}
	if (j->ev_eof != NULL)
		evtimer_del(j->ev_eof);
	j->done_queued = true;
	event_active(j->ev_done, EV_TIMEOUT, 1);
}

#ifndef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
/* Without closefrom: close every descriptor above 2 that would survive exec. */
static void
job_close_inherited(posix_spawn_file_actions_t *fa, int keep)
{
	DIR *d;
	struct dirent *de;
	long long fd;
	int dfd;

	if ((d = opendir("/proc/self/fd")) == NULL && (d = opendir("/dev/fd")) == NULL)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (util_int_parse(de->d_name, 3, 1 << 30, &fd) == -1 || fd == dfd || fd == keep)
			continue;
		if ((fcntl((int)fd, F_GETFD) & FD_CLOEXEC) == 0)
			posix_spawn_file_actions_addclose(fa, (int)fd);
	}
	closedir(d);
}
#endif

static int
job_spawn(struct job *j, const struct job_opts *o)
{
	static char *const no_env[] = {NULL};
	char *shargv[] = {"/bin/sh", "-c", (char *)o->command, NULL};
	char *const *argv = o->command != NULL ? shargv : o->argv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) == -1)
		return errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#else
	job_close_inherited(&fa, p[1]);
#endif
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setflags(
	    &at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);

	if (strchr(argv[0], '/') != NULL)
		rc =
		    posix_spawn(&j->pid, argv[0], &fa, &at, argv, o->env != NULL ? o->env : no_env);
	else
		rc = posix_spawnp(
		    &j->pid, argv[0], &fa, &at, argv, o->env != NULL ? o->env : no_env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (rc != 0) {
		j->pid = -1;
		close(p[0]);
		return rc;
	}
	j->fd = p[0];
	if (fcntl(j->fd, F_SETFL, fcntl(j->fd, F_GETFL) | O_NONBLOCK) == -1)
		log_warn("%s: O_NONBLOCK", job_name(j));
	return 0;
}

struct job *
job_start(struct event_base *base, const struct job_opts *o, job_done_cb *cb, void *arg)
{
	struct job *j;
	struct reaper *r;

	if (base == NULL || o == NULL || (o->command == NULL) == (o->argv == NULL) ||
	    (o->argv != NULL && o->argv[0] == NULL) || o->timeout_ms < 0 || o->kill_grace_ms < 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((r = reaper_get(base)) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->pid = -1;
	j->fd = -1;
	j->name = o->name != NULL ? xstrdup(o->name) : NULL;
	j->cap = o->output_max > 0 ? o->output_max : JOB_OUTPUT_MAX;
	j->ring = xcalloc(1, j->cap);
	j->grace_ms = o->kill_grace_ms > 0 ? o->kill_grace_ms : JOB_KILL_GRACE_MS;
	j->cb = cb;
	j->arg = arg;
	TAILQ_INSERT_TAIL(&r->jobs, j, entry);
	njobs++;

	if ((j->ev_done = event_new(base, -1, 0, job_done_cb_ev, j)) == NULL ||
	    (j->ev_timeout = evtimer_new(base, job_timeout_cb, j)) == NULL ||
	    (j->ev_kill = evtimer_new(base, job_kill_cb, j)) == NULL ||
	    (j->ev_eof = evtimer_new(base, job_eof_cb, j)) == NULL) {
		TAILQ_REMOVE(&r->jobs, j, entry);
		njobs--;
		job_free(j);
		reaper_release(base);
		errno = ENOMEM;
		return NULL;
	}

	j->start_ms = util_mono_ms();
	if ((j->spawn_errno = job_spawn(j, o)) != 0) {
		log_warnx("%s: cannot start: %s", job_name(j), strerror(j->spawn_errno));
		j->exited = true;
		job_check(j);
		return j;
	}
	log_debug("%s: started, pid %d", job_name(j), (int)j->pid);
	if (spawn_observer != NULL && !o->transient)
		spawn_observer(j->pid, spawn_observer_arg);
	if ((j->ev_read = event_new(base, j->fd, EV_READ | EV_PERSIST, job_read_cb, j)) == NULL ||
	    event_add(j->ev_read, NULL) == -1) {
		/* Without a reader the output is lost; the EOF wait still ends it. */
		log_warnx("%s: cannot watch the output", job_name(j));
		job_close_pipe(j);
	}
	if (o->timeout_ms > 0)
		util_timer_in(j->ev_timeout, o->timeout_ms);
	return j;
}

void
job_cancel(struct job *j)
{
	struct event_base *base;

	if (j == NULL || j->in_cb || j->cancelled)
		return;
	base = j->r->base;
	log_debug("%s: cancelled, killing process group %d", job_name(j), (int)j->pid);
	job_killpg(j, SIGKILL);
	njobs--;
	if (j->pid > 0 && !j->exited) {
		/* Keep just enough to reap the zombie when SIGCHLD comes. */
		job_strip(j);
		j->cancelled = true;
		j->cb = NULL;
		return;
	}
	TAILQ_REMOVE(&j->r->jobs, j, entry);
	job_free(j);
	reaper_release(base);
}

pid_t
job_pid(const struct job *j)
{
	return j != NULL && !j->exited ? j->pid : -1;
}

int
job_count(void)
{
	return njobs;
}

void
job_kill_all(void)
{
	struct reaper *r;
	struct job *j;

	while ((r = LIST_FIRST(&reapers)) != NULL) {
		while ((j = TAILQ_FIRST(&r->jobs)) != NULL) {
			job_killpg(j, SIGKILL);
			(void)job_reap(j);
			TAILQ_REMOVE(&r->jobs, j, entry);
			job_free(j);
		}
		LIST_REMOVE(r, entry);
		event_free(r->ev);
		free(r);
	}
	njobs = 0;
}

/* --- environment -------------------------------------------------------- */

static size_t
env_len(char *const *env)
{
	size_t n = 0;

	while (env != NULL && env[n] != NULL)
		n++;
	return n;
}

static ssize_t
env_find(char *const *env, const char *key, size_t klen)
{
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		if (strncmp(env[i], key, klen) == 0 && env[i][klen] == '=')
			return (ssize_t)i;
	return -1;
}

const char *
job_env_get(char *const *env, const char *key)
{
	ssize_t i = env_find(env, key, strlen(key));

	return i == -1 ? NULL : env[i] + strlen(key) + 1;
}

char **
job_env_set(char **env, const char *key, const char *value)
{
	size_t n = env_len(env);
	ssize_t i = env_find(env, key, strlen(key));

	if (i != -1) {
		free(env[i]);
		if (value != NULL) {
			env[i] = xasprintf("%s=%s", key, value);
			return env;
		}
		memmove(&env[i], &env[i + 1], (n - (size_t)i) * sizeof(*env));
		return env;
	}
	if (value == NULL)
		return env != NULL ? env : xcalloc(1, sizeof(*env));
	env = xrealloc(env, (n + 2) * sizeof(*env));
	env[n] = xasprintf("%s=%s", key, value);
	env[n + 1] = NULL;
	return env;
}

char **
job_env_setkv(char **env, const char *kv)
{
	const char *eq;
	char *key;

	if (kv == NULL || (eq = strchr(kv, '=')) == NULL || eq == kv)
		return env != NULL ? env : xcalloc(1, sizeof(*env));
	key = xasprintf("%.*s", (int)(eq - kv), kv);
	env = job_env_set(env, key, eq + 1);
	free(key);
	return env;
}

char **
job_env_new(const char *const *extra)
{
	static const char *inherit[] = {"PATH", "HOME", "LANG", "TZ"};
	char **env = xcalloc(1, sizeof(*env));
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(inherit) / sizeof(inherit[0]); i++) {
		v = getenv(inherit[i]);
		if (v == NULL && strcmp(inherit[i], "PATH") == 0)
			v = JOB_DEFAULT_PATH;
		if (v != NULL)
			env = job_env_set(env, inherit[i], v);
	}
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		env = job_env_setkv(env, extra[i]);
	return env;
}

void
job_env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

static const char *
job_signame(int sig, char *buf, size_t len)
{
	const char *s = sigabbrev_np(sig);

	if (s != NULL)
		snprintf(buf, len, "SIG%s", s);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}

const char *
job_result_str(const struct job_result *res, char *buf, size_t len)
{
	char sn[32];

	if (res->spawn_errno != 0)
		snprintf(buf, len, "could not start: %s", strerror(res->spawn_errno));
	else if (res->timed_out && res->signal != 0)
		snprintf(
		    buf, len, "timed out (killed by %s)", job_signame(res->signal, sn, sizeof(sn)));
	else if (res->timed_out)
		snprintf(buf, len, "timed out (exited %d)", res->exit_code);
	else if (res->signal != 0)
		snprintf(buf, len, "killed by %s", job_signame(res->signal, sn, sizeof(sn)));
	else if (res->exit_code >= 0)
		snprintf(buf, len, "exited %d", res->exit_code);
	else
		snprintf(buf, len, "ended with an unknown status");
	return buf;
}
