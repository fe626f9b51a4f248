/*
 * failoverctl's event lines: one line a person reads per event, a summary
 * for each type (a table of printers) and, for a type this client does not
 * know, every field as it is.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "output_int.h"
#include "util.h"

/* Keys every event has, shown at the start of the line. */
static const char *const ev_common[] = {"seq", "time", "type", NULL};

/* The fields a type's summary did not show, as key=value; nulls left out. */
static void
ev_rest(FILE *fp, json_object *ev, const char *const *shown)
{
	json_object_object_foreach(ev, key, val)
	{
		bool skip = val == NULL;

		for (size_t i = 0; ev_common[i] != NULL && !skip; i++)
			skip = strcmp(key, ev_common[i]) == 0;
		for (size_t i = 0; shown != NULL && shown[i] != NULL && !skip; i++)
			skip = strcmp(key, shown[i]) == 0;
		if (skip)
			continue;
		fputc(' ', fp);
		put_safe(fp, key);
		fputc('=', fp);
		put_value(fp, val);
	}
}

static void
ev_str(FILE *fp, json_object *ev, const char *key, const char *dflt)
{
	const char *s = jstr(ev, key);

	if (s == NULL && dflt == NULL)
		return;
	fputc(' ', fp);
	put_safe(fp, s != NULL ? s : dflt);
}

static void
ev_ok(FILE *fp, json_object *ev, const char *yes, const char *no)
{
	bool ok;

	if (jbool(ev, "ok", &ok))
		fprintf(fp, " %s", ok ? yes : no);
}

