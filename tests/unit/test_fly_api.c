/* fly_api: headers, URLs, classification and replies, malformed ones too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fly_api.h"
#include "util.h"

static void
test_auth_header(void **state)
{
	char *h;

	h = fly_auth_header("abc123");
	assert_string_equal(h, "Authorization: Bearer abc123");
	free(h);
	h = fly_auth_header("  fm2_lJPEabc,fm2_xyz\n");
	assert_string_equal(h, "Authorization: FlyV1 fm2_lJPEabc,fm2_xyz");
	free(h);
	/* any comma-separated part counts */
	h = fly_auth_header("something,fm1r_abc");
	assert_string_equal(h, "Authorization: FlyV1 something,fm1r_abc");
	free(h);
	h = fly_auth_header("FlyV1 fm2_abc\r\n");
	assert_string_equal(h, "Authorization: FlyV1 fm2_abc");
	free(h);
	h = fly_auth_header("Bearer tok");
	assert_string_equal(h, "Authorization: Bearer tok");
	free(h);
	/* fm2 without the underscore is not a macaroon */
	h = fly_auth_header("fm2abc");
	assert_string_equal(h, "Authorization: Bearer fm2abc");
	free(h);
	assert_null(fly_auth_header(NULL));
	assert_null(fly_auth_header(""));
	assert_null(fly_auth_header(" \n\t"));
	assert_null(fly_auth_header("abc\r\nX-Evil: 1"));
}

static void
test_names_and_urls(void **state)
{
	char *u;

	assert_true(fly_name_valid("neolight-failover"));
	assert_true(fly_name_valid("148e2d5f123489"));
	assert_false(fly_name_valid(""));
	assert_false(fly_name_valid(NULL));
	assert_false(fly_name_valid("../x"));
	assert_false(fly_name_valid("a/b"));
	assert_false(fly_name_valid("a?b"));
	assert_false(fly_name_valid("a b"));
	assert_false(fly_name_valid("a%2f"));
	assert_false(fly_name_valid("a.b"));
	assert_false(
	    fly_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

	u = fly_url_list(NULL, "app");
	assert_string_equal(u, "https://api.machines.dev/v1/apps/app/machines");
	free(u);
	u = fly_url_list("http://127.0.0.1:8080//", "app");
	assert_string_equal(u, "http://127.0.0.1:8080/v1/apps/app/machines");
	free(u);
	assert_null(fly_url_list(NULL, "bad/app"));
	u = fly_url_machine("http://h", "app", "m1", "start");
	assert_string_equal(u, "http://h/v1/apps/app/machines/m1/start");
	free(u);
	u = fly_url_machine("http://h", "app", "m1", NULL);
	assert_string_equal(u, "http://h/v1/apps/app/machines/m1");
	free(u);
	assert_null(fly_url_machine("http://h", "app", "m1/../x", "start"));
	assert_null(fly_url_machine("http://h", "app", "m1", "st/art"));

	u = fly_url_wait("http://h", "app", "m1", "started", NULL, 600);
	assert_string_equal(u, "http://h/v1/apps/app/machines/m1/wait?state=started&timeout=60");
	free(u);
	u = fly_url_wait("http://h", "app", "m1", "stopped", "01ABC", 0);
	assert_string_equal(
	    u, "http://h/v1/apps/app/machines/m1/wait?state=stopped&timeout=1&instance_id=01ABC");
	free(u);
	u = fly_url_wait("http://h", "app", "m1", "started", "", 30);
	assert_string_equal(u, "http://h/v1/apps/app/machines/m1/wait?state=started&timeout=30");
	free(u);
	assert_null(fly_url_wait("http://h", "app", "m1", "stopped", "x&y=1", 30));
	assert_null(fly_url_wait("http://h", "app", "m1", "st ate", NULL, 30));
}

static void
test_classify(void **state)
{
	assert_int_equal(fly_classify(FLY_CALL_LIST, 200), FLY_V_OK);
	assert_int_equal(fly_classify(FLY_CALL_START, 201), FLY_V_OK);
	assert_int_equal(fly_classify(FLY_CALL_WAIT, 408), FLY_V_REISSUE);
	assert_int_equal(fly_classify(FLY_CALL_START, 408), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_START, 412), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_STOP, 429), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_START, 409), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_LIST, 500), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_LIST, 503), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_LIST, 401), FLY_V_CONFIG);
	assert_int_equal(fly_classify(FLY_CALL_START, 403), FLY_V_CONFIG);
	assert_int_equal(fly_classify(FLY_CALL_LIST, 404), FLY_V_CONFIG);
	assert_int_equal(fly_classify(FLY_CALL_START, 404), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_WAIT, 400), FLY_V_FAILED);
	assert_int_equal(fly_classify(FLY_CALL_LIST, 422), FLY_V_FAILED);
	assert_int_equal(fly_classify(FLY_CALL_LIST, 302), FLY_V_FAILED);
	assert_int_equal(fly_verdict_result(FLY_V_OK), PROV_OK);
	assert_int_equal(fly_verdict_result(FLY_V_REISSUE), PROV_RETRY);
	assert_int_equal(fly_verdict_result(FLY_V_RETRY), PROV_RETRY);
	assert_int_equal(fly_verdict_result(FLY_V_CONFIG), PROV_CONFIG);
	assert_int_equal(fly_verdict_result(FLY_V_FAILED), PROV_FAILED);
}

