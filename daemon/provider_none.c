/*
 * PROVIDER=none, the dry run: logs what it would do and keeps one make-
 * believe machine, "dry-run", that activate starts and deactivate stops.
 * Results arrive through a zero-delay timer, never inside start().
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "provider.h"
#include "util.h"

struct provider {
	struct event *ev;
	struct machine m;
	struct machine_list ml;
	bool busy;
	enum prov_op op;
	prov_done_cb *done;
	prov_progress_cb *progress;
	void *arg;
	unsigned gen; /* instance ids, new at each simulated start */
};

static void
none_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct provider *p = arg;
	struct prov_status st;
	prov_done_cb *cb = p->done;
	void *cbarg = p->arg;

	if (!p->busy)
		return;
	switch (p->op) {
	case PROV_OP_LIST: break;
	case PROV_OP_ACTIVATE:
		if (strcmp(p->m.state, "started") != 0) {
			log_info("dry run: would start machine %s", p->m.id);
			if (p->progress != NULL)
				p->progress("dry run: starting machine dry-run", p->arg);
			snprintf(p->m.instance_id, sizeof(p->m.instance_id), "dryrun%u", ++p->gen);
		}
		strlcpy(p->m.state, "started", sizeof(p->m.state));
		break;
	case PROV_OP_DEACTIVATE:
	case PROV_OP_STOP:
		if (strcmp(p->m.state, "stopped") != 0) {
			log_info("dry run: would stop machine %s", p->m.id);
			if (p->progress != NULL)
				p->progress("dry run: stopping machine dry-run", p->arg);
		}
		strlcpy(p->m.state, "stopped", sizeof(p->m.state));
		break;
	}
	memset(&st, 0, sizeof(st));
	st.res = PROV_OK;
	st.retry_after_ms = -1;
	p->ml.v = &p->m;
	p->ml.n = 1;
	st.machines = &p->ml;
	p->busy = false;
	p->done = NULL;
	p->progress = NULL;
	p->arg = NULL;
	if (cb != NULL)
		cb(&st, cbarg);
}

static struct provider *
none_create(struct event_base *base, struct http *http, const struct config *cfg)
{
	struct provider *p = xcalloc(1, sizeof(*p));

	if ((p->ev = event_new(base, -1, 0, none_ev_cb, p)) == NULL) {
		free(p);
		return NULL;
	}
	strlcpy(p->m.id, "dry-run", sizeof(p->m.id));
	strlcpy(p->m.state, "stopped", sizeof(p->m.state));
	strlcpy(p->m.region, "local", sizeof(p->m.region));
	strlcpy(p->m.instance_id, "dryrun0", sizeof(p->m.instance_id));
	return p;
}

static void
none_destroy(struct provider *p)
{
	if (p == NULL)
		return;
	event_free(p->ev);
	free(p);
}

static void
none_reconfigure(struct provider *p, const struct config *cfg)
{
}

static int
none_start(
    struct provider *p, enum prov_op op, prov_done_cb *cb, prov_progress_cb *progress, void *arg)
{
	struct timeval tv = {0, 0};

	if (p->busy)
		return -1;
	p->busy = true;
	p->op = op;
	p->done = cb;
	p->progress = progress;
	p->arg = arg;
	evtimer_add(p->ev, &tv);
	return 0;
}

static void
none_cancel(struct provider *p)
{
	if (p == NULL || !p->busy)
		return;
	evtimer_del(p->ev);
	p->busy = false;
	p->done = NULL;
	p->progress = NULL;
	p->arg = NULL;
}

const struct provider_ops provider_none_ops = {
    .name = "none",
    .create = none_create,
    .destroy = none_destroy,
    .reconfigure = none_reconfigure,
    .start = none_start,
    .cancel = none_cancel,
};
