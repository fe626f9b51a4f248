/* Unit tests for daemon/config.c: grammar, precedence, validation, secrets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

#define FLY_SECRET "fm2_unitSECRETfly_0123456789,fm2_unitSECRETtwo_abcdef"
#define TG_SECRET "123456789:AAunitSECRETtg_77c0d1e5"

static char tmpdir[] = "/tmp/fod-test-config-XXXXXX";
static char *conf_path;

static int
group_setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	conf_path = xasprintf("%s/failoverd.conf", tmpdir);
	return 0;
}

static int
group_teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int rc = system(cmd);

	free(cmd);
	free(conf_path);
	return rc == 0 ? 0 : -1;
}

static char *
tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	assert_int_equal(util_write_atomic(path, text, strlen(text), mode), 0);
}

/* Loads with text as the -c file (NULL = an empty one, /dev/null: the
 * default file of this machine is never read), env and defines. */
static struct config *
load(const char *text, char **env, char **defs, struct config_errors *errs)
{
	struct config_source src;
	int n = 0;

	memset(&src, 0, sizeof(src));
	if (text != NULL) {
		write_file(conf_path, text, 0600);
		src.file = conf_path;
	} else
		src.file = "/dev/null";
	while (defs != NULL && defs[n] != NULL)
		n++;
	src.defines = defs;
	src.ndefines = n;
	src.environ = env;
	return config_load(&src, errs);
}

/* Loads text that must be fine. */
static struct config *
load_ok(const char *text)
{
	struct config_errors errs = {NULL, 0};
	struct config *cfg = load(text, NULL, NULL, &errs);

	for (int i = 0; i < errs.n; i++)
		print_error("unexpected error: %s\n", errs.msgs[i]);
	assert_non_null(cfg);
	assert_int_equal(errs.n, 0);
	return cfg;
}

static bool
errs_have(const struct config_errors *errs, const char *needle)
{
	for (int i = 0; i < errs->n; i++)
		if (strstr(errs->msgs[i], needle) != NULL)
			return true;
	return false;
}

static void
errs_dump(const struct config_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		print_error("  error: %s\n", errs->msgs[i]);
}

/* Loads text that must fail with an error containing needle. */
static void
load_fails(const char *text, const char *needle)
{
	struct config_errors errs = {NULL, 0};
	struct config *cfg = load(text, NULL, NULL, &errs);

	if (cfg != NULL || !errs_have(&errs, needle)) {
		print_error("config %s: expected an error with \"%s\"\n", text, needle);
		errs_dump(&errs);
	}
	assert_null(cfg);
	assert_true(errs_have(&errs, needle));
	config_errors_clear(&errs);
}

static char *
print_cfg(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	config_print(cfg, fp);
	fclose(fp);
	return buf;
}

/* The value of KEY in config_print's output (a new string), or NULL. */
static char *
printed(const struct config *cfg, const char *key)
{
	char *out = print_cfg(cfg), *line, *save = NULL, *res = NULL;
	size_t kl = strlen(key);

	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
			res = xstrdup(line + kl + 1);
			break;
		}
	free(out);
	return res;
}

