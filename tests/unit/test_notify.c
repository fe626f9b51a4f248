/* notify.c's pure parts: the Bot API reply parser, text length, cleaning
 * and cutting, coalescing, the bounded queue, and the retry decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "http.h"
#include "notify.h"
#include "util.h"

/* notify.o emits through events.c, which is the daemon's: a stand-in. */
const struct evrec *
events_emit(struct events *ev, const char *type, json_object *fields)
{
	(void)ev;
	(void)type;
	json_object_put(fields);
	return NULL;
}

/* notify_text.o's listener subscribes; the table itself is tested here. */
int
events_subscribe(struct events *ev, const char *const *types, events_sub_cb *cb, void *arg)
{
	(void)ev;
	(void)types;
	(void)cb;
	(void)arg;
	return 0;
}

void
events_unsubscribe(struct events *ev, events_sub_cb *cb, void *arg)
{
	(void)ev;
	(void)cb;
	(void)arg;
}

static int
parse(const char *s, struct tg_reply *r)
{
	return notify_tg_parse(s, strlen(s), r);
}

/* Valid UTF-8 throughout (a cut never splits a character). */
static bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;

		if (*p >= 0x80 && *p < 0xc2)
			return false;
		for (int i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

static char *
repeat(const char *unit, int n)
{
	size_t l = strlen(unit);
	char *s = calloc(1, l * (size_t)n + 1);

	for (int i = 0; i < n; i++)
		memcpy(s + l * (size_t)i, unit, l);
	return s;
}

static void
test_parse_replies(void **unused)
{
	struct tg_reply r;

	(void)unused;
	assert_int_equal(parse("{\"ok\":true,\"result\":{\"message_id\":42,\"chat\":{\"id\":1},"
	                       "\"text\":\"hi\"}}",
	                     &r),
	    0);
	assert_true(r.ok);
	assert_int_equal(r.error_code, 0);
	assert_string_equal(r.description, "");
	assert_int_equal(r.retry_after_s, -1);

	assert_int_equal(
	    parse("{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}", &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.error_code, 401);
	assert_string_equal(r.description, "Unauthorized");

	assert_int_equal(parse("{\"ok\":false,\"error_code\":429,\"description\":\"Too Many "
	                       "Requests: retry after 34\",\"parameters\":{\"retry_after\":34}}",
	                     &r),
	    0);
	assert_int_equal(r.error_code, 429);
	assert_int_equal(r.retry_after_s, 34);

	assert_int_equal(parse("{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: "
	                       "group chat was upgraded to a supergroup chat\",\"parameters\":"
	                       "{\"migrate_to_chat_id\":-1001234567890}}",
	                     &r),
	    0);
	assert_true(r.migrate_to_chat_id == -1001234567890LL);

	/* Wrong types are ignored, not trusted. */
	assert_int_equal(parse("{\"ok\":false,\"error_code\":\"401\",\"description\":7,"
	                       "\"parameters\":{\"retry_after\":\"5\"}}",
	                     &r),
	    0);
	assert_int_equal(r.error_code, 0);
	assert_string_equal(r.description, "");
	assert_int_equal(r.retry_after_s, -1);
	assert_int_equal(parse("{\"ok\":false,\"parameters\":{\"retry_after\":-3}}", &r), 0);
	assert_int_equal(r.retry_after_s, -1);
	assert_int_equal(parse("{\"ok\":false,\"error_code\":99999999999}", &r), 0);
	assert_int_equal(r.error_code, 0);
}

static void
test_parse_garbage(void **unused)
{
	static const char *bad[] = {
	    "",
	    "not json",
	    "<html><head><title>502 Bad Gateway</title></head></html>",
	    "[1,2,3]",
	    "\"ok\"",
	    "{}",
	    "{\"ok\":\"true\"}",
	    "{\"ok\":1}",
	    "{\"ok\":true",
	    "{\"ok\":true,\"result\":",
	    "null",
	};
	struct tg_reply r;

	(void)unused;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &r), -1);
	assert_int_equal(notify_tg_parse(NULL, 0, &r), -1);
	/* The length bounds what is read: a NUL or the end of the buffer. */
	assert_int_equal(notify_tg_parse("{\"ok\":true}XXXX", 11, &r), 0);
	assert_int_equal(notify_tg_parse("{\"ok\":tr", 8, &r), -1);
	/* Deep nesting is refused, not recursed into. */
	{
		char *deep = repeat("[", 5000);

		assert_int_equal(parse(deep, &r), -1);
		free(deep);
	}
}

