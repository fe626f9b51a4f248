/* failoverctl: the control client of failoverd (contract §5, §7). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "output.h"
#include "proto.h"
#include "util.h"

#define INSTANCE_MAX 64

struct command {
	const char *name;
	/* Adds arguments to req from argv (argv[0] is the command). 0, or -1 after a usage error.
	 */
	int (*parse)(int argc, char **argv, json_object *req, bool *unbounded);
	/* The human output of a result (NULL: every field as key: value). */
	void (*print)(json_object *req, json_object *res);
	/* The exit status a successful reply still gives (NULL: 0). */
	int (*exit_status)(json_object *res);
};

static const char short_usage[] =
    "usage: failoverctl [-s SOCKET | -i NAME] [-S STATUS_FILE] [-j] [-t SECONDS] [-h] [-V]\n"
    "                   COMMAND [ARGS]\n"
    "  status | check | selftest [--telegram]\n"
    "  force-activate [-w] [-r REASON] | force-deactivate [-w] [-f [-p DURATION]] [-r REASON]\n"
    "  pause [DURATION] | resume\n"
    "  events [-n BACKLOG] [-T TYPE[,TYPE]] [--no-follow]\n"
    "  sync push|pull [-f] | reload | ping | help [--protocol]\n"
    "  metrics\n";

