/*
 * The Telegram texts, in one table: which event (type, and its from/to,
 * what or phase) is told to the owner, and in which words. A text's
 * {placeholders} are the event's own fields ({reason}, {error}, {detail})
 * or what the engine adds in struct notify_ctx ({standby}, {detect}, ...).
 * The listener (below) hears the events and hands the texts to notify.c,
 * which delivers them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "events.h"
#include "notify.h"
#include "util.h"

enum cond {
	C_ANY,
	C_ABORTING, /* the failback ends an aborted activation */
	C_RECORDED_FAILING_OVER, /* STATE_FILE said failing-over before */
	C_DETECTED, /* a detection time is known (not forced) */
	C_OPEN, /* an error that opens (not `cleared`) */
	C_FIRST_ATTEMPT, /* a retry of an action's first attempt, not drift */
	C_PULL, /* a retry of the failback's pull */
	C_IN_ACTION, /* while an action runs */
	C_FAILED, /* a hook that failed */
	C_EXPIRED, /* a pause that ended by itself */
	C_AWAITED, /* FAILBACK=manual and the primary is back */
	C_FORCED, /* a transition begun by force-* */
	C_FORCED_PAUSE, /* ... by force-deactivate with force, which paused */
};

struct tg_text {
	const char *type;
	const char *key; /* state: "from>to"; error: what; standby: phase; hook: hook; NULL any */
	enum cond cond;
	const char *text;
};

/* First match wins. */
static const struct tg_text texts[] = {
    {"state", "primary>failing-over", C_FORCED,
        "FORCED: {reason}. FAILOVER BEGUN: starting the standby {standby}."},
    {"state", "primary>failing-over", C_ANY,
        "FAILOVER BEGUN. {reason}. Starting the standby {standby}."},
    {"state", "standby>failing-back", C_FORCED_PAUSE,
        "FORCED: {reason} (with force onto a primary that is not healthy: paused for {pause}). "
        "Stopping the standby {standby}."},
    {"state", "standby>failing-back", C_FORCED,
        "FORCED: {reason}. Stopping the standby {standby}."},
    {"state", "failing-over>failing-back", C_ANY,
        "ACTIVATION ABORTED: {reason}. Stopping the standby {standby}."},
    {"state", "failing-back>primary", C_ABORTING,
        "ACTIVATION ABORTED: the standby {standby} is stopped; the primary is the active side."},
    {"state", "starting>standby", C_RECORDED_FAILING_OVER,
        "STANDBY SERVING: {standby} is active; failoverd restarted during the activation and "
        "found it done."},
    {"state", "failing-over>standby", C_DETECTED,
        "STANDBY SERVING: {standby} is active. Detection took {detect}, activation "
        "{activation}."},
    {"state", "failing-over>standby", C_ANY,
        "STANDBY SERVING: {standby} is active ({how}). Activation took {activation}."},
    {"state", "failing-back>primary", C_ANY,
        "FAILBACK DONE: the primary serves again. Outage {outage}; standby active {active}, "
        "estimated cost ${cost}."},
    {"standby", "begin", C_AWAITED,
        "The primary is healthy again. FAILBACK=manual: the standby {standby} keeps serving "
        "until `failoverctl force-deactivate`."},
    {"standby", "retry", C_PULL, "PULL FAILED: {pull_error}. The standby is stopped; retrying."},
    {"standby", "retry", C_FIRST_ATTEMPT, "Standby {action} failed: {standby_error}. Retrying."},
    {"error", "startup-grace", C_OPEN,
        "PRIMARY NOT HEALTHY SINCE START: {last_error}. No automatic failover before "
        "{grace_until} (STARTUP_GRACE); check LOCAL_HEALTH_URL and the primary."},
    {"error", "activation", C_OPEN, "ACTIVATION DEGRADED: {error}.{last_standby_error}"},
    {"error", "deactivation", C_OPEN, "FAILBACK DEGRADED: {error}.{last_standby_error}"},
    {"error", "fence", C_OPEN, "ACTIVATION HELD: {error}. Retrying."},
    {"error", "fly-api", C_IN_ACTION,
        "STANDBY {action} FAILED and needs a person: {error}. Retrying every {config_retry}."},
    {"error", "fly-api", C_OPEN, "THE FLY API REJECTS failoverd: {error}"},
    {"error", "standby", C_OPEN,
        "THE STANDBY STOPPED: no machine of {standby} is running while it should serve; "
        "starting it again."},
    {"error", "standby-health", C_OPEN, "THE STANDBY IS UNHEALTHY: {error}."},
    {"error", "sync", C_OPEN, "PULL FAILED, needs a person: {error}."},
    {"hook", "failback", C_FAILED, "FAILBACK_CMD {hook_result}; the primary serves anyway."},
    {"pause", NULL, C_EXPIRED, "PAUSE EXPIRED: automatic checks and failover are back on."},
    {"daemon", "stop", C_ANY,
        "failoverd is stopping (state {state}{paused}). The standby is left as it is."},
};

