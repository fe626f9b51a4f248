/*
 * What etcd.c (the client) and etcd_wire.c (bodies and replies) share and
 * nothing else includes.
 */
#ifndef FOD_ETCD_INT_H
#define FOD_ETCD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define ETCD_MSG_MAX 160 /* characters of etcd's own message kept in errors */

/* Request bodies (etcd_wire.c). */
void etcd_jset_i64(struct json_object *o, const char *key, int64_t n);
void etcd_jset_b64(struct json_object *o, const char *key, const void *data, size_t len);
void etcd_jset_key(struct json_object *o, const char *key, bool prefix);
/* The object as a malloc'd JSON string; o is released. */
char *etcd_json_take(struct json_object *o);

#endif
