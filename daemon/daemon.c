/*
 * The daemon's shared context (daemon.h) and what every module may ask of
 * it: status.errors and `error` events, the `daemon` event, STATUS_FILE and
 * STATE_FILE writes as they are due, systemd's notifications. It calls no
 * module above it: main (failoverd.c) wires the timers' callbacks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/event.h>

#include "daemon.h"
#include "events.h"
#include "log.h"
#include "state.h"
#include "timer.h"
#include "util.h"

/* A STATE_FILE or STATUS_FILE that cannot be written (full, read-only) is
 * tried again this often even when nothing changes. */
#define STORAGE_RETRY_S 5

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

void
daemon_sd_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(notify_addr.sun_path))
		return;
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unsetenv("NOTIFY_SOCKET");
}

void
daemon_sd_notify(struct daemon *d, const char *msg)
{
	(void)d;
	if (notify_fd == -1)
		return;
	if (sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&notify_addr,
	        notify_len) == -1)
		log_debug("sd_notify: %s", strerror(errno));
}

void
daemon_status_changed(struct daemon *d)
{
	int64_t wait;

	if (d->status_timer == NULL || d->status_dirty)
		return;
	d->status_dirty = true;
	/* At most one write a second. */
	wait = d->status_written_mono + 1000 - util_mono_ms();
	util_timer_in(d->status_timer, wait);
}

static void
error_event(struct daemon *d, const char *what, const char *msg, bool cleared)
{
	json_object *f = json_object_new_object();

	json_object_object_add(f, "what", json_object_new_string(what));
	json_object_object_add(f, "error", json_object_new_string(msg));
	json_object_object_add(f, "cleared", json_object_new_boolean(cleared));
	events_emit(d->events, "error", f);
}

void
daemon_error(struct daemon *d, const char *what, const char *fmt, ...)
{
	struct error_ring *er = &d->errors;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", what, msg);
	er->v[er->next].time = util_now_ms();
	er->v[er->next].cleared = 0;
	strlcpy(er->v[er->next].what, what, sizeof(er->v[0].what));
	strlcpy(er->v[er->next].error, msg, sizeof(er->v[0].error));
	er->next = (er->next + 1) % ERRORS_MAX;
	if (er->n < ERRORS_MAX)
		er->n++;
	error_event(d, what, msg, false);
}

void
daemon_error_cleared(struct daemon *d, const char *what, const char *fmt, ...)
{
	struct error_ring *er = &d->errors;
	int64_t now = util_now_ms();
	char msg[256];
	va_list ap;

	bool open = false;

	/* Only a problem that is still open ends: no event otherwise. */
	for (int i = 0; i < ERRORS_MAX; i++)
		if (er->v[i].time != 0 && er->v[i].cleared == 0 &&
		    strcmp(er->v[i].what, what) == 0) {
			er->v[i].cleared = now;
			open = true;
		}
	if (!open)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("%s: %s", what, msg);
	error_event(d, what, msg, true);
}

void
daemon_state_retry(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	if (d->dstate != NULL && d->dstate->save_failed)
		daemon_state_save(d);
}

void
daemon_state_flush(struct daemon *d)
{
	if (d->state_dirty)
		daemon_state_save(d);
}

void
daemon_state_dirty(struct daemon *d)
{
	if (d->state_flush == NULL) {
		daemon_state_save(d);
		return;
	}
	if (!d->state_dirty) {
		d->state_dirty = true;
		event_active(d->state_flush, EV_TIMEOUT, 0);
	}
}

void
daemon_state_save(struct daemon *d)
{
	struct dstate *st = d->dstate;
	struct timeval tv = {STORAGE_RETRY_S, 0};
	bool failed_before;

	if (st == NULL)
		return;
	d->state_dirty = false;
	failed_before = st->save_failed;
	if (d->events != NULL)
		st->events_total = d->events_base + events_count(d->events);
	if (dstate_save(st) == -1) {
		/* Report once per outage, not once per write; try again later
		 * even if nothing changes meanwhile. */
		if (!failed_before)
			daemon_error(d, "state-file", "%s", st->save_error);
		if (d->state_retry != NULL && !evtimer_pending(d->state_retry, NULL))
			evtimer_add(d->state_retry, &tv);
	} else if (failed_before) {
		if (d->state_retry != NULL)
			evtimer_del(d->state_retry);
		daemon_error_cleared(d, "state-file", "STATE_FILE %s is written again", st->path);
	}
}

void
daemon_event(struct daemon *d, const char *what, bool ok, const char *err)
{
	json_object *f = json_object_new_object();

	json_object_object_add(f, "what", json_object_new_string(what));
	json_object_object_add(f, "ok", json_object_new_boolean(ok));
	json_object_object_add(f, "error", err != NULL ? json_object_new_string(err) : NULL);
	json_object_object_add(f, "version", json_object_new_string(PACKAGE_VERSION));
	if (strcmp(what, "reload") == 0 && ok)
		json_object_object_add(f, "restart_needed", daemon_restart_needed_json(d));
	events_emit(d->events, "daemon", f);
}

json_object *
daemon_restart_needed_json(const struct daemon *d)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < d->n_restart_needed; i++)
		json_object_array_add(a, json_object_new_string(d->restart_needed[i]));
	return a;
}