static void
test_parse_description_clean(void **unused)
{
	struct tg_reply r;
	char *long_desc = repeat("\xc3\xa9", 300); /* 600 bytes of é */
	char *body =
	    xasprintf("{\"ok\":false,\"error_code\":400,\"description\":\"%s\"}", long_desc);

	(void)unused;
	assert_int_equal(parse(body, &r), 0);
	assert_true(strlen(r.description) < sizeof(r.description));
	assert_true(strlen(r.description) >= sizeof(r.description) - 2);
	assert_true(utf8_valid(r.description));
	free(body);
	free(long_desc);

	/* Control characters become spaces; bad bytes '?'. */
	assert_int_equal(parse("{\"ok\":false,\"description\":\"a\\nb\\u0001c\\u0000d\"}", &r), 0);
	assert_null(strpbrk(r.description, "\n\x01"));
	assert_true(strncmp(r.description, "a b c", 5) == 0);
}

static void
test_text_len(void **unused)
{
	(void)unused;
	assert_int_equal(notify_text_len(""), 0);
	assert_int_equal(notify_text_len("abc"), 3);
	assert_int_equal(notify_text_len("\xc3\xbc"), 1); /* ü */
	assert_int_equal(notify_text_len("\xe2\x82\xac"), 1); /* € */
	assert_int_equal(notify_text_len("\xf0\x9f\x98\x80"), 2); /* U+1F600: two units */
	assert_int_equal(notify_text_len("a\xff"
	                                 "b"),
	    3); /* a bad byte counts one */
	assert_int_equal(notify_text_len("\xe2\x82"), 2); /* cut short: two bad bytes */
	assert_int_equal(notify_text_len(NULL), 0);
}

static void
test_text_clean(void **unused)
{
	char *s, *in;

	(void)unused;
	s = notify_text_clean("failover begun\n\tnow", 4096);
	assert_string_equal(s, "failover begun\n\tnow");
	free(s);
	assert_null(notify_text_clean("", 4096));
	assert_null(notify_text_clean(" \n\t \r ", 4096));
	assert_null(notify_text_clean(NULL, 4096));

	/* Bad bytes become U+FFFD; control characters spaces. */
	s = notify_text_clean("a\xff"
	                      "b\x01"
	                      "c\xed\xa0\x80"
	                      "d",
	    4096);
	assert_string_equal(s,
	    "a\xef\xbf\xbd"
	    "b c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "d");
	assert_true(utf8_valid(s));
	free(s);

	/* Exactly at the limit: unchanged. */
	in = repeat("a", 4096);
	s = notify_text_clean(in, 4096);
	assert_string_equal(s, in);
	free(s);
	free(in);

	/* Over it: 4095 units and an ellipsis. */
	in = repeat("a", 5000);
	s = notify_text_clean(in, 4096);
	assert_int_equal(notify_text_len(s), 4096);
	assert_int_equal(strlen(s), 4095 + 3);
	assert_string_equal(s + 4095, "\xe2\x80\xa6");
	free(s);
	free(in);

	/* Two-byte characters: cut between characters, never inside one. */
	in = repeat("\xc3\xa9", 5000);
	s = notify_text_clean(in, 4096);
	assert_true(utf8_valid(s));
	assert_int_equal(notify_text_len(s), 4096);
	assert_int_equal(strlen(s), 4095 * 2 + 3);
	free(s);
	free(in);

	/* A two-unit character that would straddle the limit is left out
	 * whole: 4094 'a' then an emoji is 4096 units, so it goes. */
	{
		char *a = repeat("a", 4094);

		in = xasprintf("%s\xf0\x9f\x98\x80zzz", a);
		s = notify_text_clean(in, 4096);
		assert_true(utf8_valid(s));
		assert_true(notify_text_len(s) <= 4096);
		assert_int_equal(strlen(s), 4094 + 3);
		free(s);
		free(in);
		free(a);
	}

	/* Four-byte characters only. */
	in = repeat("\xf0\x9f\x98\x80", 3000);
	s = notify_text_clean(in, 4096);
	assert_true(utf8_valid(s));
	assert_true(notify_text_len(s) <= 4096);
	assert_true(notify_text_len(s) >= 4095);
	free(s);
	free(in);
}

static json_object *
pending_of(const char *const *texts, int n, int64_t time)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < n; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "time", json_object_new_int64(time));
		json_object_object_add(e, "text", json_object_new_string(texts[i]));
		json_object_array_add(a, e);
	}
	return a;
}

