/* Unit tests for common/util.c and common/proto.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "log.h"
#include "util.h"

static char tmpdir[] = "/tmp/fod-test-common-XXXXXX";

static int
group_setup(void **state)
{
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int rc = system(cmd);

	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void
test_duration_parse_good(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
	    {"250ms", 250},
	    {"5s", 5000},
	    {"1.5m", 90000},
	    {"1h", 3600000},
	    {"0.2", 200},
	    {"0", 0},
	    {"0s", 0},
	    {"0ms", 0},
	    {"60", 60000},
	    {".5", 500},
	    {"0.001", 1},
	    {"1.25s", 1250},
	    {"0.5ms", -1},
	    {"2.5h", 9000000},
	    {"007", 7000},
	    {"10000000000", INT64_C(10000000000000)},
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *err = NULL;
		int64_t ms = -2;
		int rc = util_duration_parse(good[i].s, &ms, &err);
		if (good[i].ms == -1) { /* sub-millisecond: an error */
			assert_int_equal(rc, -1);
			continue;
		}
		if (rc != 0)
			print_error("%s: %s\n", good[i].s, err);
		assert_int_equal(rc, 0);
		assert_int_equal(ms, good[i].ms);
	}
}

static void
test_duration_parse_bad(void **state)
{
	static const char *const bad[] = {"", "1m30s", "-1", "5x", ".", "1.", "0.0001", "0.0005s",
	    " 5", "5 ", "5S", "1e3", "+5", "5sec", "1..2", "1.2.3", "ms", "s",
	    "99999999999999999999", "10000000001", "3000000h", "0.1234567891"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = NULL;
		int64_t ms = 12345;
		if (util_duration_parse(bad[i], &ms, &err) != -1)
			print_error("\"%s\" accepted as %lld\n", bad[i], (long long)ms);
		assert_int_equal(util_duration_parse(bad[i], &ms, &err), -1);
		assert_non_null(err);
		assert_int_equal(ms, 12345); /* untouched on error */
	}
	assert_int_equal(util_duration_parse(NULL, &(int64_t){0}, &(const char *){NULL}), -1);
}

static void
test_duration_fmt(void **state)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
	    {0, "0s"},
	    {250, "250ms"},
	    {1000, "1s"},
	    {5000, "5s"},
	    {60000, "1m"},
	    {90000, "90s"},
	    {1500, "1500ms"},
	    {3600000, "1h"},
	    {5400000, "90m"},
	    {86400000, "24h"},
	    {1, "1ms"},
	    {61001, "61001ms"},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(util_duration_fmt(cases[i].ms, buf, sizeof(buf)), cases[i].s);
	/* Round trips: what fmt writes, parse reads back exactly. */
	for (int64_t ms = 0; ms < 200000; ms += 137) {
		int64_t back = -1;
		const char *err;
		util_duration_fmt(ms, buf, sizeof(buf));
		assert_int_equal(util_duration_parse(buf, &back, &err), 0);
		assert_int_equal(back, ms);
	}
	static const int64_t big[] = {INT64_C(3600000) * 1000, INT64_C(10000000000000), 7200001};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		int64_t back = -1;
		const char *err;
		util_duration_fmt(big[i], buf, sizeof(buf));
		assert_int_equal(util_duration_parse(buf, &back, &err), 0);
		assert_int_equal(back, big[i]);
	}
}