static void
assert_printed(const struct config *cfg, const char *key, const char *want)
{
	char *got = printed(cfg, key);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_defaults(void **state)
{
	struct config *cfg = load_ok("");

	assert_string_equal(cfg->local_health_url, "http://localhost:8100/status");
	assert_int_equal(cfg->n_healthy_status, 1);
	assert_int_equal(cfg->healthy_status[0].lo, 200);
	assert_int_equal(cfg->healthy_status[0].hi, 299);
	assert_null(cfg->health_expect);
	assert_false(cfg->health_insecure);
	assert_int_equal(cfg->check_interval_ms, 60000);
	assert_int_equal(cfg->fast_interval_ms, 5000);
	assert_int_equal(cfg->check_timeout_ms, 10000);
	assert_int_equal(cfg->failure_threshold, 3);
	assert_int_equal(cfg->recovery_threshold, 3);
	assert_int_equal(cfg->min_standby_time_ms, 300000);
	assert_int_equal(cfg->failback, FAILBACK_AUTO);
	assert_int_equal(cfg->auto_stop_ms, 3600000);
	assert_int_equal(cfg->reconcile_interval_ms, 300000);
	assert_int_equal(cfg->provider, PROVIDER_NONE);
	assert_string_equal(cfg->fly_api_hostname, "https://api.machines.dev");
	assert_int_equal(cfg->fly_machine_count, 1);
	assert_int_equal(cfg->activation_timeout_ms, 300000);
	assert_null(cfg->state_dir);
	assert_string_equal(cfg->rclone, "rclone");
	assert_int_equal(cfg->sync_interval_ms, 300000);
	assert_int_equal(cfg->sync_timeout_ms, 120000);
	assert_string_equal(cfg->backup_dir, LOCALSTATEDIR "/lib/failoverd/backups");
	assert_int_equal(cfg->backup_keep, 10);
	assert_string_equal(cfg->telegram_api_url, "https://api.telegram.org");
	assert_false(cfg->fence_required);
	assert_int_equal(cfg->hook_timeout_ms, 30000);
	assert_string_equal(cfg->socket_path, RUNSTATEDIR "/failoverd/failoverd.sock");
	assert_string_equal(cfg->state_file, LOCALSTATEDIR "/lib/failoverd/state.json");
	assert_string_equal(cfg->status_file, RUNSTATEDIR "/failoverd/failoverd.status");
	assert_string_equal(cfg->pid_file, RUNSTATEDIR "/failoverd/failoverd.pid");
	assert_null(cfg->log_file);
	assert_true(cfg->cost_per_second > 0.0000018 && cfg->cost_per_second < 0.000002);
	assert_string_equal(cfg->file, conf_path);
	assert_int_equal(cfg->n_warnings, 0);
	config_free(cfg);
}

static void
test_grammar(void **state)
{
	struct config *cfg = load_ok("\n"
	                             "   \n"
	                             "# a comment\n"
	                             "   # an indented comment\n"
	                             "export FAILURE_THRESHOLD=8\n"
	                             "HEALTH_EXPECT=\"ok # not a comment\"\n"
	                             "NOTIFY_CMD='echo \"it s\" $HOME'\n"
	                             "FENCE_CMD=echo ${HOME} # literal\n"
	                             "FAILBACK_CMD=\"say \\\"hi\\\" \\\\ there\"\n"
	                             "FAILBACK=\n"
	                             "RECOVERY_THRESHOLD=''\n"
	                             "ACTIVATE_CMD=a=b\n"
	                             "DEACTIVATE_CMD=  padded  \r\n");

	assert_int_equal(cfg->failure_threshold, 8);
	assert_string_equal(cfg->health_expect, "ok # not a comment");
	assert_string_equal(cfg->notify_cmd, "echo \"it s\" $HOME");
	assert_string_equal(cfg->fence_cmd, "echo ${HOME} # literal");
	assert_string_equal(cfg->failback_cmd, "say \"hi\" \\ there");
	assert_int_equal(cfg->failback, FAILBACK_AUTO);
	assert_int_equal(cfg->recovery_threshold, 3);
	assert_string_equal(cfg->activate_cmd, "a=b");
	assert_string_equal(cfg->deactivate_cmd, "padded");
	config_free(cfg);

	/* An empty value resets a key an earlier line set. */
	cfg = load_ok("CHECK_INTERVAL=5m\nCHECK_INTERVAL=\n");
	assert_int_equal(cfg->check_interval_ms, 60000);
	config_free(cfg);
}

static void
test_grammar_errors(void **state)
{
	char *want;

	want = xasprintf("%s:2: HEALTH_EXPECT: unterminated quote", conf_path);
	load_fails("# one\nHEALTH_EXPECT=\"open\n", want);
	free(want);
	want = xasprintf("%s:1: NOTIFY_CMD: unterminated quote", conf_path);
	load_fails("NOTIFY_CMD='open\n", want);
	free(want);
	load_fails("NOTIFY_CMD='a' b\n", "text after the closing quote");
	load_fails("NOTIFY_CMD=\"a\"b\n", "text after the closing quote");
	want = xasprintf("%s:3: FAILOVER_THRESHOLD: unknown key", conf_path);
	load_fails("\n\nFAILOVER_THRESHOLD=3\n", want);
	free(want);
	load_fails("failure_threshold=3\n", "unknown key (did you mean FAILURE_THRESHOLD?)");
	load_fails("CHECK_INTERVALL=3\n", "unknown key (did you mean CHECK_INTERVAL?)");
	load_fails("ZZZ=3\n", "ZZZ: unknown key");
	want = xasprintf("%s:1: expected KEY=VALUE", conf_path);
	load_fails("just some words\n", want);
	free(want);
	load_fails("=3\n", "not a valid key name");
	load_fails("BAD-KEY=3\n", "not a valid key name");
	/* No inline comments: the rest of the line is the value. */
	load_fails("FAILURE_THRESHOLD=3 # three\n", "FAILURE_THRESHOLD");
}

static void
test_unterminated_secret_not_echoed(void **state)
{
	struct config_errors errs = {NULL, 0};
	struct config *cfg = load("FLY_API_TOKEN=\"" FLY_SECRET "\n", NULL, NULL, &errs);

	assert_null(cfg);
	assert_true(errs_have(&errs, "FLY_API_TOKEN"));
	assert_false(errs_have(&errs, "unitSECRET"));
	config_errors_clear(&errs);
}

static void
test_precedence(void **state)
{
	char *env[] = {"HEALTH_EXPECT=from-env", "FAILURE_THRESHOLD=5", NULL};
	char *env_empty[] = {"FAILURE_THRESHOLD=", NULL};
	char *defs[] = {"HEALTH_EXPECT=from-define", "FAILURE_THRESHOLD=6", NULL};
	const char *file = "HEALTH_EXPECT=from-file\nFAILURE_THRESHOLD=4\n";
	struct config_errors errs = {NULL, 0};
	struct config *cfg;

	cfg = load(file, NULL, NULL, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->health_expect, "from-file");
	assert_int_equal(cfg->failure_threshold, 4);
	config_free(cfg);

	cfg = load(file, env, NULL, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->health_expect, "from-env");
	assert_int_equal(cfg->failure_threshold, 5);
	config_free(cfg);

	cfg = load(file, env, defs, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->health_expect, "from-define");
	assert_int_equal(cfg->failure_threshold, 6);
	config_free(cfg);

	cfg = load(NULL, NULL, defs, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->health_expect, "from-define");
	config_free(cfg);

	/* An empty value in a later source means the default. */
	cfg = load(file, env_empty, NULL, &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->failure_threshold, 3);
	config_free(cfg);
	assert_int_equal(errs.n, 0);
}

static void
test_environment_scope(void **state)
{
	char *env[] = {"PATH=/usr/bin", "HOME=/root", "FOO=bar", "FAILOVER=1", "NOEQUALS",
	    "RCLONE_DRIVE_TOKEN=tok-from-env", "RCLONE_VERBOSE=1", "RCLONE_REMOTE=gdrive",
	    "RCLONE_GONE=", NULL};
	char *defs[] = {"RCLONE_VERBOSE=2", "RCLONE_PATH=/backup/fod", NULL};
	struct config_errors errs = {NULL, 0};
	struct config *cfg = load("RCLONE_VERBOSE=0\nRCLONE_FILE_ONLY=x\n", env, defs, &errs);
	bool verbose = false, token = false, fileonly = false;

	errs_dump(&errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->rclone_remote, "gdrive");
	assert_string_equal(cfg->rclone_path, "/backup/fod");
	assert_int_equal(cfg->n_rclone_env, 3);
	for (int i = 0; i < cfg->n_rclone_env; i++) {
		verbose |= strcmp(cfg->rclone_env[i], "RCLONE_VERBOSE=2") == 0;
		token |= strcmp(cfg->rclone_env[i], "RCLONE_DRIVE_TOKEN=tok-from-env") == 0;
		fileonly |= strcmp(cfg->rclone_env[i], "RCLONE_FILE_ONLY=x") == 0;
	}
	assert_true(verbose && token && fileonly);
	/* Extra RCLONE_* keys are printed after the table, secrets redacted. */
	assert_printed(cfg, "RCLONE_VERBOSE", "2");
	assert_printed(cfg, "RCLONE_DRIVE_TOKEN", "<redacted>");
	config_free(cfg);
}

static void
test_error_sources(void **state)
{
	char *env[] = {"CHECK_TIMEOUT=0", NULL};
	char *defs[] = {"FAILBACK=sometimes", "NOPE=1", "NOEQUALS", NULL};
	struct config_errors errs = {NULL, 0};
	struct config *cfg;
	char *want;

	cfg = load("FOO=1\nFAILURE_THRESHOLD=0\n\nFAST_INTERVAL=-1\n", env, defs, &errs);
	assert_null(cfg);
	/* All of them, each naming where it came from. */
	if (errs.n != 7)
		errs_dump(&errs);
	assert_int_equal(errs.n, 7);
	want = xasprintf("%s:1: FOO: unknown key", conf_path);
	assert_true(errs_have(&errs, want));
	free(want);
	want = xasprintf("%s:2: FAILURE_THRESHOLD:", conf_path);
	assert_true(errs_have(&errs, want));
	free(want);
	want = xasprintf("%s:4: FAST_INTERVAL:", conf_path);
	assert_true(errs_have(&errs, want));
	free(want);
	assert_string_equal(errs.msgs[3], "CHECK_TIMEOUT: must be greater than 0 (got \"0\")");
	assert_true(errs_have(&errs, "-D FAILBACK: expected auto or manual"));
	assert_true(errs_have(&errs, "-D NOPE: unknown key"));
	assert_true(errs_have(&errs, "-D NOEQUALS: expected KEY=VALUE"));
	config_errors_clear(&errs);
	assert_int_equal(errs.n, 0);
	assert_null(errs.msgs);

	/* Errors are appended: earlier ones are kept. */
	cfg = load("FOO=1\n", NULL, NULL, &errs);
	cfg = load("BAR=1\n", NULL, NULL, &errs);
	assert_null(cfg);
	assert_int_equal(errs.n, 2);
	config_errors_clear(&errs);
}

struct kv {
	const char *key;
	const char *good; /* NULL: none to try */
	const char *bad; /* NULL: none to try */
	const char *extra; /* lines that a good value needs */
};

/* Every key with a value it takes and, where there is one, a value it refuses. */
static const struct kv values[] = {
    {"LOCAL_HEALTH_URL", "https://127.0.0.1:8443/health?x=1", "ftp://x/", NULL},
    {"LOCAL_HEALTH_URL", "HTTP://host", "http://", NULL},
    {"LOCAL_HEALTH_URL", NULL, "localhost:8100", NULL},
    {"LOCAL_HEALTH_URL", NULL, "http://a b/", NULL},
    {"HEALTHY_STATUS", "200,204,300-399", "200-", NULL},
    {"HEALTHY_STATUS", "599", "600", NULL},
    {"HEALTHY_STATUS", "100-100", "99", NULL},
    {"HEALTHY_STATUS", " 200 , 201 ", "299-200", NULL},
    {"HEALTHY_STATUS", NULL, "200,,204", NULL},
    {"HEALTHY_STATUS", NULL, "abc", NULL},
    {"HEALTH_EXPECT", "'\"status\": \"ok\"'", "\"status\": \"ok\"", NULL},
    {"HEALTH_CA_FILE", "/etc/passwd", "/nonexistent/ca.pem", NULL},
    {"HEALTH_INSECURE", "yes", "maybe", NULL},
    {"CHECK_INTERVAL", "250ms", "1m30s", NULL},
    {"CHECK_INTERVAL", "1.5m", "0", NULL},
    {"FAST_INTERVAL", "0.2", "-1", NULL},
    {"CHECK_TIMEOUT", "1h", "0", NULL},
    {"CHECK_TIMEOUT", NULL, "5x", NULL},
    {"FAILURE_THRESHOLD", "1", "0", NULL},
    {"FAILURE_THRESHOLD", "1000", "1001", NULL},
    {"FAILURE_THRESHOLD", NULL, "three", NULL},
    {"RECOVERY_THRESHOLD", "2", "-2", NULL},
    {"MIN_STANDBY_TIME", "0", "soon", NULL},
    {"FAILBACK", "manual", "sometimes", NULL},
    {"AUTO_STOP", "0", "0.0001", NULL},
    {"RECONCILE_INTERVAL", "30s", "0", NULL},
    {"PROVIDER", "none", "aws", NULL},
    {"FLY_APP", "my-app-1", "My_App", "PROVIDER=none"},
    {"FLY_API_HOSTNAME", "http://127.0.0.1:4280", "api.machines.dev", NULL},
    {"FLY_MACHINE_COUNT", "3", "0", NULL},
    {"FLY_MACHINE_COUNT", "100", "101", NULL},
    {"FLY_HEALTH_URL", "https://app.fly.dev/status", "app.fly.dev", NULL},
    {"ACTIVATION_TIMEOUT", "10m", "0", NULL},
    {"ACTIVATE_CMD", "/usr/local/bin/up", NULL, NULL},
    {"DEACTIVATE_CMD", "/usr/local/bin/down", NULL, NULL},
    {"STATE_DIR", "/srv/state", "relative/dir", "RCLONE_REMOTE=r\nRCLONE_PATH=p"},
    {"STATE_DIR", NULL, "/", NULL},
    {"STATE_DIR", NULL, "//", NULL},
    {"RCLONE_REMOTE", "gdrive", "gdrive:", NULL},
    {"RCLONE_PATH", "backups/fod", "/", NULL},
    {"RCLONE", "/usr/bin/rclone", NULL, NULL},
    {"RCLONE_CONFIG", "/etc/failoverd/rclone.conf", NULL, NULL},
    {"RCLONE_FLAGS", "--fast-list --transfers 8", NULL, NULL},
    {"SYNC_INTERVAL", "0", "1d", NULL},
    {"SYNC_TIMEOUT", "2m", "0", NULL},
    {"BACKUP_DIR", "/srv/backups", "backups", NULL},
    {"BACKUP_KEEP", "1", "0", NULL},
    {"TELEGRAM_BOT_TOKEN_FILE", NULL, "relative/token", NULL},
    {"TELEGRAM_CHAT_ID", "-1001234567890", "my chat", "TELEGRAM_BOT_TOKEN=t"},
    {"TELEGRAM_CHAT_ID", "@my_channel", "@", "TELEGRAM_BOT_TOKEN=t"},
    {"TELEGRAM_API_URL", "http://127.0.0.1:9000/", "file:///etc/passwd", NULL},
    {"HEARTBEAT_URL", "https://hc-ping.com/uuid", "hc-ping.com/uuid", NULL},
    {"NOTIFY_CMD", "logger failover", NULL, NULL},
    {"FENCE_CMD", "systemctl stop app", NULL, NULL},
    {"FENCE_REQUIRED", "no", "perhaps", NULL},
    {"FAILBACK_CMD", "systemctl start app", NULL, NULL},
    {"HOOK_TIMEOUT", "45s", "0", NULL},
    {"SOCKET", "/tmp/fod.sock", "fod.sock", NULL},
    {"SOCKET_GROUP", "failoverd", NULL, NULL},
    {"ADMIN_GROUP", "wheel", NULL, NULL},
    {"STATE_FILE", "/tmp/state.json", "state.json", NULL},
    {"STATUS_FILE", "/tmp/status.json", "status.json", NULL},
    {"PID_FILE", "/tmp/fod.pid", "fod.pid", NULL},
    {"LOG_FILE", "/var/log/failoverd.log", "failoverd.log", NULL},
    {"COST_PER_SECOND", "0", "cheap", NULL},
    {"COST_PER_SECOND", "1.5e-6", "-0.1", NULL},
    {"COST_PER_SECOND", NULL, "inf", NULL},
    {"COST_PER_SECOND", NULL, "nan", NULL},
    {"METRICS_LISTEN", "127.0.0.1:9464", "example.com:9464", NULL},
    {"METRICS_LISTEN", "[::1]:9464", "127.0.0.1", NULL},
    {"METRICS_LISTEN", "localhost:9464", "127.0.0.1:0", NULL},
    {"METRICS_LISTEN", "0.0.0.0:65535", "127.0.0.1:65536", NULL},
    {"METRICS_LISTEN", NULL, "[::1:9464", NULL},
    {"METRICS_LISTEN", NULL, "::1:9464", NULL},
    {"METRICS_LISTEN", NULL, "[localhost]:9464", NULL},
};

static void
test_values(void **state)
{
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const struct kv *v = &values[i];
		char *text, *want;

		if (v->good != NULL) {
			struct config_errors errs = {NULL, 0};
			struct config *cfg;
			text = xasprintf("%s=%s\n%s\n", v->key, v->good, v->extra ? v->extra : "");
			cfg = load(text, NULL, NULL, &errs);
			if (cfg == NULL) {
				print_error("%s refused\n", text);
				errs_dump(&errs);
			}
			assert_non_null(cfg);
			config_free(cfg);
			free(text);
		}
		if (v->bad != NULL) {
			text = xasprintf(
			    "# bad\n%s=%s\n%s\n", v->key, v->bad, v->extra ? v->extra : "");
			want = xasprintf("%s:2: %s: ", conf_path, v->key);
			load_fails(text, want);
			free(text);
			free(want);
		}
	}
}

