/* sync.c's pure parts: rclone exit codes, backup stamps and pruning
 * selection, the event's output text, the standby's marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "events.h"
#include "sync.h"
#include "util.h"

/* sync.o emits through events.c, which is the daemon's: a stand-in. */
const struct evrec *
events_emit(struct events *ev, const char *type, json_object *fields)
{
	(void)ev;
	(void)type;
	json_object_put(fields);
	return NULL;
}

static void
test_exit_meaning(void **unused)
{
	static const struct {
		int code;
		const char *meaning;
		bool retry;
	} t[] = {
	    {0, "success", false},
	    {1, "uncategorised error", true},
	    {2, "syntax or usage error", false},
	    {3, "directory not found", false},
	    {4, "file not found", false},
	    {5, "temporary error (retrying may help)", true},
	    {6, "less serious, no-retry error", false},
	    {7, "fatal error", false},
	    {8, "transfer limit (--max-transfer) reached", false},
	    {9, "no files transferred", false},
	    {10, "duration limit (--max-duration) reached", true},
	    {11, "unknown exit code", false},
	    {127, "unknown exit code", false},
	    {255, "unknown exit code", false},
	    {-2, "unknown exit code", false},
	};

	(void)unused;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_string_equal(sync_rclone_exit_str(t[i].code), t[i].meaning);
		assert_int_equal(sync_rclone_exit_retryable(t[i].code), t[i].retry);
	}
	/* -1: killed (a timeout among them). */
	assert_true(sync_rclone_exit_retryable(-1));
}

/* Audit #9: the cause from rclone's output, not "uncategorised error". */
static void
test_rclone_cause(void **unused)
{
	static const char ro[] =
	    "2026/12/04 12:14:09 ERROR : f: Couldn't delete: remove /s/f: read-only file system\n"
	    "2026/12/04 12:14:09 Failed to sync: remove /s/f: read-only file system\n";
	static const char mixed[] = "x: Permission denied\ny: No space left on device\n";

	(void)unused;
	assert_string_equal(sync_rclone_cause(ro, strlen(ro)), "read-only file system");
	/* The likelier root cause wins, whatever the order and case. */
	assert_string_equal(sync_rclone_cause(mixed, strlen(mixed)), "no space left on device");
	assert_string_equal(
	    sync_rclone_cause("open /x: permission denied", 26), "permission denied");
	assert_string_equal(
	    sync_rclone_cause("error reading source root directory: directory not found", 56),
	    "directory not found");
	assert_string_equal(
	    sync_rclone_cause("dial tcp: connection refused", 28), "connection refused");
	/* Only the len bytes given count, a NUL among them too. */
	assert_null(sync_rclone_cause("abc\0permission denied", 3));
	assert_string_equal(sync_rclone_cause("abc\0permission denied", 22), "permission denied");
	assert_null(sync_rclone_cause("Failed to create file system: didn't find section", 49));
	assert_null(sync_rclone_cause(NULL, 10));
	assert_null(sync_rclone_cause("", 0));
}

static void
test_result_retryable(void **unused)
{
	struct sync_result r;

	(void)unused;
	memset(&r, 0, sizeof(r));
	r.ok = true;
	assert_false(sync_result_retryable(&r));
	assert_false(sync_result_retryable(NULL));
	r.ok = false;
	r.exit_code = 5;
	assert_true(sync_result_retryable(&r));
	r.exit_code = 7;
	assert_false(sync_result_retryable(&r));
	r.exit_code = 3;
	assert_false(sync_result_retryable(&r));
	r.exit_code = -1;
	r.timed_out = true;
	r.signal = 15;
	assert_true(sync_result_retryable(&r));
	r.timed_out = false;
	r.signal = 9;
	assert_true(sync_result_retryable(&r));
	r.signal = 0; /* refused, not started, cancelled */
	assert_false(sync_result_retryable(&r));
	r.exit_code = 0; /* exited 0, but an empty remote */
	assert_false(sync_result_retryable(&r));
}

