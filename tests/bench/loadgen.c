/*
 * loadgen: a load generator for failoverd's control socket.
 *
 * Not part of the product or of `make check`: tests/bench/run.py builds and
 * drives it. One thread, epoll, non-blocking Unix sockets.
 *
 *   loadgen -s SOCK [-c CLIENTS] [-d SECONDS] [-I IDLE] [-j]
 *	CLIENTS connections each send {"cmd":"status"} lines back to back (one
 *	outstanding request per connection, as the protocol runs them one at a
 *	time) for SECONDS; IDLE more connections are opened first and stay
 *	silent. Prints requests/s and per-request latency (p50, p99, max).
 *
 *   loadgen -s SOCK -F SUBSCRIBERS [-r ROUNDS] [-j]
 *	SUBSCRIBERS connections subscribe to `pause` events; then, ROUNDS
 *	times, one more connection sends pause (or resume) and we time until
 *	every subscriber has read its event line: first and last arrival.
 *
 * -j prints one JSON object instead of a human line.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RBUF 65536

struct conn {
	int fd;
	uint64_t sent_at; /* ns; 0 = nothing outstanding */
	int got_event;
	size_t have;
	char buf[RBUF];
};

static const char status_req[] = "{\"cmd\":\"status\"}\n";

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
sock_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "loadgen: socket path too long\n");
		exit(1);
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	/* The daemon's backlog may overflow while we open many at once. */
	for (int tries = 0;; tries++) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if ((errno != EAGAIN && errno != ECONNREFUSED) || tries > 1000)
			die("connect");
		usleep(1000);
	}
	return fd;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		die("fcntl");
}

static void
send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("write");
		}
		s += n;
		len -= (size_t)n;
	}
}

/* Blocking read of one line; 1 when it is an ok reply. */
static int
read_line_blocking(struct conn *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->have);
		if (nl != NULL) {
			size_t len = (size_t)(nl - c->buf) + 1;
			*nl = '\0';
			int ok = strstr(c->buf, "\"ok\":true") != NULL ||
			    strstr(c->buf, "\"ok\": true") != NULL;
			memmove(c->buf, nl + 1, c->have - len);
			c->have -= len;
			return ok;
		}
		if (c->have == sizeof(c->buf)) {
			fprintf(stderr, "loadgen: line too long\n");
			exit(1);
		}
		ssize_t n = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
		if (n <= 0) {
			fprintf(stderr, "loadgen: connection closed while reading\n");
			exit(1);
		}
		c->have += (size_t)n;
	}
}

/*
 * Reads what is there; returns the number of complete lines consumed, or -1
 * at EOF or on error.
 */
