/*
 * The control socket: accepts peers, frames JSON lines, checks access and
 * runs one request at a time per connection through the command table.
 */
#ifndef FOD_CONTROL_H
#define FOD_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "proto.h"

struct daemon;
struct control;
struct conn;
struct evrec;
struct evfilter;
struct command;

/* One request in flight. Handlers reply exactly once, now or later. */
/* An internal request's reply ({"ok":true,"result":..} or {"ok":false,
 * "error":{"code","message"}}), borrowed for the call. */
typedef void request_sink_cb(json_object *reply, void *arg);

struct request {
	struct conn *conn; /* NULL once the peer went away */
	/* COORDINATOR=etcd: a command forwarded by a follower runs here as an
	 * internal request (no connection; the reply goes to sink), and a
	 * pair-wide command's result names the monitor that acted. */
	request_sink_cb *sink;
	void *sink_arg;
	bool forwarded;
	char acted_by[64];
	struct control *ctl;
	json_object *req; /* the whole request object */
	json_object *id; /* or NULL */
	const struct command *cmd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

/*
 * Binds SOCKET (refusing to steal a live daemon's socket, replacing a stale
 * one). Returns NULL with err set on failure. The socket is not yet served.
 */
struct control *control_new(struct daemon *, char *err, size_t errlen);
/*
 * Creates SOCKET's missing parent directories, 0750; with SOCKET_GROUP they
 * get that group, so its members can reach the socket (an existing directory
 * is left alone). Before PID_FILE's, which may share the directory.
 */
struct config;
int control_mkdir(const struct config *, char *err, size_t errlen);
/* Starts serving on d->base. */
void control_start(struct control *);
/* Closes every connection, the socket, and removes the socket file. */
/* Writes what is queued for every connection, as far as each socket takes
 * it without blocking (the last events before a stop). */
void control_flush(struct control *);
void control_free(struct control *);
/* ADMIN_GROUP and SOCKET_GROUP after a reload. */
void control_reconfigure(struct control *);

/* Fan-out of one event to every subscriber whose filter matches. */
void control_broadcast(struct control *, struct evrec *);
int control_connections(const struct control *);

/* Replies; each frees the request. result is consumed (NULL = {}). */
void request_reply(struct request *, json_object *result);
/* A request that comes from no connection: its reply goes to sink. */
struct request *request_internal(json_object *req, uid_t uid, request_sink_cb *, void *);
void request_error(struct request *, enum proto_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool request_peer_alive(const struct request *);
/*
 * Turns the connection into an event stream: replies {"subscribed":true,
 * "last_seq":N}, sends the backlog, then (with follow) every new matching
 * event; without follow the connection is closed after the backlog.
 * filter is copied.
 */
void request_subscribe(struct request *, const struct evfilter *, int backlog, bool follow);

#endif