static void
test_batch(void **unused)
{
	static const char *const three[] = {"one", "two", "three"};
	int64_t now = util_now_ms();
	json_object *p;
	char *s, *big;
	int taken;

	(void)unused;
	p = pending_of(three, 3, now);
	s = notify_batch(p, now, 4096, &taken);
	assert_string_equal(s, "one\n\ntwo\n\nthree");
	assert_int_equal(taken, 3);
	free(s);
	json_object_put(p);

	p = json_object_new_array();
	assert_null(notify_batch(p, now, 4096, &taken));
	assert_int_equal(taken, 0);
	json_object_put(p);

	/* 3 x 2000: two fit (2000 + 2 + 2000), the third waits. */
	big = repeat("x", 2000);
	{
		const char *const t[] = {big, big, big};

		p = pending_of(t, 3, now);
	}
	s = notify_batch(p, now, 4096, &taken);
	assert_int_equal(taken, 2);
	assert_int_equal(notify_text_len(s), 4002);
	free(s);
	json_object_array_del_idx(p, 0, 2);
	s = notify_batch(p, now, 4096, &taken);
	assert_int_equal(taken, 1);
	assert_string_equal(s, big);
	free(s);
	json_object_put(p);
	free(big);

	/* One too long by itself: cut, alone. */
	big = repeat("y", 5000);
	{
		const char *const t[] = {big, "after"};

		p = pending_of(t, 2, now);
	}
	s = notify_batch(p, now, 4096, &taken);
	assert_int_equal(taken, 1);
	assert_int_equal(notify_text_len(s), 4096);
	free(s);
	json_object_put(p);
	free(big);

	/* Malformed entries are covered (so they get removed) and skipped. */
	p = json_tokener_parse("[7, {\"time\":1}, {\"text\":5}, {\"text\":\"  \"}, "
	                       "{\"text\":\"real\"}, \"x\"]");
	s = notify_batch(p, now, 4096, &taken);
	assert_string_equal(s, "real");
	assert_int_equal(taken, 6);
	free(s);
	json_object_put(p);
	p = json_tokener_parse("[7, {\"text\":\"\"}]");
	assert_null(notify_batch(p, now, 4096, &taken));
	assert_int_equal(taken, 2);
	json_object_put(p);

	/* A message that waited says when it was queued. */
	{
		const char *const t[] = {"FAILOVER BEGUN"};
		char when[UTIL_TIME_LEN], *want;

		p = pending_of(t, 1, now - NOTIFY_DELAYED_MS - 5000);
		s = notify_batch(p, now, 4096, &taken);
		util_time_fmt(now - NOTIFY_DELAYED_MS - 5000, when, sizeof(when));
		want = xasprintf("[queued at %s] FAILOVER BEGUN", when);
		assert_string_equal(s, want);
		free(want);
		free(s);
		json_object_put(p);
	}
}

static const char *
text_at(json_object *p, size_t i)
{
	json_object *e = json_object_array_get_idx(p, i), *x;

	return json_object_object_get_ex(e, "text", &x) ? json_object_get_string(x) : NULL;
}