static void
test_parse_list(void **state)
{
	struct machine_list ml = {NULL, 0};
	char err[128];

	assert_int_equal(fly_parse_machines("[{\"id\":\"a5c5de9ce64ca12\",\"name\":\"aged\","
	                                    "\"state\":\"started\",\"region\":\"ord\","
	                                    "\"instance_id\":\"1RREBN3T5K95DK9IVP4XHTTPEY2\","
	                                    "\"config\":{\"metadata\":{}},\"events\":[]},"
	                                    "{\"id\":\"b1\",\"state\":\"stopped\"}]",
	                     &ml, err, sizeof(err)),
	    0);
	assert_int_equal(ml.n, 2);
	assert_string_equal(ml.v[0].id, "a5c5de9ce64ca12");
	assert_string_equal(ml.v[0].state, "started");
	assert_string_equal(ml.v[0].region, "ord");
	assert_string_equal(ml.v[0].instance_id, "1RREBN3T5K95DK9IVP4XHTTPEY2");
	assert_string_equal(ml.v[1].region, "");
	assert_string_equal(ml.v[1].instance_id, "");
	assert_int_equal(machine_list_count_running(&ml), 1);
	machine_list_free(&ml);
	assert_null(ml.v);
	assert_int_equal(ml.n, 0);

	assert_int_equal(fly_parse_machines("[]", &ml, err, sizeof(err)), 0);
	assert_int_equal(ml.n, 0);
	machine_list_free(&ml);

	/* nulls and wrong types in optional fields are tolerated */
	assert_int_equal(fly_parse_machines("[{\"id\":\"m1\",\"state\":null,\"region\":5,"
	                                    "\"instance_id\":null}]",
	                     &ml, err, sizeof(err)),
	    0);
	assert_string_equal(ml.v[0].state, "unknown");
	assert_string_equal(ml.v[0].region, "");
	machine_list_free(&ml);
}

static void
test_parse_list_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "<html>502</html>",
	    "[{\"id\":\"m1\"}", /* truncated */
	    "[{\"id\":\"m1\"}] trailing", /* garbage after */
	    "{\"id\":\"m1\"}", /* not an array */
	    "null",
	    "42",
	    "\"[]\"",
	    "[1,2]", /* elements not objects */
	    "[null]",
	    "[{\"state\":\"stopped\"}]", /* no id */
	    "[{\"id\":null}]",
	    "[{\"id\":12}]",
	    "[{\"id\":\"\"}]",
	    "[{\"id\":\"../../etc\"}]", /* would break the path */
	    "[{\"id\":\"m1\",\"instance_id\":\"a&b\"}]",
	    NULL,
	};
	struct machine_list ml;
	char err[128];
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		ml.v = (void *)1;
		ml.n = 7;
		assert_int_equal(fly_parse_machines(bad[i], &ml, err, sizeof(err)), -1);
		assert_null(ml.v);
		assert_int_equal(ml.n, 0);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(fly_parse_machines(NULL, &ml, err, sizeof(err)), -1);
}

