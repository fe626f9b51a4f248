/*
 * httpd: a minimal HTTP/1.1 responder for the footprint benchmark, so the
 * endpoint is never the bottleneck (Python's http.server would be).
 *
 *   httpd PORTFILE
 * Listens on 127.0.0.1, an ephemeral port written to PORTFILE; answers every
 * request with 200 "ok" (keep-alive when the client does not say close)
 * until killed. GET /_count answers with the number of other requests so far
 * (for counting a monitor's checks) and is not counted. One thread, epoll.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char reply_ka[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 2\r\n\r\nok";
static const char reply_close[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                  "Content-Length: 2\r\nConnection: close\r\n\r\nok";

static unsigned long count;

struct conn {
	int fd;
	size_t have;
	char buf[8192];
};

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct epoll_event ev, evs[64];
	socklen_t len = sizeof(sin);
	int lfd, ep, one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: httpd PORTFILE\n");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(lfd, 1024) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
		perror("httpd: listen");
		return 1;
	}
	FILE *f = fopen(argv[1], "w");
	if (f == NULL || fprintf(f, "%d\n", ntohs(sin.sin_port)) < 0 || fclose(f) != 0) {
		perror("httpd: port file");
		return 1;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return 1;
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);
		if (n == -1 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {
				int fd;
				while ((fd = accept4(
				            lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
					if ((c = calloc(1, sizeof(*c))) == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			ssize_t r = read(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have);
			int done = r <= 0 && !(r == -1 && errno == EAGAIN);
			if (r > 0) {
				c->have += (size_t)r;
				c->buf[c->have] = '\0';
				char *end;
				while (!done && (end = strstr(c->buf, "\r\n\r\n")) != NULL) {
					*end = '\0';
					int cl = strcasestr(c->buf, "connection: close") != NULL;
					const char *rep = cl ? reply_close : reply_ka;
					size_t rl =
					    cl ? sizeof(reply_close) - 1 : sizeof(reply_ka) - 1;
					char cbuf[160];
					if (strncmp(c->buf, "GET /_count ", 12) == 0) {
						char num[32];
						int nl = snprintf(num, sizeof(num), "%lu", count);
						rl = (size_t)snprintf(cbuf, sizeof(cbuf),
						    "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
						    "Connection: close\r\n\r\n%s",
						    nl, num);
						rep = cbuf;
						cl = 1;
					} else
						count++;
					if (write(c->fd, rep, rl) != (ssize_t)rl || cl)
						done = 1;
					size_t used = (size_t)(end + 4 - c->buf);
					memmove(c->buf, end + 4, c->have - used + 1);
					c->have -= used;
				}
				if (c->have >= sizeof(c->buf) - 1)
					done = 1;
			}
			if (done) {
				close(c->fd);
				free(c);
			}
		}
	}
}