static const char *
field(json_object *ev, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(ev, name, &v) || v == NULL)
		return NULL;
	return json_object_get_string(v);
}

static bool
field_bool(json_object *ev, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(ev, name, &v) && json_object_get_boolean(v);
}

/* "12.5s", "3m 20s", "2h 5m". */
const char *
notify_dur(int64_t ms, char *buf, size_t len)
{
	if (ms < 0)
		ms = 0;
	if (ms < 10000)
		snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
	else if (ms < 3600000)
		snprintf(
		    buf, len, "%lldm %llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
	else
		snprintf(buf, len, "%lldh %lldm", (long long)(ms / 3600000),
		    (long long)(ms / 60000 % 60));
	return buf;
}

static bool
cond_met(enum cond c, json_object *ev, const struct notify_ctx *x)
{
	const char *s;

	switch (c) {
	case C_ANY: return true;
	case C_ABORTING: return x->aborting;
	case C_RECORDED_FAILING_OVER:
		return x->recorded != NULL && !strcmp(x->recorded, "failing-over");
	case C_DETECTED: return x->detect_ms >= 0;
	case C_OPEN: return !field_bool(ev, "cleared");
	case C_FIRST_ATTEMPT: return x->provider_retry;
	case C_PULL: return x->pull_error != NULL;
	case C_IN_ACTION: return !field_bool(ev, "cleared") && x->action != NULL;
	case C_FAILED: return !field_bool(ev, "ok");
	case C_EXPIRED: return !field_bool(ev, "paused") && x->pause_expired;
	case C_AWAITED:
		return (s = field(ev, "detail")) != NULL && strstr(s, "manual failback awaited");
	case C_FORCED: return x->forced_cause;
	case C_FORCED_PAUSE: return x->forced_cause && x->force_paused;
	}
	return false;
}

/* The value of a placeholder. */
static const char *
value(const char *name, json_object *ev, const struct notify_ctx *x, char *buf, size_t len)
{
	const char *s;

	if (!strcmp(name, "standby"))
		return x->standby != NULL ? x->standby : "?";
	if (!strcmp(name, "detect"))
		return notify_dur(x->detect_ms, buf, len);
	if (!strcmp(name, "activation"))
		return notify_dur(x->transition_ms, buf, len);
	if (!strcmp(name, "outage"))
		return notify_dur(x->outage_ms, buf, len);
	if (!strcmp(name, "active"))
		return notify_dur(x->active_ms, buf, len);
	if (!strcmp(name, "cost")) {
		snprintf(buf, len, "%.4f", x->cost_usd);
		return buf;
	}
	if (!strcmp(name, "how"))
		return x->forced ? "forced" : "failover";
	if (!strcmp(name, "action"))
		return x->action != NULL                ? x->action
		    : (s = field(ev, "action")) != NULL ? s
		                                        : "action";
	if (!strcmp(name, "standby_error"))
		return x->standby_error != NULL && *x->standby_error ? x->standby_error
		                                                     : field(ev, "detail");
	if (!strcmp(name, "last_standby_error")) {
		if (x->standby_error == NULL || !*x->standby_error)
			return "";
		snprintf(buf, len, " Last error: %s", x->standby_error);
		return buf;
	}
	if (!strcmp(name, "pull_error"))
		return x->pull_error != NULL ? x->pull_error : "?";
	if (!strcmp(name, "last_error"))
		return x->last_error != NULL ? x->last_error : "?";
	if (!strcmp(name, "grace_until"))
		return util_time_fmt(x->grace_until, buf, len);
	if (!strcmp(name, "config_retry"))
		return notify_dur(x->config_retry_ms, buf, len);
	if (!strcmp(name, "pause"))
		return util_duration_fmt(x->pause_ms, buf, len);
	if (!strcmp(name, "state"))
		return x->state != NULL ? x->state : "?";
	if (!strcmp(name, "paused"))
		return x->paused ? ", paused" : "";
	if (!strcmp(name, "hook_result")) {
		if (field_bool(ev, "timed_out"))
			return "timed out";
		snprintf(buf, len, "exited %s", (s = field(ev, "exit_code")) != NULL ? s : "?");
		return buf;
	}
	s = field(ev, name); /* reason, error, detail */
	return s != NULL ? s : "";
}

static char *
expand(const char *tmpl, json_object *ev, const struct notify_ctx *x)
{
	char out[2048], name[32], buf[512];
	size_t o = 0;

	for (const char *p = tmpl; *p != '\0' && o + 1 < sizeof(out);) {
		const char *end;
		size_t n;

		if (*p != '{' || (end = strchr(p, '}')) == NULL ||
		    (n = (size_t)(end - p - 1)) >= sizeof(name)) {
			out[o++] = *p++;
			continue;
		}
		memcpy(name, p + 1, n);
		name[n] = '\0';
		o += strlcpy(out + o, value(name, ev, x, buf, sizeof(buf)), sizeof(out) - o);
		if (o >= sizeof(out))
			o = sizeof(out) - 1;
		p = end + 1;
	}
	out[o] = '\0';
	return xstrdup(out);
}

char *
notify_text_for(json_object *ev, const struct notify_ctx *x)
{
	const char *type = field(ev, "type"), *k;
	char key[64];

	if (type == NULL)
		return NULL;
	if (!strcmp(type, "state"))
		snprintf(key, sizeof(key), "%s>%s", field(ev, "from") ? field(ev, "from") : "",
		    field(ev, "to") ? field(ev, "to") : "");
	else {
		k = !strcmp(type, "error") || !strcmp(type, "daemon") ? field(ev, "what")
		    : !strcmp(type, "standby")                        ? field(ev, "phase")
		    : !strcmp(type, "hook")                           ? field(ev, "hook")
		                                                      : NULL;
		strlcpy(key, k != NULL ? k : "", sizeof(key));
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const struct tg_text *t = &texts[i];

		if (strcmp(t->type, type) != 0 || (t->key != NULL && strcmp(t->key, key) != 0))
			continue;
		if (cond_met(t->cond, ev, x))
			return expand(t->text, ev, x);
	}
	return NULL;
}

/* --- the listener -------------------------------------------------------------- */

#define OPEN_MAX 16

struct notify_listener {
	struct notifier *n;
	struct events *events;
	notify_ctx_cb *ctx_cb;
	void *ctx_arg;
	/* The errors told and not yet cleared: each is told once. */
	char open[OPEN_MAX][32];
	int nopen;
};

/* An error event: true when it is to be told (it opens); keeps the set. */
static bool
error_opens(struct notify_listener *l, json_object *ev)
{
	const char *what = field(ev, "what");
	bool cleared = field_bool(ev, "cleared");

	if (what == NULL)
		return false;
	for (int i = 0; i < l->nopen; i++)
		if (strcmp(l->open[i], what) == 0) {
			if (cleared)
				memmove(l->open[i], l->open[i + 1],
				    (size_t)(--l->nopen - i) * sizeof(l->open[0]));
			return false;
		}
	if (cleared)
		return false;
	if (l->nopen == OPEN_MAX)
		memmove(l->open[0], l->open[1], (size_t)--l->nopen * sizeof(l->open[0]));
	strlcpy(l->open[l->nopen++], what, sizeof(l->open[0]));
	return true;
}

static void
listener_on_event(const struct evrec *rec, json_object *ev, void *arg)
{
	struct notify_listener *l = arg;
	const struct config *cfg = notifier_config(l->n);
	struct notify_ctx x;
	char host[64], *text, *msg;

	if (!notify_telegram_enabled(cfg))
		return;
	if (strcmp(rec->type, "error") == 0 && !error_opens(l, ev))
		return;
	memset(&x, 0, sizeof(x));
	x.detect_ms = -1;
	if (l->ctx_cb != NULL)
		l->ctx_cb(&x, l->ctx_arg);
	if (x.quiet)
		return; /* COORDINATOR=etcd: a follower tells nothing */
	if ((text = notify_text_for(ev, &x)) == NULL)
		return;
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "?", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	msg = xasprintf("failoverd%s%s on %s: %s", cfg->instance != NULL ? " " : "",
	    cfg->instance != NULL ? cfg->instance : "", host, text);
	notifier_send(l->n, msg);
	free(msg);
	free(text);
}

static const char *const told_types[] = {
    "state", "standby", "error", "hook", "pause", "daemon", NULL};

struct notify_listener *
notify_listen(struct notifier *n, struct events *events, notify_ctx_cb *cb, void *arg)
{
	struct notify_listener *l = xcalloc(1, sizeof(*l));

	l->n = n;
	l->events = events;
	l->ctx_cb = cb;
	l->ctx_arg = arg;
	events_subscribe(events, told_types, listener_on_event, l);
	return l;
}

void
notify_listener_free(struct notify_listener *l)
{
	if (l == NULL)
		return;
	events_unsubscribe(l->events, listener_on_event, l);
	free(l);
}
