/*
 * The Fly Machines API without the I/O (see fly_api.h): the Authorization
 * header, names and URLs, the parsers of machine lists and replies, and the
 * error texts built from a status and a body.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fly_api.h"
#include "util.h"

enum fly_verdict
fly_classify(enum fly_call call, int status)
{
	if (status >= 200 && status < 300)
		return FLY_V_OK;
	switch (status) {
	case 408:
		/* Only the wait is safe to re-issue blindly; a 408 on start or
		 * stop is ambiguous, and the next attempt re-lists first. */
		return call == FLY_CALL_WAIT ? FLY_V_REISSUE : FLY_V_RETRY;
	case 412:
		/* A suspend refused by precondition may never succeed (what
		 * an ineligible machine gets is unverified): the provider
		 * looks at the machine and stops it instead if it runs. */
		return call == FLY_CALL_SUSPEND ? FLY_V_FAILED : FLY_V_RETRY;
	case 409:
	case 429: return FLY_V_RETRY;
	case 401:
	case 403: return FLY_V_CONFIG;
	case 404:
		/* An unknown app needs a person; a machine that vanished
		 * between the list and the call is found again by a re-list. */
		return call == FLY_CALL_LIST ? FLY_V_CONFIG : FLY_V_RETRY;
	}
	if (status >= 500 && status < 600)
		return FLY_V_RETRY;
	return FLY_V_FAILED;
}

enum prov_result
fly_verdict_result(enum fly_verdict v)
{
	switch (v) {
	case FLY_V_OK: return PROV_OK;
	case FLY_V_REISSUE:
	case FLY_V_RETRY: return PROV_RETRY;
	case FLY_V_CONFIG: return PROV_CONFIG;
	case FLY_V_FAILED: break;
	}
	return PROV_FAILED;
}

static bool
fly_token_is_macaroon(const char *t, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && t[j] != ',')
			j++;
		while (i < j && isspace((unsigned char)t[i]))
			i++;
		if ((j - i >= 5 && strncmp(t + i, "fm1r_", 5) == 0) ||
		    (j - i >= 4 && strncmp(t + i, "fm2_", 4) == 0))
			return true;
		i = j + 1;
	}
	return false;
}

char *
fly_auth_header(const char *token)
{
	const char *s, *e;
	size_t len;

	if (token == NULL)
		return NULL;
	s = token;
	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	len = (size_t)(e - s);
	if (len == 0)
		return NULL;
	if (util_clean(NULL, 0, s, len, 0) != 0)
		return NULL;
	if ((len > 6 && strncmp(s, "FlyV1 ", 6) == 0) || (len > 7 && strncmp(s, "Bearer ", 7) == 0))
		return xasprintf("Authorization: %.*s", (int)len, s);
	if (fly_token_is_macaroon(s, len))
		return xasprintf("Authorization: FlyV1 %.*s", (int)len, s);
	return xasprintf("Authorization: Bearer %.*s", (int)len, s);
}

bool
fly_name_valid(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= FLY_NAME_MAX)
			return false;
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	}
	return true;
}

/* A cut may leave half a UTF-8 character at the end: drop it. */
static void
fly_utf8_trim(char *s)
{
	size_t n = strlen(s), i = n;
	uint32_t cp;

	/* The last character starts at most 3 bytes back, after its continuation bytes. */
	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i > 0 && (unsigned char)s[i - 1] >= 0xC0 &&
	    util_utf8_decode((const unsigned char *)s + i - 1, n - i + 1, &cp) == 0)
		s[i - 1] = '\0';
}

static int
fly_base_len(const char **base)
{
	size_t n;

	if (*base == NULL || **base == '\0')
		*base = FLY_DEFAULT_BASE;
	n = strlen(*base);
	while (n > 0 && (*base)[n - 1] == '/')
		n--;
	return (int)n;
}

char *
fly_url_list(const char *base, const char *app)
{
	int n;

	if (!fly_name_valid(app))
		return NULL;
	n = fly_base_len(&base);
	return xasprintf("%.*s/v1/apps/%s/machines", n, base, app);
}

char *
fly_url_machine(const char *base, const char *app, const char *id, const char *action)
{
	int n;

	if (!fly_name_valid(app) || !fly_name_valid(id))
		return NULL;
	if (action != NULL && !fly_name_valid(action))
		return NULL;
	n = fly_base_len(&base);
	return xasprintf("%.*s/v1/apps/%s/machines/%s%s%s", n, base, app, id,
	    action != NULL ? "/" : "", action != NULL ? action : "");
}

