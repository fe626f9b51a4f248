/*
 * Events: a numbered ring of the recent ones and fan-out to subscribers.
 * Each event is serialised once into a refcounted line that every
 * subscriber's output buffer shares. Who announces what subscribes here:
 * the control socket (every event to `events` clients), the daemon (the
 * persisted seq floor, STATUS_FILE), Telegram (notify.c) and NOTIFY_CMD
 * (hooks.c); events.c itself knows none of them.
 */
#ifndef FOD_EVENTS_H
#define FOD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

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

struct events *events_new(uint64_t first_seq);
void events_free(struct events *);

/*
 * A subscriber: rec is the record (its line, seq and type), event the
 * event's object ({"seq","time","type",...fields}); both borrowed for the
 * call. A subscriber may emit events itself (they reach every subscriber
 * after this one has returned... in nesting order, never lost).
 */
typedef void events_sub_cb(const struct evrec *rec, json_object *event, void *arg);
#define EVENTS_SUBS_MAX 8
/* types: a NULL-terminated list of types, or NULL for every type. The
 * strings must outlive the subscription. -1 when the table is full. */
int events_subscribe(struct events *ev, const char *const *types, events_sub_cb *cb, void *arg);
void events_unsubscribe(struct events *ev, events_sub_cb *cb, void *arg);

/*
 * Emits an event of type with fields (consumed; NULL for none): adds seq
 * and time, keeps it in the ring, hands it to the subscribers. Returns the
 * record (owned by the ring: take a reference to keep it).
 */
const struct evrec *events_emit(struct events *, const char *type, json_object *fields);
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
