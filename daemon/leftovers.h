/*
 * Children a crashed run left behind. Every child (rclone, a hook, the
 * command provider) runs in its own process group, so SIGKILL of the daemon
 * leaves it running: an old push could then race the new run's pull. Each
 * spawned group is recorded in STATE_FILE (`jobs`, with the process's start
 * time from /proc, so a reused pid is never mistaken for it); at start-up the
 * groups still alive with the same start time are killed.
 */
#ifndef FOD_LEFTOVERS_H
#define FOD_LEFTOVERS_H

struct daemon;

/* At start-up, before anything is spawned: kills what the last run left
 * (logging each), forgets the record and starts recording new spawns. */
void leftovers_start(struct daemon *);

#endif
