/*
 * etcd: the JSON gateway's reply parsers with the shapes measured on etcd
 * 3.4.23 (shared/notes/wave2.md §2), malformed replies, base64, prefix
 * ranges, endpoint lists and transaction bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "etcd.h"
#include "util.h"

#define HDR                                                                                        \
	"\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":"                       \
	"\"13668033151171901709\",\"revision\":\"3\",\"raft_term\":\"2\"}"

static int
parse(enum etcd_op op, int status, const char *body, struct etcd_result *res)
{
	memset(res, 0, sizeof(*res));
	return etcd_parse_reply(op, status, body, strlen(body), res);
}

static void
test_grant(void **state)
{
	struct etcd_result r;

	assert_int_equal(
	    parse(ETCD_OP_GRANT, 200, "{" HDR ",\"ID\":\"4111120438209794572\",\"TTL\":\"5\"}", &r),
	    0);
	assert_true(r.ok);
	assert_int_equal(r.lease_id, 4111120438209794572LL);
	assert_int_equal(r.ttl, 5);
	assert_int_equal(r.revision, 3);
	etcd_result_clear(&r);
	/* numbers as JSON numbers are fine too */
	assert_int_equal(parse(ETCD_OP_GRANT, 200, "{\"ID\":7,\"TTL\":10}", &r), 0);
	assert_int_equal(r.lease_id, 7);
	etcd_result_clear(&r);
	/* no ID, or no TTL: not a grant */
	assert_int_equal(parse(ETCD_OP_GRANT, 200, "{" HDR ",\"TTL\":\"5\"}", &r), -1);
	assert_false(r.ok);
	assert_non_null(strstr(r.error, "without a lease ID"));
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_GRANT, 200, "{\"ID\":\"9\"}", &r), -1);
	etcd_result_clear(&r);
	/* int64 strings must be exactly decimal */
	assert_int_equal(parse(ETCD_OP_GRANT, 200, "{\"ID\":\"9x\",\"TTL\":\"5\"}", &r), -1);
	assert_non_null(strstr(r.error, "\"ID\" is not a number"));
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_GRANT, 200, "{\"ID\":\" 9\",\"TTL\":\"5\"}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_GRANT, 200, "{\"ID\":\"+9\",\"TTL\":\"5\"}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(
	    parse(ETCD_OP_GRANT, 200, "{\"ID\":\"99999999999999999999\",\"TTL\":\"5\"}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_GRANT, 200, "{\"ID\":1.5,\"TTL\":\"5\"}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_GRANT, 200, "{\"ID\":\"9\",\"TTL\":true}", &r), -1);
	etcd_result_clear(&r);
	/* a header of the wrong type */
	assert_int_equal(
	    parse(ETCD_OP_GRANT, 200, "{\"header\":[],\"ID\":\"9\",\"TTL\":\"5\"}", &r), -1);
	etcd_result_clear(&r);
}

static void
test_keepalive(void **state)
{
	struct etcd_result r;

	/* the measured stream shape, with its trailing newline */
	assert_int_equal(
	    parse(ETCD_OP_KEEPALIVE, 200,
	        "{\"result\":{" HDR ",\"ID\":\"4111120438209794574\",\"TTL\":\"5\"}}\n", &r),
	    0);
	assert_true(r.ok);
	assert_false(r.lease_lost);
	assert_int_equal(r.ttl, 5);
	assert_int_equal(r.lease_id, 4111120438209794574LL);
	etcd_result_clear(&r);
	/* expired or unknown lease: 200 without TTL = lost */
	assert_int_equal(
	    parse(ETCD_OP_KEEPALIVE, 200, "{\"result\":{" HDR ",\"ID\":\"77\"}}\n", &r), 0);
	assert_true(r.ok);
	assert_true(r.lease_lost);
	assert_int_equal(r.ttl, 0);
	etcd_result_clear(&r);
	/* a stream error (3.4): HTTP 200 with an error object */
	assert_int_equal(parse(ETCD_OP_KEEPALIVE, 200,
	                     "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
	                     "\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}",
	                     &r),
	    -1);
	assert_false(r.ok);
	assert_string_equal(r.error, "etcd error: etcdserver: no leader");
	etcd_result_clear(&r);
	/* no result at all */
	assert_int_equal(parse(ETCD_OP_KEEPALIVE, 200, "{" HDR "}", &r), -1);
	assert_non_null(strstr(r.error, "without a result"));
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_KEEPALIVE, 200, "{\"result\":\"x\"}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(
	    parse(ETCD_OP_KEEPALIVE, 200, "{\"result\":{\"ID\":\"1\",\"TTL\":\"-3\"}}", &r), -1);
	etcd_result_clear(&r);
	/* two stream messages are not one reply */
	assert_int_equal(parse(ETCD_OP_KEEPALIVE, 200,
	                     "{\"result\":{\"ID\":\"1\",\"TTL\":\"5\"}}\n{\"result\":{}}\n", &r),
	    -1);
	assert_non_null(strstr(r.error, "data after"));
	etcd_result_clear(&r);
}

