/* metrics.c's pure parts: the exposition rendered from a status object, label
 * escaping, the check duration histogram, and METRICS_LISTEN's parser
 * (config_listen_parse). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "metrics.h"
#include "util.h"

static const char *status_json =
    "{\"version\": \"1.2.3\", \"pid\": 42, \"uptime_s\": 3600, \"instance\": null,"
    " \"state\": \"standby\", \"reason\": \"token fm2_SECRETREASON\", \"paused\": true,"
    " \"forced\": false, \"degraded\": true,"
    " \"errors\": [{\"what\": \"fly-api\", \"error\": \"401 for FlyV1 fm2_SECRETERR\"}],"
    " \"local\": {\"url\": \"http://user:SECRETPASS@127.0.0.1/\", \"healthy\": false,"
    "   \"last_error\": \"SECRETLASTERROR\", \"checks_total\": 10, \"checks_failed\": 4},"
    " \"standby\": {\"provider\": \"fly\", \"app\": \"SECRETAPP\", \"active\": true,"
    "   \"active_seconds_total\": 125, \"estimated_cost_usd\": 0.5},"
    " \"sync\": {\"enabled\": true, \"last_push\": null, \"last_pull\": null},"
    " \"notify\": {\"telegram\": true, \"pending\": 2},"
    " \"counters\": {\"failovers\": 3, \"failbacks\": 2, \"events\": 99}}";

static char *
render(const struct metrics *m, const char *json)
{
	json_object *st = json_tokener_parse(json);
	char *out;

	assert_non_null(st);
	out = metrics_render(m, st);
	json_object_put(st);
	assert_non_null(out);
	return out;
}

/* The line "NAME VALUE" (NAME with its labels) is in text. */
static void
assert_sample(const char *text, const char *name, const char *value)
{
	char *want = xasprintf("\n%s %s\n", name, value);

	if (strstr(text, want) == NULL) {
		print_error("missing sample \"%s %s\" in:\n%s\n", name, value, text);
		fail();
	}
	free(want);
}

/*
 * The shape of the text format 0.0.4, line by line: every sample's family
 * has HELP and TYPE before it, once each; sample names are
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label values are quoted with only \\, \" and \n
 * escapes; every line ends with a newline.
 */
static void
assert_well_formed(const char *text)
{
	char *copy = xstrdup(text), *save = NULL, *line;
	char typed[64][128];
	int ntyped = 0;

	assert_true(text[strlen(text) - 1] == '\n');
	for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[128];
		size_t n;
		const char *p;
		bool found = false;

		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_true(sscanf(line + 7, "%127s", typed[ntyped]) == 1);
			for (int i = 0; i < ntyped; i++)
				assert_string_not_equal(typed[i], typed[ntyped]);
			ntyped++;
			assert_true(ntyped < 64);
			continue;
		}
		assert_true(line[0] != '#');
		n = strspn(
		    line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
		assert_true(n > 0 && n < sizeof(name));
		memcpy(name, line, n);
		name[n] = '\0';
		for (int i = 0; i < ntyped && !found; i++) {
			size_t tl = strlen(typed[i]);
			found = strcmp(name, typed[i]) == 0 ||
			    (strncmp(name, typed[i], tl) == 0 &&
			        (strcmp(name + tl, "_bucket") == 0 ||
			            strcmp(name + tl, "_sum") == 0 ||
			            strcmp(name + tl, "_count") == 0));
		}
		if (!found) {
			print_error("sample %s has no TYPE before it\n", name);
			fail();
		}
		p = line + n;
		if (*p == '{') {
			p++;
			while (*p != '}') {
				p += strspn(p, "abcdefghijklmnopqrstuvwxyz_");
				assert_true(p[0] == '=' && p[1] == '"');
				for (p += 2; *p != '"'; p++) {
					assert_true(*p != '\0');
					if (*p == '\\') {
						p++;
						assert_true(*p == '\\' || *p == '"' || *p == 'n');
					}
				}
				p++;
				if (*p == ',')
					p++;
				else
					assert_true(*p == '}');
			}
			p++;
		}
		assert_true(*p == ' ');
		assert_true(strspn(p + 1, "0123456789.e+-Inf") == strlen(p + 1));
	}
	free(copy);
}

