/*
 * libFuzzer target for the Telegram side of daemon/notify.c: the Bot API
 * reply parser and the retry decision on a reply (the input is the body as
 * Telegram, or anything in its place, sends it), and the text helpers
 * (cleaning, cutting, coalescing, the bounded queue) on the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "http.h"
#include "notify.h"

/* notify.c emits through events.c, which is the daemon's: a stand-in. */
const struct evrec *
events_emit(struct events *ev, const char *type, json_object *fields)
{
	(void)ev;
	(void)type;
	json_object_put(fields);
	return NULL;
}

static void
terminated(const char *s, size_t len)
{
	if (memchr(s, '\0', len) == NULL)
		abort();
}

/* Valid UTF-8 with no control characters but \n and \t (what goes out). */
static void
clean_text(const char *s, bool nl_ok)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;

		if (*p < 0x20 && !(nl_ok && (*p == '\n' || *p == '\t')))
			abort();
		if (*p == 0x7f || (*p >= 0x80 && *p < 0xc2) || *p > 0xf4)
			abort();
		for (int i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				abort();
		p += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = {
	    200, 201, 204, 301, 400, 401, 403, 404, 409, 413, 429, 500, 502, 503, 504, 0, 99, 600};
	struct tg_reply r;
	struct http_response resp;
	struct notify_verdict v;
	json_object *pending;
	char *exact, *body, *s;
	size_t len, max;
	int taken, sel;

	if (size < 1)
		return 0;
	sel = data[0];
	len = size - 1;

	/* Exactly len bytes, no NUL after them: an over-read is an ASan report. */
	exact = malloc(len > 0 ? len : 1);
	body = malloc(len + 1);
	if (exact == NULL || body == NULL) {
		free(exact);
		free(body);
		return 0;
	}
	memcpy(exact, data + 1, len);
	memcpy(body, data + 1, len);
	body[len] = '\0';

	if (notify_tg_parse(exact, len, &r) == 0) {
		terminated(r.description, sizeof(r.description));
		clean_text(r.description, false);
		if (r.retry_after_s < -1 || r.error_code < 0 || r.error_code > 999)
			abort();
	} else if (r.ok || r.error_code != 0 || r.description[0] != '\0' || r.retry_after_s != -1)
		abort();

	memset(&resp, 0, sizeof(resp));
	resp.err = (sel & 0x80) ? HTTP_ERR_CONNECT : HTTP_OK;
	resp.status =
	    resp.err == HTTP_OK ? statuses[sel % (sizeof(statuses) / sizeof(*statuses))] : 0;
	resp.error = resp.err == HTTP_OK ? NULL : "connection refused";
	resp.body = body;
	resp.body_len = strlen(body);
	resp.retry_after_ms = (sel & 0x40) ? (int64_t)sel * 1000 : -1;
	notify_tg_verdict(&resp, 1 + sel % 40, &v);
	terminated(v.error, sizeof(v.error));
	switch (v.cls) {
	case NOTIFY_DELIVERED:
		if (v.error[0] != '\0' || resp.status < 200 || resp.status > 299)
			abort();
		break;
	case NOTIFY_RETRY:
		if (v.error[0] == '\0' || v.delay_ms < 0 ||
		    v.delay_ms > (NOTIFY_RETRY_AFTER_CAP_MS > NOTIFY_BACKOFF_CAP_MS
		                         ? NOTIFY_RETRY_AFTER_CAP_MS
		                         : NOTIFY_BACKOFF_CAP_MS))
			abort();
		break;
	case NOTIFY_REJECTED:
		if (v.error[0] == '\0' || v.delay_ms < NOTIFY_SLOW_RETRY_MS ||
		    v.delay_ms > NOTIFY_SLOW_RETRY_CAP_MS || resp.status < 300 || resp.status > 499)
			abort();
		break;
	case NOTIFY_BAD_TEXT:
		if (resp.status != 400)
			abort();
		break;
	}
	clean_text(v.error, false);

	/* The same bytes as a text to send. */
	max = 2 + (size_t)sel * 17 % NOTIFY_TEXT_MAX;
	if ((s = notify_text_clean(body, max)) != NULL) {
		clean_text(s, true);
		if (notify_text_len(s) > max)
			abort();
		free(s);
	}

	/* And as a STATE_FILE's pending array. */
	pending = json_tokener_parse(body);
	if (pending != NULL && json_object_is_type(pending, json_type_array)) {
		size_t n = json_object_array_length(pending);
		int added;

		if ((s = notify_batch(pending, 1700000000000LL, max, &taken)) != NULL) {
			clean_text(s, true);
			if (notify_text_len(s) > max || taken < 1)
				abort();
			free(s);
		}
		if (taken < 0 || (size_t)taken > n)
			abort();
		added = notify_pending_add(&pending, 1700000000000LL, "new", sel % 8, 2 + sel % 6);
		if (added < 0 || json_object_array_length(pending) > n + 1)
			abort();
	}
	json_object_put(pending);
	free(exact);
	free(body);
	return 0;
}
