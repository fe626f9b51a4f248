/*
 * What the configuration shows: `failoverd -n`'s KEY=value lines and the
 * redaction of secrets (and URL passwords) from any text the daemon logs
 * or reports.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "util.h"

#define REDACTED "<redacted>"

/* RCLONE_* settings passed to rclone whose values are shown as <redacted>. */
static bool
rclone_key_is_secret(const char *key, size_t len)
{
	static const char *const words[] = {"TOKEN", "SECRET", "PASS", "KEY"};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t wl = strlen(words[i]);
		for (size_t j = 0; j + wl <= len; j++)
			if (strncmp(key + j, words[i], wl) == 0)
				return true;
	}
	return false;
}

/* The shortest plain decimal that reads back as d. */
static void
cost_fmt(double d, char *buf, size_t len)
{
	for (int prec = 0; prec <= 20; prec++) {
		snprintf(buf, len, "%.*f", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
	snprintf(buf, len, "%.17g", d);
}

char *
config_redact_userinfo(const char *s)
{
	char *out = xstrdup(s);
	char *p = out;

	while ((p = strstr(p, "://")) != NULL) {
		char *host = p + 3, *end = host, *at = NULL;

		while (*end != '\0' && *end != '/' && *end != '?' && *end != '#' &&
		    !isspace((unsigned char)*end) && *end != '"' && *end != '\'') {
			if (*end == '@')
				at = end;
			end++;
		}
		if (at != NULL) {
			char *n = xasprintf("%.*s" REDACTED "%s", (int)(host - out), out, at);
			p = n + (host - out) + strlen(REDACTED) + 1;
			free(out);
			out = n;
		} else
			p = end;
	}
	return out;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
config_print(const struct config *cfg, FILE *fp)
{
	const struct keydef *k;
	char buf[64];
	char **extra;

	for (size_t i = 0; (k = config_key_at(i)) != NULL; i++) {
		const void *field = (const char *)cfg + k->off;
		const char *s;
		char *r;

		fprintf(fp, "%s=", k->name);
		switch (k->type) {
		case K_SECRET: fputs(*(char *const *)field != NULL ? REDACTED : "", fp); break;
		case K_URL:
		case K_BASEURL:
			if ((s = *(char *const *)field) != NULL) {
				r = config_redact_userinfo(s);
				fputs(r, fp);
				free(r);
			}
			break;
		case K_STR:
		case K_PATH:
		case K_DIR:
		case K_SOCKET:
			if ((s = *(char *const *)field) != NULL)
				fputs(s, fp);
			break;
		case K_STATUS:
			for (int j = 0; j < cfg->n_healthy_status; j++) {
				const struct status_range *sr = &cfg->healthy_status[j];
				if (sr->lo == sr->hi)
					fprintf(fp, "%s%d", j ? "," : "", sr->lo);
				else
					fprintf(fp, "%s%d-%d", j ? "," : "", sr->lo, sr->hi);
			}
			break;
		case K_DUR:
		case K_DUR0:
			fputs(util_duration_fmt(*(const int64_t *)field, buf, sizeof(buf)), fp);
			break;
		case K_INT: fprintf(fp, "%d", *(const int *)field); break;
		case K_BOOL: fputs(*(const bool *)field ? "yes" : "no", fp); break;
		case K_FAILBACK: fputs(config_failback_str(cfg->failback), fp); break;
		case K_PROVIDER: fputs(config_provider_str(cfg->provider), fp); break;
		case K_COST:
			cost_fmt(cfg->cost_per_second, buf, sizeof(buf));
			fputs(buf, fp);
			break;
		}
		fputc('\n', fp);
	}
	/* Sorted, so the output does not depend on the environment's order. */
	extra = xcalloc((size_t)cfg->n_rclone_env + 1, sizeof(*extra));
	if (cfg->n_rclone_env > 0) {
		memcpy(extra, cfg->rclone_env, sizeof(*extra) * (size_t)cfg->n_rclone_env);
		qsort(extra, (size_t)cfg->n_rclone_env, sizeof(*extra), str_cmp);
	}
	for (int i = 0; i < cfg->n_rclone_env; i++) {
		const char *eq = strchr(extra[i], '=');
		size_t klen = (size_t)(eq - extra[i]);
		if (rclone_key_is_secret(extra[i], klen))
			fprintf(fp, "%.*s=" REDACTED "\n", (int)klen, extra[i]);
		else
			fprintf(fp, "%s\n", extra[i]);
	}
	free(extra);
}

static void
replace_all(char **sp, const char *needle)
{
	size_t nl = strlen(needle), pos = 0;
	char *s = *sp, *hit;

	if (nl == 0)
		return;
	/* Search on after each replacement: the needle may be in REDACTED. */
	while ((hit = strstr(s + pos, needle)) != NULL) {
		char *n = xasprintf("%.*s" REDACTED "%s", (int)(hit - s), s, hit + nl);
		pos = (size_t)(hit - s) + strlen(REDACTED);
		free(s);
		s = n;
	}
	*sp = s;
}

static int
len_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* A secret and the parts of it that might be printed on their own. */
static void
needles_add(char ***list, int *n, const char *secret, const char *seps)
{
	char *copy, *part, *save = NULL;

	if (secret == NULL || *secret == '\0')
		return;
	config_strlist_add(list, n, xstrdup(secret));
	copy = xstrdup(secret);
	for (part = strtok_r(copy, seps, &save); part != NULL; part = strtok_r(NULL, seps, &save)) {
		if (strncmp(part, "FlyV1 ", 6) == 0)
			part += 6;
		while (*part == ' ')
			part++;
		/* Short parts (a bot id, "FlyV1") are not secret by themselves. */
		if (strlen(part) >= 12 && strcmp(part, secret) != 0)
			config_strlist_add(list, n, xstrdup(part));
	}
	free(copy);
}

char *
config_redact(const struct config *cfg, const char *s)
{
	char **needles = NULL, *out;
	int n = 0;

	if (s == NULL)
		return NULL;
	out = config_redact_userinfo(s);
	if (cfg == NULL)
		return out;
	needles_add(&needles, &n, cfg->fly_api_token, ",");
	needles_add(&needles, &n, cfg->telegram_bot_token, ":");
	for (int i = 0; i < cfg->n_rclone_env; i++) {
		const char *eq = strchr(cfg->rclone_env[i], '=');
		if (rclone_key_is_secret(cfg->rclone_env[i], (size_t)(eq - cfg->rclone_env[i])) &&
		    strlen(eq + 1) >= 4)
			config_strlist_add(&needles, &n, xstrdup(eq + 1));
	}
	/* Longest first, so a part never leaves the rest of its whole behind. */
	if (n > 1)
		qsort(needles, (size_t)n, sizeof(*needles), len_desc);
	for (int i = 0; i < n; i++) {
		replace_all(&out, needles[i]);
		free(needles[i]);
	}
	free(needles);
	return out;
}
