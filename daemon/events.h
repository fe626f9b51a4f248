/*
 * Events: a numbered ring of the recent ones and fan-out to subscribers.
 * Each event is serialised once into a refcounted line that every
 * subscriber's output buffer shares.
 */
#ifndef FOD_EVENTS_H
#define FOD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct daemon;

#define EVENTS_RING 1024
#define EVENT_TYPE_LEN 16

struct evrec {
	int refs;
	uint64_t seq;
	char type[EVENT_TYPE_LEN];
	char *line; /* {"event":{...}}\n */
	size_t len;
};

struct events;

struct events *events_new(struct daemon *, uint64_t first_seq);
void events_free(struct events *);

/*
 * Emits an event of type with fields (consumed; NULL for none): adds seq
 * and time, keeps it in the ring, sends it to subscribers. Returns its seq.
 */
uint64_t events_emit(struct events *, const char *type, json_object *fields);
uint64_t events_last_seq(const struct events *);
uint64_t events_count(const struct events *); /* emitted in this run */

/* A types filter: NULL/empty = all. */
struct evfilter {
	char (*types)[EVENT_TYPE_LEN];
	int n;
};
bool evfilter_match(const struct evfilter *, const struct evrec *);

/* The last n matching records, oldest first, each with a new reference. */
int events_backlog(struct events *, const struct evfilter *, int n, struct evrec ***out);

void evrec_ref(struct evrec *);
void evrec_unref(struct evrec *);

#endif