static void
test_txn(void **state)
{
	struct etcd_result r;

	assert_int_equal(parse(ETCD_OP_TXN, 200,
	                     "{" HDR ",\"succeeded\":true,\"responses\":[{\"response_put\":{"
	                     "\"header\":{\"revision\":\"4\"}}}]}",
	                     &r),
	    0);
	assert_true(r.succeeded);
	assert_int_equal(r.nresponses, 1);
	assert_int_equal(r.responses[0].kind, ETCD_RESP_PUT);
	etcd_result_clear(&r);
	/* the compare failed: "succeeded" absent, the failure range's kv */
	assert_int_equal(
	    parse(ETCD_OP_TXN, 200,
	        "{" HDR ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"4\"},"
	        "\"kvs\":[{\"key\":\"L2E=\",\"create_revision\":\"4\",\"mod_revision\":\"4\","
	        "\"version\":\"1\",\"value\":\"eA==\",\"lease\":\"4111120438209794574\"}],"
	        "\"count\":\"1\"}}]}",
	        &r),
	    0);
	assert_true(r.ok);
	assert_false(r.succeeded);
	assert_int_equal(r.nresponses, 1);
	assert_int_equal(r.responses[0].kind, ETCD_RESP_RANGE);
	assert_int_equal(r.responses[0].range.nkvs, 1);
	assert_string_equal(r.responses[0].range.kvs[0].key, "/a");
	assert_string_equal(r.responses[0].range.kvs[0].value, "x");
	assert_int_equal(r.responses[0].range.kvs[0].create_revision, 4);
	assert_int_equal(r.responses[0].range.kvs[0].lease, 4111120438209794574LL);
	etcd_result_clear(&r);
	/* failed, no failure ops: only a header */
	assert_int_equal(parse(ETCD_OP_TXN, 200, "{" HDR "}", &r), 0);
	assert_false(r.succeeded);
	assert_int_equal(r.nresponses, 0);
	etcd_result_clear(&r);
	/* a delete response; an empty range response */
	assert_int_equal(parse(ETCD_OP_TXN, 200,
	                     "{\"succeeded\":true,\"responses\":[{\"response_delete_range\":{"
	                     "\"deleted\":\"2\"}},{\"response_range\":{}}]}",
	                     &r),
	    0);
	assert_int_equal(r.responses[0].kind, ETCD_RESP_DELETE);
	assert_int_equal(r.responses[0].deleted, 2);
	assert_int_equal(r.responses[1].kind, ETCD_RESP_RANGE);
	assert_int_equal(r.responses[1].range.nkvs, 0);
	etcd_result_clear(&r);
	/* malformed */
	assert_int_equal(parse(ETCD_OP_TXN, 200, "{\"succeeded\":\"true\"}", &r), -1);
	assert_non_null(strstr(r.error, "not a boolean"));
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_TXN, 200, "{\"responses\":{}}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(
	    parse(ETCD_OP_TXN, 200, "{\"responses\":[{\"response_txn\":{}}]}", &r), -1);
	assert_non_null(strstr(r.error, "unknown kind"));
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_TXN, 200, "{\"responses\":[{}]}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_TXN, 200, "{\"responses\":[1]}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(
	    parse(ETCD_OP_TXN, 200, "{\"responses\":[{\"response_range\":{\"kvs\":[{}]}}]}", &r),
	    -1);
	assert_non_null(strstr(r.error, "without a key"));
	etcd_result_clear(&r);
}

