/*
 * What config.c, config_value.c, config_check.c and config_print.c share;
 * nothing else includes it.
 */
#ifndef FOD_CONFIG_INT_H
#define FOD_CONFIG_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum ktype {
	K_STR, /* any text */
	K_SECRET, /* any text, never shown */
	K_URL, /* http or https */
	K_BASEURL, /* http or https, trailing slashes dropped */
	K_STATUS, /* HEALTHY_STATUS */
	K_DUR, /* duration > 0 */
	K_DUR0, /* duration >= 0 */
	K_INT, /* integer in [min, max] */
	K_BOOL, /* yes/no */
	K_FAILBACK, /* auto/manual */
	K_PROVIDER, /* fly/command/none */
	K_PATH, /* absolute path */
	K_DIR, /* absolute directory, not /, normalised */
	K_SOCKET, /* absolute path that fits in sun_path */
	K_COST, /* non-negative number */
};

struct keydef {
	const char *name;
	enum ktype type;
	const char *def; /* parsed like any value; NULL = unset */
	size_t off;
	long long min, max;
	const char *(*check)(const char *); /* extra check of a K_STR */
};

/* config.c's loading state (where each key came from). */
struct loader;

/* config.c */
/* The key table's i-th row, in the contract's order; NULL past the end. */
const struct keydef *config_key_at(size_t i);
void config_errors_vadd(struct config_errors *errs, const char *fmt, va_list ap);
void config_errors_add(struct config_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void config_strlist_add(char ***list, int *n, char *s);
/* "FILE:LINE: " or "-D " where the key's value came from, else "". */
const char *config_origin(const struct loader *ld, const char *key);

/* config_value.c: the syntax of single values. Each returns NULL (or
 * true) when v is fine, else a static message (in *why). */
bool config_url_valid(const char *v, const char **why);
/* The key table's checks of single values (keydef.check): NULL when v is
 * fine, else a static message. */
const char *config_check_fly_app(const char *v);
const char *config_check_chat_id(const char *v);
const char *config_check_remote(const char *v);
const char *config_check_rclone_path(const char *v);
const char *config_check_command(const char *v);
const char *config_check_listen(const char *v);
const char *config_check_standby_mode(const char *v);
const char *config_check_coordinator(const char *v);
const char *config_check_etcd_endpoints(const char *v);
const char *config_check_etcd_prefix(const char *v);
const char *config_check_node_name(const char *v);
const char *config_check_abs(const char *v);
/* "200,204,300-399" into sorted, merged ranges. */
const char *config_status_parse(const char *v, struct status_range *r, int *np);
const char *config_cost_parse(const char *v, double *out);
/* Drops trailing slashes and doubled ones: "/a//b/" -> "/a/b". A new string. */
char *config_dir_normalise(const char *v);

/* config_check.c: what the daemon needs from this machine. */
/* An absolute path the daemon can read (checked when the key is set). */
const char *config_check_readable(const char *v);
/* `failoverd -n` only: LOG_FILE, STATE_DIR and the commands, into errs. */
void config_files_check(
    const struct loader *ld, const struct config *c, struct config_errors *errs);

/* config_print.c */
/* The value with a URL's user:password@ replaced, for messages. A new string. */
char *config_redact_userinfo(const char *s);

#endif