static void
test_stamp(void **unused)
{
	char a[32], b[32];
	int64_t ms;

	(void)unused;
	assert_int_equal(util_time_parse("2026-11-28T10:15:00.123Z", &ms), 0);
	assert_string_equal(sync_stamp_fmt(ms, a, sizeof(a)), "20261128T101500.123Z");
	assert_true(sync_stamp_valid(a));
	assert_string_equal(sync_stamp_fmt(ms - 123, a, sizeof(a)), "20261128T101500.000Z");
	assert_true(sync_stamp_valid(a));
	/* Names sort as times do, across a second, a day, a year. */
	for (int64_t d = 1; d < 400LL * 86400 * 1000; d = d * 7 + 3) {
		sync_stamp_fmt(ms, a, sizeof(a));
		sync_stamp_fmt(ms + d, b, sizeof(b));
		assert_true(strcmp(a, b) < 0);
	}
	assert_false(sync_stamp_valid(NULL));
	assert_false(sync_stamp_valid(""));
	assert_false(sync_stamp_valid(".staging"));
	assert_false(sync_stamp_valid("20261128T101500Z"));
	assert_false(sync_stamp_valid("20261128T101500.12Z"));
	assert_false(sync_stamp_valid("20261128T101500.123Z.old"));
	assert_false(sync_stamp_valid("20261128T101500.123"));
	assert_false(sync_stamp_valid("2026112xT101500.123Z"));
	assert_false(sync_stamp_valid("20261128-101500.123Z"));
	assert_false(sync_stamp_valid("2026-11-28T10:15:00.123Z"));
	assert_false(sync_stamp_valid("../61128T101500.123Z"));
}

static void
test_backup_select(void **unused)
{
	char *names[] = {
	    "20261128T101500.123Z",
	    "keep-me",
	    ".staging",
	    "20250101T000000.000Z",
	    "20261128T101500.122Z",
	    "20261128T101500Z",
	    "20270101T000000.000Z",
	};
	int n = (int)(sizeof(names) / sizeof(names[0]));
	int k;

	(void)unused;
	k = sync_backup_select(names, n, 2);
	assert_int_equal(k, 2);
	assert_string_equal(names[0], "20250101T000000.000Z");
	assert_string_equal(names[1], "20261128T101500.122Z");
	/* the kept ones follow, then what is not a stamp */
	assert_string_equal(names[2], "20261128T101500.123Z");
	assert_string_equal(names[3], "20270101T000000.000Z");
	for (int i = 4; i < n; i++)
		assert_false(sync_stamp_valid(names[i]));

	assert_int_equal(sync_backup_select(names, n, 4), 0);
	assert_int_equal(sync_backup_select(names, n, 10), 0);
	assert_int_equal(sync_backup_select(names, n, 0), 4);
	assert_int_equal(sync_backup_select(names, n, 3), 1);
	assert_string_equal(names[0], "20250101T000000.000Z");
	assert_int_equal(sync_backup_select(NULL, 0, 1), 0);

	char *none[] = {".staging", "x", "20261128T101500Z"};
	assert_int_equal(sync_backup_select(none, 3, 0), 0);
}

static void
test_output_clean(void **unused)
{
	char *s;
	char big[10000];

	(void)unused;
	s = sync_output_clean("ok\n\tfine", 8, 4096);
	assert_string_equal(s, "ok\n\tfine");
	free(s);
	s = sync_output_clean("a\0b\rc\x1b[0m\x7f", sizeof("a\0b\rc\x1b[0m\x7f") - 1, 4096);
	assert_string_equal(s, "a?b?c?[0m?");
	free(s);
	/* valid UTF-8 kept; a stray continuation byte, an overlong form, a
	 * surrogate and a truncated sequence are not */
	{
		static const char bad[] = "\xc3\xa9|\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82";
		s = sync_output_clean(bad, sizeof(bad) - 1, 4096);
	}
	assert_string_equal(s, "\xc3\xa9|?|??|???|??");
	free(s);
	/* the last max bytes, from a character boundary */
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 4,
	    "\xc3\xa9"
	    "ZZ",
	    4);
	s = sync_output_clean(big, sizeof(big), 4096);
	assert_int_equal(strlen(s), 4096);
	assert_memory_equal(s + 4092,
	    "\xc3\xa9"
	    "ZZ",
	    4);
	free(s);
	s = sync_output_clean(big, sizeof(big), 3);
	assert_string_equal(s, "ZZ"); /* the cut fell inside the é */
	free(s);
	s = sync_output_clean(NULL, 0, 10);
	assert_string_equal(s, "");
	free(s);
}

