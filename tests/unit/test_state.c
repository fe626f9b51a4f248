/* STATE_FILE: round trip, and every kind of bad file set aside, never trusted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "state.h"
#include "util.h"

static char dir[64];

static int
setup(void **unused)
{
	strcpy(dir, "/tmp/fod-test-state-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **unused)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static char *
path_in(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int
count_aside(const char *path)
{
	char *cmd = xasprintf("ls '%s'.corrupt-* 2>/dev/null | wc -l", path);
	FILE *p = popen(cmd, "r");
	int n = -1;
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	free(cmd);
	return n;
}

static void
test_fresh(void **unused)
{
	char *p = path_in("none.json"), msg[256];
	struct dstate *st;

	assert_int_equal(dstate_load(p, &st, msg, sizeof(msg)), DSTATE_FRESH);
	assert_non_null(st);
	assert_int_equal(st->seq_floor, 0);
	assert_string_equal(st->side, "");
	dstate_free(st);
	free(p);
}

static void
test_round_trip(void **unused)
{
	char *p = path_in("rt.json"), msg[256];
	struct dstate *st, *back;
	struct stat sb;
	json_object *m;

	dstate_load(p, &st, msg, sizeof(msg));
	st->seq_floor = 2001;
	st->events_total = 77;
	st->failovers = 3;
	st->failbacks = 2;
	st->last_failover = INT64_C(1795000000123);
	strcpy(st->side, "standby");
	st->forced = true;
	st->paused = true;
	st->paused_until = INT64_C(1795000099000);
	st->active_since = INT64_C(1795000000500);
	st->active_ms_total = 12345;
	m = json_object_new_object();
	json_object_object_add(m, "id", json_object_new_string("148e"));
	json_object_array_add(st->machines, m);
	assert_int_equal(dstate_save(st), 0);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(dstate_load(p, &back, msg, sizeof(msg)), DSTATE_LOADED);
	assert_int_equal(back->seq_floor, 2001);
	assert_int_equal(back->events_total, 77);
	assert_int_equal(back->failovers, 3);
	assert_int_equal(back->failbacks, 2);
	assert_true(back->last_failover == INT64_C(1795000000123));
	assert_int_equal(back->last_failback, 0);
	assert_string_equal(back->side, "standby");
	assert_true(back->forced);
	assert_true(back->paused);
	assert_true(back->paused_until == INT64_C(1795000099000));
	assert_true(back->active_since == INT64_C(1795000000500));
	assert_int_equal(back->active_ms_total, 12345);
	assert_int_equal(json_object_array_length(back->machines), 1);
	dstate_free(st);
	dstate_free(back);
	free(p);
}

static void
test_corrupt_set_aside(void **unused)
{
	static const char *bad[] = {
	    "",
	    "{",
	    "garbage",
	    "[1,2,3]",
	    "{\"version\":2}",
	    "{\"version\":1,\"seq_floor\":-5}",
	    "{\"version\":1,\"seq_floor\":\"12\"}",
	    "{\"version\":1,\"side\":\"sideways\"}",
	    "{\"version\":1,\"forced\":\"yes\"}",
	    "{\"version\":1,\"machines\":{}}",
	    "{\"version\":1,\"last_failover\":\"yesterday\"}",
	    "{\"version\":1} trailing",
	    "{\"version\":1,\"side\":\"standby\",\"x\":\"\xff\xfe\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *name = xasprintf("bad%zu.json", i), *p = path_in(name), msg[256];
		struct dstate *st;

		write_text(p, bad[i]);
		assert_int_equal(dstate_load(p, &st, msg, sizeof(msg)), DSTATE_CORRUPT);
		/* Nothing from a bad file is trusted. */
		assert_string_equal(st->side, "");
		assert_false(st->forced);
		assert_int_equal(st->seq_floor, 0);
		assert_non_null(strstr(msg, "moved aside"));
		assert_int_equal(access(p, F_OK), -1);
		assert_int_equal(count_aside(p), 1);
		dstate_free(st);
		free(name);
		free(p);
	}
}

static void
test_parse_truncated_every_length(void **unused)
{
	const char *good = "{\"version\":1,\"seq_floor\":1001,\"side\":\"primary\","
	                   "\"forced\":false,\"machines\":[],\"pending\":[]}";
	size_t len = strlen(good);

	/* Every proper prefix of a valid file is rejected as a whole. */
	for (size_t n = 0; n < len; n++) {
		struct dstate st;
		char msg[128];
		memset(&st, 0, sizeof(st));
		st.machines = json_object_new_array();
		st.pending = json_object_new_array();
		assert_int_equal(dstate_parse(&st, good, n, msg, sizeof(msg)), -1);
		json_object_put(st.machines);
		json_object_put(st.pending);
	}
}

static void
test_save_fails_keeps_old(void **unused)
{
	char *p = xasprintf("%s/missing-dir/state.json", dir), msg[256];
	struct dstate *st;

	dstate_load(p, &st, msg, sizeof(msg));
	assert_int_equal(dstate_save(st), -1);
	assert_true(st->save_failed);
	assert_non_null(strstr(st->save_error, "cannot write"));
	dstate_free(st);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_corrupt_set_aside),
	    cmocka_unit_test(test_parse_truncated_every_length),
	    cmocka_unit_test(test_save_fails_keeps_old),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
