/*
 * The one arbiter for the provider: whoever needs the standby's provider
 * (an action, a standby restart, a listing, a selftest) asks here. One
 * operation runs at a time; a request of a higher priority cancels a lower
 * one that runs (its owner hears `lost`), and waits behind an equal or
 * higher one. Each priority has one slot: a new request replaces a queued
 * one of its priority (the replaced one hears `lost`).
 */
#ifndef FOD_PROVQ_H
#define FOD_PROVQ_H

#include <stdbool.h>

#include "provider.h"

enum provq_prio {
	PQ_SELFTEST, /* lowest */
	PQ_LIST,
	PQ_RESTART, /* corrections outside a transition: drift stop, restart */
	PQ_ACTION, /* a transition's start or stop */
	PQ_NPRIO,
};

/* The request did not and will not run (cancelled by a higher one). */
typedef void provq_lost_cb(void *arg);

struct provq_req {
	enum prov_op op;
	prov_done_cb *done;
	prov_progress_cb *progress; /* may be NULL */
	provq_lost_cb *lost; /* may be NULL */
	void *arg;
};

struct provq;

struct provq *provq_new(const struct provider_ops *, struct provider *);
/* Cancels what runs (no callbacks); the provider itself is the caller's. */
void provq_free(struct provq *);
/* Runs req now, or as soon as nothing of its priority or higher runs. */
void provq_submit(struct provq *, enum provq_prio, const struct provq_req *);
/* Withdraws the request of that priority, queued or running; no callbacks. */
void provq_cancel(struct provq *, enum provq_prio);
/* A request of that priority is queued or running. */
bool provq_pending(const struct provq *, enum provq_prio);
/* Anything runs. */
bool provq_busy(const struct provq *);

#endif
