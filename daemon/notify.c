/*
 * Telegram notifications and the HEARTBEAT_URL ping: see notify.h for what
 * is sent, when, and which events come of it.
 *
 * The queue is dstate->pending itself (STATE_FILE), so what is saved is
 * exactly what is waiting. One sendMessage is in flight at a time and
 * covers the first req_taken entries; new messages go behind them, and an
 * overflow drops from behind them too, never what is on the wire.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "state.h"
#include "timer.h"
#include "util.h"

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one unit */

struct notifier {
	struct event_base *base;
	struct http *http;
	struct events *events;
	const struct config *cfg;
	struct dstate *st;
	notify_save_cb *save;
	void *save_arg;
	char *tg_sig; /* Telegram's settings, to see a reload change them */
	unsigned gen; /* bumped when they change */

	/* sendMessage */
	struct event *ev_send;
	struct http_req *req;
	int req_taken; /* pending entries the request covers, from the front */
	unsigned req_gen;
	int attempts; /* tries for the oldest pending message */
	int64_t last_start; /* mono ms of the last request start, 0 = none */
	int64_t retry_at; /* mono ms; 0 = no wait */
	bool retry_hard; /* 429 or rejected: a flush does not skip the wait */
	char *last_error;
	int64_t last_delivered; /* wall ms, 0 = never */

	/* selftest --telegram */
	struct http_req *test_req;
	notify_test_cb *test_cb;
	void *test_arg;

	/* HEARTBEAT_URL */
	struct http_req *hb_req;
	int hb_failures;
	char *hb_error;

	/* notifier_flush */
	struct event *ev_flush;
	notify_flushed_cb *flush_cb;
	void *flush_arg;
	int64_t flush_deadline; /* mono ms */
	bool flush_now; /* ev_flush activated to finish, not by its deadline */
};

/* --- text ----------------------------------------------------------------- */

size_t
notify_text_len(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n, units = 0;
	uint32_t cp;
	int l;

	if (text == NULL)
		return 0;
	n = strlen(text);
	while (n > 0) {
		if ((l = util_utf8_decode(s, n, &cp)) == 0) {
			l = 1;
			cp = 0xfffd;
		}
		units += cp >= 0x10000 ? 2 : 1;
		s += l;
		n -= (size_t)l;
	}
	return units;
}

char *
notify_text_clean(const char *text, size_t max)
{
	const unsigned char *s;
	size_t n, cap, o = 0, units = 0, cut = 0, u;
	bool blank = true, cutting = false;
	uint32_t cp;
	char *out, *clean;
	int l;

	if (text == NULL || max < 2)
		return NULL;
	n = strlen(text);
	/* At most 3 bytes a unit (U+FFFD for one bad byte), plus the ellipsis. */
	cap = (n < max ? n : max) * 3 + 8;
	out = xcalloc(1, cap);
	/* Control characters as spaces (nothing a reader wants), bad bytes as U+FFFD. */
	clean = xcalloc(1, n * 3 + 1);
	util_clean(clean, n * 3 + 1, text, n,
	    UTIL_CLEAN_UTF8 | UTIL_CLEAN_FFFD | UTIL_CLEAN_SPACE | UTIL_CLEAN_NL | UTIL_CLEAN_TAB);
	s = (const unsigned char *)clean;
	n = strlen(clean);
	while (n > 0 && (l = util_utf8_decode(s, n, &cp)) > 0) {
		u = cp >= 0x10000 ? 2 : 1;
		if (units + u > max) {
			cutting = true;
			break;
		}
		memcpy(out + o, s, (size_t)l);
		o += (size_t)l;
		if (cp != ' ' && cp != '\n' && cp != '\t')
			blank = false;
		units += u;
		if (units <= max - 1)
			cut = o;
		s += l;
		n -= (size_t)l;
	}
	free(clean);
	if (cutting) {
		o = cut;
		memcpy(out + o, ELLIPSIS, 3);
		o += 3;
	}
	out[o] = '\0';
	if (blank) {
		free(out);
		return NULL;
	}
	return out;
}

