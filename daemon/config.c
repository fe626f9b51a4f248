/*
 * Configuration: contract §3. One table of keys drives parsing, defaults,
 * validation and `-n` output, so the four agree by construction. Values are
 * parsed as each source sets them, so a bad value is reported where it was
 * written even when a later source overrides it.
 *
 * This file owns the key table, the sources (file, environment, -D) and
 * the checks between keys. The syntax of single values is config_value.c,
 * what `-n` checks on this machine config_check.c, and printing and
 * redaction config_print.c; config_int.h is what the four share.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "config_int.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

#define CONFIG_MAX_FILE (1024 * 1024)
#define SECRET_MAX_FILE (64 * 1024)
#define INSTANCE_MAX 64

/* clang-format off */
#define K(n, t, d, f) {.name = n, .type = t, .def = d, .off = offsetof(struct config, f)}
#define KI(n, d, f, lo, hi) {.name = n, .type = K_INT, .def = d, \
	.off = offsetof(struct config, f), .min = lo, .max = hi}
#define KC(n, f, chk) {.name = n, .type = K_STR, .def = NULL, \
	.off = offsetof(struct config, f), .check = chk}
#define KCD(n, d, f, chk) {.name = n, .type = K_STR, .def = d, \
	.off = offsetof(struct config, f), .check = chk}
