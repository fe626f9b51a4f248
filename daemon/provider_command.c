/*
 * PROVIDER=command: ACTIVATE_CMD and DEACTIVATE_CMD, each run with
 * /bin/sh -c through job.c, killed at ACTIVATION_TIMEOUT, with the
 * environment of contract §3 (PATH, HOME, LANG, TZ, FLY_API_TOKEN, FLY_APP,
 * FLY_API_HOSTNAME). One attempt per operation: exit 0 is PROV_OK, anything
 * else PROV_FAILED, and the engine retries.
 *
 * A command cannot list machines: PROV_OP_LIST reports PROV_OK with
 * machines = NULL, which means "unknown" (reconciliation is skipped), and
 * activate and deactivate report no machines either.
 *
 * cfg is borrowed: it must stay valid until destroy or the next reconfigure.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "job.h"
#include "log.h"
#include "provider.h"
#include "util.h"

struct provider {
	struct event_base *base;
	const struct config *cfg;
	struct event *ev_now; /* answers without a command, via a zero-delay timer */
	struct job *job;
	bool busy;
	enum prov_op op;
	prov_done_cb *done;
	void *arg;
};

static const char *
cmd_key(enum prov_op op)
{
	return op == PROV_OP_ACTIVATE ? "ACTIVATE_CMD" : "DEACTIVATE_CMD";
}

static void
cmd_finish(struct provider *p, struct prov_status *st)
{
	prov_done_cb *cb = p->done;
	void *arg = p->arg;

	p->busy = false;
	p->job = NULL;
	p->done = NULL;
	p->arg = NULL;
	if (cb != NULL)
		cb(st, arg);
}

static void
cmd_status_init(struct prov_status *st, enum prov_result res)
{
	memset(st, 0, sizeof(*st));
	st->res = res;
	st->retry_after_ms = -1;
	st->machines = NULL;
}

/* The last non-blank line of out, control characters as '?', in buf. */
static void
cmd_last_line(const char *out, size_t len, char *buf, size_t bufsz)
{
	size_t end = len, start;

	while (end > 0 && isspace((unsigned char)out[end - 1]))
		end--;
	start = end;
	while (start > 0 && out[start - 1] != '\n')
		start--;
	while (start < end && isspace((unsigned char)out[start]))
		start++;
	util_clean(buf, bufsz, out + start, end - start, 0);
}

static void
cmd_job_done(struct job *job, const struct job_result *res, void *arg)
{
	struct provider *p = arg;
	struct prov_status st;
	char how[64], line[160], dur[32], *red, *clean;
	const char *key = cmd_key(p->op);

	if (res->exit_code == 0 && !res->timed_out) {
		cmd_status_init(&st, PROV_OK);
		log_info("%s: done in %lldms", key, (long long)res->duration_ms);
		cmd_finish(p, &st);
		return;
	}
	cmd_status_init(&st, PROV_FAILED);
	if (res->timed_out)
		snprintf(how, sizeof(how), "timed out after %s",
		    util_duration_fmt(p->cfg->activation_timeout_ms, dur, sizeof(dur)));
	else
		job_result_str(res, how, sizeof(how));
	/* The user's own output, but it may well echo the token it was given. */
	clean = xstrdup(res->output);
	for (size_t i = 0; i < res->output_len; i++)
		if (clean[i] == '\0')
			clean[i] = ' ';
	red = config_redact(p->cfg, clean);
	cmd_last_line(red, strlen(red), line, sizeof(line));
	if (line[0] != '\0')
		snprintf(st.error, sizeof(st.error), "%s %s: %s", key, how, line);
	else
		snprintf(st.error, sizeof(st.error), "%s %s", key, how);
	free(red);
	free(clean);
	log_warnx("%s", st.error);
	cmd_finish(p, &st);
}

static void
cmd_now_cb(evutil_socket_t fd, short what, void *arg)
{
	struct provider *p = arg;
	struct prov_status st;

	if (!p->busy)
		return;
	if (p->op == PROV_OP_LIST)
		cmd_status_init(&st, PROV_OK);
	else {
		/* Config validation should prevent it; needs a person if not. */
		cmd_status_init(&st, PROV_CONFIG);
		snprintf(st.error, sizeof(st.error), "%s is not set", cmd_key(p->op));
		log_warnx("%s", st.error);
	}
	cmd_finish(p, &st);
}

static struct provider *
cmd_create(struct event_base *base, struct http *http, const struct config *cfg)
{
	struct provider *p;

	if (base == NULL || cfg == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->cfg = cfg;
	if ((p->ev_now = evtimer_new(base, cmd_now_cb, p)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

static void
cmd_cancel(struct provider *p)
{
	if (p == NULL || !p->busy)
		return;
	evtimer_del(p->ev_now);
	job_cancel(p->job);
	p->job = NULL;
	p->busy = false;
	p->done = NULL;
	p->arg = NULL;
}

static void
cmd_destroy(struct provider *p)
{
	if (p == NULL)
		return;
	cmd_cancel(p);
	event_free(p->ev_now);
	free(p);
}

static void
cmd_reconfigure(struct provider *p, const struct config *cfg)
{
	if (p != NULL && cfg != NULL)
		p->cfg = cfg;
}

static int
cmd_start(
    struct provider *p, enum prov_op op, prov_done_cb *cb, prov_progress_cb *progress, void *arg)
{
	struct timeval zero = {0, 0};
	struct job_opts o;
	const char *cmd;
	char **env;

	if (p == NULL || p->busy)
		return -1;
	p->busy = true;
	p->op = op;
	p->done = cb;
	p->arg = arg;
	cmd = op == PROV_OP_ACTIVATE ? p->cfg->activate_cmd : p->cfg->deactivate_cmd;
	if (op == PROV_OP_LIST || cmd == NULL || cmd[0] == '\0') {
		evtimer_add(p->ev_now, &zero);
		return 0;
	}
	env = job_env_new(NULL);
	if (p->cfg->fly_api_token != NULL && p->cfg->fly_api_token[0] != '\0')
		env = job_env_set(env, "FLY_API_TOKEN", p->cfg->fly_api_token);
	if (p->cfg->fly_app != NULL && p->cfg->fly_app[0] != '\0')
		env = job_env_set(env, "FLY_APP", p->cfg->fly_app);
	if (p->cfg->fly_api_hostname != NULL && p->cfg->fly_api_hostname[0] != '\0')
		env = job_env_set(env, "FLY_API_HOSTNAME", p->cfg->fly_api_hostname);

	memset(&o, 0, sizeof(o));
	o.command = cmd;
	o.env = env;
	o.timeout_ms = p->cfg->activation_timeout_ms;
	o.name = cmd_key(op);
	log_info("%s: running", cmd_key(op));
	p->job = job_start(p->base, &o, cmd_job_done, p);
	job_env_free(env);
	if (p->job == NULL) {
		log_warn("%s: cannot start", cmd_key(op));
		p->busy = false;
		p->done = NULL;
		p->arg = NULL;
		return -1;
	}
	return 0;
}

const struct provider_ops provider_command_ops = {
    .name = "command",
    .create = cmd_create,
    .destroy = cmd_destroy,
    .reconfigure = cmd_reconfigure,
    .start = cmd_start,
    .cancel = cmd_cancel,
};