/* The entry's text, or NULL when it is malformed. */
static const char *
entry_text(json_object *e, int64_t *time)
{
	json_object *x, *t;

	*time = 0;
	if (e == NULL || !json_object_is_type(e, json_type_object) ||
	    !json_object_object_get_ex(e, "text", &x) || !json_object_is_type(x, json_type_string))
		return NULL;
	if (json_object_object_get_ex(e, "time", &t) && json_object_is_type(t, json_type_int))
		*time = json_object_get_int64(t);
	return json_object_get_string(x);
}

char *
notify_batch(json_object *pending, int64_t now_wall, size_t max, int *taken)
{
	size_t n, units = 0, len = 0, cap = 0, u;
	char *out = NULL, *piece, *clean, when[UTIL_TIME_LEN];
	const char *text;
	int64_t t;

	*taken = 0;
	if (pending == NULL || !json_object_is_type(pending, json_type_array))
		return NULL;
	n = json_object_array_length(pending);
	for (size_t i = 0; i < n; i++) {
		text = entry_text(json_object_array_get_idx(pending, i), &t);
		if (text == NULL) {
			(*taken)++;
			continue;
		}
		if (t > 0 && now_wall - t > NOTIFY_DELAYED_MS) {
			util_time_fmt(t, when, sizeof(when));
			piece = xasprintf("[queued at %s] %s", when, text);
		} else
			piece = xstrdup(text);
		clean = notify_text_clean(piece, max);
		free(piece);
		if (clean == NULL) {
			(*taken)++;
			continue;
		}
		u = notify_text_len(clean);
		if (out != NULL && units + 2 + u > max) {
			free(clean);
			break;
		}
		if (len + strlen(clean) + 3 > cap) {
			cap = (len + strlen(clean) + 3) * 2;
			out = xrealloc(out, cap);
		}
		if (len > 0) {
			memcpy(out + len, "\n\n", 2);
			len += 2;
			units += 2;
		}
		memcpy(out + len, clean, strlen(clean) + 1);
		len += strlen(clean);
		units += u;
		free(clean);
		(*taken)++;
	}
	return out;
}

static json_object *
entry_new(int64_t time, const char *text)
{
	json_object *e = json_object_new_object();

	json_object_object_add(e, "time", json_object_new_int64(time));
	json_object_object_add(e, "text", json_object_new_string(text));
	return e;
}

static int64_t
entry_dropped(json_object *e)
{
	json_object *x;

	if (e != NULL && json_object_is_type(e, json_type_object) &&
	    json_object_object_get_ex(e, "dropped", &x) && json_object_is_type(x, json_type_int))
		return json_object_get_int64(x);
	return 0;
}

int
notify_pending_add(json_object **pending, int64_t now_wall, const char *text, int keep, int max)
{
	json_object *arr = *pending, *na, *note;
	int n, first, excess, avail;
	int64_t prev, t;
	char *msg;

	if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		arr = *pending = json_object_new_array();
	}
	json_object_array_add(arr, entry_new(now_wall, text));
	n = (int)json_object_array_length(arr);
	if (max < 2 || n <= max)
		return 0;
	if (keep < 0)
		keep = 0;
	if (keep > n - 1)
		keep = n - 1;
	prev = entry_dropped(json_object_array_get_idx(arr, (size_t)keep));
	first = keep + (prev > 0 ? 1 : 0);
	excess = n - max + (prev > 0 ? 0 : 1); /* room for a new note */
	avail = (n - 1) - first; /* the new message stays */
	if (excess > avail)
		excess = avail;
	if (excess <= 0)
		return 0;
	if (prev > 0)
		entry_text(json_object_array_get_idx(arr, (size_t)keep), &t);
	else
		entry_text(json_object_array_get_idx(arr, (size_t)first), &t);
	if (t <= 0)
		t = now_wall;
	prev += excess;
	msg = xasprintf("%lld older notification%s dropped: at most %d are kept while "
	                "Telegram cannot be reached.",
	    (long long)prev, prev == 1 ? " was" : "s were", max);
	note = entry_new(t, msg);
	free(msg);
	json_object_object_add(note, "dropped", json_object_new_int64(prev));

	na = json_object_new_array();
	for (int i = 0; i < keep; i++)
		json_object_array_add(
		    na, json_object_get(json_object_array_get_idx(arr, (size_t)i)));
	json_object_array_add(na, note);
	for (int i = first + excess; i < n; i++)
		json_object_array_add(
		    na, json_object_get(json_object_array_get_idx(arr, (size_t)i)));
	json_object_put(arr);
	*pending = na;
	return excess;
}