char *
fly_url_wait(const char *base, const char *app, const char *id, const char *state,
    const char *instance_id, int timeout_s)
{
	bool inst = instance_id != NULL && *instance_id != '\0';
	int n;

	if (!fly_name_valid(app) || !fly_name_valid(id) || !fly_name_valid(state))
		return NULL;
	if (inst && !fly_name_valid(instance_id))
		return NULL;
	if (timeout_s < 1)
		timeout_s = 1;
	if (timeout_s > FLY_WAIT_MAX_S)
		timeout_s = FLY_WAIT_MAX_S;
	n = fly_base_len(&base);
	return xasprintf("%.*s/v1/apps/%s/machines/%s/wait?state=%s&timeout=%d%s%s", n, base, app,
	    id, state, timeout_s, inst ? "&instance_id=" : "", inst ? instance_id : "");
}

static struct json_object *
fly_json_parse(const char *body, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t len;

	if (body == NULL || *body == '\0') {
		snprintf(err, errlen, "empty reply");
		return NULL;
	}
	len = strlen(body);
	if ((tok = json_tokener_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, body, (int)(len > 0x7fffffff ? 0x7fffffff : len));
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(err, errlen, "reply is not JSON");
		json_object_put(o);
		o = NULL;
	} else {
		size_t end = (size_t)tok->char_offset;

		while (end < len && isspace((unsigned char)body[end]))
			end++;
		if (end != len) {
			snprintf(err, errlen, "reply is not JSON (data after the value)");
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

/* A string member, or NULL when absent, null or of another type. */
static const char *
fly_json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A whole number member in [0, INT_MAX], or 0 (absent, another type,
 * out of range: the reply did not say). */
static int
fly_json_uint(struct json_object *o, const char *key)
{
	struct json_object *v;
	int64_t n;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	n = json_object_get_int64(v);
	return n > 0 && n <= 0x7fffffff ? (int)n : 0;
}

/* What decides suspend eligibility, from config. */
static void
fly_machine_config(struct json_object *o, struct machine *m)
{
	struct json_object *cfg, *sub;

	if (!json_object_object_get_ex(o, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object))
		return;
	if (json_object_object_get_ex(cfg, "guest", &sub) &&
	    json_object_is_type(sub, json_type_object))
		m->memory_mb = fly_json_uint(sub, "memory_mb");
	if (json_object_object_get_ex(cfg, "init", &sub) &&
	    json_object_is_type(sub, json_type_object))
		m->swap_size_mb = fly_json_uint(sub, "swap_size_mb");
	/* Any non-empty schedule ("hourly", ...) keeps Fly from suspending. */
	if (json_object_object_get_ex(cfg, "schedule", &sub) && sub != NULL &&
	    !(json_object_is_type(sub, json_type_string) && *json_object_get_string(sub) == '\0'))
		m->schedule = true;
}

static int
fly_machine_from_json(struct json_object *o, struct machine *m, char *err, size_t errlen)
{
	const char *id, *state, *region, *inst;

	memset(m, 0, sizeof(*m));
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "machine is not an object");
		return -1;
	}
	id = fly_json_str(o, "id");
	if (id == NULL || !fly_name_valid(id)) {
		snprintf(err, errlen, "machine without a valid id");
		return -1;
	}
	inst = fly_json_str(o, "instance_id");
	if (inst != NULL && *inst != '\0' && !fly_name_valid(inst)) {
		snprintf(err, errlen, "machine %s: invalid instance_id", id);
		return -1;
	}
	state = fly_json_str(o, "state");
	region = fly_json_str(o, "region");
	strlcpy(m->id, id, sizeof(m->id));
	strlcpy(m->state, state != NULL && *state != '\0' ? state : "unknown", sizeof(m->state));
	strlcpy(m->region, region != NULL ? region : "", sizeof(m->region));
	strlcpy(m->instance_id, inst != NULL ? inst : "", sizeof(m->instance_id));
	fly_utf8_trim(m->state);
	fly_utf8_trim(m->region);
	fly_machine_config(o, m);
	return 0;
}

int
fly_parse_machines(const char *body, struct machine_list *out, char *err, size_t errlen)
{
	struct json_object *o;
	size_t n, i;
	int rc = -1;

	out->v = NULL;
	out->n = 0;
	if ((o = fly_json_parse(body, err, errlen)) == NULL)
		return -1;
	if (!json_object_is_type(o, json_type_array)) {
		snprintf(err, errlen, "machine list is not an array");
		goto out;
	}
	n = json_object_array_length(o);
	if (n > FLY_MAX_MACHINES) {
		snprintf(err, errlen, "machine list too long (%zu)", n);
		goto out;
	}
	out->v = n > 0 ? xcalloc(n, sizeof(*out->v)) : NULL;
	for (i = 0; i < n; i++) {
		if (fly_machine_from_json(
		        json_object_array_get_idx(o, i), &out->v[i], err, errlen) == -1) {
			free(out->v);
			out->v = NULL;
			goto out;
		}
	}
	out->n = (int)n;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

int
fly_parse_machine(const char *body, struct machine *out, char *err, size_t errlen)
{
	struct json_object *o;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((o = fly_json_parse(body, err, errlen)) == NULL)
		return -1;
	rc = fly_machine_from_json(o, out, err, errlen);
	json_object_put(o);
	return rc;
}

int
fly_parse_start(const char *body, char *prev, size_t prevlen, char *err, size_t errlen)
{
	struct json_object *o;
	const char *p;

	if (prevlen > 0)
		*prev = '\0';
	if ((o = fly_json_parse(body, err, errlen)) == NULL)
		return -1;
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "start reply is not an object");
		json_object_put(o);
		return -1;
	}
	if ((p = fly_json_str(o, "previous_state")) != NULL && prevlen > 0)
		strlcpy(prev, p, prevlen);
	if (prevlen > 0)
		fly_utf8_trim(prev);
	json_object_put(o);
	return 0;
}