static void
usage_full(void)
{
	printf("%s", short_usage);
	printf("\n"
	       "Options:\n"
	       "  -s SOCKET   the control socket (default: -i NAME's, else $FAILOVERD_SOCKET,\n"
	       "              else %s)\n"
	       "  -i NAME     the instance NAME: socket %s/failoverd/NAME.sock\n"
	       "  -S STATUS_FILE\n"
	       "              the daemon's STATUS_FILE, shown by status when the daemon is not\n"
	       "              running (default: the socket's path with .status for .sock, or\n"
	       "              $FAILOVERD_STATUS_FILE when neither -s nor -i is given)\n"
	       "  -j          print each reply's result or error, or each event, as one JSON line\n"
	       "  -t SECONDS  how long to wait for the daemon (default 10; none for -w, sync,\n"
	       "              events; 0 = no limit)\n"
	       "  -h          this help\n"
	       "  -V          print the version\n"
	       "\n"
	       "Commands:\n"
	       "  status                       the daemon's state; -j prints the status object;\n"
	       "                               with no daemon, its last STATUS_FILE (exit 3)\n"
	       "  check                        run a health check now; exit 1 when unhealthy\n"
	       "  selftest [--telegram]        check the Fly token, rclone, hooks (and Telegram);\n"
	       "                               exit 1 when any check fails\n"
	       "  force-activate [-w] [-r REASON]\n"
	       "                               start the standby; -w waits until it is done\n"
	       "  force-deactivate [-w] [-f [-p DURATION]] [-r REASON]\n"
	       "                               fail back; -f even while the primary is unhealthy,\n"
	       "                               then paused for DURATION (default 10m)\n"
	       "  pause [DURATION]             no automatic checks or actions (until resume)\n"
	       "  resume                       automatic checks and actions again\n"
	       "  events [-n BACKLOG] [-T TYPE[,TYPE]] [--no-follow]\n"
	       "                               print events as they happen\n"
	       "  sync push|pull [-f]          sync the state now; -f pushes outside primary\n"
	       "  reload                       re-read the configuration\n"
	       "  ping                         the daemon's version, pid and protocol\n"
	       "  help [--protocol]            this help; --protocol: the daemon's command table\n"
	       "  metrics                      the Prometheus metrics (text exposition)\n"
	       "\n"
	       "Exit status: 0 success, 1 the daemon answered with an error or the action or\n"
	       "check failed, 2 usage error, 3 the daemon cannot be reached or did not answer,\n"
	       "4 the daemon answered permission-denied (an admin command as a reader).\n"
	       "See failoverctl(8).\n",
	    RUNSTATEDIR "/failoverd/failoverd.sock", RUNSTATEDIR);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("failoverctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(short_usage, stderr);
	exit(EXIT_USAGE);
}

void __attribute__((noreturn, format(printf, 2, 3))) die(int status, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("failoverctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/*
 * Command arguments. An optstring starting with '-' hands over operands in
 * order (as option 1), so `sync push -f` works even with POSIXLY_CORRECT.
 */
static void
getopt_reset(void)
{
	optind = 0; /* glibc: full re-initialisation */
	opterr = 0;
}

static void __attribute__((noreturn)) bad_option(const char *cmd, char **argv, int ch)
{
	if (ch == ':')
		usage_error("%s: option %s needs an argument", cmd, argv[optind - 1]);
	if (optopt != 0)
		usage_error("%s: unknown option -%c", cmd, optopt);
	usage_error("%s: unknown option %s", cmd, argv[optind - 1]);
}

static int
parse_none(int argc, char **argv, json_object *req, bool *unbounded)
{
	int ch;

	getopt_reset();
	while ((ch = getopt(argc, argv, "-:")) != -1) {
		if (ch == 1)
			usage_error("%s takes no arguments", argv[0]);
		bad_option(argv[0], argv, ch);
	}
	if (optind < argc)
		usage_error("%s takes no arguments", argv[0]);
	return 0;
}

static int
parse_selftest(int argc, char **argv, json_object *req, bool *unbounded)
{
	static const struct option longopts[] = {{"telegram", no_argument, NULL, 't'}, {0}};
	int ch;

	getopt_reset();
	while ((ch = getopt_long(argc, argv, "-:", longopts, NULL)) != -1) {
		if (ch == 't')
			json_object_object_add(req, "telegram", json_object_new_boolean(1));
		else if (ch == 1)
			usage_error("selftest: unexpected argument \"%s\"", optarg);
		else
			bad_option(argv[0], argv, ch);
	}
	if (optind < argc)
		usage_error("selftest: unexpected argument \"%s\"", argv[optind]);
	return 0;
}

static int
parse_force(int argc, char **argv, json_object *req, bool *unbounded)
{
	bool deactivate = strcmp(argv[0], "force-deactivate") == 0;
	int ch;

	getopt_reset();
	while ((ch = getopt(argc, argv, deactivate ? "-:wfr:p:" : "-:wr:")) != -1) {
		int64_t ms = -1;
		const char *why = "";

		switch (ch) {
		case 'w':
			json_object_object_add(req, "wait", json_object_new_boolean(1));
			*unbounded = true;
			break;
		case 'f': json_object_object_add(req, "force", json_object_new_boolean(1)); break;
		case 'p':
			if (util_duration_parse(optarg, &ms, &why) == -1 || ms == 0)
				usage_error("%s: bad -p DURATION \"%s\": %s", argv[0], optarg,
				    ms == 0 ? "must be more than 0" : why);
			json_object_object_add(req, "pause", json_object_new_string(optarg));
			break;
		case 'r':
			json_object_object_add(req, "reason", json_object_new_string(optarg));
			break;
		case 1:
			usage_error("%s: unexpected argument \"%s\" (a reason goes after -r)",
			    argv[0], optarg);
		default: bad_option(argv[0], argv, ch);
		}
	}
	if (optind < argc)
		usage_error("%s: unexpected argument \"%s\"", argv[0], argv[optind]);
	return 0;
}

static int
parse_pause(int argc, char **argv, json_object *req, bool *unbounded)
{
	const char *duration = NULL, *why;
	int64_t ms;
	int ch;

	getopt_reset();
	while ((ch = getopt(argc, argv, "-:")) != -1) {
		if (ch != 1)
			bad_option(argv[0], argv, ch);
		if (duration != NULL)
			usage_error("pause takes at most one DURATION");
		duration = optarg;
	}
	for (; optind < argc; optind++) {
		if (duration != NULL)
			usage_error("pause takes at most one DURATION");
		duration = argv[optind];
	}
	if (duration == NULL)
		return 0;
	if (util_duration_parse(duration, &ms, &why) == -1)
		usage_error("pause: bad DURATION \"%s\": %s", duration, why);
	if (ms == 0)
		usage_error("pause: bad DURATION \"%s\": must be more than 0 (without a DURATION, "
		            "pause lasts until resume)",
		    duration);
	/* As typed: the daemon parses it the same way and owns the meaning. */
	json_object_object_add(req, "duration", json_object_new_string(duration));
	return 0;
}

static void
add_types(json_object *types, const char *arg)
{
	const char *p = arg, *comma;
	size_t n;

	for (;;) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == 0)
			usage_error("events: empty TYPE in -T \"%s\"", arg);
		for (size_t i = 0;; i++) {
			if (proto_event_types[i] == NULL)
				usage_error(
				    "events: unknown event type \"%.*s\" in -T (the types: %s)",
				    (int)(n > 64 ? 64 : n), p, proto_event_types_list());
			if (strlen(proto_event_types[i]) == n &&
			    strncmp(proto_event_types[i], p, n) == 0)
				break;
		}
		json_object_array_add(types, json_object_new_string_len(p, (int)n));
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

static int
parse_events(int argc, char **argv, json_object *req, bool *unbounded)
{
	static const struct option longopts[] = {{"no-follow", no_argument, NULL, 'F'}, {0}};
	json_object *types = NULL;
	long long backlog = 0;
	bool follow = true;
	int ch;

	getopt_reset();
	while ((ch = getopt_long(argc, argv, "-:n:T:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (util_int_parse(optarg, 0, INT_MAX, &backlog) == -1)
				usage_error(
				    "events: bad BACKLOG \"%s\" (a whole number, 0 or more)",
				    optarg);
			break;
		case 'T':
			if (types == NULL)
				types = json_object_new_array();
			add_types(types, optarg);
			break;
		case 'F': follow = false; break;
		case 1:
			json_object_put(types);
			usage_error("events: unexpected argument \"%s\"", optarg);
		default: json_object_put(types); bad_option(argv[0], argv, ch);
		}
	}
	if (optind < argc)
		usage_error("events: unexpected argument \"%s\"", argv[optind]);
	json_object_object_add(req, "backlog", json_object_new_int64(backlog));
	if (types != NULL)
		json_object_object_add(req, "types", types);
	json_object_object_add(req, "follow", json_object_new_boolean(follow));
	*unbounded = true;
	return 0;
}

/* help: the CLI's help, or with --protocol the daemon's command table. */
static bool help_protocol;

static int
parse_help(int argc, char **argv, json_object *req, bool *unbounded)
{
	static const struct option longopts[] = {{"protocol", no_argument, NULL, 'p'}, {0}};
	int ch;

	getopt_reset();
	while ((ch = getopt_long(argc, argv, "-:", longopts, NULL)) != -1) {
		if (ch == 'p')
			help_protocol = true;
		else if (ch == 1)
			usage_error("help: unexpected argument \"%s\"", optarg);
		else
			bad_option(argv[0], argv, ch);
	}
	if (optind < argc)
		usage_error("help: unexpected argument \"%s\"", argv[optind]);
	return 0;
}

static int
parse_sync(int argc, char **argv, json_object *req, bool *unbounded)
{
	const char *direction = NULL;
	bool force = false;
	int ch;

	getopt_reset();
	while ((ch = getopt(argc, argv, "-:f")) != -1) {
		if (ch == 'f')
			force = true;
		else if (ch == 1 && direction == NULL)
			direction = optarg;
		else if (ch == 1)
			usage_error("sync: unexpected argument \"%s\"", optarg);
		else
			bad_option(argv[0], argv, ch);
	}
	for (; optind < argc; optind++) {
		if (direction != NULL)
			usage_error("sync: unexpected argument \"%s\"", argv[optind]);
		direction = argv[optind];
	}
	if (direction == NULL)
		usage_error("sync needs a direction: push or pull");
	if (strcmp(direction, "push") != 0 && strcmp(direction, "pull") != 0)
		usage_error("sync: direction must be push or pull, not \"%s\"", direction);
	json_object_object_add(req, "direction", json_object_new_string(direction));
	if (force)
		json_object_object_add(req, "force", json_object_new_boolean(1));
	*unbounded = true;
	return 0;
}

/* Printers and exit statuses of the results, by command. */
static void
print_status(json_object *req, json_object *res)
{
	(void)req;
	output_status(stdout, res, util_now_ms());
}

static void
print_check(json_object *req, json_object *res)
{
	(void)req;
	(void)output_check(stdout, res);
}

static int
exit_check(json_object *res)
{
	return output_check_healthy(res) ? 0 : EXIT_FAILED;
}

static void
print_selftest(json_object *req, json_object *res)
{
	(void)req;
	(void)output_selftest(stdout, res);
}

static int
exit_selftest(json_object *res)
{
	return output_selftest_failures(res) > 0 ? EXIT_FAILED : 0;
}

static void
print_help(json_object *req, json_object *res)
{
	(void)req;
	output_help(stdout, res);
}

static void
print_ping(json_object *req, json_object *res)
{
	(void)req;
	output_ping(stdout, res);
}

static void
print_metrics(json_object *req, json_object *res)
{
	json_object *v;

	(void)req;
	if (json_object_object_get_ex(res, "text", &v) && json_object_is_type(v, json_type_string))
		fputs(json_object_get_string(v), stdout);
}

static void
print_pause(json_object *req, json_object *res)
{
	(void)req;
	output_pause(stdout, res, util_now_ms());
}

static void
print_sync(json_object *req, json_object *res)
{
	json_object *v = NULL;

	json_object_object_get_ex(req, "direction", &v);
	(void)output_sync(stdout, v != NULL ? json_object_get_string(v) : NULL, res);
}

static int
exit_sync(json_object *res)
{
	return output_sync_ok(res) ? 0 : EXIT_FAILED;
}

static void
print_reload(json_object *req, json_object *res)
{
	(void)req;
	(void)output_reload(stdout, res);
}

static int
exit_reload(json_object *res)
{
	return output_reload_restart_needed(res) > 0 ? EXIT_FAILED : 0;
}

static const struct command commands[] = {
    {"status", parse_none, print_status, NULL},
    {"check", parse_none, print_check, exit_check},
    {"selftest", parse_selftest, print_selftest, exit_selftest},
    {"force-activate", parse_force, NULL, NULL},
    {"force-deactivate", parse_force, NULL, NULL},
    {"pause", parse_pause, print_pause, NULL},
    {"resume", parse_none, print_pause, NULL},
    {"events", parse_events, NULL, NULL},
    {"sync", parse_sync, print_sync, exit_sync},
    {"reload", parse_none, print_reload, exit_reload},
    {"ping", parse_none, print_ping, NULL},
    {"help", parse_help, print_help, NULL},
    {"metrics", parse_none, print_metrics, NULL},
};

/* Paths made here live as long as the program; kept where LeakSanitizer
 * sees them (volatile: a store the compiler may not drop as unread). */
static char *volatile owned_socket;

/* The socket: -s, else -i NAME's, else $FAILOVERD_SOCKET, else the default. */
static const char *
socket_path(const char *sflag, const char *instance)
{
	const char *env;

	if (sflag != NULL)
		return sflag;
	if (instance != NULL)
		return owned_socket = xasprintf("%s/failoverd/%s.sock", RUNSTATEDIR, instance);
	if ((env = getenv("FAILOVERD_SOCKET")) != NULL && *env != '\0')
		return env;
	return RUNSTATEDIR "/failoverd/failoverd.sock";
}

/* The same rule as the daemon's -i. */
static const char *
instance_invalid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return "is empty";
	if (len > INSTANCE_MAX)
		return "is longer than 64 characters";
	if (name[0] == '.')
		return "starts with '.'";
	if (strspn(name,
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	        "0123456789_.-") != len)
		return "may only contain letters, digits, '_', '.' and '-'";
	return NULL;
}

static int
show_error(struct ctl *c, json_object *reply)
{
	json_object *err = NULL, *v;
	const char *code = NULL, *msg = NULL;
	char *clean;
	int rc;

	if (json_object_object_get_ex(reply, "error", &err) &&
	    json_object_is_type(err, json_type_object)) {
		if (json_object_object_get_ex(err, "code", &v) &&
		    json_object_is_type(v, json_type_string))
			code = json_object_get_string(v);
		if (json_object_object_get_ex(err, "message", &v) &&
		    json_object_is_type(v, json_type_string))
			msg = json_object_get_string(v);
	} else
		err = NULL;
	rc = code != NULL && strcmp(code, "permission-denied") == 0 ? EXIT_DENIED : EXIT_FAILED;
	if (c->json) {
		if (err != NULL)
			output_json(stdout, err);
		else
			printf("{}\n");
		flush_stdout();
		return rc;
	}
	fflush(stdout);
	if (msg == NULL)
		msg = "(no message)";
	clean = xstrdup(msg);
	util_clean(clean, strlen(clean) + 1, clean, strlen(clean), 0);
	fprintf(stderr, "failoverctl: %s: %s\n", code != NULL ? code : "error", clean);
	free(clean);
	return rc;
}

static int
show_result(struct ctl *c, const struct command *cmd, json_object *req, json_object *res)
{
	int rc = cmd->exit_status != NULL ? cmd->exit_status(res) : 0;

	if (c->json)
		output_json(stdout, res);
	else if (cmd->print != NULL)
		cmd->print(req, res);
	else
		output_result(stdout, cmd->name, res);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *sflag = NULL, *Sflag = NULL, *instance = NULL, *why, *cmdname, *reqline;
	const struct command *cmd = NULL;
	struct ctl c = {.fd = -1, .deadline = -1, .timeout_ms = DEFAULT_TIMEOUT_MS};
	json_object *req, *reply, *v, *res, *id;
	bool timeout_set = false, unbounded = false, ok;
	char *line;
	size_t len;
	int ch, rc;

	/* A daemon that hangs up must not kill us silently. */
	signal(SIGPIPE, SIG_IGN);

	opterr = 0;
	while ((ch = getopt(argc, argv, "+:s:S:i:jt:hV")) != -1) {
		switch (ch) {
		case 's':
			if (*optarg == '\0')
				usage_error("-s needs a socket path");
			sflag = optarg;
			break;
		case 'S':
			if (*optarg == '\0')
				usage_error("-S needs a STATUS_FILE path");
			Sflag = optarg;
			break;
		case 'i':
			if ((why = instance_invalid(optarg)) != NULL)
				usage_error("instance name \"%s\" %s", optarg, why);
			instance = optarg;
			break;
		case 'j': c.json = true; break;
		case 't': {
			int64_t ms;

			if (util_duration_parse(optarg, &ms, &why) == -1)
				usage_error("-t: bad timeout \"%s\": %s", optarg, why);
			c.timeout_ms = ms;
			timeout_set = true;
			break;
		}
		case 'h': usage_full(); return 0;
		case 'V': printf("failoverctl %s\n", PACKAGE_VERSION); return 0;
		case ':': usage_error("option -%c needs an argument", optopt);
		default: usage_error("unknown option -%c", optopt != 0 ? optopt : '?');
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage_error("no command given");
	cmdname = argv[0];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmdname, commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		usage_error("unknown command \"%s\"", cmdname);

	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(cmd->name));
	json_object_object_add(req, "id", json_object_new_int(1));
	cmd->parse(argc, argv, req, &unbounded);
	if (strcmp(cmd->name, "help") == 0 && !help_protocol) {
		json_object_put(req);
		usage_full();
		flush_stdout();
		return 0;
	}

	c.path = socket_path(sflag, instance);
	c.cmd = cmd->name;
	c.status_file = status_file_path(Sflag, sflag != NULL || instance != NULL, c.path);
	if (strlen(c.path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		usage_error("socket path %s is too long", c.path);
	/* -t always bounds; without it, only commands that answer promptly are bounded. */
	if (!timeout_set && unbounded)
		c.timeout_ms = 0;
	if (c.timeout_ms > 0)
		c.deadline = util_mono_ms() + c.timeout_ms;

	ctl_connect(&c);
	reqline = json_object_to_json_string_ext(
	    req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	line = xasprintf("%s\n", reqline);
	/* On a failed send, a reply (line-too-long, say) may still be waiting. */
	if (ctl_send(&c, line, strlen(line)) == -1 && errno != EPIPE && errno != ECONNRESET)
		die(EXIT_UNREACHABLE, "%s: %s", c.path, strerror(errno));
	free(line);

	if (ctl_read_line(&c, &line, &len) == 0)
		die(EXIT_UNREACHABLE, "%s: failoverd closed the connection without a reply",
		    c.path);
	if ((reply = parse_object(line, len)) == NULL ||
	    !json_object_object_get_ex(reply, "ok", &v) ||
	    !json_object_is_type(v, json_type_boolean) ||
	    (json_object_object_get_ex(reply, "id", &id) &&
	        !(json_object_is_type(id, json_type_int) && json_object_get_int64(id) == 1)))
		die(EXIT_FAILED, "%s: the reply is not a failoverd reply (%zu bytes)", c.path, len);
	ok = json_object_get_boolean(v);
	if (!ok)
		rc = show_error(&c, reply);
	else {
		/* A reply without a result object is shown as an empty one. */
		if (!json_object_object_get_ex(reply, "result", &res) ||
		    !json_object_is_type(res, json_type_object)) {
			res = json_object_new_object();
			json_object_object_add(reply, "result", res);
		}
		if (strcmp(cmd->name, "events") == 0) {
			json_object_object_get_ex(req, "follow", &v);
			rc = ctl_events(&c, json_object_get_boolean(v));
		} else
			rc = show_result(&c, cmd, req, res);
	}
	json_object_put(reply);
	json_object_put(req);
	close(c.fd);
	free(c.buf);
	flush_stdout();
	return rc;
}
