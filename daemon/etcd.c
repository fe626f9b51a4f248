/*
 * The etcd v3 JSON gateway client: request bodies, reply parsing (strict:
 * anything unexpected is an error with a message, never a crash), the
 * endpoint list with failover on connection failure, and authentication
 * tokens. It owns no policy: coordination (who leads, what is fenced) is
 * for its caller. See etcd.h for the gateway's quirks.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "etcd.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define ETCD_DEFAULT_TIMEOUT_MS 2000
#define ETCD_MAX_REPLY (4 * 1024 * 1024)
#define ETCD_MSG_MAX 160 /* characters of etcd's own message kept in errors */

struct etcd_call {
	TAILQ_ENTRY(etcd_call) entry;
	struct etcd *etcd;
	enum etcd_op op;
	const char *path; /* "/v3/lease/grant" */
	char *body;
	int64_t expect_id; /* keepalive: the lease asked about */
	etcd_cb *cb;
	void *arg;
	struct http_req *req;
	int64_t deadline; /* monotonic ms */
	size_t ep; /* endpoint of the current attempt */
	size_t tried; /* endpoints that could not be reached, this call */
	bool authing; /* the current attempt is /v3/auth/authenticate */
	int reauths;
	int64_t sent_mono;
};
TAILQ_HEAD(etcd_calls, etcd_call);

struct etcd {
	struct event_base *base;
	struct http *http;
	char *endpoints[ETCD_MAX_ENDPOINTS];
	size_t nendpoints;
	size_t cur; /* the endpoint that answered last */
	int64_t timeout_ms;
	char *user, *password, *ca_file, *cert_file, *key_file;
	char *token; /* secret: never logged */
	struct etcd_calls calls;
};

static const char *const etcd_op_names[] = {
    [ETCD_OP_AUTH] = "authenticate",
    [ETCD_OP_GRANT] = "grant",
    [ETCD_OP_KEEPALIVE] = "keepalive",
    [ETCD_OP_REVOKE] = "revoke",
    [ETCD_OP_PUT] = "put",
    [ETCD_OP_RANGE] = "range",
    [ETCD_OP_DELETE] = "delete",
    [ETCD_OP_TXN] = "txn",
};

const char *
etcd_op_str(enum etcd_op op)
{
	if ((unsigned)op >= sizeof(etcd_op_names) / sizeof(etcd_op_names[0]))
		return "?";
	return etcd_op_names[op];
}

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

static void
jset_i64(struct json_object *o, const char *key, int64_t n)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)n);
	json_object_object_add(o, key, json_object_new_string(buf));
}

static void
jset_b64(struct json_object *o, const char *key, const void *data, size_t len)
{
	char *s = etcd_b64_encode(data, len);

	json_object_object_add(o, key, json_object_new_string(s));
	free(s);
}

/* key and, with prefix, range_end: "" with prefix = the whole keyspace. */
static void
jset_key(struct json_object *o, const char *key, bool prefix)
{
	char *end;
	size_t n;

	if (prefix && *key == '\0') {
		jset_b64(o, "key", "", 1);
		jset_b64(o, "range_end", "", 1);
		return;
	}
	jset_b64(o, "key", key, strlen(key));
	if (prefix) {
		n = etcd_prefix_end(key, &end);
		jset_b64(o, "range_end", end, n);
		free(end);
	}
}

static char *
json_take(struct json_object *o)
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
	jset_b64(c, "key", key, strlen(key));
	switch (target) {
	case ETCD_CREATE:
		json_object_object_add(c, "target", json_object_new_string("CREATE"));
		jset_i64(c, "create_revision", n);
		break;
	case ETCD_MOD:
		json_object_object_add(c, "target", json_object_new_string("MOD"));
		jset_i64(c, "mod_revision", n);
		break;
	case ETCD_VERSION:
		json_object_object_add(c, "target", json_object_new_string("VERSION"));
		jset_i64(c, "version", n);
		break;
	case ETCD_VALUE:
	default:
		json_object_object_add(c, "target", json_object_new_string("VALUE"));
		jset_b64(c, "value", value != NULL ? value : "", value != NULL ? vlen : 0);
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

	jset_b64(r, "key", key, strlen(key));
	jset_b64(r, "value", value != NULL ? value : "", value != NULL ? vlen : 0);
	if (lease != 0)
		jset_i64(r, "lease", lease);
	txn_op(t, on_success, "request_put", r);
}

void
etcd_txn_delete(struct etcd_txn *t, bool on_success, const char *key, bool prefix)
{
	struct json_object *r = json_object_new_object();

	jset_key(r, key, prefix);
	txn_op(t, on_success, "request_delete_range", r);
}

