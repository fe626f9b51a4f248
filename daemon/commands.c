/*
 * The control protocol's commands (contract §5.2): one table row per
 * command with its access level, typed argument spec and handler; the
 * level is checked first, the arguments are parsed once, a `control` event
 * records every mutating command, and the handlers hand over to the engine.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "control.h"
#include "coord.h"
#include "engine.h"
#include "events.h"
#include "daemon.h"
#include "log.h"
#include "status.h"
#include "proto.h"
#include "util.h"

/*
 * The command table (contract §5.2). Each row carries its arguments as a
 * typed spec; args_parse() checks and parses a request's arguments once,
 * in the contract's error order, into struct cmd_args for the handler.
 */

/* The arguments of every command, parsed; absent ones have their default. */
struct cmd_args {
	bool wait, force, follow, telegram;
	const char *reason; /* NULL when absent; lives as long as the request */
	int64_t duration_ms, pause_ms; /* 0 when absent */
	int backlog;
	char types[64][EVENT_TYPE_LEN];
	int ntypes;
	bool push; /* sync's direction */
};

enum arg_type {
	ARG_BOOL,
	ARG_REASON, /* a string of at most 200 bytes */
	ARG_DURATION, /* seconds as a number, or a duration string; > 0 */
	ARG_BACKLOG, /* an integer from 0 to 1000000 */
	ARG_EVENT_TYPES, /* an array of known event types (or null) */
	ARG_DIRECTION, /* "push" or "pull" */
};

struct argspec {
	const char *name;
	enum arg_type type;
	bool required;
	size_t off; /* of the value in struct cmd_args */
	const char *errmsg; /* the invalid-argument message */
};

#define ARG(n, t, f, msg)                                                                          \
	{                                                                                          \
		n, t, false, offsetof(struct cmd_args, f), msg                                     \
	}
#define ARG_REQ(n, t, f, msg)                                                                      \
	{                                                                                          \
		n, t, true, offsetof(struct cmd_args, f), msg                                      \
	}
#define BOOL_MSG "wait, force and telegram must be booleans"
static const struct argspec no_args[] = {{NULL}};
static const struct argspec events_args[] = {
    ARG("backlog", ARG_BACKLOG, backlog, "backlog must be an integer >= 0"),
    ARG("types", ARG_EVENT_TYPES, types, "types must be an array of event types"),
    ARG("follow", ARG_BOOL, follow, "follow must be a boolean"), {NULL}};
static const struct argspec selftest_args[] = {
    ARG("telegram", ARG_BOOL, telegram, BOOL_MSG), {NULL}};
static const struct argspec activate_args[] = {
    ARG("reason", ARG_REASON, reason, "reason must be a string of at most 200 bytes"),
    ARG("wait", ARG_BOOL, wait, BOOL_MSG), {NULL}};
static const struct argspec deactivate_args[] = {
    ARG("reason", ARG_REASON, reason, "reason must be a string of at most 200 bytes"),
    ARG("force", ARG_BOOL, force, BOOL_MSG), ARG("wait", ARG_BOOL, wait, BOOL_MSG),
    ARG("pause", ARG_DURATION, pause_ms,
        "pause must be a positive number of seconds or a duration like 10m, 1h"),
    {NULL}};
static const struct argspec pause_args[] = {
    ARG("duration", ARG_DURATION, duration_ms,
        "duration must be a positive number of seconds or a duration like 250ms, 5s, 1.5m, "
        "1h"),
    {NULL}};
static const struct argspec sync_args[] = {
    ARG_REQ("direction", ARG_DIRECTION, push, "direction must be \"push\" or \"pull\""),
    ARG("force", ARG_BOOL, force, BOOL_MSG), {NULL}};
#undef ARG
#undef ARG_REQ
#undef BOOL_MSG

typedef void cmd_handler(struct daemon *, struct request *, const struct cmd_args *);
static cmd_handler cmd_ping, cmd_help, cmd_status, cmd_metrics, cmd_events, cmd_check, cmd_selftest,
    cmd_force_activate, cmd_force_deactivate, cmd_pause, cmd_resume, cmd_sync, cmd_reload;

struct command {
	const char *name;
	enum cmd_level level;
	const struct argspec *args;
	cmd_handler *handler;
	const char *usage;
};

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

