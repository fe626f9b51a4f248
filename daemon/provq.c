/*
 * The provider arbiter (provq.h): one operation at a time, by priority.
 */
#include <stdlib.h>
#include <string.h>

#include "provq.h"
#include "util.h"

struct provq {
	const struct provider_ops *ops;
	struct provider *prov;
	struct provq_req slot[PQ_NPRIO];
	bool queued[PQ_NPRIO];
	int running; /* the priority that runs, or -1 */
	struct provq_req cur;
};

static void provq_next(struct provq *);

static void
provq_done(const struct prov_status *ps, void *arg)
{
	struct provq *q = arg;
	struct provq_req r = q->cur;

	q->running = -1;
	r.done(ps, r.arg);
	provq_next(q);
}

static void
provq_progress(const char *detail, void *arg)
{
	struct provq *q = arg;

	if (q->cur.progress != NULL)
		q->cur.progress(detail, q->cur.arg);
}

/* Starts the highest queued request when nothing runs. */
static void
provq_next(struct provq *q)
{
	while (q->running < 0) {
		int p;

		for (p = PQ_NPRIO - 1; p >= 0 && !q->queued[p]; p--)
			;
		if (p < 0)
			return;
		q->queued[p] = false;
		q->cur = q->slot[p];
		q->running = p;
		if (q->ops->start(q->prov, q->cur.op, provq_done, provq_progress, q) == 0)
			return;
		/* The provider refused (it never does while the arbiter is
		 * the only caller): say so as a retryable failure. */
		{
			struct prov_status ps;

			memset(&ps, 0, sizeof(ps));
			ps.res = PROV_RETRY;
			ps.retry_after_ms = -1;
			strlcpy(ps.error, "the provider could not start", sizeof(ps.error));
			provq_done(&ps, q);
		}
	}
}

struct provq *
provq_new(const struct provider_ops *ops, struct provider *prov)
{
	struct provq *q = xcalloc(1, sizeof(*q));

	q->ops = ops;
	q->prov = prov;
	q->running = -1;
	return q;
}

void
provq_free(struct provq *q)
{
	if (q == NULL)
		return;
	if (q->running >= 0)
		q->ops->cancel(q->prov);
	free(q);
}

void
provq_submit(struct provq *q, enum provq_prio p, const struct provq_req *req)
{
	if (q->queued[p] && q->slot[p].lost != NULL) {
		struct provq_req old = q->slot[p];

		q->queued[p] = false;
		old.lost(old.arg);
	}
	if (q->running >= 0 && q->running < (int)p) {
		struct provq_req old = q->cur;

		q->ops->cancel(q->prov);
		q->running = -1;
		if (old.lost != NULL)
			old.lost(old.arg);
	}
	q->slot[p] = *req;
	q->queued[p] = true;
	provq_next(q);
}

void
provq_cancel(struct provq *q, enum provq_prio p)
{
	q->queued[p] = false;
	if (q->running == (int)p) {
		q->ops->cancel(q->prov);
		q->running = -1;
		provq_next(q);
	}
}

bool
provq_pending(const struct provq *q, enum provq_prio p)
{
	return q->queued[p] || q->running == (int)p;
}

bool
provq_busy(const struct provq *q)
{
	return q->running >= 0;
}