/* The contract's table order: config_print follows it. */
static const struct keydef keys[] = {
	K("LOCAL_HEALTH_URL", K_URL, "http://localhost:8100/status", local_health_url),
	K("HEALTHY_STATUS", K_STATUS, "200-299", healthy_status),
	K("HEALTH_EXPECT", K_STR, NULL, health_expect),
	KC("HEALTH_CA_FILE", health_ca_file, config_check_readable),
	K("HEALTH_INSECURE", K_BOOL, "no", health_insecure),
	K("CHECK_INTERVAL", K_DUR, "60", check_interval_ms),
	K("FAST_INTERVAL", K_DUR, "5", fast_interval_ms),
	K("CHECK_TIMEOUT", K_DUR, "10", check_timeout_ms),
	KI("FAILURE_THRESHOLD", "3", failure_threshold, 1, 1000),
	KI("RECOVERY_THRESHOLD", "3", recovery_threshold, 1, 1000),
	K("MIN_STANDBY_TIME", K_DUR0, "300", min_standby_time_ms),
	K("FAILBACK", K_FAILBACK, "auto", failback),
	K("AUTO_STOP", K_DUR0, "3600", auto_stop_ms),
	K("RECONCILE_INTERVAL", K_DUR, "300", reconcile_interval_ms),
	K("PROVIDER", K_PROVIDER, NULL, provider),
	KC("FLY_APP", fly_app, config_check_fly_app),
	K("FLY_API_TOKEN", K_SECRET, NULL, fly_api_token),
	K("FLY_API_TOKEN_FILE", K_PATH, NULL, fly_api_token_file),
	K("FLY_API_HOSTNAME", K_BASEURL, "https://api.machines.dev", fly_api_hostname),
	KI("FLY_MACHINE_COUNT", "1", fly_machine_count, 1, 100),
	K("FLY_HEALTH_URL", K_URL, NULL, fly_health_url),
	K("ACTIVATION_TIMEOUT", K_DUR, "300", activation_timeout_ms),
	KC("ACTIVATE_CMD", activate_cmd, config_check_command),
	KC("DEACTIVATE_CMD", deactivate_cmd, config_check_command),
	K("STATE_DIR", K_DIR, NULL, state_dir),
	KC("RCLONE_REMOTE", rclone_remote, config_check_remote),
	KC("RCLONE_PATH", rclone_path, config_check_rclone_path),
	KCD("RCLONE", "rclone", rclone, config_check_command),
	KC("RCLONE_CONFIG", rclone_config, config_check_abs),
	K("RCLONE_FLAGS", K_STR, NULL, rclone_flags),
	K("SYNC_INTERVAL", K_DUR0, "300", sync_interval_ms),
	K("SYNC_TIMEOUT", K_DUR, "120", sync_timeout_ms),
	K("BACKUP_DIR", K_DIR, NULL, backup_dir),
	KI("BACKUP_KEEP", "10", backup_keep, 1, 10000),
	K("TELEGRAM_BOT_TOKEN", K_SECRET, NULL, telegram_bot_token),
	K("TELEGRAM_BOT_TOKEN_FILE", K_PATH, NULL, telegram_bot_token_file),
	KC("TELEGRAM_CHAT_ID", telegram_chat_id, config_check_chat_id),
	K("TELEGRAM_API_URL", K_BASEURL, "https://api.telegram.org", telegram_api_url),
	K("HEARTBEAT_URL", K_URL, NULL, heartbeat_url),
	KC("NOTIFY_CMD", notify_cmd, config_check_command),
	KC("FENCE_CMD", fence_cmd, config_check_command),
	K("FENCE_REQUIRED", K_BOOL, "no", fence_required),
	KC("FAILBACK_CMD", failback_cmd, config_check_command),
	K("HOOK_TIMEOUT", K_DUR, "30", hook_timeout_ms),
	K("SOCKET", K_SOCKET, NULL, socket_path),
	K("SOCKET_GROUP", K_STR, NULL, socket_group),
	K("ADMIN_GROUP", K_STR, NULL, admin_group),
	K("STATE_FILE", K_PATH, NULL, state_file),
	K("STATUS_FILE", K_PATH, NULL, status_file),
	K("PID_FILE", K_PATH, NULL, pid_file),
	K("LOG_FILE", K_PATH, NULL, log_file),
	K("COST_PER_SECOND", K_COST, "0.0000019", cost_per_second),
	/* Contract §9: several monitors, one actor (coord.c). */
	KCD("COORDINATOR", "none", coordinator, config_check_coordinator),
	KC("ETCD_ENDPOINTS", etcd_endpoints, config_check_etcd_endpoints),
	KC("ETCD_PREFIX", etcd_prefix, config_check_etcd_prefix),
	K("ETCD_USER", K_STR, NULL, etcd_user),
	K("ETCD_PASSWORD_FILE", K_PATH, NULL, etcd_password_file),
	KC("ETCD_CA_FILE", etcd_ca_file, config_check_readable),
	KC("ETCD_CERT_FILE", etcd_cert_file, config_check_readable),
	KC("ETCD_KEY_FILE", etcd_key_file, config_check_readable),
	KC("NODE_NAME", node_name, config_check_node_name),
	K("ELECTION_TTL", K_DUR, "10", election_ttl_ms),
	KC("SELF_FENCE_CMD", self_fence_cmd, config_check_command),
	/* §11 */
	KCD("FLY_STANDBY_MODE", "stopped", fly_standby_mode, config_check_standby_mode),
	K("FLY_PROMOTE_URL", K_URL, NULL, fly_promote_url),
	K("FLY_LEASE", K_BOOL, "yes", fly_lease),
	KC("METRICS_LISTEN", metrics_listen, config_check_listen),
	K("STARTUP_GRACE", K_DUR0, "120", startup_grace_ms),
	KC("PRIMARY_PID_FILE", primary_pid_file, config_check_abs),
	K("WATCH_CONNECTION", K_BOOL, "no", watch_connection),
};
#undef K
#undef KI
#undef KC
#undef KCD
/* clang-format on */
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Where each key's current value came from, for cross-check messages. */
struct loader {
	struct config *cfg;
	struct config_errors *errs;
	char *origin[NKEYS]; /* "FILE:LINE: ", "-D " or "" */
	bool set[NKEYS]; /* given by some source (not the default) */
	bool bad[NKEYS]; /* a source gave a value that was refused */
};

void
config_errors_vadd(struct config_errors *errs, const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	errs->msgs = xrealloc(errs->msgs, sizeof(*errs->msgs) * (size_t)(errs->n + 1));
	errs->msgs[errs->n++] = s;
}

void
config_errors_add(struct config_errors *errs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_errors_vadd(errs, fmt, ap);
	va_end(ap);
}

void
config_strlist_add(char ***list, int *n, char *s)
{
	*list = xrealloc(*list, sizeof(**list) * (size_t)(*n + 1));
	(*list)[(*n)++] = s;
}

