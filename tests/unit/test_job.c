/*
 * job.c's state machine from C: exit / signal / timeout (TERM, then KILL when
 * TERM is ignored) / spawn failure each complete exactly once, never inside
 * job_start; cancel means no callback; the environment helpers and the result
 * text. (tests/integration/test_job.py drives the rest through jobtool.)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "job.h"
#include "util.h"

struct outcome {
	int calls;
	struct job_result res;
	char output[64];
	bool in_start; /* set while job_start runs */
	bool called_in_start;
};

static void
done(struct job *j, const struct job_result *r, void *arg)
{
	struct outcome *o = arg;

	(void)j;
	o->calls++;
	o->called_in_start = o->in_start;
	o->res = *r;
	o->res.output = NULL;
	strlcpy(o->output, r->output != NULL ? r->output : "", sizeof(o->output));
}

/* Runs the loop until the job completed (or 10 s, a failure). */
static void
run(struct event_base *base, struct outcome *o)
{
	int64_t deadline = util_mono_ms() + 10000;

	while (o->calls == 0 && util_mono_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
}

static struct job *
start(struct event_base *base, const char *cmd, int64_t timeout, int64_t grace, struct outcome *o)
{
	struct job_opts opts;
	struct job *j;

	memset(&opts, 0, sizeof(opts));
	opts.command = cmd;
	opts.timeout_ms = timeout;
	opts.kill_grace_ms = grace;
	o->in_start = true;
	j = job_start(base, &opts, done, o);
	o->in_start = false;
	return j;
}

static void
test_exit_code_and_output(void **unused)
{
	struct event_base *base = event_base_new();
	struct outcome o = {0};

	assert_non_null(start(base, "echo hello; exit 3", 0, 0, &o));
	assert_int_equal(o.calls, 0);
	run(base, &o);
	assert_int_equal(o.calls, 1);
	assert_false(o.called_in_start);
	assert_int_equal(o.res.exit_code, 3);
	assert_int_equal(o.res.signal, 0);
	assert_false(o.res.timed_out);
	assert_string_equal(o.output, "hello\n");
	assert_int_equal(job_count(), 0);
	event_base_free(base);
}

static void
test_signal(void **unused)
{
	struct event_base *base = event_base_new();
	struct outcome o = {0};

	assert_non_null(start(base, "kill -USR2 $$", 0, 0, &o));
	run(base, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.res.exit_code, -1);
	assert_int_equal(o.res.signal, SIGUSR2);
	event_base_free(base);
}

static void
test_timeout_term(void **unused)
{
	struct event_base *base = event_base_new();
	struct outcome o = {0};

	assert_non_null(start(base, "exec sleep 30", 200, 0, &o));
	run(base, &o);
	assert_int_equal(o.calls, 1);
	assert_true(o.res.timed_out);
	assert_int_equal(o.res.signal, SIGTERM);
	assert_true(o.res.duration_ms >= 200 && o.res.duration_ms < 5000);
	event_base_free(base);
}

static void
test_timeout_term_ignored_then_kill(void **unused)
{
	struct event_base *base = event_base_new();
	struct outcome o = {0};

	/* The shell ignores TERM, so only the KILL after the grace ends it. */
	assert_non_null(start(base, "trap '' TERM; while :; do sleep 0.05; done", 200, 300, &o));
	run(base, &o);
	assert_int_equal(o.calls, 1);
	assert_true(o.res.timed_out);
	assert_int_equal(o.res.signal, SIGKILL);
	assert_true(o.res.duration_ms >= 500);
	event_base_free(base);
}

static void
test_spawn_failure_once_and_later(void **unused)
{
	struct event_base *base = event_base_new();
	struct outcome o = {0};
	struct job_opts opts;
	char *const argv[] = {"/nonexistent/program", NULL};

	memset(&opts, 0, sizeof(opts));
	opts.argv = argv;
	o.in_start = true;
	assert_non_null(job_start(base, &opts, done, &o));
	o.in_start = false;
	assert_int_equal(o.calls, 0); /* never inside job_start */
	run(base, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.res.exit_code, o.res.spawn_errno != 0 ? -1 : 127);
	event_base_free(base);
}

static void
test_cancel_means_no_callback(void **unused)
{
	struct event_base *base = event_base_new();
	struct outcome o = {0};
	struct job *j = start(base, "exec sleep 30", 0, 0, &o);
	int64_t until;

	assert_non_null(j);
	assert_true(job_pid(j) > 0);
	job_cancel(j);
	until = util_mono_ms() + 300;
	while (util_mono_ms() < until)
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(o.calls, 0);
	assert_int_equal(job_count(), 0);
	event_base_free(base);
}

static void
test_invalid_opts(void **unused)
{
	struct event_base *base = event_base_new();
	struct job_opts opts;

	memset(&opts, 0, sizeof(opts)); /* neither argv nor command */
	assert_null(job_start(base, &opts, done, NULL));
	event_base_free(base);
}

static void
test_env_helpers(void **unused)
{
	const char *extra[] = {"FAILOVER_STATE=standby", "PATH=/opt/bin", NULL};
	char **env = job_env_new(extra);

	assert_string_equal(job_env_get(env, "FAILOVER_STATE"), "standby");
	assert_string_equal(job_env_get(env, "PATH"), "/opt/bin"); /* extra wins */
	env = job_env_set(env, "FAILOVER_STATE", "primary");
	assert_string_equal(job_env_get(env, "FAILOVER_STATE"), "primary");
	env = job_env_setkv(env, "RCLONE_CONFIG_X_TYPE=local");
	assert_string_equal(job_env_get(env, "RCLONE_CONFIG_X_TYPE"), "local");
	env = job_env_setkv(env, "no equals sign");
	assert_null(job_env_get(env, "no equals sign"));
	env = job_env_set(env, "FAILOVER_STATE", NULL);
	assert_null(job_env_get(env, "FAILOVER_STATE"));
	for (char **e = env; *e != NULL; e++)
		assert_true(strncmp(*e, "FLY_API_TOKEN=", 14) != 0);
	job_env_free(env);
}

static void
test_result_str(void **unused)
{
	struct job_result r;
	char buf[128];

	memset(&r, 0, sizeof(r));
	r.exit_code = 3;
	assert_string_equal(job_result_str(&r, buf, sizeof(buf)), "exited 3");
	r.exit_code = -1;
	r.signal = SIGKILL;
	r.timed_out = true;
	assert_non_null(strstr(job_result_str(&r, buf, sizeof(buf)), "timed out"));
	assert_non_null(strstr(buf, "SIGKILL"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_code_and_output),
	    cmocka_unit_test(test_signal),
	    cmocka_unit_test(test_timeout_term),
	    cmocka_unit_test(test_timeout_term_ignored_then_kill),
	    cmocka_unit_test(test_spawn_failure_once_and_later),
	    cmocka_unit_test(test_cancel_means_no_callback),
	    cmocka_unit_test(test_invalid_opts),
	    cmocka_unit_test(test_env_helpers),
	    cmocka_unit_test(test_result_str),
	};

	setenv("FLY_API_TOKEN", "must-not-be-inherited", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
