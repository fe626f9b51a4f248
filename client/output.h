/* failoverctl's output: one JSON line per object (-j), or text for people. */
#ifndef FOD_OUTPUT_H
#define FOD_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

/*
 * Every printer takes whatever the daemon sent: any key may be missing,
 * null or of the wrong type (an older or newer daemon), and is then shown
 * as unknown or left out, never trusted.
 */

/* o as exactly one line of plain JSON. */
void output_json(FILE *fp, json_object *o);

/* "2h 13m", "45s", "3d 4h"; buf of at least 32 bytes. Returns buf. */
char *output_span(int64_t ms, char *buf, size_t len);

void output_status(FILE *fp, json_object *st, int64_t now_ms);
/* Returns true when the check was healthy. */
bool output_check(FILE *fp, json_object *res);
/* Returns the number of checks that did not pass. */
int output_selftest(FILE *fp, json_object *res);
void output_help(FILE *fp, json_object *res);
void output_ping(FILE *fp, json_object *res);
void output_pause(FILE *fp, json_object *res, int64_t now_ms);
/* sync: returns false when the result says the sync did not succeed. */
bool output_sync(FILE *fp, const char *direction, json_object *res);
/* reload: returns the number of keys that need a restart. */
size_t output_reload(FILE *fp, json_object *res);
/* Anything else (force-*, reload, a newer daemon's commands). */
void output_result(FILE *fp, const char *cmd, json_object *res);

/* The verdicts behind the exit status, also with -j. */
bool output_check_healthy(json_object *res);
int output_selftest_failures(json_object *res);
bool output_sync_ok(json_object *res);
size_t output_reload_restart_needed(json_object *res);

/* One event as "TIME TYPE details", malloc'd, without a newline. */
char *output_event_line(json_object *ev);

#endif