void
config_errors_clear(struct config_errors *errs)
{
	if (errs == NULL)
		return;
	for (int i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}

const struct keydef *
config_key_at(size_t i)
{
	return i < NKEYS ? &keys[i] : NULL;
}

static const struct keydef *
key_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len && strncmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

static bool
key_is_rclone_extra(const char *name, size_t len)
{
	return len > 7 && strncmp(name, "RCLONE_", 7) == 0 && key_find(name, len) == NULL;
}

bool
config_key_is_secret(const char *key)
{
	return key != NULL &&
	    (strcmp(key, "FLY_API_TOKEN") == 0 || strcmp(key, "TELEGRAM_BOT_TOKEN") == 0);
}

const char *
config_provider_str(enum provider_kind p)
{
	switch (p) {
	case PROVIDER_FLY: return "fly";
	case PROVIDER_COMMAND: return "command";
	case PROVIDER_NONE: break;
	}
	return "none";
}

const char *
config_failback_str(enum failback_mode f)
{
	return f == FAILBACK_MANUAL ? "manual" : "auto";
}

bool
config_instance_valid(const char *name, const char **why)
{
	size_t len = strlen(name);

	if (len == 0)
		*why = "is empty";
	else if (len > INSTANCE_MAX)
		*why = "is longer than 64 characters";
	else if (name[0] == '.')
		*why = "starts with '.'";
	else if (strspn(name,
	             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	             "0123456789_.-") != len)
		*why = "may only contain letters, digits, '_', '.' and '-'";
	else
		return true;
	return false;
}

char *
config_default_path(const char *key, const char *instance)
{
	const char *n = instance;

	if (key == NULL)
		return NULL;
	if (strcmp(key, "CONFIG") == 0)
		return n ? xasprintf("%s/failoverd/%s.conf", SYSCONFDIR, n)
		         : xstrdup(SYSCONFDIR "/failoverd.conf");
	if (strcmp(key, "SOCKET") == 0)
		return xasprintf("%s/failoverd/%s.sock", RUNSTATEDIR, n ? n : "failoverd");
	if (strcmp(key, "STATE_FILE") == 0)
		return n ? xasprintf("%s/lib/failoverd/%s.json", LOCALSTATEDIR, n)
		         : xstrdup(LOCALSTATEDIR "/lib/failoverd/state.json");
	if (strcmp(key, "STATUS_FILE") == 0)
		return xasprintf("%s/failoverd/%s.status", RUNSTATEDIR, n ? n : "failoverd");
	if (strcmp(key, "PID_FILE") == 0)
		return xasprintf("%s/failoverd/%s.pid", RUNSTATEDIR, n ? n : "failoverd");
	if (strcmp(key, "BACKUP_DIR") == 0)
		return n ? xasprintf("%s/lib/failoverd/backups/%s", LOCALSTATEDIR, n)
		         : xstrdup(LOCALSTATEDIR "/lib/failoverd/backups");
	return NULL;
}

static void
set_str(struct config *cfg, const struct keydef *k, char *v)
{
	char **p = (char **)((char *)cfg + k->off);

	free(*p);
	*p = v;
}

/*
 * Parses v (NULL or "" = the default) into cfg. On error returns a new
 * message (never containing a secret) and leaves the field as it was.
 */
static char *
key_apply(struct config *cfg, const struct keydef *k, const char *v, bool *isset)
{
	void *field = (char *)cfg + k->off;
	const char *why = NULL;
	char *dflt = NULL, *res = NULL;
	int64_t ms;
	long long ll;
	bool b;

	*isset = v != NULL && *v != '\0';
	if (!*isset) {
		v = k->def;
		if (v == NULL && (k->type == K_PATH || k->type == K_DIR || k->type == K_SOCKET))
			v = dflt = config_default_path(k->name, cfg->instance);
		if (v == NULL) {
			if (k->type == K_PROVIDER)
				cfg->provider = PROVIDER_NONE; /* resolved after loading */
			else
				set_str(cfg, k, NULL);
			return NULL;
		}
	}
	if (util_clean(NULL, 0, v, strlen(v), UTIL_CLEAN_TAB) != 0) {
		res = xstrdup("contains a control character");
		goto out;
	}

	switch (k->type) {
	case K_STR:
		if (k->check != NULL && (why = k->check(v)) != NULL)
			goto out;
		set_str(cfg, k, xstrdup(v));
		break;
	case K_SECRET: set_str(cfg, k, xstrdup(v)); break;
	case K_URL:
	case K_BASEURL:
		if (config_url_valid(v, &why)) {
			char *s = xstrdup(v);
			size_t len = strlen(s);
			while (k->type == K_BASEURL && len > 0 && s[len - 1] == '/')
				s[--len] = '\0';
			set_str(cfg, k, s);
		}
		break;
	case K_STATUS:
		why = config_status_parse(v, cfg->healthy_status, &cfg->n_healthy_status);
		break;
	case K_DUR:
	case K_DUR0:
		if (util_duration_parse(v, &ms, &why) == 0) {
			if (ms == 0 && k->type == K_DUR)
				why = "must be greater than 0";
			else
				*(int64_t *)field = ms;
		}
		break;
	case K_INT:
		if (util_int_parse(v, k->min, k->max, &ll) == -1) {
			res =
			    xasprintf("expected a whole number from %lld to %lld", k->min, k->max);
			goto out;
		}
		*(int *)field = (int)ll;
		break;
	case K_BOOL:
		if (!util_yesno_parse(v, &b))
			why = "expected yes or no";
		else
			*(bool *)field = b;
		break;
	case K_FAILBACK:
		if (strcmp(v, "auto") == 0)
			cfg->failback = FAILBACK_AUTO;
		else if (strcmp(v, "manual") == 0)
			cfg->failback = FAILBACK_MANUAL;
		else
			why = "expected auto or manual";
		break;
	case K_PROVIDER:
		if (strcmp(v, "fly") == 0)
			cfg->provider = PROVIDER_FLY;
		else if (strcmp(v, "command") == 0)
			cfg->provider = PROVIDER_COMMAND;
		else if (strcmp(v, "none") == 0)
			cfg->provider = PROVIDER_NONE;
		else
			why = "expected fly, command or none";
		break;
	case K_PATH:
	case K_SOCKET:
		if (v[0] != '/')
			why = "must be an absolute path";
		else if (k->type == K_SOCKET &&
		    strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			res = xasprintf("is %zu bytes long; a socket path must be under %zu",
			    strlen(v), sizeof(((struct sockaddr_un *)0)->sun_path));
		else
			set_str(cfg, k, xstrdup(v));
		break;
	case K_DIR:
		if (v[0] != '/')
			why = "must be an absolute path";
		else if (strspn(v, "/") == strlen(v))
			why = "must not be /";
		else
			set_str(cfg, k, config_dir_normalise(v));
		break;
	case K_COST: why = config_cost_parse(v, &cfg->cost_per_second); break;
	}
out:
	free(dflt);
	if (res == NULL && why != NULL) {
		/* Echo the value to help, unless it is a secret. */
		if (k->type == K_SECRET || !*isset)
			res = xstrdup(why);
		else {
			char *shown = config_redact_userinfo(v);
			res = xasprintf("%s (got \"%s\")", why, shown);
			free(shown);
		}
	}
	return res;
}

static void
rclone_env_set(struct config *cfg, const char *key, size_t klen, const char *v)
{
	for (int i = 0; i < cfg->n_rclone_env; i++) {
		if (strncmp(cfg->rclone_env[i], key, klen) == 0 &&
		    cfg->rclone_env[i][klen] == '=') {
			free(cfg->rclone_env[i]);
			if (*v != '\0') {
				cfg->rclone_env[i] = xasprintf("%.*s=%s", (int)klen, key, v);
				return;
			}
			memmove(&cfg->rclone_env[i], &cfg->rclone_env[i + 1],
			    sizeof(char *) * (size_t)(cfg->n_rclone_env - i - 1));
			cfg->n_rclone_env--;
			return;
		}
	}
	if (*v != '\0')
		config_strlist_add(
		    &cfg->rclone_env, &cfg->n_rclone_env, xasprintf("%.*s=%s", (int)klen, key, v));
}

static bool
key_name_valid(const char *key, size_t len)
{
	if (len == 0 || isdigit((unsigned char)key[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)key[i]) && key[i] != '_')
			return false;
	return true;
}

/* Edit distance, for "did you mean"; keys are short. */
static size_t
edit_distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b), prev[64], cur[64];

	if (la >= 64 || lb >= 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (toupper((unsigned char)a[i - 1]) != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(size_t) * (lb + 1));
	}
	return prev[lb];
}

