/*
 * The syntax of single configuration values (config_int.h): URLs, status
 * lists, costs, directories, METRICS_LISTEN, and the key table's checks
 * of single values (app names, chat ids, commands, etcd endpoints...).
 * Pure: no I/O.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "config_int.h"
#include "util.h"

bool
config_url_valid(const char *v, const char **why)
{
	const char *host;

	if (strncasecmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncasecmp(v, "https://", 8) == 0)
		host = v + 8;
	else {
		*why = "not an http:// or https:// URL";
		return false;
	}
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#') {
		*why = "the URL has no host";
		return false;
	}
	for (const char *p = v; *p != '\0'; p++)
		if (isspace((unsigned char)*p)) {
			*why = "white space in a URL";
			return false;
		}
	return true;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct status_range *x = a, *y = b;

	return x->lo != y->lo ? (x->lo < y->lo ? -1 : 1) : (x->hi < y->hi ? -1 : x->hi > y->hi);
}

const char *
config_status_parse(const char *v, struct status_range *r, int *np)
{
	struct status_range tmp[CONFIG_MAX_STATUS_RANGES];
	char *copy = xstrdup(v), *item, *save = NULL;
	const char *why = NULL;
	int n = 0, m = 0;

	for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *dash, *end;
		long long lo, hi;

		while (*item == ' ' || *item == '\t')
			item++;
		end = item + strlen(item);
		while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (n == CONFIG_MAX_STATUS_RANGES) {
			why = "too many ranges";
			break;
		}
		if ((dash = strchr(item, '-')) != NULL)
			*dash = '\0';
		if (util_int_parse(item, 100, 599, &lo) == -1 ||
		    (dash != NULL && util_int_parse(dash + 1, 100, 599, &hi) == -1)) {
			why = "expected statuses 100-599 like 200,204,300-399";
			break;
		}
		if (dash == NULL)
			hi = lo;
		if (lo > hi) {
			why = "a range must go from low to high";
			break;
		}
		tmp[n].lo = (int)lo;
		tmp[n].hi = (int)hi;
		n++;
	}
	free(copy);
	if (why == NULL && n == 0)
		why = "no statuses given";
	/* strtok_r skips empty items: "200,,204" is still a typo. */
	if (why == NULL && (v[0] == ',' || v[strlen(v) - 1] == ',' || strstr(v, ",,") != NULL))
		why = "empty item in the list";
	if (why != NULL)
		return why;
	qsort(tmp, (size_t)n, sizeof(tmp[0]), range_cmp);
	for (int i = 0; i < n; i++) {
		if (m > 0 && tmp[i].lo <= r[m - 1].hi + 1) {
			if (tmp[i].hi > r[m - 1].hi)
				r[m - 1].hi = tmp[i].hi;
		} else
			r[m++] = tmp[i];
	}
	*np = m;
	return NULL;
}

const char *
config_cost_parse(const char *v, double *out)
{
	char *end;
	double d;

	if (v[0] == '\0' || strspn(v, "0123456789.eE+-") != strlen(v))
		return "expected a non-negative number, e.g. 0.0000019";
	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || *end != '\0' || !isfinite(d) || d < 0)
		return "expected a non-negative number, e.g. 0.0000019";
	*out = d;
	return NULL;
}

char *
config_dir_normalise(const char *v)
{
	char *s = xstrdup(v), *w = s;

	for (const char *p = v; *p != '\0'; p++)
		if (!(*p == '/' && w > s && w[-1] == '/'))
			*w++ = *p;
	*w = '\0';
	while (w - s > 1 && w[-1] == '/')
		*--w = '\0';
	return s;
}

/* METRICS_LISTEN (see config.h). */
int
config_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen, const char **why)
{
	char host[64];
	const char *colon, *port;
	long long p;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':') {
			*why = "expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464";
			return -1;
		}
		if ((size_t)(end - s - 1) >= sizeof(host)) {
			*why = "the IPv6 address is too long";
			return -1;
		}
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s || strchr(s, ':') != colon) {
			*why = "expected HOST:PORT, e.g. 127.0.0.1:9464 (an IPv6 address in "
			       "brackets: [::1]:9464)";
			return -1;
		}
		if ((size_t)(colon - s) >= sizeof(host)) {
			*why = "HOST must be an IP address or localhost";
			return -1;
		}
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	if (util_int_parse(port, 1, 65535, &p) == -1) {
		*why = "PORT must be a number from 1 to 65535";
		return -1;
	}
	if (strcmp(host, "localhost") == 0)
		strlcpy(host, "127.0.0.1", sizeof(host));
	if (s[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			*why = "HOST must be an IP address or localhost (no name lookups: the "
			       "daemon never waits on DNS)";
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*why = "the address in brackets must be an IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*sslen = sizeof(*sin6);
	}
	return 0;
}

