/*
 * libFuzzer target for the Fly Machines API reply parsers (daemon/fly_api.c):
 * the input is a reply body as the API (or anything in its place) sends it.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fly_api.h"

static void
terminated(const char *s, size_t len)
{
	if (memchr(s, '\0', len) == NULL)
		abort();
}

/* Names from the body, split at newlines: a URL only from valid ones, and
 * nothing from them that changes the path or the query. */
static void
urls_check(char *body, unsigned char sel)
{
	char *app = body, *id = "", *inst = "", *nl, *u, *tail;
	const char *base = (sel & 1) ? "http://127.0.0.1:4280//" : NULL;

	if ((nl = strchr(app, '\n')) != NULL) {
		*nl = '\0';
		id = nl + 1;
		if ((nl = strchr(id, '\n')) != NULL) {
			*nl = '\0';
			inst = nl + 1;
		}
	}
	if ((u = fly_url_list(base, app)) != NULL) {
		if (!fly_name_valid(app) || strstr(u, "//v1") != NULL)
			abort();
		free(u);
	} else if (fly_name_valid(app))
		abort();
	if ((u = fly_url_machine(base, app, id, (sel & 2) ? "start" : NULL)) != NULL) {
		if (!fly_name_valid(app) || !fly_name_valid(id) || strpbrk(u, "?#% ") != NULL)
			abort();
		free(u);
	} else if (fly_name_valid(app) && fly_name_valid(id))
		abort();
	if ((u = fly_url_wait(base, app, id, "started", inst, (int)sel - 100)) != NULL) {
		if (!fly_name_valid(app) || !fly_name_valid(id) ||
		    (*inst != '\0' && !fly_name_valid(inst)))
			abort();
		/* One query, and its timeout within [1, 60]. */
		tail = strchr(u, '?');
		if (tail == NULL || strchr(tail + 1, '?') != NULL || strpbrk(u, "#% ") != NULL)
			abort();
		tail = strstr(tail, "timeout=");
		if (tail == NULL || atoi(tail + 8) < 1 || atoi(tail + 8) > FLY_WAIT_MAX_S)
			abort();
		free(u);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = {
	    200, 400, 401, 403, 404, 408, 409, 412, 422, 429, 500, 502, 503, 504, 0, 99, 600, -1};
	struct machine_list ml;
	struct machine m;
	char err[128], prev[32], text[256], *body, *auth;
	size_t textlen, prevlen;
	int status;

	if (size < 1)
		return 0;
	/* The first byte picks a status and buffer sizes; the rest is the body. */
	status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	textlen = 1 + (size_t)data[0] % sizeof(text);
	prevlen = (size_t)data[0] % (sizeof(prev) + 1);
	if ((body = malloc(size)) == NULL)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';

	if (fly_parse_machines(body, &ml, err, sizeof(err)) == 0) {
		if (ml.n < 0 || ml.n > FLY_MAX_MACHINES || (ml.n > 0) != (ml.v != NULL))
			abort();
		for (int i = 0; i < ml.n; i++) {
			if (!fly_name_valid(ml.v[i].id))
				abort();
			terminated(ml.v[i].state, sizeof(ml.v[i].state));
			terminated(ml.v[i].region, sizeof(ml.v[i].region));
			terminated(ml.v[i].instance_id, sizeof(ml.v[i].instance_id));
			(void)fly_state_running(ml.v[i].state);
		}
		free(ml.v);
	} else {
		if (ml.v != NULL || ml.n != 0)
			abort();
		terminated(err, sizeof(err));
	}

	if (fly_parse_machine(body, &m, err, sizeof(err)) == 0 && !fly_name_valid(m.id))
		abort();
	if (fly_parse_start(body, prev, prevlen, err, sizeof(err)) == 0 && prevlen > 0)
		terminated(prev, prevlen);
	(void)fly_parse_ok(body, err, sizeof(err));
	terminated(err, sizeof(err));

	fly_error_text(status, body, text, textlen);
	terminated(text, textlen);
	for (size_t i = 0; text[i] != '\0'; i++)
		if (iscntrl((unsigned char)text[i]))
			abort();
	(void)fly_classify((enum fly_call)(size % 5), status);

	/* A token that could break the header never makes one. */
	if ((auth = fly_auth_header(body)) != NULL) {
		if (strpbrk(auth, "\r\n") != NULL || strncmp(auth, "Authorization: ", 15) != 0)
			abort();
		free(auth);
	}
	urls_check(body, data[0]);
	free(body);
	return 0;
}
