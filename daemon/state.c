/*
 * STATE_FILE (contract §8): struct dstate, its parser (strict: a corrupt or
 * foreign file is refused with a reason, never half trusted) and its atomic
 * save. See state.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "util.h"

#define STATE_MAX_BYTES (4 * 1024 * 1024)

static struct dstate *
dstate_new(const char *path)
{
	struct dstate *st = xcalloc(1, sizeof(*st));

	st->path = xstrdup(path);
	st->machines = json_object_new_array();
	st->pending = json_object_new_array();
	st->jobs = json_object_new_array();
	return st;
}

void
dstate_free(struct dstate *st)
{
	if (st == NULL)
		return;
	json_object_put(st->machines);
	json_object_put(st->pending);
	json_object_put(st->jobs);
	free(st->path);
	free(st);
}

static int
get_u64(json_object *o, const char *k, uint64_t *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, k, &x))
		return 0;
	if (!json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0)
		return -1;
	*v = (uint64_t)json_object_get_int64(x);
	return 0;
}

static int
get_time(json_object *o, const char *k, int64_t *v)
{
	json_object *x;

	*v = 0;
	if (!json_object_object_get_ex(o, k, &x) || json_object_is_type(x, json_type_null))
		return 0;
	if (!json_object_is_type(x, json_type_string))
		return -1;
	return util_time_parse(json_object_get_string(x), v);
}

static int
get_bool(json_object *o, const char *k, bool *v)
{
	json_object *x;

	if (!json_object_object_get_ex(o, k, &x))
		return 0;
	if (!json_object_is_type(x, json_type_boolean))
		return -1;
	*v = json_object_get_boolean(x);
	return 0;
}

int
dstate_parse(struct dstate *st, const char *text, size_t len, char *msg, size_t msglen)
{
	json_tokener *tok = json_tokener_new_ex(32);
	json_object *o, *x;
	uint64_t u = 0;
	int bad = 0;

	if (tok == NULL) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(msg, msglen, "not valid JSON (%s)",
		    json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		json_object_put(o);
		return -1;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(msg, msglen, "not a JSON object");
		json_object_put(o);
		return -1;
	}
	if (get_u64(o, "version", &u) == -1 || u != DSTATE_VERSION) {
		snprintf(msg, msglen, "unknown version");
		json_object_put(o);
		return -1;
	}
	bad |= get_u64(o, "seq_floor", &st->seq_floor);
	bad |= get_u64(o, "events_total", &st->events_total);
	bad |= get_u64(o, "failovers", &st->failovers);
	bad |= get_u64(o, "failbacks", &st->failbacks);
	bad |= get_time(o, "last_failover", &st->last_failover);
	bad |= get_time(o, "last_failback", &st->last_failback);
	bad |= get_bool(o, "forced", &st->forced);
	bad |= get_bool(o, "paused", &st->paused);
	bad |= get_time(o, "paused_until", &st->paused_until);
	bad |= get_time(o, "active_since", &st->active_since);
	bad |= get_bool(o, "pushes_suspended", &st->pushes_suspended);
	u = 0;
	bad |= get_u64(o, "active_ms_total", &u);
	st->active_ms_total = (int64_t)u;
	if (json_object_object_get_ex(o, "side", &x)) {
		const char *s = json_object_get_string(x);
		if (!json_object_is_type(x, json_type_string) ||
		    (strcmp(s, "primary") != 0 && strcmp(s, "standby") != 0 &&
		        strcmp(s, "failing-over") != 0 && strcmp(s, "failing-back") != 0))
			bad = -1;
		else
			strlcpy(st->side, s, sizeof(st->side));
	}
	if (json_object_object_get_ex(o, "machines", &x)) {
		if (!json_object_is_type(x, json_type_array))
			bad = -1;
		else {
			json_object_put(st->machines);
			st->machines = json_object_get(x);
		}
	}
	if (json_object_object_get_ex(o, "pending", &x)) {
		if (!json_object_is_type(x, json_type_array))
			bad = -1;
		else {
			json_object_put(st->pending);
			st->pending = json_object_get(x);
		}
	}
	if (json_object_object_get_ex(o, "jobs", &x)) {
		if (!json_object_is_type(x, json_type_array))
			bad = -1;
		else {
			json_object_put(st->jobs);
			st->jobs = json_object_get(x);
		}
	}
	json_object_put(o);
	if (bad) {
		snprintf(msg, msglen, "a field has the wrong type or value");
		return -1;
	}
	return 0;
}

enum dstate_load_result
dstate_load(const char *path, struct dstate **out, char *msg, size_t msglen)
{
	struct dstate *st = dstate_new(path);
	char why[200], stamp[40];
	size_t len;
	char *text;

	*out = st;
	msg[0] = '\0';
	text = util_read_file(path, STATE_MAX_BYTES, &len);
	if (text == NULL) {
		int err = errno;
		if (err == ENOENT)
			return DSTATE_FRESH;
		snprintf(
		    msg, msglen, "cannot read %s: %s; starting without it", path, strerror(err));
		if (err != EFBIG)
			return DSTATE_UNREADABLE;
		snprintf(why, sizeof(why), "over %d bytes", STATE_MAX_BYTES);
	} else if (dstate_parse(st, text, len, why, sizeof(why)) == 0) {
		free(text);
		return DSTATE_LOADED;
	}
	free(text);
	/* Never trust a half-parsed file: start from nothing, keep the evidence. */
	dstate_free(st);
	*out = st = dstate_new(path);
	{
		char *aside = xasprintf(
		    "%s.corrupt-%s", path, util_time_stamp(util_now_ms(), stamp, sizeof(stamp)));
		if (rename(path, aside) == 0)
			snprintf(
			    msg, msglen, "%s is corrupt (%s): moved aside to %s", path, why, aside);
		else
			snprintf(msg, msglen, "%s is corrupt (%s) and could not be moved aside: %s",
			    path, why, strerror(errno));
		free(aside);
	}
	return DSTATE_CORRUPT;
}

