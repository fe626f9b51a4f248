/*
 * What the renderers of failoverctl's output share (output.c: replies and
 * status; output_events.c: event lines). Nothing else includes it.
 */
#ifndef FOD_OUTPUT_INT_H
#define FOD_OUTPUT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

json_object *jget(json_object *o, const char *key);
json_object *jobj(json_object *o, const char *key);
json_object *jarr(json_object *o, const char *key);
const char *jstr(json_object *o, const char *key);
bool jbool(json_object *o, const char *key, bool *out);
bool jtrue(json_object *o, const char *key);
bool jnum(json_object *o, const char *key, double *out);
bool jint(json_object *o, const char *key, int64_t *out);
void put_clean(FILE *fp, const char *s, unsigned flags);
void put_safe(FILE *fp, const char *s);
void put_word(FILE *fp, const char *s);
void put_value(FILE *fp, json_object *v);
void put_list(FILE *fp, json_object *arr);
bool put_local(FILE *fp, const char *prefix, int64_t ms);
void put_time(FILE *fp, const char *t);
void put_time_rel(FILE *fp, const char *t, int64_t now_ms);
void put_ms(FILE *fp, double ms);

#endif
