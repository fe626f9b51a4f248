#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "failoverd.h"
#include "state.h"
#include "status.h"
#include "util.h"

json_object *
json_time_or_null(int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	return ms != 0 ? json_object_new_string(util_time_fmt(ms, buf, sizeof(buf))) : NULL;
}

static json_object *
errors_json(const struct error_ring *er)
{
	json_object *arr = json_object_new_array();

	/* Oldest first. */
	for (int i = 0; i < er->n; i++) {
		int slot = (er->next - er->n + i + ERRORS_MAX) % ERRORS_MAX;
		json_object *e = json_object_new_object();
		json_object_object_add(e, "time", json_time_or_null(er->v[slot].time));
		json_object_object_add(e, "what", json_object_new_string(er->v[slot].what));
		json_object_object_add(e, "error", json_object_new_string(er->v[slot].error));
		json_object_object_add(e, "cleared", json_time_or_null(er->v[slot].cleared));
		json_object_array_add(arr, e);
	}
	return arr;
}

json_object *
status_build(struct daemon *d)
{
	json_object *st = json_object_new_object();

	json_object_object_add(st, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(st, "pid", json_object_new_int64((int64_t)getpid()));
	json_object_object_add(
	    st, "uptime_s", json_object_new_int64((util_mono_ms() - d->started_mono) / 1000));
	json_object_object_add(st, "instance",
	    d->cfg->instance != NULL ? json_object_new_string(d->cfg->instance) : NULL);
	json_object_object_add(st, "paused", json_object_new_boolean(d->paused));
	json_object_object_add(
	    st, "paused_until", d->paused ? json_time_or_null(d->paused_until) : NULL);
	json_object_object_add(st, "errors", errors_json(&d->errors));
	json_object_object_add(
	    st, "config_file", d->cfg->file != NULL ? json_object_new_string(d->cfg->file) : NULL);
	json_object_object_add(st, "restart_needed", daemon_restart_needed_json(d));
	/* state, state_since, reason, forced, degraded, local, standby, sync,
	 * notify, counters. */
	engine_status(d->engine, st);
	return st;
}

int
status_write(struct daemon *d)
{
	json_object *st = status_build(d);
	const char *s;
	int rc;

	json_object_object_add(st, "written_at", json_time_or_null(util_now_ms()));
	if (d->stopped_at != 0)
		json_object_object_add(st, "stopped", json_time_or_null(d->stopped_at));
	s = json_object_to_json_string_ext(
	    st, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = util_write_atomic(d->cfg->status_file, s, strlen(s), 0644);
	json_object_put(st);
	return rc;
}