static void
test_parsed_values(void **state)
{
	struct config *cfg = load_ok("HEALTHY_STATUS=300-399,204,200,201-203,350\n"
	                             "CHECK_INTERVAL=1.5m\n"
	                             "FAST_INTERVAL=250ms\n"
	                             "CHECK_TIMEOUT=0.2\n"
	                             "MIN_STANDBY_TIME=0\n"
	                             "HEALTH_INSECURE=yes\n"
	                             "FAILBACK=manual\n"
	                             "FLY_API_HOSTNAME=http://127.0.0.1:4280//\n"
	                             "STATE_DIR=/srv//state/\n"
	                             "RCLONE_REMOTE=r\n"
	                             "RCLONE_PATH=p\n"
	                             "COST_PER_SECOND=0.5\n");

	assert_int_equal(cfg->n_healthy_status, 2);
	assert_printed(cfg, "HEALTHY_STATUS", "200-204,300-399");
	assert_true(config_status_healthy(cfg, 200));
	assert_true(config_status_healthy(cfg, 204));
	assert_true(config_status_healthy(cfg, 350));
	assert_false(config_status_healthy(cfg, 205));
	assert_false(config_status_healthy(cfg, 400));
	assert_false(config_status_healthy(cfg, 0));
	assert_int_equal(cfg->check_interval_ms, 90000);
	assert_printed(cfg, "CHECK_INTERVAL", "90s");
	assert_int_equal(cfg->fast_interval_ms, 250);
	assert_printed(cfg, "FAST_INTERVAL", "250ms");
	assert_int_equal(cfg->check_timeout_ms, 200);
	assert_int_equal(cfg->min_standby_time_ms, 0);
	assert_printed(cfg, "MIN_STANDBY_TIME", "0s");
	assert_true(cfg->health_insecure);
	assert_printed(cfg, "HEALTH_INSECURE", "yes");
	assert_int_equal(cfg->failback, FAILBACK_MANUAL);
	assert_printed(cfg, "FAILBACK", "manual");
	assert_string_equal(cfg->fly_api_hostname, "http://127.0.0.1:4280");
	assert_string_equal(cfg->state_dir, "/srv/state");
	assert_printed(cfg, "COST_PER_SECOND", "0.5");
	assert_printed(cfg, "PROVIDER", "none");
	config_free(cfg);
}

