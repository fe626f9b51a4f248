/*
 * Configuration: contract §3. Built-in defaults < file < environment < -D.
 * Pure: no event loop, no global state, so it is unit-tested directly.
 */
#ifndef FOD_CONFIG_H
#define FOD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

enum failback_mode { FAILBACK_AUTO, FAILBACK_MANUAL };
enum provider_kind { PROVIDER_NONE, PROVIDER_FLY, PROVIDER_COMMAND };

#define CONFIG_MAX_STATUS_RANGES 32

struct status_range {
	int lo, hi;
};

struct config {
	char *instance; /* -i NAME, or NULL */
	char *file; /* the config file read, or NULL when none was */

	char *local_health_url;
	struct status_range healthy_status[CONFIG_MAX_STATUS_RANGES];
	int n_healthy_status;
	char *health_expect;
	char *health_ca_file;
	bool health_insecure;
	int64_t check_interval_ms;
	int64_t fast_interval_ms;
	int64_t check_timeout_ms;
	int failure_threshold;
	int recovery_threshold;
	int64_t min_standby_time_ms;
	enum failback_mode failback;
	int64_t auto_stop_ms;
	int64_t startup_grace_ms; /* 0 = off */
	int64_t reconcile_interval_ms;

	enum provider_kind provider;
	char *fly_app;
	char *fly_api_token; /* secret; from FLY_API_TOKEN or the _FILE */
	char *fly_api_token_file;
	char *fly_api_hostname;
	int fly_machine_count;
	char *fly_health_url;
	char *fly_standby_mode; /* "stopped" or "suspended" (§11) */
	char *fly_promote_url; /* §11; NULL = no promotion step */
	bool fly_lease; /* §11: Fly machine leases around each action */
	int64_t activation_timeout_ms;
	char *activate_cmd;
	char *deactivate_cmd;

	char *state_dir;
	char *rclone_remote;
	char *rclone_path;
	char *rclone;
	char *rclone_config;
	char *rclone_flags;
	int64_t sync_interval_ms;
	int64_t sync_timeout_ms;
	char *backup_dir;
	int backup_keep;
	/* Every other RCLONE_* key from any source, as "KEY=VALUE". */
	char **rclone_env;
	int n_rclone_env;

	char *telegram_bot_token; /* secret */
	char *telegram_bot_token_file;
	char *telegram_chat_id;
	char *telegram_api_url;
	char *heartbeat_url;
	char *notify_cmd;
	char *fence_cmd;
	bool fence_required;
	char *failback_cmd;
	int64_t hook_timeout_ms;

	char *socket_path;
	char *socket_group;
	char *admin_group;
	char *state_file;
	char *status_file;
	char *pid_file;
	char *log_file;
	double cost_per_second;
	char *metrics_listen; /* HOST:PORT, or NULL: no HTTP endpoint */
	char *primary_pid_file; /* the primary's PID file (watch.c), or NULL */
	bool watch_connection; /* keep a connection to LOCAL_HEALTH_URL (watch.c) */

	/* Coordination (contract §9): parsed and checked; COORDINATOR=etcd
	 * itself is refused until it is implemented (issue 12). */
	char *coordinator; /* "none" or "etcd" */
	char *etcd_endpoints;
	char *etcd_prefix; /* NULL: /failoverd/ + FLY_APP, instance or default */
	char *etcd_user;
	char *etcd_password_file;
	char *etcd_password; /* secret, read from etcd_password_file */
	char *etcd_ca_file, *etcd_cert_file, *etcd_key_file;
	char *node_name; /* NULL: the host name */
	int64_t election_ttl_ms; /* whole seconds, >= 2 s */
	char *self_fence_cmd;

	/* Warnings (not errors) found while loading, e.g. a readable *_FILE. */
	char **warnings;
	int n_warnings;
};

/* Where the configuration comes from. */
struct config_source {
	const char *instance; /* -i NAME or NULL */
	const char *file; /* -c FILE or NULL for the default */
	char *const *defines; /* -D KEY=VALUE, ndefines of them */
	int ndefines;
	char *const *environ; /* the environment to read keys from */
	/* `-n`: also check what the daemon will need from this machine
	 * (LOG_FILE's directory, STATE_DIR writable, commands executable). */
	bool check_files;
};

/* A list of error messages ("FILE:LINE: message" or "KEY: message"). */
struct config_errors {
	char **msgs;
	int n;
};

/*
 * Loads and validates. Returns a new config, or NULL with every problem
 * found appended to errs (never just the first one).
 */
struct config *config_load(const struct config_source *src, struct config_errors *errs);
void config_free(struct config *);
void config_errors_clear(struct config_errors *);

/* `failoverd -n`: KEY=value lines in the contract's table order, secrets
 * shown as <redacted>. */
void config_print(const struct config *, FILE *);

/* The compiled-in default paths for an instance (NULL = unnamed): keys
 * SOCKET, STATE_FILE, STATUS_FILE, PID_FILE, BACKUP_DIR, and CONFIG for the
 * default config file. A new string, or NULL for any other key. */
char *config_default_path(const char *key, const char *instance);
/* -i NAME: [A-Za-z0-9_.-], 1 to 64, not starting with '.'; else *why says. */
bool config_instance_valid(const char *name, const char **why);

bool config_key_is_secret(const char *key);
/* The first word of a /bin/sh -c command is an executable file, absolute
 * or found in $PATH (or a shell builtin); where gets the file (or the word). */
bool config_command_found(const char *cmd, char *where, size_t len);
bool config_status_healthy(const struct config *, int http_status);

const char *config_provider_str(enum provider_kind);
const char *config_failback_str(enum failback_mode);

/* Redacts every secret value of cfg found in s (in place, same or shorter
 * length is not guaranteed: returns a new string). */
char *config_redact(const struct config *, const char *s);

/*
 * METRICS_LISTEN: "HOST:PORT" with HOST an IPv4 literal, a bracketed IPv6
 * literal or "localhost" (127.0.0.1); never a name that needs DNS. 0, or -1
 * with a static reason in *why.
 */
struct sockaddr_storage;
int config_listen_parse(
    const char *s, struct sockaddr_storage *ss, socklen_t *sslen, const char **why);

#endif
