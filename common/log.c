
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static enum log_dest dest = LOG_DEST_STDERR;
static char *logpath;
static FILE *logfp;
static int verbose;
static const char *logident = "failoverd";

int
log_init(const char *ident, enum log_dest d, const char *path)
{
	FILE *fp = NULL;

	if (d == LOG_DEST_FILE) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1 || (fp = fdopen(fd, "a")) == NULL) {
			int save = errno;
			if (fd != -1)
				close(fd);
			errno = save;
			return -1;
		}
		setvbuf(fp, NULL, _IOLBF, 0);
	}
	log_close();
	logident = ident;
	dest = d;
	if (d == LOG_DEST_FILE) {
		logfp = fp;
		logpath = strdup(path);
	} else if (d == LOG_DEST_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	return 0;
}

int
log_reopen(void)
{
	FILE *fp;
	int fd;

	if (dest != LOG_DEST_FILE || logpath == NULL)
		return 0;
	fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if ((fp = fdopen(fd, "a")) == NULL) {
		close(fd);
		return -1;
	}
	setvbuf(fp, NULL, _IOLBF, 0);
	if (logfp != NULL)
		fclose(logfp);
	logfp = fp;
	return 0;
}

void
log_close(void)
{
	if (logfp != NULL)
		fclose(logfp);
	logfp = NULL;
	free(logpath);
	logpath = NULL;
	if (dest == LOG_DEST_SYSLOG)
		closelog();
	dest = LOG_DEST_STDERR;
}

void
log_verbose(int level)
{
	verbose = level;
}

int
log_getverbose(void)
{
	return verbose;
}

static void
vlog(int pri, const char *fmt, va_list ap, int err)
{
	char msg[2048], stamp[32];
	const char *lvl;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err != 0) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(err));
	}
	if (dest == LOG_DEST_SYSLOG) {
		syslog(pri, "%s", msg);
		return;
	}
	switch (pri) {
	case LOG_CRIT: lvl = "fatal"; break;
	case LOG_WARNING: lvl = "warning"; break;
	case LOG_DEBUG: lvl = "debug"; break;
	default: lvl = "info"; break;
	}
	util_time_fmt(util_now_ms(), stamp, sizeof(stamp));
	if (dest == LOG_DEST_FILE && logfp != NULL)
		fprintf(logfp, "%s %s[%ld] %s: %s\n", stamp, logident, (long)getpid(), lvl, msg);
	else
		fprintf(stderr, "%s %s: %s: %s\n", stamp, logident, lvl, msg);
}

#define LOGFN(name, pri, witherr, minverbose)                                                      \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		int save = errno;                                                                  \
		if (verbose < (minverbose))                                                        \
			return;                                                                    \
		va_start(ap, fmt);                                                                 \
		vlog(pri, fmt, ap, (witherr) ? save : 0);                                          \
		va_end(ap);                                                                        \
		errno = save;                                                                      \
	}

LOGFN(log_warn, LOG_WARNING, 1, 0)
LOGFN(log_warnx, LOG_WARNING, 0, 0)
LOGFN(log_info, LOG_INFO, 0, 0)
LOGFN(log_debug, LOG_DEBUG, 0, 1)
LOGFN(log_debug2, LOG_DEBUG, 0, 2)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int save = errno;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, save);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
