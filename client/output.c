/* failoverctl's output: -j JSON lines, and summaries a person reads at a glance. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output.h"
#include "output_int.h"
#include "util.h"

#define LABEL "%-9s "
#define INDENT "          "

/* Typed lookups: NULL/false when o is not an object, or key is missing, null or of another type. */
json_object *
jget(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

json_object *
jobj(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return json_object_is_type(v, json_type_object) ? v : NULL;
}

json_object *
jarr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return json_object_is_type(v, json_type_array) ? v : NULL;
}

const char *
jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

bool
jbool(json_object *o, const char *key, bool *out)
{
	json_object *v = jget(o, key);

	if (!json_object_is_type(v, json_type_boolean))
		return false;
	*out = json_object_get_boolean(v);
	return true;
}

/* True only for a JSON true. */
bool
jtrue(json_object *o, const char *key)
{
	bool b = false;

	return jbool(o, key, &b) && b;
}

bool
jnum(json_object *o, const char *key, double *out)
{
	json_object *v = jget(o, key);

	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return false;
	*out = json_object_get_double(v);
	return isfinite(*out);
}

bool
jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v = jget(o, key);
	double d;

	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return true;
	}
	if (!jnum(o, key, &d) || d < -9e15 || d > 9e15)
		return false;
	*out = (int64_t)d;
	return true;
}

/* s through util_clean with flags, on fp. */
void
put_clean(FILE *fp, const char *s, unsigned flags)
{
	size_t len = strlen(s), cap = len * 4 + 1; /* "\\xHH" is the longest */
	char *buf = xcalloc(1, cap);

	util_clean(buf, cap, s, len, flags);
	fputs(buf, fp);
	free(buf);
}

/* Daemon text on a terminal: control characters are escaped, never sent. */
void
put_safe(FILE *fp, const char *s)
{
	put_clean(fp, s, UTIL_CLEAN_ESCAPE);
}

/* A value for key=value: bare when it is one plain word, else quoted. */
void
put_word(FILE *fp, const char *s)
{
	bool bare = *s != '\0';

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && bare; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			bare = false;
	if (bare) {
		fputs(s, fp);
		return;
	}
	fputc('"', fp);
	put_clean(fp, s, UTIL_CLEAN_ESCAPE | UTIL_CLEAN_QUOTE);
	fputc('"', fp);
}