static const struct keydef *
key_nearest(const char *key, size_t klen)
{
	const struct keydef *best = NULL;
	size_t bestd = 3; /* at most two edits away */

	for (size_t i = 0; i < NKEYS; i++) {
		size_t d = edit_distance(key, klen, keys[i].name);
		if (d < bestd) {
			bestd = d;
			best = &keys[i];
		}
	}
	return best;
}

/*
 * One assignment from a source. prefix is "FILE:LINE: ", "-D " or "" and
 * starts every message about it.
 */
static void
assign(struct loader *ld, const char *prefix, const char *key, size_t klen, const char *v)
{
	const struct keydef *k = key_find(key, klen);
	char *why;
	bool isset;
	size_t i;

	if (k == NULL) {
		if (key_is_rclone_extra(key, klen) && key_name_valid(key, klen)) {
			rclone_env_set(ld->cfg, key, klen, v);
			return;
		}
		if ((k = key_nearest(key, klen)) != NULL)
			config_errors_add(ld->errs, "%s%.*s: unknown key (did you mean %s?)",
			    prefix, (int)klen, key, k->name);
		else
			config_errors_add(ld->errs, "%s%.*s: unknown key", prefix, (int)klen, key);
		return;
	}
	i = (size_t)(k - keys);
	if ((why = key_apply(ld->cfg, k, v, &isset)) != NULL) {
		config_errors_add(ld->errs, "%s%s: %s", prefix, k->name, why);
		free(why);
		ld->bad[i] = true; /* no follow-on "needs KEY" error */
		return;
	}
	ld->set[i] = isset;
	free(ld->origin[i]);
	ld->origin[i] = xstrdup(isset ? prefix : "");
}

