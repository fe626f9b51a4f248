/*
 * notifytool: drives daemon/notify.c on an event loop for the integration
 * tests and prints what came of it as one JSON line.
 *
 *   notifytool [-v] [-c FILE] [-D KEY=VALUE]... [-T DEADLINE_MS] [-W]
 *              [-m TEXT]... [-s] [-F FLUSH_MS] [-H COUNT [-I INTERVAL_MS]]
 *              [-t TEXT] [-r AFTER_MS -R KEY=VALUE...] [KEY=VALUE...]
 *
 * The config is FILE (default /dev/null), then the trailing KEY=VALUE read
 * as the environment would be (secrets may be given; the real environment
 * is not read), then -D. The dstate is loaded from STATE_FILE (a missing
 * file is a fresh start) and saved there by the save callback.
 *
 *   -m TEXT      queue TEXT at the start (repeatable, in order)
 *   -s           stdin is a JSON array: a string is queued at the start
 *                (after the -m ones), {"at": MS, "text": T} MS ms after it
 *   -F MS        after queuing, notifier_flush(MS) and stop at its callback
 *   -H COUNT     heartbeat mode: notifier_heartbeat COUNT times, one every
 *                -I ms (default 200), the first at once
 *   -t TEXT      notifier_test(TEXT), stop at its callback
 *   -r MS        reload after MS: the config again with each -R KEY=VALUE
 *                in place of the same key (notifier_reconfigure)
 *   -T MS        deadline (default 20000)
 *   -W           run to the deadline even when nothing is left to do
 * Without -W (and -F, -t) it stops once nothing is pending and nothing is
 * in flight or scheduled (after the last -s message and heartbeat).
 *
 * Output: {"events":[{type, t_ms (since start), ...fields}], "status"
 * (status.notify), "pending" (texts left in the dstate), "saves",
 * "save_errors", "heartbeats" (calls made), "test":{rc,ok,detail,
 * cb_inside} or null, "flush":{rc_sync,calls,ms} or null, "max_gap_ms"
 * (longest pause between two 10 ms ticks: the loop never blocks),
 * "elapsed_ms", "busy_at_end", "deadline_hit"}.
 * Exit 0 when it ran, 2 on a usage or config error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "events_stub.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "state.h"
#include "util.h"

struct later {
	struct event *ev;
	struct run *r;
	char *text;
};

struct run {
	struct event_base *base;
	struct notifier *n;
	struct dstate *st;
	json_object *out;
	int saves, save_errors;
	int later_left; /* -s messages not queued yet */
	int hb_left, hb_made;
	int64_t hb_interval;
	bool in_call, cb_inside, stop, wait_all;
	int flush_calls;
	int64_t flush_start;
	int64_t t0, last_tick, max_gap;
	/* the reload */
	struct config_source src;
	char **env2;
	struct config *cfg2;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: notifytool [-v] [-c file] [-D key=value]... [-T deadline_ms] [-W] "
	    "[-m text]... [-s] [-F flush_ms] [-H count [-I interval_ms]] [-t text] "
	    "[-r after_ms -R key=value...] [KEY=VALUE...]\n");
	exit(2);
}

static void
on_save(void *arg)
{
	struct run *r = arg;

	r->saves++;
	if (dstate_save(r->st) == -1) {
		r->save_errors++;
		fprintf(stderr, "notifytool: cannot save %s\n", r->st->path);
	}
}

static void
set_timer(struct event *ev, int64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	evtimer_add(ev, &tv);
}

static void
on_later(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;

	(void)fd;
	(void)what;
	notifier_send(l->r->n, l->text);
	l->r->later_left--;
}

static void
on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	if (r->hb_left <= 0)
		return;
	r->hb_left--;
	r->hb_made++;
	notifier_heartbeat(r->n);
}

