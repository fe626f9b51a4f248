/*
 * Telegram notifications and the HEARTBEAT_URL ping (contract §3, §5.4, §6).
 * Never blocks or delays anything: messages are queued, persisted with
 * STATE_FILE (dstate->pending, bounded, oldest dropped with a note) and
 * delivered through http.c at most one request a second, bursts coalesced
 * into one message (plain text, no parse_mode, at most 4096 characters).
 * Failed deliveries are retried with backoff; a 429's retry_after is
 * honoured (capped). The module emits `notify` events itself.
 *
 * Events (contract §6, type `notify`; fields channel, ok, attempts, error,
 * plus messages, pending, status, retry_in_ms):
 * - telegram: one event per sendMessage request that ended, not one per
 *   message: a coalesced batch of N messages is one event with
 *   "messages": N. ok=true when delivered ("attempts" = the tries it took
 *   the oldest message in it); ok=false for each failed try, with the
 *   error and "retry_in_ms". Backoff bounds that to a few an hour while
 *   Telegram is down. 401/403/404 (token or chat wrong) and 400 (e.g.
 *   chat not found) keep the messages and retry slowly (>= 60 s); a
 *   reload that changes the Telegram settings retries at once. A 400
 *   caused by the text itself cannot be fixed by retrying: that batch is
 *   dropped (ok=false, the error says so) so it never blocks the rest.
 * - heartbeat: no event for a successful ping (one per check cycle would
 *   drown the stream); each failed ping is an event (ok=false, "attempts"
 *   = consecutive failures) and the first success after failures is one
 *   recovery event (ok=true, "attempts" = pings it took).
 * Errors never carry the token: http.c's never contain the URL, and every
 * text that could (Telegram's description, a proxy's page) goes through
 * config_redact.
 *
 * Texts are counted as Telegram counts them (UTF-16 code units), invalid
 * UTF-8 is replaced by U+FFFD, and a message that waited longer than
 * NOTIFY_DELAYED_MS is sent with "[queued at TIME] " in front.
 */
#ifndef FOD_NOTIFY_H
#define FOD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct event_base;
struct http;
struct events;
struct config;
struct dstate;
struct notifier;

#define NOTIFY_TEXT_MAX 4096 /* Telegram's limit, in characters */
#define NOTIFY_PENDING_MAX 100 /* messages kept; older ones dropped with a note */
#define NOTIFY_RETRY_AFTER_CAP_MS (10 * 60 * 1000)
#define NOTIFY_MIN_GAP_MS 1000 /* between two request starts */
#define NOTIFY_BACKOFF_BASE_MS 2000 /* network errors, 5xx: 2 s, 4 s, ... */
#define NOTIFY_BACKOFF_CAP_MS (5 * 60 * 1000)
#define NOTIFY_SLOW_RETRY_MS (60 * 1000) /* token or chat rejected: at least this */
#define NOTIFY_SLOW_RETRY_CAP_MS (15 * 60 * 1000)
#define NOTIFY_REQUEST_TIMEOUT_MS 15000
#define NOTIFY_MAX_REPLY (64 * 1024) /* a Bot API reply read at most */
#define NOTIFY_DELAYED_MS (60 * 1000) /* older messages get "[queued at …]" */

/* Called when dstate->pending changed and STATE_FILE should be written. */
typedef void notify_save_cb(void *arg);

/* Telegram is on when TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are set. */
bool notify_telegram_enabled(const struct config *);

/* Pending messages already in st->pending (from STATE_FILE) are sent soon. */
struct notifier *notifier_new(struct event_base *, struct http *, struct events *,
    const struct config *, struct dstate *st, notify_save_cb *save, void *save_arg);
void notifier_reconfigure(struct notifier *, const struct config *);
/* Cancels requests in flight (pending messages stay in dstate). NULL ok. */
void notifier_free(struct notifier *);

/* Queues a message (copied; UTF-8; longer ones are cut). A no-op when
 * Telegram is off. */
void notifier_send(struct notifier *, const char *text);
int notifier_pending(const struct notifier *);
/* A sendMessage, test message or heartbeat in flight, or a send timer armed. */
bool notifier_busy(const struct notifier *);
/* Fills status.notify: telegram (bool: configured), pending, last_error
 * (the last failed delivery's, null once one succeeds), last_delivered
 * (time or null), heartbeat (bool: HEARTBEAT_URL set), heartbeat_error
 * (null while the pings succeed). */
void notifier_status(const struct notifier *, json_object *notify_obj);

/* After a healthy check cycle: GET HEARTBEAT_URL unless one is in flight.
 * A failure is a `notify` event with channel "heartbeat". */
void notifier_heartbeat(struct notifier *);

/* selftest --telegram: sends a test message now (not queued, not persisted).
 * cb gets ok and a detail ("delivered to chat …" or the error). Returns -1
 * when Telegram is off (cb not called). */
typedef void notify_test_cb(bool ok, const char *detail, void *arg);
int notifier_test(struct notifier *, const char *text, notify_test_cb *cb, void *arg);

/* What the Telegram texts need beyond the event itself; the engine fills
 * it when an event is emitted (notify_ctx_cb). */