/* A file line's VALUE: literal, or wholly in quotes. NULL + *why on error. */
static char *
value_unquote(const char *v, const char **why)
{
	size_t len = strlen(v);
	char *out, *w;

	if (v[0] != '"' && v[0] != '\'')
		return xstrdup(v);
	if (v[0] == '\'') {
		const char *close = strchr(v + 1, '\'');
		if (close == NULL) {
			*why = "unterminated quote";
			return NULL;
		}
		if (close != v + len - 1) {
			*why = "text after the closing quote";
			return NULL;
		}
		return xasprintf("%.*s", (int)(len - 2), v + 1);
	}
	/* Double quotes: \" and \\ are escapes, as systemd reads them. */
	out = w = xcalloc(1, len);
	for (const char *p = v + 1;; p++) {
		if (*p == '\0') {
			free(out);
			*why = "unterminated quote";
			return NULL;
		}
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
			*w++ = *++p;
			continue;
		}
		if (*p == '"') {
			if (p[1] != '\0') {
				free(out);
				*why = "text after the closing quote";
				return NULL;
			}
			break;
		}
		*w++ = *p;
	}
	*w = '\0';
	return out;
}

static void
file_parse(struct loader *ld, const char *path, char *text, size_t len)
{
	char *line = text, *next;
	int lineno = 0;

	if (memchr(text, '\0', len) != NULL) {
		config_errors_add(
		    ld->errs, "%s: contains a NUL byte; not a configuration file", path);
		return;
	}
	/* A UTF-8 byte order mark, as some Windows editors write. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		line += 3;
	for (; line != NULL && *line != '\0'; line = next) {
		char *p, *end, *eq, *key, *val, *prefix;
		const char *why = NULL;
		size_t klen;

		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*p == '\0' || *p == '#' || *p == ';')
			continue;
		prefix = xasprintf("%s:%d: ", path, lineno);
		if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
			for (p += 6; *p == ' ' || *p == '\t'; p++)
				;
		}
		if ((eq = strchr(p, '=')) == NULL) {
			config_errors_add(ld->errs, "%sexpected KEY=VALUE", prefix);
			free(prefix);
			continue;
		}
		key = p;
		klen = (size_t)(eq - p);
		while (klen > 0 && (key[klen - 1] == ' ' || key[klen - 1] == '\t'))
			klen--;
		if (!key_name_valid(key, klen)) {
			config_errors_add(ld->errs, "%snot a valid key name before '='", prefix);
			free(prefix);
			continue;
		}
		for (val = eq + 1; *val == ' ' || *val == '\t'; val++)
			;
		if ((val = value_unquote(val, &why)) == NULL) {
			/* Never show the value: it may be a secret. */
			config_errors_add(ld->errs, "%s%.*s: %s", prefix, (int)klen, key, why);
			free(prefix);
			continue;
		}
		assign(ld, prefix, key, klen, val);
		free(val);
		free(prefix);
	}
}

