/*
 * The daemon's shared context: one per process, passed everywhere, and the
 * services every module may ask of it (daemon.c). main (failoverd.c) builds
 * it and wires what sits above: the engine, the control socket, reloads.
 */
#ifndef FOD_DAEMON_H
#define FOD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/util.h>
#include <json-c/json.h>

#include "config.h"
#include "metrics.h"

struct event_base;
struct event;
struct control;
struct events;
struct engine;
struct coord;
struct http;
struct dstate;
struct request;

#define ERRORS_MAX 16

/* Event priorities of a loop pass: the engine's run (PRIO_ENGINE) comes
 * before new inputs (everything else, PRIO_DEFAULT). */
#define PRIO_ENGINE 0
#define PRIO_DEFAULT 1
#define PRIO_N 2

/* Recent problems, shown in status.errors (bounded ring). */
struct error_ring {
	struct {
		int64_t time;
		int64_t cleared; /* wall ms the condition ended; 0 = not known to */
		char what[32];
		char error[256];
	} v[ERRORS_MAX];
	int n; /* entries in use */
	int next; /* slot for the next one */
};

struct daemon {
	struct event_base *base;
	struct config *cfg;
	struct config_source src;
	const char *config_file_arg; /* -c, kept for reloads */

	struct events *events;
	struct control *control;
	struct http *http;
	struct engine *engine;
	struct coord *coord; /* COORDINATOR=etcd (coord.c), or NULL */
	struct dstate *dstate;
	struct metrics metrics; /* fed by the engine, rendered with status */
	struct metrics_server *metrics_srv; /* METRICS_LISTEN, or NULL */

	int64_t started_wall;
	int64_t started_mono;
	int64_t stopped_at; /* wall ms of a clean stop, for STATUS_FILE */
	bool foreground;
	bool sd_notify;

	struct error_ring errors;
	/* Keys a reload changed that only a restart applies (static names). */
	const char *restart_needed[24];
	int n_restart_needed;
	bool reload_failed; /* the last reload failed (an errors entry) */
	uint64_t events_base; /* events of earlier runs */
	bool state_unusable; /* STATE_FILE was corrupt or unreadable */

	/* STATUS_FILE: written at most once a second. */
	struct event *status_timer;
	int64_t status_written_mono;
	bool status_dirty;
	bool status_failed; /* the last write failed (reported once) */
	/* STATE_FILE could not be written: tried again on this timer too. */
	struct event *state_retry;
	struct event *state_flush; /* daemon_state_dirty's one save per pass */
	bool state_dirty;

	struct event *sigs[5];
	struct event *watchdog;

	/* Wired by main: the `reload` command re-reads the configuration (NULL
	 * on success or a malloc'd reason), and the control socket hands each
	 * request to the command table. */
	char *(*reload)(struct daemon *);
	void (*dispatch)(struct daemon *, struct request *, const char *cmd, bool admin);
};

/* Something changed that status shows: schedule a STATUS_FILE write. */
void daemon_status_changed(struct daemon *);
/* Records a problem in status.errors and emits an `error` event. */
void daemon_error(struct daemon *, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A problem daemon_error reported under `what` has ended: its status.errors
 * entries get `cleared`, and an `error` event with cleared true says so.
 * Nothing happens when no entry of `what` is open. */
void daemon_error_cleared(struct daemon *, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ["KEY", ...]: the changed keys a restart has yet to apply. */
json_object *daemon_restart_needed_json(const struct daemon *);
/* Durable state changed: persist it now (errors are reported, not
 * fatal). Only where the outside world must not get ahead of the file: the
 * side and forced before an action's first request, the seq floor, start
 * and stop. */
void daemon_state_save(struct daemon *);
/* Durable state changed: one save at the end of this loop pass, however
 * many changes it holds (STATUS_FILE's way); when the engine is marked,
 * at the end of its run. */
void daemon_state_dirty(struct daemon *);
/* The save daemon_state_dirty asked for, now (the engine's run ends). */
void daemon_state_flush(struct daemon *);
/* The `daemon` event (what: start, reload, stop). */
void daemon_event(struct daemon *, const char *what, bool ok, const char *err);
/* Reads $NOTIFY_SOCKET once, at start-up. */
void daemon_sd_init(void);
/* STATE_FILE could not be written: try again (the state_retry timer). */
void daemon_state_retry(evutil_socket_t, short, void *);
/* sd_notify("STATUS=...") etc.; no-op without $NOTIFY_SOCKET. */
void daemon_sd_notify(struct daemon *, const char *msg);

#endif
