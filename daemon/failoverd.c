/*
 * failoverd: keeps one primary service and one standby (a Fly.io app) and
 * moves work between them. main(), start-up, signals and the loop.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/libutil.h>
#include <event2/event.h>

#include "commands.h"
#include "control.h"
#include "engine.h"
#include "events.h"
#include "daemon.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "state.h"
#include "status.h"
#include "timer.h"
#include "util.h"

extern char **environ;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: failoverd [-f] [-n] [-v] [-h] [-V] [-i NAME] [-c FILE] [-D KEY=VALUE]...\n"
	    "  -f            stay in the foreground and log to stderr (unless LOG_FILE)\n"
	    "  -n            check the configuration (and LOG_FILE's directory, STATE_DIR,\n"
	    "                RCLONE and the commands), print the effective settings, exit\n"
	    "  -v            more log detail (repeatable)\n"
	    "  -i NAME       run instance NAME: every default path is derived from it\n"
	    "  -c FILE       configuration file (default %s/failoverd.conf, which may\n"
	    "                be missing, or %s/failoverd/NAME.conf with -i, which may not)\n"
	    "  -D KEY=VALUE  set a configuration key (wins over file and environment;\n"
	    "                secrets are refused: use the file, the environment or *_FILE)\n"
	    "  -h            this help\n"
	    "  -V            print the version\n"
	    "Signals: HUP reloads the configuration (SOCKET, PID_FILE, STATE_FILE, PROVIDER\n"
	    "and METRICS_LISTEN wait for a restart), TERM/INT stop cleanly, USR1 reopens\n"
	    "LOG_FILE.\n"
	    "See failoverd(8), failoverd.conf(5) and failoverctl(8).\n",
	    SYSCONFDIR, SYSCONFDIR);
}

/* A STATUS_FILE that cannot be written (full, read-only) is tried again
 * this often even when nothing changes (daemon.c: STATE_FILE's). */
#define STORAGE_RETRY_S 5

static void
status_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = {STORAGE_RETRY_S, 0};
	int save;

	d->status_dirty = false;
	d->status_written_mono = util_mono_ms();
	if (status_write(d) == 0) {
		if (d->status_failed) {
			d->status_failed = false;
			daemon_error_cleared(d, "status-file", "STATUS_FILE %s is written again",
			    d->cfg->status_file);
		}
		return;
	}
	save = errno;
	if (!d->status_failed) {
		/* Once per outage, not once per write. */
		d->status_failed = true;
		daemon_error(d, "status-file", "cannot write STATUS_FILE %s: %s",
		    d->cfg->status_file, strerror(save));
	}
	if (d->status_timer != NULL) {
		d->status_dirty = true;
		evtimer_add(d->status_timer, &tv);
	}
}

static void
state_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	/* A marked engine runs first in the next pass and saves at its end:
	 * one write for the inputs and what the run makes of them. */
	if (d->state_dirty && !engine_marked(d->engine))
		daemon_state_save(d);
}

static char *
serve_metrics(void *arg)
{
	return status_metrics_text(arg);
}

/* seq is persisted in blocks: one STATE_FILE write per this many events. */
#define SEQ_BLOCK 1000

/* Every event: to `events` clients; the persisted seq floor stays ahead
 * of every seq handed out; STATUS_FILE shows the count. */
static void
daemon_on_event(const struct evrec *rec, json_object *event, void *arg)
{
	struct daemon *d = arg;

	if (d->control != NULL)
		control_broadcast(d->control, (struct evrec *)rec);
	if (d->dstate != NULL && rec->seq + 1 >= d->dstate->seq_floor) {
		d->dstate->seq_floor = rec->seq + 1 + SEQ_BLOCK;
		daemon_state_save(d);
	}
	daemon_status_changed(d);
}

static struct config *
load_config(struct daemon *d, struct config_errors *errs)
{
	struct config *cfg = config_load(&d->src, errs);

	if (cfg != NULL)
		for (int i = 0; i < cfg->n_warnings; i++) {
			/* -n prints its warnings like its errors, without a time. */
			if (d->src.check_files)
				fprintf(stderr, "failoverd: warning: %s\n", cfg->warnings[i]);
			else
				log_warnx("%s", cfg->warnings[i]);
		}
	return cfg;
}