/* A duration: seconds as a number, or a duration string; positive. */
static int
arg_duration(json_object *v, int64_t *ms)
{
	const char *err;

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
arg_event_types(json_object *v, struct cmd_args *a, char *msg, size_t msglen)
{
	if (!json_object_is_type(v, json_type_array))
		return -1;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *t = json_object_array_get_idx(v, i);

		if (!json_object_is_type(t, json_type_string) ||
		    json_object_get_string_len(t) == 0 ||
		    json_object_get_string_len(t) >= EVENT_TYPE_LEN)
			return -1;
		if (!proto_event_type_known(json_object_get_string(t))) {
			snprintf(msg, msglen, "unknown event type \"%.*s\" (the types: %s)",
			    EVENT_TYPE_LEN, json_object_get_string(t), proto_event_types_list());
			return -2;
		}
		if (a->ntypes < 64)
			strlcpy(a->types[a->ntypes++], json_object_get_string(t), EVENT_TYPE_LEN);
	}
	return 0;
}

/* One argument's value into a. 0, -1 (the spec's message), -2 (msg set). */
static int
arg_parse(const struct argspec *s, json_object *v, struct cmd_args *a, char *msg, size_t msglen)
{
	char *at = (char *)a + s->off;
	const char *str;

	switch (s->type) {
	case ARG_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return -1;
		*(bool *)(void *)at = json_object_get_boolean(v);
		return 0;
	case ARG_REASON:
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) > 200)
			return -1;
		*(const char **)(void *)at = json_object_get_string(v);
		return 0;
	case ARG_DURATION:
		if (json_object_is_type(v, json_type_null))
			return 0;
		return arg_duration(v, (int64_t *)(void *)at);
	case ARG_BACKLOG:
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > 1000000)
			return -1;
		*(int *)(void *)at = (int)json_object_get_int64(v);
		return 0;
	case ARG_EVENT_TYPES:
		if (json_object_is_type(v, json_type_null))
			return 0;
		return arg_event_types(v, a, msg, msglen);
	case ARG_DIRECTION:
		str = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		if (strcmp(str, "push") != 0 && strcmp(str, "pull") != 0)
			return -1;
		*(bool *)(void *)at = strcmp(str, "push") == 0;
		return 0;
	}
	return -1;
}

/* Every argument of the request, checked against the command's spec and
 * parsed into a: an unknown one first, then each value, then a missing
 * required one. 0, or -1 with msg. */
