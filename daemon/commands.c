#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "control.h"
#include "engine.h"
#include "events.h"
#include "failoverd.h"
#include "log.h"
#include "status.h"
#include "util.h"

static void cmd_ping(struct daemon *, struct request *);
static void cmd_help(struct daemon *, struct request *);
static void cmd_status(struct daemon *, struct request *);
static void cmd_metrics(struct daemon *, struct request *);
static void cmd_events(struct daemon *, struct request *);
static void cmd_check(struct daemon *, struct request *);
static void cmd_selftest(struct daemon *, struct request *);
static void cmd_force_activate(struct daemon *, struct request *);
static void cmd_force_deactivate(struct daemon *, struct request *);
static void cmd_pause(struct daemon *, struct request *);
static void cmd_resume(struct daemon *, struct request *);
static void cmd_sync(struct daemon *, struct request *);
static void cmd_reload(struct daemon *, struct request *);

static const char *const no_args[] = {NULL};
static const char *const events_args[] = {"backlog", "types", "follow", NULL};
static const char *const selftest_args[] = {"telegram", NULL};
static const char *const activate_args[] = {"reason", "wait", NULL};
static const char *const deactivate_args[] = {"reason", "force", "wait", "pause", NULL};
static const char *const pause_args[] = {"duration", NULL};
static const char *const sync_args[] = {"direction", "force", NULL};

