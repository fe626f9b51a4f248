/*
 * libFuzzer target for command dispatch (daemon/commands.c): each input is a
 * request line as control.c hands it over, parsed by proto_parse_request and
 * dispatched with read or admin access (the first byte's low bit). The rest
 * of the daemon is stubbed here; what is checked: every request gets exactly
 * one reply (or one subscription), an error reply carries a code that is
 * allowed at that point of the contract's order, read-level access never
 * reaches an admin handler, and nothing leaks (LeakSanitizer).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "commands.h"
#include "control.h"
#include "coord.h"
#include "engine.h"
#include "events.h"
#include "daemon.h"
#include "proto.h"
#include "status.h"

/* COORDINATOR=etcd: the first byte's second bit makes this monitor a
 * follower (pair-wide commands are forwarded: no leader here, so they get
 * `unavailable`) or the leader (they run here, with acted_by). */
static struct coord *fz_coord = (struct coord *)&fz_coord;
static bool fz_leader;

enum coord_role
coord_role(const struct coord *c)
{
	if (c != fz_coord)
		abort();
	return fz_leader ? COORD_LEADER : COORD_FOLLOWER;
}

const char *
coord_node(const struct coord *c)
{
	if (c != fz_coord)
		abort();
	return "fz1";
}

struct coord_op *
coord_forward(struct coord *c, json_object *req, coord_cmd_cb *cb, void *arg)
{
	(void)req, (void)cb, (void)arg;
	if (c != fz_coord || fz_leader)
		abort(); /* a leader never forwards */
	return NULL; /* no leader: the caller replies `unavailable` */
}

static int replies;
static int admin_handlers;
static enum proto_err last_err;

static void
finish(struct request *r)
{
	replies++;
	json_object_put(r->req);
	json_object_put(r->id);
	r->req = r->id = NULL;
}

void
request_reply(struct request *r, json_object *result)
{
	json_object_put(result);
	last_err = PROTO_OK;
	finish(r);
}

void
request_error(struct request *r, enum proto_err code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (msg[0] == '\0')
		abort(); /* an error always says why */
	last_err = code;
	finish(r);
}

void
request_subscribe(struct request *r, const struct evfilter *f, int backlog, bool follow)
{
	if (backlog < 0 || (f != NULL && f->n < 0))
		abort();
	last_err = PROTO_OK;
	finish(r);
}

bool
request_peer_alive(const struct request *r)
{
	return true;
}

const struct evrec *
events_emit(struct events *ev, const char *type, json_object *fields)
{
	json_object_put(fields);
	return NULL;
}

json_object *
status_build(struct daemon *d)
{
	return json_object_new_object();
}

static bool fz_paused;
static int64_t fz_paused_until;

void
engine_pause(struct engine *e, int64_t until)
{
	(void)e;
	fz_paused = true;
	fz_paused_until = until;
}

void
engine_resume(struct engine *e)
{
	(void)e;
	fz_paused = false;
	fz_paused_until = 0;
}

bool
engine_paused(struct engine *e, int64_t *until)
{
	(void)e;
	if (until != NULL)
		*until = fz_paused_until;
	return fz_paused;
}

char *
status_metrics_text(struct daemon *d)
{
	return strdup("failoverd_up 1\n");
}

json_object *
daemon_restart_needed_json(const struct daemon *d)
{
	return json_object_new_array();
}

static char *
fz_reload(struct daemon *d)
{
	admin_handlers++;
	return NULL;
}

static void
admin_reply(struct request *r)
{
	admin_handlers++;
	request_reply(r, json_object_new_object());
}

void
engine_cmd_check(struct engine *e, struct request *r)
{
	admin_reply(r);
}

void
engine_cmd_force_activate(struct engine *e, struct request *r, const char *reason, bool wait)
{
	if (reason != NULL && strlen(reason) > PROTO_MAX_LINE)
		abort();
	admin_reply(r);
}

void
engine_cmd_force_deactivate(struct engine *e, struct request *r, const char *reason, bool force,
    bool wait, int64_t pause_ms)
{
	admin_reply(r);
}

void
engine_cmd_selftest(struct engine *e, struct request *r, bool telegram)
{
	admin_reply(r);
}

void
engine_cmd_sync(struct engine *e, struct request *r, bool push, bool force)
{
	admin_reply(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static struct daemon d;
	struct request r;
	json_object *req = NULL, *id = NULL;
	const char *cmd = NULL;
	char msg[256];
	bool admin;
	enum proto_err e;

	if (size == 0)
		return 0;
	admin = data[0] & 1;
	d.coord = data[0] & 2 ? fz_coord : NULL;
	fz_leader = data[0] & 4;
	data++;
	size--;
	d.cfg = &cfg;
	d.reload = fz_reload;
	fz_paused = false;
	e = proto_parse_request((const char *)data, size, &req, &cmd, &id, msg, sizeof(msg));
	if (e != PROTO_OK) {
		if (req != NULL || msg[0] == '\0')
			abort();
		json_object_put(id);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.req = req;
	r.id = id;
	r.uid = 1000;
	replies = admin_handlers = 0;
	last_err = PROTO_OK;
	commands_dispatch(&d, &r, cmd, admin);
	if (replies != 1)
		abort(); /* exactly one reply per request */
	if (!admin && admin_handlers != 0)
		abort(); /* read access never reaches an admin handler */
	switch (last_err) {
	case PROTO_OK:
	case PROTO_UNKNOWN_COMMAND:
	case PROTO_PERMISSION_DENIED:
	case PROTO_INVALID_ARGUMENT: break;
	case PROTO_UNAVAILABLE:
		if (d.coord != NULL && !fz_leader)
			break; /* a pair-wide command with no leader */
		abort();
	default: abort(); /* nothing else can come from dispatch with these stubs */
	}
	if (last_err == PROTO_PERMISSION_DENIED && admin)
		abort();
	return 0;
}