static bool
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Re-reads the configuration; NULL on success or a malloc'd reason. Keys
 * that need a restart are in restart_needed after a success. */
static char *
daemon_reload(struct daemon *d)
{
	struct config_errors errs = {NULL, 0};
	struct config *cfg, *old = d->cfg;
	char *why;
	int nr = 0;

	daemon_sd_notify(d, "RELOADING=1");
	cfg = load_config(d, &errs);
	if (cfg == NULL) {
		why = xstrdup("");
		for (int i = 0; i < errs.n; i++) {
			char *n = xasprintf("%s%s%s", why, i > 0 ? "; " : "", errs.msgs[i]);
			free(why);
			why = n;
		}
		config_errors_clear(&errs);
		/* In status.errors until a reload succeeds. */
		daemon_error(d, "reload", "failed, the running configuration is kept: %s", why);
		d->reload_failed = true;
		daemon_event(d, "reload", false, why);
		daemon_sd_notify(d, "READY=1");
		return why;
	}
	/* These need a restart: keep the running values and say so, in the
	 * reply and in status (restart_needed) until a restart or a reload
	 * that sets them back. The running values are the start-up ones. */
#define KEEP(field, key)                                                                           \
	if (!same_str(cfg->field, old->field)) {                                                   \
		log_warnx("reload: %s changed; it takes effect at the next restart", key);         \
		free(cfg->field);                                                                  \
		cfg->field = old->field != NULL ? xstrdup(old->field) : NULL;                      \
		d->restart_needed[nr++] = key;                                                     \
	}
	KEEP(socket_path, "SOCKET")
	KEEP(pid_file, "PID_FILE")
	KEEP(state_file, "STATE_FILE")
	KEEP(metrics_listen, "METRICS_LISTEN")
	/* The coordination's membership is made at start-up (coord.c). */
	KEEP(coordinator, "COORDINATOR")
	KEEP(etcd_endpoints, "ETCD_ENDPOINTS")
	KEEP(etcd_prefix, "ETCD_PREFIX")
	KEEP(node_name, "NODE_NAME")
	KEEP(etcd_user, "ETCD_USER")
	KEEP(etcd_password_file, "ETCD_PASSWORD_FILE")
	KEEP(etcd_ca_file, "ETCD_CA_FILE")
	KEEP(etcd_cert_file, "ETCD_CERT_FILE")
	KEEP(etcd_key_file, "ETCD_KEY_FILE")
#undef KEEP
	free(cfg->etcd_password); /* with ETCD_PASSWORD_FILE: the running one */
	cfg->etcd_password = old->etcd_password != NULL ? xstrdup(old->etcd_password) : NULL;
	if (cfg->election_ttl_ms != old->election_ttl_ms) {
		log_warnx("reload: ELECTION_TTL changed; it takes effect at the next restart");
		cfg->election_ttl_ms = old->election_ttl_ms;
		d->restart_needed[nr++] = "ELECTION_TTL";
	}
	if (cfg->provider != old->provider) {
		log_warnx("reload: PROVIDER changed; it takes effect at the next restart");
		cfg->provider = old->provider;
		d->restart_needed[nr++] = "PROVIDER";
	}
	d->n_restart_needed = nr;
	d->cfg = cfg;
	if (!same_str(cfg->status_file, old->status_file) &&
	    util_mkdir_parents(cfg->status_file, 0750) == -1)
		log_warn("reload: cannot create the directory of STATUS_FILE %s", cfg->status_file);
	if (cfg->log_file != NULL && util_mkdir_parents(cfg->log_file, 0750) == -1)
		log_warn("reload: cannot create the directory of LOG_FILE %s", cfg->log_file);
	if (!same_str(cfg->log_file, old->log_file) || cfg->log_file != NULL) {
		if (cfg->log_file != NULL)
			log_init("failoverd", LOG_DEST_FILE, cfg->log_file);
		else
			log_init(
			    "failoverd", d->foreground ? LOG_DEST_STDERR : LOG_DEST_SYSLOG, NULL);
	}
	control_reconfigure(d->control);
	if (d->engine != NULL)
		engine_reconfigure(d->engine);
	config_free(old);
	if (nr > 0) {
		char keys[384] = "";
		for (int i = 0; i < nr; i++) {
			if (i > 0)
				strlcat(keys, ", ", sizeof(keys));
			strlcat(keys, d->restart_needed[i], sizeof(keys));
		}
		log_warnx("configuration reloaded; a restart is needed for %s", keys);
	} else
		log_info("configuration reloaded");
	if (d->reload_failed) {
		d->reload_failed = false;
		daemon_error_cleared(d, "reload", "the configuration is reloaded");
	}
	daemon_event(d, "reload", true, NULL);
	daemon_status_changed(d);
	daemon_sd_notify(d, "READY=1");
	return NULL;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char *why;

	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading the configuration");
		why = daemon_reload(d);
		free(why);
		break;
	case SIGUSR1:
		if (log_reopen() == -1)
			log_warn("cannot reopen LOG_FILE");
		else
			log_info("log file reopened");
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		event_base_loopbreak(d->base);
		break;
	}
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	daemon_sd_notify(arg, "WATCHDOG=1");
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open-file limit");
	}
}