/* --- requests ------------------------------------------------------------- */

bool
notify_telegram_enabled(const struct config *cfg)
{
	return cfg != NULL && cfg->telegram_bot_token != NULL && *cfg->telegram_bot_token != '\0' &&
	    cfg->telegram_chat_id != NULL && *cfg->telegram_chat_id != '\0';
}

static char *
tg_sig(const struct config *cfg)
{
	if (!notify_telegram_enabled(cfg))
		return xstrdup("");
	return xasprintf("%s\n%s\n%s", cfg->telegram_api_url ? cfg->telegram_api_url : "",
	    cfg->telegram_bot_token, cfg->telegram_chat_id);
}

/* BASE/bot<token>/METHOD, the token percent-encoded beyond [A-Za-z0-9:_.~-]. */
static char *
tg_url(const struct config *cfg, const char *method)
{
	const char *base =
	    cfg->telegram_api_url ? cfg->telegram_api_url : "https://api.telegram.org";
	const unsigned char *t = (const unsigned char *)cfg->telegram_bot_token;
	size_t bl = strlen(base), o;
	char *url = xcalloc(1, bl + strlen((const char *)t) * 3 + strlen(method) + 8);

	memcpy(url, base, bl);
	o = bl;
	while (o > 0 && url[o - 1] == '/')
		o--;
	memcpy(url + o, "/bot", 4);
	o += 4;
	for (; *t != '\0'; t++) {
		if (isalnum(*t) || strchr(":_.~-", *t) != NULL)
			url[o++] = (char)*t;
		else
			o += (size_t)sprintf(url + o, "%%%02X", *t);
	}
	url[o++] = '/';
	strcpy(url + o, method);
	return url;
}

/* chat_id: a number when it is one that fits, else the string (@channel). */
static json_object *
chat_id_json(const char *chat)
{
	long long v;

	if (util_int_parse(chat, -9223372036854775807LL, 9223372036854775807LL, &v) == 0)
		return json_object_new_int64(v);
	return json_object_new_string(chat);
}

