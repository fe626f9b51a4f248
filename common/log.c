/*
 * Logging for the daemon and the client (see log.h): the destinations
 * (syslog, stderr or journald, LOG_FILE reopened on SIGUSR1), one line per
 * message with control characters escaped, and the folding of repeats.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void log_repeats_flush(void);

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
	log_repeats_flush();
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

/*
 * One message, one line: control characters (a newline in a force-activate
 * reason, in a command's output) are shown escaped, so nothing a peer or a
 * child writes can forge a log line. Trailing newlines are dropped.
 */
static void
log_escape(const char *in, char *out, size_t outlen)
{
	size_t len = strlen(in);

	while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == '\r'))
		len--;
	util_clean(out, outlen, in, len, UTIL_CLEAN_ESCAPE | UTIL_CLEAN_ESC_CR);
}

bool
log_stderr_is_journal(void)
{
	static int known = -1;
	const char *js;
	unsigned long long dev, ino;
	struct stat st;

	if (known >= 0)
		return known == 1;
	known = 0;
	if ((js = getenv("JOURNAL_STREAM")) != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		known = 1;
	return known == 1;
}

static void
log_write(int pri, const char *msg)
{
	char stamp[32];
	const char *lvl;

	if (dest == LOG_DEST_SYSLOG) {
		syslog(pri, "%s", msg);
		return;
	}
	if (dest == LOG_DEST_STDERR && log_stderr_is_journal()) {
		/* sd-daemon(3): journald takes the priority from the prefix
		 * and stamps the line itself. */
		fprintf(stderr, "<%d>%s\n", pri, msg);
		return;
	}
	switch (pri) {
	case LOG_CRIT: lvl = "fatal"; break;
	case LOG_WARNING: lvl = "warning"; break;
	case LOG_NOTICE: lvl = "notice"; break;
	case LOG_DEBUG: lvl = "debug"; break;
	default: lvl = "info"; break;
	}
	util_time_fmt(util_now_ms(), stamp, sizeof(stamp));
	if (dest == LOG_DEST_FILE && logfp != NULL)
		fprintf(logfp, "%s %s[%ld] %s: %s\n", stamp, logident, (long)getpid(), lvl, msg);
	else
		fprintf(stderr, "%s %s: %s: %s\n", stamp, logident, lvl, msg);
}

/* The last line written, and how often it came again since. */
#define REPEAT_SAY_MS 60000
static char last_msg[512];
static int last_pri = -1;
static unsigned long repeats;
static int64_t repeats_said;

static void
log_repeats_flush(void)
{
	char line[128];

	if (repeats == 0)
		return;
	snprintf(line, sizeof(line), "last message repeated %lu time%s", repeats,
	    repeats == 1 ? "" : "s");
	log_write(last_pri, line);
	repeats = 0;
	repeats_said = util_mono_ms();
}

static void
vlog(int pri, const char *fmt, va_list ap, int err)
{
	char raw[2048], msg[4 * sizeof(raw)];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	if (err != 0) {
		size_t n = strlen(raw);
		snprintf(raw + n, sizeof(raw) - n, ": %s", strerror(err));
	}
	log_escape(raw, msg, sizeof(msg));
	/* Debug lines are for a person who asked for them: never folded. */
	if (pri != LOG_DEBUG && pri == last_pri && strlen(msg) < sizeof(last_msg) &&
	    strcmp(msg, last_msg) == 0) {
		repeats++;
		if (util_mono_ms() - repeats_said >= REPEAT_SAY_MS)
			log_repeats_flush();
		return;
	}
	if (pri != LOG_DEBUG) {
		log_repeats_flush();
		strlcpy(last_msg, strlen(msg) < sizeof(last_msg) ? msg : "", sizeof(last_msg));
		last_pri = pri;
		repeats_said = util_mono_ms();
	}
	log_write(pri, msg);
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
LOGFN(log_notice, LOG_NOTICE, 0, 0)
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
