/*
 * Logging: syslog, stderr (foreground; journald-native when stderr is the
 * journal) or a file reopened on SIGUSR1. A line repeated word for word is
 * written once; the repeats are counted and said ("last message repeated
 * N times") when another line comes, or at most every 60 s.
 */
#ifndef FOD_LOG_H
#define FOD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_dest {
	LOG_DEST_STDERR,
	LOG_DEST_SYSLOG,
	LOG_DEST_FILE,
};

/* Returns 0, or -1 with errno when the file cannot be opened. */
int log_init(const char *ident, enum log_dest dest, const char *path);
/* Reopens LOG_FILE (after rotation); -1 with errno keeps the old one. */
int log_reopen(void);
void log_close(void);
void log_verbose(int level);
int log_getverbose(void);
/* True when standard error is the journal's stream (JOURNAL_STREAM names
 * its device and inode, as systemd sets it): lines then carry a <N>
 * priority prefix and no time stamp of their own. */
bool log_stderr_is_journal(void);

/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Things an operator should see: state changes, a failover's end. */
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Shown with -v (level 1) or -vv (level 2). */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug2(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start-up only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