static void
test_pending_bound(void **unused)
{
	json_object *p = json_object_new_array(), *x;
	char buf[32];

	(void)unused;
	for (int i = 0; i < 100; i++) {
		snprintf(buf, sizeof(buf), "m%d", i);
		assert_int_equal(notify_pending_add(&p, 1000 + i, buf, 0, 100), 0);
	}
	assert_int_equal(json_object_array_length(p), 100);
	/* The 101st: two go (one for the note), the note is first. */
	assert_int_equal(notify_pending_add(&p, 2000, "m100", 0, 100), 2);
	assert_int_equal(json_object_array_length(p), 100);
	assert_string_equal(text_at(p, 0),
	    "2 older notifications were dropped: at most 100 are "
	    "kept while Telegram cannot be reached.");
	assert_true(json_object_object_get_ex(json_object_array_get_idx(p, 0), "dropped", &x));
	assert_int_equal(json_object_get_int(x), 2);
	assert_string_equal(text_at(p, 1), "m2");
	assert_string_equal(text_at(p, 99), "m100");
	/* The next one is counted in the same note. */
	assert_int_equal(notify_pending_add(&p, 2001, "m101", 0, 100), 1);
	assert_int_equal(json_object_array_length(p), 100);
	assert_true(strncmp(text_at(p, 0), "3 older notifications were dropped", 34) == 0);
	assert_string_equal(text_at(p, 1), "m3");
	assert_string_equal(text_at(p, 99), "m101");
	json_object_put(p);

	/* In flight (keep): those stay in front, the note goes behind them. */
	p = json_object_new_array();
	for (int i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf), "m%d", i);
		notify_pending_add(&p, 1000 + i, buf, 0, 5);
	}
	assert_int_equal(notify_pending_add(&p, 2000, "m5", 2, 5), 2);
	assert_int_equal(json_object_array_length(p), 5);
	assert_string_equal(text_at(p, 0), "m0");
	assert_string_equal(text_at(p, 1), "m1");
	assert_true(strncmp(text_at(p, 2), "2 older notifications were dropped", 34) == 0);
	assert_string_equal(text_at(p, 3), "m4");
	assert_string_equal(text_at(p, 4), "m5");
	json_object_put(p);

	/* Only what is not in flight can go, the new message never: here one,
	 * said in the singular; the queue is one over until the request in
	 * flight ends. */
	p = json_object_new_array();
	notify_pending_add(&p, 1, "a", 0, 3);
	notify_pending_add(&p, 1, "b", 0, 3);
	notify_pending_add(&p, 1, "c", 0, 3);
	assert_int_equal(notify_pending_add(&p, 1, "d", 2, 3), 1);
	assert_string_equal(text_at(p, 2),
	    "1 older notification was dropped: at most 3 are kept "
	    "while Telegram cannot be reached.");
	assert_string_equal(text_at(p, 3), "d");
	json_object_put(p);
	p = NULL; /* a missing array is made */
	assert_int_equal(notify_pending_add(&p, 1, "a", 0, 100), 0);
	assert_int_equal(json_object_array_length(p), 1);
	json_object_put(p);
}

static void
verdict(int status, const char *body, int64_t retry_after_ms, int attempt, struct notify_verdict *v)
{
	struct http_response r;

	memset(&r, 0, sizeof(r));
	r.err = HTTP_OK;
	r.status = status;
	r.body = body;
	r.body_len = strlen(body);
	r.retry_after_ms = retry_after_ms;
	notify_tg_verdict(&r, attempt, v);
}

