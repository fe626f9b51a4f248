/*
 * Killing the children of a crashed run (see leftovers.h): the job groups
 * recorded in STATE_FILE; at start-up those still alive with the same /proc
 * start time are killed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "daemon.h"
#include "job.h"
#include "leftovers.h"
#include "log.h"
#include "state.h"

/* /proc/PID/stat's starttime (field 22, clock ticks since boot), or 0 when
 * the process is gone, a zombie, or there is no /proc (macOS: nothing is
 * recorded then, and nothing is ever killed). */
static unsigned long long
proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	char state;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	if (sscanf(p + 1,
	        " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
	        &state, &start) != 2 ||
	    state == 'Z')
		return 0;
	return start;
}

/* Keeps only the records whose group leader still runs. */
static void
prune(struct dstate *st)
{
	json_object *keep = json_object_new_array();
	size_t n = json_object_array_length(st->jobs);

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(st->jobs, i), *pg, *sv;
		if (json_object_object_get_ex(o, "pgid", &pg) &&
		    json_object_object_get_ex(o, "start", &sv) &&
		    proc_start((pid_t)json_object_get_int(pg)) ==
		        (unsigned long long)json_object_get_int64(sv))
			json_object_array_add(keep, json_object_get(o));
	}
	json_object_put(st->jobs);
	st->jobs = keep;
}

static void
spawned(pid_t pgid, void *arg)
{
	struct daemon *d = arg;
	struct dstate *st = d->dstate;
	unsigned long long start = proc_start(pgid);
	json_object *o;

	if (start == 0)
		return; /* already gone, or no /proc */
	prune(st);
	o = json_object_new_object();
	json_object_object_add(o, "pgid", json_object_new_int((int)pgid));
	json_object_object_add(o, "start", json_object_new_int64((int64_t)start));
	json_object_array_add(st->jobs, o);
	daemon_state_dirty(d);
}

void
leftovers_start(struct daemon *d)
{
	struct dstate *st = d->dstate;
	size_t n = json_object_array_length(st->jobs);
	int killed = 0;

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(st->jobs, i), *pg, *sv;
		pid_t pgid;
		if (!json_object_object_get_ex(o, "pgid", &pg) ||
		    !json_object_object_get_ex(o, "start", &sv))
			continue;
		pgid = (pid_t)json_object_get_int(pg);
		if (pgid <= 1 || proc_start(pgid) != (unsigned long long)json_object_get_int64(sv))
			continue;
		if (kill(-pgid, SIGKILL) == 0) {
			log_warnx(
			    "killed process group %d, left running by the previous run", (int)pgid);
			killed++;
		} else if (errno != ESRCH)
			log_warn("kill(-%d)", (int)pgid);
	}
	json_object_put(st->jobs);
	st->jobs = json_object_new_array();
	if (n > 0)
		daemon_state_save(d);
	if (killed > 0)
		daemon_error(d, "restart",
		    "killed %d child process group%s left running by the "
		    "previous run (it did not stop cleanly)",
		    killed, killed == 1 ? "" : "s");
	job_set_spawn_observer(spawned, d);
}
