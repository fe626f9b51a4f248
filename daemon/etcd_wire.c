/*
 * etcd's v3 JSON gateway on the wire, without I/O: base64 keys and values,
 * the endpoint list's syntax, strict reply parsing (anything unexpected is
 * an error with a message, never a crash, never a half result) and the
 * request bodies, transactions included. etcd.c sends and receives.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "etcd.h"
#include "etcd_int.h"
#include "util.h"

/* --- base64 and keys ------------------------------------------------------ */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
etcd_b64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = xcalloc(1, (len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64chars[p[i] >> 2];
		*o++ = b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = b64chars[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = b64chars[p[i + 2] & 63];
	}
	if (len - i == 1) {
		*o++ = b64chars[p[i] >> 2];
		*o++ = b64chars[(p[i] & 3) << 4];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		*o++ = b64chars[p[i] >> 2];
		*o++ = b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = b64chars[(p[i + 1] & 15) << 2];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict: length a multiple of 4, padding only at the end, no stray bits. */
ssize_t
etcd_b64_decode(const char *s, size_t slen, char **out)
{
	unsigned char *buf;
	size_t i, n = 0, pad = 0;
	int v[4], k;

	*out = NULL;
	if (slen % 4 != 0)
		return -1;
	if (slen > 0 && s[slen - 1] == '=')
		pad++;
	if (slen > 1 && s[slen - 2] == '=')
		pad++;
	buf = xcalloc(1, slen / 4 * 3 + 1);
	for (i = 0; i < slen; i += 4) {
		bool last = i + 4 == slen;

		for (k = 0; k < 4; k++) {
			if (last && k >= 4 - (int)pad)
				v[k] = 0;
			else if ((v[k] = b64_val((unsigned char)s[i + k])) < 0)
				goto bad;
		}
		buf[n++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
		if (last && pad == 2) {
			if ((v[1] & 15) != 0)
				goto bad;
			break;
		}
		buf[n++] = (unsigned char)(((v[1] & 15) << 4) | (v[2] >> 2));
		if (last && pad == 1) {
			if ((v[2] & 3) != 0)
				goto bad;
			break;
		}
		buf[n++] = (unsigned char)(((v[2] & 3) << 6) | v[3]);
	}
	buf[n] = '\0';
	*out = (char *)buf;
	return (ssize_t)n;
bad:
	free(buf);
	return -1;
}

size_t
etcd_prefix_end(const char *key, char **out)
{
	size_t n = strlen(key);
	char *end = xcalloc(1, n + 1);
	ssize_t i;

	memcpy(end, key, n);
	for (i = (ssize_t)n - 1; i >= 0; i--) {
		if ((unsigned char)end[i] < 0xff) {
			end[i] = (char)((unsigned char)end[i] + 1);
			*out = end;
			return (size_t)i + 1;
		}
	}
	/* No key is greater: "\0" means "to the end of the keyspace". */
	end[0] = '\0';
	*out = end;
	return 1;
}

/* --- endpoints ------------------------------------------------------------ */

static int
etcd_endpoint_check(const char *u, size_t len, char *err, size_t errlen)
{
	size_t skip, i;

	if (len > 7 && strncmp(u, "http://", 7) == 0)
		skip = 7;
	else if (len > 8 && strncmp(u, "https://", 8) == 0)
		skip = 8;
	else {
		snprintf(err, errlen, "an endpoint must be an http:// or https:// URL");
		return -1;
	}
	if (len == skip || u[skip] == ':') {
		snprintf(err, errlen, "an endpoint has no host");
		return -1;
	}
	for (i = skip; i < len; i++) {
		unsigned char c = (unsigned char)u[i];

		if (c == '/' && i == len - 1)
			break; /* one trailing slash is dropped */
		if (!isalnum(c) && strchr(".-_:[]", c) == NULL) {
			snprintf(err, errlen,
			    "an endpoint is scheme://host[:port] only (no path, query or user)");
			return -1;
		}
	}
	return 0;
}

int
etcd_endpoints_parse(const char *list, char **out, size_t max, char *err, size_t errlen)
{
	const char *p = list, *comma, *b, *e;
	size_t n = 0, i;

	if (list == NULL || *list == '\0') {
		snprintf(err, errlen, "no etcd endpoint given");
		return -1;
	}
	for (;;) {
		comma = strchr(p, ',');
		b = p;
		e = comma != NULL ? comma : p + strlen(p);
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (b == e) {
			snprintf(err, errlen, "an empty entry in the endpoint list");
			goto fail;
		}
		if (n == max || n == ETCD_MAX_ENDPOINTS) {
			snprintf(err, errlen, "more than %d endpoints", ETCD_MAX_ENDPOINTS);
			goto fail;
		}
		if (etcd_endpoint_check(b, (size_t)(e - b), err, errlen) == -1)
			goto fail;
		if (e[-1] == '/')
			e--;
		if (out != NULL)
			out[n] = xasprintf("%.*s", (int)(e - b), b);
		n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return (int)n;
fail:
	for (i = 0; out != NULL && i < n; i++) {
		free(out[i]);
		out[i] = NULL;
	}
	return -1;
}

/* --- reply parsing -------------------------------------------------------- */

static int perr(struct etcd_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
perr(struct etcd_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	res->ok = false;
	return -1;
}

/* etcd's own message, printable ASCII only and cut short. */
static void
etcd_msg_copy(const char *in, char *out, size_t outlen)
{
	size_t i, n = 0;

	for (i = 0; in[i] != '\0' && n + 1 < outlen && i < ETCD_MSG_MAX; i++)
		out[n++] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	if (in[i] != '\0' && n + 4 < outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static struct json_object *
etcd_json_parse(const char *body, size_t len, struct etcd_result *res)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t end;

	if (body == NULL || len == 0) {
		perr(res, "empty reply");
		return NULL;
	}
	if (memchr(body, '\0', len) != NULL || len > 0x7fffffff) {
		perr(res, "reply is not JSON");
		return NULL;
	}
	if ((tok = json_tokener_new()) == NULL) {
		perr(res, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tok);
		perr(res, "reply is not JSON");
		return NULL;
	}
	end = (size_t)tok->char_offset;
	json_tokener_free(tok);
	while (end < len && isspace((unsigned char)body[end]))
		end++;
	if (end != len) {
		json_object_put(o);
		perr(res, "reply is not JSON (data after the value)");
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		perr(res, "reply is not a JSON object");
		return NULL;
	}
	return o;
}

/* An int64 field: a decimal string or a JSON integer; absent or null = 0. */
static int
j_i64(struct json_object *o, const char *key, int64_t *out, struct etcd_result *res)
{
	struct json_object *v;
	const char *s;
	long long n;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return perr(res, "\"%s\" is not a number", key);
	s = json_object_get_string(v);
	if (util_int_parse(s, INT64_MIN, INT64_MAX, &n) == -1 ||
	    (*s != '-' && !isdigit((unsigned char)*s)))
		return perr(res, "\"%s\" is not a number", key);
	*out = n;
	return 0;
}

static int
j_bool(struct json_object *o, const char *key, bool *out, struct etcd_result *res)
{
	struct json_object *v;

	*out = false;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return perr(res, "\"%s\" is not a boolean", key);
	*out = json_object_get_boolean(v);
	return 0;
}

/* A bytes field, decoded: absent = "" (allocated). */
static int
j_bytes(struct json_object *o, const char *key, char **out, size_t *lenp, struct etcd_result *res)
{
	struct json_object *v;
	ssize_t n;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		*out = xstrdup("");
		if (lenp != NULL)
			*lenp = 0;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return perr(res, "\"%s\" is not base64", key);
	n = etcd_b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), out);
	if (n < 0)
		return perr(res, "\"%s\" is not base64", key);
	if (lenp != NULL)
		*lenp = (size_t)n;
	return 0;
}

/* An object member: absent or null = NULL (fine); another type = error. */
static int
j_obj(struct json_object *o, const char *key, struct json_object **out, struct etcd_result *res)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return perr(res, "\"%s\" is not an object", key);
	*out = v;
	return 0;
}

static int
j_arr(struct json_object *o, const char *key, struct json_object **out, struct etcd_result *res)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return perr(res, "\"%s\" is not an array", key);
	*out = v;
	return 0;
}

static int
parse_header(struct json_object *o, struct etcd_result *res)
{
	struct json_object *h;

	if (j_obj(o, "header", &h, res) == -1)
		return -1;
	if (h != NULL && j_i64(h, "revision", &res->revision, res) == -1)
		return -1;
	return 0;
}

static void
range_clear(struct etcd_range *r)
{
	size_t i;

	for (i = 0; i < r->nkvs; i++) {
		free(r->kvs[i].key);
		free(r->kvs[i].value);
	}
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

static int
parse_kv(struct json_object *o, struct etcd_kv *kv, struct etcd_result *res)
{
	size_t klen;

	if (!json_object_is_type(o, json_type_object))
		return perr(res, "a kv is not an object");
	if (j_bytes(o, "key", &kv->key, &klen, res) == -1)
		return -1;
	if (klen == 0)
		return perr(res, "a kv without a key");
	if (strlen(kv->key) != klen)
		return perr(res, "a key holds a NUL byte");
	if (j_bytes(o, "value", &kv->value, &kv->value_len, res) == -1 ||
	    j_i64(o, "create_revision", &kv->create_revision, res) == -1 ||
	    j_i64(o, "mod_revision", &kv->mod_revision, res) == -1 ||
	    j_i64(o, "version", &kv->version, res) == -1 ||
	    j_i64(o, "lease", &kv->lease, res) == -1)
		return -1;
	if (kv->create_revision < 0 || kv->mod_revision < 0 || kv->version < 0 || kv->lease < 0)
		return perr(res, "a kv with a negative revision, version or lease");
	return 0;
}

static int
parse_range(struct json_object *o, struct etcd_range *r, struct etcd_result *res)
{
	struct json_object *arr;
	size_t i, n;

	if (j_arr(o, "kvs", &arr, res) == -1 || j_i64(o, "count", &r->count, res) == -1 ||
	    j_bool(o, "more", &r->more, res) == -1)
		return -1;
	n = arr != NULL ? json_object_array_length(arr) : 0;
	if (n > 0)
		r->kvs = xcalloc(n, sizeof(*r->kvs));
	for (i = 0; i < n; i++) {
		r->nkvs = i + 1; /* so that a failure frees what was parsed */
		if (parse_kv(json_object_array_get_idx(arr, i), &r->kvs[i], res) == -1)
			return -1;
	}
	if (r->count < (int64_t)n)
		return perr(res, "range count %lld below its %zu kvs", (long long)r->count, n);
	return 0;
}

static int
parse_txn(struct json_object *o, struct etcd_result *res)
{
	struct json_object *arr, *e, *v;
	size_t i, n;

	if (j_bool(o, "succeeded", &res->succeeded, res) == -1 ||
	    j_arr(o, "responses", &arr, res) == -1)
		return -1;
	n = arr != NULL ? json_object_array_length(arr) : 0;
	if (n > 0)
		res->responses = xcalloc(n, sizeof(*res->responses));
	for (i = 0; i < n; i++) {
		struct etcd_txn_resp *t = &res->responses[i];

		res->nresponses = i + 1;
		e = json_object_array_get_idx(arr, i);
		if (e == NULL || !json_object_is_type(e, json_type_object) ||
		    json_object_object_length(e) != 1)
			return perr(res, "a txn response is not one operation's result");
		if (j_obj(e, "response_put", &v, res) == -1)
			return -1;
		if (v != NULL) {
			t->kind = ETCD_RESP_PUT;
			continue;
		}
		if (j_obj(e, "response_range", &v, res) == -1)
			return -1;
		if (v != NULL) {
			t->kind = ETCD_RESP_RANGE;
			if (parse_range(v, &t->range, res) == -1)
				return -1;
			continue;
		}
		if (j_obj(e, "response_delete_range", &v, res) == -1)
			return -1;
		if (v != NULL) {
			t->kind = ETCD_RESP_DELETE;
			if (j_i64(v, "deleted", &t->deleted, res) == -1)
				return -1;
			continue;
		}
		return perr(res, "a txn response of an unknown kind");
	}
	return 0;
}

/* etcd's error text from a body: "message", else "error" (string or object). */
static void
etcd_error_text(struct json_object *o, char *buf, size_t len)
{
	struct json_object *v, *m;

	buf[0] = '\0';
	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "message", &v) && json_object_is_type(v, json_type_string))
		etcd_msg_copy(json_object_get_string(v), buf, len);
	else if (json_object_object_get_ex(o, "error", &v)) {
		if (json_object_is_type(v, json_type_string))
			etcd_msg_copy(json_object_get_string(v), buf, len);
		else if (json_object_is_type(v, json_type_object) &&
		    json_object_object_get_ex(v, "message", &m) &&
		    json_object_is_type(m, json_type_string))
			etcd_msg_copy(json_object_get_string(m), buf, len);
	}
}

void
etcd_result_clear(struct etcd_result *res)
{
	size_t i;

	for (i = 0; i < res->nresponses; i++)
		range_clear(&res->responses[i].range);
	free(res->responses);
	range_clear(&res->range);
	if (res->token != NULL) {
		explicit_bzero(res->token, strlen(res->token));
		free(res->token);
	}
	memset(res, 0, sizeof(*res));
}

int
etcd_parse_reply(enum etcd_op op, int status, const char *body, size_t len, struct etcd_result *res)
{
	struct json_object *o = NULL, *r, *v;
	char msg[ETCD_MSG_MAX + 8];
	int rc = -1;

	res->op = op;
	res->status = status;
	res->ok = false;
	if (status != 200) {
		struct etcd_result tmp;

		memset(&tmp, 0, sizeof(tmp));
		o = body != NULL && len > 0 ? etcd_json_parse(body, len, &tmp) : NULL;
		etcd_error_text(o, msg, sizeof(msg));
		json_object_put(o);
		if (*msg != '\0')
			return perr(res, "HTTP %d: %s", status, msg);
		return perr(res, "HTTP %d", status);
	}
	if ((o = etcd_json_parse(body, len, res)) == NULL)
		return -1;
	/* A 200 may still carry an error: the streaming keepalive's way. */
	if (json_object_object_get_ex(o, "error", &v) && v != NULL) {
		etcd_error_text(o, msg, sizeof(msg));
		perr(res, "etcd error: %s", *msg != '\0' ? msg : "(no message)");
		goto out;
	}
	r = o;
	if (op == ETCD_OP_KEEPALIVE) {
		if (j_obj(o, "result", &r, res) == -1)
			goto out;
		if (r == NULL) {
			perr(res, "keepalive reply without a result");
			goto out;
		}
	}
	if (parse_header(r, res) == -1)
		goto out;
	switch (op) {
	case ETCD_OP_AUTH:
		if (!json_object_object_get_ex(r, "token", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) == 0) {
			perr(res, "authenticate reply without a token");
			goto out;
		}
		if (strpbrk(json_object_get_string(v), "\r\n") != NULL) {
			perr(res, "authenticate reply with a malformed token");
			goto out;
		}
		res->token = xstrdup(json_object_get_string(v));
		break;
	case ETCD_OP_GRANT:
		if (j_i64(r, "ID", &res->lease_id, res) == -1 ||
		    j_i64(r, "TTL", &res->ttl, res) == -1)
			goto out;
		if (res->lease_id <= 0 || res->ttl <= 0) {
			perr(res, "grant reply without a lease ID and TTL");
			goto out;
		}
		break;
	case ETCD_OP_KEEPALIVE:
		if (j_i64(r, "ID", &res->lease_id, res) == -1 ||
		    j_i64(r, "TTL", &res->ttl, res) == -1)
			goto out;
		if (res->ttl < 0 || res->lease_id < 0) {
			perr(res, "keepalive reply with a negative ID or TTL");
			goto out;
		}
		/* proto3 leaves out TTL 0: the lease expired or never was. */
		res->lease_lost = res->ttl == 0;
		break;
	case ETCD_OP_REVOKE:
	case ETCD_OP_PUT: break;
	case ETCD_OP_RANGE:
		if (parse_range(r, &res->range, res) == -1)
			goto out;
		break;
	case ETCD_OP_DELETE:
		if (j_i64(r, "deleted", &res->deleted, res) == -1)
			goto out;
		break;
	case ETCD_OP_TXN:
		if (parse_txn(r, res) == -1)
			goto out;
		break;
	default: perr(res, "unknown operation"); goto out;
	}
	res->ok = true;
	rc = 0;
out:
	json_object_put(o);
	if (rc == -1) {
		/* No half-parsed data: only the error and the status remain. */
		char keep[sizeof(res->error)];

		memcpy(keep, res->error, sizeof(keep));
		etcd_result_clear(res);
		memcpy(res->error, keep, sizeof(keep));
		res->op = op;
		res->status = status;
	}
	return rc;
}

/* --- request bodies ------------------------------------------------------- */

void
etcd_jset_i64(struct json_object *o, const char *key, int64_t n)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)n);
	json_object_object_add(o, key, json_object_new_string(buf));
}