static void
test_print_order(void **state)
{
	static const char *const order[] = {"LOCAL_HEALTH_URL", "HEALTHY_STATUS", "HEALTH_EXPECT",
	    "HEALTH_CA_FILE", "HEALTH_INSECURE", "CHECK_INTERVAL", "FAST_INTERVAL", "CHECK_TIMEOUT",
	    "FAILURE_THRESHOLD", "RECOVERY_THRESHOLD", "MIN_STANDBY_TIME", "FAILBACK", "AUTO_STOP",
	    "RECONCILE_INTERVAL", "PROVIDER", "FLY_APP", "FLY_API_TOKEN", "FLY_API_TOKEN_FILE",
	    "FLY_API_HOSTNAME", "FLY_MACHINE_COUNT", "FLY_HEALTH_URL", "ACTIVATION_TIMEOUT",
	    "ACTIVATE_CMD", "DEACTIVATE_CMD", "STATE_DIR", "RCLONE_REMOTE", "RCLONE_PATH", "RCLONE",
	    "RCLONE_CONFIG", "RCLONE_FLAGS", "SYNC_INTERVAL", "SYNC_TIMEOUT", "BACKUP_DIR",
	    "BACKUP_KEEP", "TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN_FILE", "TELEGRAM_CHAT_ID",
	    "TELEGRAM_API_URL", "HEARTBEAT_URL", "NOTIFY_CMD", "FENCE_CMD", "FENCE_REQUIRED",
	    "FAILBACK_CMD", "HOOK_TIMEOUT", "SOCKET", "SOCKET_GROUP", "ADMIN_GROUP", "STATE_FILE",
	    "STATUS_FILE", "PID_FILE", "LOG_FILE", "COST_PER_SECOND",
	    /* contract §9 */
	    "COORDINATOR", "ETCD_ENDPOINTS", "ETCD_PREFIX", "ETCD_USER", "ETCD_PASSWORD_FILE",
	    "ETCD_CA_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE", "NODE_NAME", "ELECTION_TTL",
	    "SELF_FENCE_CMD",
	    /* §11 */
	    "FLY_STANDBY_MODE", "FLY_PROMOTE_URL", "FLY_LEASE", "METRICS_LISTEN", "STARTUP_GRACE",
	    /* §10 */
	    "PRIMARY_PID_FILE", "WATCH_CONNECTION"};
	struct config *cfg = load_ok("");
	char *out = print_cfg(cfg), *line, *save = NULL;
	size_t i = 0;

	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		size_t kl = strlen(order[i]);
		assert_true(i < sizeof(order) / sizeof(order[0]));
		assert_memory_equal(line, order[i], kl);
		assert_int_equal(line[kl], '=');
		i++;
	}
	assert_int_equal(i, sizeof(order) / sizeof(order[0]));
	free(out);
	config_free(cfg);
}