static void
file_load(struct loader *ld, const struct config_source *src)
{
	char *path, *text;
	size_t len;

	if (src->file != NULL)
		path = xstrdup(src->file);
	else
		path = config_default_path("CONFIG", src->instance);
	if ((text = util_read_file(path, CONFIG_MAX_FILE, &len)) == NULL) {
		/* Only the default file may be missing; -i NAME names a file
		 * that must exist (a typo in NAME is no dry run). */
		if (src->file == NULL && src->instance != NULL && errno == ENOENT)
			config_errors_add(ld->errs,
			    "%s: no such configuration file for instance %s (is the name right?)",
			    path, src->instance);
		else if (src->file != NULL || errno != ENOENT)
			config_errors_add(ld->errs, "%s: cannot read the configuration file: %s",
			    path, strerror(errno));
		free(path);
		return;
	}
	ld->cfg->file = path;
	file_parse(ld, path, text, len);
	free(text);
}

static void
env_load(struct loader *ld, char *const *env)
{
	if (env == NULL)
		return;
	for (; *env != NULL; env++) {
		const char *e = *env, *eq = strchr(e, '=');
		size_t klen;

		if (eq == NULL)
			continue;
		klen = (size_t)(eq - e);
		/* The rest of the environment is not ours. */
		if (key_find(e, klen) == NULL && !key_is_rclone_extra(e, klen))
			continue;
		assign(ld, "", e, klen, eq + 1);
	}
}

static void
defines_load(struct loader *ld, char *const *defs, int n)
{
	for (int i = 0; i < n; i++) {
		const char *d = defs[i], *eq = strchr(d, '=');
		size_t klen = eq != NULL ? (size_t)(eq - d) : strlen(d);
		char *key = xasprintf("%.*s", (int)klen, d);

		if (config_key_is_secret(key))
			config_errors_add(ld->errs,
			    "-D %s: -D would put the secret in argv, which other users can read: "
			    "use the config file, the environment or %s_FILE",
			    key, key);
		else if (eq == NULL || klen == 0)
			config_errors_add(ld->errs, "-D %s: expected KEY=VALUE", key);
		else
			assign(ld, "-D ", d, klen, eq + 1);
		free(key);
	}
}

/* Reads a *_FILE secret into *dst. */
static void
secret_file_read(struct loader *ld, const char *key, const char *path, char **dst)
{
	size_t i = (size_t)(key_find(key, strlen(key)) - keys), len, skip;
	const char *pre = ld->origin[i] != NULL ? ld->origin[i] : "";
	struct stat st;
	char *text;

	if ((text = util_read_file(path, SECRET_MAX_FILE, &len)) == NULL) {
		config_errors_add(
		    ld->errs, "%s%s: cannot read %s: %s", pre, key, path, strerror(errno));
		return;
	}
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		text[--len] = '\0';
	if ((skip = strspn(text, " \t\r\n")) > 0) {
		memmove(text, text + skip, len - skip + 1);
		len -= skip;
	}
	if (len == 0)
		config_errors_add(ld->errs, "%s%s: %s is empty", pre, key, path);
	else if (strpbrk(text, "\r\n") != NULL || memchr(text, '\0', len) != NULL)
		config_errors_add(ld->errs, "%s%s: %s holds more than one line", pre, key, path);
	else {
		free(*dst);
		*dst = text;
		text = NULL;
		if (stat(path, &st) == 0 && (st.st_mode & 044) != 0)
			config_strlist_add(&ld->cfg->warnings, &ld->cfg->n_warnings,
			    xasprintf("%s%s: %s is readable by other users; chmod 600 it", pre, key,
			        path));
	}
	free(text);
}

static bool
path_inside(const char *a, const char *b)
{
	size_t lb = strlen(b);

	return strncmp(a, b, lb) == 0 && (a[lb] == '\0' || a[lb] == '/');
}

/* "FILE:LINE: " or "-D " where the key's value came from, else "". */
const char *
config_origin(const struct loader *ld, const char *name)
{
	const char *o = ld->origin[key_find(name, strlen(name)) - keys];

	return o != NULL ? o : "";
}
#define ORIGIN(name) config_origin(ld, name)
#define BAD(name) (ld->bad[key_find(name, strlen(name)) - keys])