static void
test_render_values(void **state)
{
	struct metrics m;
	char *text;

	memset(&m, 0, sizeof(m));
	m.sync_ok_ms[0] = 1700000000123;
	text = render(&m, status_json);
	assert_well_formed(text);
	assert_sample(text, "failoverd_up", "1");
	assert_sample(text, "failoverd_build_info{version=\"1.2.3\"}", "1");
	assert_sample(text, "failoverd_state{state=\"standby\"}", "1");
	assert_sample(text, "failoverd_state{state=\"primary\"}", "0");
	assert_sample(text, "failoverd_state{state=\"starting\"}", "0");
	assert_sample(text, "failoverd_state{state=\"failing-over\"}", "0");
	assert_sample(text, "failoverd_state{state=\"failing-back\"}", "0");
	assert_sample(text, "failoverd_paused", "1");
	assert_sample(text, "failoverd_forced", "0");
	assert_sample(text, "failoverd_degraded", "1");
	assert_sample(text, "failoverd_primary_healthy", "0");
	assert_sample(text, "failoverd_checks_total{result=\"ok\"}", "6");
	assert_sample(text, "failoverd_checks_total{result=\"failed\"}", "4");
	assert_sample(text, "failoverd_failovers_total", "3");
	assert_sample(text, "failoverd_failbacks_total", "2");
	assert_sample(text, "failoverd_events_total", "99");
	assert_sample(text, "failoverd_standby_active", "1");
	assert_sample(text, "failoverd_standby_active_seconds_total", "125");
	assert_sample(text, "failoverd_standby_estimated_cost_usd", "0.5");
	assert_sample(text, "failoverd_sync_enabled", "1");
	assert_sample(text, "failoverd_sync_last_success_timestamp_seconds{direction=\"push\"}",
	    "1700000000.123");
	assert_sample(
	    text, "failoverd_sync_last_success_timestamp_seconds{direction=\"pull\"}", "0.000");
	assert_sample(text, "failoverd_notify_pending", "2");
	assert_sample(text, "failoverd_uptime_seconds", "3600");
	assert_non_null(strstr(text, "# TYPE failoverd_check_duration_seconds histogram\n"));
	assert_non_null(strstr(text, "# TYPE failoverd_failovers_total counter\n"));
	assert_non_null(strstr(text, "# HELP failoverd_state "));
	/* Nothing but numbers and fixed names comes from status. */
	assert_null(strstr(text, "SECRET"));
	assert_null(strstr(text, "fm2_"));
	free(text);
}

static void
test_render_empty(void **state)
{
	struct metrics m;
	char *text;

	/* Before the first check (healthy null) and with nothing known. */
	memset(&m, 0, sizeof(m));
	text = render(&m, "{\"state\": \"starting\", \"local\": {\"healthy\": null}}");
	assert_well_formed(text);
	assert_sample(text, "failoverd_state{state=\"starting\"}", "1");
	assert_sample(text, "failoverd_checks_total{result=\"ok\"}", "0");
	assert_sample(text, "failoverd_check_duration_seconds_count", "0");
	assert_sample(text, "failoverd_check_duration_seconds_bucket{le=\"+Inf\"}", "0");
	assert_null(strstr(text, "failoverd_primary_healthy"));
	assert_sample(text, "failoverd_build_info{version=\"\"}", "1");
	free(text);

	/* An unknown state marks none. */
	text = render(&m, "{\"state\": \"elsewhere\"}");
	assert_null(strstr(text, "} 1\nfailoverd_state"));
	assert_sample(text, "failoverd_state{state=\"primary\"}", "0");
	assert_null(strstr(text, "elsewhere"));
	free(text);
}

