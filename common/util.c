/*
 * Small helpers with no event loop in them (see util.h): clocks and time
 * stamps, durations, numbers, atomic file writes and directories, backoff,
 * UTF-8 decoding and the one control-character cleaner, allocation that
 * aborts on ENOMEM.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_to_wall(int64_t mono)
{
	return util_now_ms() - (util_mono_ms() - mono);
}

int64_t
util_wall_to_mono(int64_t wall)
{
	return util_mono_ms() - (util_now_ms() - wall);
}

char *
util_time_fmt(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	int frac = (int)(ms % 1000);

	if (frac < 0) {
		frac += 1000;
		t--;
	}
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	return buf;
}

char *
util_time_stamp(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d%02d%02dT%02d%02d%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}

int
util_time_parse(const char *s, int64_t *ms)
{
	struct tm tm;
	int frac = 0, n = 0, mday, mon;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL)
		return -1;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -1;
	s += n;
	if (*s == '.') {
		int digits = 0;
		s++;
		while (isdigit((unsigned char)*s)) {
			if (digits < 3) {
				frac = frac * 10 + (*s - '0');
				digits++;
			}
			s++;
		}
		if (digits == 0)
			return -1;
		while (digits++ < 3)
			frac *= 10;
	}
	if (strcmp(s, "Z") != 0)
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	mday = tm.tm_mday;
	mon = tm.tm_mon;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	/* timegm normalises: 02-31 would become 03-03. Refuse what moved. */
	if (tm.tm_mday != mday || tm.tm_mon != mon)
		return -1;
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}

int
util_duration_parse(const char *s, int64_t *ms, const char **err)
{
	const char *p = s;
	int64_t whole = 0, fracv = 0, fracdiv = 1, mult;
	int ndig = 0;

	if (s == NULL || *s == '\0') {
		*err = "empty duration";
		return -1;
	}
	while (isdigit((unsigned char)*p)) {
		if (whole > INT64_C(1000000000000)) {
			*err = "duration too large";
			return -1;
		}
		whole = whole * 10 + (*p++ - '0');
		ndig++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (fracdiv >= INT64_C(1000000000)) {
				*err = "too many decimals";
				return -1;
			}
			fracv = fracv * 10 + (*p++ - '0');
			fracdiv *= 10;
			ndig++;
		}
		if (fracdiv == 1) {
			*err = "a decimal point needs digits after it";
			return -1;
		}
	}
	if (ndig == 0) {
		*err = "not a duration (expected e.g. 250ms, 5s, 1.5m, 1h)";
		return -1;
	}
	if (*p == '\0' || strcmp(p, "s") == 0)
		mult = 1000;
	else if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0)
		mult = 60000;
	else if (strcmp(p, "h") == 0)
		mult = 3600000;
	else {
		*err = "unknown unit (use ms, s, m or h; no compound forms)";
		return -1;
	}
	if (whole > INT64_C(10000000000) * 1000 / mult) {
		*err = "duration too large";
		return -1;
	}
	if ((fracv * mult) % fracdiv != 0) {
		*err = "finer than a millisecond";
		return -1;
	}
	*ms = whole * mult + fracv * mult / fracdiv;
	return 0;
}

char *
util_duration_fmt(int64_t ms, char *buf, size_t len)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, len, "%lldh", (long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, len, "%lldms", (long long)ms);
	return buf;
}

int
util_int_parse(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

bool
util_yesno_parse(const char *s, bool *out)
{
	static const char *yes[] = {"yes", "true", "on", "1"};
	static const char *no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static int
fsync_dir_of(const char *path)
{
	char *dir = xstrdup(path), *slash;
	int fd, rc = 0;

	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fsync(fd) == -1)
		rc = -1;
	if (fd != -1) {
		int save = errno;
		close(fd);
		errno = save;
	}
	free(dir);
	return rc;
}

int
util_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	const char *p = data;
	int fd, save;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd == -1)
		goto fail;
	if (fchmod(fd, mode) == -1)
		goto fail_fd;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail_fd;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail_fd;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	free(tmp);
	/* The rename is done; a failed directory fsync is still reported. */
	return fsync_dir_of(path);

fail_fd:
	save = errno;
	close(fd);
	errno = save;
fail:
	save = errno;
	unlink(tmp);
	free(tmp);
	errno = save;
	return -1;
}