static void
test_cross_checks(void **state)
{
	struct config *cfg;

	load_fails("PROVIDER=fly\n", "PROVIDER=fly needs FLY_APP");
	load_fails("PROVIDER=fly\nFLY_APP=a\n", "needs FLY_API_TOKEN or FLY_API_TOKEN_FILE");
	/* FLY_APP alone makes PROVIDER fly, which needs a token. */
	load_fails("FLY_APP=a\n", "FLY_API_TOKEN");
	cfg = load_ok("FLY_APP=a\nFLY_API_TOKEN=" FLY_SECRET "\n");
	assert_int_equal(cfg->provider, PROVIDER_FLY);
	config_free(cfg);
	cfg = load_ok("FLY_APP=a\nPROVIDER=none\n");
	assert_int_equal(cfg->provider, PROVIDER_NONE);
	config_free(cfg);

	load_fails("PROVIDER=command\nDEACTIVATE_CMD=x\n", "needs ACTIVATE_CMD");
	load_fails("PROVIDER=command\nACTIVATE_CMD=x\n", "needs DEACTIVATE_CMD");
	cfg = load_ok("PROVIDER=command\nACTIVATE_CMD=up\nDEACTIVATE_CMD=down\n");
	assert_int_equal(cfg->provider, PROVIDER_COMMAND);
	config_free(cfg);

	load_fails("STATE_DIR=/srv/state\nRCLONE_PATH=p\n", "RCLONE_REMOTE");
	load_fails("STATE_DIR=/srv/state\nRCLONE_REMOTE=r\n", "RCLONE_PATH");
	load_fails("STATE_DIR=/srv/state\nRCLONE_REMOTE=r\nRCLONE_PATH=p\n"
	           "BACKUP_DIR=/srv/state/backups\n",
	    "overlaps STATE_DIR");
	load_fails("STATE_DIR=/srv/state\nRCLONE_REMOTE=r\nRCLONE_PATH=p\nBACKUP_DIR=/srv\n",
	    "overlaps STATE_DIR");
	load_fails("STATE_DIR=/srv/state/\nRCLONE_REMOTE=r\nRCLONE_PATH=p\nBACKUP_DIR=/srv/state\n",
	    "overlaps STATE_DIR");
	cfg = load_ok("STATE_DIR=/srv/state\nRCLONE_REMOTE=r\nRCLONE_PATH=p\n"
	              "BACKUP_DIR=/srv/state-backups\n");
	config_free(cfg);

	load_fails("TELEGRAM_BOT_TOKEN=" TG_SECRET "\n", "TELEGRAM_CHAT_ID");
	load_fails("TELEGRAM_CHAT_ID=42\n", "TELEGRAM_BOT_TOKEN");
	load_fails("TELEGRAM_CHAT_ID=chat\n", "TELEGRAM_CHAT_ID");
	cfg = load_ok("TELEGRAM_BOT_TOKEN=" TG_SECRET "\nTELEGRAM_CHAT_ID=-1001234\n");
	config_free(cfg);
	cfg = load_ok("TELEGRAM_BOT_TOKEN=" TG_SECRET "\nTELEGRAM_CHAT_ID=@chan_1\n");
	config_free(cfg);
}

static void
test_socket_too_long(void **state)
{
	char path[200], *text;

	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[150] = '\0';
	text = xasprintf("SOCKET=%s\n", path);
	load_fails(text, "SOCKET: is 150 bytes long");
	free(text);
	path[107] = '\0'; /* 107 + NUL fits in sun_path[108] */
	text = xasprintf("SOCKET=%s\n", path);
	config_free(load_ok(text));
	free(text);
}

static void
test_secrets_print_and_redact(void **state)
{
	char *env[] = {"TELEGRAM_BOT_TOKEN=" TG_SECRET, NULL};
	struct config_errors errs = {NULL, 0};
	struct config *cfg = load("FLY_APP=app\nFLY_API_TOKEN=\"" FLY_SECRET "\"\n"
	                          "TELEGRAM_CHAT_ID=42\n"
	                          "HEARTBEAT_URL=https://user:hunter2@hc.example/ping\n",
	    env, NULL, &errs);
	char *out, *r;

	assert_non_null(cfg);
	assert_string_equal(cfg->fly_api_token, FLY_SECRET);
	assert_string_equal(cfg->telegram_bot_token, TG_SECRET);
	assert_true(config_key_is_secret("FLY_API_TOKEN"));
	assert_true(config_key_is_secret("TELEGRAM_BOT_TOKEN"));
	assert_false(config_key_is_secret("FLY_API_TOKEN_FILE"));
	assert_false(config_key_is_secret("FLY_APP"));

	out = print_cfg(cfg);
	assert_null(strstr(out, "unitSECRET"));
	assert_null(strstr(out, "hunter2"));
	free(out);
	assert_printed(cfg, "FLY_API_TOKEN", "<redacted>");
	assert_printed(cfg, "TELEGRAM_BOT_TOKEN", "<redacted>");
	assert_printed(cfg, "FLY_API_TOKEN_FILE", "");
	assert_printed(cfg, "HEARTBEAT_URL", "https://<redacted>@hc.example/ping");

	r = config_redact(cfg, "GET https://api.telegram.org/bot" TG_SECRET "/sendMessage");
	assert_string_equal(r, "GET https://api.telegram.org/bot<redacted>/sendMessage");
	free(r);
	r = config_redact(cfg, "Authorization: FlyV1 " FLY_SECRET);
	assert_string_equal(r, "Authorization: FlyV1 <redacted>");
	free(r);
	/* A part of a token, cut at a comma, is still hidden. */
	r = config_redact(cfg, "token fm2_unitSECRETtwo_abcdef rejected");
	assert_string_equal(r, "token <redacted> rejected");
	free(r);
	r = config_redact(cfg, "http://a:b@host/x and ftp://u:p@h/ and plain@text");
	assert_string_equal(r, "http://<redacted>@host/x and ftp://<redacted>@h/ and plain@text");
	free(r);
	r = config_redact(cfg, "nothing secret here");
	assert_string_equal(r, "nothing secret here");
	free(r);
	assert_null(config_redact(cfg, NULL));
	config_free(cfg);

	/* Without secrets configured, nothing but URL user info changes. */
	cfg = load_ok("");
	r = config_redact(cfg, "<redacted> stays, x");
	assert_string_equal(r, "<redacted> stays, x");
	free(r);
	config_free(cfg);
}

