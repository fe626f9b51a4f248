/*
 * The control protocol both programs speak (see proto.h): line framing,
 * the strict JSON and UTF-8 check before json-c parses a line, request
 * parsing, replies and their error codes, and the list of event types.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "util.h"

static const char *const errstr[] = {
    [PROTO_OK] = "ok",
    [PROTO_PARSE_ERROR] = "parse-error",
    [PROTO_INVALID_REQUEST] = "invalid-request",
    [PROTO_UNKNOWN_COMMAND] = "unknown-command",
    [PROTO_PERMISSION_DENIED] = "permission-denied",
    [PROTO_INVALID_ARGUMENT] = "invalid-argument",
    [PROTO_CONFLICT] = "conflict",
    [PROTO_FAILED] = "failed",
    [PROTO_UNAVAILABLE] = "unavailable",
    [PROTO_INTERNAL] = "internal",
    [PROTO_LINE_TOO_LONG] = "line-too-long",
};

const char *
proto_err_str(enum proto_err e)
{
	if ((size_t)e >= sizeof(errstr) / sizeof(errstr[0]))
		return "internal";
	return errstr[e];
}

const char *const proto_event_types[] = {"state", "check", "standby", "sync", "hook", "notify",
    "control", "pause", "drift", "error", "daemon", "watch", "leader", "isolated", "quorum", NULL};

bool
proto_event_type_known(const char *type)
{
	for (size_t i = 0; proto_event_types[i] != NULL; i++)
		if (strcmp(type, proto_event_types[i]) == 0)
			return true;
	return false;
}

const char *
proto_event_types_list(void)
{
	static char buf[256];

	if (buf[0] == '\0')
		for (size_t i = 0; proto_event_types[i] != NULL; i++) {
			if (i > 0)
				strlcat(buf, ", ", sizeof(buf));
			strlcat(buf, proto_event_types[i], sizeof(buf));
		}
	return buf;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points
 * above U+10FFFF, which json-c's own check lets through. */
bool
proto_utf8_valid(const char *str, size_t len)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t i = 0;
	uint32_t cp;
	int n;

	while (i < len) {
		if ((n = util_utf8_decode(p + i, len - i, &cp)) == 0)
			return false;
		i += (size_t)n;
	}
	return true;
}

/* JSON nesting allowed in a line; the tokener gets the same limit. */
#define PROTO_MAX_DEPTH 64

/*
 * RFC 8259 syntax, checked before json-c sees the line: json-c lets some
 * non-JSON through even when strict (`1.`, raw control characters inside
 * strings) and echoes a number as it was written, so an `id` of `1.` would
 * come back as invalid JSON. No values are built; the depth is bounded.
 */
struct jscan {
	const unsigned char *p, *end, *start;
	int depth;
	const char *why;
};

static bool
jscan_fail(struct jscan *s, const char *why)
{
	if (s->why == NULL)
		s->why = why;
	return false;
}

static void
jscan_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool
jscan_digits(struct jscan *s)
{
	const unsigned char *b = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > b;
}

static bool
jscan_number(struct jscan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (s->p >= s->end || *s->p < '1' || *s->p > '9' || !jscan_digits(s))
		return jscan_fail(s, "bad number");
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!jscan_digits(s))
			return jscan_fail(s, "bad number");
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!jscan_digits(s))
			return jscan_fail(s, "bad number");
	}
	return true;
}

static bool
jscan_string(struct jscan *s)
{
	s->p++; /* the opening quote */
	while (s->p < s->end) {
		unsigned char c = *s->p++;
		if (c == '"')
			return true;
		if (c < 0x20)
			return jscan_fail(s, "control character in a string");
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			break;
		c = *s->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, s->p++)
				if (s->p >= s->end ||
				    strchr("0123456789abcdefABCDEF", *s->p) == NULL ||
				    *s->p == '\0')
					return jscan_fail(s, "bad \\u escape");
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
			return jscan_fail(s, "bad escape");
	}
	return jscan_fail(s, "unterminated string");
}