char *
util_read_file(const char *path, size_t max, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = max < 4096 ? max : 4096;
	char *buf;

	if (fd == -1)
		return NULL;
	buf = xcalloc(1, cap + 1);
	for (;;) {
		ssize_t n;
		bool probe = false;
		if (len == cap) {
			if (cap >= max)
				probe = true; /* one more byte: EOF, or too big */
			else {
				cap = cap * 2 > max ? max : cap * 2;
				buf = xrealloc(buf, cap + 1);
			}
		}
		n = read(fd, buf + len, probe ? 1 : cap - len);
		if (probe && n > 0) {
			free(buf);
			close(fd);
			errno = EFBIG;
			return NULL;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int save = errno;
			free(buf);
			close(fd);
			errno = save;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

int
util_mkdir_parents(const char *path, mode_t mode)
{
	return util_mkdir_parents_group(path, mode, (gid_t)-1);
}

int
util_mkdir_parents_group(const char *path, mode_t mode, gid_t gid)
{
	char *dir = xstrdup(path), *p;

	p = strrchr(dir, '/');
	if (p == NULL || p == dir) {
		free(dir);
		return 0;
	}
	*p = '\0';
	for (p = dir + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			int rc = mkdir(dir, mode);
			if (rc == -1 && errno != EEXIST) {
				int save = errno;
				free(dir);
				errno = save;
				return -1;
			}
			/* Only what we just created: an existing directory is left as is. */
			if (rc == 0 && gid != (gid_t)-1 &&
			    (chown(dir, (uid_t)-1, gid) == -1 || chmod(dir, mode) == -1)) {
				int save = errno;
				free(dir);
				errno = save;
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	free(dir);
	return 0;
}

int64_t
util_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms)
{
	int64_t d = base_ms;

	for (int i = 0; i < attempt && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	/* "Equal jitter": half fixed, half random, so it never collapses to 0. */
	return d / 2 + (int64_t)(arc4random_uniform((uint32_t)(d / 2 + 1)));
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		abort();
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size);

	if (q == NULL)
		abort();
	return q;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	va_end(ap);
	return s;
}

struct timeval
util_ms_tv(int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

int
util_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	int len;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
	} else
		return 0;
	if (n < (size_t)len)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return len;
}

size_t
util_clean(char *dst, size_t dstlen, const char *src, size_t srclen, unsigned flags)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, changed = 0;
	char esc[8];

	if (dst != NULL && dstlen == 0)
		return 0;
	while (srclen > 0) {
		const char *out = (const char *)s;
		size_t n = 1, len;
		uint32_t cp = s[0];
		bool bad = false, change = true;
		int l;

		if ((flags & UTIL_CLEAN_UTF8) != 0) {
			if ((l = util_utf8_decode(s, srclen, &cp)) == 0 || cp == 0)
				bad = true;
			else
				n = (size_t)l;
		}
		len = n;
		if (bad) {
			out = (flags & UTIL_CLEAN_FFFD) != 0 ? "\xef\xbf\xbd" : "?";
			len = strlen(out);
		} else if ((cp == '\n' && (flags & UTIL_CLEAN_NL) != 0) ||
		    (cp == '\t' && (flags & UTIL_CLEAN_TAB) != 0))
			change = false;
		else if (cp < 0x20 || cp == 0x7f) {
			if ((flags & UTIL_CLEAN_ESCAPE) == 0)
				out = (flags & UTIL_CLEAN_SPACE) != 0 ? " " : "?";
			else if (cp == '\n')
				out = "\\n";
			else if (cp == '\t')
				out = "\\t";
			else if (cp == '\r' && (flags & UTIL_CLEAN_ESC_CR) != 0)
				out = "\\r";
			else {
				snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
				out = esc;
			}
			len = strlen(out);
		} else if ((flags & UTIL_CLEAN_QUOTE) != 0 && (cp == '"' || cp == '\\')) {
			esc[0] = '\\';
			esc[1] = (char)cp;
			out = esc;
			len = 2;
		} else
			change = false;
		if (dst != NULL) {
			if (o + len + 1 > dstlen)
				break;
			memmove(dst + o, out, len);
			o += len;
		}
		if (change)
			changed++;
		s += n;
		srclen -= n;
	}
	if (dst != NULL)
		dst[o] = '\0';
	return changed;
}
