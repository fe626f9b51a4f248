/*
 * The Telegram Bot API's replies, judged without I/O (notify.h):
 * notify_tg_parse reads a reply's JSON, notify_tg_verdict turns a response
 * into delivered / retry after / rejected, with the error text to show.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "http.h"
#include "notify.h"
#include "util.h"

/* --- Bot API replies ------------------------------------------------------ */

/* Copies src into dst (NUL-terminated, dstlen > 0), whole valid UTF-8
 * characters only, control characters as spaces, bad bytes as '?'. */
static void
text_copy(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	/* Bad bytes and NUL as '?', other control characters as spaces. */
	util_clean(dst, dstlen, src, srclen, UTIL_CLEAN_UTF8 | UTIL_CLEAN_SPACE);
}

int
notify_tg_parse(const char *body, size_t len, struct tg_reply *out)
{
	json_tokener *tok;
	json_object *o, *x, *p;
	int64_t v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->retry_after_s = -1;
	if (body == NULL || len == 0 || len > NOTIFY_MAX_REPLY)
		return -1;
	if ((tok = json_tokener_new_ex(16)) == NULL)
		return -1;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success || o == NULL) {
		json_object_put(o);
		json_tokener_free(tok);
		return -1;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "ok", &x) ||
	    !json_object_is_type(x, json_type_boolean))
		goto out;
	out->ok = json_object_get_boolean(x);
	if (json_object_object_get_ex(o, "error_code", &x) &&
	    json_object_is_type(x, json_type_int)) {
		v = json_object_get_int64(x);
		out->error_code = v < 0 || v > 999 ? 0 : (int)v;
	}
	if (json_object_object_get_ex(o, "description", &x) &&
	    json_object_is_type(x, json_type_string))
		text_copy(out->description, sizeof(out->description), json_object_get_string(x),
		    (size_t)json_object_get_string_len(x));
	if (json_object_object_get_ex(o, "parameters", &p) &&
	    json_object_is_type(p, json_type_object)) {
		if (json_object_object_get_ex(p, "retry_after", &x) &&
		    json_object_is_type(x, json_type_int)) {
			v = json_object_get_int64(x);
			if (v >= 0)
				out->retry_after_s = v > 86400 * 365 ? 86400 * 365 : v;
		}
		if (json_object_object_get_ex(p, "migrate_to_chat_id", &x) &&
		    json_object_is_type(x, json_type_int))
			out->migrate_to_chat_id = json_object_get_int64(x);
	}
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/* "Too Many Requests: retry after 34" (older replies had no parameters). */
static int64_t
retry_after_in(const char *desc)
{
	const char *p;
	long long v = 0;

	for (p = desc; (p = strstr(p, "retry after ")) != NULL; p++) {
		p += strlen("retry after ");
		if (!isdigit((unsigned char)*p))
			continue;
		for (; isdigit((unsigned char)*p) && v < 86400 * 365; p++)
			v = v * 10 + (*p - '0');
		return v;
	}
	return -1;
}

static int64_t
cap_ms(int64_t v, int64_t cap)
{
	return v < 0 ? 0 : v > cap ? cap : v;
}

