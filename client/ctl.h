/*
 * failoverctl's connection to the daemon (conn.c): the socket path's
 * rules, connecting with clear access errors, line framing with a
 * deadline, `events` streaming, and `status` from STATUS_FILE when nothing
 * answers. failoverctl.c parses the command line and shows the results.
 */
#ifndef FOD_CTL_H
#define FOD_CTL_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_DENIED 4 /* the daemon answered permission-denied */

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_REPLY_LINE (64 * 1024 * 1024) /* replies may exceed PROTO_MAX_LINE */
#define INSTANCE_MAX 64

struct ctl {
	const char *path;
	const char *status_file; /* for `status` when the daemon is not running; NULL: none */
	const char *cmd;
	bool json;
	int fd;
	int64_t deadline; /* monotonic ms; -1 = none */
	int64_t timeout_ms;
	char *buf;
	size_t len, cap, scanned;
	size_t consumed; /* bytes of the line last handed out */
};

/* failoverctl.c: prints "failoverctl: ..." and exits with status. */
void die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

const char *status_file_path(const char *Sflag, bool socket_chosen, const char *sock);
void ctl_connect(struct ctl *c);
int ctl_send(struct ctl *c, const char *line, size_t len);
int ctl_read_line(struct ctl *c, char **linep, size_t *lenp);
json_object *parse_object(const char *line, size_t len);
void flush_stdout(void);
int ctl_events(struct ctl *c, bool follow);

#endif