static void
test_define_secret_refused(void **state)
{
	char *defs[] = {
	    "FLY_API_TOKEN=" FLY_SECRET, "TELEGRAM_BOT_TOKEN=" TG_SECRET, "FLY_API_TOKEN", NULL};
	struct config_errors errs = {NULL, 0};
	struct config *cfg = load(NULL, NULL, defs, &errs);

	assert_null(cfg);
	if (errs.n != 3)
		errs_dump(&errs);
	assert_int_equal(errs.n, 3);
	assert_true(errs_have(&errs,
	    "-D FLY_API_TOKEN: -D would put the secret in argv, which "
	    "other users can read: use the config file, the "
	    "environment or FLY_API_TOKEN_FILE"));
	assert_true(errs_have(&errs, "-D TELEGRAM_BOT_TOKEN: -D would put the secret in argv"));
	assert_false(errs_have(&errs, "unitSECRET"));
	config_errors_clear(&errs);
}

static void
test_secret_files(void **state)
{
	char *fly = tmp_path("fly-token"), *tg = tmp_path("tg-token"), *text, *empty;
	struct config *cfg;

	write_file(fly, FLY_SECRET "\n", 0600);
	write_file(tg, "  " TG_SECRET " \n\n", 0600);
	text = xasprintf("FLY_APP=app\nFLY_API_TOKEN_FILE=%s\n"
	                 "TELEGRAM_BOT_TOKEN_FILE=%s\nTELEGRAM_CHAT_ID=1\n",
	    fly, tg);
	cfg = load_ok(text);
	assert_string_equal(cfg->fly_api_token, FLY_SECRET);
	assert_string_equal(cfg->telegram_bot_token, TG_SECRET);
	assert_string_equal(cfg->fly_api_token_file, fly);
	assert_int_equal(cfg->n_warnings, 0);
	assert_printed(cfg, "FLY_API_TOKEN", "<redacted>");
	assert_printed(cfg, "FLY_API_TOKEN_FILE", fly);
	config_free(cfg);

	/* Readable by others: loads, with a warning naming the file, not the token. */
	assert_int_equal(chmod(fly, 0644), 0);
	cfg = load_ok(text);
	assert_int_equal(cfg->n_warnings, 1);
	assert_non_null(strstr(cfg->warnings[0], fly));
	assert_non_null(strstr(cfg->warnings[0], "FLY_API_TOKEN_FILE"));
	assert_null(strstr(cfg->warnings[0], "unitSECRET"));
	config_free(cfg);
	free(text);

	/* Missing, empty, and both token and file. */
	load_fails("TELEGRAM_BOT_TOKEN_FILE=/nonexistent/fod-token\nTELEGRAM_CHAT_ID=1\n",
	    "TELEGRAM_BOT_TOKEN_FILE: cannot read /nonexistent/fod-token");
	empty = tmp_path("empty-token");
	write_file(empty, "\n", 0600);
	text = xasprintf("FLY_APP=a\nFLY_API_TOKEN_FILE=%s\n", empty);
	load_fails(text, "is empty");
	free(text);
	text = xasprintf("FLY_APP=a\nFLY_API_TOKEN=x\nFLY_API_TOKEN_FILE=%s\n", fly);
	load_fails(text, "FLY_API_TOKEN is set too");
	free(text);
	free(empty);
	free(fly);
	free(tg);
}

static void
test_instance_paths(void **state)
{
	struct config_source src;
	struct config_errors errs = {NULL, 0};
	struct config *cfg;
	char *p;
	static const char *const bad[] = {"", ".hidden", "a/b", "a b", "x$",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};

	p = config_default_path("SOCKET", "web");
	assert_string_equal(p, RUNSTATEDIR "/failoverd/web.sock");
	free(p);
	p = config_default_path("STATE_FILE", "web");
	assert_string_equal(p, LOCALSTATEDIR "/lib/failoverd/web.json");
	free(p);
	p = config_default_path("STATUS_FILE", "web");
	assert_string_equal(p, RUNSTATEDIR "/failoverd/web.status");
	free(p);
	p = config_default_path("PID_FILE", "web");
	assert_string_equal(p, RUNSTATEDIR "/failoverd/web.pid");
	free(p);
	p = config_default_path("BACKUP_DIR", "web");
	assert_string_equal(p, LOCALSTATEDIR "/lib/failoverd/backups/web");
	free(p);
	p = config_default_path("CONFIG", "web");
	assert_string_equal(p, SYSCONFDIR "/failoverd/web.conf");
	free(p);
	p = config_default_path("CONFIG", NULL);
	assert_string_equal(p, SYSCONFDIR "/failoverd.conf");
	free(p);
	p = config_default_path("STATE_FILE", NULL);
	assert_string_equal(p, LOCALSTATEDIR "/lib/failoverd/state.json");
	free(p);
	assert_null(config_default_path("FLY_APP", NULL));

	/* A missing file for -i NAME is an error (a typo is no dry run)... */
	memset(&src, 0, sizeof(src));
	src.instance = "fod-unit_1.x";
	assert_null(config_load(&src, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msgs[0],
	    SYSCONFDIR "/failoverd/fod-unit_1.x.conf: no such "
	               "configuration file for instance fod-unit_1.x"));
	config_errors_clear(&errs);
	/* ...and with a -c file the instance still names the paths. */
	src.file = "/dev/null";
	cfg = config_load(&src, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->file, "/dev/null");
	assert_string_equal(cfg->instance, "fod-unit_1.x");
	assert_string_equal(cfg->socket_path, RUNSTATEDIR "/failoverd/fod-unit_1.x.sock");
	assert_string_equal(cfg->state_file, LOCALSTATEDIR "/lib/failoverd/fod-unit_1.x.json");
	assert_string_equal(cfg->status_file, RUNSTATEDIR "/failoverd/fod-unit_1.x.status");
	assert_string_equal(cfg->pid_file, RUNSTATEDIR "/failoverd/fod-unit_1.x.pid");
	assert_string_equal(cfg->backup_dir, LOCALSTATEDIR "/lib/failoverd/backups/fod-unit_1.x");
	config_free(cfg);

	/* 64 characters is the limit. */
	src.instance = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	cfg = config_load(&src, &errs);
	assert_non_null(cfg);
	config_free(cfg);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		src.instance = bad[i];
		assert_null(config_load(&src, &errs));
		assert_int_equal(errs.n, 1);
		assert_non_null(strstr(errs.msgs[0], "instance name"));
		config_errors_clear(&errs);
	}
}