void
notify_tg_verdict(const struct http_response *resp, int attempt, struct notify_verdict *v)
{
	struct tg_reply r;
	bool parsed;
	int status = resp->status;
	int64_t ra;
	const char *d;

	memset(v, 0, sizeof(*v));
	if (attempt < 1)
		attempt = 1;
	v->cls = NOTIFY_RETRY;
	v->delay_ms = util_backoff_ms(attempt - 1, NOTIFY_BACKOFF_BASE_MS, NOTIFY_BACKOFF_CAP_MS);
	if (resp->err != HTTP_OK) {
		snprintf(v->error, sizeof(v->error), "cannot reach Telegram: %s",
		    resp->error != NULL ? resp->error : http_error_str(resp->err));
		return;
	}
	parsed = notify_tg_parse(resp->body, resp->body_len, &r) == 0;
	d = parsed && r.description[0] != '\0' ? r.description : NULL;
	if (status >= 200 && status < 300) {
		if (parsed && r.ok) {
			v->cls = NOTIFY_DELIVERED;
			v->delay_ms = 0;
		} else if (parsed)
			snprintf(v->error, sizeof(v->error),
			    "Telegram answered HTTP %d with ok=false%s%s", status, d ? ": " : "",
			    d ? d : "");
		else
			snprintf(v->error, sizeof(v->error),
			    "Telegram answered HTTP %d with something that is not a Bot API reply",
			    status);
		return;
	}
	if (status == 429) {
		if (parsed && r.retry_after_s >= 0)
			ra = r.retry_after_s * 1000;
		else if (d != NULL && (ra = retry_after_in(d)) >= 0)
			ra *= 1000;
		else if (resp->retry_after_ms >= 0)
			ra = resp->retry_after_ms;
		else
			ra = v->delay_ms;
		v->delay_ms = cap_ms(ra, NOTIFY_RETRY_AFTER_CAP_MS);
		snprintf(v->error, sizeof(v->error),
		    "Telegram flood control (429 %s): retrying in %llds",
		    d ? d : "Too Many Requests", (long long)((v->delay_ms + 999) / 1000));
		return;
	}
	if (status < 300 || status >= 500) {
		snprintf(v->error, sizeof(v->error), "Telegram answered HTTP %d%s%s", status,
		    d ? ": " : (parsed ? "" : " (not a Bot API reply)"), d ? d : "");
		return;
	}
	/* 3xx, 4xx: the token, the chat or the API URL is wrong; a person must
	 * act, so try again only slowly (a reload retries at once). */
	v->cls = NOTIFY_REJECTED;
	v->delay_ms =
	    util_backoff_ms(attempt - 1, 2 * NOTIFY_SLOW_RETRY_MS, NOTIFY_SLOW_RETRY_CAP_MS);
	if (v->delay_ms < NOTIFY_SLOW_RETRY_MS)
		v->delay_ms = NOTIFY_SLOW_RETRY_MS;
	if (status < 400)
		snprintf(v->error, sizeof(v->error),
		    "Telegram answered HTTP %d (a redirect, not followed): check TELEGRAM_API_URL",
		    status);
	else if (!parsed)
		snprintf(v->error, sizeof(v->error),
		    "Telegram answered HTTP %d, not a Bot API reply: check TELEGRAM_API_URL",
		    status);
	else if (status == 401)
		snprintf(v->error, sizeof(v->error),
		    "Telegram rejected the bot token (401 %s): check TELEGRAM_BOT_TOKEN",
		    d ? d : "Unauthorized");
	else if (status == 404)
		snprintf(v->error, sizeof(v->error),
		    "Telegram does not know this bot (404 %s): check TELEGRAM_BOT_TOKEN and "
		    "TELEGRAM_API_URL",
		    d ? d : "Not Found");
	else if (status == 403)
		snprintf(v->error, sizeof(v->error),
		    "Telegram refused the message (403 %s): check TELEGRAM_CHAT_ID and that the "
		    "bot may write to that chat",
		    d ? d : "Forbidden");
	else if (status == 400 && d != NULL &&
	    (strcasestr(d, "too long") != NULL || strcasestr(d, "text is empty") != NULL ||
	        strcasestr(d, "parse entities") != NULL)) {
		/* The code keeps texts within the limits; should Telegram
		 * still refuse one, retrying it would block the rest. */
		v->cls = NOTIFY_BAD_TEXT;
		v->delay_ms = 0;
		snprintf(v->error, sizeof(v->error), "Telegram refused the text (400 %s)", d);
	} else if (status == 400 && r.migrate_to_chat_id != 0)
		snprintf(v->error, sizeof(v->error),
		    "Telegram refused the message (400 %s): the group is now a supergroup, set "
		    "TELEGRAM_CHAT_ID=%lld",
		    d ? d : "Bad Request", (long long)r.migrate_to_chat_id);
	else if (status == 400)
		snprintf(v->error, sizeof(v->error),
		    "Telegram refused the message (400 %s): check TELEGRAM_CHAT_ID",
		    d ? d : "Bad Request");
	else
		snprintf(v->error, sizeof(v->error), "Telegram refused the message (%d%s%s)",
		    status, d ? " " : "", d ? d : "");
}