static void
test_range(void **state)
{
	struct etcd_result r;

	assert_int_equal(
	    parse(ETCD_OP_RANGE, 200,
	        "{" HDR ",\"kvs\":[{\"key\":\"L2EvYg==\",\"create_revision\":\"2\","
	        "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"eA==\"},"
	        "{\"key\":\"L2EvYw==\",\"create_revision\":\"3\",\"mod_revision\":\"5\","
	        "\"version\":\"2\"}],\"count\":\"2\"}",
	        &r),
	    0);
	assert_int_equal(r.range.nkvs, 2);
	assert_int_equal(r.range.count, 2);
	assert_string_equal(r.range.kvs[0].key, "/a/b");
	assert_string_equal(r.range.kvs[1].key, "/a/c");
	/* an absent value is empty, an absent lease 0 */
	assert_string_equal(r.range.kvs[1].value, "");
	assert_int_equal(r.range.kvs[1].value_len, 0);
	assert_int_equal(r.range.kvs[1].lease, 0);
	assert_int_equal(r.range.kvs[1].mod_revision, 5);
	etcd_result_clear(&r);
	/* nothing found: no kvs, no count */
	assert_int_equal(parse(ETCD_OP_RANGE, 200, "{" HDR "}", &r), 0);
	assert_int_equal(r.range.nkvs, 0);
	assert_int_equal(r.range.count, 0);
	etcd_result_clear(&r);
	/* a value with a NUL byte keeps its length */
	assert_int_equal(parse(ETCD_OP_RANGE, 200,
	                     "{\"kvs\":[{\"key\":\"aw==\",\"value\":\"YQBi\"}],\"count\":1}", &r),
	    0);
	assert_int_equal(r.range.kvs[0].value_len, 3);
	assert_memory_equal(r.range.kvs[0].value, "a\0b", 3);
	etcd_result_clear(&r);
	/* malformed */
	assert_int_equal(parse(ETCD_OP_RANGE, 200,
	                     "{\"kvs\":[{\"key\":\"aw==\"},{\"key\":\"!!!!\"}],\"count\":2}", &r),
	    -1);
	assert_non_null(strstr(r.error, "not base64"));
	assert_int_equal(r.range.nkvs, 0); /* the first kv is not left behind */
	assert_null(r.range.kvs);
	etcd_result_clear(&r);
	assert_int_equal(
	    parse(ETCD_OP_RANGE, 200, "{\"kvs\":[{\"key\":\"YQBi\"}],\"count\":1}", &r),
	    -1); /* a NUL in a key */
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_RANGE, 200,
	                     "{\"kvs\":[{\"key\":\"aw==\",\"lease\":\"-1\"}],\"count\":1}", &r),
	    -1);
	etcd_result_clear(&r);
	assert_int_equal(
	    parse(ETCD_OP_RANGE, 200, "{\"kvs\":[{\"key\":\"aw==\"}],\"count\":\"0\"}", &r),
	    -1); /* fewer counted than given */
	etcd_result_clear(&r);
	assert_int_equal(
	    parse(ETCD_OP_RANGE, 200, "{\"kvs\":[{\"key\":\"aw==\"}],\"more\":1}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_DELETE, 200, "{" HDR ",\"deleted\":\"1\"}", &r), 0);
	assert_int_equal(r.deleted, 1);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_DELETE, 200, "{" HDR "}", &r), 0);
	assert_int_equal(r.deleted, 0);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_PUT, 200, "{" HDR "}", &r), 0);
	assert_int_equal(r.revision, 3);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_REVOKE, 200, "{" HDR "}", &r), 0);
	etcd_result_clear(&r);
}