static void
test_missing_explicit_file(void **state)
{
	struct config_source src;
	struct config_errors errs = {NULL, 0};

	memset(&src, 0, sizeof(src));
	src.file = "/nonexistent/fod/failoverd.conf";
	assert_null(config_load(&src, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msgs[0], "/nonexistent/fod/failoverd.conf"));
	config_errors_clear(&errs);

	src.file = tmpdir; /* a directory */
	assert_null(config_load(&src, &errs));
	assert_int_equal(errs.n, 1);
	config_errors_clear(&errs);
}

static void
test_strings(void **state)
{
	assert_string_equal(config_provider_str(PROVIDER_FLY), "fly");
	assert_string_equal(config_provider_str(PROVIDER_COMMAND), "command");
	assert_string_equal(config_provider_str(PROVIDER_NONE), "none");
	assert_string_equal(config_failback_str(FAILBACK_AUTO), "auto");
	assert_string_equal(config_failback_str(FAILBACK_MANUAL), "manual");
	config_free(NULL);
	config_errors_clear(NULL);
}

/* Loads text with errors: exactly the messages containing want[] (in any
 * order), nothing else. */
static void
load_errors_exactly(const char *text, bool check_files, const char *const *want, int nwant)
{
	struct config_source src;
	struct config_errors errs = {NULL, 0};

	write_file(conf_path, text, 0600);
	memset(&src, 0, sizeof(src));
	src.file = conf_path;
	src.check_files = check_files;
	assert_null(config_load(&src, &errs));
	if (errs.n != nwant)
		errs_dump(&errs);
	assert_int_equal(errs.n, nwant);
	for (int i = 0; i < nwant; i++) {
		if (!errs_have(&errs, want[i])) {
			print_error("no error with \"%s\"\n", want[i]);
			errs_dump(&errs);
		}
		assert_true(errs_have(&errs, want[i]));
	}
	config_errors_clear(&errs);
}

/* Audit #16: a byte order mark, one error per mistake, -n's warnings. */
static void
test_bom_and_no_follow_on_errors(void **state)
{
	struct config *cfg;
	char *tok = tmp_path("tok"), *text;
	const char *remote[] = {":1: RCLONE_REMOTE: give the remote's name without ':'"};
	const char *app[] = {":1: FLY_APP: a Fly app name is lower-case"};
	const char *chat[] = {":2: TELEGRAM_CHAT_ID: expected a numeric chat id"};
	const char *cmd[] = {":3: DEACTIVATE_CMD: the command is a relative path"};

	cfg = load_ok("\xEF\xBB\xBFHEALTH_EXPECT=ok\r\nFAILURE_THRESHOLD=2\n");
	assert_string_equal(cfg->health_expect, "ok");
	assert_int_equal(cfg->failure_threshold, 2);
	config_free(cfg);
	/* Only at the very start: elsewhere it is still a bad key name. */
	load_fails("HEALTH_EXPECT=ok\n\xEF\xBB\xBF"
	           "FAILURE_THRESHOLD=2\n",
	    ":2: not a valid key name");

	load_errors_exactly(
	    "RCLONE_REMOTE=gdrive:\nRCLONE_PATH=p\nSTATE_DIR=/srv/state\n", false, remote, 1);
	load_errors_exactly("FLY_APP=Bad_App\nFLY_API_TOKEN=" FLY_SECRET "\n", false, app, 1);
	load_errors_exactly(
	    "TELEGRAM_BOT_TOKEN=" TG_SECRET "\nTELEGRAM_CHAT_ID=nope\n", false, chat, 1);
	load_errors_exactly(
	    "PROVIDER=command\nACTIVATE_CMD=/bin/true\nDEACTIVATE_CMD=bin/down\n", false, cmd, 1);

	/* A warning names where the key was set, like an error. */
	write_file(tok, FLY_SECRET "\n", 0644);
	text = xasprintf("FLY_APP=a\nFLY_API_TOKEN_FILE=%s\n", tok);
	cfg = load_ok(text);
	assert_int_equal(cfg->n_warnings, 1);
	assert_non_null(strstr(cfg->warnings[0], ":2: FLY_API_TOKEN_FILE: "));
	assert_non_null(strstr(cfg->warnings[0], "readable by other users"));
	config_free(cfg);
	free(text);
	free(tok);
}