/* The last non-empty line of a child's output. */
static void
ev_output_tail(FILE *fp, json_object *ev)
{
	const char *out = jstr(ev, "output"), *end, *start;
	char *line;

	if (out == NULL)
		return;
	end = out + strlen(out);
	while (end > out && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	if (end == out)
		return;
	for (start = end; start > out && start[-1] != '\n'; start--)
		;
	if ((line = strndup(start, (size_t)(end - start))) == NULL)
		return;
	fputs(" output=", fp);
	put_word(fp, line);
	free(line);
}

static void
ev_state(FILE *fp, json_object *ev)
{
	static const char *const shown[] = {"from", "to", "reason", NULL};

	ev_str(fp, ev, "from", "?");
	fputs(" ->", fp);
	ev_str(fp, ev, "to", "?");
	if (jstr(ev, "reason") != NULL) {
		fputs(" (", fp);
		put_safe(fp, jstr(ev, "reason"));
		fputc(')', fp);
	}
	ev_rest(fp, ev, shown);
}

static void
ev_check(FILE *fp, json_object *ev)
{
	static const char *const shown[] = {"healthy", "status", "latency_ms", NULL};
	int64_t n;
	double d;
	bool b;

	fputs(!jbool(ev, "healthy", &b) ? " unknown" : b ? " healthy" : " unhealthy", fp);
	if (jint(ev, "status", &n))
		fprintf(fp, " HTTP %" PRId64, n);
	if (jnum(ev, "latency_ms", &d))
		fprintf(fp, " %.1fms", d);
	ev_rest(fp, ev, shown);
}

static void
ev_standby(FILE *fp, json_object *ev)
{
	static const char *const shown[] = {"action", "phase", "detail", NULL};

	ev_str(fp, ev, "action", "?");
	ev_str(fp, ev, "phase", NULL);
	if (jstr(ev, "detail") != NULL) {
		fputs(": ", fp);
		put_safe(fp, jstr(ev, "detail"));
	}
	ev_rest(fp, ev, shown);
}

/* sync and hook: what ran, how it ended; exit details and output only on failure. */
static void
ev_run(FILE *fp, json_object *ev, const char *what)
{
	static const char *const shown_ok[] = {"direction", "hook", "ok", "duration_ms",
	    "exit_code", "signal", "timed_out", "output", NULL};
	static const char *const shown_failed[] = {
	    "direction", "hook", "ok", "duration_ms", "timed_out", "output", NULL};
	bool failed = !output_sync_ok(ev);
	int64_t n;

	ev_str(fp, ev, what, "?");
	ev_ok(fp, ev, "ok", "FAILED");
	if (jint(ev, "duration_ms", &n))
		fprintf(fp, " %" PRId64 "ms", n);
	if (jtrue(ev, "timed_out"))
		fputs(" timed-out", fp);
	ev_rest(fp, ev, failed ? shown_failed : shown_ok);
	if (failed)
		ev_output_tail(fp, ev);
}

static void
ev_pause(FILE *fp, json_object *ev)
{
	static const char *const shown[] = {"paused", "paused_until", NULL};
	bool paused;

	if (!jbool(ev, "paused", &paused))
		fputs(" ?", fp);
	else if (!paused)
		fputs(" resumed", fp);
	else if (jstr(ev, "paused_until") != NULL) {
		fputs(" paused until ", fp);
		put_safe(fp, jstr(ev, "paused_until"));
	} else
		fputs(" paused until resume", fp);
	ev_rest(fp, ev, shown);
}

/* "WHAT: TEXT", for error and drift. */
static void
ev_text(FILE *fp, json_object *ev, const char *first, const char *second)
{
	const char *const shown[] = {first, second, NULL};
	const char *a = jstr(ev, first), *b = second != NULL ? jstr(ev, second) : NULL;

	if (a != NULL) {
		fputc(' ', fp);
		put_safe(fp, a);
		if (b != NULL)
			fputc(':', fp);
	}
	if (b != NULL) {
		fputc(' ', fp);
		put_safe(fp, b);
	}
	ev_rest(fp, ev, shown);
}

/* A type with a leading word and ok/failed: notify, control, daemon. */
static void
ev_simple(FILE *fp, json_object *ev, const char *word, const char *yes, const char *no)
{
	const char *const shown[] = {word, "ok", NULL};

	ev_str(fp, ev, word, "?");
	ev_ok(fp, ev, yes, no);
	ev_rest(fp, ev, shown);
}

/* How each event type is summed up: a printer and its words. */
struct ev_printer {
	const char *type;
	void (*print)(FILE *, json_object *, const struct ev_printer *);
	const char *word, *yes, *no;
};

static void
evp_state(FILE *fp, json_object *ev, const struct ev_printer *p)
{
	(void)p;
	ev_state(fp, ev);
}

static void
evp_check(FILE *fp, json_object *ev, const struct ev_printer *p)
{
	(void)p;
	ev_check(fp, ev);
}

static void
evp_standby(FILE *fp, json_object *ev, const struct ev_printer *p)
{
	(void)p;
	ev_standby(fp, ev);
}

static void
evp_run(FILE *fp, json_object *ev, const struct ev_printer *p)
{
	ev_run(fp, ev, p->word);
}

static void
evp_simple(FILE *fp, json_object *ev, const struct ev_printer *p)
{
	ev_simple(fp, ev, p->word, p->yes, p->no);
}

static void
evp_pause(FILE *fp, json_object *ev, const struct ev_printer *p)
{
	(void)p;
	ev_pause(fp, ev);
}

static void
evp_text(FILE *fp, json_object *ev, const struct ev_printer *p)
{
	ev_text(fp, ev, p->word, p->yes);
}

/* leader: "m2 (epoch 42), this monitor: follower", or "none". */
static void
evp_leader(FILE *fp, json_object *ev, const struct ev_printer *p)
{
	const char *const shown[] = {"node", "epoch", "role", NULL};
	int64_t n;

	(void)p;
	fputc(' ', fp);
	put_safe(fp, jstr(ev, "node") != NULL ? jstr(ev, "node") : "none");
	if (jint(ev, "epoch", &n) && n > 0 && jstr(ev, "node") != NULL)
		fprintf(fp, " (epoch %" PRId64 ")", n);
	if (jstr(ev, "role") != NULL) {
		fputs(", this monitor: ", fp);
		put_safe(fp, jstr(ev, "role"));
	}
	ev_rest(fp, ev, shown);
}

static const struct ev_printer ev_printers[] = {
    {"state", evp_state, NULL, NULL, NULL},
    {"check", evp_check, NULL, NULL, NULL},
    {"standby", evp_standby, NULL, NULL, NULL},
    {"sync", evp_run, "direction", NULL, NULL},
    {"hook", evp_run, "hook", NULL, NULL},
    {"notify", evp_simple, "channel", "ok", "FAILED"},
    {"control", evp_simple, "cmd", "allowed", "DENIED"},
    {"pause", evp_pause, NULL, NULL, NULL},
    {"drift", evp_text, "detail", NULL, NULL},
    {"error", evp_text, "what", "error", NULL},
    {"daemon", evp_simple, "what", "ok", "FAILED"},
    {"watch", evp_text, "what", "detail", NULL},
    {"leader", evp_leader, NULL, NULL, NULL},
    {"isolated", evp_text, "detail", NULL, NULL},
    {"quorum", evp_text, "detail", NULL, NULL},
};

static const struct ev_printer *
ev_printer_for(const char *type)
{
	if (type == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(ev_printers) / sizeof(ev_printers[0]); i++)
		if (strcmp(ev_printers[i].type, type) == 0)
			return &ev_printers[i];
	return NULL;
}

char *
output_event_line(json_object *ev)
{
	const char *type = jstr(ev, "type"), *t = jstr(ev, "time");
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	put_safe(fp, t != NULL ? t : "-");
	fputc(' ', fp);
	put_safe(fp, type != NULL ? type : "?");
	if (ev != NULL && json_object_is_type(ev, json_type_object)) {
		const struct ev_printer *p = ev_printer_for(type);

		if (p != NULL)
			p->print(fp, ev, p);
		else
			ev_rest(fp, ev, NULL); /* a newer daemon's type: every field as is */
	}
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