struct notify_ctx {
	const char *standby; /* FLY_APP, or what stands for it */
	const char *state; /* the state now */
	const char *recorded; /* STATE_FILE's side before this change */
	const char *action; /* the action in flight ("activate", ...), or NULL */
	int attempt; /* its attempt */
	bool drift; /* it corrects drift */
	bool provider_retry; /* a `standby retry` to tell: the provider's first failure */
	const char *pull_error; /* ... a failback's first failed pull: rclone's error */
	bool aborting; /* the failback ends an aborted activation */
	bool forced; /* the activation is forced */
	bool forced_cause; /* this transition was begun by force-* */
	bool force_paused; /* ... and paused for pause_ms */
	bool paused, pause_expired;
	int64_t pause_ms;
	int64_t detect_ms; /* first failed check -> failing-over, or -1 */
	int64_t transition_ms; /* since the transition began */
	int64_t outage_ms, active_ms; /* of the failback that just ended */
	double cost_usd;
	const char *last_error; /* the primary's last check error */
	const char *standby_error; /* the provider's or FLY_HEALTH_URL's last */
	int64_t grace_until; /* wall ms: STARTUP_GRACE's end */
	int64_t config_retry_ms;
	bool quiet; /* COORDINATOR=etcd, a follower: Telegram is the leader's (rule 5) */
};
typedef void notify_ctx_cb(struct notify_ctx *, void *arg);

/* notify_text.c: the text for an event, malloc'd, or NULL for none. */
char *notify_text_for(json_object *event, const struct notify_ctx *);
/* "12.5s", "3m 20s", "2h 5m". */
const char *notify_dur(int64_t ms, char *buf, size_t len);

/*
 * notify_text.c: a listener hears the events Telegram tells about (state,
 * standby, error, hook, pause, daemon) and queues their texts on n,
 * prefixed with "failoverd[ INSTANCE] on HOST: ". An error is told once
 * until it clears.
 */
struct notify_listener;
struct notify_listener *notify_listen(
    struct notifier *n, struct events *events, notify_ctx_cb *cb, void *arg);
void notify_listener_free(struct notify_listener *);
/* The notifier's configuration (the last reload's). */
const struct config *notifier_config(const struct notifier *);

/* Daemon stopping: tries to deliver what is pending within timeout_ms;
 * cb is called once, when nothing is pending or the time is up (what is
 * left stays in dstate for the next start). */
typedef void notify_flushed_cb(void *arg);
void notifier_flush(struct notifier *, int64_t timeout_ms, notify_flushed_cb *cb, void *arg);

/*
 * A Bot API reply, parsed (also for the fuzzer): ok, error_code,
 * description and parameters.retry_after. Returns 0, or -1 when body is not
 * a Bot API reply (garbage, not an object, no boolean ok).
 */
struct tg_reply {
	bool ok;
	int error_code; /* 0 when absent */
	char description[256];
	int64_t retry_after_s; /* -1 when absent */
	int64_t migrate_to_chat_id; /* 0 when absent (a group became a supergroup) */
};
int notify_tg_parse(const char *body, size_t len, struct tg_reply *out);

/* --- the pure parts, unit-tested and fuzzed ------------------------------- */

struct http_response;

/* Length as Telegram counts it: UTF-16 code units (a byte that is not valid
 * UTF-8 counts as one U+FFFD). */
size_t notify_text_len(const char *s);
/*
 * A clean copy of text: invalid UTF-8 replaced by U+FFFD, cut at a
 * character boundary so it is at most max units long, ending in "…" when
 * cut (max >= 2). NULL when nothing but white space is left (Telegram
 * refuses an empty text).
 */
char *notify_text_clean(const char *text, size_t max);
/*
 * The next message to send from pending (an array of {"time","text"}):
 * entries from the front joined by blank lines, at most max units (an
 * entry too long by itself is cut). *taken = entries it covers, counting
 * malformed ones (not an object, no string text), which are skipped.
 * Returns NULL when the covered entries have nothing to send.
 */
char *notify_batch(json_object *pending, int64_t now_wall, size_t max, int *taken);
/*
 * Appends {"time": now_wall, "text": text} to *pending (text used as
 * given). When the array is then longer than max, the oldest entries from
 * index keep on (those before keep are in flight) are dropped and a note
 * "N older notifications were dropped" ({"time","text","dropped": N}) is
 * put at index keep, or the note already there counts them too. Returns
 * how many were dropped. *pending may be replaced.
 */
int notify_pending_add(
    json_object **pending, int64_t now_wall, const char *text, int keep, int max);

enum notify_class {
	NOTIFY_DELIVERED,
	NOTIFY_RETRY, /* network error, 5xx, 429, garbage: backoff or retry_after */
	NOTIFY_REJECTED, /* 3xx, 400/401/403/404, other 4xx: the config; slow retry */
	NOTIFY_BAD_TEXT, /* 400 about the text itself: retrying cannot help */
};
struct notify_verdict {
	enum notify_class cls;
	int64_t delay_ms; /* before the next try (not for DELIVERED) */
	char error[512]; /* "" when delivered; may hold the token: redact */
};
/* What a sendMessage response means; attempt = tries so far (>= 1). */
void notify_tg_verdict(const struct http_response *, int attempt, struct notify_verdict *);

#endif