/* Audit #8: the daemon runs from /, so no command or file key is relative. */
static void
test_relative_paths_refused(void **state)
{
	static const char *const keys[] = {
	    "ACTIVATE_CMD", "DEACTIVATE_CMD", "NOTIFY_CMD", "FENCE_CMD", "FAILBACK_CMD", "RCLONE"};
	struct config *cfg;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *t = xasprintf("%s=bin/act --now\n", keys[i]);
		char *want = xasprintf(":1: %s: the command is a relative path", keys[i]);
		load_fails(t, want);
		free(t);
		free(want);
		t = xasprintf("%s=  ./act\n", keys[i]);
		load_fails(t, "relative path");
		free(t);
	}
	load_fails("RCLONE_CONFIG=rclone.conf\n", ":1: RCLONE_CONFIG: must be an absolute path");
	load_fails("HEALTH_CA_FILE=ca.pem\n", ":1: HEALTH_CA_FILE: must be an absolute path");
	load_fails("LOG_FILE=log/f.log\n", ":1: LOG_FILE: must be an absolute path");
	load_fails(
	    "PRIMARY_PID_FILE=run/app.pid\n", ":1: PRIMARY_PID_FILE: must be an absolute path");
	load_fails("WATCH_CONNECTION=maybe\n", ":1: WATCH_CONNECTION: ");
	cfg = load_ok("PRIMARY_PID_FILE=/run/app.pid\nWATCH_CONNECTION=yes\n");
	assert_string_equal(cfg->primary_pid_file, "/run/app.pid");
	assert_true(cfg->watch_connection);
	config_free(cfg);
	cfg = load_ok("");
	assert_null(cfg->primary_pid_file);
	assert_false(cfg->watch_connection);
	config_free(cfg);
	/* A name looked up in PATH, an absolute path, shell syntax: fine. */
	cfg = load_ok("NOTIFY_CMD=logger -t fo \"$FAILOVER_REASON\"\nFENCE_CMD=/usr/bin/ssh "
	              "host ./stop\nFAILBACK_CMD=VAR=1 exec /bin/true\nRCLONE=rclone\n");
	config_free(cfg);
}

/* Audit #9: with check_files (-n), what the daemon will need later. */
static void
test_check_files(void **state)
{
	char *file = tmp_path("afile"), *exe = tmp_path("hook"), *text;
	char *state_dir = tmp_path("state"), *logdir = tmp_path("logs");
	struct config_source src;
	struct config_errors errs = {NULL, 0};
	struct config *cfg;
	const char *want[] = {":1: LOG_FILE: ", "afile/sub: Not a directory)", ":2: STATE_DIR: ",
	    ":3: RCLONE: ", ":4: NOTIFY_CMD: /nonexistent/notify is not an executable file",
	    ":5: FENCE_CMD: no-such-fence-command-here is not an executable file",
	    ":6: FAILBACK_CMD: ", ":8: ACTIVATE_CMD: "};

	write_file(file, "x", 0644);
	write_file(exe, "#!/bin/sh\n", 0755);
	text =
	    xasprintf("LOG_FILE=%s/sub/f.log\nSTATE_DIR=%s/missing\nRCLONE=/nonexistent/rclone\n"
	              "NOTIFY_CMD=/nonexistent/notify --x\nFENCE_CMD=no-such-fence-command-here\n"
	              "FAILBACK_CMD=%s\nPROVIDER=command\nACTIVATE_CMD=%s/missing-act\n"
	              "DEACTIVATE_CMD=%s\nRCLONE_REMOTE=r\nRCLONE_PATH=p\n",
	        file, tmpdir, file, tmpdir, exe);
	/* Without check_files (a start, a reload) none of it is looked at. */
	cfg = load_ok(text);
	config_free(cfg);
	write_file(conf_path, text, 0600);
	memset(&src, 0, sizeof(src));
	src.file = conf_path;
	src.check_files = true;
	assert_null(config_load(&src, &errs));
	if (errs.n != 7)
		errs_dump(&errs);
	assert_int_equal(errs.n, 7);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!errs_have(&errs, want[i]))
			errs_dump(&errs);
		assert_true(errs_have(&errs, want[i]));
	}
	assert_false(errs_have(&errs, "DEACTIVATE_CMD"));
	config_errors_clear(&errs);
	free(text);

	/* All there: a missing LOG_FILE directory that can be created is fine. */
	assert_int_equal(mkdir(state_dir, 0750), 0);
	text = xasprintf("LOG_FILE=%s/a/b/f.log\nSTATE_DIR=%s\nRCLONE=sh\nRCLONE_REMOTE=r\n"
	                 "RCLONE_PATH=p\nNOTIFY_CMD=%s arg\nFENCE_CMD=exec %s\n",
	    logdir, state_dir, exe, exe);
	write_file(conf_path, text, 0600);
	cfg = config_load(&src, &errs);
	errs_dump(&errs);
	assert_non_null(cfg);
	config_free(cfg);
	/* The check creates nothing. */
	assert_int_equal(access(logdir, F_OK), -1);
	free(text);
	free(file);
	free(exe);
	free(state_dir);
	free(logdir);
}

/* §11: FLY_STANDBY_MODE, FLY_LEASE, FLY_PROMOTE_URL: parsed and checked. */
static void
test_warm_standby_keys(void **state)
{
	struct config *cfg;
	const char *mode[] = {":1: FLY_STANDBY_MODE: must be stopped or suspended"};
	const char *lease[] = {":1: FLY_LEASE"};
	const char *url[] = {":1: FLY_PROMOTE_URL"};

	cfg = load_ok("");
	assert_string_equal(cfg->fly_standby_mode, "stopped");
	assert_true(cfg->fly_lease);
	assert_null(cfg->fly_promote_url);
	config_free(cfg);
	cfg = load_ok("FLY_STANDBY_MODE=suspended\nFLY_LEASE=no\n"
	              "FLY_PROMOTE_URL=http://standby.internal:8080/promote\n");
	assert_string_equal(cfg->fly_standby_mode, "suspended");
	assert_false(cfg->fly_lease);
	assert_string_equal(cfg->fly_promote_url, "http://standby.internal:8080/promote");
	config_free(cfg);
	load_errors_exactly("FLY_STANDBY_MODE=suspend\n", false, mode, 1);
	load_errors_exactly("FLY_LEASE=maybe\n", false, lease, 1);
	load_errors_exactly("FLY_PROMOTE_URL=ftp://x/\n", false, url, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_grammar),
	    cmocka_unit_test(test_grammar_errors),
	    cmocka_unit_test(test_unterminated_secret_not_echoed),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_environment_scope),
	    cmocka_unit_test(test_error_sources),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_parsed_values),
	    cmocka_unit_test(test_print_order),
	    cmocka_unit_test(test_warm_standby_keys),
	    cmocka_unit_test(test_cross_checks),
	    cmocka_unit_test(test_socket_too_long),
	    cmocka_unit_test(test_secrets_print_and_redact),
	    cmocka_unit_test(test_define_secret_refused),
	    cmocka_unit_test(test_secret_files),
	    cmocka_unit_test(test_instance_paths),
	    cmocka_unit_test(test_missing_explicit_file),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_bom_and_no_follow_on_errors),
	    cmocka_unit_test(test_relative_paths_refused),
	    cmocka_unit_test(test_check_files),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