static void
test_escape(void **state)
{
	struct metrics m;
	char buf[64], *text;

	metrics_label_escape("plain-1.0", buf, sizeof(buf));
	assert_string_equal(buf, "plain-1.0");
	metrics_label_escape("a\\b\"c\nd", buf, sizeof(buf));
	assert_string_equal(buf, "a\\\\b\\\"c\\nd");
	/* Truncated at a whole escape, never half of one. */
	metrics_label_escape("ab\"cd", buf, 4);
	assert_string_equal(buf, "ab");
	metrics_label_escape("\\\\", buf, 4);
	assert_string_equal(buf, "\\\\");
	metrics_label_escape("x", buf, 1);
	assert_string_equal(buf, "");

	/* Through the render: a version with every character to escape. */
	memset(&m, 0, sizeof(m));
	text = render(&m, "{\"version\": \"1\\\\2\\\"3\\n4\"}");
	assert_well_formed(text);
	assert_sample(text, "failoverd_build_info{version=\"1\\\\2\\\"3\\n4\"}", "1");
	free(text);
}

static void
test_histogram(void **state)
{
	struct metrics m;
	char *text;

	memset(&m, 0, sizeof(m));
	metrics_observe_check(&m, 0.005); /* on a bound: counted in it (le) */
	metrics_observe_check(&m, 0.0051);
	metrics_observe_check(&m, 0.3);
	metrics_observe_check(&m, 30);
	metrics_observe_check(&m, 100); /* only +Inf */
	metrics_observe_check(&m, -1); /* counted as 0 */
	metrics_observe_check(&m, NAN); /* NaN: counted as 0 */
	assert_int_equal(m.check_count, 7);
	text = render(&m, "{}");
	assert_well_formed(text);
	assert_sample(text, "failoverd_check_duration_seconds_bucket{le=\"0.005\"}", "3");
	assert_sample(text, "failoverd_check_duration_seconds_bucket{le=\"0.01\"}", "4");
	assert_sample(text, "failoverd_check_duration_seconds_bucket{le=\"0.25\"}", "4");
	assert_sample(text, "failoverd_check_duration_seconds_bucket{le=\"0.5\"}", "5");
	assert_sample(text, "failoverd_check_duration_seconds_bucket{le=\"10\"}", "5");
	assert_sample(text, "failoverd_check_duration_seconds_bucket{le=\"30\"}", "6");
	assert_sample(text, "failoverd_check_duration_seconds_bucket{le=\"+Inf\"}", "7");
	assert_sample(text, "failoverd_check_duration_seconds_count", "7");
	assert_sample(text, "failoverd_check_duration_seconds_sum", "130.3101");
	free(text);

	metrics_sync_ok(&m, false, 5000);
	text = render(&m, "{}");
	assert_sample(
	    text, "failoverd_sync_last_success_timestamp_seconds{direction=\"pull\"}", "5.000");
	free(text);
}

static void
test_listen_parse(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	const char *why = NULL;
	char buf[64];
	static const char *const bad[] = {"", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
	    "127.0.0.1:65536", "127.0.0.1:x", "127.0.0.1:94 64", "example.com:9464",
	    "metrics.internal:80", "::1:9464", "[::1]9464", "[::1", "[127.0.0.1]:80",
	    "[localhost]:80", "256.0.0.1:80", "localhost.:80"};

	assert_int_equal(config_listen_parse("127.0.0.1:9464", &ss, &len, &why), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 9464);
	assert_int_equal(len, sizeof(*sin));
	assert_string_equal(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)), "127.0.0.1");

	assert_int_equal(config_listen_parse("localhost:80", &ss, &len, &why), 0);
	assert_string_equal(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)), "127.0.0.1");
	assert_int_equal(ntohs(sin->sin_port), 80);

	assert_int_equal(config_listen_parse("[::1]:65535", &ss, &len, &why), 0);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 65535);
	assert_int_equal(len, sizeof(*sin6));
	assert_string_equal(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)), "::1");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (config_listen_parse(bad[i], &ss, &len, &why) != -1) {
			print_error("\"%s\" accepted\n", bad[i]);
			fail();
		}
		assert_non_null(why);
	}
	why = NULL;
	config_listen_parse("example.com:9464", &ss, &len, &why);
	assert_non_null(strstr(why, "IP address or localhost"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_values),
	    cmocka_unit_test(test_render_empty),
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_listen_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