static void
cross_check(struct loader *ld)
{
	struct config *c = ld->cfg;
	size_t provider_i = (size_t)(key_find("PROVIDER", 8) - keys);

	if (c->fly_api_token != NULL && c->fly_api_token_file != NULL)
		config_errors_add(ld->errs,
		    "%sFLY_API_TOKEN_FILE: FLY_API_TOKEN is set too; use one",
		    ORIGIN("FLY_API_TOKEN_FILE"));
	else if (c->fly_api_token_file != NULL)
		secret_file_read(
		    ld, "FLY_API_TOKEN_FILE", c->fly_api_token_file, &c->fly_api_token);
	if (c->telegram_bot_token != NULL && c->telegram_bot_token_file != NULL)
		config_errors_add(ld->errs,
		    "%sTELEGRAM_BOT_TOKEN_FILE: TELEGRAM_BOT_TOKEN is set too; use one",
		    ORIGIN("TELEGRAM_BOT_TOKEN_FILE"));
	else if (c->telegram_bot_token_file != NULL)
		secret_file_read(ld, "TELEGRAM_BOT_TOKEN_FILE", c->telegram_bot_token_file,
		    &c->telegram_bot_token);

	/* Contract §9: the coordination keys (coord.c). */
	if (c->etcd_password_file != NULL)
		secret_file_read(
		    ld, "ETCD_PASSWORD_FILE", c->etcd_password_file, &c->etcd_password);
	if ((c->etcd_user != NULL) != (c->etcd_password_file != NULL))
		config_errors_add(ld->errs, "%s%s: ETCD_USER and ETCD_PASSWORD_FILE go together",
		    ORIGIN(c->etcd_user != NULL ? "ETCD_USER" : "ETCD_PASSWORD_FILE"),
		    c->etcd_user != NULL ? "ETCD_USER" : "ETCD_PASSWORD_FILE");
	if ((c->etcd_cert_file != NULL) != (c->etcd_key_file != NULL))
		config_errors_add(ld->errs, "%s%s: ETCD_CERT_FILE and ETCD_KEY_FILE go together",
		    ORIGIN(c->etcd_cert_file != NULL ? "ETCD_CERT_FILE" : "ETCD_KEY_FILE"),
		    c->etcd_cert_file != NULL ? "ETCD_CERT_FILE" : "ETCD_KEY_FILE");
	if (c->election_ttl_ms < 2000 || c->election_ttl_ms % 1000 != 0)
		config_errors_add(ld->errs, "%sELECTION_TTL: must be whole seconds, at least 2 s",
		    ORIGIN("ELECTION_TTL"));
	if (c->coordinator != NULL && strcmp(c->coordinator, "etcd") == 0) {
		if (c->etcd_endpoints == NULL && !BAD("ETCD_ENDPOINTS"))
			config_errors_add(ld->errs,
			    "%sCOORDINATOR: COORDINATOR=etcd needs ETCD_ENDPOINTS",
			    ORIGIN("COORDINATOR"));
	}

	if (!ld->set[provider_i])
		c->provider = c->fly_app != NULL ? PROVIDER_FLY : PROVIDER_NONE;
	if (c->provider == PROVIDER_FLY) {
		const char *pre = ld->set[provider_i] ? ORIGIN("PROVIDER") : ORIGIN("FLY_APP");
		const char *key = ld->set[provider_i] ? "PROVIDER" : "FLY_APP";
		if (c->fly_app == NULL && !BAD("FLY_APP"))
			config_errors_add(ld->errs, "%s%s: PROVIDER=fly needs FLY_APP", pre, key);
		if (c->fly_api_token == NULL && c->fly_api_token_file == NULL)
			config_errors_add(ld->errs,
			    "%s%s: PROVIDER=fly needs FLY_API_TOKEN or FLY_API_TOKEN_FILE", pre,
			    key);
	}
	if (c->provider == PROVIDER_COMMAND) {
		if (c->activate_cmd == NULL && !BAD("ACTIVATE_CMD"))
			config_errors_add(ld->errs,
			    "%sPROVIDER: PROVIDER=command needs ACTIVATE_CMD", ORIGIN("PROVIDER"));
		if (c->deactivate_cmd == NULL && !BAD("DEACTIVATE_CMD"))
			config_errors_add(ld->errs,
			    "%sPROVIDER: PROVIDER=command needs DEACTIVATE_CMD",
			    ORIGIN("PROVIDER"));
	}

	if (c->state_dir != NULL) {
		if (c->rclone_remote == NULL && !BAD("RCLONE_REMOTE"))
			config_errors_add(ld->errs, "%sSTATE_DIR: sync needs RCLONE_REMOTE too",
			    ORIGIN("STATE_DIR"));
		if (c->rclone_path == NULL && !BAD("RCLONE_PATH"))
			config_errors_add(ld->errs,
			    "%sSTATE_DIR: sync needs RCLONE_PATH too (not empty or /)",
			    ORIGIN("STATE_DIR"));
		if (c->backup_dir != NULL &&
		    (path_inside(c->backup_dir, c->state_dir) ||
		        path_inside(c->state_dir, c->backup_dir)))
			config_errors_add(ld->errs, "%sBACKUP_DIR: %s overlaps STATE_DIR %s",
			    ORIGIN("BACKUP_DIR"), c->backup_dir, c->state_dir);
	}

	if ((c->telegram_bot_token != NULL || c->telegram_bot_token_file != NULL) &&
	    c->telegram_chat_id == NULL && !BAD("TELEGRAM_CHAT_ID"))
		config_errors_add(ld->errs, "%s%s: Telegram needs TELEGRAM_CHAT_ID too",
		    c->telegram_bot_token_file ? ORIGIN("TELEGRAM_BOT_TOKEN_FILE")
		                               : ORIGIN("TELEGRAM_BOT_TOKEN"),
		    c->telegram_bot_token_file ? "TELEGRAM_BOT_TOKEN_FILE" : "TELEGRAM_BOT_TOKEN");
	if (c->telegram_chat_id != NULL && c->telegram_bot_token == NULL &&
	    c->telegram_bot_token_file == NULL)
		config_errors_add(ld->errs,
		    "%sTELEGRAM_CHAT_ID: Telegram needs TELEGRAM_BOT_TOKEN or "
		    "TELEGRAM_BOT_TOKEN_FILE too",
		    ORIGIN("TELEGRAM_CHAT_ID"));
}
#undef ORIGIN
#undef BAD

