/*
 * provtool: runs one provider operation on an event loop and prints its
 * result as one JSON line, for the integration tests.
 *
 *   provtool [-v] [-t REQUEST_MS] [-w WAIT_S] list|activate|deactivate KEY=VALUE...
 *
 * KEY=VALUE are the config keys, read as the environment would be; no
 * file and not the real environment are read. Output:
 * {"res","error","retry_after_ms","machines":[{id,state,region,instance_id,
 * previous_state}],"notice","progress":[...]}.
 * Exit 0 when the operation ended (whatever its result), 2 on a usage or config error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "provider.h"
#include "util.h"

struct run {
	struct event_base *base;
	struct json_object *out;
	struct json_object *progress;
	bool done;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: provtool [-v] [-t request_ms] [-w wait_s] "
	    "list|activate|deactivate KEY=VALUE...\n");
	exit(2);
}

static void
on_progress(const char *detail, void *arg)
{
	struct run *r = arg;

	json_object_array_add(r->progress, json_object_new_string(detail));
}

static void
on_done(const struct prov_status *st, void *arg)
{
	struct run *r = arg;
	struct json_object *ms = json_object_new_array(), *m;
	int i;

	json_object_object_add(r->out, "res", json_object_new_string(prov_result_str(st->res)));
	json_object_object_add(r->out, "error", json_object_new_string(st->error));
	json_object_object_add(r->out, "retry_after_ms", json_object_new_int64(st->retry_after_ms));
	for (i = 0; st->machines != NULL && i < st->machines->n; i++) {
		const struct machine *x = &st->machines->v[i];

		m = json_object_new_object();
		json_object_object_add(m, "id", json_object_new_string(x->id));
		json_object_object_add(m, "state", json_object_new_string(x->state));
		json_object_object_add(m, "region", json_object_new_string(x->region));
		json_object_object_add(m, "instance_id", json_object_new_string(x->instance_id));
		json_object_object_add(
		    m, "previous_state", json_object_new_string(x->previous_state));
		json_object_array_add(ms, m);
	}
	json_object_object_add(r->out, "machines", ms);
	json_object_object_add(r->out, "notice", json_object_new_string(st->notice));
	r->done = true;
	event_base_loopbreak(r->base);
}

int
main(int argc, char *argv[])
{
	struct config_source src;
	struct config_errors errs = {NULL, 0};
	struct config *cfg;
	const struct provider_ops *ops;
	struct provider *prov;
	struct http *http;
	struct run r;
	enum prov_op op;
	long long reqms = 0, waits = 0;
	int ch, i;

	while ((ch = getopt(argc, argv, "vt:w:")) != -1) {
		switch (ch) {
		case 'v': log_verbose(log_getverbose() + 1); break;
		case 't':
			if (util_int_parse(optarg, 1, 3600000, &reqms) == -1)
				usage();
			break;
		case 'w':
			if (util_int_parse(optarg, 1, 60, &waits) == -1)
				usage();
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "list") == 0)
		op = PROV_OP_LIST;
	else if (strcmp(argv[0], "activate") == 0)
		op = PROV_OP_ACTIVATE;
	else if (strcmp(argv[0], "deactivate") == 0)
		op = PROV_OP_DEACTIVATE;
	else
		usage();
	log_init("provtool", LOG_DEST_STDERR, NULL);

	memset(&src, 0, sizeof(src));
	src.file = "/dev/null";
	/* As the environment, not -D: config refuses secrets in argv (a real
	 * daemon's argv is public; this test tool's token is a fake's). */
	src.environ = argv + 1;
	if ((cfg = config_load(&src, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "provtool: %s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		return 2;
	}
	if ((ops = provider_ops_for(cfg->provider)) == NULL) {
		fprintf(stderr, "provtool: no such provider\n");
		return 2;
	}

	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	r.out = json_object_new_object();
	r.progress = json_object_new_array();
	http = http_new(r.base);
	if (r.base == NULL || http == NULL || (prov = ops->create(r.base, http, cfg)) == NULL) {
		fprintf(stderr, "provtool: set-up failed\n");
		return 2;
	}
	if (cfg->provider == PROVIDER_FLY)
		provider_fly_tune(prov, reqms, (int)waits);
	if (ops->start(prov, op, on_done, on_progress, &r) == -1) {
		fprintf(stderr, "provtool: provider busy\n");
		return 2;
	}
	/* A result inside start() would be a bug the tests should see. */
	if (r.done) {
		fprintf(stderr, "provtool: completed synchronously inside start()\n");
		return 3;
	}
	while (!r.done)
		if (event_base_dispatch(r.base) != 0)
			break; /* error, or nothing left to wait for */

	/* The fly provider releases its leases after the result: let those
	 * requests out (at most 6 s) so the tests see them. */
	if (r.done && cfg->provider == PROVIDER_FLY) {
		struct timeval tick = {0, 10000};
		int64_t until = util_mono_ms() + 6000;

		while (!provider_fly_idle(prov) && util_mono_ms() < until) {
			event_base_loopexit(r.base, &tick);
			event_base_dispatch(r.base);
		}
	}
	json_object_object_add(r.out, "progress", json_object_get(r.progress));
	printf("%s\n", json_object_to_json_string_ext(r.out, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);

	ops->destroy(prov);
	http_free(http);
	json_object_put(r.progress);
	json_object_put(r.out);
	config_free(cfg);
	event_base_free(r.base);
	return r.done ? 0 : 1;
}