static int
drain_lines(struct conn *c)
{
	int lines = 0;

	for (;;) {
		ssize_t n = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
		if (n == 0)
			return -1;
		if (n == -1) {
			if (errno == EAGAIN)
				return lines;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->have += (size_t)n;
		char *p = c->buf, *end = c->buf + c->have, *nl;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			lines++;
			p = nl + 1;
		}
		c->have = (size_t)(end - p);
		memmove(c->buf, p, c->have);
		if (c->have == sizeof(c->buf)) {
			fprintf(stderr, "loadgen: line too long\n");
			return -1;
		}
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_ms(const uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

static int
run_status(const char *path, int nclients, double seconds, int nidle, int json)
{
	struct epoll_event ev, evs[256];
	struct conn *cs;
	uint64_t *lat = NULL;
	size_t nlat = 0, caplat = 0;
	int *idle, ep, errors = 0;

	if ((idle = calloc((size_t)nidle + 1, sizeof(*idle))) == NULL)
		die("calloc");
	for (int i = 0; i < nidle; i++)
		idle[i] = sock_connect(path);
	if ((cs = calloc((size_t)nclients, sizeof(*cs))) == NULL)
		die("calloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	for (int i = 0; i < nclients; i++) {
		cs[i].fd = sock_connect(path);
		set_nonblock(cs[i].fd);
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) == -1)
			die("epoll_ctl");
	}
	uint64_t start = now_ns(), stop = start + (uint64_t)(seconds * 1e9);
	for (int i = 0; i < nclients; i++) {
		cs[i].sent_at = now_ns();
		send_all(cs[i].fd, status_req, sizeof(status_req) - 1);
	}
	uint64_t now = start;
	int outstanding = nclients;
	while (outstanding > 0) {
		int n = epoll_wait(ep, evs, 256, 1000);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		now = now_ns();
		if (n == 0 && now > stop + 5000000000ull) {
			fprintf(stderr, "loadgen: %d replies missing after 5 s\n", outstanding);
			errors += outstanding;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int lines = drain_lines(c);
			if (lines == -1) {
				errors++;
				outstanding--;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			if (lines == 0)
				continue;
			if (nlat == caplat) {
				caplat = caplat ? caplat * 2 : 65536;
				if ((lat = realloc(lat, caplat * sizeof(*lat))) == NULL)
					die("realloc");
			}
			lat[nlat++] = now - c->sent_at;
			if (now < stop) {
				c->sent_at = now_ns();
				send_all(c->fd, status_req, sizeof(status_req) - 1);
			} else
				outstanding--;
		}
	}
	double elapsed = (double)(now - start) / 1e9;
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	double rps = elapsed > 0 ? (double)nlat / elapsed : 0;
	if (json)
		printf("{\"clients\":%d,\"idle\":%d,\"requests\":%zu,\"errors\":%d,"
		       "\"seconds\":%.3f,\"rps\":%.0f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
		       "\"max_ms\":%.4f}\n",
		    nclients, nidle, nlat, errors, elapsed, rps, pct_ms(lat, nlat, 0.5),
		    pct_ms(lat, nlat, 0.99), nlat ? (double)lat[nlat - 1] / 1e6 : 0);
	else
		printf("%d clients (+%d idle): %zu requests in %.2f s = %.0f req/s, "
		       "p50 %.3f ms, p99 %.3f ms, max %.3f ms, %d errors\n",
		    nclients, nidle, nlat, elapsed, rps, pct_ms(lat, nlat, 0.5),
		    pct_ms(lat, nlat, 0.99), nlat ? (double)lat[nlat - 1] / 1e6 : 0, errors);
	for (int i = 0; i < nclients; i++)
		close(cs[i].fd);
	for (int i = 0; i < nidle; i++)
		close(idle[i]);
	close(ep);
	free(cs);
	free(idle);
	free(lat);
	return errors ? 1 : 0;
}

static int
run_fanout(const char *path, int nsubs, int rounds, int json)
{
	static const char sub_req[] = "{\"cmd\":\"events\",\"backlog\":0,\"types\":[\"pause\"]}\n";
	struct epoll_event ev, evs[512];
	struct conn *cs, ctl;
	double *last_ms, *first_ms;
	int ep;

	if ((cs = calloc((size_t)nsubs, sizeof(*cs))) == NULL ||
	    (last_ms = calloc((size_t)rounds, sizeof(double))) == NULL ||
	    (first_ms = calloc((size_t)rounds, sizeof(double))) == NULL)
		die("calloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	/* Subscribe all, pipelined, then collect the subscribe replies. */
	for (int i = 0; i < nsubs; i++) {
		cs[i].fd = sock_connect(path);
		send_all(cs[i].fd, sub_req, sizeof(sub_req) - 1);
	}
	for (int i = 0; i < nsubs; i++) {
		if (!read_line_blocking(&cs[i])) {
			fprintf(stderr, "loadgen: subscribe failed\n");
			return 1;
		}
		set_nonblock(cs[i].fd);
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) == -1)
			die("epoll_ctl");
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.fd = sock_connect(path);
	for (int r = 0; r < rounds; r++) {
		const char *cmd = r % 2 == 0 ? "{\"cmd\":\"pause\"}\n" : "{\"cmd\":\"resume\"}\n";
		for (int i = 0; i < nsubs; i++)
			cs[i].got_event = 0;
		int pending = nsubs;
		uint64_t t0 = now_ns(), first = 0, last = 0;
		send_all(ctl.fd, cmd, strlen(cmd));
		while (pending > 0) {
			int n = epoll_wait(ep, evs, 512, 5000);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				die("epoll_wait");
			}
			if (n == 0) {
				fprintf(stderr, "loadgen: %d subscribers got nothing in 5 s\n",
				    pending);
				return 1;
			}
			uint64_t t = now_ns();
			for (int i = 0; i < n; i++) {
				struct conn *c = evs[i].data.ptr;
				int lines = drain_lines(c);
				if (lines == -1) {
					fprintf(stderr, "loadgen: a subscriber was closed\n");
					return 1;
				}
				if (lines > 0 && !c->got_event) {
					c->got_event = 1;
					pending--;
					if (first == 0)
						first = t;
					last = t;
				}
			}
		}
		read_line_blocking(&ctl); /* the pause/resume reply */
		first_ms[r] = (double)(first - t0) / 1e6;
		last_ms[r] = (double)(last - t0) / 1e6;
	}
	/* Leave the daemon unpaused. */
	if (rounds % 2 == 1) {
		send_all(ctl.fd, "{\"cmd\":\"resume\"}\n", 17);
		read_line_blocking(&ctl);
	}
	if (json) {
		printf("{\"subscribers\":%d,\"rounds\":%d,\"first_ms\":[", nsubs, rounds);
		for (int r = 0; r < rounds; r++)
			printf("%s%.3f", r ? "," : "", first_ms[r]);
		printf("],\"all_ms\":[");
		for (int r = 0; r < rounds; r++)
			printf("%s%.3f", r ? "," : "", last_ms[r]);
		printf("]}\n");
	} else {
		for (int r = 0; r < rounds; r++)
			printf("round %d: first subscriber after %.3f ms, all %d after %.3f ms\n",
			    r + 1, first_ms[r], nsubs, last_ms[r]);
	}
	for (int i = 0; i < nsubs; i++)
		close(cs[i].fd);
	close(ctl.fd);
	close(ep);
	free(cs);
	free(first_ms);
	free(last_ms);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen -s SOCKET [-c CLIENTS] [-d SECONDS] [-I IDLE] [-j]\n"
	    "       loadgen -s SOCKET -F SUBSCRIBERS [-r ROUNDS] [-j]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	int ch, clients = 1, idle = 0, subs = 0, rounds = 5, json = 0;
	double seconds = 2.0;

	while ((ch = getopt(argc, argv, "c:d:F:I:jr:s:")) != -1) {
		switch (ch) {
		case 'c': clients = atoi(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'F': subs = atoi(optarg); break;
		case 'I': idle = atoi(optarg); break;
		case 'j': json = 1; break;
		case 'r': rounds = atoi(optarg); break;
		case 's': path = optarg; break;
		default: usage();
		}
	}
	if (path == NULL || clients < 1 || idle < 0 || subs < 0 || rounds < 1 || seconds <= 0)
		usage();
	raise_nofile();
	if (subs > 0)
		return run_fanout(path, subs, rounds, json);
	return run_status(path, clients, seconds, idle, json);
}