static void
on_test(bool ok, const char *detail, void *arg)
{
	struct run *r = arg;
	json_object *t = NULL;

	json_object_object_get_ex(r->out, "test", &t);
	if (r->in_call)
		r->cb_inside = true;
	json_object_object_add(t, "ok", json_object_new_boolean(ok));
	json_object_object_add(t, "detail", json_object_new_string(detail));
	r->stop = true;
	event_base_loopbreak(r->base);
}

static void
on_flushed(void *arg)
{
	struct run *r = arg;

	if (r->in_call)
		r->cb_inside = true;
	r->flush_calls++;
	r->stop = true;
	event_base_loopbreak(r->base);
}

static void
on_reload(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	struct config_errors errs = {NULL, 0};

	(void)fd;
	(void)what;
	r->src.environ = r->env2;
	if ((r->cfg2 = config_load(&r->src, &errs)) == NULL) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "notifytool: reload: %s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		return;
	}
	notifier_reconfigure(r->n, r->cfg2);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int64_t now = util_mono_ms();

	(void)fd;
	(void)what;
	if (r->last_tick > 0 && now - r->last_tick > r->max_gap)
		r->max_gap = now - r->last_tick;
	r->last_tick = now;
	/* Done: nothing pending, nothing in flight or armed, nothing to come. */
	if (!r->wait_all && r->later_left == 0 && r->hb_left == 0 && !notifier_busy(r->n) &&
	    notifier_pending(r->n) == 0) {
		r->stop = true;
		event_base_loopbreak(r->base);
	}
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	json_object_object_add(r->out, "deadline_hit", json_object_new_boolean(true));
	r->stop = true;
	event_base_loopbreak(r->base);
}

/* argv's KEY=VALUE with each of over's keys replaced (or added). */
static char **
env_override(char **env, int nenv, char **over, int nover)
{
	char **out = xcalloc((size_t)(nenv + nover + 1), sizeof(*out));
	int n = 0;

	for (int i = 0; i < nenv; i++) {
		size_t kl = strcspn(env[i], "=");
		bool replaced = false;

		for (int j = 0; j < nover; j++)
			if (strncmp(over[j], env[i], kl) == 0 && over[j][kl] == '=')
				replaced = true;
		if (!replaced)
			out[n++] = env[i];
	}
	for (int j = 0; j < nover; j++)
		out[n++] = over[j];
	return out;
}

static json_object *
read_stdin(void)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, k;
	json_object *o;

	for (;;) {
		if (len + 65536 > cap) {
			cap = (cap + 65536) * 2;
			buf = xrealloc(buf, cap);
		}
		if ((k = fread(buf + len, 1, cap - len - 1, stdin)) == 0)
			break;
		len += k;
	}
	buf[len] = '\0';
	o = json_tokener_parse(buf);
	free(buf);
	if (o == NULL || !json_object_is_type(o, json_type_array)) {
		fprintf(stderr, "notifytool: stdin is not a JSON array\n");
		exit(2);
	}
	return o;
}