static void
test_verdict(void **unused)
{
	struct notify_verdict v;
	struct http_response r;

	(void)unused;
	verdict(200, "{\"ok\":true,\"result\":{}}", -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_DELIVERED);
	assert_string_equal(v.error, "");

	/* Network errors: backoff with jitter, growing. */
	memset(&r, 0, sizeof(r));
	r.err = HTTP_ERR_CONNECT;
	r.error = "connection refused";
	r.body = "";
	r.retry_after_ms = -1;
	for (int i = 0; i < 50; i++) {
		notify_tg_verdict(&r, 1, &v);
		assert_int_equal(v.cls, NOTIFY_RETRY);
		assert_in_range(v.delay_ms, NOTIFY_BACKOFF_BASE_MS / 2, NOTIFY_BACKOFF_BASE_MS);
		notify_tg_verdict(&r, 3, &v);
		assert_in_range(v.delay_ms, NOTIFY_BACKOFF_BASE_MS * 2, NOTIFY_BACKOFF_BASE_MS * 4);
		notify_tg_verdict(&r, 40, &v);
		assert_in_range(v.delay_ms, NOTIFY_BACKOFF_CAP_MS / 2, NOTIFY_BACKOFF_CAP_MS);
	}
	assert_string_equal(v.error, "cannot reach Telegram: connection refused");

	/* 200 that is not a Bot API reply, or ok=false: retried. */
	verdict(200, "<html>hello</html>", -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_RETRY);
	assert_non_null(strstr(v.error, "not a Bot API reply"));
	verdict(200, "{\"ok\":false}", -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_RETRY);

	/* 5xx and a proxy's page. */
	verdict(500, "{\"ok\":false,\"error_code\":500,\"description\":\"Internal Server Error\"}",
	    -1, 2, &v);
	assert_int_equal(v.cls, NOTIFY_RETRY);
	assert_in_range(v.delay_ms, NOTIFY_BACKOFF_BASE_MS, NOTIFY_BACKOFF_BASE_MS * 2);
	assert_string_equal(v.error, "Telegram answered HTTP 500: Internal Server Error");
	verdict(502, "<html><title>502 Bad Gateway</title></html>", -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_RETRY);
	assert_string_equal(v.error, "Telegram answered HTTP 502 (not a Bot API reply)");

	/* 429: parameters, then the description, then the header. */
	verdict(429,
	    "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 7\","
	    "\"parameters\":{\"retry_after\":7}}",
	    2000, 1, &v);
	assert_int_equal(v.cls, NOTIFY_RETRY);
	assert_int_equal(v.delay_ms, 7000);
	assert_non_null(strstr(v.error, "429"));
	verdict(429,
	    "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry "
	    "after 5\"}",
	    2000, 1, &v);
	assert_int_equal(v.delay_ms, 5000);
	verdict(429, "Too Many Requests", 3000, 1, &v);
	assert_int_equal(v.delay_ms, 3000);
	verdict(429, "{\"ok\":false,\"parameters\":{\"retry_after\":10072}}", -1, 1, &v);
	assert_int_equal(v.delay_ms, NOTIFY_RETRY_AFTER_CAP_MS);
	verdict(429, "{\"ok\":false}", -1, 1, &v);
	assert_in_range(v.delay_ms, NOTIFY_BACKOFF_BASE_MS / 2, NOTIFY_BACKOFF_BASE_MS);

	/* The token or the chat: slow retries, a clear message. */
	for (int a = 1; a < 20; a++) {
		verdict(401, "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}",
		    -1, a, &v);
		assert_int_equal(v.cls, NOTIFY_REJECTED);
		assert_in_range(v.delay_ms, NOTIFY_SLOW_RETRY_MS, NOTIFY_SLOW_RETRY_CAP_MS);
	}
	assert_string_equal(v.error,
	    "Telegram rejected the bot token (401 Unauthorized): check "
	    "TELEGRAM_BOT_TOKEN");
	verdict(404, "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}", -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_REJECTED);
	assert_non_null(strstr(v.error, "404 Not Found"));
	verdict(403,
	    "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was "
	    "blocked by the user\"}",
	    -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_REJECTED);
	assert_non_null(strstr(v.error, "bot was blocked by the user"));
	assert_non_null(strstr(v.error, "TELEGRAM_CHAT_ID"));
	verdict(400,
	    "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not "
	    "found\"}",
	    -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_REJECTED);
	assert_true(v.delay_ms >= NOTIFY_SLOW_RETRY_MS);
	assert_string_equal(v.error,
	    "Telegram refused the message (400 Bad Request: chat not "
	    "found): check TELEGRAM_CHAT_ID");
	verdict(400,
	    "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group chat "
	    "was upgraded to a supergroup chat\",\"parameters\":{\"migrate_to_chat_id\":"
	    "-1001234567890}}",
	    -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_REJECTED);
	assert_non_null(strstr(v.error, "TELEGRAM_CHAT_ID=-1001234567890"));
	verdict(404, "<html>nginx</html>", -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_REJECTED);
	assert_non_null(strstr(v.error, "TELEGRAM_API_URL"));

	/* A redirect (e.g. TELEGRAM_API_URL with http for https) is not followed. */
	verdict(301, "", -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_REJECTED);
	assert_string_equal(v.error,
	    "Telegram answered HTTP 301 (a redirect, not followed): check "
	    "TELEGRAM_API_URL");

	/* The text itself: not retried. */
	verdict(400,
	    "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message is "
	    "too long\"}",
	    -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_BAD_TEXT);
	verdict(400,
	    "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message "
	    "text is empty\"}",
	    -1, 1, &v);
	assert_int_equal(v.cls, NOTIFY_BAD_TEXT);
}