static const struct command commands[] = {
    {"ping", LEVEL_READ, no_args, cmd_ping, "ping"},
    {"help", LEVEL_READ, no_args, cmd_help, "help"},
    {"status", LEVEL_READ, no_args, cmd_status, "status"},
    {"metrics", LEVEL_READ, no_args, cmd_metrics, "metrics"},
    {"events", LEVEL_READ, events_args, cmd_events,
        "events [backlog: int] [types: [type...]] [follow: bool]"},
    {"check", LEVEL_ADMIN, no_args, cmd_check, "check"},
    {"selftest", LEVEL_ADMIN, selftest_args, cmd_selftest, "selftest [telegram: bool]"},
    {"force-activate", LEVEL_ADMIN, activate_args, cmd_force_activate,
        "force-activate [reason: string] [wait: bool]"},
    {"force-deactivate", LEVEL_ADMIN, deactivate_args, cmd_force_deactivate,
        "force-deactivate [reason: string] [force: bool] [wait: bool] [pause: duration, with "
        "force]"},
    {"pause", LEVEL_ADMIN, pause_args, cmd_pause, "pause [duration: seconds or duration string]"},
    {"resume", LEVEL_ADMIN, no_args, cmd_resume, "resume"},
    {"sync", LEVEL_ADMIN, sync_args, cmd_sync, "sync direction: push|pull [force: bool]"},
    {"reload", LEVEL_ADMIN, no_args, cmd_reload, "reload"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
control_event(struct daemon *d, struct request *r, const char *cmd, bool ok, const char *err)
{
	json_object *f = json_object_new_object();

	json_object_object_add(f, "cmd", json_object_new_string(cmd));
	json_object_object_add(f, "ok", json_object_new_boolean(ok));
	json_object_object_add(f, "uid", json_object_new_int64((int64_t)r->uid));
	json_object_object_add(f, "pid", json_object_new_int64((int64_t)r->pid));
	if (err != NULL)
		json_object_object_add(f, "error", json_object_new_string(err));
	events_emit(d->events, "control", f);
}

/* Unknown arguments, then each command's own type checks. */
static bool
args_known(struct request *r, char *msg, size_t msglen)
{
	json_object_object_foreach(r->req, k, v)
	{
		bool found = strcmp(k, "cmd") == 0 || strcmp(k, "id") == 0;
		(void)v;
		for (const char *const *a = r->cmd->args; !found && *a != NULL; a++)
			found = strcmp(*a, k) == 0;
		if (!found) {
			snprintf(msg, msglen, "unknown argument \"%.64s\" for %s (usage: %s)", k,
			    r->cmd->name, r->cmd->usage);
			return false;
		}
	}
	return true;
}

/* Optional bool argument: 0 ok, -1 wrong type. */
static int
arg_bool(struct request *r, const char *name, bool def, bool *out)
{
	json_object *v;

	*out = def;
	if (!json_object_object_get_ex(r->req, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	*out = json_object_get_boolean(v);
	return 0;
}

static int
arg_string(struct request *r, const char *name, const char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(r->req, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	return 0;
}

/* Optional duration argument: seconds as a number, or a duration string;
 * positive. *ms stays 0 when absent or null. 0 ok, -1 bad. */
static int
arg_duration(struct request *r, const char *name, int64_t *ms)
{
	json_object *v;
	const char *err;

	*ms = 0;
	if (!json_object_object_get_ex(r->req, name, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
		double sec = json_object_get_double(v);

		if (!isfinite(sec) || sec <= 0 || sec > 1e9)
			return -1;
		*ms = (int64_t)llround(sec * 1000.0);
		if (*ms < 1)
			*ms = 1;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    util_duration_parse(json_object_get_string(v), ms, &err) == -1 || *ms == 0)
		return -1;
	return 0;
}

static int
validate(struct daemon *d, struct request *r, char *msg, size_t msglen)
{
	const char *name = r->cmd->name, *s;
	int64_t ms;
	bool b;

	if (!args_known(r, msg, msglen))
		return -1;
	if (strcmp(name, "events") == 0) {
		json_object *v;
		if (json_object_object_get_ex(r->req, "backlog", &v) &&
		    (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		        json_object_get_int64(v) > 1000000)) {
			snprintf(msg, msglen, "backlog must be an integer >= 0");
			return -1;
		}
		if (json_object_object_get_ex(r->req, "types", &v) &&
		    !json_object_is_type(v, json_type_null)) {
			if (!json_object_is_type(v, json_type_array)) {
				snprintf(msg, msglen, "types must be an array of event types");
				return -1;
			}
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				json_object *t = json_object_array_get_idx(v, i);
				if (!json_object_is_type(t, json_type_string) ||
				    json_object_get_string_len(t) == 0 ||
				    json_object_get_string_len(t) >= EVENT_TYPE_LEN) {
					snprintf(
					    msg, msglen, "types must be an array of event types");
					return -1;
				}
				if (!proto_event_type_known(json_object_get_string(t))) {
					snprintf(msg, msglen,
					    "unknown event type \"%.*s\" (the types: %s)",
					    EVENT_TYPE_LEN, json_object_get_string(t),
					    proto_event_types_list());
					return -1;
				}
			}
		}
		if (arg_bool(r, "follow", true, &b) == -1) {
			snprintf(msg, msglen, "follow must be a boolean");
			return -1;
		}
	}
	if (arg_bool(r, "wait", false, &b) == -1 || arg_bool(r, "force", false, &b) == -1 ||
	    arg_bool(r, "telegram", false, &b) == -1) {
		snprintf(msg, msglen, "wait, force and telegram must be booleans");
		return -1;
	}
	if (arg_string(r, "reason", &s) == -1 || (s != NULL && strlen(s) > 200)) {
		snprintf(msg, msglen, "reason must be a string of at most 200 bytes");
		return -1;
	}
	if (strcmp(name, "sync") == 0) {
		if (arg_string(r, "direction", &s) == -1 || s == NULL ||
		    (strcmp(s, "push") != 0 && strcmp(s, "pull") != 0)) {
			snprintf(msg, msglen, "direction must be \"push\" or \"pull\"");
			return -1;
		}
	}
	if (strcmp(name, "pause") == 0 && arg_duration(r, "duration", &ms) == -1) {
		snprintf(msg, msglen,
		    "duration must be a positive number of seconds or a duration like 250ms, 5s, "
		    "1.5m, 1h");
		return -1;
	}
	if (strcmp(name, "force-deactivate") == 0 && arg_duration(r, "pause", &ms) == -1) {
		snprintf(msg, msglen,
		    "pause must be a positive number of seconds or a duration like 10m, 1h");
		return -1;
	}
	(void)d;
	return 0;
}

void
commands_dispatch(struct daemon *d, struct request *r, const char *name, bool admin)
{
	char msg[256];

	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			r->cmd = &commands[i];
	if (r->cmd == NULL) {
		request_error(
		    r, PROTO_UNKNOWN_COMMAND, "unknown command \"%.64s\" (try \"help\")", name);
		return;
	}
	name = r->cmd->name; /* the request may go away before we are done */
	if (r->cmd->level == LEVEL_ADMIN && !admin) {
		char user[64] = "";

		log_warnx(
		    "control: %s denied to uid %ld (pid %ld)", name, (long)r->uid, (long)r->pid);
		control_event(d, r, name, false, "permission-denied");
		if (geteuid() != 0)
			snprintf(
			    user, sizeof(user), ", uid %ld (the daemon's user)", (long)geteuid());
		request_error(r, PROTO_PERMISSION_DENIED,
		    "%s needs admin access: this peer is uid %ld gid %ld; admin is root%s or a "
		    "member of ADMIN_GROUP %s",
		    name, (long)r->uid, (long)r->gid, user,
		    d->cfg->admin_group != NULL ? d->cfg->admin_group : "(not set)");
		return;
	}
	if (validate(d, r, msg, sizeof(msg)) == -1) {
		if (r->cmd->level == LEVEL_ADMIN)
			control_event(d, r, name, false, "invalid-argument");
		request_error(r, PROTO_INVALID_ARGUMENT, "%s", msg);
		return;
	}
	if (r->cmd->level == LEVEL_ADMIN) {
		log_info("control: %s by uid %ld (pid %ld)", name, (long)r->uid, (long)r->pid);
		control_event(d, r, name, true, NULL);
	}
	r->cmd->handler(d, r);
}

static void
cmd_ping(struct daemon *d, struct request *r)
{
	json_object *res = json_object_new_object();

	json_object_object_add(res, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(res, "pid", json_object_new_int64((int64_t)getpid()));
	json_object_object_add(res, "protocol", json_object_new_int(PROTO_VERSION));
	request_reply(r, res);
}

static void
cmd_help(struct daemon *d, struct request *r)
{
	json_object *res = json_object_new_object(), *arr = json_object_new_array();

	for (size_t i = 0; i < NCOMMANDS; i++) {
		json_object *c = json_object_new_object();
		json_object_object_add(c, "cmd", json_object_new_string(commands[i].name));
		json_object_object_add(c, "level",
		    json_object_new_string(commands[i].level == LEVEL_ADMIN ? "admin" : "read"));
		json_object_object_add(c, "usage", json_object_new_string(commands[i].usage));
		json_object_array_add(arr, c);
	}
	json_object_object_add(res, "commands", arr);
	request_reply(r, res);
}

static void
cmd_status(struct daemon *d, struct request *r)
{
	request_reply(r, status_build(d));
}

/* The Prometheus exposition that METRICS_LISTEN serves, set or not. */
static void
cmd_metrics(struct daemon *d, struct request *r)
{
	json_object *res = json_object_new_object();
	char *text = daemon_metrics_text(d);

	json_object_object_add(res, "text", json_object_new_string(text));
	free(text);
	request_reply(r, res);
}

static void
cmd_events(struct daemon *d, struct request *r)
{
	char types[64][EVENT_TYPE_LEN];
	struct evfilter f = {types, 0};
	json_object *v;
	int backlog = 0;
	bool follow;

	if (json_object_object_get_ex(r->req, "backlog", &v))
		backlog = (int)json_object_get_int64(v);
	if (json_object_object_get_ex(r->req, "types", &v) &&
	    json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v) && f.n < 64; i++)
			strlcpy(types[f.n++],
			    json_object_get_string(json_object_array_get_idx(v, i)),
			    EVENT_TYPE_LEN);
	arg_bool(r, "follow", true, &follow);
	request_subscribe(r, &f, backlog, follow);
}

static void
cmd_check(struct daemon *d, struct request *r)
{
	engine_cmd_check(d->engine, r);
}

static void
cmd_selftest(struct daemon *d, struct request *r)
{
	bool telegram;

	arg_bool(r, "telegram", false, &telegram);
	engine_cmd_selftest(d->engine, r, telegram);
}

static void
cmd_force_activate(struct daemon *d, struct request *r)
{
	const char *reason;
	bool wait;

	arg_string(r, "reason", &reason);
	arg_bool(r, "wait", false, &wait);
	engine_cmd_force_activate(d->engine, r, reason, wait);
}

static void
cmd_force_deactivate(struct daemon *d, struct request *r)
{
	const char *reason;
	bool wait, force;
	int64_t pause_ms;

	arg_string(r, "reason", &reason);
	arg_bool(r, "wait", false, &wait);
	arg_bool(r, "force", false, &force);
	arg_duration(r, "pause", &pause_ms);
	engine_cmd_force_deactivate(
	    d->engine, r, reason, force, wait, pause_ms > 0 ? pause_ms : FORCE_PAUSE_DEFAULT_MS);
}

static json_object *
pause_result(struct daemon *d)
{
	json_object *res = json_object_new_object();
	char buf[UTIL_TIME_LEN];

	json_object_object_add(res, "paused", json_object_new_boolean(d->paused));
	if (d->paused)
		json_object_object_add(res, "paused_until",
		    d->paused_until != 0
		        ? json_object_new_string(util_time_fmt(d->paused_until, buf, sizeof(buf)))
		        : NULL);
	return res;
}

static void
cmd_pause(struct daemon *d, struct request *r)
{
	int64_t ms;

	arg_duration(r, "duration", &ms);
	daemon_pause(d, ms > 0 ? util_now_ms() + ms : 0);
	request_reply(r, pause_result(d));
}

static void
cmd_resume(struct daemon *d, struct request *r)
{
	daemon_resume(d);
	request_reply(r, pause_result(d));
}

static void
cmd_sync(struct daemon *d, struct request *r)
{
	const char *dir;
	bool force;

	arg_string(r, "direction", &dir);
	arg_bool(r, "force", false, &force);
	engine_cmd_sync(d->engine, r, strcmp(dir, "push") == 0, force);
}

static void
cmd_reload(struct daemon *d, struct request *r)
{
	char *why = daemon_reload(d);
	json_object *res;

	if (why != NULL) {
		request_error(r, PROTO_FAILED, "configuration not reloaded: %s", why);
		free(why);
		return;
	}
	res = json_object_new_object();
	json_object_object_add(res, "reloaded", json_object_new_boolean(1));
	json_object_object_add(res, "restart_needed", daemon_restart_needed_json(d));
	request_reply(r, res);
}