static struct http_req *
tg_post(struct notifier *n, const char *text, http_done_cb *cb)
{
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct http_request_opts o;
	struct http_req *r;
	json_object *b = json_object_new_object();
	const char *body;
	char *url = tg_url(n->cfg, "sendMessage");

	json_object_object_add(b, "chat_id", chat_id_json(n->cfg->telegram_chat_id));
	json_object_object_add(b, "text", json_object_new_string(text));
	body = json_object_to_json_string_ext(
	    b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	memset(&o, 0, sizeof(o));
	o.method = "POST";
	o.url = url;
	o.headers = headers;
	o.body = body;
	o.body_len = strlen(body);
	o.timeout_ms = NOTIFY_REQUEST_TIMEOUT_MS;
	o.max_body = NOTIFY_MAX_REPLY;
	r = http_request_start(n->http, &o, cb, n);
	free(url);
	json_object_put(b);
	if (r != NULL)
		n->last_start = util_mono_ms();
	return r;
}

static json_object *
event_fields(const char *channel, bool ok, int attempts, const char *error)
{
	json_object *f = json_object_new_object();

	json_object_object_add(f, "channel", json_object_new_string(channel));
	json_object_object_add(f, "ok", json_object_new_boolean(ok));
	json_object_object_add(f, "attempts", json_object_new_int(attempts));
	json_object_object_add(f, "error", error != NULL ? json_object_new_string(error) : NULL);
	return f;
}

static void
emit(struct notifier *n, json_object *f)
{
	if (n->events != NULL)
		events_emit(n->events, "notify", f);
	else
		json_object_put(f);
}

static int
pending_len(const struct notifier *n)
{
	json_object *p = n->st != NULL ? n->st->pending : NULL;

	return p != NULL && json_object_is_type(p, json_type_array)
	    ? (int)json_object_array_length(p)
	    : 0;
}

static void
pending_changed(struct notifier *n)
{
	if (n->save != NULL)
		n->save(n->save_arg);
}

static void
pending_remove_front(struct notifier *n, int count)
{
	int len = pending_len(n);

	if (count > len)
		count = len;
	if (count > 0) {
		json_object_array_del_idx(n->st->pending, 0, (size_t)count);
		pending_changed(n);
	}
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s != NULL ? xstrdup(s) : NULL;
}

/* Ends a flush from the loop (never inside the caller's own call). */
static void
flush_finish(struct notifier *n)
{
	if (n->flush_cb == NULL)
		return;
	n->flush_now = true;
	event_active(n->ev_flush, EV_TIMEOUT, 0);
}

/* Arms ev_send for the next sendMessage, or not when there is nothing to
 * do; ends a flush that has nothing left it could do in time. */
static void
tg_schedule(struct notifier *n)
{
	int64_t now = util_mono_ms(), at = now;
	bool flushing = n->flush_cb != NULL;

	evtimer_del(n->ev_send);
	if (!notify_telegram_enabled(n->cfg) || pending_len(n) == 0) {
		if (flushing)
			flush_finish(n);
		return;
	}
	if (n->req != NULL)
		return;
	if (n->last_start > 0 && n->last_start + NOTIFY_MIN_GAP_MS > at)
		at = n->last_start + NOTIFY_MIN_GAP_MS;
	/* Stopping: one more try at once after a network error, but never
	 * against flood control or a rejected token. */
	if (n->retry_at > at && (!flushing || n->retry_hard))
		at = n->retry_at;
	if (flushing && at > n->flush_deadline) {
		flush_finish(n);
		return;
	}
	util_timer_in(n->ev_send, at - now);
}

static void tg_done(const struct http_response *, void *);

static void
tg_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *n = arg;
	char *text;
	int taken;

	(void)fd;
	(void)what;
	if (n->req != NULL || !notify_telegram_enabled(n->cfg))
		return;
	text = notify_batch(n->st->pending, util_now_ms(), NOTIFY_TEXT_MAX, &taken);
	if (text == NULL) {
		/* Only malformed or blank entries in front: nothing to send. */
		pending_remove_front(n, taken > 0 ? taken : pending_len(n));
		tg_schedule(n);
		return;
	}
	n->attempts++;
	n->req = tg_post(n, text, tg_done);
	free(text);
	if (n->req == NULL) {
		log_warnx("notify: cannot start a Telegram request; retrying");
		n->retry_at = util_mono_ms() +
		    util_backoff_ms(n->attempts - 1, NOTIFY_BACKOFF_BASE_MS, NOTIFY_BACKOFF_CAP_MS);
		n->retry_hard = false;
		n->last_start = util_mono_ms();
		set_str(&n->last_error, "cannot start a request");
		tg_schedule(n);
		return;
	}
	n->req_taken = taken;
	n->req_gen = n->gen;
}