static void
put_time(json_object *o, const char *k, int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	json_object_object_add(
	    o, k, ms != 0 ? json_object_new_string(util_time_fmt(ms, buf, sizeof(buf))) : NULL);
}

int
dstate_save(struct dstate *st)
{
	json_object *o = json_object_new_object();
	const char *s;
	int rc, save;

	json_object_object_add(o, "version", json_object_new_int(DSTATE_VERSION));
	json_object_object_add(o, "seq_floor", json_object_new_int64((int64_t)st->seq_floor));
	json_object_object_add(o, "events_total", json_object_new_int64((int64_t)st->events_total));
	json_object_object_add(o, "failovers", json_object_new_int64((int64_t)st->failovers));
	json_object_object_add(o, "failbacks", json_object_new_int64((int64_t)st->failbacks));
	put_time(o, "last_failover", st->last_failover);
	put_time(o, "last_failback", st->last_failback);
	if (st->side[0] != '\0')
		json_object_object_add(o, "side", json_object_new_string(st->side));
	json_object_object_add(o, "forced", json_object_new_boolean(st->forced));
	json_object_object_add(o, "paused", json_object_new_boolean(st->paused));
	put_time(o, "paused_until", st->paused_until);
	put_time(o, "active_since", st->active_since);
	json_object_object_add(o, "active_ms_total", json_object_new_int64(st->active_ms_total));
	json_object_object_add(
	    o, "pushes_suspended", json_object_new_boolean(st->pushes_suspended));
	json_object_object_add(o, "machines", json_object_get(st->machines));
	json_object_object_add(o, "pending", json_object_get(st->pending));
	json_object_object_add(
	    o, "jobs", st->jobs != NULL ? json_object_get(st->jobs) : json_object_new_array());

	s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = util_write_atomic(st->path, s, strlen(s), 0600);
	save = errno;
	json_object_put(o);
	if (rc == -1) {
		st->save_failed = true;
		snprintf(st->save_error, sizeof(st->save_error), "cannot write %s: %s", st->path,
		    strerror(save));
		errno = save;
		return -1;
	}
	st->save_failed = false;
	st->save_error[0] = '\0';
	return 0;
}
