/*
 * libFuzzer target for the configuration loader (daemon/config.c): the
 * input is a config file, loaded under a small fixed environment.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char *path;
static int fd = -1;
static FILE *devnull;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* tmpfs when there is one: ext4 flushes a file truncated and rewritten. */
	if (asprintf(&path, "%s/fuzz_config.XXXXXX", fuzz_tmpdir()) == -1 ||
	    (fd = mkstemp(path)) == -1 || (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	unlink(path); /* config_load reads it through /proc/self/fd */
	free(path);
	if (asprintf(&path, "/proc/self/fd/%d", fd) == -1)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Fixed: one key of ours, one RCLONE_ extra, and one that is not ours. */
	static char *env[] = {"HOME=/nonexistent", "HOOK_TIMEOUT=45s",
	    "RCLONE_CONFIG_PASS=fuzz-secret-pass", "PATH=/usr/bin:/bin", NULL};
	static char *defs[] = {"CHECK_TIMEOUT=7"};
	struct config_source src = {.file = path, .defines = defs, .ndefines = 1, .environ = env};
	struct config_errors errs = {0};
	struct config *cfg;

	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	cfg = config_load(&src, &errs);
	if ((cfg == NULL) == (errs.n == 0))
		abort();
	for (int i = 0; i < errs.n; i++)
		if (errs.msgs[i] == NULL)
			abort();
	if (cfg != NULL) {
		char *s;

		config_print(cfg, devnull);
		(void)config_status_healthy(cfg, 200);
		(void)config_status_healthy(cfg, 503);
		/* Every secret is gone from what config_redact returns. */
		s = config_redact(cfg, "token fuzz-secret-pass in a message");
		if (s == NULL || strstr(s, "fuzz-secret-pass") != NULL)
			abort();
		free(s);
		/* (A token sharing letters with "<redacted>" could be made anew
		 * by the replacement, so those are not checked.) */
		if (cfg->fly_api_token != NULL && cfg->fly_api_token[0] != '\0' &&
		    strpbrk(cfg->fly_api_token, "<redacted>x") == NULL) {
			char *m;
			if (asprintf(&m, "x%sx", cfg->fly_api_token) == -1)
				abort();
			s = config_redact(cfg, m);
			if (s == NULL || strstr(s, cfg->fly_api_token) != NULL)
				abort();
			free(s);
			free(m);
		}
	}
	config_free(cfg);
	config_errors_clear(&errs);
	if (errs.n != 0 || errs.msgs != NULL)
		abort();
	return 0;
}
