/* The control protocol: one JSON object per line, shared by daemon and client. */
#ifndef FOD_PROTO_H
#define FOD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define PROTO_VERSION 1
#define PROTO_MAX_LINE 65536 /* bytes, without the newline */

/* Error codes, in the order the daemon checks them. */
enum proto_err {
	PROTO_OK = 0,
	PROTO_PARSE_ERROR,
	PROTO_INVALID_REQUEST,
	PROTO_UNKNOWN_COMMAND,
	PROTO_PERMISSION_DENIED,
	PROTO_INVALID_ARGUMENT,
	PROTO_CONFLICT,
	PROTO_FAILED,
	PROTO_UNAVAILABLE,
	PROTO_INTERNAL,
	PROTO_LINE_TOO_LONG,
};

const char *proto_err_str(enum proto_err);

/*
 * The event types (contract §6), NULL-terminated: what `events` accepts in
 * `types` and failoverctl in `events -T`. A new event type goes here too.
 */
extern const char *const proto_event_types[];
bool proto_event_type_known(const char *type);
/* "state, check, ..." for messages. */
const char *proto_event_types_list(void);

/* Strict UTF-8: no overlong forms, surrogates or code points over U+10FFFF. */
bool proto_utf8_valid(const char *s, size_t len);

/* Framing over a byte buffer. */
enum proto_frame {
	PROTO_FRAME_MORE, /* no full line yet */
	PROTO_FRAME_LINE, /* a line of *linelen bytes; consume *consumed */
	PROTO_FRAME_TOO_LONG, /* over PROTO_MAX_LINE without a newline */
};
enum proto_frame proto_frame_next(const char *buf, size_t len, size_t *linelen, size_t *consumed);

/*
 * Parses one request line. On PROTO_OK, *reqp holds the object (caller puts
 * it) and *cmdp points into it. Otherwise *idp may still hold the request's
 * id (a new reference, or NULL) so the error can echo it, and msg says why.
 */
enum proto_err proto_parse_request(const char *line, size_t len, json_object **reqp,
    const char **cmdp, json_object **idp, char *msg, size_t msglen);

/* Reply lines, newline-terminated, malloc'd. result/id are not consumed. */
char *proto_reply_ok(json_object *id, json_object *result);
char *proto_reply_err(json_object *id, enum proto_err code, const char *msg);

/*
 * Parses a line that must be a JSON object (a reply or an event line);
 * NULL when it is not. Rejects lines with NULs or trailing garbage.
 */
json_object *proto_parse_object(const char *line, size_t len);

/* A wall-clock time (ms) as an RFC 3339 string, or null for 0. */
json_object *json_time_or_null(int64_t wall_ms);

#endif