static void
tg_done(const struct http_response *resp, void *arg)
{
	struct notifier *n = arg;
	struct notify_verdict v;
	json_object *f;
	char *err = NULL, *red;
	int taken = n->req_taken;

	n->req = NULL;
	n->req_taken = 0;
	notify_tg_verdict(resp, n->attempts, &v);
	if (v.error[0] != '\0')
		err = config_redact(n->cfg, v.error);
	switch (v.cls) {
	case NOTIFY_DELIVERED:
		pending_remove_front(n, taken);
		if (n->attempts > 1)
			log_info("notify: %d message%s delivered to Telegram after %d attempts",
			    taken, taken == 1 ? "" : "s", n->attempts);
		else
			log_debug("notify: %d message%s delivered to Telegram", taken,
			    taken == 1 ? "" : "s");
		f = event_fields("telegram", true, n->attempts, NULL);
		n->attempts = 0;
		n->retry_at = 0;
		n->retry_hard = false;
		n->last_delivered = util_now_ms();
		set_str(&n->last_error, NULL);
		break;
	case NOTIFY_BAD_TEXT:
		pending_remove_front(n, taken);
		red = err;
		err = xasprintf("%s: %d message%s dropped", red, taken, taken == 1 ? "" : "s");
		free(red);
		log_warnx("notify: %s", err);
		f = event_fields("telegram", false, n->attempts, err);
		n->attempts = 0;
		n->retry_at = 0;
		n->retry_hard = false;
		set_str(&n->last_error, err);
		break;
	default:
		n->retry_at = util_mono_ms() + v.delay_ms;
		n->retry_hard = v.cls == NOTIFY_REJECTED || resp->status == 429;
		if (n->req_gen != n->gen) /* the settings changed meanwhile */
			n->retry_at = 0;
		log_warnx("notify: Telegram delivery failed (attempt %d): %s; next try in %llds",
		    n->attempts, err, (long long)((n->retry_at > 0 ? v.delay_ms : 0) + 999) / 1000);
		f = event_fields("telegram", false, n->attempts, err);
		json_object_object_add(
		    f, "retry_in_ms", json_object_new_int64(n->retry_at > 0 ? v.delay_ms : 0));
		set_str(&n->last_error, err);
		break;
	}
	json_object_object_add(f, "messages", json_object_new_int(taken));
	json_object_object_add(
	    f, "status", resp->status > 0 ? json_object_new_int(resp->status) : NULL);
	json_object_object_add(f, "pending", json_object_new_int(pending_len(n)));
	free(err);
	emit(n, f);
	tg_schedule(n);
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *n = arg;
	notify_flushed_cb *cb = n->flush_cb;

	(void)fd;
	(void)what;
	if (cb == NULL)
		return;
	if (!n->flush_now && pending_len(n) > 0)
		log_warnx("notify: %d notification%s not delivered before stopping; kept in "
		          "STATE_FILE for the next start",
		    pending_len(n), pending_len(n) == 1 ? "" : "s");
	n->flush_cb = NULL;
	n->flush_now = false;
	evtimer_del(n->ev_flush);
	cb(n->flush_arg);
}

/* --- the API -------------------------------------------------------------- */

/* Loaded entries that are not {"time","text"} are left out at once. */
static void
pending_normalise(struct dstate *st)
{
	json_object *na;
	int64_t t;
	size_t n;

	if (st->pending == NULL || !json_object_is_type(st->pending, json_type_array)) {
		json_object_put(st->pending);
		st->pending = json_object_new_array();
		return;
	}
	n = json_object_array_length(st->pending);
	for (size_t i = 0; i < n; i++)
		if (entry_text(json_object_array_get_idx(st->pending, i), &t) == NULL)
			goto rebuild;
	return;
rebuild:
	na = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(st->pending, i);

		if (entry_text(e, &t) != NULL)
			json_object_array_add(na, json_object_get(e));
	}
	log_warnx("notify: %zu malformed pending notification%s in STATE_FILE left out",
	    n - json_object_array_length(na), n - json_object_array_length(na) == 1 ? "" : "s");
	json_object_put(st->pending);
	st->pending = na;
}

struct notifier *
notifier_new(struct event_base *base, struct http *http, struct events *events,
    const struct config *cfg, struct dstate *st, notify_save_cb *save, void *save_arg)
{
	struct notifier *n;

	if (base == NULL || http == NULL || cfg == NULL || st == NULL)
		return NULL;
	n = xcalloc(1, sizeof(*n));
	n->base = base;
	n->http = http;
	n->events = events;
	n->cfg = cfg;
	n->st = st;
	n->save = save;
	n->save_arg = save_arg;
	n->tg_sig = tg_sig(cfg);
	n->ev_send = evtimer_new(base, tg_send_cb, n);
	n->ev_flush = evtimer_new(base, flush_cb, n);
	if (n->ev_send == NULL || n->ev_flush == NULL) {
		notifier_free(n);
		return NULL;
	}
	pending_normalise(st);
	if (pending_len(n) > 0)
		log_info("notify: %d notification%s from STATE_FILE still to deliver%s",
		    pending_len(n), pending_len(n) == 1 ? "" : "s",
		    notify_telegram_enabled(cfg) ? "" : " (Telegram is not configured: kept)");
	/* From the loop, once it runs. */
	tg_schedule(n);
	return n;
}

