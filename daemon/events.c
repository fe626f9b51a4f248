/*
 * Events (events.h): the numbered ring, the one serialisation of each
 * event, and the subscriber table it is handed to.
 */
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "util.h"

struct evsub {
	const char *const *types;
	events_sub_cb *cb;
	void *arg;
};

struct events {
	struct evsub subs[EVENTS_SUBS_MAX];
	int nsubs;
	struct evrec *ring[EVENTS_RING];
	unsigned head; /* next slot */
	unsigned n;
	uint64_t next_seq;
	uint64_t count;
};

struct events *
events_new(uint64_t first_seq)
{
	struct events *ev = xcalloc(1, sizeof(*ev));

	ev->next_seq = first_seq > 0 ? first_seq : 1;
	return ev;
}

void
events_free(struct events *ev)
{
	if (ev == NULL)
		return;
	for (unsigned i = 0; i < EVENTS_RING; i++)
		evrec_unref(ev->ring[i]);
	free(ev);
}

void
evrec_ref(struct evrec *r)
{
	r->refs++;
}

void
evrec_unref(struct evrec *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	free(r->line);
	free(r);
}

uint64_t
events_last_seq(const struct events *ev)
{
	return ev->next_seq - 1;
}

uint64_t
events_count(const struct events *ev)
{
	return ev->count;
}

int
events_subscribe(struct events *ev, const char *const *types, events_sub_cb *cb, void *arg)
{
	if (ev->nsubs == EVENTS_SUBS_MAX)
		return -1;
	ev->subs[ev->nsubs].types = types;
	ev->subs[ev->nsubs].cb = cb;
	ev->subs[ev->nsubs].arg = arg;
	ev->nsubs++;
	return 0;
}

void
events_unsubscribe(struct events *ev, events_sub_cb *cb, void *arg)
{
	for (int i = 0; i < ev->nsubs; i++)
		if (ev->subs[i].cb == cb && ev->subs[i].arg == arg) {
			memmove(&ev->subs[i], &ev->subs[i + 1],
			    (size_t)(ev->nsubs - i - 1) * sizeof(ev->subs[0]));
			ev->nsubs--;
			return;
		}
}

static bool
sub_wants(const struct evsub *s, const char *type)
{
	if (s->types == NULL)
		return true;
	for (const char *const *t = s->types; *t != NULL; t++)
		if (strcmp(*t, type) == 0)
			return true;
	return false;
}

const struct evrec *
events_emit(struct events *ev, const char *type, json_object *fields)
{
	json_object *obj = json_object_new_object(), *wrap;
	struct evrec *r;
	char when[UTIL_TIME_LEN];
	const char *s;

	r = xcalloc(1, sizeof(*r));
	r->refs = 1;
	r->seq = ev->next_seq++;
	strlcpy(r->type, type, sizeof(r->type));

	json_object_object_add(obj, "seq", json_object_new_int64((int64_t)r->seq));
	json_object_object_add(
	    obj, "time", json_object_new_string(util_time_fmt(util_now_ms(), when, sizeof(when))));
	json_object_object_add(obj, "type", json_object_new_string(type));
	if (fields != NULL) {
		json_object_object_foreach(fields, k, v)
		{
			json_object_object_add(obj, k, json_object_get(v));
		}
		json_object_put(fields);
	}
	wrap = json_object_new_object();
	json_object_object_add(wrap, "event", json_object_get(obj));
	s = json_object_to_json_string_ext(
	    wrap, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	r->line = xasprintf("%s\n", s);
	r->len = strlen(r->line);
	json_object_put(wrap);

	evrec_unref(ev->ring[ev->head]);
	ev->ring[ev->head] = r;
	ev->head = (ev->head + 1) % EVENTS_RING;
	if (ev->n < EVENTS_RING)
		ev->n++;
	ev->count++;

	log_debug2("event %s", r->line);
	/* The ring holds a reference; so does this call, so a subscriber
	 * that emits 1024 events of its own cannot free r under us. */
	evrec_ref(r);
	for (int i = 0; i < ev->nsubs; i++)
		if (sub_wants(&ev->subs[i], r->type))
			ev->subs[i].cb(r, obj, ev->subs[i].arg);
	json_object_put(obj);
	evrec_unref(r);
	return r;
}

bool
evfilter_match(const struct evfilter *f, const struct evrec *r)
{
	if (f == NULL || f->n == 0)
		return true;
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->types[i], r->type) == 0)
			return true;
	return false;
}

int
events_backlog(struct events *ev, const struct evfilter *f, int n, struct evrec ***out)
{
	struct evrec **v;
	int found = 0;

	*out = NULL;
	if (n <= 0 || ev->n == 0)
		return 0;
	if ((unsigned)n > ev->n)
		n = (int)ev->n;
	v = xcalloc((size_t)n, sizeof(*v));
	/* Walk back from the newest, then reverse into oldest-first order. */
	for (unsigned i = 0; i < ev->n && found < n; i++) {
		unsigned slot = (ev->head + EVENTS_RING - 1 - i) % EVENTS_RING;
		struct evrec *r = ev->ring[slot];
		if (evfilter_match(f, r)) {
			evrec_ref(r);
			v[found++] = r;
		}
	}
	for (int i = 0; i < found / 2; i++) {
		struct evrec *t = v[i];
		v[i] = v[found - 1 - i];
		v[found - 1 - i] = t;
	}
	*out = v;
	return found;
}
