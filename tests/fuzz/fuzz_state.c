/*
 * libFuzzer target for the STATE_FILE loader (daemon/state.c): the input is
 * a state file. What parses must survive dstate_save and parse back alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "state.h"
#include "util.h"

static char *dir, *path;

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static struct dstate *
state_new(void)
{
	struct dstate *st = calloc(1, sizeof(*st));

	if (st == NULL)
		abort();
	st->path = strdup(path);
	st->machines = json_object_new_array();
	st->pending = json_object_new_array();
	st->jobs = json_object_new_array();
	return st;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (asprintf(&dir, "%s/fuzz_state.XXXXXX", fuzz_tmpdir()) == -1 || mkdtemp(dir) == NULL)
		abort();
	if (asprintf(&path, "%s/state.json", dir) == -1)
		abort();
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dstate *st = state_new(), *back;
	char msg[256], *text;
	size_t len;

	if (dstate_parse(st, (const char *)data, size, msg, sizeof(msg)) == -1) {
		if (memchr(msg, '\0', sizeof(msg)) == NULL)
			abort();
		dstate_free(st);
		return 0;
	}
	/* What we accepted we must be able to write and read back. */
	if (dstate_save(st) == -1)
		abort();
	if ((text = util_read_file(path, 4 * 1024 * 1024, &len)) == NULL)
		abort();
	back = state_new();
	if (dstate_parse(back, text, len, msg, sizeof(msg)) == -1) {
		fprintf(stderr, "saved state does not parse back: %s\n%s\n", msg, text);
		abort();
	}
	if (back->seq_floor != st->seq_floor || back->events_total != st->events_total ||
	    back->failovers != st->failovers || back->failbacks != st->failbacks ||
	    back->last_failover != st->last_failover || back->last_failback != st->last_failback ||
	    back->paused != st->paused || back->paused_until != st->paused_until ||
	    back->active_since != st->active_since ||
	    back->active_ms_total != st->active_ms_total || back->forced != st->forced ||
	    back->pushes_suspended != st->pushes_suspended || strcmp(back->side, st->side) != 0 ||
	    json_object_array_length(back->machines) != json_object_array_length(st->machines) ||
	    json_object_array_length(back->pending) != json_object_array_length(st->pending)) {
		fprintf(stderr, "saved state differs once read back:\n%s\n", text);
		abort();
	}
	free(text);
	dstate_free(back);
	dstate_free(st);
	unlink(path);
	return 0;
}