static json_object *
ev(const char *json)
{
	json_object *o = json_tokener_parse(json);

	assert_non_null(o);
	return o;
}

static void
expect_text(const char *json, const struct notify_ctx *x, const char *want)
{
	json_object *o = ev(json);
	char *t = notify_text_for(o, x);

	if (want == NULL)
		assert_null(t);
	else {
		assert_non_null(t);
		assert_string_equal(t, want);
	}
	free(t);
	json_object_put(o);
}

/* The Telegram texts' table: which event is told, in which words. */
static void
test_texts(void **state)
{
	struct notify_ctx x = {.standby = "neo-standby", .detect_ms = 8500, .transition_ms = 3000};

	(void)state;
	expect_text("{\"type\":\"state\",\"from\":\"primary\",\"to\":\"failing-over\","
	            "\"reason\":\"primary failed 3 consecutive checks: HTTP 503\"}",
	    &x,
	    "FAILOVER BEGUN. primary failed 3 consecutive checks: HTTP 503. Starting the standby "
	    "neo-standby.");
	expect_text("{\"type\":\"state\",\"from\":\"failing-over\",\"to\":\"standby\"}", &x,
	    "STANDBY SERVING: neo-standby is active. Detection took 8.5s, activation 3.0s.");
	x.detect_ms = -1;
	x.forced = true;
	expect_text("{\"type\":\"state\",\"from\":\"failing-over\",\"to\":\"standby\"}", &x,
	    "STANDBY SERVING: neo-standby is active (forced). Activation took 3.0s.");
	/* A retry is told only when the engine says it is the one to tell. */
	expect_text("{\"type\":\"standby\",\"action\":\"deactivate\",\"phase\":\"retry\","
	            "\"detail\":\"the pull failed: rclone exit 1 (attempt 2, retrying in 2s)\"}",
	    &x, NULL);
	x.pull_error = "rclone exit 1";
	expect_text("{\"type\":\"standby\",\"action\":\"deactivate\",\"phase\":\"retry\","
	            "\"detail\":\"the pull failed: rclone exit 1 (attempt 1, retrying in 1s)\"}",
	    &x, "PULL FAILED: rclone exit 1. The standby is stopped; retrying.");
	x.pull_error = NULL;
	expect_text("{\"type\":\"error\",\"what\":\"fence\",\"error\":\"FENCE_CMD exited 1\","
	            "\"cleared\":false}",
	    &x, "ACTIVATION HELD: FENCE_CMD exited 1. Retrying.");
	expect_text("{\"type\":\"error\",\"what\":\"fence\",\"error\":\"over\",\"cleared\":true}",
	    &x, NULL);
	expect_text("{\"type\":\"check\",\"healthy\":true}", &x, NULL); /* not told */
	expect_text("{\"type\":\"pause\",\"paused\":false}", &x, NULL);
	x.pause_expired = true;
	expect_text("{\"type\":\"pause\",\"paused\":false}", &x,
	    "PAUSE EXPIRED: automatic checks and failover are back on.");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_replies),
	    cmocka_unit_test(test_parse_garbage),
	    cmocka_unit_test(test_parse_description_clean),
	    cmocka_unit_test(test_text_len),
	    cmocka_unit_test(test_text_clean),
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_pending_bound),
	    cmocka_unit_test(test_verdict),
	    cmocka_unit_test(test_texts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