static int
args_parse(struct request *r, struct cmd_args *a, char *msg, size_t msglen)
{
	const struct argspec *spec = r->cmd->args, *s;

	memset(a, 0, sizeof(*a));
	a->follow = true;
	json_object_object_foreach(r->req, k, v)
	{
		if (strcmp(k, "cmd") == 0 || strcmp(k, "id") == 0)
			continue;
		for (s = spec; s->name != NULL && strcmp(s->name, k) != 0; s++)
			;
		if (s->name == NULL) {
			snprintf(msg, msglen, "unknown argument \"%.64s\" for %s (usage: %s)", k,
			    r->cmd->name, r->cmd->usage);
			return -1;
		}
		(void)v;
	}
	for (s = spec; s->name != NULL; s++) {
		json_object *val;
		int rc;

		if (!json_object_object_get_ex(r->req, s->name, &val)) {
			if (s->required) {
				snprintf(msg, msglen, "%s", s->errmsg);
				return -1;
			}
			continue;
		}
		if ((rc = arg_parse(s, val, a, msg, msglen)) == -1)
			snprintf(msg, msglen, "%s", s->errmsg);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* --- COORDINATOR=etcd: pair-wide commands (contract §9 rule 6) ------------------------ */

static bool
pair_wide(const char *name)
{
	static const char *const names[] = {
	    "pause", "resume", "force-activate", "force-deactivate", "sync", NULL};

	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* The leader's reply to a forwarded command, as this monitor's. */
static void
forward_done(json_object *reply, const char *acted_by, const char *why, void *arg)
{
	struct request *r = arg;
	json_object *v, *res, *err = NULL;
	const char *code, *msg;
	enum proto_err e;

	if (reply == NULL) {
		request_error(r, PROTO_UNAVAILABLE, "%s", why != NULL ? why : "the leader is gone");
		return;
	}
	if (json_object_object_get_ex(reply, "ok", &v) && json_object_get_boolean(v) &&
	    json_object_object_get_ex(reply, "result", &res) &&
	    json_object_is_type(res, json_type_object)) {
		strlcpy(r->acted_by, acted_by != NULL ? acted_by : "", sizeof(r->acted_by));
		request_reply(r, json_object_get(res));
		return;
	}
	code = json_object_object_get_ex(reply, "error", &err) &&
	        json_object_object_get_ex(err, "code", &v)
	    ? json_object_get_string(v)
	    : "failed";
	msg = err != NULL && json_object_object_get_ex(err, "message", &v)
	    ? json_object_get_string(v)
	    : "failed";
	for (e = PROTO_PARSE_ERROR; e < PROTO_LINE_TOO_LONG; e++)
		if (strcmp(proto_err_str(e), code) == 0)
			break;
	request_error(r, e < PROTO_LINE_TOO_LONG ? e : PROTO_FAILED, "%s (%s)", msg,
	    acted_by != NULL ? acted_by : "the leader");
}

void
commands_dispatch(struct daemon *d, struct request *r, const char *name, bool admin)
{
	struct cmd_args args;
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
	if (args_parse(r, &args, msg, sizeof(msg)) == -1) {
		if (r->cmd->level == LEVEL_ADMIN)
			control_event(d, r, name, false, "invalid-argument");
		request_error(r, PROTO_INVALID_ARGUMENT, "%s", msg);
		return;
	}
	if (r->cmd->level == LEVEL_ADMIN) {
		log_info("control: %s by uid %ld (pid %ld)%s", name, (long)r->uid, (long)r->pid,
		    r->forwarded ? ", forwarded by a follower" : "");
		control_event(d, r, name, true, NULL);
	}
	if (d->coord != NULL && pair_wide(name)) {
		/* Rule 6: the leader carries it out, for the pair. */
		if (coord_role(d->coord) == COORD_LEADER)
			strlcpy(r->acted_by, coord_node(d->coord), sizeof(r->acted_by));
		else if (r->forwarded) {
			request_error(r, PROTO_UNAVAILABLE, "%s no longer leads the pair",
			    coord_node(d->coord));
			return;
		} else {
			if (coord_forward(d->coord, r->req, forward_done, r) == NULL)
				request_error(r, PROTO_UNAVAILABLE,
				    "no leader: the pair's commands wait until a monitor leads "
				    "(see `failoverctl status`)");
			return;
		}
	}
	r->cmd->handler(d, r, &args);
}

static void
cmd_ping(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	json_object *res = json_object_new_object();

	json_object_object_add(res, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(res, "pid", json_object_new_int64((int64_t)getpid()));
	json_object_object_add(res, "protocol", json_object_new_int(PROTO_VERSION));
	request_reply(r, res);
}

static void
cmd_help(struct daemon *d, struct request *r, const struct cmd_args *a)
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
cmd_status(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	request_reply(r, status_build(d));
}

/* The Prometheus exposition that METRICS_LISTEN serves, set or not. */
static void
cmd_metrics(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	json_object *res = json_object_new_object();
	char *text = status_metrics_text(d);

	json_object_object_add(res, "text", json_object_new_string(text));
	free(text);
	request_reply(r, res);
}

static void
cmd_events(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	struct evfilter f = {(char(*)[EVENT_TYPE_LEN])a->types, a->ntypes};

	request_subscribe(r, &f, a->backlog, a->follow);
}

static void
cmd_check(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	engine_cmd_check(d->engine, r);
}

static void
cmd_selftest(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	engine_cmd_selftest(d->engine, r, a->telegram);
}

static void
cmd_force_activate(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	engine_cmd_force_activate(d->engine, r, a->reason, a->wait);
}

static void
cmd_force_deactivate(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	engine_cmd_force_deactivate(d->engine, r, a->reason, a->force, a->wait,
	    a->pause_ms > 0 ? a->pause_ms : FORCE_PAUSE_DEFAULT_MS);
}

static json_object *
pause_result(struct daemon *d)
{
	json_object *res = json_object_new_object();
	char buf[UTIL_TIME_LEN];
	int64_t until;
	bool paused = engine_paused(d->engine, &until);

	json_object_object_add(res, "paused", json_object_new_boolean(paused));
	if (paused)
		json_object_object_add(res, "paused_until",
		    until != 0 ? json_object_new_string(util_time_fmt(until, buf, sizeof(buf)))
		               : NULL);
	return res;
}

static void
cmd_pause(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	engine_pause(d->engine, a->duration_ms > 0 ? util_now_ms() + a->duration_ms : 0);
	request_reply(r, pause_result(d));
}

static void
cmd_resume(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	engine_resume(d->engine);
	request_reply(r, pause_result(d));
}

static void
cmd_sync(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	engine_cmd_sync(d->engine, r, a->push, a->force);
}

static void
cmd_reload(struct daemon *d, struct request *r, const struct cmd_args *a)
{
	char *why = d->reload(d);
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
