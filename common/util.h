/* Time, durations, files: small helpers with no event loop in them. */
#ifndef FOD_UTIL_H
#define FOD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

#define UTIL_TIME_LEN 32

int64_t util_now_ms(void); /* wall clock, ms since the epoch */
int64_t util_mono_ms(void); /* monotonic clock, ms */
/* A time on one clock as the same moment on the other (ms). */
int64_t util_mono_to_wall(int64_t mono);
int64_t util_wall_to_mono(int64_t wall);

/* "2026-11-28T04:00:00.000Z"; buf of at least UTIL_TIME_LEN. Returns buf. */
char *util_time_fmt(int64_t ms, char *buf, size_t len);
/* Parses what util_time_fmt writes (and "…Z" without fraction). 0 or -1. */
int util_time_parse(const char *s, int64_t *ms);
/* "20261128T040000Z" for directory names. */
char *util_time_stamp(int64_t ms, char *buf, size_t len);

/*
 * Durations: a non-negative decimal with an optional unit ms, s, m or h
 * ("250ms", "5s", "1.5m", "0.2" = 0.2 s). Millisecond resolution; a value
 * that is not a whole number of milliseconds is an error. Returns 0, or -1
 * with *err set to a static message.
 */
int util_duration_parse(const char *s, int64_t *ms, const char **err);
/* "5s", "250ms", "1.5m", "2h": the shortest exact form. */
char *util_duration_fmt(int64_t ms, char *buf, size_t len);

/* Strict integer in [min, max]; 0 or -1. */
int util_int_parse(const char *s, long long min, long long max, long long *out);
bool util_yesno_parse(const char *s, bool *out);

/*
 * Writes a file atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. 0, or -1 with errno; the old file is untouched
 * on failure.
 */
int util_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
char *util_read_file(const char *path, size_t max, size_t *lenp);
/* Creates the missing parent directories of path with mode. 0 or -1. */
int util_mkdir_parents(const char *path, mode_t mode);
/* The same; each directory it creates gets group gid and exactly mode ((gid_t)-1: as is). */
int util_mkdir_parents_group(const char *path, mode_t mode, gid_t gid);

/* Exponential backoff with full jitter: base * 2^attempt, capped. */
int64_t util_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms);
/* One UTF-8 character at s (RFC 3629: no overlong forms, surrogates or
 * code points above U+10FFFF): its length (1-4) and code point, or 0 when
 * the bytes at s are not one (or n is too short). */
int util_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* util_clean's flags. Without any, each control character (0x00-0x1F, 0x7F)
 * becomes '?' and every other byte is copied as it is. */
#define UTIL_CLEAN_NL 0x01 /* keep \n as it is */
#define UTIL_CLEAN_TAB 0x02 /* keep \t as it is */
#define UTIL_CLEAN_SPACE 0x04 /* a control character becomes ' ' */
/* Read the text as UTF-8 (util_utf8_decode): a byte that does not start a
 * valid character, and NUL, become '?' (whatever SPACE says). */
#define UTIL_CLEAN_UTF8 0x08
#define UTIL_CLEAN_FFFD 0x10 /* with UTF8: that byte becomes U+FFFD instead */
/* A control character is escaped: \n and \t as "\\n" and "\\t", others as
 * "\\xHH" (with ESC_CR, \r as "\\r"); with QUOTE, '"' and '\\' get a
 * backslash too, for the inside of a quoted string. */
#define UTIL_CLEAN_ESCAPE 0x20
#define UTIL_CLEAN_ESC_CR 0x40
#define UTIL_CLEAN_QUOTE 0x80
/*
 * The one control-character cleaner: srclen bytes of src into dst, cleaned
 * as flags say, always NUL-terminated (dstlen > 0). A character whose
 * output does not fit whole ends the copy. dst may be src when no output
 * is longer than its input (no ESCAPE, FFFD or QUOTE). dst NULL: only
 * counts. Returns how many characters it replaced or escaped.
 */
size_t util_clean(char *dst, size_t dstlen, const char *src, size_t srclen, unsigned flags);

/* ms as a struct timeval; a negative ms is 0. */
struct timeval util_ms_tv(int64_t ms);

/* strdup that aborts on ENOMEM: allocation failure is not recoverable here. */
char *xstrdup(const char *s);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