void
notifier_reconfigure(struct notifier *n, const struct config *cfg)
{
	char *sig;

	if (n == NULL || cfg == NULL)
		return;
	n->cfg = cfg;
	sig = tg_sig(cfg);
	if (strcmp(sig, n->tg_sig) != 0) {
		/* A fixed token or chat: try at once, not after the slow wait. */
		n->gen++;
		n->retry_at = 0;
		n->retry_hard = false;
		if (pending_len(n) > 0 && notify_telegram_enabled(cfg))
			log_info("notify: Telegram settings changed: delivering %d pending now",
			    pending_len(n));
	}
	free(n->tg_sig);
	n->tg_sig = sig;
	tg_schedule(n);
}

const struct config *
notifier_config(const struct notifier *n)
{
	return n->cfg;
}

void
notifier_free(struct notifier *n)
{
	if (n == NULL)
		return;

	http_request_cancel(n->req);
	http_request_cancel(n->test_req);
	http_request_cancel(n->hb_req);
	if (n->ev_send != NULL)
		event_free(n->ev_send);
	if (n->ev_flush != NULL)
		event_free(n->ev_flush);
	free(n->tg_sig);
	free(n->last_error);
	free(n->hb_error);
	free(n);
}

void
notifier_send(struct notifier *n, const char *text)
{
	char *clean;
	int dropped;

	if (n == NULL || text == NULL || !notify_telegram_enabled(n->cfg))
		return;
	if ((clean = notify_text_clean(text, NOTIFY_TEXT_MAX)) == NULL) {
		log_debug("notify: an empty message not queued");
		return;
	}
	dropped = notify_pending_add(&n->st->pending, util_now_ms(), clean,
	    n->req != NULL ? n->req_taken : 0, NOTIFY_PENDING_MAX);
	free(clean);
	if (dropped > 0)
		log_warnx("notify: %d older notification%s dropped (at most %d are kept)", dropped,
		    dropped == 1 ? "" : "s", NOTIFY_PENDING_MAX);
	pending_changed(n);
	tg_schedule(n);
}

int
notifier_pending(const struct notifier *n)
{
	return n != NULL ? pending_len(n) : 0;
}

bool
notifier_busy(const struct notifier *n)
{
	return n != NULL &&
	    (n->req != NULL || n->test_req != NULL || n->hb_req != NULL ||
	        evtimer_pending(n->ev_send, NULL));
}

void
notifier_status(const struct notifier *n, json_object *o)
{
	char when[UTIL_TIME_LEN];
	const struct config *cfg = n != NULL ? n->cfg : NULL;

	if (o == NULL)
		return;
	json_object_object_add(
	    o, "telegram", json_object_new_boolean(notify_telegram_enabled(cfg)));
	json_object_object_add(o, "pending", json_object_new_int(notifier_pending(n)));
	json_object_object_add(o, "last_error",
	    n != NULL && n->last_error != NULL ? json_object_new_string(n->last_error) : NULL);
	json_object_object_add(o, "last_delivered",
	    n != NULL && n->last_delivered > 0
	        ? json_object_new_string(util_time_fmt(n->last_delivered, when, sizeof(when)))
	        : NULL);
	json_object_object_add(o, "heartbeat",
	    json_object_new_boolean(
	        cfg != NULL && cfg->heartbeat_url != NULL && *cfg->heartbeat_url));
	json_object_object_add(o, "heartbeat_error",
	    n != NULL && n->hb_error != NULL ? json_object_new_string(n->hb_error) : NULL);
}

/* --- heartbeat ------------------------------------------------------------ */

