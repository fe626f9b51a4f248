/*
 * libFuzzer target for the control protocol (common/proto.c): the input is
 * a byte stream from a client, framed into lines exactly as control.c does,
 * each line parsed as a request and as a reply/event object.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* RFC 3629's table of well-formed byte sequences, to check
 * proto_utf8_valid against an independent reading. */
static bool
utf8_reference(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t n;

		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return false;
		if (len - i <= n || p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return false;
		i += n + 1;
	}
	return true;
}

/* What a conforming reply must be: the strict parser takes it back. */
static void
reply_check(char *line)
{
	size_t len = strlen(line);

	if (len == 0 || line[len - 1] != '\n')
		abort();
	if (len - 1 <= PROTO_MAX_LINE) {
		json_object *o = proto_parse_object(line, len - 1);
		if (o == NULL)
			abort();
		json_object_put(o);
	}
	free(line);
}

static void
line_check(const char *line, size_t len)
{
	json_object *req, *id, *o;
	const char *cmd;
	char msg[256];
	enum proto_err e;

	e = proto_parse_request(line, len, &req, &cmd, &id, msg, sizeof(msg));
	if (e == PROTO_OK) {
		if (req == NULL || cmd == NULL || !json_object_is_type(req, json_type_object))
			abort();
		reply_check(proto_reply_ok(id, req));
		json_object_put(req);
	} else {
		if (req != NULL || cmd != NULL || memchr(msg, '\0', sizeof(msg)) == NULL)
			abort();
		reply_check(proto_reply_err(id, e, msg));
	}
	json_object_put(id);

	/* The two parsers agree on what is JSON. */
	if ((o = proto_parse_object(line, len)) != NULL) {
		if (!json_object_is_type(o, json_type_object) || e == PROTO_PARSE_ERROR)
			abort();
		json_object_put(o);
	} else if (e == PROTO_OK && len <= PROTO_MAX_LINE)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0, linelen, consumed;

	if (proto_utf8_valid(buf, size) != utf8_reference(data, size))
		abort();
	(void)proto_err_str((enum proto_err)(size % 16));
	while (off < size) {
		enum proto_frame f = proto_frame_next(buf + off, size - off, &linelen, &consumed);

		if (f != PROTO_FRAME_LINE) {
			/* The tail the daemon would wait on (or refuse): parse it
			 * anyway, as the client does with a last unterminated line. */
			if (f == PROTO_FRAME_MORE && size - off > PROTO_MAX_LINE)
				abort();
			line_check(buf + off, size - off);
			break;
		}
		if (consumed == 0 || consumed > size - off || linelen >= consumed ||
		    linelen > PROTO_MAX_LINE)
			abort();
		line_check(buf + off, linelen);
		off += consumed;
	}
	return 0;
}