int
main(int argc, char *argv[])
{
	struct config_errors errs = {NULL, 0};
	struct config *cfg;
	struct events ev = {NULL, 0, 0};
	struct http *http;
	struct run r;
	struct event *tick, *deadline_ev, *hb_ev = NULL, *reload_ev = NULL;
	struct later *laters = NULL;
	int nlaters = 0;
	char **defines = NULL, **msgs = NULL, **over = NULL, msg[256];
	int ndefines = 0, nmsgs = 0, nover = 0, ch, i, rc;
	long long deadline = 20000, flush_ms = -1, hb_count = 0, hb_interval = 200, reload_ms = -1;
	bool use_stdin = false;
	const char *test_text = NULL;
	json_object *in = NULL, *st, *texts;
	struct timeval tv10 = {0, 10000};

	memset(&r, 0, sizeof(r));
	r.src.file = "/dev/null";
	while ((ch = getopt(argc, argv, "vc:D:T:Wm:sF:H:I:t:r:R:")) != -1) {
		switch (ch) {
		case 'v': log_verbose(log_getverbose() + 1); break;
		case 'c': r.src.file = optarg; break;
		case 'D':
			defines = xrealloc(defines, sizeof(*defines) * (size_t)(ndefines + 1));
			defines[ndefines++] = optarg;
			break;
		case 'T':
			if (util_int_parse(optarg, 1, 600000, &deadline) == -1)
				usage();
			break;
		case 'W': r.wait_all = true; break;
		case 'm':
			msgs = xrealloc(msgs, sizeof(*msgs) * (size_t)(nmsgs + 1));
			msgs[nmsgs++] = optarg;
			break;
		case 's': use_stdin = true; break;
		case 'F':
			if (util_int_parse(optarg, 0, 600000, &flush_ms) == -1)
				usage();
			break;
		case 'H':
			if (util_int_parse(optarg, 1, 100000, &hb_count) == -1)
				usage();
			break;
		case 'I':
			if (util_int_parse(optarg, 1, 600000, &hb_interval) == -1)
				usage();
			break;
		case 't': test_text = optarg; break;
		case 'r':
			if (util_int_parse(optarg, 0, 600000, &reload_ms) == -1)
				usage();
			break;
		case 'R':
			if (strchr(optarg, '=') == NULL)
				usage();
			over = xrealloc(over, sizeof(*over) * (size_t)(nover + 1));
			over[nover++] = optarg;
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	log_init("notifytool", LOG_DEST_STDERR, NULL);
	signal(SIGPIPE, SIG_IGN);

	r.src.environ = argv;
	r.src.defines = defines;
	r.src.ndefines = ndefines;
	/* config_load reads a NULL-terminated environ: argv is one. */
	if ((cfg = config_load(&r.src, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "notifytool: %s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		return 2;
	}
	if (use_stdin)
		in = read_stdin();
	dstate_load(cfg->state_file, &r.st, msg, sizeof(msg));
	if (msg[0] != '\0')
		fprintf(stderr, "notifytool: STATE_FILE: %s\n", msg);

	r.base = event_base_new();
	r.out = json_object_new_object();
	ev.list = json_object_new_array();
	ev.t0 = r.t0 = util_mono_ms();
	http = http_new(r.base);
	if (r.base == NULL || http == NULL ||
	    (r.n = notifier_new(r.base, http, &ev, cfg, r.st, on_save, &r)) == NULL) {
		fprintf(stderr, "notifytool: set-up failed\n");
		return 2;
	}
	json_object_object_add(r.out, "test", NULL);
	json_object_object_add(r.out, "flush", NULL);
	json_object_object_add(r.out, "deadline_hit", json_object_new_boolean(false));

	for (i = 0; i < nmsgs; i++)
		notifier_send(r.n, msgs[i]);
	if (in != NULL) {
		size_t n = json_object_array_length(in);

		laters = xcalloc(n + 1, sizeof(*laters));
		for (size_t k = 0; k < n; k++) {
			json_object *e = json_object_array_get_idx(in, k), *x;
			int64_t at = 0;
			const char *text;

			if (json_object_is_type(e, json_type_string))
				text = json_object_get_string(e);
			else if (json_object_is_type(e, json_type_object) &&
			    json_object_object_get_ex(e, "text", &x)) {
				text = json_object_get_string(x);
				if (json_object_object_get_ex(e, "at", &x))
					at = json_object_get_int64(x);
			} else
				continue;
			if (at <= 0) {
				notifier_send(r.n, text);
				continue;
			}
			laters[nlaters].r = &r;
			laters[nlaters].text = xstrdup(text);
			laters[nlaters].ev = evtimer_new(r.base, on_later, &laters[nlaters]);
			set_timer(laters[nlaters].ev, at);
			nlaters++;
			r.later_left++;
		}
	}
	if (hb_count > 0) {
		r.hb_left = (int)hb_count;
		r.hb_interval = hb_interval;
		hb_ev = event_new(r.base, -1, EV_PERSIST, on_heartbeat, &r);
		set_timer(hb_ev, hb_interval);
		on_heartbeat(-1, 0, &r);
	}
	if (reload_ms >= 0) {
		r.env2 = env_override(argv, argc, over, nover);
		reload_ev = evtimer_new(r.base, on_reload, &r);
		set_timer(reload_ev, reload_ms);
	}
	if (test_text != NULL) {
		json_object *t = json_object_new_object();

		json_object_object_add(r.out, "test", t);
		r.in_call = true;
		rc = notifier_test(r.n, test_text, on_test, &r);
		json_object_object_add(t, "rc", json_object_new_int(rc));
		r.in_call = false;
		r.wait_all = true; /* until its callback */
		if (rc == -1)
			r.stop = true; /* no callback will come */
	}
	if (flush_ms >= 0) {
		json_object *f = json_object_new_object();

		r.flush_start = util_mono_ms();
		r.in_call = true;
		notifier_flush(r.n, flush_ms, on_flushed, &r);
		r.in_call = false;
		json_object_object_add(f, "rc_sync", json_object_new_boolean(r.flush_calls > 0));
		json_object_object_add(r.out, "flush", f);
		r.wait_all = true;
	}

	tick = event_new(r.base, -1, EV_PERSIST, on_tick, &r);
	evtimer_add(tick, &tv10);
	deadline_ev = evtimer_new(r.base, on_deadline, &r);
	set_timer(deadline_ev, deadline);
	/* A flush that ended at once has nothing to wait for. */
	if (flush_ms >= 0 && r.flush_calls > 0)
		r.stop = true;
	while (!r.stop)
		if (event_base_dispatch(r.base) != 0)
			break;

	if (flush_ms >= 0) {
		json_object *f = NULL;

		json_object_object_get_ex(r.out, "flush", &f);
		json_object_object_add(f, "calls", json_object_new_int(r.flush_calls));
		json_object_object_add(
		    f, "ms", json_object_new_int64(util_mono_ms() - r.flush_start));
	}
	json_object_object_add(r.out, "elapsed_ms", json_object_new_int64(util_mono_ms() - r.t0));
	json_object_object_add(r.out, "events", json_object_get(ev.list));
	st = json_object_new_object();
	notifier_status(r.n, st);
	json_object_object_add(r.out, "status", st);
	texts = json_object_new_array();
	for (size_t k = 0; k < json_object_array_length(r.st->pending); k++) {
		json_object *e = json_object_array_get_idx(r.st->pending, k), *x;

		if (json_object_object_get_ex(e, "text", &x))
			json_object_array_add(texts, json_object_get(x));
	}
	json_object_object_add(r.out, "pending", texts);
	json_object_object_add(r.out, "saves", json_object_new_int(r.saves));
	json_object_object_add(r.out, "save_errors", json_object_new_int(r.save_errors));
	json_object_object_add(r.out, "heartbeats", json_object_new_int(r.hb_made));
	json_object_object_add(r.out, "cb_inside", json_object_new_boolean(r.cb_inside));
	json_object_object_add(r.out, "busy_at_end", json_object_new_boolean(notifier_busy(r.n)));
	json_object_object_add(r.out, "max_gap_ms", json_object_new_int64(r.max_gap));
	printf("%s\n",
	    json_object_to_json_string_ext(
	        r.out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);

	notifier_free(r.n);
	http_free(http);
	for (i = 0; i < nlaters; i++) {
		event_free(laters[i].ev);
		free(laters[i].text);
	}
	free(laters);
	event_free(tick);
	event_free(deadline_ev);
	if (hb_ev != NULL)
		event_free(hb_ev);
	if (reload_ev != NULL)
		event_free(reload_ev);
	json_object_put(in);
	json_object_put(ev.list);
	json_object_put(r.out);
	dstate_free(r.st);
	config_free(r.cfg2);
	config_free(cfg);
	free(r.env2);
	free(defines);
	free(msgs);
	free(over);
	event_base_free(r.base);
	return 0;
}