static void
test_time_fmt_parse(void **state)
{
	static const int64_t times[] = {0, 1, 999, 1000, INT64_C(1795838400000),
	    INT64_C(1795838400123), INT64_C(951782400000) /* 2000-02-29 */, INT64_C(4102444799999)};
	char buf[UTIL_TIME_LEN];
	int64_t ms;

	assert_string_equal(
	    util_time_fmt(INT64_C(1795838400123), buf, sizeof(buf)), "2026-11-28T04:00:00.123Z");
	assert_string_equal(util_time_fmt(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		util_time_fmt(times[i], buf, sizeof(buf));
		assert_int_equal(strlen(buf), 24);
		assert_int_equal(util_time_parse(buf, &ms), 0);
		assert_int_equal(ms, times[i]);
	}
	/* Accepted variants. */
	assert_int_equal(util_time_parse("2026-11-28T04:00:00Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1795838400000));
	assert_int_equal(util_time_parse("2026-11-28T04:00:00.5Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1795838400500));
	assert_int_equal(util_time_parse("2026-11-28T04:00:00.123456Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1795838400123));
}

static void
test_time_parse_bad(void **state)
{
	static const char *const bad[] = {"", "garbage", "2026-11-28", "2026-11-28T04:00:00",
	    "2026-11-28T04:00:00.000", "2026-11-28T04:00:00.Z", "2026-11-28 04:00:00Z",
	    "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-32T00:00:00Z",
	    "2026-11-28T24:00:00Z", "2026-11-28T04:60:00Z", "2026-11-28T04:00:00+01:00",
	    "2026-11-28T04:00:00.000Zjunk", "26-11-28T04:00:00Z", " 2026-11-28T04:00:00Z",
	    "+2026-11-28T04:00:00Z", "2026-1-28T04:00:00.000Z", "2026-02-31T00:00:00Z"};
	int64_t ms = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (util_time_parse(bad[i], &ms) != -1)
			print_error("\"%s\" accepted\n", bad[i]);
		assert_int_equal(util_time_parse(bad[i], &ms), -1);
	}
	assert_int_equal(util_time_parse(NULL, &ms), -1);
	assert_int_equal(ms, 42);
}

static void
test_int_yesno(void **state)
{
	long long v = 0;
	bool b = false;

	assert_int_equal(util_int_parse("42", 1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(util_int_parse("0", 1, 100, &v), -1);
	assert_int_equal(util_int_parse("101", 1, 100, &v), -1);
	assert_int_equal(util_int_parse("4x", 1, 100, &v), -1);
	assert_int_equal(util_int_parse(" 4", 1, 100, &v), -1);
	assert_int_equal(util_int_parse("", 1, 100, &v), -1);
	assert_int_equal(util_int_parse("99999999999999999999", 0, 100, &v), -1);
	assert_true(util_yesno_parse("yes", &b) && b);
	assert_true(util_yesno_parse("NO", &b) && !b);
	assert_true(util_yesno_parse("true", &b) && b);
	assert_false(util_yesno_parse("maybe", &b));
}

static void
test_utf8_decode(void **state)
{
	static const struct {
		const char *s;
		size_t n;
		int len;
		uint32_t cp;
	} v[] = {
	    {"A", 1, 1, 0x41},
	    {"\xc3\xa9", 2, 2, 0xe9},
	    {"\xe2\x82\xac", 3, 3, 0x20ac},
	    {"\xf0\x9f\x98\x80", 4, 4, 0x1f600},
	    {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
	    {"\xc0\x80", 2, 0, 0}, /* overlong NUL */
	    {"\xe0\x80\xaf", 3, 0, 0}, /* overlong */
	    {"\xed\xa0\x80", 3, 0, 0}, /* surrogate */
	    {"\xf4\x90\x80\x80", 4, 0, 0}, /* above U+10FFFF */
	    {"\xe2\x82", 2, 0, 0}, /* cut short */
	    {"\x80", 1, 0, 0}, /* continuation alone */
	    {"\xc3\x41", 2, 0, 0}, /* bad continuation */
	    {"", 0, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t cp = 0;
		int len = util_utf8_decode((const unsigned char *)v[i].s, v[i].n, &cp);

		assert_int_equal(len, v[i].len);
		if (len > 0)
			assert_int_equal(cp, v[i].cp);
	}
}

static void
test_clean(void **state)
{
	static const struct {
		const char *s;
		size_t n;
		unsigned flags;
		const char *want;
		size_t changed;
	} v[] = {
	    /* Bytes: controls as '?', high bytes as they are, even when bad. */
	    {"a\tb\nc\x7f\x1b[0m\xc3\xa9\xff", 13, 0, "a?b?c??[0m\xc3\xa9\xff", 4},
	    {"a\tb\nc\rd", 7, UTIL_CLEAN_NL | UTIL_CLEAN_TAB, "a\tb\nc?d", 1},
	    {"a\x01"
	     "b",
	        3, UTIL_CLEAN_SPACE, "a b", 1},
	    {"a\0b", 3, 0, "a?b", 1},
	    /* UTF-8: bad bytes and NUL as '?' (even with SPACE), or as U+FFFD. */
	    {"\xc3\xa9\xff\x01\0\xe2\x82", 7, UTIL_CLEAN_UTF8 | UTIL_CLEAN_SPACE, "\xc3\xa9? ???",
	        5},
	    {"x\xffy\x7f", 4, UTIL_CLEAN_UTF8 | UTIL_CLEAN_FFFD, "x\xef\xbf\xbdy?", 2},
	    {"\xf0\x9f\x98\x80\n", 5, UTIL_CLEAN_UTF8 | UTIL_CLEAN_NL, "\xf0\x9f\x98\x80\n", 0},
	    /* Escapes. */
	    {"a\nb\tc\rd\x1b\x7f\xc3\xa9", 11, UTIL_CLEAN_ESCAPE,
	        "a\\nb\\tc\\x0dd\\x1b\\x7f\xc3\xa9", 5},
	    {"c\rd", 3, UTIL_CLEAN_ESCAPE | UTIL_CLEAN_ESC_CR, "c\\rd", 1},
	    {"say \"hi\\\"\n", 10, UTIL_CLEAN_ESCAPE | UTIL_CLEAN_QUOTE, "say \\\"hi\\\\\\\"\\n",
	        4},
	    {"plain", 5, UTIL_CLEAN_ESCAPE | UTIL_CLEAN_QUOTE, "plain", 0},
	    {"", 0, 0, "", 0},
	};
	char buf[64], small[6];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(buf, 'Z', sizeof(buf));
		assert_int_equal(
		    util_clean(buf, sizeof(buf), v[i].s, v[i].n, v[i].flags), v[i].changed);
		assert_string_equal(buf, v[i].want);
		/* dst NULL only counts. */
		assert_int_equal(util_clean(NULL, 0, v[i].s, v[i].n, v[i].flags), v[i].changed);
	}
	/* A character that does not fit whole ends the copy. */
	assert_int_equal(util_clean(small, sizeof(small), "ab\x1b", 3, UTIL_CLEAN_ESCAPE), 0);
	assert_string_equal(small, "ab");
	assert_int_equal(util_clean(small, sizeof(small), "abcd\xc3\xa9", 6, UTIL_CLEAN_UTF8), 0);
	assert_string_equal(small, "abcd");
	assert_int_equal(util_clean(small, sizeof(small), "abcdefgh", 8, 0), 0);
	assert_string_equal(small, "abcde");
	/* In place, when nothing grows. */
	strlcpy(buf, "a\x01\xff\x02z", sizeof(buf));
	assert_int_equal(util_clean(buf, sizeof(buf), buf, strlen(buf), UTIL_CLEAN_UTF8), 3);
	assert_string_equal(buf, "a???z");
	/* dstlen 0 writes nothing. */
	small[0] = 'Q';
	util_clean(small, 0, "x", 1, 0);
	assert_int_equal(small[0], 'Q');
}

/* A line repeated word for word is written once, then counted. */
static void
test_log_repeats_folded(void **state)
{
	char path[] = "/tmp/fod-logtest.XXXXXX", *text;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_init("t", LOG_DEST_FILE, path), 0);
	for (int i = 0; i < 5; i++)
		log_warnx("standby not healthy yet: %s", "connection refused");
	log_warnx("something else");
	log_info("something else"); /* another priority: not a repeat */
	log_info("once");
	log_info("once");
	log_close(); /* says the last count */
	text = util_read_file(path, 65536, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "warning: standby not healthy yet: connection refused\n"));
	assert_non_null(strstr(text, "warning: last message repeated 4 times\n"));
	assert_non_null(strstr(text, "warning: something else\n"));
	assert_non_null(strstr(text, "info: something else\n"));
	assert_non_null(strstr(text, "info: last message repeated 1 time\n"));
	/* Five warnings made two lines. */
	assert_null(strstr(strstr(text, "yet: connection refused") + 1, "yet: connection refused"));
	free(text);
	unlink(path);
}

static void
test_ms_tv(void **state)
{
	struct timeval tv;

	(void)state;
	tv = util_ms_tv(0);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
	tv = util_ms_tv(1);
	assert_int_equal(tv.tv_usec, 1000);
	tv = util_ms_tv(2500);
	assert_int_equal(tv.tv_sec, 2);
	assert_int_equal(tv.tv_usec, 500000);
	tv = util_ms_tv(-5); /* overdue: at once */
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
	tv = util_ms_tv(INT64_C(86400000) * 365);
	assert_int_equal(tv.tv_sec, 86400 * 365);
}

static void
test_backoff(void **state)
{
	for (int attempt = 0; attempt < 40; attempt++) {
		int64_t cap = 300000, base = 1000, d = util_backoff_ms(attempt, base, cap);
		int64_t full = base;
		for (int i = 0; i < attempt && full < cap; i++)
			full *= 2;
		if (full > cap)
			full = cap;
		assert_true(d >= full / 2);
		assert_true(d <= full);
	}
}

/* Names in tmpdir/sub other than the given one. */
static int
count_other_files(const char *dir, const char *except)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (except == NULL || strcmp(de->d_name, except) != 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
test_write_atomic(void **state)
{
	char *dir = xasprintf("%s/atomic", tmpdir), *path = xasprintf("%s/state.json", dir);
	char *missing = xasprintf("%s/nodir/state.json", tmpdir), *text;
	struct stat st;
	size_t len;
	mode_t old = umask(077);

	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(util_write_atomic(path, "first", 5, 0644), 0);
	assert_int_equal(stat(path, &st), 0);
	/* The mode asked for, whatever the umask. */
	assert_int_equal(st.st_mode & 0777, 0644);
	text = util_read_file(path, 1024, &len);
	assert_non_null(text);
	assert_int_equal(len, 5);
	assert_string_equal(text, "first");
	free(text);

	assert_int_equal(util_write_atomic(path, "second, longer", 14, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = util_read_file(path, 1024, &len);
	assert_string_equal(text, "second, longer");
	free(text);
	assert_int_equal(count_other_files(dir, "state.json"), 0);

	/* An empty file is a file too. */
	assert_int_equal(util_write_atomic(path, "", 0, 0600), 0);
	text = util_read_file(path, 1024, &len);
	assert_int_equal(len, 0);
	free(text);

	/* A missing directory fails and leaves nothing behind. */
	errno = 0;
	assert_int_equal(util_write_atomic(missing, "x", 1, 0600), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(access(missing, F_OK), -1);
	assert_int_equal(count_other_files(tmpdir, "atomic"), 0);

	/* util_read_file: a size limit and a missing file. */
	assert_int_equal(util_write_atomic(path, "0123456789", 10, 0600), 0);
	assert_null(util_read_file(path, 4, NULL));
	assert_null(util_read_file(missing, 1024, NULL));

	umask(old);
	free(dir);
	free(path);
	free(missing);
}

static void
test_mkdir_parents(void **state)
{
	char *path = xasprintf("%s/a/b/c/file.pid", tmpdir), *dir = xasprintf("%s/a/b/c", tmpdir);
	struct stat st;

	assert_int_equal(util_mkdir_parents(path, 0750), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(util_mkdir_parents(path, 0750), 0); /* again: fine */
	free(path);
	free(dir);
}

/* Only the directories it creates get the group and exactly the mode. */
static void
test_mkdir_parents_group(void **state)
{
	char *old = xasprintf("%s/g", tmpdir), *path = xasprintf("%s/g/h/i/x.sock", tmpdir);
	char *h = xasprintf("%s/g/h", tmpdir), *i = xasprintf("%s/g/h/i", tmpdir);
	gid_t gid = getegid() == 0 ? 100 : getegid();
	mode_t um = umask(077);
	struct stat st;

	assert_int_equal(mkdir(old, 0700), 0);
	assert_int_equal(util_mkdir_parents_group(path, 0750, gid), 0);
	umask(um);
	assert_int_equal(stat(old, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	for (char *d = h;; d = i) {
		assert_int_equal(stat(d, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0750); /* despite the umask */
		assert_int_equal(st.st_gid, gid);
		if (d == i)
			break;
	}
	assert_int_equal(util_mkdir_parents_group(path, 0700, (gid_t)-1), 0); /* exists: as is */
	assert_int_equal(stat(i, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	free(old);
	free(path);
	free(h);
	free(i);
}

static void
test_event_types(void **state)
{
	assert_true(proto_event_type_known("state"));
	assert_true(proto_event_type_known("daemon"));
	assert_true(proto_event_type_known("watch"));
	assert_true(proto_event_type_known("quorum"));
	assert_false(proto_event_type_known("stat"));
	assert_false(proto_event_type_known(""));
	assert_false(proto_event_type_known("overflow")); /* sent, never subscribed to */
	assert_string_equal(proto_event_types_list(),
	    "state, check, standby, sync, hook, notify, "
	    "control, pause, drift, error, daemon, watch, leader, isolated, quorum");
}

static void
test_frame(void **state)
{
	size_t linelen = 0, consumed = 0, big = PROTO_MAX_LINE + 2;
	char *buf = malloc(big + 1);

	assert_int_equal(proto_frame_next("{\"cmd\"", 6, &linelen, &consumed), PROTO_FRAME_MORE);
	assert_int_equal(proto_frame_next("", 0, &linelen, &consumed), PROTO_FRAME_MORE);
	assert_int_equal(proto_frame_next("ab\ncd\n", 6, &linelen, &consumed), PROTO_FRAME_LINE);
	assert_int_equal(linelen, 2);
	assert_int_equal(consumed, 3);
	assert_int_equal(proto_frame_next("ab\r\nc", 5, &linelen, &consumed), PROTO_FRAME_LINE);
	assert_int_equal(linelen, 2);
	assert_int_equal(consumed, 4);
	assert_int_equal(proto_frame_next("\n", 1, &linelen, &consumed), PROTO_FRAME_LINE);
	assert_int_equal(linelen, 0);
	assert_int_equal(consumed, 1);
	assert_int_equal(proto_frame_next("\r\n", 2, &linelen, &consumed), PROTO_FRAME_LINE);
	assert_int_equal(linelen, 0);
	assert_int_equal(consumed, 2);

	/* Exactly PROTO_MAX_LINE bytes and a newline: a line. */
	memset(buf, 'x', big);
	buf[PROTO_MAX_LINE] = '\n';
	assert_int_equal(
	    proto_frame_next(buf, PROTO_MAX_LINE + 1, &linelen, &consumed), PROTO_FRAME_LINE);
	assert_int_equal(linelen, PROTO_MAX_LINE);
	assert_int_equal(consumed, PROTO_MAX_LINE + 1);
	/* Exactly PROTO_MAX_LINE bytes, no newline yet: wait for more. */
	assert_int_equal(
	    proto_frame_next(buf, PROTO_MAX_LINE, &linelen, &consumed), PROTO_FRAME_MORE);
	/* One more without a newline: too long. */
	memset(buf, 'x', big);
	assert_int_equal(
	    proto_frame_next(buf, PROTO_MAX_LINE + 1, &linelen, &consumed), PROTO_FRAME_TOO_LONG);
	buf[PROTO_MAX_LINE + 1] = '\n';
	assert_int_equal(
	    proto_frame_next(buf, PROTO_MAX_LINE + 2, &linelen, &consumed), PROTO_FRAME_TOO_LONG);
	free(buf);
}

static enum proto_err
parse(const char *line, json_object **reqp, const char **cmdp, json_object **idp)
{
	char msg[256] = "";
	enum proto_err e =
	    proto_parse_request(line, strlen(line), reqp, cmdp, idp, msg, sizeof(msg));

	if (e != PROTO_OK)
		assert_true(msg[0] != '\0');
	return e;
}

static void
test_parse_request(void **state)
{
	static const char *const parse_errors[] = {"{", "not json", "{\"cmd\":\"ping\"} x",
	    "{\"cmd\":\"ping\",}", "{'cmd':'ping'}", "", "{\"cmd\":\"ping\"}{}", "\xff\xfe",
	    "null x", "42 x"};
	static const char *const invalid[] = {"[1,2]", "\"ping\"", "42", "null", "true", "{}",
	    "{\"cmd\":1}", "{\"cmd\":null}", "{\"cmd\":[\"ping\"]}", "{\"id\":7}"};
	json_object *req, *id;
	const char *cmd;

	assert_int_equal(parse("{\"cmd\":\"ping\"}", &req, &cmd, &id), PROTO_OK);
	assert_string_equal(cmd, "ping");
	assert_null(id);
	json_object_put(req);

	assert_int_equal(
	    parse(" {\"cmd\":\"status\",\"id\":\"abc\"} \r", &req, &cmd, &id), PROTO_OK);
	assert_string_equal(cmd, "status");
	assert_non_null(id);
	assert_string_equal(json_object_get_string(id), "abc");
	json_object_put(id);
	json_object_put(req);

	for (size_t i = 0; i < sizeof(parse_errors) / sizeof(parse_errors[0]); i++) {
		enum proto_err e = parse(parse_errors[i], &req, &cmd, &id);
		if (e != PROTO_PARSE_ERROR)
			print_error("\"%s\" is not a parse-error\n", parse_errors[i]);
		assert_int_equal(e, PROTO_PARSE_ERROR);
		assert_null(req);
		assert_null(id);
	}
	/* A NUL inside the line. */
	{
		char msg[64];
		assert_int_equal(
		    proto_parse_request("{\"cmd\":\"p\0\"}", 12, &req, &cmd, &id, msg, sizeof(msg)),
		    PROTO_PARSE_ERROR);
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		enum proto_err e = parse(invalid[i], &req, &cmd, &id);
		if (e != PROTO_INVALID_REQUEST)
			print_error("\"%s\" is not an invalid-request\n", invalid[i]);
		assert_int_equal(e, PROTO_INVALID_REQUEST);
		assert_null(req);
		json_object_put(id);
	}
	/* The id is echoed even when cmd is missing or wrong. */
	assert_int_equal(parse("{\"id\":7}", &req, &cmd, &id), PROTO_INVALID_REQUEST);
	assert_non_null(id);
	assert_int_equal(json_object_get_int(id), 7);
	json_object_put(id);
	assert_int_equal(
	    parse("{\"cmd\":5,\"id\":{\"a\":1}}", &req, &cmd, &id), PROTO_INVALID_REQUEST);
	assert_true(json_object_is_type(id, json_type_object));
	json_object_put(id);
}

static void
test_replies(void **state)
{
	json_object *id = json_object_new_int(3), *res = json_object_new_object(), *o;
	char *line;

	json_object_object_add(res, "x", json_object_new_int(1));
	line = proto_reply_ok(id, res);
	assert_int_equal(line[strlen(line) - 1], '\n');
	assert_true(strchr(line, '\n') == line + strlen(line) - 1);
	o = proto_parse_object(line, strlen(line) - 1);
	assert_non_null(o);
	assert_true(json_object_get_boolean(json_object_object_get(o, "ok")));
	assert_int_equal(json_object_get_int(json_object_object_get(o, "id")), 3);
	json_object_put(o);
	free(line);

	line = proto_reply_err(NULL, PROTO_UNKNOWN_COMMAND, "no such \"cmd\"\nnewline");
	assert_non_null(strstr(line, "\"unknown-command\""));
	assert_null(strstr(line, "\"id\""));
	assert_true(strchr(line, '\n') == line + strlen(line) - 1);
	free(line);
	json_object_put(id);
	json_object_put(res);

	assert_string_equal(proto_err_str(PROTO_PARSE_ERROR), "parse-error");
	assert_string_equal(proto_err_str(PROTO_INVALID_REQUEST), "invalid-request");
	assert_string_equal(proto_err_str(PROTO_LINE_TOO_LONG), "line-too-long");
	assert_string_equal(proto_err_str((enum proto_err)999), "internal");
	assert_null(proto_parse_object("[1]", 3));
	assert_null(proto_parse_object("{} x", 4));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_parse_good),
	    cmocka_unit_test(test_duration_parse_bad),
	    cmocka_unit_test(test_duration_fmt),
	    cmocka_unit_test(test_time_fmt_parse),
	    cmocka_unit_test(test_time_parse_bad),
	    cmocka_unit_test(test_int_yesno),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_ms_tv),
	    cmocka_unit_test(test_log_repeats_folded),
	    cmocka_unit_test(test_utf8_decode),
	    cmocka_unit_test(test_clean),
	    cmocka_unit_test(test_write_atomic),
	    cmocka_unit_test(test_mkdir_parents),
	    cmocka_unit_test(test_mkdir_parents_group),
	    cmocka_unit_test(test_event_types),
	    cmocka_unit_test(test_frame),
	    cmocka_unit_test(test_parse_request),
	    cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