void
etcd_txn_range(struct etcd_txn *t, bool on_success, const char *key, bool prefix)
{
	struct json_object *r = json_object_new_object();

	jset_key(r, key, prefix);
	txn_op(t, on_success, "request_range", r);
}

char *
etcd_txn_body(const struct etcd_txn *t)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "compare", json_object_get(t->compare));
	json_object_object_add(o, "success", json_object_get(t->success));
	json_object_object_add(o, "failure", json_object_get(t->failure));
	return json_take(o);
}

/* --- the client ----------------------------------------------------------- */

static int etcd_attempt(struct etcd_call *);

struct etcd *
etcd_new(struct event_base *base, struct http *http, const struct etcd_config *cfg, char *err,
    size_t errlen)
{
	struct etcd *e;
	char *eps[ETCD_MAX_ENDPOINTS];
	int n, i;

	if (cfg == NULL || http == NULL) {
		snprintf(err, errlen, "no etcd configuration");
		return NULL;
	}
	if ((n = etcd_endpoints_parse(cfg->endpoints, eps, ETCD_MAX_ENDPOINTS, err, errlen)) < 0)
		return NULL;
	if ((cfg->user != NULL) != (cfg->password != NULL) ||
	    (cfg->cert_file != NULL) != (cfg->key_file != NULL)) {
		for (i = 0; i < n; i++)
			free(eps[i]);
		snprintf(err, errlen, "%s",
		    (cfg->user != NULL) != (cfg->password != NULL)
		        ? "an etcd user needs a password, and a password a user"
		        : "a TLS client certificate needs its key, and a key its certificate");
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->base = base;
	e->http = http;
	for (i = 0; i < n; i++)
		e->endpoints[i] = eps[i];
	e->nendpoints = (size_t)n;
	e->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
	e->user = cfg->user != NULL ? xstrdup(cfg->user) : NULL;
	e->password = cfg->password != NULL ? xstrdup(cfg->password) : NULL;
	e->ca_file = cfg->ca_file != NULL ? xstrdup(cfg->ca_file) : NULL;
	e->cert_file = cfg->cert_file != NULL ? xstrdup(cfg->cert_file) : NULL;
	e->key_file = cfg->key_file != NULL ? xstrdup(cfg->key_file) : NULL;
	TAILQ_INIT(&e->calls);
	return e;
}

static void
secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void
etcd_call_free(struct etcd_call *c)
{
	free(c->body);
	free(c);
}

void
etcd_cancel(struct etcd_call *c)
{
	if (c == NULL)
		return;
	http_request_cancel(c->req);
	TAILQ_REMOVE(&c->etcd->calls, c, entry);
	etcd_call_free(c);
}

void
etcd_free(struct etcd *e)
{
	size_t i;

	if (e == NULL)
		return;
	while (!TAILQ_EMPTY(&e->calls))
		etcd_cancel(TAILQ_FIRST(&e->calls));
	for (i = 0; i < e->nendpoints; i++)
		free(e->endpoints[i]);
	free(e->user);
	secret_free(e->password);
	secret_free(e->token);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	free(e);
}

/* Ends a call: off the list first, so that its callback may free anything. */
static void
etcd_finish(struct etcd_call *c, struct etcd_result *res)
{
	TAILQ_REMOVE(&c->etcd->calls, c, entry);
	res->op = c->op;
	res->sent_mono = c->sent_mono;
	c->cb(res, c->arg);
	etcd_result_clear(res);
	etcd_call_free(c);
}

static void etcd_fail(struct etcd_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
etcd_fail(struct etcd_call *c, const char *fmt, ...)
{
	struct etcd_result res;
	va_list ap;

	memset(&res, 0, sizeof(res));
	va_start(ap, fmt);
	vsnprintf(res.error, sizeof(res.error), fmt, ap);
	va_end(ap);
	res.endpoint = c->etcd->endpoints[c->ep];
	etcd_finish(c, &res);
}

static void
etcd_retry(struct etcd_call *c)
{
	if (etcd_attempt(c) == -1)
		etcd_fail(c, "etcd %s: cannot start a request", etcd_op_str(c->op));
}

/* A token refused: 401, or 3.4's 500 "invalid auth token" and kin. */
static bool
etcd_auth_refused(const struct etcd_result *res)
{
	return res->status == 401 || strstr(res->error, "invalid auth token") != NULL ||
	    strstr(res->error, "user name is empty") != NULL;
}

static void
etcd_http_done(const struct http_response *resp, void *arg)
{
	struct etcd_call *c = arg;
	struct etcd *e = c->etcd;
	const char *ep = e->endpoints[c->ep];
	struct etcd_result res;

	c->req = NULL;
	if (resp->err != HTTP_OK) {
		bool unreachable = resp->err == HTTP_ERR_CONNECT || resp->err == HTTP_ERR_DNS;

		if (unreachable && ++c->tried < e->nendpoints && c->deadline - util_mono_ms() > 0) {
			log_debug("etcd %s: %s: %s; trying the next endpoint", etcd_op_str(c->op),
			    ep, resp->error);
			c->ep = (c->ep + 1) % e->nendpoints;
			etcd_retry(c);
			return;
		}
		/* A member that hangs (stopped, cut off) is not asked first
		 * again: the next call starts at the next endpoint. This call is
		 * not resent, since the request may have been applied. */
		if (resp->err == HTTP_ERR_TIMEOUT)
			e->cur = (c->ep + 1) % e->nendpoints;
		if (unreachable && e->nendpoints > 1)
			etcd_fail(c, "etcd %s: no endpoint reachable (last %s: %s)",
			    etcd_op_str(c->op), ep, resp->error);
		else
			etcd_fail(c, "etcd %s: %s: %s", etcd_op_str(c->op), ep, resp->error);
		return;
	}
	/* The member that answered is asked first next time, unless it
	 * answered 5xx (no leader, request timed out: a member without
	 * quorum), then the next one is. */
	e->cur = resp->status >= 500 ? (c->ep + 1) % e->nendpoints : c->ep;
	memset(&res, 0, sizeof(res));
	res.endpoint = ep;
	if (c->authing) {
		if (etcd_parse_reply(
		        ETCD_OP_AUTH, resp->status, resp->body, resp->body_len, &res) == -1) {
			char msg[sizeof(res.error)];

			snprintf(msg, sizeof(msg), "%s", res.error);
			etcd_result_clear(&res);
			etcd_fail(c, "etcd %s: %s: authentication failed: %s", etcd_op_str(c->op),
			    ep, msg);
			return;
		}
		secret_free(e->token);
		e->token = res.token;
		res.token = NULL;
		etcd_result_clear(&res);
		c->authing = false;
		etcd_retry(c);
		return;
	}
	if (etcd_parse_reply(c->op, resp->status, resp->body, resp->body_len, &res) == -1) {
		char msg[sizeof(res.error)], *full;

		if (e->user != NULL && c->reauths == 0 && etcd_auth_refused(&res)) {
			/* The token expired (simple tokens: --auth-token-ttl, 300 s
			 * by default, after their last use). */
			log_debug("etcd %s: %s: token refused (%s); authenticating again",
			    etcd_op_str(c->op), ep, res.error);
			etcd_result_clear(&res);
			secret_free(e->token);
			e->token = NULL;
			c->reauths++;
			etcd_retry(c);
			return;
		}
		snprintf(msg, sizeof(msg), "%s", res.error);
		full = xasprintf("etcd %s: %s: %s", etcd_op_str(c->op), ep, msg);
		snprintf(res.error, sizeof(res.error), "%s", full);
		free(full);
		res.endpoint = ep;
		etcd_finish(c, &res);
		return;
	}
	if (c->op == ETCD_OP_KEEPALIVE && !res.lease_lost && res.lease_id != c->expect_id) {
		etcd_result_clear(&res);
		etcd_fail(c, "etcd keepalive: %s: the reply names another lease", ep);
		return;
	}
	res.endpoint = ep;
	etcd_finish(c, &res);
}

/*
 * Sends the current attempt (authentication first when a token is due).
 * -1 when the request cannot be started; a spent deadline ends the call.
 */
static int
etcd_attempt(struct etcd_call *c)
{
	struct etcd *e = c->etcd;
	struct http_request_opts o;
	const char *headers[3];
	char *url, *authhdr = NULL, *authbody = NULL;
	int64_t left = c->deadline - util_mono_ms();

	if (left <= 0) {
		etcd_fail(c, "etcd %s: timed out after %lld ms", etcd_op_str(c->op),
		    (long long)e->timeout_ms);
		return 0;
	}
	if (e->user != NULL && e->token == NULL)
		c->authing = true;
	memset(&o, 0, sizeof(o));
	headers[0] = "Content-Type: application/json";
	headers[1] = NULL;
	headers[2] = NULL;
	if (c->authing) {
		struct json_object *b = json_object_new_object();

		log_debug("etcd: authenticating as %s at %s", e->user, e->endpoints[c->ep]);
		json_object_object_add(b, "name", json_object_new_string(e->user));
		json_object_object_add(b, "password", json_object_new_string(e->password));
		authbody = json_take(b);
		url = xasprintf("%s/v3/auth/authenticate", e->endpoints[c->ep]);
		o.body = authbody;
	} else {
		if (e->token != NULL) {
			authhdr = xasprintf("Authorization: %s", e->token);
			headers[1] = authhdr;
		}
		url = xasprintf("%s%s", e->endpoints[c->ep], c->path);
		o.body = c->body;
	}
	o.method = "POST";
	o.url = url;
	o.headers = headers;
	o.body_len = strlen(o.body);
	o.timeout_ms = left;
	o.max_body = ETCD_MAX_REPLY;
	o.ca_file = e->ca_file;
	o.cert_file = e->cert_file;
	o.key_file = e->key_file;
	if (!c->authing)
		c->sent_mono = util_mono_ms();
	c->req = http_request_start(e->http, &o, etcd_http_done, c);
	free(url);
	secret_free(authhdr);
	secret_free(authbody);
	return c->req != NULL ? 0 : -1;
}

static struct etcd_call *
etcd_start(struct etcd *e, enum etcd_op op, const char *path, char *body, etcd_cb *cb, void *arg)
{
	struct etcd_call *c;

	if (e == NULL || cb == NULL) {
		free(body);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->etcd = e;
	c->op = op;
	c->path = path;
	c->body = body;
	c->cb = cb;
	c->arg = arg;
	c->ep = e->cur;
	c->deadline = util_mono_ms() + e->timeout_ms;
	TAILQ_INSERT_TAIL(&e->calls, c, entry);
	if (etcd_attempt(c) == -1) {
		/* Nothing started: no callback, as for a bad argument. */
		TAILQ_REMOVE(&e->calls, c, entry);
		etcd_call_free(c);
		return NULL;
	}
	return c;
}

struct etcd_call *
etcd_lease_grant(struct etcd *e, int64_t ttl_s, etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (ttl_s < ETCD_MIN_TTL)
		return NULL;
	o = json_object_new_object();
	jset_i64(o, "TTL", ttl_s);
	return etcd_start(e, ETCD_OP_GRANT, "/v3/lease/grant", json_take(o), cb, arg);
}

struct etcd_call *
etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_cb *cb, void *arg)
{
	struct json_object *o;
	struct etcd_call *c;

	if (id <= 0)
		return NULL;
	o = json_object_new_object();
	jset_i64(o, "ID", id);
	c = etcd_start(e, ETCD_OP_KEEPALIVE, "/v3/lease/keepalive", json_take(o), cb, arg);
	if (c != NULL)
		c->expect_id = id;
	return c;
}

struct etcd_call *
etcd_lease_revoke(struct etcd *e, int64_t id, etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (id <= 0)
		return NULL;
	o = json_object_new_object();
	jset_i64(o, "ID", id);
	return etcd_start(e, ETCD_OP_REVOKE, "/v3/lease/revoke", json_take(o), cb, arg);
}

struct etcd_call *
etcd_put(struct etcd *e, const char *key, const void *value, size_t vlen, int64_t lease,
    etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (key == NULL || *key == '\0' || lease < 0)
		return NULL;
	o = json_object_new_object();
	jset_b64(o, "key", key, strlen(key));
	jset_b64(o, "value", value != NULL ? value : "", value != NULL ? vlen : 0);
	if (lease != 0)
		jset_i64(o, "lease", lease);
	return etcd_start(e, ETCD_OP_PUT, "/v3/kv/put", json_take(o), cb, arg);
}

struct etcd_call *
etcd_range(struct etcd *e, const char *key, bool prefix, etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (key == NULL || (*key == '\0' && !prefix))
		return NULL;
	o = json_object_new_object();
	jset_key(o, key, prefix);
	return etcd_start(e, ETCD_OP_RANGE, "/v3/kv/range", json_take(o), cb, arg);
}

struct etcd_call *
etcd_delete(struct etcd *e, const char *key, bool prefix, etcd_cb *cb, void *arg)
{
	struct json_object *o;

	if (key == NULL || (*key == '\0' && !prefix))
		return NULL;
	o = json_object_new_object();
	jset_key(o, key, prefix);
	return etcd_start(e, ETCD_OP_DELETE, "/v3/kv/deleterange", json_take(o), cb, arg);
}

struct etcd_call *
etcd_txn_run(struct etcd *e, const struct etcd_txn *t, etcd_cb *cb, void *arg)
{
	if (t == NULL)
		return NULL;
	return etcd_start(e, ETCD_OP_TXN, "/v3/kv/txn", etcd_txn_body(t), cb, arg);
}
