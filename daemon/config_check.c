/*
 * What the configuration needs from this machine, as opposed to what its
 * text says (config_int.h): a readable HEALTH_CA_FILE, and for `failoverd
 * -n` (and the selftest) a writable LOG_FILE and STATE_DIR and commands that
 * exist. The only part of the configuration that looks at the file system.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_int.h"
#include "util.h"

#define ORIGIN(name) config_origin(ld, name)

const char *
config_check_readable(const char *v)
{
	const char *why = config_check_abs(v);

	if (why == NULL && access(v, R_OK) == -1)
		why = strerror(errno);
	return why;
}

/* Words the shell runs itself: there is no file to look for. */
static bool
shell_builtin(const char *w, size_t n)
{
	static const char *const b[] = {"exec", "cd", ":", ".", "eval", "set", "export", "if",
	    "for", "while", "until", "case", "{", "!", "command", "trap", "umask", "exit", "true",
	    "false", "test", "[", "echo", "printf", "read", "wait", "ulimit"};
	/* (A word also found in PATH is reported as that file.) */

	if (memchr(w, '=', n) != NULL) /* VAR=value cmd */
		return true;
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		if (strlen(b[i]) == n && strncmp(w, b[i], n) == 0)
			return true;
	return false;
}

bool
config_command_found(const char *cmd, char *where, size_t len)
{
	char word[256], *path, *dir, *save = NULL;
	size_t n;
	bool found = false;

	cmd += strspn(cmd, " \t");
	n = strcspn(cmd, " \t;|&<>()");
	if (n == 0 || n >= sizeof(word)) {
		snprintf(where, len, "%.*s", (int)(n < 64 ? n : 64), cmd);
		return false;
	}
	memcpy(word, cmd, n);
	word[n] = '\0';
	if (strchr(word, '/') != NULL) {
		struct stat st;
		snprintf(where, len, "%s", word);
		return access(word, X_OK) == 0 && stat(word, &st) == 0 && S_ISREG(st.st_mode);
	}
	path = xstrdup(getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
	for (dir = strtok_r(path, ":", &save); dir != NULL && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		struct stat st;
		snprintf(where, len, "%s/%s", dir, word);
		found = access(where, X_OK) == 0 && stat(where, &st) == 0 && S_ISREG(st.st_mode);
	}
	free(path);
	if (!found && shell_builtin(word, n)) {
		snprintf(where, len, "%s (run by the shell)", word);
		return true;
	}
	if (!found)
		snprintf(where, len, "%s", word);
	return found;
}

/* 0 when dir exists as a writable directory, or could be created (its
 * nearest existing ancestor is a writable directory); else -1 and *why. */
static int
dir_creatable(const char *dir, const char **why, char *at, size_t atlen)
{
	char *p = xstrdup(dir), *slash;
	struct stat st;
	int rc = -1;

	for (;;) {
		if (stat(p, &st) == 0) {
			snprintf(at, atlen, "%s", p);
			if (!S_ISDIR(st.st_mode))
				*why = "is not a directory";
			else if (access(p, W_OK | X_OK) == -1)
				*why = strerror(errno);
			else
				rc = 0;
			break;
		}
		if (errno != ENOENT) {
			snprintf(at, atlen, "%s", p);
			*why = strerror(errno);
			break;
		}
		if ((slash = strrchr(p, '/')) == NULL || slash == p) {
			snprintf(at, atlen, "/");
			*why = "no existing parent";
			break;
		}
		*slash = '\0';
	}
	free(p);
	return rc;
}

static void
command_check(const struct loader *ld, struct config_errors *errs, const char *key, const char *cmd)
{
	char where[512];

	if (cmd != NULL && !config_command_found(cmd, where, sizeof(where)))
		config_errors_add(errs, "%s%s: %s is not an executable file or not found in PATH",
		    ORIGIN(key), key, where);
}

/*
 * `failoverd -n` only: what the daemon will need from this machine, so that
 * it fails now and not at start-up or in the middle of a failover.
 */
void
config_files_check(const struct loader *ld, const struct config *c, struct config_errors *errs)
{
	const char *why = NULL;
	char at[1024];
	struct stat st;

	if (c->log_file != NULL) {
		char *dir = xstrdup(c->log_file), *slash = strrchr(dir, '/');

		if (slash != NULL && slash != dir)
			*slash = '\0';
		else
			dir[1] = '\0';
		if (stat(c->log_file, &st) == 0 && access(c->log_file, W_OK) == -1)
			config_errors_add(errs, "%sLOG_FILE: cannot write %s: %s",
			    ORIGIN("LOG_FILE"), c->log_file, strerror(errno));
		else if (dir_creatable(dir, &why, at, sizeof(at)) == -1)
			config_errors_add(errs, "%sLOG_FILE: %s cannot be created (%s: %s)",
			    ORIGIN("LOG_FILE"), c->log_file, at, why);
		free(dir);
	}
	if (c->state_dir != NULL) {
		if (stat(c->state_dir, &st) == -1)
			config_errors_add(errs, "%sSTATE_DIR: %s: %s", ORIGIN("STATE_DIR"),
			    c->state_dir, strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			config_errors_add(errs, "%sSTATE_DIR: %s is not a directory",
			    ORIGIN("STATE_DIR"), c->state_dir);
		else if (access(c->state_dir, W_OK | X_OK) == -1)
			config_errors_add(errs,
			    "%sSTATE_DIR: %s is not writable (%s): a pull could not apply the "
			    "standby's state",
			    ORIGIN("STATE_DIR"), c->state_dir, strerror(errno));
		command_check(ld, errs, "RCLONE", c->rclone);
	}
	if (c->provider == PROVIDER_COMMAND) {
		command_check(ld, errs, "ACTIVATE_CMD", c->activate_cmd);
		command_check(ld, errs, "DEACTIVATE_CMD", c->deactivate_cmd);
	}
	command_check(ld, errs, "NOTIFY_CMD", c->notify_cmd);
	command_check(ld, errs, "FENCE_CMD", c->fence_cmd);
	command_check(ld, errs, "FAILBACK_CMD", c->failback_cmd);
}