void
etcd_jset_b64(struct json_object *o, const char *key, const void *data, size_t len)
{
	char *s = etcd_b64_encode(data, len);

	json_object_object_add(o, key, json_object_new_string(s));
	free(s);
}

/* key and, with prefix, range_end: "" with prefix = the whole keyspace. */
void
etcd_jset_key(struct json_object *o, const char *key, bool prefix)
{
	char *end;
	size_t n;

	if (prefix && *key == '\0') {
		etcd_jset_b64(o, "key", "", 1);
		etcd_jset_b64(o, "range_end", "", 1);
		return;
	}
	etcd_jset_b64(o, "key", key, strlen(key));
	if (prefix) {
		n = etcd_prefix_end(key, &end);
		etcd_jset_b64(o, "range_end", end, n);
		free(end);
	}
}

char *
etcd_json_take(struct json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

struct etcd_txn {
	struct json_object *compare, *success, *failure;
};

struct etcd_txn *
etcd_txn_new(void)
{
	struct etcd_txn *t = xcalloc(1, sizeof(*t));

	t->compare = json_object_new_array();
	t->success = json_object_new_array();
	t->failure = json_object_new_array();
	return t;
}

void
etcd_txn_free(struct etcd_txn *t)
{
	if (t == NULL)
		return;
	json_object_put(t->compare);
	json_object_put(t->success);
	json_object_put(t->failure);
	free(t);
}

void
etcd_txn_compare(struct etcd_txn *t, const char *key, enum etcd_target target, enum etcd_cmp cmp,
    int64_t n, const void *value, size_t vlen)
{
	static const char *const results[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
	struct json_object *c = json_object_new_object();

	json_object_object_add(c, "result", json_object_new_string(results[cmp & 3]));
	etcd_jset_b64(c, "key", key, strlen(key));
	switch (target) {
	case ETCD_CREATE:
		json_object_object_add(c, "target", json_object_new_string("CREATE"));
		etcd_jset_i64(c, "create_revision", n);
		break;
	case ETCD_MOD:
		json_object_object_add(c, "target", json_object_new_string("MOD"));
		etcd_jset_i64(c, "mod_revision", n);
		break;
	case ETCD_VERSION:
		json_object_object_add(c, "target", json_object_new_string("VERSION"));
		etcd_jset_i64(c, "version", n);
		break;
	case ETCD_VALUE:
	default:
		json_object_object_add(c, "target", json_object_new_string("VALUE"));
		etcd_jset_b64(c, "value", value != NULL ? value : "", value != NULL ? vlen : 0);
		break;
	}
	json_object_array_add(t->compare, c);
}

static void
txn_op(struct etcd_txn *t, bool on_success, const char *kind, struct json_object *req)
{
	struct json_object *op = json_object_new_object();

	json_object_object_add(op, kind, req);
	json_object_array_add(on_success ? t->success : t->failure, op);
}

void
etcd_txn_put(struct etcd_txn *t, bool on_success, const char *key, const void *value, size_t vlen,
    int64_t lease)
{
	struct json_object *r = json_object_new_object();

	etcd_jset_b64(r, "key", key, strlen(key));
	etcd_jset_b64(r, "value", value != NULL ? value : "", value != NULL ? vlen : 0);
	if (lease != 0)
		etcd_jset_i64(r, "lease", lease);
	txn_op(t, on_success, "request_put", r);
}

void
etcd_txn_delete(struct etcd_txn *t, bool on_success, const char *key, bool prefix)
{
	struct json_object *r = json_object_new_object();

	etcd_jset_key(r, key, prefix);
	txn_op(t, on_success, "request_delete_range", r);
}

void
etcd_txn_range(struct etcd_txn *t, bool on_success, const char *key, bool prefix)
{
	struct json_object *r = json_object_new_object();

	etcd_jset_key(r, key, prefix);
	txn_op(t, on_success, "request_range", r);
}

char *
etcd_txn_body(const struct etcd_txn *t)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "compare", json_object_get(t->compare));
	json_object_object_add(o, "success", json_object_get(t->success));
	json_object_object_add(o, "failure", json_object_get(t->failure));
	return etcd_json_take(o);
}