static void
test_errors(void **state)
{
	struct etcd_result r;

	/* 3.4's unary errors */
	assert_int_equal(parse(ETCD_OP_PUT, 404,
	                     "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
	                     "\"etcdserver: requested lease not found\",\"code\":5}",
	                     &r),
	    -1);
	assert_string_equal(r.error, "HTTP 404: etcdserver: requested lease not found");
	assert_int_equal(r.status, 404);
	etcd_result_clear(&r);
	/* 3.6's google.rpc.Status */
	assert_int_equal(
	    parse(ETCD_OP_RANGE, 503,
	        "{\"code\":14,\"message\":\"etcdserver: no leader\",\"details\":[]}", &r),
	    -1);
	assert_string_equal(r.error, "HTTP 503: etcdserver: no leader");
	etcd_result_clear(&r);
	/* an error status with garbage or nothing */
	assert_int_equal(parse(ETCD_OP_RANGE, 502, "<html>bad gateway</html>", &r), -1);
	assert_string_equal(r.error, "HTTP 502");
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_RANGE, 500, "", &r), -1);
	assert_string_equal(r.error, "HTTP 500");
	etcd_result_clear(&r);
	/* even with a 200 status, an error field is an error */
	assert_int_equal(
	    parse(ETCD_OP_GRANT, 200, "{\"error\":\"x\",\"ID\":\"1\",\"TTL\":\"5\"}", &r), -1);
	etcd_result_clear(&r);
	/* etcd's message is cut and cleaned of control characters */
	{
		char body[1024], *p = body;
		int i;

		p += sprintf(p, "{\"message\":\"a\\nb");
		for (i = 0; i < 400; i++)
			*p++ = 'z';
		strcpy(p, "\"}");
		assert_int_equal(parse(ETCD_OP_PUT, 500, body, &r), -1);
		assert_null(strchr(r.error, '\n'));
		assert_true(strlen(r.error) < 200);
		assert_non_null(strstr(r.error, "a?b"));
		etcd_result_clear(&r);
	}
}

static void
test_garbage(void **state)
{
	static const char *const bodies[] = {"", " ", "null", "[]", "\"x\"", "42", "{", "{}}",
	    "{\"result\":", "{\"ID\":\"1\",\"TTL\":\"5\"} x", "\xff\xfe", "{\"kvs\":[null]}",
	    "{\"kvs\":[{\"key\":null}]}", "{\"responses\":[null]}",
	    "{\"header\":{\"revision\":{}}}"};
	static const enum etcd_op ops[] = {ETCD_OP_AUTH, ETCD_OP_GRANT, ETCD_OP_KEEPALIVE,
	    ETCD_OP_REVOKE, ETCD_OP_PUT, ETCD_OP_RANGE, ETCD_OP_DELETE, ETCD_OP_TXN};
	struct etcd_result r;
	size_t i, j;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		for (j = 0; j < sizeof(ops) / sizeof(ops[0]); j++) {
			int rc = parse(ops[j], 200, bodies[i], &r);

			/* "{}" alone would be fine for a put; these never are. */
			if (rc == 0 && ops[j] != ETCD_OP_RANGE && ops[j] != ETCD_OP_TXN &&
			    ops[j] != ETCD_OP_PUT && ops[j] != ETCD_OP_REVOKE &&
			    ops[j] != ETCD_OP_DELETE)
				fail_msg("%s accepted %s", etcd_op_str(ops[j]), bodies[i]);
			if (rc == -1) {
				assert_false(r.ok);
				assert_true(r.error[0] != '\0');
				/* nothing half-parsed is left behind */
				assert_int_equal(r.range.nkvs, 0);
				assert_null(r.range.kvs);
				assert_int_equal(r.nresponses, 0);
				assert_null(r.responses);
				assert_null(r.token);
			}
			etcd_result_clear(&r);
		}
	}
	/* a NUL inside the body */
	memset(&r, 0, sizeof(r));
	assert_int_equal(etcd_parse_reply(ETCD_OP_PUT, 200, "{}\0{}", 5, &r), -1);
	etcd_result_clear(&r);
	/* the authenticate reply: a token, never in an error */
	assert_int_equal(parse(ETCD_OP_AUTH, 200, "{" HDR ",\"token\":\"tok.123\"}", &r), 0);
	assert_string_equal(r.token, "tok.123");
	etcd_result_clear(&r);
	assert_null(r.token);
	assert_int_equal(parse(ETCD_OP_AUTH, 200, "{\"token\":\"a\\r\\nX-Evil: 1\"}", &r), -1);
	etcd_result_clear(&r);
	assert_int_equal(parse(ETCD_OP_AUTH, 200, "{\"token\":\"\"}", &r), -1);
	etcd_result_clear(&r);
}