static void
print_errors(struct config_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		fprintf(stderr, "failoverd: %s\n", errs->msgs[i]);
}

/*
 * daemon(3) with a handshake: the parent returns only once the child has
 * written PID_FILE and serves the socket (exit 0), or has died trying (exit
 * 1), so whoever started failoverd (an init script, a test) can rely on
 * PID_FILE at once.
 */
static int ready_fd = -1;

static int
daemonize(void)
{
	int p[2], fd;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0) {
		char c = 0;
		ssize_t n;

		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n == -1 && errno == EINTR);
		_exit(n == 1 && c == 'R' ? 0 : 1);
	}
	close(p[0]);
	ready_fd = p[1];
	if (setsid() == -1 || chdir("/") == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

static void
daemonize_done(void)
{
	if (ready_fd == -1)
		return;
	(void)write(ready_fd, "R", 1);
	close(ready_fd);
	ready_fd = -1;
}

int
main(int argc, char *argv[])
{
	struct daemon dd, *d = &dd;
	struct config_errors errs = {NULL, 0};
	char **defines = NULL, err[512], msg[512], *conf_abs = NULL;
	int ndefines = 0, ch, verbose = 0, sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1};
	bool check_only = false;
	struct pidfh *pfh;
	pid_t otherpid = 0;
	enum dstate_load_result lr;

	memset(d, 0, sizeof(*d));
	while ((ch = getopt(argc, argv, "fnvhVi:c:D:")) != -1) {
		switch (ch) {
		case 'f': d->foreground = true; break;
		case 'n': check_only = true; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("failoverd %s\n", PACKAGE_VERSION); return 0;
		case 'i': d->src.instance = optarg; break;
		case 'c': d->src.file = optarg; break;
		case 'D':
			defines = xrealloc(defines, sizeof(*defines) * (size_t)(ndefines + 1));
			defines[ndefines++] = optarg;
			break;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "failoverd: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return 1;
	}
	d->src.defines = defines;
	d->src.ndefines = ndefines;
	d->src.environ = environ;
	d->src.check_files = check_only;
	log_verbose(verbose);
	/* A daemon runs from /: a relative -c is made absolute now, so that
	 * a reload still reads the same file. */
	if (d->src.file != NULL && d->src.file[0] != '/') {
		char cwd[4096];
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			fprintf(stderr, "failoverd: -c %s: cannot tell the current directory: %s\n",
			    d->src.file, strerror(errno));
			return 1;
		}
		conf_abs = xasprintf("%s/%s", cwd, d->src.file);
		d->src.file = conf_abs;
	}

	d->cfg = load_config(d, &errs);
	if (d->cfg == NULL) {
		print_errors(&errs);
		if (check_only)
			fprintf(stderr, "failoverd: configuration has %d error%s\n", errs.n,
			    errs.n == 1 ? "" : "s");
		config_errors_clear(&errs);
		free(conf_abs);
		return 1;
	}
	if (check_only) {
		/* A comment: the output stays a valid EnvironmentFile. */
		if (d->cfg->file != NULL)
			printf("# configuration file: %s\n", d->cfg->file);
		else {
			char *def = config_default_path("CONFIG", d->cfg->instance);
			printf("# no configuration file: built-in defaults\n");
			fprintf(stderr,
			    "failoverd: warning: no configuration file (%s does not exist): "
			    "built-in defaults and the environment\n",
			    def);
			free(def);
		}
		config_print(d->cfg, stdout);
		printf("configuration OK\n");
		fprintf(stderr,
		    "failoverd: once it runs, `failoverctl%s%s selftest` checks the Fly "
		    "token, the primary's health endpoint and the commands\n",
		    d->cfg->instance ? " -i " : "", d->cfg->instance ? d->cfg->instance : "");
		config_free(d->cfg);
		free(defines);
		free(conf_abs);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	daemon_sd_init();

	/* Lock the pid file and bind the socket before daemonizing, so the
	 * command that started us sees any failure. */
	if (control_mkdir(d->cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "failoverd: %s\n", err);
		return 1;
	}
	if (util_mkdir_parents(d->cfg->pid_file, 0750) == -1) {
		fprintf(stderr, "failoverd: cannot create the directory of %s: %s\n",
		    d->cfg->pid_file, strerror(errno));
		return 1;
	}
	pfh = pidfile_open(d->cfg->pid_file, 0644, &otherpid);
	if (pfh == NULL) {
		if (errno == EEXIST)
			fprintf(stderr,
			    "failoverd: already running as pid %ld (PID_FILE %s is locked)\n",
			    (long)otherpid, d->cfg->pid_file);
		else
			fprintf(stderr, "failoverd: cannot open PID_FILE %s: %s\n",
			    d->cfg->pid_file, strerror(errno));
		return 1;
	}
	if (util_mkdir_parents(d->cfg->state_file, 0750) == -1 ||
	    util_mkdir_parents(d->cfg->status_file, 0750) == -1) {
		fprintf(stderr,
		    "failoverd: cannot create the directories of STATE_FILE/STATUS_FILE: "
		    "%s\n",
		    strerror(errno));
		pidfile_remove(pfh);
		return 1;
	}
	d->reload = daemon_reload;
	d->dispatch = commands_dispatch;
	d->control = control_new(d, err, sizeof(err));
	if (d->control == NULL) {
		fprintf(stderr, "failoverd: %s\n", err);
		pidfile_remove(pfh);
		return 1;
	}
	if (d->cfg->metrics_listen != NULL &&
	    (d->metrics_srv = metrics_server_bind(d->cfg->metrics_listen, err, sizeof(err))) ==
	        NULL) {
		fprintf(stderr, "failoverd: %s\n", err);
		control_free(d->control);
		pidfile_remove(pfh);
		return 1;
	}
	if (d->cfg->log_file != NULL) {
		/* Its missing parent directories are created, like PID_FILE's. */
		if (util_mkdir_parents(d->cfg->log_file, 0750) == -1 ||
		    log_init("failoverd", LOG_DEST_FILE, d->cfg->log_file) == -1) {
			fprintf(stderr, "failoverd: cannot open LOG_FILE %s: %s\n",
			    d->cfg->log_file, strerror(errno));
			control_free(d->control);
			pidfile_remove(pfh);
			return 1;
		}
	} else if (!d->foreground)
		log_init("failoverd", LOG_DEST_SYSLOG, NULL);
	if (!d->foreground && daemonize() == -1) {
		fprintf(stderr, "failoverd: cannot daemonize: %s\n", strerror(errno));
		return 1;
	}
	pidfile_write(pfh);

	d->started_wall = util_now_ms();
	d->started_mono = util_mono_ms();
	lr = dstate_load(d->cfg->state_file, &d->dstate, msg, sizeof(msg));
	{
		struct event_config *ec = event_config_new();
		event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
		d->base = event_base_new_with_config(ec);
		event_config_free(ec);
		/* The loop pass (tmux's proc_loop): inputs run at the default
		 * priority, then the engine's one run, then the one STATE_FILE
		 * save of what the pass left dirty. */
		if (d->base == NULL || event_base_priority_init(d->base, PRIO_N) == -1)
			fatalx("cannot create the event loop");
	}
	if (lr == DSTATE_CORRUPT || lr == DSTATE_UNREADABLE) {
		/* The last run's seq floor is lost with the file: start at the
		 * wall clock in ms, above any seq a run reaches short of one event
		 * per millisecond since 1970, so seq still rises across this
		 * restart. Counters start from nothing. */
		uint64_t now = (uint64_t)util_now_ms();
		if (d->dstate->seq_floor < now)
			d->dstate->seq_floor = now;
	}
	d->events_base = d->dstate->events_total;
	d->events = events_new(d->dstate->seq_floor);
	events_subscribe(d->events, NULL, daemon_on_event, d);
	d->status_timer = evtimer_new(d->base, status_timer_cb, d);
	d->state_retry = evtimer_new(d->base, daemon_state_retry, d);
	d->state_flush = event_new(d->base, -1, 0, state_flush_cb, d);

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		d->sigs[i] = evsignal_new(d->base, sigs[i], signal_cb, d);
		event_add(d->sigs[i], NULL);
	}
	d->http = http_new(d->base);
	if (d->http == NULL)
		fatalx("cannot set up libcurl");

	log_info("failoverd %s starting (pid %ld, provider %s, socket %s)", PACKAGE_VERSION,
	    (long)getpid(), config_provider_str(d->cfg->provider), d->cfg->socket_path);
	daemon_event(d, "start", true, NULL);
	if (d->cfg->file == NULL) {
		char *def = config_default_path("CONFIG", d->cfg->instance);
		log_warnx("no configuration file (%s does not exist): running on built-in "
		          "defaults and the environment%s",
		    def, d->cfg->provider == PROVIDER_NONE ? " (PROVIDER=none: a dry run)" : "");
		free(def);
	}
	d->state_unusable = lr == DSTATE_CORRUPT || lr == DSTATE_UNREADABLE;
	if (d->state_unusable)
		daemon_error(d, "state-file", "%s", msg);
	else if (lr == DSTATE_FRESH)
		log_info("no STATE_FILE at %s yet: first start", d->cfg->state_file);
	daemon_state_save(d); /* the seq floor moved past this run's events */

	d->engine = engine_new(d);
	control_start(d->control);
	if (d->metrics_srv != NULL) {
		if (metrics_server_start(d->metrics_srv, d->base, serve_metrics, d) == -1)
			fatalx("cannot serve METRICS_LISTEN %s", d->cfg->metrics_listen);
		log_info("metrics at http://%s/metrics", d->cfg->metrics_listen);
	}
	engine_start(d->engine);
	status_timer_cb(-1, 0, d);

	{
		const char *wd = getenv("WATCHDOG_USEC");
		long long usec;
		if (wd != NULL && util_int_parse(wd, 1, INT64_MAX, &usec) == 0) {
			struct timeval tv = {
			    (time_t)(usec / 2000000), (suseconds_t)(usec / 2 % 1000000)};
			d->watchdog = event_new(d->base, -1, EV_PERSIST, watchdog_cb, d);
			event_add(d->watchdog, &tv);
		}
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
	}
	daemon_sd_notify(d, "READY=1\nSTATUS=serving");
	daemonize_done(); /* the starting command may return now */

	event_base_dispatch(d->base);

	daemon_sd_notify(d, "STOPPING=1");
	daemon_event(d, "stop", true, NULL); /* Telegram says so: flushed next */
	engine_shutdown(d->engine);
	daemon_state_save(d);
	d->stopped_at = util_now_ms();
	status_write(d);
	/* Subscribers see the stop before the socket closes. */
	control_flush(d->control);
	engine_free(d->engine);
	d->engine = NULL;
	job_kill_all();
	control_free(d->control);
	d->control = NULL;
	metrics_server_free(d->metrics_srv);
	d->metrics_srv = NULL;
	http_free(d->http);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		event_free(d->sigs[i]);
	if (d->watchdog != NULL)
		event_free(d->watchdog);
	event_free(d->status_timer);
	event_free(d->state_retry);
	event_free(d->state_flush);
	d->state_flush = NULL;
	events_free(d->events);
	dstate_free(d->dstate);
	log_info("stopped");
	pidfile_remove(pfh);
	config_free(d->cfg);
	free(defines);
	free(conf_abs);
	event_base_free(d->base);
	log_close();
	return 0;
}