int
fly_parse_ok(const char *body, char *err, size_t errlen)
{
	struct json_object *o, *v;
	int rc = -1;

	if ((o = fly_json_parse(body, err, errlen)) == NULL)
		return -1;
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "ok", &v) &&
	    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v))
		rc = 0;
	else
		snprintf(err, errlen, "reply without \"ok\":true");
	json_object_put(o);
	return rc;
}

static void
fly_copy_text(char *dst, size_t len, const char *src)
{
	strlcpy(dst, src != NULL ? src : "", len);
	fly_utf8_trim(dst);
	util_clean(dst, len, dst, strlen(dst), 0);
}

int
fly_parse_lease(const char *body, struct fly_lease_info *out, char *err, size_t errlen)
{
	struct json_object *o, *data, *v;
	const char *n;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((o = fly_json_parse(body, err, errlen)) == NULL)
		return -1;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "data", &data) ||
	    !json_object_is_type(data, json_type_object)) {
		snprintf(err, errlen, "lease reply without a \"data\" object");
		goto out;
	}
	n = fly_json_str(data, "nonce");
	if (n == NULL || !fly_name_valid(n) || strlen(n) >= sizeof(out->nonce)) {
		snprintf(err, errlen, "lease reply without a usable nonce");
		goto out;
	}
	strlcpy(out->nonce, n, sizeof(out->nonce));
	fly_copy_text(out->owner, sizeof(out->owner), fly_json_str(data, "owner"));
	fly_copy_text(
	    out->description, sizeof(out->description), fly_json_str(data, "description"));
	if (json_object_object_get_ex(data, "expires_at", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
		out->expires_at = json_object_get_int64(v);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

bool
fly_suspend_eligible(const struct machine *m, char *why, size_t len)
{
	bool ok = true;

	if (len > 0)
		*why = '\0';
	if (m->memory_mb > FLY_SUSPEND_MAX_MEMORY_MB) {
		snprintf(why, len, "memory %d MB > %d", m->memory_mb, FLY_SUSPEND_MAX_MEMORY_MB);
		ok = false;
	}
	if (m->swap_size_mb > 0) {
		size_t n = strlen(why);

		snprintf(why + n, len - n, "%sswap %d MB", ok ? "" : "; ", m->swap_size_mb);
		ok = false;
	}
	if (m->schedule) {
		size_t n = strlen(why);

		snprintf(why + n, len - n, "%sa schedule", ok ? "" : "; ");
		ok = false;
	}
	return ok;
}

static const char *
fly_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	return "HTTP error";
}

char *
fly_error_text(int status, const char *body, char *buf, size_t len)
{
	struct json_object *o = NULL;
	const char *msg = NULL, *code = NULL;
	char ignore[64];

	if (len == 0)
		return buf;
	if (status == 401 || status == 403) {
		/* Fixed text: what the server says about a token stays out. */
		snprintf(buf, len, "%d %s: check FLY_API_TOKEN", status, fly_reason(status));
		return buf;
	}
	if (body != NULL && *body != '\0')
		o = fly_json_parse(body, ignore, sizeof(ignore));
	if (o != NULL && json_object_is_type(o, json_type_object)) {
		if ((msg = fly_json_str(o, "error")) == NULL || *msg == '\0')
			msg = fly_json_str(o, "message");
		code = fly_json_str(o, "status");
		if (msg != NULL && *msg == '\0')
			msg = NULL;
		/* A lease error's "status" is the envelope's "error". */
		if (code != NULL &&
		    (*code == '\0' || strcmp(code, "unknown") == 0 || strcmp(code, "error") == 0))
			code = NULL;
	}
	if (msg != NULL && code != NULL && strncmp(msg, code, strlen(code)) != 0)
		snprintf(buf, len, "%d %s: %s", status, code, msg);
	else if (msg != NULL)
		snprintf(buf, len, "%d %s", status, msg);
	else if (code != NULL)
		snprintf(buf, len, "%d %s", status, code);
	else
		snprintf(buf, len, "%d %s", status, fly_reason(status));
	json_object_put(o);
	fly_utf8_trim(buf);
	util_clean(buf, len, buf, strlen(buf), 0);
	return buf;
}
