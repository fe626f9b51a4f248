/* Shared by the fuzz targets. */
#ifndef FOD_FUZZ_H
#define FOD_FUZZ_H

#include <stdlib.h>
#include <unistd.h>

/* $TMPDIR, else /dev/shm (writes there cost no disk I/O), else /tmp. */
static inline const char *
fuzz_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	if (t != NULL && *t != '\0')
		return t;
	if (access("/dev/shm", W_OK | X_OK) == 0)
		return "/dev/shm";
	return "/tmp";
}

#endif
