/*
 * selftest: checks the outside world without side effects. The primary's
 * health endpoint is probed, the Fly token is tried by listing the app's
 * machines (startable ones counted), commands and hooks are looked up,
 * STATE_DIR takes a probe file, rclone lists the remote, and Telegram gets
 * a test message when asked; with COORDINATOR=etcd, etcd answers (with the
 * credentials) and NODE_NAME is not another live monitor's. Its listing waits behind any other use
 * of the provider and gives way to an action (provq.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "coord.h"
#include "engine_int.h"
#include "fly_api.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "sync.h"
#include "util.h"

struct selftest {
	struct engine *e;
	struct request *req;
	json_object *checks;
	struct check_probe *probe;
	bool listing;
	bool etcd; /* COORDINATOR=etcd: coord_selftest in flight */
	int pending;
};

static void selftest_add(struct selftest *t, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
selftest_add(struct selftest *t, const char *name, bool ok, const char *fmt, ...)
{
	json_object *c = json_object_new_object();
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_object_object_add(c, "name", json_object_new_string(name));
	json_object_object_add(c, "ok", json_object_new_boolean(ok));
	json_object_object_add(c, "detail", json_object_new_string(detail));
	json_object_array_add(t->checks, c);
}

void
selftest_free(struct selftest *t, const char *why)
{
	struct engine *e = t->e;

	check_probe_cancel(t->probe);
	if (t->etcd)
		coord_selftest_cancel(e->d->coord);
	if (t->listing)
		provq_cancel(e->provq, PQ_SELFTEST);
	request_error(t->req, PROTO_FAILED, "%s", why);
	json_object_put(t->checks);
	e->selftest = NULL;
	free(t);
}

static void
selftest_finish(struct selftest *t)
{
	json_object *res;

	if (--t->pending > 0)
		return;
	res = json_object_new_object();
	json_object_object_add(res, "checks", t->checks);
	request_reply(t->req, res);
	t->e->selftest = NULL;
	free(t);
}

static void
selftest_probe_done(const struct check_result *r, void *arg)
{
	struct selftest *t = arg;

	t->probe = NULL;
	if (r->healthy)
		selftest_add(t, "primary", true, "LOCAL_HEALTH_URL answers: HTTP %d in %.1f ms",
		    r->status, r->latency_ms);
	else
		selftest_add(t, "primary", false, "LOCAL_HEALTH_URL: %s", r->error);
	selftest_finish(t);
}

static void
selftest_list_done(const struct prov_status *ps, void *arg)
{
	struct selftest *t = arg;
	struct engine *e = t->e;
	int startable = 0, running = 0, want = e->d->cfg->fly_machine_count;

	t->listing = false;
	if (ps->res != PROV_OK) {
		selftest_add(t, "fly-api", false, "%s", ps->error);
		selftest_finish(t);
		return;
	}
	for (int i = 0; ps->machines != NULL && i < ps->machines->n; i++) {
		const char *st = ps->machines->v[i].state;
		if (fly_state_running(st))
			running++;
		else if (strcmp(st, "stopped") == 0 || strcmp(st, "suspended") == 0)
			startable++;
	}
	selftest_add(t, "fly-api", startable + running >= want,
	    "token accepted; app %s has %d machine%s: %d startable (stopped or suspended), "
	    "%d running; FLY_MACHINE_COUNT is %d",
	    e->d->cfg->fly_app, ps->machines != NULL ? ps->machines->n : 0,
	    ps->machines != NULL && ps->machines->n == 1 ? "" : "s", startable, running, want);
	/* FLY_STANDBY_MODE=suspended (§11): can Fly suspend each machine? */
	if (e->d->cfg->fly_standby_mode != NULL &&
	    strcmp(e->d->cfg->fly_standby_mode, "suspended") == 0 && ps->machines != NULL) {
		char detail[400] = "", why[128];
		bool all = true;

		for (int i = 0; i < ps->machines->n; i++) {
			const struct machine *m = &ps->machines->v[i];
			size_t n = strlen(detail);
			bool ok = fly_suspend_eligible(m, why, sizeof(why));

			all = all && ok;
			snprintf(detail + n, sizeof(detail) - n, "%s%s: %s%s%s", n > 0 ? "; " : "",
			    m->id, ok ? "can be suspended" : "cannot be suspended (", ok ? "" : why,
			    ok ? "" : "): it will be stopped instead");
		}
		selftest_add(t, "fly-suspend", all, "%s",
		    ps->machines->n > 0 ? detail : "no machine to suspend");
	}
	selftest_finish(t);
}

/* An action took the provider first. */
static void
selftest_listing_lost(void *arg)
{
	struct selftest *t = arg;

	t->listing = false;
	selftest_add(
	    t, "fly-api", false, "interrupted by an activation or deactivation: try again");
	selftest_finish(t);
}

static void
selftest_command(struct selftest *t, const char *name, const char *key, const char *cmd)
{
	char where[512];

	if (cmd == NULL)
		return;
	if (!config_command_found(cmd, where, sizeof(where)))
		selftest_add(
		    t, name, false, "%s: %s is not an executable file or not in PATH", key, where);
	else
		selftest_add(t, name, true, "%s: %s is executable", key, where);
}

/* STATE_DIR must take the pulled state: write and remove a probe file. */
static void
selftest_state_dir(struct selftest *t, const char *dir)
{
	char *probe;
	int fd;

	if (dir == NULL)
		return;
	probe = xasprintf("%s/.failoverd-selftest.%ld", dir, (long)getpid());
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		selftest_add(t, "state-dir", false,
		    "STATE_DIR %s cannot be written (%s): a pull could not apply the standby's "
		    "state",
		    dir, strerror(errno));
	else {
		close(fd);
		if (unlink(probe) == -1)
			selftest_add(t, "state-dir", false,
			    "STATE_DIR %s: a probe file could not be removed (%s)", probe,
			    strerror(errno));
		else
			selftest_add(t, "state-dir", true, "STATE_DIR %s is writable", dir);
	}
	free(probe);
}

static void
selftest_rclone_done(bool ok, const char *detail, void *arg)
{
	selftest_add(arg, "rclone", ok, "%s", detail);
	selftest_finish(arg);
}

static void
selftest_etcd(const char *name, bool ok, const char *detail, void *arg)
{
	struct selftest *t = arg;

	if (name != NULL) {
		selftest_add(t, name, ok, "%s", detail);
		return;
	}
	t->etcd = false;
	selftest_finish(t);
}

static void
selftest_telegram_done(bool ok, const char *detail, void *arg)
{
	selftest_add(arg, "telegram", ok, "%s", detail);
	selftest_finish(arg);
}

void
engine_cmd_selftest(struct engine *e, struct request *r, bool telegram)
{
	const struct config *cfg = e->d->cfg;
	struct selftest *t;

	if (e->selftest != NULL) {
		request_error(r, PROTO_CONFLICT, "a selftest is already running");
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->e = e;
	t->req = r;
	t->checks = json_object_new_array();
	t->pending = 1; /* released at the end of this function */
	e->selftest = t;

	switch (cfg->provider) {
	case PROVIDER_NONE:
		selftest_add(t, "provider", true, "PROVIDER=none: a dry run, nothing to check");
		break;
	case PROVIDER_COMMAND:
		selftest_command(t, "activate-cmd", "ACTIVATE_CMD", cfg->activate_cmd);
		selftest_command(t, "deactivate-cmd", "DEACTIVATE_CMD", cfg->deactivate_cmd);
		break;
	case PROVIDER_FLY:
		if (e->run.running) {
			selftest_add(t, "fly-api", false,
			    "the Fly API is busy with an activation or deactivation: try again");
			break;
		}
		{
			/* Behind a listing in flight; an action takes precedence. */
			struct provq_req req = {.op = PROV_OP_LIST,
			    .done = selftest_list_done,
			    .lost = selftest_listing_lost,
			    .arg = t};

			t->listing = true;
			t->pending++;
			provq_submit(e->provq, PQ_SELFTEST, &req);
		}
		break;
	}
	t->pending++;
	t->probe =
	    check_probe_start(e->d->http, cfg, cfg->local_health_url, selftest_probe_done, t);
	if (t->probe == NULL) {
		t->pending--;
		selftest_add(t, "primary", false, "cannot start a probe of LOCAL_HEALTH_URL");
	}
	selftest_command(t, "notify-cmd", "NOTIFY_CMD", cfg->notify_cmd);
	selftest_command(t, "fence-cmd", "FENCE_CMD", cfg->fence_cmd);
	selftest_command(t, "failback-cmd", "FAILBACK_CMD", cfg->failback_cmd);
	if (e->sync != NULL) {
		selftest_state_dir(t, cfg->state_dir);
		t->pending++;
		if (sync_check_remote(e->sync, selftest_rclone_done, t) == -1) {
			t->pending--;
			selftest_add(t, "rclone", false, "cannot run %s", cfg->rclone);
		}
	}
	if (e->d->coord != NULL) {
		t->pending++;
		t->etcd = true;
		if (coord_selftest(e->d->coord, selftest_etcd, t) == -1) {
			t->pending--;
			t->etcd = false;
			selftest_add(t, "etcd", false, "cannot start an etcd call");
		}
	}
	if (telegram && !notify_telegram_enabled(cfg))
		selftest_add(t, "telegram", false,
		    "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are not both set");
	else if (telegram) {
		t->pending++;
		if (notifier_test(e->notifier,
		        "failoverd selftest: this chat will be told about every failover.",
		        selftest_telegram_done, t) == -1) {
			t->pending--;
			selftest_add(t, "telegram", false, "cannot send a Telegram message");
		}
	}
	selftest_finish(t);
}