/* Any JSON value for key=value. */
void
put_value(FILE *fp, json_object *v)
{
	if (v == NULL)
		fputs("null", fp);
	else if (json_object_is_type(v, json_type_string))
		put_word(fp, json_object_get_string(v));
	else
		put_safe(fp,
		    json_object_to_json_string_ext(
		        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Key names joined by ", "; non-strings as JSON. */
void
put_list(FILE *fp, json_object *arr)
{
	json_object *v;

	for (size_t i = 0; arr != NULL && i < json_object_array_length(arr); i++) {
		v = json_object_array_get_idx(arr, i);
		if (i > 0)
			fputs(", ", fp);
		if (json_object_is_type(v, json_type_string))
			put_safe(fp, json_object_get_string(v));
		else
			put_value(fp, v);
	}
}

void
output_json(FILE *fp, json_object *o)
{
	fprintf(fp, "%s\n",
	    json_object_to_json_string_ext(
	        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

char *
output_span(int64_t ms, char *buf, size_t len)
{
	int64_t s;

	if (ms < 0)
		ms = -ms;
	s = ms / 1000;
	if (ms == 0)
		snprintf(buf, len, "0s");
	else if (ms < 1000)
		snprintf(buf, len, "%" PRId64 "ms", ms);
	else if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
	return buf;
}

/*
 * ms as local time, "2026-12-04 13:15:53 CET", when TZ is set (the daemon's
 * times are UTC); false, printing nothing, when TZ is not set.
 */
bool
put_local(FILE *fp, const char *prefix, int64_t ms)
{
	const char *tz = getenv("TZ");
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[64];

	if (tz == NULL || *tz == '\0' || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		return false;
	fputs(prefix, fp);
	put_safe(fp, buf);
	return true;
}

/* "TIME (LOCAL TIME)" with TZ set, else TIME. */
void
put_time(FILE *fp, const char *t)
{
	int64_t ms;

	put_safe(fp, t);
	if (util_time_parse(t, &ms) == 0 && put_local(fp, " (", ms))
		fputc(')', fp);
}

/*
 * "TIME (5m 2s ago)" or "TIME (in 3m 0s)", with TZ set "TIME (LOCAL TIME, 5m
 * 2s ago)"; just TIME when it does not parse.
 */
void
put_time_rel(FILE *fp, const char *t, int64_t now_ms)
{
	char span[32];
	int64_t ms;

	put_safe(fp, t);
	if (util_time_parse(t, &ms) == -1)
		return;
	if (put_local(fp, " (", ms))
		fputs(", ", fp);
	else
		fputs(" (", fp);
	if (now_ms >= ms)
		fprintf(fp, "%s ago)", output_span(now_ms - ms, span, sizeof(span)));
	else
		fprintf(fp, "in %s)", output_span(ms - now_ms, span, sizeof(span)));
}

void
put_ms(FILE *fp, double ms)
{
	fprintf(fp, ms < 10 ? "%.1f ms" : "%.0f ms", ms);
}

static void
status_state(FILE *fp, json_object *st, int64_t now_ms)
{
	const char *state = jstr(st, "state"), *since = jstr(st, "state_since");
	const char *flags[] = {"paused", "forced", "degraded"};
	char span[32];
	int64_t ms;
	int nflags = 0;

	fprintf(fp, LABEL, "state");
	put_safe(fp, state != NULL ? state : "unknown");
	if (since != NULL && util_time_parse(since, &ms) == 0) {
		fprintf(fp, " for %s (since ", output_span(now_ms - ms, span, sizeof(span)));
		put_safe(fp, since);
		(void)put_local(fp, ", ", ms);
		fputc(')', fp);
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (jtrue(st, flags[i]))
			fprintf(fp, "%s%s", nflags++ == 0 ? " [" : ", ", flags[i]);
	fputs(nflags > 0 ? "]\n" : "\n", fp);
	if (jstr(st, "reason") != NULL) {
		fprintf(fp, LABEL, "reason");
		put_safe(fp, jstr(st, "reason"));
		fputc('\n', fp);
	}
	if (jtrue(st, "paused")) {
		fprintf(fp, LABEL "until ", "paused");
		if (jstr(st, "paused_until") != NULL)
			put_time_rel(fp, jstr(st, "paused_until"), now_ms);
		else
			fputs("resume", fp);
		fputc('\n', fp);
	}
}

/*
 * cause: what started the current or last transition. Any object is shown:
 * "WHAT by uid N: REASON-or-ERROR key=value...", whatever keys a daemon adds.
 */
static void
status_cause(FILE *fp, json_object *st)
{
	json_object *cause = jget(st, "cause");
	const char *what, *text, *text_key = NULL;
	int64_t uid;
	bool have_uid;

	if (cause == NULL || json_object_is_type(cause, json_type_null))
		return;
	fprintf(fp, LABEL, "cause");
	if (!json_object_is_type(cause, json_type_object)) {
		put_value(fp, cause);
		fputc('\n', fp);
		return;
	}
	what = jstr(cause, "what");
	put_safe(fp, what != NULL ? what : "?");
	if ((have_uid = jint(cause, "uid", &uid)))
		fprintf(fp, " by uid %" PRId64, uid);
	if ((text = jstr(cause, "reason")) != NULL)
		text_key = "reason";
	else if ((text = jstr(cause, "error")) != NULL)
		text_key = "error";
	if (text != NULL) {
		fputs(": ", fp);
		put_safe(fp, text);
	}
	/* Whatever was not shown above, as key=value (nulls left out). */
	json_object_object_foreach(cause, key, val)
	{
		if (val == NULL || (what != NULL && strcmp(key, "what") == 0) ||
		    (have_uid && strcmp(key, "uid") == 0) ||
		    (text_key != NULL && strcmp(key, text_key) == 0))
			continue;
		fputc(' ', fp);
		put_safe(fp, key);
		fputc('=', fp);
		put_value(fp, val);
	}
	fputc('\n', fp);
}

/* startup_grace_until: TIME while start-up grace holds automatic failover back. */
static void
status_grace(FILE *fp, json_object *st, int64_t now_ms)
{
	const char *until = jstr(st, "startup_grace_until");

	if (until == NULL)
		return;
	fprintf(fp, LABEL "no automatic failover until ", "grace");
	put_time_rel(fp, until, now_ms);
	fputs(" or the primary is healthy once (STARTUP_GRACE)\n", fp);
}

/* config_file and restart_needed; left out when the daemon does not send them. */
static void
status_config(FILE *fp, json_object *st)
{
	json_object *v = NULL, *keys = jarr(st, "restart_needed");

	/* Present and null means "none read"; absent means an older daemon. */
	if (json_object_is_type(st, json_type_object) &&
	    json_object_object_get_ex(st, "config_file", &v)) {
		fprintf(fp, LABEL, "config");
		if (json_object_is_type(v, json_type_string))
			put_safe(fp, json_object_get_string(v));
		else if (json_object_is_type(v, json_type_null))
			fputs("none read: built-in defaults", fp);
		else
			put_value(fp, v);
		fputc('\n', fp);
	}
	if (keys != NULL && json_object_array_length(keys) > 0) {
		fprintf(
		    fp, LABEL "changed by a reload but not applied until a restart: ", "restart");
		put_list(fp, keys);
		fputc('\n', fp);
	}
}

static void
status_local(FILE *fp, json_object *local, int64_t now_ms)
{
	const char *sep = "";
	int64_t n, m;
	double d;
	bool b;

	fprintf(fp, LABEL, "primary");
	if (local == NULL) {
		fputs("unknown\n", fp);
		return;
	}
	fputs(!jbool(local, "healthy", &b) ? "not checked yet" : b ? "healthy" : "unhealthy", fp);
	if (jstr(local, "url") != NULL) {
		fputs("  ", fp);
		put_safe(fp, jstr(local, "url"));
	}
	fputc('\n', fp);
	if (jstr(local, "last_check") != NULL) {
		fputs(INDENT "last check ", fp);
		put_time_rel(fp, jstr(local, "last_check"), now_ms);
		fputc(':', fp);
		if (jint(local, "last_status", &n)) {
			fprintf(fp, " HTTP %" PRId64, n);
			sep = ",";
		}
		if (jnum(local, "last_latency_ms", &d)) {
			fprintf(fp, "%s ", sep);
			put_ms(fp, d);
			sep = ",";
		}
		if (jstr(local, "last_error") != NULL) {
			fprintf(fp, "%s error: ", sep);
			put_safe(fp, jstr(local, "last_error"));
		}
		fputc('\n', fp);
	}
	fprintf(fp, INDENT "consecutive failures %" PRId64 ", successes %" PRId64,
	    jint(local, "consecutive_failures", &n) ? n : 0,
	    jint(local, "consecutive_successes", &m) ? m : 0);
	if (jint(local, "checks_total", &n)) {
		fprintf(fp, "; %" PRId64 " check%s", n, n == 1 ? "" : "s");
		if (jint(local, "checks_failed", &m))
			fprintf(fp, ", %" PRId64 " failed", m);
	}
	fputc('\n', fp);
}

static void
status_standby(FILE *fp, json_object *sb, int64_t now_ms)
{
	json_object *machines = jarr(sb, "machines"), *m;
	const char *s;
	char span[32];
	int64_t n;
	double d;
	bool b, have_n;

	fprintf(fp, LABEL, "standby");
	if (sb == NULL) {
		fputs("unknown\n", fp);
		return;
	}
	put_safe(fp, jstr(sb, "provider") != NULL ? jstr(sb, "provider") : "unknown provider");
	if ((s = jstr(sb, "app")) != NULL) {
		fputs(" app ", fp);
		put_safe(fp, s);
	}
	if (jbool(sb, "active", &b))
		fputs(b ? ", active" : ", inactive", fp);
	if ((s = jstr(sb, "active_since")) != NULL) {
		fputs(" since ", fp);
		put_time_rel(fp, s, now_ms);
	}
	if (jbool(sb, "healthy", &b))
		fputs(b ? ", healthy" : ", unhealthy", fp);
	fputc('\n', fp);
	if ((s = jstr(sb, "last_error")) != NULL) {
		fputs(INDENT "last error: ", fp);
		put_safe(fp, s);
		fputc('\n', fp);
	}
	if (machines == NULL)
		fputs(INDENT "machines not listed yet\n", fp);
	else if (json_object_array_length(machines) == 0)
		fputs(INDENT "no machines\n", fp);
	for (size_t i = 0; machines != NULL && i < json_object_array_length(machines); i++) {
		m = json_object_array_get_idx(machines, i);
		fputs(INDENT "machine ", fp);
		put_safe(fp, jstr(m, "id") != NULL ? jstr(m, "id") : "?");
		fputc(' ', fp);
		put_safe(fp, jstr(m, "state") != NULL ? jstr(m, "state") : "unknown");
		if (jstr(m, "region") != NULL) {
			fputc(' ', fp);
			put_safe(fp, jstr(m, "region"));
		}
		fputc('\n', fp);
	}
	have_n = jint(sb, "active_seconds_total", &n);
	if (have_n || jnum(sb, "estimated_cost_usd", &d)) {
		fputs(INDENT, fp);
		if (have_n)
			fprintf(
			    fp, "active %s in total", output_span(n * 1000, span, sizeof(span)));
		if (jnum(sb, "estimated_cost_usd", &d))
			fprintf(fp, "%sestimated cost $%.4f", have_n ? ", " : "", d);
		fputc('\n', fp);
	}
}

static void
status_sync_one(FILE *fp, const char *what, json_object *run, int64_t now_ms)
{
	const char *t = jstr(run, "time"), *err = jstr(run, "error");
	int64_t n;
	bool ok;

	fprintf(fp, "last %s ", what);
	if (run == NULL) {
		fputs("never", fp);
		return;
	}
	if (t != NULL)
		put_time_rel(fp, t, now_ms);
	if (jbool(run, "ok", &ok))
		fputs(ok ? " ok" : " FAILED", fp);
	if (jint(run, "duration_ms", &n))
		fprintf(fp, " in %" PRId64 " ms", n);
	if (err != NULL) {
		fputs(": ", fp);
		put_safe(fp, err);
	}
}

static void
status_sync(FILE *fp, json_object *sync, int64_t now_ms)
{
	bool b;

	fprintf(fp, LABEL, "sync");
	if (sync == NULL) {
		fputs("unknown\n", fp);
		return;
	}
	if (jbool(sync, "enabled", &b) && !b) {
		fputs("off\n", fp);
		return;
	}
	status_sync_one(fp, "push", jobj(sync, "last_push"), now_ms);
	fputs("\n" INDENT, fp);
	status_sync_one(fp, "pull", jobj(sync, "last_pull"), now_ms);
	fputc('\n', fp);
	if (jstr(sync, "running") != NULL) {
		fputs(INDENT "a ", fp);
		put_safe(fp, jstr(sync, "running"));
		fputs(" is running\n", fp);
	}
	if (jtrue(sync, "pushes_suspended"))
		fputs(INDENT "PUSHES SUSPENDED since a pull failed: the remote may hold newer "
		             "state; `failoverctl sync pull` (or `sync push -f` to overwrite it)\n",
		    fp);
}

static void
status_count(
    FILE *fp, json_object *c, const char *key, const char *what, const char *last, int64_t now_ms)
{
	const char *t = jstr(c, last);
	int64_t n = 0;

	(void)jint(c, key, &n);
	fprintf(fp, "%" PRId64 " %s%s", n, what, n == 1 ? "" : "s");
	if (t != NULL) {
		fputs(", last ", fp);
		put_time_rel(fp, t, now_ms);
	}
}

static void
status_counters(FILE *fp, json_object *c, int64_t now_ms)
{
	if (c == NULL)
		return;
	fprintf(fp, LABEL, "history");
	status_count(fp, c, "failovers", "failover", "last_failover", now_ms);
	fputs("; ", fp);
	status_count(fp, c, "failbacks", "failback", "last_failback", now_ms);
	fputc('\n', fp);
}

/* COORDINATOR=etcd: this monitor's role, the leader, the lease, and each
 * live monitor's view. Nothing with COORDINATOR=none (null). */
static void
status_coordination(FILE *fp, json_object *co, int64_t now_ms)
{
	json_object *mons = jarr(co, "monitors"), *held = jarr(co, "held_by");
	int64_t n;
	double d;
	bool b;

	if (co == NULL)
		return;
	fprintf(fp, LABEL, "monitors");
	put_safe(fp, jstr(co, "node") != NULL ? jstr(co, "node") : "?");
	fputs(" is ", fp);
	put_safe(fp, jstr(co, "role") != NULL ? jstr(co, "role") : "?");
	fputs("; leader ", fp);
	put_safe(fp, jstr(co, "leader") != NULL ? jstr(co, "leader") : "none");
	if (jint(co, "epoch", &n) && n > 0)
		fprintf(fp, " (epoch %" PRId64 ")", n);
	if (jnum(co, "lease_ttl_s", &d))
		fprintf(fp, "; lease %.1fs left", d);
	if (jbool(co, "ok", &b) && !b) {
		fputs("; etcd: ", fp);
		put_safe(fp, jstr(co, "error") != NULL ? jstr(co, "error") : "not answering");
	}
	fputc('\n', fp);
	if (held != NULL && json_object_array_length(held) > 0) {
		fputs(INDENT "held back by ", fp);
		put_list(fp, held);
		fputc('\n', fp);
	}
	for (size_t i = 0; mons != NULL && i < json_object_array_length(mons); i++) {
		json_object *m = json_object_array_get_idx(mons, i);

		fputs(INDENT, fp);
		put_safe(fp, jstr(m, "node") != NULL ? jstr(m, "node") : "?");
		fputs(": ", fp);
		fputs(!jbool(m, "healthy", &b) ? "not checked yet"
		        : b                    ? "healthy"
		                               : "unhealthy",
		    fp);
		fprintf(fp, ", failures %" PRId64, jint(m, "failures", &n) ? n : 0);
		fprintf(fp, ", successes %" PRId64, jint(m, "successes", &n) ? n : 0);
		if (jstr(m, "at") != NULL) {
			fputs(", ", fp);
			put_time_rel(fp, jstr(m, "at"), now_ms);
		}
		if (jtrue(m, "state_dir"))
			fputs(", STATE_DIR", fp);
		fputc('\n', fp);
	}
}

static void
status_errors(FILE *fp, json_object *errors)
{
	json_object *e;
	size_t n = errors != NULL ? json_object_array_length(errors) : 0;

	for (size_t i = 0; i < n; i++) {
		e = json_object_array_get_idx(errors, i);
		fprintf(fp, LABEL, i == 0 ? "errors" : "");
		if (jstr(e, "time") != NULL) {
			put_time(fp, jstr(e, "time"));
			fputc(' ', fp);
		}
		put_safe(fp, jstr(e, "what") != NULL ? jstr(e, "what") : "error");
		fputs(": ", fp);
		put_safe(fp, jstr(e, "error") != NULL ? jstr(e, "error") : "?");
		if (jstr(e, "cleared") != NULL) {
			fputs(" (cleared ", fp);
			put_time(fp, jstr(e, "cleared"));
			fputc(')', fp);
		}
		fputc('\n', fp);
	}
}

void
output_status(FILE *fp, json_object *st, int64_t now_ms)
{
	json_object *notify = jobj(st, "notify");
	char span[32];
	int64_t n;

	status_state(fp, st, now_ms);
	status_cause(fp, st);
	status_grace(fp, st, now_ms);
	status_local(fp, jobj(st, "local"), now_ms);
	status_coordination(fp, jobj(st, "coordination"), now_ms);
	status_standby(fp, jobj(st, "standby"), now_ms);
	status_sync(fp, jobj(st, "sync"), now_ms);
	if (notify != NULL) {
		fprintf(fp, LABEL "%s", "notify",
		    jtrue(notify, "telegram") ? "telegram" : "no telegram");
		if (jint(notify, "pending", &n))
			fprintf(fp, ", %" PRId64 " pending", n);
		if (jstr(notify, "last_error") != NULL) {
			fputs("; last error: ", fp);
			put_safe(fp, jstr(notify, "last_error"));
		}
		fputc('\n', fp);
	}
	status_counters(fp, jobj(st, "counters"), now_ms);
	status_errors(fp, jarr(st, "errors"));
	status_config(fp, st);
	fprintf(fp, LABEL "failoverd ", "daemon");
	put_safe(fp, jstr(st, "version") != NULL ? jstr(st, "version") : "(unknown version)");
	if (jint(st, "pid", &n))
		fprintf(fp, ", pid %" PRId64, n);
	if (jint(st, "uptime_s", &n))
		fprintf(fp, ", up %s", output_span(n * 1000, span, sizeof(span)));
	if (jstr(st, "instance") != NULL) {
		fputs(", instance ", fp);
		put_safe(fp, jstr(st, "instance"));
	}
	fputc('\n', fp);
}

bool
output_check_healthy(json_object *res)
{
	return jtrue(res, "healthy");
}

int
output_selftest_failures(json_object *res)
{
	json_object *checks = jarr(res, "checks");
	int failed = 0;

	if (checks == NULL)
		return 1;
	for (size_t i = 0; i < json_object_array_length(checks); i++)
		if (!jtrue(json_object_array_get_idx(checks, i), "ok"))
			failed++;
	return failed;
}

bool
output_sync_ok(json_object *res)
{
	bool ok = true;

	(void)jbool(res, "ok", &ok);
	return ok;
}

bool
output_check(FILE *fp, json_object *res)
{
	const char *sep = ":";
	int64_t n;
	double d;
	bool healthy;

	if (!jbool(res, "healthy", &healthy)) {
		fputs("unknown: the reply does not say\n", fp);
		return false;
	}
	fputs(healthy ? "healthy" : "unhealthy", fp);
	if (jint(res, "status", &n)) {
		fprintf(fp, "%s HTTP %" PRId64, sep, n);
		sep = ",";
	}
	if (jnum(res, "latency_ms", &d)) {
		fprintf(fp, "%s ", sep);
		put_ms(fp, d);
		sep = ",";
	}
	if (jstr(res, "error") != NULL) {
		fprintf(fp, "%s error: ", sep);
		put_safe(fp, jstr(res, "error"));
	}
	fputc('\n', fp);
	return healthy;
}

int
output_selftest(FILE *fp, json_object *res)
{
	json_object *checks = jarr(res, "checks"), *c;
	int failed = 0;
	bool ok;

	if (checks == NULL) {
		fputs("FAIL  the reply has no list of checks\n", fp);
		return 1;
	}
	if (json_object_array_length(checks) == 0)
		fputs("no checks apply to this configuration\n", fp);
	for (size_t i = 0; i < json_object_array_length(checks); i++) {
		c = json_object_array_get_idx(checks, i);
		ok = jtrue(c, "ok");
		if (!ok)
			failed++;
		fputs(ok ? "ok    " : "FAIL  ", fp);
		put_safe(fp, jstr(c, "name") != NULL ? jstr(c, "name") : "?");
		if (jstr(c, "detail") != NULL) {
			fputs(": ", fp);
			put_safe(fp, jstr(c, "detail"));
		}
		fputc('\n', fp);
	}
	return failed;
}

void
output_help(FILE *fp, json_object *res)
{
	json_object *cmds = jarr(res, "commands"), *c;
	size_t width = 0, n = cmds != NULL ? json_object_array_length(cmds) : 0;
	const char *s;

	for (size_t i = 0; i < n; i++)
		if ((s = jstr(json_object_array_get_idx(cmds, i), "cmd")) != NULL &&
		    strlen(s) > width && strlen(s) < 40)
			width = strlen(s);
	for (size_t i = 0; i < n; i++) {
		c = json_object_array_get_idx(cmds, i);
		s = jstr(c, "cmd") != NULL ? jstr(c, "cmd") : "?";
		put_safe(fp, s);
		fprintf(fp, "%*s  ", strlen(s) < width ? (int)(width - strlen(s)) : 0, "");
		s = jstr(c, "level") != NULL ? jstr(c, "level") : "?";
		put_safe(fp, s);
		fprintf(fp, "%*s  ", strlen(s) < 5 ? (int)(5 - strlen(s)) : 0, "");
		put_safe(fp, jstr(c, "usage") != NULL ? jstr(c, "usage") : "");
		fputc('\n', fp);
	}
	if (n == 0)
		fputs("the daemon lists no commands\n", fp);
}

void
output_ping(FILE *fp, json_object *res)
{
	int64_t n;

	fputs("failoverd ", fp);
	put_safe(fp, jstr(res, "version") != NULL ? jstr(res, "version") : "(unknown version)");
	if (jint(res, "pid", &n))
		fprintf(fp, ", pid %" PRId64, n);
	if (jint(res, "protocol", &n))
		fprintf(fp, ", protocol %" PRId64, n);
	fputc('\n', fp);
}

/* COORDINATOR=etcd: a pair-wide command says which monitor carried it out. */
static void
put_acted_by(FILE *fp, json_object *res)
{
	if (jstr(res, "acted_by") == NULL)
		return;
	fputs(" (by ", fp);
	put_safe(fp, jstr(res, "acted_by"));
	fputc(')', fp);
}

void
output_pause(FILE *fp, json_object *res, int64_t now_ms)
{
	bool paused;

	if (!jbool(res, "paused", &paused)) {
		output_result(fp, "pause", res);
		return;
	}
	if (!paused) {
		fputs("resumed: automatic checks and actions are on", fp);
		put_acted_by(fp, res);
		fputc('\n', fp);
		return;
	}
	fputs("paused until ", fp);
	if (jstr(res, "paused_until") != NULL)
		put_time_rel(fp, jstr(res, "paused_until"), now_ms);
	else
		fputs("resume", fp);
	put_acted_by(fp, res);
	fputc('\n', fp);
}

bool
output_sync(FILE *fp, const char *direction, json_object *res)
{
	bool ok = output_sync_ok(res);
	int64_t n;

	put_safe(fp, direction != NULL ? direction : "sync");
	fputs(ok ? " done" : " FAILED", fp);
	if (jint(res, "duration_ms", &n))
		fprintf(fp, " in %" PRId64 " ms", n);
	if (jstr(res, "error") != NULL) {
		fputs(": ", fp);
		put_safe(fp, jstr(res, "error"));
	}
	put_acted_by(fp, res);
	fputc('\n', fp);
	return ok;
}

size_t
output_reload_restart_needed(json_object *res)
{
	json_object *keys = jarr(res, "restart_needed");

	return keys != NULL ? json_object_array_length(keys) : 0;
}

size_t
output_reload(FILE *fp, json_object *res)
{
	size_t n = output_reload_restart_needed(res);

	if (n == 0 && !jtrue(res, "reloaded")) {
		output_result(fp, "reload", res); /* not this daemon's usual reply: as is */
		return 0;
	}
	if (n == 0) {
		fputs("reloaded\n", fp);
		return 0;
	}
	fputs("reloaded, but these keys need a restart: ", fp);
	put_list(fp, jarr(res, "restart_needed"));
	fputs("\n(the running daemon still uses their old values; restart failoverd to apply "
	      "them)\n",
	    fp);
	return n;
}

void
output_result(FILE *fp, const char *cmd, json_object *res)
{
	int n = 0;

	if (res != NULL && json_object_is_type(res, json_type_object)) {
		json_object_object_foreach(res, key, val)
		{
			put_safe(fp, key);
			fputs(": ", fp);
			if (json_object_is_type(val, json_type_string))
				put_safe(fp, json_object_get_string(val));
			else
				put_value(fp, val);
			fputc('\n', fp);
			n++;
		}
	}
	if (n == 0)
		fprintf(fp, "%s: ok\n", cmd);
}

/* Event lines: "TIME TYPE summary key=value...". */