static void
test_b64(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {
	    "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const bad[] = {
	    "Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v====", "=Zm9", "Zm=v", "Zm9\x80"};
	char *s, *out;
	size_t i;
	ssize_t n;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		s = etcd_b64_encode(plain[i], strlen(plain[i]));
		assert_string_equal(s, enc[i]);
		free(s);
		n = etcd_b64_decode(enc[i], strlen(enc[i]), &out);
		assert_int_equal(n, strlen(plain[i]));
		assert_string_equal(out, plain[i]);
		free(out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = etcd_b64_decode(bad[i], strlen(bad[i]), &out);
		if (n != -1)
			fail_msg("accepted %s", bad[i]);
		assert_null(out);
	}
}

static void
test_prefix_end(void **state)
{
	char *end;
	size_t n;

	n = etcd_prefix_end("/fo/", &end);
	assert_int_equal(n, 4);
	assert_memory_equal(end, "/fo0", 4);
	free(end);
	n = etcd_prefix_end("a\xff\xff", &end);
	assert_int_equal(n, 1);
	assert_memory_equal(end, "b", 1);
	free(end);
	n = etcd_prefix_end("\xff", &end);
	assert_int_equal(n, 1);
	assert_int_equal(end[0], 0);
	free(end);
}

static void
test_endpoints(void **state)
{
	char *eps[ETCD_MAX_ENDPOINTS], err[256];
	static const char *const bad[] = {"", ",", "http://a,", "ftp://a", "http://",
	    "http://:2379", "http://u:p@a:2379", "http://a:2379/v3", "http://a?x", "a:2379",
	    "http://a b"};
	size_t i;

	assert_int_equal(
	    etcd_endpoints_parse(" http://127.0.0.1:2379/ ,https://e2:2379,http://[::1]:2379", eps,
	        ETCD_MAX_ENDPOINTS, err, sizeof(err)),
	    3);
	assert_string_equal(eps[0], "http://127.0.0.1:2379");
	assert_string_equal(eps[1], "https://e2:2379");
	assert_string_equal(eps[2], "http://[::1]:2379");
	for (i = 0; i < 3; i++)
		free(eps[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (etcd_endpoints_parse(bad[i], eps, ETCD_MAX_ENDPOINTS, err, sizeof(err)) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(err[0] != '\0');
		/* never echo the (possibly secret-bearing) URL */
		assert_null(strstr(err, "u:p"));
	}
	assert_int_equal(etcd_endpoints_parse("http://a,http://b", NULL, 1, err, sizeof(err)), -1);
}

static void
test_txn_body(void **state)
{
	struct etcd_txn *t = etcd_txn_new();
	char *b;

	etcd_txn_compare(t, "/p/leader", ETCD_CREATE, ETCD_EQUAL, 0, NULL, 0);
	etcd_txn_compare(t, "/p/x", ETCD_VALUE, ETCD_NOT_EQUAL, 0, "v", 1);
	etcd_txn_put(t, true, "/p/leader", "n1", 2, 42);
	etcd_txn_range(t, false, "/p/leader", false);
	etcd_txn_delete(t, false, "/p/m/", true);
	b = etcd_txn_body(t);
	assert_string_equal(b,
	    "{\"compare\":[{\"result\":\"EQUAL\",\"key\":\"L3AvbGVhZGVy\",\"target\":\"CREATE\","
	    "\"create_revision\":\"0\"},{\"result\":\"NOT_EQUAL\",\"key\":\"L3AveA==\",\"target\":"
	    "\"VALUE\",\"value\":\"dg==\"}],\"success\":[{\"request_put\":{\"key\":\"L3AvbGVhZGVy\","
	    "\"value\":\"bjE=\",\"lease\":\"42\"}}],\"failure\":[{\"request_range\":{\"key\":"
	    "\"L3AvbGVhZGVy\"}},{\"request_delete_range\":{\"key\":\"L3AvbS8=\",\"range_end\":"
	    "\"L3AvbTA=\"}}]}");
	free(b);
	etcd_txn_free(t);
}

/* The §9 keys from -D definitions (no file): the config, or NULL with the
 * errors joined in *why (malloc'd). */
static struct config *
cfg_load(const char *const *defs, char **why)
{
	struct config_source src;
	struct config_errors errs = {NULL, 0};
	struct config *cfg;
	char *env[] = {NULL};
	int n = 0, i;

	while (defs[n] != NULL)
		n++;
	memset(&src, 0, sizeof(src));
	src.file = "/dev/null";
	src.defines = (char *const *)defs;
	src.ndefines = n;
	src.environ = env;
	cfg = config_load(&src, &errs);
	*why = xstrdup("");
	for (i = 0; i < errs.n; i++) {
		char *j = xasprintf("%s%s\n", *why, errs.msgs[i]);

		free(*why);
		*why = j;
	}
	config_errors_clear(&errs);
	return cfg;
}

static void
cfg_fails(const char *const *defs, const char *needle)
{
	char *why;
	struct config *cfg = cfg_load(defs, &why);

	if (cfg != NULL || strstr(why, needle) == NULL)
		fail_msg("%s=...: expected an error with \"%s\", got \"%s\"", defs[0], needle, why);
	free(why);
}

static void
test_config_keys(void **state)
{
	char *why, pwpath[] = "/tmp/fod-etcd-pw-XXXXXX", *out = NULL;
	size_t outlen = 0;
	struct config *cfg;
	FILE *fp;
	int fd;

	/* defaults */
	cfg = cfg_load((const char *const[]){NULL}, &why);
	assert_non_null(cfg);
	assert_string_equal(cfg->coordinator, "none");
	assert_int_equal(cfg->election_ttl_ms, 10000);
	assert_null(cfg->etcd_endpoints);
	assert_null(cfg->node_name);
	config_free(cfg);
	free(why);
	/* good values, with COORDINATOR=none */
	cfg =
	    cfg_load((const char *const[]){"ETCD_ENDPOINTS=http://127.0.0.1:2379, https://e2:2379/",
	                 "ETCD_PREFIX=/failoverd/pair1/", "NODE_NAME=mon-1.b_c", "ELECTION_TTL=2",
	                 "SELF_FENCE_CMD=/bin/true", NULL},
	        &why);
	if (cfg == NULL)
		fail_msg("%s", why);
	assert_int_equal(cfg->election_ttl_ms, 2000);
	assert_string_equal(cfg->node_name, "mon-1.b_c");
	config_free(cfg);
	free(why);
	/* bad values */
	cfg_fails((const char *const[]){"COORDINATOR=zookeeper", NULL}, "none or etcd");
	cfg_fails((const char *const[]){"ELECTION_TTL=1", NULL}, "at least 2 s");
	cfg_fails((const char *const[]){"ELECTION_TTL=2500ms", NULL}, "whole seconds");
	cfg_fails((const char *const[]){"NODE_NAME=a b", NULL}, "NODE_NAME");
	cfg_fails((const char *const[]){"ETCD_PREFIX=failoverd/", NULL}, "must start with /");
	cfg_fails((const char *const[]){"ETCD_USER=root", NULL}, "go together");
	cfg_fails((const char *const[]){"ETCD_CERT_FILE=/dev/null", NULL}, "go together");
	cfg_fails((const char *const[]){"ETCD_CA_FILE=/nonexistent/ca.pem", NULL}, "ETCD_CA_FILE");
	/* COORDINATOR=etcd with its endpoints loads */
	cfg = cfg_load(
	    (const char *const[]){"COORDINATOR=etcd", "ETCD_ENDPOINTS=http://a:2379", NULL}, &why);
	if (cfg == NULL)
		fail_msg("%s", why);
	assert_string_equal(cfg->coordinator, "etcd");
	config_free(cfg);
	free(why);
	cfg_fails((const char *const[]){"COORDINATOR=etcd", NULL}, "needs ETCD_ENDPOINTS");
	/* the password file: read, kept, never printed */
	fd = mkstemp(pwpath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "pw-Secret-4711\n", 15), 15);
	close(fd);
	{
		char *def = xasprintf("ETCD_PASSWORD_FILE=%s", pwpath);

		cfg = cfg_load((const char *const[]){"ETCD_USER=root", def, NULL}, &why);
		free(def);
	}
	if (cfg == NULL)
		fail_msg("%s", why);
	free(why);
	assert_string_equal(cfg->etcd_password, "pw-Secret-4711");
	fp = open_memstream(&out, &outlen);
	config_print(cfg, fp);
	fclose(fp);
	assert_null(strstr(out, "pw-Secret"));
	assert_non_null(strstr(out, "ETCD_USER=root"));
	free(out);
	config_free(cfg);
	unlink(pwpath);
}

/* config.c's ETCD_ENDPOINTS check and etcd_endpoints_parse agree. */
static void
test_config_endpoints_agree(void **state)
{
	static const char *const lists[] = {"http://a", "https://a:1/", " http://a , http://b ",
	    "http://[::1]:2379", "", ",", "http://a,", "ftp://a", "http://", "http://:2379",
	    "http://u:p@a:2379", "http://a:2379/v3", "http://a?x", "a:2379", "http://a b",
	    "http://a,http://b,http://c,http://d,http://e,http://f,http://g,http://h,http://i,"
	    "http://j,http://k,http://l,http://m,http://n,http://o,http://p,http://q"};
	char err[256], *why, *def;
	struct config *cfg;
	size_t i;
	int n;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		n = etcd_endpoints_parse(lists[i], NULL, ETCD_MAX_ENDPOINTS, err, sizeof(err));
		def = xasprintf("ETCD_ENDPOINTS=%s", lists[i]);
		cfg = cfg_load((const char *const[]){def, NULL}, &why);
		/* An empty -D value unsets the key: nothing to check. */
		if (*lists[i] != '\0' && (cfg != NULL) != (n > 0))
			fail_msg("'%s': config %s, etcd %d", lists[i], cfg ? "accepts" : why, n);
		/* the refusal never shows a password in a URL */
		if (cfg == NULL)
			assert_null(strstr(why, "u:p"));
		config_free(cfg);
		free(why);
		free(def);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grant),
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_txn),
	    cmocka_unit_test(test_range),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_b64),
	    cmocka_unit_test(test_prefix_end),
	    cmocka_unit_test(test_endpoints),
	    cmocka_unit_test(test_txn_body),
	    cmocka_unit_test(test_config_keys),
	    cmocka_unit_test(test_config_endpoints_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