static bool
jscan_literal(struct jscan *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return jscan_fail(s, "unexpected character");
	s->p += n;
	return true;
}

static bool jscan_value(struct jscan *);

/* An object or an array, from its opening bracket. */
static bool
jscan_container(struct jscan *s)
{
	bool object = *s->p == '{';
	unsigned char close = object ? '}' : ']';

	if (++s->depth > PROTO_MAX_DEPTH)
		return jscan_fail(s, "nesting too deep");
	s->p++;
	jscan_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			jscan_ws(s);
			if (s->p >= s->end || *s->p != '"')
				return jscan_fail(s, "expected a member name");
			if (!jscan_string(s))
				return false;
			jscan_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return jscan_fail(s, "expected ':'");
			s->p++;
		}
		if (!jscan_value(s))
			return false;
		jscan_ws(s);
		if (s->p >= s->end)
			return jscan_fail(s, "unexpected end");
		if (*s->p == close) {
			s->p++;
			s->depth--;
			return true;
		}
		if (*s->p != ',')
			return jscan_fail(
			    s, object ? "expected ',' or '}'" : "expected ',' or ']'");
		s->p++;
	}
}

static bool
jscan_value(struct jscan *s)
{
	jscan_ws(s);
	if (s->p >= s->end)
		return jscan_fail(s, "unexpected end");
	switch (*s->p) {
	case '{':
	case '[': return jscan_container(s);
	case '"': return jscan_string(s);
	case 't': return jscan_literal(s, "true");
	case 'f': return jscan_literal(s, "false");
	case 'n': return jscan_literal(s, "null");
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return jscan_number(s);
		return jscan_fail(s, "unexpected character");
	}
}

/* NULL when line is one JSON text (RFC 8259), else what is wrong. */
static const char *
json_syntax_error(const char *line, size_t len, size_t *at)
{
	struct jscan s = {(const unsigned char *)line, (const unsigned char *)line + len,
	    (const unsigned char *)line, 0, NULL};

	if (jscan_value(&s)) {
		jscan_ws(&s);
		if (s.p == s.end)
			return NULL;
		jscan_fail(&s, "trailing data");
	}
	*at = (size_t)(s.p - s.start);
	return s.why != NULL ? s.why : "invalid";
}

enum proto_frame
proto_frame_next(const char *buf, size_t len, size_t *linelen, size_t *consumed)
{
	size_t scan = len < PROTO_MAX_LINE + 1 ? len : PROTO_MAX_LINE + 1;
	const char *nl = memchr(buf, '\n', scan);

	if (nl == NULL)
		return len > PROTO_MAX_LINE ? PROTO_FRAME_TOO_LONG : PROTO_FRAME_MORE;
	*linelen = (size_t)(nl - buf);
	*consumed = *linelen + 1;
	/* Tolerate CRLF from hand-typed sessions. */
	if (*linelen > 0 && buf[*linelen - 1] == '\r')
		(*linelen)--;
	return PROTO_FRAME_LINE;
}

json_object *
proto_parse_object(const char *line, size_t len)
{
	json_tokener *tok;
	json_object *obj;

	size_t at;

	if (len > PROTO_MAX_LINE || memchr(line, '\0', len) != NULL ||
	    !proto_utf8_valid(line, len) || json_syntax_error(line, len, &at) != NULL)
		return NULL;
	if ((tok = json_tokener_new_ex(PROTO_MAX_DEPTH)) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	if (obj != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    tok->char_offset < (int)len) {
		/* Trailing bytes: only white space is allowed. */
		for (size_t i = (size_t)tok->char_offset; i < len; i++)
			if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
				json_object_put(obj);
				obj = NULL;
				break;
			}
	} else if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		/* json-c wants more input for e.g. a bare number: finish it. */
		if (obj == NULL && json_tokener_get_error(tok) == json_tokener_continue)
			obj = json_tokener_parse_ex(tok, "", 1);
		if (json_tokener_get_error(tok) != json_tokener_success) {
			json_object_put(obj);
			obj = NULL;
		}
	}
	json_tokener_free(tok);
	if (obj != NULL && !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
	}
	return obj;
}