struct config *
config_load(const struct config_source *src, struct config_errors *errs)
{
	struct loader ld;
	struct config *cfg;
	const char *why;
	int nerr = errs->n;

	memset(&ld, 0, sizeof(ld));
	if (src->instance != NULL && !config_instance_valid(src->instance, &why)) {
		config_errors_add(errs, "instance name \"%s\" %s", src->instance, why);
		return NULL;
	}
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->instance = src->instance != NULL ? xstrdup(src->instance) : NULL;
	ld.cfg = cfg;
	ld.errs = errs;

	for (size_t i = 0; i < NKEYS; i++) {
		bool isset;
		char *e = key_apply(cfg, &keys[i], NULL, &isset);
		if (e != NULL) /* a bad built-in default: a bug */
			config_errors_add(errs, "%s: built-in default: %s", keys[i].name, e);
		free(e);
	}
	file_load(&ld, src);
	env_load(&ld, src->environ);
	defines_load(&ld, src->defines, src->ndefines);
	cross_check(&ld);
	if (src->check_files)
		config_files_check(&ld, ld.cfg, ld.errs);

	for (size_t i = 0; i < NKEYS; i++)
		free(ld.origin[i]);
	if (errs->n > nerr) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		switch (keys[i].type) {
		case K_STR:
		case K_SECRET:
		case K_URL:
		case K_BASEURL:
		case K_PATH:
		case K_DIR:
		case K_SOCKET: set_str(cfg, &keys[i], NULL); break;
		default: break;
		}
	}
	for (int i = 0; i < cfg->n_rclone_env; i++)
		free(cfg->rclone_env[i]);
	free(cfg->rclone_env);
	for (int i = 0; i < cfg->n_warnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	free(cfg->instance);
	free(cfg->file);
	if (cfg->etcd_password != NULL) /* not a key: read from its file */
		explicit_bzero(cfg->etcd_password, strlen(cfg->etcd_password));
	free(cfg->etcd_password);
	free(cfg);
}

bool
config_status_healthy(const struct config *cfg, int status)
{
	for (int i = 0; i < cfg->n_healthy_status; i++)
		if (status >= cfg->healthy_status[i].lo && status <= cfg->healthy_status[i].hi)
			return true;
	return false;
}