static void
hb_result(struct notifier *n, const char *error)
{
	char *err;
	json_object *f;

	if (error == NULL) {
		if (n->hb_failures == 0)
			return; /* the usual case: no event */
		log_info("notify: HEARTBEAT_URL answers again after %d failed ping%s",
		    n->hb_failures, n->hb_failures == 1 ? "" : "s");
		emit(n, event_fields("heartbeat", true, n->hb_failures + 1, NULL));
		n->hb_failures = 0;
		set_str(&n->hb_error, NULL);
		return;
	}
	n->hb_failures++;
	err = config_redact(n->cfg, error);
	if (n->hb_failures == 1)
		log_warnx("notify: heartbeat failed: %s", err);
	else
		log_debug("notify: heartbeat failed (%d in a row): %s", n->hb_failures, err);
	f = event_fields("heartbeat", false, n->hb_failures, err);
	set_str(&n->hb_error, err);
	free(err);
	emit(n, f);
}

static void
hb_done(const struct http_response *resp, void *arg)
{
	struct notifier *n = arg;
	char buf[256];

	n->hb_req = NULL;
	if (resp->err != HTTP_OK)
		snprintf(buf, sizeof(buf), "HEARTBEAT_URL: %s",
		    resp->error != NULL ? resp->error : http_error_str(resp->err));
	else if (resp->status < 200 || resp->status > 299)
		snprintf(buf, sizeof(buf), "HEARTBEAT_URL answered HTTP %d", resp->status);
	else {
		hb_result(n, NULL);
		return;
	}
	hb_result(n, buf);
}

void
notifier_heartbeat(struct notifier *n)
{
	struct http_request_opts o;

	if (n == NULL || n->cfg->heartbeat_url == NULL || *n->cfg->heartbeat_url == '\0')
		return;
	if (n->hb_req != NULL) {
		log_debug("notify: a heartbeat is still in flight: this one skipped");
		return;
	}
	memset(&o, 0, sizeof(o));
	o.url = n->cfg->heartbeat_url;
	o.timeout_ms = n->cfg->check_timeout_ms > 0 ? n->cfg->check_timeout_ms : 10000;
	o.max_body = 64 * 1024;
	o.keep_partial = true; /* the body does not matter */
	if ((n->hb_req = http_request_start(n->http, &o, hb_done, n)) == NULL)
		hb_result(n, "HEARTBEAT_URL: cannot start a request");
}

/* --- selftest and shutdown ------------------------------------------------ */

static void
test_done(const struct http_response *resp, void *arg)
{
	struct notifier *n = arg;
	struct notify_verdict v;
	notify_test_cb *cb = n->test_cb;
	char *detail;

	n->test_req = NULL;
	n->test_cb = NULL;
	notify_tg_verdict(resp, 1, &v);
	if (v.cls == NOTIFY_DELIVERED)
		detail = xasprintf("delivered to chat %s", n->cfg->telegram_chat_id);
	else
		detail = config_redact(n->cfg, v.error);
	if (cb != NULL)
		cb(v.cls == NOTIFY_DELIVERED, detail, n->test_arg);
	free(detail);
}

int
notifier_test(struct notifier *n, const char *text, notify_test_cb *cb, void *arg)
{
	char *clean;

	if (n == NULL || cb == NULL || !notify_telegram_enabled(n->cfg) || n->test_req != NULL)
		return -1;
	clean = notify_text_clean(text != NULL ? text : "", NOTIFY_TEXT_MAX);
	n->test_req = tg_post(n, clean != NULL ? clean : "failoverd test message", test_done);
	free(clean);
	if (n->test_req == NULL)
		return -1;
	n->test_cb = cb;
	n->test_arg = arg;
	/* The queue keeps its one-a-second distance from this one too. */
	if (n->req == NULL && evtimer_pending(n->ev_send, NULL))
		tg_schedule(n);
	return 0;
}

void
notifier_flush(struct notifier *n, int64_t timeout_ms, notify_flushed_cb *cb, void *arg)
{
	if (cb == NULL)
		return;
	if (n == NULL || !notify_telegram_enabled(n->cfg) || pending_len(n) == 0 ||
	    timeout_ms <= 0) {
		cb(arg);
		return;
	}
	n->flush_cb = cb;
	n->flush_arg = arg;
	n->flush_now = false;
	n->flush_deadline = util_mono_ms() + timeout_ms;
	util_timer_in(n->ev_flush, timeout_ms);
	tg_schedule(n);
}