/* The key table's checks of single values (config_int.h). */

const char *
config_check_fly_app(const char *v)
{
	if (strlen(v) > 63 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v))
		return "a Fly app name is lower-case letters, digits and '-' (at most 63)";
	return NULL;
}

const char *
config_check_standby_mode(const char *v)
{
	if (strcmp(v, "stopped") != 0 && strcmp(v, "suspended") != 0)
		return "must be stopped or suspended";
	return NULL;
}

const char *
config_check_listen(const char *v)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why = NULL;

	return config_listen_parse(v, &ss, &len, &why) == 0 ? NULL : why;
}

const char *
config_check_chat_id(const char *v)
{
	const char *p = v;

	if (*p == '@') {
		p++;
		if (*p != '\0' &&
		    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
		        strlen(p))
			return NULL;
	} else {
		if (*p == '-')
			p++;
		if (*p != '\0' && strspn(p, "0123456789") == strlen(p) && strlen(p) <= 20)
			return NULL;
	}
	return "expected a numeric chat id (e.g. -1001234567890) or @channelname";
}

const char *
config_check_remote(const char *v)
{
	if (strchr(v, ':') != NULL)
		return "give the remote's name without ':' (RCLONE_PATH holds the path)";
	return NULL;
}

const char *
config_check_rclone_path(const char *v)
{
	if (strspn(v, "/") == strlen(v))
		return "must not be the remote's root";
	return NULL;
}

const char *
config_check_abs(const char *v)
{
	if (v[0] != '/')
		return "must be an absolute path (the daemon runs from /)";
	return NULL;
}

/* A command run with /bin/sh -c from the daemon's directory, /: its first
 * word is a name looked up in PATH or an absolute path, never relative. */
const char *
config_check_command(const char *v)
{
	size_t n;

	v += strspn(v, " \t");
	n = strcspn(v, " \t;|&<>()");
	if (n > 0 && v[0] != '/' && memchr(v, '/', n) != NULL)
		return "the command is a relative path, and the daemon runs from /: give an "
		       "absolute path";
	return NULL;
}

const char *
config_check_coordinator(const char *v)
{
	if (strcmp(v, "none") != 0 && strcmp(v, "etcd") != 0)
		return "must be none or etcd";
	return NULL;
}

/*
 * ETCD_ENDPOINTS: comma-separated http(s)://host[:port] (one trailing / at
 * most), the same rules as etcd_endpoints_parse (daemon/etcd.c; the unit
 * test test_etcd checks that both agree). The URL is never echoed.
 */
const char *
config_check_etcd_endpoints(const char *v)
{
	const char *p = v, *e, *b;
	size_t n = 0, skip;

	for (;;) {
		e = p + strcspn(p, ",");
		b = p;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (b == e)
			return "an empty entry in the endpoint list";
		if (++n > 16)
			return "more than 16 endpoints";
		if ((size_t)(e - b) > 7 && strncmp(b, "http://", 7) == 0)
			skip = 7;
		else if ((size_t)(e - b) > 8 && strncmp(b, "https://", 8) == 0)
			skip = 8;
		else
			return "an endpoint must be an http:// or https:// URL";
		if (b[skip] == ':')
			return "an endpoint has no host";
		for (b += skip; b < e; b++) {
			if (*b == '/' && b == e - 1)
				break;
			if (!isalnum((unsigned char)*b) && strchr(".-_:[]", *b) == NULL)
				return "an endpoint is scheme://host[:port] only (no path, query or user)";
		}
		p += strcspn(p, ",");
		if (*p == '\0')
			return NULL;
		p++;
	}
}

/* Every key of the pair lives under it: absolute, printable, no spaces. */
const char *
config_check_etcd_prefix(const char *v)
{
	if (v[0] != '/')
		return "must start with /";
	for (; *v != '\0'; v++)
		if ((unsigned char)*v <= ' ' || (unsigned char)*v >= 0x7f)
			return "only printable ASCII without spaces";
	return NULL;
}

/* A monitor's name within the pair: it ends up in etcd keys and status. */
const char *
config_check_node_name(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 63)
		return "1 to 63 characters";
	if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return "only letters, digits, '.', '_' and '-'";
	return NULL;
}