enum proto_err
proto_parse_request(const char *line, size_t len, json_object **reqp, const char **cmdp,
    json_object **idp, char *msg, size_t msglen)
{
	json_tokener *tok;
	json_object *obj = NULL, *cmd, *id;
	enum json_tokener_error jerr;
	bool finished = false;
	const char *why;
	size_t at = 0;

	*reqp = NULL;
	*cmdp = NULL;
	*idp = NULL;
	if (memchr(line, '\0', len) != NULL) {
		snprintf(msg, msglen, "NUL byte in request");
		return PROTO_PARSE_ERROR;
	}
	if (!proto_utf8_valid(line, len)) {
		snprintf(msg, msglen, "request is not valid UTF-8");
		return PROTO_PARSE_ERROR;
	}
	if ((why = json_syntax_error(line, len, &at)) != NULL) {
		snprintf(msg, msglen, "not valid JSON: %s at byte %zu", why, at);
		return PROTO_PARSE_ERROR;
	}
	if ((tok = json_tokener_new_ex(PROTO_MAX_DEPTH)) == NULL) {
		snprintf(msg, msglen, "out of memory");
		return PROTO_INTERNAL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	if (obj == NULL && jerr == json_tokener_continue) {
		/* A bare number needs a terminator; char_offset then counts in "". */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		finished = true;
	}
	if (!finished && jerr == json_tokener_success && tok->char_offset < (int)len) {
		for (size_t i = (size_t)tok->char_offset; i < len; i++)
			if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
				jerr = json_tokener_error_parse_unexpected;
				break;
			}
	}
	json_tokener_free(tok);
	/* JSON null is NULL with success: not an object, not a parse error. */
	if (jerr != json_tokener_success) {
		json_object_put(obj);
		snprintf(msg, msglen, "not valid JSON: %s",
		    jerr == json_tokener_success ? "trailing data" : json_tokener_error_desc(jerr));
		return PROTO_PARSE_ERROR;
	}
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		snprintf(msg, msglen, "a request must be a JSON object");
		return PROTO_INVALID_REQUEST;
	}
	if (json_object_object_get_ex(obj, "id", &id))
		*idp = json_object_get(id);
	if (!json_object_object_get_ex(obj, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		json_object_put(obj);
		snprintf(msg, msglen, "a request needs a string \"cmd\"");
		return PROTO_INVALID_REQUEST;
	}
	*reqp = obj;
	*cmdp = json_object_get_string(cmd);
	return PROTO_OK;
}

static char *
reply_finish(json_object *reply)
{
	const char *s = json_object_to_json_string_ext(
	    reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *line = xasprintf("%s\n", s);

	json_object_put(reply);
	return line;
}

char *
proto_reply_ok(json_object *id, json_object *result)
{
	json_object *reply = json_object_new_object();

	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	if (id != NULL)
		json_object_object_add(reply, "id", json_object_get(id));
	json_object_object_add(
	    reply, "result", result != NULL ? json_object_get(result) : json_object_new_object());
	return reply_finish(reply);
}

char *
proto_reply_err(json_object *id, enum proto_err code, const char *msg)
{
	json_object *reply = json_object_new_object(), *err = json_object_new_object();

	json_object_object_add(reply, "ok", json_object_new_boolean(0));
	if (id != NULL)
		json_object_object_add(reply, "id", json_object_get(id));
	json_object_object_add(err, "code", json_object_new_string(proto_err_str(code)));
	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(reply, "error", err);
	return reply_finish(reply);
}

json_object *
json_time_or_null(int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	return ms != 0 ? json_object_new_string(util_time_fmt(ms, buf, sizeof(buf))) : NULL;
}