static void
test_marker(void **unused)
{
	int64_t at = 0, want;

	(void)unused;
	assert_int_equal(util_time_parse("2026-11-28T04:00:00Z", &want), 0);
	/* what contrib/fly/entrypoint.sh writes */
	assert_int_equal(sync_marker_parse(
	                     "{\"pushed_at\":\"2026-11-28T04:00:00Z\",\"machine\":\"abc\"}\n", &at),
	    0);
	assert_true(at == want);
	at = 0;
	assert_int_equal(sync_marker_parse("2026/11/28 04:00:01 NOTICE: something\n"
	                                   "{\"pushed_at\":\"2026-11-28T04:00:00.250Z\"}\n",
	                     &at),
	    0);
	assert_true(at == want + 250);
	assert_int_equal(sync_marker_parse("", &at), -1);
	assert_int_equal(sync_marker_parse("{}", &at), -1);
	assert_int_equal(sync_marker_parse("{\"pushed_at\":12}", &at), -1);
	assert_int_equal(sync_marker_parse("{\"pushed_at\":\"yesterday\"}", &at), -1);
	assert_int_equal(sync_marker_parse("[\"pushed_at\"]", &at), -1);
	assert_int_equal(sync_marker_parse("{\"pushed_at\":\"2026-11-28T04:00:00Z\"", &at), -1);

	/* 2 s of slack: whole seconds, and two machines' clocks */
	assert_true(sync_marker_fresh(want, want));
	assert_true(sync_marker_fresh(want + 5000, want));
	assert_true(sync_marker_fresh(want - 2000, want));
	assert_false(sync_marker_fresh(want - 2001, want));
	assert_false(sync_marker_fresh(want - 3600000, want));
}

static void
test_poll_interval(void **unused)
{
	(void)unused;
	assert_int_equal(sync_poll_interval_ms(120000), 2000);
	assert_int_equal(sync_poll_interval_ms(20000), 2000);
	assert_int_equal(sync_poll_interval_ms(5000), 500);
	assert_int_equal(sync_poll_interval_ms(500), 100);
	assert_int_equal(sync_poll_interval_ms(0), 100);
}

static void
test_enabled_and_status_without_sync(void **unused)
{
	struct config cfg;
	json_object *o = json_object_new_object(), *v;

	(void)unused;
	memset(&cfg, 0, sizeof(cfg));
	assert_false(sync_enabled(NULL));
	assert_false(sync_enabled(&cfg));
	cfg.state_dir = "/var/lib/app";
	assert_true(sync_enabled(&cfg));

	sync_status(NULL, o);
	assert_true(json_object_object_get_ex(o, "enabled", &v));
	assert_false(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(o, "last_push", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(o, "last_pull", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(o, "running", &v));
	assert_null(v);
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_meaning),
	    cmocka_unit_test(test_result_retryable),
	    cmocka_unit_test(test_rclone_cause),
	    cmocka_unit_test(test_stamp),
	    cmocka_unit_test(test_backup_select),
	    cmocka_unit_test(test_output_clean),
	    cmocka_unit_test(test_marker),
	    cmocka_unit_test(test_poll_interval),
	    cmocka_unit_test(test_enabled_and_status_without_sync),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