static void
test_parse_list_huge(void **state)
{
	struct machine_list ml;
	char err[128];
	size_t cap = (FLY_MAX_MACHINES + 1) * 16 + 16, len = 0;
	char *big = xcalloc(1, cap);
	int i;

	big[len++] = '[';
	for (i = 0; i <= FLY_MAX_MACHINES; i++)
		len +=
		    (size_t)snprintf(big + len, cap - len, "%s{\"id\":\"m%d\"}", i ? "," : "", i);
	big[len++] = ']';
	assert_int_equal(fly_parse_machines(big, &ml, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	free(big);
}

static void
test_parse_long_strings(void **state)
{
	struct machine_list ml;
	struct machine m;
	char err[128], body[4096], longs[1024], prev[7];

	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	/* a long state or region is cut to fit */
	snprintf(body, sizeof(body), "[{\"id\":\"m1\",\"state\":\"%s\",\"region\":\"%s\"}]", longs,
	    longs);
	assert_int_equal(fly_parse_machines(body, &ml, err, sizeof(err)), 0);
	assert_int_equal(strlen(ml.v[0].state), sizeof(ml.v[0].state) - 1);
	assert_int_equal(strlen(ml.v[0].region), sizeof(ml.v[0].region) - 1);
	machine_list_free(&ml);
	/* a long id is refused, not cut (a cut id names another machine) */
	snprintf(body, sizeof(body), "[{\"id\":\"%s\"}]", longs);
	assert_int_equal(fly_parse_machines(body, &ml, err, sizeof(err)), -1);
	snprintf(body, sizeof(body), "{\"id\":\"m1\",\"instance_id\":\"%s\"}", longs);
	assert_int_equal(fly_parse_machine(body, &m, err, sizeof(err)), -1);
	/* a cut through a UTF-8 sequence leaves no half character */
	assert_int_equal(fly_parse_start("{\"previous_state\":\"abcde\xc3\xa9\xc3\xa9\"}", prev,
	                     sizeof(prev), err, sizeof(err)),
	    0);
	assert_string_equal(prev, "abcde");
}

static void
test_parse_machine_start_ok(void **state)
{
	struct machine m;
	char err[128], prev[32];

	assert_int_equal(fly_parse_machine("{\"id\":\"m1\",\"state\":\"starting\",\"region\":"
	                                   "\"iad\",\"instance_id\":\"01XYZ\"}",
	                     &m, err, sizeof(err)),
	    0);
	assert_string_equal(m.state, "starting");
	assert_string_equal(m.instance_id, "01XYZ");
	assert_int_equal(fly_parse_machine("[]", &m, err, sizeof(err)), -1);
	assert_int_equal(fly_parse_machine("{}", &m, err, sizeof(err)), -1);

	assert_int_equal(fly_parse_start("{\"previous_state\":\"stopped\",\"migrated\":false,"
	                                 "\"new_host\":\"\"}",
	                     prev, sizeof(prev), err, sizeof(err)),
	    0);
	assert_string_equal(prev, "stopped");
	assert_int_equal(fly_parse_start("{}", prev, sizeof(prev), err, sizeof(err)), 0);
	assert_string_equal(prev, "");
	assert_int_equal(
	    fly_parse_start("{\"previous_state\":7}", prev, sizeof(prev), err, sizeof(err)), 0);
	assert_string_equal(prev, "");
	assert_int_equal(fly_parse_start("[]", prev, sizeof(prev), err, sizeof(err)), -1);
	assert_int_equal(fly_parse_start("oops", prev, sizeof(prev), err, sizeof(err)), -1);

	assert_int_equal(fly_parse_ok("{\"ok\":true}", err, sizeof(err)), 0);
	assert_int_equal(fly_parse_ok("{\"ok\":false}", err, sizeof(err)), -1);
	assert_int_equal(fly_parse_ok("{\"ok\":\"true\"}", err, sizeof(err)), -1);
	assert_int_equal(fly_parse_ok("{}", err, sizeof(err)), -1);
	assert_int_equal(fly_parse_ok("[true]", err, sizeof(err)), -1);
	assert_int_equal(fly_parse_ok("", err, sizeof(err)), -1);
}

static void
test_error_text(void **state)
{
	char buf[256], small[24], *longbody;

	fly_error_text(412,
	    "{\"error\":\"failed_precondition: unable to start machine from current state: "
	    "'stopping'\"}",
	    buf, sizeof(buf));
	assert_string_equal(
	    buf, "412 failed_precondition: unable to start machine from current state: 'stopping'");
	fly_error_text(
	    409, "{\"error\":\"no room\",\"status\":\"insufficient_capacity\"}", buf, sizeof(buf));
	assert_string_equal(buf, "409 insufficient_capacity: no room");
	fly_error_text(500, "{\"error\":\"boom\",\"status\":\"unknown\"}", buf, sizeof(buf));
	assert_string_equal(buf, "500 boom");
	fly_error_text(422, "{\"message\":\"bad config\"}", buf, sizeof(buf));
	assert_string_equal(buf, "422 bad config");
	fly_error_text(502, "<html>Bad gateway</html>", buf, sizeof(buf));
	assert_string_equal(buf, "502 Bad Gateway");
	fly_error_text(429, "", buf, sizeof(buf));
	assert_string_equal(buf, "429 Too Many Requests");
	fly_error_text(503, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "503 Service Unavailable");
	fly_error_text(404, "{\"error\":null}", buf, sizeof(buf));
	assert_string_equal(buf, "404 Not Found");
	/* the server's text about a token stays out */
	fly_error_text(401, "{\"error\":\"token fm2_SECRET is invalid\"}", buf, sizeof(buf));
	assert_string_equal(buf, "401 Unauthorized: check FLY_API_TOKEN");
	assert_null(strstr(buf, "SECRET"));
	fly_error_text(403, "{}", buf, sizeof(buf));
	assert_string_equal(buf, "403 Forbidden: check FLY_API_TOKEN");
	/* control characters are neutralised, long texts cut */
	fly_error_text(500, "{\"error\":\"a\\nb\\u0001c\"}", buf, sizeof(buf));
	assert_string_equal(buf, "500 a?b?c");
	fly_error_text(
	    500, "{\"error\":\"0123456789012345678901234567890\"}", small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	longbody = xasprintf("{\"error\":\"%0*d\"}", 100000, 0);
	fly_error_text(500, longbody, buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	free(longbody);
}

static void
test_result_str(void **state)
{
	assert_string_equal(prov_result_str(PROV_OK), "ok");
	assert_string_equal(prov_result_str(PROV_RETRY), "retry");
	assert_string_equal(prov_result_str(PROV_CONFIG), "config");
	assert_string_equal(prov_result_str(PROV_FAILED), "failed");
	assert_true(fly_state_running("started"));
	assert_true(fly_state_running("starting"));
	assert_false(fly_state_running("stopped"));
	assert_false(fly_state_running(NULL));
}

static void
test_machine_list_copy(void **state)
{
	struct machine_list a = {NULL, 0}, b = {NULL, 0};
	char err[64];

	assert_int_equal(
	    fly_parse_machines("[{\"id\":\"m1\"},{\"id\":\"m2\"}]", &a, err, sizeof(err)), 0);
	machine_list_copy(&b, &a);
	assert_int_equal(b.n, 2);
	assert_ptr_not_equal(a.v, b.v);
	assert_string_equal(b.v[1].id, "m2");
	machine_list_free(&a);
	machine_list_copy(&b, &a);
	assert_int_equal(b.n, 0);
	machine_list_free(&b);
	machine_list_free(NULL);
}

static void
test_parse_suspend_eligibility(void **state)
{
	struct machine m;
	char err[128], why[128];

	/* the fields of config that decide it */
	assert_int_equal(fly_parse_machine("{\"id\":\"m1\",\"state\":\"started\",\"config\":"
	                                   "{\"guest\":{\"memory_mb\":256},\"metadata\":{}}}",
	                     &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.memory_mb, 256);
	assert_int_equal(m.swap_size_mb, 0);
	assert_false(m.schedule);
	assert_true(fly_suspend_eligible(&m, why, sizeof(why)));
	assert_string_equal(why, "");
	assert_string_equal(m.previous_state, "");

	assert_int_equal(fly_parse_machine("{\"id\":\"m1\",\"state\":\"started\",\"config\":"
	                                   "{\"guest\":{\"memory_mb\":4096},\"init\":"
	                                   "{\"swap_size_mb\":512},\"schedule\":\"hourly\"}}",
	                     &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.memory_mb, 4096);
	assert_int_equal(m.swap_size_mb, 512);
	assert_true(m.schedule);
	assert_false(fly_suspend_eligible(&m, why, sizeof(why)));
	assert_string_equal(why, "memory 4096 MB > 2048; swap 512 MB; a schedule");

	/* 2048 is still fine; an empty schedule is none */
	assert_int_equal(fly_parse_machine("{\"id\":\"m1\",\"config\":{\"guest\":"
	                                   "{\"memory_mb\":2048},\"schedule\":\"\"}}",
	                     &m, err, sizeof(err)),
	    0);
	assert_true(fly_suspend_eligible(&m, why, sizeof(why)));

	/* wrong types, negatives, huge numbers: "did not say", never a crash */
	assert_int_equal(
	    fly_parse_machine("{\"id\":\"m1\",\"config\":{\"guest\":"
	                      "{\"memory_mb\":\"lots\"},\"init\":{\"swap_size_mb\":-5}}}",
	        &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.memory_mb, 0);
	assert_int_equal(m.swap_size_mb, 0);
	assert_int_equal(fly_parse_machine("{\"id\":\"m1\",\"config\":{\"guest\":"
	                                   "{\"memory_mb\":99999999999999}}}",
	                     &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.memory_mb, 0);
	assert_int_equal(
	    fly_parse_machine("{\"id\":\"m1\",\"config\":[1,2]}", &m, err, sizeof(err)), 0);
	assert_int_equal(fly_parse_machine("{\"id\":\"m1\",\"config\":{\"guest\":7,\"init\":null}}",
	                     &m, err, sizeof(err)),
	    0);
	assert_true(fly_suspend_eligible(&m, why, sizeof(why)));
	/* a small buffer is cut, never overrun */
	m.memory_mb = 9000;
	m.swap_size_mb = 1;
	m.schedule = true;
	assert_false(fly_suspend_eligible(&m, why, 8));
	assert_int_equal(strlen(why), 7);
}

static void
test_parse_lease(void **state)
{
	struct fly_lease_info li;
	char err[128];

	assert_int_equal(fly_parse_lease("{\"status\":\"success\",\"data\":{\"nonce\":"
	                                 "\"5c35f65c9f95\",\"expires_at\":1708569778,\"owner\":"
	                                 "\"hello@fly.io\",\"description\":\"failoverd h1\","
	                                 "\"version\":\"01HQ\"}}",
	                     &li, err, sizeof(err)),
	    0);
	assert_string_equal(li.nonce, "5c35f65c9f95");
	assert_string_equal(li.owner, "hello@fly.io");
	assert_string_equal(li.description, "failoverd h1");
	assert_int_equal(li.expires_at, 1708569778);

	/* owner/description optional; control characters never get through */
	assert_int_equal(fly_parse_lease("{\"data\":{\"nonce\":\"abc\",\"owner\":\"a\\nb\"}}", &li,
	                     err, sizeof(err)),
	    0);
	assert_string_equal(li.owner, "a?b");
	assert_string_equal(li.description, "");
	assert_int_equal(li.expires_at, 0);

	/* no usable nonce: it would go into a header */
	static const char *const bad[] = {
	    "",
	    "<html>",
	    "[]",
	    "{\"status\":\"success\"}",
	    "{\"data\":[]}",
	    "{\"data\":{}}",
	    "{\"data\":{\"nonce\":\"\"}}",
	    "{\"data\":{\"nonce\":7}}",
	    "{\"data\":{\"nonce\":\"a\\r\\nX-Evil: 1\"}}",
	    "{\"data\":{\"nonce\":\"a b\"}}",
	    "{\"data\":{\"nonce\":\"0123456789012345678901234567890123456789012345678901234567890123"
	    "\"}}",
	    "{\"status\":\"error\",\"message\":\"lease currently held\",\"code\":\"invalid\"}",
	    NULL,
	};
	for (int i = 0; bad[i] != NULL; i++) {
		strlcpy(li.nonce, "x", sizeof(li.nonce));
		assert_int_equal(fly_parse_lease(bad[i], &li, err, sizeof(err)), -1);
		assert_string_equal(li.nonce, "");
		assert_true(strlen(err) > 0);
	}
}

static void
test_lease_error_text(void **state)
{
	char buf[200];

	/* the lease envelope's "status":"error" is no code worth printing */
	fly_error_text(409,
	    "{\"status\":\"error\",\"message\":\"machine ID m1 lease currently held by "
	    "hello@fly.io, expires at 2026-01-01T00:00:00Z\",\"code\":\"invalid\"}",
	    buf, sizeof(buf));
	assert_string_equal(buf,
	    "409 machine ID m1 lease currently held by hello@fly.io, expires "
	    "at 2026-01-01T00:00:00Z");
	assert_int_equal(fly_classify(FLY_CALL_LEASE, 409), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_SUSPEND, 400), FLY_V_FAILED);
	assert_int_equal(fly_classify(FLY_CALL_SUSPEND, 412), FLY_V_FAILED);
	assert_int_equal(fly_classify(FLY_CALL_START, 412), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_SUSPEND, 409), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_SUSPEND, 503), FLY_V_RETRY);
	assert_int_equal(fly_classify(FLY_CALL_RELEASE, 200), FLY_V_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_header),
	    cmocka_unit_test(test_names_and_urls),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_parse_list),
	    cmocka_unit_test(test_parse_list_malformed),
	    cmocka_unit_test(test_parse_list_huge),
	    cmocka_unit_test(test_parse_long_strings),
	    cmocka_unit_test(test_parse_machine_start_ok),
	    cmocka_unit_test(test_error_text),
	    cmocka_unit_test(test_result_str),
	    cmocka_unit_test(test_machine_list_copy),
	    cmocka_unit_test(test_parse_suspend_eligibility),
	    cmocka_unit_test(test_parse_lease),
	    cmocka_unit_test(test_lease_error_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
